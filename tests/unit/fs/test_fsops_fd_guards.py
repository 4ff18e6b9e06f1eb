"""The fd-level guards of fsops, each on its own (the mutation campaign, docs/testing.md, found
them covered only through a later layer): private temp files from their creation, no write
into a file planted at a temp name, no read or attribute change through a final symlink, no
wait on a FIFO, and the trusted-path walk that every privilege goes through."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import threading
import time

import pytest

from nso_install import fsops
from nso_install.errors import UnsafePathError

NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as another account")


@pytest.fixture
def umask0():
    old = os.umask(0)
    yield
    os.umask(old)


def _first_mode_seen_by(monkeypatch, *names):
    """Record the mode of the object each of ``os.<names>`` is first called on (fd or path)."""
    seen = []
    for name in names:
        real = getattr(os, name)

        def spy(target, *args, _real=real, **kw):
            st = os.fstat(target) if isinstance(target, int) else os.stat(target)
            seen.append(stat.S_IMODE(st.st_mode))
            return _real(target, *args, **kw)

        monkeypatch.setattr(os, name, spy)
    return seen


def test_atomic_write_temp_file_is_private_from_its_creation(tmp_path, monkeypatch, umask0):
    """Between creating the temp file and giving it its final owner and mode, nobody else may
    open it (whatever the umask): it is created 0600."""
    seen = _first_mode_seen_by(monkeypatch, "fchown", "fchmod")
    fsops.atomic_write(tmp_path / "k", b"secret", 0o400)
    assert seen and seen[0] & 0o077 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a directory to another group")
def test_new_directory_is_private_until_its_owner_and_mode_are_set(tmp_path, monkeypatch, umask0):
    """A directory that changes hands (root:nso 0750) is 0700 until its owner and mode are set."""
    seen = _first_mode_seen_by(monkeypatch, "chown", "chmod")
    fsops.make_dir(tmp_path / "ssh", 0o750, 0, 65534)
    assert seen and seen[0] == 0o700
    st = os.stat(tmp_path / "ssh")
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o750, 65534)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_new_directory_that_keeps_this_processs_owner_has_its_mode_from_the_start(tmp_path, monkeypatch, mask):
    """Its owner is final when it is made, so its mode is too (whatever the umask): a run killed
    right after the mkdir leaves no 0700 /opt that no re-run would alter again."""
    seen = _first_mode_seen_by(monkeypatch, "chown", "chmod")
    old = os.umask(mask)
    try:
        fsops.make_dir(tmp_path / "opt", 0o755, os.geteuid(), os.getegid())
        fsops.make_dir(tmp_path / "var", 0o755, None, None)
        after = os.umask(mask)
    finally:
        os.umask(old)
    assert seen == [0o755, 0o755, 0o755]  # (chown and chmod of opt, chmod of var: each saw the final mode)
    assert after == mask  # (the umask is back)


def test_atomic_write_never_writes_into_a_file_planted_at_its_temp_name(tmp_path, monkeypatch):
    """Someone who can write in the directory (the NSO account in RUN_DIR/cdb) and guesses the
    temp name plants a hard link to another file there: the write fails instead of landing in
    that file."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    monkeypatch.setattr(fsops, "_temp_name", lambda name: f"{fsops.TMP_MARK}{name}.guessed")
    os.link(victim, tmp_path / f"{fsops.TMP_MARK}k.guessed")
    with pytest.raises(FileExistsError):
        fsops.atomic_write(tmp_path / "k", b"attacker gets this", 0o644)
    assert victim.read_text() == "keep" and not (tmp_path / "k").exists()


def test_atomic_write_reports_a_link_at_the_destination_as_a_refused_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "ncs.conf")
    with pytest.raises(UnsafePathError) as e:
        fsops.atomic_write(tmp_path / "ncs.conf", b"x", 0o644)
    assert e.value.reference == "symlink-refused" and str(victim) in e.value.message
    assert victim.read_text() == "keep" and os.path.islink(tmp_path / "ncs.conf")


