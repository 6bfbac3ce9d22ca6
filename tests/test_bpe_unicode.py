r"""tiktoken's character classes, pinned: npllm splits every code point as tiktoken 0.14.0 does
(Unicode 16.0), whatever Unicode tables the installed `regex` carries.

- the shipped ranges (npllm/bpe/unicode_classes.py) are what tiktoken says, derived again;
- each pinned class holds exactly the shipped code points with the `regex` installed here,
  which is the claim for any `regex`: the correction is computed against whichever it is;
- every code point, in the contexts where its class shows in the tokens, encodes as in
  tiktoken, for all seven encodings (four of them by being a twin's model), 4,096 probes
  per encode;
- the contractions match as in tiktoken, case-insensitive ones too ("'ſ" is "'s");
- random text mixing the code points the two tables disagree on with common ones encodes as
  in tiktoken, and a long file holding them, cut at the safe cuts, splits as the whole.

Run this file under another `regex` to check another release:
`pip install --target /tmp/rx regex==2024.5.15` then `PYTHONPATH=/tmp/rx python -m pytest ...`.
"""

import functools

import numpy as np
import pytest
import regex
from derive_unicode_classes import CLASSES, EVERY_CODE_POINT, derive_classes, members
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding, tiktoken_module

import npllm
from npllm.bpe import unicode_classes
from npllm.bpe.chunks import read_split_safe_chunks
from npllm.bpe.patterns import (
    CL100K_PATTERN,
    CODE_POINTS,
    GPT2_PATTERN,
    O200K_PATTERN,
    PinnedPattern,
    class_code_points,
    compile_pinned,
    installed_members,
    pin_classes,
)

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}
ENCODINGS = ["gpt2", "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base", "o200k_harmony"]
# Encodings that encode the probes below alike: the same pattern, and the same ranks but for
# p50k's extra tokens, runs of 2 to 25 spaces, which no probe holds. Each is checked to be its
# twin's model in npllm and in tiktoken, and the code points go through the twin once.
TWIN = {"r50k_base": "gpt2", "p50k_base": "gpt2", "p50k_edit": "gpt2", "o200k_harmony": "o200k_base"}
BATCH = 4096  # probes per encode

# The probes, chosen where a class shows in the tokens. Every code point c goes through
# "{c}'re": after a character outside \p{L}, \p{N} and \s, "'re" loses its apostrophe to it
# ("c'", "re" instead of "c", "'re"). New letters, digits and marks cross that line: it shows
# all 4,657 code points regex 2026.5.9 classes unlike tiktoken in GPT-2's pattern, 4,699 of
# o200k's 4,700 (not U+0295, Ll there, Lo here). In the patterns that group digits by
# three, "1{c}234" shows a digit ("1c2", "34" instead of "1", "c", "234"); it runs on every code
# point that is a digit in either table, tiktoken's or this regex's. For a rare character the
# other class differences cannot show at all (no token spans its bytes and a neighbour), which
# is why the classes themselves are checked code point by code point above.
PROBE = "{c}'re\n"
DIGIT_PROBE = "1{c}234\n"
GROUPS_DIGITS = {GPT2_PATTERN: False, CL100K_PATTERN: True, O200K_PATTERN: True}

SURROGATES = slice(0xD800, 0xE000)


def class_mask(text: str) -> np.ndarray:
    """The code points in `text` -> a bool array over all code points."""
    mask = np.zeros(CODE_POINTS, dtype=bool)
    mask[np.frombuffer(text.encode("utf-32-le"), np.uint32)] = True
    return mask


def shipped(cls: str) -> np.ndarray:
    mask = np.zeros(CODE_POINTS, dtype=bool)
    for first, last in unicode_classes.ranges(cls):
        mask[first : last + 1] = True
    return mask


def differing(a: np.ndarray, b: np.ndarray) -> list[str]:
    return [f"U+{c:04X}" for c in np.flatnonzero(a != b)[:10]]


def pattern_classes(pat_str: str = "".join(PATTERNS.values())) -> list[str]:
    r"""Every class written in a pattern (all known patterns): \p{L}, [^\s\p{L}\p{N}], \S, ..."""
    return sorted(set(regex.findall(r"\[(?:\\.|[^\]\\])*\]|\\[pP]\{\w+\}|\\[sS]", pat_str)))


