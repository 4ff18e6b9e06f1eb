"""nso-install's own records and its lock, each guard on its own: the lock's owner and its mode
are separate conditions, a lock or a record is never reached through a link, history is only
ever appended to a regular file, and every record (state, history, manifests) is private."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import time

import pytest

from nso_install import manifest
from nso_install.errors import NsoInstallError, UnsafePathError, UsageError
from nso_install.state import State, locked
from nso_install.target import Target

from support import NOBODY, as_nobody, public_tmp_dir

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="plays another account with chown (root only)")


def mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _local_lock(tmp_path):
    """(target, state path, the lock file) of a local install at tmp_path/nso."""
    return Target.at(None), f"{tmp_path}/nso/.nso-install/state.json", tmp_path / ".nso.nso-install-lock"


def test_the_local_lock_is_taken_on_a_private_file(tmp_path):
    target, spath, lockfile = _local_lock(tmp_path)
    with locked(target, spath, system=False):
        assert mode(lockfile) == 0o600 and os.stat(lockfile).st_uid == os.geteuid()


@pytest.mark.parametrize("installed", [False, True])
@pytest.mark.parametrize("refused", [False, True])
def test_a_run_that_leaves_no_local_install_leaves_no_lock_beside_it(tmp_path, installed, refused):
    """A refused first install (or one that installed nothing) leaves nothing beside DIR, also
    when DIR is there (another directory it was refused over, or a first unpack it stopped in);
    beside an install, the lock stays (a re-run takes it at once, see lock_if_free)."""
    target, spath, lockfile = _local_lock(tmp_path)
    with contextlib.suppress(RuntimeError):
        with locked(target, spath, system=False):
            if installed:
                (tmp_path / "nso").mkdir()
            if refused:
                raise RuntimeError("refused")
    assert lockfile.exists() == (installed and not refused)


def test_a_lock_made_before_by_a_run_that_installed_stays_when_a_run_fails(tmp_path):
    target, spath, lockfile = _local_lock(tmp_path)
    with locked(target, spath, system=False):
        (tmp_path / "nso").mkdir()
    with contextlib.suppress(RuntimeError):
        with locked(target, spath, system=False):
            raise RuntimeError("refused")
    assert lockfile.exists()


def test_a_run_waiting_for_a_lock_its_holder_removes_takes_the_one_at_its_name(tmp_path):
    """The holder removes the lock file while it holds it; a run blocked on that (now nameless)
    file must not count it as held, or it and a third run (which makes the file anew) would
    both run at once."""
    import threading

    target, spath, lockfile = _local_lock(tmp_path)
    waited = threading.Event()
    seen = {}

    def waiter():
        waited.set()
        with locked(target, spath, system=False, timeout=10):
            fd = os.open(lockfile, os.O_RDONLY)  # whoever holds the lock holds the file at its name
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen["free"] = True
            except BlockingIOError:
                seen["free"] = False
            finally:
                os.close(fd)

    with locked(target, spath, system=False):
        t = threading.Thread(target=waiter)
        t.start()
        waited.wait()
        time.sleep(0.5)  # (the waiter is now polling the file this run removes)
    t.join()
    assert seen == {"free": False}


@pytest.mark.parametrize("loose", [0o644, 0o640])
def test_a_lock_file_others_can_open_is_refused_even_when_it_is_ours(tmp_path, loose):
    """...and the hint makes it private again: never removes it."""
    target, spath, lockfile = _local_lock(tmp_path)
    lockfile.write_text("")
    os.chmod(lockfile, loose)
    with pytest.raises(UnsafePathError) as e:
        with locked(target, spath, system=False):
            pass
    assert e.value.reference == "unsafe-lock"
    assert f"is open to other accounts (mode {loose:04o}, not 0600)" in e.value.message
    assert e.value.hint.startswith(f"Make it private again (chmod 600 {lockfile})")


@root_only
def test_a_private_lock_file_of_another_account_is_refused(tmp_path):
    """0600, so the mode is fine: only its owner gives it away (that account can hold it to
    block every run)."""
    target, spath, lockfile = _local_lock(tmp_path)
    lockfile.write_text("")
    os.chmod(lockfile, 0o600)
    os.chown(lockfile, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError) as e:
        with locked(target, spath, system=False):
            pass
    assert e.value.reference == "unsafe-lock" and f"uid {NOBODY}" in e.value.message


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_left_alone(tmp_path):
    target, spath, lockfile = _local_lock(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("")
    os.chmod(victim, 0o600)  # a private file of ours: the link alone is what is wrong
    os.symlink(victim, lockfile)
    with pytest.raises(UnsafePathError) as e:
        with locked(target, spath, system=False):
            pass
    assert e.value.reference == "unsafe-lock" and os.path.islink(lockfile)


def test_the_system_lock_directory_is_private(tmp_path):
    target = Target.at(tmp_path)
    with locked(target, "/var/lib/nso-install/state.json", system=True) as made:
        assert mode(tmp_path / "var/lib/nso-install") == 0o700
        assert made == ["/var", "/var/lib", "/var/lib/nso-install"]
    assert not (tmp_path / "var").exists()  # a run that recorded nothing leaves no trace


def test_a_loose_system_state_directory_says_its_mode_and_hints_chmod_never_rm(tmp_path):
    """It said "belongs to uid 0 or is open to others" of root's own directory, and hinted
    rm -r of nso-install's records (manifests, conffile hashes, history, created accounts)."""
    target = Target.at(tmp_path)
    state_dir = tmp_path / "var/lib/nso-install"
    state_dir.mkdir(parents=True, mode=0o755)
    os.chmod(state_dir, 0o755)
    (state_dir / "state.json").write_text("{}")
    with pytest.raises(UnsafePathError) as e:
        with locked(target, "/var/lib/nso-install/state.json", system=True):
            pass
    assert e.value.reference == "unsafe-lock"
    assert "is open to other accounts (mode 0755, not 0700)" in e.value.message
    assert "belongs" not in e.value.message and " or " not in e.value.message
    assert f"chmod 700 {state_dir}" in e.value.hint and "rm " not in e.value.hint
    assert (state_dir / "state.json").exists()


