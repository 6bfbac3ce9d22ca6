"""`npllm data`: where each known file is found, and `npllm data fetch` with sha256 checks;
offline, one clear error line. The network is cut off or faked in every test."""

import hashlib
import urllib.error
import urllib.request

import pytest
from cli_run import error_line, run
from fake_network import FakeResponse

import npllm.data
from npllm.data import KNOWN_FILES, KnownFile

TEXT = b"a small known text\n"


@pytest.fixture(autouse=True)
def machine(monkeypatch, tmp_path):
    """A fresh machine: no data folder, no tiktoken cache, an empty user cache, no network.
    The texts are stood in for by one small known file. Returns the URLs asked for."""
    monkeypatch.delenv("NPLLM_DATA_DIR", raising=False)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in ("the-verdict.txt", "tinyshakespeare.txt"):
        monkeypatch.delitem(KNOWN_FILES, name)
    monkeypatch.setitem(
        KNOWN_FILES, "small.txt", KnownFile("https://example.invalid/small.txt", hashlib.sha256(TEXT).hexdigest())
    )
    asked = []

    def no_network(url, *args, **kwargs):
        asked.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return asked


def listing(out: str) -> dict[str, tuple[str, str]]:
    """`npllm data`'s lines -> {name: (place, detail)}."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("user cache:"):
            continue
        name, rest = line.split(maxsplit=1)
        place = next(
            p for p in ("NPLLM_DATA_DIR", "bundled", "tiktoken cache", "user cache", "missing") if rest.startswith(p)
        )
        rows[name] = (place, rest[len(place) :].strip())
    return rows


def test_data_lists_every_known_file_and_where_it_is(capsys, tmp_path, machine):
    code, out, err = run(capsys, "data")
    assert (code, err) == (0, "")
    rows = listing(out)
    assert list(rows) == list(KNOWN_FILES)
    assert rows["small.txt"] == ("missing", "`npllm data fetch small.txt` downloads it")
    assert rows["o200k_base.tiktoken"] == ("bundled", str(npllm.data.bundled_dir() / "o200k_base.tiktoken.gz"))
    assert rows["gpt2/vocab.bpe"] == ("bundled", "rebuilt from r50k_base.tiktoken")
    assert f"user cache: {tmp_path / 'xdg' / 'npllm'}" in out
    assert machine == []  # listing never downloads


def test_data_shows_npllm_data_dir_and_the_user_cache(capsys, monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "small.txt").write_bytes(TEXT)
    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path / "data"))
    assert listing(run(capsys, "data")[1])["small.txt"] == ("NPLLM_DATA_DIR", str(tmp_path / "data" / "small.txt"))
    monkeypatch.delenv("NPLLM_DATA_DIR")
    cached = tmp_path / "xdg" / "npllm" / "small.txt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(TEXT)
    assert listing(run(capsys, "data")[1])["small.txt"] == ("user cache", str(cached))
    cached.write_bytes(TEXT + b"changed")  # a corrupt copy is not "here"
    assert listing(run(capsys, "data")[1])["small.txt"][0] == "missing"


def test_fetch_downloads_verifies_and_caches(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(TEXT))
    code, out, err = run(capsys, "data", "fetch")
    target = tmp_path / "xdg" / "npllm" / "small.txt"
    assert (code, err) == (0, "")
    assert out == f"small.txt: fetched into {target} (sha256 checked)\n"
    assert target.read_bytes() == TEXT
    assert run(capsys, "data", "fetch") == (0, "every known file is here already (see `npllm data`)\n", "")
    assert run(capsys, "data", "fetch", "small.txt", "cl100k_base.tiktoken") == (
        0,
        f"small.txt: here already (user cache: {target})\ncl100k_base.tiktoken: bundled with npllm, nothing to fetch\n",
        "",
    )


def test_fetch_offline_is_one_line_naming_the_file_and_the_fix(capsys, tmp_path, machine):
    code, out, err = run(capsys, "data", "fetch", "small.txt")
    assert (code, out) == (1, "")
    line = error_line(err)
    assert "small.txt" in line and "https://example.invalid/small.txt" in line and "NPLLM_DATA_DIR" in line
    assert machine == ["https://example.invalid/small.txt"]
    assert not (tmp_path / "xdg" / "npllm" / "small.txt").exists()


def test_fetch_of_a_wrong_download_saves_nothing(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(TEXT + b"tampered"))
    code, out, err = run(capsys, "data", "fetch", "small.txt")
    assert (code, out) == (1, "")
    assert "sha256" in error_line(err)
    assert not (tmp_path / "xdg" / "npllm" / "small.txt").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "fetch", "no-such.txt"], "unknown data file 'no-such.txt'"),
        (["data", "list", "small.txt"], "takes no names"),
        (["data", "remove"], "invalid choice"),
    ],
)
def test_bad_data_arguments_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert message in error_line(err)
