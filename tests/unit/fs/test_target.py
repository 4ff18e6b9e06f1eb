"""Target paths under a staging root: links resolved like a chroot, never leaving the root."""

import os
from pathlib import Path

import pytest

from nso_install.errors import UnsafePathError, UsageError
from nso_install.target import Target, check_shell_safe

from support import spec


def test_plain_join(tmp_path):
    t = Target.at(tmp_path)
    assert t.host("/etc/ncs/ncs.conf") == tmp_path / "etc/ncs/ncs.conf"
    assert t.staged


def test_host_paths_are_the_normalized_paths_under_the_root(tmp_path):
    from pathlib import PurePosixPath

    t = Target.at(tmp_path)
    assert t.host("/etc/./ncs//ncs.conf") == tmp_path / "etc/ncs/ncs.conf"
    assert t.host(PurePosixPath("/etc/ncs/")) == tmp_path / "etc/ncs"
    assert t.host("/") == tmp_path and t.host("//etc") == tmp_path / "etc"
    assert Target.at(None).host("/") == Path("/") and Target.at(None).host("/etc/") == Path("/etc")


def test_real_root_is_identity():
    t = Target.at(None)
    assert t.host("/etc/passwd") == Path("/etc/passwd")
    assert not t.staged


def test_links_inside_root_are_resolved_like_chroot(tmp_path):
    (tmp_path / "data/ncs").mkdir(parents=True)
    (tmp_path / "var/opt").mkdir(parents=True)
    os.symlink("/data/ncs", tmp_path / "var/opt/ncs")  # absolute: relative to the root
    t = Target.at(tmp_path)
    assert t.host("/var/opt/ncs/cdb") == tmp_path / "data/ncs/cdb"


@pytest.mark.parametrize("link", ["/../../../../etc", "../../../../../etc"])
def test_parent_link_escaping_root_refused(tmp_path, link):
    (tmp_path / "var").mkdir()
    os.symlink(link, tmp_path / "var/opt")
    with pytest.raises(UnsafePathError) as e:
        Target.at(tmp_path).host("/var/opt/ncs/x")
    assert e.value.reference == "symlink-escapes-root"


