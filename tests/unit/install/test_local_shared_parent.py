"""A local install run by an ordinary account (nobody here), in a directory whose parent is
shared and sticky (/tmp-like, 1777), as the README allows: another account (daemon) can put
entries beside it under the names nso-install uses there (its temporary trees and their
``.carried`` records, the run marker and its temporary copies, the lock). None of them may be
taken for the caller's own; the caller's own install, verify and status must work without root."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from support import NOBODY, as_nobody, cli, forget_template_cache, public_tmp_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plays two ordinary accounts (root only)")
DAEMON = 1  # the other account, which plants entries


@pytest.fixture
def shared(dists):
    """(a sticky 1777 directory, a copy of the 6.5.3 distribution nobody can read)."""
    with public_tmp_dir() as d:
        tmp = d / "tmp"
        tmp.mkdir()
        os.chmod(tmp, 0o1777)
        dist = d / dists["6.5.3"].name
        shutil.copy(dists["6.5.3"], dist)
        os.chmod(dist, 0o644)
        try:
            yield tmp, dist
        finally:
            forget_template_cache()  # (nobody's runs kept it in their install, removed with the test)


def as_nobody_cli(*args, ok=True):
    with as_nobody():
        return cli(*args, ok=ok)


def planted(path, text=None, mode=0o666):
    """An entry of DAEMON's (a directory when ``text`` is None), open to everyone."""
    if text is None:
        path.mkdir(parents=True)
        os.chmod(path, 0o777)
    else:
        path.write_text(text)
        os.chmod(path, mode)
    os.chown(path, DAEMON, DAEMON)


@pytest.mark.parametrize("caller", ["nobody", "root"])
def test_another_accounts_temporary_tree_and_carried_record_are_never_moved_into_the_install(shared, caller):
    """A repair's temporary tree and its record of carried entries (`.carried`) are brought back
    into the install on the next run: another account's of that name, in a shared parent, put its
    own files into the caller's NSO tree (bin/ is on the PATH ncsrc sets; root's local install in
    /tmp ran them as root), and then made every run of an ordinary account fail removing what it
    could not remove (found by review)."""
    tmp, dist = shared
    nso = tmp / "nso"
    run = as_nobody_cli if caller == "nobody" else cli
    run("install", dist, "--local-install", nso)
    fake = tmp / ".nso-install-tmp.nso.deadbeef"
    planted(fake)
    planted(fake / "bin")
    planted(fake / "bin/ncs-evil", "#!/bin/sh\n", 0o777)
    planted(tmp / ".nso-install-tmp.nso.deadbeef.carried", json.dumps(["bin/ncs-evil"]))
    r = run("install", dist, "--local-install", nso)
    assert not (nso / "bin/ncs-evil").exists()
    assert "0 changed" in r.output
    assert f"{fake} (uid {DAEMON})" in r.stderr and "another account's; left alone, never used" in r.stderr
    assert (fake / "bin/ncs-evil").exists()  # left alone
    assert "1 tree(s) checked, 0 problem(s)" in run("verify", "--local-install", nso).output


def test_verify_of_a_local_install_by_its_own_account_finds_nothing_wrong(shared):
    """verify judged a local install's privileged binaries against root:root (a system install's
    plain files), so every local install verified by its own non-root owner failed with one
    "owner -> root" problem per binary; a setuid bit is still found."""
    tmp, dist = shared
    nso = tmp / "nso"
    as_nobody_cli("install", dist, "--local-install", nso)
    r = as_nobody_cli("verify", "--local-install", nso, "--json")
    assert json.loads(r.output)["findings"] == []
    epam = next(nso.glob("lib/ncs/lib/*/pam/priv/epam"))
    os.chmod(epam, 0o4755)
    r = as_nobody_cli("verify", "--local-install", nso, "--json", ok=False)
    assert [(f["path"], f["problem"]) for f in json.loads(r.output)["findings"]] == \
        [(str(epam), "setuid: a local install grants no privilege")]


