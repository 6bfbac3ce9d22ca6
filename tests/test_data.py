"""npllm.data: the bundled vocabularies (byte for byte the published files), the lookup order
(NPLLM_DATA_DIR, the bundled copy, tiktoken's cache, the user cache, a download), sha256
checks at every step, atomic writes, and errors that say how to fix things.

Every test here runs with the network cut off: `urllib.request.urlopen` raises unless a test
puts a fake server in its place, and the user cache is a fresh temporary folder. The texts
are stood in for by a small made-up known file, so the file runs on any machine.
"""

import gzip
import hashlib
import os
import pathlib
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from fake_network import FakeResponse

import npllm
import npllm.data
from npllm.bpe.files import load_gpt2_ranks, parse_tiktoken_bpe
from npllm.data import KNOWN_FILES, DataFileError, KnownFile

SAMPLE = "sample.txt"  # a made-up known text, put in KNOWN_FILES by the `sample` fixture
SAMPLE_BYTES = b"A known text, checked by its sha256.\r\nSecond line, CRLF kept.\n"
SAMPLE_URL = "https://example.invalid/npllm/sample.txt"
VOCAB = "r50k_base.tiktoken"  # a bundled vocabulary
VOCAB_BPE = "gpt2/vocab.bpe"  # rebuilt from a bundled vocabulary

# tiktoken's openai_public.py: the sha256 it expects of each published file (a known answer).
PUBLISHED_SHA256 = {
    "r50k_base.tiktoken": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base.tiktoken": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "gpt2/encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "gpt2/vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
BUNDLED_RANK_FILES = ["r50k_base.tiktoken", "p50k_base.tiktoken", "cl100k_base.tiktoken", "o200k_base.tiktoken"]


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


@pytest.fixture(autouse=True)
def sample(monkeypatch):
    """SAMPLE as a known (not bundled) file, as the texts are."""
    known = KnownFile(SAMPLE_URL, hashlib.sha256(SAMPLE_BYTES).hexdigest())
    monkeypatch.setitem(KNOWN_FILES, SAMPLE, known)
    return known


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


def tiktoken_name(name):
    return hashlib.sha1(KNOWN_FILES[name].url.encode()).hexdigest()


# --- the known files ---------------------------------------------------------------------------


def test_known_files_are_the_design_list():
    assert set(KNOWN_FILES) - {SAMPLE} == {
        "the-verdict.txt",
        "tinyshakespeare.txt",
        "gpt2/encoder.json",
        "gpt2/vocab.bpe",
        *BUNDLED_RANK_FILES,
    }
    assert {n for n, k in KNOWN_FILES.items() if k.bundled} == {
        "gpt2/encoder.json",
        "gpt2/vocab.bpe",
        *BUNDLED_RANK_FILES,
    }
    assert {n for n, k in KNOWN_FILES.items() if k.in_tiktoken_cache} == {
        "gpt2/encoder.json",
        "gpt2/vocab.bpe",
        *BUNDLED_RANK_FILES,
    }
    for known in KNOWN_FILES.values():
        assert known.url.startswith("https://")
        assert re.fullmatch(r"[0-9a-f]{64}", known.sha256)


def test_the_hashes_are_the_ones_tiktoken_expects():
    for name, sha256 in PUBLISHED_SHA256.items():
        assert KNOWN_FILES[name].sha256 == sha256


@pytest.mark.parametrize("name", BUNDLED_RANK_FILES)
def test_each_bundled_vocabulary_decompresses_to_the_published_file(name):
    packed = npllm.data.bundled_dir() / (name + ".gz")
    content = gzip.decompress(packed.read_bytes())
    assert hashlib.sha256(content).hexdigest() == PUBLISHED_SHA256[name]
    assert npllm.data.read_bytes(name) == content


def test_the_bundled_folder_holds_only_the_rank_files():
    assert sorted(p.name for p in npllm.data.bundled_dir().iterdir()) == sorted(n + ".gz" for n in BUNDLED_RANK_FILES)


@pytest.mark.parametrize("name", ["gpt2/encoder.json", "gpt2/vocab.bpe"])
def test_gpt2_files_are_rebuilt_from_the_bundled_ranks_byte_for_byte(name, offline):
    content = npllm.data.read_bytes(name)
    assert hashlib.sha256(content).hexdigest() == PUBLISHED_SHA256[name]
    assert offline == []


def test_the_rebuilt_gpt2_files_load_to_the_r50k_ranks(tmp_path):
    encoder = write(tmp_path / "encoder.json", npllm.data.read_bytes("gpt2/encoder.json"))
    merges = write(tmp_path / "vocab.bpe", npllm.data.read_bytes("gpt2/vocab.bpe"))
    r50k = parse_tiktoken_bpe(npllm.data.read_bytes(VOCAB), VOCAB)
    assert load_gpt2_ranks(encoder, merges) == r50k
    assert len(r50k) == 50_256


def test_unknown_name_is_a_keyerror_listing_the_known_ones():
    with pytest.raises(KeyError, match="no-such-file.txt") as info:
        npllm.data.path("no-such-file.txt")
    assert "the-verdict.txt" in str(info.value)


def test_non_str_name_is_a_typeerror():
    with pytest.raises(TypeError, match="str"):
        npllm.data.path(pathlib.Path(SAMPLE))


# --- import: nothing is decompressed until asked --------------------------------------------------


def test_import_decompresses_nothing():
    code = (
        "import gzip\n"
        "calls = []\n"
        "real = gzip.decompress\n"
        "gzip.decompress = lambda packed: calls.append(len(packed)) or real(packed)\n"
        "import npllm\n"
        "assert calls == [], calls\n"
        "npllm.get_encoding('gpt2')\n"
        "assert len(calls) == 1, calls  # r50k_base only\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={k: v for k, v in os.environ.items() if k != "NPLLM_DATA_DIR"}
    )


# --- 1. NPLLM_DATA_DIR ------------------------------------------------------------------------------


def test_path_finds_a_file_in_npllm_data_dir(monkeypatch, tmp_path, offline):
    good = write(tmp_path / "data" / SAMPLE, SAMPLE_BYTES)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(SAMPLE) == good
    assert npllm.data.where(SAMPLE) == ("NPLLM_DATA_DIR", good)
    assert offline == []  # found locally: nothing downloaded
    assert not user_cache(tmp_path).exists()  # and nothing copied


def test_npllm_data_dir_comes_before_the_bundled_copy(monkeypatch, tmp_path):
    """A vocabulary in NPLLM_DATA_DIR is the one read (the same bytes: it must pass the sha256)."""
    content = npllm.data.read_bytes(VOCAB)
    good = write(tmp_path / "data" / VOCAB, content)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.where(VOCAB) == ("NPLLM_DATA_DIR", good)
    assert npllm.data.path(VOCAB) == good
    good.write_bytes(content + b"\n")  # damaged: an error, not a silent fall-back to the bundled copy
    with pytest.raises(DataFileError, match="wrong sha256"):
        npllm.data.read_bytes(VOCAB)


def test_npllm_data_dir_comes_before_the_user_cache(monkeypatch, tmp_path):
    write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    good = write(tmp_path / "data" / SAMPLE, SAMPLE_BYTES)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(SAMPLE) == good


def test_a_wrong_hash_in_npllm_data_dir_raises(monkeypatch, tmp_path, offline):
    bad = write(tmp_path / "data" / SAMPLE, SAMPLE_BYTES + b"x")
    write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)  # a good copy elsewhere does not hide it
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataFileError) as info:
        npllm.data.path(SAMPLE)
    message = str(info.value)
    assert str(bad) in message
    assert SAMPLE_URL in message
    assert "NPLLM_DATA_DIR" in message
    assert offline == []
    assert bad.read_bytes() == SAMPLE_BYTES + b"x"  # the user's file is left alone


