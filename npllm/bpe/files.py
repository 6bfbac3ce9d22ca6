"""BPE vocabulary files: reading tiktoken's and GPT-2's formats, and npllm's own.

- tiktoken's `.tiktoken`: one `base64(token bytes) rank` line per token.
- GPT-2's published pair: `encoder.json` (token string -> ID, in the "byte-to-unicode"
  alphabet that makes every byte a printable character) and `vocab.bpe` (the merges, in
  order). `load_gpt2_ranks` turns them into byte ranks and checks one against the other.
- npllm's `.npllm-bpe`: a first line `npllm-bpe v2`, one JSON line (name, pat_str,
  special_tokens, explicit_n_vocab, and n_ranks, rank_gaps, ranks_sha256 to check the rest
  against), then tiktoken's rank lines; plain text, never pickle. A v1 file (no count, no
  checksum) still loads, with a warning.

Every reader checks what it reads and reports a bad line with its line number. A rank or a
special token's ID must be below 2**32: token files hold uint32 IDs, as tiktoken does. This
module reads and writes plain data (dicts, bytes); it never builds an `Encoding`
(`registry.load_encoding` does, from `read_encoding_file`), so it imports none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import pathlib
import secrets
import stat
import warnings

from npllm.bpe.merge import merge_reference

MAGIC = "npllm-bpe v2"
MAGIC_V1 = "npllm-bpe v1"  # read, with a warning; never written
MAX_ID = (1 << 32) - 1  # the largest rank or token ID: token files and tiktoken hold uint32


def load_tiktoken_bpe(path) -> dict[bytes, int]:
    """A `.tiktoken` file -> {token bytes: rank}."""
    path = pathlib.Path(path)
    return parse_tiktoken_bpe(path.read_bytes(), str(path))


def parse_tiktoken_bpe(content: bytes, source: str, *, verified: bool = False) -> dict[bytes, int]:
    """The bytes of a `.tiktoken` file -> {token bytes: rank}. b"aGk= 7\\n" -> {b"hi": 7}

    The fast path splits the whole file at once and decodes every token in C; it accepts
    only what the line-by-line parser accepts (canonical base64, 0 <= rank < 2**32, no repeats).
    Anything else goes to that parser, which names the bad line.

    `verified=True` is for content whose sha256 matched a known published file (what
    `npllm.data.read_bytes` returns): those files are good (tests/test_startup.py parses each
    with every check), so the checks are skipped, a third of the time (cl100k: 30 ms, not 50).
    """
    fields = content.split()
    if verified:
        return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2])))
    if fields and len(fields) % 2 == 0:
        encoded = fields[0::2]
        try:
            tokens = list(map(binascii.a2b_base64, encoded))
            ranks = list(map(int, fields[1::2]))
        except (ValueError, binascii.Error):
            tokens = ranks = None
        if (
            tokens is not None
            and all(map(bytes.__eq__, map(_b64, tokens), encoded))  # canonical: decodes back exactly
            and min(ranks) >= 0
            and max(ranks) <= MAX_ID
            and len(set(ranks)) == len(ranks)
        ):
            table = dict(zip(tokens, ranks))
            if len(table) == len(tokens):
                return table
    return _parse_rank_lines(content.splitlines(), source, first_line_number=1)


def _b64(token: bytes) -> bytes:
    return binascii.b2a_base64(token, newline=False)


def save_encoding(
    path,
    *,
    name: str,
    pat_str: str,
    mergeable_ranks: dict[bytes, int],
    special_tokens: dict[str, int],
    explicit_n_vocab: int | None = None,
) -> pathlib.Path:
    """Write an encoding, given by its constructor's arguments (`Encoding.constructor_args()`),
    as a `.npllm-bpe` file (atomically: a temp file, then a rename), and a readable `.vocab`
    dump beside it. Returns the path of the dump.

    The header records how many rank lines follow (`n_ranks`), whether their ranks leave
    gaps on purpose (`rank_gaps`) and the sha256 of the rank lines as written here
    (`ranks_sha256`, which `tail -n +3 FILE | sha256sum` shows), so a truncated or edited
    file is refused when it is read back.
    """
    ranked = sorted(mergeable_ranks.items(), key=_by_rank)
    too_large = [rank for _, rank in ranked[-1:] if rank > MAX_ID] + [i for i in special_tokens.values() if i > MAX_ID]
    if too_large:
        raise ValueError(f"token ID {too_large[0]:,} does not fit in 32 bits: a saved encoding holds IDs below 2**32")
    body = rank_lines(ranked)
    header = {
        "name": name,
        "pat_str": pat_str,
        "special_tokens": special_tokens,
        "explicit_n_vocab": explicit_n_vocab,
        "n_ranks": len(ranked),
        "rank_gaps": bool(ranked) and ranked[-1][1] != len(ranked) - 1,
        "ranks_sha256": hashlib.sha256(body).hexdigest(),
    }
    path = pathlib.Path(path)
    head = (MAGIC + "\n" + json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8")
    atomic_write(path, lambda f: (f.write(head), f.write(body)))
    dump = vocab_dump_path(path)
    _write_atomically(dump, vocab_dump(mergeable_ranks, special_tokens))
    return dump


def vocab_dump_path(path) -> pathlib.Path:
    """Where `save_encoding` puts the readable dump: "m.npllm-bpe" -> "m.vocab" ("m.vocab" -> "m.vocab.txt")."""
    path = pathlib.Path(path)
    return path.with_suffix(".vocab") if path.suffix != ".vocab" else path.with_name(path.name + ".txt")


def rank_lines(ranked: list[tuple[bytes, int]]) -> bytes:
    """tiktoken's rank lines, as `save_encoding` writes them. [(b"hi", 7)] -> b"aGk= 7\\n" """
    return b"".join(_b64(token) + b" %d\n" % rank for token, rank in ranked)


