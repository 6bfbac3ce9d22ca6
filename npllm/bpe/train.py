"""Train a byte-level BPE vocabulary: the textbook rule, merge for merge, computed incrementally.

The rule (`tiktoken._educational.bpe_train`, minbpe, the course): start from the 256 bytes;
split the text into pieces with the pattern; repeatedly merge the most frequent adjacent pair
inside the pieces, replacing it left to right without overlap; on a tie the pair that occurs
first in the text wins. `train_reference.py` is that rule written plainly (a full recount per
merge). This module gets the same merges without recounting:

- the text is reduced to its distinct pieces with their counts, in order of first
  appearance (memory grows with distinct pieces, not with the corpus): `counts.py`, where
  that reduction is a map-reduce (`count_pieces`, `PieceCounts` shards added with `+`);
- `counts[pair]` and `pieces_with[pair]` are updated only for the pieces a merge touches;
- a heap picks the next pair, with lazy invalidation. The tie rule needs the position of a
  pair's first occurrence: (first piece containing it, byte offset in that piece). Between
  the moment a pair appears and the moment it is merged, its occurrences only disappear, so
  its count only falls and its first position only moves right. A heap entry is therefore
  never worse than the truth: pop the top, recompute its key, and either it still holds
  (it is the answer) or it goes back with its true key.
"""

from __future__ import annotations

import heapq
import os
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from npllm._checks import check_int, check_setting, check_str
from npllm.bpe.counts import PieceCounts, count_pieces
from npllm.bpe.encoding import Encoding, check_split_pattern
from npllm.bpe.patterns import GPT2_PATTERN
from npllm.bpe.registry import list_encoding_names
from npllm.progress import ProgressLine


def train_bpe(
    text: str | Iterable[str] | os.PathLike | PieceCounts,
    vocab_size: int,
    *,
    pat_str: str | None = None,
    special_tokens: Iterable[str] | Mapping[str, int] | None = None,
    progress: bool = False,
    name: str = "npllm-bpe",
    workers: int = 1,
) -> Encoding:
    """Learn `vocab_size - 256` merges from `text` and return them as an `Encoding`.

    `text`: a str; an iterable of str (each item split on its own, read one at a time); a
    path (`pathlib.Path`), read in chunks cut where the split cannot change (every byte is
    text: "\\r\\n" stays, a byte order mark is U+FEFF); or `PieceCounts` already counted
    (`count_pieces`, shards added with `+`, or `PieceCounts.load`), which carry their own
    pattern and special tokens. `pat_str`: the split pattern, GPT2_PATTERN by default.
    `special_tokens`: names (IDs after the merged tokens) or a dict of name -> ID; never
    merged, and the text is cut around them before counting. `workers` > 1 counts a path's
    pieces in that many processes (the merges are the same). If the text runs out of pairs
    before `vocab_size`, this warns once and returns the smaller vocabulary. `vocab_size` may
    be a NumPy integer. `name` may not be a built-in encoding's ("gpt2", ...): a token file
    made with it would say "gpt2" and be decoded with the real GPT-2. A `pat_str` that can
    match the empty string is refused.
    """
    vocab_size = _check_vocab_size(vocab_size)
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if name in list_encoding_names():
        raise ValueError(f"name {name!r} is a built-in encoding's; give the trained vocabulary its own name")
    check_setting("workers", workers, 1)
    if isinstance(text, PieceCounts):
        pat_str, specials = _check_against_counts(text, pat_str, special_tokens)
    else:
        pat_str = GPT2_PATTERN if pat_str is None else pat_str
        specials = _special_token_list(special_tokens)
    check_str("pat_str", pat_str)
    check_split_pattern(pat_str)
    piece_counts = text if isinstance(text, PieceCounts) else count_pieces(text, pat_str, specials, workers=workers)
    if not piece_counts:
        if piece_counts.specials_cut:
            raise ValueError(
                f"the training text holds only special tokens ({piece_counts.specials_cut:,} of them) "
                f"and no other text: there is nothing to learn merges from"
            )
        raise ValueError("the training text is empty: there is nothing to learn merges from")
    piece_counts = piece_counts.counts  # bytes -> int, first appearance order: the plain dict is faster
    merges = learn_merges(piece_counts, vocab_size - 256, progress=progress)
    if len(merges) < vocab_size - 256:
        warnings.warn(
            f"the text allows only {len(merges):,} merges ({256 + len(merges):,} tokens), fewer "
            f"than vocab_size={vocab_size:,} asks for; returning what it allows",
            stacklevel=2,
        )
    ranks = ranks_from_merges(merges)
    return Encoding(
        name,
        pat_str=pat_str,
        mergeable_ranks=ranks,
        special_tokens=_special_token_ids(special_tokens, specials, first_id=len(ranks)),
    )


# --- the merges ----------------------------------------------------------------------------------


