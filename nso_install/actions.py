"""Small typed actions.  Each knows how to tell whether it is satisfied (``check``) and how
to get there (``apply``).  ``check`` only reads facts; ``apply`` is the only place with side
effects and re-checks nothing itself: the executor checks right before and right after.

Owners are names (``"root"``, the run-as user), resolved through the target's own
/etc/passwd and /etc/group, so ``--root`` staging resolves against the staged system.
``owner=None`` means "leave the owner alone" (local installs as an ordinary user).
"""

from __future__ import annotations

import difflib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Callable, ClassVar

from . import fsops
from .errors import ApplyError, UnsafePathError
from .facts import ABSENT, DIR, FILE, LINK, Facts, PathFact, sha256_bytes
from .secret import MASK, Secret

if TYPE_CHECKING:
    from .engine import Env


@dataclass
class Outcome:
    status: str  # "ok" (satisfied) or "change" (apply would change something)
    detail: str  # why it is satisfied, or what would change; never secret
    diff: str | None = None  # unified diff or attribute changes, already masked
    conflict: bool = False  # a conffile with administrator edits that we keep
    warning: str | None = None

    @property
    def changed(self) -> bool:
        return self.status == "change"


def ok(detail: str, **kw) -> Outcome:
    return Outcome("ok", detail, **kw)


def change(detail: str, **kw) -> Outcome:
    return Outcome("change", detail, **kw)


def fmt_mode(mode: int | None) -> str:
    return "-" if mode is None else f"{mode:04o}"


@dataclass(frozen=True)
class Attrs:
    """Desired mode and owner of a path."""

    mode: int
    owner: str | None = "root"
    group: str | None = "root"

    def ids(self, facts: Facts) -> tuple[int | None, int | None]:
        acc = facts.accounts
        uid = acc.uid(self.owner) if self.owner else None
        gid = acc.gid(self.group) if self.group else None
        return uid, gid

    def drift(self, facts: Facts, fact: PathFact) -> list[str]:
        """What differs between the path as it is and these attributes."""
        out = []
        if fact.mode != self.mode:
            out.append(f"mode {fmt_mode(fact.mode)} -> {fmt_mode(self.mode)}")
        uid, gid = self.ids(facts)
        if self.owner and uid is None:
            out.append(f"owner -> {self.owner} (user to be created)")
        elif self.owner and fact.uid != uid:
            out.append(f"owner {facts.accounts.user_name(fact.uid)} -> {self.owner}")
        if self.group and gid is None:
            out.append(f"group -> {self.group} (group to be created)")
        elif self.group and fact.gid != gid:
            out.append(f"group {facts.accounts.group_name(fact.gid)} -> {self.group}")
        return out

    def resolve(self, facts: Facts, shown: str) -> tuple[int | None, int | None]:
        uid, gid = self.ids(facts)
        if self.owner and uid is None:
            raise ApplyError("unknown-user", f"{shown}: user {self.owner!r} does not exist on the target.",
                             "Create the user first or pass --run-as-user so nso-install creates it.")
        if self.group and gid is None:
            raise ApplyError("unknown-group", f"{shown}: group {self.group!r} does not exist on the target.",
                             "Create the group first.")
        return uid, gid

    def apply(self, facts: Facts, host, shown: str) -> None:
        uid, gid = self.resolve(facts, shown)
        fsops.set_attrs(host, self.mode, uid, gid, shown)


class Action:
    kind: ClassVar[str] = "action"
    sensitive: ClassVar[bool] = False
    fs: ClassVar[bool] = True  # False: ``path`` names an account, not a file (no parent directories)
    path: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.path}"

    def check(self, facts: Facts, env: "Env") -> Outcome:
        raise NotImplementedError

    def apply(self, facts: Facts, env: "Env", outcome: Outcome) -> None:
        raise NotImplementedError

    def settle(self, facts: Facts, env: "Env") -> None:
        """Called by the executor for an action found satisfied: bookkeeping only (no file changes)."""

    # helpers ---------------------------------------------------------------
    def _fact(self, facts: Facts, allow_link: bool = False) -> PathFact:
        fact = facts.path(self.path)
        if fact.kind == LINK and not allow_link:
            raise UnsafePathError(
                "symlink-refused",
                f"{self.path} is a symbolic link (to {fact.link}); refusing to follow or replace it.",
                "Remove the link and re-run; nso-install never writes through pre-planted links.")
        return fact


