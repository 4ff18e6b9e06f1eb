"""The nso_install.nso.node role against the real nso-install, staged under a root on localhost:
what an operator's check mode, real run and re-run of the fleet and ha_upgrade playbooks do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from collection_support import playbook, task_states
from support import off_3des

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)"),
              pytest.mark.timeout(300)]
EXE = Path(sys.executable).parent / "nso-install"


def node_play(root: Path, dist: Path, dist_dir: Path, **extra) -> list[dict]:
    return [{"hosts": "localhost", "gather_facts": False,
             "vars": {"nso_install_tool": False, "nso_install_executable": str(EXE), "nso_root": str(root),
                      "nso_dist": str(dist), "nso_remote_dist_dir": str(dist_dir), "nso_init_system": "none",
                      "nso_run_as_user": "", "nso_audit_skip": ["NSO-USER-001"], **extra},
             "roles": ["nso_install.nso.node"]}]


def test_check_mode_of_an_upgrade_whose_distribution_is_not_on_the_host_yet(tmp_path, root, dists):
    """--check of an upgrade: the copy of the new distribution is not done in check mode, so the
    install cannot read it; the role reports the install as a change instead of failing, and
    writes nothing."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    subprocess.run([str(EXE), "install", str(dists["6.4.1"]), "--system-install", "--root", str(root), "-q",
                    "--init-system", "none"], check=True, capture_output=True)
    dist_dir = tmp_path / "dist-on-host"
    r = playbook(tmp_path, node_play(root, dists["6.5.3"], dist_dir, nso_activate=True), "--check")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    states = task_states(r, "node")
    assert states["Install NSO (check mode; the distribution is not on the host yet)"] == "changed", states
    assert states["Install NSO"] == "skipping" and states["Verify the install"] == "skipping", states
    assert not dist_dir.exists() and os.readlink(root / "opt/ncs/current") == "ncs-6.4.1"


def test_a_directory_for_the_distribution_another_account_made_is_refused(tmp_path):
    """nso_remote_dist_dir made first by another account (in a shared, sticky directory such as
    /var/tmp) could hold, at the distribution's name, a directory of that account's: the copy
    would go inside it and root would install that account's tree. The role refuses the
    directory instead of taking it over, and installs nothing."""
    from collection_support import Fake

    fake = Fake(tmp_path / "bin")
    shared = tmp_path / "var-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    dist_dir = shared / "nso-install-dist"
    planted = dist_dir / "nso-6.5.3.linux.x86_64.tar.gz"
    planted.mkdir(parents=True)
    for d in (dist_dir, planted):
        d.chmod(0o777)
        os.chown(d, 65534, 65534)
    dist = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    dist.write_bytes(b"the operator's distribution")
    r = playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False,
                             "vars": {"nso_install_tool": False, "nso_install_executable": str(fake.path),
                                      "nso_dist": str(dist), "nso_remote_dist_dir": str(dist_dir)},
                             "roles": ["nso_install.nso.node"]}])
    assert r.returncode != 0 and "another account could have put there" in r.stdout, r.stdout[-3000:]
    assert fake.calls == [] and os.stat(dist_dir).st_uid == 65534 and list(planted.iterdir()) == []


def test_the_default_directory_for_the_distribution_is_not_in_a_shared_one():
    import yaml
    from collection_support import COLLECTION

    default = yaml.safe_load((COLLECTION / "roles/node/defaults/main.yml").read_text())["nso_remote_dist_dir"]
    for d in Path(default).parents:
        if d.exists():
            assert not os.stat(d).st_mode & 0o022, f"{default}: {d} is writable by others"


@pytest.mark.parametrize("given", [{}, {"nso_dist": "", "nso_distribution": None}])
def test_without_a_distribution_the_role_says_so_before_anything(tmp_path, given):
    """Neither nso_dist nor nso_distribution: the role made nso_remote_dist_dir (and ran the tool
    role), then failed with Ansible's own "src (or content) is required" (found by review)."""
    from collection_support import Fake

    fake = Fake(tmp_path / "bin")
    dist_dir = tmp_path / "dist-on-host"
    r = playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False,
                             "vars": {"nso_install_executable": str(fake.path), "nso_remote_dist_dir": str(dist_dir),
                                      "nso_install_wheelhouse": str(tmp_path / "no-wheels"), **given},
                             "roles": ["nso_install.nso.node"]}])
    assert r.returncode != 0 and "No NSO distribution given: set nso_dist" in r.stdout, r.stdout[-3000:]
    assert "src (or content) is required" not in r.stdout
    assert task_states(r, "node") == {"Check that a distribution is given": "fatal"}
    assert fake.calls == [] and not dist_dir.exists()


def test_an_upgrade_shows_what_the_tool_says_is_left_to_do(tmp_path, root, dists):
    """The tool's notes (restart NSO with a package reload after the switch) were only in the
    install task's result, which ansible-playbook shows with -v: a fleet upgrade said nothing of
    them. The role shows them when the install changed something; a re-run shows none."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    subprocess.run([str(EXE), "install", str(dists["6.4.1"]), "--system-install", "--root", str(root), "-q",
                    "--init-system", "none"], check=True, capture_output=True)
    off_3des(root)
    play = node_play(root, dists["6.5.3"], tmp_path / "dist-on-host", nso_activate=True)
    r = playbook(tmp_path, play)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert task_states(r, "node")["Notes of the install"] == "ok", r.stdout[-5000:]
    assert "NSO 6.5.3 is now active. Restart NSO with a package reload" in r.stdout, r.stdout[-5000:]
    again = playbook(tmp_path, play)
    assert again.returncode == 0 and task_states(again, "node")["Notes of the install"] == "skipping", \
        again.stdout[-5000:]