def test_a_missing_file_in_npllm_data_dir_falls_through(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    cached = write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert npllm.data.path(SAMPLE) == cached


# --- 2. the bundled copy ------------------------------------------------------------------------------


def test_a_bundled_file_needs_no_lookup_at_all(tmp_path, offline):
    assert npllm.data.where(VOCAB) == ("bundled", npllm.data.bundled_dir() / (VOCAB + ".gz"))
    assert npllm.data.read_bytes(VOCAB).startswith(b"IQ== 0\n")  # "!" is rank 0
    assert offline == []
    assert not user_cache(tmp_path).exists()  # read from the package, not copied


def test_path_of_a_bundled_file_writes_it_once_into_the_user_cache(tmp_path, offline):
    got = npllm.data.path(VOCAB_BPE)
    assert got == user_cache(tmp_path) / "gpt2" / "vocab.bpe"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == PUBLISHED_SHA256[VOCAB_BPE]
    assert leftovers(user_cache(tmp_path)) == []
    assert offline == []
    mtime = got.stat().st_mtime_ns
    assert npllm.data.path(VOCAB_BPE) == got and got.stat().st_mtime_ns == mtime  # found, not rewritten


def test_a_corrupt_bundled_copy_is_an_error_that_says_reinstall(monkeypatch, tmp_path):
    broken = tmp_path / "vocabularies"
    broken.mkdir()
    (broken / (VOCAB + ".gz")).write_bytes(gzip.compress(b"IQ== 0\n"))
    monkeypatch.setattr(npllm.data, "bundled_dir", lambda: broken)
    with pytest.raises(DataFileError, match="reinstall npllm"):
        npllm.data.read_bytes(VOCAB)
    (broken / (VOCAB + ".gz")).write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match="cannot be read.*reinstall npllm"):
        npllm.data.read_bytes(VOCAB)


