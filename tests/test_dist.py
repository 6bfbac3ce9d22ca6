"""The package as users get it: the sdist and the wheel built from it hold every bundled
vocabulary, and each decompresses to the file OpenAI published (tiktoken's sha256).

Builds with `python -m build` (the `build` package of the test extra) into a temporary folder,
in an isolated environment as pip does, so it needs the package index for setuptools; without
it the test skips, unless NPLLM_REQUIRE_REFERENCES=1 (CI), where it fails.
"""

import gzip
import hashlib
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest
from reference import references_required

from npllm.data import KNOWN_FILES

ROOT = pathlib.Path(__file__).resolve().parent.parent
RANK_FILES = [name for name, known in KNOWN_FILES.items() if known.bundled and name.endswith(".tiktoken")]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = " ".join(done.stdout.splitlines()[-3:] + done.stderr.splitlines()[-3:])
        if references_required():
            pytest.fail(f"python -m build failed: {tail}", pytrace=False)
        pytest.skip(f"python -m build failed (no package index to fetch setuptools from?): {tail}")
    return out


def test_the_wheel_holds_every_vocabulary_byte_exact(dist):
    [wheel] = dist.glob("npllm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in RANK_FILES:
            member = f"npllm/vocabularies/{name}.gz"
            assert member in names
            content = gzip.decompress(archive.read(member))
            assert hashlib.sha256(content).hexdigest() == KNOWN_FILES[name].sha256
    assert not [n for n in names if "verdict" in n or "shakespeare" in n]  # no texts


def test_the_sdist_holds_every_vocabulary_and_no_text(dist):
    [sdist] = dist.glob("npllm-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
        for name in RANK_FILES:
            member = archive.getmember(f"{sdist.name[: -len('.tar.gz')]}/npllm/vocabularies/{name}.gz")
            content = gzip.decompress(archive.extractfile(member).read())
            assert hashlib.sha256(content).hexdigest() == KNOWN_FILES[name].sha256
    assert "tests/conftest.py" in names and "setup.cfg" in names
    assert not [n for n in names if "verdict" in n or "shakespeare" in n]
