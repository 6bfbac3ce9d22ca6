"""npllm.data: the lookup order (NPLLM_DATA_DIR, tiktoken's cache, the user cache, a download),
sha256 checks at every step, atomic writes, and errors that say how to fix things.

Every test here runs with the network cut off: `urllib.request.urlopen` raises unless a test
puts a fake server in its place, and the user cache is a fresh temporary folder.
"""

import hashlib
import os
import pathlib
import re
import urllib.error
import urllib.request

import pytest

import npllm.data
from npllm.data import KNOWN_FILES, DataFileError

SHARED = pathlib.Path(os.environ.get("NPLLM_DATA_DIR") or pathlib.Path(__file__).parents[2] / "shared" / "data")
VERDICT = "the-verdict.txt"
VERDICT_URL = KNOWN_FILES[VERDICT].url
VOCAB_BPE = "gpt2/vocab.bpe"


@pytest.fixture(scope="module")
def verdict_bytes():
    return (SHARED / VERDICT).read_bytes()


@pytest.fixture(scope="module")
def vocab_bpe_bytes():
    return (SHARED / VOCAB_BPE).read_bytes()


class FakeResponse:
    """What urlopen returns: a context manager whose read() gives the body."""

    def __init__(self, body):
        self.body = body

    def read(self):
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No lookup place set, an empty user cache, and no network. Returns the URLs asked for."""
    monkeypatch.delenv("NPLLM_DATA_DIR", raising=False)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    requested = []

    def no_network(url, *args, **kwargs):
        requested.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return requested


def serve(monkeypatch, body):
    """Put a fake server in place of urlopen; returns the list of (url, timeout) asked for."""
    requested = []

    def fake_urlopen(url, *args, timeout=None, **kwargs):
        requested.append((url, timeout))
        return FakeResponse(body)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


def user_cache(tmp_path):
    return tmp_path / "xdg" / "npllm"


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def leftovers(folder):
    return [p.name for p in folder.rglob("*.part")] if folder.exists() else []


# --- the known files ---------------------------------------------------------------------------


def test_known_files_are_the_design_list():
    assert set(KNOWN_FILES) == {
        "the-verdict.txt", "tinyshakespeare.txt", "gpt2/encoder.json", "gpt2/vocab.bpe", "cl100k_base.tiktoken",
    }
    assert {n for n, k in KNOWN_FILES.items() if k.in_tiktoken_cache} == {
        "gpt2/encoder.json", "gpt2/vocab.bpe", "cl100k_base.tiktoken",
    }
    for known in KNOWN_FILES.values():
        assert known.url.startswith("https://")
        assert re.fullmatch(r"[0-9a-f]{64}", known.sha256)


@pytest.mark.parametrize("name", sorted(KNOWN_FILES))
def test_known_sha256_matches_the_shared_copy(name):
    assert hashlib.sha256((SHARED / name).read_bytes()).hexdigest() == KNOWN_FILES[name].sha256


def test_unknown_name_is_a_keyerror_listing_the_known_ones():
    with pytest.raises(KeyError, match="no-such-file.txt") as info:
        npllm.data.path("no-such-file.txt")
    assert VERDICT in str(info.value)


def test_non_str_name_is_a_typeerror():
    with pytest.raises(TypeError, match="str"):
        npllm.data.path(pathlib.Path(VERDICT))


# --- 1. NPLLM_DATA_DIR ------------------------------------------------------------------------------


def test_path_finds_a_file_in_npllm_data_dir(monkeypatch, tmp_path, verdict_bytes, offline):
    good = write(tmp_path / "data" / VERDICT, verdict_bytes)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(VERDICT) == good
    assert offline == []  # found locally: nothing downloaded
    assert not user_cache(tmp_path).exists()  # and nothing copied


def test_path_finds_a_nested_name_in_npllm_data_dir(monkeypatch, tmp_path, vocab_bpe_bytes):
    good = write(tmp_path / "data" / "gpt2" / "vocab.bpe", vocab_bpe_bytes)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(VOCAB_BPE) == good


def test_npllm_data_dir_comes_before_the_user_cache(monkeypatch, tmp_path, verdict_bytes):
    write(user_cache(tmp_path) / VERDICT, verdict_bytes)
    good = write(tmp_path / "data" / VERDICT, verdict_bytes)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(VERDICT) == good


def test_a_wrong_hash_in_npllm_data_dir_raises(monkeypatch, tmp_path, verdict_bytes, offline):
    bad = write(tmp_path / "data" / VERDICT, verdict_bytes + b"x")
    write(user_cache(tmp_path) / VERDICT, verdict_bytes)  # a good copy elsewhere does not hide it
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataFileError) as info:
        npllm.data.path(VERDICT)
    message = str(info.value)
    assert str(bad) in message
    assert VERDICT_URL in message
    assert "NPLLM_DATA_DIR" in message
    assert offline == []
    assert bad.read_bytes() == verdict_bytes + b"x"  # the user's file is left alone


def test_a_missing_file_in_npllm_data_dir_falls_through(monkeypatch, tmp_path, verdict_bytes):
    (tmp_path / "data").mkdir()
    cached = write(user_cache(tmp_path) / VERDICT, verdict_bytes)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(VERDICT) == cached


# --- 2. tiktoken's cache ----------------------------------------------------------------------------


def tiktoken_name(name):
    return hashlib.sha1(KNOWN_FILES[name].url.encode()).hexdigest()


def test_vocab_bpe_tiktoken_cache_name_is_sha1_of_the_url():
    # tiktoken's read_file_cached stores a blob under sha1(url): a known answer
    assert tiktoken_name(VOCAB_BPE) == "6d1cbeee0f20b3d9449abfede4726ed8212e3aee"
    assert tiktoken_name("gpt2/encoder.json") == "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"
    assert tiktoken_name("cl100k_base.tiktoken") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"


def test_path_finds_a_vocab_file_in_the_tiktoken_cache(monkeypatch, tmp_path, vocab_bpe_bytes, offline):
    good = write(tmp_path / "tiktoken" / tiktoken_name(VOCAB_BPE), vocab_bpe_bytes)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    assert npllm.data.path(VOCAB_BPE) == good
    assert offline == []


def test_tiktoken_cache_comes_before_the_user_cache(monkeypatch, tmp_path, vocab_bpe_bytes):
    write(user_cache(tmp_path) / VOCAB_BPE, vocab_bpe_bytes)
    good = write(tmp_path / "tiktoken" / tiktoken_name(VOCAB_BPE), vocab_bpe_bytes)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    assert npllm.data.path(VOCAB_BPE) == good


def test_tiktoken_cache_is_not_used_for_texts(monkeypatch, tmp_path, verdict_bytes, offline):
    write(tmp_path / "tiktoken" / tiktoken_name(VERDICT), verdict_bytes)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    with pytest.raises(DataFileError):
        npllm.data.path(VERDICT)
    assert offline == [VERDICT_URL]


def test_a_corrupt_tiktoken_cache_file_is_skipped(monkeypatch, tmp_path, vocab_bpe_bytes):
    bad = write(tmp_path / "tiktoken" / tiktoken_name(VOCAB_BPE), b"not the vocab")
    cached = write(user_cache(tmp_path) / VOCAB_BPE, vocab_bpe_bytes)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    assert npllm.data.path(VOCAB_BPE) == cached
    assert bad.read_bytes() == b"not the vocab"  # tiktoken's cache is tiktoken's: left alone


# --- 3. the user cache ------------------------------------------------------------------------------


def test_user_cache_dir_follows_xdg_cache_home(tmp_path):
    assert npllm.data.user_cache_dir() == tmp_path / "xdg" / "npllm"


def test_user_cache_dir_defaults_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert npllm.data.user_cache_dir() == tmp_path / "home" / ".cache" / "npllm"


def test_path_finds_a_file_in_the_user_cache(tmp_path, verdict_bytes, offline):
    cached = write(user_cache(tmp_path) / VERDICT, verdict_bytes)
    assert npllm.data.path(VERDICT) == cached
    assert offline == []


def test_read_text_decodes_utf8(tmp_path, verdict_bytes):
    write(user_cache(tmp_path) / VERDICT, verdict_bytes)
    text = npllm.data.read_text(VERDICT)
    assert text == verdict_bytes.decode("utf-8")
    assert len(text) == 20_479


def test_a_corrupt_user_cache_file_is_rejected_and_named(tmp_path, verdict_bytes, offline):
    bad = write(user_cache(tmp_path) / VERDICT, verdict_bytes[:-1])
    with pytest.raises(DataFileError) as info:
        npllm.data.path(VERDICT)
    assert str(bad) in str(info.value)
    assert offline == [VERDICT_URL]  # the corrupt copy was not returned: a download was tried


def test_a_corrupt_user_cache_file_is_replaced_by_a_download(monkeypatch, tmp_path, verdict_bytes):
    bad = write(user_cache(tmp_path) / VERDICT, b"truncated")
    requested = serve(monkeypatch, verdict_bytes)
    assert npllm.data.path(VERDICT) == bad
    assert bad.read_bytes() == verdict_bytes
    assert [url for url, _ in requested] == [VERDICT_URL]


# --- 4. the download ------------------------------------------------------------------------------


def test_offline_error_names_the_file_the_url_and_npllm_data_dir(tmp_path, offline):
    with pytest.raises(DataFileError) as info:
        npllm.data.path(VERDICT)
    message = str(info.value)
    assert VERDICT in message
    assert VERDICT_URL in message
    assert "NPLLM_DATA_DIR" in message
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert offline == [VERDICT_URL]
    assert leftovers(user_cache(tmp_path)) == []
    assert not (user_cache(tmp_path) / VERDICT).exists()


def test_a_timeout_is_a_data_file_error_too(monkeypatch):
    def timeout(url, *args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", timeout)
    with pytest.raises(DataFileError, match="timed out"):
        npllm.data.path(VERDICT)


def test_a_download_is_verified_and_cached(monkeypatch, tmp_path, verdict_bytes):
    requested = serve(monkeypatch, verdict_bytes)
    got = npllm.data.path(VERDICT)
    assert got == user_cache(tmp_path) / VERDICT
    assert got.read_bytes() == verdict_bytes
    assert requested == [(VERDICT_URL, npllm.data.DOWNLOAD_TIMEOUT_S)]
    assert sorted(p.name for p in user_cache(tmp_path).iterdir()) == [VERDICT]  # no .part left
    # the second call finds the cached copy and asks the network for nothing
    assert npllm.data.path(VERDICT) == got
    assert len(requested) == 1


def test_a_download_of_a_nested_name_creates_its_folder(monkeypatch, tmp_path, vocab_bpe_bytes):
    serve(monkeypatch, vocab_bpe_bytes)
    got = npllm.data.path(VOCAB_BPE)
    assert got == user_cache(tmp_path) / "gpt2" / "vocab.bpe"
    assert got.read_bytes() == vocab_bpe_bytes
    assert leftovers(user_cache(tmp_path)) == []


def test_a_download_with_the_wrong_content_raises_and_saves_nothing(monkeypatch, tmp_path, verdict_bytes):
    serve(monkeypatch, verdict_bytes.replace(b"Gisburn", b"Gisborn"))
    with pytest.raises(DataFileError) as info:
        npllm.data.path(VERDICT)
    message = str(info.value)
    assert VERDICT in message and VERDICT_URL in message and "NPLLM_DATA_DIR" in message
    assert KNOWN_FILES[VERDICT].sha256 in message
    cache = user_cache(tmp_path)
    assert not cache.exists() or list(cache.rglob("*")) == []


def test_a_failed_write_leaves_no_part_file(monkeypatch, tmp_path, verdict_bytes):
    serve(monkeypatch, verdict_bytes)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(npllm.data.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        npllm.data.path(VERDICT)
    assert leftovers(user_cache(tmp_path)) == []
    assert not (user_cache(tmp_path) / VERDICT).exists()


def test_the_file_appears_whole_or_not_at_all(monkeypatch, tmp_path, verdict_bytes):
    """The content is written to a .part file in the same folder, then renamed over the target."""
    serve(monkeypatch, verdict_bytes)
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        src, dst = pathlib.Path(src), pathlib.Path(dst)
        renames.append((src.name, dst, src.read_bytes() == verdict_bytes, dst.exists()))
        real_replace(src, dst)

    monkeypatch.setattr(npllm.data.os, "replace", recording_replace)
    npllm.data.path(VERDICT)
    [(src_name, dst, complete, dst_existed)] = renames
    assert src_name.endswith(".part")
    assert dst == user_cache(tmp_path) / VERDICT
    assert complete and not dst_existed
