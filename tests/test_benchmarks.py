"""The benchmark runner's own logic, on made-up figures: nothing here times npllm.

`python -m benchmarks` itself takes a minute even with --quick, so these check what it
computes and writes instead: the median and spread, the ratio, the table, the machine
section, the skipped rows when an optional peer (torch, tokenizers, matplotlib) is missing,
the memory helpers, the flags, and that every benchmarks/bench_*.py has the `run(quick)` the
runner calls. They pass with or without the optional peers installed, and skip nothing.
"""

import gc
import importlib
import importlib.util
import inspect
import json
import os
import pathlib
import subprocess
import sys
import types
from unittest import mock

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # bare `pytest` puts tests/ on sys.path, not the repository

from benchmarks import __main__ as runner  # noqa: E402
from benchmarks import common, investigate  # noqa: E402
from benchmarks.common import Result  # noqa: E402

MODULES = {
    "bench_chunks",
    "bench_embedding",
    "bench_encode",
    "bench_loader",
    "bench_scale",
    "bench_startup",
    "bench_train",
}
MACHINE = {"date": "2026-11-27T14:27:07+00:00", "cpu": "AMD EPYC", "numpy": "2.4.6"}


def figure(*runs):
    return common.summarize(runs)


# --- median, spread, ratio -------------------------------------------------------------------


def test_summarize_gives_the_median_and_the_min_max_spread():
    assert figure(0.3, 0.1, 0.2) == {"median": 0.2, "min": 0.1, "max": 0.3, "runs": [0.3, 0.1, 0.2]}
    assert figure(1, 2, 3, 4)["median"] == 2.5  # an even count: the mean of the middle two
    with pytest.raises(ValueError, match="no runs"):
        common.summarize([])


def test_timeit_runs_warmup_then_repeat_and_keeps_only_the_timed_runs(monkeypatch):
    collections = []  # the garbage collector runs before each run, outside the clock
    monkeypatch.setattr(common.gc, "collect", lambda: collections.append(1))
    calls = []
    stats = common.timeit(lambda: calls.append(1), repeat=3, warmup=2)
    assert len(calls) == 5 and len(stats["runs"]) == 3 and len(collections) == 5
    assert stats["min"] <= stats["median"] <= stats["max"]

    built = []  # setup runs before every run, warm-ups too, and fn gets what it built
    common.timeit(lambda x: calls.append(x), repeat=2, warmup=1, setup=lambda: built.append(0) or len(built))
    assert built == [0, 0, 0] and calls[-3:] == [1, 2, 3]
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        common.timeit(lambda: None, repeat=0)


def test_scale_multiplies_every_figure():
    assert common.scale(figure(2, 4, 6), 0.5) == {"median": 2, "min": 1, "max": 3, "runs": [1, 2, 3]}


def test_ratio_is_npllm_median_over_the_baseline_median_with_its_target():
    met = Result("path", figure(1, 2, 3), "twin", figure(3, 4, 5), target=0.6)
    assert met.ratio == 0.5 and met.target_met is True
    assert common.format_ratio(met) == "0.50x (target <= 0.6x: met)"
    assert Result("path", figure(3), "twin", figure(2), target=1.5).target_met is True  # at most, not below
    missed = Result("path", figure(3), "twin", figure(2), target=1.2)
    assert missed.target_met is False and common.format_ratio(missed) == "1.50x (target <= 1.2x: MISSED)"
    alone = Result("path", figure(1), "twin", None, target=1.5)
    assert alone.ratio is None and alone.target_met is None and common.format_ratio(alone) == "-"


def test_ratio_text_never_shows_an_exponent():
    assert common.ratio_text(0.6123) == "0.61x"
    assert common.ratio_text(13.917) == "13.92x"
    assert common.ratio_text(0.0069) == "0.0069x"
    assert common.ratio_text(4.49e-05) == "0.000045x"  # the loader's 1/22,277


def test_format_figure_puts_the_spread_and_run_count_beside_the_median():
    assert common.format_figure(figure(0.2573, 0.2511, 0.262, 0.255, 0.26), "s") == "0.257 s (0.251-0.262, n=5)"
    assert common.format_figure(figure(2.83), "MB") == "2.83 MB (n=1)"
    assert common.format_figure(None, "s") == "-"
    assert common.format_number(1342.7) == "1,343" and common.format_number(0.25731) == "0.257"


# --- the report ------------------------------------------------------------------------------


