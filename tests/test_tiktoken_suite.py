"""tiktoken's own published tests, run against npllm: every one must pass.

The tests come from tiktoken's 0.14.0 source distribution on PyPI, fetched once with
`pip download` into the user cache (`$XDG_CACHE_HOME/npllm/tiktoken-sdist`, never the
repository); only the archive's `tests/` folder is extracted. They run, unmodified, in a child
pytest whose PYTHONPATH starts with `tests/tiktoken_shim/`, where `import tiktoken` finds npllm
under tiktoken's name. Every test they collect must pass: none failed, skipped or deselected.

npllm reaches the child through a folder named `site-packages` (a link to this checkout's
`npllm/`), as tiktoken reaches its own CI: installed. It matters to hypothesis, which feeds
string literals of *local* code -- anything outside site-packages and the standard library --
into `st.text()`. Seen as local, npllm's source hands it "<|fim_middle|>", and
`test_hyp_roundtrip` then fails in about one run in 40 with the ValueError tiktoken itself raises
for that text (its `encode` refuses special tokens by default); installed tiktoken never gets
its own literals back, so its CI never meets them.

Skipped only when the package index cannot be reached, and never with NPLLM_REQUIRE_REFERENCES=1.
`TIKTOKEN_MAX_EXAMPLES` (hypothesis examples per test, 100 by default), which tiktoken's
`test_helpers.py` reads, passes through to the child.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from reference import REQUIRE_ENV, references_required

import npllm.data

VERSION = "0.14.0"
SDIST = f"tiktoken-{VERSION}"  # the archive's top folder, and the name of the archive
TESTS = Path(__file__).resolve().parent
SHIM = TESTS / "tiktoken_shim"  # holds the package `tiktoken` that re-exports npllm
PACKAGE = TESTS.parent / "npllm"

# Words in pip's output that mean the index could not be reached, as opposed to a real error.
NETWORK_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
)

# Runs in the child, with the child's PYTHONPATH: which tiktoken does it import?
PROBE = """
import tiktoken, npllm
assert tiktoken.get_encoding is npllm.get_encoding, tiktoken.__file__
print(tiktoken.__file__)
print(npllm.__file__)
"""


def cache_dir() -> Path:
    return npllm.data.user_cache_dir() / "tiktoken-sdist"


def tiktoken_tests() -> Path:
    """The folder of tiktoken's published tests: downloaded and extracted on first use only."""
    root = cache_dir()
    tests = root / SDIST / "tests"
    if not tests.is_dir():  # whole or absent: extract_tests renames a finished folder into place
        root.mkdir(parents=True, exist_ok=True)
        archive = root / f"{SDIST}.tar.gz"
        if not archive.is_file():
            download_sdist(root)
        extract_tests(archive, root)
    return tests


def download_sdist(root: Path) -> None:
    """`pip download` tiktoken's source archive into `root` (through a temporary folder there)."""
    staging = Path(tempfile.mkdtemp(prefix="download-", dir=root))
    try:
        # --no-binary tiktoken, not :all:: the same archive, but pip's metadata step then gets
        # its build tools (setuptools, setuptools-rust) as wheels instead of building them from
        # source: 3 s instead of 30 s on an empty pip cache.
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "tiktoken",
            "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "20",
            f"tiktoken=={VERSION}", "-d", str(staging),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        output = result.stdout + result.stderr
        if result.returncode != 0:
            unreachable = [line for line in output.splitlines() if any(w in line for w in NETWORK_ERRORS)]
            if unreachable:
                index_unreachable(unreachable[-1].strip()[:300])
            pytest.fail(f"pip download of tiktoken=={VERSION} failed:\n{output[-3000:]}", pytrace=False)
        os.replace(staging / f"{SDIST}.tar.gz", root / f"{SDIST}.tar.gz")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def index_unreachable(reason: str) -> None:
    message = f"pip cannot reach the package index for tiktoken=={VERSION}'s tests: {reason}"
    if references_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1, so the reference must be available)", pytrace=False)
    pytest.skip(f"{message} (set {REQUIRE_ENV}=1 to make this a failure)")


