"""Runs killed (SIGKILL-like ``os._exit`` in a child process) at the system calls a crash sweep
found leaving something behind: the next identical run must complete the work and leave the tree
an uninterrupted run leaves (random keys compared by presence, owner and mode), no temporary file
and no directory with the temporary mode it was made with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from support import cli, host_accounts_root, snapshot

from nso_install import state as state_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

TMP = ".nso-install-tmp."


def killed_when(module: str, name: str, condition: str, *args, prelude: str = "") -> int:
    """Run ``nso-install ARGS`` in a child process killed (``os._exit(137)``) instead of the first
    call of ``module.name`` whose positional arguments ``a`` meet ``condition`` (an expression);
    ``prelude``: one more statement run first."""
    script = textwrap.dedent(f"""
        import os, sys, importlib
        from nso_install import state
        state.SEAL_KEY = {state_module.SEAL_KEY!r}
        {prelude}
        owner = importlib.import_module({module!r})
        real = getattr(owner, {name!r})
        def stop(*a, **kw):
            if {condition}:
                os._exit(137)
            return real(*a, **kw)
        setattr(owner, {name!r}, stop)
        from nso_install.cli import main
        main(sys.argv[1:])
    """)
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    assert r.returncode == 137, r.stdout + r.stderr
    return r.returncode


def temps(root) -> list[str]:
    return sorted(p for p in snapshot(root) if os.path.basename(p).startswith(TMP))


def layout(root) -> dict:
    """Path -> type, mode, owner, group (not contents: keys are random per install, nor times)."""
    return {p: v[:4] for p, v in snapshot(root).items() if p != "."}


@pytest.fixture
def reference(tmp_path, dists):
    """The layout an uninterrupted ``install 6.5.3 --system-install`` leaves (in its own root)."""
    ref = host_accounts_root(tmp_path / "ref")
    cli("install", dists["6.5.3"], "--system-install", "--root", ref)
    return layout(ref)


@pytest.mark.parametrize("made", ["var", "opt"])  # (ensure_dirs for the state; a SystemDirectory action)
def test_a_parent_directory_a_killed_run_just_made_is_not_left_private(root, dists, reference, made):
    """A missing parent (/var, /opt, /var/log, /etc/profile.d...) was made 0700 and given its mode
    after: killed in between, it stayed 0700 for good (it belongs to the system once it exists,
    and no run alters it), so the NSO account could not reach /opt/ncs.  It is now made with its
    mode."""
    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    killed_when("nso_install.fsops", "_set_attrs_at", f"a[0] == {made!r}", *args)  # right after its mkdir
    assert (root / made).is_dir() and snapshot(root)[made][1] == 0o755
    cli(*args)
    assert layout(root) == reference


@pytest.mark.parametrize("name", ["opt+ncs+ncs-6.5.3.json", "state.json"])
def test_a_record_a_killed_install_was_writing_leaves_no_temporary_copy(root, dists, reference, name):
    """Killed before the rename of a manifest (or the state), its complete temporary copy stayed
    in /var/lib/nso-install/manifests for good: the leftovers cleanup did not look there."""
    args = ("install", dists["6.5.3"], "--system-install", "--root", root)
    killed_when("nso_install.fsops", "_rename_into_place", f"a[1] == {name!r}", *args)
    assert any(os.path.basename(t).startswith(TMP + name) for t in temps(root)), temps(root)
    cli(*args)
    assert temps(root) == [] and layout(root) == reference
    assert "Done: 0 changed" in cli(*args).output


@pytest.mark.parametrize("name", ["ncs.crypto_keys", "state.json"])
def test_a_killed_key_rotation_leaves_no_copy_of_the_keys_after_its_re_run(root, dists, name, tmp_path):
    """``keys rotate`` killed before renaming the new keys file (or the state announcing it) left
    the temporary copy (new key material, readable by the NSO account's group) and its re-run,
    which has no leftovers cleanup, kept it."""
    ref = host_accounts_root(tmp_path / "ref")
    for r in (root, ref):
        cli("install", dists["6.5.3"], "--system-install", "--run-as-user", "nso", "--root", r)
    cli("keys", "rotate", "--root", ref)
    killed_when("nso_install.fsops", "_rename_into_place", f"a[1] == {name!r}", "keys", "rotate", "--root", root)
    assert temps(root)
    cli("keys", "rotate", "--root", root)
    assert temps(root) == [] and layout(root) == layout(ref)
    keys = (root / "etc/ncs/ncs.crypto_keys").read_text()
    assert keys.startswith("EXTERNAL_KEY_FORMAT=2\n") and "[1]=" not in keys  # one generation added


def damaged_local_install(tmp_path, dists):
    loc = tmp_path / "nso"
    cli("install", dists["6.5.3"], "--local-install", loc)
    (loc / "packages/mypkg").mkdir()
    (loc / "packages/mypkg/package-meta-data.xml").write_text("<ncs-package/>\n")
    with open(loc / "doc/README", "a") as f:
        f.write("damaged\n")
    return loc


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_repair_stopped_while_carrying_entries_over_loses_none_of_them(tmp_path, dists, how):
    """A repair moves what the old tree holds beyond the distribution (a local install's records,
    IPC secret, config and host key; an administrator's packages) into the new tree before the
    exchange.  Killed half way, those already moved sat in a temporary tree that the re-run
    removed as a leftover (the IPC secret and the records were generated anew); an exchange that
    failed removed them too.  They are now brought back first."""
    loc = damaged_local_install(tmp_path, dists)
    before = {p: v for p, v in snapshot(loc).items() if p.startswith(("etc/ncs", ".nso-install/", "packages/mypkg"))
              and not p.startswith(".nso-install/manifests")}
    secret = (loc / "etc/ncs/ipc_access").read_bytes()
    args = ("install", dists["6.5.3"], "--local-install", loc)
    if how == "kill":  # after the records and the IPC secret moved, before ncs.conf
        killed_when("nso_install.fsops", "move_across", "a[2] == 'etc/ncs/ncs.conf'", *args)
        assert not (loc / "etc/ncs/ipc_access").exists()
    else:
        from nso_install import fsops

        def fail(a, b):
            raise OSError(16, "Device or resource busy")

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fsops, "exchange", fail)
            assert cli(*args, ok=False).exit_code == 1
    cli(*args)
    assert (loc / "etc/ncs/ipc_access").read_bytes() == secret
    assert (loc / "packages/mypkg/package-meta-data.xml").exists()
    assert b"damaged" not in (loc / "doc/README").read_bytes()
    after = snapshot(loc)
    assert all(after.get(p, (None,) * 7)[:4] == v[:4] for p, v in before.items()), \
        [p for p, v in before.items() if after.get(p, (None,) * 7)[:4] != v[:4]]
    assert [n for n in os.listdir(tmp_path) if n.startswith(TMP)] == [] and temps(loc) == []
    assert "1 tree(s) checked, 0 problem(s)" in cli("verify", "--local-install", loc).output


def test_a_repair_killed_between_the_renames_of_a_swap_without_rename_exchange_loses_nothing(tmp_path, dists):
    """Where renameat2(RENAME_EXCHANGE) is missing (an old kernel, NFS), the repaired tree takes
    the install's name by two renames: the damaged tree aside, then the repaired one in.  Killed
    between them, nothing was at the install's name, and the re-run removed both trees as
    leftovers: the entries carried into the repaired one (here an administrator's package and the
    local install's IPC secret and records) were lost, and the secret generated anew."""
    loc = damaged_local_install(tmp_path, dists)
    secret = (loc / "etc/ncs/ipc_access").read_bytes()
    args = ("install", dists["6.5.3"], "--local-install", loc)
    killed_when("os", "rename", f"str(a[1]) == {str(loc)!r} and os.path.basename(str(a[0])).startswith({TMP!r})",
                *args, prelude="from nso_install import fsops; fsops._libc = lambda: None")
    assert not loc.exists()
    cli(*args)
    assert (loc / "etc/ncs/ipc_access").read_bytes() == secret
    assert (loc / "packages/mypkg/package-meta-data.xml").exists()
    assert b"damaged" not in (loc / "doc/README").read_bytes()
    assert [n for n in os.listdir(tmp_path) if n.startswith(TMP)] == [] and temps(loc) == []
    assert "1 tree(s) checked, 0 problem(s)" in cli("verify", "--local-install", loc).output
    assert "Done: 0 changed" in cli(*args).output


@pytest.mark.parametrize("purge", [True, False])
def test_an_uninstall_killed_after_removing_the_install_dir_forgets_its_trees_on_the_re_run(root, dists, purge):
    """``uninstall --all`` killed after INSTALL_DIR was removed, before the records were updated:
    its re-run found nothing left to remove there and kept the records of the trees gone (the
    manifest files stayed for good, and without --purge ``verify`` went on failing on them)."""
    cli("install", dists["6.5.3"], "--system-install", "--root", root)
    args = ("uninstall", "--all", *(("--purge",) if purge else ()), "--root", root)
    if purge:  # stopped before removing CONFIG_DIR, the removal after INSTALL_DIR's
        killed_when("nso_install.fsops", "remove_tree", "str(a[0]).endswith('/etc/ncs')", *args)
    else:  # stopped at the write of the state, after every removal
        killed_when("nso_install.fsops", "atomic_write", "a[0].name == 'state.json'", *args)
    assert not (root / "opt/ncs").exists()
    cli(*args)
    assert not (root / "var/lib/nso-install/manifests").exists() or \
        os.listdir(root / "var/lib/nso-install/manifests") == []
    recorded = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert not recorded.get("manifests") and not recorded.get("unpacked") and not recorded.get("activations")
    if not purge:
        assert cli("verify", "--root", root, ok=False).exit_code == 1  # nothing installed (not: a tree gone)
        assert "gone" not in cli("verify", "--root", root, ok=False).output


def test_a_repair_killed_before_renaming_its_manifest_leaves_no_copy_of_it(tmp_path, dists):
    """Killed after the repair, before the rename of the (unchanged) manifest: the re-run finds
    the tree as recorded and writes no manifest, and the leftovers cleanup did not look in the
    manifests directory, so the complete temporary copy stayed there for good."""
    loc = damaged_local_install(tmp_path, dists)
    args = ("install", dists["6.5.3"], "--local-install", loc)
    killed_when("nso_install.fsops", "_rename_into_place", "a[1].endswith('+nso.json')", *args)
    assert temps(loc / ".nso-install/manifests")
    cli(*args)
    assert temps(loc) == []


def _nso_made(root, dist, rel: str, name: str, text: str) -> list[str]:
    """Install ``dist`` to run as nso, then give nso a directory ``rel`` (under root) holding a
    file ``name`` it made; nso's passwd fields are returned."""
    cli("install", dist, "--system-install", "--run-as-user", "nso", "--root", root)
    nso = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("nso:"))
    made = root / rel
    made.mkdir()
    (made / name).write_text(text)
    for p in (made, made / name):
        os.chown(p, int(nso[2]), int(nso[3]))
    return nso


@pytest.mark.parametrize("change", [("install", "--no-run-as-user"), ("install", "--run-as-user", "nso2"),
                                    ("uninstall", "--all", "--accounts")])
def test_a_hand_over_killed_while_copying_a_file_of_the_old_account_leaves_no_copy(root, dists, change):
    """A change of --run-as-user (and uninstall --accounts) replaces each file the old account
    made by a copy with the new owner; killed before the copy's rename, the copy (root's, or the
    new account's) stayed in RUN_DIR/streams for good: the re-run took the file over again beside
    it, and no leftovers cleanup looks there (found by the crash sweep)."""
    dist = dists["6.4.1"]
    nso = _nso_made(root, dist, "var/opt/ncs/streams", "n.log", "a stream NSO wrote\n")
    streams = root / "var/opt/ncs/streams"
    cmd, *opts = change
    args = (cmd, *((dist, "--system-install") if cmd == "install" else ()), *opts, "--root", root)
    killed_when("nso_install.fsops", "_rename_into_place", "a[1] == 'n.log'", *args)
    assert [t for t in os.listdir(streams) if t.startswith(TMP + "n.log.")]
    cli(*args)
    assert os.listdir(streams) == ["n.log"] and (streams / "n.log").read_text() == "a stream NSO wrote\n"
    assert (streams / "n.log").stat().st_uid != int(nso[2])


@pytest.mark.parametrize("name", ["host.key", "ssh_host_ed25519_key", "audit-memo.json"])
def test_a_container_start_killed_while_writing_a_key_leaves_no_copy_after_its_re_run(root, dists, name):
    """install --secrets-only (a container's start, here on an empty config, run and log volume)
    has none of the plan's other actions, and lost its leftovers cleanup with them: killed before
    the rename of a key it generated, the half- or fully-written copy (private key material) stayed
    in CONFIG_DIR beside the key its re-run wrote, for good (found by the crash sweep)."""
    opts = ("--system-install", "--run-as-user", "nso", "--ignore-init-scripts", "--root", root)
    cli("install", dists["6.5.3"], *opts, "--skip-secrets")
    for d in ("etc/ncs", "var/opt/ncs", "var/log/ncs"):
        shutil.rmtree(root / d)
        (root / d).mkdir()
    args = ("install", root / "opt/ncs/current", *opts, "--secrets-only")
    killed_when("nso_install.fsops", "_rename_into_place", f"a[1] == {name!r}", *args)
    assert temps(root)
    image = root / "opt/ncs" / (TMP + "ncs-9.9.9.0123abcd")  # the image's (maybe read-only): not its to clean
    image.mkdir()
    cli(*args)
    assert temps(root) == [str(image.relative_to(root))]
    assert "Done: 0 changed" in cli(*args).output


def test_a_hand_over_killed_after_making_its_quarantine_is_completed_by_a_re_run_in_the_same_second(root, dists):
    """A change of --run-as-user moves the packages the old account made into
    RUN_DIR/.nso-install-quarantine.nso.TIME; killed right after making that directory, a re-run
    within the same second failed with 'File exists' on it (found by the crash sweep; the account,
    which can write RUN_DIR and guess the time, could do the same on purpose)."""
    import types

    from nso_install.actions import files

    def frozen_time():
        return types.SimpleNamespace(strftime=lambda f: "20260101T000000")

    dist = dists["6.4.1"]
    _nso_made(root, dist, "var/opt/ncs/packages/mypkg", "package-meta-data.xml", "<ncs-package/>\n")
    pkg = root / "var/opt/ncs/packages/mypkg"
    args = ("install", dist, "--system-install", "--run-as-user", "nso2", "--root", root)
    killed_when("nso_install.fsops", "move_into", "True", *args,
                prelude="import types, nso_install.actions.files as F; "
                        "F.time = types.SimpleNamespace(strftime=lambda f: '20260101T000000')")
    first = root / "var/opt/ncs/.nso-install-quarantine.nso.20260101T000000"
    assert first.is_dir() and os.listdir(first) == [] and pkg.exists()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "time", frozen_time())
        cli(*args)
    assert not pkg.exists()
    # the killed run's empty quarantine is gone, not left beside the re-run's for good
    kept = [d for d in os.listdir(root / "var/opt/ncs") if d.startswith(files.QUARANTINE)]
    assert kept == [first.name] and os.listdir(first) == ["packages%mypkg"]
    assert "Done: 0 changed" in cli(*args).output


@pytest.mark.parametrize("planted", ["empty", "full", "link"])
def test_what_the_old_account_put_at_the_quarantine_s_name_neither_stops_nor_steers_the_hand_over(
        root, dists, planted):
    """The old account can write RUN_DIR and guess the quarantine's name (account and second): an
    empty directory there is removed as a killed run's would be, one with entries is left for
    review and the quarantine takes a random suffix, and a link is never followed."""
    import types

    from nso_install.actions import files

    dist = dists["6.4.1"]
    nso = _nso_made(root, dist, "var/opt/ncs/packages/mypkg", "package-meta-data.xml", "<ncs-package/>\n")
    run_dir = root / "var/opt/ncs"
    name = ".nso-install-quarantine.nso.20260101T000000"
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    if planted == "link":
        os.symlink(elsewhere, run_dir / name)
    else:
        (run_dir / name).mkdir()
        if planted == "full":
            (run_dir / name / "x").write_text("the account's\n")
    for p in (run_dir / name, *(run_dir / name).glob("*")):
        os.lchown(p, int(nso[2]), int(nso[3]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "time", types.SimpleNamespace(strftime=lambda f: "20260101T000000"))
        cli("install", dist, "--system-install", "--run-as-user", "nso2", "--root", root)
    made = sorted(d for d in os.listdir(run_dir) if d.startswith(files.QUARANTINE))
    moved = [d for d in made if os.listdir(run_dir / d) == ["packages%mypkg"]]
    assert len(moved) == 1 and os.stat(run_dir / moved[0]).st_uid == 0 and os.listdir(elsewhere) == []
    if planted == "empty":
        assert made == [name]
    else:
        assert made == [name, moved[0]] and moved[0].startswith(name + ".")
        assert os.path.islink(run_dir / name) if planted == "link" else os.listdir(run_dir / name) == ["x"]


def test_an_uninstall_killed_while_writing_its_records_leaves_no_copy_after_its_re_run(root, dists):
    """uninstall VSN killed before the rename of the state file it was writing left its temp copy
    in /var/lib/nso-install beside state.json: the re-run that completed the uninstall left it
    there (only an install removed it; found by the day-2 journeys review)."""
    for v in ("6.4.1", "6.5.3"):
        cli("install", dists[v], "--system-install", "--root", root)
    args = ("uninstall", "6.5.3", "--root", root)
    assert killed_when("nso_install.fsops", "_rename_into_place", "a[1] == 'state.json'", *args) == 137
    assert [t for t in temps(root) if t.startswith("var/lib/nso-install/")]
    cli(*args)
    assert temps(root) == [] and not (root / "opt/ncs/ncs-6.5.3").exists()
