"""File-system actions: directories, files we own, conffiles, symlinks, removals, leftovers.

Every write goes through :mod:`nso_install.fsops` (atomic, final owner and mode before the
first byte, never through a link).
"""

from __future__ import annotations

import os
import stat
import time
from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from typing import Callable, ClassVar

from .. import fsops
from ..errors import ApplyError, UnsafePathError, UsageError, aim_systemctl
from ..facts import ABSENT, DIR, FILE, LINK, OTHER, Facts, Owned, TooLarge, sha256_bytes
from .base import (Action, Attrs, Effects, change, drift_change, fmt_mode, masked, ok, refuse_link, require_kind,
                   text_diff)
from ..record import record


@record
class Directory(Action):
    """A directory with owner and mode, created with both when missing, repaired when they drift.
    A top-level directory (``top``: the option that sets it, e.g. ``--run-dir``) may be a
    root-owned symbolic link to the real directory (:meth:`Target.dir_link`), whose owner and
    mode are then managed; the link itself is left as it is."""

    path: str
    attrs: Attrs
    reason: str = ""
    top: str = ""
    kind: ClassVar[str] = "directory"

    def _real(self, facts, ctx) -> str:
        """The path whose owner and mode this action manages: ``path``, or where its link leads."""
        if self.top and facts.path(self.path).kind == LINK:
            return str(ctx.target.dir_link(self.path, self.top))
        return self.path

    def check(self, facts, ctx):
        real = self._real(facts, ctx)
        via = f" (through the link to {real})" if real != self.path else ""
        if (fact := require_kind(refuse_link(facts.path(real)), DIR)).kind == ABSENT:
            return change(f"create directory ({self.attrs.shown()})")
        drift = self.attrs.drift(facts, fact)
        return drift_change(drift, via) if drift else ok(f"directory present with mode {fmt_mode(fact.mode)}{via}")

    def preflight(self, facts: Facts, ctx) -> None:
        """Before the run changes anything: a link that is not allowed (any but a top-level
        directory's or a system directory's, :meth:`check` judges) or a special file at the path
        is refused now.  Found only when its turn came, it stopped the run half way: a link at
        CONFIG_DIR/ssh or RUN_DIR/state after ``current`` had switched (found by review).  Root's
        only, as for a config file (:class:`ConfFile`)."""
        fact = facts.path(self.path)
        if fact.kind in (LINK, OTHER) and (fact.uid == 0 or facts.target.unprivileged):
            self.check(facts, ctx)

    def apply(self, facts, ctx, outcome):
        real = self._real(facts, ctx)
        host = ctx.target.host(real)
        self.attrs.create_or_fix(facts, host, real, lambda uid, gid: fsops.make_dir(host, self.attrs.mode, uid, gid))


class SystemDirectory(Directory):
    """A directory above the ones we manage (/etc, /opt, /var/lib...): created 0755 root:root
    if missing, never touched when it exists (it belongs to the OS).  It may be a symbolic link
    that only root controls (``/opt -> /data/opt``)."""

    def __init__(self, path: str, reason: str = "parent directory"):
        super().__init__(path, Attrs(0o755), reason)

    def _real(self, facts, ctx) -> str:
        return str(ctx.target.dir_link(self.path) or self.path) if facts.path(self.path).kind == LINK else self.path

    def check(self, facts, ctx):
        real = self._real(facts, ctx)
        if require_kind(refuse_link(facts.path(real)), DIR).kind == ABSENT:
            return change(f"create directory ({self.attrs.shown()})")
        via = f" (a link to {real})" if real != self.path else ""
        return ok(f"directory exists (owned by the system, left as is){via}")


@record
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


# Directories whose every file a program takes as configuration: logrotate reads all of
# /etc/logrotate.d but for a list of suffixes that differs between its versions (".new" and
# ".bak" are on none), systemd's SysV generator and `service --status-all` run every
# executable in /etc/init.d.  A new rendering or a backup of a conffile there would be read
# (or run) too, so they are kept in ASIDE_DIR, nso-install's own (root's, 0700).
SCANNED_DIRS = ("/etc/logrotate.d", "/etc/init.d")
ASIDE_DIR = "/var/lib/nso-install/conffiles"  # (in plan.STATE_DIR_SYSTEM)


def beside(path: str, suffix: str) -> str:
    """Where the conffile ``path``'s ``suffix`` file (".new", ".TIME.bak") goes: beside it, or
    in ASIDE_DIR for a file in one of SCANNED_DIRS (/etc/logrotate.d/ncs ->
    ASIDE_DIR/etc_logrotate.d_ncs.new)."""
    if os.path.dirname(path) in SCANNED_DIRS:
        return f"{ASIDE_DIR}/{path.lstrip('/').replace('/', '_')}{suffix}"
    return path + suffix