def vocab_dump(ranks: dict[bytes, int], special_tokens: dict[str, int]) -> str:
    """One line per token, for people: `[t][he] -> [the] 256`; single bytes as `[a] 97`.

    Not read back by anything. Control characters and bytes that are not UTF-8 on their
    own are shown escaped, so every line is one line.
    """
    merges = recover_merges(ranks)
    lines = []
    for token, rank in sorted(ranks.items(), key=_by_rank):
        parents = merges.get(token)
        if parents:
            left, right = parents
            lines.append(f"[{render_token(left)}][{render_token(right)}] -> [{render_token(token)}] {rank}")
        else:
            lines.append(f"[{render_token(token)}] {rank}")
    lines += [f"[{name}] {i} (special)" for name, i in sorted(special_tokens.items(), key=lambda item: item[1])]
    return "\n".join(lines) + "\n"


def render_token(token: bytes) -> str:
    """b"a\\nb" -> "a\\u000ab"; invalid UTF-8 bytes as \\xNN. Printable text stays as it is."""
    text = token.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def recover_merges(ranks: dict[bytes, int]) -> dict[bytes, tuple[bytes, bytes]]:
    """Each multi-byte token -> the two tokens BPE joins last to build it.

    A rank file keeps only the tokens, not the merges; the merge loop restricted to the
    tokens ranked below a token (`merge_reference(..., max_rank=rank)`) ends in exactly its
    two parents. {a: 0, b: 1, ab: 2} -> {ab: (a, b)}. A token whose loop does not end in two
    parts (a hand-made vocabulary) is left out.
    """
    merges = {}  # bytes -> (bytes, bytes)
    for token, rank in ranks.items():
        if len(token) > 1:
            parts = merge_reference(ranks, token, max_rank=rank)
            if len(parts) == 2:
                merges[token] = (parts[0], parts[1])
    return merges


