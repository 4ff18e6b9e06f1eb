"""Review findings for dist.py: verification bypass by name, crashes and resource exhaustion on
hostile archives, and a directory distribution changed while it is read."""

import io
import os
import shutil
import tarfile
import tracemalloc

import pytest

from nso_install import dist as distmod
from nso_install.dist import checks as distchecks
from nso_install.dist import tarstream as disttarstream
from nso_install.dist import writer as distwriter
from nso_install.dist import open_distribution
from nso_install.errors import DistributionError
from nso_install.sample import make_sample_distribution

try:
    from . import hostile
except ImportError:
    import hostile

T = hostile.TOP


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    d = tmp_path_factory.mktemp("samples")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt) for fmt in ("tar.gz", "installer.bin", "signed.bin")}


# -- a .signed.bin that is not one ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["installer.bin", "tar.gz"])
def test_signed_bin_name_with_unsigned_content_is_not_silently_unverified(samples, tmp_path, fmt):
    """An operator who downloads nso-VSN...signed.bin expects its signature checked.  A file
    with that name whose content is a bare installer.bin or tarball skipped verification."""
    fake = tmp_path / "nso-6.5.3.linux.x86_64.signed.bin"
    shutil.copyfile(samples[fmt], fake)
    with pytest.raises(DistributionError) as e:
        open_distribution(fake)
    assert e.value.reference == "signature-missing"
    d = open_distribution(fake, skip_verification=True)  # the operator's explicit choice
    assert d.version == "6.5.3"


def test_real_signed_bin_still_verified(samples):
    d = open_distribution(samples["signed.bin"])
    assert d.kind == "signed.bin" and d.verified


# -- crashes on hostile headers ---------------------------------------------------------------


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


# -- resource exhaustion ----------------------------------------------------------------------


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


def test_ordinary_trailer_padding_accepted(samples):
    open_distribution(samples["tar.gz"]).validate()


# -- directory distribution changed while it is read ------------------------------------------


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


def test_directory_distribution_round_trip_unchanged(tmp_path):
    root = make_sample_distribution(tmp_path / "src", "6.5.3", "dir")
    d = open_distribution(root)
    s = d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    assert d.extract(dest, uid=None, gid=None) == s
    assert (dest / "VERSION").read_text().strip() == "6.5.3"


def test_plain_versioned_file_name_is_not_a_version_mismatch(tmp_path):
    """nso-6.5.3.tar.gz (no OS.ARCH) was read as version '6.5.3.tar.gz' and refused."""
    archive = hostile.write_tar(tmp_path / "nso-6.5.3.tar.gz", hostile.base())
    assert open_distribution(archive).version == "6.5.3"
    other = hostile.write_tar(tmp_path / "nso-6.6.tar.gz", hostile.base())
    with pytest.raises(DistributionError) as e:
        open_distribution(other)
    assert e.value.reference == "version-mismatch"


def test_extract_refuses_up_front_when_the_tree_cannot_fit(samples, tmp_path, monkeypatch):
    d = open_distribution(samples["tar.gz"])
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
