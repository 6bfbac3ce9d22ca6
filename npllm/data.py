"""The data files npllm knows: find them offline, else download, verify and cache them.

`path(name)` returns a local path to one of the known files, looking in this order:

1. `$NPLLM_DATA_DIR/<name>` (how CI and offline machines point npllm at a folder);
2. for the vocabulary files, tiktoken's cache (`$TIKTOKEN_CACHE_DIR/<sha1 of the URL>`),
   so a tiktoken user downloads nothing twice;
3. the user cache (`$XDG_CACHE_HOME/npllm/<name>` or `~/.cache/npllm/<name>`);
4. a download from the source URL with urllib, written atomically into the user cache.

Every file is checked against its sha256 before it is used; a file with the wrong hash is
never returned. What this module leaves out: any other file, retries, proxies, progress bars.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFile:
    url: str
    sha256: str
    in_tiktoken_cache: bool = False  # tiktoken caches this URL under sha1(url)


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
        "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        in_tiktoken_cache=True,
    ),
    "gpt2/vocab.bpe": KnownFile(
        "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        in_tiktoken_cache=True,
    ),
    "cl100k_base.tiktoken": KnownFile(
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        in_tiktoken_cache=True,
    ),
}

DOWNLOAD_TIMEOUT_S = 60


class DataFileError(RuntimeError):
    """A known data file could not be found, downloaded or verified."""


def path(name: str) -> pathlib.Path:
    """Return a verified local path to the known data file `name`, downloading it if needed."""
    known = _known(name)
    rejected = []  # corrupt copies seen on the way, named in the error if the download fails too
    for candidate, explicit in _local_candidates(name, known):
        if not candidate.is_file():
            continue
        if _sha256(candidate) == known.sha256:
            return candidate
        if explicit:
            raise DataFileError(
                f"{candidate} has the wrong sha256 for {name!r} (expected {known.sha256}); "
                f"replace it with a fresh copy of {known.url}, or point NPLLM_DATA_DIR "
                f"at a folder holding a good {name}"
            )
        rejected.append(str(candidate))  # a cache: never used, replaced by the download below
    return _download(name, known, rejected)


def user_cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/npllm`, or `~/.cache/npllm`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "npllm"


def _known(name: str) -> KnownFile:
    if not isinstance(name, str):
        raise TypeError(f"a data file name must be a str, got {type(name).__name__}")
    try:
        return KNOWN_FILES[name]
    except KeyError:
        raise KeyError(f"unknown data file {name!r}; known files: {', '.join(KNOWN_FILES)}") from None


def _local_candidates(name: str, known: KnownFile) -> list[tuple[pathlib.Path, bool]]:
    """The places to look before downloading, in lookup order, each with whether the user
    chose it explicitly (NPLLM_DATA_DIR: a bad file there is an error, not a cache miss)."""
    candidates = []
    if os.environ.get("NPLLM_DATA_DIR"):
        candidates.append((pathlib.Path(os.environ["NPLLM_DATA_DIR"]) / name, True))
    if known.in_tiktoken_cache and os.environ.get("TIKTOKEN_CACHE_DIR"):
        url_sha1 = hashlib.sha1(known.url.encode()).hexdigest()
        candidates.append((pathlib.Path(os.environ["TIKTOKEN_CACHE_DIR"]) / url_sha1, False))
    candidates.append((user_cache_dir() / name, False))
    return candidates


def _sha256(file: pathlib.Path) -> str:
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
        f"{name}"
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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_text(name: str) -> str:
    """The known text file `name`, decoded as UTF-8."""
    return path(name).read_text(encoding="utf-8")
