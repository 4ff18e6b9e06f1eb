import os
from pathlib import Path

import pytest

from nso_install.errors import UnsafePathError, UsageError
from nso_install.target import Target


def test_plain_join(tmp_path):
    t = Target.at(tmp_path)
    assert t.host("/etc/ncs/ncs.conf") == tmp_path / "etc/ncs/ncs.conf"
    assert t.staged


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
