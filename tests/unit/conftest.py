import pytest
from support import host_accounts_root

from nso_install.sample import make_sample_distribution


@pytest.fixture(scope="session")
def sample_dists(tmp_path_factory):
    """One fake NSO 6.5.3 distribution per format, built once per session."""
    d = tmp_path_factory.mktemp("dists")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt)
            for fmt in ("dir", "tar.gz", "tar", "installer.bin", "signed.bin")}


@pytest.fixture
def root(tmp_path):
    """A private staging root holding copies of this host's account files (a module may have its own)."""
    return host_accounts_root(tmp_path / "root")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """Fake NSO 6.4.1 and 6.5.3 distributions (tar.gz), once per module (a module may have its own)."""
    d = tmp_path_factory.mktemp("dists")
    return {v: make_sample_distribution(d, v, "tar.gz") for v in ("6.4.1", "6.5.3")}


@pytest.fixture(autouse=True)
def private_seal_key(tmp_path_factory, monkeypatch):
    """Runs in this process seal their records with a key of the test session, not the host's
    /var/lib/nso-install/seal.key (tests that run nso-install as a subprocess use the host's)."""
    from nso_install import state

    monkeypatch.setattr(state, "SEAL_KEY", str(tmp_path_factory.getbasetemp() / "seal" / "seal.key"))