def test_set_attrs_reports_a_link_as_a_refused_link(tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("x")
    os.chmod(victim, 0o600)
    os.symlink(victim, tmp_path / "keys")
    with pytest.raises(UnsafePathError) as e:
        fsops.set_attrs(tmp_path / "keys", 0o644, None, None)
    assert e.value.reference == "symlink-refused"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600


# --- reading: open_regular and replace_by_copy ----------------------------------------------

def test_open_regular_refuses_a_final_symlink(tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("root's secret")
    os.symlink(victim, tmp_path / "ncs.conf")
    with pytest.raises(UnsafePathError) as e:
        fsops.open_regular(tmp_path / "ncs.conf")
    assert e.value.reference == "symlink-refused"


def test_open_regular_refuses_a_directory(tmp_path):
    (tmp_path / "ncs.conf").mkdir()
    with pytest.raises(UnsafePathError) as e:
        fsops.open_regular(tmp_path / "ncs.conf")
    assert e.value.reference == "not-a-file"


@pytest.mark.timeout(30)
def test_open_regular_refuses_a_fifo_at_once_instead_of_waiting_for_a_writer(tmp_path):
    """A FIFO swapped in for a config file (between the type check of the facts and the open)
    must not make the root run wait for whoever controls the FIFO."""
    fifo = tmp_path / "ncs.conf"
    os.mkfifo(fifo)

    def unblock():  # only ever opens if a reader is already waiting (the bug); else ENXIO
        time.sleep(3)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    t = threading.Thread(target=unblock, daemon=True)
    t.start()
    started = time.monotonic()
    with pytest.raises(UnsafePathError) as e:
        fsops.open_regular(fifo)
    took = time.monotonic() - started
    t.join()
    assert e.value.reference == "not-a-file" and took < 2


def test_replace_by_copy_never_copies_a_symlinks_target(tmp_path):
    """Handing a file over to root by a copy must not read through a link the old account
    planted (it would copy, say, /etc/shadow into a file it can then be given)."""
    victim = tmp_path / "shadow"
    victim.write_text("root's secret")
    os.chmod(victim, 0o600)
    os.symlink(victim, tmp_path / "cdb.file")
    with pytest.raises(OSError):
        fsops.replace_by_copy(tmp_path / "cdb.file", 0o644, None, None)
    assert os.path.islink(tmp_path / "cdb.file")
    assert sorted(os.listdir(tmp_path)) == ["cdb.file", "shadow"]


# --- open_trusted: what a setuid bit or a capability goes through ---------------------------

def _trusted_tree(tmp_path):
    """tmp_path/opt/bin/epam, all root's and not writable by others (tmp_path's ancestors are
    root's: /tmp is sticky, pytest's directories 0700)."""
    d = tmp_path / "opt/bin"
    d.mkdir(parents=True)
    for p in (tmp_path, tmp_path / "opt", d):
        os.chmod(p, 0o755)
    epam = d / "epam"
    epam.write_text("#!/bin/sh\n")
    return epam


@root_only
def test_open_trusted_accepts_a_root_owned_path(tmp_path):
    os.close(fsops.open_trusted(_trusted_tree(tmp_path)))


@root_only
def test_open_trusted_refuses_a_group_writable_directory_on_the_way(tmp_path):
    epam = _trusted_tree(tmp_path)
    os.chmod(epam.parent, 0o775)  # root:root but writable by the group: a member could swap epam
    with pytest.raises(UnsafePathError) as e:
        fsops.open_trusted(epam)
    assert e.value.reference == "untrusted-path" and "0775" in e.value.message


@root_only
def test_open_trusted_refuses_a_file_another_account_owns(tmp_path):
    epam = _trusted_tree(tmp_path)
    os.chown(epam, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError) as e:
        fsops.open_trusted(epam)
    assert e.value.reference == "untrusted-path" and f"uid {NOBODY}" in e.value.message


@root_only
def test_open_trusted_refuses_a_final_symlink_even_to_a_trusted_file(tmp_path):
    epam = _trusted_tree(tmp_path)
    os.symlink(epam, epam.parent / "ip")
    with pytest.raises(UnsafePathError) as e:
        fsops.open_trusted(epam.parent / "ip")
    assert e.value.reference == "symlink-refused"


def test_remove_tree_unlinks_what_was_swapped_in_after_the_listing_never_follows_or_waits(tmp_path, monkeypatch):
    """Leftovers and an uninstall are removed in directories the NSO account can write: between
    the listing of a directory and the opening of an entry it can swap a subdirectory for a FIFO
    (shutil.rmtree's open would wait for a writer, holding the run and its lock) or for a link
    to a directory elsewhere (whose content must stay)."""
    top = tmp_path / "run/.nso-install-tmp.x"
    for d in ("a", "b", "c/d"):
        (top / d).mkdir(parents=True)
    (top / "c/d/f").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    real_listdir, swapped = os.listdir, []

    def listdir(fd):
        names = real_listdir(fd)
        if not swapped:  # the account, right after the first listing
            swapped.append(1)
            os.rmdir(top / "a")
            os.mkfifo(top / "a")
            os.rmdir(top / "b")
            os.symlink(outside, top / "b")
        return names

    def unblock():  # opens only if a reader waits on the FIFO (the bug); else ENXIO
        time.sleep(3)
        try:
            os.close(os.open(top / "a", os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    threading.Thread(target=unblock, daemon=True).start()
    monkeypatch.setattr(fsops.os, "listdir", listdir)
    started = time.monotonic()
    fsops.remove_tree(top)
    assert swapped and not os.path.lexists(top) and time.monotonic() - started < 2
    assert (outside / "keep").read_text() == "keep"


def test_remove_tree_removes_a_deep_tree_and_a_single_file(tmp_path):
    d = tmp_path / "deep"
    d.mkdir()
    fd = os.open(d, os.O_RDONLY)
    for _ in range(1100):  # deeper than Python's recursion limit (os.makedirs recurses too)
        os.mkdir("x", dir_fd=fd)
        nxt = os.open("x", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    try:
        fsops.remove_tree(d)
        assert not d.exists()
    finally:  # (pytest's own clean-up recurses: a tree this deep left behind would break it)
        subprocess.run(["rm", "-rf", str(d)], check=True)
    (tmp_path / "file").write_text("x")
    fsops.remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()
    with pytest.raises(FileNotFoundError):
        fsops.remove_tree(tmp_path / "missing")


def _tree(tmp_path):
    top = tmp_path / "run"
    (top / "x/sub").mkdir(parents=True)
    (top / "x/sub/f").write_text("f")
    (top / "keep-going").write_text("k")
    return top


def test_remove_tree_removes_what_appears_while_it_runs(tmp_path, monkeypatch):
    """An account that may write the tree adds an entry to a directory after its listing, and
    puts a new, non-empty directory in place of one just emptied: the removal, which stopped
    half way with ENOTEMPTY, lists them again and removes everything."""
    top = _tree(tmp_path)
    real_rmdir = os.rmdir
    done = []

    def rmdir(name, *, dir_fd=None):
        if name == "sub" and "late" not in done:
            done.append("late")
            with open(os.open("late", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd), "w"):
                pass
            os.rename("late", "sub/late", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        if name == "x" and "swap" not in done:
            done.append("swap")
            os.rename("x", "x.old", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # (not in the parent's listing)
            os.mkdir("x", dir_fd=dir_fd)
            os.mkdir("x/y", dir_fd=dir_fd)
        return real_rmdir(name, dir_fd=dir_fd)

    monkeypatch.setattr(fsops.os, "rmdir", rmdir)
    fsops.remove_tree(top)
    assert done == ["late", "swap"] and not top.exists()


def test_remove_tree_ends_with_enotempty_when_entries_keep_appearing(tmp_path, monkeypatch):
    top = _tree(tmp_path)
    real_rmdir = os.rmdir
    n = [0]

    def rmdir(name, *, dir_fd=None):
        if name == "sub":
            n[0] += 1
            os.close(os.open(f"sub/new{n[0]}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd))
        return real_rmdir(name, dir_fd=dir_fd)

    monkeypatch.setattr(fsops.os, "rmdir", rmdir)
    monkeypatch.setattr(fsops, "MAX_RELISTS", 3)
    with pytest.raises(OSError) as e:
        fsops.remove_tree(top)
    assert e.value.errno == errno.ENOTEMPTY and n[0] == 4