@record
class ConfFile(Action):
    """A configuration file an administrator may edit, handled like a dpkg conffile.

    Three hashes decide: what we last wrote (recorded in the state file), what is on disk,
    and what we render now.  Unedited since our last write -> update in place.  Edited ->
    keep it; when the rendering differs from what we last wrote, write ``PATH.new`` and say so
    (else there is nothing to offer: kept quietly); ``--force-conf`` replaces it after a
    timestamped backup.  Nothing recorded and a different file on disk counts as edited (it
    came from someone else, e.g. NSO's own installer).
    """

    path: str
    content: bytes
    attrs: Attrs
    reason: str = ""
    redact: Callable[[bytes], bytes] | None = None  # masks secrets (inline keys) in diffs
    # what keeping the edited file while a new rendering waits would break (ncs.conf: IPC), or None
    explain: Callable[[bytes, bytes], str | None] | None = None
    # what in the kept (edited) file the program reading it cannot take (ncs.conf: elements the
    # active NSO release does not know), or None: said on every run that keeps it
    unusable: Callable[[bytes], str | None] | None = None
    # A file that says which account NSO runs as (the service files, logrotate's ``su``): what
    # it decides, and, set by the plan, the change of that account this run makes ("root to
    # nso").  An edited copy is then never kept: it would go on running NSO (or rotating its
    # logs) as the old account, as root in directories the new one owns.
    decides: str = ""
    account_change: str = ""
    # what the rest of the run changes that an edited copy, kept as is, would contradict (ncs.conf:
    # FIPS turned on or off while the kept file says the other), given the kept content and the
    # rendering: a sentence, and the run is refused before anything changes; or None
    must_follow: Callable[[bytes, bytes], str | None] | None = None
    # what replacing the file nso-install wrote with the new rendering changes that cannot be
    # undone from nso-install's records (ncs.conf: the encryption keys NSO uses), given the
    # current content, the rendering and a reader of other target files: a sentence, or None.
    # Said before the change, and the replaced file is kept as a backup.
    replaces: Callable[[bytes, bytes, Callable[[str], bytes | None]], str | None] | None = None
    kind: ClassVar[str] = "conffile"

    @property
    def warns_before(self) -> bool:  # (the re-check after the change no longer sees what was replaced)
        return self.replaces is not None

    def _replaced(self, facts: Facts) -> str | None:
        if self.replaces is None:
            return None
        try:
            return self.replaces(facts.read(self.path) or b"", self.content, facts.read)
        except TooLarge:
            return None

    def _diff(self, before: bytes | None) -> str:
        hide = self.redact or (lambda b: b)
        return text_diff(self.path, None if before is None else hide(before), hide(self.content))

    def _current_diff(self, facts: Facts) -> str:
        try:
            return self._diff(facts.read(self.path))
        except TooLarge:
            return f"{self.path}: {facts.path(self.path).size} bytes, too large to show\n"

    @property
    def new_path(self) -> str:
        return beside(self.path, ".new")

    def _aside_dir(self, ctx) -> None:
        """ASIDE_DIR, when this file's .new or backup goes there (made root's, 0700)."""
        if os.path.dirname(self.new_path) == ASIDE_DIR:
            fsops.ensure_private_dir(ctx.target.host(ASIDE_DIR))

    def _foreign(self, facts: Facts, fact) -> str | None:
        """The account (not root) that owns the file while it is to change hands (to root, or
        to another account): nothing it wrote is adopted, whoever edited it (root reads these
        files, and the new account would run with what the old one put in them)."""
        uid, _ = self.attrs.ids(facts)
        if fact.kind != FILE or fact.uid in (0, None) or uid is None or fact.uid == uid:
            return None
        return facts.accounts.user_name(fact.uid)

    def _kept_attrs(self, facts: Facts, fact) -> Attrs:
        """Owner and mode for the administrator's file we keep: ours, but its mode is never
        loosened, and a file that holds secrets (what ``redact`` masks: inline keys, password
        hashes) is at most 0640."""
        mode = (fact.mode or 0) & self.attrs.mode
        try:
            current = facts.read(self.path) or b""
            secrets = self.redact is not None and self.redact(current) != current
        except TooLarge:
            secrets = True  # cannot tell: treat it as holding secrets
        if secrets:
            mode &= 0o640
        return Attrs(mode, self.attrs.owner, self.attrs.group)

    def check(self, facts, ctx):
        fact = self._fact(facts, FILE)
        new = sha256_bytes(self.content)
        if fact.kind == ABSENT:
            # said as such: a file someone removed comes back (what --check shows must tell it
            # from a first install's)
            gone = "re-create (removed since nso-install wrote it)" if ctx.conffiles.get(self.path) else "create"
            return change(gone, diff=self._diff(None))
        current = facts.sha256(self.path)
        recorded = ctx.conffiles.get(self.path)
        drift = self.attrs.drift(facts, fact)
        foreign = self._foreign(facts, fact)
        if foreign and current not in (new, recorded):
            # (not a kept edit: the file is replaced, so --check must not count it as kept)
            return change(f"owned by {foreign} and edited; it changes hands, so the rendering replaces it and "
                          f"{foreign}'s version is kept as {self.path}.from-{foreign}.TIME",
                          diff=self._current_diff(facts))
        if current == new:
            if self._stale_new(facts):
                # merged (by hand, or by copying the .new): the .new no longer waits for
                # anything, but status, verify and the audit would report it pending forever
                return change("; ".join([*drift, f"remove {self.new_path} (the file now matches the rendering)"]),
                              diff="\n".join(drift) or None)
            return drift_change(drift) if drift else ok("up to date")
        diff = self._current_diff(facts)
        if recorded == current or ctx.force_conf:
            what = "update (unchanged since nso-install wrote it)" if recorded == current else \
                "replace administrator's edits (--force-conf; a backup is kept)"
            return change(what, diff=diff, warning=self._replaced(facts))
        if self.account_change:
            raise self._not_kept()
        if self.must_follow is not None and (why := self._contradicted(facts)):
            raise UsageError(
                "edited-file-contradicts-run",
                f"{self.path} was edited outside nso-install, and kept as is it would contradict this run: {why} "
                "Nothing was changed.",
                "See the new rendering: the same command with --check --diff --force-conf. Merge it into your file "
                "and re-run, or re-run with --force-conf (your version is kept as a backup).")
        # Edited by someone else: keep it, offer the new rendering beside it.
        drift = self._kept_attrs(facts, fact).drift(facts, fact)
        refuse_link(facts.path(self.new_path))
        new_ok = self._new_holds(facts, new)
        unusable = self._unusable(facts)
        if new == recorded:
            # dpkg's rule: the rendering has not changed since nso-install wrote the file, so there
            # is nothing new to offer; the edit is kept without a .new (and without a warning on
            # every run). A .new of that same rendering (an earlier nso-install wrote one) offers
            # nothing the administrator did not have: it goes. So does a .new of another
            # rendering (a version activated and rolled back since, an option given and taken
            # back): no run would write it now, and merged it would give the active NSO another
            # version's file.
            stale = self._stale_new(facts)
            if drift or stale:
                gone = "the rendering has not changed since nso-install wrote the file" if new_ok else \
                    "a rendering for other options or another NSO version, which this run would not write"
                return change("; ".join([*drift, *([f"remove {self.new_path} ({gone})"] if stale else [])]),
                              diff="\n".join(drift) or None, conflict=True, warning=unusable)
            return ok("edited by the administrator; kept (the rendering has not changed since nso-install wrote it)",
                      conflict=True, warning=unusable)
        warn = (f"{self.path} was edited outside nso-install; kept as is. The new rendering is in "
                f"{self.new_path}; merge it by hand or re-run with --force-conf to replace the file (a backup is kept).")
        if self.explain is not None:
            try:
                why = self.explain(facts.read(self.path) or b"", self.content)
            except TooLarge:
                why = None
            warn += f" {why}" if why else ""
        if unusable:
            warn += " " + unusable.removeprefix(f"{self.path} was edited outside nso-install and kept as is. ")
        if new_ok and not drift:
            return ok(f"edited by the administrator; kept (new rendering already in {self.new_path})",
                      conflict=True, warning=warn)
        # (a FIFO or directory where the .new goes: refused here, so the preflight refuses it
        # before the run changes anything; apply's write found it half way)
        require_kind(facts.path(self.new_path), FILE, hint=f"Move {self.new_path} out of the way and re-run.")
        return change(f"edited by the administrator; kept (the new rendering goes to {self.new_path})", diff=diff,
                      conflict=True, warning=warn)

    def _contradicted(self, facts: Facts) -> str | None:
        try:
            return self.must_follow(facts.read(self.path) or b"", self.content)
        except TooLarge:
            return None

    def _unusable(self, facts: Facts) -> str | None:
        if self.unusable is None:
            return None
        try:
            why = self.unusable(facts.read(self.path) or b"")
        except TooLarge:
            return None
        return f"{self.path} was edited outside nso-install and kept as is. {why}" if why else None

    def _new_holds(self, facts: Facts, digest: str) -> bool:
        """A ``.new`` (a regular file) beside the file holds exactly the content of ``digest``."""
        return self._stale_new(facts) and facts.sha256(self.new_path) == digest

    def _stale_new(self, facts: Facts) -> bool:
        """A ``.new`` rendering (a regular file; a link is never touched) is beside the file."""
        return facts.path(self.new_path).kind == FILE

    def _drop_stale_new(self, facts: Facts, ctx) -> None:
        """The file now is the rendering: a ``.new`` beside it waits for nothing any more."""
        if self._stale_new(facts):
            fsops.remove_file(ctx.target.host(self.new_path))

    def _not_kept(self) -> UsageError:
        return UsageError(
            "edited-file-decides-account",
            f"{self.path} was edited outside nso-install, and it decides {self.decides}. This run changes that "
            f"account ({self.account_change}); the edited copy, kept as is, would not follow, so nothing was changed.",
            "See the new rendering: the same command with --check --diff --force-conf. Then re-run with --force-conf "
            "(your version is kept as a backup: merge what you need back into the new file), or put back the file "
            "nso-install wrote and re-run.")

    def preflight(self, facts: Facts, ctx) -> None:
        """Before the run changes anything (who owns the run and log directories included):
        refuse to keep an edited file that decides which account NSO runs as, while that
        account changes (:meth:`check` raises then).  A link (an administrator's way to share
        a config file) or a special file at the path is refused here too: found only when its
        turn came, it stopped the run half way, with ``current`` already switched and the config
        still the other version's.  (Not one of another account: a hand-over, Reown, may move
        it aside first.)"""
        fact = facts.path(self.path)
        if fact.kind in (LINK, OTHER) and (fact.uid == 0 or facts.target.unprivileged):
            self._fact(facts, FILE)
        odd_new = facts.path(self.new_path).kind in (DIR, OTHER)  # (check refuses it when the .new is written)
        if self.account_change or (self.must_follow is not None or odd_new) and fact.kind == FILE:
            self.check(facts, ctx)

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
            self._drop_stale_new(facts, ctx)
            effects.notes.append(f"{self.path} belonged to {foreign} and had been edited; it changed hands, so its "
                                 f"content was not adopted. That version is kept as {aside}: review it and merge "
                                 "what you need by hand.")
            return effects
        if foreign:
            # Leaving an account: the rendering is written anew, never the account's file copied
            # (it may write into it until the very last moment).
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)
            self._drop_stale_new(facts, ctx)
        elif fact.kind == FILE and facts.sha256(self.path) == new:
            if self.attrs.drift(facts, fact):
                self.attrs.apply(facts, host, self.path)
            self._drop_stale_new(facts, ctx)
        elif outcome.conflict and not ctx.force_conf:
            if new != ctx.conffiles.get(self.path):  # (else nothing new to offer: see check)
                self._aside_dir(ctx)
                fsops.atomic_write(ctx.target.host(self.new_path), self.content, self.attrs.mode, uid, gid,
                                   self.new_path)
            else:  # (a .new of this or another rendering: see check)
                self._drop_stale_new(facts, ctx)
            kept = self._kept_attrs(facts, fact)  # owner and mode are ours to enforce, the content is not
            if kept.drift(facts, fact):
                kept.apply(facts, host, self.path)
            # nothing of its content recorded: the file on disk is still the administrator's; but a
            # file nso-install never wrote (another installer's) is remembered as kept, or status,
            # verify and the audit, which know only the files it wrote, never named its .new
            return None if self.path in ctx.conffiles else Effects(kept={self.path})
        else:
            edited = ctx.conffiles.get(self.path) != facts.sha256(self.path)
            if fact.kind == FILE and (edited or self._replaced(facts)):
                backup = beside(self.path, f".{time.strftime('%Y%m%dT%H%M%S')}.bak")
                self._aside_dir(ctx)
                # Written like every other file (temp, no link followed: the directory may belong
                # to the NSO account, RUN_DIR/cdb), and never over an earlier backup.
                written = fsops.write_new(ctx.target.host(backup), facts.read(self.path) or b"", fact.mode or 0o600,
                                          fact.uid, fact.gid)
                backup = str(PurePosixPath(backup).with_name(written.name))
                effects.notes.append(f"saved the administrator's {self.path} as {backup}" if edited else
                                     f"saved the previous {self.path} as {backup}")
            fsops.atomic_write(host, self.content, self.attrs.mode, uid, gid, self.path)
            stale_new = ctx.target.host(self.new_path)
            if os.path.lexists(stale_new) and not os.path.islink(stale_new):
                fsops.remove_file(stale_new)
        return effects