# --- the data --------------------------------------------------------------------------------


def test_the_shipped_ranges_are_tiktokens():
    tiktoken = tiktoken_module()
    assert list(unicode_classes.CLASSES) == list(CLASSES)
    derived = derive_classes(tiktoken)
    for cls in CLASSES:
        assert derived[cls] == unicode_classes.ranges(cls), f"{cls} differs: python tests/derive_unicode_classes.py"


def test_the_shipped_ranges_are_unicode_16():
    # Unicode 16.0's known facts, as known answers: Garay (U+10D4A) and Kirat Rai (U+16D43)
    # letters came with 16.0; U+0295 was Ll until 17.0 made it Lo; U+A7CB is 16.0's, U+A7CE 17.0's.
    has = {cls: set(np.flatnonzero(shipped(cls))) for cls in CLASSES}
    assert {0x10D4A, 0x16D43, 0xA7CB} <= has[r"\p{L}"]
    assert 0x0295 in has[r"\p{Ll}"] and 0x0295 not in has[r"\p{Lo}"]
    assert 0xA7CE not in has[r"\p{L}"]
    assert unicode_classes.UNICODE_VERSION == "16.0.0"


def test_the_letter_categories_add_up_to_letters():
    letters = np.logical_or.reduce([shipped(cls) for cls in (r"\p{Lu}", r"\p{Ll}", r"\p{Lt}", r"\p{Lm}", r"\p{Lo}")])
    assert (letters == shipped(r"\p{L}")).all()
    assert not (shipped(r"\p{L}") & shipped(r"\p{N}")).any()
    assert not (shipped(r"\p{L}") & shipped(r"\p{M}")).any()


# --- the pinned classes, with the installed regex ---------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_a_pinned_class_holds_the_shipped_code_points(cls):
    pinned = regex.compile(pin_classes(cls)[0], regex.V1)
    found = class_mask("".join(pinned.findall(EVERY_CODE_POINT)))
    expected = shipped(cls)
    assert (found == expected).all(), f"{cls} with regex {regex.__version__}: {differing(found, expected)}"


@pytest.mark.parametrize("cls", pattern_classes())
def test_a_pinned_class_of_the_patterns_is_tiktokens(cls):
    tiktoken = tiktoken_module()
    pinned = regex.compile(pin_classes(cls)[0], regex.V1)
    found = class_mask("".join(pinned.findall(EVERY_CODE_POINT)))
    expected = class_mask(members(tiktoken, cls))
    assert (found == expected).all(), f"{cls} with regex {regex.__version__}: {differing(found, expected)}"
    ours = class_code_points(cls)
    ours[SURROGATES] = expected[SURROGATES]  # tiktoken cannot be asked about them
    assert (ours == expected).all(), differing(ours, expected)


# as in GPT2_PATTERN, CL100K_PATTERN and O200K_PATTERN
CONTRACTIONS = ["'(?:[sdmt]|ll|ve|re)", "'(?i:[sdmt]|ll|ve|re)", "(?i:'s|'t|'re|'ve|'m|'ll|'d)"]


@pytest.mark.parametrize("contraction", CONTRACTIONS)
def test_the_contractions_fold_as_in_tiktoken(contraction):
    # Case-insensitive in cl100k and o200k: "'ſ" (U+017F, long s) is "'s" there, in both. The
    # pinned form runs under VERSION1, which folds case fully ("ﬅ" is "st"): the same here.
    tiktoken = tiktoken_module()
    text = "".join(f"'{c}'r{c}'v{c}'l{c}\n" for c in EVERY_CODE_POINT)
    want = members(tiktoken, contraction, text)
    assert "".join(regex.findall(contraction, text)) == want
    assert "".join(regex.findall(contraction, text, regex.V1)) == want
    assert ("'\u017f" in want) == ("?i" in contraction)


