"""Two runs on one target at once: a run that waits for the lock (--lock-timeout) decides on the
install as the run that held it left it, never on what it read before it waited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from support import cli, off_3des

from nso_install import state as state_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")


def slowed(tmp_path, module: str, name: str, *args) -> subprocess.Popen:
    """``nso-install ARGS`` in a child process that sleeps (holding what it holds) at the first
    call of ``module.name`` (``name``: a function, or ``Class.method``); returned once it sleeps there."""
    ready = tmp_path / "slowed-ready"
    script = textwrap.dedent(f"""
        import importlib, sys, time
        from nso_install import state
        state.SEAL_KEY = {state_module.SEAL_KEY!r}
        owner = importlib.import_module({module!r})
        *owners, name = {name!r}.split(".")
        for o in owners:  # (a method: Class.name)
            owner = getattr(owner, o)
        real = getattr(owner, name)
        def slow(*a, **kw):
            if not getattr(slow, "done", False):
                slow.done = True
                open({str(ready)!r}, "w").close()
                time.sleep(3)
            return real(*a, **kw)
        setattr(owner, name, slow)
        from nso_install.cli import main
        main(sys.argv[1:])
    """)
    p = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()[0]
        time.sleep(0.05)
    return p


def finished(p: subprocess.Popen) -> str:
    out = p.communicate(timeout=300)[0]
    assert p.returncode == 0, out
    return out


@pytest.fixture
def two(root, dists):
    """6.4.1 installed and active, 6.5.3 installed beside it."""
    cli("install", dists["6.4.1"], "--system-install", "--root", root)
    cli("install", dists["6.5.3"], "--system-install", "--root", root)
    return off_3des(root)


def status(root) -> dict:
    return json.loads(cli("status", "--root", root, "--json").output)


def test_uninstall_waiting_for_the_lock_does_not_remove_the_version_just_activated(tmp_path, two, dists):
    """uninstall 6.5.3 (not active when it started) waited for an install --activate of 6.5.3,
    then removed the tree current had just been switched to: current was left dangling."""
    p = slowed(tmp_path, "nso_install.run", "apply", "install", dists["6.5.3"], "--system-install", "--activate",
               "--root", two)
    r = cli("uninstall", "6.5.3", "--root", two, "--lock-timeout", "120", ok=False)
    finished(p)
    assert r.exit_code == 2 and "NSO 6.5.3 is the active version" in r.output, r.output
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3" and (two / "opt/ncs/ncs-6.5.3/VERSION").is_file()


def test_uninstall_waiting_for_the_lock_keeps_the_records_the_other_run_saved(tmp_path, two, dists):
    """uninstall 6.4.1 saved the state it had read before it waited: the switch to 6.5.3 another
    run recorded meanwhile, and the ncs.conf it rendered, were forgotten (status then called
    ncs.conf edited, and rollback had nothing to go back to)."""
    cli("activate", "6.5.3", "--root", two)  # 6.5.3 active, 6.4.1 the one to roll back to
    cli("install", dists["6.4.1"], "--system-install", "--root", two)
    p = slowed(tmp_path, "nso_install.run", "apply", "rollback", "--root", two)
    cli("uninstall", "6.5.3", "--root", two, "--lock-timeout", "120", "--force", ok=False)
    finished(p)
    s = status(two)
    assert [(v["version"], v["active"]) for v in s["versions"]] == [("6.4.1", True)], s
    assert s["edited"] == [] and s["rolled_back_from"] == "6.5.3", s


def test_activate_waiting_for_the_lock_does_not_switch_on_what_it_judged_before(tmp_path, two, dists):
    """activate 6.4.1 judged "already active" (so no downgrade refusal) and then waited for an
    install --activate of 6.5.3: it then switched 6.5.3 back to 6.4.1 over CDB data without
    --force, a downgrade activate refuses."""
    cdb = two / "var/opt/ncs/cdb"
    cdb.mkdir(parents=True, exist_ok=True)
    (cdb / "A.cdb").write_bytes(b"data")
    p = slowed(tmp_path, "nso_install.run", "apply", "install", dists["6.5.3"], "--system-install", "--activate",
               "--root", two)
    r = cli("activate", "6.4.1", "--root", two, "--lock-timeout", "120", ok=False)
    finished(p)
    assert r.exit_code != 0 and "switched /opt/ncs/current (from ncs-6.4.1 to ncs-6.5.3)" in r.output, r.output
    assert f"See nso-install status --root {two}, then" in r.output, r.output  # (bare: the host's install)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    r = cli("activate", "6.4.1", "--root", two, ok=False)  # as judged now: the downgrade refused
    assert "cdb-downgrade" in r.output or "older than the active 6.5.3" in r.output, r.output


def test_a_second_rollback_waiting_for_the_lock_does_not_act_on_the_first_ones_past(tmp_path, two):
    cli("activate", "6.5.3", "--root", two)
    p = slowed(tmp_path, "nso_install.run", "apply", "rollback", "--root", two)
    r = cli("rollback", "--root", two, "--lock-timeout", "120", ok=False)
    finished(p)
    assert "while this one waited for the lock" in r.output, r.output
    s = status(two)
    assert s["active"] == "6.4.1" and s["rolled_back_from"] == "6.5.3", s


def test_keys_rotate_waiting_for_the_lock_judges_the_keys_for_the_version_activated_meanwhile(tmp_path, two, dists):
    """keys rotate took the active version (6.4.1, which still has 3DES) before it waited for an
    install --activate of 6.5.3, and then added a generation judged for 6.4.1 to a file that
    6.5.3 refuses (its 3DES key): now it judges the file for 6.5.3, and refuses it unchanged.
    (The switch to 6.5.3 with 3DES keys is itself refused unless forced.)"""
    keys = two / "etc/ncs/ncs.crypto_keys"
    keys.write_bytes(keys.read_bytes() + b"DES3CBC_KEY1=" + b"ab" * 8 + b"\n")  # (6.4.1's, still there)
    before = keys.read_bytes()
    p = slowed(tmp_path, "nso_install.run", "apply", "activate", "6.5.3", "--force", "--root", two)
    r = cli("keys", "rotate", "--root", two, "--lock-timeout", "120", ok=False)
    finished(p)
    assert r.exit_code != 0 and "not a valid keys file for NSO 6.5.3" in r.output, r.output
    assert keys.read_bytes() == before


def test_status_and_verify_say_a_run_is_in_progress_not_that_it_did_not_finish(tmp_path, two, dists):
    """While an install held the lock half way (its marker written), status and verify said it
    "did not finish" and told to re-run it "to complete it" (a re-run is refused: locked), and
    install --check said that running it "completes it". The audit said nothing of it."""
    p = slowed(tmp_path, "nso_install.state", "State.record_activation", "install", dists["6.5.3"],
               "--system-install", "--activate", "--root", two)
    try:
        s = status(two)["unfinished"]
        v = cli("verify", "--root", two, ok=False).output
        c = cli("install", dists["6.5.3"], "--system-install", "--activate", "--root", two, "--check").output
        a = json.loads(cli("audit", "--root", two, "--json", ok=False).stdout)["notes"]
    finally:
        finished(p)
    assert any("findings may change" in n for n in a), a
    a = next(n for n in a if "findings may change" in n)
    assert "running this command completes it" not in c, c
    for said in (s, v, c, a):
        assert "a run is in progress (nso-install install of NSO 6.5.3" in said and "did not finish" not in said, said
    assert status(two)["unfinished"] is None


def test_telling_a_run_in_progress_takes_no_lock(tmp_path, two, dists, monkeypatch):
    """status and verify told a run in progress by taking its lock for an instant: a run starting
    just then failed as locked (exit 3).  The kernel's lock table is read instead: here with
    flock itself failing, the run in progress is still told."""
    import fcntl

    p = slowed(tmp_path, "nso_install.state", "State.record_activation", "install", dists["6.5.3"],
               "--system-install", "--activate", "--root", two)
    try:
        def no_flock(*a):
            raise AssertionError("flock called while telling whether a run is in progress")

        with monkeypatch.context() as mp:
            mp.setattr(fcntl, "flock", no_flock)
            s = status(two)["unfinished"]
    finally:
        finished(p)
    assert s.startswith("a run is in progress (nso-install install of NSO 6.5.3"), s


def test_activate_waiting_for_the_lock_while_its_version_is_uninstalled_says_so(tmp_path, two):
    """activate 6.5.3 found the tree, then waited for an uninstall of 6.5.3: it said the tree
    "cannot be restored from itself" and to run install with the distribution."""
    p = slowed(tmp_path, "nso_install.lifecycle.uninstall", "apply", "uninstall", "6.5.3", "--root", two)
    r = cli("activate", "6.5.3", "--root", two, "--lock-timeout", "120", ok=False)
    finished(p)
    assert "NSO 6.5.3 (" in r.output and "is no longer installed: another nso-install run removed it" in r.output, \
        r.output
    assert f"See nso-install status --root {two};" in r.output, r.output
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
