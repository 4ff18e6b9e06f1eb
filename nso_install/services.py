"""The host's service manager and running NSO processes (psutil, plumbum).

Only consulted on a real system (no ``--root``): a staged tree has no running services.
"""

from __future__ import annotations


from .proc import running_ncs, systemd_running  # noqa: F401  (this module's API; live-system facts)
from .systools import system_tool

# psutil and plumbum are imported where used: a run that needs neither (a no-op re-run, a staged
# install) does not pay for them.

UNIT_DIR = "/etc/systemd/system/"


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


def after_apply(report, target, install_dir: str, nso_user: str | None = None) -> None:
    """Follow-ups of a real (unstaged) install, recorded as report notes (``nso_user``: the run-as
    user, whose processes' command lines are believed as root's are: :func:`running_ncs`)."""
    if target.staged:
        return
    changed = [r.action.path for r in report.records if r.changed]
    if any(p.startswith(UNIT_DIR) for p in changed) and systemd_running():
        problem = daemon_reload()
        # "enabled, not started" only of a unit this run wrote first: a changed unit may belong
        # to a running NSO (and to one the administrator disabled)
        created = any(r.changed and r.action.path == f"{UNIT_DIR}ncs.service" and r.outcome.detail.startswith("create")
                      for r in report.records)
        report.notes.append(f"could not reload systemd: {problem}" if problem
                            else "ran systemctl daemon-reload (ncs.service is enabled, not started)" if created
                            else "ran systemctl daemon-reload; a running NSO takes the changed service files "
                            "from its next restart (systemctl restart ncs)")
    if any(p == f"{install_dir}/current" for p in changed):
        from .facts import Facts

        procs = running_ncs(install_dir, Facts(target).accounts.uid(nso_user) if nso_user else None)
        if procs:
            pids = ", ".join(str(pid) for pid, _ in procs)
            report.notes.append(f"NSO is running from {install_dir} (pid {pids}); restart it to use the new "
                                "version (systemctl restart ncs).")
