"""Regression tests of the privilege-boundary review: each plays the account (or the input)
that tries to turn nso-install's root run against the host, under --root, as root.

The account-based cases that need a real second account (runuser) are in
tests/integration/test_attacker.py."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest
from support import cli, snapshot

from nso_install import state as state_mod
from nso_install.sample import make_sample_distribution

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="plays other accounts with chown (root only)"),
              pytest.mark.timeout(120)]
NOBODY = 65534


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    for f in ("passwd", "group", "shadow", "gshadow"):
        if os.path.exists(f"/etc/{f}"):
            shutil.copy(f"/etc/{f}", r / "etc" / f)
    return r


@pytest.fixture
def dist(sample_dists):
    return sample_dists["tar.gz"]


def install(dist, root, *args, ok=True):
    return cli("install", dist, "--system-install", "--root", root, *args, ok=ok)


def mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


# --- 2: a staging root another account prepared ------------------------------------------------

@pytest.mark.parametrize("how", ["owned-by-nobody", "group-writable", "through-a-symlink", "parent-owned-by-nobody"])
def test_a_staging_root_another_account_could_change_is_refused_before_anything(tmp_path, dist, how):
    stage = tmp_path / "stage"
    stage.mkdir()
    given = stage
    if how == "owned-by-nobody":
        os.chown(stage, NOBODY, NOBODY)
    elif how == "group-writable":
        os.chmod(stage, 0o775)
    elif how == "through-a-symlink":
        os.symlink(stage, tmp_path / "link")
        given = tmp_path / "link"
    else:
        os.chown(tmp_path, NOBODY, NOBODY)
    before = snapshot(stage)
    r = install(dist, given, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 2 and "unsafe-staging-root" not in r.stderr and "--root" in r.stderr
    assert snapshot(stage) == before


def test_no_setuid_or_capability_below_a_directory_another_account_prepared(root, dist):
    """ROOT itself is root's, but ROOT/opt was made by another account beforehand: it could
    swap the binaries, so none of them gets a privilege."""
    (root / "opt").mkdir()
    os.chown(root / "opt", NOBODY, NOBODY)
    r = install(dist, root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1 and "/opt is owned by uid 65534" in r.stderr
    epam = root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam"
    assert not os.stat(epam).st_mode & stat.S_ISUID


def test_a_binary_swapped_after_the_unpack_gets_no_privilege_on_a_later_run(root, sample_dists, tmp_path):
    """Another installed version's binary was replaced: it is not repaired (its distribution is
    not at hand) and gets no setuid bit; the version being installed is repaired first."""
    old = make_sample_distribution(tmp_path / "old", "6.4.1", "tar.gz")
    install(old, root)  # no run-as user: plain binaries
    install(sample_dists["tar.gz"], root)
    epam_old = root / "opt/ncs/ncs-6.4.1/lib/ncs/lib/core/pam/priv/epam"
    epam_new = root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam"
    for epam in (epam_old, epam_new):
        epam.write_text("#!/bin/sh\nexec /bin/sh\n")  # someone with access to the trees replaced them
    r = install(sample_dists["tar.gz"], root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1 and "ncs-6.4.1" in r.stderr and "is not the file nso-install unpacked" in r.stderr
    assert not os.stat(epam_old).st_mode & stat.S_ISUID
    assert "exec /bin/sh" not in epam_new.read_text()  # repaired from the distribution given


# --- 3: overlapping directories ------------------------------------------------------------------

@pytest.mark.parametrize("opts", [["--config-dir", "/var/opt/ncs/etc"], ["--install-dir", "/var/opt/ncs"],
                                  ["--log-dir", "/etc/ncs/logs"]])
def test_nested_directories_are_refused_and_nothing_written(root, dist, opts):
    before = snapshot(root)
    r = install(dist, root, "--run-as-user", "nso", *opts, ok=False)
    assert r.exit_code == 2 and "separate places" in r.stderr and opts[0] in r.stderr
    assert snapshot(root) == before


# --- 4: a kept config file is never loosened --------------------------------------------------

def test_an_edited_ncs_conf_with_inline_keys_is_kept_and_never_loosened(root, dist):
    install(dist, root)
    conf = root / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text().replace("</ncs-config>", "<encrypted-strings><AESCFB128><key>"
                                             + "ab" * 16 + "</key></AESCFB128></encrypted-strings></ncs-config>"))
    os.chmod(conf, 0o600)
    r = install(dist, root)
    assert "ab" * 16 in conf.read_text() and mode(conf) == 0o600
    assert "ab" * 16 not in r.output
    os.chmod(conf, 0o666)  # loosened by someone: tightened, and capped for a file holding keys
    install(dist, root)
    assert mode(conf) == 0o640


def test_a_kept_files_owner_and_mode_drift_are_repaired(root, dist):
    install(dist, root)
    prof = root / "etc/profile.d/ncs.sh"
    prof.write_text(prof.read_text() + "# admin\n")
    os.chmod(prof, 0o666)
    r = install(dist, root)
    assert "kept" in r.output and mode(prof) == 0o644 and "# admin" in prof.read_text()
    os.chown(prof, NOBODY, NOBODY)  # root reads it: another account's edits are not adopted
    install(dist, root)
    assert os.stat(prof).st_uid == 0 and "# admin" not in prof.read_text()
    assert any(p.name.startswith("ncs.sh.from-") for p in prof.parent.iterdir())


# --- 5, 6: the lock ---------------------------------------------------------------------------------

def test_a_run_waiting_for_the_lock_reads_the_state_the_other_run_left(root, dist, monkeypatch):
    """Of two concurrent runs, the second must read the state after the first has left it: it
    must not take the first's fresh ncs.conf for an administrator's edit."""
    from nso_install import run as run_mod
    from nso_install.run import RunOptions
    from nso_install.spec import SpecInput

    install(dist, root, "--set", "restconf.enabled=true")
    real_apply = run_mod.apply
    first = threading.Event()

    def slow_first(*a, **kw):
        if not first.is_set():
            first.set()
            time.sleep(1.5)  # the first run is busy while the second one starts and waits
        return real_apply(*a, **kw)
    monkeypatch.setattr(run_mod, "apply", slow_first)

    def run(value):
        given = SpecInput(kind="system", sets=[f"restconf.enabled={value}"])
        return run_mod.install(given, dist, RunOptions(root=root, lock_timeout=30))
    results = {}
    a = threading.Thread(target=lambda: results.update(a=run("false")))
    a.start()
    first.wait(10)
    b = threading.Thread(target=lambda: results.update(b=run("true")))
    b.start()
    a.join(60)
    b.join(60)
    conflicts = [r for r in results["b"].report.records if r.outcome.conflict]
    assert conflicts == [] and not (root / "etc/ncs/ncs.conf.new").exists()
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert "/etc/ncs/ncs.conf" in state["conffiles"]


# --- 8: umask --------------------------------------------------------------------------------------

def test_missing_staging_parents_are_0755_whatever_the_umask(tmp_path, dist):
    code = ("import os, sys; os.umask(0); from nso_install.cli import main; "
            "sys.argv = ['nso-install', 'install', sys.argv[1], '--system-install', '--root', sys.argv[2], '-q']; main()")
    r = subprocess.run([sys.executable, "-c", code, str(dist), str(tmp_path / "a/b/root")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for p in (tmp_path / "a", tmp_path / "a/b", tmp_path / "a/b/root", tmp_path / "a/b/root/var/lib"):
        assert mode(p) == 0o755, p
    assert mode(tmp_path / "a/b/root/var/lib/nso-install") == 0o700
    assert mode(tmp_path / "a/b/root/var/lib/nso-install/state.json") == 0o600


# --- 10: a FIFO swapped in by the NSO account -----------------------------------------------------

@pytest.mark.timeout(30)
def test_a_fifo_in_the_accounts_directory_cannot_hang_the_run(root, dist):
    install(dist, root, "--run-as-user", "nso")
    aaa = root / "var/opt/ncs/cdb/aaa_init.xml"
    aaa.unlink()
    os.mkfifo(aaa)
    started = time.monotonic()
    r = install(dist, root, ok=False)
    assert time.monotonic() - started < 20
    assert r.exit_code == 1 and "aaa_init.xml exists and is not a regular file" in r.stderr


# --- 13: a hostile distribution changes nothing ---------------------------------------------------

def test_a_hostile_distribution_leaves_the_host_as_it_was(root, tmp_path):
    import tarfile
    bad = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    good = make_sample_distribution(tmp_path / "good", "6.5.3", "dir")
    with tarfile.open(bad, "w:gz") as tf:
        tf.add(good, arcname="nso-6.5.3")
        evil = tarfile.TarInfo("nso-6.5.3/zz/../../../../etc/evil")  # last member: after everything good
        tf.addfile(evil)
    before = snapshot(root)
    r = install(bad, root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1 and "refusing the whole distribution" in r.stderr
    after = snapshot(root)
    # no account, group, directory, state: nothing; only the root's mtime moved (the private
    # temporary tree and the lock came and went)
    assert after.pop(".")[:5] == before.pop(".")[:5] and after == before
    assert not any(line.startswith("nso:") for line in (root / "etc/passwd").read_text().splitlines())


# --- 14: nso-install's own records -----------------------------------------------------------------

def test_leftover_state_temp_files_are_removed(root, dist):
    install(dist, root)
    left = root / "var/lib/nso-install/.nso-install-tmp.state.json.dead"
    left.write_text("half a state")
    r = install(dist, root)
    assert not left.exists() and "leftover" in r.output


def test_a_full_disk_when_saving_the_state_is_explained_not_a_bug(root, dist, monkeypatch):
    real = state_mod.fsops.atomic_write

    def full(host, data, *a, **kw):
        if host.name == "state.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(host, data, *a, **kw)
    monkeypatch.setattr(state_mod.fsops, "atomic_write", full)
    r = install(dist, root, ok=False)
    assert r.exit_code == 1 and "could not save" in r.stderr and "No space left" in r.stderr
    assert "bug" not in r.stderr
    monkeypatch.undo()
    install(dist, root)  # the next run records what the first one installed
    assert json.loads((root / "var/lib/nso-install/state.json").read_text())["spec"]


def test_history_is_never_written_through_a_planted_link(root, dist, tmp_path):
    install(dist, root)
    hist = root / "var/lib/nso-install/history.jsonl"
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    hist.unlink()
    os.symlink(victim, hist)
    r = install(dist, root, "--set", "restconf.enabled=true", ok=False)
    assert r.exit_code == 1 and "symbolic link" in r.stderr
    assert victim.read_text() == "precious\n"


def test_a_new_history_file_is_complete_from_its_first_byte(root, dist, monkeypatch):
    """Written whole (temp + rename) when it does not exist: a killed run never leaves an empty one."""
    seen = []
    real = state_mod.fsops.atomic_write

    def spy(host, data, *a, **kw):
        if host.name == "history.jsonl":
            seen.append(data)
        return real(host, data, *a, **kw)
    monkeypatch.setattr(state_mod.fsops, "atomic_write", spy)
    install(dist, root)
    assert len(seen) == 1 and json.loads(seen[0])["changed"]


def test_state_and_its_directory_are_private(root, dist):
    install(dist, root)
    assert mode(root / "var/lib/nso-install") == 0o700
    assert mode(root / "var/lib/nso-install/state.json") == 0o600
    assert mode(root / "var/lib/nso-install/history.jsonl") == 0o600


# --- drift that must not go unnoticed ----------------------------------------------------------------

def test_a_secrets_group_changed_is_repaired(root, dist):
    install(dist, root, "--run-as-user", "nso")
    keys = root / "etc/ncs/ncs.crypto_keys"
    content = keys.read_bytes()
    os.chown(keys, 0, NOBODY)
    r = install(dist, root)
    assert "group" in r.output and os.stat(keys).st_gid != NOBODY and keys.read_bytes() == content


def test_a_removed_setuid_bit_is_noticed_and_restored(root, dist):
    install(dist, root, "--run-as-user", "nso")
    epam = root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam"
    os.chmod(epam, 0o750)  # the low bits stay as they were
    r = install(dist, root, "--check", "--fail-on-change", ok=False)
    assert r.exit_code == 4 and "mode 0750 -> 4750" in r.output
    install(dist, root)
    assert mode(epam) == 0o4750


def test_the_socket_directory_of_a_run_as_user_install(root, dist):
    install(dist, root, "--run-as-user", "nso")
    st = os.stat(root / "run/ncs")
    groups = {line.split(":")[0]: int(line.split(":")[2]) for line in (root / "etc/group").read_text().splitlines()}
    users = {line.split(":")[0]: int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()}
    assert (mode(root / "run/ncs"), st.st_uid, st.st_gid) == (0o750, users["nso"], groups["ncsadmin"])
