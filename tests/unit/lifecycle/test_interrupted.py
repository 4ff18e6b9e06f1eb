"""Runs killed or failing half way (as root, staged): the records they leave agree with the disk.

A kill is simulated in a child process that runs the command line and ends with ``os._exit``
at a chosen step (nothing after it runs: no ``finally``, no state save); an error (a full
disk) by raising ``OSError(ENOSPC)`` at that step in this process."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest
from support import cli, host_accounts_root

from nso_install import state as state_module
from nso_install.sample import make_sample_distribution

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

STATE = "var/lib/nso-install/state.json"


@pytest.fixture
def root(tmp_path):
    return host_accounts_root(tmp_path / "root")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    d = tmp_path_factory.mktemp("dists")
    return {v: make_sample_distribution(d, v, "tar.gz") for v in ("6.4.1", "6.5.3")}


@pytest.fixture
def two(root, dists):
    """6.4.1 installed and active, 6.5.3 installed beside it."""
    cli("install", dists["6.4.1"], "--system-install", "--root", root)
    cli("install", dists["6.5.3"], "--system-install", "--root", root)
    return root


def js(*args, ok=True):
    return json.loads(cli(*args, "--json", ok=ok).stdout)


def killed(module: str, name: str, after: bool, *args) -> int:
    """Run ``nso-install ARGS`` in a child process killed (``os._exit(137)``) when it calls
    ``module.name``: right after the call (``after``) or instead of it.  The child seals with
    this test session's key, as the runs in this process do."""
    script = textwrap.dedent(f"""
        import os, sys
        import importlib
        from nso_install import state
        state.SEAL_KEY = {state_module.SEAL_KEY!r}
        mod = importlib.import_module({module!r})
        real = getattr(mod, {name!r})
        def stop(*a, **kw):
            if {after!r}:
                real(*a, **kw)
            os._exit(137)
        setattr(mod, {name!r}, stop)
        from nso_install.cli import main
        main(sys.argv[1:])
    """)
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    return r.returncode


def _failing_after(monkeypatch, module, name):
    real = getattr(module, name)

    def fail(*a, **kw):
        real(*a, **kw)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, name, fail)


# --- finding 4: the rollback record survives a run stopped right after the switch ----------------

@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_run_stopped_right_after_the_switch_keeps_what_rollback_needs(two, how, monkeypatch):
    if how == "kill":
        assert killed("nso_install.fsops", "atomic_symlink", True, "activate", "6.5.3", "--root", two) == 137
    else:
        from nso_install import fsops

        _failing_after(monkeypatch, fsops, "atomic_symlink")
        assert cli("activate", "6.5.3", "--root", two, ok=False).exit_code == 1
        monkeypatch.undo()
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    status = js("status", "--root", two)
    assert status["active"] == "6.5.3" and status["previous"] == "6.4.1"
    assert "rollback would go back to 6.4.1" in cli("status", "--root", two).output
    # the re-run completes the switch and says what to do next, as the first run would have
    again = cli("activate", "6.5.3", "--root", two)
    assert "interrupted" in again.output and "package reload" in again.output
    assert "already the active version" not in again.output
    assert [(a["from"], a["to"], a.get("pending")) for a in json.loads((two / STATE).read_text())["activations"]] \
        == [(None, "6.4.1", None), ("6.4.1", "6.5.3", None)]
    cli("rollback", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert js("status", "--root", two)["previous"] == "6.5.3"


def test_a_run_killed_before_the_switch_records_no_switch(two, dists):
    assert killed("nso_install.fsops", "atomic_symlink", False, "activate", "6.5.3", "--root", two) == 137
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert js("status", "--root", two)["previous"] is None
    assert cli("rollback", "--root", two, ok=False).exit_code == 2
    cli("install", dists["6.4.1"], "--system-install", "--root", two)  # ends well without a switch
    assert [(a["from"], a["to"]) for a in json.loads((two / STATE).read_text())["activations"]] == [(None, "6.4.1")]
    cli("activate", "6.5.3", "--root", two)
    assert js("status", "--root", two)["previous"] == "6.4.1"
