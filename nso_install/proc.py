"""This process's and others' kernel status (/proc/PID/status): capabilities, no_new_privs,
umask; the binary a process runs (/proc/PID/exe); and the questions about live processes and
mounts a run asks (psutil, imported when asked).  Standard library only otherwise: the CLI's
error funnel uses it too, and a replayed run (nso_install.replay) asks those questions again
from here, so each is a :func:`~nso_install.replay.fact` with JSON arguments and answers."""

from __future__ import annotations

import os

from .replay import fact


def status(pid: int | str = "self") -> dict[str, str]:
    """The fields of ``/proc/PID/status`` ("CapEff" -> "0000000000000400"...); {} when it cannot
    be read (the process is gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return {}


# What root needs to lay out files it does not own (capability bit numbers of capability.h).
_ROOT_NEEDS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3}


def root_lacks() -> list[str]:
    """The capabilities nso-install relies on that this root process lacks: a "permission
    denied" as root is then the host's doing, not a bug (containers started with --cap-drop)."""
    if os.geteuid() != 0:
        return []
    try:
        eff = int(status()["CapEff"], 16)
    except (KeyError, ValueError):
        return []
    return [name for name, bit in _ROOT_NEEDS.items() if not eff >> bit & 1]


def denied_to_root(what: str):
    """The error for a "permission denied" (``what``: what was denied, and where) met by a root
    that lacks capabilities nso-install relies on; None when that is not the cause."""
    missing = root_lacks()
    if not missing:
        return None
    from .errors import NsoInstallError

    return NsoInstallError("missing-capabilities", f"{what} -- this process runs as root without "
                           f"{', '.join(missing)} (e.g. a container started with --cap-drop).",
                           "Run nso-install as root with its usual capabilities (docker: do not drop CHOWN, "
                           "DAC_OVERRIDE, FOWNER, SETUID, SETGID), then re-run: it repairs whatever was left half "
                           "done.")


def exe(pid: int) -> str:
    """The binary process ``pid`` runs, or "" where it cannot be read (gone; or another account's
    process and no CAP_SYS_PTRACE, as in most containers; or not dumpable).  Never psutil's
    ``exe()``, which then guesses from argv[0] -- what any account can set (``exec -a``)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


@fact
def processes_of(uid: int) -> list[int]:
    """Pids of the processes running with ``uid`` (real or effective) on this host."""
    import psutil

    out = []
    for proc in psutil.process_iter(["pid", "uids"]):
        uids = proc.info.get("uids")
        if uids is not None and uid in (uids.real, uids.effective):
            out.append(proc.info["pid"])
    return out


@fact
def mount_of(path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(mount point, file system type, options) of the mount that holds ``path`` (the longest
    matching mount point)."""
    import psutil

    best = None
    path = os.path.abspath(path)
    for part in psutil.disk_partitions(all=True):
        mp = part.mountpoint
        if path == mp or path.startswith(mp.rstrip("/") + "/") or mp == "/":
            if best is None or len(mp) > len(best[0]):
                best = (mp, part.fstype, tuple(part.opts.split(",")))
    return best


@fact
def systemd_running() -> bool:
    """True when systemd is PID 1 (not in most containers and image builds)."""
    import psutil

    try:
        return psutil.Process(1).name() == "systemd" and os.path.isdir("/run/systemd/system")
    except (psutil.Error, OSError):
        return False


@fact
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
        binary = exe(proc.info["pid"])  # the kernel's answer, not psutil's guess from argv[0]
        uids = proc.info.get("uids")
        believed = uids is not None and uids.real in argv_uids
        cmd = (proc.info.get("cmdline") or [])[:2] if believed else []
        hit = next((c for c in [binary, *cmd] if c.startswith(prefix)), None)
        if hit:
            found.append((proc.info["pid"], hit))
    return found


DAEMON = r"/lib/ncs/erts/bin/[^/]+$"  # NSO's Erlang VM (ncs.smp, ncs, beam.smp); (re, imported when asked:
# a replay imports this module, and re costs it 13 ms where the interpreter has not loaded it)


@fact
def nso_daemons(prefixes: list[str]) -> list[tuple[int, str, tuple[int, int, int], int, int]]:
    """(pid, binary, (real, effective, saved uid), CapEff, CapPrm) of the NSO daemons running
    from under one of ``prefixes`` (each ending in "/"): their binary or argv[0]."""
    import re

    import psutil

    prefixes = tuple(prefixes)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "uids", "name"]):
        binary, cmd = exe(proc.info["pid"]), proc.info.get("cmdline") or []
        # The binary the process runs, where root may read it; argv[0] only where it may not (a
        # capability-holding NSO is not dumpable, and a container's root often lacks
        # CAP_SYS_PTRACE), and then only with the matching process name: any account can put
        # NSO's path in its own argv[0] (exec -a) and must not pass for NSO.
        if binary:
            hit = binary if binary.startswith(prefixes) and re.search(DAEMON, binary) else None
        else:
            argv0 = cmd[0] if cmd else ""
            name = proc.info.get("name") or ""
            hit = argv0 if argv0.startswith(prefixes) and re.search(DAEMON, argv0) and name and \
                os.path.basename(argv0).startswith(name[:15]) else None
        if not hit or proc.info.get("uids") is None:
            continue
        st = status(proc.info["pid"])
        if not st:
            continue  # gone meanwhile
        try:
            eff, prm = int(st.get("CapEff", "0"), 16), int(st.get("CapPrm", "0"), 16)
        except ValueError:
            continue
        u = proc.info["uids"]
        found.append((proc.info["pid"], hit, (u.real, u.effective, u.saved), eff, prm))
    return found
