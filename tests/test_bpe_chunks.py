"""npllm/bpe/chunks.py: a file in chunks that split exactly as the whole file, in linear time.

The rule first (known cuts, and every cut it allows checked against the three patterns on
every short string over a small alphabet, with the installed `regex`'s classes and with
tiktoken's), then the chunker (joins back, never cuts a special token, the pieces and the
IDs of the whole), then the inputs of issue 13 at a few hundred KB: minified JSON, one long
line without a space, CJK with CRLF line ends. The 16 MB and 8 MB runs are in
benchmarks/bench_chunks.py.
"""

import itertools
import random

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

import npllm
from benchmarks import texts
from npllm.bpe import chunks
from npllm.bpe.chunks import (
    LETTER,
    MARK,
    NUMBER,
    OTHER,
    SPACE,
    UNSURE,
    character_kinds,
    kinds_of,
    read_split_safe_chunks,
    safe_cuts,
    split_safe_chunks,
)
from npllm.bpe.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, compile_pinned

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}
ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
SPLITTERS = [regex.compile(p) for p in PATTERNS.values()] + [compile_pinned(p) for p in PATTERNS.values()]


def disputed_code_point() -> str | None:
    """A character whose class the installed `regex` and tiktoken disagree on, if there is one."""
    unsure = np.flatnonzero(character_kinds() == UNSURE)
    return chr(int(unsure[0])) if len(unsure) else None


# --- the rule ----------------------------------------------------------------------------------


def test_kinds():
    assert kinds_of("a1 ,中，\u0301").tolist() == [LETTER, NUMBER, SPACE, OTHER, LETTER, OTHER, MARK]


def test_the_ascii_table_is_the_start_of_the_whole_one():
    """ASCII text is looked up in a table of 128 code points: the same kinds as the full table's."""
    ascii_kinds = character_kinds(128)
    assert ascii_kinds.tolist() == character_kinds()[:128].tolist()
    text = "".join(map(chr, range(128)))
    assert kinds_of(text).tolist() == kinds_of(text + "中")[:-1].tolist() == ascii_kinds.tolist()


@pytest.mark.parametrize(
    "text, cuts",
    [
        ("ab12 cd", [2, 4]),  # "ab|12| cd": letters -> digits (C), then before the space (A)
        ('{"id":12,"ok":true}', [4, 6, 8, 12, 18]),  # 'id|"', ':|12', '12|,', 'ok|"', 'true|}'
        ("中文\r\n日本，好。\r\n", [2, 6, 8]),  # "中文|\r\n" (D), "日本|，" and "好|。" (C)
        ("end.\nNext\n/x", [3, 5, 9]),  # "end|.", ".\n|Next" (B), "Next|\n" (D); not before "/"
        ("y\r\nA", [1]),  # only "y|\r\n": GPT-2 splits "\r", "\n" here, but a text ending in "\r\n" as one piece
        ("!abc", []),  # cl100k and o200k: "!abc" is one piece
        ("abc's", []),  # o200k: "abc's" is one piece; and "'s" is a contraction
        ("e\u0301x", []),  # a mark: punctuation to GPT-2, a letter to o200k
        ("xxxxxxxx", []),  # one piece: no cut can split it
    ],
)
def test_known_cuts(text, cuts):
    assert safe_cuts(text).tolist() == cuts


def test_no_cut_next_to_a_code_point_whose_class_is_disputed():
    odd = disputed_code_point()
    if odd is None:
        pytest.skip("the installed regex has tiktoken's Unicode tables: nothing is disputed")
    assert safe_cuts(f"a{odd}1").tolist() == []
    assert safe_cuts(f"1{odd}a").tolist() == []


# Every kind of character the rule tells apart, and the pairs the patterns join ("'s", "ll").
ALPHABET = ["a", "A", "s", "1", " ", "\n", "\r", "!", "/", "'", "\u0301", "中", "，"]