@root_only
def test_a_system_state_directory_of_another_account_says_its_owner_and_hints_chown_never_rm(tmp_path):
    target = Target.at(tmp_path)
    state_dir = tmp_path / "var/lib/nso-install"
    state_dir.mkdir(parents=True)
    os.chmod(state_dir, 0o700)
    os.chown(state_dir, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError) as e:
        with locked(target, "/var/lib/nso-install/state.json", system=True):
            pass
    assert f"belongs to uid {NOBODY}, not to uid 0" in e.value.message and "open to" not in e.value.message
    assert f"chown 0 {state_dir} && chmod 700 {state_dir}" in e.value.hint and "rm " not in e.value.hint


# --- a local install where the account may not write -----------------------------------------

@pytest.fixture
def public_tmp():
    """A directory nobody can reach (pytest's own are root's 0700)."""
    with public_tmp_dir() as d:
        yield str(d)


@root_only
@pytest.mark.parametrize("below", ["nso", "a/b/nso"])
def test_a_local_install_below_a_directory_the_account_cannot_write_is_a_usage_error(public_tmp, below):
    """It said "cannot open the lock ...; another account may have created it ... rm LOCK" of a
    lock that did not exist (the parent is not writable), or showed a traceback (a missing
    directory on the way could not be made)."""
    ro = os.path.join(public_tmp, "ro")
    os.mkdir(ro, 0o555)
    install_dir = os.path.join(ro, below)
    with as_nobody(), pytest.raises(UsageError) as e:
        with locked(Target.at(None), f"{install_dir}/.nso-install/state.json", system=False):
            pass
    assert e.value.reference == "local-dir-not-writable"
    assert e.value.message == (f"cannot create the local install directory {install_dir}: {ro} is not writable by "
                               f"uid {NOBODY} (owner uid 0, mode 0555).")
    assert "~/nso-VERSION" in e.value.hint and "rm " not in e.value.hint
    assert os.listdir(ro) == []


@root_only
def test_a_lock_beside_an_existing_install_directory_in_a_directory_the_account_cannot_write(public_tmp):
    ro = os.path.join(public_tmp, "ro")
    os.mkdir(ro, 0o755)
    os.mkdir(os.path.join(ro, "nso"))
    os.chown(os.path.join(ro, "nso"), NOBODY, NOBODY)
    with as_nobody(), pytest.raises(UsageError) as e:
        with locked(Target.at(None), f"{ro}/nso/.nso-install/state.json", system=False):
            pass
    assert e.value.message.startswith(f"cannot create the lock {ro}/.nso.nso-install-lock beside the local install "
                                      f"directory {ro}/nso: {ro} is not writable by uid {NOBODY}")
    assert os.listdir(ro) == ["nso"]


@root_only
def test_a_path_below_a_directory_the_account_cannot_search_is_a_usage_error(public_tmp):
    """A traceback (PermissionError from lstat) before."""
    private = os.path.join(public_tmp, "private")
    os.mkdir(private, 0o700)
    with as_nobody(), pytest.raises(UsageError) as e:
        Target.at(None).host(f"{private}/x/.nso-install")
    assert e.value.reference == "path-not-reachable"
    assert f"cannot look into {private} as uid {NOBODY} (Permission denied)" in e.value.message


# --- records ----------------------------------------------------------------------------------

