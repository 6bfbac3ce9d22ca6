"""The `npllm` command: one subcommand per step of the course.

Data goes to stdout, progress and errors to stderr. A bad file or argument is one line on
stderr and exit code 1 (argparse's own usage errors exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import sys

import npllm
from npllm import data, words


class CLIError(Exception):
    """A problem with the user's input, printed as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 1
    try:
        args.run(args)
    except BrokenPipeError:  # `npllm ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("npllm: interrupted", file=sys.stderr)
        return 130
    except (CLIError, OSError, UnicodeError, ValueError, KeyError, TypeError, IndexError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"npllm: error: {message}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npllm",
        description="The input side of a GPT-style language model in plain NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"npllm {npllm.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the course's steps on The Verdict")
    p.add_argument("--text", metavar="FILE", help="a UTF-8 text file instead of The Verdict")
    p.set_defaults(run=run_demo)

    p = sub.add_parser("words", help="step 1: split a text file into words and count them")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - for stdin")
    p.add_argument("--show", type=int, default=30, metavar="N", help="how many pieces to print")
    p.set_defaults(run=run_words)
    return parser


# --- input helpers -----------------------------------------------------------------------


def read_text_file(file: str) -> str:
    """A UTF-8 text file (or stdin for "-"), with errors that name the file."""
    if file == "-":
        return sys.stdin.read()
    try:
        with open(file, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CLIError(f"no such file: {file}") from None
    except IsADirectoryError:
        raise CLIError(f"{file} is a directory, not a text file") from None
    except PermissionError:
        raise CLIError(f"cannot read {file}: permission denied") from None
    except UnicodeDecodeError as e:
        raise CLIError(f"{file} is not UTF-8 text (byte {e.start}: {e.reason})") from None


def demo_text(file: str | None) -> tuple[str, str]:
    """(label, text): the user's file, or The Verdict."""
    if file:
        return file, read_text_file(file)
    return "The Verdict", data.read_text("the-verdict.txt")


# --- subcommands ---------------------------------------------------------------------------


def run_words(args: argparse.Namespace) -> None:
    if args.show < 0:
        raise CLIError(f"--show must be 0 or more, got {args.show}")
    text = read_text_file(args.file)
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"characters: {len(text):,}")
    print(f"words:      {len(pieces):,}")
    print(f"vocabulary: {len(vocab):,}")
    print(f"first {min(args.show, len(pieces))} pieces: {pieces[: args.show]}")


def run_demo(args: argparse.Namespace) -> None:
    label, text = demo_text(args.text)
    heading(f"Step 1: words ({label}, {len(text):,} characters)")
    demo_words(text)


def heading(title: str) -> None:
    print(f"\n== {title} ==")


def demo_words(text: str) -> None:
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"{len(pieces):,} words and punctuation marks; vocabulary of {len(vocab):,}")
    print(f"first pieces: {pieces[:12]}")

    v1 = words.SimpleTokenizerV1(vocab)
    sample = " ".join(pieces[:16])
    ids = v1.encode(sample)
    print(f"V1 encode: {sample!r}\n        -> {ids}")
    print(f"V1 decode: {v1.decode(ids)!r}")

    vocab2 = words.build_vocab(pieces, special_tokens=[words.ENDOFTEXT, words.UNK])
    v2 = words.SimpleTokenizerV2(vocab2)
    sample = f"Hello, do you like tea? {words.ENDOFTEXT} In the sunlit terraces of the palace."
    ids = v2.encode(sample)
    print(f"V2 vocabulary of {len(vocab2):,} with {words.ENDOFTEXT} and {words.UNK}")
    print(f"V2 encode: {sample!r}\n        -> {ids}")
    print(f"V2 decode: {v2.decode(ids)!r}")
