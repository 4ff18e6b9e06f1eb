"""The state file and the engine's bookkeeping: what nso-install wrote stays recorded as its
own (also when a run fails half way), and a lost, damaged or odd state file is safe."""

import json
import os
import stat

import pytest

from nso_install.actions import ConfFile
from nso_install.engine import apply
from nso_install.errors import UnsafePathError
from nso_install.state import State
from nso_install.target import Target

from support import ME, cli, ctx_for, run_plan


def test_state_damaged_is_safe(tmp_path):
    run_plan([ConfFile("/ncs.conf", b"v1\n", ME)], tmp_path)
    (tmp_path / "state/state.json").write_text("{not json")
    r = run_plan([ConfFile("/ncs.conf", b"v2\n", ME)], tmp_path)  # can no longer prove the file is ours: keep it
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v1\n"


@pytest.mark.parametrize("content", ["[]", '"text"', "42", '{"conffiles": []}', "null"])
def test_state_valid_json_wrong_shape_is_treated_as_empty(tmp_path, content):
    run_plan([ConfFile("/ncs.conf", b"v1\n", ME)], tmp_path)
    (tmp_path / "state/state.json").write_text(content)
    r = run_plan([ConfFile("/ncs.conf", b"v2\n", ME)], tmp_path)  # cannot prove it is ours: kept
    assert r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v1\n"


def test_lost_state_then_new_rendering_is_an_update_not_a_conflict(tmp_path):
    """A file on disk exactly as rendered is ours: a run that finds it so records it, so the
    next rendering updates it (before: recorded only when written, so a lost state file or a
    run killed between the write and the state save made every later update a conflict)."""
    run_plan([ConfFile("/ncs.conf", b"v1\n", ME)], tmp_path)
    os.unlink(tmp_path / "state/state.json")
    assert run_plan([ConfFile("/ncs.conf", b"v1\n", ME)], tmp_path).changes == 0
    r = run_plan([ConfFile("/ncs.conf", b"v2\n", ME)], tmp_path)
    assert not r.records[0].outcome.conflict
    assert (tmp_path / "ncs.conf").read_bytes() == b"v2\n"
    assert not (tmp_path / "ncs.conf.new").exists()


def test_effects_reach_the_sink_before_a_later_action_fails(tmp_path):
    """Conffiles written before a failure are handed over for recording as ours."""
    (tmp_path / "blocker").mkdir()  # a directory where a conffile should go: the run fails there
    plan = [ConfFile("/ncs.conf", b"v1\n", ME), ConfFile("/blocker", b"x\n", ME)]
    recorded = {}
    with pytest.raises(UnsafePathError):
        apply(plan, ctx_for(tmp_path), sink=lambda effects: recorded.update(effects.conffiles))
    assert set(recorded) == {"/ncs.conf"}


def test_state_saved_when_a_later_action_fails(tmp_path, sample_dists):
    """An install failing half way keeps the conffiles it wrote recorded as ours, so the next
    run updates them instead of taking them for an administrator's edits."""
    root = tmp_path / "r"
    (root / "etc/profile.d/ncs.sh").mkdir(parents=True)  # written after ncs.conf: the run fails there
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root]
    r = cli(*args, ok=False)
    assert r.exit_code != 0 and "/etc/profile.d/ncs.sh" in r.stderr
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert "/etc/ncs/ncs.conf" in state["conffiles"] and "spec" not in state  # the run did not succeed
    (root / "etc/profile.d/ncs.sh").rmdir()
    out = json.loads(cli(*args, "--set", "cli.ssh.enabled=true", "--json").stdout)
    rec = next(a for a in out["actions"] if a["id"] == "conffile:/etc/ncs/ncs.conf")
    assert rec["changed"] and not rec.get("conflict")
    assert not (root / "etc/ncs/ncs.conf.new").exists()


