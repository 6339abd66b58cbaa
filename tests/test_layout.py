"""The package is laid out as the pipeline: one subpackage per stage, small modules, each with its rule.

The core's independence from torch and paddle is proven in test_import.py (a child process where
neither can be imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import padiff

PACKAGE = Path(padiff.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
LINE_LIMIT = 300
STAGES = ("frameworks", "capture", "weights", "match", "judge", "localize", "report")


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_every_stage_is_a_subpackage():
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_short(path):
    lines = path.read_text().count("\n")
    assert lines <= LINE_LIMIT, f"{_name(path)} has {lines} lines; split it by responsibility"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_has_a_docstring(path):
    if path.name == "__init__.py" and path.parent == PACKAGE:
        return  # the package docstring is checked below
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring) > 20, f"{_name(path)} needs a docstring stating its rule"


def test_package_init_only_reexports():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Assign"}, kinds  # docstring, imports, __version__/__all__
    assert ast.get_docstring(tree)


def test_the_line_limit_check_can_fail(tmp_path):
    """Negative control: the same count on a long file is over the limit."""
    long_module = tmp_path / "long.py"
    long_module.write_text('"""A module."""\n' + "x = 1\n" * (LINE_LIMIT + 1))
    assert long_module.read_text().count("\n") > LINE_LIMIT
