"""Generated files that run on the host as root (the SysV init script, logrotate's
postrotate), executed with a POSIX shell against a fake ncs."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from nso_install.distribution import open_distribution
from nso_install.plan import build_plan

from support import spec

SH = shutil.which("dash") or "/bin/sh"


def _plan_files(dist_path, tmp_path, **kw):
    """{target path: content} of a system plan whose directories are real paths under tmp_path."""
    s = spec(install_dir=f"{tmp_path}/opt", config_dir=f"{tmp_path}/etc", run_dir=f"{tmp_path}/run",
             log_dir=f"{tmp_path}/log", values={"ipc.path": f"{tmp_path}/ipc/nso-ipc"}, **kw)
    plan = build_plan(s, open_distribution(dist_path))
    return {a.path: a.content for a in plan if hasattr(a, "content")}


def _fake_ncs(tmp_path):
    bindir = tmp_path / "opt/current/bin"
    bindir.mkdir(parents=True)
    (bindir / "ncs").write_text('#!/bin/sh\n[ "$1" = --status ] && exit 1  # not running\necho "args: $*"\necho "ipc: ${NCS_IPC_PATH:-unset}"\n'
                                'echo "config: ${NCS_CONFIG_DIR:-unset}"\necho "jvm: ${NCS_JAVA_VM_OPTIONS:-unset}"\n')
    os.chmod(bindir / "ncs", 0o755)
    (tmp_path / "run").mkdir()
    (tmp_path / "etc").mkdir()


def test_sysv_script_survives_a_missing_environment_file_and_exports_the_ipc_path(tmp_path, sample_dists):
    """'. FILE 2>/dev/null || true' ends a POSIX sh (dash) when FILE is missing; and the clients
    started by the script (ncs --stop/--status/--reload) need NCS_IPC_PATH exported."""
    files = _plan_files(sample_dists["tar.gz"], tmp_path, init_system="sysv")
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
    # (run here as root: no account "nso" on the host; the next test runs it as the account)
    script = script.replace(" >/dev/null 2>&1", "").replace("runuser -u nso -- ", "")
    r = subprocess.run([SH, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "args: --reload" in r.stdout and f"ipc: {tmp_path}/ipc/nso-ipc" in r.stdout
    assert not (tmp_path / "pwned").exists()


def test_logrotate_postrotate_reloads_as_the_nso_account(sample_dists):
    """logrotate runs postrotate as root ("su" or not): the reload client runs as the NSO account
    (runuser, as the SysV script's reload), never as root against that account's socket directory;
    found through a PATH of its own (cron's may lack the sbin directories)."""
    import pwd
    import tempfile

    account = "daemon"  # (an account every Debian and RHEL host has)
    pwd.getpwnam(account)
    top = Path(tempfile.mkdtemp(prefix="postrotate-"))  # (pytest's own tmp is root's 0700: not for daemon)
    try:
        os.chmod(top, 0o755)
        files = _plan_files(sample_dists["tar.gz"], top, run_as_user=account)
        script = _postrotate(files["/etc/logrotate.d/ncs"])
        _fake_ncs(top)
        (top / "opt/current/bin/ncs").write_text('#!/bin/sh\necho "uid: $(id -un) ipc: $NCS_IPC_PATH args: $*"\n')
        r = subprocess.run([SH, "-c", script.replace(" >/dev/null 2>&1", "")], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"uid: {account} ipc: {top}/ipc/nso-ipc args: --reload", r.stdout + r.stderr
        # NSO running as root: no account to become, the client runs as root
        script = _postrotate(_plan_files(sample_dists["tar.gz"], top)["/etc/logrotate.d/ncs"])
        assert "runuser" not in script
    finally:
        shutil.rmtree(top)


def _in_a_terminal(argv: list[str], env: dict) -> str:
    """Run ``argv`` as root with a pseudo-terminal as its controlling terminal (root at a
    console); what it printed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # (the child: exec at once, nothing of pytest's may run here)
        os.execve(argv[0], argv, env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child is gone and the terminal closed
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace")


CTTY_PROBE = ('#!/bin/sh\nif (: </dev/tty) 2>/dev/null; then t=yes; else t=no; fi\n'
              '[ -t 0 ] && i=terminal || i=other\necho "$(id -un) $1: controlling terminal $t, stdin $i" >>"$0.out"\n'
              # running once started (the script's start and stop ask first)
              '[ "$1" = --status ] && ! grep -q " --cd:" "$0.out" && exit 1\nexit 0\n')


def test_the_nso_account_never_gets_roots_terminal(sample_dists):
    """Root runs the SysV script (and logrotate) from a terminal. A process of the NSO account that
    has root's terminal as its controlling terminal can push input into root's shell with TIOCSTI
    (runuser(1): "avoid TIOCSTI ioctl terminal injection"): a stub ncs doing so as the account made
    `/etc/init.d/ncs reload` run its command in root's shell. Every ncs the scripts run as the
    account now has a session of its own and no terminal input."""
    import pwd
    import tempfile

    account = "daemon"
    pwd.getpwnam(account)
    top = Path(tempfile.mkdtemp(prefix="ctty-"))
    try:
        os.chmod(top, 0o755)
        files = _plan_files(sample_dists["tar.gz"], top, init_system="sysv", run_as_user=account)
        _fake_ncs(top)
        ncs = top / "opt/current/bin/ncs"
        ncs.write_text(CTTY_PROBE)
        out = Path(f"{ncs}.out")
        out.touch(mode=0o666)
        os.chmod(out, 0o666)
        (top / "opt/current/ncsrc").write_text("")
        script = top / "init.d.ncs"
        script.write_bytes(files["/etc/init.d/ncs"])
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for verb in ("start", "stop", "reload", "status"):
            _in_a_terminal([SH, str(script), verb], env)
        postrotate = _postrotate(files["/etc/logrotate.d/ncs"])
        _in_a_terminal([SH, "-c", postrotate], env)
        lines = out.read_text().splitlines()
        assert [ln.split(":")[0] for ln in lines] == [
            f"{account} --status", f"{account} --cd", f"{account} --status", f"{account} --stop",
            f"{account} --status", f"{account} --reload", f"{account} --status", f"{account} --reload"], lines
        assert all(ln.endswith("controlling terminal no, stdin other") for ln in lines), lines
    finally:
        shutil.rmtree(top)


def _exec_start_post(unit: bytes) -> str:
    """The shell script of the unit's ExecStartPost=/bin/sh -c '...'."""
    line = next(ln for ln in unit.decode().splitlines() if ln.startswith("ExecStartPost="))
    prefix = "ExecStartPost=/bin/sh -c '"
    assert line.startswith(prefix) and line.endswith("'"), line
    return line[len(prefix):-1]


@pytest.mark.skipif(os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "setpriv", "setcap"))),
                    reason="needs root, unshare, setpriv and setcap")
