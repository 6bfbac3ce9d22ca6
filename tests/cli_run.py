"""Running the `npllm` command in the test process, and its one-line error promise.

Imported by the CLI tests as `from cli_run import run, error_line`.
"""

from npllm.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """`npllm ARGV...` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])  # numbers may be given as numbers
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one `npllm: error:` line a failure prints, checked to be exactly one line."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npllm: error: "), err
    assert "Traceback" not in err
    return lines[0]
