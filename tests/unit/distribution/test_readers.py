"""Reading NSO distributions: every format, the same tree, versions, damaged input, limits of
the destination."""

import os
import shutil
import stat
import tarfile

import pytest

import hostile
from nso_install.distribution import DistSummary, open_distribution
from nso_install.distribution import writer as distwriter
from nso_install.errors import DistributionError
from nso_install.sample import make_sample_distribution

from support import snapshot

FORMATS = ("dir", "tar.gz", "tar", "installer.bin", "signed.bin")
KINDS = {"dir": "directory", "tar.gz": "tarball", "tar": "tarball", "installer.bin": "installer.bin",
         "signed.bin": "signed.bin"}


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    d = tmp_path_factory.mktemp("dists")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt, padding_files=5, padding_bytes=300_000)
            for fmt in FORMATS}


def _dir_dist(tmp_path):
    return make_sample_distribution(tmp_path / "src", "6.5.3", "dir")


# -- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_open_detects_kind_and_version(dists, fmt):
    d = open_distribution(dists[fmt])
    assert d.kind == KINDS[fmt]
    assert d.version == "6.5.3"
    assert d.source == dists[fmt]


def test_kind_detected_by_content_not_suffix(dists, tmp_path):
    for fmt in ("tar.gz", "tar", "installer.bin", "signed.bin"):
        renamed = tmp_path / f"download-{fmt.replace('.', '-')}"
        shutil.copyfile(dists[fmt], renamed)
        assert open_distribution(renamed).kind == KINDS[fmt]


def test_all_formats_extract_the_same_tree(dists, tmp_path):
    trees = {}
    progress_calls = []
    for fmt in FORMATS:
        d = open_distribution(dists[fmt])
        summary = d.validate()
        dest = tmp_path / fmt
        dest.mkdir()
        assert d.extract(dest, uid=None, gid=None, progress=lambda a, b: progress_calls.append((a, b))) == summary
        trees[fmt] = snapshot(dest)
        assert progress_calls[-1] == (summary.total_bytes, summary.total_bytes)
    first = trees["dir"]
    for fmt, tree in trees.items():
        assert tree == first, fmt
    assert first["VERSION"][1] == 0o644
    assert first["bin/ncs"][1] == 0o755
    assert first["lib/ncs/lib/core/pam/priv/epam"][1] == 0o755
    assert first["bin/ncs-netsim"][6] == "../netsim/bin/ncs-netsim"
    assert first["etc/ncs/ssh"][0] == stat.S_IFDIR
    assert {v[5] for v in first.values()} == {1704067200 * 10**9}  # mtimes as in the archive, dirs too


def test_summary_counts(dists):
    s = open_distribution(dists["tar.gz"]).validate()
    assert isinstance(s, DistSummary)
    kinds = [v[0] for k, v in snapshot(dists["dir"]).items() if k != "."]
    files = [p for p in dists["dir"].rglob("*") if p.is_file() and not p.is_symlink()]
    assert s == DistSummary(files=kinds.count(stat.S_IFREG), dirs=kinds.count(stat.S_IFDIR),
                            symlinks=kinds.count(stat.S_IFLNK), total_bytes=sum(p.stat().st_size for p in files))
    assert s.symlinks == 3 and s.total_bytes > 5 * 300_000


def test_extracted_tree_matches_source_directory(dists, tmp_path):
    d = open_distribution(dists["installer.bin"])
    d.validate()
    (tmp_path / "x").mkdir()
    d.extract(tmp_path / "x", uid=None, gid=None)
    src, out = snapshot(dists["dir"]), snapshot(tmp_path / "x")
    assert {k: (v[0], v[1], v[4], v[6]) for k, v in src.items()} == {k: (v[0], v[1], v[4], v[6])
                                                                     for k, v in out.items()}


@pytest.mark.parametrize("version", ["6.4.1.2", "6.6", "6.7.1"])
def test_other_versions(tmp_path, version):
    for fmt in ("tar.gz", "signed.bin"):
        d = open_distribution(make_sample_distribution(tmp_path, version, fmt))
        assert d.version == version
        d.validate()