def test_the_readiness_wait_sees_an_nso_holding_a_file_capability_under_protectproc(sample_dists):
    """ExecStartPost runs as the NSO account under ProtectProc=invisible (/proc mounted with
    hidepid=invisible). NSO's ncs.smp holds cap_net_bind_service, so the running NSO is not
    dumpable and its /proc/PID is hidden from a process of the same account: the wait's
    "[ -d /proc/$MAINPID ]" took NSO for dead whenever the first --wait-started ran out (no IPC
    connection within 5 s), failing `systemctl start ncs` of a slow-starting NSO. A real capped
    process, a real hidepid=invisible /proc, the wait run as the account."""
    import pwd
    import tempfile

    account = "daemon"
    pwd.getpwnam(account)
    top = Path(tempfile.mkdtemp(prefix="startpost-"))
    try:
        os.chmod(top, 0o755)
        files = _plan_files(sample_dists["tar.gz"], top, run_as_user=account)
        wait = _exec_start_post(files["/etc/systemd/system/ncs.service"])
        _fake_ncs(top)
        calls = top / "calls"
        calls.mkdir(mode=0o777)
        os.chmod(calls, 0o777)
        # --wait-started: the first call finds no connection (exit 2, as ncs(1)), later ones succeed
        # unless told NSO never comes up
        (top / "opt/current/bin/ncs").write_text(
            f'#!/bin/sh\n[ "$1" = --wait-started ] || exit 1\n[ -e {calls}/never ] && {{ sleep 0.1; exit 2; }}\n'
            f'[ -e {calls}/once ] && exit 0\ntouch {calls}/once; exit 2\n')
        smp = top / "ncs.smp"
        shutil.copy("/bin/sleep", smp)
        os.chmod(smp, 0o755)
        subprocess.run(["setcap", "cap_net_bind_service=ep", str(smp)], check=True)
        as_account = f"setpriv --reuid={account} --regid={account} --clear-groups"
        probe = (f"mount -o remount,hidepid=invisible /proc || exit 99\n"
                 f"{as_account} {smp} 30 & nso=$!\nsleep 0.3\n"
                 f"MAINPID=$nso {as_account} /bin/sh -c {shlex.quote(wait)}; echo alive:$?\n"
                 f"kill $nso; wait $nso\ntouch {calls}/never\n"
                 f"MAINPID=$nso {as_account} /bin/sh -c {shlex.quote(wait)}; echo dead:$?\n")
        r = subprocess.run(["unshare", "-pmf", "--mount-proc", SH, "-c", probe], capture_output=True, text=True,
                           timeout=60)
        if r.returncode == 99:
            pytest.skip("no hidepid=invisible here: " + r.stderr)
        assert r.stdout.split() == ["alive:0", "dead:1"], r.stdout + r.stderr
    finally:
        shutil.rmtree(top)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/usr/bin/systemctl"),
                    reason="needs root, unshare and /usr/bin/systemctl to stand in for")
