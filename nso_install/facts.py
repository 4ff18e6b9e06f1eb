"""Facts about the target: read-only, gathered lazily and cached per evaluation.

A :class:`Facts` instance never writes.  The executor builds a fresh one before checking
each action, so an action always judges the file system as it is at that moment.
Secrets never enter facts: a secret file is described by kind, owner, mode and size only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .errors import NsoInstallError
from .record import record
from .target import Target

ABSENT, FILE, DIR, LINK, OTHER = "absent", "file", "dir", "link", "other"
MAX_READ = 4 << 20  # a file read whole (config files, keys)
MAX_HASH = 256 << 20  # a file hashed (config files, keys, privileged binaries)


MAX_WALK_DEPTH = 256  # directory levels nso-install walks (hand-overs)
MAX_WALK_ENTRIES = 5_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TooLarge(NsoInstallError):
    """A file far bigger than any nso-install reads whole (or a tree beyond its walk limits)."""


def _too_big(top: str, what: str) -> TooLarge:
    return TooLarge("tree-too-big", f"{top} holds {what}; nso-install walks such trees only within limits.",
                    "Find out who made it so (another account may have), clean it up and re-run.")


@record(frozen=True)
class PathFact:
    """One target path as lstat saw it (never followed): kind, mode, owner, size, link text."""
    path: str
    kind: str
    mode: int | None = None  # permission bits incl. setuid/setgid/sticky (st_mode & 0o7777)
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    link: str | None = None  # symlink target, as stored
    nlink: int | None = None  # names of the inode (hard links)

    @property
    def exists(self) -> bool:
        return self.kind != ABSENT


@record(frozen=True)
class UserEntry:
    """A line of the target's /etc/passwd."""
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@record(frozen=True)
class GroupEntry:
    """A line of the target's /etc/group."""
    name: str
    gid: int
    members: tuple[str, ...]


@record(frozen=True)
class Accounts:
    """The target's users and groups, by name."""
    users: dict[str, UserEntry] = field(default_factory=dict)
    groups: dict[str, GroupEntry] = field(default_factory=dict)

    def uid(self, name: str) -> int | None:
        if name == "root":
            return 0
        u = self.users.get(name)
        return u.uid if u else None

    def gid(self, name: str) -> int | None:
        if name == "root":
            return 0
        g = self.groups.get(name)
        return g.gid if g else None

    def user_name(self, uid: int | None) -> str:
        for u in self.users.values():
            if u.uid == uid:
                return u.name
        return "root" if uid == 0 else str(uid)

    def group_name(self, gid: int | None) -> str:
        for g in self.groups.values():
            if g.gid == gid:
                return g.name
        return "root" if gid == 0 else str(gid)


def _parse_colon_file(text: str, fields: int, make) -> dict:
    """name -> make(fields) for each well-formed line of an /etc/passwd-style file.  A name given
    twice is its first line's, as for libc (getpwnam), runuser and the shadow tools: the last one
    would let a "nso" with uid 0 above hide behind an ordinary nso below."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < fields or line.startswith("#") or parts[0] in out:
            continue
        try:
            out[parts[0]] = make(parts)
        except ValueError:
            continue
    return out


def parse_passwd(text: str) -> dict[str, UserEntry]:
    return _parse_colon_file(text, 7, lambda p: UserEntry(p[0], int(p[2]), int(p[3]), p[5], p[6]))


def parse_group(text: str) -> dict[str, GroupEntry]:
    return _parse_colon_file(text, 4, lambda p: GroupEntry(p[0], int(p[2]), tuple(m for m in p[3].split(",") if m)))


@record(frozen=True)
class MountFact:
    """The mount a path is on: mount point, file system type, options."""
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def nosuid(self) -> bool:
        return "nosuid" in self.options


def mount_of(host_path: Path) -> MountFact | None:
    """The mount that holds ``host_path`` (longest matching mount point), via psutil."""
    from .proc import mount_of as mount

    found = mount(str(host_path))
    return MountFact(found[0], found[1], tuple(found[2])) if found else None


def no_new_privs() -> bool:
    """True when this process runs with no_new_privs (setuid has no effect for it and its children)."""
    from .proc import status

    return status().get("NoNewPrivs") == "1"


class Owned(NamedTuple):
    """The part of an entry's stat result about its type, mode and owner."""

    st_mode: int
    st_uid: int
    st_gid: int


