"""The unpacked distribution: ``INSTALL_DIR/ncs-VSN`` (or a local install's directory)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from .. import fsops
from ..errors import UnsafePathError
from ..facts import ABSENT, DIR, Facts
from .base import Action, Attrs, Effects, change, ok
from .privileges import tree_digests


@dataclass
class InstallTree(Action):
    """The distribution unpacked at ``path``.  Populated in a temporary sibling and renamed
    into place only when complete, so ``path`` never holds a half tree; leftovers of an
    interrupted run are removed by the next one."""

    path: str
    dist: object  # nso_install.distribution.Distribution
    owner: str | None = "root"
    group: str | None = "root"
    reason: str = ""
    owned_elsewhere: tuple[str, ...] = ()  # relative paths other actions write (left out of the tree)
    record_privileged: bool = False  # record the sha256 of the binaries privileges may be given to
    kind: ClassVar[str] = "tree"

    _prepared: Path | None = field(default=None, init=False, repr=False, compare=False)
    _digests: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _leftovers(self, facts: Facts) -> list[str]:
        """Temporary trees of interrupted runs: beside ``path``, or in an ancestor (where a first
        install, before INSTALL_DIR exists, prepares the tree)."""
        p = PurePosixPath(self.path)
        prefix = f"{fsops.TMP_MARK}{p.name}."
        out = []
        for d in p.parents:
            out += [str(d / n) for n in facts.listdir(str(d)) if n.startswith(prefix)]
        # (the tree this run prepared is not a leftover)
        return [x for x in out if self._prepared is None or PurePosixPath(x).name != self._prepared.name]

    def _installed(self, facts: Facts) -> str:
        return (facts.read(f"{self.path}/VERSION") or b"").decode(errors="replace").strip()

    def check(self, facts, ctx):
        fact = self._fact(facts, DIR)
        leftovers = self._leftovers(facts)
        extra = f"; remove {len(leftovers)} leftover(s) of an interrupted run" if leftovers else ""
        if fact.kind == ABSENT:
            return change(f"unpack NSO {self.dist.version} from {self.dist.kind} {self.dist.source.name}{extra}")
        installed = self._installed(facts)
        if installed == self.dist.version:
            if leftovers:
                return change(f"NSO {installed} installed{extra}")
            return ok(f"NSO {installed} already installed")
        if facts.listdir(self.path):
            raise UnsafePathError(
                "install-dir-occupied",
                f"{self.path} exists and does not hold NSO {self.dist.version} (VERSION: {installed or 'missing'}).",
                "Choose another directory, or move the existing one away.")
        return change(f"unpack NSO {self.dist.version} into the empty directory{extra}")

    def prepare(self, facts: Facts, ctx) -> bool:
        """Unpack the distribution before anything else of the run changes the host: into a
        private temporary directory beside ``path`` (or in its nearest existing ancestor, on
        the same file system, when INSTALL_DIR does not exist yet), checking every member as it
        streams; a refused distribution leaves only that directory, which is removed.  False
        when it is already there (the tree is then checked and completed by :meth:`apply`)."""
        if self._prepared is not None or facts.path(self.path).kind != ABSENT:
            return False
        host = ctx.target.host(self.path)
        self._prepared = self._unpack(next(d for d in host.parents if d.is_dir()), facts, ctx)
        return True

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
        try:
            self.dist.extract(tmp, uid=uid, gid=gid, progress=ctx.progress)
            for rel in self.owned_elsewhere:  # e.g. the shipped ncs.conf, replaced by our rendering
                victim = tmp / rel
                if victim.is_file() and not victim.is_symlink():
                    victim.unlink()
            fsops.set_attrs(tmp, 0o755, uid, gid)
            if self.record_privileged:  # still private to root: nobody can have changed them yet
                self._digests = tree_digests(tmp)
            fsops.sync_filesystem(tmp)  # the tree's data must be on disk before its name is
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def apply(self, facts, ctx, outcome):
        for left in self._leftovers(facts):
            fsops.remove_tree(ctx.target.host(left))
        host = ctx.target.host(self.path)
        if facts.path(self.path).kind == DIR and self._installed(facts) == self.dist.version:
            return None  # only leftovers to clean
        tmp = self._prepared or self._unpack(host.parent, facts, ctx)
        try:
            if os.path.isdir(host):
                os.rmdir(host)  # only ever the empty directory accepted by check()
            os.rename(tmp, host)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            self._prepared = None
        fsops.fsync_dir(host.parent)
        fsops.fsync_dir(tmp.parent)
        return Effects(trees={self.path: self._digests}) if self.record_privileged else None
