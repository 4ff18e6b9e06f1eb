"""Each safety layer of the distribution code on its own (the mutation campaign, docs/testing.md):
the per-member checks refuse a member *when they see it*, whatever a later layer (the finish-time
link resolution, the top-directory rule, the writer's O_NOFOLLOW/O_EXCL) would have said; the
finish-time check refuses what only the whole tree shows; the writer refuses on its own."""

from __future__ import annotations

import io
import os
import stat

import pytest

from nso_install.distribution import checks, writer
from nso_install.distribution.common import DistSummary, Member
from nso_install.errors import DistributionError

T = "nso-6.5.3"


def checker(strip_top: bool = True) -> checks._Checker:
    c = checks._Checker("dist", strip_top)
    if strip_top:
        assert c.check(Member(T, "dir", 0o755)) is None
    return c


def refused(c: checks._Checker, m: Member, why: str) -> DistributionError:
    with pytest.raises(DistributionError) as e:
        c.check(m)
    assert e.value.reference == "hostile-member" and why in e.value.message, e.value.message
    return e.value


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("strip_top", [True, False], ids=["archive", "directory"])
@pytest.mark.parametrize("name", [f"/{T}/bin/evil", "/etc/cron.d/evil"])
def test_an_absolute_member_name_is_refused_as_absolute(strip_top, name):
    """Even /nso-6.5.3/x, which would land inside the tree once its slash is dropped."""
    refused(checker(strip_top), Member(name, "file", 0o644, 1), "absolute name")


@pytest.mark.parametrize("strip_top", [True, False], ids=["archive", "directory"])
@pytest.mark.parametrize("name", [f"{T}/../evil", f"{T}/bin/../../evil", f"{T}/bin/../VERSION"])
def test_a_dotdot_component_is_refused_even_when_it_stays_inside(strip_top, name):
    refused(checker(strip_top), Member(name, "file", 0o644, 1), "'..' component")


def test_a_hard_link_target_with_dotdot_or_an_absolute_path_is_refused_as_such():
    c = checker()
    c.check(Member(f"{T}/bin/ncs", "file", 0o755, 1))
    refused(c, Member(f"{T}/a", "hardlink", 0o644, linkname=f"{T}/x/../bin/ncs"), "'..' component in its hard link")
    refused(c, Member(f"{T}/b", "hardlink", 0o644, linkname=f"/{T}/bin/ncs"), "absolute hard link target")


@pytest.mark.parametrize("name", ["./", ".", ".//", "./."])
def test_the_root_member_of_a_repacked_tree_is_passed_over_once(name):
    """`tar -czf x.tgz -C DIR .` writes "./" first: such a tarball was refused as tampered with
    ("names no file").  One is passed over (nothing to write); a second, or one that is no
    directory, is refused."""
    c = checks._Checker("dist", True)
    assert c.check(Member(name, "dir", 0o755)) is None
    assert c.top is None and c.top_mtime_ns is None  # (not taken for nso-VSN/)
    assert c.check(Member(f"./{T}", "dir", 0o755)) is None and c.top == T
    assert c.check(Member(f"./{T}/VERSION", "file", 0o644, 6)) == "VERSION"
    refused(c, Member("./", "dir", 0o755), "a second root directory")
    refused(checks._Checker("dist", True), Member(name, "file", 0o644, 1), "names no file")
    refused(checks._Checker("dist", True), Member("../", "dir", 0o755), "'..' component")


def test_a_member_outside_the_single_top_directory_is_refused():
    refused(checker(), Member("nso-6.5.4/bin/ncs", "file", 0o755, 1), "outside the archive's single top-level")


# --- symlinks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["../../evil", "../../../etc/shadow", "x/../../.."])
def test_a_symlink_leaving_the_tree_is_refused_when_it_is_seen(target):
    """The per-member check alone, before the finish-time resolution ever runs."""
    refused(checker(), Member(f"{T}/bin/up", "symlink", 0o777, linkname=target), "leads outside the tree")


def test_a_symlink_staying_inside_is_accepted_by_the_member_check():
    c = checker()
    assert c.check(Member(f"{T}/bin/up", "symlink", 0o777, linkname="../lib")) == "bin/up"


def test_a_symlink_to_an_absolute_path_is_refused_as_absolute():
    refused(checker(), Member(f"{T}/etc", "symlink", 0o777, linkname="/etc"), "to the absolute path /etc")


