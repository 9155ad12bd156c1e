"""The package reads by the data flow, and a lower layer never imports a higher one.

io -> data -> nn -> models -> flow -> pipeline -> commands, with train and eval beside the
pipeline. Every import counts, including those inside functions (a function-level import is
how an import circle hides), so the check walks the whole syntax tree of every module.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "meshflow"

# Rank of each top-level part of the package: a module may import only parts of lower or equal rank.
LAYERS = {
    "errors": 0, "progress": 0, "version": 0, "cache": 0, "resources": 0,
    "io": 1,
    "data": 2,
    "nn": 3,
    "models": 4, "text": 4,
    "flow": 5,
    # beside one another: eval scores what the pipeline makes, train validates with eval's metrics
    "pipeline": 6, "train": 6, "eval": 6,
    "sequence": 6, "region": 6,  # long clips and region control, on top of the pipeline
    "ranking": 6,  # the pipeline's ranking of samples by shape
    "rig": 6,  # fits rigs to animations (io, data) and writes skinned glTF
    "demo": 8,
    "commands": 9, "cli": 9, "__main__": 10, "__init__": 10,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """Every ``meshflow`` module the file imports, anywhere in it (absolute names)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "meshflow":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "meshflow":
                continue
            # `from . import x` imports the submodule x when there is one.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if _exists(sub) else target), node.lineno


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph():
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = sorted(set(_imports(path)))
    return graph


def test_every_part_has_a_rank():
    unknown = sorted({_layer(m) for m in _graph()} - set(LAYERS))
    assert not unknown, f"give these parts of meshflow a rank in LAYERS: {unknown}"


def test_no_upward_imports():
    bad = []
    for module, imports in _graph().items():
        rank = LAYERS.get(_layer(module), 99)
        for target, line in imports:
            if LAYERS.get(_layer(target), 99) > rank:
                bad.append(f"{module}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_io_knows_nothing_of_pyg():
    bad = []
    for path in sorted((PACKAGE / "io").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "torch_geometric"]
    assert not bad, bad


def test_no_import_circle():
    graph = {m: {t for t, _ in imps if t != m} for m, imps in _graph().items()}
    # A package's __init__ re-exporting its submodules is not a circle: only edges between modules count.
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t.startswith(m + ".") or m.startswith(t + ".") and _is_package(t):
                continue  # a package and its own submodules
            if state.get(t) == 1:
                circles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t in graph and not state.get(t):
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m)
    assert not circles, "\n".join(circles)


def _is_package(module: str) -> bool:
    return (PACKAGE.parent.joinpath(*module.split(".")) / "__init__.py").is_file()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_files_stay_readable(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 600, f"{path.relative_to(PACKAGE)} has {lines} lines (expected at most 600)"
