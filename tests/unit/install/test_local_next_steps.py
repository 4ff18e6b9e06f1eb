"""A first local install says how to go on, as a first system install does (found by review: it
said nothing, not even that ncsrc is to be sourced), and what it says works when pasted into the
shells it names, as the account that installed it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from support import as_nobody, cli, forget_template_cache

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs as nobody (root only)")


def test_a_first_local_install_says_how_to_source_and_start_it_and_that_works(home):
    home, dist = home
    nso = home / "nso-6.5.3"
    try:
        with as_nobody():
            first = cli("install", dist, "--local-install", nso)
            again = cli("install", dist, "--local-install", nso)
    finally:
        forget_template_cache()
    out = " ".join(first.output.split())
    assert f"NSO 6.5.3 is installed in {nso}, not started" in out, first.output
    assert "ncs-setup --dest $HOME/ncs-run; cd $HOME/ncs-run; ncs." in out
    # (ncs reads ./ncs.conf first, ncs-setup's with NSO's fixed example keys: the rendered one by -c)
    assert f"start it with ncs -c {nso}/etc/ncs/ncs.conf in that directory" in out
    assert "not started" not in again.output and "0 changed" in again.output  # said once
    for shell, how in (("sh", r"\. (\S+/ncsrc) "), ("bash", r"\. (\S+/ncsrc) "),
                       ("tcsh", r"source (\S+/ncsrc\.tcsh)\)")):
        if not shutil.which(shell):
            continue
        line = re.search(how, out)[1]
        pasted = f"{'source' if shell == 'tcsh' else '.'} {line}; echo $NCS_DIR; which ncs"
        r = subprocess.run(["runuser", "-u", "nobody", "--", shell, "-c", pasted],
                           capture_output=True, text=True, cwd=home)
        assert r.returncode == 0 and r.stdout.split() == [str(nso), f"{nso}/bin/ncs"], (shell, r)
