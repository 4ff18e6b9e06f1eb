"""Files changing hands away from an account (the run-as user changes or goes away): a copy,
never a chown in place; no setuid/setgid bit survives; the old account's group goes too.
And a stale PATH.new beside a kept conffile is brought to the current rendering."""

from __future__ import annotations

import contextlib
import os
import stat

import pytest

from nso_install.actions import Attrs, ConfFile
from nso_install.actions.files import Reown
from nso_install.facts import Facts
from nso_install.target import Target

from support import GROUP, ME, PASSWD, run_plan, staged_root

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="plays the NSO account with chown (root only)")
NSO = 999
OTHER_GID = 4242


@pytest.fixture
def root(tmp_path):
    r = staged_root(tmp_path, PASSWD + f"nso:x:{NSO}:{NSO}:Cisco NSO:/var/opt/ncs:/usr/sbin/nologin\n",
                    GROUP + f"nso:x:{NSO}:\nops:x:{OTHER_GID}:\n")
    (r / "var/opt/ncs/cdb").mkdir(parents=True)
    return r


def _owned_by_nso(p, mode, gid=NSO, data="x\n"):
    p.write_text(data)
    os.chown(p, NSO, gid)
    os.chmod(p, mode)  # after chown, which clears setuid bits
    return os.stat(p).st_ino


@root_only
def test_a_file_leaving_another_account_is_replaced_by_a_root_owned_copy(root):
    """The old account may hold the file open for writing: the inode root takes must be a new one."""
    f = root / "etc/ncs.systemd.conf"
    ino = _owned_by_nso(f, 0o644, data="NCS_RELOAD_PACKAGES=false\n")
    facts = Facts(Target.at(root))
    Attrs(0o644).apply(facts, f, "/etc/ncs.systemd.conf")
    st = os.stat(f)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    assert st.st_ino != ino and f.read_text() == "NCS_RELOAD_PACKAGES=false\n"


@root_only
def test_reown_hands_files_over_as_copies_without_setuid_bits_or_the_old_group(root):
    cdb = root / "var/opt/ncs/cdb"
    suid_ino = _owned_by_nso(cdb / "A.cdb", 0o6750)  # setuid/setgid as the old account: never as root
    shared_ino = _owned_by_nso(cdb / "shared.log", 0o640, gid=OTHER_GID)
    os.chown(cdb, NSO, NSO)
    run_plan([Reown("/var/opt/ncs", "nso", "root", "root")], root)
    a, shared = os.stat(cdb / "A.cdb"), os.stat(cdb / "shared.log")
    assert (a.st_uid, a.st_gid, stat.S_IMODE(a.st_mode)) == (0, 0, 0o750)
    assert a.st_ino != suid_ino
    assert (shared.st_uid, shared.st_gid) == (0, OTHER_GID)  # a group that was not the account's stays
    assert shared.st_ino != shared_ino
    d = os.stat(cdb)
    assert (d.st_uid, d.st_gid) == (0, 0)
    assert run_plan([Reown("/var/opt/ncs", "nso", "root", "root")], root).changes == 0


def test_a_stale_new_rendering_beside_a_kept_conffile_is_rewritten(tmp_path):
    (tmp_path / "ncs.conf").write_bytes(b"edited by the administrator\n")
    (tmp_path / "ncs.conf.new").write_bytes(b"an older rendering\n")
    r = run_plan([ConfFile("/ncs.conf", b"the current rendering\n", ME)], tmp_path)
    assert r.records[0].outcome.conflict and r.changes == 1
    assert (tmp_path / "ncs.conf.new").read_bytes() == b"the current rendering\n"
    assert (tmp_path / "ncs.conf").read_bytes() == b"edited by the administrator\n"


@root_only
def test_a_conffile_the_leaving_account_edited_is_rendered_anew_and_its_version_set_aside(root):
    """What the old account wrote into a file it owned is never adopted as an administrator's
    edit: the rendering replaces it (root's, a new inode) and that version is kept aside."""
    f = root / "etc/ncs.systemd.conf"
    ino = _owned_by_nso(f, 0o644, data="LD_PRELOAD=/var/opt/ncs/evil.so\n")
    r = run_plan([ConfFile("/etc/ncs.systemd.conf", b"NCS_RELOAD_PACKAGES=false\n", Attrs(0o644))], root)
    assert r.records[0].outcome.detail.startswith("owned by nso and edited; it changes hands")
    st = os.stat(f)
    assert f.read_bytes() == b"NCS_RELOAD_PACKAGES=false\n" and (st.st_uid, st.st_gid) == (0, 0) and st.st_ino != ino
    aside = list(f.parent.glob("ncs.systemd.conf.from-nso.*"))
    assert len(aside) == 1 and aside[0].read_text() == "LD_PRELOAD=/var/opt/ncs/evil.so\n"


