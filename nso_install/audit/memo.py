"""What install's own audit derived from key and certificate files, kept for the next run.

Parsing the SSH host keys, the HTTPS key and its certificate needs ``cryptography``: importing it
and parsing were most of the time of the audit at the end of an install, on a re-run that changed
nothing as well.  What the checks derive from such a file (key type and size, a digest of the
public part, a certificate's validity dates, names and signature hash) depends on the file's bytes
alone, so it is kept in ``STATE_DIR/audit-memo.json`` under a SHA-256 digest of those bytes and the
tool's version: a file changed in any way (even with its old size and times) has another digest
and is parsed again, and a memo written by another version is ignored.  The checks still judge
from these facts on every run (a certificate's dates against this run's clock), so their verdicts
are those a full parse gives: install's audit and ``nso-install audit`` cannot disagree, whether
the run changed something or not.

Only install's own audit uses it (``nso-install audit`` parses every time, reads and writes
nothing), and only in a state directory that is this account's alone (0700, as the template cache
of :mod:`nso_install.templates`); the file is 0600, rewritten (temp + rename) only when what the
audit used differs from what it holds, and holds only the entries of the last audit.  It names no
file and holds no key material: digests, key types and sizes, certificate names and dates.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable

NAME = "audit-memo.json"
FORMAT = 1


class Memo:
    """Facts derived from files' bytes: ``known`` (read from the memo file), ``used`` (this
    audit's); ``path``: where to write them back, or None (derive every time, write nothing)."""

    def __init__(self, known: dict[str, Any] | None = None, path: Path | None = None):
        self.known = known or {}
        self.used: dict[str, Any] = {}
        self.path = path

    def derived(self, kind: str, data: bytes, derive: Callable[[bytes], Any]) -> Any:
        """``derive(data)``, or what it returned for the same ``kind`` and bytes last time.  An
        exception of ``derive`` goes to the caller and nothing is kept."""
        if self.path is None:
            return derive(data)
        key = kind + ":" + hashlib.sha256(kind.encode() + b"\0" + data).hexdigest()
        value = self.known[key] if key in self.known else derive(data)
        self.used[key] = value
        return value

    def save(self) -> None:
        """Write what this audit used, when it differs from what was read; never fails."""
        if self.path is None or self.used == self.known:
            return
        from .. import __version__, fsops
        from ..errors import NsoInstallError

        data = json.dumps({"format": FORMAT, "tool": __version__, "facts": self.used}, sort_keys=True).encode()
        try:
            fsops.atomic_write(self.path, data, 0o600, None, None)
        except (OSError, NsoInstallError):
            pass


def load(state_dir: Path | None) -> Memo:
    """The memo in ``state_dir`` (empty when missing, unreadable or of another version), or one
    that keeps nothing when ``state_dir`` is None or not this account's alone."""
    from .. import __version__

    if state_dir is None:
        return Memo()
    path = Path(state_dir) / NAME
    try:
        if not _private(os.lstat(state_dir), stat.S_ISDIR):
            return Memo()
    except OSError:
        return Memo()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return Memo(path=path)
    try:
        if not _private(os.fstat(fd), stat.S_ISREG):
            return Memo(path=path)
        with os.fdopen(fd, "rb", closefd=False) as f:
            doc = json.loads(f.read(4 << 20))
    except (OSError, ValueError):
        return Memo(path=path)
    finally:
        os.close(fd)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("tool") != __version__ \
            or not isinstance(doc.get("facts"), dict):
        return Memo(path=path)
    return Memo(doc["facts"], path)


def _private(st: os.stat_result, kind: Callable[[int], bool]) -> bool:
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
