"""File-system actions: directories, files we own, conffiles, symlinks, removals, leftovers.

Every write goes through :mod:`nso_install.fsops` (atomic, final owner and mode before the
first byte, never through a link).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable, ClassVar

from .. import fsops
from ..errors import UnsafePathError
from ..facts import ABSENT, DIR, FILE, LINK, Facts, sha256_bytes
from .base import Action, Attrs, Effects, change, drift_change, fmt_mode, ok, refuse_link, require_kind, text_diff


@dataclass
class Directory(Action):
    """A directory with owner and mode, created with both when missing, repaired when they drift."""

    path: str
    attrs: Attrs
    reason: str = ""
    kind: ClassVar[str] = "directory"

    def check(self, facts, ctx):
        if (fact := self._fact(facts, DIR)).kind == ABSENT:
            return change(f"create directory ({self.attrs.shown()})")
        drift = self.attrs.drift(facts, fact)
        return drift_change(drift) if drift else ok(f"directory present with mode {fmt_mode(fact.mode)}")

    def apply(self, facts, ctx, outcome):
        host = ctx.target.host(self.path)
        self.attrs.create_or_fix(facts, host, self.path, lambda uid, gid: fsops.make_dir(host, self.attrs.mode, uid, gid))


class SystemDirectory(Directory):
    """A directory above the ones we manage (/etc, /opt, /var/lib...): created 0755 root:root
    if missing, never touched when it exists (it belongs to the OS)."""

    def __init__(self, path: str, reason: str = "parent directory"):
        super().__init__(path, Attrs(0o755), reason)

    def check(self, facts, ctx):
        if self._fact(facts, DIR).kind == ABSENT:
            return change(f"create directory ({self.attrs.shown()})")
        return ok("directory exists (owned by the system, left as is)")


@dataclass
class File(Action):
    """A file whose content we own: always brought to ``content`` (not for admin-edited files)."""

    path: str
    content: bytes
    attrs: Attrs
    reason: str = ""
    kind: ClassVar[str] = "file"

    def check(self, facts, ctx):
        fact = self._fact(facts, FILE)
        if fact.kind == ABSENT:
            return change(f"create ({len(self.content)} bytes, {fmt_mode(self.attrs.mode)})",
                          diff=text_diff(self.path, None, self.content))
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

    def apply(self, facts, ctx, outcome):
        host = ctx.target.host(self.path)
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

    def _foreign(self, facts: Facts, fact) -> str | None:
        """The account (not root) that owns the file while root is to own it: its content is
        then not adopted, whoever edited it (root reads, sources or parses these files)."""
        if fact.kind != FILE or self.attrs.owner != "root" or fact.uid in (0, None):
            return None
        return facts.accounts.user_name(fact.uid)

    def _kept_attrs(self, facts: Facts, fact) -> Attrs:
        """Owner and mode for the administrator's file we keep: ours, but its mode is never
        loosened, and a file that holds secrets (what ``redact`` masks: inline keys, password
        hashes) is at most 0640."""
        mode = (fact.mode or 0) & self.attrs.mode
        current = facts.read(self.path) or b""
        if self.redact is not None and self.redact(current) != current:
            mode &= 0o640
        return Attrs(mode, self.attrs.owner, self.attrs.group)

    def check(self, facts, ctx):
        fact = self._fact(facts, FILE)
        new = sha256_bytes(self.content)
        if fact.kind == ABSENT:
            return change("create", diff=self._diff(None))
        current = facts.sha256(self.path)
        recorded = ctx.conffiles.get(self.path)
        drift = self.attrs.drift(facts, fact)
        foreign = self._foreign(facts, fact)
        if foreign and current not in (new, recorded):
            return change(f"owned by {foreign} and edited; it becomes root's, so the rendering replaces it and "
                          f"{foreign}'s version is kept as {self.path}.from-{foreign}",
                          diff=self._diff(facts.read(self.path)), conflict=True)
        if current == new:
            return drift_change(drift) if drift else ok("up to date")
        diff = self._diff(facts.read(self.path))
        if recorded == current or ctx.force_conf:
            what = "update (unchanged since nso-install wrote it)" if recorded == current else \
                "replace administrator's edits (--force-conf; a backup is kept)"
            return change(what, diff=diff)
        # Edited by someone else: keep it, offer the new rendering beside it.
        drift = self._kept_attrs(facts, fact).drift(facts, fact)
        new_fact = refuse_link(facts.path(self.new_path))
        new_ok = new_fact.kind == FILE and facts.sha256(self.new_path) == new
        warn = (f"{self.path} was edited outside nso-install; kept as is. The new rendering is in "
                f"{self.new_path}; merge it by hand or re-run with --force-conf to replace the file (a backup is kept).")
        if new_ok and not drift:
            return ok(f"edited by the administrator; kept (new rendering already in {self.new_path})",
                      conflict=True, warning=warn)
        return change(f"edited by the administrator; kept (the new rendering goes to {self.new_path})", diff=diff,
                      conflict=True, warning=warn)

    def settle(self, facts, ctx):
        # On disk exactly as rendered: it is ours, whatever the state file says (a run killed
        # after the write but before the state was saved, a lost or damaged state file).
        # Recording it keeps the next rendering an update instead of a false "edited" conflict.
        new = sha256_bytes(self.content)
        if facts.path(self.path).kind == FILE and facts.sha256(self.path) == new:
            return Effects(conffiles={self.path: new})
        return None

    def apply(self, facts, ctx, outcome):
        host = ctx.target.host(self.path)
        uid, gid = self.attrs.resolve(facts, self.path)
        new = sha256_bytes(self.content)
        fact = facts.path(self.path)
        effects = Effects(conffiles={self.path: new})
        foreign = self._foreign(facts, fact)
        if foreign and facts.sha256(self.path) not in (new, ctx.conffiles.get(self.path)):
            aside = f"{self.path}.from-{foreign}.{time.strftime('%Y%m%dT%H%M%S')}"
            aside = str(PurePosixPath(aside).with_name(fsops.rename_aside(host, PurePosixPath(aside).name)))
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)
            effects.notes.append(f"{self.path} belonged to {foreign} and had been edited; root owns it now, so its "
                                 f"content was not adopted. That version is kept as {aside}: review it and merge "
                                 "what you need by hand.")
            return effects
        if fact.kind == FILE and facts.sha256(self.path) == new:
            self.attrs.apply(facts, host, self.path)
        elif outcome.conflict and not ctx.force_conf:
            fsops.atomic_write(ctx.target.host(self.new_path), self.content, self.attrs.mode, uid, gid, self.new_path)
            kept = self._kept_attrs(facts, fact)  # owner and mode are ours to enforce, the content is not
            if kept.drift(facts, fact):
                kept.apply(facts, host, self.path)
            return None  # nothing recorded: the file on disk is still the administrator's
        else:
            if fact.kind == FILE and ctx.conffiles.get(self.path) != facts.sha256(self.path):
                backup = f"{self.path}.{time.strftime('%Y%m%dT%H%M%S')}.bak"
                # Written like every other file (temp, no link followed: the directory may belong
                # to the NSO account, RUN_DIR/cdb), and never over an earlier backup.
                written = fsops.write_new(ctx.target.host(backup), facts.read(self.path) or b"", fact.mode or 0o600,
                                          fact.uid, fact.gid)
                backup = str(PurePosixPath(backup).with_name(written.name))
                effects.notes.append(f"saved the administrator's {self.path} as {backup}")
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)
            stale_new = ctx.target.host(self.new_path)
            if os.path.lexists(stale_new) and not os.path.islink(stale_new):
                fsops.remove_file(stale_new)
        return effects


@dataclass
class Symlink(Action):
    """A symlink.  ``switch=False``: create when missing, leave one pointing elsewhere alone
    (NSO's ``current`` link after the first install).  Switching is atomic (rename over)."""

    path: str
    to: str
    reason: str = ""
    switch: bool = True
    kind: ClassVar[str] = "symlink"

    def check(self, facts, ctx):
        fact = require_kind(facts.path(self.path), LINK)
        if fact.kind == ABSENT:
            return change(f"create -> {self.to}")
        if fact.link == self.to:
            return ok(f"points to {self.to}")
        pointed = PurePosixPath(fact.link) if fact.link.startswith("/") else PurePosixPath(self.path).parent / fact.link
        if facts.path(os.path.normpath(str(pointed))).kind == ABSENT:
            return change(f"repair: {fact.link} does not exist (dangling link) -> {self.to}",
                          diff=f"- {fact.link} (missing)\n+ {self.to}")
        if not self.switch:
            return ok(f"points to {fact.link}; left alone",
                      warning=f"{self.path} points to {fact.link}, not {self.to}; re-run with --activate to switch.")
        return change(f"switch {fact.link} -> {self.to}", diff=f"- {fact.link}\n+ {self.to}")

    def apply(self, facts, ctx, outcome):
        fsops.atomic_symlink(ctx.target.host(self.path), self.to)


@dataclass
class Absent(Action):
    """A file that must not exist (e.g. ``bin/ncs-setup`` in a system install)."""

    path: str
    reason: str = ""
    kind: ClassVar[str] = "absent"

    def check(self, facts, ctx):
        fact = facts.path(self.path)
        if fact.kind == ABSENT:
            return ok("absent")
        if fact.kind == DIR:
            raise UnsafePathError("unexpected-directory", f"{self.path} is a directory; expected a file.",
                                  "Remove it by hand if it should go.")
        return change("remove")

    def apply(self, facts, ctx, outcome):
        fsops.remove_file(ctx.target.host(self.path))


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

    def check(self, facts, ctx):
        found = self._found(facts)
        if found:
            return change(f"remove {len(found)} leftover(s) of an interrupted run", diff="\n".join(f"- {f}" for f in found))
        return ok("no leftovers of interrupted runs")

    def apply(self, facts, ctx, outcome):
        for left in self._found(facts):
            fsops.remove_tree(ctx.target.host(left))


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

    def check(self, facts, ctx):
        if facts.path(self.path).kind == ABSENT:
            return ok("absent")
        return ok("present; left alone", warning=f"{self.path}: {self.message}")

    def apply(self, facts, ctx, outcome):  # check() is always ok: nothing to do
        raise AssertionError("Conflicting paths are never changed")


@dataclass
class Reown(Action):
    """Entries under ``path`` owned by ``from_user`` handed to ``to_user``/``to_group`` (the
    group only where it was ``from_user``'s own).  Directories are chowned; regular files
    are replaced by copies (the old account may hold them open); symlinks keep their owner,
    so nso-install goes on refusing to follow them.  Used when the run-as user changes."""

    path: str
    from_user: str
    to_user: str
    to_group: str
    reason: str = ""
    skip: frozenset[str] = frozenset()  # paths other actions of the plan manage
    kind: ClassVar[str] = "reown"

    def _ids(self, facts: Facts) -> tuple[int | None, int | None]:
        acc = facts.accounts
        u = acc.users.get(self.from_user)
        return (u.uid, u.gid) if u else (None, None)

    def _owned(self, facts: Facts) -> list[tuple[str, bool]]:
        """(target path, is a directory) of every entry owned by ``from_user``, never following links."""
        uid, _ = self._ids(facts)
        if uid is None or facts.path(self.path).kind != DIR:
            return []
        return [(p, kind == DIR) for p, st_uid, kind in facts.walk(self.path)
                if st_uid == uid and kind in (DIR, FILE) and p not in self.skip]

    def check(self, facts, ctx):
        if self._ids(facts)[0] is None:
            return ok(f"user {self.from_user} no longer exists; nothing of it to hand over")
        owned = self._owned(facts)
        if not owned:
            return ok(f"nothing owned by {self.from_user}")
        return change(f"hand {len(owned)} entr{'y' if len(owned) == 1 else 'ies'} owned by {self.from_user} to "
                      f"{self.to_user}", diff="\n".join(f"  {p}" for p, _ in owned[:20])
                      + (f"\n  ... and {len(owned) - 20} more" if len(owned) > 20 else ""))

    def apply(self, facts, ctx, outcome):
        _, old_gid = self._ids(facts)
        uid, gid = Attrs(0o755, self.to_user, self.to_group).resolve(facts, self.path)
        for tpath, isdir in self._owned(facts):
            fact = facts.path(tpath)
            new_gid = gid if fact.gid == old_gid else fact.gid
            mode = (fact.mode or 0) & 0o1777  # no setuid/setgid bits survive a change of hands
            host = ctx.target.host(tpath)
            if isdir:
                fsops.set_attrs(host, mode, uid, new_gid, tpath)
            elif fact.kind == FILE:
                fsops.replace_by_copy(host, mode, uid, new_gid, tpath)
        return None
