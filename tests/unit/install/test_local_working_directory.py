"""A local install run from inside its own directory (``cd ~/nso && nso-install install DIST .``,
or a repair from inside the tree): the tree is unpacked beside DIR and renamed into its place, so
the shell that ran nso-install is left in the removed directory, where ``. ./ncsrc`` fails. The
run says so, and how to get out (found by review: nothing said it, the directory just looked empty)."""

from __future__ import annotations

import os

import pytest
from support import as_nobody, cli

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs as nobody (root only)")


def test_installing_into_the_working_directory_says_the_shell_must_cd_again(home, monkeypatch):
    home, dist = home
    nso = home / "nso"
    with as_nobody():
        nso.mkdir(mode=0o700)
        monkeypatch.chdir(nso)
        r = cli("install", dist, ".")
        assert f"{nso} was the working directory of this run" in r.output, r.output
        assert f"cd {nso} to see the new one" in r.output
        assert os.listdir(".") == [] and (nso / "ncsrc").is_file()  # (why the note: the old one is gone)
        os.chdir(nso)  # as the note says
        assert os.path.isfile("ncsrc")

        r = cli("install", dist, ".")  # nothing replaced: nothing to say
        assert "working directory" not in r.output and "0 changed" in r.output, r.output

        with open(nso / "doc" / "README", "a") as f:  # damaged: the repair exchanges the trees
            f.write("x")
        r = cli("install", dist, ".")
        assert "was repaired" in r.output and "the repaired tree took its place" in r.output, r.output
        assert os.listdir(".") == []
        os.chdir(home)
        with open(nso / "doc" / "README", "a") as f:
            f.write("x")
        r = cli("install", dist, nso)  # a repair run from elsewhere: no note
        assert "was repaired" in r.output and "working directory" not in r.output, r.output
