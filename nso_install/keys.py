"""Generators and validators for the secrets an NSO install needs.

Formats from NSO's docs (facts sheet section 8): ``ncs.crypto_keys`` in the legacy
one-generation format, ``AESCFB128_KEY`` 32 hex digits and ``AES256CFB128_KEY`` 64 hex
digits; DES3 keys only before NSO 6.5 (3DES was removed in 6.5).  The IPC access file holds
random printable ASCII (the vendor example uses ``token_urlsafe(32)``).
"""

from __future__ import annotations

import re
import secrets

from .secret import Secret
from .versions import at_least

_KEY_LINE = re.compile(r"^([A-Z0-9_]+)(\[-?\d+\])?=([0-9a-fA-F]+)$")


def crypto_key_lengths(version: str) -> dict[str, int]:
    """Key name -> number of hex digits, for the given NSO version."""
    keys = {"AESCFB128_KEY": 32, "AES256CFB128_KEY": 64}
    if not at_least(version, 6, 5):
        keys = {"DES3CBC_KEY1": 16, "DES3CBC_KEY2": 16, "DES3CBC_KEY3": 16, **keys}
    return keys


def generate_crypto_keys(version: str) -> Secret:
    lines = [f"{name}={secrets.token_hex(digits // 2)}" for name, digits in crypto_key_lengths(version).items()]
    return Secret("\n".join(lines) + "\n")


def check_crypto_keys(data: bytes, version: str) -> str | None:
    """A description of what is wrong with a keys file (never quoting key material), or None."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return "not an ASCII text file"
    found: dict[str, int] = {}
    rotation = False
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "EXTERNAL_KEY_FORMAT=2":
            rotation = True
            continue
        m = _KEY_LINE.match(line)
        if not m:
            return f"line {n} is not NAME=HEX"
        name, gen, value = m.groups()
        if gen and not rotation:
            return f"line {n} has a key generation but EXTERNAL_KEY_FORMAT=2 is missing"
        found[name] = len(value)
    for name, digits in crypto_key_lengths(version).items():
        if name.startswith("DES3"):
            continue  # optional: older installs may lack them
        if name not in found:
            return f"{name} is missing"
        if found[name] != digits:
            return f"{name} has {found[name]} hex digits, expected {digits}"
    return None


def generate_ipc_secret() -> Secret:
    return Secret(secrets.token_urlsafe(32) + "\n")


def check_ipc_secret(data: bytes) -> str | None:
    text = data.strip()
    if len(text) < 16:
        return "shorter than 16 characters"
    if not all(0x21 <= b <= 0x7E for b in text):
        return "contains characters that are not printable ASCII"
    return None
