"""The fast header parser (distribution/tarheader.py) reads every header exactly as tarfile's
own ``TarInfo.frombuf`` does: the same attributes, or the same exception with the same message,
on headers of real archives in every format and on thousands of damaged ones."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from nso_install.distribution.tarheader import TarInfo

ENC, ERR = "utf-8", "surrogateescape"  # what tarfile.open uses by default on this platform
SLOTS = [s for s in tarfile.TarInfo.__slots__ if s != "_sparse_structs"] + ["_sparse_structs"]


def _headers() -> list[bytes]:
    """512-byte headers of every plain type, in the ustar, GNU and pax formats, with and
    without a ustar prefix, and a few that tarfile's own path must handle."""
    out = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for kind, extra in ((tarfile.REGTYPE, {"size": 31000}), (tarfile.DIRTYPE, {}),
                            (tarfile.SYMTYPE, {"linkname": "../lib/ncs"}), (tarfile.LNKTYPE, {"linkname": "bin/a"}),
                            (tarfile.FIFOTYPE, {}), (tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3})):
            for name in ("nso-6.5.3/bin/ncs", "nso-6.5.3/" + "d" * 120 + "/f", "x/", "é/ü"):
                ti = tarfile.TarInfo(name)
                ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = kind, 0o4755, 1700000000, 1000, 0
                ti.uname, ti.gname = "build", "root"
                for k, v in extra.items():
                    setattr(ti, k, v)
                try:
                    data = ti.tobuf(fmt, ENC, ERR)
                except ValueError:
                    continue  # (a name ustar cannot hold)
                out += [data[i:i + 512] for i in range(0, len(data), 512)]
    out += [bytes(512), b"", b"\0" * 100]
    return out


def _parsed(cls, buf):
    try:
        obj = cls.frombuf(buf, ENC, ERR)
    except Exception as e:  # noqa: BLE001 - the exception itself is what is compared
        return ("raised", type(e), str(e))
    return ("parsed", {s: getattr(obj, s, "(unset)") for s in SLOTS})


def _with_checksum(buf: bytes, signed: bool = False) -> bytes:
    b = bytearray(buf)
    b[148:156] = b" " * 8
    total = sum((x - 256 if x > 127 else x) if signed else x for x in b)
    b[148:156] = b"%06o\0 " % (total & 0o777777)
    return bytes(b)


@pytest.mark.parametrize("buf", _headers(), ids=lambda b: repr(b[:24]))
def test_every_real_header_is_read_as_tarfile_reads_it(buf):
    assert _parsed(TarInfo, buf) == _parsed(tarfile.TarInfo, buf)


def test_the_fast_path_is_taken_for_plain_members():
    # not only equal because everything fell back: a plain header must not call tarfile's parser
    ti = tarfile.TarInfo("nso-6.5.3/bin/ncs")
    ti.size = 10
    buf = ti.tobuf(tarfile.GNU_FORMAT)

    class Refusing(TarInfo):
        __slots__ = ()

    original = tarfile.TarInfo.__dict__["frombuf"]
    try:
        tarfile.TarInfo.frombuf = classmethod(lambda cls, *a: pytest.fail("fell back to tarfile"))
        assert Refusing.frombuf(buf, ENC, ERR).name == "nso-6.5.3/bin/ncs"
    finally:
        tarfile.TarInfo.frombuf = original


def test_damaged_headers_are_read_or_refused_as_tarfile_does():
    rng = random.Random(20261129)
    base = [h for h in _headers() if len(h) == 512 and any(h)]
    fields = [(100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (148, 8), (156, 1), (329, 8), (337, 8), (345, 155),
              (0, 100), (157, 100)]
    tried = fell = 0
    for _ in range(6000):
        b = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            start, width = rng.choice(fields)
            i = start + rng.randrange(width)
            b[i] = rng.choice([0, 0x20, 0x30 + rng.randrange(10), 0x38, ord("-"), ord("_"), ord("+"), 0x80, 0xFF,
                               0xC3, rng.randrange(256), ord("0"), ord("5"), ord("2"), ord("1"), ord("L"), ord("x")])
        buf = bytes(b)
        variants = [buf, _with_checksum(buf), _with_checksum(buf, signed=True)]
        for v in variants:
            tried += 1
            want = _parsed(tarfile.TarInfo, v)
            fell += want[0] == "raised"
            assert _parsed(TarInfo, v) == want, v
    assert tried == 18000 and 1000 < fell < 17000  # both outcomes were exercised


def test_a_whole_archive_reads_the_same_members():
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i in range(50):
            ti = tarfile.TarInfo(f"nso-6.5.3/{'long/' * (i % 30)}f{i}")
            ti.size = i
            tf.addfile(ti, io.BytesIO(b"x" * i))
    seen = []
    for cls in (tarfile.TarInfo, TarInfo):
        data.seek(0)
        with tarfile.open(fileobj=data, mode="r:", tarinfo=cls) as tf:
            seen.append([(m.name, m.size, m.offset_data, m.mode, m.type) for m in tf])
    assert seen[0] == seen[1] and len(seen[0]) == 50
