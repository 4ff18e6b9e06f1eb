"""File-system actions on a real file system under tmp_path (the staging root): directories,
files, dpkg-style conffiles, symlinks."""

import os
import stat

import pytest

from nso_install.actions import Attrs, ConfFile, Directory, File, Symlink
from nso_install.actions.files import SystemDirectory
from nso_install.actions import files as files_mod
from nso_install.engine import evaluate
from nso_install.errors import UnsafePathError

from support import GROUP, ME, PASSWD, check_plan, ctx_for, run_plan, staged_root


def statuses(report):
    return [(r.action.path, r.changed) for r in report.records]


def test_directory_created_then_ok(tmp_path):
    plan = [SystemDirectory("/etc"), Directory("/etc/ncs", Attrs(0o750, None, None))]
    assert run_plan(plan, tmp_path).changes == 2
    assert stat.S_IMODE(os.stat(tmp_path / "etc/ncs").st_mode) == 0o750
    assert run_plan(plan, tmp_path).changes == 0
    os.chmod(tmp_path / "etc/ncs", 0o777)
    r = run_plan(plan, tmp_path)
    assert statuses(r) == [("/etc", False), ("/etc/ncs", True)]
    assert stat.S_IMODE(os.stat(tmp_path / "etc/ncs").st_mode) == 0o750


def test_system_directory_is_never_altered(tmp_path):
    (tmp_path / "etc").mkdir(mode=0o711)
    os.chmod(tmp_path / "etc", 0o711)
    assert run_plan([SystemDirectory("/etc")], tmp_path).changes == 0
    assert stat.S_IMODE(os.stat(tmp_path / "etc").st_mode) == 0o711


def conf(content, path="/ncs.conf"):
    return [ConfFile(path, content, ME)]


def test_conffile_dpkg_table(tmp_path):
    f = tmp_path / "ncs.conf"
    # first install: created and recorded
    assert run_plan(conf(b"v1\n"), tmp_path).changes == 1
    assert f.read_bytes() == b"v1\n"
    # same rendering again: nothing to do
    assert run_plan(conf(b"v1\n"), tmp_path).changes == 0
    # new rendering, file untouched since we wrote it: updated in place
    assert run_plan(conf(b"v2\n"), tmp_path).changes == 1
    assert f.read_bytes() == b"v2\n"
    assert not (tmp_path / "ncs.conf.new").exists()
    # administrator edits it; a new rendering must not clobber it
    f.write_bytes(b"admin\n")
    r = run_plan(conf(b"v3\n"), tmp_path)
    assert r.changes == 1 and r.records[0].outcome.conflict
    assert f.read_bytes() == b"admin\n"
    assert (tmp_path / "ncs.conf.new").read_bytes() == b"v3\n"
    assert "--force-conf" in r.warnings[0]
    # re-run with the same values: no change, still reported as kept
    r = run_plan(conf(b"v3\n"), tmp_path)
    assert r.changes == 0 and r.records[0].outcome.conflict
    # --force-conf: replaced, the admin's version saved in a timestamped backup
    r = run_plan(conf(b"v3\n"), tmp_path, force_conf=True)
    assert r.changes == 1
    assert f.read_bytes() == b"v3\n"
    backups = [p for p in os.listdir(tmp_path) if p.startswith("ncs.conf.") and p.endswith(".bak")]
    assert len(backups) == 1 and (tmp_path / backups[0]).read_bytes() == b"admin\n"
    assert not (tmp_path / "ncs.conf.new").exists()
    assert run_plan(conf(b"v3\n"), tmp_path).changes == 0


def test_a_new_rendering_merged_by_hand_is_no_longer_pending(tmp_path):
    """The administrator takes the .new by copying it (or edits the file to match it): the run
    adopts the file and removes the .new, which status, verify and the audit (NSO-DRIFT-003)
    would otherwise report as waiting for ever (the re-run its remediation asks for did nothing)."""
    f, new = tmp_path / "ncs.conf", tmp_path / "ncs.conf.new"
    run_plan(conf(b"v1\n"), tmp_path)
    f.write_bytes(b"admin\n")
    run_plan(conf(b"v2\n"), tmp_path)
    assert new.read_bytes() == b"v2\n"
    f.write_bytes(new.read_bytes())  # cp ncs.conf.new ncs.conf
    r = check_plan(conf(b"v2\n"), tmp_path)
    assert r.changes == 1 and "remove /ncs.conf.new" in r.records[0].outcome.detail and new.exists()
    r = run_plan(conf(b"v2\n"), tmp_path)
    assert r.changes == 1 and not new.exists() and f.read_bytes() == b"v2\n"
    assert run_plan(conf(b"v2\n"), tmp_path).changes == 0
    # a link at the .new's name is never followed nor removed
    os.symlink("/etc/passwd", new)
    assert run_plan(conf(b"v2\n"), tmp_path).changes == 0 and new.is_symlink()