@pytest.mark.parametrize("init_system", ["systemd", "sysv"])
def test_logrotate_reloads_an_nso_the_service_runs_through_the_service(tmp_path, sample_dists, init_system):
    """logrotate runs as logrotate.service on systemd hosts (Debian 12, RHEL), with PrivateTmp=:
    a client started by postrotate finds no socket under /tmp (NSO's default /tmp/nso/nso-ipc,
    the development profile from 6.7) and its failed --reload was silent, so NSO went on writing
    to the rotated file, deleted by the next rotation. NSO run by the service is reloaded through
    it (systemctl reload ncs: ExecReload in NSO's own sandbox, or the SysV script's reload); the
    direct client stays for an NSO the service does not run. A stand-in systemctl is bound over
    the real one (postrotate sets its own PATH)."""
    files = _plan_files(sample_dists["tar.gz"], tmp_path, init_system=init_system)
    script = _postrotate(files["/etc/logrotate.d/ncs"]).replace(" >/dev/null 2>&1", "")
    _fake_ncs(tmp_path)
    log = tmp_path / "calls"
    (tmp_path / "opt/current/bin/ncs").write_text(f'#!/bin/sh\necho "ncs $*" >> {log}\n')
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\ncase "$*" in\n"--quiet is-active ncs") [ -e {tmp_path}/active ] ;;\n'
                    f'*) echo "systemctl $*" >> {log} ;;\nesac\n')
    fake.chmod(0o755)

    def postrotate() -> list[str]:
        log.write_text("")
        r = subprocess.run(["unshare", "-m", SH, "-c", f'mount --bind {fake} /usr/bin/systemctl && {script}'],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return log.read_text().splitlines()

    (tmp_path / "active").touch()
    assert postrotate() == ["systemctl reload ncs"]
    (tmp_path / "active").unlink()
    assert postrotate() == ["ncs --reload"]
    # no service (containers): nothing asks systemd
    files = _plan_files(sample_dists["tar.gz"], tmp_path, init_system="none")
    assert "systemctl" not in _postrotate(files["/etc/logrotate.d/ncs"])
