"""The systemd unit of a system install: what each install variant gets (pure).

docs/security.md, "The service unit", gives the reason for every directive here and for each
one left out; the rules in short:

* **Readiness.** ``Type=exec`` runs ``ncs --foreground`` (systemd supervises and restarts it),
  and ``ExecStartPost`` (``ncs --wait-started 5`` again while the main process lives) holds
  ``systemctl start ncs`` until NSO has started, or fails it as soon as NSO has exited
  (systemd lets a start-post command run on after the main process is gone).
* **NSO's own privileges stay usable.**  With ``--run-as-user``, NSO needs new privileges
  after it starts: setuid-root ``epam`` (PAM against /etc/shadow), file capabilities on
  ``ncs.smp``, ``ip``, ``arping`` and, opted in, setuid ``cmd*wrapper``.  systemd makes every
  process of a unit that runs as a non-root ``User=`` and uses any seccomp-based directive
  ``no_new_privs`` (which voids setuid bits and file capabilities), so the main process is
  started with ``!`` (systemd applies the whole sandbox while still root, but changes no
  credentials) and ``setpriv`` becomes the NSO account itself, dropping ``CAP_SETUID``,
  ``CAP_SETGID`` and ``CAP_SETPCAP`` from the bounding set on the way.  The other commands
  (``--wait-started``, ``--stop``, ``--reload``) run as ``User=``, with ``no_new_privs``.
* **Root never reads the account's file.**  ``ncs.systemd.conf`` belongs to the NSO account,
  so it is no ``EnvironmentFile=`` (systemd would hand its variables, ``LD_PRELOAD`` included,
  to the root part of the start); :data:`START_SCRIPT` reads it as data after the switch.  A
  drop-in may still add one (NSO's docs say the unit takes its environment from that file), so
  the variants with a root part unset :data:`UNSET_ENV` (systemd applies ``UnsetEnvironment=``
  last, after every ``EnvironmentFile=``), and the audit's ``NSO-SVC-002`` names such a file.
* **A sandbox that fits NSO**: the bounding set holds only what the variant needs, the file
  system is read-only but for what NSO writes, no kernel tunables, modules, logs, clock or
  devices, native system calls of ``@system-service`` only; no ``MemoryDenyWriteExecute=``
  (the JVM's and the Erlang VM's JIT), no ``PrivateNetwork=`` (NSO's job is the network).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from .conf.render import RenderedConf
from .spec import InstallSpec

SETPRIV = "/usr/bin/setpriv"  # util-linux: Debian, Ubuntu, RHEL, SUSE
START_SCRIPT = "ncs-service-start"  # in INSTALL_DIR, beside installdirs: rendered for the unit
START_TIMEOUT = 600  # seconds; a start with package reload can take minutes (NSO's upgrade guide)
# ncs(1)/system management: start failures a restart cannot cure (10 CDB init file, 11 CDB
# configuration, 13/14 schema upgrade, 15 corrupt CDB, 16 CDB file error, 21 bad configuration,
# 22 installation problem); 20 (a port in use) may pass, so it is restarted
NO_RESTART = (10, 11, 13, 14, 15, 16, 21, 22)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# bounding set of every variant: ports below 1024 (ncs.smp), VIPs and gratuitous ARP (ip and
# arping for tailf-hcc), PAM reading a 0000 /etc/shadow (RHEL) as root, PAM's audit records
BASE_CAPS = ("CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_DAC_READ_SEARCH", "CAP_AUDIT_WRITE")
SWITCH_CAPS = ("CAP_SETUID", "CAP_SETGID")  # setpriv, cmd*wrapper: change to another account
SETPRIV_CAPS = ("CAP_SETPCAP",)  # setpriv: drop capabilities from the bounding set
COMMAND_CAPS = ("CAP_CHOWN", "CAP_KILL")  # cmd*wrapper running a command as another user: its pty, signals
TMP_DIRS = ("/tmp", "/var/tmp")
HOME_DIRS = ("/home", "/root", "/run/user")
PAM_STATE = ("/run/faillock",)  # pam_faillock's tally directory (RHEL's system-auth)
# What glibc's loader and libc honour in an ordinary process and drop (or ignore) in a setuid one
# (AT_SECURE): glibc's UNSECURE_ENVVARS (sysdeps/generic/unsecvars.h, master of January 2026), with the names older
# releases still honour (LD_HWCAP_MASK before 2.40, LD_USE_LOAD_BIAS before 2.36) and the tunables'
# other aliases, ignored in secure mode (MALLOC_CHECK_, x86_64's LD_PREFER_MAP_32BIT_EXEC).  The
# "!" start runs setpriv as full root but not setuid, so glibc strips none of them there: the unit
# does.  TMPDIR and TZDIR included: neither the unit nor the start script sets them (PrivateTmp=
# sets no TMPDIR, the start script takes TZ, not TZDIR, from ncs.systemd.conf), so NSO's start
# loses nothing it is given.
UNSET_ENV = (
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES",
    "LD_AUDIT", "LD_BIND_NOT", "LD_BIND_NOW", "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_DYNAMIC_WEAK", "LD_HWCAP_MASK",
    "LD_LIBRARY_PATH", "LD_ORIGIN_PATH", "LD_PREFER_MAP_32BIT_EXEC", "LD_PRELOAD", "LD_PROFILE",
    "LD_PROFILE_OUTPUT", "LD_SHOW_AUXV", "LD_USE_LOAD_BIAS", "LD_VERBOSE", "LD_WARN",
    "LOCALDOMAIN", "LOCPATH",
    "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "MALLOC_CHECK_", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_PERTURB_", "MALLOC_TOP_PAD_", "MALLOC_TRACE", "MALLOC_TRIM_THRESHOLD_",
    "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
)


def _under(path: str, tops: tuple[str, ...]) -> str | None:
    p = PurePosixPath(path)
    return next((t for t in tops if p == PurePosixPath(t) or p.is_relative_to(t)), None)


def _lines(names: tuple[str, ...], width: int = 90) -> list[str]:
    """``names`` joined by blanks, in lines of about ``width`` characters (textwrap.wrap with
    break_long_words=False, without importing textwrap, which nothing else on a run's path does)."""
    out: list[str] = []
    for n in names:
        if out and len(out[-1]) + 1 + len(n) <= width:
            out[-1] += f" {n}"
        else:
            out.append(n)
    return out


def unit_settings(spec: InstallSpec, rc: RenderedConf, fips_env: list[tuple[str, str]] = ()) -> dict:
    """Template values of ``templates/files/ncs.service.j2`` for this spec (see the module doc)."""
    user = spec.run_as_user
    caps = list(BASE_CAPS)
    keep: list[str] = []  # of the switch capabilities: what NSO keeps after setpriv
    if user:
        caps += [*SWITCH_CAPS, *SETPRIV_CAPS]
        if spec.setuid_cmdwrapper:
            caps += COMMAND_CAPS
            keep = list(SWITCH_CAPS)
    else:  # root runs clispec commands as the CLI user through cmd*wrapper itself
        caps += [*SWITCH_CAPS, *COMMAND_CAPS]
    drop = [c for c in (*SWITCH_CAPS, *SETPRIV_CAPS) if c not in keep]

    ipc = rc.values["ipc"]
    socket = ipc["path"] if ipc["transport"] == "unix" else None
    tmp = _under(socket, TMP_DIRS) if socket else None
    writable = [spec.run_dir, spec.log_dir]
    if rc.socket_dir:
        writable.append(rc.socket_dir)
    elif tmp:
        writable.append(tmp)  # the socket directory is NSO's to make (its default /tmp/nso)
    elif socket:
        writable.append(f"-{PurePosixPath(socket).parent}")
    writable += [f"-{spec.install_dir}/packages", *(f"-{p}" for p in PAM_STATE)]
    homes = any(_under(d, HOME_DIRS) for d in (spec.install_dir, spec.config_dir, spec.run_dir, spec.log_dir))
    return {
        "user": user,
        "group": user,
        "setpriv": (f"!{SETPRIV} --reuid={user} --regid={user} --init-groups "
                    f"--bounding-set={','.join('-' + c.removeprefix('CAP_').lower() for c in drop)} -- ")
        if user else "",
        "start_script": f"{spec.install_dir}/{START_SCRIPT}",
        # only where a part of the start runs as root with an environment the NSO account may
        # feed (a drop-in's EnvironmentFile= of its ncs.systemd.conf); running as root, NSO's
        # files are root's, and the unit leaves the administrator's Environment= alone
        "unset_env": _lines(UNSET_ENV) if user else [],
        "start_timeout": START_TIMEOUT,
        "no_restart": " ".join(map(str, NO_RESTART)),
        "path": f"{spec.install_dir}/current/bin:{PATH}",
        "fips_env": list(fips_env),
        "caps": " ".join(caps),
        "no_new_privileges": not user,
        "read_write": writable,
        "private_tmp": tmp is None,
        "protect_home": "read-only" if spec.profile == "development" or homes else "yes",
    }
