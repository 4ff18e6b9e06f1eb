"""Readers for NSO distributions: a directory, a tarball, an ``installer.bin`` or a ``signed.bin``.

Every reader streams: members are read one at a time and file data is copied in chunks, so
memory does not grow with the size of the distribution (only with the number of member
names, which the safety checks must remember).  Nothing trusts the archive:

* :meth:`Distribution.validate` is a full pass over the headers that writes nothing and
  refuses the whole distribution (``DistributionError``, reference ``hostile-member``) on
  an absolute name, a ``..`` component, an empty/``.``/NUL name, a duplicate, a member
  under a symlink or under a file, a symlink whose target is absolute or leaves the tree
  (lexically or through other symlinks of the tree), a hard link to anything but an
  earlier regular file of the tree, a device node, FIFO, socket or unknown member type,
  and setuid/setgid/sticky bits.
* :meth:`Distribution.extract` runs the same checks again on every member before writing
  it (the archive may have changed since ``validate``), creates everything relative to
  directory file descriptors opened with ``O_NOFOLLOW`` and every file with
  ``O_CREAT|O_EXCL|O_NOFOLLOW``, never keeps the archive's owners, and empties the
  destination again when anything fails.

Archives must hold a single top-level directory (``nso-VSN/``), which is stripped.  The
version comes from the distribution's ``VERSION`` file and is cross-checked with the
``nso-VSN`` name of the file, directory or top-level directory when there is one.

Self-extracting scripts (``installer.bin``, ``signed.bin``) are recognised by a ``#!``
first line and a ``__NSO_PAYLOAD_BELOW__`` marker line, after which the payload starts (the
format :mod:`nso_install.sample` writes; the layout of Cisco's real scripts is not public).
A ``signed.bin`` payload is a tar holding the ``installer.bin``, its ``.signature`` and
``tailf.cer``; the signature is verified with the certificate's public key before the
inner installer is read, in place, through offset windows on the one file.  Note that this
checks integrity against the certificate shipped alongside, not a chain to Cisco's CA.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import lzma
import math
import os
import re
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

from .errors import DistributionError
from .fsops import can_chown, remove_tree

CHUNK = 1 << 20
MARKER = b"\n__NSO_PAYLOAD_BELOW__\n"
HEADER_LIMIT = 1 << 20  # the marker must appear in the first MiB of a script
VERSION_MAX = 256
MAX_LINK_HOPS = 40
# Bounds against hostile archives (decompression bombs, header bombs, name bombs).  A real
# NSO distribution is far below each of them (tens of thousands of members, a few GB).
MAX_MEMBERS = 1_000_000
MAX_NAME = 4096  # bytes of a member name or link target (PATH_MAX)
MAX_DEPTH = 128  # components of a member name
MAX_NAME_CHARS = 256 << 20  # all names (and implied directories) the checks remember
MAX_TOTAL_BYTES = 64 << 30  # declared size of all files
HEADER_BUDGET = 1 << 20  # bytes tarfile may read for one member's headers (pax, long names, sparse maps)
MAX_TRAILER_BYTES = 64 << 20  # decompressed bytes after the end-of-archive marker
VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+)+([._+-][A-Za-z0-9]+)*")
_NAME_RE = re.compile(r"^(?:nso|ncs)-(?P<v>.+?)(?:\.(?:linux|darwin)\.[^.]+)?"
                      r"(?:\.(?:tar\.gz|tgz|tar|tar\.bz2|tar\.xz|installer\.bin|signed\.bin))?$")
_TOP_RE = re.compile(r"^(?:nso|ncs)-(?P<v>.+)$")
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError, ValueError)
_GET_AGAIN = "Download the distribution again from Cisco (software.cisco.com) and check its checksum."
_NEVER = ("Get the distribution again from Cisco; a genuine NSO distribution never contains "
          "such members, so this one was tampered with or is not NSO.")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DistSummary:
    files: int
    dirs: int
    symlinks: int
    total_bytes: int


@dataclass
class Member:
    """One entry of a distribution, as the reader found it (nothing checked yet)."""

    name: str  # as in the archive / relative path in a directory, for messages
    kind: str  # "file" | "dir" | "symlink" | "hardlink" | "special"
    mode: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    what: str = ""  # for "special": what it is
    open: Callable[[], BinaryIO] | None = None


# -- the safety checks ---------------------------------------------------------------------


class _Checker:
    """Checks members one by one (``check``) and as a whole (``finish``); remembers names."""

    def __init__(self, where: str, strip_top: bool, lenient_dirs: bool = False):
        self.where = where
        self.strip_top = strip_top
        self.lenient_dirs = lenient_dirs  # unpacked trees: setgid dirs are an inheritance artefact
        self.top: str | None = None
        self.top_mtime_ns: int | None = None
        self.kinds: dict[str, str] = {}
        self.implied: set[str] = set()
        self.links: dict[str, str] = {}
        self.version: str | None = None
        self.files = self.dirs = self.symlinks = self.total = 0
        self.members = self.name_chars = 0

    def shown(self, rel: str) -> str:
        """How a tree path is named in messages: as in the archive."""
        return f"{self.top}/{rel}" if self.top else rel

    def hostile(self, name: str, why: str) -> DistributionError:
        return DistributionError("hostile-member",
                                 f"{self.where}: member {name!r} {why}; refusing the whole distribution.", _NEVER)

    def too_big(self, why: str) -> DistributionError:
        return DistributionError("distribution-too-big", f"{self.where}: {why}; refusing it as a decompression "
                                                         "or archive bomb.", _NEVER)

    def _parts(self, raw: str, name: str, what: str = "name") -> list[str]:
        if raw == "":
            raise self.hostile(name, f"has an empty {what}")
        if len(raw.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise self.hostile(name[:200] + "...", f"has a {what} longer than {MAX_NAME} bytes")
        if "\x00" in raw:
            raise self.hostile(name, f"has a NUL character in its {what}")
        if raw.startswith("/"):
            raise self.hostile(name, f"has an absolute {what}")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.hostile(name, f"has a '..' component in its {what}")
        if not parts:
            raise self.hostile(name, f"has the {what} {raw!r}, which names no file")
        if len(parts) > MAX_DEPTH:
            raise self.hostile(name[:200] + "...", f"has a {what} deeper than {MAX_DEPTH} directories")
        return parts

    def _remember(self, key: str) -> None:
        self.name_chars += len(key) + 1
        if self.name_chars > MAX_NAME_CHARS:
            raise self.too_big(f"its member names add up to more than {MAX_NAME_CHARS >> 20} MiB")

    def _strip(self, parts: list[str], name: str, m_kind: str | None) -> list[str] | None:
        """Remove the top-level directory; None for the top-level directory itself."""
        if not self.strip_top:
            return parts
        if self.top is None:
            if len(parts) == 1 and m_kind != "dir":
                raise self.hostile(name, "is not inside a top-level directory (an NSO archive holds one, nso-VSN/)")
            self.top = parts[0]
        if parts[0] != self.top:
            raise self.hostile(name, f"is outside the archive's single top-level directory {self.top}/")
        return parts[1:] if len(parts) > 1 else None

    def check(self, m: Member) -> str | None:
        """Check ``m``; its relative path inside the tree, or None for the top directory."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise self.too_big(f"it has more than {MAX_MEMBERS} members")
        parts = self._parts(m.name, m.name)
        rel_parts = self._strip(parts, m.name, m.kind)
        if rel_parts is None:
            if m.kind != "dir":
                raise self.hostile(m.name, "is the top-level directory but is not a directory")
            if self.top_mtime_ns is not None:
                raise self.hostile(m.name, "appears twice in the archive")
            self.top_mtime_ns = m.mtime_ns
            self._check_mode(m)
            return None
        rel = "/".join(rel_parts)
        for n in range(1, len(rel_parts)):
            parent = "/".join(rel_parts[:n])
            kind = self.kinds.get(parent)
            if kind == "symlink":
                raise self.hostile(m.name, f"lies under the symbolic link member {self.shown(parent)} "
                                           "(writing it would follow the link)")
            if kind in ("file", "hardlink"):
                raise self.hostile(m.name, f"lies under {self.shown(parent)}, which is a file member")
            if kind is None and parent not in self.implied:
                self._remember(parent)
                self.implied.add(parent)
        if rel in self.kinds:
            raise self.hostile(m.name, "appears twice in the archive (duplicate member name)")
        if rel in self.implied and m.kind != "dir":
            raise self.hostile(m.name, "is not a directory although other members lie under it")
        self._check_mode(m)
        if m.kind == "file":
            self.files += 1
            self.total += m.size
            if self.total > MAX_TOTAL_BYTES:
                raise self.too_big(f"its files add up to more than {MAX_TOTAL_BYTES >> 30} GiB")
        elif m.kind == "dir":
            self.dirs += 1
        elif m.kind == "symlink":
            target = m.linkname
            if target == "" or "\x00" in target:
                raise self.hostile(m.name, "is a symbolic link with an empty or NUL-containing target")
            if len(target.encode("utf-8", "surrogateescape")) > MAX_NAME:
                raise self.hostile(m.name, f"is a symbolic link with a target longer than {MAX_NAME} bytes")
            if target.startswith("/"):
                raise self.hostile(m.name, f"is a symbolic link to the absolute path {target}")
            if not _lexically_inside(rel_parts[:-1], target):
                raise self.hostile(m.name, f"is a symbolic link to {target}, which leads outside the tree")
            self.links[rel] = target
            self.symlinks += 1
        elif m.kind == "hardlink":
            lrel = self._parts(m.linkname, m.name, "hard link target")
            if self.strip_top:
                lrel = lrel[1:] if lrel[0] == self.top else []
            if not lrel or self.kinds.get("/".join(lrel)) not in ("file", "hardlink"):
                raise self.hostile(m.name, f"is a hard link to {m.linkname}, which is not an earlier "
                                           "regular file of the tree")
            self.files += 1
        else:
            raise self.hostile(m.name, f"is a {m.what or 'special file'}; only files, directories and links "
                                       "are allowed")
        self._remember(rel)
        self.kinds[rel] = m.kind
        return rel

    def _check_mode(self, m: Member) -> None:
        if m.kind == "symlink":
            return
        mode = m.mode & ~stat.S_ISGID if self.lenient_dirs and m.kind == "dir" else m.mode
        bits = [n for bit, n in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"))
                if mode & bit]
        if bits:
            raise self.hostile(m.name, f"has the {'/'.join(bits)} bit set (mode {m.mode & 0o7777:04o})")

    def see_version(self, m: Member, data: bytes, expected: str | None) -> None:
        text = data.decode("ascii", errors="replace").strip()
        if not VERSION_RE.fullmatch(text):
            raise DistributionError("bad-version", f"{self.where}: the VERSION file holds {text[:40]!r}, "
                                                   "which is not an NSO version.", _GET_AGAIN)
        if expected is not None and text != expected:
            raise DistributionError("version-mismatch", f"{self.where}: VERSION now says {text}, but it said "
                                                        f"{expected} when the distribution was opened.",
                                    "Do not modify the distribution while nso-install reads it; re-run.")
        self.version = text

    def finish(self, expected: str | None) -> DistSummary:
        if self.strip_top and self.top is None:
            raise DistributionError("empty-distribution", f"{self.where}: the archive has no members.", _GET_AGAIN)
        if self.version is None:
            raise _missing_version(self.where)
        top = _TOP_RE.match(self.top or "")
        if top and VERSION_RE.fullmatch(top["v"]) and top["v"] != self.version:
            raise DistributionError("version-mismatch",
                                    f"{self.where}: the top-level directory {self.top}/ does not match its "
                                    f"VERSION file ({self.version}).", _GET_AGAIN)
        if expected is not None and self.version != expected:
            raise DistributionError("version-mismatch", f"{self.where}: VERSION says {self.version}, expected "
                                                        f"{expected}.", _GET_AGAIN)
        for link in self.links:
            why = _resolve_inside(link, self.links)
            if why:
                raise self.hostile(self.shown(link), f"is a symbolic link to {self.links[link]}, which {why}")
        return DistSummary(self.files, self.dirs + len(self.implied - self.kinds.keys()), self.symlinks, self.total)