def test_modes_are_normalised(tmp_path):
    T = hostile.TOP
    tgz = hostile.write_tar(tmp_path / "m.tar.gz", hostile.base() + [
        hostile.file(f"{T}/bin/rwx", b"x", 0o777), hostile.file(f"{T}/private", b"x", 0o600),
        hostile.file(f"{T}/grp", b"x", 0o660), hostile.directory(f"{T}/open", 0o777),
        hostile.directory(f"{T}/closed", 0o700)])
    d = open_distribution(tgz)
    d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    d.extract(dest, uid=None, gid=None)
    modes = {k: v[1] for k, v in snapshot(dest).items()}
    assert modes["bin/rwx"] == 0o755 and modes["private"] == 0o600 and modes["grp"] == 0o640
    assert modes["open"] == 0o755 and modes["closed"] == 0o755


def test_benign_hard_link_and_implied_dirs(tmp_path):
    T = hostile.TOP
    members = [hostile.directory(T), hostile.file(f"{T}/VERSION", b"6.5.3\n"),
               hostile.file(f"{T}/deep/er/file", b"data"),  # parents not listed
               hostile.hardlink(f"{T}/deep/link", f"{T}/deep/er/file")]
    d = open_distribution(hostile.write_tar(tmp_path / "h.tar", members, gz=False))
    assert d.validate() == DistSummary(files=3, dirs=2, symlinks=0, total_bytes=10)
    dest = tmp_path / "dest"
    dest.mkdir()
    d.extract(dest, uid=None, gid=None)
    assert (dest / "deep/link").read_bytes() == b"data"
    assert stat.S_IMODE(os.stat(dest / "deep/er").st_mode) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_is_the_given_one_never_the_archives(tmp_path):
    T = hostile.TOP
    ti, data = hostile.file(f"{T}/owned", b"x")
    ti.uid, ti.gid = 4242, 4343
    d = open_distribution(hostile.write_tar(tmp_path / "o.tar", hostile.base() + [(ti, data)], gz=False))
    for uid, gid, want in ((None, None, (0, 0)), (1234, 2345, (1234, 2345))):
        dest = tmp_path / f"dest{uid}"
        dest.mkdir()
        d.extract(dest, uid=uid, gid=gid)
        assert {(v[2], v[3]) for k, v in snapshot(dest).items() if k != "."} == {want}


def test_dest_must_be_an_empty_directory(dists, tmp_path):
    d = open_distribution(dists["tar"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("")
    with pytest.raises(DistributionError) as e:
        d.extract(tmp_path / "full", uid=None, gid=None)
    assert e.value.reference == "extract-dest-not-empty" and "another process wrote there" in e.value.message
    with pytest.raises(DistributionError):
        d.extract(tmp_path / "missing", uid=None, gid=None)


def test_hard_links_become_copies(tmp_path):
    """Privileges set later on one path (setuid epam, capabilities on ip) must not leak to another."""
    T = hostile.TOP
    tgz = hostile.write_tar(tmp_path / "h.tar.gz", hostile.base() + [
        hostile.file(f"{T}/lib/ncs/bin/ip", b"ip", 0o755), hostile.hardlink(f"{T}/bin/ip-copy", f"{T}/lib/ncs/bin/ip")])
    d = open_distribution(tgz)
    d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    d.extract(dest, uid=None, gid=None)
    a, b = os.stat(dest / "lib/ncs/bin/ip"), os.stat(dest / "bin/ip-copy")
    assert a.st_ino != b.st_ino and (dest / "bin/ip-copy").read_bytes() == b"ip"


def test_directory_distribution_round_trip_unchanged(tmp_path):
    root = _dir_dist(tmp_path)
    d = open_distribution(root)
    s = d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    assert d.extract(dest, uid=None, gid=None) == s
    assert (dest / "VERSION").read_text().strip() == "6.5.3"


def test_extract_refuses_up_front_when_the_tree_cannot_fit(sample_dists, tmp_path, monkeypatch):
    d = open_distribution(sample_dists["tar.gz"])
    d.validate()
    real = os.statvfs(tmp_path)

    class Full:
        f_frsize, f_bfree, f_bavail = real.f_frsize, 1, 1
        f_files, f_ffree, f_favail = real.f_files, real.f_ffree, real.f_favail

    monkeypatch.setattr(distwriter.os, "statvfs", lambda p: Full)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError) as e:
        d.extract(dest, uid=None, gid=None)
    assert e.value.reference == "no-space"
    assert os.listdir(dest) == []


def test_a_signed_bin_is_refused_before_its_copy_when_the_temporary_directory_cannot_hold_it(dists, tmp_path,
                                                                                             monkeypatch):
    # the installer inside is copied privately to be verified: filling a small /tmp up to the
    # last byte only to fail would starve every other user of it meanwhile
    import tempfile

    real = os.statvfs(tmp_path)
    room = {"bytes": 1000}

    class Small:
        f_frsize, f_files, f_ffree, f_favail = 1, real.f_files, real.f_ffree, real.f_favail

        def __init__(self):
            self.f_bfree = self.f_bavail = room["bytes"]

    small = tmp_path / "small-tmp"
    small.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(small))
    monkeypatch.setattr(distwriter.os, "statvfs", lambda p: Small())
    copies = []
    real_file = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: copies.append(1) or real_file(*a, **k))
    with pytest.raises(DistributionError) as e:
        open_distribution(dists["signed.bin"])
    assert e.value.reference == "no-space" and str(small) in e.value.message and "TMPDIR" in e.value.hint
    assert copies == []  # nothing copied
    room["bytes"] = 1 << 40
    assert open_distribution(dists["signed.bin"]).version == "6.5.3" and copies == [1]