def test_run_failing_before_writing_anything_leaves_no_state_file(tmp_path):
    (tmp_path / "blocker").mkdir()
    with pytest.raises(UnsafePathError):
        run_plan([ConfFile("/blocker", b"x\n", ME)], tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["blocker"]


def test_state_file_is_private_and_written_only_when_changed(tmp_path):
    state = State(Target.at(tmp_path), "/var/lib/nso-install/state.json")
    assert state.conffiles == {} and state.spec is None and state.memberships == set()
    state.conffiles["/etc/ncs/ncs.conf"] = "0" * 64
    state.set_memberships({("nso", "ncsadmin")})
    state.record_spec({"format": 1, "kind": "system"})
    assert state.save()
    assert not state.save()  # unchanged: not rewritten
    path = tmp_path / "var/lib/nso-install/state.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    again = State(Target.at(tmp_path), "/var/lib/nso-install/state.json")
    assert again.conffiles == {"/etc/ncs/ncs.conf": "0" * 64}
    assert again.memberships == {("nso", "ncsadmin")} and again.spec == {"format": 1, "kind": "system"}
    again.set_memberships(set())
    assert "grants" not in again.data


def test_a_manifest_of_a_big_tree_is_read_back(tmp_path):
    """A 100k-entry tree's manifest is ~13 MB: above the bound on files read whole (4 MiB),
    which must not apply to nso-install's own sealed records (else every re-run of a big
    install failed with file-too-large)."""
    from nso_install.facts import MAX_READ
    from nso_install.manifest import Entry, Manifest

    target = Target.at(tmp_path)
    entries = {f"lib/f{i:06d}": Entry(f"lib/f{i:06d}", "f", 0o644, 0, 0, 16, 1, "a" * 64) for i in range(50_000)}
    state = State(target, "/state/state.json")
    state.save_manifest("/opt/ncs/ncs-6.5.3", Manifest("/opt/ncs/ncs-6.5.3", "6.5.3", entries))
    state.save()
    assert os.path.getsize(tmp_path / state._manifest_path("/opt/ncs/ncs-6.5.3").lstrip("/")) > MAX_READ
    again = State(target, "/state/state.json").manifest("/opt/ncs/ncs-6.5.3")
    assert again is not None and again.entries == entries


def test_a_manifest_edited_after_it_was_sealed_is_not_trusted(tmp_path):
    """The state records each manifest's digest under its seal: a manifest file changed
    behind nso-install's back (a swapped binary's digest written in) is not believed."""
    from nso_install.manifest import Entry, Manifest

    tree = "/opt/ncs/ncs-6.5.3"
    target = Target.at(tmp_path)
    state = State(target, "/state/state.json")
    entries = {"bin/ncs": Entry("bin/ncs", "f", 0o755, 0, 0, 16, 1, "a" * 64)}
    state.save_manifest(tree, Manifest(tree, "6.5.3", entries))
    state.save()
    assert State(target, "/state/state.json").manifest(tree).entries == entries
    path = tmp_path / state._manifest_path(tree).lstrip("/")
    doctored = path.read_bytes().replace(b"a" * 64, b"b" * 64)
    assert doctored != path.read_bytes()
    path.write_bytes(doctored)
    assert State(target, "/state/state.json").manifest(tree) is None


def test_a_state_edited_after_it_was_sealed_loses_its_privilege_records(tmp_path):
    """The digests of the files a later run may make setuid or give capabilities are believed
    only under a seal that verifies: an edited state keeps its seal string but loses them."""
    tree, epam = "/opt/ncs/ncs-6.5.3", "lib/ncs/lib/core/pam/priv/epam"
    target = Target.at(tmp_path)
    state = State(target, "/state/state.json")
    state.unpacked[tree] = {epam: "a" * 64}
    state.save()
    again = State(target, "/state/state.json")
    assert again.unpacked == {tree: {epam: "a" * 64}} and not again.unsealed
    path = tmp_path / "state/state.json"
    data = json.loads(path.read_text())
    assert isinstance(data.get("seal"), str)
    data["unpacked"][tree][epam] = "b" * 64  # a swapped epam's digest written in
    path.write_text(json.dumps(data))
    edited = State(target, "/state/state.json")
    assert edited.unsealed and edited.unpacked == {}
