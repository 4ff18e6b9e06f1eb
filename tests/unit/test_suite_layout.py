"""The suite as CI collects it (unit and integration in one pytest run, rootdir imports):
two test modules of the same name, or a test importing from a conftest, break collection or
import the wrong module depending on the order the directories are collected in."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_module_names_are_unique_across_the_suite():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    assert [n for n, c in names.items() if c > 1] == []


def test_no_test_imports_from_a_conftest():
    bad = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
           if re.search(r"^\s*(from conftest import|import conftest)", p.read_text(), re.M)]
    assert bad == []