def _lexically_inside(parent: list[str], target: str) -> bool:
    cur = list(parent)
    for p in target.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not cur:
                return False
            cur.pop()
        else:
            cur.append(p)
    return True


def _resolve_inside(link: str, links: dict[str, str]) -> str | None:
    """Follow ``link`` through the tree's symlinks the way the kernel would; why it escapes, or None."""
    current: list[str] = []
    pending = link.split("/")
    hops = 0
    while pending:
        p = pending.pop(0)
        if p in ("", "."):
            continue
        if p == "..":
            if not current:
                return "leads outside the tree (through other links of the tree)"
            current.pop()
            continue
        key = "/".join(current + [p])
        if key in links:
            hops += 1
            if hops > MAX_LINK_HOPS:
                return "is part of a symbolic link loop"
            pending = links[key].split("/") + pending
        else:
            current.append(p)
    return None


def _missing_version(where: str) -> DistributionError:
    return DistributionError("missing-version", f"{where}: no VERSION file at the top of the distribution, so "
                                                "this is not an NSO distribution (or not a complete one).",
                             "Pass the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz you downloaded "
                             "from Cisco, or the directory it unpacks to.")


def _corrupt(where: str, e: BaseException) -> DistributionError:
    return DistributionError("corrupt-archive", f"{where}: the archive is damaged or truncated ({e}).", _GET_AGAIN)


