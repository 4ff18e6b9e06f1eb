"""NSO version strings ("6.5.3", "6.4.1.2", "6.6_250101") compared as tuples of ints."""

from __future__ import annotations

import re


def vtuple(version: str) -> tuple[int, ...]:
    m = re.match(r"^(\d+(?:\.\d+)*)", version)
    if not m:
        return (0,)
    return tuple(int(x) for x in m.group(1).split("."))


def at_least(version: str, *minimum: int) -> bool:
    return vtuple(version) >= tuple(minimum)
