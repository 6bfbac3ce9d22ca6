"""Names a package hands out on first use (PEP 562), shared by `npllm` and `npllm.bpe`.

`lazy_getattr(namespace, sources, submodules)` returns the package's module `__getattr__`:
a public name is imported from the module `sources` names, a submodule by its name, and either
is then kept in the package's namespace so the next lookup is a plain one.
"""

import sys


def lazy_getattr(namespace: dict, sources: dict, submodules: frozenset):
    """The `__getattr__` of the package whose globals are `namespace`.
    sources: public name -> defining module ("Encoding" -> "npllm.bpe.encoding")."""
    package = namespace["__name__"]

    def __getattr__(name: str):
        if name in sources:
            value = getattr(imported(sources[name]), name)
        elif name in submodules:
            value = imported(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value  # the next lookup is a plain one; __getattr__ is not called again
        return value

    return __getattr__


def imported(module: str):
    """The module, imported by the import statement's own machinery (importlib.import_module
    would hide it from `python -X importtime`)."""
    __import__(module)
    return sys.modules[module]
