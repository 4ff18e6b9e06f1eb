"""NSO-SVC-002 on real files under a staged root: an EnvironmentFile= of ncs.service (its unit or
any drop-in systemd loads for it) that an account other than root can change feeds the root part
of the start (ExecStart=!setpriv with --run-as-user; every command when NSO runs as root) --
LD_PRELOAD in the NSO account's ncs.systemd.conf was a root shell. So is a drop-in (or the unit)
such an account can change. The account the unit runs as may own its own file when no command
runs as root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import cli
from support_audit import findings, set_conf

CHECK = "NSO-SVC-002"
DROPINS = "etc/systemd/system/ncs.service.d"


def uid_of(root: Path, name: str) -> int:
    return next(int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()
                if line.startswith(f"{name}:"))


def dropin(root: Path, text: str, where: str = DROPINS, name: str = "env.conf") -> Path:
    d = root / where
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(text if text.startswith("[") else f"[Service]\n{text}\n")
    return p


def judged(root: Path):
    f = findings(root, only=[CHECK], cheap=True)[CHECK]
    return f.status, "\n".join(f.evidence)


def env_file(root: Path, rel: str, owner: int = 0, mode: int = 0o644) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("NCS_EXTRA_ARGS=\n")
    os.chown(p, owner, owner)
    os.chmod(p, mode)
    return p


def test_the_nso_accounts_settings_file_as_a_drop_ins_environment_file_fails(staged):
    root = staged.get("nso")
    assert judged(root)[0] == "pass"
    dropin(root, "EnvironmentFile=-/etc/ncs/ncs.systemd.conf")
    status, evidence = judged(root)
    assert status == "fail"
    # the drop-in, the file, its owner, and why it matters
    assert (f"/{DROPINS}/env.conf: EnvironmentFile=-/etc/ncs/ncs.systemd.conf: "
            "/etc/ncs/ncs.systemd.conf belongs to nso") in evidence
    assert "ExecStart=!/usr/bin/setpriv... runs as root" in evidence


@pytest.mark.parametrize("where", ["run/systemd/system/ncs.service.d", "usr/lib/systemd/system/ncs.service.d",
                                   "lib/systemd/system/ncs.service.d", "etc/systemd/system/service.d",
                                   "usr/lib/systemd/system/service.d", "etc/systemd/system.control/ncs.service.d"])
def test_every_drop_in_directory_systemd_reads_counts(staged, where):
    root = staged.get("nso")
    dropin(root, "EnvironmentFile=/etc/ncs/ncs.systemd.conf", where)
    assert judged(root)[0] == "fail"


def test_a_root_owned_file_in_root_owned_directories_passes(staged):
    root = staged.get("nso")
    env_file(root, "etc/ncs-env/nso.env")
    dropin(root, "EnvironmentFile=/etc/ncs-env/nso.env")
    assert judged(root)[0] == "pass"
    # an Environment= line is the administrator's own choice, whatever it sets
    dropin(root, "Environment=LD_PRELOAD=/opt/site/lib/trace.so", name="trace.conf")
    assert judged(root)[0] == "pass"


@pytest.mark.parametrize("how", ["file-owner", "file-group-write", "file-other-write", "dir-owner", "dir-write",
                                 "absent-in-writable-dir", "link-to-nso-file", "wildcard-dir"])
def test_what_another_account_could_change_fails(staged, how):
    root = staged.get("nso")
    nso = uid_of(root, "nso")
    value = "/etc/ncs-env/nso.env"
    if how == "file-owner":
        env_file(root, "etc/ncs-env/nso.env", owner=nso, mode=0o600)
    elif how == "file-group-write":
        env_file(root, "etc/ncs-env/nso.env", mode=0o664)
    elif how == "file-other-write":
        env_file(root, "etc/ncs-env/nso.env", mode=0o646)
    elif how == "dir-owner":
        env_file(root, "etc/ncs-env/nso.env")
        os.chown(root / "etc/ncs-env", nso, nso)  # nso may rename the file and put its own in place
    elif how == "dir-write":
        env_file(root, "etc/ncs-env/nso.env")
        os.chmod(root / "etc/ncs-env", 0o775)
    elif how == "absent-in-writable-dir":  # optional and missing, in /var/opt/ncs/state (nso's)
        value = "-/var/opt/ncs/state/nso.env"
    elif how == "link-to-nso-file":  # a root-owned link in a root-owned directory, to nso's file
        env_file(root, "var/opt/ncs/state/nso.env", owner=nso)
        (root / "etc/ncs-env").mkdir()
        os.symlink("/var/opt/ncs/state/nso.env", root / "etc/ncs-env/nso.env")
    elif how == "wildcard-dir":  # each match is root's, but nso may add one
        env_file(root, "var/opt/ncs/state/env/a.env")
        os.chown(root / "var/opt/ncs/state/env", nso, nso)
        value = "/var/opt/ncs/state/env/*.env"
    dropin(root, f"EnvironmentFile={value}")
    status, evidence = judged(root)
    assert status == "fail", evidence


def test_a_sticky_directory_is_fine_above_a_root_owned_file_not_above_a_missing_one(staged):
    root = staged.get("nso")
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    os.chmod(tmp, 0o1777)
    env_file(root, "tmp/nso.env")
    dropin(root, "EnvironmentFile=/tmp/nso.env")
    assert judged(root)[0] == "pass"
    dropin(root, "EnvironmentFile=-/tmp/other.env", name="more.conf")  # anyone may create it
    assert judged(root)[0] == "fail"


def test_only_the_settings_in_effect_count(staged):
    root = staged.get("nso")
    dropin(root, "EnvironmentFile=-/etc/ncs/ncs.systemd.conf", name="10-env.conf")
    dropin(root, "EnvironmentFile=", name="20-reset.conf")  # an empty assignment drops the list
    assert judged(root)[0] == "pass"
    # the same name higher up the search path hides the one below; /dev/null masks it
    dropin(root, "EnvironmentFile=/etc/ncs/ncs.systemd.conf", "usr/lib/systemd/system/ncs.service.d", "30-x.conf")
    assert judged(root)[0] == "fail"
    os.symlink("/dev/null", root / DROPINS / "30-x.conf")
    assert judged(root)[0] == "pass"
    # [Service] only; a continued line is one assignment
    dropin(root, "[Unit]\nEnvironmentFile=/etc/ncs/ncs.systemd.conf\n", name="40-unit.conf")
    assert judged(root)[0] == "pass"
    dropin(root, "[Service]\nEnvironmentFile=\\\n  -/etc/ncs/ncs.systemd.conf\n", name="50-cont.conf")
    assert judged(root)[0] == "fail"


def test_the_account_the_unit_runs_as_may_own_its_file_when_no_command_runs_as_root(staged):
    root = staged.get("nso")
    # a unit without the "!" start: every command runs as nso, so nso's file gives nso nothing new
    dropin(root, "ExecStart=\nExecStart=/opt/ncs/ncs-service-start", name="10-start.conf")
    dropin(root, "EnvironmentFile=-/etc/ncs/ncs.systemd.conf", name="20-env.conf")
    assert judged(root)[0] == "pass"
    # ...but not a third account's, and not once any command runs as root again
    env_file(root, "etc/ncs-env/other.env", owner=1, mode=0o600)
    dropin(root, "EnvironmentFile=/etc/ncs-env/other.env", name="30-other.conf")
    assert judged(root)[0] == "fail"
    (root / DROPINS / "30-other.conf").unlink()
    dropin(root, "ExecStartPre=+/bin/true", name="40-pre.conf")
    status, evidence = judged(root)
    assert status == "fail" and "ExecStartPre=+/bin/true... runs as root" in evidence


def test_nso_running_as_root_reads_root_files_only(staged):
    root = staged.get("root")
    assert (root / "etc/ncs/ncs.systemd.conf").stat().st_uid == 0
    dropin(root, "EnvironmentFile=-/etc/ncs/ncs.systemd.conf")
    assert judged(root)[0] == "pass"
    os.chown(root / "etc/ncs/ncs.systemd.conf", 1, 1)
    status, evidence = judged(root)
    assert status == "fail" and "no User=" in evidence


def test_a_drop_in_another_account_can_change_fails(staged):
    root = staged.get("nso")
    p = dropin(root, "Environment=NCS_EXTRA_ARGS=")
    assert judged(root)[0] == "pass"
    os.chown(p, uid_of(root, "nso"), -1)  # it could add ExecStartPre=+... itself
    status, evidence = judged(root)
    assert status == "fail" and "systemd reads it as root" in evidence


def test_no_unit_no_verdict(staged):
    root = staged.get("nso")
    (root / "etc/systemd/system/ncs.service").unlink()
    assert judged(root)[0] == "skip"


def test_install_notes_the_drop_in(staged, sample_dists):
    """install ends with the audit of what it installed: the drop-in it never touches is named."""
    root = staged.get("nso")
    dropin(root, "EnvironmentFile=-/etc/ncs/ncs.systemd.conf")
    out = json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user",
                         "nso", "--json").stdout)
    notes = [n for n in out["notes"] if n.startswith(f"audit: {CHECK} ")]
    assert len(notes) == 1 and ": fail: " in notes[0], out["notes"]
    assert (root / DROPINS / "env.conf").exists()


def test_a_link_climbing_above_the_root_stays_at_the_root_as_the_kernel_has_it(staged):
    """'..' at the root is the root: a link in the unit's way that climbs above it leads where
    the service manager would open the file (and is judged), not out of the audit."""
    root = staged.get("nso")
    env_file(root, "etc/ncs/site.env", owner=uid_of(root, "nso"))
    (root / "etc/ncs/up").symlink_to("../../../../../etc/ncs")
    dropin(root, "EnvironmentFile=/etc/ncs/up/site.env")
    status, evidence = judged(root)
    assert status == "fail" and "/etc/ncs/site.env belongs to nso" in evidence, evidence


def test_the_audit_resolves_ncs_conf_with_the_drop_ins_environment(staged):
    """A drop-in's EnvironmentFile= and Environment= reach NSO (nso-install's start script keeps
    them, setting only the directories and the IPC variables over them): the audit resolves
    ncs.conf's ${VAR} with them, as NSO will; an UnsetEnvironment= of a later drop-in drops one."""
    from nso_install.audit.context import gather

    root = staged.get("nso")
    env_file(root, "etc/ncs-env/nso.env").write_text("SITE_CERTS=/etc/ncs/site-certs\nNCS_RUN_DIR=/tmp/r\n")
    dropin(root, "EnvironmentFile=/etc/ncs-env/nso.env\nEnvironment=SITE_MODE=strict")
    env = gather(root).conf.env
    assert (env["SITE_CERTS"], env["SITE_MODE"], env["NCS_RUN_DIR"]) == ("/etc/ncs/site-certs", "strict",
                                                                         "/var/opt/ncs")
    dropin(root, "UnsetEnvironment=SITE_MODE", name="zz-unset.conf")
    assert "SITE_MODE" not in gather(root).conf.env