# -- streaming helpers ---------------------------------------------------------------------


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes of ``f`` starting at ``start``."""

    def __init__(self, f: BinaryIO, start: int, length: int):
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b) -> int:
        n = min(len(b), self._length - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(b)[:n]) or 0
        self._pos += got
        return got


class _SafeReader:
    """Member data: read errors become DistributionError, and the size is enforced."""

    def __init__(self, f: BinaryIO, size: int, where: str, name: str):
        self._f, self._left, self._where, self._name = f, size, where, name

    def read(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        try:
            data = self._f.read(min(n, self._left))
        except _READ_ERRORS as e:
            raise _corrupt(self._where, e) from None
        if not data:
            raise DistributionError("corrupt-archive", f"{self._where}: {self._name} is shorter than its header "
                                                       "says (truncated or changed while being read).", _GET_AGAIN)
        self._left -= len(data)
        return data


def _find_marker(f: BinaryIO, where: str) -> int:
    f.seek(0)
    head = f.read(HEADER_LIMIT)
    if not head.startswith(b"#!"):
        raise DistributionError("unknown-distribution-format", f"{where} is not a self-extracting script.", None)
    i = head.find(MARKER)
    if i < 0:
        # Other self-extracting scripts append the archive right after the script's last
        # line (``tail -n +N``/``dd skip=`` style); take the first line start that carries a
        # compressed archive's magic bytes.
        starts = [j + 1 for j in (head.find(b"\n" + m) for m in (b"\x1f\x8b\x08", b"BZh91", b"\xfd7zXZ\x00"))
                  if j >= 0]
        if starts:
            return min(starts)
        raise DistributionError("no-payload", f"{where}: a shell script without the __NSO_PAYLOAD_BELOW__ marker, so "
                                              "no NSO payload can be found in it.",
                                "Pass the nso-VSN.OS.ARCH.installer.bin or .signed.bin as downloaded, or the "
                                ".tar.gz / directory it unpacks to.")
    return i + len(MARKER)


def _magic(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gz"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def _decompress(raw: BinaryIO, comp: str) -> BinaryIO:
    if comp == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if comp == "bz2":
        return bz2.BZ2File(raw, "rb")
    if comp == "xz":
        return lzma.LZMAFile(raw, "rb")
    return raw


class _HeaderGuard:
    """The tar stream as tarfile sees it.  While tarfile parses one member's headers (armed),
    it may read at most HEADER_BUDGET bytes: tarfile reads a pax or long-name header, or a
    sparse map, into memory whole, and a compressed archive can declare gigabytes of it."""

    def __init__(self, f: BinaryIO, where: str):
        self._f, self._where, self.armed, self._used = f, where, False, 0

    def arm(self, on: bool = True) -> None:
        self.armed, self._used = on, 0

    def _spend(self, n: int | None) -> None:
        if not self.armed:
            return
        self._used += HEADER_BUDGET + 1 if n is None or n < 0 else n
        if self._used > HEADER_BUDGET:
            raise DistributionError("hostile-member",
                                    f"{self._where}: a member's headers (pax/long name/sparse map) are larger than "
                                    f"{HEADER_BUDGET >> 10} KiB; refusing the whole distribution.", _NEVER)

    def read(self, n: int | None = -1) -> bytes:
        self._spend(n)
        return self._f.read(n)

    def readinto(self, b) -> int:
        self._spend(len(b))
        return self._f.readinto(b)

    def seek(self, *args) -> int:
        return self._f.seek(*args)

    def tell(self) -> int:
        return self._f.tell()


def _mtime_ns(ti: tarfile.TarInfo, where: str) -> int:
    mt = ti.mtime
    if not isinstance(mt, (int, float)):
        return 0
    if not (math.isfinite(mt) and abs(mt) < 2 ** 33):  # about year 2242: beyond any real file time
        raise DistributionError("corrupt-archive", f"{where}: member {ti.name!r} has the impossible modification "
                                                   f"time {mt!r}.", _GET_AGAIN)
    return int(mt * 1_000_000_000)


def _tar_members(stream: BinaryIO, where: str, compressed: bool) -> Iterator[Member]:
    """Members of the tar read from ``stream``, one at a time, ending with a check that the
    archive really ended (tarfile stops silently at a truncated or garbled header)."""
    guard = _HeaderGuard(stream, where)
    try:
        guard.arm()
        tf = tarfile.open(fileobj=guard, mode="r:")
    except _READ_ERRORS as e:
        raise _corrupt(where, e) from None
    finally:
        guard.arm(False)
    while True:
        try:
            guard.arm()
            ti = tf.next()
        except _READ_ERRORS as e:
            raise _corrupt(where, e) from None
        finally:
            guard.arm(False)
        if ti is None:
            break
        tf.members.clear()  # constant memory: tarfile would keep every TarInfo
        mtime_ns = _mtime_ns(ti, where)
        m = Member(ti.name, _tar_kind(ti), ti.mode, ti.size if ti.isreg() else 0, mtime_ns, ti.linkname,
                   _tar_what(ti))
        if ti.isreg():
            m.open = (lambda ti=ti: _SafeReader(tf.extractfile(ti), ti.size, where, ti.name))
        yield m
    try:
        stream.seek(tf.offset)
        end = stream.read(tarfile.BLOCKSIZE)
        if len(end) < tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
            raise tarfile.ReadError("no end-of-archive marker where the next member header should be")
        if compressed:  # the decompressor checks the stream's CRC only at its very end
            extra = 0
            while chunk := stream.read(CHUNK):
                extra += len(chunk)
                if extra > MAX_TRAILER_BYTES:
                    raise tarfile.ReadError(f"more than {MAX_TRAILER_BYTES >> 20} MiB of data after the "
                                            "end-of-archive marker")
    except _READ_ERRORS as e:
        raise _corrupt(where, e) from None


def _tar_kind(ti: tarfile.TarInfo) -> str:
    if ti.isreg():
        return "file"
    if ti.isdir():
        return "dir"
    if ti.issym():
        return "symlink"
    if ti.islnk():
        return "hardlink"
    return "special"


def _tar_what(ti: tarfile.TarInfo) -> str:
    return {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
            tarfile.FIFOTYPE: "FIFO (named pipe)"}.get(ti.type, f"member of unsupported tar type {ti.type!r}")


# -- writing -------------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def _check_space(dest: Path, summary: DistSummary) -> None:
    """Refuse before writing when the file system cannot hold the tree (data or inodes)."""
    try:
        st = os.statvfs(dest)
    except OSError:
        return
    free = (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize
    inodes = summary.files + summary.dirs + summary.symlinks
    short = []
    if summary.total_bytes > free:
        short.append(f"{summary.total_bytes >> 20} MiB of data but {free >> 20} MiB are free")
    if st.f_files and inodes > (st.f_ffree if os.geteuid() == 0 else st.f_favail):
        short.append(f"{inodes} files and directories but {st.f_favail} inodes are free")
    if short:
        raise DistributionError("no-space", f"the distribution holds {' and '.join(short)} on the file system of "
                                            f"{dest}.", "Free space there (or choose another install directory) "
                                                        "and re-run.")


# -- distributions -------------------------------------------------------------------------


class Distribution:
    """An NSO distribution to validate and extract.  Use :func:`open_distribution`."""

    kind = "?"
    strip_top = True

    notes: list[str] = []  # things the user should know about this distribution (never secrets)

    def __init__(self, source: Path):
        self.source = source
        self.version: str = ""
        self._summary: DistSummary | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} NSO {self.version or '?'} {self.source}>"

    @property
    def where(self) -> str:
        return str(self.source)

    def _members(self) -> Iterator[Member]:
        raise NotImplementedError

    def _pass(self, expected: str | None, sink=None) -> _Checker:
        checker = _Checker(self.where, self.strip_top, lenient_dirs=not self.strip_top)
        members = self._members()
        try:
            for m in members:
                rel = checker.check(m)
                if rel == "VERSION" and m.kind == "file":
                    data = self._small(m)
                    checker.see_version(m, data, expected)
                    m.open = lambda data=data: io.BytesIO(data)
                if sink is not None:
                    sink(rel, m, checker)
                elif expected is None and checker.version is not None:
                    break  # only the version was wanted
        finally:
            members.close()
        return checker

    def _small(self, m: Member) -> bytes:
        if m.size > VERSION_MAX:
            raise DistributionError("bad-version", f"{self.where}: the VERSION file is {m.size} bytes, too big "
                                                   "for an NSO version.", _GET_AGAIN)
        src = m.open() if m.open else io.BytesIO()
        data = b""
        while chunk := src.read(VERSION_MAX):
            data += chunk
        return data

    def _detect_version(self) -> None:
        checker = self._pass(None)
        if checker.version is None:
            raise _missing_version(self.where)
        self.version = checker.version
        for name in (self.source.name, checker.top or ""):
            found = _NAME_RE.match(name)
            if found and VERSION_RE.fullmatch(found["v"]) and found["v"] != self.version:
                raise DistributionError("version-mismatch",
                                        f"{self.where}: the name {name} says NSO {found['v']}, but the VERSION "
                                        f"file inside says {self.version}.",
                                        "Check that this is the file you meant; renamed or mixed-up "
                                        "distributions are refused.")

    def validate(self) -> DistSummary:
        """A full pass over every member; raises DistributionError on anything unsafe; writes nothing."""
        self._summary = self._pass(self.version).finish(self.version)
        return self._summary

    def extract(self, dest: Path, *, uid: int | None, gid: int | None,
                progress: Progress | None = None) -> DistSummary:
        """Write the tree into the existing empty directory ``dest`` (checking every member again).

        Files get mode ``(mode & 0o755) | 0o600`` (a private file stays private), directories 0755, and the archive's mtimes;
        owners are ``uid``/``gid`` when given and running as root, else the caller's.  On any
        failure ``dest`` is emptied again and the error raised."""
        dest = Path(dest)
        total = self._summary.total_bytes if self._summary else (self.validate().total_bytes if progress else 0)
        w = _Writer(dest, uid, gid, progress, total)
        if self._summary:
            try:
                _check_space(dest, self._summary)
            except BaseException:
                w.close()
                raise

        def sink(rel: str | None, m: Member, checker: _Checker) -> None:
            if rel is None:
                return
            w.begin_member()
            parts = rel.split("/")
            if m.kind == "dir":
                w.directory(parts, m.mtime_ns)
            elif m.kind == "file":
                w.file(parts, m)
            elif m.kind == "symlink":
                w.symlink(parts, m)
            elif m.kind == "hardlink":
                target = [p for p in m.linkname.split("/") if p not in ("", ".")]
                w.hardlink(parts, target[1:] if self.strip_top else target)

        try:
            checker = self._pass(self.version, sink)
            summary = checker.finish(self.version)
            w.finish(checker.top_mtime_ns if self.strip_top else self._root_mtime_ns())
        except BaseException as e:
            w.close()
            w.wipe()
            if isinstance(e, (OSError, OverflowError, ValueError)):
                raise DistributionError("extract-failed", f"extracting {self.where} into {dest} failed: {e}.",
                                        "Check free space and permissions of the destination, then re-run.") from e
            raise
        w.close()
        return summary

    def _root_mtime_ns(self) -> int | None:
        return None


class DirectoryDistribution(Distribution):
    kind = "directory"
    strip_top = False

    def _root_mtime_ns(self) -> int | None:
        return os.lstat(self.source).st_mtime_ns

    def _members(self) -> Iterator[Member]:
        # Everything is opened relative to directory descriptors, never by path: a directory
        # swapped for a symlink after it was listed is refused, not followed (nso-install runs
        # as root and would otherwise copy whatever root can read into the install tree).
        try:
            root_fd = os.open(self.source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.source}: {e}.",
                                    "Check the directory's permissions.") from None
        try:
            yield from self._walk(root_fd, "")
        finally:
            os.close(root_fd)

    def _changed(self, name: str) -> DistributionError:
        return DistributionError("hostile-member", f"{self.where}: {name} changed (into a symbolic link or a "
                                                   "non-directory) while being read.",
                                 "Do not modify the directory while nso-install reads it.")

    def _walk(self, dfd: int, rel: str) -> Iterator[Member]:
        """Members under the directory open as ``dfd`` (``rel`` inside the tree), depth first, in
        name order; a directory's own entries before its subdirectories'."""
        try:
            with os.scandir(dfd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.source / rel}: {e}.",
                                    "Check the directory's permissions.") from None
        subdirs = []
        for e in entries:
            name = f"{rel}/{e.name}" if rel else e.name
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                raise self._changed(name) from None
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                yield Member(name, "dir", stat.S_IMODE(mode), 0, st.st_mtime_ns)
                subdirs.append((e.name, name))
            elif stat.S_ISREG(mode):
                yield Member(name, "file", stat.S_IMODE(mode), st.st_size, st.st_mtime_ns,
                             open=lambda b=e.name, n=name, s=st.st_size: self._open_file(dfd, b, n, s))
            elif stat.S_ISLNK(mode):
                try:
                    target = os.readlink(e.name, dir_fd=dfd)
                except OSError:
                    raise self._changed(name) from None
                yield Member(name, "symlink", 0o777, 0, st.st_mtime_ns, target)
            else:
                what = ("character device" if stat.S_ISCHR(mode) else "block device" if stat.S_ISBLK(mode)
                        else "FIFO (named pipe)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
                        else "special file")
                yield Member(name, "special", stat.S_IMODE(mode), what=what)
        for base, name in subdirs:
            try:
                sfd = os.open(base, _DIR_FLAGS, dir_fd=dfd)
            except OSError:
                raise self._changed(name) from None
            try:
                yield from self._walk(sfd, name)
            finally:
                os.close(sfd)

    def _open_file(self, dfd: int, base: str, name: str, size: int) -> _SafeReader:
        try:
            fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except OSError:
            raise self._changed(name) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._changed(name)
        return _SafeReader(os.fdopen(fd, "rb"), size, self.where, name)


class _StreamDistribution(Distribution):
    """A tar stream at ``offset`` (``length`` bytes, None: to the end) of ``source``, compressed as ``comp``."""

    def __init__(self, source: Path, offset: int, length: int | None, comp: str):
        super().__init__(source)
        self._offset, self._length, self._comp = offset, length, comp

    def _open_window(self):
        return open(self.source, "rb", buffering=0)

    def _members(self) -> Iterator[Member]:
        try:
            raw = self._open_window()
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.where}: {e}.",
                                    "Check the file's permissions.") from None
        with raw:
            length = os.fstat(raw.fileno()).st_size - self._offset if self._length is None else self._length
            window = io.BufferedReader(_Window(raw, self._offset, length), CHUNK)
            yield from _tar_members(_decompress(window, self._comp), self.where, self._comp != "tar")


class TarballDistribution(_StreamDistribution):
    kind = "tarball"


class InstallerBinDistribution(_StreamDistribution):
    kind = "installer.bin"


class SignedBinDistribution(_StreamDistribution):
    """The installer.bin inside a signed.bin, read in place; its signature checked first."""

    kind = "signed.bin"

    def __init__(self, source: Path, payload: int, skip_verification: bool, trusted_certs: Sequence[bytes] = ()):
        outer = f"{source} (signed archive)"
        self.notes: list[str] = []
        with open(source, "rb", buffering=0) as raw:
            size = os.fstat(raw.fileno()).st_size
            window = io.BufferedReader(_Window(raw, payload, size - payload), CHUNK)
            if _magic(window.peek(512)[:512]) != "tar":
                raise DistributionError("corrupt-archive", f"{outer}: the payload is not a tar archive.", _GET_AGAIN)
            found: dict[str, tarfile.TarInfo] = {}
            try:
                tf = tarfile.open(fileobj=window, mode="r:")
                for _ in range(10_000):
                    ti = tf.next()
                    if ti is None:
                        break
                    tf.members.clear()
                    if ti.isreg():
                        found.setdefault(ti.name.removeprefix("./"), ti)
            except _READ_ERRORS as e:
                raise _corrupt(outer, e) from None
            installers = [n for n in found if n.endswith(".installer.bin") and "/" not in n]
            if len(installers) != 1:
                raise DistributionError("signed-bin-contents",
                                        f"{outer}: expected exactly one *.installer.bin inside, found "
                                        f"{len(installers)}.", _GET_AGAIN)
            self.installer_name = installers[0]
            inst = found[self.installer_name]
            self.installer_offset = payload + inst.offset_data
            self.installer_size = inst.size
            if size < self.installer_offset + self.installer_size:
                raise DistributionError("corrupt-archive", f"{outer}: truncated inside {self.installer_name}.",
                                        _GET_AGAIN)
            self.verified = False
            if not skip_verification:
                sig, cer = found.get(self.installer_name + ".signature"), found.get("tailf.cer")
                if sig is None or cer is None:
                    missing = " and ".join(n for n, ti in ((self.installer_name + ".signature", sig),
                                                           ("tailf.cer", cer)) if ti is None)
                    raise DistributionError("signature-missing", f"{outer}: {missing} missing, so the installer's "
                                                                 "signature cannot be verified.",
                                            "Download the signed.bin again, or pass --skip-verification if "
                                            "you trust where this file came from.")
                signature = _read_member(raw, payload, sig, 64 * 1024)
                certificate = _read_member(raw, payload, cer, 64 * 1024)
                # Verify a private copy and read only that from now on: the signed.bin itself
                # could be changed (by whoever can write it) between verification and unpacking.
                self._copy = _private_copy(_Window(raw, self.installer_offset, self.installer_size), outer)
                raw = self._copy
                self.installer_offset = 0
                inner = _Window(raw, 0, self.installer_size)
                _verify(outer, self.installer_name, inner, signature, certificate)
                self.verified = True
                if trusted_certs:
                    _check_signer(outer, certificate, trusted_certs)
                else:
                    self.notes.append(
                        f"{source.name}: the signature was checked against the tailf.cer inside the archive, which "
                        "proves integrity, not origin; pass --trusted-cert with Cisco's certificate to pin the signer.")
            inner = io.BufferedReader(_Window(raw, self.installer_offset, self.installer_size), CHUNK)
            inner_where = f"{source}:{self.installer_name}"
            start = _find_marker(inner, inner_where)
            inner.seek(start)
            comp = _magic(inner.peek(512)[:512])
            if comp not in ("gz", "bz2", "xz", "tar"):
                raise DistributionError("corrupt-archive", f"{inner_where}: no archive after the payload marker.",
                                        _GET_AGAIN)
        super().__init__(source, self.installer_offset + start, self.installer_size - start, comp)

    _copy = None  # the verified installer.bin (an unlinked private temp file), when verified

    def _open_window(self):
        if self._copy is None:
            return super()._open_window()
        return os.fdopen(os.dup(self._copy.fileno()), "rb", buffering=0)


def _private_copy(src: _Window, where: str):
    """``src`` copied into an unlinked 0600 temp file (nobody else can reach or change it)."""
    copy = tempfile.TemporaryFile()
    try:
        src.seek(0)
        buf = bytearray(CHUNK)
        while n := src.readinto(buf):
            copy.write(buf[:n])
        copy.flush()
    except OSError as e:
        copy.close()
        raise DistributionError("no-space" if e.errno == errno.ENOSPC else "unreadable-distribution",
                                f"{where}: cannot copy the installer for verification: {e.strerror or e}.",
                                "Free space in the temporary directory (TMPDIR) and re-run.") from None
    return copy


def _read_member(raw: BinaryIO, payload: int, ti: tarfile.TarInfo, limit: int) -> bytes:
    if ti.size > limit:
        raise DistributionError("signature-invalid", f"{ti.name} is implausibly large ({ti.size} bytes).", _GET_AGAIN)
    raw.seek(payload + ti.offset_data)
    data = raw.read(ti.size)
    if len(data) != ti.size:
        raise DistributionError("corrupt-archive", f"{ti.name} is truncated.", _GET_AGAIN)
    return data


def _load_cert(data: bytes):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return x509.load_der_x509_certificate(data)


def _check_signer(where: str, certificate: bytes, trusted_certs: Sequence[bytes]) -> None:
    """The archive's tailf.cer must be one of the trusted certificates (same public key) or be
    issued directly by one of them: anyone can re-sign an installer with a tailf.cer of
    their own, so only a pinned certificate proves where it came from."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def spki(cert) -> bytes:
        return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    try:
        cert = _load_cert(certificate)
        trusted = [_load_cert(t) for t in trusted_certs]
    except ValueError as e:
        raise DistributionError("signature-invalid", f"{where}: a certificate cannot be read ({e}).",
                                "Give --trusted-cert a PEM or DER X.509 certificate.") from None
    for ca in trusted:
        if spki(ca) == spki(cert):
            return
        try:
            cert.verify_directly_issued_by(ca)
            return
        except Exception:  # wrong issuer, bad signature, unsupported key: not this one
            continue
    raise DistributionError("untrusted-signer",
                            f"{where}: the installer is signed by {cert.subject.rfc4514_string()}, which is neither a "
                            "trusted certificate nor issued by one.",
                            "Check that the file comes from Cisco; give the right certificate with --trusted-cert.")


