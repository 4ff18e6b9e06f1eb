"""Hostile distributions: members escaping the tree, special files, privileges, a directory
changed while it is read, and archives built to crash the reader or exhaust its resources.
Nothing may be written anywhere, and every refusal is a clear DistributionError."""

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import tracemalloc

import pytest

import hostile
from nso_install import distribution as distmod
from nso_install.distribution import TarballDistribution, open_distribution
from nso_install.distribution import checks as distchecks
from nso_install.distribution import tarstream as disttarstream
from nso_install.distribution import writer as distwriter
from nso_install.errors import DistributionError
from nso_install.sample import make_sample_distribution

T = hostile.TOP


def tree_state(path):
    """Names and types of everything under path (to prove nothing was written)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out.add((os.path.relpath(p, path), stat.S_IFMT(os.lstat(p).st_mode)))
    return out


# -- hostile members -----------------------------------------------------------------------

HOSTILE_CASES = sorted(hostile.HOSTILE)


@pytest.mark.parametrize("gz", [True, False], ids=["tgz", "tar"])
@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_member_refused(tmp_path, case, gz):
    work = tmp_path / "work"
    work.mkdir()
    archive = hostile.write_tar(work / ("h.tar.gz" if gz else "h.tar"), hostile.hostile_members(case), gz=gz)
    dest = work / "dest"
    dest.mkdir()
    before = tree_state(tmp_path)
    with pytest.raises(DistributionError) as e:
        d = open_distribution(archive)
        d.validate()
    assert e.value.reference == "hostile-member", e.value
    assert "refusing" in e.value.message and e.value.hint
    # extract() alone (no validate) refuses too and leaves nothing, in dest or anywhere
    d = _opened_anyway(archive)
    if d is not None:
        with pytest.raises(DistributionError) as e2:
            d.extract(dest, uid=None, gid=None)
        assert e2.value.reference == "hostile-member"
    assert os.listdir(dest) == []
    assert tree_state(tmp_path) == before
    assert not os.path.lexists("/tmp/nso-install-evil")


def _opened_anyway(archive):
    """The distribution object even when open_distribution would refuse early (bypassing
    the version read), so extract()'s own checks are exercised."""
    with open(archive, "rb") as f:
        comp = "gz" if f.read(2) == b"\x1f\x8b" else "tar"
    d = TarballDistribution(archive, 0, None, comp)
    d.version = "6.5.3"
    return d


def test_hostile_member_message_names_member_and_reason(tmp_path):
    archive = hostile.write_tar(tmp_path / "x.tar.gz", hostile.hostile_members("symlink-absolute"))
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert "nso-6.5.3/etc" in e.value.message and "/etc" in e.value.message and "absolute" in e.value.message


def test_archive_changed_between_validate_and_extract(tmp_path):
    archive = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    hostile.write_tar(archive, hostile.base())
    d = open_distribution(archive)
    d.validate()
    hostile.write_tar(archive, hostile.hostile_members("through-inner-symlink"))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError) as e:
        d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "hostile-member"
    assert os.listdir(dest) == []


def test_version_changed_between_validate_and_extract(tmp_path):
    archive = tmp_path / "a.tar"
    hostile.write_tar(archive, hostile.base(), gz=False)
    d = open_distribution(archive)
    d.validate()
    hostile.write_tar(archive, hostile.base(top="nso-6.5.4", version="6.5.4"), gz=False)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError) as e:
        d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "version-mismatch"
    assert os.listdir(dest) == []


# -- crashes on hostile headers -------------------------------------------------------------