def learn_merges(piece_counts: dict[bytes, int], n_merges: int, *, progress: bool = False) -> list[tuple[int, int]]:
    """The same merges as `learn_merges_reference`, incrementally. Merge k creates 256 + k."""
    words = [list(piece) for piece in piece_counts]  # piece index -> token IDs, bytes at first
    freqs = list(piece_counts.values())  # piece index -> occurrences in the text
    token_len = [1] * 256  # token ID -> length in bytes
    counts, holders, firsts = count_byte_pairs(piece_counts)
    # counts:  pair -> occurrences, weighted by piece count
    # holders: pair -> min-heap of the pieces that may hold it (a piece is never removed when
    #          it loses a pair; it is skipped when found out, which is cheaper than tracking)
    heap = [(-counts[pair], piece, offset, pair) for pair, (piece, offset) in firsts.items()]
    heapq.heapify(heap)  # the best candidate on top: highest count, then first in the text

    merges = []
    meter = ProgressLine() if progress else None
    while len(merges) < n_merges:
        pair = _pop_best(heap, counts, holders, words, token_len)
        if pair is None:
            break  # no pair left anywhere
        new_id = 256 + len(merges)
        merges.append(pair)
        token_len.append(token_len[pair[0]] + token_len[pair[1]])
        for new_pair in _apply_merge(pair, new_id, words, freqs, counts, holders):
            first = holders[new_pair][0]
            heapq.heappush(heap, (-counts[new_pair], first, _offset(words[first], new_pair, token_len), new_pair))
        if meter and meter.due():
            meter.write(_merge_status(len(merges), n_merges, meter.elapsed))
    if meter:
        meter.close(_merge_status(len(merges), n_merges, meter.elapsed))
    return merges


def count_byte_pairs(piece_counts: dict[bytes, int]):
    """The starting state, vectorized: every adjacent byte pair in every distinct piece.

    Returns counts (pair -> weighted occurrences), holders (pair -> sorted piece indices, a
    valid min-heap) and firsts (pair -> (first piece, byte offset) of its first occurrence).
    """
    pieces = list(piece_counts)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))  # (P,)
    starts = np.cumsum(lengths) - lengths  # (P,) where each piece begins in `flat`
    flat = np.frombuffer(b"".join(pieces), dtype=np.uint8).astype(np.int64)  # (N,) all bytes
    piece_of = np.repeat(np.arange(len(pieces)), lengths)  # (N,) piece index of each byte
    is_last = np.zeros(len(flat), dtype=bool)  # (N,) the last byte of a piece starts no pair
    is_last[starts + lengths - 1] = True
    pos = np.flatnonzero(~is_last)  # (M,) where each pair starts, in text order
    code = flat[pos] * 256 + flat[pos + 1]  # (M,) pair as one int, left * 256 + right
    weight = np.asarray(list(piece_counts.values()), dtype=np.int64)[piece_of[pos]]  # (M,)
    total = np.bincount(code, weights=weight, minlength=65536).astype(np.int64)  # (65536,)

    # first occurrence: positions are in text order (piece, then offset), so the first
    # index of each code in `pos` order is its first occurrence
    codes, first_index = np.unique(code, return_index=True)
    first_pos = pos[first_index]
    first_piece = piece_of[first_pos]
    first_offset = first_pos - starts[first_piece]
    # holders: distinct (code, piece) combinations, grouped by code, pieces ascending
    combo = np.unique(code * len(pieces) + piece_of[pos])
    combo_code, combo_piece = np.divmod(combo, len(pieces))
    bounds = np.flatnonzero(np.diff(combo_code)) + 1
    holder_lists = np.split(combo_piece, bounds)

    counts, holders, firsts = {}, {}, {}
    for c, n, ps, p0, off in zip(
        codes.tolist(), total[codes].tolist(), holder_lists, first_piece.tolist(), first_offset.tolist()
    ):
        pair = (c >> 8, c & 255)
        counts[pair] = n
        holders[pair] = ps.tolist()
        firsts[pair] = (p0, off)
    return counts, holders, firsts


def _pop_best(heap, counts, holders, words, token_len):
    """Pop the pair with the highest count, first in the text on a tie; None when none is left."""
    while heap:
        neg_count, piece, offset, pair = heap[0]
        count = counts.get(pair, 0)
        if count <= 0:
            heapq.heappop(heap)  # merged, or all its occurrences gone
            continue
        pieces = holders[pair]
        offset_now = _offset(words[pieces[0]], pair, token_len)
        while offset_now is None:
            heapq.heappop(pieces)  # that piece lost the pair: the next holder is first now
            offset_now = _offset(words[pieces[0]], pair, token_len)
        true_key = (-count, pieces[0], offset_now)
        if true_key == (neg_count, piece, offset):
            heapq.heappop(heap)
            return pair
        heapq.heapreplace(heap, (*true_key, pair))  # stale: back in with its true key
    return None