# Lines of the NSO account's ncs.systemd.conf that nso-install's start script reads its own way
# (templates/files/_read_env_file.sh.j2): a looser reading in the audit showed the last of the
# first two (off: Python's strip() took the no-break space away) while NSO started with the first
# (on: the script skips a line with a non-ASCII byte).
TRICKY = (b"NCS_NETCONF_TRANSPORT_TCP=true\nNCS_NETCONF_TRANSPORT_TCP=false\xc2\xa0\n"
          b"NCS_A=1\nNCS_A=2\r\r\n NCS_B=1\nNCS_C=x\x0cNCS_D=y\nNCS_E=\"q\"\nNCS_F=\"q\nNCS_G='\"both\"'\n"
          b"NCS_H=fa\0lse\nNCS_I=\xc3\xa9\nNCS_I2=a\xc2\x85NCS_J=b\nNCS_K=a=b\nNCS-L=1\nNCS_M=1\r\n#NCS_N=1\n"
          b";NCS_O=1\nNCS_P==\nNCS_Q=last")
KEYS = ("NCS_NETCONF_TRANSPORT_TCP", "NCS_A", "NCS_B", "NCS_C", "NCS_D", "NCS_E", "NCS_F", "NCS_G", "NCS_H",
        "NCS_I", "NCS_I2", "NCS_J", "NCS_K", "NCS_M", "NCS_N", "NCS_O", "NCS_P", "NCS_Q")


