"""The data files npllm knows: bundled vocabularies, then local copies, else a verified download.

The vocabularies (tiktoken's `.tiktoken` rank files) ship inside the package, gzipped, in
`npllm/vocabularies/`: every encoding works offline with no lookup at all. GPT-2's published
`encoder.json` and `vocab.bpe` are rebuilt from the bundled r50k_base ranks, byte for byte
(`npllm.bpe.files.gpt2_encoder_json` and `gpt2_vocab_bpe`). The texts (The Verdict, Tiny
Shakespeare) are never bundled.

`read_bytes(name)` and `path(name)` look for a file in this order:

1. `$NPLLM_DATA_DIR/<name>` (a folder you fill yourself; a bad file there is an error);
2. the copy inside the package (vocabularies and the two GPT-2 files rebuilt from them);
3. for the vocabulary files, tiktoken's cache (`$TIKTOKEN_CACHE_DIR/<sha1 of the URL>`);
4. the user cache (`$XDG_CACHE_HOME/npllm/<name>` or `~/.cache/npllm/<name>`);
5. a download from the source URL with urllib, written atomically into the user cache.

Every file is checked against its sha256 before it is used, the bundled ones included; a
file with the wrong hash is never returned. `where(name)` says which of these would serve a
file, without downloading; `fetch(name)` downloads into the user cache.
What this module leaves out: any other file, retries, proxies, progress bars.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from dataclasses import dataclass

from npllm._checks import check_str

OPENAI = "https://openaipublic.blob.core.windows.net"


@dataclass(frozen=True)
class KnownFile:
    url: str
    sha256: str
    in_tiktoken_cache: bool = False  # tiktoken caches this URL under sha1(url)
    bundled: bool = False  # gzipped in npllm/vocabularies/<name>.gz, or rebuilt from one


KNOWN_FILES = {  # name -> KnownFile
    "the-verdict.txt": KnownFile(
        "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
    ),
    "tinyshakespeare.txt": KnownFile(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
    "gpt2/encoder.json": KnownFile(
        f"{OPENAI}/gpt-2/encodings/main/encoder.json",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        in_tiktoken_cache=True,
        bundled=True,
    ),
    "gpt2/vocab.bpe": KnownFile(
        f"{OPENAI}/gpt-2/encodings/main/vocab.bpe",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        in_tiktoken_cache=True,
        bundled=True,
    ),
    "r50k_base.tiktoken": KnownFile(
        f"{OPENAI}/encodings/r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        in_tiktoken_cache=True,
        bundled=True,
    ),
    "p50k_base.tiktoken": KnownFile(
        f"{OPENAI}/encodings/p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        in_tiktoken_cache=True,
        bundled=True,
    ),
    "cl100k_base.tiktoken": KnownFile(
        f"{OPENAI}/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        in_tiktoken_cache=True,
        bundled=True,
    ),
    "o200k_base.tiktoken": KnownFile(
        f"{OPENAI}/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        in_tiktoken_cache=True,
        bundled=True,
    ),
}

# The two GPT-2 files are not shipped: they are rebuilt from these bundled ranks.
REBUILT_FROM = {"gpt2/encoder.json": "r50k_base.tiktoken", "gpt2/vocab.bpe": "r50k_base.tiktoken"}

DOWNLOAD_TIMEOUT_S = 60

# The places `where` names, in lookup order.
FROM_DATA_DIR, BUNDLED, TIKTOKEN_CACHE, USER_CACHE, MISSING = (
    "NPLLM_DATA_DIR",
    "bundled",
    "tiktoken cache",
    "user cache",
    "missing",
)


class DataFileError(RuntimeError):
    """A known data file could not be found, downloaded or verified."""


# --- the public calls -----------------------------------------------------------------------------


def read_bytes(name: str) -> bytes:
    """The verified content of the known file `name`, from the first place that has it.

    A bundled vocabulary is read straight from the package (gunzip, sha256), never copied.
    """
    known = _known(name)
    found = _data_dir_copy(name, known)
    if found is not None:
        return found.read_bytes()
    if known.bundled:
        return _bundled_bytes(name, known)
    return path(name).read_bytes()


def path(name: str) -> pathlib.Path:
    """A verified local path to the known file `name`, downloading it if needed.

    A bundled file has no plain path inside the package (it is gzipped there), so the first
    call writes the verified content into the user cache, once, and returns that path.
    """
    known = _known(name)
    found = _data_dir_copy(name, known)
    if found is not None:
        return found
    rejected = []  # corrupt cached copies seen on the way, named in the error if all else fails
    for _, candidate in _cache_candidates(name, known):
        if candidate.is_file():
            if _sha256_of_file(candidate) == known.sha256:
                return candidate
            rejected.append(str(candidate))  # a cache: never used, replaced below
    if known.bundled:
        target = user_cache_dir() / name
        _write_atomically(target, _bundled_bytes(name, known))
        return target
    return _download(name, known, rejected)


def where(name: str) -> tuple[str, pathlib.Path | None]:
    """Which place would serve `name` now, without downloading: (place, path).

    The place is one of "NPLLM_DATA_DIR", "bundled", "tiktoken cache", "user cache" or
    "missing"; the path is None for "missing" and for files rebuilt from a bundled one.
    """
    known = _known(name)
    found = _data_dir_copy(name, known)
    if found is not None:
        return FROM_DATA_DIR, found
    if known.bundled:
        return BUNDLED, _bundled_path(name)
    for place, candidate in _cache_candidates(name, known):
        if candidate.is_file() and _sha256_of_file(candidate) == known.sha256:
            return place, candidate
    return MISSING, None


def fetch(name: str) -> pathlib.Path:
    """Download `name` into the user cache (verified), unless a good local copy exists."""
    return path(name)


def fill_tiktoken_cache(folder) -> list[pathlib.Path]:
    """Write every vocabulary into `folder` under the names tiktoken's cache uses (sha1 of the
    URL), so tiktoken itself works offline with `TIKTOKEN_CACHE_DIR=folder`. tiktoken checks
    each file's sha256 when it reads it. Returns the files written."""
    folder = pathlib.Path(folder)
    written = []
    for name, known in KNOWN_FILES.items():
        if known.in_tiktoken_cache:
            target = folder / hashlib.sha1(known.url.encode()).hexdigest()
            _write_atomically(target, read_bytes(name))
            written.append(target)
    return written