def test_markdown_table_has_a_row_per_result_and_escapes_pipes():
    results = [
        Result("encode warm", figure(1, 2, 3), "tiktoken", figure(2, 4, 6), unit="ms", note="a | b"),
        Result("LONG_PIECE threshold", None, note="keep it"),
    ]
    lines = common.markdown_table(results).splitlines()
    assert len(lines) == 2 + 2
    assert "median (min-max, runs)" in lines[0]
    assert lines[2] == "| encode warm | 2 ms (1-3, n=3) | tiktoken | 4 ms (2-6, n=3) | 0.50x | a \\| b |"
    assert lines[3] == "| LONG_PIECE threshold | - | - | - | - | keep it |"


def test_write_markdown_and_json(tmp_path):
    results = [Result("encode warm", figure(1, 2, 3), "tiktoken", figure(2, 4, 6))]
    text = common.write_markdown(
        tmp_path / "latest.md", results, MACHINE, header=["- mode: full"], sections=["## Profiles"]
    )
    assert text == (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert text.startswith("# npllm benchmarks, 2026-11-27 14:27\n\n- mode: full\n\n## Machine\n")
    assert (
        "- cpu: AMD EPYC" in text and "| encode warm |" in text and text.index("## Results") < text.index("## Profiles")
    )

    common.write_json(tmp_path / "latest.json", results, MACHINE, mode="quick")
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert doc["machine"] == MACHINE and doc["mode"] == "quick"
    assert doc["results"][0]["ratio"] == 0.5 and doc["results"][0]["npllm"]["runs"] == [1, 2, 3]


def test_a_skipped_row_says_why_in_its_own_field_and_in_the_table():
    results = [
        Result("warm", figure(1), "tiktoken", figure(2)),
        Result("step", figure(1), "torch dense", None, note="interleaved", skipped="torch not installed"),
        Result("random", figure(1), "NumPy get_batch", figure(2), skipped="torch version: torch not installed"),
        Result("bench_broken", None, note="FAILED: RuntimeError: boom"),  # a failure, reported as one
    ]
    assert common.skipped_rows(results) == [
        "step: vs torch dense: torch not installed",
        "random: vs NumPy get_batch: torch version: torch not installed",
    ]
    lines = common.markdown_table(results).splitlines()
    assert lines[3].endswith("| - | - | interleaved; skipped: torch not installed |")
    assert lines[4].endswith("| 0.50x | skipped: torch version: torch not installed |")  # the ratio stays
    assert results[1].to_dict()["skipped"] == "torch not installed" and results[0].to_dict()["skipped"] is None


def test_optional_gives_the_module_or_why_not(monkeypatch):
    assert common.optional("json") == (json, None)
    assert common.optional("npllm_no_such_package") == (None, "npllm_no_such_package not installed")
    assert common.optional("json.no_such_module")[1].startswith("json.no_such_module failed to import")
    assert (
        common.not_installed("json") is None
        and common.not_installed("npllm_no_such.x") == "npllm_no_such not installed"
    )
    monkeypatch.setitem(sys.modules, "torch", None)  # None in sys.modules: "import torch" fails
    assert common.optional("torch") == (None, "torch not installed")
    with common.torch_one_thread() as (torch, why):
        assert torch is None and why == "torch not installed"
    assert gc.get_freeze_count() == 0


# --- timing and memory -----------------------------------------------------------------------


def test_interleaved_runs_each_function_once_per_round():
    calls = []
    figures = common.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=2, warmup=1)
    gc.unfreeze()  # interleaved froze what the warm-up round left
    assert calls == ["a", "b"] * 3
    assert list(figures) == ["a", "b"] and all(len(f["runs"]) == 2 for f in figures.values())


def test_traced_peak_sees_numpy_arrays_and_gives_back_the_result():
    import numpy

    out, peak_mb = common.traced_peak(lambda: numpy.ones(2_000_000).sum())  # a 16 MB temporary
    assert out == 2_000_000 and 15 < peak_mb < 40


def test_run_process_gives_the_output_time_and_memory_of_the_child():
    code = "import os, time; held = b'x' * 50_000_000; time.sleep(0.2); print(os.environ['NPLLM_BENCH_TEST'])"
    out, seconds, peak_mb = common.run_process([sys.executable, "-c", code], {"NPLLM_BENCH_TEST": "hello"})
    assert out == "hello\n" and seconds >= 0.2
    if pathlib.Path(f"/proc/{os.getpid()}/smaps_rollup").exists():  # Linux: the 50 MB it held was seen
        assert 50 <= peak_mb < 500
    with pytest.raises(RuntimeError, match="exit 3"):
        common.run_process([sys.executable, "-c", "raise SystemExit(3)"])


