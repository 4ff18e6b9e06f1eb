"""The nso_install.nso.node role against the real nso-install, staged under a root on localhost:
what an operator's check mode, real run and re-run of the fleet and ha_upgrade playbooks do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from collection_support import playbook, task_states

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
