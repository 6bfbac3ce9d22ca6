"""The BPE trainer: `npllm.train_bpe`, its fast merge loop and its slow reference.

The rule is the textbook one, exactly `tiktoken._educational.bpe_train`: start from the 256
bytes, split the text with the pattern, merge the most frequent adjacent pair inside the
pieces (overlapping pairs counted, "aaa" with (a, a) -> [aa, a]), the pair seen first in the
text on a tie. Known answers, cross-checks against tiktoken's educational trainer and against
`train_reference.py`, the input kinds (str, iterable, path read in chunks), special tokens,
bad input, progress, and the saved files. The real text is the standard library's source
(`prose_text`, `large_text`), which every Python installation has; The Verdict only for its
known answer.
"""

import io
import re
import warnings
from collections import Counter

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_educational, tiktoken_module

import npllm
import npllm.bpe.counts as counts_module
import npllm.data
from npllm import CL100K_PATTERN, GPT2_PATTERN
from npllm.bpe.chunks import read_split_safe_chunks, safe_cuts
from npllm.bpe.files import render_token
from npllm.bpe.train import count_pieces, learn_merges, ranks_from_merges
from npllm.bpe.train_reference import learn_merges_reference
from npllm.progress import ProgressLine

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN}
EOT = "<|endoftext|>"


