"""tarfile's header parsing, with the common member read faster and exactly as tarfile reads it.

A distribution has tens of thousands of members, and ``tarfile.TarInfo.frombuf`` spends most of
its ~25 us a header on the checksum (two 504-item tuples built and summed, signed and unsigned)
and on a function call per field.  :func:`plain_fields` reads the headers every tar writes for
plain members -- a regular file, directory, symbolic or hard link, octal numbers, a checksum
that matches as unsigned bytes -- in about 4 us with the same arithmetic: numbers in the form
GNU tar and tarfile write them are matched by one expression (any other form by a field-by-field
reading with tarfile's rules), the byte sum comes from adler32.  Anything else (long names, pax
and GNU headers, sparse files, base-256 numbers, a checksum only a signed sum matches, an
all-zero or short block, a malformed field) is left to tarfile's own ``frombuf``, which decides
and raises as it always did.  :class:`TarInfo` is tarfile's with this fast path, and
``tarstream`` reads plain members with :func:`plain_fields` alone, without tarfile's
per-member machinery.  tests/unit/distribution/test_tarheader.py holds them equal to tarfile on
real and mutated headers and whole archives.
"""

from __future__ import annotations

import re
import struct
import tarfile
import zlib

_PLAIN_TYPES = frozenset((tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE))
_BASE256 = (0o200, 0o377)  # a number field's first byte when it is not octal text
# where the numbers are, and their widths: mode uid gid size mtime chksum devmajor devminor
_NUMBER_SPANS = ((100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (148, 8), (329, 8), (337, 8))
_NUMBER_FIELDS = tuple(i for i, _ in _NUMBER_SPANS)


def _octal(field: bytes) -> int:
    """tarfile.nti of an octal field (ValueError where tarfile raises InvalidHeaderError)."""
    return int(field.partition(b"\0")[0].decode("ascii").strip() or "0", 8)


# The numbers as GNU tar and Python's tarfile write them -- mode, uid, gid (7 octal digits and a
# NUL), size and mtime (11 and a NUL), the checksum (6, NUL, space) -- then the type flag; and the
# two device numbers as they write them for plain members (zeros, or nothing at all).
_COMMON_NUMBERS = re.compile(rb"([0-7]{7})\0([0-7]{7})\0([0-7]{7})\0([0-7]{11})\0([0-7]{11})\0([0-7]{6})\0 ([0250])")
_NO_DEVICE = (b"0000000\0" * 2, b"\0" * 16)
_STRINGS = struct.Struct("100s57x100s8x32s32s16x155s")  # name, linkname, uname, gname, prefix


def _unsigned_sum(buf: bytes) -> int:
    """sum(buf) of a 512-byte block, four times faster: adler32's low half is 1 + the sum of
    the bytes modulo 65521, and the sum of 256 bytes is at most 65280, so it is exact per half."""
    return (zlib.adler32(buf[:256]) & 0xFFFF) + (zlib.adler32(buf[256:]) & 0xFFFF) - 2


def plain_fields(buf: bytes, encoding: str, errors: str) -> tuple | None:
    """The fields of a plain member's header, read exactly as tarfile's ``frombuf`` would:
    (name, mode, uid, gid, size, mtime, chksum, type, linkname, uname, gname, devmajor,
    devminor), the name with its ustar prefix and a directory's trailing slashes gone.  None
    for any other header: tarfile's own parser decides those (and raises for the bad ones)."""
    if len(buf) != tarfile.BLOCKSIZE:
        return None
    common = _COMMON_NUMBERS.match(buf, 100)
    if common is not None and buf[329:345] in _NO_DEVICE:  # (what every tar writes: no field needs a second look)
        mode, uid, gid, size, mtime, chksum = [int(f, 8) for f in common.groups()[:6]]
        kind, major, minor = common[7], 0, 0
    else:
        if buf[156:157] not in _PLAIN_TYPES or any(buf[i] in _BASE256 for i in _NUMBER_FIELDS):
            return None
        try:
            mode, uid, gid, size, mtime, chksum, major, minor = \
                [_octal(buf[i:i + n]) for i, n in _NUMBER_SPANS]
        except ValueError:
            return None  # tarfile raises InvalidHeaderError, as for any header
        kind = buf[156:157]
    # the unsigned checksum: every byte but the checksum field's, which counts as 8 spaces
    if chksum != 256 + _unsigned_sum(buf) - sum(buf[148:156]):
        return None  # a signed sum may match; else tarfile raises
    name, link, uname, gname, prefix = _STRINGS.unpack_from(buf)
    name = name.partition(b"\0")[0].decode(encoding, errors)
    if kind == tarfile.DIRTYPE:
        name = name.rstrip("/")
    prefix = prefix.partition(b"\0")[0].decode(encoding, errors)
    if prefix:  # a ustar long name (none of the plain types is a GNU type)
        name = prefix + "/" + name
    return (name, mode, uid, gid, size, mtime, chksum, kind, link.partition(b"\0")[0].decode(encoding, errors),
            uname.partition(b"\0")[0].decode(encoding, errors), gname.partition(b"\0")[0].decode(encoding, errors),
            major, minor)


class TarInfo(tarfile.TarInfo):
    """``tarfile.TarInfo`` with a fast path in :meth:`frombuf` (pass as ``tarinfo=`` to tarfile.open)."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        fields = plain_fields(buf, encoding, errors)
        if fields is None:
            return super().frombuf(buf, encoding, errors)
        obj = cls()
        (obj.name, obj.mode, obj.uid, obj.gid, obj.size, obj.mtime, obj.chksum, obj.type, obj.linkname, obj.uname,
         obj.gname, obj.devmajor, obj.devminor) = fields
        return obj