@dataclass
class Directory(Action):
    """A directory with owner and mode.  ``enforce=False``: create if missing, never touch an
    existing one (system directories such as /etc or /opt belong to the OS)."""

    path: str
    attrs: Attrs
    reason: str = ""
    enforce: bool = True
    kind: ClassVar[str] = "directory"

    def check(self, facts, env):
        fact = self._fact(facts)
        if fact.kind == ABSENT:
            return change(f"create directory ({fmt_mode(self.attrs.mode)} {self.attrs.owner or '-'}:{self.attrs.group or '-'})")
        if fact.kind != DIR:
            raise UnsafePathError("not-a-directory", f"{self.path} exists and is not a directory.",
                                  "Move it out of the way and re-run.")
        if not self.enforce:
            return ok("directory exists (owned by the system, left as is)")
        drift = self.attrs.drift(facts, fact)
        if drift:
            return change("; ".join(drift), diff="\n".join(drift))
        return ok(f"directory present with mode {fmt_mode(fact.mode)}")

    def apply(self, facts, env, outcome):
        host = env.target.host(self.path)
        if facts.path(self.path).kind == ABSENT:
            uid, gid = self.attrs.resolve(facts, self.path)
            fsops.make_dir(host, self.attrs.mode, uid, gid)
        else:
            self.attrs.apply(facts, host, self.path)


def text_diff(path: str, before: bytes | None, after: bytes) -> str:
    def lines(b: bytes | None) -> list[str]:
        if b is None:
            return []
        try:
            return b.decode().splitlines(keepends=True)
        except UnicodeDecodeError:
            return [f"<binary, {len(b)} bytes>\n"]
    return "".join(difflib.unified_diff(lines(before), lines(after),
                                        fromfile=f"{path} (current)" if before is not None else "/dev/null",
                                        tofile=f"{path} (new)"))


@dataclass
class File(Action):
    """A file whose content we own: always brought to ``content`` (not for admin-edited files)."""

    path: str
    content: bytes
    attrs: Attrs
    reason: str = ""
    kind: ClassVar[str] = "file"

    def check(self, facts, env):
        fact = self._fact(facts)
        if fact.kind == ABSENT:
            return change(f"create ({len(self.content)} bytes, {fmt_mode(self.attrs.mode)})",
                          diff=text_diff(self.path, None, self.content))
        if fact.kind != FILE:
            raise UnsafePathError("not-a-file", f"{self.path} exists and is not a regular file.",
                                  "Move it out of the way and re-run.")
        notes = []
        diff = None
        if facts.sha256(self.path) != sha256_bytes(self.content):
            notes.append("content differs")
            diff = text_diff(self.path, facts.read(self.path), self.content)
        drift = self.attrs.drift(facts, fact)
        notes += drift
        if notes:
            return change("; ".join(notes), diff="\n".join(filter(None, [diff] + drift)))
        return ok("content, owner and mode as desired")

    def apply(self, facts, env, outcome):
        host = env.target.host(self.path)
        uid, gid = self.attrs.resolve(facts, self.path)
        if facts.path(self.path).kind == FILE and facts.sha256(self.path) == sha256_bytes(self.content):
            self.attrs.apply(facts, host, self.path)
        else:
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)


