"""File-system primitives: atomic writes, directories, owners and modes, never following links.

Every operation opens the *parent directory* by walking from ``/`` with O_NOFOLLOW at each
step and then acts relative to that handle (``dir_fd``).  Paths come from
:meth:`Target.host`, which has already resolved the legitimate links inside the root, so a
link found during the walk was planted after planning (say by the NSO account in the run
directory it owns) and is refused instead of being followed as root.

Atomic write (the sequence the brief asks for): create a temp file in the same directory
with O_EXCL|O_NOFOLLOW and mode 0600, set its final owner and mode *before the first byte*,
write, fsync, rename over the destination, fsync the directory.  A crash at any point
leaves either the old file or the new one, plus at most a ``.nso-install-tmp`` file that the
next run removes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import masks
from .errors import UnsafePathError

TMP_MARK = ".nso-install-tmp."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _temp_name(name: str) -> str:
    return f"{TMP_MARK}{name}.{os.urandom(4).hex()}"  # (what secrets.token_hex does, without its imports)


@contextmanager
def parent_dir(host: Path) -> Iterator[int]:
    """A handle on ``host``'s parent directory, reached without following any link.  An OSError
    of a call made relative to it names the entry in full (see _in_full)."""
    parent = Path(os.path.abspath(host)).parent
    parts = parent.parts
    fd = os.open("/", _DIR_FLAGS)
    try:
        for i, name in enumerate(parts[1:], 1):
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/" + "/".join(parts[1:i + 1])
                    raise UnsafePathError(
                        "symlink-refused", f"{where} is a symbolic link or not a directory (on the way to {host}); "
                        "refusing to follow it.",
                        "Someone replaced a directory since the plan was made; find out who, fix it and re-run."
                    ) from None
                _in_full(e, "/" + "/".join(parts[1:i]))
                raise
            os.close(fd)
            fd = nxt
        try:
            yield fd
        except OSError as e:
            _in_full(e, str(parent))
            raise
    finally:
        os.close(fd)


def _in_full(e: OSError, directory: str) -> None:
    """A call relative to a directory descriptor fails naming the entry alone ("Permission
    denied: 'var'"), and the operator's message then says nowhere; name it under ``directory``.
    (Only the first name: a rename's second one may be relative to another descriptor.)"""
    if isinstance(e.filename, str) and e.filename and not e.filename.startswith("/"):
        e.filename = os.path.join(directory, e.filename)


def _libc():
    """The C library this interpreter runs on, for the calls ``os`` lacks (syncfs, renameat2):
    the process's own symbols (dlopen of NULL), not ``ctypes.util.find_library``, which imports
    subprocess and may run ldconfig to name a file the process has loaded already."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def sync_filesystem(path: Path) -> None:
    """Flush the file system holding ``path`` (syncfs(2)); the whole host only if unavailable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc().syncfs(fd) == 0:
            return
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)
    os.sync()


class Background:
    """``fn(*args)`` in a thread (for system calls that wait on the disk and release the GIL);
    :meth:`join` waits for it and raises what it raised."""

    def __init__(self, fn, *args):
        import threading

        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:  # handed to join()
                self._error = e

        self._thread = threading.Thread(target=run, name=getattr(fn, "__name__", "background"), daemon=True)
        self._thread.start()

    def join(self, raise_error: bool = True) -> None:
        self._thread.join()
        if self._error is not None and raise_error:
            raise self._error


class Flushing:
    """While in the ``with`` block, once :meth:`start` is called, write back the file system
    holding ``path`` every ``every`` seconds (syncfs in a thread): a big unpack's data goes to
    the disk while the unpack goes on, so the sync that must come before the tree gets its
    name has little left to wait for (it was 3 s after a 1 GiB unpack).  Started by the
    unpack once the archive is open (``extract(started=...)``): the process that inflates it
    is forked by then, and a fork while another thread runs can leave the child a lock that
    thread held (Python 3.12 warns of it)."""

    def __init__(self, path: Path, every: float = 1.0):
        import threading

        self._stop = threading.Event()
        self._path, self._every = path, every
        self._thread = threading.Thread(target=self._run, name="nso-install-flush", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                sync_filesystem(self._path)
            except OSError:
                return  # only ever ahead of the sync that counts, which reports its own errors

    def start(self) -> None:
        """Begin the write-backs (once; not after the block ended)."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()

    def __enter__(self) -> "Flushing":
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lstat(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


# (a link the operator made on purpose, e.g. DIR -> /data/nso or /etc/ncs -> a volume, is refused
# too: it is named where it leads instead, with the option that gave the path)
LINK_HINT = ("Remove the link and re-run; if you made it, give the path it leads to instead (DIR, or the option "
             "that names this path, e.g. --config-dir). nso-install never writes through links it did not make.")


def _refuse_link_at(host: Path, dfd: int, shown: str) -> os.stat_result | None:
    name = host.name
    st = _lstat(name, dfd)
    if st is not None and stat.S_ISLNK(st.st_mode):
        link = os.readlink(name, dir_fd=dfd)
        # (a mask made since the check: named as one when ``shown`` is the target path; the host
        # path's rest is then the staging root, which the refusal's commands aim at)
        whole = str(host)
        root = whole[:-len(shown)] if shown.startswith("/") and whole.endswith(shown) else None
        raise masks.mask_refusal(shown, link, root=root) or UnsafePathError(
            "symlink-refused", f"{shown} is a symbolic link (to {link}); refusing to follow or replace it.", LINK_HINT)
    return st


def can_chown() -> bool:
    return os.geteuid() == 0


_ACL_ACCESS, _ACL_DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
_NO_ACL = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)


def drop_inherited_acls(fd: int, directory: bool = False) -> None:
    """Remove from the entry just made at ``fd`` the ACL its directory's default ACL gave it
    (and, for a directory, the default ACL it passes on).  Such an entry would keep its named
    entries through the chmod to the final mode, which only sets their mask: a keys file written
    0440 into a directory with ``setfacl -d -m u:nobody:rwx`` was readable by nobody.  What
    nso-install makes has exactly the owner and mode it sets (ACLs on what it did not make are
    the administrator's; ``nso-install audit`` judges them)."""
    for name in (_ACL_ACCESS, _ACL_DEFAULT) if directory else (_ACL_ACCESS,):
        try:
            os.removexattr(fd, name)
        except OSError as e:
            if e.errno not in _NO_ACL:
                raise


def drop_inherited_acls_at(name: str | Path, dfd: int | None = None) -> None:
    """:func:`drop_inherited_acls` for the directory just made at ``name`` (never through a link)."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    try:
        drop_inherited_acls(fd, directory=True)
    finally:
        os.close(fd)


def _new_temp(dfd: int, name: str, mode: int, uid: int | None, gid: int | None) -> tuple[str, int]:
    """A new empty temp file beside ``name`` (O_EXCL, never through a link) with its final
    owner and mode set before the first byte: (its name, a write descriptor)."""
    tmp = _temp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    try:
        drop_inherited_acls(fd)
        if can_chown() and (uid is not None or gid is not None):
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=dfd)
        raise
    return tmp, fd


def _write_temp(dfd: int, name: str, chunks, mode: int, uid: int | None, gid: int | None) -> str:
    """A new temp file beside ``name`` with its final owner and mode set before the first byte,
    holding ``chunks``, fsynced; its name.  Removed again if anything fails."""
    tmp, fd = _new_temp(dfd, name, mode, uid, gid)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=dfd)
        raise
    os.close(fd)
    return tmp


def atomic_write(host: Path, data: bytes, mode: int, uid: int | None = None,
                 gid: int | None = None, shown: str | None = None) -> None:
    shown = shown or str(host)
    with parent_dir(host) as dfd:
        st = _refuse_link_at(host, dfd, shown)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UnsafePathError("not-a-file", f"{shown} exists and is not a regular file.",
                                  "Move it out of the way and re-run.")
        tmp = _write_temp(dfd, host.name, [data], mode, uid, gid)
        _rename_into_place(tmp, host.name, dfd)


def remove_stale_temps(host: Path, owner: int | None = None) -> list[str]:
    """Remove the temporary copies of ``host`` (:func:`atomic_write`'s ``.nso-install-tmp.NAME.XXXXXXXX``)
    that a run killed while writing it left beside it: half-written, possibly key material.  For
    the writers that run under the run lock (no other run is writing ``host`` meanwhile) and
    that no Leftovers action of an install plan follows (nso-install's records, ``keys rotate``).
    Only regular files of this account's are removed (a local install's marker is beside its
    directory, which may be in a shared sticky one such as /tmp: another account's file of that
    name is no copy of ours, and could not be removed there), or of ``owner``, the one a copy
    was given before its first byte (:func:`replace_by_copy`'s for a new NSO account); the
    names removed."""
    prefix = f"{TMP_MARK}{host.name}."
    removed = []
    with parent_dir(host) as dfd:
        try:
            names = os.listdir(dfd)
        except FileNotFoundError:
            return removed
        for name in names:
            rest = name[len(prefix):] if name.startswith(prefix) else ""
            if len(rest) != 8 or not all(c in "0123456789abcdef" for c in rest):
                continue
            st = _lstat(name, dfd)
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_uid in (os.geteuid(), owner):
                os.unlink(name, dir_fd=dfd)
                removed.append(name)
        if removed:
            os.fsync(dfd)
    return removed


def open_regular(host: Path, shown: str | None = None) -> int:
    """A read-only descriptor on the regular file at ``host``, reached without following any
    link (parents included).  O_NONBLOCK: a FIFO swapped in by another account cannot make the
    open hang (it is refused as "not a regular file" instead)."""
    shown = shown or str(host)
    with parent_dir(host) as dfd:
        try:
            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UnsafePathError("symlink-refused", f"{shown} became a symbolic link; refusing to follow it.",
                                      "Find out who replaced it, remove the link and re-run.") from None
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _leased(shown) from None
            raise
    try:
        check_single(os.fstat(fd), shown)
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return fd


def check_single(st: os.stat_result, shown: str) -> None:
    """A regular file with one name: another name (a hard link another account made to, say,
    /etc/shadow) would let a read, a chown or a chmod reach a file nso-install never meant."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError("not-a-file", f"{shown} is not a regular file (replaced while nso-install was "
                              "reading it?); refusing to read it.", "Find out who replaced it, fix it and re-run.")
    if st.st_nlink > 1:
        raise UnsafePathError("hard-linked", f"{shown} has {st.st_nlink} names (hard links); nso-install reads and "
                              "changes only files with one name.",
                              "Find the other names (find / -samefile FILE), remove the ones you did not make, re-run.")


def _leased(shown: str) -> UnsafePathError:
    return UnsafePathError("file-leased", f"{shown} is held with a lease by another process (an account can do that "
                           "to its own files to stall root); refusing to wait for it.",
                           "Stop the process holding it (lslocks shows leases), then re-run.")


def open_trusted(host: Path, shown: str | None = None) -> int:
    """A descriptor on the regular file at ``host`` that only root could have put there: every
    directory from ``/`` down is reached without following a link and is owned by root and not
    writable by group or others (a sticky directory such as /tmp is fine above a root-owned
    entry), and the file itself is root's.  For the files nso-install makes setuid or gives
    capabilities: whatever it changes next goes through this descriptor."""
    shown = shown or str(host)
    parts = Path(os.path.abspath(host)).parts
    fd = os.open("/", _DIR_FLAGS)
    try:
        for i, name in enumerate(parts[1:], 1):
            st = os.fstat(fd)
            where = "/" + "/".join(parts[1:i])
            if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
                raise UnsafePathError("untrusted-path", f"{shown}: {where} is owned by uid {st.st_uid} or writable by "
                                      f"others (mode {stat.S_IMODE(st.st_mode):04o}); nso-install sets no privilege "
                                      "on a file another account could have swapped.",
                                      f"Make {where} root's and not writable by others, then re-run.")
            last = i == len(parts) - 1
            try:
                nxt = os.open(name, (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC) if last else _DIR_FLAGS,
                              dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePathError("symlink-refused", f"{shown}: a symbolic link (or a file) stands where a "
                                          "directory or the file should be; refusing to follow it.",
                                          "Find out who changed the tree, fix it and re-run.") from None
                raise
            os.close(fd)
            fd = nxt
        st = os.fstat(fd)
        check_single(st, shown)
        if st.st_uid != 0:
            raise UnsafePathError("untrusted-path", f"{shown} belongs to uid {st.st_uid}, not root; nso-install sets "
                                  "no privilege on it.", "Re-install the tree from its distribution.")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def fd_sha256(fd: int) -> str:
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    return h.hexdigest()


def exchange(a: Path, b: Path) -> None:
    """Swap two directory entries in one step (renameat2 RENAME_EXCHANGE), so ``b``'s name never
    points at nothing; where the kernel or C library cannot, two renames via a temporary name."""
    import ctypes

    try:
        libc = _libc()
        if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
    except AttributeError:
        pass
    parked = b.with_name(_temp_name(b.name))
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def write_new(host: Path, data: bytes, mode: int, uid: int | None, gid: int | None) -> Path:
    """``data`` written to ``host``, or to ``host.1``, ``host.2``... when that exists: never over
    an existing file (backups).  Returns the path written."""
    with parent_dir(host) as dfd:
        tmp = _write_temp(dfd, host.name, [data], mode, uid, gid)
        try:
            for n in range(1000):
                name = host.name if n == 0 else f"{host.name}.{n}"
                try:
                    os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
                except FileExistsError:
                    continue
                os.fsync(dfd)
                return host.with_name(name)
            raise FileExistsError(errno.EEXIST, f"{host} and 999 numbered siblings exist")
        finally:
            os.unlink(tmp, dir_fd=dfd)


def ensure_dirs(host: Path, mode: int = 0o755, last_mode: int | None = None) -> list[Path]:
    """``host`` and its missing parents as directories with explicit modes (``last_mode`` for
    ``host`` itself): the umask of whoever runs the tool must not decide them.  Returns the
    directories created, outermost first."""
    missing = []
    host = Path(os.path.abspath(host))
    p = host
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        make_dir(d, last_mode if d == host and last_mode is not None else mode, None, None)
    return list(reversed(missing))


def remove_empty_dirs(dirs: list[Path]) -> None:
    """Undo :func:`ensure_dirs` where nothing was put in the directories (innermost first)."""
    for d in reversed(dirs):
        try:
            os.rmdir(d)
        except OSError:
            return


def make_dir(host: Path, mode: int, uid: int | None, gid: int | None) -> None:
    """A new directory with owner and mode.  One that changes owner is made 0700 (private until
    owner and mode are final; a re-run's Directory action corrects one a killed run left so).
    One whose owner and group are final when it is made (this process's; a setgid parent's
    group) gets its mode in the mkdir itself: a run killed right after it must not leave a 0700
    parent directory (/opt, /var/log, /etc/profile.d...) that no re-run alters again, as it
    belongs to the system once it exists."""
    with parent_dir(host) as dfd:
        inherits_group = os.fstat(dfd).st_mode & stat.S_ISGID
        if (uid is None or uid == os.geteuid()) and (gid is None or gid == os.getegid() and not inherits_group):
            old = os.umask(0)  # (the other threads only flush: they create nothing)
            try:
                os.mkdir(host.name, mode & 0o777, dir_fd=dfd)
            finally:
                os.umask(old)
        else:
            os.mkdir(host.name, 0o700, dir_fd=dfd)  # private until owner and mode are final
        drop_inherited_acls_at(host.name, dfd)
        _set_attrs_at(host.name, dfd, mode, uid, gid, str(host))
        os.fsync(dfd)


@contextmanager
def new_private_dir(host: Path) -> Iterator[int]:
    """A new empty 0700 directory of this process's at ``host``, held by a descriptor while the
    caller fills it (:func:`move_into`).  For a directory made inside one another account can
    write: that account may rename it or put a link in its place, but whatever goes through the
    descriptor lands in the directory made here, never where a name now points."""
    with parent_dir(host) as dfd:
        os.mkdir(host.name, 0o700, dir_fd=dfd)
        fd = os.open(host.name, _DIR_FLAGS, dir_fd=dfd)  # (a link put at the name: ELOOP)
    try:
        drop_inherited_acls(fd, directory=True)
        st = os.fstat(fd)
        # another account may have swapped in a directory of its own between mkdir and open
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700 or os.listdir(fd):
            raise UnsafePathError("untrusted-path", f"{host} changed hands right after nso-install made it "
                                                   f"(owner {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}).",
                                  "Another account is racing this run in that directory: stop its processes, "
                                  "then re-run.")
        yield fd
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into(host: Path, dir_fd: int, name: str) -> None:
    """The entry ``host`` itself (a link is moved, never followed) renamed into the directory held
    by ``dir_fd`` as ``name``; its parent reached without following any link.  Never over an
    existing entry there."""
    if _lstat(name, dir_fd) is not None:  # (only this process writes there: no race)
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)
    with parent_dir(host) as pfd:
        os.rename(host.name, name, src_dir_fd=pfd, dst_dir_fd=dir_fd)


def ensure_private_dir(host: Path) -> list[Path]:
    """``host`` as a 0700 directory (nso-install's own state), missing parents as 0755."""
    return ensure_dirs(host, 0o755, 0o700)


def set_attrs(host: Path, mode: int, uid: int | None, gid: int | None, shown: str | None = None) -> None:
    """Owner, then mode (chown clears setuid bits), of exactly the inode at ``host``."""
    with parent_dir(host) as dfd:
        _set_attrs_at(host.name, dfd, mode, uid, gid, shown or str(host))


def replace_by_copy(host: Path, mode: int, uid: int | None, gid: int | None, shown: str | None = None,
                    expect_sha256: str | None = None) -> None:
    """A regular file replaced by a copy of its content with new owner and mode.

    For a file that changes hands away from another account: a chown in place would leave
    that account's open file descriptors writing into a file it no longer owns (and root may
    read or run); the copy is a new inode, and the old one is unlinked."""
    shown = shown or str(host)
    with parent_dir(host) as dfd:
        try:
            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _leased(shown) from None
            raise
        try:
            check_single(os.fstat(fd), shown)
            tmp = _copy_temp(dfd, host.name, fd, mode, uid, gid, expect_sha256, shown)
        finally:
            os.close(fd)
        _rename_into_place(tmp, host.name, dfd)


def _copy_temp(dfd: int, name: str, src: int, mode: int, uid: int | None, gid: int | None,
               expect_sha256: str | None, shown: str) -> str:
    """A temp copy of ``src`` beside ``name``: holes stay holes (a sparse file the old owner made
    must not fill the disk), and with ``expect_sha256`` the bytes copied must be the ones that
    were checked (the old owner may still be writing)."""
    size = os.fstat(src).st_size
    h = hashlib.sha256()
    tmp, out = _new_temp(dfd, name, mode, uid, gid)
    try:
        try:
            pos = 0
            while pos < size:
                try:
                    data = os.lseek(src, pos, os.SEEK_DATA)
                except OSError as e:  # ENXIO: only a hole remains
                    if e.errno != errno.ENXIO:
                        raise
                    break
                hole = os.lseek(src, data, os.SEEK_HOLE)
                if expect_sha256 is not None and data > pos:
                    _hash_zeros(h, data - pos)
                pos = data
                while pos < hole:
                    chunk = os.pread(src, min(1 << 20, hole - pos), pos)
                    if not chunk:
                        break
                    h.update(chunk)
                    os.pwrite(out, chunk, pos)
                    pos += len(chunk)
            if expect_sha256 is not None and size > pos:
                _hash_zeros(h, size - pos)
            os.ftruncate(out, size)
            os.fsync(out)
        finally:
            os.close(out)
        if expect_sha256 is not None and h.hexdigest() != expect_sha256:
            raise UnsafePathError("changed-while-copied", f"{shown} changed while nso-install was taking it over; "
                                  "refusing the changed content.", "Stop whatever writes it (the old account's "
                                  "processes), then re-run.")
    except BaseException:
        os.unlink(tmp, dir_fd=dfd)
        raise
    return tmp


def _hash_zeros(h, n: int) -> None:
    block = bytes(1 << 20)
    while n > 0:
        h.update(block[:min(n, len(block))])
        n -= len(block)


def rename_aside(host: Path, new_name: str) -> str:
    """Rename ``host`` to ``new_name`` (or ``new_name.1``, ``.2``...) in the same directory, never
    over an existing file; the name used."""
    with parent_dir(host) as dfd:
        for n in range(1000):
            name = new_name if n == 0 else f"{new_name}.{n}"
            try:
                os.link(host.name, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            except FileExistsError:
                continue
            os.unlink(host.name, dir_fd=dfd)
            os.fsync(dfd)
            return name
        raise FileExistsError(errno.EEXIST, f"{new_name} and 999 numbered siblings exist")


def _set_attrs_at(name: str, dfd: int, mode: int, uid: int | None, gid: int | None, shown: str) -> None:
    """The path is opened once with O_PATH|O_NOFOLLOW and changed through /proc/self/fd: if
    someone swaps it for a symlink after the check, the link itself is refused instead of its
    target being chowned or chmodded."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError("symlink-refused", f"{shown} became a symbolic link; refusing to change it.",
                                  "Find out who replaced it, remove the link and re-run.")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise UnsafePathError("not-a-file", f"{shown} is neither a file nor a directory.",
                                  "Move it out of the way and re-run.")
        if stat.S_ISREG(st.st_mode):
            check_single(st, shown)
        chown = can_chown() and (uid is not None or gid is not None)
        ids = (-1 if uid is None else uid, -1 if gid is None else gid)
        proc = f"/proc/self/fd/{fd}"
        if not os.path.exists(proc):  # no /proc (rare): open the verified inode itself
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            real = os.open(name, flags, dir_fd=dfd)
            try:
                if os.fstat(real).st_ino != st.st_ino:
                    raise UnsafePathError("path-changed", f"{shown} changed while being updated.", "Re-run.")
                if chown:
                    os.fchown(real, *ids)
                os.fchmod(real, mode)
            finally:
                os.close(real)
            return
        if chown:
            os.chown(proc, *ids)
        os.chmod(proc, mode)
    finally:
        os.close(fd)


def atomic_symlink(host: Path, link_to: str) -> None:
    """Create or switch a symlink atomically (new link beside it, then rename over)."""
    with parent_dir(host) as dfd:
        st = _lstat(host.name, dfd)
        if st is not None and not stat.S_ISLNK(st.st_mode):
            raise UnsafePathError("not-a-symlink", f"{host} exists and is not a symbolic link; not replacing it.",
                                  "Move it out of the way and re-run.")
        tmp = _temp_name(host.name)
        os.symlink(link_to, tmp, dir_fd=dfd)
        _rename_into_place(tmp, host.name, dfd)


def _rename_into_place(tmp: str, name: str, dfd: int) -> None:
    """Atomically replace ``name`` with ``tmp`` (both in ``dfd``); the temp never survives a failure."""
    try:
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        os.unlink(tmp, dir_fd=dfd)
        raise
    os.fsync(dfd)


def remove_file(host: Path) -> None:
    """Remove a file or symlink (never a directory's content)."""
    with parent_dir(host) as dfd:
        os.unlink(host.name, dir_fd=dfd)
        os.fsync(dfd)


def remove_tree(host: Path) -> None:
    """``host`` and everything below it, reached without following any link.  For directories
    another account can write (leftovers in the run directory, an uninstall): each directory
    is opened with O_DIRECTORY|O_NOFOLLOW|O_NONBLOCK, so an entry swapped for a link or a FIFO
    between listing and opening is unlinked, never followed nor waited on (shutil.rmtree opens
    without O_NONBLOCK: a FIFO put there would hold the run, and its lock, for ever)."""
    with parent_dir(host) as dfd:
        _remove_at(dfd, host.name)
        os.fsync(dfd)


_OPEN_TO_REMOVE = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_RELISTS = 1000  # directories remove_tree lists again because entries appeared in them meanwhile


def _open_or_unlink(dfd: int, name: str, gone_ok: bool) -> int | None:
    """A descriptor of the directory ``name`` in ``dfd`` to remove what is in it; None when it
    was no directory (a file, link, FIFO...: the entry itself is unlinked here) or, with
    ``gone_ok``, is no longer there."""
    try:
        return os.open(name, _OPEN_TO_REMOVE, dir_fd=dfd)
    except FileNotFoundError:
        if not gone_ok:
            raise
        return None
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        if not gone_ok:
            raise
    return None


def _remove_at(dfd: int, name: str) -> None:
    top = _open_or_unlink(dfd, name, gone_ok=False)
    if top is None:
        return
    # depth first without recursion (another account's tree may be deeper than Python's stack)
    stack = [(top, dfd, name, None)]  # (fd, parent fd, name, its entries not yet removed)
    relists = 0
    try:
        while stack:
            fd, parent, nm, left = stack[-1]
            if left is None:
                left = os.listdir(fd)
                stack[-1] = (fd, parent, nm, left)
            if not left:
                stack.pop()
                os.close(fd)
                try:
                    os.rmdir(nm, dir_fd=parent)
                except OSError as e:
                    # an account that may write there put an entry in since the listing (or a new
                    # directory in place of the emptied one): what is there now goes too, within a
                    # bound (a process that never stops adding entries ends the removal with ENOTEMPTY)
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or relists >= MAX_RELISTS:
                        raise
                    relists += 1
                    again = _open_or_unlink(parent, nm, gone_ok=True)
                    if again is not None:
                        stack.append((again, parent, nm, None))
                continue
            child = left.pop()
            sub = _open_or_unlink(fd, child, gone_ok=True)
            if sub is not None:
                stack.append((sub, fd, child, None))
    finally:
        for fd, _, _, _ in stack:
            os.close(fd)


@contextmanager
def dir_handle(host: Path) -> Iterator[int]:
    """A descriptor of the directory ``host``, reached without following any link."""
    with parent_dir(host) as dfd:
        fd = os.open(host.name, _DIR_FLAGS, dir_fd=dfd)
    try:
        yield fd
    finally:
        os.close(fd)


def _below(top: int, parts: list[str]) -> int:
    """A new descriptor of the directory ``parts`` below ``top``, never through a link."""
    fd = os.dup(top)
    try:
        for name in parts:
            nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def can_move_across(dst_top: int, rel: str) -> bool:
    """Whether ``rel``'s parent is a directory below ``dst_top`` (:func:`move_across` can put it there)."""
    try:
        os.close(_below(dst_top, rel.split("/")[:-1]))
        return True
    except OSError:  # missing, not a directory, or a link
        return False


def exists_below(top: int, rel: str) -> bool:
    """Whether the entry ``rel`` (a link itself counts) exists below the directory ``top``, its
    parents reached without following links."""
    *parents, name = rel.split("/")
    try:
        fd = _below(top, parents)
    except OSError:
        return False
    try:
        return _lstat(name, fd) is not None
    finally:
        os.close(fd)


def move_across(src_top: int, dst_top: int, rel: str) -> None:
    """The entry ``rel`` moved from below ``src_top`` to the same place below ``dst_top`` (both
    descriptors of directories on one file system), replacing what is there; parents reached
    without following links, the entry itself never followed."""
    *parents, name = rel.split("/")
    src = _below(src_top, parents)
    try:
        dst = _below(dst_top, parents)
        try:
            if _lstat(name, dst) is not None:
                _remove_at(dst, name)  # (a directory, a file or a link: the entry itself, as remove_tree)
            os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def matching_below(top: int, pattern: str) -> list[str]:
    """Relative paths below the directory ``top`` matching ``pattern`` (fnmatch in its last
    component only), found without following links; [] when its parent is not a directory."""
    import fnmatch

    *parents, base = pattern.split("/")
    try:
        fd = _below(top, parents)
    except OSError:
        return []
    try:
        names = os.listdir(fd)
    finally:
        os.close(fd)
    prefix = "/".join(parents) + "/" if parents else ""
    return [prefix + n for n in sorted(fnmatch.filter(names, base))]
