"""This process's and others' kernel status (/proc/PID/status): capabilities, no_new_privs,
umask; and the binary a process runs (/proc/PID/exe).  Standard library only: the CLI's error
funnel uses it too."""

from __future__ import annotations

import os


def status(pid: int | str = "self") -> dict[str, str]:
    """The fields of ``/proc/PID/status`` ("CapEff" -> "0000000000000400"...); {} when it cannot
    be read (the process is gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return {}


def exe(pid: int) -> str:
    """The binary process ``pid`` runs, or "" where it cannot be read (gone; or another account's
    process and no CAP_SYS_PTRACE, as in most containers; or not dumpable).  Never psutil's
    ``exe()``, which then guesses from argv[0] -- what any account can set (``exec -a``)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""