def test_a_removed_conffile_is_written_again_and_said_so(tmp_path):
    run_plan(conf(b"v1\n"), tmp_path)
    (tmp_path / "ncs.conf").unlink()
    r = check_plan(conf(b"v1\n"), tmp_path)
    assert r.changes == 1 and r.records[0].outcome.detail == "re-create (removed since nso-install wrote it)"
    assert run_plan(conf(b"v1\n"), tmp_path).changes == 1 and (tmp_path / "ncs.conf").read_bytes() == b"v1\n"
    assert check_plan(conf(b"v1\n"), tmp_path).changes == 0


def test_conffile_not_written_by_us_counts_as_edited(tmp_path):
    (tmp_path / "ncs.conf").write_bytes(b"from NSO's own installer\n")
    r = run_plan(conf(b"ours\n"), tmp_path)
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"from NSO's own installer\n"


def test_conffile_check_mode_writes_nothing(tmp_path):
    r = evaluate(conf(b"x\n"), ctx_for(tmp_path))
    assert r.changes == 1 and os.listdir(tmp_path) == []


# --- --force-conf backup ------------------------------------------------------------------

def test_force_conf_backup_never_written_through_a_planted_symlink(tmp_path, monkeypatch):
    """The backup of an edited conffile lands beside it, in a directory that may belong to the
    NSO account (RUN_DIR/cdb/aaa_init.xml): a link planted at the backup name is neither
    followed nor replaced; the backup takes the next free name."""
    monkeypatch.setattr(files_mod.time, "strftime", lambda fmt, *a: "20250101T000000")
    (tmp_path / "cdb").mkdir()
    conffile = tmp_path / "cdb/aaa_init.xml"
    conffile.write_bytes(b"edited by someone\n")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    planted = tmp_path / "cdb/aaa_init.xml.20250101T000000.bak"
    os.symlink(victim, planted)
    r = run_plan([ConfFile("/cdb/aaa_init.xml", b"ours\n", ME)], tmp_path, force_conf=True)
    assert victim.read_bytes() == b"precious\n" and os.readlink(planted) == str(victim)
    assert (tmp_path / "cdb/aaa_init.xml.20250101T000000.bak.1").read_bytes() == b"edited by someone\n"
    assert any("aaa_init.xml.20250101T000000.bak.1" in n for n in r.notes)
    assert conffile.read_bytes() == b"ours\n"


def test_force_conf_backups_never_overwrite_each_other(tmp_path, monkeypatch):
    """Two --force-conf runs in the same second keep both administrator versions."""
    monkeypatch.setattr(files_mod.time, "strftime", lambda fmt, *a: "20250101T000000")
    conffile = tmp_path / "ncs.conf"
    for edit in (b"first edit\n", b"second edit\n"):
        conffile.write_bytes(edit)
        run_plan([ConfFile("/ncs.conf", b"ours\n", ME)], tmp_path, force_conf=True)
    assert (tmp_path / "ncs.conf.20250101T000000.bak").read_bytes() == b"first edit\n"
    assert (tmp_path / "ncs.conf.20250101T000000.bak.1").read_bytes() == b"second edit\n"


def test_force_conf_backup_keeps_content_mode_and_says_where(tmp_path, monkeypatch):
    monkeypatch.setattr(files_mod.time, "strftime", lambda fmt, *a: "20250101T000000")
    conffile = tmp_path / "ncs.conf"
    conffile.write_bytes(b"edited\n")
    os.chmod(conffile, 0o640)
    r = run_plan([ConfFile("/ncs.conf", b"ours\n", ME)], tmp_path, force_conf=True)
    backup = tmp_path / "ncs.conf.20250101T000000.bak"
    assert backup.read_bytes() == b"edited\n" and not backup.is_symlink()
    assert oct(os.stat(backup).st_mode & 0o7777) == oct(0o640)
    assert conffile.read_bytes() == b"ours\n"
    assert any("ncs.conf.20250101T000000.bak" in n for n in r.notes)


# --- files and symlinks -------------------------------------------------------------------

def test_file_symlink_refused(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "f")
    with pytest.raises(UnsafePathError):
        run_plan([File("/f", b"x", ME)], tmp_path)


