"""The SysV script reads ncs.systemd.conf as KEY=VALUE data, never as shell (it runs as root)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from support import cli


@pytest.fixture(scope="module")
def reader(tmp_path_factory, sample_dists):
    root = tmp_path_factory.mktemp("sysv")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv")
    script = (root / "etc/init.d/ncs").read_text()
    func = re.search(r"^read_env_file\(\) \{\n.*?^\}\n", script, re.S | re.M).group(0)
    assert "read_env_file /etc/ncs/ncs.systemd.conf" in script and ". /etc/ncs" not in script
    return func


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_nothing_in_the_file_runs_and_values_are_taken_as_data(reader, tmp_path, shell):
    pwned = tmp_path / "pwned"
    env = tmp_path / "ncs.systemd.conf"
    env.write_text("\n".join([
        "# comment",
        f"NCS_A=$(touch {pwned}1)",
        f"NCS_B=`touch {pwned}2`",
        f"touch {pwned}3",
        f"NCS_C=x; touch {pwned}4",
        'NCS_JAVA_VM_OPTIONS="-Xmx4G -Dfoo=bar baz"',
        "NCS_RELOAD_PACKAGES='true'",
        "PATH=/tmp/evil",
        "LD_PRELOAD=/tmp/evil.so",
        "BAD-NAME=1",
        "NCS_D=\x1b[31mred",
        "NCS_LAST=no newline at the end",
    ]))
    out = subprocess.run([shell, "-c", reader + f'read_env_file {env}; env'], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0, out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert not list(tmp_path.glob("pwned*"))
    assert got["NCS_A"] == f"$(touch {pwned}1)" and got["NCS_B"] == f"`touch {pwned}2`"
    assert got["NCS_C"] == f"x; touch {pwned}4"
    assert got["NCS_JAVA_VM_OPTIONS"] == "-Xmx4G -Dfoo=bar baz" and got["NCS_RELOAD_PACKAGES"] == "true"
    assert got["PATH"] == "/usr/bin:/bin" and "LD_PRELOAD" not in got and "BAD-NAME" not in got
    assert "NCS_D" not in got  # control characters: the line is skipped
    assert got["NCS_LAST"] == "no newline at the end"


def test_a_missing_file_is_fine(reader, tmp_path):
    out = subprocess.run(["sh", "-c", reader + f"read_env_file {tmp_path}/missing && echo ok"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("owner, mode, taken", [(0, 0o644, True), (0, 0o600, True), (0, 0o4644, True),
                                                 (0, 0o664, False), (0, 0o646, False), (65534, 0o644, False)])
def test_only_a_file_root_alone_may_write_is_read(reader, tmp_path, owner, mode, taken):
    env = tmp_path / "ncs.systemd.conf"
    env.write_text("NCS_RELOAD_PACKAGES=true\n")
    os.chown(env, owner, 0)
    os.chmod(env, mode)
    out = subprocess.run(["sh", "-c", reader + f'read_env_file {env}; echo "got=$NCS_RELOAD_PACKAGES"'],
                         capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    assert ("got=true" in out.stdout) is taken
    assert ("ignoring" in out.stderr) is not taken


def test_the_file_cannot_point_the_script_at_another_ncs(tmp_path, sample_dists):
    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv")
    script = (root / "etc/init.d/ncs").read_text()
    env_read = script.index("read_env_file /etc/ncs/ncs.systemd.conf")
    for own in ("NCS_DIR=/opt/ncs/current", "NCS_CONFIG_DIR=/etc/ncs", "NCS_IPC_PATH=/run/ncs/nso-ipc",
                "unset NCS_IPC_PATH"):
        assert script.index(own) > env_read, own  # the script's own values win over the file's
