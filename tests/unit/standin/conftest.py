"""The stand-in tests' fixture; the helpers are in standin_support.py (a module name of its own:
"conftest" is shared by every test directory, so tests never import from it)."""

from standin_support import nso  # noqa: F401 (a fixture: pytest finds it here)

__all__ = ["nso"]
