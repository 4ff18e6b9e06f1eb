"""Cross-references in the package's docstrings (:func:`name`, :class:`~a.b.Name`...) name
something the package defines: build_plan's pointed to ``container_start``, which is nowhere."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "nso_install"
ROLE = re.compile(r":(?:func|meth|class|data|attr|exc):`~?([A-Za-z_][\w.]*)`")


def _defined(trees: list[ast.Module]) -> set[str]:
    """Every name the package defines: functions, methods, classes, assignments, fields."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return names


def test_every_docstring_reference_names_something_defined():
    trees = {p: ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}
    defined = _defined(list(trees.values()))
    dangling = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for ref in ROLE.findall(ast.get_docstring(node, clean=False) or ""):
                    head = ref.split(".")[0]
                    if "." in ref and head != "nso_install" and importlib.util.find_spec(head) is not None:
                        continue  # another library's (pathlib.Path, sys.addaudithook)
                    if ref.rsplit(".", 1)[-1] not in defined:
                        dangling.append(f"{path.relative_to(PACKAGE.parent)}: {getattr(node, 'name', '')}: {ref}")
    assert dangling == []
