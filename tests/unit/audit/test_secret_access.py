"""Who may read a secret is more than its mode bits show: a POSIX ACL (``setfacl -m
u:alice:r``) admits named accounts that ``ls -l`` and the group's members do not name; a group
nobody is in yet admits whoever joins it later (NSO's docs have administrators join ncsoper); a
second name (hard link) puts the file in a directory this check never looks at.  A security
review found the audit passing all three."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile

import pytest
from support_audit import findings

from nso_install.facts import parse_acl

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets owners and ACLs (root only)")

NOBODY = 65534


def set_acl(path, users=(), groups=(), mask=None):
    """Write a POSIX access ACL (the kernel's xattr format) keeping the file's mode: named users
    and groups as (id, perms) pairs."""
    mode = os.lstat(path).st_mode
    entries = [(0x01, (mode >> 6) & 7, 0xFFFFFFFF)]
    entries += [(0x02, p, i) for i, p in users]
    entries.append((0x04, (mode >> 3) & 7, 0xFFFFFFFF))
    entries += [(0x08, p, i) for i, p in groups]
    entries.append((0x10, (mode >> 3) & 7 if mask is None else mask, 0xFFFFFFFF))
    entries.append((0x20, mode & 7, 0xFFFFFFFF))
    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", data)
    except OSError as e:
        pytest.skip(f"no POSIX ACLs on this file system ({e})")


def gid_of(root, name):
    return next(int(line.split(":")[2]) for line in (root / "etc/group").read_text().splitlines()
                if line.startswith(f"{name}:"))


def test_an_acl_entry_really_lets_the_named_account_read_a_0440_root_file():
    d = tempfile.mkdtemp(prefix="nso-acl-", dir="/tmp")
    try:
        os.chmod(d, 0o711)
        f = os.path.join(d, "secret")
        with open(f, "w") as out:
            out.write("s3cret\n")
        os.chmod(f, 0o440)
        read = ["runuser", "-u", "nobody", "--", "cat", f]
        assert subprocess.run(read, capture_output=True).returncode != 0
        set_acl(f, users=[(NOBODY, 4)])
        assert subprocess.run(read, capture_output=True, text=True).stdout == "s3cret\n"
        assert parse_acl(os.getxattr(f, "system.posix_acl_access")) == (("user", NOBODY, 4),)
    finally:
        shutil.rmtree(d)


def test_the_acl_reader_masks_named_entries_and_matches_getfacl(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(f, 0o640)
    set_acl(f, users=[(NOBODY, 6)], groups=[(4242, 7)], mask=4)
    assert parse_acl(os.getxattr(f, "system.posix_acl_access")) == (("user", NOBODY, 4), ("group", 4242, 4))
    if subprocess.run(["sh", "-c", "command -v getfacl"], capture_output=True).returncode == 0:
        out = subprocess.run(["getfacl", "-n", "-p", str(f)], capture_output=True, text=True, check=True).stdout
        assert f"user:{NOBODY}:rw-\t#effective:r--" in out


@pytest.mark.parametrize("rel, check", [
    ("etc/ncs/ncs.crypto_keys", "NSO-PERM-002"),
    ("etc/ncs/ipc_access", "NSO-PERM-003"),
    ("etc/ncs/ssh/ssh_host_ed25519_key", "NSO-PERM-004"),
    ("etc/ncs/ssl/cert/host.key", "NSO-PERM-005"),
])
def test_a_secret_an_acl_lets_another_account_read_fails(staged, rel, check):
    root = staged.get("nso")
    assert findings(root)[check].status == "pass"
    set_acl(root / rel, users=[(NOBODY, 4)])  # the mode stays 0440: ls -l shows only a "+"
    assert os.stat(root / rel).st_mode & 0o777 == 0o440
    f = findings(root)[check]
    assert f.status == "fail", f
    assert any("readable by nobody (through group" in e and "or its ACL" in e for e in f.evidence), f.evidence
    assert any("ACL user:nobody:r--" in e for e in f.evidence), f.evidence


def test_an_acl_group_entry_counts_its_members(staged):
    root = staged.get("nso")
    lines = (root / "etc/group").read_text().splitlines()
    (root / "etc/group").write_text("\n".join(line + "daemon" if line.startswith("ncsoper:") else line
                                              for line in lines) + "\n")
    set_acl(root / "etc/ncs/ipc_access", groups=[(gid_of(root, "ncsoper"), 4)])
    f = findings(root)["NSO-PERM-003"]
    assert f.status == "fail" and any("readable by daemon" in e for e in f.evidence), f.evidence


def test_an_acl_the_mask_leaves_nothing_grants_nothing(staged):
    root = staged.get("nso")
    set_acl(root / "etc/ncs/ncs.crypto_keys", users=[(NOBODY, 4)], mask=0)
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o400)  # what chmod does to the mask
    set_acl(root / "etc/ncs/ncs.crypto_keys", users=[(NOBODY, 4)], mask=0)
    f = findings(root)["NSO-PERM-002"]
    assert not any("nobody" in e for e in f.evidence), f.evidence


def test_keys_in_a_group_nobody_is_in_yet_fail(staged):
    root = staged.get("nso")
    os.chown(root / "etc/ncs/ncs.crypto_keys", 0, gid_of(root, "ncsoper"))
    f = findings(root)["NSO-PERM-002"]
    assert f.status == "fail"
    assert any("group ncsoper may read it (members now: none" in e for e in f.evidence), f.evidence


def test_the_ipc_secret_may_be_ncsadmins(staged):
    root = staged.get("tcp")  # 0440 root:ncsadmin, as NSO's Deployment Example has it
    f = findings(root)["NSO-PERM-003"]
    assert f.status == "pass", f


def test_a_secret_below_a_directory_another_account_may_change_fails(staged):
    """ncs.conf may name the IPC secret anywhere: an account owning (or able to write) a directory
    above the secret's own could move that directory aside and put one holding a secret it chose,
    which NSO takes at its next start; the audit judged the file and its own directory alone."""
    from support_audit import set_conf

    root = staged.get("tcp")
    secret = root / "srv/sec/ncs/ipc_access"
    secret.parent.mkdir(parents=True)
    shutil.copy2(root / "etc/ncs/ipc_access", secret)
    st = os.stat(root / "etc/ncs/ipc_access")
    os.chown(secret, st.st_uid, st.st_gid)
    set_conf(root, "/ncs-config/ncs-ipc-access-check/filename", "/srv/sec/ncs/ipc_access")
    assert findings(root)["NSO-PERM-003"].status == "pass"
    os.chown(root / "srv/sec", NOBODY, NOBODY)
    f = findings(root)["NSO-PERM-003"]
    assert f.status == "fail" and any("/srv/sec 0755 nobody:" in e and "belongs to nobody" in e for e in f.evidence), f
    os.chown(root / "srv/sec", 0, 0)
    os.chmod(root / "srv", 0o1777)  # sticky: only an entry's owner may move it (root's sec)
    assert findings(root)["NSO-PERM-003"].status == "pass"
    os.chmod(root / "srv", 0o777)
    assert findings(root)["NSO-PERM-003"].status == "fail"
    # missing: NSO would take whatever such an account puts there, which is worse than a warning
    secret.unlink()
    f = findings(root)["NSO-PERM-003"]
    assert f.status == "fail" and "another account could put one there" in f.summary, f
    os.chmod(root / "srv", 0o755)
    assert findings(root)["NSO-PERM-003"].status == "warn"


def test_a_second_name_of_the_keys_fails(staged):
    root = staged.get("nso")
    os.link(root / "etc/ncs/ncs.crypto_keys", root / "var/opt/ncs/state/keys")
    os.link(root / "etc/ncs/ipc_access", root / "var/opt/ncs/state/ipc")
    found = findings(root)
    f = found["NSO-PERM-002"]
    assert f.status == "fail"
    assert any("has 2 names (hard links)" in e for e in f.evidence), f.evidence
    # the content checks say where it is reported, rather than an error of their own beside it
    for check, see in (("NSO-KEY-001", "NSO-PERM-002"), ("NSO-KEY-002", "NSO-PERM-003")):
        assert found[check].status == "skip" and f"(see {see})" in found[check].summary, found[check]


def set_default_acl(path, users=()):
    """``setfacl -d -m u:ID:PERMS PATH`` for each (id, perms), in the kernel's xattr format."""
    entries = [(0x01, 7, 0xFFFFFFFF)] + [(0x02, p, i) for i, p in users] + \
        [(0x04, 5, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    try:
        os.setxattr(path, "system.posix_acl_default", struct.pack("<I", 2) + b"".join(
            struct.pack("<HHI", *e) for e in entries))
    except OSError as e:
        pytest.skip(f"no POSIX ACLs on this file system ({e})")


@pytest.mark.parametrize("how", ["access", "default"])
def test_an_acl_on_the_run_or_log_directory_that_admits_another_account_fails(staged, how):
    """NSO-PERM-007 judged the run and log directories by their mode bits: `setfacl -m u:nobody:rx`
    let nobody list CDB's directory, and a default ACL (`setfacl -d -m u:nobody:rwx`) passes nobody
    on into every CDB file and log NSO makes there; both passed."""
    root = staged.get("nso")
    assert findings(root)["NSO-PERM-007"].status == "pass"
    uid = os.stat(root / "var/log/ncs").st_uid
    if how == "access":
        set_acl(root / "var/opt/ncs/cdb", users=[(NOBODY, 5), (uid, 7)])  # (NSO's own account: nothing to say)
        said = "/var/opt/ncs/cdb (CDB) has an ACL that admits user:nobody:r-x"
    else:
        set_default_acl(root / "var/log/ncs", users=[(NOBODY, 7), (uid, 7)])
        said = ("/var/log/ncs (the log directory) has a default ACL: every file and directory made in it (by NSO "
                "too) admits user:nobody:rwx")
    f = findings(root)["NSO-PERM-007"]
    assert f.status == "fail" and said in f.evidence, f.evidence
    assert [e for e in f.evidence if "admits" in e] == [said]  # (not NSO's own account)


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_host_keys_and_the_https_pair_that_are_not_plain_files_are_not_read(staged, how):
    """A host key that is a symbolic link crashed the whole audit (NSO-KEY-003 read None), and
    a hard-linked one was an error beside NSO-PERM-004's failure; an HTTPS key or certificate
    that is a link was reported missing ("NSO cannot start"), though NSO starts with it."""
    root = staged.get("nso")
    for rel in ("etc/ncs/ssh/ssh_host_ed25519_key", "etc/ncs/ssl/cert/host.key", "etc/ncs/ssl/cert/host.cert"):
        path = root / rel
        aside = root / "var/opt/ncs/state" / path.name
        if how == "symlink":
            os.rename(path, aside)
            os.symlink(f"/var/opt/ncs/state/{path.name}", path)
        else:
            os.link(path, aside)
    found = findings(root)
    assert found["NSO-PERM-004"].status == "fail" and found["NSO-PERM-005"].status == "fail"
    for check, see in (("NSO-KEY-003", "(see NSO-PERM-004)"), ("NSO-TLS-002", "(see NSO-PERM-005)"),
                       ("NSO-TLS-001", "is not read")):
        f = found[check]
        assert f.status == "skip" and see in f.summary and "missing" not in f.summary, f
