"""`import npllm` is light: the standard library, numpy and regex, nothing else.

Checked in a fresh interpreter, since this test session has long since imported pytest,
hypothesis and (elsewhere) tiktoken.
"""

import json
import subprocess
import sys

import npllm

ALLOWED = {"npllm", "numpy", "regex"}
FORBIDDEN = ["tiktoken", "hypothesis", "pytest", "torch"]
# Not in sys.stdlib_module_names but put there by the standard library itself:
# multiprocessing registers the main module a second time as __mp_main__.
STDLIB_ALIASES = {"__main__", "__mp_main__"}

# Runs in the child. Modules already loaded before `import npllm` come from the interpreter's
# own start-up (site, .pth hooks such as the editable-install finder), not from npllm.
PROBE = """
import json, sys
before = set(sys.modules)
import npllm
print(json.dumps({"before": sorted(before), "after": sorted(sys.modules)}))
"""


def import_npllm_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def top(module_name):
    return module_name.split(".")[0]


def test_import_npllm_loads_no_heavy_or_test_modules():
    modules = import_npllm_in_a_fresh_interpreter()
    loaded = {top(m) for m in modules["after"]}
    assert "npllm" in loaded  # the probe did import it
    assert [m for m in FORBIDDEN if m in loaded] == []


def test_import_npllm_loads_only_stdlib_numpy_and_regex():
    modules = import_npllm_in_a_fresh_interpreter()
    new = set(modules["after"]) - set(modules["before"])
    assert "npllm" in new
    outside = sorted(m for m in new if top(m) not in sys.stdlib_module_names and top(m) not in ALLOWED | STDLIB_ALIASES)
    assert outside == []


def test_all_names_exist():
    assert len(npllm.__all__) == len(set(npllm.__all__))
    missing = [name for name in npllm.__all__ if not hasattr(npllm, name)]
    assert missing == []
    assert {"__version__", "split_words", "build_vocab", "SimpleTokenizerV1", "SimpleTokenizerV2"} <= set(npllm.__all__)


def test_star_import_gives_exactly_all():
    namespace = {}
    exec("from npllm import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(npllm.__all__)