def read_encoding_file(path) -> dict:
    """Read a `.npllm-bpe` file into the arguments of `Encoding(**args)` (plain data:
    `registry.load_encoding` builds the encoding from it).

    A v2 file is checked against its header: as many rank lines as `n_ranks`, no gap in the
    ranks unless `rank_gaps` says so, and the rank lines' sha256. A v1 file has none of
    these: it loads with a warning (save it again to write v2).
    """
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", errors="replace").rstrip("\r\n")
        if first not in (MAGIC, MAGIC_V1):
            raise ValueError(f"{path}: line 1 is {first[:40]!r}, expected {MAGIC!r}: not an npllm BPE file")
        header = _parse_header(f.readline(), path, checked=first == MAGIC)
        body = f.read()
    ranks = _parse_rank_lines(body.splitlines(), path, first_line_number=3)
    if first == MAGIC:
        _check_against_header(ranks, body, header, path)
    else:
        warnings.warn(
            f"{path} is an npllm-bpe v1 file: it records no rank count or checksum, so a truncated "
            f"or edited file cannot be told from a good one; load it and save it again to write v2",
            UserWarning,
            stacklevel=3,  # the caller of load_encoding
        )
    return {
        "name": header["name"],
        "pat_str": header["pat_str"],
        "mergeable_ranks": ranks,
        "special_tokens": header["special_tokens"],
        "explicit_n_vocab": header.get("explicit_n_vocab"),
    }


def _check_against_header(ranks: dict[bytes, int], body: bytes, header: dict, path) -> None:
    """The rank lines of a v2 file against what its header says about them."""
    n = header["n_ranks"]
    if len(ranks) != n:
        how = "truncated" if len(ranks) < n else "added to"
        raise ValueError(
            f"{path}: the header says {n:,} rank lines, the file has {len(ranks):,}: it was {how} or edited; "
            f"save the encoding again from its source"
        )
    top = max(ranks.values())
    if top != n - 1 and not header["rank_gaps"]:
        present = set(ranks.values())
        missing = next(r for r in range(top + 1) if r not in present)
        raise ValueError(
            f"{path}: rank {missing:,} is missing (the ranks run from 0 to {top:,} with gaps), and the header "
            f'does not say gaps are intended ("rank_gaps": false): the file was edited'
        )
    expected = header["ranks_sha256"]
    if hashlib.sha256(body).hexdigest() != expected:  # as saved: the fast check
        canonical = rank_lines(sorted(ranks.items(), key=_by_rank))  # line ends or blank lines changed only
        if hashlib.sha256(canonical).hexdigest() != expected:
            raise ValueError(
                f"{path}: the rank lines do not match the checksum in the header (ranks_sha256): "
                f"the file was edited or damaged; save the encoding again from its source"
            )


# --- GPT-2's encoder.json + vocab.bpe -------------------------------------------------------


