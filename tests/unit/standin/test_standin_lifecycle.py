"""The NSO stand-in starts, answers and stops like NSO: daemon by default, --foreground, the
control commands over IPC, logs in the configured directory, exit codes of ncs(1)."""

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from nso_install.capabilities import XATTR, encode, parse_text
from nso_install.errors import UsageError
from nso_install.sample import make_sample_distribution

from standin_support import DAEMON_UID, ROOT_ONLY, VERSION, free_port, free_ports


def test_starts_as_a_daemon_answers_and_stops(nso):
    start = nso.ncs()
    assert start.returncode == 0, start.stderr
    assert start.stdout == start.stderr == ""  # the command returns once NSO is up, detached
    assert stat.S_ISSOCK(os.stat(nso.sock).st_mode) and stat.S_IMODE(os.stat(nso.sock).st_mode) == 0o666

    status = nso.ncs("--status")
    assert status.returncode == 0, status.stderr
    assert f"vsn: {VERSION}" in status.stdout and "status: started" in status.stdout
    assert f"ipc: unix {nso.sock}" in status.stdout and "active key generation: -1" in status.stdout
    assert nso.ncs("--wait-started", "1").returncode == 0

    cli = nso.cli("show ncs-state version", "id", args=("-C", "-u", "admin"))
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines()[0].startswith(f"admin connected from {nso.sock} using console")
    assert f"ncs-state version {VERSION}" in cli.stdout
    assert "user = admin, uid = 0, via = unix, trusted = yes" in cli.stdout
    bad = nso.cli("show running-config")
    assert bad.returncode == 1 and "syntax error" in bad.stdout

    stop = nso.ncs("--stop")
    assert stop.returncode == 0, stop.stderr
    assert not os.path.lexists(nso.sock) and nso.wait_gone()  # stopped when --stop returns
    log = nso.log_text()
    for line in (f"Starting NCS vsn: {VERSION}", f"NCS started vsn: {VERSION}", "NCS stop requested", "NCS stopped"):
        assert line in log
    assert "audit user: admin/" in nso.log_text("audit.log")


def test_control_commands_without_a_daemon(nso):
    assert nso.ncs("--version", conf=False).stdout.strip() == VERSION
    for cmd in ("--status", "--stop", "--reload"):
        r = nso.ncs(cmd)
        assert r.returncode == 2 and f"connection refused ({cmd[2:]})" in r.stderr
    t = time.monotonic()
    r = nso.ncs("--wait-started", "1")
    assert r.returncode == 2 and time.monotonic() - t >= 1  # retried for TryTime seconds
    cli = nso.cli("show ncs-state version")
    assert cli.returncode == 1 and "Failed to connect to server" in cli.stderr