# -- versions ------------------------------------------------------------------------------

def test_missing_version(tmp_path):
    T = hostile.TOP
    tgz = hostile.write_tar(tmp_path / "nover.tar.gz", [hostile.directory(T), hostile.file(f"{T}/bin")])
    with pytest.raises(DistributionError) as e:
        open_distribution(tgz)
    assert e.value.reference == "missing-version"
    assert "VERSION" in e.value.message and e.value.hint
    root = _dir_dist(tmp_path)
    os.unlink(root / "VERSION")
    with pytest.raises(DistributionError) as e:
        open_distribution(root)
    assert e.value.reference == "missing-version"


@pytest.mark.parametrize("content", [b"hello\n", b"../../etc\n", b"6.5.3/x\n", b"6.5\n6.6\n", b""])
def test_implausible_version_refused(tmp_path, content):
    T = hostile.TOP
    tgz = hostile.write_tar(tmp_path / "v.tar.gz", [hostile.directory(T), hostile.file(f"{T}/VERSION", content)])
    with pytest.raises(DistributionError) as e:
        open_distribution(tgz)
    assert e.value.reference == "bad-version"


def test_version_mismatch_with_file_name(dists, tmp_path):
    wrong = tmp_path / "nso-6.4.1.linux.x86_64.tar.gz"
    shutil.copyfile(dists["tar.gz"], wrong)
    with pytest.raises(DistributionError) as e:
        open_distribution(wrong)
    assert e.value.reference == "version-mismatch"
    renamed_dir = tmp_path / "nso-6.6"
    shutil.copytree(dists["dir"], renamed_dir, symlinks=True)
    with pytest.raises(DistributionError):
        open_distribution(renamed_dir)
    plain = tmp_path / "whatever"
    shutil.copytree(dists["dir"], plain, symlinks=True)
    assert open_distribution(plain).version == "6.5.3"


def test_version_mismatch_with_top_directory(tmp_path):
    tgz = hostile.write_tar(tmp_path / "t.tar.gz", hostile.base(top="nso-6.6.0", version="6.5.3"))
    with pytest.raises(DistributionError) as e:
        open_distribution(tgz)
    assert e.value.reference == "version-mismatch"


def test_plain_versioned_file_name_is_not_a_version_mismatch(tmp_path):
    """nso-6.5.3.tar.gz (no OS.ARCH) was read as version '6.5.3.tar.gz' and refused."""
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", hostile.base())
    assert open_distribution(archive).version == "6.5.3"
    other = hostile.write_tar(tmp_path / "nso-6.6.tar.gz", hostile.base())
    with pytest.raises(DistributionError) as e:
        open_distribution(other)
    assert e.value.reference == "version-mismatch"


# -- damaged input -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["tar.gz", "tar", "installer.bin", "signed.bin"])
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.97])
def test_truncated_archive_is_a_distribution_error(dists, tmp_path, fmt, fraction):
    data = dists[fmt].read_bytes()
    cut = tmp_path / dists[fmt].name
    cut.write_bytes(data[:int(len(data) * fraction)])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DistributionError):
        d = open_distribution(cut)
        d.validate()
        d.extract(dest, uid=None, gid=None)
    assert os.listdir(dest) == []