def test_links_that_leave_the_tree_only_through_other_links_are_refused_at_the_end():
    """Each link is fine on its own (d/sub -> .., d/e -> sub/..); together e leaves the tree."""
    c = checker()
    c.see_version(Member(f"{T}/VERSION", "file"), b"6.5.3\n", None)
    for m in (Member(f"{T}/d", "dir", 0o755), Member(f"{T}/d/e", "symlink", 0o777, linkname="sub/.."),
              Member(f"{T}/d/sub", "symlink", 0o777, linkname="..")):
        c.check(m)
    with pytest.raises(DistributionError) as e:
        c.finish("6.5.3")
    assert e.value.reference == "hostile-member" and "through other links" in e.value.message


# --- types and modes --------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["character device", "block device", "FIFO (named pipe)", "socket"])
def test_special_files_are_refused(what):
    refused(checker(), Member(f"{T}/dev/x", "special", 0o644, what=what), f"is a {what}")


@pytest.mark.parametrize("mode, bit", [(0o4755, "setuid"), (0o2755, "setgid"), (0o6755, "setuid/setgid")])
def test_setuid_and_setgid_members_are_refused_by_the_checks(mode, bit):
    refused(checker(), Member(f"{T}/bin/su", "file", mode, 1), f"has the {bit} bit set")


def test_a_setuid_file_of_a_directory_is_refused_with_what_an_installed_tree_needs():
    """Given /opt/ncs/current (an installed tree: nso-install's epam is setuid root) instead of the
    distribution, the refusal says what to give instead, not only that it was tampered with."""
    c = checks._Checker("/opt/ncs/current", False, lenient_dirs=True)
    e = refused(c, Member("lib/ncs/lib/core/pam/priv/epam", "file", 0o4750, 1), "has the setuid bit set (mode 4750)")
    assert "An installed NSO tree is no distribution" in e.hint and "--secrets-only" in e.hint
    assert "tampered" not in e.hint and "tampered" in refused(checker(), Member(f"{T}/bin/su", "file", 0o4755, 1),
                                                              "setuid").hint


def test_a_sparse_member_is_refused_before_its_name_is_even_looked_at():
    refused(checker(), Member(f"{T}/big", "file", 0o644, 16 << 30, sparse=True), "is a sparse file")


# --- the writer on its own --------------------------------------------------------------------

def _writer(tmp_path, free=None) -> writer._Writer:
    dest = tmp_path / "dest"
    dest.mkdir()
    w = writer._Writer(dest, None, None, None, 0)
    if free is not None:
        w.free = free
    return w


def test_the_writer_never_writes_over_an_existing_entry(tmp_path):
    """A second member of the same name (the checks refuse duplicates first) must not replace
    or truncate what the first one wrote."""
    w = _writer(tmp_path)
    try:
        w.file(["bin", "ncs"], Member("bin/ncs", "file", 0o755, 5, open=lambda: io.BytesIO(b"first")))
        with pytest.raises(FileExistsError):
            w.file(["bin", "ncs"], Member("bin/ncs", "file", 0o755, 6, open=lambda: io.BytesIO(b"second")))
    finally:
        w.close()
    assert (tmp_path / "dest/bin/ncs").read_bytes() == b"first"


@pytest.mark.parametrize("mode, want", [(0o4777, 0o755), (0o2775, 0o755), (0o666, 0o644), (0o400, 0o600)])
def test_the_writer_never_gives_wider_modes_or_privilege_bits(tmp_path, mode, want):
    w = _writer(tmp_path)
    try:
        w.file(["f"], Member("f", "file", mode, 1, open=lambda: io.BytesIO(b"x")))
    finally:
        w.close()
    assert stat.S_IMODE(os.stat(tmp_path / "dest/f").st_mode) == want


def test_the_writer_refuses_a_member_that_no_longer_fits_before_creating_it(tmp_path):
    w = _writer(tmp_path, free=(100, 1000))
    try:
        w.file(["a"], Member("a", "file", 0o644, 60, open=lambda: io.BytesIO(b"a" * 60)))
        with pytest.raises(DistributionError) as e:
            w.file(["b"], Member("b", "file", 0o644, 60, open=lambda: io.BytesIO(b"b" * 60)))
    finally:
        w.close()
    assert e.value.reference == "no-space" and not (tmp_path / "dest/b").exists()


