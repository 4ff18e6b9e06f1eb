"""Documents generated from the code (docs/checks.md, the man page): written to the path given
on the command line, or printed.  Their ``python -m`` entry points share this."""

from __future__ import annotations

import sys
from pathlib import Path


def emit(text: str, argv: list[str] | None = None) -> int:
    """``text`` written to ``argv[0]`` (its directory made when missing), or to stdout."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        Path(argv[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