def _apply_merge(pair, new_id, words, freqs, counts, holders) -> list[tuple[int, int]]:
    """Merge `pair` into `new_id` in every piece holding it, left to right without overlap,
    updating the counts of the pairs around each merge. Returns the pairs it created.

    In "x a b a b y" -> "x C C y" the pairs (x, a), (a, b), (b, a), (b, y) lose one
    occurrence each and (x, C), (C, C), (C, y) gain one; every other pair is untouched.
    """
    a, b = pair
    get = counts.get
    born: dict[tuple[int, int], list[int]] = {}  # new pair -> pieces holding it, ascending
    for p in sorted(holders.pop(pair)):
        word = words[p]
        n, f = len(word), freqs[p]
        out = []
        i = 0
        after_merge = -1  # index in `word` just after the last merge
        while i < n:
            x = word[i]
            if x == a and i + 1 < n and word[i + 1] == b:
                if i > 0 and i != after_merge:  # (left, a); after a merge it went as (b, a)
                    counts[(word[i - 1], a)] -= f
                if i + 2 < n:
                    counts[(b, word[i + 2])] -= f
                if out:
                    _born(born, (out[-1], new_id), p, counts, get, f)
                out.append(new_id)
                i += 2
                after_merge = i
            else:
                if i == after_merge:
                    _born(born, (new_id, x), p, counts, get, f)
                out.append(x)
                i += 1
        if after_merge > 0:
            words[p] = out
    del counts[pair]
    holders.update(born)
    return list(born)


def _born(born, new_pair, piece, counts, get, f) -> None:
    counts[new_pair] = get(new_pair, 0) + f
    pieces = born.setdefault(new_pair, [])
    if not pieces or pieces[-1] != piece:
        pieces.append(piece)


def _offset(word: list[int], pair: tuple[int, int], token_len: list[int]) -> int | None:
    """Byte offset of the leftmost occurrence of `pair` in `word`, None if it has none."""
    a, b = pair
    offset = 0
    for left, right in zip(word, word[1:]):
        if left == a and right == b:
            return offset
        offset += token_len[left]
    return None


# --- from merges to an Encoding --------------------------------------------------------------


def ranks_from_merges(merges: list[tuple[int, int]]) -> dict[bytes, int]:
    """Bytes of every token -> its ID: the 256 bytes, then one token per merge."""
    vocab = [bytes([b]) for b in range(256)]  # ID -> bytes
    for left, right in merges:
        vocab.append(vocab[left] + vocab[right])
    ranks = {}
    for i, token in enumerate(vocab):
        if token in ranks:
            raise ValueError(
                f"merge {i - 256} rebuilds the token {token!r} that ID {ranks[token]} already is; "
                f"this vocabulary cannot be stored as byte ranks"
            )
        ranks[token] = i
    return ranks


def _check_against_counts(counts: PieceCounts, pat_str, special_tokens) -> tuple[str, list[str]]:
    """The pattern and special tokens to train with: those the counts were made with. A
    `pat_str` or `special_tokens` that differ from them is a ValueError (the text would
    have been split otherwise)."""
    if pat_str is not None and pat_str != counts.pat_str:
        raise ValueError(
            "pat_str differs from the pattern the piece counts were made with; leave pat_str out "
            "(the counts carry their own) or count the text again with this pattern"
        )
    if special_tokens is None:
        return counts.pat_str, list(counts.special_tokens)
    specials = _special_token_list(special_tokens)
    if set(specials) != set(counts.special_tokens):
        raise ValueError(
            f"special_tokens {specials} differ from those the piece counts were made with "
            f"({list(counts.special_tokens)}); leave special_tokens out or count the text again"
        )
    return counts.pat_str, specials


def _check_vocab_size(vocab_size: object) -> int:
    """vocab_size as an int: an int or a NumPy integer (np.int64(300) -> 300), at least 256."""
    return check_int("vocab_size", vocab_size, 256, " (one token per byte)")


def _special_token_list(special_tokens) -> list[str]:
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str):
        raise TypeError(
            f"special_tokens must be a list of str or a dict, not a str; did you mean [{special_tokens!r}]?"
        )
    names = list(special_tokens)
    for s in names:
        if not isinstance(s, str) or not s:
            raise TypeError(f"each special token must be a non-empty str, got {s!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"special_tokens has duplicates: {names}")
    return names


def _special_token_ids(special_tokens, names: list[str], first_id: int) -> dict[str, int]:
    if isinstance(special_tokens, Mapping):
        return dict(special_tokens)
    return {s: first_id + i for i, s in enumerate(names)}


def _merge_status(done: int, total: int, elapsed: float) -> str:
    """ "merges 1,200/3,840  6,000 merges/s  0.4 s left" """
    rate = done / elapsed
    left = (total - done) / rate if rate > 0 else float("inf")
    return f"merges {done:,}/{total:,}  {rate:,.0f} merges/s  {left:,.1f} s left"