def test_every_encoding_loads_with_no_network_no_data_folder_and_an_empty_home(tmp_path):
    """A newcomer's machine: a fresh HOME, none of npllm's or tiktoken's variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("NPLLM_DATA_DIR", "TIKTOKEN_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    code = (
        "import npllm\n"
        "for name in npllm.list_encoding_names():\n"
        "    enc = npllm.get_encoding(name)\n"
        "    print(name, enc.n_vocab, enc.encode('hello world'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [
        "gpt2 50257 [31373, 995]",
        "r50k_base 50257 [31373, 995]",
        "p50k_base 50281 [31373, 995]",
        "p50k_edit 50284 [31373, 995]",
        "cl100k_base 100277 [15339, 1917]",
        "o200k_base 200019 [24912, 2375]",
        "o200k_harmony 201088 [24912, 2375]",
    ]
    assert not (tmp_path / "home").exists()  # nothing written: the vocabularies come from the package


# --- 3. tiktoken's cache ----------------------------------------------------------------------------


def test_tiktoken_cache_names_are_sha1_of_the_url():
    # tiktoken's read_file_cached stores a blob under sha1(url): a known answer
    assert tiktoken_name(VOCAB_BPE) == "6d1cbeee0f20b3d9449abfede4726ed8212e3aee"
    assert tiktoken_name("gpt2/encoder.json") == "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"
    assert tiktoken_name("cl100k_base.tiktoken") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    assert tiktoken_name("r50k_base.tiktoken") == "0ea1e91bbb3a60f729a8dc8f777fd2fc07cd8df4"
    assert tiktoken_name("p50k_base.tiktoken") == "ec7223a39ce59f226a68acc30dc1af2788490e15"
    assert tiktoken_name("o200k_base.tiktoken") == "fb374d419588a4632f3f557e76b4b70aebbca790"


def test_tiktoken_cache_comes_before_the_user_cache(monkeypatch, tmp_path, sample):
    monkeypatch.setitem(KNOWN_FILES, SAMPLE, KnownFile(SAMPLE_URL, sample.sha256, in_tiktoken_cache=True))
    write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    good = write(tmp_path / "tiktoken" / tiktoken_name(SAMPLE), SAMPLE_BYTES)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    assert npllm.data.path(SAMPLE) == good
    assert npllm.data.where(SAMPLE) == ("tiktoken cache", good)


def test_tiktoken_cache_is_not_used_for_texts(monkeypatch, tmp_path, offline):
    write(tmp_path / "tiktoken" / tiktoken_name(SAMPLE), SAMPLE_BYTES)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    with pytest.raises(DataFileError):
        npllm.data.path(SAMPLE)
    assert offline == [SAMPLE_URL]


def test_a_corrupt_tiktoken_cache_file_is_skipped(monkeypatch, tmp_path, sample):
    monkeypatch.setitem(KNOWN_FILES, SAMPLE, KnownFile(SAMPLE_URL, sample.sha256, in_tiktoken_cache=True))
    bad = write(tmp_path / "tiktoken" / tiktoken_name(SAMPLE), b"not the file")
    cached = write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    assert npllm.data.path(SAMPLE) == cached
    assert bad.read_bytes() == b"not the file"  # tiktoken's cache is tiktoken's: left alone


# --- 4. the user cache ------------------------------------------------------------------------------


def test_user_cache_dir_follows_xdg_cache_home(tmp_path):
    assert npllm.data.user_cache_dir() == tmp_path / "xdg" / "npllm"


def test_user_cache_dir_defaults_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert npllm.data.user_cache_dir() == tmp_path / "home" / ".cache" / "npllm"


def test_path_finds_a_file_in_the_user_cache(tmp_path, offline):
    cached = write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    assert npllm.data.path(SAMPLE) == cached
    assert npllm.data.where(SAMPLE) == ("user cache", cached)
    assert offline == []


def test_read_text_decodes_utf8_and_keeps_crlf(tmp_path):
    write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES)
    text = npllm.data.read_text(SAMPLE)
    assert text == SAMPLE_BYTES.decode("utf-8")
    assert "\r\n" in text


def test_a_corrupt_user_cache_file_is_rejected_and_named(tmp_path, offline):
    bad = write(user_cache(tmp_path) / SAMPLE, SAMPLE_BYTES[:-1])
    assert npllm.data.where(SAMPLE) == ("missing", None)
    with pytest.raises(DataFileError) as info:
        npllm.data.path(SAMPLE)
    assert str(bad) in str(info.value)
    assert offline == [SAMPLE_URL]  # the corrupt copy was not returned: a download was tried


def test_a_corrupt_user_cache_file_is_replaced_by_a_download(monkeypatch, tmp_path):
    bad = write(user_cache(tmp_path) / SAMPLE, b"truncated")
    requested = serve(monkeypatch, SAMPLE_BYTES)
    assert npllm.data.path(SAMPLE) == bad
    assert bad.read_bytes() == SAMPLE_BYTES
    assert [url for url, _ in requested] == [SAMPLE_URL]


# --- 5. the download ------------------------------------------------------------------------------


def test_offline_error_names_the_file_the_url_and_npllm_data_dir(tmp_path, offline):
    assert npllm.data.where(SAMPLE) == ("missing", None)
    with pytest.raises(DataFileError) as info:
        npllm.data.path(SAMPLE)
    message = str(info.value)
    assert SAMPLE in message
    assert SAMPLE_URL in message
    assert "NPLLM_DATA_DIR" in message
    assert f"npllm data fetch {SAMPLE}" in message
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert offline == [SAMPLE_URL]
    assert leftovers(user_cache(tmp_path)) == []
    assert not (user_cache(tmp_path) / SAMPLE).exists()


def test_a_timeout_is_a_data_file_error_too(monkeypatch):
    def timeout(url, *args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", timeout)
    with pytest.raises(DataFileError, match="timed out"):
        npllm.data.path(SAMPLE)


def test_a_download_is_verified_and_cached(monkeypatch, tmp_path):
    requested = serve(monkeypatch, SAMPLE_BYTES)
    got = npllm.data.fetch(SAMPLE)
    assert got == user_cache(tmp_path) / SAMPLE
    assert got.read_bytes() == SAMPLE_BYTES
    assert requested == [(SAMPLE_URL, npllm.data.DOWNLOAD_TIMEOUT_S)]
    assert sorted(p.name for p in user_cache(tmp_path).iterdir()) == [SAMPLE]  # no .part left
    # the second call finds the cached copy and asks the network for nothing
    assert npllm.data.path(SAMPLE) == got
    assert len(requested) == 1


def test_a_downloaded_file_has_the_permissions_of_a_plain_open(monkeypatch, tmp_path):
    serve(monkeypatch, SAMPLE_BYTES)
    old = os.umask(0o022)
    try:
        got = npllm.data.path(SAMPLE)
    finally:
        os.umask(old)
    assert stat.S_IMODE(got.stat().st_mode) == 0o644


def test_a_download_of_a_nested_name_creates_its_folder(monkeypatch, tmp_path, sample):
    monkeypatch.setitem(KNOWN_FILES, "texts/sample.txt", sample)
    serve(monkeypatch, SAMPLE_BYTES)
    got = npllm.data.path("texts/sample.txt")
    assert got == user_cache(tmp_path) / "texts" / "sample.txt"
    assert got.read_bytes() == SAMPLE_BYTES
    assert leftovers(user_cache(tmp_path)) == []


def test_a_download_with_the_wrong_content_raises_and_saves_nothing(monkeypatch, tmp_path):
    serve(monkeypatch, SAMPLE_BYTES.replace(b"known", b"known!"))
    with pytest.raises(DataFileError) as info:
        npllm.data.path(SAMPLE)
    message = str(info.value)
    assert SAMPLE in message and SAMPLE_URL in message and "NPLLM_DATA_DIR" in message
    assert KNOWN_FILES[SAMPLE].sha256 in message
    cache = user_cache(tmp_path)
    assert not cache.exists() or list(cache.rglob("*")) == []


def test_a_failed_write_leaves_no_part_file(monkeypatch, tmp_path):
    serve(monkeypatch, SAMPLE_BYTES)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(npllm.data.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        npllm.data.path(SAMPLE)
    assert leftovers(user_cache(tmp_path)) == []
    assert not (user_cache(tmp_path) / SAMPLE).exists()


def test_the_file_appears_whole_or_not_at_all(monkeypatch, tmp_path):
    """The content is written to a .part file in the same folder, then renamed over the target."""
    serve(monkeypatch, SAMPLE_BYTES)
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        src, dst = pathlib.Path(src), pathlib.Path(dst)
        renames.append((src.name, dst, src.read_bytes() == SAMPLE_BYTES, dst.exists()))
        real_replace(src, dst)

    monkeypatch.setattr(npllm.data.os, "replace", recording_replace)
    npllm.data.path(SAMPLE)
    [(src_name, dst, complete, dst_existed)] = renames
    assert src_name.endswith(".part")
    assert dst == user_cache(tmp_path) / SAMPLE
    assert complete and not dst_existed