@record
class Symlink(Action):
    """A symlink.  ``switch=False``: create when missing, leave one pointing elsewhere alone
    (NSO's ``current`` link after the first install).  Switching is atomic (rename over).
    ``removed_means``: a missing link is an administrator's choice while ``to`` exists (the
    unit's enable link, which ``systemctl disable`` removes): left missing, and this said."""

    path: str
    to: str
    reason: str = ""
    switch: bool = True
    removed_means: str = ""
    kind: ClassVar[str] = "symlink"

    def check(self, facts, ctx):
        fact = require_kind(facts.path(self.path), LINK)
        if fact.kind == ABSENT and self.removed_means and facts.path(self.to).kind != ABSENT:
            return ok(f"absent: {aim_systemctl(self.removed_means, _staging(facts))}; left so")
        if fact.kind == ABSENT:
            return change(f"create -> {self.to}")
        if fact.link == self.to:
            return ok(f"points to {self.to}")
        pointed = PurePosixPath(fact.link) if fact.link.startswith("/") else PurePosixPath(self.path).parent / fact.link
        if facts.path(os.path.normpath(str(pointed))).kind == ABSENT:
            return change(f"repair: {fact.link} does not exist (dangling link) -> {self.to}",
                          diff=f"- {fact.link} (missing)\n+ {self.to}")
        if not self.switch:
            # (no warning: installing beside the active version is the normal first step of an
            # upgrade, and the run's note already says how to switch)
            return ok(f"points to {fact.link}; left alone (--activate switches it to {self.to})")
        return change(f"switch {fact.link} -> {self.to}", diff=f"- {fact.link}\n+ {self.to}")

    def apply(self, facts, ctx, outcome):
        fsops.atomic_symlink(ctx.target.host(self.path), self.to)


