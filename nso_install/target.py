"""The one target-root abstraction: every path the tool touches goes through here.

Paths in plans, messages and installed files are *target paths* (``/etc/ncs/ncs.conf``), as
NSO will see them at run time.  ``--root DIR`` is a staging prefix: the host path of a
target path is ``DIR`` + target path.  Symlinks inside the root are resolved the way a
``chroot`` would (an absolute link target is relative to the root), and any link that
would leave the root is refused, never followed (pip's ``change_root`` is purely lexical
and gets this wrong).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UnsafePathError, UsageError

_MAX_LINKS = 40  # like the kernel's MAXSYMLINKS


def normalize(tpath: str | PurePosixPath) -> PurePosixPath:
    """A clean absolute target path; '..' is refused rather than interpreted."""
    p = PurePosixPath(tpath)
    if not p.is_absolute():
        raise UsageError("relative-path", f"path {str(p)!r} is not absolute.",
                         "Give absolute paths for install, config, run and log directories.")
    if ".." in p.parts:
        raise UsageError("dotdot-path", f"path {str(p)!r} contains '..'.",
                         "Give the path without '..' components.")
    return p


@dataclass(frozen=True)
class Target:
    root: Path = Path("/")

    @classmethod
    def at(cls, root: str | os.PathLike | None) -> "Target":
        if root is None:
            return cls(Path("/"))
        r = Path(os.path.realpath(root))  # canonical: the only links on a host path are inside the root
        if r.exists() and not r.is_dir():
            raise UsageError("bad-root", f"--root {r} exists and is not a directory.",
                             "Point --root at a directory (it is created when missing).")
        return cls(r)

    @property
    def staged(self) -> bool:
        return self.root != Path("/")

    def lexical(self, tpath: str | PurePosixPath) -> Path:
        """Host path by plain joining; only for display and for paths known to be safe."""
        p = normalize(tpath)
        return self.root.joinpath(*p.parts[1:])

    def host(self, tpath: str | PurePosixPath) -> Path:
        """Host path of ``tpath`` with every *parent* component resolved inside the root.

        The last component is never followed: callers lstat it and refuse links they do
        not manage.  Raises UnsafePathError when a parent link escapes the root or loops.
        """
        p = normalize(tpath)
        resolved = self._resolve_parents(list(p.parts[1:-1]), str(p))
        return resolved.joinpath(p.name) if p.name else resolved

    def _resolve_parents(self, parts: list[str], original: str) -> Path:
        current = self.root
        pending = list(parts)
        hops = 0
        while pending:
            name = pending.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if current == self.root:
                    raise self._escape(original)
                current = current.parent
                continue
            nxt = current / name
            try:
                st = os.lstat(nxt)
            except (FileNotFoundError, NotADirectoryError):
                # Does not exist yet: it will be created as a real directory.  Keep resolving
                # the rest (a link target may go back up with '..' and through existing links).
                current = nxt
                continue
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid not in (0, os.geteuid()):
                    # Only root (or whoever runs us) may redirect our writes: a link owned by
                    # another account (the NSO user in its run dir, say) is never followed.
                    raise UnsafePathError(
                        "unsafe-symlink",
                        f"{original}: {self.show_host(nxt)} is a symbolic link owned by uid {st.st_uid}; "
                        "refusing to follow a link another account could have planted.",
                        "Replace the link with a real directory, or make root own it if it is intended.")
                hops += 1
                if hops > _MAX_LINKS:
                    raise UnsafePathError("symlink-loop", f"too many symbolic links resolving {original}.",
                                          "Remove the symlink loop under the target root.")
                link = PurePosixPath(os.readlink(nxt))
                if link.is_absolute():
                    current = self.root
                    pending = list(link.parts[1:]) + pending
                else:
                    pending = list(link.parts) + pending
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError("not-a-directory",
                                      f"{self.show(original)}: parent {self.show_host(nxt)} is not a directory.",
                                      "Move the file out of the way or choose another directory.")
            current = nxt
        return current

    def _escape(self, original: str) -> UnsafePathError:
        return UnsafePathError(
            "symlink-escapes-root",
            f"{original}: a symlink on the way leads outside the target root {self.root}.",
            "Remove the symlink, or pass the real location of the directory.")

    def to_target(self, host_path: str | os.PathLike) -> PurePosixPath:
        rel = os.path.relpath(os.path.abspath(host_path), self.root)
        if rel == ".." or rel.startswith("../"):
            raise self._escape(str(host_path))
        return PurePosixPath("/") / rel if rel != "." else PurePosixPath("/")

    def show(self, tpath: str | PurePosixPath) -> str:
        """How a target path is shown to the user (always the target path)."""
        return str(tpath)

    def show_host(self, host_path: Path) -> str:
        try:
            return str(self.to_target(host_path))
        except UnsafePathError:
            return str(host_path)
