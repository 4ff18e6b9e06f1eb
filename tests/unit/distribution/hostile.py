"""Builders of hostile (and benign) archives and signed.bin variants for the distribution tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from nso_install.sample import PAYLOAD_MARKER

TOP = "nso-6.5.3"
VERSION = "6.5.3"


def file(name: str, data: bytes = b"x\n", mode: int = 0o644, **pax) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, 1704067200
    if pax:
        ti.pax_headers = dict(pax)
    return ti, data


def directory(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 1704067200
    return ti, None


def symlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    return ti, None


def hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, target, 0o644
    return ti, None


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = kind, 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti, None


def base(top: str = TOP, version: str = VERSION) -> list:
    """A minimal valid distribution: the top directory and VERSION."""
    return [directory(top), file(f"{top}/VERSION", f"{version}\n".encode()), directory(f"{top}/bin"),
            file(f"{top}/bin/ncs", b"#!/bin/sh\n", 0o755)]


def write_tar(path: Path, members: list, gz: bool = True) -> Path:
    """A tar of ``members``: (TarInfo, data) pairs, or (bytes, RAW): header and data blocks written as
    they are (for members tarfile cannot write, see :func:`gnu_sparse`)."""
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            if data is RAW:
                assert len(ti) % tarfile.BLOCKSIZE == 0
                tf.fileobj.write(ti)
                tf.offset += len(ti)
            else:
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return path


RAW = object()  # marks a raw member for write_tar
SPARSE_SIZE = 16 << 30  # what the sparse members below declare: 16 GiB, in a few blocks of archive


def _blocks(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def gnu_sparse(name: str, declared: int = SPARSE_SIZE, data: bytes = b"x") -> tuple[bytes, object]:
    """An old-GNU sparse member (type 'S'): a map with one chunk of ``data`` at the end of a file
    of ``declared`` bytes, the rest holes (which tarfile reads as zeros).  tarfile cannot write
    these, so the header is built by hand."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mode, ti.mtime = tarfile.GNUTYPE_SPARSE, len(data), 0o644, 1704067200
    header = bytearray(ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")[-tarfile.BLOCKSIZE:])
    header[386:398] = tarfile.itn(declared - len(data), 12, tarfile.GNU_FORMAT)  # sparse[0].offset
    header[398:410] = tarfile.itn(len(data), 12, tarfile.GNU_FORMAT)  # sparse[0].numbytes
    header[482] = 0  # no extension headers
    header[483:495] = tarfile.itn(declared, 12, tarfile.GNU_FORMAT)  # realsize
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % tarfile.calc_chksums(bytes(header))[0]
    return bytes(header) + _blocks(data), RAW


def pax_sparse(name: str, version: str, declared: int = SPARSE_SIZE, data: bytes = b"x") -> tuple:
    """A pax member carrying GNU sparse headers: format ``0.0``, ``0.1`` or ``1.0`` as GNU tar
    writes them, or ``size-only`` (GNU.sparse.realsize alone, which tarfile does not treat as
    sparse but which still redefines the member's size)."""
    hole = declared - len(data)
    if version == "0.0":
        return file(name, data, **{"GNU.sparse.size": str(declared), "GNU.sparse.numblocks": "1"})
    if version == "0.1":
        return file(name, data, **{"GNU.sparse.size": str(declared), "GNU.sparse.numblocks": "1",
                                   "GNU.sparse.map": f"{hole},{len(data)}"})
    if version == "1.0":
        head, _, base = name.rpartition("/")
        return file(f"{head}/GNUSparseFile.0/{base}", _blocks(f"1\n{hole}\n{len(data)}\n".encode()) + data,
                    **{"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                       "GNU.sparse.realsize": str(declared)})
    assert version == "size-only"
    return file(name, data, **{"GNU.sparse.realsize": str(declared)})


T = TOP
# Each case: members appended to base(); all must be refused as "hostile-member".
HOSTILE: dict[str, list] = {
    "absolute-path": [file("/tmp/nso-install-evil")],
    "absolute-inside-top": [file(f"/{T}/evil")],
    "dotdot": [file(f"{T}/../evil")],
    "dotdot-middle": [file(f"{T}/bin/../../evil")],
    "outside-top": [file("other/evil")],
    "symlink-absolute": [symlink(f"{T}/etc", "/etc")],
    "symlink-absolute-then-through": [symlink(f"{T}/link", "/tmp"), file(f"{T}/link/nso-install-evil")],
    "symlink-escape": [symlink(f"{T}/bin/up", "../../evil")],
    "symlink-escape-via-link": [directory(f"{T}/d"), symlink(f"{T}/d/sub", ".."), symlink(f"{T}/d/e", "sub/..")],
    "symlink-escape-via-later-link": [directory(f"{T}/d"), symlink(f"{T}/d/e", "sub/.."), symlink(f"{T}/d/sub", "..")],
    "symlink-loop": [symlink(f"{T}/a", "b"), symlink(f"{T}/b", "a")],
    "through-inner-symlink": [symlink(f"{T}/link", "bin"), file(f"{T}/link/evil")],
    "under-a-file": [file(f"{T}/VERSION/evil")],
    "hardlink-absolute": [hardlink(f"{T}/hl", "/etc/passwd")],
    "hardlink-dotdot": [hardlink(f"{T}/hl", f"{T}/../outside")],
    "hardlink-outside-top": [hardlink(f"{T}/hl", "other/file")],
    "hardlink-missing": [hardlink(f"{T}/hl", f"{T}/nothere")],
    "hardlink-to-symlink": [symlink(f"{T}/s", "bin/ncs"), hardlink(f"{T}/hl", f"{T}/s")],
    "hardlink-to-dir": [hardlink(f"{T}/hl", f"{T}/bin")],
    "char-device": [special(f"{T}/null", tarfile.CHRTYPE)],
    "block-device": [special(f"{T}/sda", tarfile.BLKTYPE)],
    "fifo": [special(f"{T}/fifo", tarfile.FIFOTYPE)],
    "setuid": [file(f"{T}/bin/suid", b"#!/bin/sh\n", 0o4755)],
    "setgid": [file(f"{T}/bin/sgid", b"#!/bin/sh\n", 0o2755)],
    "sticky-dir": [directory(f"{T}/tmp", 0o1777)],
    "duplicate": [file(f"{T}/doc"), file(f"{T}/doc")],
    "duplicate-after-normalising": [file(f"{T}/doc"), file(f"{T}/./doc")],
    "file-over-implied-dir": [file(f"{T}/x/y"), file(f"{T}/x")],
    "nul-in-name": [file(f"{T}/plain", path=f"{T}/a\x00b")],
    "empty-name": [file(f"{T}/plain", path="")],
    "dot-name": [file(".")],
    "top-is-symlink": None,  # special-cased below
}


def hostile_members(case: str) -> list:
    if case == "top-is-symlink":
        return [symlink(T, "/etc"), file(f"{T}/VERSION", b"6.5.3\n")]
    return base() + HOSTILE[case]


def split_script(data: bytes) -> tuple[bytes, bytes]:
    i = data.index(PAYLOAD_MARKER + b"\n") + len(PAYLOAD_MARKER) + 1
    return data[:i], data[i:]


def rewrite_signed_bin(src: Path, dst: Path, *, signature: bytes | None = None, tamper_installer: bool = False,
                       drop: tuple[str, ...] = ()) -> Path:
    """A copy of a sample signed.bin with its inner tar changed (small samples only: in memory)."""
    header, payload = split_script(src.read_bytes())
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(payload)) as tin, tarfile.open(fileobj=out, mode="w",
                                                                       format=tarfile.PAX_FORMAT) as tout:
        for ti in tin.getmembers():
            if ti.name in drop:
                continue
            data = tin.extractfile(ti).read()
            if ti.name.endswith(".signature") and signature is not None:
                data = signature
            if ti.name.endswith(".installer.bin") and tamper_installer:
                data = data.replace(b"NOT NSO", b"not NSO", 1)
            ti.size = len(data)
            tout.addfile(ti, io.BytesIO(data))
    dst.write_bytes(header + out.getvalue())
    return dst
