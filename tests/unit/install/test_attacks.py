"""Regression tests of the privilege-boundary review: each plays the account (or the input)
that tries to turn nso-install's root run against the host, under --root, as root.

The account-based cases that need a real second account (runuser) are in
tests/integration/test_attacker.py."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest
from support import cli, extract_all, off_3des, snapshot

from nso_install import state as state_mod
from nso_install.sample import make_sample_distribution

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="plays other accounts with chown (root only)"),
              pytest.mark.timeout(120)]
NOBODY = 65534


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


@pytest.mark.parametrize("case", ["parent-owned-by-nobody", "grandparent-group-writable", "itself-owned-by-nobody",
                                  "config-parent-world-writable"])
def test_a_directory_another_account_could_change_above_the_install_is_refused_before_anything(root, dist, case):
    """Root runs NSO's programs from the install directory (the unit, logrotate, every login
    shell's PATH) and reads its config: a directory above them another account owns or can
    write would let it put a tree of its own there between runs (found by review: the next run
    even chowned the account's tree to root)."""
    opts = ["--install-dir", "/srv/nso/ncs"]
    (root / "srv/nso").mkdir(parents=True)
    if case == "parent-owned-by-nobody":
        os.chown(root / "srv/nso", NOBODY, NOBODY)
        said = "--install-dir /srv/nso/ncs: /srv/nso belongs to uid 65534"
    elif case == "grandparent-group-writable":
        os.chmod(root / "srv", 0o775)
        said = "--install-dir /srv/nso/ncs: /srv is writable by group or others (mode 0775)"
    elif case == "itself-owned-by-nobody":
        (root / "srv/nso/ncs").mkdir()
        os.chown(root / "srv/nso/ncs", NOBODY, NOBODY)
        said = "--install-dir /srv/nso/ncs: /srv/nso/ncs belongs to uid 65534"
    else:
        opts = ["--config-dir", "/srv/nso/etc"]
        os.chmod(root / "srv/nso", 0o757)
        said = "--config-dir /srv/nso/etc: /srv/nso is writable by group or others (mode 0757)"
    before = snapshot(root)
    for check in ((), ("--check",)):
        r = install(dist, root, *opts, *check, ok=False)
        assert r.exit_code == 1 and said in r.stderr and "chown root:root" in r.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("case", ["below-the-root", "above-the-root", "open-root"])
def test_the_owner_and_mode_commands_a_refusal_gives_act_on_the_staged_directory_it_names(tmp_path, dist, case):
    """The hint's chown/chmod named the target path (/srv/nso: under --root, the host's own
    directory, not the staged one) and, above the root, a path with a blank as two words; the
    command pasted as is (sh -c) now makes the directory right, and the re-run goes ahead."""

    from support import host_accounts_root

    top = tmp_path / "st age"
    root = host_accounts_root(top / "r")
    opts = ["--install-dir", "/srv/nso/ncs"]
    if case == "below-the-root":
        bad = root / "srv/nso"
        bad.mkdir(parents=True)
        os.chown(bad, NOBODY, NOBODY)
    elif case == "above-the-root":
        bad = top
        os.chown(bad, NOBODY, NOBODY)
    else:
        bad = root
        os.chmod(root, 0o755)
        opts += ["--run-as-user", "nso"]
    said = " ".join(install(dist, root, *opts, ok=False).stderr.split())
    hint = said.split("Hint: ")[1]
    start = min(i for i in (hint.find("chown "), hint.find("chmod ")) if i >= 0)
    command = re.split(r"\)| \(|, then", hint[start:])[0]
    words = shlex.split(command)
    assert words == (["chmod", "700", str(bad)] if case == "open-root" else
                     ["chown", "root:root", str(bad), "&&", "chmod", "go-w", str(bad)]), command
    subprocess.run(["sh", "-c", command], check=True)
    st = os.stat(bad)
    assert st.st_uid == 0 and (case != "open-root" or not st.st_mode & 0o077)
    assert install(dist, root, *opts).exit_code == 0


@pytest.mark.parametrize("case", ["parent-owned-by-nobody", "parent-world-writable", "itself-owned-by-nobody",
                                  "through-a-symlink"])
def test_a_local_install_where_another_account_could_change_it_is_refused_before_anything(tmp_path, dist, case):
    """Whoever runs a local install runs NSO's programs from its directory and keeps its keys
    there: a directory on the way another account owns or can write would let it swap the tree
    between runs (found by review: only system installs were checked; a local install into a
    world-writable directory, or over another account's empty directory, went ahead)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    given = shared / "nso"
    if case == "parent-owned-by-nobody":
        os.chown(shared, NOBODY, NOBODY)
        said = f"{shared} belongs to uid 65534"
    elif case == "parent-world-writable":
        os.chmod(shared, 0o777)
        said = f"{shared} is writable by group or others (mode 0777)"
    elif case == "itself-owned-by-nobody":
        os.chmod(shared, 0o1777)  # sticky: the account's own directory in it is the problem
        given.mkdir()
        os.chown(given, NOBODY, NOBODY)
        said = f"{given} belongs to uid 65534"
    else:
        os.chown(shared, NOBODY, NOBODY)
        os.symlink(shared, tmp_path / "link")
        given = tmp_path / "link/nso"
        said = f"{shared} belongs to uid 65534"
    before = snapshot(tmp_path)
    for check in ((), ("--check",)):
        r = cli("install", dist, "--local-install", given, *check, ok=False)
        assert r.exit_code == 1 and "untrusted-directory" not in r.stdout and said in r.stderr, r.output
        assert "--local-install" in r.stderr
        if case == "parent-world-writable":
            assert "~/nso-VERSION" in r.stderr
        else:  # (root, this test's caller, was told to "make it yours": take over the account's directory)
            assert "run nso-install as it (runuser -u ACCOUNT" in r.stderr and "make" not in r.stderr
    assert snapshot(tmp_path) == before


def test_the_hint_for_another_accounts_staged_local_directory_aims_at_the_staging_root(tmp_path, dist):
    """Root told to run the install as the account that owns the directory: under --root the
    command named the target path alone, which as that account installs into the host's."""
    root = tmp_path / "st age"
    (root / "home/lucy").mkdir(parents=True)
    os.chmod(root, 0o700)
    os.chown(root / "home/lucy", NOBODY, NOBODY)
    r = cli("install", dist, "--local-install", "/home/lucy/nso", "--root", root, ok=False)
    assert r.exit_code == 1 and "/home/lucy belongs to uid 65534" in r.stderr, r.output
    said = " ".join(r.stderr.split())
    command = said.split("runuser -u ACCOUNT -- ")[1].split(");")[0]
    assert shlex.split(command) == ["nso-install", "install", "DIST", "--local-install", "/home/lucy/nso",
                                    "--root", str(root)], command
    assert not (root / "home/lucy/nso").exists()


def test_a_local_install_in_a_sticky_directory_or_the_callers_own_is_accepted(tmp_path, dist):
    shared = tmp_path / "tmp"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    cli("install", dist, "--local-install", shared / "nso")
    assert (shared / "nso/VERSION").is_file()


def test_a_sticky_directory_above_a_root_owned_one_and_the_accounts_own_above_its_run_dir_are_accepted(root, dist):
    """/tmp-like (1777) above a directory root owns: nobody else can rename what root owns in
    it. The NSO account owning what holds its run directory gains nothing (it owns that anyway)."""
    install(dist, root, "--run-as-user", "nso")
    (root / "srv/nso").mkdir(parents=True)
    os.chmod(root / "srv", 0o1777)
    (root / "home/nso").mkdir(parents=True)
    os.chown(root / "home/nso", *ids(root, "nso"))
    r = install(dist, root, "--run-as-user", "nso", "--install-dir", "/srv/nso/ncs", "--run-dir", "/home/nso/run")
    assert (root / "srv/nso/ncs/current/VERSION").is_file() and (root / "home/nso/run").is_dir()
    assert "changed" in r.output


def test_no_setuid_or_capability_below_a_directory_another_account_prepared(root, dist):
    """ROOT itself is root's, but ROOT/opt was made by another account beforehand: it could
    swap the binaries (or the whole tree root runs NSO from), so the install is refused before
    anything is written, no privilege given."""
    (root / "opt").mkdir()
    os.chown(root / "opt", NOBODY, NOBODY)
    before = snapshot(root)
    r = install(dist, root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1 and "--install-dir /opt/ncs: /opt belongs to uid 65534" in r.stderr
    assert snapshot(root) == before


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
    for p in (tmp_path / "a", tmp_path / "a/b", tmp_path / "a/b/root/var/lib"):
        assert mode(p) == 0o755, p
    assert mode(tmp_path / "a/b/root") == 0o700  # a staging root nso-install makes is private
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


def test_a_hostile_distribution_leaves_nothing_beside_a_local_install(tmp_path):
    """No tree, no in-progress marker and no lock beside DIR: the lock file the refused run
    made went with it (it used to stay, ``.nso.nso-install-lock``)."""
    import tarfile
    bad = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    good = make_sample_distribution(tmp_path / "good", "6.5.3", "dir")
    with tarfile.open(bad, "w:gz") as tf:
        tf.add(good, arcname="nso-6.5.3")
        tf.addfile(tarfile.TarInfo("nso-6.5.3/zz/../../../../etc/evil"))
    home = tmp_path / "home"
    home.mkdir()
    r = cli("install", bad, "--local-install", home / "nso", ok=False)
    assert r.exit_code == 1 and "refusing the whole distribution" in r.stderr
    assert os.listdir(home) == []


def test_a_local_install_refused_over_another_directory_leaves_no_lock_beside_it(tmp_path, dist):
    """DIR exists and is no NSO install (an administrator's directory): the refused run kept
    the lock file it had made, ``.nso.nso-install-lock``, beside it. A lock made earlier by a
    run that installed stays (see test_records_and_lock)."""
    home = tmp_path / "home"
    (home / "nso").mkdir(parents=True)
    (home / "nso/notes.txt").write_text("hers\n")
    before = snapshot(home)
    r = cli("install", dist, "--local-install", home / "nso", ok=False)
    assert r.exit_code == 1 and "does not hold NSO" in r.stderr, r.output
    after = snapshot(home)  # (home's mtime moved: the lock came and went)
    assert sorted(os.listdir(home)) == ["nso"] and after.pop(".")[:5] == before.pop(".")[:5] and after == before


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
    # no IPC grants: nobody but root and the NSO account may enter (its own group)
    assert (mode(root / "run/ncs"), st.st_uid, st.st_gid) == (0o750, users["nso"], groups["nso"])


# --- taking over from the NSO account --------------------------------------------------------------

def ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise KeyError(name)


def as_account(root, uid_gid, rel, content=None, mode=0o644, directory=False):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        p.mkdir(exist_ok=True)
    else:
        p.write_text(content or "x\n")
    os.chown(p, *uid_gid)
    os.chmod(p, mode)
    return p


def test_code_the_account_put_where_nso_loads_it_is_moved_aside_not_run_by_root(root, dist):
    install(dist, root, "--run-as-user", "nso")
    nso = ids(root, "nso")
    as_account(root, nso, "var/opt/ncs/packages/evil", directory=True, mode=0o777)
    as_account(root, nso, "var/opt/ncs/packages/evil/python/main.py", "import os\n", 0o666)
    as_account(root, nso, "var/opt/ncs/scripts/command/evil.sh", "#!/bin/sh\nid\n", 0o755)
    os.symlink("/etc/shadow", root / "var/log/ncs/ncs.log")
    os.lchown(root / "var/log/ncs/ncs.log", *nso)
    as_account(root, nso, "var/opt/ncs/state/w", directory=True, mode=0o777)
    as_account(root, nso, "var/opt/ncs/state/f", "data\n", 0o666)
    r = install(dist, root, "--no-run-as-user")
    assert "moved" in r.output and "review them" in r.output
    quarantines = sorted(root.glob("var/opt/ncs/.nso-install-quarantine.nso.*"))
    assert len(quarantines) == 1 and mode(quarantines[0]) == 0o700 and os.stat(quarantines[0]).st_uid == 0
    assert sorted(p.name for p in quarantines[0].iterdir()) == ["packages%evil", "scripts%command"]
    assert not (root / "var/opt/ncs/packages/evil").exists()
    assert not os.path.lexists(root / "var/log/ncs/ncs.log")  # the link went aside too
    assert any(p.name == "ncs.log" for p in next(root.glob("var/log/ncs/.nso-install-quarantine.*")).iterdir())
    assert mode(root / "var/opt/ncs/state/w") == 0o755 and mode(root / "var/opt/ncs/state/f") == 0o644
    leftover = [p for p in root.rglob("*") if not p.is_symlink() and p.lstat().st_uid == nso[0]
                and ".nso-install-quarantine" not in str(p)]
    assert leftover == []


def test_an_account_edited_file_is_not_adopted_by_the_next_account_either(root, dist):
    install(dist, root, "--run-as-user", "nso")
    conf = root / "etc/ncs/ncs.systemd.conf"
    with open(conf, "a") as f:
        f.write("LD_PRELOAD=/var/tmp/nso-owned.so\n")
    install(dist, root, "--run-as-user", "nso2")
    assert "LD_PRELOAD" not in conf.read_text() and os.stat(conf).st_uid == ids(root, "nso2")[0]
    assert any("LD_PRELOAD" in p.read_text() for p in conf.parent.glob("ncs.systemd.conf.from-nso.*"))


def test_a_file_leaving_an_account_gets_the_rendering_never_a_copy_of_what_it_holds(root, dist, monkeypatch):
    """The account may change the file between the check and the change: what root ends up with
    must be the rendering, not whatever the account wrote at the last moment."""
    from nso_install import facts as facts_mod

    install(dist, root, "--run-as-user", "nso")
    conf = root / "etc/ncs/ncs.systemd.conf"
    real = facts_mod.Facts.sha256
    raced_once = []

    def raced(self, tpath):
        digest = real(self, tpath)
        if str(tpath) == "/etc/ncs/ncs.systemd.conf" and not raced_once:
            raced_once.append(1)
            with open(conf, "ab") as f:  # the account appends right after the check
                f.write(b"LD_PRELOAD=/tmp/evil.so\n")
        return digest
    monkeypatch.setattr(facts_mod.Facts, "sha256", raced)
    install(dist, root, "--no-run-as-user", "--init-system", "sysv")
    assert raced_once and b"LD_PRELOAD" not in conf.read_bytes() and os.stat(conf).st_uid == 0


def test_a_deep_tree_made_by_the_account_stops_the_withdrawal_clearly_before_the_service_changes(root, dist):
    install(dist, root, "--run-as-user", "nso")
    nso = ids(root, "nso")
    p = root / "var/opt/ncs/state"
    fd = os.open(p, os.O_RDONLY)
    for _ in range(300):  # deeper than nso-install walks
        os.mkdir("d", dir_fd=fd)
        os.chown("d", *nso, dir_fd=fd)
        nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    r = install(dist, root, "--no-run-as-user", ok=False)
    assert r.exit_code == 1 and "nested more than" in r.stderr and "bug" not in r.stderr
    assert "User=nso" in (root / "etc/systemd/system/ncs.service").read_text()  # nothing handed to root yet


@pytest.mark.parametrize("why", ["hard-link", "running"])
def test_a_hand_over_the_account_can_stop_is_refused_before_anything_changes(root, dist, monkeypatch, why):
    """Reown's refusals (a file of the account's with a second name, a process of it running)
    came when its turn came: the run stopped half way, nso already out of ncsadmin."""
    install(dist, root, "--run-as-user", "nso")
    nso = ids(root, "nso")
    mine = root / "var/opt/ncs/state/mine"
    mine.write_text("x\n")
    os.chown(mine, *nso)
    if why == "hard-link":
        os.link(mine, root / "var/opt/ncs/state/other-name")
    else:  # (a staged root has no processes: play a host whose nso still runs NSO)
        _as_if_running(monkeypatch, nso[0])
    before = snapshot(root)
    r = install(dist, root, "--no-run-as-user", ok=False)
    assert r.exit_code == 1, r.output
    assert ("2 names (hard links)" if why == "hard-link" else "still runs processes (pid 4242)") in r.stderr
    assert snapshot(root) == before, "changed before the refusal"


def test_a_running_account_with_nothing_to_hand_over_does_not_stop_the_withdrawal(root, dist, monkeypatch):
    """The preflight refused whenever the account ran, also with nothing of it to hand over:
    then apply never runs and refuses nothing (its conffiles are replaced by copies, which a
    descriptor it holds cannot reach: tests/integration/test_withdrawal.py)."""
    install(dist, root, "--run-as-user", "nso")
    _as_if_running(monkeypatch, ids(root, "nso")[0])
    r = install(dist, root, "--no-run-as-user")
    assert r.exit_code == 0 and "still runs" not in r.output


def _as_if_running(monkeypatch, uid: int) -> None:
    """The hand-over's process check as on a host where ``uid`` runs pid 4242 (a staged root has
    no processes).  Not by making the target unstaged: the account tools would then change the
    host's /etc/group."""
    from nso_install.actions import files

    def refuse_running(facts, ctx, who_uid, who):
        if who_uid == uid:
            raise files.ApplyError("account-still-running", f"{who} still runs processes (pid 4242).", "Stop it.")

    monkeypatch.setattr(files, "refuse_running", refuse_running)


def test_a_sparse_file_of_the_account_is_taken_over_without_filling_the_disk(root, dist):
    install(dist, root, "--run-as-user", "nso")
    big = root / "var/log/ncs/sparse.log"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    os.chown(big, *ids(root, "nso"))
    install(dist, root, "--no-run-as-user")
    st = os.stat(big)
    assert st.st_uid == 0 and st.st_size == 2 << 30 and st.st_blocks * 512 < 1 << 20


def test_privileges_leave_renamed_trees_and_earlier_install_dirs_too(root, dist):
    install(dist, root, "--run-as-user", "nso")
    os.rename(root / "opt/ncs/ncs-6.5.3", root / "opt/ncs/ncs-6.5.3.backup")
    install(dist, root)  # a fresh tree under the usual name, the renamed one stays
    install(dist, root, "--install-dir", "/srv/nso", "--no-run-as-user")
    setuid = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mode & 0o6000]
    caps = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and "security.capability" in os.listxattr(p, follow_symlinks=False)]
    assert setuid == [] and caps == []


