"""Staged installs to audit: one real install per variant, restored before each test.

An install takes about a second; each test gets the variant's pristine tree back (``cp -a
--preserve=all``: owners, modes, times, file capabilities) at the very path it was installed
to, so the state's seal (which names the root) and the manifests stay valid.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import cli
from support import host_accounts_root
from support_audit import copy_tree

VARIANTS = {
    "nso": ("--run-as-user", "nso"),  # the production install the audit must find clean
    "root": (),  # NSO as root (no run-as user)
    "tcp": ("--run-as-user", "nso", "--set", "ipc.transport=tcp"),  # TCP IPC with the access check
    "http": ("--run-as-user", "nso", "--set", "webui.tcp.enabled=true"),  # plain HTTP on loopback
    "fips": ("--run-as-user", "nso", "--fips-install"),
}


class Staged:
    def __init__(self, base: Path, dist: Path):
        self.base, self.dist, self.made = base, dist, set()

    def get(self, variant: str = "nso") -> Path:
        """A fresh copy of the variant's install (installed on first use, inside the test, so the
        test session's seal key applies)."""
        root, pristine = self.base / variant / "root", self.base / variant / "pristine"
        if variant not in self.made:
            host_accounts_root(root)
            cli("install", self.dist, "--system-install", "--root", root, *VARIANTS[variant])
            copy_tree(root, pristine)
            self.made.add(variant)
        else:
            shutil.rmtree(root)
            copy_tree(pristine, root)
        return root


@pytest.fixture(scope="session")
def staged(tmp_path_factory, sample_dists):
    if os.geteuid() != 0:
        pytest.skip("installs with owners, setuid bits and capabilities (root only)")
    return Staged(tmp_path_factory.mktemp("audit"), sample_dists["tar.gz"])
