"""Review of the core (engine, actions, layout, templates): each test failed before its fix."""

import os

import pytest

from nso_install import actions
from nso_install.actions import Attrs, ConfFile
from nso_install.engine import Env, State, apply
from nso_install.errors import UnsafePathError
from nso_install.target import Target

ME = Attrs(0o644, None, None)


def env_for(root, force=False):
    t = Target.at(root)
    return Env(t, State(t, "/state/state.json"), force_conf=force)


def run(root, plan, force=False):
    return apply(plan, env_for(root, force))


# --- --force-conf backup ------------------------------------------------------------------

def test_force_conf_backup_never_written_through_a_planted_symlink(tmp_path, monkeypatch):
    """The backup of an edited conffile lands beside it, in a directory that may belong to the
    NSO account (RUN_DIR/cdb/aaa_init.xml): a link planted at the backup name is refused."""
    monkeypatch.setattr(actions.time, "strftime", lambda fmt, *a: "20250101T000000")
    (tmp_path / "cdb").mkdir()
    conf = tmp_path / "cdb/aaa_init.xml"
    conf.write_bytes(b"edited by someone\n")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    os.symlink(victim, tmp_path / "cdb/aaa_init.xml.20250101T000000.bak")
    with pytest.raises(UnsafePathError):
        run(tmp_path, [ConfFile("/cdb/aaa_init.xml", b"ours\n", ME)], force=True)
    assert victim.read_bytes() == b"precious\n"
    assert conf.read_bytes() == b"edited by someone\n"


def test_force_conf_backup_keeps_content_mode_and_says_where(tmp_path, monkeypatch):
    monkeypatch.setattr(actions.time, "strftime", lambda fmt, *a: "20250101T000000")
    conf = tmp_path / "ncs.conf"
    conf.write_bytes(b"edited\n")
    os.chmod(conf, 0o640)
    r = run(tmp_path, [ConfFile("/ncs.conf", b"ours\n", ME)], force=True)
    backup = tmp_path / "ncs.conf.20250101T000000.bak"
    assert backup.read_bytes() == b"edited\n" and not backup.is_symlink()
    assert oct(os.stat(backup).st_mode & 0o7777) == oct(0o640)
    assert conf.read_bytes() == b"ours\n"
    assert any("ncs.conf.20250101T000000.bak" in n for n in r.notes)


# --- state file: lost, damaged, or not saved by a killed run -----------------------------

def test_lost_state_then_new_rendering_is_an_update_not_a_conflict(tmp_path):
    """A file on disk exactly as rendered is ours: a run that finds it so records it, so the
    next rendering updates it (before: recorded only when written, so a lost state file or a
    run killed between the write and the state save made every later update a conflict)."""
    run(tmp_path, [ConfFile("/ncs.conf", b"v1\n", ME)])
    os.unlink(tmp_path / "state/state.json")
    assert run(tmp_path, [ConfFile("/ncs.conf", b"v1\n", ME)]).changes == 0
    r = run(tmp_path, [ConfFile("/ncs.conf", b"v2\n", ME)])
    assert not r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v2\n"
    assert not (tmp_path / "ncs.conf.new").exists()


def test_state_saved_when_a_later_action_fails(tmp_path):
    """Conffiles written before a failure stay recorded as ours."""
    (tmp_path / "blocker").mkdir()  # a directory where a conffile should go: the run fails there
    plan = [ConfFile("/ncs.conf", b"v1\n", ME), ConfFile("/blocker", b"x\n", ME)]
    with pytest.raises(UnsafePathError):
        run(tmp_path, plan)
    state = State(Target.at(tmp_path), "/state/state.json")
    assert state.conffile("/ncs.conf") is not None


@pytest.mark.parametrize("content", ["[]", '"text"', "42", '{"conffiles": []}', "null"])
def test_state_valid_json_wrong_shape_is_treated_as_empty(tmp_path, content):
    run(tmp_path, [ConfFile("/ncs.conf", b"v1\n", ME)])
    (tmp_path / "state/state.json").write_text(content)
    r = run(tmp_path, [ConfFile("/ncs.conf", b"v2\n", ME)])  # cannot prove it is ours: kept
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v1\n"
