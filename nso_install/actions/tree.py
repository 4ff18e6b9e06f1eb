"""The unpacked distribution: ``INSTALL_DIR/ncs-VSN`` (or a local install's directory).

The tree is unpacked into a private temporary directory and renamed into place only when
complete, so ``path`` never holds a half tree.  While it is still private a manifest of it is
taken (:mod:`nso_install.manifest`); later runs compare the tree with that manifest (stat level)
and repair what differs by unpacking the distribution again and exchanging the two trees.
Leftovers of an interrupted run are removed by the next one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from .. import fsops, manifest
from ..errors import ApplyError, UnsafePathError
from ..facts import ABSENT, DIR, FILE, LINK, Facts
from .base import Action, Attrs, Effects, change, ok
from .privileges import PATTERNS, REMOVABLE
from ..record import record


def left_out_of_system_tree(keep_ncs_setup: bool) -> tuple[str, ...]:
    """What a system install leaves out of the tree it unpacks: ncs-setup does not work there
    (ncs-installer(1)'s --keep-ncs-setup keeps it)."""
    return () if keep_ncs_setup else ("bin/ncs-setup",)


# What other actions write into an unpacked tree, which the tree's own manifest does not cover
# (the plan's InstallTree and verify judge a tree by the same rules): the environment scripts in
# every tree, and in a local install (one directory) its config, secrets and nso-install's records.
WRITTEN_IN_EVERY_TREE = ("ncsrc", "ncsrc.tcsh")
# Shipped files a local install leaves out of its tree: the ncs.conf, replaced by the rendering,
# and a TLS key with its certificate (an example every holder of the distribution has: the
# install generates its own pair in their place)
LOCAL_OWNED_ELSEWHERE = ("etc/ncs/ncs.conf", "etc/ncs/ssl/cert/host.key", "etc/ncs/ssl/cert/host.cert")
LOCAL_WRITTEN_ELSEWHERE = (".nso-install", *WRITTEN_IN_EVERY_TREE, "etc/ncs/ncs.conf*", "etc/ncs/ipc_access",
                           "etc/ncs/ncs.crypto_keys", "etc/ncs/ssh", "etc/ncs/ssl")


@record
class InstallTree(Action):
    """The distribution unpacked at ``path``, as its manifest says."""

    path: str
    dist: object  # nso_install.distribution.Distribution (or an installed tree: kind "installed")
    owner: str | None = "root"
    group: str | None = "root"
    reason: str = ""
    owned_elsewhere: tuple[str, ...] = ()  # relative paths left out of the tree (other actions write them)
    written_elsewhere: tuple[str, ...] = ()  # relative paths other actions add to the tree (ncsrc)
    kind: ClassVar[str] = "tree"

    _prepared: Path | None = field(default=None, init=False, repr=False, compare=False)
    _manifest: manifest.Manifest | None = field(default=None, init=False, repr=False, compare=False)
    # the drift prepare() or check() found, for the other in the same run (same Context; both
    # run before apply): walking a big tree twice doubled a no-op re-run
    _checked: tuple[object, manifest.Drift | None] | None = field(default=None, init=False, repr=False,
                                                                   compare=False)
    # the Context whose preflight() found the tree's extra entries root's: the run's preflight and
    # the check() after it judge the same tree once
    _vetted: object | None = field(default=None, init=False, repr=False, compare=False)

    # --- what is there ---------------------------------------------------------------------

    def _named_like_leftovers(self, facts: Facts) -> tuple[list[str], list[str]]:
        """Temporary trees of interrupted runs: beside ``path``, or in an ancestor (where a first
        install, before INSTALL_DIR exists, prepares the tree); this account's, then another's.
        Only this account's are leftovers: a local install's directory may be in a shared sticky
        one (/tmp/nso), where another account can put entries of that name; one of theirs is no
        leftover of ours (its ``.carried`` record would move that account's files into the tree,
        and removing it fails in a sticky directory anyway)."""
        p = PurePosixPath(self.path)
        prefix = f"{fsops.TMP_MARK}{p.name}."
        out = []
        for d in p.parents:
            out += [str(d / n) for n in facts.listdir(str(d)) if n.startswith(prefix)]
        # (the tree this run prepared is not a leftover)
        out = [x for x in out if self._prepared is None or PurePosixPath(x).name != self._prepared.name]
        me = os.geteuid()
        return ([x for x in out if facts.path(x).uid == me],
                [x for x in out if facts.path(x).uid not in (me, None)])  # (None: gone meanwhile)

    def _leftovers(self, facts: Facts) -> list[str]:
        return self._named_like_leftovers(facts)[0]

    def _foreign_warning(self, facts: Facts, foreign: list[str]) -> str | None:
        """A warning naming entries that look like leftovers but belong to another account."""
        if not foreign:
            return None
        return (f"{', '.join(f'{x} (uid {facts.path(x).uid})' for x in foreign)}: named like nso-install's "
                f"temporary trees of {self.path} but another account's; left alone, never used (someone may be "
                "trying to slip files into this install: find out who, and prefer a directory only you can write "
                "above it).")

    def _installed(self, facts: Facts) -> str:
        return facts.version_file(self.path)

    @property
    def repairable(self) -> bool:
        """A distribution to restore from (an installed tree used as one cannot restore itself)."""
        return getattr(self.dist, "kind", "") != "installed"

    def drift(self, facts: Facts, ctx, full: bool = False) -> manifest.Drift | None:
        """How the installed tree differs from its manifest; None without a manifest."""
        m = ctx.manifest(self.path)
        if m is None:
            return None
        # what this spec leaves out may still be there (unpacked for an earlier spec): another
        # action removes it, and its absence is no damage; what an earlier spec left out and
        # this one wants (--keep-ncs-setup) is missing: the tree is unpacked again to have it
        drift = manifest.compare(m, ctx.target.host(self.path), frozenset(self.written_elsewhere),
                                 m.matching(PATTERNS), full, frozenset(REMOVABLE) | frozenset(self.owned_elsewhere),
                                 listing=True)
        wanted = sorted(m.left_out - frozenset(self.owned_elsewhere))
        if wanted:
            drift = manifest.Drift(sorted({*drift.missing, *wanted}), list(drift.extra), list(drift.changed))
        return drift

    def _here(self, facts: Facts) -> bool:
        """The distribution's version is installed at the path, and this run has the distribution."""
        return self.repairable and facts.path(self.path).kind == DIR and self._installed(facts) == self.dist.version

    def repairs(self, facts: Facts, ctx) -> bool:
        """This run unpacks the installed tree again and exchanges it for the one there (a
        repair): what is in it is then as the distribution has it (modes, no privileges).
        False once this run's apply has repaired it (:meth:`apply` records the new tree)."""
        if not self._here(facts):
            return False
        drift = self._drift_once(facts, ctx)
        return drift is not None and drift.damaged

    def records(self, facts: Facts, ctx) -> bool:
        """This run compares the installed tree, which has no manifest (NSO's own installer
        unpacked it), with the distribution and records one (or repairs the tree): its files are
        then those nso-install unpacked.  False once this run's apply has recorded it."""
        return self._here(facts) and self._drift_once(facts, ctx) is None

    def _drift_once(self, facts: Facts, ctx) -> manifest.Drift | None:
        if self._checked is None or self._checked[0] is not ctx:
            self._checked = (ctx, self.drift(facts, ctx))
        return self._checked[1]

    def check(self, facts, ctx):
        self.preflight(facts, ctx)  # (--check refuses it as the run does)
        leftovers, foreign = self._named_like_leftovers(facts)
        outcome = self._check(facts, ctx, leftovers)
        if foreign and not outcome.warning:
            outcome.warning = self._foreign_warning(facts, foreign)
        return outcome

    def _check(self, facts, ctx, leftovers: list[str]):
        fact = self._fact(facts, DIR)
        extra = f"; remove {len(leftovers)} leftover(s) of an interrupted run" if leftovers else ""
        v = self.dist.version
        if fact.kind == ABSENT:
            return change(f"unpack NSO {v} from {self.dist.kind} {self.dist.source.name}{extra}")
        installed = self._installed(facts)
        if installed != v:
            if facts.listdir(self.path):
                raise UnsafePathError(
                    "install-dir-occupied",
                    f"{self.path} exists and does not hold NSO {v} (VERSION: {installed or 'missing'}).",
                    "Choose another directory, or move the existing one away.")
            self._check_replaceable(ctx)
            return change(f"unpack NSO {v} into the empty directory{extra}")
        drift = self._drift_once(facts, ctx)
        if drift is None:
            if self.repairable:
                return change(f"NSO {v} installed without a manifest: compare it with the distribution and record "
                              f"one{extra}")
            return ok(f"NSO {v} installed (no manifest: nso-install did not unpack it)")
        if drift.damaged:
            if not self.repairable:  # refused as the run refuses it (the check said "1 to change", exit 0)
                raise self._not_restorable(drift)
            how = "repair from the distribution" + (", keeping the extra entries" if drift.extra else "")
            return change(f"NSO {v} differs from what was unpacked ({drift.summary()}); {how}{extra}",
                          diff="\n".join(drift.lines()))
        if leftovers:
            return change(f"NSO {v} installed{extra}")
        return ok(f"NSO {v} installed, as unpacked")

    def preflight(self, facts: Facts, ctx) -> None:
        """Refused before anything changes: a tree of this version there holding entries the
        distribution lacks that another account owns or may write.  A repair carries such
        entries into the repaired tree as they are (:meth:`_carry_over`), and an intact tree is
        recorded with them: that account's files stayed in a tree root runs (its ``bin/`` is on
        every login shell's PATH through ``current``), now "as unpacked"."""
        if self._vetted is ctx or not self._here(facts):
            return
        drift = self._drift_once(facts, ctx)
        if drift is None:
            if self._manifest is None:
                return
            # (no manifest yet: the extra entries by name, against the distribution's; the run
            # compares the content itself later)
            drift = manifest.compare(self._manifest, ctx.target.host(self.path), frozenset(self.written_elsewhere),
                                     self._manifest.matching(PATTERNS), full=False)
        m = ctx.manifest(self.path) or self._manifest
        gone = m.left_out if m is not None else frozenset()  # (what this spec leaves out: removed by another action)
        for rel in drift.extra:
            if any(rel == g or rel.startswith(f"{g}/") for g in gone):
                continue
            why = foreign_entry(facts, f"{self.path}/{rel}")
            if why is not None:
                where, problem = why
                raise UnsafePathError("untrusted-tree", f"{where} is not in the NSO {self.dist.version} distribution and "
                                      f"{problem}: a repair keeps such entries as they are, so another account's files "
                                      f"would stay in {self.path}, which root runs; nothing was changed.",
                                      f"Find out who put it there; move it out of the tree (or move {self.path} out "
                                      "of the way to install it anew), then re-run.")
        self._vetted = ctx

    def _not_restorable(self, drift: manifest.Drift) -> ApplyError:
        return ApplyError("tree-not-restorable", f"{self.path} differs from what nso-install unpacked "
                          f"({drift.summary()}), and no distribution was given to restore it from.",
                          f"Run nso-install install with the NSO {self.dist.version} distribution; "
                          "nso-install verify lists the differences.")

    def settle(self, facts: Facts, ctx):
        """An intact tree whose manifest has no stat index for this comparison (recorded by an
        nso-install before format 2, or for another interpreter version, whose hashes differ)
        gets one, computed from its sealed records: otherwise every re-run compared the records
        entry by entry (a 34k-entry tree: 0.6 s, each time).  Written once; the next run finds
        the index and has nothing to settle."""
        m = ctx.manifest(self.path)
        ignore = frozenset(self.written_elsewhere)
        if m is None or not manifest.StatIndex.usable(ignore) or \
                (m.index is not None and m.index.key == manifest.StatIndex.key_of(ignore, m.matching(PATTERNS))):
            return None
        drift = self._drift_once(facts, ctx)
        if drift is None or drift.damaged:
            return None
        m.add_index(ignore, PATTERNS)
        return Effects(notes=[f"{self.path}: its manifest got the stat index re-runs use to tell it intact "
                              "(recorded by an earlier nso-install without it)"], manifests={self.path: m})

    # --- unpacking --------------------------------------------------------------------------

    def prepare(self, facts: Facts, ctx) -> bool:
        """Unpack the distribution before anything else of the run changes the host: into a
        private temporary directory beside ``path`` (or in its nearest existing ancestor, on
        the same file system, when INSTALL_DIR does not exist yet), checking every member as it
        streams; a refused distribution leaves only that directory, which is removed.  Done when
        the tree is missing, or installed but to be repaired or compared; False otherwise."""
        if self._prepared is not None or not self.repairable:
            return False
        fact = facts.path(self.path)
        if fact.kind == DIR and not facts.listdir(self.path):
            self._check_replaceable(ctx)  # (before the unpack, not after it)
            # an empty directory (an earlier attempt left it): prepare as for a new one
        elif fact.kind == DIR:
            if self._installed(facts) != self.dist.version:
                return False
            drift = self._drift_once(facts, ctx)
            if drift is not None and not drift.damaged:
                return False
        elif fact.kind != ABSENT:
            return False
        host = ctx.target.host(self.path)
        self._prepared = self._unpack(next(d for d in host.parents if d.is_dir()), facts, ctx)
        return True

    def _check_replaceable(self, ctx) -> None:
        """An existing empty directory at ``path`` is replaced by the tree unpacked beside it
        (rmdir, then rename): refused at once, before a whole tree is unpacked for nothing,
        when it is a mount point (a volume: rmdir says EBUSY, and the tree sits on the other
        file system)."""
        host = ctx.target.host(self.path)
        if os.path.ismount(host):
            raise ApplyError("install-dir-is-mount-point",
                             f"{self.path} is a mount point: nso-install unpacks NSO beside it and renames the "
                             "complete tree into its place, which cannot replace a mount point.",
                             f"Install into a directory inside it (for example {self.path}/nso-"
                             f"{self.dist.version}), or mount the volume one level up.")

    def discard(self) -> None:
        """Remove a prepared tree the run did not use (it failed before this action)."""
        if self._prepared is not None:
            shutil.rmtree(self._prepared, ignore_errors=True)
            self._prepared = None

    def _unpack(self, where: Path, facts: Facts, ctx) -> Path:
        """The distribution unpacked into a new private directory in ``where``; its path.
        Removed again when anything fails (a refused member included)."""
        uid, gid = Attrs(0o755, self.owner, self.group).resolve(facts, self.path)
        tmp = where / f"{fsops.TMP_MARK}{PurePosixPath(self.path).name}.{os.urandom(4).hex()}"
        os.mkdir(tmp, 0o700)
        sync = None
        try:
            fsops.drop_inherited_acls_at(tmp)  # the tree inherits no ACL of INSTALL_DIR's: its modes are set
            digests: dict[str, str] = {}
            with fsops.Flushing(tmp) as flushing:
                self.dist.extract(tmp, uid=uid, gid=gid, progress=ctx.progress, digests=digests,
                                  started=flushing.start)
            left_out = set()
            for rel in self.owned_elsewhere:  # e.g. the shipped ncs.conf, replaced by our rendering
                victim = tmp / rel
                if victim.is_file() and not victim.is_symlink():
                    victim.unlink()
                    left_out.add(rel)
            fsops.set_attrs(tmp, self._top_mode(facts), uid, gid)
            # the tree's data must be on disk before its name is: written back while the
            # manifest is taken (syncfs waits for the disk, the walk for the processor)
            sync = fsops.Background(fsops.sync_filesystem, tmp)
            # still private to root: nobody can have changed anything in it yet, so what the
            # writer hashed on the way in is what is there
            self._manifest = manifest.take(tmp, self.path, self.dist.version, digests=digests)
            self._manifest.left_out = frozenset(left_out)
            # what lets a re-run tell an intact tree without reading its records (manifest.StatIndex)
            self._manifest.add_index(frozenset(self.written_elsewhere), PATTERNS)
            sync.join()
        except BaseException:
            if sync is not None:
                sync.join(raise_error=False)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def _top_mode(self, facts: Facts) -> int:
        """The unpacked tree's own mode: 0755, as NSO's installer leaves it; but a local install's
        directory made beforehand (``mkdir -m 0700 ~/nso``, private on a shared host) keeps its
        mode, as ncs-installer unpacking into it would (it became 0755), never more open than
        0755 and always the owner's to use."""
        fact = facts.path(self.path)
        if self.owner is None and fact.kind == DIR and fact.mode is not None:
            return fact.mode & 0o755 | 0o700
        return 0o755

    def apply(self, facts, ctx, outcome):
        self._checked = None  # decided again here, on what is there now
        host = ctx.target.host(self.path)
        leftovers = self._leftovers(facts)
        if not os.path.lexists(host) and self._finish_swap(ctx, leftovers):
            facts = Facts(ctx.target)  # (this run's facts saw no tree at path)
            leftovers = self._leftovers(facts)
        for left in leftovers:  # a repair killed while carrying entries over: they go back first
            if left.endswith(CARRIED):
                _bring_back(ctx.target.host(left), host)
        for left in leftovers:
            fsops.remove_tree(ctx.target.host(left))
        present = facts.path(self.path).kind == DIR and self._installed(facts) == self.dist.version
        drift = self.drift(facts, ctx) if present else None
        if present and drift is not None and not drift.damaged:
            return None  # only leftovers to clean
        if present and not self.repairable:
            raise self._not_restorable(drift)
        tmp = self._prepared or self._unpack(host.parent, facts, ctx)
        self._prepared = None
        stood = _is_working_directory(host)  # (the shell that ran us, when it was cd'd there)
        try:
            if present and drift is None:  # no manifest yet: the tree may well be intact
                drift = manifest.compare(self._manifest, host, frozenset(self.written_elsewhere),
                                         self._manifest.matching(PATTERNS), full=True)
                if not drift.damaged:
                    shutil.rmtree(tmp, ignore_errors=True)
                    return Effects(manifests={self.path: self._manifest})
            if present:
                self._carry_over(host, tmp, drift.extra)
                fsops.exchange(tmp, host)  # the repaired tree takes the name in one step
                shutil.rmtree(tmp)  # now the old, damaged tree, without what was carried over
                fsops.remove_file(_carried(tmp))
            else:
                if os.path.isdir(host):
                    try:
                        os.rmdir(host)  # only ever the empty directory accepted by check()
                    except OSError as e:  # a bind mount (EBUSY), another account's in a sticky directory...
                        mounted = " (a mount point)" if e.errno == errno.EBUSY else ""
                        raise ApplyError("install-dir-not-replaceable",
                                         f"{self.path}: cannot replace this empty directory{mounted} with the unpacked "
                                         f"tree ({e.strerror or e}): nso-install unpacks beside it and renames the "
                                         "tree into its place.",
                                         f"Install into a new directory inside it (for example {self.path}/nso-"
                                         f"{self.dist.version})" + ("" if mounted else
                                                                   f", or remove {self.path} (or have its owner "
                                                                   "remove it)") + "; then re-run.") from None
                os.rename(tmp, host)
        except BaseException:
            if os.path.lexists(_carried(tmp)):  # (the exchange failed: what was carried goes back)
                _bring_back(_carried(tmp), host)
                fsops.remove_file(_carried(tmp))
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsops.fsync_dir(host.parent)
        fsops.fsync_dir(tmp.parent)
        # The tree now at ``path`` is the one its manifest was taken from, privately and after its
        # last write: the engine's look after this apply need not walk it again to learn that it
        # is as unpacked (a stat an entry: 0.1 s of a 12k-entry install). The next run compares.
        # (every extra entry was carried into it, or the repair stopped before the exchange)
        self._checked = (ctx, manifest.Drift(extra=list(drift.extra) if drift else []))
        notes = [f"{self.path} was repaired from {self.dist.source.name}: {drift.summary()}"] if drift else []
        if stood:
            notes.append(f"{host} was the working directory of this run: the {'repaired' if drift else 'unpacked'} "
                         "tree took its place, so a shell standing there still sees the old, removed directory "
                         f"(empty, no ncsrc); cd {host} to see the new one.")
        return Effects(notes=notes, manifests={self.path: self._manifest})

    def _finish_swap(self, ctx, leftovers: list[str]) -> bool:
        """A repair killed between the two renames of :func:`fsops.exchange`'s fallback (no
        RENAME_EXCHANGE: the damaged tree aside, then the repaired one in) left nothing at
        ``path``: its repaired tree, complete with the entries carried into it, is renamed into
        place (it was whole before its record of them was written).  True when it was.  (Its
        manifest was not recorded: compared at stat level with the damaged tree's, it is
        repaired once more, from the tree this run prepared.)"""
        host = ctx.target.host(self.path)
        for left in leftovers:
            named = left.removesuffix(CARRIED)
            if named == left or named not in leftovers:
                continue  # (the tree too must be a leftover: this account's, not the tree this run prepared)
            tree = ctx.target.host(named)
            if tree.parent == host.parent and tree.is_dir() and not tree.is_symlink():
                os.rename(tree, host)
                fsops.fsync_dir(tree.parent)
                fsops.remove_file(ctx.target.host(left))
                return True
        return False

    def _carry_over(self, old: Path, new: Path, extra: list[str]) -> None:
        """Move into the repaired tree ``new`` what the tree ``old`` holds beyond the distribution,
        before the two are exchanged: the entries other actions write into it (``written_elsewhere``:
        ncsrc; in a local install also its ncs.conf, keys, secrets and records) and the ``extra``
        entries (NSO's caches, an administrator's packages).  A repair restores what was unpacked;
        it never deletes anything else.  On failure what was moved is moved back."""
        with fsops.dir_handle(old) as ofd, fsops.dir_handle(new) as nfd:
            wanted = [rel for pattern in self.written_elsewhere for rel in fsops.matching_below(ofd, pattern)]
            rels, seen = [], set()
            for rel in sorted(set(wanted + extra)):  # (parents first: what is below one moves with it)
                parts = rel.split("/")
                # by its ancestors, not by every kept entry (a cache's extra entries are counted in thousands)
                if not any("/".join(parts[:i]) in seen for i in range(1, len(parts))):
                    seen.add(rel)
                    rels.append(rel)
            blocked = [rel for rel in rels if not fsops.can_move_across(nfd, rel)]
            if blocked:
                raise ApplyError("tree-not-repairable",
                                 f"{self.path}: {blocked[0]} cannot be kept in the repaired tree: its parent is not a "
                                 "directory in the distribution (a directory was replaced by a file or a link).",
                                 f"Move {self.path}/{blocked[0]} out of the tree, then re-run; nothing was changed.")
            # what is about to move is recorded beside the new tree first: a run killed before the
            # exchange leaves those entries in a temporary tree, which the next run would remove as
            # a leftover (the local install's keys and records, an administrator's packages)
            _write_record(_carried(new), json.dumps(rels).encode())
            moved: list[str] = []
            try:
                for rel in rels:
                    fsops.move_across(ofd, nfd, rel)
                    moved.append(rel)
            except BaseException:
                for rel in reversed(moved):
                    try:
                        fsops.move_across(nfd, ofd, rel)
                    except OSError:
                        pass
                raise


def foreign_entry(facts: Facts, path: str, links: bool = True) -> tuple[str, str] | None:
    """(the entry, what is wrong) for the first entry at or below ``path`` that another account
    than root (or the one running nso-install) owns or may write, else None.  ``links=False``:
    links are not judged at all (in directories only root writes, a link can be neither
    replaced nor changed: what a tree to activate holds)."""
    me, my_group = os.geteuid(), os.getegid()

    def judge(p: str, uid: int, gid: int, mode: int, kind: str) -> tuple[str, str] | None:
        if not links and kind == LINK:
            return None
        if uid not in (0, me):
            return p, f"belongs to uid {uid}"
        if kind in (DIR, FILE) and (mode & 0o002 or mode & 0o020 and gid not in (0, my_group)):
            return p, f"is writable by {'others' if mode & 0o002 else f'group {gid}'} (mode {mode:04o})"
        return None

    top = facts.path(path)
    if top.kind == ABSENT:
        return None
    found = judge(path, top.uid, top.gid, top.mode or 0, top.kind)
    if found is None and top.kind == DIR:
        for p, st, kind in facts.walk(path):
            found = judge(p, st.st_uid, st.st_gid, st.st_mode & 0o7777, kind)
            if found is not None:
                break
    return found


CARRIED = ".carried"  # beside a temporary tree: what a repair moves into it (a JSON list)


def _is_working_directory(path: Path) -> bool:
    """Whether ``path`` is this process's working directory (``nso-install install DIST .``, or a
    repair run from inside the tree): the tree put in its place by a rename is a new directory,
    and the shell that ran us stays in the removed one."""
    try:
        here, there = os.stat("."), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _carried(tmp: Path) -> Path:
    return tmp.with_name(tmp.name + CARRIED)


def _write_record(record: Path, data: bytes) -> None:
    """``data`` at the new name ``record``, synced.  Not through a temporary file, which a kill
    would leave where no leftovers cleanup looks (beside a local install): a record cut short
    is one whose entries never moved, as nothing moves before it is synced."""
    with fsops.parent_dir(record) as dfd:
        fd = os.open(record.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(dfd)


def _bring_back(record: Path, host: Path) -> None:
    """The entries a repair recorded in ``record`` (:meth:`InstallTree._carry_over`) that are in its
    temporary tree and not in the tree at ``host``, moved back there: the exchange did not happen
    (before it, the carried entries are in the temporary tree; after it, that is the old tree and
    they are in ``host``).  A record that cannot be read is one whose entries never moved (it is
    written and synced before the first move)."""
    tmp = record.with_name(record.name[:-len(CARRIED)])
    try:
        fd = fsops.open_regular(record)
        try:
            rels = json.loads(os.read(fd, 1 << 24))
        finally:
            os.close(fd)
    except (OSError, ValueError, UnsafePathError):
        return
    if not isinstance(rels, list) or not os.path.isdir(tmp) or not os.path.isdir(host):
        return
    with fsops.dir_handle(tmp) as tfd, fsops.dir_handle(host) as hfd:
        for rel in rels:
            if not isinstance(rel, str) or not rel or rel.startswith("/") or \
                    any(part in ("", ".", "..") for part in rel.split("/")):
                continue
            if fsops.exists_below(tfd, rel) and not fsops.exists_below(hfd, rel) and fsops.can_move_across(hfd, rel):
                fsops.move_across(tfd, hfd, rel)