def test_the_corrections_are_what_this_regex_gets_wrong():
    # disputed = the code points where this regex's own class differs from the shipped one
    for pat_str in PATTERNS.values():
        pinned = compile_pinned(pat_str)
        assert isinstance(pinned, PinnedPattern)
        expected = np.zeros(CODE_POINTS, dtype=bool)
        for cls in pattern_classes(pat_str):
            native = class_mask("".join(regex.findall(cls, EVERY_CODE_POINT)))
            expected |= native != class_code_points(cls)
        expected[SURROGATES] = False
        disputed = pinned.disputed if pinned.disputed is not None else np.zeros(CODE_POINTS, dtype=bool)
        assert (disputed == expected).all(), differing(disputed, expected)


@pytest.mark.parametrize("cls", pattern_classes())
def test_installed_members_skips_only_planes_where_nothing_differs(cls):
    """installed_members runs a class over planes 0-3 and 14 and fills in the quiet ones from
    one code point each: the same as running it over every code point."""
    full = class_mask("".join(regex.findall(cls, EVERY_CODE_POINT)))
    found = installed_members(cls)
    found[SURROGATES] = False  # EVERY_CODE_POINT leaves them out
    assert (found == full).all(), differing(found, full)


def test_installed_members_runs_everything_when_a_quiet_plane_is_not(monkeypatch):
    """Should a regex put letters in a "quiet" plane, no plane is skipped: pretend plane 0 is one."""
    from npllm.bpe import patterns

    monkeypatch.setattr(patterns, "_QUIET_PLANES", ((0x0000, 0xFFFF), (0xF0000, 0x10FFFF)))
    patterns._planes.cache_clear()
    try:
        live, quiet = patterns._planes()
        assert [(first, len(text)) for first, text in live] == [(0, CODE_POINTS)] and quiet == []
        found = installed_members(r"\p{L}")
        found[SURROGATES] = False
        assert (found == class_mask("".join(regex.findall(r"\p{L}", EVERY_CODE_POINT)))).all()
    finally:
        patterns._planes.cache_clear()


def test_other_patterns_are_left_as_they_are():
    assert compile_pinned(r"\w+|\s") == regex.compile(r"\w+|\s")
    with pytest.raises(ValueError, match="cannot pin"):
        pin_classes(r"[\w]+")


def test_a_text_goes_to_the_fast_form_only_without_disputed_code_points():
    pinned = compile_pinned(GPT2_PATTERN)
    if pinned.disputed is None:
        pytest.skip(f"regex {regex.__version__} has tiktoken's tables: nothing to pin")
    odd = chr(int(np.flatnonzero(pinned.disputed)[0]))
    plain = "Съешь же ещё этих мягких французских булок, 我能吞下玻璃而不伤身体。 " * 4
    assert pinned.pattern_for(plain) is pinned.native
    assert pinned.pattern_for(plain + odd) is pinned.pinned
    assert pinned.pattern_for("short " + odd) is pinned.pinned
    assert pinned.native.findall(plain) == pinned.pinned.findall(plain)


# --- every code point, every encoding, against tiktoken --------------------------------------


def test_known_answers():
    # The examples (regex 2026.11.19 calls U+18F8A a letter, U+12654 a number), and
    # three code points that regex 2026.5.9 has as letters or a digit and Unicode 16.0 leaves
    # unassigned: outside tiktoken's \p{L} and \p{N} they take the apostrophe or "<" that
    # follows, and U+11DE0 is no digit to group with "1" and "234".
    gpt2, cl100k, o200k = (npllm.get_encoding(name) for name in ("gpt2", "cl100k_base", "o200k_base"))
    assert gpt2.encode("\U00018f8a're") == [172, 246, 122, 232, 6, 260]  # ..., "'", "re"
    assert cl100k.encode("\U00012654<div") == [172, 240, 247, 242, 27, 614]  # ..., "<", "div"
    assert gpt2.encode("\u088f're") == [156, 95, 237, 6, 260]  # ..., "'", "re"
    assert o200k.encode("\ua7ce's") == [166, 253, 236, 6, 82]  # ..., "'", "s"
    assert cl100k.encode("1\U00011de0234") == [16, 172, 239, 115, 254, 11727]  # "1", ..., "234"


