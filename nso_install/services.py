"""The host's service manager and running NSO processes (psutil, plumbum).

Only consulted on a real system (no ``--root``): a staged tree has no running services.
"""

from __future__ import annotations

import os

from .proc import exe as proc_exe
from .systools import system_tool

# psutil and plumbum are imported where used: a run that needs neither (a no-op re-run, a staged
# install) does not pay for them.

UNIT_DIR = "/etc/systemd/system/"


def systemd_running() -> bool:
    """True when systemd is PID 1 (not in most containers and image builds)."""
    import psutil

    try:
        return psutil.Process(1).name() == "systemd" and os.path.isdir("/run/systemd/system")
    except (psutil.Error, OSError):
        return False


def daemon_reload() -> str | None:
    """``systemctl daemon-reload``; a problem description, or None when it worked."""
    from plumbum import ProcessExecutionError

    systemctl = system_tool("systemctl")
    if systemctl is None:
        return "systemctl not found"
    try:
        systemctl("daemon-reload")
    except ProcessExecutionError as e:
        return f"systemctl daemon-reload failed: {e.stderr.strip() or e.retcode}"
    return None


def running_ncs(install_dir: str, nso_uid: int | None = None) -> list[tuple[int, str]]:
    """(pid, executable) of processes running NSO binaries from under ``install_dir``: the binary
    the kernel says a process runs (``/proc/PID/exe``), whoever runs it; or, for a process of root
    or of ``nso_uid`` (the NSO user, when the caller knows it), a command line
    naming one (NSO's VM shows its release's beam binary as argv[0]; a script run through its
    interpreter names it as argv[1]).  Any account can write any command line (``exec -a``), so
    another account's command line alone is not believed: it would let any local user block
    ``uninstall`` and ``activate`` by naming a binary of the tree."""
    import psutil

    prefix = install_dir.rstrip("/") + "/"
    argv_uids = {0, nso_uid}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "uids"]):
        exe = proc_exe(proc.info["pid"])  # the kernel's answer, not psutil's guess from argv[0]
        uids = proc.info.get("uids")
        believed = uids is not None and uids.real in argv_uids
        cmd = (proc.info.get("cmdline") or [])[:2] if believed else []
        hit = next((c for c in [exe, *cmd] if c.startswith(prefix)), None)
        if hit:
            found.append((proc.info["pid"], hit))
    return found


def after_apply(report, target, install_dir: str, nso_user: str | None = None) -> None:
    """Follow-ups of a real (unstaged) install, recorded as report notes (``nso_user``: the run-as
    user, whose processes' command lines are believed as root's are: :func:`running_ncs`)."""
    if target.staged:
        return
    changed = [r.action.path for r in report.records if r.changed]
    if any(p.startswith(UNIT_DIR) for p in changed) and systemd_running():
        problem = daemon_reload()
        report.notes.append(f"could not reload systemd: {problem}" if problem
                            else "ran systemctl daemon-reload (ncs.service is enabled, not started)")
    if any(p == f"{install_dir}/current" for p in changed):
        from .facts import Facts

        procs = running_ncs(install_dir, Facts(target).accounts.uid(nso_user) if nso_user else None)
        if procs:
            pids = ", ".join(str(pid) for pid, _ in procs)
            report.notes.append(f"NSO is running from {install_dir} (pid {pids}); restart it to use the new "
                                "version (systemctl restart ncs).")
