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


def test_the_unsigned_sum_is_the_sum_of_the_bytes():
    from nso_install.distribution.tarheader import _unsigned_sum

    rng = random.Random(7)
    blocks = [bytes(512), b"\xff" * 512, b"\x80" * 256 + b"\x7f" * 256] + [rng.randbytes(512) for _ in range(500)]
    for b in blocks:
        assert _unsigned_sum(b) == sum(b)


def test_numbers_not_written_as_tar_writes_them_are_read_by_the_general_path_as_tarfile_does():
    """Space-padded, space-terminated, short, signed and device numbers miss the common form:
    the slower reading (or tarfile's) must still give tarfile's answer."""
    ti = tarfile.TarInfo("nso-6.5.3/bin/ncs")
    ti.size, ti.mode, ti.mtime = 31000, 0o755, 1700000000
    base = bytearray(ti.tobuf(tarfile.USTAR_FORMAT, ENC, ERR)[:512])
    forms = {"mode": (100, [b"  755 \0\0", b"755\0\0\0\0\0", b"0000755 ", b"+0000755", b"0_000755", b"\0" * 8]),
             "size": (124, [b"     74430 \0", b"74430\0      ", b"00000074430 "]),
             "devmajor": (329, [b"0000001\0", b"       \0", b"0000000 "])}
    n = 0
    for start, values in forms.values():
        for v in values:
            b = bytearray(base)
            b[start:start + len(v)] = v
            for buf in (_with_checksum(bytes(b)), bytes(b)):
                assert _parsed(TarInfo, buf) == _parsed(tarfile.TarInfo, buf), buf
                n += 1
    assert n == 24


# --- the member stream: the plain members read without tarfile, the same as tarfile reads them -------

def _archives() -> dict[str, bytes]:
    out = {}
    for fmt_name, fmt in (("gnu", tarfile.GNU_FORMAT), ("ustar", tarfile.USTAR_FORMAT), ("pax", tarfile.PAX_FORMAT)):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w", format=fmt, encoding=ENC, errors=ERR) as tf:
            top = tarfile.TarInfo("nso-6.5.3")
            top.type, top.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(top)
            for i in range(40):
                deep = "long/" * (i % 25) if fmt != tarfile.USTAR_FORMAT else "long/" * (i % 12)
                ti = tarfile.TarInfo(f"nso-6.5.3/{deep}f{i}{'é' if i % 7 == 0 and fmt == tarfile.PAX_FORMAT else ''}")
                ti.size, ti.mode, ti.mtime = i * 37, 0o644 | (0o111 * (i % 2)), 1700000000 + i
                tf.addfile(ti, io.BytesIO(bytes([i]) * ti.size))
                if i % 9 == 0:
                    d = tarfile.TarInfo(f"nso-6.5.3/dir{i}/")
                    d.type, d.mode = tarfile.DIRTYPE, 0o750
                    tf.addfile(d)
                    s = tarfile.TarInfo(f"nso-6.5.3/dir{i}/link")
                    s.type, s.linkname = tarfile.SYMTYPE, f"../{deep}f{i}"
                    tf.addfile(s)
                    h = tarfile.TarInfo(f"nso-6.5.3/dir{i}/hard")
                    h.type, h.linkname = tarfile.LNKTYPE, f"nso-6.5.3/{deep}f{i}"
                    tf.addfile(h)
                if i == 20 and fmt == tarfile.PAX_FORMAT:  # a global header: tarfile applies it to all after it
                    g = tarfile.TarInfo("global")
                    g.type = tarfile.XGLTYPE
                    g.pax_headers = {"mtime": "1600000000", "comment": "x"}
                    tf.fileobj.write(g._create_pax_generic_header(g.pax_headers, tarfile.XGLTYPE, ENC))
        out[fmt_name] = data.getvalue()
    # a ustar directory whose whole name is in the prefix field (the name field only "/"): tarfile
    # strips the slash again after joining the two
    d = tarfile.TarInfo("nso-6.5.3/x")
    d.type = tarfile.DIRTYPE
    b = bytearray(d.tobuf(tarfile.USTAR_FORMAT, ENC, ERR))
    b[0:100] = b"/".ljust(100, b"\0")
    b[345:500] = b"nso-6.5.3/crafted".ljust(155, b"\0")
    out["prefix-only"] = out["ustar"][:512] + _with_checksum(bytes(b)) + out["ustar"][512:]
    return out


