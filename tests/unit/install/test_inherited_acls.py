"""What nso-install makes carries exactly the owner and mode it sets, whatever default ACL the
directory it is made in passes on.

A directory's default ACL (``setfacl -d -m u:nobody:rwx /etc/ncs``, set by an administrator for a
backup account, or left from an earlier setup) is copied into the ACL of every entry made in it,
and the chmod to the final mode only sets the named entries' mask: the keys file written 0440
root:nso was readable by ``nobody``, and so were the IPC secret, the host keys and the TLS key."""

from __future__ import annotations

import json
import os
import struct
import subprocess

import pytest
from support import cli, host_accounts_root, public_tmp_dir

from nso_install import fsops

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets ACLs and owners (root only)")

NOBODY = 65534
ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"


def give_nobody_by_default(directory) -> None:
    """``setfacl -d -m u:nobody:rwx DIRECTORY``, in the kernel's xattr format."""
    entries = [(0x01, 7, 0xFFFFFFFF), (0x02, 7, NOBODY), (0x04, 5, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF),
               (0x20, 5, 0xFFFFFFFF)]
    try:
        os.setxattr(directory, DEFAULT, struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))
    except OSError as e:
        pytest.skip(f"no POSIX ACLs on this file system ({e})")


@pytest.fixture
def public():
    with public_tmp_dir() as d:
        yield d


def acls(path) -> set[str]:
    return {a for a in os.listxattr(path, follow_symlinks=False) if a in (ACCESS, DEFAULT)}


def test_a_file_written_into_a_directory_with_a_default_acl_is_not_readable_by_its_named_account(public):
    give_nobody_by_default(public)
    fsops.atomic_write(public / "keys", b"secret", 0o440, 0, 0)
    assert acls(public / "keys") == set()
    r = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(public / "keys")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr and "secret" not in r.stdout


def test_directories_made_pass_nothing_on(public):
    give_nobody_by_default(public)
    fsops.make_dir(public / "ssh", 0o750, 0, 0)
    with fsops.new_private_dir(public / "private"):
        pass
    for d in ("ssh", "private"):
        assert acls(public / d) == set(), d
    fsops.atomic_write(public / "ssh/key", b"secret", 0o440, 0, 0)  # (nothing inherited below either)
    assert acls(public / "ssh/key") == set()
    r = subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(public / "ssh")], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_a_system_install_under_directories_with_default_acls_makes_nothing_with_an_acl(tmp_path, sample_dists):
    root = host_accounts_root(tmp_path / "root")
    premade = ("etc/ncs", "opt/ncs", "var/opt/ncs", "var/log")
    for d in premade:
        (root / d).mkdir(parents=True)
        os.chmod(root / d, 0o755)
        give_nobody_by_default(root / d)
    out = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso", "--json")
    made = [p for top in ("etc/ncs", "opt/ncs", "var/opt/ncs", "var/log/ncs", "var/lib/nso-install")
            for p in (root / top).rglob("*")]
    assert len(made) > 30
    assert [str(p) for p in made if acls(p)] == []
    # its audit finds no secret open; only what it did not make: /var/opt/ncs, made beforehand with the
    # default ACL that NSO's own files (CDB) will inherit
    said = json.loads(out.stdout)["warnings"]
    assert [w.split()[1] for w in said if w.startswith("audit: NSO-")] == ["NSO-PERM-007"], said