def extract_tests(archive: Path, root: Path) -> None:
    """Extract `<SDIST>/tests/` alone: plain files and folders, no path leaving the archive."""
    staging = Path(tempfile.mkdtemp(prefix="extract-", dir=root))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.name.startswith(f"{SDIST}/tests/") and ".." not in Path(m.name).parts and (m.isfile() or m.isdir())
            ]
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and 3.12): refuse anything odd
                tar.extractall(staging, members=members, filter="data")
            else:
                tar.extractall(staging, members=members)
        assert (staging / SDIST / "tests" / "test_encoding.py").is_file(), f"{archive} has no tests/"
        (root / SDIST).mkdir(exist_ok=True)
        try:
            os.rename(staging / SDIST / "tests", root / SDIST / "tests")
        except OSError:  # another run put it there first
            if not (root / SDIST / "tests").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def installed_npllm(tmp_path: Path) -> Path:
    """tmp_path/site-packages, holding this checkout's npllm: a link, or a copy where links fail."""
    site = tmp_path / "site-packages"
    site.mkdir()
    try:
        (site / "npllm").symlink_to(PACKAGE, target_is_directory=True)
    except OSError:  # Windows without the symlink privilege
        shutil.copytree(PACKAGE, site / "npllm")
    return site


def child_env(site: Path) -> dict[str, str]:
    """This environment, with the shim, then `site` (npllm), first on PYTHONPATH and no PYTEST_*
    variables (PYTEST_ADDOPTS could deselect or skip)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), str(site), os.environ.get("PYTHONPATH")] if p)
    return env


def summary_counts(output: str) -> dict[str, int]:
    """pytest's last line as counts. "7 failed, 26 passed, 5 warnings in 5.34s" ->
    {"failed": 7, "passed": 26, "warnings": 5}."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    assert lines, f"no pytest summary line in:\n{output[-3000:]}"
    return {word: int(n) for n, word in re.findall(r"(\d+) ([a-z]+)", lines[-1].strip("= "))}


def assert_child_imports_npllm_as_tiktoken(env: dict[str, str], site: Path, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert result.returncode == 0, result.stderr
    tiktoken_file, npllm_file = map(Path, result.stdout.splitlines())
    assert tiktoken_file.resolve() == SHIM / "tiktoken" / "__init__.py"
    assert npllm_file == site / "npllm" / "__init__.py"  # not the editable install's path
    assert npllm_file.resolve().read_bytes() == (PACKAGE / "__init__.py").read_bytes()


def test_the_childs_tiktoken_is_npllm(tmp_path):
    site = installed_npllm(tmp_path)
    assert_child_imports_npllm_as_tiktoken(child_env(site), site, tmp_path)


def test_tiktokens_own_tests_pass_against_npllm(tmp_path):
    tests = tiktoken_tests()
    site = installed_npllm(tmp_path)
    env = child_env(site)
    assert_child_imports_npllm_as_tiktoken(env, site, tmp_path)  # else the run below would test tiktoken
    command = [
        sys.executable, "-m", "pytest", "-q", "-ra", "--tb=short", "-p", "no:cacheprovider",
        # hermetic: no ini file or conftest.py from the folders above the cache
        "-c", os.devnull, "--rootdir", str(tests.parent), "--confcutdir", str(tests.parent),
        str(tests),
    ]  # fmt: skip
    # cwd: hypothesis keeps its example database in ./.hypothesis
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    output = result.stdout + result.stderr
    counts = summary_counts(output)
    counts.pop("warning", None)
    counts.pop("warnings", None)
    passed = counts.pop("passed", 0)
    assert counts == {}, f"tiktoken's tests against npllm: {counts}, {passed} passed\n{output[-20000:]}"
    assert result.returncode == 0, output[-5000:]
    assert passed > 20, output[-5000:]
