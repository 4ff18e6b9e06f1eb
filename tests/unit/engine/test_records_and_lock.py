"""nso-install's own records and its lock, each guard on its own: the lock's owner and its mode
are separate conditions, a lock or a record is never reached through a link, history is only
ever appended to a regular file, and every record (state, history, manifests) is private."""

from __future__ import annotations

import os
import stat

import pytest

from nso_install import manifest
from nso_install.errors import NsoInstallError, UnsafePathError
from nso_install.state import State, locked
from nso_install.target import Target

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="plays another account with chown (root only)")
NOBODY = 65534


def mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _local_lock(tmp_path):
    """(target, state path, the lock file) of a local install at tmp_path/nso."""
    return Target.at(None), f"{tmp_path}/nso/.nso-install/state.json", tmp_path / ".nso.nso-install-lock"


def test_the_local_lock_is_taken_on_a_private_file(tmp_path):
    target, spath, lockfile = _local_lock(tmp_path)
    with locked(target, spath, system=False):
        assert mode(lockfile) == 0o600 and os.stat(lockfile).st_uid == os.geteuid()


def test_a_lock_file_others_can_open_is_refused_even_when_it_is_ours(tmp_path):
    target, spath, lockfile = _local_lock(tmp_path)
    lockfile.write_text("")
    os.chmod(lockfile, 0o644)
    with pytest.raises(UnsafePathError) as e:
        with locked(target, spath, system=False):
            pass
    assert e.value.reference == "unsafe-lock" and "0644" in e.value.message


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
