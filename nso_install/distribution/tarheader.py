"""tarfile's header parsing, with the common member read faster and exactly as tarfile reads it.

A distribution has tens of thousands of members, and ``tarfile.TarInfo.frombuf`` spends most of
its ~25 us a header on the checksum (two 504-item tuples built and summed, signed and unsigned)
and on a function call per field.  :class:`TarInfo` parses the headers every tar writes for plain
members -- a regular file, directory, symbolic or hard link, octal numbers, a checksum that
matches as unsigned bytes -- in one pass with the same arithmetic, and hands anything else (long
names, pax and GNU headers, sparse files, base-256 numbers, a checksum only a signed sum matches,
an all-zero or short block, a malformed field) to tarfile's own ``frombuf``, which decides and
raises as it always did.  tests/unit/distribution/test_tarheader.py holds the two equal on real
and mutated headers.
"""

from __future__ import annotations

import struct
import tarfile

_PLAIN_TYPES = frozenset((tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE))
_BASE256 = (0o200, 0o377)  # a number field's first byte when it is not octal text
_NUMBER_FIELDS = (100, 108, 116, 124, 136, 148, 329, 337)  # mode uid gid size mtime chksum devmajor devminor
# the header's fields in order: name mode uid gid size mtime chksum type linkname magic+version
# uname gname devmajor devminor prefix (the last 12 bytes are unused)
_LAYOUT = struct.Struct("100s8s8s8s12s12s8s1s100s8s32s32s8s8s155s")


def _octal(field: bytes) -> int:
    """tarfile.nti of an octal field (ValueError where tarfile raises InvalidHeaderError)."""
    return int(field.partition(b"\0")[0].decode("ascii").strip() or "0", 8)


class TarInfo(tarfile.TarInfo):
    """``tarfile.TarInfo`` with a fast path in :meth:`frombuf` (pass as ``tarinfo=`` to tarfile.open)."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        if len(buf) != tarfile.BLOCKSIZE or buf[156:157] not in _PLAIN_TYPES \
                or any(buf[i] in _BASE256 for i in _NUMBER_FIELDS):
            return super().frombuf(buf, encoding, errors)
        name, mode, uid, gid, size, mtime, chksum, kind, link, _, uname, gname, major, minor, prefix = \
            _LAYOUT.unpack_from(buf)
        try:
            mode, uid, gid, size, mtime, chksum, major, minor = \
                [_octal(f) for f in (mode, uid, gid, size, mtime, chksum, major, minor)]
        except ValueError:
            return super().frombuf(buf, encoding, errors)  # raises InvalidHeaderError, as for any header
        # the unsigned checksum: every byte but the checksum field's, which counts as 8 spaces
        if chksum != 256 + sum(buf) - sum(buf[148:156]):
            return super().frombuf(buf, encoding, errors)  # a signed sum may match; else it raises
        obj = cls()
        obj.name = name.partition(b"\0")[0].decode(encoding, errors)
        obj.mode, obj.uid, obj.gid, obj.size, obj.mtime, obj.chksum = mode, uid, gid, size, mtime, chksum
        obj.type = kind
        obj.linkname = link.partition(b"\0")[0].decode(encoding, errors)
        obj.uname = uname.partition(b"\0")[0].decode(encoding, errors)
        obj.gname = gname.partition(b"\0")[0].decode(encoding, errors)
        obj.devmajor, obj.devminor = major, minor
        prefix = prefix.partition(b"\0")[0].decode(encoding, errors)
        if kind == tarfile.DIRTYPE:
            obj.name = obj.name.rstrip("/")
        if prefix:  # a ustar long name (none of the plain types is a GNU type)
            obj.name = prefix + "/" + obj.name
        return obj
