"""The slow, obvious BPE trainer: the rule as the course writes it, for reading and for tests.

Each merge recounts every adjacent pair in every piece, picks the most frequent (the one seen
first on a tie), and rewrites every piece. `npllm.bpe.train` computes the same merges
incrementally; `tests/test_bpe_train.py` checks they agree, merge for merge.
"""

from __future__ import annotations

from collections import Counter


def learn_merges_reference(piece_counts: dict[bytes, int], n_merges: int) -> list[tuple[int, int]]:
    """The first `n_merges` merges (fewer if no pair is left), as (left ID, right ID) pairs.

    `piece_counts` maps each distinct piece to how often it occurs, in order of first
    appearance in the text. Merge k creates token 256 + k.

    {b"aaab": 1} -> (97, 97) first: it occurs twice, overlapping, and "aaa" becomes [aa, a].
    """
    words = [list(piece) for piece in piece_counts]  # each piece as token IDs, bytes to start
    counts = list(piece_counts.values())
    merges = []
    while len(merges) < n_merges:
        stats = Counter()  # (int, int) -> occurrences; insertion order = first seen in the text
        for word, count in zip(words, counts):
            for pair in zip(word, word[1:]):
                stats[pair] += count
        if not stats:
            break  # every piece is a single token: nothing left to merge
        pair = max(stats, key=stats.__getitem__)  # max keeps the first of equal counts
        new_id = 256 + len(merges)
        merges.append(pair)
        words = [merge_pair(word, pair, new_id) for word in words]
    return merges


def merge_pair(word: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace `pair` left to right, without overlap. [1, 1, 1], (1, 1) -> [new, 1]"""
    out = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out
