import pytest

from nso_install.sample import make_sample_distribution


@pytest.fixture(scope="session")
def sample_dists(tmp_path_factory):
    """One fake NSO 6.5.3 distribution per format, built once per session."""
    d = tmp_path_factory.mktemp("dists")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt)
            for fmt in ("dir", "tar.gz", "tar", "installer.bin", "signed.bin")}


@pytest.fixture(autouse=True)
def private_seal_key(tmp_path_factory, monkeypatch):
    """Runs in this process seal their records with a key of the test session, not the host's
    /var/lib/nso-install/seal.key (tests that run nso-install as a subprocess use the host's)."""
    from nso_install import state

    monkeypatch.setattr(state, "SEAL_KEY", str(tmp_path_factory.getbasetemp() / "seal" / "seal.key"))
