"""Real text that every Python installation has: the source files of standard-library modules.

Their docstrings and comments are English prose, their code is code, and a few hold non-ASCII
text; together about 1 MB. Used where a test needs "some real text" rather than one known
file, so it runs offline. Imported as `from stdlib_corpus import stdlib_text`.
"""

import functools
import importlib.util

# Pure-Python modules present in every CPython 3.10+ install, largest prose first.
MODULES = (
    "argparse",
    "textwrap",
    "difflib",
    "pathlib",
    "typing",
    "inspect",
    "pydoc",
    "tarfile",
    "zipfile",
    "logging",
    "email.message",
    "http.client",
    "unittest.case",
    "collections",
    "json.decoder",
    "string",
    "ast",
    "dataclasses",
    "functools",
    "subprocess",
    "calendar",
)


@functools.cache
def stdlib_text() -> str:
    """The modules' sources, joined by blank lines (line ends kept as the files have them)."""
    texts = []
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue  # a build without sources (.pyc only): fewer modules, same kind of text
        with open(spec.origin, encoding="utf-8", newline="") as f:
            texts.append(f.read())
    text = "\n\n".join(texts)
    if len(text) < 100_000:
        raise RuntimeError(f"only {len(text):,} characters of standard-library source found: a stripped Python")
    return text