def test_a_membership_added_by_a_run_that_failed_later_is_still_withdrawn(root, dist):
    (root / "etc/ncs/ncs.conf").mkdir(parents=True)  # makes the run fail after the accounts
    r = install(dist, root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert state["grants"]["memberships"] == [["nso", "ncsadmin"]]
    (root / "etc/ncs/ncs.conf").rmdir()
    install(dist, root, "--run-as-user", "nso")
    install(dist, root, "--no-run-as-user")
    members = next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("ncsadmin:"))
    assert members.split(":")[3] == ""


@pytest.mark.timeout(60)
def test_a_huge_sparse_config_file_of_the_account_is_refused_quickly(root, dist):
    install(dist, root, "--run-as-user", "nso")
    conf = root / "etc/ncs/ncs.systemd.conf"
    with open(conf, "r+b") as f:
        f.truncate(8 << 30)
    r = install(dist, root, "--check", "--diff", "--force-conf")  # (a diff is shown when it would be replaced)
    assert r.exit_code == 0 and "too large to show" in r.output
    install(dist, root, "--init-system", "sysv")  # root takes it over: moved aside, never read whole
    assert os.stat(conf).st_size < 4096


def test_privileged_system_groups_cannot_be_the_nso_account(root, dist):
    r = install(dist, root, "--run-as-user", "disk", ok=False)
    assert r.exit_code == 2 and "system group" in r.stderr
    with open(root / "etc/group", "a") as f:
        f.write("sudo2:x:2000:\n")
    lines = (root / "etc/group").read_text().replace("\nsudo:x:27:", "\nsudo:x:27:mallory")
    (root / "etc/group").write_text(lines if "sudo:x:27:mallory" in lines else lines + "sudo:x:27:mallory\n")
    with open(root / "etc/passwd", "a") as f:
        f.write("mallory:x:2001:2001::/home/mallory:/usr/sbin/nologin\n")
    with open(root / "etc/group", "a") as f:
        f.write("mallory:x:2001:\n")
    r = install(dist, root, "--run-as-user", "mallory", ok=False)
    assert r.exit_code == 2 and "sudo" in r.stderr