def check_cuts(text: str) -> None:
    for p in safe_cuts(text).tolist():
        for splitter in SPLITTERS:
            assert splitter.findall(text[:p]) + splitter.findall(text[p:]) == splitter.findall(text), (text, p)


def test_every_cut_on_every_short_string_splits_as_the_whole():
    # all 30,941 strings of up to 4 characters over ALPHABET; length 5 (17 symbols, 11 million
    # cut checks) passed too, in a minute, when the rule was written
    for n in range(1, 5):
        for chars in itertools.product(ALPHABET, repeat=n):
            check_cuts("".join(chars))


FRAGMENTS = ALPHABET + [
    "\t",
    "\x0b",
    "ll",
    "'S",
    "ve",
    "ſ",
    "\u3000",
    "\x85",
    "\u2028",
    "٣",
    "Ⅻ",
    "ǅ",
    "ʰ",
    "\u0295",
    "  ",
    "\r\n",
    "123456",
    "é",
    "<|endoftext|>",
    '":',
    "},{",
]
if disputed_code_point():
    FRAGMENTS.append(disputed_code_point())


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=16).map("".join))
def test_every_cut_on_generated_text_splits_as_the_whole(text):
    check_cuts(text)


# --- the chunker -----------------------------------------------------------------------------


def blocks(text: str, sizes: list[int]):
    """`text` in blocks of the given sizes, cycled."""
    i = 0
    for size in itertools.cycle(sizes):
        if i >= len(text):
            return
        yield text[i : i + size]
        i += size


def check_chunks(text: str, parts: list[str], specials=()) -> None:
    assert "".join(parts) == text
    assert all(parts)
    cuts = set(safe_cuts(text).tolist())
    at = 0
    for part in parts[:-1]:
        at += len(part)
        assert at in cuts, (text, at)
        for token in specials:  # no special token is cut in two
            for m in regex.finditer(regex.escape(token), text, overlapped=True):
                assert not m.start() < at < m.end()


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(FRAGMENTS + ["hello", " world", ".\n", "<|endoftext|>"]), max_size=60).map("".join),
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=4),
)
def test_chunks_join_back_at_safe_cuts_outside_special_tokens(text, sizes):
    parts = list(split_safe_chunks(blocks(text, sizes), ["<|endoftext|>", "<|fim_prefix|>"]))
    check_chunks(text, parts, ["<|endoftext|>", "<|fim_prefix|>"])
    for splitter in SPLITTERS[:3]:
        assert [p for part in parts for p in splitter.findall(part)] == splitter.findall(text)


def test_a_special_token_with_inner_cuts_stays_whole():
    # "<|endoftext|>" has a safe cut by the rule alone ("endoftext|>": letters -> "|")
    text = "abc<|endoftext|>def " * 50
    assert any(0 < p % 20 < 16 for p in safe_cuts(text).tolist())
    for size in (1, 3, 7, 13, 64):
        check_chunks(text, list(split_safe_chunks(blocks(text, [size]), ["<|endoftext|>"])), ["<|endoftext|>"])


# --- the inputs of the issue, a few hundred KB --------------------------------------------------