def caps_can_matter(mode: int, uid: int) -> bool:
    """Whether a file capability on a regular file with ``mode`` and owner ``uid`` could give
    anyone anything: capabilities take effect only through execve, and a root-owned file
    without an execute bit can be made executable only by root (chmod needs the owner or
    CAP_FOWNER).  So: any execute bit, or an owner other than root (who may add one)."""
    return bool(mode & 0o111) or uid != 0


def notable(mode: int, uid: int, caps) -> bool:
    """Whether the audit's checks of whole trees (NSO-PERM-008 world-writable, NSO-PERM-009
    foreign-owned, NSO-PERM-011 group-writable or with an ACL, NSO-PRIV-001 setuid, NSO-PRIV-002
    capabilities) may judge an entry with ``mode`` and owner ``uid``: an owner other than root,
    a group- or world-writable entry other than a link (an ACL entry that lets a named account
    write shows as the group write bit: its mask), a setuid/setgid file, or a file whose
    capabilities can matter and are some (``caps`` truthy) or were not read (None: the check
    reads them again and reports why).  Everything else (nearly all of a tree) passes them all,
    so the audit keeps and judges only these."""
    if uid != 0:
        return True
    if stat.S_ISLNK(mode):
        return False
    if mode & 0o022:
        return True
    return stat.S_ISREG(mode) and bool(mode & 0o6000 or (caps_can_matter(mode, uid) and (caps is None or caps)))


class AclEntry(NamedTuple):
    """A named entry of a POSIX ACL: ``user`` or ``group``, its uid or gid, and the permission
    bits (4 read, 2 write, 1 execute) it has after the ACL's mask."""
    kind: str
    id: int
    perms: int


# system.posix_acl_access (linux/posix_acl_xattr.h): a version, then (tag, perm, id) entries
_ACL_VERSION, _ACL_USER, _ACL_GROUP, _ACL_MASK = 2, 0x02, 0x08, 0x10


def acl_bytes(where: str | Path, which: str = "access") -> bytes:
    """The ``system.posix_acl_access`` attribute of ``where`` (``which="default"``: a directory's
    ``system.posix_acl_default``, what entries made in it inherit; b"" for none), never following
    a link in its last component."""
    try:
        return os.getxattr(where, f"system.posix_acl_{which}", follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT, errno.EOPNOTSUPP):
            raise
    return b""


def parse_acl(data: bytes) -> tuple[AclEntry, ...]:
    """The named entries of an ACL attribute, masked (a malformed one: none can be told apart,
    so every entry it might hold is reported as full access)."""
    import struct

    if not data:
        return ()
    if len(data) < 4 or (len(data) - 4) % 8 or struct.unpack_from("<I", data)[0] != _ACL_VERSION:
        return (AclEntry("unreadable ACL", -1, 7),)
    entries = [struct.unpack_from("<HHI", data, off) for off in range(4, len(data), 8)]
    mask = next((perm for tag, perm, _ in entries if tag == _ACL_MASK), 7)
    return tuple(AclEntry("user" if tag == _ACL_USER else "group", ident, perm & mask & 7)
                 for tag, perm, ident in entries if tag in (_ACL_USER, _ACL_GROUP))