@record
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
            return self._directory()
        return change(f"remove the {'link' if fact.kind == LINK else 'file'}")

    def _directory(self):
        raise UnsafePathError("unexpected-directory", f"{self.path} is a directory; expected a file.",
                              "Remove it by hand if it should go.")

    def apply(self, facts, ctx, outcome):
        fsops.remove_file(ctx.target.host(self.path))


@record
class RemoveTree(Absent):
    """A directory removed with everything in it (uninstall), never following a link: a link
    at ``path`` is removed itself, not what it points to -- except for a top-level directory
    (``top``: its option) that is a trusted link (:meth:`Target.dir_link`): then what the real
    directory holds goes too, and the link; the real directory stays (it may be a mount point)."""

    top: str = ""
    kind: ClassVar[str] = "remove"

    def _real(self, facts, ctx) -> str | None:
        if self.top and facts.path(self.path).kind == LINK:
            return str(ctx.target.dir_link(self.path, self.top))
        return None

    def check(self, facts, ctx):
        real = self._real(facts, ctx)
        if real:
            return change(f"remove everything in {real} (where the link leads) and the link")
        return super().check(facts, ctx)

    def _directory(self):
        return change("remove the directory and everything in it")

    def apply(self, facts, ctx, outcome):
        real = self._real(facts, ctx)
        for name in facts.listdir(real) if real else ():
            fsops.remove_tree(ctx.target.host(f"{real}/{name}"))
        fsops.remove_tree(ctx.target.host(self.path))


