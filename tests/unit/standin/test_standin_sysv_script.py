"""The SysV script's verbs against the stand-in, with LSB's exit codes: a start of a running NSO
and a stop of a stopped one succeed (NSO's own commands fail there: 20 and 2), status is 0 or
3 (4 for an NSO that runs but does not answer), reload of a stopped one is 7, and a script that
switches to the run-as user tells anyone but root 4, not "stopped"."""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
from support import cli, host_accounts_root

from standin_support import PATH, ROOT_ONLY, free_ports


def _script_in(root, sock_dir) -> str:
    """The rendered /etc/init.d/ncs with its absolute paths moved under the staging root (and the
    socket, /run/ncs being the host's, into ``sock_dir``), so it runs the staged NSO."""
    text = (root / "etc/init.d/ncs").read_text()
    text = text.replace("/run/ncs", sock_dir)
    text = re.sub(r"(?<![\w/])(/opt/ncs|/etc/ncs|/var/opt/ncs|/var/log/ncs)", lambda m: f"{root}{m[1]}", text)
    return text


@ROOT_ONLY
def test_start_and_stop_twice_succeed_and_status_follows(tmp_path, sample_dists):
    root = tmp_path / "root"
    (webui,) = free_ports(1)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv",
        "--set", f"webui.ssl.port={webui}")
    sock_dir = tempfile.mkdtemp(prefix="sysv-", dir="/tmp")
    script = tmp_path / "ncs.init"
    script.write_text(_script_in(root, sock_dir))

    def verb(v):
        return subprocess.run(["sh", str(script), v], capture_output=True, text=True, timeout=60,
                              env={"PATH": PATH}, stdin=subprocess.DEVNULL)
    try:
        assert (verb("status").returncode, verb("status").stdout) == (3, "stopped\n")
        r = verb("stop")  # nothing to stop
        assert r.returncode == 0, r.stdout + r.stderr
        # LSB's "not running" (7), not ncs --reload's 2, which is LSB's "invalid arguments"
        r = verb("reload")
        assert r.returncode == 7 and "NSO is not running: nothing to reload" in r.stderr, r.stdout + r.stderr
        r = verb("start")
        assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
        assert (verb("status").returncode, verb("status").stdout) == (0, "running\n")
        assert verb("reload").returncode == 0
        r = verb("start")  # already running
        assert r.returncode == 0 and "already running" in r.stdout, r.stdout + r.stderr
        # not a plain start: the package reload asked for is not done (ncs failed there, 20; the
        # LSB start's 0 told a deployment job that the packages it had just upgraded were loaded)
        r = verb("start-with-package-reload")
        assert r.returncode == 1 and "its packages not reloaded (restart-with-package-reload does)" in r.stderr, \
            r.stdout + r.stderr
        assert verb("status").returncode == 0
        assert verb("stop").returncode == 0
        assert verb("status").returncode == 3
        assert verb("stop").returncode == 0  # stopped already
        r = verb("restart")  # from stopped: starts
        assert r.returncode == 0 and verb("status").returncode == 0, r.stdout + r.stderr
    finally:
        verb("stop")
        shutil.rmtree(sock_dir, ignore_errors=True)


@ROOT_ONLY
@pytest.mark.parametrize("v", ["restart", "restart-with-package-reload"])
def test_a_restart_whose_stop_fails_fails(tmp_path, sample_dists, v):
    """A stop that failed (ncs --stop timed out, NSO busy) left the old NSO running; the plain
    restart's start then found it "already running" and the restart exited 0, so a deployment
    took a new ncs.conf or packages for loaded."""
    root = tmp_path / "root"
    (webui,) = free_ports(1)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv",
        "--set", f"webui.ssl.port={webui}")
    sock_dir = tempfile.mkdtemp(prefix="sysv-", dir="/tmp")
    script, failing = tmp_path / "ncs.init", tmp_path / "ncs.failing-stop"
    text = _script_in(root, sock_dir)
    script.write_text(text)
    assert "    run_ncs --stop\n" in text
    failing.write_text(text.replace("    run_ncs --stop\n", "    echo stop timed out >&2; return 1\n"))

    def run(s, v):
        return subprocess.run(["sh", str(s), v], capture_output=True, text=True, timeout=60,
                              env={"PATH": PATH}, stdin=subprocess.DEVNULL)
    try:
        assert run(script, "start").returncode == 0
        r = run(failing, v)
        assert r.returncode == 1 and "stop timed out" in r.stderr and "already running" not in r.stdout + r.stderr, \
            r.stdout + r.stderr
        assert run(script, "status").returncode == 0  # the old one still runs
    finally:
        run(script, "stop")
        shutil.rmtree(sock_dir, ignore_errors=True)


