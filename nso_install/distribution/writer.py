"""Extraction into a directory: creates the checked members below it through directory fds.

The only module that writes into the destination.  Everything is created relative to
directory file descriptors opened with ``O_NOFOLLOW`` and every file with
``O_CREAT|O_EXCL|O_NOFOLLOW``, so nothing in the destination (or swapped into it meanwhile)
is ever followed; owners come from the caller, never from the archive.

The writer is safe on its own, without a prior ``validate()``: it measures the destination's
free space and inodes when it starts and refuses (``no-space``) before writing the member whose
declared size, added to those written so far, would not fit, so an archive that declares more
than the disk holds never fills it.  (Each member's data is read only up to its declared size:
``tarstream._SafeReader``.)
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

from ..errors import DistributionError
from ..fsops import can_chown, remove_tree
from .common import _DIR_FLAGS, CHUNK, DistSummary, Member, Progress


class _Writer:
    """Creates members below ``dest``, never following anything."""

    def __init__(self, dest: Path, uid: int | None, gid: int | None, progress: Progress | None, total: int):
        try:
            st = os.lstat(dest)
            if not stat.S_ISDIR(st.st_mode) or os.listdir(dest):
                raise FileExistsError(errno.EEXIST, "not an empty directory")
        except OSError:
            raise DistributionError("extract-dest-not-empty", f"{dest} is not an existing empty directory.",
                                    "Extract into a new empty directory.") from None
        self.dest = dest
        self.root_fd = os.open(dest, _DIR_FLAGS)
        self.cache: dict[str, int] = {}
        self.dir_mtimes: list[tuple[list[str], int]] = []
        self.chown = can_chown() and (uid is not None or gid is not None)
        self.uid = -1 if uid is None else uid
        self.gid = -1 if gid is None else gid
        self.progress, self.total, self.done = progress, total, 0
        self.free = _free(dest)  # (bytes, inodes) when extraction starts; None: unknown
        self.declared = self.entries = 0

    def _reserve(self, size: int, name: str) -> None:
        """Account for one more entry of ``size`` declared bytes, before creating it."""
        self.declared += size
        self.entries += 1
        if self.free is None:
            return
        free, inodes = self.free
        if self.declared > free:
            raise _no_space(self.dest, f"the files up to {name} declare {_amount(self.declared)} of data but "
                                       f"{_amount(free)} were free when extraction started")
        if inodes is not None and self.entries > inodes:
            raise _no_space(self.dest, f"{name} is entry {self.entries} but {inodes} inodes were free when "
                                       "extraction started")

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)

    def _drop_cache(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()

    def begin_member(self) -> None:
        if len(self.cache) > 64:
            self._drop_cache()

    def _own(self, fd: int, mode: int) -> None:
        if self.chown:
            os.fchown(fd, self.uid, self.gid)
        os.fchmod(fd, mode)  # after chown, which may clear mode bits

    def dir_fd(self, parts: list[str]) -> int:
        fd = self.root_fd
        for i, name in enumerate(parts):
            key = "/".join(parts[:i + 1])
            nfd = self.cache.get(key)
            if nfd is None:
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    self._reserve(0, key)
                    os.mkdir(name, 0o700, dir_fd=fd)
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    self._own(nfd, 0o755)
                self.cache[key] = nfd
            fd = nfd
        return fd

    def directory(self, parts: list[str], mtime_ns: int) -> None:
        self.dir_fd(parts)
        self.dir_mtimes.append((parts, mtime_ns))

    def file(self, parts: list[str], m: Member) -> None:
        pfd = self.dir_fd(parts[:-1])
        self._reserve(m.size, "/".join(parts))
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        try:
            self._own(fd, (m.mode & 0o755) | 0o600)  # never wider than the archive says, never writable by others
            src = m.open() if m.open else io.BytesIO()
            while chunk := src.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                self.done += len(chunk)
                if self.progress:
                    self.progress(self.done, self.total)
            os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
        finally:
            os.close(fd)

    def symlink(self, parts: list[str], m: Member) -> None:
        pfd = self.dir_fd(parts[:-1])
        self._reserve(0, "/".join(parts))
        os.symlink(m.linkname, parts[-1], dir_fd=pfd)
        if self.chown:
            os.chown(parts[-1], self.uid, self.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(parts[-1], ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def hardlink(self, parts: list[str], target: list[str]) -> None:
        # Always a copy: a hard link would share one inode, so setuid bits or capabilities
        # later set on one path (epam, ip...) would silently apply to the other too.
        spfd = self.dir_fd(target[:-1])
        sfd = os.open(target[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=spfd)
        try:
            st = os.fstat(sfd)
            with os.fdopen(os.dup(sfd), "rb") as src:
                self.file(parts, Member("/".join(parts), "file", st.st_mode, st.st_size, st.st_mtime_ns,
                                        open=lambda: src))
        finally:
            os.close(sfd)

    def finish(self, top_mtime_ns: int | None) -> None:
        for parts, mtime_ns in self.dir_mtimes:  # after all content, so they stay as in the archive
            os.utime(self.dir_fd(parts), ns=(mtime_ns, mtime_ns))
            self.begin_member()
        if top_mtime_ns is not None:
            os.utime(self.root_fd, ns=(top_mtime_ns, top_mtime_ns))
        if self.progress:
            self.progress(self.done, max(self.total, self.done))

    def wipe(self) -> None:
        for name in os.listdir(self.dest):
            remove_tree(self.dest / name)


def _free(dest: Path) -> tuple[int, int | None] | None:
    """(bytes, inodes) this process may still use on the file system of ``dest`` (root may use
    the reserved blocks too); inodes None when the file system does not count them."""
    try:
        st = os.statvfs(dest)
    except OSError:
        return None
    root = os.geteuid() == 0
    return ((st.f_bfree if root else st.f_bavail) * st.f_frsize,
            (st.f_ffree if root else st.f_favail) if st.f_files else None)


def _amount(n: int) -> str:
    return f"{n} bytes ({n / (1 << 20):.1f} MiB)"


def _no_space(dest: Path, why: str) -> DistributionError:
    return DistributionError("no-space", f"not enough space to extract into {dest}: {why}; nothing more is written.",
                             "Free space there (or choose another install directory) and re-run.")


def _check_space(dest: Path, summary: DistSummary) -> None:
    """Refuse before writing when the file system cannot hold the tree (data or inodes)."""
    free = _free(dest)
    if free is None:
        return
    space, inodes = free
    entries = summary.files + summary.dirs + summary.symlinks
    short = []
    if summary.total_bytes > space:
        short.append(f"{_amount(summary.total_bytes)} of data but {_amount(space)} are free")
    if inodes is not None and entries > inodes:
        short.append(f"{entries} files and directories but {inodes} inodes are free")
    if short:
        raise DistributionError("no-space", f"the distribution holds {' and '.join(short)} on the file system of "
                                            f"{dest}.", "Free space there (or choose another install directory) "
                                                        "and re-run.")

