"""Runs killed or failing half way (as root, staged): the records they leave agree with the disk.

A kill is simulated in a child process that runs the command line and ends with ``os._exit``
at a chosen step (nothing after it runs: no ``finally``, no state save); an error (a full
disk) by raising ``OSError(ENOSPC)`` at that step in this process."""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
import textwrap

import pytest
from support import cli, host_accounts_root, off_3des, snapshot

from nso_install import state as state_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

STATE = "var/lib/nso-install/state.json"


@pytest.fixture
def two(root, dists):
    """6.4.1 installed and active, 6.5.3 installed beside it."""
    cli("install", dists["6.4.1"], "--system-install", "--root", root)
    cli("install", dists["6.5.3"], "--system-install", "--root", root)
    return off_3des(root)


def js(*args, ok=True):
    return json.loads(cli(*args, "--json", ok=ok).stdout)


def killed(module: str, name: str, after: bool, *args) -> int:
    """Run ``nso-install ARGS`` in a child process killed (``os._exit(137)``) when it calls
    ``module.name`` (``name`` may be ``Class.method``): right after the call (``after``) or
    instead of it.  The child seals with
    this test session's key, as the runs in this process do."""
    script = textwrap.dedent(f"""
        import os, sys
        import importlib
        from nso_install import state
        state.SEAL_KEY = {state_module.SEAL_KEY!r}
        owner = importlib.import_module({module!r})
        *path, attr = {name!r}.split(".")
        for p in path:
            owner = getattr(owner, p)
        real = getattr(owner, attr)
        def stop(*a, **kw):
            if {after!r}:
                real(*a, **kw)
            os._exit(137)
        setattr(owner, attr, stop)
        from nso_install.cli import main
        main(sys.argv[1:])
    """)
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    return r.returncode


def _failing_after(mp, module, name):
    real = getattr(module, name)

    def fail(*a, **kw):
        real(*a, **kw)
        raise OSError(errno.ENOSPC, "No space left on device")

    mp.setattr(module, name, fail)


# --- finding 4: the rollback record survives a run stopped right after the switch ----------------

@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_run_stopped_right_after_the_switch_keeps_what_rollback_needs(two, how):
    if how == "kill":
        assert killed("nso_install.fsops", "atomic_symlink", True, "activate", "6.5.3", "--root", two) == 137
    else:
        from nso_install import fsops

        with pytest.MonkeyPatch.context() as mp:  # (not the fixture: its undo would undo the seal key's too)
            _failing_after(mp, fsops, "atomic_symlink")
            assert cli("activate", "6.5.3", "--root", two, ok=False).exit_code == 1
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
    status = js("status", "--root", two)
    assert (status["previous"], status["rolled_back_from"]) == (None, "6.5.3")


def test_a_rollback_stopped_right_after_the_switch_is_completed_by_its_re_run_not_undone(two):
    """The re-run of an interrupted rollback completes it (and stays a rollback): it does not
    take the interrupted switch for the last one and go forward again."""
    cli("activate", "6.5.3", "--root", two)
    assert killed("nso_install.fsops", "atomic_symlink", True, "rollback", "--root", two) == 137
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    again = cli("rollback", "--root", two)
    assert "interrupted" in again.output and "already rolled back" not in again.output
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert [(a["from"], a["to"], a.get("pending"), a.get("rollback")) for a in
            json.loads((two / STATE).read_text())["activations"]][-1] == ("6.5.3", "6.4.1", None, True)
    assert "already rolled back from NSO 6.5.3" in cli("rollback", "--root", two).output
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"


def test_a_run_killed_before_the_switch_records_no_switch(two, dists):
    assert killed("nso_install.fsops", "atomic_symlink", False, "activate", "6.5.3", "--root", two) == 137
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert js("status", "--root", two)["previous"] is None
    assert cli("rollback", "--root", two, ok=False).exit_code == 2
    cli("install", dists["6.4.1"], "--system-install", "--root", two)  # ends well without a switch
    assert [(a["from"], a["to"]) for a in json.loads((two / STATE).read_text())["activations"]] == [(None, "6.4.1")]
    cli("activate", "6.5.3", "--root", two)
    assert js("status", "--root", two)["previous"] == "6.4.1"