def test_a_link_planted_as_the_state_file_is_refused_as_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "state").mkdir(mode=0o700)
    os.symlink(victim, tmp_path / "state/state.json")
    st = State(Target.at(tmp_path), "/state/state.json")
    st.conffiles["/etc/ncs/ncs.conf"] = "0" * 64
    with pytest.raises(UnsafePathError) as e:
        st.save()
    assert e.value.reference == "symlink-refused" and victim.read_text() == "precious"


def test_a_link_planted_as_the_history_is_refused_as_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "state").mkdir(mode=0o700)
    os.symlink(victim, tmp_path / "state/history.jsonl")
    with pytest.raises(UnsafePathError) as e:
        State(Target.at(tmp_path), "/state/state.json").append_history({"changed": ["x"]})
    assert e.value.reference == "symlink-refused" and victim.read_text() == "precious\n"


def test_history_is_only_appended_to_a_regular_file(tmp_path):
    """A FIFO in place of history.jsonl (its reader would get every run's spec and notes) is not
    written to: the run says the history could not be saved, and the reader gets nothing."""
    (tmp_path / "state").mkdir(mode=0o700)
    fifo = tmp_path / "state/history.jsonl"
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # someone listening
    try:
        with pytest.raises(NsoInstallError) as e:
            State(Target.at(tmp_path), "/state/state.json").append_history({"changed": ["x"]})
        assert e.value.reference == "state-not-saved"
        assert os.read(reader, 65536) == b""
    finally:
        os.close(reader)


def test_state_history_and_manifests_are_private(tmp_path):
    st = State(Target.at(tmp_path), "/var/lib/nso-install/state.json")
    st.conffiles["/etc/ncs/ncs.conf"] = "0" * 64
    assert st.save()
    st.append_history({"changed": ["x"]})
    st.append_history({"changed": ["y"]})
    st.save_manifest("/opt/ncs/ncs-6.5.3", manifest.Manifest("/opt/ncs/ncs-6.5.3", "6.5.3"))
    d = tmp_path / "var/lib/nso-install"
    assert mode(d) == 0o700 and mode(d / "manifests") == 0o700
    assert mode(d / "state.json") == 0o600 and mode(d / "history.jsonl") == 0o600
    assert [mode(p) for p in (d / "manifests").iterdir()] == [0o600]
    assert len((d / "history.jsonl").read_text().splitlines()) == 2


@root_only
def test_check_of_a_local_install_the_account_cannot_create_refuses_as_the_run_does(public_tmp, sample_dists):
    """--check takes no lock, so it used to plan the whole install where the run then refused."""
    from support import cli

    ro = os.path.join(public_tmp, "ro")
    os.mkdir(ro, 0o555)
    dist = os.path.join(public_tmp, "nso-6.5.3.linux.x86_64.tar.gz")
    shutil.copy(sample_dists["tar.gz"], dist)
    os.chmod(dist, 0o644)
    cli("install", dist, "--local-install", os.path.join(public_tmp, "warm"))  # (imports: the stdlib is root's)
    with as_nobody():
        check = cli("install", dist, "--local-install", f"{ro}/nso", "--check", ok=False)
        run = cli("install", dist, "--local-install", f"{ro}/nso", ok=False)
    said = f"cannot create the local install directory {ro}/nso: {ro} is not writable by uid {NOBODY}"
    for r in (check, run):
        assert r.exit_code == 2 and said in r.stderr, r.output + r.stderr
    assert os.listdir(ro) == []


def test_a_half_written_local_marker_of_a_killed_run_is_removed_by_the_next(tmp_path):
    """Killed while writing its in-progress marker (beside DIR, where no Leftovers action looks),
    a run left its temporary copy there; the next run's marker takes it away, and only it: the
    temporary tree of another local install in the same directory is that install's."""
    target, spath, lockfile = _local_lock(tmp_path)
    half = tmp_path / ".nso-install-tmp..nso.nso-install-in-progress.json.0badc0de"
    other = tmp_path / ".nso-install-tmp.nso-6.4.12345678"
    half.write_text("{")
    other.mkdir()
    with locked(target, spath, system=False):
        State(target, spath).begin_run({"version": "6.5.3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".nso-install-tmp.nso-6.4.12345678",
                                                          ".nso.nso-install-in-progress.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a read-only file system (root only)")
def test_records_on_a_read_only_file_system_say_so_not_to_free_space(tmp_path):
    """A container started with --read-only: the hint said "free space (or fix the cause)"."""
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", ro], check=True)
    try:
        (ro / "var/lib/nso-install").mkdir(mode=0o700, parents=True)
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        with pytest.raises(NsoInstallError) as e:
            State(Target.at(ro), "/var/lib/nso-install/state.json").begin_run({"command": "install"})
    finally:
        subprocess.run(["umount", ro], check=True)
    assert e.value.reference == "state-not-saved" and "Read-only file system" in e.value.message
    assert "/var/lib/nso-install is on a read-only file system" in e.value.hint and "free space" not in e.value.hint
