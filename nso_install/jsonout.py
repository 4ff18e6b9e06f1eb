"""JSON for other programs (--json, --sarif): secrets masked, and strict Unicode.

A file name that is not UTF-8 reaches Python as lone surrogates (surrogateescape), which
``json.dumps`` writes as ``\\udcff``: valid JSON syntax, but no character, and strict parsers
(serde_json, GitHub's SARIF upload) reject the whole document.  Such a byte is written as the
text ``\\xff`` instead, as the terminal output shows it (``cli.common.printable``).
"""

from __future__ import annotations

import json
import re

from .secret import json_default

_SURROGATE = re.compile("[\ud800-\udfff]")


def _byte(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}"


def strict(obj: object) -> object:
    """``obj`` with every string (keys too) free of lone surrogates."""
    if isinstance(obj, str):
        return _SURROGATE.sub(_byte, obj) if _SURROGATE.search(obj) else obj
    if isinstance(obj, dict):
        return {strict(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: object, indent: int | None = 2) -> str:
    """``json.dumps`` for output: secrets masked, paths as strings, strict Unicode."""
    return json.dumps(strict(obj), indent=indent, default=lambda o: strict(json_default(o)))
