"""Byte-level access to archives: offset windows, magic bytes and tar streaming.

Tarballs, installer.bin and signed.bin all end up as a (possibly compressed) tar stream at
some offset of a file; this module turns that into :class:`Member` objects one at a time,
in constant memory, with tarfile's own appetite bounded (headers, trailing data).  It
knows nothing about what members are allowed: that is :mod:`.checks`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import tarfile
from typing import BinaryIO, Iterator

from ..errors import DistributionError
from .common import _GET_AGAIN, _NEVER, _READ_ERRORS, CHUNK, Member, _corrupt

# Bounds against hostile archives (see also .checks): header bombs and trailing data.
HEADER_BUDGET = 1 << 20  # bytes tarfile may read for one member's headers (pax, long names, sparse maps)
MAX_TRAILER_BYTES = 64 << 20  # decompressed bytes after the end-of-archive marker


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
                   _tar_what(ti), sparse=_tar_sparse(ti))
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


def _tar_sparse(ti: tarfile.TarInfo) -> bool:
    """A GNU sparse member: old GNU type 'S', or pax ``GNU.sparse.*`` headers (formats 0.0, 0.1,
    1.0, and any other such header tarfile does not act on, which may still redefine the size)."""
    return (ti.type == tarfile.GNUTYPE_SPARSE or ti.issparse()
            or any(str(k).startswith("GNU.sparse.") for k in (ti.pax_headers or {})))


def _tar_what(ti: tarfile.TarInfo) -> str:
    return {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
            tarfile.FIFOTYPE: "FIFO (named pipe)"}.get(ti.type, f"member of unsupported tar type {ti.type!r}")