def test_the_writer_refuses_an_entry_beyond_the_free_inodes(tmp_path):
    w = _writer(tmp_path, free=(1 << 30, 2))
    try:
        w.file(["a"], Member("a", "file", 0o644, 1, open=lambda: io.BytesIO(b"a")))
        w.file(["b"], Member("b", "file", 0o644, 1, open=lambda: io.BytesIO(b"b")))
        with pytest.raises(DistributionError) as e:
            w.symlink(["c"], Member("c", "symlink", 0o777, linkname="a"))
    finally:
        w.close()
    assert e.value.reference == "no-space" and "2 inodes" in e.value.message and not os.path.lexists(tmp_path / "dest/c")


def test_a_validated_tree_too_big_for_the_file_system_is_refused_up_front(tmp_path, monkeypatch):
    real = os.statvfs(tmp_path)

    class Small:
        f_frsize, f_bfree, f_bavail = 1, 1000, 1000
        f_files, f_ffree, f_favail = real.f_files, 5, 5

    monkeypatch.setattr(writer.os, "statvfs", lambda p: Small)
    with pytest.raises(DistributionError) as e:
        writer._check_space(tmp_path, DistSummary(files=2, dirs=1, symlinks=0, total_bytes=5000))
    assert e.value.reference == "no-space" and "5000 bytes" in e.value.message
    with pytest.raises(DistributionError) as e:
        writer._check_space(tmp_path, DistSummary(files=9, dirs=1, symlinks=0, total_bytes=10))
    assert "10 files and directories but 5 inodes" in e.value.message
    writer._check_space(tmp_path, DistSummary(files=2, dirs=1, symlinks=1, total_bytes=1000))


# --- limits and whole-tree checks ---------------------------------------------------------------

def test_member_names_adding_up_beyond_the_limit_are_refused_as_a_bomb(monkeypatch):
    """Names (and the directories they imply) are remembered for the duplicate and link checks:
    their total is bounded, whatever the member count."""
    monkeypatch.setattr(checks, "MAX_NAME_CHARS", 1000)
    c = checker()
    with pytest.raises(DistributionError) as e:
        for i in range(100):
            c.check(Member(f"{T}/{'d' * 40}/{i:03d}", "file", 0o644, 1))
    assert e.value.reference == "distribution-too-big" and "member names" in e.value.message
    assert c.members < 100


def test_the_top_directory_must_match_the_version_file_at_the_end():
    """The checks' own cross-check (open_distribution compares names earlier, but validate() and
    extract() run these checks again on an archive that may have changed)."""
    c = checks._Checker("dist", True)
    c.check(Member("nso-6.5.4", "dir", 0o755))
    c.check(Member("nso-6.5.4/VERSION", "file", 0o644, 6))
    c.see_version(Member("nso-6.5.4/VERSION", "file"), b"6.5.3\n", None)
    with pytest.raises(DistributionError) as e:
        c.finish(None)
    assert e.value.reference == "version-mismatch" and "nso-6.5.4/" in e.value.message


def test_a_tarball_repacked_with_its_root_member_installs(sample_dists, tmp_path):
    import shutil
    import tarfile

    from support import cli

    parent = tmp_path / "parent"
    parent.mkdir()
    shutil.copytree(sample_dists["dir"], parent / T, symlinks=True)
    with tarfile.open(tmp_path / "repacked.tar.gz", "w:gz") as tf:
        tf.add(parent, arcname=".")  # as tar -czf repacked.tar.gz -C parent .
        assert tf.getnames()[:2] == [".", f"./{T}"]
    with tarfile.open(tmp_path / "inside.tar.gz", "w:gz") as tf:
        tf.add(parent / T, arcname=".")  # as tar -czf inside.tar.gz -C parent/nso-6.5.3 .
    assert "Done: " in cli("install", tmp_path / "repacked.tar.gz", "--local-install", tmp_path / "nso").output
    assert "0 problem(s)" in cli("verify", "--local-install", tmp_path / "nso").output
    r = cli("install", tmp_path / "inside.tar.gz", "--local-install", tmp_path / "nso2", ok=False)
    assert r.exit_code == 1 and "pack it with tar -C PARENT nso-VSN" in r.output, r.output