def test_a_hostile_distribution_with_an_empty_tree_directory_changes_no_account(root, tmp_path):
    import tarfile
    (root / "opt/ncs/ncs-6.5.3").mkdir(parents=True)  # an earlier attempt left it
    bad = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    good = make_sample_distribution(tmp_path / "good", "6.5.3", "dir")
    with tarfile.open(bad, "w:gz") as tf:
        tf.add(good, arcname="nso-6.5.3")
        evil = tarfile.TarInfo("nso-6.5.3/evil")
        evil.type, evil.linkname = tarfile.SYMTYPE, "../../../etc"
        tf.addfile(evil)
    before = (root / "etc/passwd").read_text(), (root / "etc/group").read_text()
    r = install(bad, root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1 and ((root / "etc/passwd").read_text(), (root / "etc/group").read_text()) == before


def test_a_hard_link_planted_in_the_accounts_directory_is_never_followed(root, dist, tmp_path):
    install(dist, root, "--run-as-user", "nso")
    secret = root / "etc/secret-of-root"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    aaa = root / "var/opt/ncs/cdb/aaa_init.xml"
    aaa.unlink()
    os.link(secret, aaa)
    r = install(dist, root, "--check", "--diff", ok=False)
    assert r.exit_code == 1 and "hard link" in r.stderr and "root only" not in r.output
    st = os.stat(secret)
    assert (st.st_uid, mode(secret)) == (0, 0o600)


def test_links_in_a_directory_the_account_owns_are_not_followed_even_when_root_owns_them(root, dist, tmp_path):
    install(dist, root, "--run-as-user", "nso")
    outside = tmp_path / "outside"
    outside.mkdir()
    cdb = root / "var/opt/ncs/cdb"
    shutil.rmtree(cdb)
    os.symlink(outside, cdb)  # root-owned link (as if moved there by the account) in nso's run dir
    r = install(dist, root, ok=False)
    assert r.exit_code == 1 and "refusing to follow" in r.stderr
    assert list(outside.iterdir()) == []


def test_a_damaged_state_file_is_treated_as_damaged_not_a_bug(root, dist):
    install(dist, root)
    st = root / "var/lib/nso-install/state.json"
    for bad in ({"grants": {"memberships": [["nso"]]}, "conffiles": {}},
                {"spec": {"format": 1, "kind": "system", "install_dir": 5}, "conffiles": {}}):
        st.write_text(json.dumps(bad))
        r = install(dist, root)
        assert r.exit_code == 0 and "bug" not in r.output


def test_records_another_account_could_have_edited_are_not_trusted_for_privileges(root, dist):
    """A staging root's state written (or edited) without root's seal: the tree is checked again
    against the distribution before any privilege, so a forged digest gets nothing."""
    install(dist, root)
    epam = root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam"
    genuine = epam.read_bytes()
    epam.write_bytes(b"#!/bin/sh\nexec /bin/sh\n")
    state_file = root / "var/lib/nso-install/state.json"
    state = json.loads(state_file.read_text())
    import hashlib
    state["unpacked"]["/opt/ncs/ncs-6.5.3"]["lib/ncs/lib/core/pam/priv/epam"] = hashlib.sha256(
        epam.read_bytes()).hexdigest()
    state_file.write_text(json.dumps(state))  # edited: the seal no longer matches
    install(dist, root, "--run-as-user", "nso")
    assert epam.read_bytes() == genuine and mode(epam) == 0o4750


def test_staging_with_run_as_user_needs_a_private_root(tmp_path, dist):
    stage = tmp_path / "stage"
    (stage / "etc").mkdir(parents=True)
    shutil.copy("/etc/passwd", stage / "etc/passwd")
    shutil.copy("/etc/group", stage / "etc/group")
    os.chmod(stage, 0o755)
    r = install(dist, stage, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 2 and "chmod 700" in r.stderr


def test_a_staging_root_named_through_a_link_and_dotdot_is_refused(tmp_path, dist):
    (tmp_path / "elsewhere/sub").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere/sub", tmp_path / "link")
    r = install(dist, f"{tmp_path}/link/../stage", ok=False)
    assert r.exit_code == 2 and "real path" in r.stderr
    assert not (tmp_path / "elsewhere/stage").exists()


def test_a_staging_root_component_made_by_another_account_meanwhile_is_refused(tmp_path, dist, monkeypatch):
    from nso_install import fsops
    real = fsops.ensure_dirs

    def racing(host, *a, **kw):  # another account creates a component between check and creation
        if not (tmp_path / "a").exists():
            (tmp_path / "a").mkdir()
            os.chown(tmp_path / "a", NOBODY, NOBODY)
            os.chmod(tmp_path / "a", 0o777)
        return real(host, *a, **kw)
    monkeypatch.setattr(fsops, "ensure_dirs", racing)
    r = install(dist, tmp_path / "a/stage", ok=False)
    assert r.exit_code == 2 and "belongs to uid 65534" in r.stderr


def test_a_foreign_run_marker_under_a_staging_root_is_named_by_the_path_to_remove(tmp_path, dist):
    """The hint said `rm /srv/.nso.nso-install-in-progress.json`, the target path: pasted, it
    removed the host's file of that name (if any), never the one in the staging root."""
    import shlex

    root = tmp_path / "st age"  # (a blank: the path must stay one word)
    (root / "srv").mkdir(parents=True)
    os.chmod(root, 0o700)
    marker = root / "srv/.nso.nso-install-in-progress.json"
    marker.write_text("{}\n")
    os.chown(marker, NOBODY, NOBODY)
    r = cli("install", dist, "--local-install", "/srv/nso", "--root", root, ok=False)
    assert r.exit_code == 1 and "belongs to uid 65534" in r.stderr, r.output
    said = " ".join(r.stderr.split())
    given = said.split("remove it (")[1].split(") and re-run")[0]
    assert shlex.split(given) == ["rm", str(marker)], given
    subprocess.run(shlex.split(given), check=True)
    assert not marker.exists()


def test_what_the_account_put_in_its_home_for_programs_to_read_is_not_the_next_accounts(root, dist):
    """RUN_DIR is the NSO account's home: a Python's user site-packages, sshd's authorized_keys
    (port forwarding works for a nologin account) and XDG configuration the old account left
    there would be read as the new one's. They go aside for review; its other data is taken over."""
    install(dist, root, "--run-as-user", "nso")
    nso = ids(root, "nso")
    for d in (".local", ".local/lib", ".ssh", ".config"):
        as_account(root, nso, f"var/opt/ncs/{d}", directory=True, mode=0o700)
    as_account(root, nso, "var/opt/ncs/.local/lib/evil.pth", "import os\n")
    as_account(root, nso, "var/opt/ncs/.ssh/authorized_keys", "ssh-ed25519 AAAA mallory\n", 0o600)
    as_account(root, nso, "var/opt/ncs/.config/erlang/.erlang", "os:cmd(\"id\").\n")
    as_account(root, nso, "var/opt/ncs/state/kept", "data\n")
    r = install(dist, root, "--run-as-user", "nso2")
    assert "review them" in r.output
    (quarantine,) = root.glob("var/opt/ncs/.nso-install-quarantine.nso.*")
    assert sorted(p.name for p in quarantine.iterdir()) == [".config%erlang", ".local%lib", ".ssh%authorized_keys"]
    assert not os.path.lexists(root / "var/opt/ncs/.ssh/authorized_keys")
    assert list((root / "var/opt/ncs/.local").iterdir()) == []
    nso2 = ids(root, "nso2")
    assert os.stat(root / "var/opt/ncs/state/kept").st_uid == nso2[0]
    assert os.stat(root / "var/opt/ncs/.ssh").st_uid == nso2[0]  # the directory itself, emptied, is handed over


@pytest.mark.parametrize("runas", ["root", "nso"])
@pytest.mark.parametrize("recorded", [True, False])
@pytest.mark.parametrize("how", ["owned", "open-directory"])
def test_a_tree_another_account_could_write_is_never_activated_and_nothing_changes(root, dists, recorded, runas, how):
    """activate, as root, to a tree of INSTALL_DIR another account owns (chowned to it: the
    vendor's example chowns /opt/ncs) or could write (a directory in it open to others): refused
    before anything changes.  Unrecorded, with NSO running as root (no privilege to set), the
    switch went through: current led to nobody's bin/ncs, which the unit and every login shell
    run as root; with a run-as user it was refused only after ncsrc was written into that tree."""
    import tarfile

    install(dists["6.4.1"], root, *(["--run-as-user", "nso"] if runas == "nso" else []))
    tree = root / "opt/ncs/ncs-6.5.3"
    if recorded:
        install(dists["6.5.3"], root)
    else:  # as NSO's own installer leaves it
        unpacked = root.parent / "unpacked"
        with tarfile.open(dists["6.5.3"]) as tf:
            extract_all(tf, unpacked)
        shutil.move(str(unpacked / "nso-6.5.3"), tree)
    off_3des(root)
    if how == "owned":
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), NOBODY, NOBODY)
        os.lchown(tree, NOBODY, NOBODY)
    else:
        os.chmod(tree / "bin", 0o777)
    before = snapshot(root)
    r = cli("activate", "6.5.3", "--root", root, ok=False)
    assert r.exit_code == 1 and "untrusted-tree" not in r.output
    said = "belongs to uid 65534" if how == "owned" else "/opt/ncs/ncs-6.5.3/bin is writable by others"
    assert said in r.stderr and "nothing was switched" in r.stderr, r.stderr
    assert snapshot(root) == before
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.1"
    if not recorded:  # (one nso-install unpacked for a run-as user has its privileges from that run)
        privileged = [p for p in tree.rglob("*") if not p.is_symlink()
                      and (os.lstat(p).st_mode & 0o6000 or _has_cap(p))]
        assert privileged == []
    r = cli("activate", "6.5.3", "--root", root, "--json", ok=False)
    assert json.loads(r.stdout)["error"]["reference"] == "untrusted-tree"