@pytest.mark.parametrize("mtime", ["nan", "inf", "-inf", "1e300"])
def test_absurd_pax_mtime_is_a_distribution_error(tmp_path, mtime):
    members = hostile.base() + [hostile.file(f"{T}/doc", mtime=mtime)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    d = open_distribution(archive)
    with pytest.raises(DistributionError):
        d.validate()
        dest = tmp_path / "dest"
        dest.mkdir()
        d.extract(dest, uid=None, gid=None)


# -- resource exhaustion ---------------------------------------------------------------------

def _gz_with_big_pax_header(path, size):
    """base() plus a member whose pax header carries ``size`` bytes (compresses to almost nothing)."""
    return hostile.write_tar(path, hostile.base() + [hostile.file(f"{T}/doc", comment="x" * size)])


def test_huge_pax_header_refused_without_reading_it_into_memory(tmp_path):
    archive = _gz_with_big_pax_header(tmp_path / "nso-6.5.3.tar.gz", 48 << 20)
    assert archive.stat().st_size < 1 << 20
    d = open_distribution(archive)
    tracemalloc.start()
    try:
        with pytest.raises(DistributionError) as e:
            d.validate()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.reference == "hostile-member"
    assert peak < 24 << 20


def test_overlong_member_name_refused(tmp_path):
    name = f"{T}/" + "/".join(["d" * 200] * 30)  # 6 KB, longer than PATH_MAX
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", hostile.base() + [hostile.file(name)])
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "hostile-member"


def test_too_deep_member_refused(tmp_path):
    name = f"{T}/" + "/".join(["d"] * (distmod.MAX_DEPTH + 1))
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", hostile.base() + [hostile.file(name)])
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "hostile-member"


def test_too_many_members_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(distchecks, "MAX_MEMBERS", 20)
    members = hostile.base() + [hostile.file(f"{T}/f{i}") for i in range(30)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "distribution-too-big"


def test_declared_size_over_the_limit_refused_before_reading_data(tmp_path, monkeypatch):
    monkeypatch.setattr(distchecks, "MAX_TOTAL_BYTES", 1000)
    members = hostile.base() + [hostile.file(f"{T}/big", b"\0" * 5000)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "distribution-too-big"


def test_endless_data_after_the_end_of_archive_refused(tmp_path, monkeypatch):
    """The compressed stream is read to its end for the CRC; a bomb hidden after the tar's
    end-of-archive marker must not be decompressed without bound."""
    monkeypatch.setattr(disttarstream, "MAX_TRAILER_BYTES", 1 << 20)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in hostile.base():
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    archive = tmp_path / "nso-6.5.3.tar.gz"
    archive.write_bytes(gzip.compress(raw.getvalue() + b"\0" * (8 << 20)))
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "corrupt-archive"


def test_ordinary_trailer_padding_accepted(sample_dists):
    open_distribution(sample_dists["tar.gz"]).validate()


_PACK = {"gz": lambda data: gzip.compress(data, mtime=0), "bz2": bz2.compress, "xz": lzma.compress}
_FORMAT = {"gz": "gzip", "bz2": "bzip2", "xz": "xz"}


def _tar_of(members) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("child", [True, False])
@pytest.mark.parametrize("comp", sorted(_PACK))
def test_a_hole_after_the_compressed_stream_is_refused_at_once(sample_dists, tmp_path, monkeypatch, child, comp):
    """gzip skips zero bytes after a member: GzipFile read them one at a time in Python (a second a
    MiB), and LZMAFile fed them to a decompressor (a minute a GiB), so a tarball followed by a
    terabyte hole (a sparse file: a few KiB on disk) kept a root run busy for days, then took
    it.  Zero padding is now skipped by the chunk, up to the trailer limit, and more is refused,
    in every compressed format."""
    monkeypatch.setattr(disttarstream, "_INFLATE_IN_CHILD", child)
    archive = tmp_path / f"nso-6.5.3.linux.x86_64.tar.{comp}"
    archive.write_bytes(_PACK[comp](sample_dists["tar"].read_bytes()))
    os.truncate(archive, archive.stat().st_size + (1 << 40))
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "corrupt-archive"
    assert "more than 64 MiB of zero bytes after the compressed stream" in e.value.message


@pytest.mark.parametrize("child", [True, False])
@pytest.mark.parametrize("comp", sorted(_PACK))
def test_zero_padding_past_the_limit_is_refused_and_below_it_read_as_gzip_reads_it(tmp_path, monkeypatch, child,
                                                                                  comp):
    monkeypatch.setattr(disttarstream, "_INFLATE_IN_CHILD", child)
    monkeypatch.setattr(disttarstream, "MAX_TRAILER_BYTES", 1 << 20)
    tar, pack = _tar_of(hostile.base()), _PACK[comp]
    # two streams with zeros between and after them, as GNU gzip and GzipFile accept them (xz
    # takes zero padding between and after its streams too; pbzip2 writes many bzip2 streams)
    ok = pack(tar[:1000]) + bytes(5000) + pack(tar[1000:]) + bytes((1 << 20) - 5000)
    archive = tmp_path / f"nso-6.5.3.tar.{comp}"
    archive.write_bytes(ok)
    if comp == "gz":
        assert gzip.decompress(ok) == tar
    assert open_distribution(archive).validate().files > 0
    archive.write_bytes(pack(tar) + bytes((1 << 20) + 1))
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "corrupt-archive" and "1 MiB of zero bytes after the compressed stream" in \
        e.value.message


@pytest.mark.parametrize("child", [True, False])
@pytest.mark.parametrize("comp", sorted(_PACK))
@pytest.mark.parametrize("padding", [0, 100])
def test_data_after_the_compressed_stream_is_refused_in_every_format(tmp_path, monkeypatch, child, comp, padding):
    """Whatever follows the last compressed stream (but zero padding) was never checked by
    anything: GzipFile refused it, BZ2File and LZMAFile ignored it silently.  Every format now
    refuses it, saying what it is."""
    monkeypatch.setattr(disttarstream, "_INFLATE_IN_CHILD", child)
    archive = tmp_path / f"nso-6.5.3.tar.{comp}"
    for trailer in (b"not compressed", _PACK["xz" if comp != "xz" else "gz"](b"another format")):
        archive.write_bytes(_PACK[comp](_tar_of(hostile.base())) + bytes(padding) + trailer)
        with pytest.raises(DistributionError) as e:
            open_distribution(archive).validate()
        fmt = _FORMAT[comp]
        assert e.value.reference == "corrupt-archive"
        assert (f"data after the end of the {fmt} stream that is not another {fmt} stream (it starts "
                f"{trailer[:8]!r})") in e.value.message


# -- hostile directories --------------------------------------------------------------------

def _dir_dist(tmp_path):
    return make_sample_distribution(tmp_path / "src", "6.5.3", "dir")


@pytest.mark.parametrize("case", ["abs-link", "escaping-link", "escape-via-link", "fifo", "socket", "setuid",
                                  "setgid-file", "device"])
def test_directory_distribution_refuses(tmp_path, case):
    root = _dir_dist(tmp_path)
    if case == "abs-link":
        os.symlink("/etc/passwd", root / "etc/ncs/passwd")
    elif case == "escaping-link":
        os.symlink("../../../outside", root / "bin/out")
    elif case == "escape-via-link":
        os.symlink("..", root / "bin/up")
        os.symlink("up/..", root / "bin/upup")
    elif case == "fifo":
        os.mkfifo(root / "bin/fifo")
    elif case == "socket":
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(root / "sock"))
        s.close()
    elif case == "setuid":
        os.chmod(root / "bin/ncs", 0o4755)
    elif case == "setgid-file":
        os.chmod(root / "bin/ncs", 0o2755)
    elif case == "device":
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    d = open_distribution(root)
    assert d.kind == "directory"
    with pytest.raises(DistributionError) as e:
        d.validate()
    assert e.value.reference == "hostile-member"
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError):
        d.extract(dest, uid=None, gid=None)
    assert os.listdir(dest) == []


def test_directory_distribution_tolerates_setgid_directories(tmp_path):
    root = _dir_dist(tmp_path)
    os.chmod(root / "doc", 0o2755)
    open_distribution(root).validate()


def test_directory_swapped_for_a_symlink_while_read_is_not_followed(tmp_path):
    """Someone who can write the unpacked directory swaps a subdirectory for a symlink to a
    private directory after it was listed: nso-install (root) must not copy what it can read
    there into the world-readable install tree."""
    root = make_sample_distribution(tmp_path / "src", "6.5.3", "dir")
    secret_dir = tmp_path / "private"
    secret_dir.mkdir()
    (secret_dir / "shadow").write_text("root:$6$secret\n")
    d = open_distribution(root)
    seen = []
    with pytest.raises(DistributionError):
        for m in d._members():
            seen.append(m.name)
            if m.name == "doc" and m.kind == "dir":
                os.rename(root / "doc", tmp_path / "doc.real")
                os.symlink(secret_dir, root / "doc")
            if m.open is not None and m.kind == "file":
                m.open().read(1 << 20)
    assert "doc/shadow" not in seen


# -- sparse members ---------------------------------------------------------------------------
# tarfile reads a GNU sparse member's holes as zeros: a few blocks of archive declaring 16 GiB
# were validated (under MAX_TOTAL_BYTES) and then written out in full.  A genuine NSO
# distribution has no sparse members: every form is refused as hostile, before any write.

SPARSE_CASES = {
    "gnu-type-S": lambda: hostile.gnu_sparse(f"{T}/big"),
    "pax-0.0": lambda: hostile.pax_sparse(f"{T}/big", "0.0"),
    "pax-0.1": lambda: hostile.pax_sparse(f"{T}/big", "0.1"),
    "pax-1.0": lambda: hostile.pax_sparse(f"{T}/big", "1.0"),
    "pax-realsize-only": lambda: hostile.pax_sparse(f"{T}/big", "size-only"),
}


@pytest.mark.parametrize("gz", [True, False], ids=["tgz", "tar"])
@pytest.mark.parametrize("case", sorted(SPARSE_CASES))
def test_sparse_member_refused_before_anything_is_written(tmp_path, case, gz):
    work = tmp_path / "work"
    work.mkdir()
    archive = hostile.write_tar(work / ("nso-6.5.3.tar.gz" if gz else "nso-6.5.3.tar"),
                                hostile.base() + [SPARSE_CASES[case](), hostile.file(f"{T}/after")], gz=gz)
    assert archive.stat().st_size < 64 << 10
    dest = work / "dest"
    dest.mkdir()
    before = tree_state(tmp_path)
    with pytest.raises(DistributionError) as e:
        open_distribution(archive).validate()
    assert e.value.reference == "hostile-member", e.value
    assert "sparse" in e.value.message and "big" in e.value.message and e.value.hint
    # extract() on its own (no validate first) refuses in its per-member checks, writing nothing
    d = _opened_anyway(archive)
    with pytest.raises(DistributionError) as e2:
        d.extract(dest, uid=None, gid=None)
    assert e2.value.reference == "hostile-member"
    assert os.listdir(dest) == [] and tree_state(tmp_path) == before


def test_sparse_member_in_a_signed_bin_refused(tmp_path, sample_dists):
    """The signed.bin's outer tar is read by its own loop: a sparse member there is refused too."""
    header, payload = hostile.split_script(sample_dists["signed.bin"].read_bytes())
    end = len(payload.rstrip(b"\0"))
    end += -end % tarfile.BLOCKSIZE  # the end-of-archive blocks start here
    raw, _ = hostile.gnu_sparse("extra")
    bad = tmp_path / "nso-6.5.3.linux.x86_64.signed.bin"
    bad.write_bytes(header + payload[:end] + raw + b"\0" * (2 * tarfile.BLOCKSIZE))
    with pytest.raises(DistributionError) as e:
        open_distribution(bad)
    assert e.value.reference == "hostile-member" and "sparse" in e.value.message


# -- declared sizes against free space ---------------------------------------------------------

def _fake_free(monkeypatch, tmp_path, free_bytes: int, free_inodes: int | None = None):
    real = os.statvfs(tmp_path)

    class Fs:
        f_frsize, f_bfree, f_bavail = 1, free_bytes, free_bytes
        f_files = real.f_files
        f_ffree = f_favail = real.f_ffree if free_inodes is None else free_inodes

    monkeypatch.setattr(distwriter.os, "statvfs", lambda p: Fs)


def _count_writes(monkeypatch):
    written = []
    real_write = distwriter.os.write

    def write(fd, data):
        n = real_write(fd, data)
        written.append(n)
        return n
    monkeypatch.setattr(distwriter.os, "write", write)
    return written


@pytest.mark.parametrize("validated", [False, True], ids=["extract-alone", "after-validate"])
def test_extract_stops_before_the_declared_sizes_exceed_the_free_space(tmp_path, monkeypatch, validated):
    """The writer keeps the running total of declared sizes and refuses the member that would
    not fit, before writing it: also without validate()'s summary (extract on its own)."""
    members = hostile.base() + [hostile.file(f"{T}/a", b"a" * 60_000), hostile.file(f"{T}/b", b"b" * 60_000),
                                hostile.file(f"{T}/c", b"c" * 60_000)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    d = open_distribution(archive)
    if validated:
        d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    with monkeypatch.context() as m:
        _fake_free(m, tmp_path, 100_000)
        written = _count_writes(m)
        with pytest.raises(DistributionError) as e:
            d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "no-space"
    assert "100000 bytes" in e.value.message and str(dest) in e.value.message and e.value.hint
    if not validated:  # the writer's own check: after a, before b
        assert "the files up to b declare 120016 bytes" in e.value.message  # VERSION + bin/ncs + a + b
    assert sum(written) <= 100_000
    assert os.listdir(dest) == []


def test_extract_alone_refuses_a_declared_bomb_on_a_small_file_system(tmp_path, monkeypatch):
    """A member declaring 1 GiB of zeros (a few MB of gzip) on a file system with 10 MB free:
    refused up front, nothing of it written, validate() never called."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in hostile.base():
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        ti = tarfile.TarInfo(f"{T}/zeros")
        ti.size, ti.mode = 1 << 30, 0o644
        tf.addfile(ti, _Zeros(1 << 30))
    archive = tmp_path / "nso-6.5.3.tar.gz"
    archive.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    d = _opened_anyway(archive)
    dest = tmp_path / "dest"
    dest.mkdir()
    with monkeypatch.context() as m:
        _fake_free(m, tmp_path, 10_000_000)
        written = _count_writes(m)
        with pytest.raises(DistributionError) as e:
            d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "no-space" and "zeros" in e.value.message
    assert sum(written) < 100
    assert os.listdir(dest) == []


class _Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def test_extract_refuses_when_inodes_run_out(tmp_path, monkeypatch):
    members = hostile.base() + [hostile.file(f"{T}/f{i}") for i in range(20)]
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", members)
    d = _opened_anyway(archive)
    dest = tmp_path / "dest"
    dest.mkdir()
    with monkeypatch.context() as m:
        _fake_free(m, tmp_path, 1 << 30, free_inodes=10)
        with pytest.raises(DistributionError) as e:
            d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "no-space" and "10 inodes" in e.value.message
    assert os.listdir(dest) == []


# -- member data stops at the declared size ------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_safe_reader_never_reads_past_the_declared_size(chunk):
    """The stream under a member (a growing file, a tar stream) can hold more than the header
    says; the reader hands out exactly the declared bytes and then nothing.  (This and the next
    test fail when _SafeReader reads ``n`` bytes instead of ``min(n, left)``; the tar case
    after them is bounded by tarfile too and guards the archive's integrity check.)"""
    source = io.BytesIO(b"d" * 100 + b"EXTRA" * 1000)
    r = disttarstream._SafeReader(source, 100, "where", "name")
    got = b""
    while part := r.read(chunk):
        got += part
    assert got == b"d" * 100
    assert r.read(chunk) == b"" and source.tell() == 100


def test_file_growing_after_it_was_listed_is_copied_only_up_to_its_listed_size(tmp_path, monkeypatch):
    """A directory distribution's file grows between listing and copying (someone appends to it):
    extract writes the size it listed and checked against the free space, not what is there now."""
    root = make_sample_distribution(tmp_path / "src", "6.5.3", "dir")
    size = (root / "bin/ncs").stat().st_size
    d = open_distribution(root)
    members = d._members

    def growing():
        for m in members():
            if m.name == "bin/ncs":
                with open(root / "bin/ncs", "ab") as f:
                    f.write(b"GROWN" * 100_000)
            yield m
    monkeypatch.setattr(d, "_members", growing)
    dest = tmp_path / "dest"
    dest.mkdir()
    d.extract(dest, uid=None, gid=None)
    assert (dest / "bin/ncs").stat().st_size == size
    assert b"GROWN" not in (dest / "bin/ncs").read_bytes()


def test_tar_member_followed_by_more_data_than_its_header_says(tmp_path):
    """A member whose header says 10 bytes but whose data runs on for 2 KB: the member reads as
    10 bytes, and the garbage where the next header should be is a damaged archive."""
    ti, _ = hostile.file(f"{T}/doc", b"0123456789")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m, data in hostile.base():
            tf.addfile(m, io.BytesIO(data) if data is not None else None)
        tf.fileobj.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + b"0123456789" + b"X" * 2038)
        tf.offset += len(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")) + 2048
    archive = tmp_path / "nso-6.5.3.tar"
    archive.write_bytes(raw.getvalue())
    d = _opened_anyway(archive)
    seen = {}
    with pytest.raises(DistributionError) as e:
        for m in d._members():
            if m.open:
                seen[m.name] = m.open().read(1 << 20)
    assert e.value.reference == "corrupt-archive"
    assert seen[f"{T}/doc"] == b"0123456789"
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError):
        d.extract(dest, uid=None, gid=None)
    assert os.listdir(dest) == []
