"""Review of the core (engine, actions, layout, templates): each test failed before its fix."""

import os

import pytest

from nso_install import actions
from nso_install.actions import Attrs, ConfFile
from nso_install.engine import State
from nso_install.errors import UnsafePathError
from nso_install.target import Target

from plantools import ME, env_for, run


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


# --- generated files that run on the host --------------------------------------------------

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from clitools import cli  # noqa: E402
from nso_install.dist import open_distribution  # noqa: E402
from nso_install.errors import UsageError  # noqa: E402
from nso_install.layout import InstallOptions, build_plan  # noqa: E402

SH = shutil.which("dash") or "/bin/sh"


def _plan_files(dist_path, tmp_path, **kw):
    """{target path: content} of a system plan whose directories are real paths under tmp_path."""
    opts = InstallOptions(system=True, install_dir=f"{tmp_path}/opt", config_dir=f"{tmp_path}/etc",
                          run_dir=f"{tmp_path}/run", log_dir=f"{tmp_path}/log",
                          values={"ipc": {"path": f"{tmp_path}/ipc/nso-ipc"}}, **kw)
    plan = build_plan(opts, open_distribution(dist_path))
    return {a.path: a.content for a in plan if hasattr(a, "content")}


def _fake_ncs(tmp_path):
    bindir = tmp_path / "opt/current/bin"
    bindir.mkdir(parents=True)
    (bindir / "ncs").write_text('#!/bin/sh\necho "args: $*"\necho "ipc: ${NCS_IPC_PATH:-unset}"\n'
                                'echo "config: ${NCS_CONFIG_DIR:-unset}"\necho "jvm: ${NCS_JAVA_VM_OPTIONS:-unset}"\n')
    os.chmod(bindir / "ncs", 0o755)
    (tmp_path / "run").mkdir()
    (tmp_path / "etc").mkdir()


def test_sysv_script_survives_a_missing_environment_file_and_exports_the_ipc_path(tmp_path, sample_dists):
    """'. FILE 2>/dev/null || true' ends a POSIX sh (dash) when FILE is missing; and the clients
    started by the script (ncs --stop/--status/--reload) need NCS_IPC_PATH exported."""
    files = _plan_files(sample_dists["tar.gz"], tmp_path, ignore_systemd_script=True)
    script = tmp_path / "init.d.ncs"
    script.write_bytes(files["/etc/init.d/ncs"])
    _fake_ncs(tmp_path)
    r = subprocess.run([SH, str(script), "start"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"ipc: {tmp_path}/ipc/nso-ipc" in r.stdout
    assert f"config: {tmp_path}/etc" in r.stdout
    # the administrator's settings are exported, and NCS_RELOAD_PACKAGES is honoured
    (tmp_path / "etc/ncs.systemd.conf").write_bytes(
        files[f"{tmp_path}/etc/ncs.systemd.conf"].replace(b"NCS_RELOAD_PACKAGES=false", b"NCS_RELOAD_PACKAGES=true")
        .replace(b"NCS_JAVA_VM_OPTIONS=", b"NCS_JAVA_VM_OPTIONS=-Xmx2g"))
    r = subprocess.run([SH, str(script), "start"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--with-package-reload" in r.stdout and "jvm: -Xmx2g" in r.stdout


def _postrotate(logrotate: bytes) -> str:
    text = logrotate.decode()
    return text.split("postrotate\n", 1)[1].split("endscript", 1)[0]


def test_logrotate_postrotate_sources_nothing_the_nso_account_can_write(tmp_path, sample_dists):
    """postrotate runs as root; with --run-as-user (systemd) ncs.systemd.conf belongs to the NSO
    account, so sourcing it there gave the account root. The IPC path is written in instead."""
    files = _plan_files(sample_dists["tar.gz"], tmp_path, run_as_user="nso")
    script = _postrotate(files["/etc/logrotate.d/ncs"])
    assert not [ln for ln in script.splitlines() if "ncs.systemd.conf" in ln and not ln.strip().startswith("#")]
    _fake_ncs(tmp_path)
    (tmp_path / "etc/ncs.systemd.conf").write_text("touch " + str(tmp_path / "pwned") + "\n")
    r = subprocess.run([SH, "-c", script.replace(" >/dev/null 2>&1", "")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "args: --reload" in r.stdout and f"ipc: {tmp_path}/ipc/nso-ipc" in r.stdout
    assert not (tmp_path / "pwned").exists()


# --- paths written into shell scripts, units and logrotate ---------------------------------

@pytest.mark.parametrize("bad", ["/opt/my nso", "/opt/$(id)", "/opt/a;b", "/etc/ncs%i", "/opt/`x`", "/opt/a'b",
                                 "/opt/*"])
def test_install_options_refuse_paths_shells_or_systemd_would_interpret(bad):
    with pytest.raises(UsageError) as e:
        InstallOptions(system=True, config_dir=bad)
    assert e.value.reference == "unsafe-path-characters" and "--config-dir" in e.value.message


def test_unsafe_ipc_path_refused_before_anything_is_written(tmp_path, sample_dists):
    root = tmp_path / "root"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root,
            "--set", "ipc.path=/run/$(reboot)/sock", ok=False)
    assert r.exit_code == 2 and "unsafe-path-characters" not in r.stdout
    assert "NCS_IPC_PATH" in r.stderr and "Hint:" in r.stderr
    assert not root.exists()
    r = cli("install", sample_dists["tar.gz"], "--root", root, "--local-install", "/home/me/my nso", ok=False)
    assert r.exit_code == 2 and "--local-install" in r.stderr and not root.exists()


# --- --check and the run agree, action by action ------------------------------------------

def test_check_and_apply_agree_on_every_action_of_a_fresh_staged_target(tmp_path, sample_dists):
    """Before: bin/ncs-setup was 'absent' in --check but removed by the run; var/ was 'create' in
    --check but already made by the run's lock before the plan ran."""
    root = tmp_path / "root"
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json"]
    check = json.loads(cli(*args, "--check").stdout)
    applied = json.loads(cli(*args).stdout)
    want = {a["id"]: a["status"] == "change" for a in check["actions"]}
    got = {a["id"]: a["changed"] for a in applied["actions"]}
    assert want == got
    assert not (root / "opt/ncs/ncs-6.5.3/bin/ncs-setup").exists()


def test_diff_of_an_edited_aaa_init_masks_password_hashes(tmp_path, sample_dists):
    """aaa_init.xml is a conffile: an administrator may add local users to it. --diff, --json and
    -v showed their password hashes."""
    root = tmp_path / "root"
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root]
    cli(*args, "-q")
    aaa = root / "var/opt/ncs/cdb/aaa_init.xml"
    secret_hash = "$6$saltsalt$0123456789abcdefHASHVALUE"
    aaa.write_text(aaa.read_text().replace("<users/>", f"<users><user><name>admin</name>"
                                                       f"<password>{secret_hash}</password></user></users>"))
    for extra in (["--check", "--diff"], ["--check", "--diff", "--json"], ["--diff", "-v"], ["--force-conf", "--diff"]):
        r = cli(*args, *extra)
        assert "HASHVALUE" not in r.stdout + r.stderr, extra
        assert "<password><secret></password>" in r.stdout or '"<password><secret></password>' in r.stdout, extra


def test_run_failing_before_writing_anything_leaves_no_state_file(tmp_path):
    (tmp_path / "blocker").mkdir()
    with pytest.raises(UnsafePathError):
        run(tmp_path, [ConfFile("/blocker", b"x\n", ME)])
    assert sorted(os.listdir(tmp_path)) == ["blocker"]