# --- findings 6 and 7: a run stopped half way is told, completed, and in the history -------------

MARKER = "var/lib/nso-install/in-progress.json"
HISTORY = "var/lib/nso-install/history.jsonl"


def history(root):
    return [json.loads(line) for line in (root / HISTORY).read_text().splitlines()] if (root / HISTORY).exists() else []


def layout(root):
    """Paths, types and modes (not times) under root."""
    return {p: v[:2] for p, v in snapshot(root).items() if p != "."}


def stop_after_the_unpack(how: str, args) -> None:
    """Run ``nso-install ARGS`` and stop it right after the tree is unpacked: killed, or failing."""
    if how == "kill":
        assert killed("nso_install.actions.tree", "InstallTree.apply", True, *args) == 137
    else:
        from nso_install.actions.tree import InstallTree

        with pytest.MonkeyPatch.context() as mp:
            _failing_after(mp, InstallTree, "apply")
            assert cli(*args, ok=False).exit_code == 1


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_first_install_stopped_half_way_fails_verify_until_a_re_run_completes_it(root, dists, how, tmp_path):
    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    stop_after_the_unpack(how, args)
    assert (root / "opt/ncs/ncs-6.5.3/VERSION").exists() and not (root / "var/opt/ncs").exists()
    marker = json.loads((root / MARKER).read_text())
    assert marker["version"] == "6.5.3" and marker["command"] == "install"
    r = cli("verify", "--root", root, ok=False)
    assert r.exit_code == 1
    assert f"! install   /var/lib/nso-install/in-progress.json: the last run (nso-install install of NSO 6.5.3 " \
           f"from {dists['6.5.3']}" in r.output
    assert f"re-run nso-install install {dists['6.5.3']} --system-install --root {root}" in r.output
    text = cli("status", "--root", root).output
    assert "unfinished: the last run" in text and "options: none recorded yet" in text
    notes = json.loads(cli("audit", "--root", root, "--json", ok=False).stdout)["notes"]
    assert any(n.startswith("the last run (nso-install install of NSO 6.5.3") for n in notes), notes
    assert history(root) == []
    done = cli(*args)
    assert "this run completed it" in done.output
    assert not (root / MARKER).exists() and cli("verify", "--root", root).exit_code == 0
    assert "unfinished" not in cli("status", "--root", root).output
    [entry] = history(root)
    assert entry["completes"]["version"] == "6.5.3" and entry["changed"]
    # the same as an install never interrupted; then a re-run changes and writes nothing
    ref = host_accounts_root(tmp_path / "ref")
    cli(*args[:-1], ref)
    assert layout(root) == layout(ref)
    before = snapshot(root)
    assert "Done: 0 changed" in cli(*args).output and snapshot(root) == before


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_run_stopped_after_its_last_change_still_gets_its_history_line(root, dists, how):
    """Every change made and the state saved, the history line not written: the re-run changes
    nothing but writes that line (it said "0 changed" and the install never appeared in it)."""
    from nso_install.state import State

    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    if how == "kill":
        assert killed("nso_install.state", "State.append_history", False, *args) == 137
    else:
        def full(*a, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(State, "append_history", full)
            assert cli(*args, ok=False).exit_code == 1
    assert history(root) == [] and (root / MARKER).exists()
    assert cli("verify", "--root", root, ok=False).exit_code == 1
    r = cli(*args)
    assert "Done: 0 changed" in r.output and "this run completed it" in r.output, r.output
    [entry] = history(root)
    assert entry["completes"]["command"] == "install" and entry["changed"] == []
    assert not (root / MARKER).exists() and cli("verify", "--root", root).exit_code == 0
    before = snapshot(root)
    cli(*args)
    assert snapshot(root) == before and len(history(root)) == 1


def test_a_run_that_ends_well_leaves_no_marker_and_a_no_op_re_run_writes_none(two, dists):
    assert not (two / MARKER).exists()
    seen = []
    from nso_install.state import State

    real = State.begin_run

    def spy(self, info):
        seen.append(info)
        real(self, info)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(State, "begin_run", spy)
        cli("install", dists["6.5.3"], "--system-install", "--root", two)
        assert seen == []  # nothing to change: no marker written
        cli("activate", "6.5.3", "--root", two)
        assert [s["command"] for s in seen] == ["activate"]
    assert not (two / MARKER).exists()
    assert not any("secret" in json.dumps(s).lower() and "secret_names" not in json.dumps(s) for s in seen)


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_first_local_install_stopped_half_way_is_marked_until_a_re_run_completes_it(tmp_path, dists, how):
    """A local install's records live in the tree it unpacks (absent before the unpack): its
    marker is beside the directory, with its lock, written at the first change as for a system
    install; the completing re-run says so and writes the interrupted run's history line."""
    loc = tmp_path / "nso"
    marker = tmp_path / ".nso.nso-install-in-progress.json"
    args = ("install", dists["6.5.3"], "--local-install", loc)
    stop_after_the_unpack(how, args)
    assert (loc / "VERSION").exists() and not (loc / "etc/ncs/ncs.conf").exists()
    info = json.loads(marker.read_text())
    assert (info["kind"], info["local_dir"], info["version"]) == ("local", str(loc), "6.5.3")
    # verify and status of the local install tell it, as for a system install
    r = cli("verify", "--local-install", loc, ok=False)
    assert r.exit_code == 1 and f"! install   {marker}: " in r.output
    assert "unfinished: " in cli("status", "--local-install", loc).output
    assert "running this command completes it" in cli(*args, "--check").output
    assert "this run completed it" in cli(*args).output
    assert not marker.exists() and (loc / "etc/ncs/ncs.conf").exists()
    assert "unfinished" not in cli("status", "--local-install", loc).output
    assert "1 tree(s) checked, 0 problem(s)" in cli("verify", "--local-install", loc).output
    lines = (loc / ".nso-install/history.jsonl").read_text().splitlines()
    [entry] = [json.loads(line) for line in lines]
    assert entry["completes"]["version"] == "6.5.3" and entry["changed"]
    assert "Done: 0 changed" in cli(*args).output  # a no-op re-run: no marker, no history line
    assert not marker.exists() and (loc / ".nso-install/history.jsonl").read_text().splitlines() == lines


ASKED = ("--run-as-user", "nso", "--config-dir", "/etc/nso", "--profile", "development", "--set", "cli.ssh.port=2222")


def test_a_re_run_of_an_interrupted_first_install_without_its_options_takes_them_from_the_marker(root, dists, tmp_path):
    """No run ended well, so no spec is recorded: the marker's spec is the one remembered (given
    options win over it, as over a recorded spec)."""
    args = ("install", dists["6.5.3"], "--system-install")
    assert killed("nso_install.actions.tree", "InstallTree.apply", True, *args, *ASKED, "--root", root) == 137
    assert "spec" not in (json.loads((root / STATE).read_text()) if (root / STATE).exists() else {})
    assert "this run completed it" in cli(*args, "--root", root).output
    ref = host_accounts_root(tmp_path / "ref")
    cli(*args, *ASKED, "--root", ref)
    recorded = [json.loads((r / STATE).read_text())["spec"] for r in (root, ref)]
    assert recorded[0] == recorded[1] and recorded[0]["run_as_user"] == "nso"
    assert {p: v[:4] for p, v in snapshot(root).items()} == {p: v[:4] for p, v in snapshot(ref).items()}
    assert b"<port>2222</port>" in (root / "etc/nso/ncs.conf").read_bytes()


def test_options_given_to_the_re_run_win_over_the_marker(root, dists):
    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    from nso_install.actions.tree import InstallTree

    with pytest.MonkeyPatch.context() as mp:
        _failing_after(mp, InstallTree, "apply")
        assert cli(*args, *ASKED, ok=False).exit_code == 1
    cli(*args, "--profile", "production", "--set", "cli.ssh.port=2022")
    spec = json.loads((root / STATE).read_text())["spec"]
    assert (spec["profile"], spec["values"]["cli.ssh.port"], spec["run_as_user"], spec["config_dir"]) == \
        ("production", 2022, "nso", "/etc/nso")


def test_uninstall_all_abandons_an_interrupted_run_so_a_later_install_does_not_bring_back_its_options(root, dists):
    """A day-2 review: an install killed half way left its marker; after uninstall --all --purge
    status and verify still asked to "re-run ... to complete it", and a plain install took the
    purged options from the marker (it created the run-as user again)."""
    args = ("install", dists["6.5.3"], "--system-install", "--root", root, "--run-as-user", "nso")
    stop_after_the_unpack("kill", args)
    assert (root / MARKER).exists()
    chk = cli("uninstall", "--all", "--purge", "--root", root, "--check")
    assert "would be abandoned" in chk.output and (root / MARKER).exists()
    r = cli("uninstall", "--all", "--purge", "--root", root)
    assert "it was abandoned" in r.output and not (root / MARKER).exists()
    assert "unfinished" not in cli("status", "--root", root).output
    plain = cli("install", dists["6.5.3"], "--system-install", "--root", root, "--check")
    assert "user       nso " not in plain.output and "completes it" not in plain.output


@pytest.mark.parametrize("how", ["kill", "error"])
def test_an_uninstall_stopped_half_way_is_marked_and_its_re_run_completes_it(two, how):
    """An uninstall wrote no marker: killed while removing a version, it left part of the tree,
    and verify said the tree was damaged (repair it with install) and status had nothing
    unfinished, where the operator wanted it gone."""
    from nso_install.actions import files

    args = ("uninstall", "6.4.1", "--force", "--root", two)
    victim = two / "opt/ncs/ncs-6.4.1"
    if how == "kill":
        assert killed("nso_install.fsops", "remove_tree", False, *args) == 137
    else:
        with pytest.MonkeyPatch.context() as mp:
            real = files.fsops.remove_tree

            def half(path, *a, **kw):  # removes a part, then the disk fails
                real(os.path.join(path, "bin"))
                raise OSError(errno.EIO, "Input/output error")

            mp.setattr(files.fsops, "remove_tree", half)
            assert cli(*args, ok=False).exit_code == 1
    assert victim.exists()
    assert json.loads((two / MARKER).read_text())["command"] == "uninstall"
    r = cli("verify", "--root", two, ok=False)
    assert "the last run (nso-install uninstall of NSO 6.4.1" in r.output
    assert f"re-run nso-install uninstall 6.4.1 --force --root {two} to complete it" in r.output
    assert "re-run nso-install uninstall 6.4.1 --force" in cli("status", "--root", two).output
    assert "Done:" in cli(*args).output
    assert not victim.exists() and not (two / MARKER).exists()
    assert "unfinished" not in cli("status", "--root", two).output
    assert history(two)[-1]["uninstall"]["version"] == "6.4.1"


def _killed_once_version_is_gone(*args) -> int:
    """``nso-install ARGS`` killed right after it unlinks a VERSION file (an uninstall half way)."""
    script = textwrap.dedent(f"""
        import os, sys
        from nso_install import state
        state.SEAL_KEY = {state_module.SEAL_KEY!r}
        real = os.unlink
        def unlink(name, *a, **kw):
            real(name, *a, **kw)
            if os.path.basename(str(name)) == "VERSION":
                os._exit(137)
        os.unlink = unlink
        from nso_install.cli import main
        main(sys.argv[1:])
    """)
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    return r.returncode


def _pasted_re_run(root) -> list[str]:
    """The command status asks for, as an operator pastes it."""
    unfinished = js("status", "--root", root)["unfinished"]
    command = unfinished.split("; re-run ", 1)[1].rsplit(" to complete it", 1)[0]
    assert command.startswith("nso-install "), unfinished
    return shlex.split(command)[1:]


@pytest.mark.parametrize("stop", ["VERSION removed", "records saved"])
def test_the_re_run_status_asks_for_completes_an_uninstall_killed_half_way(two, stop):
    """A version's uninstall killed once its VERSION file was gone (the tree no longer found as
    installed), or after its records were saved but before its marker was ended: status asked
    for "re-run nso-install uninstall 6.5.3 --root ROOT", which was refused (no-such-version,
    exit 2) for ever, leaving the rest of the tree and the marker."""
    args = ("uninstall", "6.5.3", "--root", two)
    if stop == "VERSION removed":
        assert _killed_once_version_is_gone(*args) == 137
        assert (two / "opt/ncs/ncs-6.5.3").is_dir() and not (two / "opt/ncs/ncs-6.5.3/VERSION").exists()
    else:
        assert killed("nso_install.state", "State.end_run", False, *args) == 137
        assert not (two / "opt/ncs/ncs-6.5.3").exists()
    again = _pasted_re_run(two)
    assert again == ["uninstall", "6.5.3", "--root", str(two)]
    check = js(*again, "--check")
    assert check["result"] == "check" and (two / MARKER).exists()
    done = js(*again)
    assert done["result"] == "applied"
    assert [a["id"] for a in done["actions"] if a["changed"]] == \
        [a["id"] for a in check["actions"] if a["status"] == "change"]
    assert not (two / "opt/ncs/ncs-6.5.3").exists() and not (two / MARKER).exists()
    status = js("status", "--root", two)
    assert status["unfinished"] is None and [v["version"] for v in status["versions"]] == ["6.4.1"]
    assert js("verify", "--root", two)["ok"]
    assert js(*again, ok=False)["error"]["reference"] == "no-such-version"  # (done: the Ansible module's "gone")


def test_the_re_run_status_asks_for_completes_a_forced_uninstall_of_the_active_version(two):
    """A crash sweep: 'uninstall 6.4.1 --force' of the active version killed after its first
    removals, before its VERSION file went: status asked for 'uninstall 6.4.1 --root ROOT', which
    pasted was refused (6.4.1 is the active version, exit 2) and left the half-removed tree
    active and the marker; the marker now records --force and the hint names it."""
    args = ("uninstall", "6.4.1", "--force", "--root", two)
    assert killed("nso_install.fsops", "remove_tree", False, *args) == 137
    assert (two / "opt/ncs/ncs-6.4.1/VERSION").exists() and os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    again = _pasted_re_run(two)
    assert sorted(again) == sorted(map(str, args))
    assert js(*again)["result"] == "applied"
    assert not (two / "opt/ncs/ncs-6.4.1").exists() and not (two / "opt/ncs/current").is_symlink()
    assert not (two / MARKER).exists()
    status = js("status", "--root", two)
    assert status["unfinished"] is None and [v["version"] for v in status["versions"]] == ["6.5.3"]


def test_an_install_after_an_interrupted_uninstall_says_it_installed_over_it(two, dists):
    args = ("uninstall", "--all", "--logs", "--root", two)
    assert killed("nso_install.fsops", "remove_tree", True, *args) == 137
    marker = json.loads((two / MARKER).read_text())
    assert marker["command"] == "uninstall" and marker["all"] and marker["parts"] == ["logs"]
    assert f"re-run nso-install uninstall --all --logs --root {two}" in cli("status", "--root", two).output
    r = cli("install", dists["6.5.3"], "--system-install", "--root", two)
    assert "did not finish: some of what it removes may be left; this run installed over what it left." in r.output
    assert not (two / MARKER).exists() and history(two)[-1]["supersedes"]["command"] == "uninstall"


def test_a_re_run_given_fewer_parts_does_not_end_the_interrupted_uninstall(two):
    """A re-run of an interrupted uninstall --all --logs without --logs ended its marker, and the
    logs it was to remove stayed with nothing saying so."""
    assert killed("nso_install.fsops", "remove_tree", True, "uninstall", "--all", "--logs", "--root", two) == 137
    cli("uninstall", "--all", "--root", two)
    assert json.loads((two / MARKER).read_text())["parts"] == ["logs"]
    assert f"re-run nso-install uninstall --all --logs --root {two}" in cli("status", "--root", two).output
    cli("uninstall", "--all", "--logs", "--root", two)
    assert not (two / MARKER).exists() and not (two / "var/log/ncs").exists()


def test_an_uninstall_of_another_version_leaves_an_interrupted_run_marked(two, dists):
    """Since uninstall marks itself under way, it wrote its own marker over the one an install
    killed half way had left, and removed it when done: an uninstall of an unrelated version
    made status and verify forget the half-done install (and its re-run lost its options)."""
    args = ("install", dists["6.4.1"], "--system-install", "--root", two, "--set", "restconf.enabled=true")
    assert killed("nso_install.state", "State.begin_run", True, *args) == 137
    assert "Done: 1 removed" in cli("uninstall", "6.5.3", "--root", two).output
    marker = json.loads((two / MARKER).read_text())
    assert marker["command"] == "install" and marker["version"] == "6.4.1", marker
    assert "re-run nso-install install" in cli("status", "--root", two).output
    assert "this run completed it" in cli(*args).output and not (two / MARKER).exists()


def test_the_re_run_command_of_an_interrupted_install_keeps_each_path_one_word(tmp_path, dists):
    """The re-run command verify prints names the distribution as given and the staging root:
    a distribution file another account named (its download directory) was printed bare, so
    'nso-6.5.3 $(touch pwned).tar.gz' became a command substitution for root to paste, and a
    root with a blank became two arguments."""
    import shlex
    import shutil

    root = host_accounts_root(tmp_path / "st age")
    dist = tmp_path / "nso-6.5.3 $(touch pwned);x.tar.gz"
    shutil.copy(dists["6.5.3"], dist)
    os.chown(dist, 65534, 65534)  # (nobody's file, named by nobody)
    stop_after_the_unpack("error", ("install", dist, "--system-install", "--root", root))
    out = cli("verify", "--root", root, ok=False).output
    command = out.split("did not finish; re-run ")[1].split(", with the same options")[0]
    assert shlex.split(command) == ["nso-install", "install", str(dist), "--system-install", "--root", str(root)]


def test_the_re_run_command_of_an_interrupted_upgrade_switches_where_the_run_would_have(root, dists):
    """An install --activate stopped after its unpack, before current was switched: the command
    verify printed had neither --activate nor --install-dir, so pasted it completed the install
    (the marker gone, verify content) with current never switched, or looked at /opt/ncs."""
    import shlex

    cli("install", dists["6.4.1"], "--system-install", "--install-dir", "/srv/nso", "--root", root)
    off_3des(root)
    args = ("install", dists["6.5.3"], "--system-install", "--install-dir", "/srv/nso", "--activate", "--root", root)
    stop_after_the_unpack("error", args)
    assert os.readlink(root / "srv/nso/current") == "ncs-6.4.1"
    out = cli("verify", "--root", root, "--install-dir", "/srv/nso", ok=False).output
    command = out.split("did not finish; re-run ")[1].split(", with the same options")[0]
    words = shlex.split(command)
    assert words == ["nso-install", "install", str(dists["6.5.3"]), "--system-install", "--install-dir", "/srv/nso",
                     "--activate", "--root", str(root)], command
    assert "this run completed it" in cli(*words[1:]).output
    assert os.readlink(root / "srv/nso/current") == "ncs-6.5.3" and not (root / MARKER).exists()


def test_status_names_the_tree_a_first_install_was_unpacking_when_killed(root, dists, tmp_path):
    """A first install killed while unpacking leaves the private tree it was filling
    (.nso-install-tmp.ncs-VSN.*), a distribution's worth of disk, above INSTALL_DIR (which does
    not exist yet); status said "(none)" and nothing of it. The next install removes it."""
    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    assert killed("nso_install.fsops", "Flushing.__enter__", True, *args) == 137
    left = [p for p in root.rglob(".nso-install-tmp.ncs-6.5.3.*")]
    assert len(left) == 1 and left[0].is_dir()
    shown = "/" + str(left[0].relative_to(root))
    assert js("status", "--root", root)["temporary_trees"] == [shown]
    out = cli("status", "--root", root).output
    assert f"interrupted: {shown} is a tree a run was unpacking" in out and f"install --root {root}" in out
    # another account's entry of that name (a shared sticky directory) is not ours to name
    foreign = root / "opt" / ".nso-install-tmp.ncs-6.4.1.0000beef"
    foreign.mkdir(parents=True)
    os.chown(foreign, 65534, 65534)
    assert js("status", "--root", root)["temporary_trees"] == [shown]
    cli(*args)
    assert not left[0].exists()
    assert js("status", "--root", root)["temporary_trees"] == []
    assert "interrupted:" not in cli("status", "--root", root).output


def test_status_names_a_local_installs_unfinished_tree(dists, tmp_path):
    loc = tmp_path / "nso"
    args = ("install", dists["6.5.3"], "--local-install", loc)
    assert killed("nso_install.fsops", "Flushing.__enter__", True, *args) == 137
    left = list(tmp_path.glob(".nso-install-tmp.nso.*"))
    assert len(left) == 1
    assert js("status", "--local-install", loc)["temporary_trees"] == [str(left[0])]
    cli(*args)
    assert js("status", "--local-install", loc)["temporary_trees"] == []
