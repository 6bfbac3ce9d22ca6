"""`npllm demo`: the vocabulary trained in step 2, the model of step 5 (its loss starts at
ln V and falls, it prints a sample), the same output for the same seed, and `--steps` and
`--seed` checked as one line and exit 1."""

import ast
import contextlib
import io
import math
import re

import pytest
from cli_run import run

from npllm.cli import main

LOSS = re.compile(r"^  step +(\d+)  loss (\d+\.\d+)$", re.MULTILINE)


def losses(out: str) -> list[tuple[int, float]]:
    return [(int(step), float(loss)) for step, loss in LOSS.findall(out)]


def test_step_2_trains_a_vocabulary_and_shows_its_first_merges(demo_output, verdict_text):  # The Verdict's numbers
    assert "trained on the text: Encoding('demo', n_vocab=512), 256 merges; the first 10:" in demo_output
    assert "' ' + 't' -> ' t'   'h' + 'e' -> 'he'" in demo_output
    assert "' t' + 'he' -> ' the'" in demo_output  # a merge of two merged tokens
    assert "the whole text: 9,299 tokens with it, 5,145 with GPT-2's 50,257" in demo_output


def test_step_5_loss_starts_near_ln_v_and_falls(demo_output):
    assert "TinyLM(V=512, context_length=32, D=64)" in demo_output
    assert "ln(512) = 6.238" in demo_output
    printed = losses(demo_output)
    steps = [step for step, _ in printed]
    assert steps[0] == 1 and steps[-1] == 200 and steps == sorted(steps)
    first, last = printed[0][1], printed[-1][1]
    assert abs(first - math.log(512)) < 0.3
    assert last < first - 1.0


def test_step_5_prints_a_sample(demo_output):
    line = demo_output.strip().splitlines()[-1]
    prefix = "sample, 60 tokens after 'I had': "
    assert line.startswith(prefix)
    assert ast.literal_eval(line[len(prefix) :]).startswith("I had")  # the sample's repr, on any text


@pytest.fixture(scope="module")
def short_runs() -> dict:
    """stdout of `npllm demo --steps 20` with seed 5 (twice) and seed 6."""
    runs = {}
    for key, seed in (("first", 5), ("again", 5), ("other", 6)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert main(["demo", "--steps", "20", "--seed", str(seed)]) == 0
        runs[key] = out.getvalue()
    return runs


def test_the_same_seed_prints_the_same_demo(short_runs):
    assert short_runs["first"] == short_runs["again"]
    assert [step for step, _ in losses(short_runs["first"])] == [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]


def test_another_seed_changes_the_losses_and_the_sample(short_runs):
    first, other = short_runs["first"], short_runs["other"]
    assert losses(first) != losses(other)
    assert first.splitlines()[-1] != other.splitlines()[-1]
    assert first.split("== Step 5")[0] == other.split("== Step 5")[0]  # steps 1 to 4 print no random numbers


@pytest.mark.parametrize(
    "argv, bad",
    [
        (["--steps", "0"], "0"),
        (["--steps", "-3"], "-3"),
        (["--steps", "x"], "'x'"),
        (["--steps", "2.5"], "'2.5'"),
        (["--seed", "-1"], "-1"),
        (["--seed", "abc"], "'abc'"),
    ],
)
def test_bad_steps_or_seed_is_one_line_and_exit_1(capsys, argv, bad):
    code, out, err = run(capsys, "demo", *argv)
    assert code == 1 and out == ""  # checked before the demo prints anything
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("npllm: error:") and "Traceback" not in err
    assert argv[0] in lines[0] and f"got {bad}" in lines[0]  # names the option and what it got


def test_a_text_too_short_for_a_window_skips_the_model(capsys, tmp_path):
    file = tmp_path / "short.txt"
    file.write_text("the cat sat on the mat. " * 4, encoding="utf-8")
    code, out, err = run(capsys, "demo", "--text", file)
    assert code == 0
    assert "Encoding('demo', n_vocab=268), 12 merges" in out  # all this text allows
    assert "allows only 12 merges" in err  # the trainer's warning, as one line
    assert out.strip().endswith("29 tokens: too short for one window of 32 tokens and its target, so no model to train")


def test_an_empty_text_skips_the_vocabulary_and_the_model(capsys, tmp_path):
    file = tmp_path / "empty.txt"
    file.write_text("", encoding="utf-8")
    code, out, _ = run(capsys, "demo", "--text", file)
    assert code == 0
    assert "the text is empty: no vocabulary to train on it" in out
    assert out.strip().endswith("no vocabulary (the text is empty): no model to train")


def test_a_text_just_long_enough_trains(capsys, tmp_path):
    file = tmp_path / "verse.txt"
    file.write_text(
        "Shall I compare thee to a summer's day? Thou art more lovely and more temperate. " * 3, encoding="utf-8"
    )
    code, out, _ = run(capsys, "demo", "--text", file, "--steps", 5)
    assert code == 0
    assert len(losses(out)) == 5
    assert "sample, 60 tokens after 'I had'" in out
