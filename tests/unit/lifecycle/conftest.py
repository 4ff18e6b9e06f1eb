"""Fixtures of the day-2 tests: a private staging root with the host's accounts, and two
sample distributions (6.4.1 and 6.5.3)."""

from __future__ import annotations

import pytest
from support import host_accounts_root

from nso_install.sample import make_sample_distribution


@pytest.fixture
def root(tmp_path):
    return host_accounts_root(tmp_path / "root")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    d = tmp_path_factory.mktemp("dists")
    return {v: make_sample_distribution(d, v, "tar.gz") for v in ("6.4.1", "6.5.3")}
