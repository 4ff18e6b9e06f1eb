"""File-system primitives: atomic writes, directories, owners and modes, never following links.

Atomic write (the sequence the brief asks for): create a temp file in the same directory
with O_EXCL|O_NOFOLLOW and mode 0600, set its final owner and mode *before the first byte*,
write, fsync, rename over the destination, fsync the directory.  A crash at any point
leaves either the old file or the new one, plus at most a ``.nso-install-tmp`` file that the
next run removes.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

from .errors import UnsafePathError

TMP_MARK = ".nso-install-tmp."


def _temp_name(final: Path) -> Path:
    return final.with_name(f"{TMP_MARK}{final.name}.{secrets.token_hex(4)}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_link(host: Path, shown: str) -> os.stat_result | None:
    """lstat ``host``; refuse a symlink there; None when absent."""
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            "symlink-refused",
            f"{shown} is a symbolic link (to {os.readlink(host)}); refusing to follow or replace it.",
            "Remove the link and re-run; nso-install never writes through pre-planted links.")
    return st


def can_chown() -> bool:
    return os.geteuid() == 0


def atomic_write(host: Path, data: bytes, mode: int, uid: int | None = None,
                 gid: int | None = None, shown: str | None = None) -> None:
    shown = shown or str(host)
    st = refuse_link(host, shown)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafePathError("not-a-file", f"{shown} exists and is not a regular file.",
                              "Move it out of the way and re-run.")
    tmp = _temp_name(host)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if can_chown() and (uid is not None or gid is not None):
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, host)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(host.parent)


def make_dir(host: Path, mode: int, uid: int | None, gid: int | None) -> None:
    os.mkdir(host, 0o700)  # private until owner and mode are final
    set_attrs(host, mode, uid, gid, shown=str(host))
    fsync_dir(host.parent)


def set_attrs(host: Path, mode: int, uid: int | None, gid: int | None, shown: str | None = None) -> None:
    """Owner, then mode (chown clears setuid bits), of exactly the inode at ``host``.

    The path is opened once with O_PATH|O_NOFOLLOW and changed through /proc/self/fd: if
    someone swaps it for a symlink (in a directory the NSO account owns, say) after the
    check, the link itself is refused instead of its target being chowned or chmodded.
    """
    shown = shown or str(host)
    try:
        fd = os.open(host, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError("symlink-refused", f"{shown} became a symbolic link; refusing to change it.",
                                  "Find out who replaced it, remove the link and re-run.")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise UnsafePathError("not-a-file", f"{shown} is neither a file nor a directory.",
                                  "Move it out of the way and re-run.")
        proc = f"/proc/self/fd/{fd}"
        if not os.path.exists(proc):  # no /proc (rare): open the verified inode itself
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            with os.fdopen(os.open(host, flags), "rb", buffering=0) as f:
                if os.fstat(f.fileno()).st_ino != st.st_ino:
                    raise UnsafePathError("path-changed", f"{shown} changed while being updated.", "Re-run.")
                if can_chown() and (uid is not None or gid is not None):
                    os.fchown(f.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
                os.fchmod(f.fileno(), mode)
            return
        if can_chown() and (uid is not None or gid is not None):
            os.chown(proc, -1 if uid is None else uid, -1 if gid is None else gid)
        os.chmod(proc, mode)
    finally:
        os.close(fd)


def set_owner(host: Path, uid: int | None, gid: int | None) -> None:
    if can_chown() and (uid is not None or gid is not None):
        os.lchown(host, -1 if uid is None else uid, -1 if gid is None else gid)


def set_mode(host: Path, mode: int) -> None:
    st = refuse_link(host, str(host))
    if st is None:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(host))
    set_attrs(host, mode, None, None)


def atomic_symlink(host: Path, link_to: str) -> None:
    """Create or switch a symlink atomically (new link beside it, then rename over)."""
    tmp = _temp_name(host)
    os.symlink(link_to, tmp)
    try:
        os.replace(tmp, host)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(host.parent)


def stale_temps(directory: Path) -> list[Path]:
    """Leftovers of an interrupted atomic write or extraction in ``directory``."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(directory / n for n in names if n.startswith(TMP_MARK))


def remove_tree(host: Path) -> None:
    st = os.lstat(host)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(host)
    else:
        os.unlink(host)