def one_long_line(n_chars: int, seed: int = 0) -> str:
    """A line without a space or a line end: base64, as in a data URI."""
    import base64

    return base64.b64encode(random.Random(seed).randbytes(n_chars * 3 // 4)).decode("ascii")


def cjk_crlf(n_lines: int) -> str:
    lines = ["我能吞下玻璃而不伤身体。", "今天的天气很好，我们去公园散步吧", "第123章", "東京タワー"]
    return "".join(lines[i % len(lines)] + "\r\n" for i in range(n_lines))


@pytest.fixture(scope="module")
def issue_inputs():
    return {
        "json": texts.minified_json(300_000),  # the benchmark's input, smaller
        "line": one_long_line(300_000),
        "cjk-crlf": cjk_crlf(12_000),
    }


@pytest.mark.parametrize("kind", ["json", "line", "cjk-crlf"])
def test_the_issues_inputs_come_in_bounded_chunks_and_encode_as_the_whole(tmp_path, issue_inputs, kind):
    # before: one chunk each (no space after a non-space, no "\S\n"), found in quadratic time
    text = issue_inputs[kind]
    path = tmp_path / f"{kind}.txt"
    path.write_bytes(text.encode("utf-8"))
    parts = list(read_split_safe_chunks(path, chunk_chars=8192, special_tokens=["<|endoftext|>"]))
    check_chunks(text, parts)
    assert len(parts) >= len(text.encode("utf-8")) // 8192 - 1
    assert max(map(len, parts)) <= 2 * 8192  # memory bounded by the chunk size
    for name in ENCODINGS:
        enc = npllm.get_encoding(name)
        assert [i for part in parts for i in enc.encode_ordinary(part)] == enc.encode_ordinary(text), name


def test_cut_finding_is_linear(tmp_path, monkeypatch):
    # every character's kind is looked up about once, whatever the text: the old search looked
    # at the whole carried text again for each block (4 / 8 / 16 MB lines: 3.4 / 13 / 45 s)
    looked_at = []
    real = chunks.kinds_of
    monkeypatch.setattr(chunks, "kinds_of", lambda text: looked_at.append(len(text)) or real(text))
    for text in ("x" * 400_000, one_long_line(400_000), "!" * 200_000 + "a" * 200_000):
        looked_at.clear()
        parts = list(split_safe_chunks(blocks(text, [4096])))
        assert "".join(parts) == text
        assert sum(looked_at) <= 1.1 * len(text), sum(looked_at) / len(text)


def test_a_stretch_without_a_cut_is_one_chunk_and_exact(tmp_path):
    text = "ab " + "x" * 50_000 + " cd"  # one piece of 50,000 letters: nothing can cut it
    path = tmp_path / "x.txt"
    path.write_text(text, encoding="utf-8")
    parts = list(read_split_safe_chunks(path, chunk_chars=1000))
    assert parts == ["ab", " " + "x" * 50_000, " cd"]


# --- reading the file --------------------------------------------------------------------------


def test_every_byte_is_kept(tmp_path):
    text = "\ufeffbom first\r\nthen CRLF\r\nand a lone \r and \n"
    path = tmp_path / "bom.txt"
    path.write_bytes(text.encode("utf-8"))
    for size in (1, 2, 5, 1000):
        assert "".join(read_split_safe_chunks(path, chunk_chars=size)) == text


@pytest.mark.parametrize("size", [7, 1000, 4096])
def test_bad_utf8_is_reported_at_its_byte_in_the_file(tmp_path, size):
    # before: "byte 902848 of a block" for bad UTF-8 at byte 3,000,000
    good = ("é" * 1500 + "\n").encode("utf-8")  # 3,001 bytes, two-byte characters across blocks
    path = tmp_path / "bad.txt"
    path.write_bytes(good + b"ok \xff more")
    with pytest.raises(ValueError, match=r"bad\.txt is not UTF-8 text \(byte 3,004: invalid start byte\)"):
        list(read_split_safe_chunks(path, chunk_chars=size))
    path.write_bytes(good + "é".encode()[:1])  # cut inside the last character
    with pytest.raises(ValueError, match=r"byte 3,001: unexpected end of data"):
        list(read_split_safe_chunks(path, chunk_chars=size))


def test_an_unknown_pattern_gets_the_whole_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab cd ef\n" * 100, encoding="utf-8")
    assert len(list(read_split_safe_chunks(path, chunk_chars=10, pat_str=GPT2_PATTERN))) > 10
    assert len(list(read_split_safe_chunks(path, chunk_chars=10, pat_str=r"\w+ \w+|\s"))) == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_chunk_chars_must_be_a_positive_int(tmp_path, bad):
    path = tmp_path / "t.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match="chunk_chars"):
        list(read_split_safe_chunks(path, chunk_chars=bad))