def test_another_accounts_run_marker_is_not_taken_for_an_unfinished_run(shared):
    """The marker of a run under way lives beside the directory: another account's was read as
    the caller's unfinished run (status and verify said so, and a first install took its options
    from it), and the run failed with "could not save ...: Operation not permitted" and a hint
    about free space. It is not the caller's: ignored when reading, a clear refusal when writing."""
    tmp, dist = shared
    nso = tmp / "nso"
    marker = tmp / ".nso.nso-install-in-progress.json"
    planted(marker, json.dumps({"command": "install", "version": "6.5.3",
                                "spec": {"kind": "local", "profile": "production"}}))
    for check in (("--check", "-v"), ()):  # (--check takes no lock, and says what the run would)
        r = as_nobody_cli("install", dist, "--local-install", nso, *check, ok=False)
        assert r.exit_code == 1 and not nso.exists()
        assert "production" not in r.output and "complete" not in r.output
        assert f"{marker} belongs to uid {DAEMON}, not to uid {NOBODY}" in r.stderr
        assert f"{tmp} is shared (sticky): only uid {DAEMON} or root can remove it" in r.stderr
        assert "free space" not in r.stderr
    marker.unlink()
    as_nobody_cli("install", dist, "--local-install", nso)
    planted(marker, json.dumps({"command": "install", "version": "6.5.3"}))
    s = json.loads(as_nobody_cli("status", "--local-install", nso, "--json").output)
    assert s["unfinished"] is None
    assert "0 problem(s)" in as_nobody_cli("verify", "--local-install", nso).output


def test_another_accounts_file_named_like_a_temporary_copy_of_the_marker_does_not_stop_runs(shared):
    """Each run first removes the temporary copies of its marker a killed run left: another
    account's file of that name, which the caller cannot remove from a sticky directory, made
    every run fail."""
    tmp, dist = shared
    copy = tmp / ".nso-install-tmp..nso.nso-install-in-progress.json.12345678"
    planted(copy, "x")
    as_nobody_cli("install", dist, "--local-install", tmp / "nso")
    assert (tmp / "nso/VERSION").is_file() and copy.exists()


def test_another_accounts_lock_in_a_sticky_directory_says_who_can_remove_it(shared):
    tmp, dist = shared
    lock = tmp / ".nso.nso-install-lock"
    planted(lock, "", 0o600)
    for check in (("--check",), ()):  # (--check said "8 to change" of a run that stops at the lock)
        r = as_nobody_cli("install", dist, "--local-install", tmp / "nso", *check, ok=False)
        assert r.exit_code == 1 and f"the lock {lock} belongs to uid {DAEMON}" in r.stderr
        assert "only uid 1 or root can remove it" in r.stderr and f"rm {lock}" not in r.stderr


def test_a_local_install_directory_others_may_write_is_refused_once_it_holds_the_tree(shared):
    """DIR itself made writable by others (chmod 777, a group's project directory): another
    account renamed bin/ away and put its own there. Before: the re-run "repaired" the tree,
    carried the other account's entries into it and then failed for good removing what it could
    not remove (every later run too); with bin/ left alone and only the mode opened, verify and
    the re-run said "as unpacked". Now refused, as the directories above it are (found by review)."""
    tmp, dist = shared
    home = tmp / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    os.chmod(home, 0o755)
    nso = home / "nso"
    empty = home / "empty"
    with as_nobody():
        empty.mkdir()
        os.chmod(empty, 0o775)  # (made beforehand with umask 002: replaced by the tree, fine)
        as_nobody_cli("install", dist, "--local-install", empty)
        as_nobody_cli("install", dist, "--local-install", nso)
        os.chmod(nso, 0o777)
    os.rename(nso / "bin", nso / "bin.old")
    planted(nso / "bin")
    planted(nso / "bin" / "ncs", "#!/bin/sh\necho not NSO\n", 0o755)
    for check in (("--check",), ()):
        r = as_nobody_cli("install", dist, "--local-install", nso, *check, ok=False)
        assert r.exit_code == 1 and "untrusted-directory" not in r.output, r.output
        assert f"{nso} is writable by group or others (mode 0777)" in r.stderr, r.stderr
        assert f"chmod go-w {nso}" in r.stderr
    assert (nso / "bin" / "ncs").read_text() == "#!/bin/sh\necho not NSO\n"  # (nothing moved, nothing repaired)
    assert sorted(n for n in os.listdir(home) if n.startswith(".nso-install-tmp")) == []
    # verify says so too: it said "as unpacked" of a DIR with only its mode opened
    os.rename(nso / "bin", nso / "bin.planted")
    os.rename(nso / "bin.old", nso / "bin")
    shutil.rmtree(nso / "bin.planted")
    r = as_nobody_cli("verify", "--local-install", nso, "--json", ok=False)
    found = [f for f in json.loads(r.stdout)["findings"] if f["kind"] == "directory"]
    assert r.exit_code == 1 and [f["path"] for f in found] == [str(nso)] and found[0]["fails"], r.stdout
    assert "mode 0777" in found[0]["problem"] and f"chmod go-w {nso}" in found[0]["problem"]
    with as_nobody():
        os.chmod(nso, 0o755)
    assert json.loads(as_nobody_cli("verify", "--local-install", nso, "--json").stdout)["ok"]
