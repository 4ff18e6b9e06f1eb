"""Top-level directories that are symbolic links (``/var/opt/ncs -> /data/ncs-run``, ``/opt ->
/data/opt``), common on servers: accepted when only root could have made or could redirect
them, refused before anything changes otherwise (as root, under --root)."""

from __future__ import annotations

import os
import stat

import pytest
from support import cli, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets owners (root only)")
NOBODY = 65534


@pytest.fixture
def dist(sample_dists):
    return sample_dists["tar.gz"]


def install(dist, root, *args, ok=True):
    return cli("install", dist, "--system-install", "--root", root, *args, ok=ok)


def link(root, path, to):
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(to, root / path)


def test_a_root_owned_run_dir_link_is_kept_and_the_real_directory_managed(root, dist):
    (root / "data/ncs-run").mkdir(parents=True)
    link(root, "var/opt/ncs", "/data/ncs-run")
    r = install(dist, root, "--run-as-user", "nso")
    assert "through the link to /data/ncs-run" in r.output
    assert os.readlink(root / "var/opt/ncs") == "/data/ncs-run" and os.lstat(root / "var/opt/ncs").st_uid == 0
    real = os.stat(root / "data/ncs-run")
    nso_uid = next(int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()
                   if line.startswith("nso:"))
    assert (stat.S_IMODE(real.st_mode), real.st_uid) == (0o750, nso_uid)
    assert (root / "data/ncs-run/cdb/aaa_init.xml").is_file()
    assert "NCS_RUN_DIR=/var/opt/ncs\n" in (root / "etc/ncs/ncs.systemd.conf").read_text()  # the configured path
    before = snapshot(root)
    again = install(dist, root)
    assert "Done: 0 changed" in again.output and snapshot(root) == before


def test_a_root_owned_link_above_the_install_dir_is_followed(root, dist):
    (root / "data/opt").mkdir(parents=True)
    link(root, "opt", "/data/opt")
    install(dist, root)
    assert (root / "data/opt/ncs/ncs-6.5.3/VERSION").is_file() and os.readlink(root / "opt") == "/data/opt"
    assert "Done: 0 changed" in install(dist, root).output


@pytest.mark.parametrize("how, reference", [
    ("link owned by nobody", "unsafe-directory-link"),
    ("target's parent owned by nobody", "unsafe-directory-link"),
    ("target's parent group-writable", "unsafe-directory-link"),
    ("target missing", "directory-link-target-missing"),
    ("target is a file", "unsafe-directory-link"),
])
def test_a_link_another_account_could_redirect_is_refused_before_anything(root, dist, how, reference):
    (root / "data/ncs-run").mkdir(parents=True)
    link(root, "var/opt/ncs", "/data/ncs-run")
    if how == "link owned by nobody":
        os.lchown(root / "var/opt/ncs", NOBODY, NOBODY)
    elif how == "target's parent owned by nobody":
        os.chown(root / "data", NOBODY, NOBODY)
    elif how == "target's parent group-writable":
        os.chmod(root / "data", 0o775)
    elif how == "target missing":
        os.rmdir(root / "data/ncs-run")
    elif how == "target is a file":
        os.rmdir(root / "data/ncs-run")
        (root / "data/ncs-run").write_text("x")
    before = snapshot(root)
    r = install(dist, root, "--json", ok=False)
    assert r.exit_code != 0 and f'"{reference}"' in r.output, r.output
    assert "--run-dir" in r.output
    assert snapshot(root) == before


def test_a_link_into_the_system_or_another_directory_is_refused(root, dist):
    link(root, "var/opt/ncs", "/etc")
    before = snapshot(root)
    r = install(dist, root, ok=False)
    assert r.exit_code == 2 and "through symbolic links (/var/opt/ncs -> /etc)" in r.stderr
    assert snapshot(root) == before


def test_check_shows_the_link(root, dist):
    (root / "data/ncs-run").mkdir(parents=True)
    link(root, "var/opt/ncs", "/data/ncs-run")
    before = snapshot(root)
    r = install(dist, root, "--check")
    assert "/var/opt/ncs" in r.output and "through the link to /data/ncs-run" in r.output
    assert snapshot(root) == before


def test_day2_commands_see_through_a_linked_install_dir(root, dist):
    (root / "data/ncs").mkdir(parents=True)
    link(root, "opt/ncs", "/data/ncs")
    install(dist, root)
    assert "* 6.5.3" in cli("status", "--root", root).output
    assert "1 tree(s) checked, 0 problem(s)" in cli("verify", "--root", root).output
    r = cli("uninstall", "--all", "--root", root)
    assert "remove everything in /data/ncs (where the link leads) and the link" in r.output
    assert not os.path.lexists(root / "opt/ncs") and os.listdir(root / "data/ncs") == []


@pytest.mark.parametrize("flag, path", [("--log-dir", "var/log/ncs"), ("--run-dir", "var/opt/ncs"), ("--config-dir", "etc/ncs")])
def test_a_file_where_a_directory_goes_is_named_by_its_option_before_anything(root, dist, flag, path):
    """The message named a path nobody gave ("/var/log/ncs/x: parent /var/log/ncs is not a
    directory": the probe below the directory that resolves its links), not the option (found by
    review)."""
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text("a file\n")
    before = snapshot(root)
    for check in ((), ("--check",)):
        r = install(dist, root, *check, ok=False)
        assert r.exit_code == 1
        assert f"Error: {flag} /{path}: /{path} exists and is not a directory." in r.stderr, r.stderr
        assert f"give {flag} another directory" in r.stderr and "/x" not in r.stderr
    assert snapshot(root) == before
