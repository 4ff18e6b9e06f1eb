"""One pass over the archive: inflating in a background thread, member data read straight from
the stream, no separate pass for a progress total, and few system calls a file."""

import gzip
import hashlib
import io
import os
import random
import stat
import threading
import zlib

import pytest

import hostile
from nso_install.distribution import open_distribution
from nso_install.distribution import tarstream, writer
from nso_install.distribution.common import CHUNK, Member

T = hostile.TOP


def _data(n):
    return random.Random(n).randbytes(n // 2) + bytes(n - n // 2)  # half noise, half zeros


def _inflated(data: bytes, compressed: bytes | None = None):
    return tarstream._Inflated(tarstream._decompress(io.BytesIO(compressed or gzip.compress(data)), "gz"))


@pytest.mark.parametrize("sizes", [[512] * 7, [1, 7, CHUNK + 3, 0, 100], [3 * CHUNK], [-1]])
def test_inflated_stream_reads_exactly_what_gzip_does(sizes):
    data = _data(2 * CHUNK + 12345)
    s = _inflated(data)
    try:
        pos = 0
        for n in sizes:
            got = s.read(n)
            want = data[pos:] if n < 0 else data[pos:pos + n]
            assert got == want
            pos += len(want)
            assert s.tell() == pos
    finally:
        s.close()


def test_inflated_stream_seeks_forward_and_refuses_to_go_back_beyond_its_chunk():
    data = _data(3 * CHUNK)
    s = _inflated(data)
    try:
        assert s.read(10) == data[:10]
        assert s.seek(5) == 5 and s.read(5) == data[5:10]  # within the current chunk
        assert s.seek(2 * CHUNK + 7) == 2 * CHUNK + 7
        assert s.read(3) == data[2 * CHUNK + 7:2 * CHUNK + 10]
        with pytest.raises(OSError):
            s.seek(0)
        assert s.seek(10 * CHUNK) == 3 * CHUNK  # past the end: stops at the end
        assert s.read(1) == b""
    finally:
        s.close()


@pytest.mark.parametrize("damage, error", [("truncate", EOFError), ("corrupt", (zlib.error, gzip.BadGzipFile))])
def test_inflated_stream_raises_the_decompressor_error_in_the_reader(damage, error):
    data = _data(2 * CHUNK)
    packed = gzip.compress(data)
    packed = packed[:len(packed) // 2] if damage == "truncate" else packed[:-8] + b"\x00" * 8  # bad CRC
    s = _inflated(data, packed)
    try:
        with pytest.raises(error):
            while s.read(CHUNK):
                pass
    finally:
        s.close()


def test_closing_early_stops_the_inflating_thread():
    s = _inflated(bytes(64 * CHUNK))  # far more than the queue holds
    assert s.read(10) == bytes(10)
    thread = s._thread
    s.close()
    assert not thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "nso-install-inflate"]


def test_extract_with_progress_reads_the_archive_once(tmp_path):
    members = hostile.base() + [hostile.file(f"{T}/f{i}", _data(50_000 + i)) for i in range(20)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    d = open_distribution(archive)
    passes = []
    real = d._members

    def counted():
        passes.append(1)
        return real()
    d._members = counted
    seen = []
    dest = tmp_path / "dest"
    dest.mkdir()
    d.extract(dest, uid=None, gid=None, progress=lambda done, total: seen.append((done, total)))
    assert len(passes) == 1
    assert all(done <= total for done, total in seen)
    size = sum(len(_data(50_000 + i)) for i in range(20))
    assert seen[-1][0] == seen[-1][1] >= size
    for i in range(20):
        assert (dest / f"f{i}").read_bytes() == _data(50_000 + i)
    assert not [t for t in threading.enumerate() if t.name == "nso-install-inflate"]


def test_a_refused_member_stops_the_thread_and_leaves_nothing(tmp_path):
    members = hostile.base() + [hostile.file(f"{T}/f{i}", _data(100_000)) for i in range(30)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members + [hostile.symlink(f"{T}/zz", "/etc")])
    d = open_distribution(archive)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Exception) as e:
        d.extract(dest, uid=None, gid=None)
    assert getattr(e.value, "reference", None) == "hostile-member"
    assert os.listdir(dest) == []
    assert not [t for t in threading.enumerate() if t.name == "nso-install-inflate"]


@pytest.mark.parametrize("umask, mode, want, chmods", [(0o022, 0o755, 0o755, 0), (0o022, 0o644, 0o644, 0),
                                                       (0o077, 0o755, 0o755, 1), (0o022, 0o4777, 0o755, 0)])
def test_a_file_costs_no_fchown_or_fchmod_it_does_not_need(tmp_path, monkeypatch, umask, mode, want, chmods):
    calls = {"fchown": 0, "fchmod": 0}
    for name in calls:
        real = getattr(writer.os, name)

        def counted(*a, _real=real, _name=name):
            calls[_name] += 1
            return _real(*a)
        monkeypatch.setattr(writer.os, name, counted)
    dest = tmp_path / "dest"
    dest.mkdir()
    old = os.umask(umask)
    try:
        w = writer._Writer(dest, os.geteuid(), os.getegid(), None, 0)
        try:
            w.file(["f"], Member("f", "file", mode, 5, 10**18, open=lambda: io.BytesIO(b"12345")))
        finally:
            w.close()
    finally:
        os.umask(old)
    st = os.stat(dest / "f")
    assert stat.S_IMODE(st.st_mode) == want and st.st_mtime_ns == 10**18
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert calls == {"fchown": 0, "fchmod": chmods}


def test_a_file_for_another_owner_is_still_chowned(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to give files away")
    dest = tmp_path / "dest"
    dest.mkdir()
    w = writer._Writer(dest, 1234, 5678, None, 0)
    try:
        w.file(["f"], Member("f", "file", 0o755, 1, open=lambda: io.BytesIO(b"x")))
    finally:
        w.close()
    st = os.stat(dest / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o755)


def test_the_digests_hashed_on_the_way_in_are_those_of_the_files_written(tmp_path):
    # the manifest trusts them instead of reading the tree back: multi-chunk, empty and
    # hard-linked (copied) files included
    big = _data(2 * CHUNK + 77)
    members = hostile.base() + [hostile.file(f"{T}/big", big), hostile.file(f"{T}/empty", b""),
                                hostile.directory(f"{T}/d"), hostile.file(f"{T}/d/small", b"abc"),
                                hostile.hardlink(f"{T}/d/copy", f"{T}/d/small"), hostile.symlink(f"{T}/l", "big")]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    digests = {}
    open_distribution(archive).extract(dest, uid=None, gid=None, digests=digests)
    from nso_install import manifest

    given = dict(digests)
    taken = manifest.take(dest, "/opt/ncs/ncs-6.5.3", "6.5.3", digests=digests)
    assert digests == {}  # each one taken out as used: only the manifest holds them
    read_back = manifest.take(dest, "/opt/ncs/ncs-6.5.3", "6.5.3")
    assert taken.entries == read_back.entries
    files = {rel for rel, e in read_back.entries.items() if e.type == manifest.FILE}
    assert set(given) == files and {"big", "empty", "d/small", "d/copy"} <= files
    assert given["big"] == hashlib.sha256(big).hexdigest()
