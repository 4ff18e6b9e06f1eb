"""A distribution of an NSO release outside those whose documentation nso-install follows
(versions.KNOWN_RELEASES) installs, and says which release's facts it took instead."""

from __future__ import annotations

import pytest
from support import cli

from nso_install.sample import make_sample_distribution
from nso_install.versions import KNOWN_RELEASES, unknown_release_note


@pytest.mark.parametrize("version,said", [("7.0", "newer"), ("6.10.1", "newer"), ("6.0.5", "older"),
                                          ("6.1", None), ("6.7.1", None), ("6.5.3_251103.123", None)])
def test_a_release_outside_the_known_ones_is_named(version, said):
    note = unknown_release_note(version)
    if said is None:
        assert note is None
    else:
        assert note.startswith(f"NSO {version} is {said} than the releases nso-install knows (6.1 to 6.7)"), note


def test_the_known_releases_are_those_of_the_release_table():
    """The range said in the note is the one the ncs.conf release table was made from."""
    from importlib.resources import files

    header = files("nso_install.data").joinpath("ncs-conf-versions.tsv").read_text().splitlines()[0]
    oldest, newest = (".".join(map(str, r)) for r in KNOWN_RELEASES)
    assert f"NSO release {oldest}-{newest}" in header, header


def test_an_install_of_a_newer_release_says_so_on_every_run(tmp_path):
    dist = make_sample_distribution(tmp_path / "d", "7.0", "tar.gz")
    for changed in ("10 changed", "0 changed"):
        out = cli("install", dist, "--local-install", tmp_path / "nso").output
        assert f"Done: {changed}" in out and "NSO 7.0 is newer than the releases nso-install knows" in out, out
