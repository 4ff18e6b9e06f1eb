"""Writing files safely: atomic, mode before the first byte, never through a link."""

import os
import stat

import pytest

from nso_install import fsops
from nso_install.errors import UnsafePathError


def test_atomic_write_sets_mode_before_first_byte(tmp_path, monkeypatch):
    seen = []
    real_write = os.write

    def spy(fd, data):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    fsops.atomic_write(tmp_path / "k", b"secret", 0o400)
    assert seen and all(m == 0o400 for m in seen)
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o400
    assert (tmp_path / "k").read_bytes() == b"secret"


def test_atomic_write_refuses_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "k")
    with pytest.raises(UnsafePathError):
        fsops.atomic_write(tmp_path / "k", b"x", 0o600)
    assert victim.read_text() == "keep"


def test_crash_at_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    f = tmp_path / "ncs.conf"
    f.write_text("old")

    def boom(*a, **k):
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fsops.atomic_write(f, b"new", 0o644)
    assert f.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["ncs.conf"]  # no temp file left behind


def test_atomic_symlink_switch(tmp_path):
    fsops.atomic_symlink(tmp_path / "current", "ncs-6.4")
    fsops.atomic_symlink(tmp_path / "current", "ncs-6.5")
    assert os.readlink(tmp_path / "current") == "ncs-6.5"
    assert sorted(os.listdir(tmp_path)) == ["current"]


def test_set_attrs_refuses_a_link_swapped_in_after_the_check(tmp_path):
    """Attribute changes act on the inode checked, never on a symlink's target."""
    victim = tmp_path / "shadow"
    victim.write_text("x")
    os.chmod(victim, 0o600)
    os.symlink(victim, tmp_path / "state")  # swapped in by the NSO account, say
    with pytest.raises(UnsafePathError):
        fsops.set_attrs(tmp_path / "state", 0o777, None, None)
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600


def test_set_attrs_changes_the_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    fsops.set_attrs(f, 0o640, None, None)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    d = tmp_path / "d"
    d.mkdir()
    fsops.set_attrs(d, 0o4750 & 0o777, os.getuid(), os.getgid())
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o750


def test_writes_refuse_a_parent_swapped_for_a_link_after_planning(tmp_path):
    """The run dir's cdb replaced by a link to /etc between plan and apply: nothing lands in /etc."""
    etc = tmp_path / "etc"
    etc.mkdir()
    cdb = tmp_path / "var/opt/ncs/cdb"
    cdb.mkdir(parents=True)
    planned = cdb / "aaa_init.xml"  # what Target.host returned at plan time
    cdb.rmdir()
    os.symlink(etc, cdb)
    for op in (lambda: fsops.atomic_write(planned, b"x", 0o644),
               lambda: fsops.make_dir(cdb / "sub", 0o755, None, None),
               lambda: fsops.set_attrs(planned, 0o777, None, None),
               lambda: fsops.atomic_symlink(planned, "x")):
        with pytest.raises(UnsafePathError) as e:
            op()
        assert e.value.reference == "symlink-refused"
    assert os.listdir(etc) == []


def test_atomic_symlink_never_replaces_a_regular_file(tmp_path):
    (tmp_path / "current").write_text("not a link")
    with pytest.raises(UnsafePathError):
        fsops.atomic_symlink(tmp_path / "current", "ncs-6.5")
    assert (tmp_path / "current").read_text() == "not a link"


def test_private_state_dir_modes_do_not_depend_on_umask(tmp_path):
    old = os.umask(0o077)
    try:
        fsops.ensure_private_dir(tmp_path / "var/lib/nso-install")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "var").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "var/lib").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "var/lib/nso-install").st_mode) == 0o700
    fsops.ensure_private_dir(tmp_path / "var/lib/nso-install")  # idempotent


def test_flushing_writes_back_while_the_block_runs_and_stops_with_it(tmp_path, monkeypatch):
    import threading
    import time

    from nso_install import fsops

    calls = []
    monkeypatch.setattr(fsops, "sync_filesystem", lambda p: calls.append(p))
    with fsops.Flushing(tmp_path, every=0.01) as flushing:
        time.sleep(0.05)
        assert calls == [] and not [t for t in threading.enumerate() if t.name == "nso-install-flush"]  # not yet
        flushing.start()
        flushing.start()  # (once)
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 2 and set(calls) == {tmp_path}
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n  # stopped with the block
    assert not [t for t in threading.enumerate() if t.name == "nso-install-flush"]


def test_a_failing_flush_stops_flushing_and_leaves_the_block_alone(tmp_path, monkeypatch):
    import time

    from nso_install import fsops

    def broken(p):
        raise OSError(5, "I/O error")
    monkeypatch.setattr(fsops, "sync_filesystem", broken)
    with fsops.Flushing(tmp_path, every=0.01) as flushing:
        flushing.start()
        time.sleep(0.05)  # no exception reaches here or the exit
        flushing.start()  # (its thread ended: not started again)


def test_the_unpack_forks_its_inflating_child_before_any_other_thread_runs(tmp_path, sample_dists, monkeypatch):
    # a fork while another thread runs can leave the child a lock that thread held (Python 3.12
    # warns); the write-back thread starts once the archive is open, and writes back after that
    import os
    import threading

    from nso_install import fsops
    from nso_install.distribution import tarstream

    from support import cli

    forks, syncs = [], []
    real_fork = os.fork

    def fork():
        forks.append(sorted(t.name for t in threading.enumerate()))
        return real_fork()

    monkeypatch.setattr(tarstream.os, "fork", fork)
    monkeypatch.setattr(fsops, "sync_filesystem", lambda p: syncs.append(len(forks)))
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "root")
    # (one to find the version, one to unpack; other tests of this process may leave threads of their own)
    assert forks and not [threads for threads in forks if "nso-install-flush" in threads]
    assert syncs and min(syncs) == len(forks)  # every write-back after the last fork


def test_the_c_library_calls_os_lacks_are_found_without_find_library(tmp_path, monkeypatch):
    """syncfs and renameat2 come from the process's own symbols: were they not found, exchange()
    would fall back to three renames (a moment where the name points at nothing) unnoticed."""
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: pytest.fail("find_library was called"))
    libc = fsops._libc()
    assert callable(libc.syncfs) and callable(libc.renameat2)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").write_text("new")
    (b / "old").write_text("old")
    renames = []
    monkeypatch.setattr(fsops.os, "rename", lambda *x: renames.append(x))  # (the fallback's)
    fsops.exchange(a, b)
    assert renames == [] and (b / "new").exists() and (a / "old").exists()
    fsops.sync_filesystem(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="plays nobody (root only)")
def test_an_error_relative_to_a_directory_handle_names_the_path_in_full():
    """An OSError of a call made through a directory descriptor named the entry alone ("var",
    ".nso-install-tmp.k.1234abcd"), so the operator's message said nowhere: on the way to the
    parent (a directory nobody may search) and inside it (one nobody may write)."""
    from support import as_nobody, public_tmp_dir

    with public_tmp_dir() as d:
        (d / "closed").mkdir(mode=0o700)
        (d / "ro").mkdir(mode=0o755)
        with as_nobody():
            with pytest.raises(PermissionError) as on_the_way:
                fsops.atomic_write(d / "closed" / "sub" / "k", b"x", 0o600)
            with pytest.raises(PermissionError) as inside:
                fsops.atomic_write(d / "ro" / "k", b"x", 0o600)
        assert on_the_way.value.filename == str(d / "closed")
        assert os.path.dirname(inside.value.filename) == str(d / "ro")
        assert os.path.basename(inside.value.filename).startswith(".nso-install-tmp.k.")