def train_quietly(text, vocab_size, **kwargs):
    """(encoding, [warning messages]): train_bpe with every warning recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        enc = npllm.train_bpe(text, vocab_size, **kwargs)
    return enc, [str(w.message) for w in caught]


def educational_ranks(text: str, vocab_size: int, pat_str: str = GPT2_PATTERN) -> dict[bytes, int]:
    return tiktoken_educational().bpe_train(text, vocab_size, pat_str, visualise=None)


def merges_of(enc) -> list[bytes]:
    """The merged tokens in merge order (ranks 256 onwards)."""
    ranks = enc.mergeable_ranks
    assert sorted(ranks.values()) == list(range(len(ranks)))  # dense ranks, bytes first
    return [token for token, _ in sorted(ranks.items(), key=lambda item: item[1])][256:]


# --- known answers -----------------------------------------------------------------------------


def test_wikipedia_example_merges_in_minbpe_order():
    # "aaabdaaabac": (a, a) occurs 4 times (overlapping) -> Z = 256, "ZabdZabac";
    # then (Z, a) and (a, b) occur twice each, (Z, a) first -> Y = 257, "YbdYbac";
    # then (Y, b) twice -> X = 258, "XdXac"; then four pairs once each, (X, d) first.
    # (Wikipedia picks (a, b) on the second tie; minbpe and tiktoken's trainer pick (Z, a).)
    pieces = count_pieces("aaabdaaabac", GPT2_PATTERN)
    assert pieces == {b"aaabdaaabac": 1}
    assert learn_merges(pieces, 4) == [(97, 97), (256, 97), (257, 98), (258, 100)]
    enc = npllm.train_bpe("aaabdaaabac", 259)
    assert merges_of(enc) == [b"aa", b"aaa", b"aaab"]
    assert enc.encode("aaabdaaabac") == [258, 100, 258, 97, 99]  # minbpe's known answer
    assert npllm.train_bpe("aaabdaaabac", 260).mergeable_ranks == educational_ranks("aaabdaaabac", 260)


def test_aaaa_merges_aa_then_aaaa():
    assert learn_merges({b"aaaa": 1}, 10) == [(97, 97), (256, 256)]
    enc = npllm.train_bpe("aaaa", 258)
    assert enc.mergeable_ranks[b"aa"] == 256 and enc.mergeable_ranks[b"aaaa"] == 257
    assert enc.encode("aaaa") == [257]


def test_replacement_is_left_to_right_without_overlap():
    # "aaa" with (a, a) -> [aa, a], so the second merge is (aa, a), never (a, aa)
    assert learn_merges({b"aaa": 1}, 10) == [(97, 97), (256, 97)]
    # overlapping pairs count: "aaa" holds (a, a) twice and beats (x, y) and ( , x), twice each,
    # only because it comes first; "aaaa" holds it three times and wins outright
    assert learn_merges(count_pieces("aaa xy xy", GPT2_PATTERN), 1) == [(97, 97)]
    assert learn_merges(count_pieces("xy xy aaaa", GPT2_PATTERN), 1) == [(97, 97)]
    assert learn_merges(count_pieces("xy xy aaa", GPT2_PATTERN), 1) == [(120, 121)]


def test_ties_go_to_the_pair_seen_first():
    assert learn_merges(count_pieces("ab cd cd ab", GPT2_PATTERN), 1) == [(97, 98)]
    assert learn_merges(count_pieces("cd ab ab cd", GPT2_PATTERN), 1) == [(99, 100)]
    # within one piece: the leftmost pair of equal count
    assert learn_merges({b"xyzw": 1}, 3) == [(120, 121), (256, 122), (257, 119)]


def test_merges_never_cross_pieces():
    # "a" and " a" are separate pieces; joined, (a, " ") would tie with ( , a) and win by coming first
    enc, caught = train_quietly("a a a a", 300)
    assert merges_of(enc) == [b" a"]
    assert len(caught) == 1


def test_the_verdict_allows_exactly_2516_merges(verdict_text):
    with pytest.warns(UserWarning) as record:
        enc = npllm.train_bpe(verdict_text, 5000)
    assert len(record) == 1
    assert "2,516" in str(record[0].message) and "5,000" in str(record[0].message)
    assert enc.n_vocab == 2772 and len(enc.mergeable_ranks) == 2772
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # just enough: no warning
        exact = npllm.train_bpe(verdict_text, 2772)
    assert exact.mergeable_ranks == enc.mergeable_ranks


def test_vocab_size_256_learns_nothing():
    enc, caught = train_quietly("hello hello", 256)
    assert caught == []
    assert enc.mergeable_ranks == {bytes([b]): b for b in range(256)}
    assert enc.encode("hello") == list(b"hello")


# --- cross-check: tiktoken's educational trainer ---------------------------------------------


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k"])
def test_real_text_matches_educational_trainer(prose_text, pattern):
    pat_str = PATTERNS[pattern]
    enc = npllm.train_bpe(prose_text, 300, pat_str=pat_str)
    expected = educational_ranks(prose_text, 300, pat_str)
    assert len(expected) == 300
    assert enc.mergeable_ranks == expected


# Fragments that make ties, repeats, multi-byte characters, emoji and whitespace runs likely.
FRAGMENTS = [
    "a",
    "b",
    "aa",
    "aaaa",
    "ab",
    "ba",
    "abababab",
    "aaabdaaabac",
    " ",
    "  ",
    "   ",
    "\n",
    "\n\n",
    "\t",
    " \n",
    "\r\n",
    "\u00a0",
    "\u3000",
    "é",
    "世界",
    "🙂",
    "👍🏽",
    "ß",
    "\u0301",
    "'s",
    "'ll",
    " the",
    "The",
    "123",
    "4567",
    "!!",
    "?",
    ".",
    "\x1c",
]
texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=40).map("".join),
    st.text(alphabet="ab \n", min_size=1, max_size=60),
    st.text(alphabet="aé世🙂 \t\n", min_size=1, max_size=40),
    st.text(min_size=1, max_size=40),  # any characters but lone surrogates
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(text=texts, vocab_size=st.integers(256, 300), pattern=st.sampled_from(sorted(PATTERNS)))
def test_generated_texts_match_educational_trainer(text, vocab_size, pattern):
    pat_str = PATTERNS[pattern]
    enc, caught = train_quietly(text, vocab_size, pat_str=pat_str)
    n_merges = len(enc.mergeable_ranks) - 256
    try:
        expected = educational_ranks(text, vocab_size, pat_str)
    except ValueError:  # educational ran out of pairs (max() of nothing): so must npllm have
        assert n_merges < vocab_size - 256
        assert len(caught) == 1 and f"only {n_merges:,} merges" in caught[0]
        expected = educational_ranks(text, 256 + n_merges, pat_str)
        with pytest.raises(ValueError):  # and n_merges really is all there is
            educational_ranks(text, 256 + n_merges + 1, pat_str)
    else:
        assert caught == []
        assert n_merges == vocab_size - 256
    assert enc.mergeable_ranks == expected


# --- cross-check: the fast merge loop against its slow reference -----------------------------


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k"])
def test_fast_merges_equal_reference_on_real_text(prose_text, pattern):
    pieces = count_pieces(prose_text, PATTERNS[pattern])
    fast = learn_merges(pieces, 744)
    assert len(fast) == 744
    assert fast == learn_merges_reference(pieces, 744)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(text=texts, n_merges=st.integers(0, 80), pattern=st.sampled_from(sorted(PATTERNS)))
def test_fast_merges_equal_reference_on_generated_texts(text, n_merges, pattern):
    pieces = count_pieces(text, PATTERNS[pattern])
    assert learn_merges(pieces, n_merges) == learn_merges_reference(pieces, n_merges)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    pieces=st.dictionaries(st.binary(min_size=1, max_size=12), st.integers(1, 6), min_size=1, max_size=12),
    n_merges=st.integers(0, 60),
)
def test_fast_merges_equal_reference_on_weighted_byte_pieces(pieces, n_merges):
    # any bytes, not only UTF-8, and pieces that occur several times each
    assert learn_merges(pieces, n_merges) == learn_merges_reference(pieces, n_merges)


def test_piece_counts_are_weighted_by_occurrences():
    # "ab" twice outweighs "xy" once even though "xy" comes first
    assert learn_merges({b"xy": 1, b"ab": 2}, 1) == [(97, 98)]
    assert learn_merges_reference({b"xy": 1, b"ab": 2}, 1) == [(97, 98)]


# --- cross-check: a trained encoding inside tiktoken --------------------------------------------


@pytest.mark.parametrize("pattern,training_chars", [("gpt2", 20_000), ("cl100k", 100_000)])
def test_trained_encoding_encodes_like_tiktoken(stdlib_text, pattern, training_chars):
    tiktoken = tiktoken_module()
    training = stdlib_text[:training_chars]
    enc = npllm.train_bpe(training, 1000, pat_str=PATTERNS[pattern], special_tokens=[EOT])
    assert enc.n_vocab == 1001 and enc.special_tokens == {EOT: 1000}
    theirs = tiktoken.Encoding(
        "trained", pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens=enc.special_tokens
    )
    unseen = stdlib_text[100_000:1_100_000]  # text the trainer never saw, Tiny Shakespeare's size
    ids = enc.encode_ordinary(unseen)
    assert ids == theirs.encode_ordinary(unseen)
    assert len(ids) < len(unseen.encode("utf-8")) // 2  # the merges do compress
    assert enc.decode(ids) == unseen
    sample = "First Citizen:" + EOT + "Before we proceed"
    assert enc.encode(sample, allowed_special="all") == theirs.encode(sample, allowed_special="all")
    assert 1000 in enc.encode(sample, allowed_special="all")


# --- inputs: str, iterable of str, path --------------------------------------------------------


def test_each_item_of_an_iterable_is_split_on_its_own():
    assert count_pieces("helloworld", GPT2_PATTERN) == {b"helloworld": 1}
    assert list(count_pieces(["hello", "world", "hello"], GPT2_PATTERN).items()) == [(b"hello", 2), (b"world", 1)]
    # "a" + "a" would be one pair if joined; as two items there is none
    enc, caught = train_quietly(["a", "a", "a"], 257)
    assert len(caught) == 1 and len(enc.mergeable_ranks) == 256
    enc, caught = train_quietly("aaa", 257)
    assert caught == [] and merges_of(enc) == [b"aa"]


def test_iterable_pieces_equal_the_pieces_of_each_item(prose_text):
    lines = prose_text.splitlines(keepends=True)
    expected = Counter()
    for line in lines:
        expected.update(regex.findall(GPT2_PATTERN, line))
    pieces = count_pieces(lines, GPT2_PATTERN)
    assert list(pieces.items()) == [(p.encode("utf-8"), n) for p, n in expected.items()]
    enc = npllm.train_bpe(lines, 500)
    assert enc.mergeable_ranks == ranks_from_merges(learn_merges(pieces, 244))


def test_a_generator_works_and_is_read_once(prose_text):
    lines = prose_text.splitlines(keepends=True)
    consumed = []

    def gen():
        for line in lines:
            consumed.append(line)
            yield line

    enc = npllm.train_bpe(gen(), 400)
    assert consumed == lines  # every item, exactly once
    assert enc.mergeable_ranks == npllm.train_bpe(lines, 400).mergeable_ranks

    class OnceOnly:
        iterations = 0

        def __iter__(self):
            self.iterations += 1
            if self.iterations > 1:
                raise AssertionError("iterated twice")
            return iter(lines)

    once = OnceOnly()
    assert npllm.train_bpe(once, 400).mergeable_ranks == enc.mergeable_ranks
    assert once.iterations == 1


@pytest.fixture(scope="module")
def large_file(tmp_path_factory, large_text):
    """large_text as a UTF-8 file, written byte for byte (no newline translation)."""
    path = tmp_path_factory.mktemp("large") / "large.txt"
    path.write_bytes(large_text.encode("utf-8"))
    return path


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k"])
@pytest.mark.parametrize("chunk_chars", [1000, 4096, 65536])
def test_split_safe_chunks_give_the_pieces_of_the_whole_file(large_file, large_text, pattern, chunk_chars):
    chunks = list(read_split_safe_chunks(large_file, chunk_chars=chunk_chars))
    assert len(chunks) >= len(large_text) // (2 * chunk_chars)  # really in chunks
    assert "".join(chunks) == large_text
    cuts = set(safe_cuts(large_text).tolist())  # every cut is one the rule allows (npllm/bpe/chunks.py)
    assert all(sum(map(len, chunks[: k + 1])) in cuts for k in range(len(chunks) - 1))
    pat_str = PATTERNS[pattern]
    whole = count_pieces(large_text, pat_str)
    assert list(count_pieces(chunks, pat_str).items()) == list(whole.items())  # order too: it breaks ties


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    text=st.one_of(
        texts, st.lists(st.sampled_from(FRAGMENTS + ["x\ny", "!\n!", ".\n\n", "a\n"]), min_size=1).map("".join)
    ),
    chunk_chars=st.integers(1, 40),
)
def test_split_safe_chunks_on_generated_files(tmp_path_factory, text, chunk_chars):
    path = tmp_path_factory.getbasetemp() / "chunks.txt"
    path.write_bytes(text.encode("utf-8"))  # bytes as they are: no newline translation
    chunks = list(read_split_safe_chunks(path, chunk_chars=chunk_chars))
    assert "".join(chunks) == text
    for pat_str in PATTERNS.values():
        assert list(count_pieces(chunks, pat_str).items()) == list(count_pieces(text, pat_str).items())


def test_a_file_keeps_its_crlf_line_ends(tmp_path):
    # the file's characters, not a newline-translated copy: "\r\n" is what the text holds
    text = "one line\r\ntwo line\r\nred line\r\nblue line\r\n" * 20
    path = tmp_path / "crlf.txt"
    path.write_bytes(text.encode("utf-8"))
    assert "".join(read_split_safe_chunks(path, chunk_chars=16)) == text
    assert npllm.train_bpe(path, 265).mergeable_ranks == npllm.train_bpe(text, 265).mergeable_ranks


def test_a_path_trains_like_its_text(tmp_path, prose_text, large_file, large_text, monkeypatch):
    path = tmp_path / "prose.txt"
    path.write_bytes(prose_text.encode("utf-8"))
    assert npllm.train_bpe(path, 600).mergeable_ranks == npllm.train_bpe(prose_text, 600).mergeable_ranks
    # the same through many small chunks
    monkeypatch.setattr(counts_module, "COUNT_CHUNK_CHARS", 1000)
    from_file = npllm.train_bpe(large_file, 500, pat_str=CL100K_PATTERN)
    assert from_file.mergeable_ranks == npllm.train_bpe(large_text, 500, pat_str=CL100K_PATTERN).mergeable_ranks


# --- special tokens ------------------------------------------------------------------------------


def test_special_tokens_are_never_merged_and_cut_the_text(prose_text):
    docs = prose_text.split("\n\n")
    text = EOT.join(docs)
    assert text.count(EOT) > 50
    enc = npllm.train_bpe(text, 700, special_tokens=[EOT])
    for token in enc.mergeable_ranks:
        assert b"<|" not in token and b"endoftext" not in token and b"|>" not in token
    assert enc.mergeable_ranks == npllm.train_bpe(docs, 700).mergeable_ranks
    assert enc.special_tokens == {EOT: 700}
    # without the special token its pieces are merged like any text: the check above can fail
    plain = npllm.train_bpe(text, 700)
    assert any(b"endoftext" in token for token in plain.mergeable_ranks)


def test_special_ids_follow_the_merges_unless_given(prose_text):
    enc = npllm.train_bpe(prose_text, 270, special_tokens=[EOT, "<|pad|>"])
    assert enc.special_tokens == {EOT: 270, "<|pad|>": 271}
    assert enc.n_vocab == 272 and enc.eot_token == 270
    # fewer merges than asked: the IDs follow the merges made, not vocab_size
    enc, caught = train_quietly(f"ab{EOT}ab", 300, special_tokens=[EOT])
    assert len(caught) == 1 and merges_of(enc) == [b"ab"]
    assert enc.special_tokens == {EOT: 257}
    assert enc.encode(f"ab{EOT}ab", allowed_special="all") == [256, 257, 256]
    given_ids = npllm.train_bpe(prose_text, 270, special_tokens={EOT: 50_000})
    assert given_ids.special_tokens == {EOT: 50_000}
    assert given_ids.encode(f"hello{EOT}", allowed_special="all")[-1] == 50_000


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_size", [255, 100, 0, -1])
def test_vocab_size_below_256(vocab_size):
    with pytest.raises(ValueError, match=rf"256.*{vocab_size}\b"):
        npllm.train_bpe("hello", vocab_size)


@pytest.mark.parametrize("vocab_size", [300.0, True, "300", None])
def test_vocab_size_not_an_int(vocab_size):
    with pytest.raises(TypeError, match="vocab_size"):
        npllm.train_bpe("hello", vocab_size)


@pytest.mark.parametrize(
    "text,error,match",
    [
        ("", ValueError, "empty"),
        ([], ValueError, "empty"),
        ([""], ValueError, "empty"),
        (b"hello", TypeError, "bytes"),
        (bytearray(b"hello"), TypeError, "bytes"),
        (["hello", "world", 3], TypeError, r"item 2\b.*int"),
        ([b"hello"], TypeError, r"item 0\b.*bytes"),
        (42, TypeError, "int"),
    ],
    ids=["empty-str", "empty-list", "list-of-empty", "bytes", "bytearray", "int-item", "bytes-item", "int"],
)
def test_bad_text(text, error, match):
    with pytest.raises(error, match=match):
        npllm.train_bpe(text, 300)


def test_an_empty_file_is_reported_as_empty(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):  # a text was given: it holds nothing
        npllm.train_bpe(empty, 300)


def test_a_text_of_special_tokens_only_says_so(tmp_path):
    # before: "the training text is empty", though it was not
    with pytest.raises(ValueError, match="only special tokens"):
        npllm.train_bpe(EOT * 3, 300, special_tokens=[EOT])
    path = tmp_path / "eot.txt"
    path.write_text(EOT + EOT, encoding="utf-8")
    with pytest.raises(ValueError, match=r"only special tokens \(2 of them\)"):
        npllm.train_bpe(path, 300, special_tokens=[EOT])


@pytest.mark.parametrize("pat_str", ["", r"\b", "a*", "(?=x)", r"\s*"])
def test_a_pattern_that_can_match_nothing_is_refused(pat_str):
    # before: "" was a raw IndexError, and \b trained on nothing (every piece empty)
    with pytest.raises(ValueError, match="empty string"):
        npllm.train_bpe("hello world", 260, pat_str=pat_str)


@pytest.mark.parametrize("vocab_size", [np.int64(300), np.int32(300), np.uint16(300)])
def test_a_numpy_vocab_size_is_an_int(prose_text, vocab_size):
    enc = npllm.train_bpe(prose_text, vocab_size)
    assert enc.n_vocab == 300 and type(enc.n_vocab) is int
    assert enc.mergeable_ranks == npllm.train_bpe(prose_text, 300).mergeable_ranks


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_harmony"])
def test_a_builtin_name_is_refused(name):
    # a token file made with it would say "gpt2" and be decoded with the real GPT-2
    with pytest.raises(ValueError, match=f"{name!r} is a built-in"):
        npllm.train_bpe("hello world", 260, name=name)


def test_a_path_keeps_its_crlf_and_bom_as_its_text_does(tmp_path):
    # every byte is text, as tiktoken sees it: a BOM is U+FEFF, "\r\n" stays
    text = "\ufeffone line\r\ntwo lines\r\n" * 30
    path = tmp_path / "bom.txt"
    path.write_bytes(text.encode("utf-8"))
    assert npllm.train_bpe(path, 265).mergeable_ranks == npllm.train_bpe(text, 265).mergeable_ranks
    assert list(count_pieces(path, GPT2_PATTERN))[:2] == [b"\xef\xbb\xbf", b"one"]  # U+FEFF, a piece of its own


def test_special_tokens_must_be_a_collection_of_distinct_names():
    with pytest.raises(TypeError, match=re.escape(f"[{EOT!r}]")):
        npllm.train_bpe("hello", 300, special_tokens=EOT)
    with pytest.raises(ValueError, match="duplicate"):
        npllm.train_bpe("hello", 300, special_tokens=[EOT, "<|pad|>", EOT])
    with pytest.raises(TypeError):
        npllm.train_bpe("hello", 300, special_tokens=[""])


def test_bad_arguments_are_refused_before_the_text_is_read():
    consumed = []

    def gen():
        consumed.append(1)
        yield "hello"

    with pytest.raises(ValueError):
        npllm.train_bpe(gen(), 10)
    with pytest.raises(TypeError):
        npllm.train_bpe(gen(), 300, special_tokens=EOT)
    assert consumed == []


# --- progress -------------------------------------------------------------------------------------


def test_progress_is_one_line_on_stderr(capsys, prose_text):
    npllm.train_bpe(prose_text, 300, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1  # not a terminal: the last state only, no \r
    assert "\r" not in err
    assert "44/44" in err and "merges/s" in err


def test_progress_off_a_terminal_has_no_carriage_returns():
    # issue 13: "\r" lines piled up in log files; off a terminal a plain line at most every 10 s
    log = io.StringIO()
    meter = ProgressLine(every_s=0.0, log_every_s=0.0, stream=log)
    meter.write("merges 1/3")
    meter.close("merges 3/3")
    assert log.getvalue() == "merges 1/3\nmerges 3/3\n"
    assert not ProgressLine(stream=io.StringIO()).due()  # not again within 10 s


def test_progress_on_a_terminal_is_one_line_rewritten():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    meter = ProgressLine(stream=tty)
    meter.write("merges 1/3")
    meter.close("merges 3/3")
    assert tty.getvalue() == "\rmerges 1/3 \rmerges 3/3 \n"
    failed = Terminal()
    meter = ProgressLine(stream=failed)
    meter.write("merges 1/3")
    meter.abandon()  # the error that follows is the only line left
    assert failed.getvalue() == "\rmerges 1/3 \r\x1b[K"


def test_no_progress_means_silence(capsys, prose_text):
    npllm.train_bpe(prose_text, 300)
    npllm.train_bpe(prose_text, 300, progress=False)
    assert capsys.readouterr() == ("", "")


# --- saving and loading ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(prose_text):
    """prose_text with some Unicode, 600 tokens and <|endoftext|>."""
    text = prose_text + ("Grüße aus 東京 🙂 " * 40)
    return npllm.train_bpe(text, 600, special_tokens=[EOT], name="prose-600")


def test_save_and_load_round_trip(tmp_path, trained, prose_text):
    path = tmp_path / "prose.npllm-bpe"
    trained.save(path)
    loaded = npllm.load_encoding(path)
    assert loaded.name == "prose-600" and loaded.pat_str == trained.pat_str
    assert loaded.mergeable_ranks == trained.mergeable_ranks
    assert loaded.special_tokens == trained.special_tokens == {EOT: 600}
    sample = prose_text[:3000] + EOT + "Grüße aus 東京 🙂"
    assert loaded.encode(sample, allowed_special="all") == trained.encode(sample, allowed_special="all")
    assert loaded.decode(loaded.encode(sample, allowed_special="all")) == sample


def test_save_writes_a_readable_vocab_dump(tmp_path, trained):
    path = tmp_path / "prose.npllm-bpe"
    trained.save(path)
    dump = path.with_suffix(".vocab")
    assert dump.is_file()
    lines = dump.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 601  # 600 tokens, then the special token
    for b in range(256):
        assert lines[b] == f"[{render_token(bytes([b]))}] {b}"
    ranks = trained.mergeable_ranks
    by_rank = {rank: token for token, rank in ranks.items()}
    for rank in range(256, 600):
        token = by_rank[rank]
        candidates = {  # every way to cut the token in two tokens that exist before it
            f"[{render_token(token[:i])}][{render_token(token[i:])}] -> [{render_token(token)}] {rank}"
            for i in range(1, len(token))
            if ranks.get(token[:i], rank) < rank and ranks.get(token[i:], rank) < rank
        }
        assert lines[rank] in candidates, (rank, token)
    assert lines[600] == f"[{EOT}] 600 (special)"