@ROOT_ONLY
@pytest.mark.parametrize("v", ["status", "start", "stop"])
def test_with_a_run_as_user_anyone_but_root_gets_4(tmp_path, sample_dists, v):
    root = tmp_path / "root"
    host_accounts_root(root)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", "sysv",
        "--run-as-user", "nso")
    shared = tempfile.mkdtemp(prefix="sysv-", dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        script = os.path.join(shared, "ncs")
        shutil.copy(root / "etc/init.d/ncs", script)
        os.chmod(script, 0o755)
        r = subprocess.run(["runuser", "-u", "nobody", "--", "sh", script, v], capture_output=True, text=True,
                           timeout=30, env={"PATH": PATH}, stdin=subprocess.DEVNULL)
        assert r.returncode == 4 and "run it as root" in r.stderr and "stopped" not in r.stdout, r.stdout + r.stderr
        r = subprocess.run(["runuser", "-u", "nobody", "--", "sh", script, "help"], capture_output=True, text=True,
                           timeout=30, env={"PATH": PATH})
        assert r.returncode == 0 and "usage:" in r.stdout
    finally:
        shutil.rmtree(shared)


def _argv0(pid) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


@ROOT_ONLY
def test_an_nso_that_does_not_answer_is_neither_stopped_nor_started_again(tmp_path):
    """NSO running with its socket gone (or hung, or still starting): --status failed, so status
    said "stopped" (3), stop succeeded while NSO ran on (killed at shutdown, its CDB unclosed),
    and restart started a second NSO, which failed to bind (20). LSB: status 4 (unknown), and a
    stop or start that did not happen fails."""
    import signal

    from nso_install.sample import make_sample_distribution

    python = os.path.realpath("/usr/bin/python3")
    if not os.path.isfile(python):
        pytest.skip("no /usr/bin/python3 to copy as ncs.smp")
    # NSO's VM is the process (argv[0] lib/ncs/erts/bin/ncs.smp), as with NSO itself
    dist = make_sample_distribution(tmp_path / "dist", "6.5.3", "tar.gz", ncs_smp=python)
    root = tmp_path / "root"
    (webui,) = free_ports(1)
    cli("install", dist, "--system-install", "--root", root, "--init-system", "sysv", "--set", f"webui.ssl.port={webui}")
    sock_dir = tempfile.mkdtemp(prefix="sysv-", dir="/tmp")
    script = tmp_path / "ncs.init"
    script.write_text(_script_in(root, sock_dir))

    def verb(v):
        return subprocess.run(["sh", str(script), v], capture_output=True, text=True, timeout=60,
                              env={"PATH": PATH}, stdin=subprocess.DEVNULL)
    pid = None
    try:
        assert verb("start").returncode == 0
        pid = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _argv0(p).startswith(f"{root}/opt/ncs/"))
        os.unlink(os.path.join(sock_dir, "nso-ipc"))  # NSO runs on, unreachable
        r = verb("status")
        assert r.returncode == 4 and r.stdout == f"unknown: NSO (pid {pid}) does not answer\n", r.stdout + r.stderr
        for v in ("stop", "restart", "start", "reload"):
            r = verb(v)
            assert r.returncode == 1 and f"NSO (pid {pid})" in r.stderr and "does not answer" in r.stderr, \
                (v, r.stdout + r.stderr)
            assert "Address already in use" not in r.stderr  # (no second NSO was started)
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _argv0(pid):  # (gone, or a zombie)
                break
            time.sleep(0.1)
        pid = None
        assert (verb("status").returncode, verb("stop").returncode) == (3, 0)  # gone: stopped
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(sock_dir, ignore_errors=True)
