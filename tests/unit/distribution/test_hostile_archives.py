"""Hostile distributions: members escaping the tree, special files, privileges, a directory
changed while it is read, and archives built to crash the reader or exhaust its resources.
Nothing may be written anywhere, and every refusal is a clear DistributionError."""

import io
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
    import gzip
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