@dataclass
class ConfFile(Action):
    """A configuration file an administrator may edit, handled like a dpkg conffile.

    Three hashes decide: what we last wrote (recorded in the state file), what is on disk,
    and what we render now.  Unedited since our last write -> update in place.  Edited ->
    keep it, write ``PATH.new`` and say so; ``--force-conf`` replaces it after a timestamped
    backup.  Nothing recorded and a different file on disk counts as edited (it came from
    someone else, e.g. NSO's own installer).
    """

    path: str
    content: bytes
    attrs: Attrs
    reason: str = ""
    redact: Callable[[bytes], bytes] | None = None  # masks secrets (inline keys) in diffs
    kind: ClassVar[str] = "conffile"

    def _diff(self, before: bytes | None) -> str:
        hide = self.redact or (lambda b: b)
        return text_diff(self.path, None if before is None else hide(before), hide(self.content))

    @property
    def new_path(self) -> str:
        return self.path + ".new"

    def _state(self, env):
        return env.state.conffile(self.path)

    def check(self, facts, env):
        fact = self._fact(facts)
        new = sha256_bytes(self.content)
        if fact.kind == ABSENT:
            return change("create", diff=self._diff(None))
        if fact.kind != FILE:
            raise UnsafePathError("not-a-file", f"{self.path} exists and is not a regular file.",
                                  "Move it out of the way and re-run.")
        current = facts.sha256(self.path)
        recorded = self._state(env)
        drift = self.attrs.drift(facts, fact)
        if current == new:
            if drift:
                return change("; ".join(drift), diff="\n".join(drift))
            return ok("up to date")
        diff = self._diff(facts.read(self.path))
        if recorded == current or env.force_conf:
            what = "update (unchanged since nso-install wrote it)" if recorded == current else \
                "replace administrator's edits (--force-conf; a backup is kept)"
            return change(what, diff=diff)
        # Edited by someone else: keep it, offer the new rendering beside it.
        new_fact = facts.path(self.new_path)
        if new_fact.kind == LINK:
            raise UnsafePathError("symlink-refused", f"{self.new_path} is a symbolic link; refusing to write through it.",
                                  "Remove the link and re-run.")
        new_ok = new_fact.kind == FILE and facts.sha256(self.new_path) == new
        warn = (f"{self.path} was edited outside nso-install; kept as is. The new rendering is in "
                f"{self.new_path}; merge it by hand or re-run with --force-conf to replace the file (a backup is kept).")
        if new_ok and not drift:
            return ok(f"edited by the administrator; kept (new rendering already in {self.new_path})",
                      conflict=True, warning=warn)
        return change(f"edited by the administrator; kept, writing {self.new_path}", diff=diff,
                      conflict=True, warning=warn)

    def settle(self, facts, env):
        # On disk exactly as rendered: it is ours, whatever the state file says (a run killed
        # after the write but before the state was saved, a lost or damaged state file).
        # Recording it keeps the next rendering an update instead of a false "edited" conflict.
        new = sha256_bytes(self.content)
        if facts.path(self.path).kind == FILE and facts.sha256(self.path) == new:
            env.state.record_conffile(self.path, new)

    def apply(self, facts, env, outcome):
        host = env.target.host(self.path)
        uid, gid = self.attrs.resolve(facts, self.path)
        new = sha256_bytes(self.content)
        fact = facts.path(self.path)
        if fact.kind == FILE and facts.sha256(self.path) == new:
            self.attrs.apply(facts, host, self.path)
        elif outcome.conflict and not env.force_conf:
            fsops.atomic_write(env.target.host(self.new_path), self.content, self.attrs.mode, uid, gid, self.new_path)
            if self.attrs.drift(facts, fact):  # owner and mode are ours to enforce, the content is not
                self.attrs.apply(facts, host, self.path)
            return  # nothing recorded: the file on disk is still the administrator's
        else:
            if fact.kind == FILE and env.state.conffile(self.path) != facts.sha256(self.path):
                backup = f"{self.path}.{time.strftime('%Y%m%dT%H%M%S')}.bak"
                # Written like every other file (temp + rename, no link followed): the directory
                # may belong to the NSO account (RUN_DIR/cdb), which could plant a link there.
                fsops.atomic_write(env.target.host(backup), facts.read(self.path) or b"", fact.mode or 0o600,
                                   fact.uid, fact.gid, backup)
                env.notes.append(f"saved the administrator's {self.path} as {backup}")
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)
            stale_new = env.target.host(self.new_path)
            if os.path.lexists(stale_new) and not os.path.islink(stale_new):
                fsops.remove_file(stale_new)
        env.state.record_conffile(self.path, new)


@dataclass
class SecretFile(Action):
    """A generate-once secret (keys, access secrets).  Created with its final owner and mode
    before the first byte; never regenerated; its mode and owner are repaired if they drift,
    its content never is.  ``generate`` returns a :class:`Secret`; ``imported`` (HA nodes must
    share keys) is used instead when given and must match an existing file."""

    path: str
    attrs: Attrs
    generate: Callable[[], Secret]
    reason: str = ""
    validate: Callable[[bytes], str | None] | None = None  # problem description or None
    imported: Secret | None = None
    kind: ClassVar[str] = "secret"
    sensitive: ClassVar[bool] = True

    def check(self, facts, env):
        fact = self._fact(facts)
        if fact.kind == ABSENT:
            src = "import" if self.imported is not None else "generate"
            return change(f"{src} ({fmt_mode(self.attrs.mode)} {self.attrs.owner}:{self.attrs.group})",
                          diff=f"+ {MASK} content")
        if fact.kind != FILE:
            raise UnsafePathError("not-a-file", f"{self.path} exists and is not a regular file.",
                                  "Move it out of the way and re-run.")
        warning = None
        if self.imported is not None and facts.sha256(self.path) != sha256_bytes(self.imported.reveal()):
            raise UnsafePathError(
                "secret-mismatch",
                f"{self.path} exists and differs from the file given to import; nso-install never replaces existing keys.",
                "If the imported keys are the right ones, move the existing file away (keep a backup: "
                "encrypted data depends on it) and re-run.")
        if self.validate is not None:
            problem = self.validate(facts.read(self.path) or b"")
            if problem:
                warning = f"{self.path}: {problem}; left as is (nso-install never rewrites existing secrets)."
        drift = self.attrs.drift(facts, fact)
        if drift:
            return change("; ".join(drift) + " (content kept)", diff="\n".join(drift), warning=warning)
        return ok("present; content kept, owner and mode as desired", warning=warning)

    def apply(self, facts, env, outcome):
        host = env.target.host(self.path)
        if facts.path(self.path).kind == ABSENT:
            uid, gid = self.attrs.resolve(facts, self.path)
            value = self.imported if self.imported is not None else self.generate()
            fsops.atomic_write(host, value.reveal(), self.attrs.mode, uid, gid, self.path)
        else:
            self.attrs.apply(facts, host, self.path)