@record
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


def _staging(facts: Facts) -> str | None:
    """The staging root the facts are of, None on the host (for :func:`aim_systemctl`)."""
    return str(facts.target.root) if facts.target.staged else None


@record
class Obsolete(Action):
    """A file an earlier spec had nso-install write, which this one does not want (the SysV
    script after a move to systemd, the unit after a move to SysV...).  Removed when it is still
    exactly what nso-install wrote (its recorded digest); an edited or foreign one is left
    alone and reported with ``message``.  ``link_to``: the path is nso-install's symlink to
    that target (the unit's enable link), removed with it."""

    path: str
    message: str
    reason: str = ""
    link_to: str | None = None
    kind: ClassVar[str] = "obsolete"
    fs: ClassVar[bool] = False  # never creates anything: its parent directories are not planned

    def check(self, facts, ctx):
        fact = facts.path(self.path)
        if fact.kind == ABSENT:
            return ok("absent")
        if masked(fact):  # (a masked unit or tmpfiles.d entry does nothing: nothing to disable or remove)
            return ok("masked (a link to /dev/null); left alone")
        if self.link_to is not None:
            if fact.kind == LINK and fact.link == self.link_to:
                return change(f"remove the link to {self.link_to} (no longer wanted)")
            return ok("present; not nso-install's link, left alone",
                      warning=f"{self.path}: {aim_systemctl(self.message, _staging(facts))}")
        recorded = ctx.conffiles.get(self.path)
        if fact.kind == FILE and recorded is not None and facts.sha256(self.path) == recorded:
            return change("remove (written by nso-install for an earlier spec, unedited)")
        edited = " (edited since nso-install wrote it)" if recorded else ""
        return ok(f"present{edited}; left alone", conflict=bool(recorded),
                  warning=f"{self.path}: {aim_systemctl(self.message, _staging(facts))}")

    def apply(self, facts, ctx, outcome):
        fsops.remove_file(ctx.target.host(self.path))
        return Effects(conffiles_removed={self.path})


QUARANTINE = ".nso-install-quarantine."  # where a hand-over puts what needs review (0700 root)
# What in RUN_DIR a hand-over moves aside rather than gives to the next owner: NSO's load path
# and scripts, and -- RUN_DIR is the NSO account's home -- what programs read from a home: a
# Python's user site-packages (~/.local), sshd's authorized_keys (~/.ssh: a nologin account
# still forwards ports), and XDG configuration (~/.config)
RUN_DIR_QUARANTINE = ("packages", "scripts", ".local", ".ssh", ".config")