def _read_members(data: bytes, fast: bool, monkeypatch) -> tuple:
    from nso_install.distribution import tarstream
    from nso_install.errors import DistributionError

    with monkeypatch.context() as mp:
        if not fast:
            mp.setattr(tarstream, "_plain_member", lambda *a: None)
        seen = []
        try:
            for m in tarstream._tar_members(io.BytesIO(data), "dist.tar", compressed=False):
                content = b""
                if m.open is not None:
                    src = m.open()
                    while chunk := src.read(1 << 16):
                        content += chunk
                seen.append((m.name, m.kind, m.mode, m.size, m.mtime_ns, m.linkname, m.sparse, content))
        except DistributionError as e:
            return seen, (e.reference, str(e))
        return seen, None


def test_the_member_stream_reads_plain_members_as_tarfile_does(monkeypatch):
    """Every archive, and every cut, garbled or padded copy of it: the same members, data and
    error with the plain members read directly as when tarfile reads them all."""
    rng = random.Random(11)
    n = 0
    for name, data in _archives().items():
        variants = [data, data + b"trailing junk" * 40]
        variants += [data[:rng.randrange(len(data))] for _ in range(12)]
        for _ in range(12):
            b = bytearray(data)
            at = rng.randrange(0, len(b) - 1024) // 512 * 512 + rng.choice([0, 100, 124, 148, 156, 257, 345])
            b[at:at + 4] = rng.randbytes(4)
            variants.append(bytes(b))
        for v in variants:
            want = _read_members(v, False, monkeypatch)
            assert _read_members(v, True, monkeypatch) == want, name
            n += 1
        full = _read_members(data, True, monkeypatch)
        assert full[1] is None and len(full[0]) > 40, name
        if name == "prefix-only":
            assert full[0][1][:2] == ("nso-6.5.3/crafted", "dir")
        if name == "pax":  # the global header reached the members after it
            assert {m[4] for m in full[0][-10:]} == {1600000000 * 10**9}
    assert n == 4 * 26


def test_plain_members_are_not_read_by_tarfile(monkeypatch):
    # not only equal because everything fell back: tarfile reads the first member (tarfile.open
    # does) and finds the end, nothing in between
    from nso_install.distribution import tarstream

    calls = []
    real = TarInfo.fromtarfile.__func__
    monkeypatch.setattr(TarInfo, "fromtarfile", classmethod(lambda cls, tf: calls.append(1) or real(cls, tf)))
    members = list(tarstream._tar_members(io.BytesIO(_archives()["ustar"]), "dist.tar", compressed=False))
    assert len(members) > 40 and len(calls) == 2  # (ustar: long names in the prefix field, no extra headers)


@pytest.mark.parametrize("how", ["octal", "pax nan", "pax inf", "pax huge"])
def test_an_impossible_modification_time_is_refused_on_either_path(how, monkeypatch):
    """A plain header with a 12-digit octal time (the fast path) and pax times tarfile reads as
    floats (its own path) are refused the same way: no member dated beyond year 2242, or NaN."""
    from nso_install.distribution import tarstream
    from nso_install.errors import DistributionError

    data = io.BytesIO()
    fmt = tarfile.USTAR_FORMAT if how == "octal" else tarfile.PAX_FORMAT
    with tarfile.open(fileobj=data, mode="w", format=fmt) as tf:
        ti = tarfile.TarInfo("nso-6.5.3/VERSION")
        ti.size, ti.mtime = 6, 1700000000
        if how != "octal":
            ti.pax_headers = {"mtime": {"pax nan": "nan", "pax inf": "inf", "pax huge": "1e12"}[how]}
        tf.addfile(ti, io.BytesIO(b"6.5.3\n"))
    raw = bytearray(data.getvalue())
    if how == "octal":
        raw[136:148] = b"777777777777"  # 12 octal digits: about year 6400
        raw[:512] = _with_checksum(bytes(raw[:512]))
    with pytest.raises(DistributionError) as e:
        list(tarstream._tar_members(io.BytesIO(bytes(raw)), "dist.tar", compressed=False))
    assert e.value.reference == "corrupt-archive" and "impossible modification time" in str(e.value)