@root_only
def test_the_quarantine_is_filled_through_its_descriptor_not_its_name(root, tmp_path, monkeypatch):
    """The run directory is still the account's while its entries are moved aside: it can rename
    root's new quarantine and put a link to /etc (here: victim) at that name.  What root moves
    must still land in the directory root made, never through the link."""
    from nso_install import fsops

    run_dir = root / "var/opt/ncs"
    os.symlink("/tmp/x", run_dir / "ld.so.preload")
    os.lchown(run_dir / "ld.so.preload", NSO, NSO)
    (run_dir / "packages/p1").mkdir(parents=True)
    os.chown(run_dir / "packages/p1", NSO, NSO)
    os.chown(run_dir, NSO, NSO)
    victim = tmp_path / "victim"
    victim.mkdir()
    real = fsops.new_private_dir
    moved = []

    @contextlib.contextmanager
    def raced(host):
        with real(host) as fd:
            # the account, right after root made it: the quarantine renamed, a link in its place
            os.rename(host, host.with_name(host.name + ".moved"))
            os.symlink(victim, host)
            moved.append(host.with_name(host.name + ".moved"))
            yield fd

    monkeypatch.setattr(fsops, "new_private_dir", raced)
    result = run_plan([Reown("/var/opt/ncs", "nso", "root", "root", quarantine=("packages",))], root)
    assert result.changes == 1
    assert list(victim.iterdir()) == []
    assert sorted(p.name for p in moved[0].iterdir()) == ["ld.so.preload", "packages%p1"]
    st = os.stat(moved[0])
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)


@root_only
def test_a_directory_swapped_in_for_the_new_quarantine_is_refused(root, monkeypatch):
    """Between root's mkdir and its open, the account replaces the quarantine by a directory of
    its own: nothing is moved into it."""
    from nso_install import fsops
    from nso_install.errors import UnsafePathError

    run_dir = root / "var/opt/ncs"
    os.symlink("/tmp/x", run_dir / "ld.so.preload")
    os.lchown(run_dir / "ld.so.preload", NSO, NSO)
    os.chown(run_dir, NSO, NSO)
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777, *, dir_fd=None):
        real_mkdir(path, mode, dir_fd=dir_fd)
        if str(path).startswith(".nso-install-quarantine."):
            os.rename(path, ".root-made", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            real_mkdir(path, 0o700, dir_fd=dir_fd)
            os.chown(path, NSO, NSO, dir_fd=dir_fd)

    monkeypatch.setattr(fsops.os, "mkdir", mkdir)
    with pytest.raises(UnsafePathError, match="changed hands"):
        run_plan([Reown("/var/opt/ncs", "nso", "root", "root")], root)
    monkeypatch.undo()
    assert os.path.islink(run_dir / "ld.so.preload")  # not moved into the account's directory
    (theirs,) = run_dir.glob(".nso-install-quarantine.*")
    assert list(theirs.iterdir()) == []


@root_only
def test_a_process_the_account_starts_during_the_survey_stops_the_hand_over(root, monkeypatch):
    """The account decides how long the survey's walk takes: its processes are asked about again
    after it, before anything is moved or taken over."""
    from nso_install.errors import ApplyError
    from nso_install.target import Target

    cdb = root / "var/opt/ncs/cdb"
    ino = _owned_by_nso(cdb / "A.cdb", 0o640)
    asked = []

    def processes_of(self, uid):
        asked.append(uid)
        return [] if len(asked) == 1 else [4242]  # started while the survey walked

    monkeypatch.setattr(Facts, "processes_of", processes_of)
    monkeypatch.setattr(Target, "staged", property(lambda self: False))  # (a staged root has no processes)
    with pytest.raises(ApplyError, match="still runs processes"):
        run_plan([Reown("/var/opt/ncs", "nso", "root", "root")], root)
    assert asked == [NSO, NSO]
    st = os.stat(cdb / "A.cdb")
    assert (st.st_ino, st.st_uid) == (ino, NSO)  # nothing taken over


@root_only
@pytest.mark.parametrize("running", [[], [4321]])
def test_files_of_a_deleted_account_are_not_taken_while_its_number_runs_processes(root, monkeypatch, running):
    """A bare uid left by ``userdel -f`` (or a container's) may still run: as with Reown, its files
    are not taken over under it; stopped, they are."""
    from nso_install.actions.files import TakeOver
    from nso_install.errors import ApplyError

    gone = 4343  # no account has it
    f = root / "var/opt/ncs/cdb/A.cdb"
    f.write_text("x")
    os.chown(f, gone, gone)
    asked = []
    monkeypatch.setattr(Facts, "processes_of", lambda self, uid: (asked.append(uid), running)[1])
    monkeypatch.setattr(Target, "staged", property(lambda self: False))  # (a staged root has no processes)
    action = TakeOver("/var/opt/ncs", ("root",), ("root",), "nso", "nso", orphans=True)
    if running:
        with pytest.raises(ApplyError, match=f"uid {gone} .* still runs processes"):
            run_plan([action], root)
        assert os.stat(f).st_uid == gone
    else:
        run_plan([action], root)
        assert os.stat(f).st_uid == NSO
    assert asked == [gone]