def test_symlink_switch_policy(tmp_path):
    (tmp_path / "ncs-6.4").mkdir()
    (tmp_path / "ncs-6.5").mkdir()
    assert run_plan([Symlink("/current", "ncs-6.4", switch=False)], tmp_path).changes == 1
    r = run_plan([Symlink("/current", "ncs-6.5", switch=False)], tmp_path)
    # left alone, said in its line (the run's note says how to switch): no warning on an upgrade's first step
    assert r.changes == 0 and r.warnings == [] and "--activate switches it to ncs-6.5" in r.records[0].outcome.detail
    assert os.readlink(tmp_path / "current") == "ncs-6.4"
    assert run_plan([Symlink("/current", "ncs-6.5", switch=True)], tmp_path).changes == 1
    assert os.readlink(tmp_path / "current") == "ncs-6.5"


def test_a_dangling_link_is_repaired_even_without_switching(tmp_path):
    """A ``current`` pointing at a removed version is broken (NSO cannot start from it): it is
    pointed at the version being installed, not reported as fine."""
    (tmp_path / "ncs-6.5").mkdir()
    os.symlink("ncs-6.4", tmp_path / "current")
    r = run_plan([Symlink("/current", "ncs-6.5", switch=False)], tmp_path)
    assert r.changes == 1 and "dangling" in r.records[0].outcome.detail
    assert os.readlink(tmp_path / "current") == "ncs-6.5"


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns to another account (root only)")
def test_an_owner_changed_alone_is_drift_and_is_put_back(tmp_path):
    """The owner is compared on its own: mode and group as planned do not hide another owner."""
    root = staged_root(tmp_path, PASSWD, GROUP)
    plan = [Directory("/srv", Attrs(0o755, "root", "root"))]
    run_plan(plan, root)
    os.chown(root / "srv", 1, 0)  # daemon's now; mode and group unchanged
    outcome = check_plan(plan, root).records[0].outcome
    assert (outcome.status, outcome.detail) == ("change", "owner daemon -> root")
    assert run_plan(plan, root).changes == 1
    st = os.stat(root / "srv")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)


def test_a_kept_conffile_is_never_loosened_to_the_planned_mode(tmp_path):
    """The administrator's edited file is kept with its owner made ours, but its mode only
    ever tightened: a 0600 edit stays 0600 when we would have written 0644."""
    run_plan([ConfFile("/ncs.conf", b"v1\n", ME)], tmp_path)
    (tmp_path / "ncs.conf").write_bytes(b"edited\n")
    os.chmod(tmp_path / "ncs.conf", 0o600)
    r = run_plan([ConfFile("/ncs.conf", b"v2\n", ME)], tmp_path)
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"edited\n"
    assert stat.S_IMODE(os.stat(tmp_path / "ncs.conf").st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns to another group (root only)")
def test_a_group_changed_alone_is_drift_and_is_put_back(tmp_path):
    root = staged_root(tmp_path, PASSWD, GROUP)
    plan = [Directory("/srv", Attrs(0o755, "root", "root"))]
    run_plan(plan, root)
    os.chown(root / "srv", 0, 1)  # group daemon now; owner and mode unchanged
    outcome = check_plan(plan, root).records[0].outcome
    assert (outcome.status, outcome.detail) == ("change", "group daemon -> root")
    assert run_plan(plan, root).changes == 1
    st = os.stat(root / "srv")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)


def test_a_setgid_bit_alone_is_drift_and_is_removed(tmp_path):
    """Permission bits as planned do not hide a setuid, setgid or sticky bit someone added."""
    plan = [Directory("/srv", Attrs(0o755, None, None))]
    run_plan(plan, tmp_path)
    os.chmod(tmp_path / "srv", 0o2755)
    outcome = check_plan(plan, tmp_path).records[0].outcome
    assert (outcome.status, outcome.detail) == ("change", "mode 2755 -> 0755")
    assert run_plan(plan, tmp_path).changes == 1
    assert stat.S_IMODE(os.stat(tmp_path / "srv").st_mode) == 0o755


def test_a_kept_conffile_holding_secrets_is_made_unreadable_to_others(tmp_path):
    """An edited conffile we keep is tightened to at most 0640 when it holds what the
    rendering masks (inline keys, password hashes), whatever mode we plan for it."""
    def mask(b):
        return b.replace(b"0123456789abcdef", b"********")

    run_plan([ConfFile("/ncs.conf", b"<key>v1</key>\n", ME, redact=mask)], tmp_path)
    (tmp_path / "ncs.conf").write_bytes(b"<key>0123456789abcdef</key>\n")
    os.chmod(tmp_path / "ncs.conf", 0o644)
    r = run_plan([ConfFile("/ncs.conf", b"<key>v2</key>\n", ME, redact=mask)], tmp_path)
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"<key>0123456789abcdef</key>\n"
    assert stat.S_IMODE(os.stat(tmp_path / "ncs.conf").st_mode) == 0o640
