"""Who may change what root runs: a group or an ACL, not only the owner and the world bit.

A security review found the audit passing a tree where the NSO account's group could write
``ncs-VSN/bin`` (or an ACL let another account write ``erts/bin``), and a group-writable or
NSO-owned ``/etc/profile.d/ncs.sh``, ``/etc/logrotate.d/ncs`` or ``/etc/tmpfiles.d/ncs.conf``,
all of which root runs or sources (NSO-PERM-011, NSO-PERM-012)."""

from __future__ import annotations

import os
import shutil

import pytest
from support_audit import findings
from test_secret_access import NOBODY, gid_of, set_acl

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets owners and ACLs (root only)")

TREE = "opt/ncs/ncs-6.5.3"


def vendor(root):
    """The same layout without nso-install's records (a vendor installer's): no manifest to
    compare the trees with, so NSO-DRIFT-001 cannot notice a changed mode."""
    shutil.rmtree(root / "var/lib/nso-install")
    return root


def uid_of(root, name):
    return next(int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()
                if line.startswith(f"{name}:"))


@pytest.mark.parametrize("rel", [f"{TREE}/bin", f"{TREE}/lib/ncs/erts/bin", "opt/ncs/ncs-service-start",
                                 f"{TREE}/bin/ncs"])
def test_the_nso_group_writing_the_install_tree_fails(staged, rel):
    root = vendor(staged.get("nso"))
    assert findings(root, run_as_user="nso")["NSO-PERM-011"].status == "pass"
    os.chown(root / rel, 0, gid_of(root, "nso"))
    os.chmod(root / rel, os.stat(root / rel).st_mode & 0o7777 | 0o020)
    f = findings(root, run_as_user="nso")["NSO-PERM-011"]
    assert f.status == "fail", f
    assert any(e.startswith(f"/{rel} ") and "group nso may change it (nso)" in e for e in f.evidence), f.evidence


def test_an_acl_that_lets_another_account_write_the_tree_fails(staged):
    root = vendor(staged.get("nso"))
    set_acl(root / TREE / "lib/ncs/erts/bin", users=[(NOBODY, 7)], mask=7)  # as setfacl: ls -l drwxrwxr-x+
    f = findings(root, run_as_user="nso")["NSO-PERM-011"]
    assert f.status == "fail", f
    assert any("ACL user:nobody:rwx" in e and "(nobody)" in e for e in f.evidence), f.evidence


def test_a_group_write_bit_of_roots_group_alone_or_of_nsos_own_where_it_writes_passes(staged):
    root = staged.get("nso")
    os.chmod(root / "opt/ncs/packages", 0o775)  # root:root, and root's group holds root alone
    (root / "var/log/ncs/extra.log").write_text("")
    os.chown(root / "var/log/ncs/extra.log", uid_of(root, "nso"), gid_of(root, "nso"))
    os.chmod(root / "var/log/ncs/extra.log", 0o660)  # NSO started under a umask of 002
    assert findings(root)["NSO-PERM-011"].status == "pass"


def test_a_group_nobody_is_in_yet_writing_the_tree_fails(staged):
    root = staged.get("nso")
    os.chown(root / "opt/ncs/packages", 0, gid_of(root, "ncsoper"))
    os.chmod(root / "opt/ncs/packages", 0o775)
    f = findings(root)["NSO-PERM-011"]
    assert f.status == "fail" and any("nobody now, whoever joins it later" in e for e in f.evidence), f.evidence


@pytest.mark.parametrize("rel, how", [
    ("etc/profile.d/ncs.sh", "group"),
    ("etc/profile.d/ncs.csh", "owner"),
    ("etc/logrotate.d/ncs", "group"),
    ("etc/tmpfiles.d/ncs.conf", "acl"),
    ("etc/profile.d", "world"),
])
def test_what_root_runs_or_sources_for_nso_is_roots_alone(staged, rel, how):
    root = staged.get("nso")
    assert findings(root)["NSO-PERM-012"].status == "pass"
    p = root / rel
    if how == "group":
        os.chown(p, 0, gid_of(root, "nso"))
        os.chmod(p, 0o664)
    elif how == "owner":
        os.chown(p, uid_of(root, "nso"), 0)
    elif how == "acl":
        set_acl(p, users=[(NOBODY, 6)], mask=6)
    else:
        os.chmod(p, 0o757)
    f = findings(root)["NSO-PERM-012"]
    assert f.status == "fail", f
    assert any(e.startswith(f"/{rel}") for e in f.evidence), f.evidence


def test_the_sysv_script_and_the_environment_file_it_reads_are_judged(staged):
    root = staged.get("nso")
    # a SysV install reads ncs.systemd.conf as root: the layout of one without records
    vendor(root)
    (root / "etc/systemd/system/ncs.service").unlink()
    (root / "etc/init.d").mkdir()
    (root / "etc/init.d/ncs").write_text("#!/bin/sh\n")
    os.chmod(root / "etc/init.d/ncs", 0o775)
    f = findings(root, run_as_user="nso")["NSO-PERM-012"]
    assert f.status == "fail"
    assert any(e.startswith("/etc/init.d/ncs is writable by group") for e in f.evidence), f.evidence
    assert any("/etc/ncs/ncs.systemd.conf belongs to nso" in e for e in f.evidence), f.evidence