def capability_bytes(where: str | Path) -> bytes:
    """The ``security.capability`` attribute of the file at ``where`` (b"" for none), never
    following a link in its last component.  Listed first: most files have none, and a
    failed getxattr (an exception) costs more than the listing (a walk of a big tree reads
    many)."""
    try:
        if "security.capability" in os.listxattr(where, follow_symlinks=False):
            return os.getxattr(where, "security.capability", follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
            raise
    return b""


class Facts:
    """Lazy, cached, read-only view of the target."""

    def __init__(self, target: Target):
        self.target = target
        self._paths: dict[str, PathFact] = {}
        self._acls: dict[str, tuple[AclEntry, ...]] = {}
        self._digests: dict[str, str | None] = {}
        self._accounts: Accounts | None = None
        self._caps: dict[str, dict[str, frozenset[str]]] = {}

    def caps(self, tpath: str | PurePosixPath) -> dict[str, frozenset[str]]:
        """File capabilities of a regular file ({} when it has none), read from its
        ``security.capability`` attribute without following a link."""
        key = str(tpath)
        if key not in self._caps:
            self._caps_at(key, self.target.host(key))
        return self._caps[key]

    def caps_read(self, tpath: str) -> dict[str, frozenset[str]] | None:
        """The capabilities a walk (or :meth:`caps`) already read for ``tpath``; None when they
        were not read (where they cannot matter), or could not be (:meth:`caps` says why)."""
        return self._caps.get(str(tpath))

    def _replay(self, base: str, listing: list, caps: bool):
        """What walk() would yield below ``base``, from a listing of StatIndex.holds."""
        from .capabilities import decode

        for rel, mode, uid, gid, raw in listing:
            kind = DIR if stat.S_ISDIR(mode) else FILE if stat.S_ISREG(mode) else LINK if stat.S_ISLNK(mode) else OTHER
            path = f"{base}/{rel}"
            if caps and raw is not None:
                try:
                    self._caps[path] = decode(raw, path) if raw else {}
                except NsoInstallError:
                    pass  # not cached: caps() reads it again and reports it
            yield path, Owned(mode, uid, gid), kind

    def _caps_at(self, key: str, fd_path: str | Path) -> None:
        """Cache the capabilities of ``key``, read at ``fd_path`` (its directory's descriptor in
        /proc/self/fd and its name: no parent resolved again, no link followed)."""
        raw = capability_bytes(fd_path)
        if not raw:
            self._caps[key] = {}
            return
        from .capabilities import decode

        self._caps[key] = decode(raw, key)

    def processes_of(self, uid: int | None) -> list[int]:
        """Pids of the processes running with ``uid`` (real or effective) on this host."""
        from .proc import processes_of

        return [] if uid is None else processes_of(uid)

    def mount(self, tpath: str | PurePosixPath) -> MountFact | None:
        return mount_of(self.target.host(tpath))

    @property
    def no_new_privs(self) -> bool:
        return no_new_privs()

    def path(self, tpath: str | PurePosixPath) -> PathFact:
        key = str(tpath)
        if key not in self._paths:
            self._paths[key] = self._stat(key)
        return self._paths[key]

    def _stat(self, tpath: str) -> PathFact:
        host = self.target.host(tpath)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            return PathFact(tpath, ABSENT)
        except NotADirectoryError:
            return PathFact(tpath, ABSENT)
        except PermissionError:
            raise _denied(tpath, self.target, host) from None
        m = st.st_mode
        if stat.S_ISLNK(m):
            kind, link = LINK, os.readlink(host)
        else:
            kind = FILE if stat.S_ISREG(m) else DIR if stat.S_ISDIR(m) else OTHER
            link = None
        return PathFact(tpath, kind, stat.S_IMODE(m), st.st_uid, st.st_gid, st.st_size, link, st.st_nlink)

    def acl(self, tpath: str | PurePosixPath) -> tuple["AclEntry", ...]:
        """The named user and group entries of the path's POSIX access ACL (``setfacl -m
        u:alice:r``), each with the permissions the ACL's mask leaves it; () without any.  An
        ACL's mask is what ``ls -l`` shows as the group bits, so only a path with group bits
        can have an entry that grants anything (the callers ask only then)."""
        key = str(tpath)
        if key not in self._acls:
            self._acls[key] = parse_acl(acl_bytes(self.target.host(tpath)))
        return self._acls[key]

    def default_acl(self, tpath: str | PurePosixPath) -> tuple["AclEntry", ...]:
        """The named entries of a directory's default ACL (``setfacl -d -m u:alice:rx``), masked:
        every entry made in it starts with them (an entry's own mode then masks them again)."""
        return parse_acl(acl_bytes(self.target.host(tpath), "default"))

    def read(self, tpath: str | PurePosixPath, limit: int = MAX_READ) -> bytes | None:
        """Contents of a regular file (never through a link); None if absent or not a file.
        Files nso-install reads whole (config files, keys) are small: a bigger one (say a
        sparse file another account made) is refused, not read into memory.  Its own records
        (a manifest of a big tree) pass a bigger ``limit``."""
        if self.path(tpath).kind != FILE:
            return None
        with os.fdopen(self._open(tpath), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise TooLarge("file-too-large", f"{tpath} is larger than {limit >> 20} MiB; nso-install reads such "
                           "files (config files, keys) whole and refuses one this big.",
                           "Find out why it is so big (another account may have inflated it), fix it and re-run.")
        return data

    def version_file(self, tree: str) -> str:
        """The text of the VERSION file of the NSO tree at ``tree``, stripped ("" when there is
        none, or it is empty): what names the release an unpacked tree holds."""
        return (self.read(f"{tree}/VERSION") or b"").decode(errors="replace").strip()

    def _open(self, tpath: str | PurePosixPath) -> int:
        from .fsops import open_regular

        host = self.target.host(tpath)
        try:
            return open_regular(host, str(tpath))
        except PermissionError:
            raise _denied(tpath, self.target, host) from None

    def sha256(self, tpath: str | PurePosixPath) -> str | None:
        key = str(tpath)
        if key not in self._digests:
            if self.path(key).kind != FILE:
                self._digests[key] = None
            else:
                size = self.path(key).size or 0
                if size > MAX_HASH:  # never equal to a real digest: a change, without hours of hashing
                    self._digests[key] = f"too-large:{size}"
                else:
                    # Bounded as read, not only by the size seen before: the file's owner (the NSO
                    # account's aaa_init.xml, ncs.systemd.conf) may grow it meanwhile, a sparse
                    # terabyte or faster than root reads, and hold the run (and its lock) for hours.
                    h = hashlib.sha256()
                    total = 0
                    with os.fdopen(self._open(key), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            total += len(chunk)
                            if total > MAX_HASH:
                                break
                            h.update(chunk)
                    self._digests[key] = f"too-large:{total}+" if total > MAX_HASH else h.hexdigest()
        return self._digests[key]

    @property
    def accounts(self) -> Accounts:
        if self._accounts is None:
            self._accounts = Accounts(
                parse_passwd((self.read("/etc/passwd") or b"").decode(errors="replace")),
                parse_group((self.read("/etc/group") or b"").decode(errors="replace")),
            )
        return self._accounts

    def walk(self, tpath: str | PurePosixPath, caps: bool = False, prewalked: dict[str, list] | None = None):
        """(target path, stat result, kind) of everything below the directory ``tpath`` (not
        itself), parents before children, through directory descriptors opened without
        following links.  ``caps``: also read the capabilities of each regular file where they
        can matter (:func:`caps_can_matter`) through the directory's descriptor into
        :meth:`caps`' cache (by path, each one resolved its parents again: as long as the
        whole walk on a big tree).  ``prewalked``: {target path of a directory below ``tpath``:
        its entries as :meth:`StatIndex.holds <nso_install.manifest.StatIndex.holds>` listed
        them a moment ago}; those are given instead of walking the directory again: only the
        entries :func:`notable` keeps, so only for a caller that keeps no others.  Iterative and bounded (another account may have made the tree
        deep or huge): beyond MAX_WALK_DEPTH levels or MAX_WALK_ENTRIES entries it stops
        with a clear error.  A subdirectory is opened only when the walk enters it, so the
        descriptors held are one per level, however wide a directory another account made."""
        top = str(tpath).rstrip("/")
        seen = 0
        via_fd = caps and os.path.isdir("/proc/self/fd")  # without /proc, caps() reads by path
        # one frame per level entered: [directory fd, its path, depth, subdirectories not yet entered]
        frames: list[list] = [[os.open(self.target.host(tpath), _DIR_FLAGS), top, 0, None]]
        try:
            while frames:
                frame = frames[-1]
                dfd, base, depth, pending = frame
                if pending is None:
                    pending = frame[3] = []
                    with os.scandir(dfd) as it:
                        names = sorted(e.name for e in it)
                    for name in names:
                        try:
                            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        seen += 1
                        if seen > MAX_WALK_ENTRIES:
                            raise _too_big(top, f"more than {MAX_WALK_ENTRIES} entries")
                        m = st.st_mode
                        kind = DIR if stat.S_ISDIR(m) else FILE if stat.S_ISREG(m) else \
                            LINK if stat.S_ISLNK(m) else OTHER
                        path = f"{base}/{name}"
                        if caps and kind == FILE and via_fd and caps_can_matter(m, st.st_uid):
                            try:
                                self._caps_at(path, f"/proc/self/fd/{dfd}/{name}")
                            except NsoInstallError:
                                pass  # not cached: caps() reads it again and reports it
                        yield path, st, kind
                        if kind == DIR:
                            if depth + 1 > MAX_WALK_DEPTH:
                                raise _too_big(top, f"directories nested more than {MAX_WALK_DEPTH} deep")
                            pending.append(name)
                if not pending:
                    frames.pop()
                    os.close(dfd)
                    continue
                name = pending.pop()  # the last first, as before: the order of the subtrees is unchanged
                if prewalked and f"{base}/{name}" in prewalked:
                    listing = prewalked[f"{base}/{name}"]
                    seen += len(listing)
                    if seen > MAX_WALK_ENTRIES:
                        raise _too_big(top, f"more than {MAX_WALK_ENTRIES} entries")
                    yield from self._replay(f"{base}/{name}", listing, caps)
                    continue
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                except OSError as e:
                    if e.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        raise
                    continue
                frames.append([child, f"{base}/{name}", depth + 1, None])
        finally:
            for frame in frames:
                os.close(frame[0])

    def listdir(self, tpath: str | PurePosixPath) -> list[str]:
        if self.path(tpath).kind != DIR:
            return []
        return sorted(os.listdir(self.target.host(tpath)))


def _denied(tpath, target: Target, host: Path) -> NsoInstallError:
    """``tpath`` could not be looked at or read: say which directory on the way (or the file
    itself) this account may not enter or read, with its owner and mode, whether or not the
    file exists (that cannot be seen from here)."""
    from .proc import denied_to_root

    lacking = denied_to_root(f"Permission denied: {tpath}")
    if lacking is not None:
        return lacking
    blocked = next((d for d in reversed(host.parents) if not os.access(d, os.X_OK, effective_ids=True)), None)
    try:
        st = os.stat(blocked or host)
        how = f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"
    except OSError as e:
        how = e.strerror or "Permission denied"
    if blocked is not None:
        what = f"look into {target.show_host(blocked)} ({how}) for {tpath}"
    else:
        what = f"read {tpath} ({how})"
    return NsoInstallError(
        "permission-denied", f"cannot {what} as uid {os.geteuid()}.",  # (status and verify have no plan)
        "Run the same command as the account that installed it: root for a system install (sudo; with --check it "
        "still changes nothing), the owner for a local one (install, status and verify take --local-install DIR; "
        "activate, rollback, uninstall, keys rotate and audit are for system installs: a local install is one "
        "version in one directory, removed by deleting it and the .NAME.nso-install-lock beside it). Or preview "
        "a new install staged with --root DIR.")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
