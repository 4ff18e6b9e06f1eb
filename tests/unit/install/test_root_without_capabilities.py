"""Root without the capabilities nso-install relies on (a container started with --cap-drop):
a clear error that says so, not "unexpected PermissionError ... a bug in nso-install"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from support import cli, host_accounts_root

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv (util-linux)")


def test_a_root_without_dac_override_is_told_so(tmp_path, sample_dists):
    root = host_accounts_root(tmp_path / "r")
    args = ["install", str(sample_dists["tar.gz"]), "--system-install", "--root", str(root), "--run-as-user", "nso"]
    cli(*args)
    r = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search,-chown,-fowner", "--inh-caps=-all",
                        sys.executable, "-m", "nso_install", *args], capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "runs as root without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER" in r.stderr
    assert "a bug" not in r.stderr
