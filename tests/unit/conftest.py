import pytest

from nso_install.sample import make_sample_distribution


@pytest.fixture(scope="session")
def sample_dists(tmp_path_factory):
    """One fake NSO 6.5.3 distribution per format, built once per session."""
    d = tmp_path_factory.mktemp("dists")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt)
            for fmt in ("dir", "tar.gz", "tar", "installer.bin", "signed.bin")}