@dataclass
class Symlink(Action):
    """A symlink.  ``switch=False``: create when missing, leave one pointing elsewhere alone
    (NSO's ``current`` link after the first install).  Switching is atomic (rename over)."""

    path: str
    to: str
    reason: str = ""
    switch: bool = True
    kind: ClassVar[str] = "symlink"

    def check(self, facts, env):
        fact = facts.path(self.path)
        if fact.kind == ABSENT:
            return change(f"create -> {self.to}")
        if fact.kind != LINK:
            raise UnsafePathError("not-a-symlink", f"{self.path} exists and is not a symbolic link.",
                                  "Move it out of the way and re-run.")
        if fact.link == self.to:
            return ok(f"points to {self.to}")
        if not self.switch:
            return ok(f"points to {fact.link}; left alone",
                      warning=f"{self.path} points to {fact.link}, not {self.to}; re-run with --activate to switch.")
        return change(f"switch {fact.link} -> {self.to}", diff=f"- {fact.link}\n+ {self.to}")

    def apply(self, facts, env, outcome):
        fsops.atomic_symlink(env.target.host(self.path), self.to)


@dataclass
class Absent(Action):
    """A file that must not exist (e.g. ``bin/ncs-setup`` in a system install)."""

    path: str
    reason: str = ""
    kind: ClassVar[str] = "absent"

    def check(self, facts, env):
        fact = facts.path(self.path)
        if fact.kind == ABSENT:
            return ok("absent")
        if fact.kind == DIR:
            raise UnsafePathError("unexpected-directory", f"{self.path} is a directory; expected a file.",
                                  "Remove it by hand if it should go.")
        return change("remove")

    def apply(self, facts, env, outcome):
        fsops.remove_file(env.target.host(self.path))


@dataclass
class Leftovers(Action):
    """Temporary files an interrupted run left in the directories nso-install writes to
    (``.nso-install-tmp.*``: half-written files, possibly holding key material, or a
    key-generation directory).  ``path`` is the directories' common parent; ``dirs`` lists them."""

    path: str
    dirs: tuple[str, ...]
    skip_prefixes: tuple[str, ...] = ()  # leftovers another action cleans (an unpacked tree's)
    reason: str = "leftovers of an interrupted run"
    kind: ClassVar[str] = "leftovers"
    fs: ClassVar[bool] = False

    def _found(self, facts: Facts) -> list[str]:
        out = []
        for d in self.dirs:
            for name in facts.listdir(d):
                if name.startswith(fsops.TMP_MARK) and not name.startswith(self.skip_prefixes):
                    out.append(str(PurePosixPath(d) / name))
        return out

    def check(self, facts, env):
        found = self._found(facts)
        if found:
            return change(f"remove {len(found)} leftover(s) of an interrupted run", diff="\n".join(f"- {f}" for f in found))
        return ok("no leftovers of interrupted runs")

    def apply(self, facts, env, outcome):
        for left in self._found(facts):
            fsops.remove_tree(env.target.host(left))


@dataclass
class Conflicting(Action):
    """A path whose presence conflicts with the plan.  Never touched (it is the
    administrator's), only reported while present, e.g. a legacy SysV ``/etc/init.d/ncs``
    beside the systemd unit, where both could start NSO."""

    path: str
    message: str
    reason: str = ""
    kind: ClassVar[str] = "conflicting"
    fs: ClassVar[bool] = False  # reads only: its parent directories are not planned

    def check(self, facts, env):
        if facts.path(self.path).kind == ABSENT:
            return ok("absent")
        return ok("present; left alone", warning=f"{self.path}: {self.message}")

    def apply(self, facts, env, outcome):  # check() is always ok: nothing to do
        raise AssertionError("Conflicting paths are never changed")


