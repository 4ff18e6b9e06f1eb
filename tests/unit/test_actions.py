"""Actions on a real file system under tmp_path (the staging root)."""

import os
import stat

import pytest

from nso_install.actions import Attrs, ConfFile, Directory, File, SecretFile, Symlink
from nso_install.engine import evaluate
from nso_install.errors import UnsafePathError
from nso_install.secret import Secret

from plantools import ME, env_for, run


def statuses(report):
    return [(r.action.path, r.changed) for r in report.records]


def test_directory_created_then_ok(tmp_path):
    plan = [Directory("/etc", Attrs(0o755, None, None), enforce=False), Directory("/etc/ncs", Attrs(0o750, None, None))]
    assert run(tmp_path, plan).changes == 2
    assert stat.S_IMODE(os.stat(tmp_path / "etc/ncs").st_mode) == 0o750
    assert run(tmp_path, plan).changes == 0
    os.chmod(tmp_path / "etc/ncs", 0o777)
    r = run(tmp_path, plan)
    assert statuses(r) == [("/etc", False), ("/etc/ncs", True)]
    assert stat.S_IMODE(os.stat(tmp_path / "etc/ncs").st_mode) == 0o750


def test_unenforced_directory_is_never_altered(tmp_path):
    (tmp_path / "etc").mkdir(mode=0o711)
    os.chmod(tmp_path / "etc", 0o711)
    assert run(tmp_path, [Directory("/etc", Attrs(0o755, None, None), enforce=False)]).changes == 0
    assert stat.S_IMODE(os.stat(tmp_path / "etc").st_mode) == 0o711


def conf(content, path="/ncs.conf"):
    return [ConfFile(path, content, ME)]


def test_conffile_dpkg_table(tmp_path):
    f = tmp_path / "ncs.conf"
    # first install: created and recorded
    assert run(tmp_path, conf(b"v1\n")).changes == 1
    assert f.read_bytes() == b"v1\n"
    # same rendering again: nothing to do
    assert run(tmp_path, conf(b"v1\n")).changes == 0
    # new rendering, file untouched since we wrote it: updated in place
    assert run(tmp_path, conf(b"v2\n")).changes == 1
    assert f.read_bytes() == b"v2\n"
    assert not (tmp_path / "ncs.conf.new").exists()
    # administrator edits it; a new rendering must not clobber it
    f.write_bytes(b"admin\n")
    r = run(tmp_path, conf(b"v3\n"))
    assert r.changes == 1 and r.records[0].outcome.conflict
    assert f.read_bytes() == b"admin\n"
    assert (tmp_path / "ncs.conf.new").read_bytes() == b"v3\n"
    assert "--force-conf" in r.warnings[0]
    # re-run with the same values: no change, still reported as kept
    r = run(tmp_path, conf(b"v3\n"))
    assert r.changes == 0 and r.records[0].outcome.conflict
    # --force-conf: replaced, the admin's version saved in a timestamped backup
    r = run(tmp_path, conf(b"v3\n"), force=True)
    assert r.changes == 1
    assert f.read_bytes() == b"v3\n"
    backups = [p for p in os.listdir(tmp_path) if p.startswith("ncs.conf.") and p.endswith(".bak")]
    assert len(backups) == 1 and (tmp_path / backups[0]).read_bytes() == b"admin\n"
    assert not (tmp_path / "ncs.conf.new").exists()
    assert run(tmp_path, conf(b"v3\n")).changes == 0


def test_conffile_not_written_by_us_counts_as_edited(tmp_path):
    (tmp_path / "ncs.conf").write_bytes(b"from NSO's own installer\n")
    r = run(tmp_path, conf(b"ours\n"))
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"from NSO's own installer\n"


def test_conffile_check_mode_writes_nothing(tmp_path):
    r = evaluate(conf(b"x\n"), env_for(tmp_path))
    assert r.changes == 1 and os.listdir(tmp_path) == []


def test_secret_generated_once_mode_repaired_content_kept(tmp_path):
    calls = []

    def gen():
        calls.append(1)
        return Secret(os.urandom(8).hex())

    plan = [SecretFile("/keys", Attrs(0o600, None, None), gen)]
    assert run(tmp_path, plan).changes == 1
    first = (tmp_path / "keys").read_bytes()
    assert run(tmp_path, plan).changes == 0
    os.chmod(tmp_path / "keys", 0o644)
    r = run(tmp_path, plan)
    assert r.changes == 1 and "content kept" in r.records[0].outcome.detail
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o600
    assert (tmp_path / "keys").read_bytes() == first
    assert len(calls) == 1


def test_secret_preplanted_symlink_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("do not touch")
    os.symlink(victim, tmp_path / "keys")
    with pytest.raises(UnsafePathError) as e:
        run(tmp_path, [SecretFile("/keys", Attrs(0o600, None, None), lambda: Secret("x"))])
    assert e.value.reference == "symlink-refused"
    assert victim.read_text() == "do not touch"


def test_file_symlink_refused(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "f")
    with pytest.raises(UnsafePathError):
        run(tmp_path, [File("/f", b"x", ME)])


def test_symlink_switch_policy(tmp_path):
    assert run(tmp_path, [Symlink("/current", "ncs-6.4", switch=False)]).changes == 1
    r = run(tmp_path, [Symlink("/current", "ncs-6.5", switch=False)])
    assert r.changes == 0 and "--activate" in r.warnings[0]
    assert os.readlink(tmp_path / "current") == "ncs-6.4"
    assert run(tmp_path, [Symlink("/current", "ncs-6.5", switch=True)]).changes == 1
    assert os.readlink(tmp_path / "current") == "ncs-6.5"


def test_state_damaged_is_safe(tmp_path):
    run(tmp_path, conf(b"v1\n"))
    (tmp_path / "state/state.json").write_text("{not json")
    r = run(tmp_path, conf(b"v2\n"))  # can no longer prove the file is ours: keep it
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v1\n"