def probes(pat_str: str) -> list[str]:
    """Every probe text for one pattern, one code point each: see PROBE and DIGIT_PROBE."""
    every = [chr(c) for c in range(CODE_POINTS) if not 0xD800 <= c < 0xE000]
    texts = [PROBE.format(c=c) for c in every]
    if GROUPS_DIGITS[pat_str]:
        digits = shipped(r"\p{N}") | class_mask("".join(regex.findall(r"\p{N}", EVERY_CODE_POINT)))
        texts += [DIGIT_PROBE.format(c=chr(c)) for c in np.flatnonzero(digits)]
    return texts


@functools.cache
def mismatches(name: str) -> tuple[str, ...]:
    """The probes npllm encodes unlike tiktoken (at most 10), for one encoding."""
    ours, theirs = npllm.get_encoding(name), tiktoken_encoding(name)
    texts = probes(ours.pat_str)
    batches = ["".join(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    assert not any("  " in batch for batch in batches)  # what makes p50k's extra tokens irrelevant
    got = ours.encode_ordinary_batch(batches, num_threads=2)
    want = theirs.encode_ordinary_batch(batches, num_threads=2)
    bad = []
    for i in (i for i in range(len(batches)) if got[i] != want[i]):
        for text in texts[i * BATCH : (i + 1) * BATCH]:
            mine, reference = ours.encode_ordinary(text), theirs.encode_ordinary(text)
            if mine != reference:
                bad.append(f"{text!r}: npllm {mine}, tiktoken {reference}")
                if len(bad) == 10:
                    return tuple(bad)
    return tuple(bad)


def assert_same_model_on_the_probes(ranks: dict, pat_str: str, twin_ranks: dict, twin_pat_str: str) -> None:
    assert pat_str == twin_pat_str
    extra = ranks.keys() - twin_ranks.keys()  # p50k: "  " ... 25 spaces
    assert all(ranks[t] == rank for t, rank in twin_ranks.items()) and all(set(t) == {32} for t in extra)


@pytest.mark.parametrize("name", ENCODINGS)
def test_every_code_point_encodes_as_in_tiktoken(name):
    if name in TWIN:
        ours, twin = npllm.get_encoding(name), npllm.get_encoding(TWIN[name])
        assert_same_model_on_the_probes(ours.mergeable_ranks, ours.pat_str, twin.mergeable_ranks, twin.pat_str)
        theirs, their = tiktoken_encoding(name), tiktoken_encoding(TWIN[name])
        assert_same_model_on_the_probes(
            theirs._mergeable_ranks, theirs._pat_str, their._mergeable_ranks, their._pat_str
        )
        name = TWIN[name]
    bad = mismatches(name)
    assert not bad, f"regex {regex.__version__}, {len(bad)} probes (at most 10 shown):\n" + "\n".join(bad)


# --- mixed text, long files ------------------------------------------------------------------


def disputed_sample() -> list[str]:
    """A few code points the installed regex classes unlike tiktoken, or stand-ins."""
    disputed = compile_pinned(O200K_PATTERN).disputed
    if disputed is None:
        return ["\U00018f8a", "\u0295"]
    return [chr(c) for c in np.flatnonzero(disputed)[::500]] + ["\u0295"]


FRAGMENTS = ["a", "A", "é", "ж", "中", "1", "２", " ", "  ", "\n", "\r\n", "\t", "'", "'s", "!", "/", ".", "\u0301"]


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS + disputed_sample() + ["'re", "'S", "1234", "Ab", "<div"]), max_size=40))
def test_text_mixing_disputed_code_points_encodes_as_in_tiktoken(fragments):
    text = "".join(fragments) * 4  # long enough for the disputed-code-point lookup
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        assert npllm.get_encoding(name).encode_ordinary(text) == tiktoken_encoding(name).encode_ordinary(text), name


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(FRAGMENTS + disputed_sample()), min_size=1, max_size=60).map("".join),
    chunk_chars=st.integers(1, 12),
)
def test_safe_cuts_split_as_the_whole_text(tmp_path_factory, text, chunk_chars):
    path = tmp_path_factory.getbasetemp() / "unicode-chunks.txt"
    path.write_bytes(text.encode("utf-8"))
    chunks = list(read_split_safe_chunks(path, chunk_chars=chunk_chars))
    assert "".join(chunks) == text
    for pat_str in PATTERNS.values():
        pattern = compile_pinned(pat_str)
        assert [p for chunk in chunks for p in pattern.findall(chunk)] == pattern.findall(text)
