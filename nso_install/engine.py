"""Plan evaluation and application: facts -> plan -> apply, with a lock and a state file.

``evaluate`` checks every action against fresh facts and changes nothing (``--check``).
``apply`` checks each action right before acting (the host may have changed since the plan
was shown), acts, then re-checks and requires the action to be satisfied.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import __version__, fsops
from .actions import Action, Outcome
from .errors import ApplyError, LockedError, NsoInstallError
from .facts import Facts
from .target import Target

PLAN_FORMAT_VERSION = 1


class State:
    """What nso-install recorded on the target: sha256 of the conffiles it last wrote."""

    def __init__(self, target: Target, path: str | None):
        self.target = target
        self.path = path
        self.data: dict = {"version": 1, "conffiles": {}}
        self._loaded = b""
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

    def conffile(self, tpath: str) -> str | None:
        return self.data.setdefault("conffiles", {}).get(tpath)

    def record_conffile(self, tpath: str, digest: str) -> None:
        self.data.setdefault("conffiles", {})[tpath] = digest

    def _encode(self) -> bytes:
        return (json.dumps(self.data, indent=2, sort_keys=True) + "\n").encode()

    def log_changes(self, report: "Report") -> None:
        """Append what a run changed to history.jsonl beside the state (nothing for a no-op run).

        Only action ids and details go in, which never hold secret values."""
        changed = [{"id": r.action.id, "detail": r.outcome.detail} for r in report.records if r.changed]
        if not self.path or not changed:
            return
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tool": __version__,
                           "changed": changed, "notes": report.notes}, sort_keys=True) + "\n"
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


@dataclass
class Env:
    target: Target
    state: State
    force_conf: bool = False
    progress: Callable[[int, int], None] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Record:
    action: Action
    outcome: Outcome
    changed: bool = False

    def as_dict(self) -> dict:
        o = self.outcome
        d = {"id": self.action.id, "kind": self.action.kind, "path": self.action.path,
             "status": o.status, "changed": self.changed, "detail": o.detail,
             "reason": self.action.reason}
        if o.conflict:
            d["conflict"] = True
        if o.warning:
            d["warning"] = o.warning
        return d


@dataclass
class Report:
    mode: str  # "check" or "applied"
    records: list[Record]
    root: str
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        if self.mode == "check":
            return sum(1 for r in self.records if r.outcome.changed)
        return sum(1 for r in self.records if r.changed)

    @property
    def warnings(self) -> list[str]:
        return [r.outcome.warning for r in self.records if r.outcome.warning]

    def as_dict(self, with_diff: bool = False) -> dict:
        actions = []
        for r in self.records:
            d = r.as_dict()
            if with_diff and r.outcome.diff:
                d["diff"] = r.outcome.diff
            actions.append(d)
        return {
            "version": PLAN_FORMAT_VERSION,
            "result": self.mode,
            "root": self.root,
            "changed": self.changes,
            "totals": {
                "actions": len(self.records),
                "changed" if self.mode == "applied" else "would_change": self.changes,
                "ok": sum(1 for r in self.records if not r.outcome.changed),
                "conflicts": sum(1 for r in self.records if r.outcome.conflict),
            },
            "actions": actions,
            "warnings": self.warnings,
            "notes": self.notes,
        }


def evaluate(plan: list[Action], env: Env) -> Report:
    facts = Facts(env.target)
    return Report("check", [Record(a, a.check(facts, env)) for a in plan], str(env.target.root))


def apply(plan: list[Action], env: Env, on_record: Callable[[Record], None] | None = None) -> Report:
    records = []
    try:
        _apply_all(plan, env, records, on_record)
    except BaseException:
        try:  # keep what was recorded so far: conffiles written by this run stay ours
            if env.state.data.get("conffiles"):  # nothing recorded: a failed run writes no state
                env.state.save()
        except (OSError, NsoInstallError):
            pass
        raise
    env.state.save()
    report = Report("applied", records, str(env.target.root), list(env.notes))
    env.state.log_changes(report)
    return report


def _apply_all(plan: list[Action], env: Env, records: list[Record],
               on_record: Callable[[Record], None] | None) -> None:
    for action in plan:
        facts = Facts(env.target)
        outcome = action.check(facts, env)
        rec = Record(action, outcome)
        if not outcome.changed:
            action.settle(facts, env)
        if outcome.changed:
            try:
                action.apply(facts, env, outcome)
            except NsoInstallError:
                raise
            except OSError as e:
                raise ApplyError("apply-failed", f"{action.id}: {e.strerror or e} ({outcome.detail}).",
                                 "Fix the cause and re-run; everything done so far is kept and re-checked.") from e
            after = action.check(Facts(env.target), env)
            if after.changed:
                raise ApplyError("not-converged", f"{action.id}: still not as desired after applying ({after.detail}).",
                                 "This is a bug in nso-install or interference from another process; re-run with -v.")
            rec = Record(action, Outcome(outcome.status, outcome.detail, outcome.diff, after.conflict, after.warning),
                         changed=True)
        records.append(rec)
        if on_record:
            on_record(rec)


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