def gpt2_bytes_to_unicode() -> dict[int, str]:
    """GPT-2's alphabet: each byte as a printable character. 65 ("A") -> "A", 32 (" ") -> "Ġ".

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, NBSP,
    soft hyphen) take the characters from U+0100 up, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


def load_gpt2_ranks(encoder_json_path, vocab_bpe_path) -> dict[bytes, int]:
    """GPT-2's published files -> {token bytes: rank}, checked against each other.

    The ranks come from encoder.json; vocab.bpe must list, in rank order, exactly the
    merges that build tokens 256 onwards, each from two tokens that exist before it.
    """
    encoder_json_path, vocab_bpe_path = pathlib.Path(encoder_json_path), pathlib.Path(vocab_bpe_path)
    char_to_byte = {c: b for b, c in gpt2_bytes_to_unicode().items()}

    def to_bytes(token: str, where: str) -> bytes:
        try:
            return bytes(char_to_byte[c] for c in token)
        except KeyError as e:
            raise ValueError(
                f"{where}: {token!r} has the character {e.args[0]!r}, outside GPT-2's byte alphabet"
            ) from None

    try:
        encoder = json.loads(encoder_json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{encoder_json_path}: not a valid JSON file ({e})") from None
    if not isinstance(encoder, dict) or not all(isinstance(v, int) for v in encoder.values()):
        raise ValueError(f"{encoder_json_path}: expected one JSON object of token -> int")
    ranks = {}  # bytes -> int
    for token, rank in encoder.items():
        if token in ("<|endoftext|>", "<|startoftext|>"):
            continue  # special tokens, not byte tokens
        ranks[to_bytes(token, str(encoder_json_path))] = rank

    try:
        merge_lines = vocab_bpe_path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"{vocab_bpe_path}: not UTF-8 text ({e})") from None
    if not merge_lines[0].startswith("#version"):
        raise ValueError(f"{vocab_bpe_path}: line 1 should be the '#version' header, got {merge_lines[0][:40]!r}")
    merges = [line for line in merge_lines[1:] if line]
    if len(ranks) != 256 + len(merges):
        raise ValueError(
            f"{encoder_json_path} has {len(ranks)} byte tokens but {vocab_bpe_path} has "
            f"{len(merges)} merges (expected 256 + merges): one of the files is truncated"
        )
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise ValueError(f"{encoder_json_path}: the single bytes {missing[:10]} have no token")
    for line_number, line in enumerate(merge_lines[1:], start=2):
        if not line:
            continue
        pair = line.split(" ")
        if len(pair) != 2:
            raise ValueError(f"{vocab_bpe_path}: line {line_number} should be two tokens, got {line!r}")
        left, right = (to_bytes(t, f"{vocab_bpe_path}: line {line_number}") for t in pair)
        expected = 256 + line_number - 2
        merged = left + right
        if ranks.get(merged) != expected or left not in ranks or right not in ranks:
            raise ValueError(
                f"{vocab_bpe_path}: line {line_number} merges {pair[0]!r} + {pair[1]!r}, but "
                f"{encoder_json_path} gives that token ID {ranks.get(merged)} (expected {expected})"
            )
    return ranks


def gpt2_encoder_json(ranks: dict[bytes, int], special_tokens: dict[str, int] | None = None) -> bytes:
    """{token bytes: rank} -> GPT-2's `encoder.json`, as OpenAI published it: tokens in
    GPT-2's byte alphabet, in rank order, then `<|endoftext|>`. The inverse of the first half
    of `load_gpt2_ranks`; on the r50k_base ranks it gives the published file byte for byte."""
    if special_tokens is None:
        special_tokens = {"<|endoftext|>": max(ranks.values()) + 1}
    alphabet = gpt2_bytes_to_unicode()
    encoder = {"".join(map(alphabet.__getitem__, token)): rank for token, rank in sorted(ranks.items(), key=_by_rank)}
    encoder.update(special_tokens)
    return json.dumps(encoder).encode("ascii")


def gpt2_vocab_bpe(ranks: dict[bytes, int]) -> bytes:
    """{token bytes: rank} -> GPT-2's `vocab.bpe`: a version line, then each merge as its two
    parts in GPT-2's byte alphabet, in rank order ("Ġ t" makes " t")."""
    alphabet = gpt2_bytes_to_unicode()
    merges = recover_merges(ranks)
    lines = ["#version: 0.2"]
    for token, _ in sorted(ranks.items(), key=_by_rank):
        if token in merges:
            left, right = merges[token]
            lines.append("".join(map(alphabet.__getitem__, left)) + " " + "".join(map(alphabet.__getitem__, right)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _by_rank(item: tuple[bytes, int]) -> int:
    return item[1]


# --- the inside -------------------------------------------------------------------------------


def _parse_rank_lines(lines, path, first_line_number: int) -> dict[bytes, int]:
    """`base64 rank` lines (bytes) -> {token: rank}; a bad line is a ValueError naming it."""
    ranks = {}  # bytes -> int
    ranks_seen = set()
    line_number = first_line_number - 1
    for line_number, line in enumerate(lines, start=first_line_number):
        line = line.strip()
        if not line:
            continue
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError("expected 'base64-token rank'")
            token = base64.b64decode(fields[0], validate=True)
            rank = int(fields[1])
            if not 0 <= rank <= MAX_ID:
                raise ValueError(f"a rank must be 0 <= rank < 2**32 (token files hold uint32), got {rank}")
        except (ValueError, binascii.Error) as e:
            shown = line[:60].decode("utf-8", errors="replace")
            raise ValueError(f"{path}: line {line_number} ({shown!r}) is not a rank line: {e}") from None
        if token in ranks:
            raise ValueError(f"{path}: line {line_number}: token {token!r} appears twice")
        if rank in ranks_seen:
            raise ValueError(f"{path}: line {line_number}: rank {rank} appears twice")
        ranks[token] = rank
        ranks_seen.add(rank)
    if not ranks:
        raise ValueError(
            f"{path}: no rank lines from line {first_line_number} to the end (line {line_number}): "
            "the file is empty or truncated"
        )
    return ranks


def _parse_header(line: bytes, path: pathlib.Path, checked: bool) -> dict:
    """Line 2, the JSON header; `checked`: a v2 header, which must hold n_ranks, rank_gaps
    and ranks_sha256 too."""
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: line 2 is not the JSON header ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: line 2 must be a JSON object")
    for key, kind in (("name", str), ("pat_str", str), ("special_tokens", dict)):
        if not isinstance(header.get(key), kind):
            raise ValueError(f"{path}: line 2: the header needs {key!r} as a {kind.__name__}")
    for token, i in header["special_tokens"].items():
        if isinstance(i, int) and not isinstance(i, bool) and not 0 <= i <= MAX_ID:
            raise ValueError(f"{path}: line 2: special token {token!r} has the ID {i}; IDs must be 0 <= ID < 2**32")
    n_vocab = header.get("explicit_n_vocab")
    if n_vocab is not None and (
        not isinstance(n_vocab, int) or isinstance(n_vocab, bool) or not 0 < n_vocab <= MAX_ID + 1
    ):
        raise ValueError(f"{path}: line 2: explicit_n_vocab must be null or an int from 1 to 2**32, got {n_vocab!r}")
    if checked:
        n, gaps, sha = header.get("n_ranks"), header.get("rank_gaps"), header.get("ranks_sha256")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{path}: line 2: the header needs 'n_ranks', the number of rank lines, as an int >= 1")
        if not isinstance(gaps, bool):
            raise ValueError(f"{path}: line 2: the header needs 'rank_gaps' as true or false")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"{path}: line 2: the header needs 'ranks_sha256', the sha256 of the rank lines in hex")
    return header


def _write_atomically(path: pathlib.Path, content: str) -> None:
    atomic_write(path, lambda f: f.write(content.encode("utf-8")))


# --- writing a file whole or not at all --------------------------------------------------------


class AtomicFile:
    """A file that appears whole or not at all: written to a temporary file beside `path`,
    renamed over it by `commit()`, removed by `discard()`.

    It ends with the permissions `open(path, "w")` would give: a new file 0o666 minus the
    umask (the temporary file is created with that mode, so the kernel applies the umask and
    any default ACL), an existing file keeps its mode. A symbolic link is written through,
    as `open` does: its target is replaced, the link stays. (The owner of a replaced file is
    this process's, as for any new file.)

        f = AtomicFile(path)
        try:
            f.file.write(b"...")
        except BaseException:
            f.discard()
            raise
        f.commit()

    `atomic_write(path, write)` is that, for one file.
    """

    def __init__(self, path):
        path = pathlib.Path(path)
        if path.is_symlink():
            path = pathlib.Path(os.path.realpath(path))
        self.path = path
        folder = path.parent if str(path.parent) else pathlib.Path(".")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        for _ in range(100):
            self.temp = folder / f"{path.name}.{secrets.token_hex(4)}.part"
            try:
                fd = os.open(self.temp, flags, 0o666)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"cannot make a temporary file beside {path}: 100 names taken")
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Close, take the mode of the file being replaced, rename over it (or discard and raise)."""
        try:
            self.file.close()
            try:
                os.chmod(self.temp, stat.S_IMODE(os.stat(self.path).st_mode))
            except FileNotFoundError:
                pass  # a new file: the mode it was created with is open()'s
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


def atomic_write(path, write) -> None:
    """write(f) into a temporary binary file beside `path`, renamed over it only if write
    succeeds (see `AtomicFile`: the same permissions as a plain `open(path, "w")`)."""
    f = AtomicFile(path)
    try:
        write(f.file)
    except BaseException:
        f.discard()
        raise
    f.commit()