def _verify(where: str, name: str, data: _Window, signature: bytes, certificate: bytes) -> None:
    """Check ``signature`` over ``data`` with the public key of ``certificate`` (streamed for
    RSA and ECDSA, whose hash is tried among SHA-256/384/512)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    bad = DistributionError("signature-invalid",
                            f"{where}: the signature of {name} does not verify with the public key in tailf.cer; "
                            "the installer was modified or damaged.",
                            "Download the signed.bin again from Cisco.  Only if you trust where this file came "
                            "from, pass --skip-verification.")
    try:
        try:
            cert = x509.load_pem_x509_certificate(certificate)
        except ValueError:
            cert = x509.load_der_x509_certificate(certificate)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise DistributionError("signature-invalid", f"{where}: tailf.cer is not a usable X.509 certificate ({e}).",
                                _GET_AGAIN) from None
    algos = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    digests = {n: hashlib.new(n) for n in algos}
    whole = bytearray() if isinstance(key, ed25519.Ed25519PublicKey) else None
    data.seek(0)
    buf = bytearray(CHUNK)
    while n := data.readinto(buf):
        for h in digests.values():
            h.update(buf[:n])
        if whole is not None:
            if len(whole) + n > 1 << 30:
                raise DistributionError("signature-invalid", f"{where}: {name} is too big for an Ed25519 check.",
                                        "Pass --skip-verification and verify it by hand.")
            whole += buf[:n]
    for hname, algo in algos.items():
        digest = digests[hname].digest()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(utils.Prehashed(algo)))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(algo))
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, bytes(whole))
            else:
                raise DistributionError("signature-invalid", f"{where}: tailf.cer holds an unsupported key type.",
                                        "Pass --skip-verification and verify the installer by hand.")
            return
        except InvalidSignature:
            continue
    raise bad


def open_distribution(path: str | os.PathLike, *, skip_verification: bool = False,
                      trusted_certs: Sequence[bytes] = ()) -> Distribution:
    """Open a distribution: a directory, a tarball (gz/bz2/xz/plain, by content), a
    self-extracting ``installer.bin`` or a ``signed.bin`` (signature verified unless
    ``skip_verification``).  Its ``version`` is read from the VERSION file."""
    source = Path(path)
    try:
        st = os.stat(source)
    except OSError as e:
        raise DistributionError("distribution-not-found", f"cannot open the distribution {source}: "
                                                          f"{e.strerror or e}.",
                                "Give the path of the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz, or "
                                "of an unpacked nso-VSN directory.") from None
    unknown = DistributionError(
        "unknown-distribution-format",
        f"{source} is neither a directory nor a tar archive nor an NSO installer.bin/signed.bin.",
        "Pass the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz downloaded from Cisco, or the "
        "directory it unpacks to.")
    if stat.S_ISDIR(st.st_mode):
        dist: Distribution = DirectoryDistribution(source)
    elif stat.S_ISREG(st.st_mode):
        try:
            with open(source, "rb") as f:
                head = f.read(512)
                comp = _magic(head)
                if comp is not None:
                    dist = TarballDistribution(source, 0, None, comp)
                elif head.startswith(b"#!"):
                    start = _find_marker(f, str(source))
                    f.seek(start)
                    payload = _magic(f.read(512))
                    if payload == "tar":
                        dist = SignedBinDistribution(source, start, skip_verification, trusted_certs)
                    elif payload is not None:
                        dist = InstallerBinDistribution(source, start, None, payload)
                    else:
                        raise DistributionError("corrupt-archive", f"{source}: no archive after the payload "
                                                                   "marker.", _GET_AGAIN)
                else:
                    raise unknown
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {source}: {e}.",
                                    "Check the file's permissions.") from None
    else:
        raise unknown
    if source.name.endswith(".signed.bin") and not skip_verification and not isinstance(dist, SignedBinDistribution):
        raise DistributionError("signature-missing",
                                f"{source} is named like a signed archive but holds a {dist.kind}, which carries no "
                                "signature; refusing to install it unverified.",
                                "Download the signed.bin again from Cisco, or pass --skip-verification if you "
                                "trust where this file came from.")
    dist._detect_version()
    return dist
