"""The layout: modules that moved are gone from their old paths, and layers import downward.

The import check reads the source (every `import`, including those inside functions) and
follows the package's own imports to the modules they name, so it needs no import of the
package under test and sees imports that only run on some paths.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import geoinfer_workflows

ROOT = Path(geoinfer_workflows.__file__).parent
TOP = "geoinfer_workflows"
# Each layer and the layers it may import (docs/architecture.md draws them): the base
# (errors, the point table, parameter validation) under the GEO-INFER modules, the
# synthetic inputs, the orchestration (with the opt-in cache a run may be given) and the
# spatial store; the workflows over those; the harness apart from the workflows (it
# measures any callable); the command line over everything.
BASE = ("errors", "table", "validation")
MAY_IMPORT = {
    "modules": (*BASE, "modules"),
    "synthetic": (*BASE, "modules", "synthetic"),
    "orchestration": (*BASE, "orchestration"),
    "workflows": (*BASE, "modules", "synthetic", "orchestration", "workflows"),
    "harness": (*BASE, "harness"),
    "store": (*BASE, "modules", "store"),
    "distributed": (*BASE, "modules", "synthetic", "orchestration", "workflows", "distributed"),
}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("geoinfer_workflows.modules.data", "modules.ingest"),
        ("geoinfer_workflows.perf", "harness (monitor, load, budgets), orchestration"),
        ("geoinfer_workflows.harness.cache", "orchestration.cache"),
        ("geoinfer_workflows.data", "synthetic"),
        ("geoinfer_workflows.orchestrator", "orchestration.pipeline"),
    ],
)
def test_moved_modules_are_gone_from_their_old_paths(old: str, new: str) -> None:
    assert importlib.util.find_spec(old) is None, f"{old} still exists; it moved to {new}"


def _source_file(module: str) -> Path | None:
    """The file of a module of this package (a module or a package's __init__), if any."""
    base = ROOT.joinpath(*module.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(path: Path, module: str) -> set[str]:
    """Every module of this package that `path` (the file of `module`) imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            # `from pkg import name` may name a submodule
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith(f"{TOP}.") and _source_file(n) is not None}


def _with_parents(module: str) -> set[str]:
    """The module and the packages Python imports first, except the top-level facade."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts) + 1)}


def _import_closure(package: str) -> set[str]:
    """Modules of this package reached from `package`'s files by their imports."""
    start = {
        package + ("" if p.name == "__init__.py" else f".{p.stem}")
        for p in ROOT.joinpath(*package.split(".")[1:]).glob("*.py")
    }
    seen: set[str] = set()
    todo = sorted(start)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _source_file(module)
        if path is not None:
            for name in _imported_modules(path, module):
                todo.extend(_with_parents(name) - seen)
    return seen


def _layer(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_layers_import_downward_only(layer: str) -> None:
    reached = _import_closure(f"{TOP}.{layer}")
    assert any(_layer(m) == layer for m in reached)  # the walk found the layer's modules
    upward = sorted(m for m in reached if _layer(m) not in MAY_IMPORT[layer])
    assert not upward, f"{layer} imports what it may not: {upward}"
