"""Piece counts as a map-reduce: shards counted apart and added in order give the counts, and
so the merges, of one pass over the whole text; save/load is plain text; `train_bpe` takes
counts; and the README's Dask recipe runs (on real Dask when it is installed, else on a
stand-in with Dask's `from_sequence(...).map(...).fold(...)` semantics: nothing is skipped)."""

import base64
import functools
import operator
import pathlib

import numpy as np
import pytest

import npllm
from npllm import CL100K_PATTERN, GPT2_PATTERN
from npllm.bpe.chunks import read_split_safe_chunks, safe_cuts
from npllm.bpe.counts import PieceCounts, count_pieces
from npllm.bpe.train import learn_merges

EOT = "<|endoftext|>"
N_MERGES = 300


@pytest.fixture(scope="module")
def text(stdlib_text) -> str:
    """200,000 characters of real text, a few non-ASCII and special tokens among them."""
    body = stdlib_text[:200_000]
    return body[:50_000] + " naïve café 中文\r\n" + EOT + body[50_000:120_000] + EOT + body[120_000:]


def cut(text: str, positions) -> list[str]:
    bounds = [0, *positions, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


# --- known answers -----------------------------------------------------------------------------


def test_counts_in_order_of_first_appearance():
    counts = count_pieces("the cat the")
    assert isinstance(counts, PieceCounts)
    assert list(counts.items()) == [(b"the", 1), (b" cat", 1), (b" the", 1)]
    assert counts == {b" the": 1, b"the": 1, b" cat": 1}  # against a dict: a mapping, any order
    assert (len(counts), counts.total, counts.pat_str) == (3, 3, GPT2_PATTERN)
    assert repr(counts) == "PieceCounts(3 pieces, 3 occurrences, pattern gpt2)"


def test_adding_puts_the_second_texts_new_pieces_after_the_first():
    # " dog" first appears in b's text, so after all of a's pieces, whatever their counts
    a, b = count_pieces("the cat"), count_pieces(" the dog the cat")
    assert list((a + b).items()) == [(b"the", 1), (b" cat", 2), (b" the", 2), (b" dog", 1)]
    assert list((a + b).items()) == list(count_pieces("the cat the dog the cat").items())
    assert list((b + a).items()) != list((a + b).items())  # order matters: it breaks ties
    assert list(a.items()) == [(b"the", 1), (b" cat", 1)]  # + changes neither side


def test_the_tie_rule_sees_the_second_shard_after_the_first():
    # "ab" and "cd" occur twice each: the pair seen first in the text wins the tie
    assert learn_merges(count_pieces("ab cd") + count_pieces(" cd ab"), 1) == [(97, 98)]
    assert learn_merges(count_pieces("cd ab") + count_pieces(" ab cd"), 1) == [(99, 100)]


def test_sum_and_in_place_add():
    shards = [count_pieces(t) for t in ("a b", " c", " a")]
    total = sum(shards)
    assert list(total.items()) == [(b"a", 1), (b" b", 1), (b" c", 1), (b" a", 1)]
    acc = PieceCounts()
    for shard in shards:
        acc += shard
    assert acc == total


# --- shards equal one pass --------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k"])
@pytest.mark.parametrize("n_shards", [2, 3, 7])
def test_shards_cut_at_safe_cuts_give_the_whole_texts_counts_and_merges(text, pattern, n_shards):
    pat_str = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN}[pattern]
    specials = [EOT]
    whole = count_pieces(text, pat_str, specials)
    cuts = safe_cuts(text)
    cuts = cuts[~np.isin(cuts, _inside_special(text))]  # a cut never splits a special token
    chosen = cuts[np.linspace(0, len(cuts) - 1, n_shards + 1).astype(int)[1:-1]]
    shards = [count_pieces(s, pat_str, specials) for s in cut(text, chosen)]
    combined = functools.reduce(operator.add, shards)
    assert list(combined.items()) == list(whole.items())  # the order too
    assert combined == whole and combined.specials_cut == 2
    assert learn_merges(combined.counts, N_MERGES) == learn_merges(whole.counts, N_MERGES)
    # tree order (as a cluster engine adds) is the same: + is associative
    left, right = (
        functools.reduce(operator.add, shards[: n_shards // 2]),
        functools.reduce(operator.add, shards[n_shards // 2 :]),
    )
    assert list((left + right).items()) == list(whole.items())


def test_file_chunks_as_shards_give_the_whole_files_merges(tmp_path, text):
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    chunks = list(read_split_safe_chunks(path, 30_000, [EOT], pat_str=GPT2_PATTERN))
    assert len(chunks) > 5
    combined = sum(count_pieces(c, GPT2_PATTERN, [EOT]) for c in chunks)
    one_pass = npllm.train_bpe(text, 256 + N_MERGES, special_tokens=[EOT])
    assert npllm.train_bpe(combined, 256 + N_MERGES).mergeable_ranks == one_pass.mergeable_ranks


@pytest.mark.parametrize("seed", [0, 1])
def test_shards_cut_anywhere_train_as_the_list_of_shards(text, seed):
    # an arbitrary cut splits each side on its own: the same as training on the list
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(np.arange(1, len(text)), size=4, replace=False))
    parts = [p for p in cut(text, positions) if EOT not in p]
    combined = sum(count_pieces(p) for p in parts)
    assert list(combined.items()) == list(count_pieces(parts).items())
    assert (
        npllm.train_bpe(combined, 256 + N_MERGES).mergeable_ranks
        == npllm.train_bpe(parts, 256 + N_MERGES).mergeable_ranks
    )


def test_counting_a_file_in_processes_gives_the_same_counts(tmp_path, text, monkeypatch):
    import npllm.bpe.counts as counts_module

    monkeypatch.setattr(counts_module, "COUNT_CHUNK_CHARS", 5_000)
    monkeypatch.setattr(counts_module, "PARALLEL_CHUNK_CHARS", 20_000)  # ~10 tasks of ~4 chunks
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    one = count_pieces(path, GPT2_PATTERN, [EOT])
    two = count_pieces(path, GPT2_PATTERN, [EOT], workers=2)
    assert list(two.items()) == list(one.items()) and two == one
    trained = npllm.train_bpe(path, 256 + 50, special_tokens=[EOT], workers=2)
    assert trained.mergeable_ranks == npllm.train_bpe(text, 256 + 50, special_tokens=[EOT]).mergeable_ranks


def _inside_special(text: str) -> list[int]:
    """Positions strictly inside an occurrence of EOT."""
    out, start = [], text.find(EOT)
    while start >= 0:
        out += range(start + 1, start + len(EOT))
        start = text.find(EOT, start + 1)
    return out


# --- train_bpe takes counts ------------------------------------------------------------------


def test_train_bpe_takes_counts_with_their_pattern_and_special_tokens(prose_text):
    counts = count_pieces(prose_text + EOT, CL100K_PATTERN, [EOT])
    enc = npllm.train_bpe(counts, 300)
    assert enc.pat_str == CL100K_PATTERN and enc.special_tokens == {EOT: 300}
    assert (
        enc.mergeable_ranks
        == npllm.train_bpe(prose_text + EOT, 300, pat_str=CL100K_PATTERN, special_tokens=[EOT]).mergeable_ranks
    )
    assert npllm.train_bpe(counts, 300, special_tokens={EOT: 1000}).special_tokens == {EOT: 1000}


def test_train_bpe_refuses_counts_made_otherwise(prose_text):
    counts = count_pieces(prose_text, GPT2_PATTERN, [EOT])
    with pytest.raises(ValueError, match="pat_str differs"):
        npllm.train_bpe(counts, 300, pat_str=CL100K_PATTERN)
    with pytest.raises(ValueError, match="special_tokens"):
        npllm.train_bpe(counts, 300, special_tokens=["<|other|>"])
    with pytest.raises(ValueError, match="empty"):
        npllm.train_bpe(PieceCounts(), 300)
    with pytest.raises(ValueError, match=r"only special tokens \(3 of them\)"):
        npllm.train_bpe(count_pieces(EOT * 3, GPT2_PATTERN, [EOT]), 300)


def test_counts_made_otherwise_cannot_be_added():
    with pytest.raises(ValueError, match="different split patterns"):
        count_pieces("a b") + count_pieces("a b", CL100K_PATTERN)
    with pytest.raises(ValueError, match="different special tokens"):
        count_pieces("a b") + count_pieces("a b", GPT2_PATTERN, [EOT])
    with pytest.raises(TypeError):
        count_pieces("a b") + {b"a": 1}
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        count_pieces("a b", workers=0)


def test_an_empty_shard_adds_nothing():
    assert list((count_pieces("a b") + count_pieces("")).items()) == [(b"a", 1), (b" b", 1)]


# --- save and load -------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path, text):
    counts = count_pieces(text, CL100K_PATTERN, [EOT])
    path = counts.save(tmp_path / "counts.txt")
    loaded = PieceCounts.load(path)
    assert loaded == counts and list(loaded.items()) == list(counts.items())
    assert (loaded.pat_str, loaded.special_tokens, loaded.specials_cut) == (CL100K_PATTERN, (EOT,), 2)
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == b"npllm-piece-counts v1"
    first_piece, first_count = lines[2].split()
    assert (base64.b64decode(first_piece), int(first_count)) == next(iter(counts.items()))


@pytest.mark.parametrize(
    "content, match",
    [
        (b"something else\n", "line 1: expected 'npllm-piece-counts v1'"),
        (b"npllm-piece-counts v1\nnot json\n", "line 2: not a JSON header"),
        (b'npllm-piece-counts v1\n{"pat_str": 1}\n', "line 2: 'pat_str' must be a str"),
        (b"HEADER\nYQ== 2\nYg== x\n", "line 4: the count must be an int >= 1"),
        (b"HEADER\nYQ== 2\nYg==\n", "line 4: expected 'base64\\(piece\\) count'"),
        (b"HEADER\nYQ== 2\n!!!! 1\n", "line 4: '!!!!' is not base64"),
        (b"HEADER\nYQ== 2\nYQ== 1\n", "line 4: the piece b'a' is listed twice"),
        (b"HEADER\nYQ== 2\n", "the header says 2 pieces, the file has 1"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path, content, match):
    header = b'npllm-piece-counts v1\n{"pat_str": "\\\\S+", "special_tokens": [], "specials_cut": 0, "pieces": 2}'
    path = tmp_path / "bad.txt"
    path.write_bytes(content.replace(b"HEADER", header))
    with pytest.raises(ValueError, match=match):
        PieceCounts.load(path)


# --- the README's recipe on a cluster engine ------------------------------------------------


class StandInBag:
    """What the recipe uses of `dask.bag`, in one process: from_sequence, map, fold (a tree
    of `split_every` partitions at a time, in order, as Dask reduces), compute."""

    def __init__(self, items):
        self.items = list(items)

    @classmethod
    def from_sequence(cls, seq, npartitions=None):
        return cls(seq)

    def map(self, fn):
        return StandInBag(map(fn, self.items))

    def fold(self, binop, split_every=2):
        level = self.items
        while len(level) > 1:
            level = [functools.reduce(binop, level[i : i + split_every]) for i in range(0, len(level), split_every)]
        return StandInBag(level)

    def compute(self, **kwargs):
        return self.items[0]


def count_file(path: str) -> PieceCounts:
    return count_pieces(pathlib.Path(path), GPT2_PATTERN, [EOT])


def test_the_dask_recipe_gives_the_whole_texts_counts(tmp_path, text):
    try:
        import dask.bag as bag  # an optional extra: pip install npllm[dask]

        scheduler = {"scheduler": "processes", "num_workers": 2}
    except ImportError:
        bag, scheduler = StandInBag, {}
    whole = tmp_path / "corpus.txt"
    whole.write_bytes(text.encode("utf-8"))
    shards = []  # one file per chunk, cut where the split cannot change
    for k, chunk in enumerate(read_split_safe_chunks(whole, 25_000, [EOT], pat_str=GPT2_PATTERN)):
        shards.append(str(tmp_path / f"part-{k:03d}.txt"))
        pathlib.Path(shards[-1]).write_bytes(chunk.encode("utf-8"))
    assert len(shards) >= 5
    counts = bag.from_sequence(shards, npartitions=len(shards)).map(count_file).fold(operator.add).compute(**scheduler)
    assert list(counts.items()) == list(count_pieces(whole, GPT2_PATTERN, [EOT]).items())
    assert (
        npllm.train_bpe(counts, 256 + 100).mergeable_ranks
        == npllm.train_bpe(text, 256 + 100, special_tokens=[EOT]).mergeable_ranks
    )


def test_a_piece_count_object_checks_what_it_is_given():
    assert list(PieceCounts({b"the": 2, b" cat": 1}).items()) == [(b"the", 2), (b" cat", 1)]
    with pytest.raises(TypeError, match="non-empty bytes"):
        PieceCounts({"the": 2})
    with pytest.raises(ValueError, match="must be an int >= 1"):
        PieceCounts({b"the": 0})
    with pytest.raises(TypeError, match="pat_str must be a str"):
        PieceCounts(pat_str=None)
