"""This process's and others' kernel status (/proc/PID/status): capabilities, no_new_privs,
umask.  Standard library only: the CLI's error funnel uses it too."""

from __future__ import annotations


def status(pid: int | str = "self") -> dict[str, str]:
    """The fields of ``/proc/PID/status`` ("CapEff" -> "0000000000000400"...); {} when it cannot
    be read (the process is gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return {}
