"""Secret values whose every printable form is masked.

Secrecy is a property of the value's type (not of the code that prints it): ``str()``,
``repr()``, ``format()`` and JSON encoding of a :class:`Secret` all give ``<secret>``.
Only :meth:`Secret.reveal` returns the bytes, and only writers call it.
"""

from __future__ import annotations

MASK = "<secret>"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: bytes | str):
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __str__(self) -> str:
        return MASK

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self):  # never pickled into logs or caches
        raise TypeError("Secret values cannot be pickled")


def json_default(obj: object) -> object:
    """``json.dumps(..., default=json_default)``: secrets are masked, paths become strings."""
    if isinstance(obj, Secret):
        return MASK
    return str(obj)
