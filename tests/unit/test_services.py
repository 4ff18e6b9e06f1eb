"""Host follow-ups after a system install: systemd daemon-reload, a running NSO noticed."""

import os
import subprocess
import sys

from nso_install import proc, services
from nso_install.actions import Outcome
from nso_install.engine import Record, Report
from nso_install.target import Target


class Stub:
    def __init__(self, path):
        self.path, self.kind, self.reason, self.id = path, "conffile", "", f"conffile:{path}"


def report_with(*paths):
    return Report("applied", [Record(Stub(p), Outcome("change", "x"), changed=True) for p in paths], "/")


def test_daemon_reload_only_when_unit_changed_on_a_real_systemd_host(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "systemd_running", lambda: True)
    monkeypatch.setattr(services, "daemon_reload", lambda: calls.append(1))
    services.after_apply(report_with("/etc/ncs/ncs.conf"), Target.at(None), "/opt/ncs")
    assert calls == []
    r = report_with("/etc/systemd/system/ncs.service")
    services.after_apply(r, Target.at(None), "/opt/ncs")
    assert calls == [1] and "daemon-reload" in r.notes[0]


def test_never_under_a_staging_root(monkeypatch, tmp_path):
    monkeypatch.setattr(services, "systemd_running", lambda: True)
    monkeypatch.setattr(services, "daemon_reload", lambda: (_ for _ in ()).throw(AssertionError("called")))
    r = report_with("/etc/systemd/system/ncs.service")
    services.after_apply(r, Target.at(tmp_path), "/opt/ncs")
    assert r.notes == []


def test_running_ncs_found_by_executable_path(tmp_path):
    fake = tmp_path / "opt/ncs/ncs-6.5.3/bin/ncs"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    fake.chmod(0o755)
    proc = subprocess.Popen([str(fake)])
    try:
        import time
        for _ in range(50):
            found = services.running_ncs(str(tmp_path / "opt/ncs"))
            if found:
                break
            time.sleep(0.05)
        assert [pid for pid, _ in found] == [proc.pid]
        assert services.running_ncs(str(tmp_path / "elsewhere")) == []
    finally:
        proc.kill()
        proc.wait()


def test_switching_current_while_nso_runs_is_noted(monkeypatch):
    monkeypatch.setattr(services, "running_ncs", lambda d, uids: [(42, "/opt/ncs/ncs-6.4/erts/bin/ncs.smp")])
    r = report_with("/opt/ncs/current")
    services.after_apply(r, Target.at(None), "/opt/ncs")
    assert "pid 42" in r.notes[0] and "restart" in r.notes[0]


def test_another_accounts_command_line_alone_is_not_believed(monkeypatch):
    """Any account can write any command line (exec -a): a process of an account other than root
    (or the NSO user the caller names) counts as NSO only when the binary the kernel says it runs
    is under the install directory, not when its argv merely names one there."""
    import collections

    import psutil

    Uids = collections.namedtuple("Uids", "real effective saved")

    exes = {}

    class Proc:
        def __init__(self, pid, uid, exe, cmdline):
            # what the kernel says it runs (proc.exe); never psutil's exe(), which guesses from
            # argv[0] where /proc/PID/exe is denied
            exes[pid] = exe
            self.info = {"pid": pid, "cmdline": cmdline, "uids": Uids(uid, uid, uid)}

    beam = "/opt/ncs/current/lib/ncs/erts/bin/ncs.smp"
    procs = [Proc(1, 0, "/usr/bin/sleep", [beam, "600"]),  # root's NSO as ps shows it: believed
             Proc(2, 1001, "/usr/bin/sleep", [beam, "600"]),  # mallory's exec -a: not believed
             Proc(3, 1001, "/usr/bin/sh", ["sh", "/opt/ncs/current/bin/ncs-setup"]),  # nor a script name
             Proc(4, 1001, "/opt/ncs/ncs-6.5.3/bin/ncs_cli", ["ncs_cli"]),  # a binary of the tree: by exe
             Proc(5, 999, "/usr/bin/sh", ["sh", "/opt/ncs/current/bin/ncs"]),  # the NSO user's, when named
             Proc(6, 0, "/usr/bin/sleep", ["sleep", "600"])]  # nothing of NSO
    monkeypatch.setattr(psutil, "process_iter", lambda attrs: iter(procs))
    monkeypatch.setattr(proc, "exe", lambda pid: exes[pid])
    assert [pid for pid, _ in services.running_ncs("/opt/ncs")] == [1, 4]
    assert [pid for pid, _ in services.running_ncs("/opt/ncs", 999)] == [1, 4, 5]


def test_the_executable_is_the_kernels_not_a_guess_from_argv(tmp_path):
    """psutil's exe() falls back to argv[0] where /proc/PID/exe cannot be read; proc.exe does not
    guess: the link, or nothing."""
    from nso_install.proc import exe

    assert exe(os.getpid()) == os.path.realpath(sys.executable)
    assert exe(2 ** 22 + 1) == ""  # no such process


def test_the_reload_note_says_enabled_not_started_only_of_a_unit_written_first(monkeypatch):
    """"ncs.service is enabled, not started" was said after every change to the unit, also of
    an NSO that runs (which takes the change from its next restart) or that was disabled."""
    monkeypatch.setattr(services, "systemd_running", lambda: True)
    monkeypatch.setattr(services, "daemon_reload", lambda: None)
    unit = "/etc/systemd/system/ncs.service"
    created = Report("applied", [Record(Stub(unit), Outcome("change", "create"), changed=True)], "/")
    services.after_apply(created, Target.at(None), "/opt/ncs")
    assert created.notes == ["ran systemctl daemon-reload (ncs.service is enabled, not started)"]
    updated = Report("applied", [Record(Stub(unit), Outcome("change", "update (unchanged since nso-install wrote it)"),
                                        changed=True)], "/")
    services.after_apply(updated, Target.at(None), "/opt/ncs")
    assert len(updated.notes) == 1 and "not started" not in updated.notes[0]
    assert "systemctl restart ncs" in updated.notes[0]
