"""What an install should look like: options in, ordered list of actions out (pure).

System install layout as NSO's installer makes it (facts sheet sections 3-4):
INSTALL_DIR/ncs-VSN + ``current``, CONFIG_DIR, RUN_DIR with its subdirectories,
LOG_DIR, profile scripts, service unit, logrotate defaults.  Local install: one directory.
Owners and modes are the strictest that work; each choice is documented in docs/security.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import fsops, keys
from .accounts import ADMIN_GROUP, account_actions, validate_name
from .actions import (Absent, Action, Attrs, ConfFile, Conflicting, Directory, File, InstallTree, Leftovers,
                      SecretFile, Symlink)
from .hostkeys import KeyPair, ssh_host_key, tls_key_cert
from .privileges import privileged_actions
from .secret import MASK, Secret
from .errors import UsageError
from .target import normalize
from .templating import render

STATE_DIR_SYSTEM = "/var/lib/nso-install"
RUN_SUBDIRS = ("cdb", "packages", "state", "rollbacks", "scripts", "backups")
ROTATED_LOGS = ("ncs.log", "devel.log", "audit.log", "audit-network.log", "netconf.log", "snmp.log",
                "xpath.trace", "ncs-java-vm.log", "ncs-python-vm*.log", "*.access")


@dataclass(frozen=True)
class InstallOptions:
    """Every ncs-installer(1) option, plus ours.  Paths are target paths."""

    system: bool = True
    local_dir: str | None = None
    install_dir: str = "/opt/ncs"
    config_dir: str = "/etc/ncs"
    run_dir: str = "/var/opt/ncs"
    log_dir: str = "/var/log/ncs"
    run_as_user: str | None = None
    keep_ncs_setup: bool = False
    non_interactive: bool = False
    ignore_init_scripts: bool = False
    ignore_systemd_script: bool = False
    fips_install: bool = False
    activate: bool = False
    profile: str | None = None
    values: dict = field(default_factory=dict)
    setuid_cmdwrapper: bool = False
    crypto_keys: Secret | None = None  # --crypto-keys FILE, already validated

    def __post_init__(self):
        if self.run_as_user is not None:
            validate_name(self.run_as_user, "user")
            if self.run_as_user == "root":
                raise UsageError("run-as-user-is-root", "--run-as-user root is the default (NSO runs as root).",
                                 "Leave the option out, or name an unprivileged account.")
            if not self.system:
                raise UsageError("system-only-option", "--run-as-user applies to system installs only.",
                                 "Drop it, or use --system-install.")
        if self.setuid_cmdwrapper and not self.run_as_user:
            raise UsageError("setuid-needs-run-as-user",
                             "--setuid-cmdwrapper only matters with --run-as-user (NSO running as root already "
                             "runs action programs as root).", "Add --run-as-user USER, or drop the option.")
        for name in ("install_dir", "config_dir", "run_dir", "log_dir", "local_dir"):
            value = getattr(self, name)
            if value is not None:
                flag = "--local-install" if name == "local_dir" else f"--{name.replace('_', '-')}"
                try:
                    p = normalize(value)
                except UsageError as e:  # say which option the path came from
                    raise UsageError(e.reference, f"{flag}: {e.message}", e.hint) from None
                if p == PurePosixPath("/"):
                    raise UsageError("root-dir", f"{flag} cannot be '/'.", "Give a dedicated directory.")
                check_shell_safe(flag, str(p))
                object.__setattr__(self, name, str(p))
        if not self.system and not self.local_dir:
            raise UsageError("no-install-kind", "neither --system-install nor a local install directory was given.",
                             "Pass --system-install, or --local-install DIR.")

    @property
    def state_path(self) -> str:
        if self.system:
            return f"{STATE_DIR_SYSTEM}/state.json"
        return f"{self.local_dir}/.nso-install/state.json"

    @property
    def effective_profile(self) -> str:
        return self.profile or ("production" if self.system else "development")


ROOT = Attrs(0o755)

# Directories and IPC paths are written unquoted into sh and csh scripts, the systemd unit and
# its EnvironmentFile, logrotate and tmpfiles.d files: only characters that mean nothing to
# any of them (no blanks, quotes, $, `, \\, ;, &, |, globs, ~, #, systemd's %).
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._+@,:=/-]+")
_VAR_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # ${NCS_DIR}: expanded alike by sh and csh


def check_shell_safe(what: str, value: str) -> None:
    if not _SHELL_SAFE.fullmatch(_VAR_REF.sub("x", value)):
        raise UsageError("unsafe-path-characters",
                         f"{what} {value!r}: the path is written into shell scripts, the systemd unit and "
                         "logrotate's configuration, and it contains characters they would interpret "
                         "(blanks, quotes, $, `, ;, &, |, *, ?, ~, #, % ...).",
                         "Use a path made of letters, digits and . _ + @ , : = / - only.")


def _ancestors(paths: list[str], managed: set[str], trees: set[str]) -> list[Action]:
    """Directories that must exist above the managed paths; created if missing, never altered."""
    out, seen = [], set()
    for p in paths:
        for parent in reversed(PurePosixPath(p).parents):
            s = str(parent)
            if s == "/" or s in managed or s in seen:
                continue
            if any(parent.is_relative_to(t) for t in trees):
                continue  # comes with the unpacked distribution
            seen.add(s)
            out.append(Directory(s, Attrs(0o755), "parent directory", enforce=False))
    return out


def with_parents(actions: list[Action]) -> list[Action]:
    """Insert (before the first action that needs it) every missing system parent directory."""
    managed = {a.path for a in actions if isinstance(a, (Directory, InstallTree))}
    trees = {a.path for a in actions if isinstance(a, InstallTree)}
    result, seen = [], set()
    for a in actions:
        for d in (_ancestors([a.path], managed, trees) if a.fs else []):
            if d.path not in seen:
                seen.add(d.path)
                result.append(d)
        result.append(a)
    return result + leftovers_action(actions)


def leftovers_action(actions: list[Action]) -> list[Action]:
    """One action that removes what an interrupted run left beside the files we write."""
    trees = [PurePosixPath(a.path) for a in actions if isinstance(a, InstallTree)]
    dirs = list(dict.fromkeys(str(PurePosixPath(a.path).parent) for a in actions
                              if a.fs and not isinstance(a, (Directory, InstallTree))))
    skip = tuple(f"{fsops.TMP_MARK}{t.name}." for t in trees)  # InstallTree cleans its own
    return [Leftovers(os.path.commonpath(dirs), tuple(dirs), skip)] if dirs else []


IPC_RUNTIME_DIR = "/run/ncs"  # production system installs: the Unix socket lives here, not in /tmp
KEY_ELEMENTS = re.compile(rb"(<(key|key1|key2|key3)>)[^<]*(</\2>)")


def redact_conf(text: bytes) -> bytes:
    """ncs.conf as shown in diffs: inline encryption keys masked."""
    return KEY_ELEMENTS.sub(rb"\1" + MASK.encode() + rb"\3", text)


PASSWORD_ELEMENTS = re.compile(rb"(<password(?:\s[^>]*)?>)[^<]*(</password>)")


def redact_aaa(text: bytes) -> bytes:
    """aaa_init.xml as shown in diffs: password hashes an administrator added are masked."""
    return PASSWORD_ELEMENTS.sub(rb"\1" + MASK.encode() + rb"\2", text)


@dataclass(frozen=True)
class RenderedConf:
    text: bytes
    values: dict  # effective template values
    client_env: list[tuple[str, str]]  # NCS_IPC_* for clients (profile scripts, ncsrc, service)
    socket_dir: str | None  # directory of the Unix IPC socket that nso-install manages


def render_conf(opts: InstallOptions, version: str, kind: str) -> RenderedConf:
    from . import conf  # ncs.conf rendering and validation

    ctx = conf.ConfContext(install_kind=kind, profile=opts.effective_profile, version=version,
                           fips=opts.fips_install, config_dir=opts.config_dir, run_dir=opts.run_dir,
                           log_dir=opts.log_dir, install_dir=opts.install_dir)
    values = opts.values
    socket_dir = None
    if kind == "system" and opts.effective_profile == "production" and "path" not in values.get("ipc", {}):
        # NSO's default socket dir /tmp/nso can be pre-created by any local user (socket
        # hijack); production installs put the socket in a root-made directory under /run.
        if conf.effective_values(ctx, values)["ipc"]["transport"] == "unix":
            values = {**values, "ipc": {**values.get("ipc", {}), "path": f"{IPC_RUNTIME_DIR}/nso-ipc"}}
            socket_dir = IPC_RUNTIME_DIR
    client_env = sorted(conf.client_environment(ctx, values).items())
    for name, value in client_env:  # written into profile scripts, ncsrc, ncs.systemd.conf
        check_shell_safe(f"{name} (from the ncs.conf ipc settings)", value)
    return RenderedConf(conf.render_ncs_conf(ctx, values).encode(), conf.effective_values(ctx, values),
                        client_env, socket_dir)


def ncsrc_files(ncs_dir: str, version: str, owner: str | None, group: str | None,
                extra_env: list[tuple[str, str]] = ()) -> list[Action]:
    ctx = dict(ncs_dir=ncs_dir, version=version, extra_env=list(extra_env))
    attrs = Attrs(0o644, owner, group)
    return [
        File(f"{ncs_dir}/ncsrc", render("files/ncsrc.j2", **ctx), attrs, "environment script (sh)"),
        File(f"{ncs_dir}/ncsrc.tcsh", render("files/ncsrc.tcsh.j2", **ctx), attrs, "environment script (tcsh)"),
    ]


def system_plan(opts: InstallOptions, dist) -> list[Action]:
    v = dist.version
    vdir = f"{opts.install_dir}/ncs-{v}"
    user = opts.run_as_user
    ctx = dict(version=v, install_dir=opts.install_dir, config_dir=opts.config_dir, run_dir=opts.run_dir,
               log_dir=opts.log_dir, run_as_user=user, run_as_group=user)
    rc = render_conf(opts, v, "system")
    ctx["client_env"] = rc.client_env
    socket_dir = socket_dir_actions(rc, user)
    ctx["socket_dir"] = (dict(path=rc.socket_dir, mode=f"{socket_dir[0].attrs.mode:04o}",
                              owner=socket_dir[0].attrs.owner, group=socket_dir[0].attrs.group)
                         if socket_dir else None)
    # Owners and modes (docs/security.md): with --run-as-user the account owns what NSO writes
    # (run and log dirs); root owns everything root executes and every secret, which the
    # account reads through its own group (of which it is the only member).
    if user:
        grp = user
        private_dir = Attrs(0o750, user, grp)
        aaa_attrs = Attrs(0o640, user, grp)
        keys_attrs = Attrs(0o440, "root", grp)
        ipc_attrs = Attrs(0o440, "root", ADMIN_GROUP)
        key_dir = Attrs(0o750, "root", grp)
        host_key = Attrs(0o440, "root", grp)
        # systemd parses the EnvironmentFile but runs nothing from it as root; the SysV script
        # sources it as root, so then root keeps it.
        systemd_conf = Attrs(0o644) if opts.ignore_systemd_script else Attrs(0o644, user, grp)
    else:
        private_dir = Attrs(0o750)
        aaa_attrs = Attrs(0o640)
        keys_attrs = Attrs(0o600)
        ipc_attrs = Attrs(0o400)
        key_dir = Attrs(0o700)
        host_key = Attrs(0o600)
        systemd_conf = Attrs(0o644)
    # ncs.conf holds no secret unless keys are configured inline (crypto.mechanism=inline).
    conf_attrs = (Attrs(0o640, "root", user) if user else Attrs(0o600)) if inline_keys(rc) else Attrs(0o644)
    acts: list[Action] = [
        Directory(STATE_DIR_SYSTEM, Attrs(0o700), "nso-install's record of the config files it wrote"),
        *(account_actions(user, opts.run_dir) if user else []),
        Directory(opts.install_dir, ROOT, "install directory (static files, one ncs-VSN per version)"),
        # ncs-setup is left out when unpacking (the Absent action below removes it from a tree
        # unpacked by someone else), so --check and the run agree on a fresh target.
        InstallTree(vdir, dist, reason=f"NSO {v} static files",
                    owned_elsewhere=() if opts.keep_ncs_setup else ("bin/ncs-setup",)),
        *ncsrc_files(vdir, v, "root", "root", rc.client_env),
    ]
    if not opts.keep_ncs_setup:
        acts.append(Absent(f"{vdir}/bin/ncs-setup", "ncs-setup does not work in a system install (--keep-ncs-setup keeps it)"))
    if user:
        acts += privileged_actions(vdir, dist, user, user, setuid_cmdwrapper=opts.setuid_cmdwrapper)
    acts += [
        Symlink(f"{opts.install_dir}/current", f"ncs-{v}", "the active NSO version", switch=opts.activate),
        Directory(f"{opts.install_dir}/packages", ROOT, "store of version-prefixed packages"),
        File(f"{opts.install_dir}/installdirs", render("files/installdirs.j2", **ctx), Attrs(0o644),
             "where this install keeps config, run and log files"),
        Directory(opts.config_dir, ROOT, "configuration directory"),
        ConfFile(f"{opts.config_dir}/ncs.conf", rc.text, conf_attrs, f"ncs.conf ({opts.effective_profile} profile)",
                 redact=redact_conf),
        SecretFile(f"{opts.config_dir}/ncs.crypto_keys", keys_attrs, lambda: keys.generate_crypto_keys(v),
                   "encryption keys for encrypted strings in CDB "
                   + ("(imported from --crypto-keys)" if opts.crypto_keys is not None else "(generated once)"),
                   validate=lambda data: keys.check_crypto_keys(data, v), imported=opts.crypto_keys),
        SecretFile(f"{opts.config_dir}/ipc_access", ipc_attrs, keys.generate_ipc_secret,
                   "shared secret for the IPC access check (generated once)", validate=keys.check_ipc_secret),
        Directory(f"{opts.config_dir}/ssh", key_dir, "SSH host keys of NSO's SSH server"),
        ssh_host_key(f"{opts.config_dir}/ssh", host_key, Attrs(0o644), fips=opts.fips_install),
        Directory(f"{opts.config_dir}/ssl", ROOT, "TLS material"),
        Directory(f"{opts.config_dir}/ssl/cert", key_dir, "Web UI/RESTCONF certificate and key"),
        tls_key_cert(f"{opts.config_dir}/ssl/cert", host_key, Attrs(0o644)),
        Directory(opts.run_dir, private_dir, "run-time state (CDB, packages, rollbacks)"),
        *[Directory(f"{opts.run_dir}/{d}", private_dir, f"run directory: {d}") for d in RUN_SUBDIRS],
        ConfFile(f"{opts.run_dir}/cdb/aaa_init.xml", render("files/aaa_init.xml.j2"), aaa_attrs,
                 "initial AAA: no local users, NACM groups ncsadmin and ncsoper", redact=redact_aaa),
        Directory(opts.log_dir, private_dir, "log files"),
        *socket_dir,
        ConfFile("/etc/profile.d/ncs.sh", render("files/profile.sh.j2", **ctx), Attrs(0o644),
                 "environment for login shells (sh)"),
        ConfFile("/etc/profile.d/ncs.csh", render("files/profile.csh.j2", **ctx), Attrs(0o644),
                 "environment for login shells (csh)"),
        ConfFile("/etc/logrotate.d/ncs", render("files/logrotate.j2", logs=ROTATED_LOGS, **ctx), Attrs(0o644),
                 "log rotation (ncserr.log is left to NSO)"),
    ]
    if not opts.ignore_init_scripts:
        acts.append(ConfFile(f"{opts.config_dir}/ncs.systemd.conf", render("files/ncs.systemd.conf.j2", **ctx),
                             systemd_conf, "environment of the ncs service"))
        if opts.ignore_systemd_script:
            acts += [
                ConfFile("/etc/init.d/ncs", render("files/init.d.ncs.j2", **ctx), Attrs(0o755),
                         "SysV init script (--ignore-systemd-script)"),
                Conflicting("/etc/systemd/system/multi-user.target.wants/ncs.service",
                            "ncs.service is still enabled and would start NSO too; run systemctl disable ncs "
                            "(and remove /etc/systemd/system/ncs.service) to use the SysV script alone.",
                            "systemd unit left from an earlier install"),
            ]
        else:
            unit = "/etc/systemd/system/ncs.service"
            acts += [
                ConfFile(unit, render("files/ncs.service.j2", **ctx), Attrs(0o644), "systemd unit (enabled, not started)"),
                Symlink("/etc/systemd/system/multi-user.target.wants/ncs.service", unit,
                        "enable ncs.service at boot (not started)"),
                Conflicting("/etc/init.d/ncs", "a legacy SysV script starts NSO too; disable and remove it "
                            "(update-rc.d ncs remove or chkconfig --del ncs) now that ncs.service is enabled, or "
                            "re-run with --ignore-systemd-script to keep SysV.", "legacy init script"),
            ]
    return with_parents(acts)


def local_plan(opts: InstallOptions, dist) -> list[Action]:
    d = opts.local_dir
    v = dist.version
    mine = Attrs(0o644, None, None)  # a local install belongs to whoever runs it
    rc = render_conf(opts, v, "local")
    acts: list[Action] = [
        InstallTree(d, dist, owner=None, group=None, reason=f"NSO {v} local install",
                    owned_elsewhere=("etc/ncs/ncs.conf",)),
        Directory(f"{d}/.nso-install", Attrs(0o700, None, None), "nso-install's record of the config files it wrote"),
        *ncsrc_files(d, v, None, None, rc.client_env),
        ConfFile(f"{d}/etc/ncs/ncs.conf", rc.text, Attrs(0o600, None, None) if inline_keys(rc) else mine,
                 f"default ncs.conf ({opts.effective_profile} profile)", redact=redact_conf),
        SecretFile(f"{d}/etc/ncs/ipc_access", Attrs(0o600, None, None), keys.generate_ipc_secret,
                   "shared secret for the IPC access check", validate=keys.check_ipc_secret),
        Directory(f"{d}/etc/ncs/ssh", Attrs(0o700, None, None), "SSH host key of NSO's SSH server"),
        ssh_host_key(f"{d}/etc/ncs/ssh", Attrs(0o600, None, None), Attrs(0o644, None, None), fips=opts.fips_install),
    ]
    if not inline_keys(rc):  # external keys command reads ${NCS_DIR}/etc/ncs/ncs.crypto_keys
        acts.append(SecretFile(f"{d}/etc/ncs/ncs.crypto_keys", Attrs(0o600, None, None),
                               lambda: keys.generate_crypto_keys(v), "encryption keys (generated once)",
                               validate=lambda data: keys.check_crypto_keys(data, v)))
    return with_parents(acts)


def inline_keys(rc: RenderedConf) -> bool:
    return rc.values["crypto"]["mechanism"] == "inline"


def socket_dir_actions(rc: RenderedConf, user: str | None) -> list[Action]:
    """The Unix IPC socket's directory: who may traverse it decides who may connect."""
    if not rc.socket_dir:
        return []
    attrs = Attrs(0o750, user, ADMIN_GROUP) if user else Attrs(0o755)
    line = f"d {rc.socket_dir} {attrs.mode:04o} {attrs.owner} {attrs.group} -\n"
    return [
        Directory(rc.socket_dir, attrs, "directory of NSO's IPC socket (clients must be able to traverse it)"),
        ConfFile("/etc/tmpfiles.d/ncs.conf", f"# NSO IPC socket directory; written by nso-install.\n{line}".encode(),
                 Attrs(0o644), "re-create the IPC socket directory at boot (/run is emptied)"),
    ]


def build_plan(opts: InstallOptions, dist, secrets: str = "all") -> list[Action]:
    """The install plan; ``secrets``: "all" (the default), "skip" (everything but the generated
    secrets: image builds, so images carry no keys) or "only" (just the secrets and the
    directories they live in: container start, after an image built with "skip")."""
    plan = system_plan(opts, dist) if opts.system else local_plan(opts, dist)
    if secrets == "skip":
        return [a for a in plan if not is_secret(a)]
    if secrets == "only":
        wanted = [PurePosixPath(a.path) for a in plan if is_secret(a)]
        return [a for a in plan if is_secret(a)
                or (isinstance(a, Directory) and any(w.is_relative_to(a.path) for w in wanted))]
    return plan


def is_secret(action: Action) -> bool:
    return isinstance(action, (SecretFile, KeyPair))