def test_symlink_loop_refused(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(UnsafePathError):
        Target.at(tmp_path).host("/a/x")


def test_a_staging_roots_etc_linked_to_the_hosts_etc_is_explained(tmp_path):
    """``ROOT/etc -> /etc`` leads back to itself inside the root: "Remove the symlink loop under
    the target root" left the operator looking for a loop they had not made."""
    os.symlink("/etc", tmp_path / "etc")
    with pytest.raises(UnsafePathError) as e:
        Target.at(tmp_path).host("/etc/ncs/ncs.conf")
    assert e.value.reference == "symlink-loop"
    assert e.value.message == (f"too many symbolic links resolving /etc/ncs/ncs.conf (the first link: {tmp_path}/etc -> "
                               f"/etc): links are followed inside the staging root {tmp_path}, as in a chroot, never "
                               "to the host's files.")
    assert "leave out --root" in e.value.hint


@pytest.mark.parametrize("bad", ["etc/ncs", "/etc/../root"])
def test_bad_target_paths(tmp_path, bad):
    with pytest.raises(UsageError):
        Target.at(tmp_path).host(bad)


def test_last_component_not_followed(tmp_path):
    os.symlink("/etc/shadow", tmp_path / "keys")
    assert Target.at(tmp_path).host("/keys") == tmp_path / "keys"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a link as another user")
def test_parent_link_owned_by_another_account_is_not_followed(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "var/opt/ncs").mkdir(parents=True)
    os.symlink("/etc", tmp_path / "var/opt/ncs/cdb")  # planted by the NSO account
    os.lchown(tmp_path / "var/opt/ncs/cdb", 999, 999)
    with pytest.raises(UnsafePathError) as e:
        Target.at(tmp_path).host("/var/opt/ncs/cdb/aaa_init.xml")
    assert e.value.reference == "unsafe-symlink"


# --- links through directories that do not exist yet, odd names --------------------------

def test_link_through_a_missing_directory_cannot_leave_the_root(tmp_path):
    """A parent link whose target goes through a directory that does not exist yet and then
    back up with '..' produced a host path outside the root (root/missing/../../outside/f):
    as soon as 'missing' is created (by the plan itself, or by whoever planted the link), the
    kernel resolves it outside the root."""
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("missing/../../outside", root / "a")
    t = Target.at(root)
    with pytest.raises(UnsafePathError) as e:
        t.host("/a/f")
    assert e.value.reference == "symlink-escapes-root"


def test_missing_then_dotdot_stays_inside_and_is_resolved(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("missing/../etc", root / "a")
    t = Target.at(root)
    host = t.host("/a/f")
    assert ".." not in host.parts
    assert host == root / "etc" / "f"


def test_missing_parents_are_kept(tmp_path):
    t = Target.at(tmp_path)
    assert t.host("/opt/ncs/ncs-6.5.3/VERSION") == tmp_path / "opt/ncs/ncs-6.5.3/VERSION"


def test_to_target_accepts_names_starting_with_two_dots(tmp_path):
    t = Target.at(tmp_path)
    assert str(t.to_target(tmp_path / "..hidden")) == "/..hidden"
    with pytest.raises(UnsafePathError):
        t.to_target(tmp_path.parent / "x")


# --- paths written into shell scripts, units and logrotate ---------------------------------

UNSAFE = ["/opt/my nso", "/opt/$(id)", "/opt/a;b", "/etc/ncs%i", "/opt/`x`", "/opt/a'b", "/opt/*"]


@pytest.mark.parametrize("bad", UNSAFE)
def test_install_options_refuse_paths_shells_or_systemd_would_interpret(bad):
    with pytest.raises(UsageError) as e:
        spec(config_dir=bad)
    assert e.value.reference == "unsafe-path-characters" and "--config-dir" in e.value.message


@pytest.mark.parametrize("bad", UNSAFE)
def test_check_shell_safe_refuses_what_shells_or_systemd_would_interpret(bad):
    with pytest.raises(UsageError) as e:
        check_shell_safe("NCS_IPC_PATH", bad)
    assert e.value.reference == "unsafe-path-characters" and "NCS_IPC_PATH" in e.value.message


def test_the_refusal_names_the_characters_found_a_blank_or_a_non_ascii_letter_too():
    """"contains characters they would interpret (blanks, quotes, $ ...)" for ~/nsoé, whose é is
    in no such list, and "use letters" (é is one): the message names what it found."""
    with pytest.raises(UsageError) as e:
        check_shell_safe("--local-install", "/home/al ice/nsoé")
    assert "' ', 'é'." in e.value.message and "ASCII letters" in e.value.hint


def test_check_shell_safe_accepts_plain_paths_and_variable_references():
    for ok in ("/opt/ncs", "/srv/nso-6.5.3/a_b+c@d,e:f=g", "${NCS_DIR}/etc/ncs"):
        check_shell_safe("x", ok)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a directory as another user")
def test_root_owned_parent_link_in_a_directory_another_account_owns_is_not_followed(tmp_path):
    """Root owning the link is not enough: in a directory the NSO account owns, that account
    could have moved a root-owned link (made for something else) there."""
    (tmp_path / "etc").mkdir()
    run_dir = tmp_path / "var/opt/ncs"
    run_dir.mkdir(parents=True)
    os.symlink("/etc", run_dir / "cdb")  # root's link ...
    os.chown(run_dir, 999, 999)  # ... in the NSO account's directory
    with pytest.raises(UnsafePathError) as e:
        Target.at(tmp_path).host("/var/opt/ncs/cdb/aaa_init.xml")
    assert e.value.reference == "unsafe-symlink"
    os.chown(run_dir, 0, 0)  # the same link where only root could have put it is followed
    assert Target.at(tmp_path).host("/var/opt/ncs/cdb/aaa_init.xml") == tmp_path / "etc/aaa_init.xml"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a directory as another user")
@pytest.mark.parametrize("how", ["owned by another account", "group-writable"])
def test_a_directory_link_in_a_directory_another_account_could_change_is_refused(tmp_path, how):
    """A root-owned top-level link (/var/opt/ncs -> /data/ncs-run) is trusted only while no
    other account can replace it: the directory holding it counts as much as the link."""
    (tmp_path / "data/ncs-run").mkdir(parents=True)
    (tmp_path / "var/opt").mkdir(parents=True)
    os.symlink("/data/ncs-run", tmp_path / "var/opt/ncs")
    target = Target.at(tmp_path)
    assert str(target.dir_link("/var/opt/ncs")) == "/data/ncs-run"
    if how == "owned by another account":
        os.chown(tmp_path / "var/opt", 65534, 65534)
    else:
        os.chmod(tmp_path / "var/opt", 0o775)
    with pytest.raises(UnsafePathError) as e:
        target.dir_link("/var/opt/ncs")
    assert e.value.reference == "unsafe-directory-link"
