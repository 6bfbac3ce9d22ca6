"""The seams between npllm's modules, read from the source (DESIGN.md, "Imports run one way").

Two promises, proved by walking every module's syntax tree, no import needed:
- no module imports, reads or writes another module's underscored name: what two modules
  share is public, or lives in a private helpers module (`npllm/_lazy.py`) that both import;
- the imports between npllm's modules form no cycle, counting those inside functions too.
  An import inside a function runs later, on first use, and is allowed (to keep `import npllm`
  light; `function_local_imports` lists them), but it may not close a loop: two modules that
  need each other, at whatever time, are one module in two files.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "npllm"


def module_name(path: pathlib.Path) -> str:
    """npllm/bpe/encoding.py -> "npllm.bpe.encoding"; npllm/bpe/__init__.py -> "npllm.bpe"."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


TREES = {module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {module_name(p) for p in PACKAGE.rglob("__init__.py")}


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module if module in PACKAGES else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def imports(module: str, tree: ast.Module, *, local: bool):
    """(line, imported npllm module, names taken from it) for each import at module level
    (local=False; `if TYPE_CHECKING:` blocks left out) or inside a function (local=True)."""

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import) and inside == local:
                for alias in child.names:
                    if alias.name.split(".")[0] == "npllm":
                        yield child.lineno, alias.name, ()
            elif isinstance(child, ast.ImportFrom) and inside == local:
                source = absolute(module, child)
                if source.split(".")[0] == "npllm":
                    yield child.lineno, source, tuple(alias.name for alias in child.names)
            yield from walk(child, inside)

    yield from walk(tree, False)


def private_imports() -> list[str]:
    """`from npllm.x import _name` anywhere in the package, unless `_name` is a module itself."""
    found = []
    for module, tree in TREES.items():
        for local in (False, True):
            for line, source, names in imports(module, tree, local=local):
                for name in names:
                    if is_private(name) and f"{source}.{name}" not in TREES and source != module:
                        found.append(f"{module}:{line}: from {source} import {name}")
    return found


def module_aliases(module: str, tree: ast.Module) -> dict[str, str]:
    """Local name -> npllm module, for every `import npllm.x [as y]` and `from npllm import x`."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "npllm":
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases["npllm"] = "npllm"
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in TREES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    return aliases


def dotted(node: ast.expr) -> str | None:
    """`npllm.bpe.encoding` for the attribute chain that spells it, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def classes(tree: ast.Module) -> set[str]:
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def own_privates(tree: ast.Module) -> set[str]:
    """The underscored names this module defines: functions, methods, classes, `self._x = ...`."""
    names = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    stores = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)]
    names |= {node.attr for node in stores}
    return {name for name in names if is_private(name)}


def private_attributes() -> list[str]:
    """`x._name` where x is another npllm module, or an object that is not `self`, `cls`, a class
    of this module, or a plain local name holding this module's own kind of object (a classmethod's
    `enc = cls.__new__(cls); enc._setup(...)`): another object's privates are reached through its
    public seam, so `self.token._ids` and `enc._explicit_n_vocab` from another module are out."""
    found = []
    for module, tree in TREES.items():
        aliases, own_classes, own = module_aliases(module, tree), classes(tree), own_privates(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            base = dotted(node.value)
            if base is not None:
                head, _, rest = base.partition(".")
                if head in aliases:
                    target = f"{aliases[head]}.{rest}" if rest else aliases[head]
                    if target in TREES and target != module:
                        found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
                    continue
                if base in ("self", "cls") or base in own_classes:
                    continue
                if "." not in base and node.attr in own:
                    continue
                if "." not in base and base not in assigned_names(tree):
                    continue  # a module from outside npllm (sys._getframe): not this test's business
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return found


def assigned_names(tree: ast.Module) -> set[str]:
    """Names this module binds other than by an import: variables, parameters, loop targets."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def import_graph(with_local: bool = True) -> dict[str, set[str]]:
    """npllm module -> the npllm modules it imports (at module level, and inside functions unless
    with_local=False). A module's own parent packages are left out: they are already being
    imported when it runs."""
    graph = {}
    for module, tree in TREES.items():
        edges = set()
        found = [*imports(module, tree, local=False), *(imports(module, tree, local=True) if with_local else ())]
        for _, source, names in found:
            targets = [source] + [f"{source}.{name}" for name in names if f"{source}.{name}" in TREES]
            for target in targets:
                if target in TREES and target != module and not module.startswith(target + "."):
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def function_local_imports() -> list[str]:
    """Every import of an npllm module inside a function: allowed, listed here to be seen."""
    return [
        f"{module}:{line}: {source}" + (f" ({', '.join(names)})" if names else "")
        for module, tree in TREES.items()
        for line, source, names in imports(module, tree, local=True)
    ]


def test_the_walk_sees_the_whole_package():
    assert {"npllm", "npllm.bpe", "npllm.bpe.encoding", "npllm.loader", "npllm.cli"} <= set(TREES)
    assert import_graph()["npllm.model"] >= {"npllm.embedding"}


def test_no_module_imports_another_modules_private_names():
    assert private_imports() == []


def test_no_module_reaches_into_another_objects_private_attributes():
    assert private_attributes() == []


def test_imports_have_no_cycle_not_even_inside_functions():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from npllm.a import _x\n", ["npllm.m:1: from npllm.a import _x"]),
        ("from .a import _x\n", ["npllm.m:1: from npllm.a import _x"]),
        ("def f():\n    from npllm.a import _x\n", ["npllm.m:2: from npllm.a import _x"]),
        ("from npllm.a import x, __version__\n", []),
    ],
)
def test_the_walk_finds_a_private_import(monkeypatch, source, expected):
    monkeypatch.setattr(__import__(__name__), "TREES", {"npllm.m": ast.parse(source), "npllm.a": ast.parse("")})
    assert private_imports() == expected


def test_the_walk_finds_a_private_attribute_and_a_cycle(monkeypatch):
    trees = {
        "npllm.m": ast.parse(
            "import npllm.a as a\nfrom npllm import a as b\na._x\nb._y\ndef f(o):\n    o._z = 1\n    o.p._w\n"
        ),
        "npllm.a": ast.parse("from npllm.m import f\n"),
    }
    monkeypatch.setattr(__import__(__name__), "TREES", trees)
    assert private_attributes() == ["npllm.m:3: a._x", "npllm.m:4: b._y", "npllm.m:7: o.p._w"]
    assert cycles(import_graph()) == [["npllm.a", "npllm.m"]]


def test_an_import_inside_a_function_can_close_a_cycle(monkeypatch):
    trees = {"npllm.m": ast.parse("import npllm.a\n"), "npllm.a": ast.parse("def f():\n    from npllm import m\n")}
    monkeypatch.setattr(__import__(__name__), "TREES", trees)
    assert cycles(import_graph(with_local=False)) == []
    assert cycles(import_graph()) == [["npllm.a", "npllm.m"]]


if __name__ == "__main__":  # python tests/test_seams.py: what the test sees
    print("function-local imports:", *function_local_imports(), sep="\n  ")
    print("private imports:", *private_imports(), sep="\n  ")
    print("private attributes:", *private_attributes(), sep="\n  ")
    print("cycles:", *cycles(import_graph()), sep="\n  ")
