"""Extraction into a directory: creates the checked members below it through directory fds.

The only module that writes into the destination.  Everything is created relative to
directory file descriptors opened with ``O_NOFOLLOW`` and every file with
``O_CREAT|O_EXCL|O_NOFOLLOW``, so nothing in the destination (or swapped into it meanwhile)
is ever followed; owners come from the caller, never from the archive.  A file costs as few
system calls as that allows: ``openat`` with its final mode, ``write`` (one for a file up to
``CHUNK``), ``futimens``, ``close``; ``fchown``/``fchmod`` only when the owner differs from the
process's or the umask would narrow the mode.  Nothing is fsync'ed here: the caller syncs the
whole tree once before giving it its name (``actions.tree``).

The writer is safe on its own, without a prior ``validate()``: it measures the destination's
free space and inodes when it starts and refuses (``no-space``) before writing the member whose
declared size, added to those written so far, would not fit, so an archive that declares more
than the disk holds never fills it.  (Each member's data is read only up to its declared size:
``tarstream._SafeReader``.)
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from pathlib import Path

from ..errors import DistributionError
from ..fsops import can_chown, remove_tree
from .common import _DIR_FLAGS, CHUNK, DistSummary, Member, Progress


class _Writer:
    """Creates members below ``dest``, never following anything."""

    def __init__(self, dest: Path, uid: int | None, gid: int | None, progress: Progress | None, total: int,
                 digests: dict[str, str] | None = None):
        try:
            st = os.lstat(dest)
            if not stat.S_ISDIR(st.st_mode) or os.listdir(dest):
                raise FileExistsError(errno.EEXIST, "not an empty directory")
        except OSError:
            raise DistributionError("extract-dest-not-empty", f"{dest}, the new directory nso-install unpacks into, "
                                    "is no longer an empty directory: another process wrote there.",
                                    "Find out what wrote there (it is removed with the refused run), then re-run.") \
                from None
        self.dest = dest
        self.root_fd = os.open(dest, _DIR_FLAGS)
        self.cache: dict[str, int] = {}
        self.dir_mtimes: list[tuple[list[str], int]] = []
        self.chown = can_chown() and (uid is not None or gid is not None)
        self.uid = -1 if uid is None else uid
        self.gid = -1 if gid is None else gid
        # Few system calls a file: a new file already belongs to this process's euid and egid
        # (its directory, made by this writer or the caller's private empty one, is not setgid),
        # so fchown is needed only for other owners; and it is created with its final mode when
        # the umask leaves that mode alone, so fchmod only when the umask would narrow it.
        root_st = os.fstat(self.root_fd)
        self.file_chown = self.chown and not (self.uid in (-1, os.geteuid()) and self.gid in (-1, os.getegid())
                                              and not root_st.st_mode & stat.S_ISGID)
        self.umask = _umask()
        self.progress, self.total, self.done = progress, total, 0
        self.free = free_space(dest)  # (bytes, inodes) when extraction starts; None: unknown
        self.declared = self.entries = 0
        # sha256 of every file written, by relative path, when the caller asks: hashed from the
        # bytes on their way to the disk, so the manifest need not read a big tree back
        self.digests = digests

    def _open_new(self, pfd: int, name: str, mode: int) -> int:
        # created with its final mode (the directory it is in is private until the tree is complete);
        # fchown/fchmod only when the owner or the umask make them needed
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=pfd)
        try:
            if self.file_chown:
                os.fchown(fd, self.uid, self.gid)
                os.fchmod(fd, mode)  # after chown, which may clear mode bits
            elif mode & self.umask or self.umask < 0:
                os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _reserve(self, size: int, name: str) -> None:
        """Account for one more entry of ``size`` declared bytes, before creating it."""
        self.declared += size
        self.entries += 1
        if self.free is None:
            return
        free, inodes = self.free
        if self.declared > free:
            raise _no_space(self.dest, f"the files up to {name} declare {amount(self.declared)} of data but "
                                       f"{amount(free)} were free when extraction started")
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
        if not parts:
            return self.root_fd
        fd = self.cache.get("/".join(parts))  # the common case: the directory of the member before
        if fd is not None:
            return fd
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
        rel = "/".join(parts)
        self._reserve(m.size, rel)
        mode = (m.mode & 0o755) | 0o600  # never wider than the archive says, never writable by others
        src = m.open() if m.open else io.BytesIO()
        fd = self._open_new(pfd, parts[-1], mode)
        h = hashlib.sha256() if self.digests is not None else None
        try:
            # a file up to CHUNK bytes is read whole and written with one write()
            while chunk := src.read(CHUNK):
                _write_all(fd, chunk)
                if h:
                    h.update(chunk)
                self.done += len(chunk)
                if self.progress:
                    self.progress(self.done, self.total)
            os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
        finally:
            os.close(fd)
        if h:
            self.digests[rel] = h.hexdigest()

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


def _write_all(fd: int, data: bytes) -> None:
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)[n:]
        while view:
            view = view[os.write(fd, view):]


def _umask() -> int:
    """The process's umask (from /proc: setting it to read it back would race with other threads); -1 unknown."""
    from ..proc import status

    try:
        return int(status().get("Umask", ""), 8)
    except ValueError:
        return -1


def free_space(dest: Path) -> tuple[int, int | None] | None:
    """(bytes, inodes) this process may still use on the file system of ``dest`` (root may use
    the reserved blocks too); inodes None when the file system does not count them."""
    try:
        st = os.statvfs(dest)
    except OSError:
        return None
    root = os.geteuid() == 0
    return ((st.f_bfree if root else st.f_bavail) * st.f_frsize,
            (st.f_ffree if root else st.f_favail) if st.f_files else None)


def amount(n: int) -> str:
    """A size for a message: exact bytes and MiB."""
    return f"{n} bytes ({n / (1 << 20):.1f} MiB)"


def _no_space(dest: Path, why: str) -> DistributionError:
    return DistributionError("no-space", f"not enough space to extract into {dest}: {why}; nothing more is written.",
                             "Free space there (or choose another install directory) and re-run.")


def _check_space(dest: Path, summary: DistSummary) -> None:
    """Refuse before writing when the file system cannot hold the tree (data or inodes)."""
    free = free_space(dest)
    if free is None:
        return
    space, inodes = free
    entries = summary.files + summary.dirs + summary.symlinks
    short = []
    if summary.total_bytes > space:
        short.append(f"{amount(summary.total_bytes)} of data but {amount(space)} are free")
    if inodes is not None and entries > inodes:
        short.append(f"{entries} files and directories but {inodes} inodes are free")
    if short:
        raise DistributionError("no-space", f"the distribution holds {' and '.join(short)} on the file system of "
                                            f"{dest}.", "Free space there (or choose another install directory) "
                                                        "and re-run.")