def test_run_process_children_load_npllm_from_compiled_modules(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as in CI: no .pyc beside the source
    code = (
        "import os, npllm.bpe.merge as m; print(os.path.exists(m.__cached__), 'PYTHONDONTWRITEBYTECODE' in os.environ)"
    )
    out = common.run_process([sys.executable, "-c", code], sample_memory=False)[0]
    assert out == "True False\n"  # compiled before the child started (bytecode_env), the variable dropped


# --- the machine -----------------------------------------------------------------------------


def test_machine_info_has_the_keys_and_imports_no_optional_peer():
    before = set(sys.modules)
    info = common.machine_info()
    imported = {name.partition(".")[0] for name in set(sys.modules) - before}
    assert not imported & {"torch", "tokenizers", "matplotlib"}  # tokenizers must wait for RAYON_NUM_THREADS
    for key in (
        "date",
        "cpu",
        "cores (os.cpu_count)",
        "cores usable (sched_getaffinity)",
        "platform",
        "python",
        "npllm",
        "numpy",
        "blas",
        "blas threads (environment)",
        "regex",
        *common.PEERS,
    ):
        assert info[key], key
    assert info["cores (os.cpu_count)"] >= 1
    assert all(info[peer] == "not installed" or info[peer][0].isdigit() for peer in common.PEERS)


def test_missing_peers_say_what_goes_without_them():
    machine = {"tiktoken": "0.14.0", "torch": "not installed", "tokenizers": "0.23.3", "matplotlib": "not installed"}
    missing = common.missing_peers(machine)
    assert list(missing) == ["torch", "matplotlib"] and "chart" in missing["matplotlib"]
    assert common.package_version("npllm-no-such-package") == "not installed"


def test_blas_info_copes_with_numpy_before_show_config_dicts():
    import numpy

    assert common.blas_info(numpy)["blas"]  # this NumPy's, whatever it is
    old = types.SimpleNamespace(
        __version__="1.25.2",
        show_config=lambda: None,
        __config__=types.SimpleNamespace(blas_opt_info={"libraries": ["openblas64_"]}),
    )
    assert common.blas_info(old)["blas"] == "openblas64_ (numpy.__config__.blas_opt_info)"
    older = types.SimpleNamespace(__version__="1.20.0", show_config=lambda: None)
    assert common.blas_info(older)["blas"] == "unknown (numpy 1.20.0 has no show_config(mode='dicts'))"


# --- the chart (--investigate) --------------------------------------------------------------

ROWS = [
    Result("encode warm", figure(1), "tiktoken", figure(2)),  # 0.5x
    Result("encode cold", figure(3), "tiktoken", figure(1), target=2.5),  # 3x, target missed
    Result("LONG_PIECE threshold", None, note="no ratio: no bar"),
]


def test_chart_is_skipped_with_a_note_without_matplotlib(tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.partition(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: "import matplotlib" fails
    stale = tmp_path / "latest.png"
    stale.write_bytes(b"an older run's chart")
    assert investigate.draw_chart(ROWS, stale) == "skipped, matplotlib not installed"
    assert not stale.exists()  # it would not match the new table
    assert "chart skipped: matplotlib not installed" in capsys.readouterr().err


def test_chart_draws_a_bar_per_ratio_from_the_line_at_one(tmp_path, monkeypatch):
    figure_class = mock.MagicMock(name="Figure")
    fig = figure_class.return_value
    fig.savefig.side_effect = lambda path, **kw: pathlib.Path(path).write_bytes(b"\x89PNG fake")
    ax = fig.add_subplot.return_value
    for name, attributes in {"matplotlib": {}, "matplotlib.figure": {"Figure": figure_class}}.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)

    path = tmp_path / "latest.png"
    assert investigate.draw_chart(ROWS, path, title="2026-11-27, quick") == "latest.png"
    y, widths = ax.barh.call_args.args
    assert y == [0, 1] and widths == [0.5, 2.0]  # |ratio - 1|, drawn from the line at 1
    assert ax.barh.call_args.kwargs["left"] == [0.5, 1.0]
    assert ax.barh.call_args.kwargs["color"] == ["tab:green", "tab:red"]  # npllm faster; target missed
    assert ax.axvline.call_args.args == (1.0,)
    ax.set_xscale.assert_called_once_with("log")
    assert ax.set_yticklabels.call_args.args[0] == ["encode warm vs tiktoken", "encode cold vs tiktoken"]
    assert investigate._shorten("scatter-add rows: npllm.scatter 'sorted'", 30) == "scatter-add r...atter 'sorted'"
    texts = " ".join(str(c.args[2]) for c in ax.text.call_args_list)
    assert "0.50x" in texts and "3.00x (target missed)" in texts
    fig.savefig.assert_called_once()
    assert path.read_bytes().startswith(b"\x89PNG")


def test_chart_with_whatever_matplotlib_this_machine_has(tmp_path):
    path = tmp_path / "latest.png"
    note = investigate.draw_chart(ROWS, path)
    if importlib.util.find_spec("matplotlib") is None:
        assert note == "skipped, matplotlib not installed" and not path.exists()
    else:
        assert note == "latest.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the runner ------------------------------------------------------------------------------


def test_flags_parse():
    args = runner.parse_args(["--quick", "--profile", "--only", "encode"])
    assert args.quick and args.profile and not args.investigate and args.modules == ["bench_encode"]
    assert runner.parse_args(["--only", "bench_train"]).modules == ["bench_train"]
    assert runner.parse_args(["--only", "train", "--investigate"]).modules == ["bench_train", "investigate"]
    everything = runner.parse_args([])
    assert not everything.quick and not everything.profile and set(everything.modules) >= MODULES
    assert "investigate" not in everything.modules  # experiments only when asked for


def test_an_unknown_module_is_an_error_that_names_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        runner.parse_args(["--only", "nope"])
    assert exit_info.value.code == 2
    assert "no benchmark module 'bench_nope'; known: bench_chunks, bench_embedding" in capsys.readouterr().err


def test_every_bench_module_has_what_the_runner_calls():
    assert set(runner.discover()) >= MODULES
    for name in [*runner.discover(), "investigate"]:
        module = importlib.import_module(f"benchmarks.{name}")
        assert module.__doc__, f"{name} has no docstring"
        assert list(inspect.signature(module.run).parameters) == ["quick"], name
    for name in runner.discover():
        module = importlib.import_module(f"benchmarks.{name}")
        assert type(module.QUICK) is type(module.FULL), name  # the sizes of each mode, side by side


def test_benchmarks_import_no_optional_peer_until_they_run():
    code = (
        "import json, sys\n"
        "import benchmarks.__main__, benchmarks.common\n"
        "from benchmarks.__main__ import discover\n"
        "for name in discover() + ['investigate', 'embedding_steps', 'texts']: __import__('benchmarks.' + name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'tokenizers', 'matplotlib'})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_main_writes_every_figure_even_when_a_module_fails(tmp_path, monkeypatch, capsys):
    def run(quick):
        return [
            Result(
                "fast path",
                figure(1, 2, 3),
                "slow twin",
                figure(4, 5, 6),
                profile=lambda: lambda: sorted(range(1000), key=str),
            ),
            Result("peer path", figure(1), "torch thing", None, skipped="torch not installed"),
        ]

    def broken(quick):
        raise RuntimeError("boom")

    monkeypatch.setitem(sys.modules, "benchmarks.bench_fake", types.SimpleNamespace(run=run))
    monkeypatch.setitem(sys.modules, "benchmarks.bench_broken", types.SimpleNamespace(run=broken))
    monkeypatch.setattr(runner, "discover", lambda: ["bench_broken", "bench_fake"])
    monkeypatch.setattr(runner, "RESULTS_DIR", tmp_path)
    (tmp_path / "latest.png").write_bytes(b"an older run's chart")

    assert runner.main(["--quick", "--profile"]) == 1  # a module failed
    assert gc.get_freeze_count() == 0  # the runner froze the heap between modules, and let it go
    out, err = capsys.readouterr()
    assert "| fast path |" in out
    assert "skipped: peer path: vs torch thing: torch not installed" in err
    md = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "- mode: quick" in md and "bench_broken: RuntimeError: boom" in md
    assert "| fast path | 2 s (1-3, n=3) | slow twin | 5 s (4-6, n=3) | 0.40x |" in md
    assert "## Skipped\n\n- peer path: vs torch thing: torch not installed" in md
    assert "## Profiles" in md and "### fast path" in md and "cumtime" in md and "sorted" in md
    assert "- chart: not drawn (--investigate draws it)" in md and not (tmp_path / "latest.png").exists()
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert doc["mode"] == "quick" and list(doc["modules"]) == ["bench_broken", "bench_fake"]
    assert doc["failures"] == ["bench_broken: RuntimeError: boom"] and len(doc["skipped"]) == 1
    assert "fast path" in doc["profiles"] and len(doc["results"]) == 3