@dataclass
class Attributes(Action):
    """Mode and owner of an existing path we do not write (e.g. epam setuid root)."""

    path: str
    attrs: Attrs
    reason: str = ""
    kind: ClassVar[str] = "attributes"

    def check(self, facts, env):
        fact = self._fact(facts)
        if fact.kind == ABSENT:
            return change(f"set {fmt_mode(self.attrs.mode)} {self.attrs.owner}:{self.attrs.group} (once it exists)")
        drift = self.attrs.drift(facts, fact)
        if drift:
            return change("; ".join(drift), diff="\n".join(drift))
        return ok(f"mode {fmt_mode(fact.mode)} {self.attrs.owner}:{self.attrs.group}")

    def apply(self, facts, env, outcome):
        if facts.path(self.path).kind == ABSENT:
            raise ApplyError("missing-file", f"{self.path} does not exist.",
                             "The distribution does not contain it; check the NSO version.")
        self.attrs.apply(facts, env.target.host(self.path), self.path)


@dataclass
class InstallTree(Action):
    """The distribution unpacked at ``path``.  Populated in a temporary sibling and renamed
    into place only when complete, so ``path`` never holds a half tree; leftovers of an
    interrupted run are removed by the next one."""

    path: str
    dist: object  # nso_install.dist.Distribution
    owner: str | None = "root"
    group: str | None = "root"
    reason: str = ""
    owned_elsewhere: tuple[str, ...] = ()  # relative paths other actions write (left out of the tree)
    kind: ClassVar[str] = "tree"

    def _leftovers(self, facts: Facts) -> list[str]:
        p = PurePosixPath(self.path)
        prefix = f"{fsops.TMP_MARK}{p.name}."
        return [str(p.parent / n) for n in facts.listdir(str(p.parent)) if n.startswith(prefix)]

    def check(self, facts, env):
        fact = self._fact(facts)
        leftovers = self._leftovers(facts)
        extra = f"; remove {len(leftovers)} leftover(s) of an interrupted run" if leftovers else ""
        if fact.kind == DIR:
            installed = (facts.read(f"{self.path}/VERSION") or b"").decode(errors="replace").strip()
            if installed == self.dist.version:
                if leftovers:
                    return change(f"NSO {installed} installed{extra}")
                return ok(f"NSO {installed} already installed")
            if facts.listdir(self.path):
                raise UnsafePathError(
                    "install-dir-occupied",
                    f"{self.path} exists and does not hold NSO {self.dist.version}"
                    f" (VERSION: {installed or 'missing'}).",
                    "Choose another directory, or move the existing one away.")
            return change(f"unpack NSO {self.dist.version} into the empty directory{extra}")
        if fact.kind != ABSENT:
            raise UnsafePathError("not-a-directory", f"{self.path} exists and is not a directory.",
                                  "Move it out of the way and re-run.")
        return change(f"unpack NSO {self.dist.version} from {self.dist.kind} {self.dist.source.name}{extra}")

    def apply(self, facts, env, outcome):
        for left in self._leftovers(facts):
            fsops.remove_tree(env.target.host(left))
        host = env.target.host(self.path)
        if facts.path(self.path).kind == DIR:
            if (facts.read(f"{self.path}/VERSION") or b"").decode(errors="replace").strip() == self.dist.version:
                return  # only leftovers to clean
        uid, gid = Attrs(0o755, self.owner, self.group).resolve(facts, self.path)
        self.dist.validate()  # refuse hostile members before anything is written
        tmp = host.with_name(f"{fsops.TMP_MARK}{host.name}.{os.urandom(4).hex()}")
        os.mkdir(tmp, 0o700)
        try:
            self.dist.extract(tmp, uid=uid, gid=gid, progress=env.progress)
            for rel in self.owned_elsewhere:  # e.g. the shipped ncs.conf, replaced by our rendering
                victim = tmp / rel
                if victim.is_file() and not victim.is_symlink():
                    victim.unlink()
            fsops.set_attrs(tmp, 0o755, uid, gid)
            fsops.sync_filesystem(tmp)  # the tree's data must be on disk before its name is
            if os.path.isdir(host):
                os.rmdir(host)  # only ever the empty directory accepted by check()
            os.rename(tmp, host)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsops.fsync_dir(host.parent)