def _what_the_start_script_takes(root: Path, data: bytes, owner: int, mode: int) -> dict:
    """The variables the rendered start script's own read_env_file exports from ``data``, run as
    the NSO account (its "$(id -u)" is part of the file's owner check) on a copy of the file."""
    import re
    import subprocess

    from support import public_tmp_dir

    script = (root / "opt/ncs/ncs-service-start").read_text()
    function = re.search(r"^read_env_file\(\) \{\n.*?^\}\n", script, re.M | re.S)[0]
    with public_tmp_dir() as d:
        f = d / "ncs.systemd.conf"
        f.write_bytes(data)
        os.chown(f, owner, owner)
        os.chmod(f, mode)
        nso = uid_of(root, "nso")
        out = subprocess.run(["setpriv", f"--reuid={nso}", f"--regid={nso}", "--clear-groups", "--", "/bin/sh", "-c",
                              f'{function}read_env_file "$1" && env -0', "sh", str(f)],
                             capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if item.startswith("NCS_"))


@pytest.mark.parametrize("mode, owner", [(0o644, "nso"), (0o664, "nso"), (0o644, "nobody")])
def test_the_audit_takes_from_ncs_systemd_conf_what_the_start_script_takes(staged, mode, owner):
    """The NSO account's ncs.systemd.conf switches interfaces that an ncs.conf ``${VAR:-default}``
    leaves to it (6.6+): the audit must see the values NSO starts with, line for line as the start
    script reads them, and none from a file the script ignores (group-writable, another owner)."""
    from nso_install.audit.context import gather

    from support import NOBODY

    root = staged.get("nso")
    set_conf(root, "/ncs-config/netconf-north-bound/transport/tcp/enabled", "${NCS_NETCONF_TRANSPORT_TCP:-false}")
    uid = uid_of(root, "nso") if owner == "nso" else NOBODY
    conf = root / "etc/ncs/ncs.systemd.conf"
    conf.write_bytes(TRICKY)
    os.chown(conf, uid, uid)
    os.chmod(conf, mode)
    nso = _what_the_start_script_takes(root, TRICKY, uid, mode)
    audit_env = gather(root).conf.env
    assert {k: audit_env.get(k) for k in KEYS} == {k: nso.get(k) for k in KEYS}
    if (mode, owner) == (0o644, "nso"):  # (not vacuous: the script took the file)
        assert nso["NCS_NETCONF_TRANSPORT_TCP"] == "true" and nso["NCS_Q"] == "last"
        assert findings(root, only=["NSO-SD-010"], cheap=True)["NSO-SD-010"].status == "fail"
    else:
        assert not set(nso) & set(KEYS)