def read_text(name: str) -> str:
    """The known text file `name`, decoded as UTF-8 (every byte kept: no newline translation)."""
    return read_bytes(name).decode("utf-8")


def user_cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/npllm`, or `~/.cache/npllm`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "npllm"


def bundled_dir() -> pathlib.Path:
    """The package folder that holds the gzipped vocabularies."""
    return pathlib.Path(__file__).parent / "vocabularies"


# --- the places ----------------------------------------------------------------------------------


def _known(name: str) -> KnownFile:
    check_str("a data file name", name)
    try:
        return KNOWN_FILES[name]
    except KeyError:
        raise KeyError(f"unknown data file {name!r}; known files: {', '.join(KNOWN_FILES)}") from None


def _data_dir_copy(name: str, known: KnownFile) -> pathlib.Path | None:
    """`$NPLLM_DATA_DIR/<name>` if it is there; a bad copy there is an error, not a miss."""
    folder = os.environ.get("NPLLM_DATA_DIR")
    if not folder:
        return None
    candidate = pathlib.Path(folder) / name
    if not candidate.is_file():
        return None
    if _sha256_of_file(candidate) != known.sha256:
        raise DataFileError(
            f"{candidate} has the wrong sha256 for {name!r} (expected {known.sha256}); "
            f"replace it with a fresh copy of {known.url}, or point NPLLM_DATA_DIR "
            f"at a folder holding a good {name}"
        )
    return candidate


def _cache_candidates(name: str, known: KnownFile) -> list[tuple[str, pathlib.Path]]:
    """(place, path): tiktoken's cache (vocabularies only), then the user cache."""
    candidates = []
    if known.in_tiktoken_cache and os.environ.get("TIKTOKEN_CACHE_DIR"):
        url_sha1 = hashlib.sha1(known.url.encode()).hexdigest()
        candidates.append((TIKTOKEN_CACHE, pathlib.Path(os.environ["TIKTOKEN_CACHE_DIR"]) / url_sha1))
    candidates.append((USER_CACHE, user_cache_dir() / name))
    return candidates


def _bundled_path(name: str) -> pathlib.Path | None:
    return None if name in REBUILT_FROM else bundled_dir() / (name + ".gz")


def _bundled_bytes(name: str, known: KnownFile) -> bytes:
    """Gunzip a bundled vocabulary (or rebuild a GPT-2 file from one) and check its sha256."""
    if name in REBUILT_FROM:
        from npllm.bpe.files import gpt2_encoder_json, gpt2_vocab_bpe, parse_tiktoken_bpe

        source = REBUILT_FROM[name]
        ranks = parse_tiktoken_bpe(read_bytes(source), source)
        content = gpt2_encoder_json(ranks) if name.endswith(".json") else gpt2_vocab_bpe(ranks)
    else:
        import gzip  # here, not at the top: `import npllm` decompresses nothing

        file = _bundled_path(name)
        try:
            content = gzip.decompress(file.read_bytes())
        except (OSError, EOFError) as e:
            raise DataFileError(f"the bundled copy of {name!r} ({file}) cannot be read ({e}); reinstall npllm") from e
    got = hashlib.sha256(content).hexdigest()
    if got != known.sha256:
        raise DataFileError(
            f"the bundled copy of {name!r} has sha256 {got}, expected {known.sha256}: the install "
            f"is damaged; reinstall npllm, or point NPLLM_DATA_DIR at a folder holding a good {name}"
        )
    return content


def _sha256_of_file(file: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(name: str, known: KnownFile, rejected: list[str]) -> pathlib.Path:
    """Fetch `known.url`, check its sha256, then rename it into the user cache (atomic)."""
    target = user_cache_dir() / name
    hint = (
        f"download {known.url} yourself and point NPLLM_DATA_DIR at the folder that holds "
        f"{name} (or run `npllm data fetch {name}` where there is a network)"
    )
    if rejected:
        hint += f" (rejected for a wrong sha256: {', '.join(rejected)})"
    import urllib.request  # here, not at the top: it pulls in ssl and http for every import

    try:
        with urllib.request.urlopen(known.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            content = response.read()
    except OSError as e:  # URLError, timeouts and refused connections are all OSErrors
        raise DataFileError(f"cannot find {name!r} locally and cannot download it ({e}); {hint}") from e
    got = hashlib.sha256(content).hexdigest()
    if got != known.sha256:
        raise DataFileError(
            f"the download of {name!r} from {known.url} has sha256 {got}, expected "
            f"{known.sha256}; nothing was saved; {hint}"
        )
    _write_atomically(target, content)
    return target


def _write_atomically(target: pathlib.Path, content: bytes) -> None:
    """A temporary file in the target's folder, then a rename: the file appears whole or not at all."""
    import tempfile  # here, not at the top: reading a vocabulary writes nothing (3 ms saved)

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
