"""The codebase keeps its own promises: no import cycle in core, facts about layer types on their classes.

The import floors themselves are import-linter contracts in ``pyproject.toml``, run by
``make test``; this module checks what those contracts cannot express.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

from core.layers import layer_types

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("core", "gui", "cli")
"""Code that must not keep facts about layer types; ``core/layers`` is where they live."""
LAYER_PACKAGE = ROOT / "core" / "layers"


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected components of more than one module in ``package``'s import graph.

    Imports inside functions count; imports under ``if TYPE_CHECKING:`` do not.
    """
    graph = grimp.build_graph(package, include_external_packages=False, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(root: str) -> None:
        # Tarjan's algorithm, iterative: deep import chains must not hit the recursion limit.
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = lowest[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                elif target in on_stack:
                    lowest[module] = min(lowest[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowest[parent] = min(lowest[parent], lowest[module])
            if lowest[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def type_name_facts(source: str, type_names: set[str]) -> list[str]:
    """Places in ``source`` that keep a fact about layer types outside their classes.

    Found: literal tuples, lists and sets of two or more layer type names; ``isinstance``
    checks on a layer class; comparisons of a ``type_name`` with a layer type name.
    Building a network by type name (``add_node("Conv2D", …)``) is data and allowed.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(names) >= 2 and len(names) == len(node.elts) and all(name in type_names for name in names):
                found.append(f"line {node.lineno}: a list of layer type names {names}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance" and len(node.args) == 2:
            target = node.args[1]
            classes = target.elts if isinstance(target, ast.Tuple) else [target]
            named = [c.id if isinstance(c, ast.Name) else getattr(c, "attr", "") for c in classes]
            if any(name in type_names for name in named):
                found.append(f"line {node.lineno}: isinstance on a layer class {named}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            reads_type = any(isinstance(side, ast.Attribute) and side.attr == "type_name" for side in sides)
            constants = {side.value for side in sides if isinstance(side, ast.Constant)}
            if reads_type and constants & type_names:
                found.append(f"line {node.lineno}: compares a type_name with {sorted(constants & type_names)}")
    return found


def test_core_has_no_import_cycle():
    assert import_cycles("core") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclic import b\n")
    (package / "b.py").write_text("from cyclic import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic") == [["cyclic.a", "cyclic.b"]]


@pytest.fixture(scope="module")
def type_names() -> set[str]:
    return {cls.type_name for cls in layer_types()}


def test_no_facts_about_layer_types_outside_their_classes(type_names):
    offenders = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if LAYER_PACKAGE in path.parents:
                continue
            offenders += [
                f"{path.relative_to(ROOT)} {place}" for place in type_name_facts(path.read_text("utf-8"), type_names)
            ]
    assert offenders == [], "facts about layer types belong on the layer class:\n" + "\n".join(offenders)


def test_the_fact_scanner_finds_each_kind(type_names):
    source = (
        "KINDS = ('ReLU', 'ELU')\n"
        "def f(node):\n"
        "    return isinstance(node.layer, Conv2D) or node.type_name == 'Dense'\n"
        "def g(document):\n"
        "    return document.add_node('Conv2D', name='conv')\n"
    )
    found = type_name_facts(source, type_names)
    assert [place.split(":")[0] for place in found] == ["line 1", "line 3", "line 3"]
