"""The unpacked distribution: ``INSTALL_DIR/ncs-VSN`` (or a local install's directory)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from .. import fsops
from ..errors import UnsafePathError
from ..facts import ABSENT, DIR, Facts
from .base import Action, Attrs, change, ok


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
    kind: ClassVar[str] = "tree"

    def _leftovers(self, facts: Facts) -> list[str]:
        p = PurePosixPath(self.path)
        prefix = f"{fsops.TMP_MARK}{p.name}."
        return [str(p.parent / n) for n in facts.listdir(str(p.parent)) if n.startswith(prefix)]

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

    def apply(self, facts, ctx, outcome):
        for left in self._leftovers(facts):
            fsops.remove_tree(ctx.target.host(left))
        host = ctx.target.host(self.path)
        if facts.path(self.path).kind == DIR and self._installed(facts) == self.dist.version:
            return None  # only leftovers to clean
        uid, gid = Attrs(0o755, self.owner, self.group).resolve(facts, self.path)
        self.dist.validate()  # refuse hostile members before anything is written
        tmp = host.with_name(f"{fsops.TMP_MARK}{host.name}.{os.urandom(4).hex()}")
        os.mkdir(tmp, 0o700)
        try:
            self.dist.extract(tmp, uid=uid, gid=gid, progress=ctx.progress)
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
        return None
