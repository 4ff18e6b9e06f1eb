"""The SysV script's reader of ncs.systemd.conf on its own: a key that is not a shell variable
name (even one with an allowed prefix) is skipped, and the lines after it are still read; the
script never aborts half way through the administrator's settings (dash exits on a bad
``export``, so without the name check one such line would stop the service from starting).
And the script runs with its own PATH: nothing it starts is looked up in the caller's."""

from __future__ import annotations

import os
import re
import subprocess

import shutil

import pytest
from support import cli, spec

from nso_install.distribution import open_distribution
from nso_install.plan import build_plan


@pytest.fixture(scope="module")
def reader(tmp_path_factory, sample_dists):
    root = tmp_path_factory.mktemp("sysv-names")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv")
    script = (root / "etc/init.d/ncs").read_text()
    return re.search(r"^read_env_file\(\) \{\n.*?^\}\n", script, re.S | re.M).group(0)


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_keys_that_are_not_variable_names_are_skipped_and_reading_goes_on(reader, tmp_path, shell):
    env = tmp_path / "ncs.systemd.conf"
    env.write_text("NCS_FIRST=1\nNCS_BAD-NAME=2\nNCS_A B=3\nNCS_X.Y=4\nJAVA_$(id)=5\nNCS_LAST=6\n")
    os.chmod(env, 0o644)
    out = subprocess.run([shell, "-c", reader + f"read_env_file {env}; echo done; env"], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0 and "done" in out.stdout.splitlines(), out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert got["NCS_FIRST"] == "1" and got["NCS_LAST"] == "6"
    assert not [k for k in got if k.startswith(("NCS_BAD", "NCS_A", "NCS_X", "JAVA_"))]
    assert out.stderr == ""


def test_the_sysv_script_and_what_it_starts_use_its_own_path(tmp_path, sample_dists):
    """Run as root from any environment (an administrator's shell, a configuration tool): a
    directory earlier in the caller's PATH must not decide which programs run."""
    s = spec(install_dir=f"{tmp_path}/opt", config_dir=f"{tmp_path}/etc", run_dir=f"{tmp_path}/run",
             log_dir=f"{tmp_path}/log", values={"ipc.path": f"{tmp_path}/ipc/nso-ipc"}, init_system="sysv")
    files = {a.path: a.content for a in build_plan(s, open_distribution(sample_dists["tar.gz"]))
             if hasattr(a, "content")}
    script = tmp_path / "init.d.ncs"
    script.write_bytes(files["/etc/init.d/ncs"])
    (tmp_path / "etc").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "etc/ncs.systemd.conf").write_bytes(files[f"{tmp_path}/etc/ncs.systemd.conf"])
    bindir = tmp_path / "opt/current/bin"
    bindir.mkdir(parents=True)
    (bindir / "ncs").write_text('#!/bin/sh\n[ "$1" = --status ] && exit 1  # not running\necho "path: $PATH"\n')
    os.chmod(bindir / "ncs", 0o755)
    evil = tmp_path / "evil"
    evil.mkdir()
    for name in ("stat", "install", "runuser", "cat", "env", "id", "sed"):
        (evil / name).write_text(f"#!/bin/sh\ntouch {tmp_path}/pwned-{name}\n")
        os.chmod(evil / name, 0o755)
    sh = shutil.which("dash") or "/bin/sh"
    r = subprocess.run([sh, str(script), "start"], capture_output=True, text=True, timeout=30,
                       env={"PATH": f"{evil}:/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert "path: /usr/sbin:/usr/bin:/sbin:/bin" in r.stdout.splitlines()
    assert not list(tmp_path.glob("pwned-*"))


@pytest.mark.parametrize("shell", ["sh", "bash", "zsh", "busybox"])
def test_a_file_saved_with_crlf_line_ends_is_read_and_odd_lines_stay_data(reader, tmp_path, shell):
    """An administrator's ncs.systemd.conf saved with CRLF line ends (edited on Windows): every
    setting was skipped without a word (the '\\r' made the line "unprintable"), so
    NCS_RELOAD_PACKAGES=true did nothing. systemd ends a line at '\\r' too. Lines that look like
    shell stay data: nothing runs, the value is kept as written."""
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    env = tmp_path / "ncs.systemd.conf"
    env.write_bytes(b"# comment\r\nNCS_RELOAD_PACKAGES=true\r\nNCS_JAVA_VM_OPTIONS=\"-Xmx2g -Da=b\"\r\n"
                    b"NCS_CMD=$(touch " + str(tmp_path).encode() + b"/pwned)\r\nNCS_BT=`id`\r\n"
                    b"export NCS_EXP=1\r\nNCS_LONG=" + b"x" * 20000 + b"\r\nNCS_LAST=ok")
    os.chmod(env, 0o644)
    cmd = [shell, *(["sh"] if shell == "busybox" else []), "-c", reader + f"read_env_file {env}; echo done; env"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0 and "done" in out.stdout.splitlines() and out.stderr == "", out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert got["NCS_RELOAD_PACKAGES"] == "true" and got["NCS_JAVA_VM_OPTIONS"] == "-Xmx2g -Da=b"
    assert got["NCS_CMD"] == f"$(touch {tmp_path}/pwned)" and got["NCS_BT"] == "`id`"
    assert got["NCS_LONG"] == "x" * 20000 and got["NCS_LAST"] == "ok"
    assert "NCS_EXP" not in got and not (tmp_path / "pwned").exists()


ODD_LINES = (b"  NCS_INDENTED=1  \n\tNCS_TAB=2\t\r\nexport NCS_EXP=1\nNCS_SPACED = 2\nNCS_LATIN=\xc3\xa9\n"
             b"NCS_ONE_QUOTE=\"\nNCS_SINGLE='q'\nNCS_MIXED=\"a'\nNCS_INNER=\"a\"b\"\n # NCS_COMMENT=1\n"
             b"; NCS_SEMI=1\nNCS_EQ=a=b\nNCS_EMPTY=\nNCS_CTRL=a\x1bb\nNCS_DUP=1\nNCS_DUP=2\nNCS_LAST=ok")


DIRS = ("NCS_DIR", "NCS_CONFIG_DIR", "NCS_RUN_DIR", "NCS_LOG_DIR")


@pytest.mark.parametrize("shell", ["sh", "bash", "zsh", "busybox"])
def test_the_audit_reads_ncs_systemd_conf_as_the_scripts_do(reader, tmp_path, shell):
    """The audit judges the settings the service starts with: it read ncs.systemd.conf its own
    way (every quote stripped, indented and non-ASCII lines taken), while the scripts skipped an
    indented NCS_RELOAD_PACKAGES=true without a word. Both now read each line the same way, and
    blanks around a line are dropped, as systemd drops them."""
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    from nso_install.audit.ncsconf import environment, script_settings

    env = tmp_path / "ncs.systemd.conf"
    env.write_bytes(ODD_LINES)
    os.chmod(env, 0o644)
    cmd = [shell, *(["sh"] if shell == "busybox" else []), "-c", reader + f"read_env_file {env}; env"]
    out = subprocess.run(cmd, capture_output=True, env={"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0 and out.stderr == b"", out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.decode().splitlines() if line.startswith("NCS_"))
    assert got["NCS_INDENTED"] == "1" and got["NCS_TAB"] == "2" and got["NCS_LAST"] == "ok"
    assert got == script_settings(ODD_LINES)
    started = environment(None, [], ODD_LINES, "/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs")
    assert {k: v for k, v in started.items() if k not in DIRS} == got
