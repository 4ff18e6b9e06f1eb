"""A no-op re-run is replayed (nso_install.replay) only while everything it read is unchanged.

The console script is run as a whole process (``python -X importtime .../nso-install``: a
replayed run imports no click), as root, with its records in a private directory of the test
(``NSO_INSTALL_REPLAY_DIR``).  Every way the target, the distribution, the world or the record
itself can change must mean a run in full; a replay prints exactly what the run it replays
printed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nso_install import replay
from nso_install.replay_record import RACY_NS, Recorder

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs are recorded and replayed for root only")

REPO = Path(__file__).resolve().parents[2]
CONSOLE = str(Path(sys.executable).with_name("nso-install"))  # (its directory, not the working one, on sys.path)
IMPORT_LINE = re.compile(r"^import time:.*\n", re.M)


class Runner:
    """nso-install as a whole process, in a fixed world (directory, environment, interpreter)."""

    def __init__(self, tmp: Path, dist: Path):
        home = tmp / "home"
        home.mkdir(mode=0o700)
        self.records = home / "replay"
        self.root, self.dist, self.cwd = tmp / "root", dist, tmp
        self.env = {"PATH": os.environ["PATH"], "HOME": "/root", "LANG": "C.UTF-8",
                    replay.WHERE: str(self.records)}

    def run(self, *extra: str, env: dict | None = None, args: list[str] | None = None, timeout: float | None = None):
        argv = args if args is not None else ["install", str(self.dist), "--system-install", "--root", str(self.root),
                                              "--json", *extra]
        p = subprocess.run([sys.executable, "-X", "importtime", CONSOLE, *argv], cwd=self.cwd,
                           env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout)
        imported_click = re.search(r"\|\s+click$", p.stderr, re.M) is not None
        return Result(p.returncode, p.stdout, IMPORT_LINE.sub("", p.stderr), replayed=not imported_click)

    def install_and_settle(self) -> "Result":
        first = self.run()
        assert first.code == 0, first.err
        time.sleep(0.15)  # past the racy window: what the install wrote is older than the next run
        return first

    def recorded(self) -> list[dict]:
        if not self.records.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.records.glob("*.json"))]


def record_paths(rec: dict) -> set[str]:
    """Every path a record holds a signature of."""
    return {d if n == "." else f"{d.rstrip('/')}/{n}" for d, names, _ in rec["dirs"] for n in names.split("\0")}


class Result:
    def __init__(self, code: int, out: str, err: str, replayed: bool):
        self.code, self.out, self.err, self.replayed = code, out, err, replayed

    @property
    def changed(self) -> int:
        return json.loads(self.out)["changed"]


@pytest.fixture
def runner(tmp_path, sample_dists):
    dist = tmp_path / "dist" / sample_dists["tar.gz"].name
    dist.parent.mkdir()
    shutil.copy2(sample_dists["tar.gz"], dist)
    return Runner(tmp_path, dist)


@pytest.fixture
def replaying(runner):
    """An install, a no-op re-run (recorded), and a replay of it.  The re-run is tried up to three
    times: a run keeps no record when an entry it read changed just then ("racy"), and on a busy
    host (another process in /tmp, the run's own first .pyc writes) that is the design working,
    not what these tests are about; the last try's refusal is shown."""
    runner.install_and_settle()
    for attempt in range(3):
        full = runner.run(env={replay.SWITCH: "explain"} if attempt == 2 else None)
        assert full.code == 0 and full.changed == 0 and not full.replayed
        if runner.recorded():
            break
        time.sleep(0.15)
    assert len(runner.recorded()) == 1, full.err
    again = runner.run()
    assert again.replayed
    return runner, full


def test_a_recorded_no_op_is_replayed_exactly(replaying):
    runner, full = replaying
    again = runner.run()
    assert again.replayed
    assert (again.code, again.out, again.err) == (full.code, full.out, full.err)
    human = ["install", str(runner.dist), "--system-install", "--root", str(runner.root)]
    first, second = runner.run(args=human), runner.run(args=human)
    assert not first.replayed and second.replayed
    assert (second.code, second.out, second.err) == (first.code, first.out, first.err)
    assert "Nothing to do" in second.out and "warning: PAM service" in second.err  # both streams
    rec = runner.recorded()[0]
    assert rec["lock"] == str(runner.root / "var/lib/nso-install")  # the lock the run took
    paths = record_paths(rec)
    assert str(runner.root / "etc/ncs/ncs.conf") in paths and str(runner.dist) in paths
    assert str(runner.root / "opt/ncs/ncs-6.5.3/bin/ncs") in paths
    assert runner.env["PATH"] not in json.dumps(rec)  # the world (environment...) is kept as a digest
    secrets = (runner.root / "etc/ncs/ncs.crypto_keys").read_text() + (runner.root / "etc/ncs/ipc_access").read_text()
    text = json.dumps(rec)
    for line in secrets.split():
        value = line.split("=")[-1]
        assert len(value) < 16 or value not in text  # what was read is described, never kept


def _chmod_binary(r: Runner):
    os.chmod(r.root / "opt/ncs/ncs-6.5.3/bin/ncs", 0o777)


def _edit_conf(r: Runner):
    with open(r.root / "etc/ncs/ncs.conf", "a") as f:
        f.write("<!-- edited -->\n")


def _remove_from_tree(r: Runner):
    (r.root / "opt/ncs/ncs-6.5.3/bin/ncs_cli").unlink()


def _add_to_listed_dir(r: Runner):
    (r.root / "etc/ncs/ssl/cert/extra.pem").write_text("x")


def _chown_conf(r: Runner):
    os.chown(r.root / "etc/ncs/ncs.conf", 1, 1)


def _touch_dist(r: Runner):
    os.utime(r.dist)


def _replace_dist(r: Runner):
    data = r.dist.read_bytes()
    r.dist.unlink()
    r.dist.write_bytes(data)


def _state_rewritten(r: Runner):
    p = r.root / "var/lib/nso-install/state.json"
    p.write_text(p.read_text())


def _setuid_in_tree(r: Runner):
    os.chmod(r.root / "opt/ncs/ncs-6.5.3/bin/ncs", 0o4755)


def _run_marker_left(r: Runner):
    """A run killed half way leaves its marker: the run in full completes it."""
    marker = r.root / "var/lib/nso-install/in-progress.json"
    marker.write_text(json.dumps({"time": "2025-01-01T00:00:00+0000", "tool": "0", "command": "install"}) + "\n")
    os.chmod(marker, 0o600)


def _account_file_opened_to_all(r: Runner):
    """The staging root's etc/group writable by others: the run in full refuses (unsafe-staging-root)."""
    (r.root / "etc/group").write_text("root:x:0:\n")
    os.chmod(r.root / "etc/group", 0o666)


def _keys_replaced_by_link(r: Runner):
    keys = r.root / "etc/ncs/ncs.crypto_keys"
    keys.rename(keys.with_name("keys.real"))
    keys.symlink_to("keys.real")


def _dir_in_tree_opened_to_all(r: Runner):
    os.chmod(r.root / "opt/ncs/ncs-6.5.3/lib", 0o777)


@pytest.mark.parametrize("change", [_chmod_binary, _edit_conf, _remove_from_tree, _add_to_listed_dir, _chown_conf,
                                    _touch_dist, _replace_dist, _state_rewritten, _setuid_in_tree, _run_marker_left,
                                    _account_file_opened_to_all, _keys_replaced_by_link, _dir_in_tree_opened_to_all],
                         ids=lambda f: f.__name__.strip("_"))
def test_any_change_to_what_the_run_read_means_a_run_in_full(replaying, change):
    runner, full = replaying
    change(runner)
    after = runner.run()
    assert not after.replayed, after.out
    if change in (_chmod_binary, _remove_from_tree, _setuid_in_tree, _chown_conf, _dir_in_tree_opened_to_all):
        assert after.code == 0 and after.changed > 0  # repaired, as without a record
    if change is _edit_conf:
        assert after.code == 0 and '"conflicts": 1' in after.out
    if change is _run_marker_left:
        assert after.code == 0 and not (runner.root / "var/lib/nso-install/in-progress.json").exists()
    if change is _account_file_opened_to_all:
        assert after.code == 2 and "unsafe-staging-root" in after.out
    if change is _keys_replaced_by_link:
        assert after.code != 0 and "symlink-refused" in after.out


def test_a_fifo_put_where_the_lock_was_does_not_hold_a_replay(replaying):
    """The replay takes the recorded lock before it compares signatures: a FIFO put at its name
    (an account that can write the state directory's parent, ROOT/var/lib) must not block it
    (opening a FIFO waits for a writer); the comparison then finds it, and the run in full
    refuses what is no directory."""
    runner, full = replaying
    state = runner.root / "var/lib/nso-install"
    state.rename(state.with_name("elsewhere"))
    os.mkfifo(state, 0o600)
    after = runner.run(timeout=60)
    assert not after.replayed and after.code != 0, after.out


def test_another_world_is_another_record(replaying):
    runner, full = replaying
    other_env = runner.run(env={"LANG": "C"})  # (read by the C library: in every world)
    assert not other_env.replayed and other_env.out == full.out
    assert len(runner.recorded()) == 2  # each world has its own
    assert runner.run(env={"LANG": "C"}).replayed


def test_what_the_run_does_not_read_does_not_count(replaying):
    """A CI job's id, an SSH client's port: variables no one reads change every run; and a
    run given absolute paths does not depend on the directory it starts in."""
    runner, full = replaying
    assert runner.run(env={"CI_JOB_ID": "4711", "SSH_CLIENT": "10.0.0.1 50022 22"}).replayed
    runner.cwd = Path("/")  # (not a new directory beside the staging root: that would change its parent)
    again = runner.run()
    assert again.replayed and again.out == full.out
    rec = runner.recorded()[0]
    assert rec["cwd_used"] is False and "CI_JOB_ID" not in (rec["env_read"] or ())


def test_a_relative_path_ties_the_record_to_the_working_directory(runner, tmp_path):
    other = tmp_path / "other"  # (made first: a directory made later beside the root changes its parent)
    (other / runner.dist.parent.name).mkdir(parents=True)
    shutil.copy2(runner.dist, other / runner.dist.parent.name)  # the same name, another file
    runner.install_and_settle()
    rel = ["install", os.path.relpath(runner.dist, runner.cwd), "--system-install", "--root", str(runner.root),
           "--json"]
    assert not runner.run(args=rel).replayed  # recorded
    assert runner.run(args=rel).replayed
    assert runner.recorded()[0]["cwd_used"] is True
    runner.cwd = other  # nothing the record holds has changed: only what the relative path names
    assert not runner.run(args=rel).replayed


def test_environment_variables_read_through_os_environ_are_part_of_the_record(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_SETTING_X", "1")
    monkeypatch.setenv("NOT_READ_Y", "1")
    rec = _recording(lambda: (os.environ.get("SOME_SETTING_X"), os.getenv("ALSO_READ_Z")), tmp_path)
    assert rec.env_read == {"SOME_SETTING_X", "ALSO_READ_Z"} and not rec.cwd_used
    before = replay.context_digest(sorted(rec.env_read), False)
    monkeypatch.setenv("NOT_READ_Y", "2")
    assert replay.context_digest(sorted(rec.env_read), False) == before
    monkeypatch.setenv("ALSO_READ_Z", "now set")
    assert replay.context_digest(sorted(rec.env_read), False) != before
    whole = _recording(lambda: dict(os.environ), tmp_path)
    assert whole.env_read is None  # iterated: every variable counts
    assert _recording(lambda: os.getcwd(), tmp_path).cwd_used


def test_check_writes_no_record_and_replays_none(replaying):
    """--check writes nothing at all: not even a record of itself."""
    runner, _ = replaying
    before = {p.name: p.stat().st_mtime_ns for p in runner.records.iterdir()}
    for _ in range(2):
        check = runner.run("--check")
        assert not check.replayed and check.code == 0 and '"result": "check"' in check.out
    assert {p.name: p.stat().st_mtime_ns for p in runner.records.iterdir()} == before


def test_never_replayed_while_another_run_holds_the_lock(replaying):
    runner, _ = replaying
    fd = os.open(runner.root / "var/lib/nso-install", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held = runner.run()
    finally:
        os.close(fd)
    assert not held.replayed and held.code != 0 and "holds the lock" in held.err
    assert runner.run().replayed  # (the shared lock of the replay is given back on refusal)


def test_explain_says_what_happened_and_why(runner):
    runner.install_and_settle()
    explain = {replay.SWITCH: "explain"}
    first = runner.run(env=explain)
    assert "nso-install: replay: not replayed: no record for this world" in first.err
    assert "nso-install: replay: recorded" in first.err
    assert "nso-install: replay: replayed" in runner.run(env=explain).err
    conf = runner.root / "etc/ncs/ncs.conf"
    os.chmod(conf, 0o600)
    after = runner.run(env=explain)
    assert f"nso-install: replay: not replayed: an entry of {conf.parent} changed" in after.err
    assert "nso-install: replay: not recorded: " in after.err  # (it repaired the mode: a run that changes)


def test_explain_says_why_a_records_directory_is_not_used(runner):
    """A records' directory another account could change is never used: explain says so, on
    both sides, rather than "no record" and "recorded" (with nothing written)."""
    runner.install_and_settle()
    os.chmod(runner.records, 0o755)
    first = runner.run(env={replay.SWITCH: "explain"})
    assert first.code == 0 and not first.replayed
    why = f"the records' directory {runner.records} is not root's alone"
    assert f"nso-install: replay: not replayed: {why}" in first.err
    assert f"nso-install: replay: not recorded: {why}" in first.err
    assert runner.recorded() == []
    os.chmod(runner.records, 0o700)
    second = runner.run(env={replay.SWITCH: "explain"})
    assert "not replayed: no record for this world" in second.err and "replay: recorded" in second.err
    p = _only_record(runner)
    os.chmod(p, 0o644)
    third = runner.run(env={replay.SWITCH: "explain"})
    assert f"not replayed: the record {p} is not a file of root's alone" in third.err


def test_explain_explains_the_record_of_a_run_without_it(replaying):
    """An operator asks why a re-run is (not) replayed by setting NSO_INSTALL_REPLAY=explain: the
    answer must be about the record of the run as it is run without it."""
    runner, full = replaying
    explained = runner.run(env={replay.SWITCH: "explain"})
    assert explained.replayed and "nso-install: replay: replayed" in explained.err
    assert (explained.code, explained.out) == (full.code, full.out)
    assert len(runner.recorded()) == 1
    _edit_conf(runner)
    after = runner.run(env={replay.SWITCH: "explain"})
    assert f"not replayed: an entry of {runner.root / 'etc/ncs'} changed" in after.err


def test_switched_off_by_the_environment(runner):
    off = {replay.SWITCH: "0"}
    assert runner.run(env=off).code == 0  # the install, which changes things: no records' directory either
    assert not runner.records.exists()
    time.sleep(0.15)
    for _ in range(3):
        assert not runner.run(env=off).replayed
    assert runner.recorded() == [] and not runner.records.exists()


def test_a_run_that_changes_or_fails_keeps_no_record(runner):
    runner.run()  # the install itself: it changed everything
    assert runner.recorded() == []
    bad = runner.run(args=["install", str(runner.dist), "--system-install", "--root", str(runner.root),
                           "--set", "no.such.variable=1"])
    assert bad.code != 0 and runner.recorded() == []


def test_a_path_changed_within_the_racy_window_keeps_no_record(tmp_path, monkeypatch):
    """A file changed in the clock tick of the run's start may change again in that tick with
    the same ctime: such a run keeps no record (git's racy-clean rule)."""
    monkeypatch.setenv(replay.WHERE, str(tmp_path / "home/replay"))
    (tmp_path / "home").mkdir(mode=0o700)
    f = tmp_path / "read.txt"
    f.write_text("x")
    rec = Recorder({"argv": ["install"]})
    rec.t0 = time.time_ns()
    rec.paths[str(f)] = None
    rec.finish(0)
    assert rec.gave_up and "racy" in rec.gave_up and str(tmp_path) in rec.gave_up
    assert not (tmp_path / "home/replay").exists()
    time.sleep(RACY_NS / 1e9 * 1.5)
    rec = Recorder({"argv": ["install"]})
    rec.t0 = time.time_ns()
    rec.paths[str(f)] = None
    rec.finish(0)
    assert rec.gave_up is None and len(list((tmp_path / "home/replay").glob("*.json"))) == 1


def _only_record(runner: Runner) -> Path:
    (p,) = runner.records.glob("*.json")
    return p


@pytest.mark.parametrize("spoil", ["mode", "owner", "link", "dir-mode", "world", "expired", "clock-set-back", "format",
                                   "garbage"])
def test_a_record_is_believed_only_as_nso_install_keeps_it(replaying, spoil, tmp_path):
    runner, full = replaying
    p = _only_record(runner)
    rec = json.loads(p.read_text())
    if spoil == "mode":
        os.chmod(p, 0o644)
    elif spoil == "owner":
        os.chown(p, 65534, 65534)
    elif spoil == "link":
        target = tmp_path / "elsewhere.json"
        shutil.copy2(p, target)
        p.unlink()
        p.symlink_to(target)
    elif spoil == "dir-mode":
        os.chmod(runner.records, 0o755)
    elif spoil == "world":  # a record of another world under this world's name
        rec["world"] = replay.digest({"another": "world"})
        p.write_text(json.dumps(rec))
    elif spoil == "expired":
        rec["expires"] = time.time() - 1
        p.write_text(json.dumps(rec))
    elif spoil == "clock-set-back":  # the clock now earlier than when the record was made: a certificate
        rec["since"] = time.time() + 3600  # expired then may be valid now, and the reverse
        p.write_text(json.dumps(rec))
    elif spoil == "format":
        rec["format"] = replay.FORMAT + 1
        p.write_text(json.dumps(rec))
    else:
        p.write_text("{not json")
    after = runner.run()
    assert not after.replayed
    assert after.out == full.out


def test_a_record_that_says_a_path_is_as_it_is_must_say_so_for_every_path(replaying):
    runner, full = replaying
    p = _only_record(runner)
    rec = json.loads(p.read_text())
    conf_dir = str(runner.root / "etc/ncs")
    for group in rec["dirs"]:
        if group[0] == conf_dir:
            group[1] += "\0not-there-when-recorded"
            group[2] = replay.scan(group[0], group[1].split("\0"))[0]  # (absent: as nso-install would say)
    p.write_text(json.dumps(rec))
    assert runner.run().replayed  # absent, as recorded
    (runner.root / "etc/ncs/not-there-when-recorded").write_text("")
    assert not runner.run().replayed


def test_the_answers_of_account_lookups_must_hold():
    assert replay._lookups_hold([["getpwuid", [0], replay._plain(__import__("pwd").getpwuid(0))]])
    assert not replay._lookups_hold([["getpwuid", [0], ["someone-else", "x", 0, 0, "", "/", "/bin/sh"]]])
    assert replay._lookups_hold([["getpwnam", ["no-such-user-here"], "KeyError"]])
    assert not replay._lookups_hold([["getgrnam", ["root"], "KeyError"]])


def test_live_system_facts_are_kept_as_answers_and_asked_again(tmp_path):
    """Processes and mounts are no path: a recorded run keeps what proc's facts answered (not
    the /proc files they read), and a replay asks again."""
    from nso_install import proc

    rec = _recording(lambda: (proc.mount_of(str(tmp_path)), proc.processes_of(os.getuid())), tmp_path)
    assert rec.gave_up is None
    assert [name for name, _, _ in rec.facts] == ["nso_install.proc:mount_of", "nso_install.proc:processes_of"]
    assert not any(p.startswith("/proc") for p in rec.paths)
    assert replay._facts_hold(rec.facts)
    mine = rec.facts[1]
    assert os.getpid() in mine[2]
    assert not replay._facts_hold([[mine[0], mine[1], [p for p in mine[2] if p != os.getpid()]]])
    mount = rec.facts[0]
    assert not replay._facts_hold([[mount[0], mount[1], [mount[2][0], "other-fs", mount[2][2]]]])


def test_old_records_go_by_count_and_by_size(tmp_path, monkeypatch):
    from nso_install.replay_record import _prune

    monkeypatch.setattr(replay, "MAX_RECORDS", 3)
    monkeypatch.setattr(replay, "MAX_BYTES", 250)
    for i, size in enumerate([10, 10, 10, 10, 10]):  # by count: the 3 newest stay
        p = tmp_path / f"c{i}.json"
        p.write_bytes(b"x" * size)
        os.utime(p, ns=(i * 10**9, i * 10**9))
    _prune(str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("c*.json")) == ["c2.json", "c3.json", "c4.json"]
    for p in tmp_path.glob("*.json"):
        p.unlink()
    for i, size in enumerate([100, 100, 100, 400]):  # by size: the newest stays even when alone too big
        p = tmp_path / f"s{i}.json"
        p.write_bytes(b"x" * size)
        os.utime(p, ns=(i * 10**9, i * 10**9))
    _prune(str(tmp_path))
    assert [p.name for p in tmp_path.glob("s*.json")] == ["s3.json"]
    (tmp_path / "s4.json").write_bytes(b"x" * 100)
    os.utime(tmp_path / "s4.json", ns=(9 * 10**9, 9 * 10**9))
    _prune(str(tmp_path))
    assert [p.name for p in tmp_path.glob("s*.json")] == ["s4.json"]  # 100 + 400 > 250: the older goes


def test_a_record_left_half_written_by_a_killed_run_goes(tmp_path):
    """A run killed between writing a record's temporary file and renaming it leaves the file:
    the next record written removes it once it is older than a write could take."""
    from nso_install.replay_record import STALE_TMP_NS, _prune

    old, fresh = tmp_path / ".ab.json.4711.tmp", tmp_path / ".cd.json.4712.tmp"
    for p in (old, fresh):
        p.write_bytes(b"{")
    past = time.time_ns() - STALE_TMP_NS - 10**9
    os.utime(old, ns=(past, past))
    (tmp_path / "ab.json").write_text("{}")
    _prune(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cd.json.4712.tmp", "ab.json"]  # one may be writing


def test_records_are_kept_for_root_only(monkeypatch):
    assert replay.world(["install", "x"]) is not None
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert replay.world(["install", "x"]) is None


@pytest.mark.parametrize("argv", [["audit"], ["install", "-"], ["--version"], [], ["install", "D", "--check"]])
def test_only_install_runs_are_recorded(argv):
    assert replay.world(argv) is None


# --- the recorder, in this process -----------------------------------------------------------

def _recording(action, tmp_path) -> Recorder:
    rec = Recorder({"argv": ["install"]})
    rec.start()
    try:
        action()
    finally:
        rec.stop()
    return rec


def _read_through_fd(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_text("x")

    def action():
        fd = os.open(tmp_path / "d", os.O_RDONLY)
        try:
            os.stat("f", dir_fd=fd, follow_symlinks=False)
            os.listxattr(f"/proc/self/fd/{fd}/f")
            os.listdir(fd)
        finally:
            os.close(fd)
    return action


def test_reads_through_descriptors_are_named(tmp_path):
    action = _read_through_fd(tmp_path)
    rec = _recording(action, tmp_path)
    assert rec.gave_up is None
    assert {str(tmp_path / "d"), str(tmp_path / "d/f")} <= set(rec.paths)
    assert str(tmp_path / "d") in rec.listed


def test_every_entry_of_a_listed_directory_is_in_the_record(tmp_path, monkeypatch):
    """scandir's DirEntry.stat() reads an entry's metadata with no call or event of its own."""
    monkeypatch.setenv(replay.WHERE, str(tmp_path / "home/replay"))
    (tmp_path / "home").mkdir(mode=0o700)
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_text("x")
    time.sleep(RACY_NS / 1e9 * 1.5)

    def action():
        with os.scandir(tmp_path / "d") as it:
            [e.stat(follow_symlinks=False) for e in it]
    rec = _recording(action, tmp_path)
    rec.finish(0)
    assert rec.gave_up is None
    (p,) = (tmp_path / "home/replay").glob("*.json")
    assert str(tmp_path / "d/f") in record_paths(json.loads(p.read_text()))


def test_proc_sys_dev_and_the_records_are_never_signed():
    """A listing of "/" names /proc, whose link count changes with every process started (what a
    run learns of processes, it learns through replay.fact); the records change with each record."""
    from nso_install.replay_record import _groups

    groups: dict = {}
    _groups(["/proc", "/sys/kernel", "/dev/null", "/etc/hostname", "/var/cache/x/replay/a.json"], "/var/cache/x/replay",
            groups)
    assert set(groups["/"]) == {".", "etc"} and "/var/cache/x/replay" not in groups


def test_paths_read_through_a_link_are_signed_where_the_link_leads(tmp_path):
    from nso_install.replay_record import _signed

    (tmp_path / "real").mkdir()
    (tmp_path / "real/f").write_text("x")
    (tmp_path / "link").symlink_to("real")
    signed = _signed({str(tmp_path / "link/f"): None}, "/nonexistent-replay-dir")
    assert "link" in signed[str(tmp_path)][0]  # the link itself
    names, digest, _, _ = signed[str(tmp_path / "real")]
    assert "f" in names  # and where it leads
    (tmp_path / "real/f").write_text("y")
    assert replay.scan(str(tmp_path / "real"), names)[0] != digest


def test_a_link_read_as_the_last_name_of_a_path_is_signed_where_it_leads(tmp_path):
    """The distribution given as a link: what it names is what the run read (its bytes, its
    metadata), and so is every link on the way there."""
    from nso_install.replay_record import _signed

    (tmp_path / "real").mkdir()
    (tmp_path / "real/f").write_text("x")
    (tmp_path / "hop").symlink_to("real/f")
    (tmp_path / "link").symlink_to(tmp_path / "hop")
    signed = _signed({str(tmp_path / "link"): None}, "/nonexistent-replay-dir")
    assert {"link", "hop"} <= set(signed[str(tmp_path)][0])
    names, digest, _, _ = signed[str(tmp_path / "real")]
    assert "f" in names
    with open(tmp_path / "real/f", "r+") as f:
        f.write("y")  # in place: the links and their directories are as they were
    assert replay.scan(str(tmp_path / "real"), names)[0] != digest


@pytest.mark.parametrize("target", ["/proc/self/fd/0", "/dev/stdin", "/sys/kernel", "loop"])
def test_a_link_that_leads_where_no_signature_describes_keeps_no_record(tmp_path, target):
    from nso_install.replay_record import Unsigned, _signed

    (tmp_path / "link").symlink_to(target if target != "loop" else "link")
    with pytest.raises(Unsigned):
        _signed({str(tmp_path / "link"): None}, "/nonexistent-replay-dir")
    (tmp_path / "null").symlink_to("/dev/null")  # (as _PSEUDO_OK allows: nothing to sign)
    assert str(tmp_path) in _signed({str(tmp_path / "null"): None}, "/nonexistent-replay-dir")


def test_a_distribution_given_as_a_link_is_judged_where_it_leads(runner, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    real = store / runner.dist.name
    os.rename(runner.dist, real)
    runner.dist.symlink_to(real)
    runner.install_and_settle()
    full = runner.run()
    assert full.code == 0 and full.changed == 0 and not full.replayed
    assert runner.run().replayed
    with open(real, "r+b") as f:  # damaged in place: the link and its directory are as they were
        f.seek(100)
        f.write(bytes(64))
    after = runner.run()
    assert not after.replayed and after.code != 0 and "damaged" in after.err


@pytest.mark.parametrize("what", ["write", "mkdir", "chmod", "subprocess", "socket", "stdin", "proc", "dotdot",
                                  "chdir", "statvfs", "fork"])
def test_the_recorder_gives_up_on_what_a_signature_cannot_show(tmp_path, what):
    target = tmp_path / "f"
    target.write_text("x")
    actions = {
        "write": lambda: open(target, "a").close(),
        "mkdir": lambda: os.mkdir(tmp_path / "new"),
        "chmod": lambda: os.chmod(target, 0o600),
        "subprocess": lambda: subprocess.run(["true"]),
        "socket": lambda: socket.socket().close(),
        "stdin": lambda: sys.stdin.read,
        "proc": lambda: os.stat("/proc/1/status"),
        "dotdot": lambda: os.lstat(f"{tmp_path}/.."),
        "chdir": lambda: os.chdir(os.getcwd()),
        "statvfs": lambda: os.statvfs(tmp_path),
        "fork": lambda: os.waitpid(_fork_and_exit(), 0),
    }
    rec = _recording(actions[what], tmp_path)
    assert rec.gave_up, what


def _fork_and_exit() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid


def test_the_recorder_puts_everything_back(tmp_path):
    import grp
    import pwd

    def now():
        return (os.stat, os.lstat, os.open, os.readlink, os.access, os.statvfs, os.getcwd, os.getcwdb,
                os.getgrouplist, pwd.getpwnam, pwd.getpwuid, grp.getgrnam, grp.getgrgid, sys.stdout, sys.stderr,
                sys.stdin, type(os.environ).__getitem__, type(os.environ).__iter__)
    before = now()
    _recording(lambda: None, tmp_path)
    assert now() == before
    _recording(lambda: os.mkdir(tmp_path / "gives-up-midway"), tmp_path)
    assert now() == before


# --- every clock reading a run decides on declares until when it holds -------------------------

CLOCK = re.compile(r"datetime\.now\(|date\.today\(|time\.time\(|time\.time_ns\(|_now\(\)|time\.localtime\(|"
                   r"time\.gmtime\(|time\.strftime\(")
# module -> why its clock readings cannot change what a recorded (no-op) run prints
CLOCK_READERS = {
    "nso_install/audit/checks/keys.py": "the certificate check calls replay.valid_until",
    "nso_install/distribution/signature.py": "the signature check calls replay.valid_until",
    "nso_install/audit/__init__.py": "date.today() for waivers, which only `audit --waivers` reads",
    "nso_install/actions/files.py": "names of files set aside or backed up: runs that write",
    "nso_install/actions/keys.py": "a new certificate's dates: runs that write",
    "nso_install/state.py": "history and activation times: runs that write",
    "nso_install/lifecycle/keys.py": "keys rotate, never recorded",
    "nso_install/replay.py": "the record's expiry, and when the racy window starts",
    "nso_install/replay_record.py": "the racy window's start, and when the record was made",
}


def test_every_clock_reading_is_accounted_for():
    found = {str(p.relative_to(REPO)) for p in (REPO / "nso_install").rglob("*.py")
             if p.name not in ("standin.py", "sample.py") and CLOCK.search(p.read_text())}
    assert found == set(CLOCK_READERS), found ^ set(CLOCK_READERS)
    for module in ("nso_install/audit/checks/keys.py", "nso_install/distribution/signature.py"):
        assert "valid_until(" in (REPO / module).read_text()


def test_valid_until_keeps_the_earliest(monkeypatch):
    monkeypatch.setattr(replay, "_horizon", None)
    replay.valid_until(200.0)
    replay.valid_until(100.0)
    replay.valid_until(300.0)
    assert replay._horizon == 100.0


# --- completeness: the kernel's view of the run against the record -----------------------------

_AT = re.compile(r'^\d+\s+(openat|newfstatat|readlinkat|faccessat2?|statx)\((AT_FDCWD|\d+<([^>]*)>|-?\d+), "([^"]*)"')
_P1 = re.compile(r'^\d+\s+(open|stat|lstat|readlink|access|getxattr|lgetxattr|listxattr|llistxattr)\("([^"]*)"')
_DENTS = re.compile(r"^\d+\s+getdents64\(\d+<([^>]*)>")


@pytest.mark.skipif(shutil.which("strace") is None and not os.environ.get("CI"), reason="needs strace")
def test_every_path_the_run_touches_under_the_target_is_in_its_record(runner):
    """strace sees every file system call of the recorded run (whatever Python module made it);
    each path under the staging root, the distribution and the record's own home is in the record."""
    trace = runner.cwd / "trace" / "trace.txt"  # (not in a directory the run reads: it is written meanwhile)
    trace.parent.mkdir()
    runner.install_and_settle()
    argv = ["install", str(runner.dist), "--system-install", "--root", str(runner.root), "--json"]
    p = subprocess.run(["strace", "-f", "-y", "-qq", "-s", "4096", "-e", "trace=%file,%desc", "-o", str(trace),
                        sys.executable, "-m", "nso_install", *argv], cwd=runner.cwd, env=runner.env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (rec,) = runner.recorded()
    recorded = record_paths(rec)
    watched = (str(runner.root), str(runner.dist.parent), "/var/lib/nso-install/")
    seen, missing = set(), set()
    for line in trace.read_text().splitlines():
        path = None
        if m := _AT.match(line):
            dfd, base, name = m.group(2), m.group(3), m.group(4)
            if name.startswith("/"):
                path = name
            elif dfd == "AT_FDCWD":
                path = f"{runner.cwd}/{name}"
            elif base:
                path = f"{base}/{name}" if name else base
        elif m := _P1.match(line):
            path = m.group(2) if m.group(2).startswith("/") else f"{runner.cwd}/{m.group(2)}"
        elif m := _DENTS.match(line):
            path = m.group(1)
        if path is None:
            continue
        path = os.path.normpath(path)
        if path.startswith(watched) and not path.startswith(str(runner.records)):
            seen.add(path)
            if path not in recorded:
                missing.add(path)
    assert len(seen) > 100  # the tree, the configuration, the state: the trace did see the run
    assert not missing, sorted(missing)[:20]


def test_shutil_imported_while_recording_keeps_its_link_safe_rmtree(tmp_path):
    """What os supports is asked by function identity: shutil imported under the recorder's
    wrappers must still find os.open and os.stat with dir_fd, or its rmtree falls back, for the
    whole process, to the version that follows links planted under the tree it removes."""
    code = ("import os, sys\nsys.path.insert(0, sys.argv[1])\nfrom nso_install.replay_record import Recorder\n"
            "rec = Recorder({'argv': ['install']}); rec.start()\nimport shutil\n"
            "during = (shutil._use_fd_functions, shutil.rmtree.avoids_symlink_attacks)\nrec.stop()\n"
            "print(during, os.stat in os.supports_dir_fd, all(getattr(f, '__wrapped__', None) is None\n"
            "      for s in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks) for f in s))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(Path(__file__).parents[2])], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.stdout.split() == ["(True,", "True)", "True", "True"], out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another account (chown)")
def test_bytes_another_account_changes_through_a_mapping_are_noticed(tmp_path, monkeypatch):
    """A write through a shared mapping of a page already written moves no mtime or ctime (the
    kernel stamps only the first write fault after writeback): the bytes of a file the run
    opened that another account can write are in the record, and a replay compares them."""
    import mmap

    monkeypatch.setenv(replay.WHERE, str(tmp_path / "home/replay"))
    (tmp_path / "home").mkdir(mode=0o700)
    f = tmp_path / "aaa_init.xml"
    f.write_bytes(b"<aaa/>" + b" " * 4090)
    os.chown(f, 65534, 65534)
    fd = os.open(f, os.O_RDWR)
    mapped = mmap.mmap(fd, 4096)  # (MAP_SHARED)
    try:
        mapped[0:1] = b"<"  # the page is written now: later writes to it fault no more
        time.sleep(RACY_NS / 1e9 * 1.5)
        rec = _recording(lambda: open(f, "rb").read(), tmp_path)
        rec.finish(0)
        assert rec.gave_up is None and rec.opened == {str(f): None}
        (p,) = (tmp_path / "home/replay").glob("*.json")
        assert [path for path, _ in json.loads(p.read_text())["contents"]] == [str(f)]
        assert replay.replay(rec.world) == 0  # (as it was: replayed)
        before = os.stat(f)
        mapped[1:4] = b"AAA"
        if os.stat(f).st_ctime_ns != before.st_ctime_ns:
            pytest.skip("the page was written back in between: the kernel stamped this write")
        assert replay.replay(rec.world) is None
    finally:
        mapped.close()
        os.close(fd)


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another account (chown)")
def test_bytes_changed_through_a_mapping_while_the_run_reads_them_keep_no_record(tmp_path, monkeypatch):
    """The account that owns a file the run reads, holding a written page of it mapped, can
    change its bytes right after the run read it (inotify tells it when) and before the record
    is made, moving no ctime: a record of the bytes found then would let every replay pass on
    bytes the run never judged (an edited ncs.systemd.conf replayed as "nothing to do", where a
    run in full says "1 edited config file(s) kept").  The bytes are taken when the run opens
    the file too; different ones at the end mean no record."""
    import mmap

    monkeypatch.setenv(replay.WHERE, str(tmp_path / "home/replay"))
    (tmp_path / "home").mkdir(mode=0o700)
    f = tmp_path / "ncs.systemd.conf"
    f.write_bytes(b"NCS_CONFIG_DIR=/etc/ncs\n" + b"#" * 4072)
    os.chown(f, 65534, 65534)
    fd = os.open(f, os.O_RDWR)
    mapped = mmap.mmap(fd, 4096)  # (MAP_SHARED)
    try:
        mapped[0:1] = b"N"  # the page is written now: later writes to it fault no more
        time.sleep(RACY_NS / 1e9 * 1.5)
        before = os.stat(f)
        read = []

        def run():
            with open(f, "rb") as g:
                read.append(g.read())
            mapped[15:23] = b"/tmp/xx\n"  # after the run read it
        rec = _recording(run, tmp_path)
        if os.stat(f).st_ctime_ns != before.st_ctime_ns:
            pytest.skip("the page was written back in between: the kernel stamped this write")
        assert read[0].startswith(b"NCS_CONFIG_DIR=/etc/ncs\n")
        rec.finish(0)
        assert rec.gave_up == f"the bytes of {f} changed while the run read it"
        assert not list((tmp_path / "home").rglob("*.json"))
    finally:
        mapped.close()
        os.close(fd)


def test_only_files_another_account_can_write_are_kept_by_their_bytes(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    os.chmod(f, 0o644)
    assert replay.content_digest(str(f)) is None if os.geteuid() == 0 else replay.content_digest(str(f))
    os.chmod(f, 0o664)  # the group may write it
    assert replay.content_digest(str(f)) is not None
    f.write_bytes(b"x" * (replay.CONTENT_MAX + 1))
    with pytest.raises(ValueError, match="too big"):
        replay.content_digest(str(f))
    assert replay.content_digest(str(tmp_path)) is None  # (no regular file)


def test_a_world_with_a_python_startup_variable_is_never_recorded_nor_replayed(runner, tmp_path):
    """Python reads PYTHONPATH before nso-install's first line; a full run judges it every time
    (cli.common: only a path root alone could fill is accepted), a replay would not."""
    (tmp_path / "py").mkdir()
    env = {"PYTHONPATH": str(tmp_path / "py")}
    first = runner.run(env=env)
    assert first.code == 0, first.err
    time.sleep(RACY_NS / 1e9 * 1.5)
    for _ in range(2):
        again = runner.run(env=env)
        assert again.code == 0 and again.changed == 0 and not again.replayed
    assert runner.recorded() == []
    settled = runner.run()  # the same without it: recorded as usual
    assert settled.code == 0 and len(runner.recorded()) == 1


def test_the_racy_window_starts_before_the_run_is_imported(monkeypatch):
    """The run's modules are read while the console imports it, before recording starts (50 ms,
    far more on a loaded host): one changed meanwhile (a pip upgrade as the run starts) would be
    signed as changed and replayed as the code that ran before."""
    import types

    from nso_install import replay_record

    seen = {}

    class Stub(types.ModuleType):
        @property
        def main(self):  # (the import of the run: slow)
            seen["imported"] = time.time_ns()
            time.sleep(0.2)
            return lambda: None

    class Kept(Recorder):
        def finish(self, code):
            seen["t0"] = self.t0

    monkeypatch.setattr(replay, "world", lambda argv: {"argv": argv})
    monkeypatch.setattr(replay, "replay", lambda w: None)
    monkeypatch.setattr(replay_record, "Recorder", Kept)
    monkeypatch.setitem(sys.modules, "nso_install.cli", Stub("nso_install.cli"))
    replay.console()
    assert seen["t0"] <= seen["imported"]
    assert replay_record.racy(seen["imported"] + 10**6, 0, seen["t0"])  # changed while importing


def test_a_file_system_of_whole_seconds_is_racy_from_the_start_of_the_runs_second():
    """ext4 with small inodes (and some network file systems) keep whole seconds: a change later
    in the second a recorded run started in gets that same second as its ctime, so an entry
    stamped with it (or just before: the margin) is racy, though far more than RACY_NS before t0."""
    from nso_install.replay_record import racy

    second = 1_000_000_000
    t0 = 1000 * second + 500_000_000  # the run starts half-way through second 1000
    assert racy(1000 * second, 1000 * second, t0)  # changed in that second: a later change keeps it
    assert racy(999 * second + 950_000_000, 0, t0) is False  # fine-grained, 0.55 s before: as before
    assert not racy(999 * second, 999 * second, t0)  # the second before: a later change moves it
    assert racy(t0 - RACY_NS // 2, 0, t0)  # fine-grained within the margin: as before
    assert racy(999 * second + 950_000_000, 0, 1000 * second + 50_000_000)


def test_a_world_with_a_user_site_directory_is_never_replayed(monkeypatch, tmp_path):
    """Its .pth files run at start-up; cli.common judges the directory on every full run, a replay
    would skip that (a venv, as the README installs, has no user site directory)."""
    import site

    argv = ["install", "d.tar.gz", "--system-install"]
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    for v in replay.STARTUP_VARIABLES + (replay.SWITCH,):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(site, "ENABLE_USER_SITE", False)
    assert replay._eligible(argv)
    monkeypatch.setattr(site, "ENABLE_USER_SITE", True)
    monkeypatch.setattr(site, "USER_SITE", str(tmp_path / "site-packages"))
    assert replay._eligible(argv)  # enabled, but not there (so not on sys.path)
    monkeypatch.setattr(sys, "path", sys.path + [str(tmp_path / "site-packages")])
    assert not replay._eligible(argv)