def refuse_running(facts: Facts, ctx, uid: int | None, who: str) -> None:
    """Refuse a hand-over while a process runs as ``uid``: it could write the account's files
    faster than they are taken over (a staged root has no processes of its own)."""
    if ctx.target.staged:
        return
    procs = facts.processes_of(uid)
    if procs:
        raise ApplyError("account-still-running",
                         f"{who} still runs processes (pid {', '.join(map(str, procs[:10]))}); "
                         "they could write its files faster than they are taken over.",
                         f"Stop NSO and every process of {who} (pkill -u {uid}), then re-run.")


def _copied(st, uid_old: int) -> bool:
    """A file :class:`Reown` replaces by a copy: the account's own, or one it could write."""
    return st.st_uid == uid_old or bool(st.st_mode & 0o022)


@record
class Reown(Action):
    """What the NSO account ``from_user`` owns under ``path``, taken from it when it no longer
    runs NSO (or another account does): nothing it could write stays behind, and nothing it
    put where NSO loads code is run by the new owner unreviewed.

    * directories: owner ``to_user`` (group ``to_group`` where it was the account's own),
      group/other write, setuid, setgid and sticky bits dropped;
    * regular files: replaced by copies (holes kept) with that owner and the same drop of bits
      (the account may hold them open for writing);
    * entries of the account in ``quarantine`` (NSO's load path and scripts: packages/,
      scripts/; what programs read from the account's home: RUN_DIR_QUARANTINE), and every
      symlink or special file of the account: moved, whole, into
      ``PATH/.nso-install-quarantine.ACCOUNT.TIME`` (0700 root; ``.XXXXXXXX`` added when the name
      is taken) for the administrator to review;
    * entries of other owners in the account's group: the group becomes ``to_group``.

    Refused while a process of the account runs (it could write as fast as files are taken
    over): stop NSO and the account's other processes first."""

    path: str
    from_user: str
    to_user: str
    to_group: str
    reason: str = ""
    skip: frozenset[str] = frozenset()  # paths other actions of the plan manage
    quarantine: tuple[str, ...] = ()  # directories (relative to path) whose account entries are moved aside
    itself: bool = False  # ``path`` too (else a Directory action of the plan manages it): uninstall --accounts
    kind: ClassVar[str] = "reown"

    @property
    def id(self) -> str:
        # (uninstall --accounts hands each kept directory over from every account nso-install
        # made, the one NSO ran as before a change of --run-as-user too: one id each)
        return f"{self.kind}:{self.path}:{self.from_user}"

    def _ids(self, facts: Facts) -> tuple[int | None, int | None]:
        u = facts.accounts.users.get(self.from_user)
        return (u.uid, u.gid) if u else (None, None)

    def _top_of_quarantine(self, tpath: str) -> str | None:
        rel = PurePosixPath(tpath).relative_to(self.path)
        for q in self.quarantine:
            if rel.parts[:len(PurePosixPath(q).parts)] == PurePosixPath(q).parts and \
                    len(rel.parts) > len(PurePosixPath(q).parts):
                return str(PurePosixPath(self.path, *rel.parts[:len(PurePosixPath(q).parts) + 1]))
        return None

    def _survey(self, facts: Facts) -> tuple[list[str], list[tuple[str, object, str]]]:
        """(entries to move aside, [(path, stat, kind) to take over]) for the account."""
        uid, gid = self._ids(facts)
        if uid is None or facts.path(self.path).kind != DIR:
            return [], []
        aside: list[str] = []
        take: list[tuple[str, object, str]] = []
        quarantined = f"{self.path}/{QUARANTINE}"
        top = facts.path(self.path)
        if self.itself and (top.uid == uid or top.gid == gid):
            take.append((self.path, Owned(stat.S_IFDIR | top.mode, top.uid, top.gid), DIR))
        for p, st, kind in facts.walk(self.path):
            if p in self.skip or p.startswith(quarantined) or any(p.startswith(a + "/") for a in aside):
                continue
            if st.st_uid != uid and st.st_gid != gid:
                continue
            top = self._top_of_quarantine(p) if st.st_uid == uid else None
            if top is not None or (st.st_uid == uid and kind in (LINK, OTHER)):
                aside.append(top or p)
                take = [t for t in take if not t[0].startswith((top or p) + "/") and t[0] != (top or p)]
                continue
            take.append((p, st, kind))
        return list(dict.fromkeys(aside)), take

    def check(self, facts, ctx):
        if self._ids(facts)[0] is None:
            return ok(f"user {self.from_user} no longer exists; nothing of it to hand over")
        aside, take = self._survey(facts)
        if not aside and not take:
            return ok(f"nothing of {self.from_user} left")
        lines = [f"> {p} (moved aside for review)" for p in aside] + [f"  {p}" for p, _, _ in take]
        shown = "\n".join(lines[:30]) + (f"\n  ... and {len(lines) - 30} more" if len(lines) > 30 else "")
        return change(f"take {len(take)} entr{'y' if len(take) == 1 else 'ies'} from {self.from_user} (to "
                      f"{self.to_user}), move {len(aside)} aside for review", diff=shown)

    def preflight(self, facts: Facts, ctx) -> None:
        """Before the run changes anything: its refusals (the account still running, a file of
        its with another name), found only when this action's turn came, stopped the run half
        way, the account already out of ncsadmin (found by review)."""
        uid_old, gid_old = self._ids(facts)
        if uid_old is None:
            return
        aside, take = self._survey(facts)
        if not aside and not take:
            return  # (nothing to hand over: apply never runs, and refuses nothing)
        refuse_running(facts, ctx, uid_old, self.from_user)
        for tpath, st, kind in take:
            if kind == FILE and _copied(st, uid_old):
                fsops.check_single(st, tpath)  # (apply's replace_by_copy refuses it)

    def apply(self, facts, ctx, outcome):
        uid_old, gid_old = self._ids(facts)
        refuse_running(facts, ctx, uid_old, self.from_user)
        uid, gid = Attrs(0o755, self.to_user, self.to_group).resolve(facts, self.path)
        aside, take = self._survey(facts)
        # again: the account decides how long the survey's walk takes (it can fill its directories),
        # and a process of it started meanwhile (cron, at) could race what follows
        refuse_running(facts, ctx, uid_old, self.from_user)
        effects = Effects()
        if aside:
            qname = f"{QUARANTINE}{self.from_user}.{time.strftime('%Y%m%dT%H%M%S')}"
            # The quarantine sits in a directory the account can still write (it is taken over
            # below): it could rename it and put a link to /etc at its name.  So every entry
            # goes in through the descriptor of the directory made here, never by its name.
            _drop_empty_quarantines(ctx.target.host(f"{self.path}/{qname}"), f"{QUARANTINE}{self.from_user}.")
            with ExitStack() as held:
                # the name may be taken: by the quarantine of a run killed in the same second
                # (its re-run failed with 'File exists'), or by the account, which can guess it
                for suffix in ("", f".{os.urandom(4).hex()}"):
                    quarantine = f"{self.path}/{qname}{suffix}"
                    try:
                        qfd = held.enter_context(fsops.new_private_dir(ctx.target.host(quarantine)))
                        break
                    except FileExistsError:
                        if suffix:
                            raise
                used: set[str] = set()
                for p in aside:
                    name = str(PurePosixPath(p).relative_to(self.path)).replace("/", "%")
                    while name in used:  # ("a/b%c" and "a%b/c" flatten alike)
                        name += "%"
                    used.add(name)
                    fsops.move_into(ctx.target.host(p), qfd, name)
            effects.notes.append(f"moved {len(aside)} entr{'y' if len(aside) == 1 else 'ies'} {self.from_user} had "
                                 f"made in {self.path} (code NSO would load or run, links, special files) into "
                                 f"{quarantine} (0700 root): review them before putting any back.")
        for tpath, st, kind in take:
            owner = uid if st.st_uid == uid_old else st.st_uid
            group = gid if st.st_gid == gid_old else st.st_gid
            mode = stat.S_IMODE(st.st_mode) & 0o755  # nothing writable by others, no setuid/setgid/sticky
            host = ctx.target.host(tpath)
            if kind == DIR:
                fsops.set_attrs(host, mode, owner, group, tpath)
            elif kind == FILE and _copied(st, uid_old):
                # a run killed while copying it left its copy beside it (already the new
                # owner's: no later hand-over takes it, and no Leftovers action looks in
                # RUN_DIR's streams/, state/... where it stayed for good)
                fsops.remove_stale_temps(host, owner)
                fsops.replace_by_copy(host, mode, owner, group, tpath)
            elif kind == FILE:
                fsops.set_attrs(host, stat.S_IMODE(st.st_mode) & ~0o6000, owner, group, tpath)
        return effects


