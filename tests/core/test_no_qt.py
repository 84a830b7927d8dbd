"""core/ is a plain-Python library: it must never import Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
QT_PACKAGES = {"PySide6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph", "shiboken6", "pytestqt"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_core_module_imports_qt():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(CORE)): imported_roots(f) & QT_PACKAGES for f in files}
    assert {f: qt for f, qt in offenders.items() if qt} == {}


def test_importing_all_of_core_loads_no_qt():
    modules = [".".join(p.relative_to(CORE.parent).with_suffix("").parts) for p in CORE.rglob("*.py")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name.removesuffix('.__init__'))\n"
        f"print(sorted(set(m.split('.')[0] for m in sys.modules) & {QT_PACKAGES!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=CORE.parent, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