@pytest.mark.parametrize("fmt", ["tar.gz", "installer.bin"])
def test_compressed_stream_missing_its_last_byte(dists, tmp_path, fmt):
    cut = tmp_path / dists[fmt].name
    cut.write_bytes(dists[fmt].read_bytes()[:-1])
    with pytest.raises(DistributionError) as e:
        open_distribution(cut).validate()
    assert e.value.reference == "corrupt-archive"


def test_truncated_tar_at_a_header_boundary(dists, tmp_path):
    with tarfile.open(dists["tar"]) as tf:
        offset = [m.offset for m in tf.getmembers()][20]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(dists["tar"].read_bytes()[:offset])
    with pytest.raises(DistributionError) as e:
        open_distribution(cut).validate()
    assert e.value.reference == "corrupt-archive"


@pytest.mark.parametrize("fmt", ["tar.gz", "installer.bin"])
def test_corrupted_bytes(dists, tmp_path, fmt):
    data = bytearray(dists[fmt].read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    bad = tmp_path / dists[fmt].name
    bad.write_bytes(bytes(data))
    with pytest.raises(DistributionError):
        open_distribution(bad).validate()


def test_garbage_tar_header_mid_archive(dists, tmp_path):
    data = bytearray(dists["tar"].read_bytes())
    with tarfile.open(dists["tar"]) as tf:
        offset = [m.offset for m in tf.getmembers()][20]
    data[offset:offset + 512] = b"\xff" * 512
    bad = tmp_path / "g.tar"
    bad.write_bytes(bytes(data))
    with pytest.raises(DistributionError) as e:
        open_distribution(bad).validate()
    assert e.value.reference == "corrupt-archive"


@pytest.mark.parametrize("content, reference", [
    (b"just some text\n", "unknown-distribution-format"),
    (b"", "unknown-distribution-format"),
    (b"#!/bin/sh\necho hi\n", "no-payload"),
    (b"#!/bin/sh\nexit 0\n__NSO_PAYLOAD_BELOW__\nnot an archive", "no-payload"),  # all text: nothing appended
    (b"#!/bin/sh\nsed '1,/^__NSO_PAYLOAD_BELOW__$/d' \"$0\" | tar xz\nexit 0\n__NSO_PAYLOAD_BELOW__\n\0not an archive",
     "corrupt-archive"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt-archive"),
])
def test_neither_kind(tmp_path, content, reference):
    f = tmp_path / "thing"
    f.write_bytes(content)
    with pytest.raises(DistributionError) as e:
        open_distribution(f)
    assert e.value.reference == reference
    assert e.value.hint


def test_missing_path(tmp_path):
    with pytest.raises(DistributionError) as e:
        open_distribution(tmp_path / "nope.tar.gz")
    assert e.value.reference == "distribution-not-found"
    assert "nope.tar.gz" in e.value.message and e.value.hint


@pytest.mark.parametrize("which", ["bin/ncs", "doc"])
def test_an_unreadable_member_of_a_directory_says_so_not_that_it_changed(tmp_path, monkeypatch, which):
    """A directory distribution unpacked by root with private modes, read by another account
    (a local install): the file or subdirectory it cannot open is named with the reason and the
    fix. Before: "bin/ncs changed (into a symbolic link or a non-directory) while being read",
    reference hostile-member, hint "Do not modify the directory"."""
    import errno

    from nso_install.distribution import readers

    src = _dir_dist(tmp_path)
    real_open = os.open

    def denied(path, flags, mode=0o777, *, dir_fd=None):  # as for an account without the read bit (root has it)
        if dir_fd is not None and f"{os.readlink(f'/proc/self/fd/{dir_fd}')}/{path}" == str(src / which):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, dir_fd=dir_fd)

    d = open_distribution(src)
    dest = tmp_path / "dest"
    dest.mkdir()
    monkeypatch.setattr(readers.os, "open", denied)
    with pytest.raises(DistributionError) as e:
        d.validate()
        d.extract(dest, uid=None, gid=None)
    monkeypatch.undo()
    assert e.value.reference == "unreadable-distribution", e.value
    assert f"cannot read {src / which} (Permission denied" in e.value.message
    assert "chmod -R a+rX" in e.value.hint
    assert os.listdir(dest) == []
