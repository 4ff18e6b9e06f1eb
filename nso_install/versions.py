"""NSO version strings ("6.5.3", "6.4.1.2", "6.6_250101") compared as tuples of ints."""

from __future__ import annotations

import re


def vtuple(version: str) -> tuple[int, ...]:
    """Leading numeric components: "6.5.3" -> (6, 5, 3); stops at the first non-numeric piece."""
    parts = []
    for piece in re.split(r"[._-]", str(version)):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts) or (0,)


def at_least(version: str, *minimum: int) -> bool:
    return vtuple(version) >= tuple(minimum)
