"""nso-install's own records on the target: the state file, the run history and the run lock.

``state.json`` (root-only, 0600, in a 0700 directory) holds

* ``conffiles``: sha256 of what nso-install last wrote to each config file (dpkg-style
  conffile handling needs it to tell an administrator's edit from its own file);
* ``spec``: the effective install spec of the last successful run (no secret values), which
  the next run starts from (:mod:`nso_install.spec`);
* ``grants``: privileges nso-install created that the desired state alone cannot take back
  (group memberships it added), so a changed spec can withdraw exactly those.

``history.jsonl`` beside it gets one line per run that changed something: when, the spec,
what changed and every note printed (never secrets).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import __version__, fsops
from .errors import LockedError
from .facts import Facts
from .target import Target

STATE_FORMAT = 2


class State:
    """The state file of one install, loaded once (after the run lock is taken)."""

    def __init__(self, target: Target, path: str | None):
        self.target = target
        self.path = path
        self.data: dict = {"version": STATE_FORMAT, "conffiles": {}}
        self._loaded = b""
        self.damaged = False
        if path:
            facts = Facts(target)
            raw = facts.read(path) if facts.path(path).kind == "file" else None
            if raw:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                # A damaged state file (not JSON, or not the expected shape) is treated as
                # empty: conffiles count as edited (safe), and the next save rewrites it.
                if isinstance(data, dict) and isinstance(data.get("conffiles", {}), dict):
                    self.data = data
                    self._loaded = self._encode()
                else:
                    self.damaged = True

    @property
    def conffiles(self) -> dict[str, str]:
        return self.data.setdefault("conffiles", {})

    @property
    def spec(self) -> dict | None:
        spec = self.data.get("spec")
        return spec if isinstance(spec, dict) else None

    def record_spec(self, record: dict) -> None:
        self.data["spec"] = record

    @property
    def memberships(self) -> set[tuple[str, str]]:
        """(user, group) memberships nso-install added."""
        raw = self.data.get("grants", {}).get("memberships", []) if isinstance(self.data.get("grants"), dict) else []
        return {(u, g) for u, g in raw if isinstance(u, str) and isinstance(g, str)}

    def set_memberships(self, pairs: set[tuple[str, str]]) -> None:
        grants = self.data.setdefault("grants", {})
        if pairs:
            grants["memberships"] = sorted([u, g] for u, g in pairs)
        else:
            grants.pop("memberships", None)
        if not grants:
            self.data.pop("grants")

    def _encode(self) -> bytes:
        return (json.dumps({**self.data, "version": STATE_FORMAT}, indent=2, sort_keys=True) + "\n").encode()

    def save(self) -> bool:
        """Write the state if it changed; True when written."""
        if not self.path:
            return False
        data = self._encode()
        if data == self._loaded:
            return False
        host = self.target.host(self.path)
        fsops.ensure_private_dir(host.parent)
        fsops.atomic_write(host, data, 0o600, None, None, self.path)
        self._loaded = data
        return True

    def append_history(self, entry: dict) -> None:
        """One line in history.jsonl beside the state: ``entry`` plus the time and tool version."""
        if not self.path:
            return
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tool": __version__, **entry},
                          sort_keys=True) + "\n"
        host = self.target.host(os.path.join(os.path.dirname(self.path), "history.jsonl"))
        fsops.ensure_private_dir(host.parent)
        with fsops.parent_dir(host) as dfd:
            fd = os.open(host.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dfd)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)


@contextmanager
def locked(host_dir: Path, create: bool, timeout: float = 0.0) -> Iterator[None]:
    """An exclusive flock on a directory, so two runs on one target cannot interleave.

    Locking the directory itself (not a lock file in it) writes nothing to the target.
    """
    if not host_dir.is_dir():
        if not create:
            yield
            return
        fsops.ensure_private_dir(host_dir)
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise LockedError(
                        "locked",
                        f"another nso-install run holds the lock on {host_dir}.",
                        "Wait for it to finish, or pass --lock-timeout SECONDS to wait.") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