def test_wait_started_waits_for_a_late_start(nso):
    waiter = subprocess.Popen([nso.dist / "bin/ncs", "--wait-started", "20"], env=nso.client_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    assert waiter.poll() is None
    assert nso.ncs().returncode == 0
    assert waiter.wait(20) == 0
    assert nso.ncs("--stop").returncode == 0


def test_foreground_stops_on_sigterm_and_on_eof(nso):
    fg = subprocess.Popen([nso.dist / "bin/ncs", "--foreground", "-v", "--heart", "-c", nso.etc / "ncs.conf"],
                          env=nso.env(), cwd=nso.run_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert nso.ncs("--wait-started", "10").returncode == 0
    assert f"pid: {fg.pid}" in nso.ncs("--status").stdout  # the process it started is NSO itself
    fg.send_signal(signal.SIGTERM)
    assert fg.wait(10) == 0 and not os.path.lexists(nso.sock)

    eof = subprocess.Popen([nso.dist / "bin/ncs", "--foreground", "--stop-on-eof", "-c", nso.etc / "ncs.conf"],
                           env=nso.env(), cwd=nso.run_dir, stdin=subprocess.PIPE)
    assert nso.ncs("--wait-started", "10").returncode == 0
    eof.stdin.close()
    assert eof.wait(10) == 0 and not os.path.lexists(nso.sock)


def test_conf_found_like_nso_and_cd(nso):
    """No -c: ./ncs.conf (here through --cd), else ${NCS_DIR}/etc/ncs/ncs.conf."""
    (nso.run_dir / "ncs.conf").write_bytes((nso.etc / "ncs.conf").read_bytes())
    r = nso.ncs("--cd", nso.run_dir, "--with-package-reload-force", conf=False)
    assert r.returncode == 0, r.stderr
    assert "Package reload requested (--with-package-reload-force)" in nso.log_text()
    assert nso.ncs("--stop").returncode == 0 and nso.wait_gone()
    os.unlink(nso.run_dir / "ncs.conf")
    (nso.run_dir / "logs").mkdir()
    r = nso.ncs(conf=False)  # the distribution's etc/ncs/ncs.conf: its SSH CLI needs a host key in etc/ncs/ssh
    assert r.returncode == 16 and "no SSH host key" in r.stderr and f"{nso.dist}/etc/ncs/ssh" in r.stderr


def test_ports_are_bound_and_ssh_greets(nso):
    netconf, cli_ssh, webui = free_ports(3)
    nso.write_conf(netconf_tcp=netconf, cli_ssh=cli_ssh, webui_ssl=webui)
    assert nso.ncs().returncode == 0
    for port in (netconf, cli_ssh, webui):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.create_connection(("127.0.0.1", cli_ssh), timeout=5) as s:
        assert s.recv(64).startswith(b"SSH-2.0-")
    status = nso.ncs("--status").stdout
    assert f"listener: netconf-tcp 127.0.0.1:{netconf}" in status and f"listener: webui-ssl 127.0.0.1:{webui}" in status
    busy = nso.ncs("--foreground")  # a second NSO on the same socket
    assert busy.returncode == 20 and "another NSO listens there" in busy.stderr
    assert nso.ncs("--stop").returncode == 0


def test_a_taken_port_is_exit_20(nso):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        nso.write_conf(netconf_tcp=taken.getsockname()[1])
        r = nso.ncs()
    assert r.returncode == 20 and "cannot bind netconf-tcp" in r.stderr
    assert "NCS start failed" in nso.log_text() and not os.path.lexists(nso.sock)


def test_reload_rereads_keys_and_keeps_the_old_ones_on_error(nso):
    assert nso.ncs().returncode == 0
    (nso.etc / "ncs.crypto_keys").write_text("AESCFB128_KEY=nothex\n")
    r = nso.ncs("--reload")
    assert r.returncode == 0, r.stderr
    assert "keeping the old encryption keys" in nso.log_text("devel.log")
    assert "nothex" not in nso.log_text("devel.log")  # key values never in a message
    assert "status: started" in nso.ncs("--status").stdout
    nso.write_conf(extra="<bogus/>")
    r = nso.ncs("--reload")
    assert r.returncode == 1 and "unknown element /ncs-config/bogus" in r.stderr
    assert nso.ncs("--stop").returncode == 0


def test_the_daemon_environment_names_the_socket(nso):
    """NSO 6.4+: NCS_IPC_PATH in the daemon's environment wins over ncs.conf (facts 18.1)."""
    other = nso.sock.parent / "other-ipc"
    assert nso.ncs(env=nso.env(NCS_IPC_PATH=str(other))).returncode == 0
    assert os.path.exists(other) and not os.path.lexists(nso.sock)
    assert nso.ncs("--stop", env=nso.env(NCS_IPC_PATH=str(other))).returncode == 0


@ROOT_ONLY
def test_a_port_below_1024_needs_the_capability_on_ncs_smp(nso, tmp_path):
    """The process that binds is the one bin/ncs starts from lib/ncs/erts/bin/ncs.smp: with a
    Python binary there (sample-dist --ncs-smp), cap_net_bind_service on it lets NSO's account bind
    a privileged port; on the default script form the kernel ignores the capability."""
    low = free_port(below_1024=True)
    nso.write_conf(netconf_tcp=low)
    nso.own(DAEMON_UID)
    smp = nso.dist / "lib/ncs/erts/bin/ncs.smp"
    os.setxattr(smp, XATTR, encode(parse_text("cap_net_bind_service=ep")))
    r = nso.ncs(uid=DAEMON_UID)
    assert r.returncode == 20, r.stderr
    assert f"cannot bind netconf-tcp 127.0.0.1:{low}: Permission denied; ports below 1024 need " \
           "cap_net_bind_service on lib/ncs/erts/bin/ncs.smp" in r.stderr

    python = Path(os.path.realpath("/usr/bin/python3"))
    if not python.is_file():
        pytest.skip("no /usr/bin/python3 to copy as ncs.smp")
    real = make_sample_distribution(tmp_path, VERSION, "dir", ncs_smp=python)
    assert (real / "lib/ncs/erts/bin/ncs.smp").read_bytes() == python.read_bytes()
    shutil.rmtree(nso.dist)
    shutil.copytree(real, nso.dist, symlinks=True)
    r = nso.ncs(uid=DAEMON_UID)
    assert r.returncode == 20 and "Permission denied" in r.stderr  # the binary without the capability
    os.setxattr(smp, XATTR, encode(parse_text("cap_net_bind_service=ep")))
    r = nso.ncs(uid=DAEMON_UID)
    assert r.returncode == 0, r.stderr
    status = nso.ncs("--status").stdout
    assert f"uid: {DAEMON_UID}" in status and f"listener: netconf-tcp 127.0.0.1:{low}" in status
    socket.create_connection(("127.0.0.1", low), timeout=5).close()
    pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("pid:")))
    assert os.path.realpath(f"/proc/{pid}/exe") == str(smp.resolve())  # NSO is the ncs.smp process
    assert nso.ncs("--stop").returncode == 0


def test_ncs_smp_must_be_a_binary(tmp_path):
    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\nexec python3 \"$@\"\n")
    with pytest.raises(UsageError) as e:
        make_sample_distribution(tmp_path / "d", VERSION, "dir", ncs_smp=script)
    assert "not an ELF binary" in e.value.message