def test_a_tree_only_root_and_group_root_may_write_is_activated(root, dists):
    """Group root's write is root's own: a vendor's tree with a root:root 0775 directory is no
    other account's, and activate switches to it."""
    import tarfile

    install(dists["6.4.1"], root)
    unpacked = root.parent / "unpacked"
    with tarfile.open(dists["6.5.3"]) as tf:
        extract_all(tf, unpacked)
    shutil.move(str(unpacked / "nso-6.5.3"), root / "opt/ncs/ncs-6.5.3")
    off_3des(root)
    os.chown(root / "opt/ncs/ncs-6.5.3/bin", 0, 0)
    os.chmod(root / "opt/ncs/ncs-6.5.3/bin", 0o775)
    cli("activate", "6.5.3", "--root", root)
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.5.3"


def _has_cap(p) -> bool:
    try:
        os.getxattr(p, "security.capability", follow_symlinks=False)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("recorded", [True, False])
def test_another_accounts_entry_in_a_tree_is_never_kept_by_a_repair_nor_recorded(root, dists, recorded):
    """install DIST --activate over a tree of that version that another account could write (a
    vendor tree chowned to it, or a recorded one whose bin/ was opened to all): the repair
    restored the distribution's files but carried that account's extra bin/evil into the
    repaired tree as it was (nobody's, executable), made it current, and recorded it as
    unpacked: on the PATH of every root login shell.  Now refused before anything changes."""
    import tarfile

    install(dists["6.4.1"], root)
    tree = root / "opt/ncs/ncs-6.5.3"
    if recorded:
        install(dists["6.5.3"], root)
        os.chmod(tree / "bin", 0o777)
    else:  # as NSO's own installer leaves it, then chowned to the account
        unpacked = root.parent / "unpacked"
        with tarfile.open(dists["6.5.3"]) as tf:
            extract_all(tf, unpacked)
        shutil.move(str(unpacked / "nso-6.5.3"), tree)
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), NOBODY, NOBODY)
        os.lchown(tree, NOBODY, NOBODY)
    off_3des(root)
    evil = tree / "bin/evil"
    evil.write_text("#!/bin/sh\nid\n")
    os.chown(evil, NOBODY, NOBODY)
    os.chmod(evil, 0o755)
    before = snapshot(root)
    if recorded:  # (--check unpacks nothing: an unrecorded tree's extra entries are known in the run)
        r = install(dists["6.5.3"], root, "--activate", "--check", ok=False)
        assert r.exit_code == 1 and "bin/evil is not in the NSO 6.5.3 distribution" in r.stderr, r.output
    r = install(dists["6.5.3"], root, "--activate", ok=False)
    assert r.exit_code == 1, r.output
    assert "/opt/ncs/ncs-6.5.3/bin/evil is not in the NSO 6.5.3 distribution and belongs to uid 65534" in r.stderr
    # (no temporary tree left beside it either; INSTALL_DIR's mtime is the unpack's, removed again)
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k != "opt/ncs"} == {k: v for k, v in before.items() if k != "opt/ncs"}
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.1"
    r = install(dists["6.5.3"], root, "--activate", "--json", ok=False)
    assert json.loads(r.stdout)["error"]["reference"] == "untrusted-tree"
    # moved out (as the hint says), the repair goes through and nothing of the account's stays
    os.rename(evil, root.parent / "evil")
    install(dists["6.5.3"], root, "--activate")
    assert [p for p in tree.rglob("*") if os.lstat(p).st_uid == NOBODY] == []