def _drop_empty_quarantines(host: Path, prefix: str) -> None:
    """Remove the empty quarantines beside ``host`` (names starting with ``prefix``): a hand-over
    killed after making its quarantine, before moving anything in, left it, and its re-run makes
    another.  rmdir only removes an empty directory, through the parent's descriptor, and never
    a link, so what the account may have put at such a name is safe either way."""
    with fsops.parent_dir(host) as dfd:
        for name in os.listdir(dfd):
            if name.startswith(prefix):
                try:
                    os.rmdir(name, dir_fd=dfd)
                except OSError:  # not empty (a review waits), not a directory: left as it is
                    pass


@record
class TakeOver(Action):
    """``path`` and the entries under it owned by one of ``users``, or in one of ``groups``,
    get ``to_user``/``to_group`` in their place (each id on its own), modes kept but for the
    setuid/setgid bits a chown clears.  For a hand-over that involves no untrusted account:
    root's files in NSO's run and log directories when NSO starts to run as an account (it
    must write its CDB and logs: the vendor's container chowns them the same way), and the
    files of accounts ``uninstall --accounts`` deletes in the directories it keeps (a later
    account given the same uid or gid would own them: the keys' group, say).

    ``orphans``: also the entries of a uid (gid) no account (group) of the target has, which an
    account deleted outside nso-install (a bare ``userdel``) leaves behind: by number only, a
    later account given that number would own them.

    Symbolic links and special files are left as they are (their owner grants nothing here);
    a regular file with more than one name is left too, and named (its other name may be any
    file, /etc/shadow included), as are entries of ``skip`` (other actions manage them)."""

    path: str
    users: tuple[str, ...]
    groups: tuple[str, ...]
    to_user: str
    to_group: str
    reason: str = ""
    skip: frozenset[str] = frozenset()
    orphans: bool = False
    kind: ClassVar[str] = "takeover"

    def _ids(self, facts: Facts) -> tuple[Callable[[int], bool], Callable[[int], bool]]:
        """Whether a uid, and a gid, is one this hand-over takes from."""
        acc = facts.accounts
        uids = {u.uid for n in self.users if (u := acc.users.get(n)) is not None}
        gids = {g.gid for n in self.groups if (g := acc.groups.get(n)) is not None}
        if not self.orphans or not (acc.users and acc.groups):  # (no account files read: no number is known)
            return uids.__contains__, gids.__contains__
        known_uids = {0} | {u.uid for u in acc.users.values()}
        known_gids = {0} | {g.gid for g in acc.groups.values()}
        return (lambda uid: uid in uids or uid not in known_uids), (lambda gid: gid in gids or gid not in known_gids)

    def _survey(self, facts: Facts) -> tuple[list[tuple[str, int, int, int, str]], list[str]]:
        """([(path, mode, uid, gid, kind) to take over], [hard-linked files left as they are]):
        ``path`` itself and what is below it."""
        user, group = self._ids(facts)
        top = facts.path(self.path)
        if top.kind != DIR:
            return [], []
        take, linked = [], []
        if self.path not in self.skip and (user(top.uid) or group(top.gid)):
            take.append((self.path, top.mode, top.uid, top.gid, DIR))
        for p, st, kind in facts.walk(self.path):
            if p in self.skip or kind not in (DIR, FILE) or not (user(st.st_uid) or group(st.st_gid)):
                continue
            if PurePosixPath(p).relative_to(self.path).parts[0].startswith(QUARANTINE):
                continue  # what a hand-over set aside for review stays root's
            if kind == FILE and st.st_nlink > 1:
                linked.append(p)
            else:
                take.append((p, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, kind))
        return take, linked

    def check(self, facts, ctx):
        take, linked = self._survey(facts)
        who = ", ".join([*self.users, *(f"group {g}" for g in self.groups),
                         *(["deleted accounts"] if self.orphans else [])])
        warning = (f"{len(linked)} file(s) of {who} in {self.path} have other names (hard links) and keep their "
                   f"owner: {', '.join(linked[:5])}; find the other names (find / -samefile FILE) before "
                   "deciding who should own them.") if linked else None
        if not take:
            return ok(f"nothing of {who} left", warning=warning)
        lines = [f"  {t[0]}" for t in take]
        shown = "\n".join(lines[:30]) + (f"\n  ... and {len(lines) - 30} more" if len(lines) > 30 else "")
        return change(f"give {len(take)} entr{'y' if len(take) == 1 else 'ies'} of {who} to "
                      f"{self.to_user}:{self.to_group}", diff=shown, warning=warning)

    def _refuse_orphans_running(self, facts: Facts, ctx, take) -> None:
        """A deleted account's number may still run processes (``userdel -f``, a container's
        bare uid): they could write faster than its files are taken over, as in :class:`Reown`."""
        if not self.orphans:
            return
        known = {0} | {u.uid for u in facts.accounts.users.values()}
        for uid in sorted({t[2] for t in take} - known):
            refuse_running(facts, ctx, uid, f"uid {uid} (an account deleted outside nso-install)")

    def preflight(self, facts: Facts, ctx) -> None:
        """Refused before the run changes anything, not when this action's turn comes."""
        if self.orphans:
            self._refuse_orphans_running(facts, ctx, self._survey(facts)[0])

    def apply(self, facts, ctx, outcome):
        user, group = self._ids(facts)
        uid, gid = Attrs(0o755, self.to_user, self.to_group).resolve(facts, self.path)
        take, _ = self._survey(facts)
        self._refuse_orphans_running(facts, ctx, take)
        for tpath, mode, owner, owning_group, kind in take:
            mode &= ~0o6000 if kind == FILE else ~0  # (what a chown clears)
            fsops.set_attrs(ctx.target.host(tpath), mode, uid if user(owner) else owner,
                            gid if group(owning_group) else owning_group, tpath)
        return None
