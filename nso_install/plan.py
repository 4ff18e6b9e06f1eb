"""What an install should look like: spec + what the target holds -> ordered actions (pure).

System install layout as NSO's installer makes it (ncs-installer(1); NSO's System Install guide,
"Default Directories and Scripts"):
INSTALL_DIR/ncs-VSN + ``current``, CONFIG_DIR, RUN_DIR with its subdirectories, LOG_DIR,
profile scripts, service unit, logrotate defaults.  Local install: one directory.  Owners
and modes are the strictest that work; each choice is documented in docs/security.md.

Two rules shape the plan besides the layout:

* **Config follows the active version.**  A version that ``current`` will not point to after
  this run only gets its ``ncs-VSN`` tree (and the privileges of its binaries); ncs.conf,
  the unit and the environment files are rendered for the active version.
* **Everything granted has a desired state**, so a changed spec withdraws what the previous
  one granted: privileged binaries of every installed version, owners of the config, run and
  log directories, group memberships nso-install added, files the previous NSO account owns.

Nothing here reads the target: :class:`TargetView` carries what the plan needs to know.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import PurePosixPath

from . import fsops
from .access import IpcAccess, pam_choice, resolve_ipc
from .actions.accounts import ADMIN_GROUP, IPC_GROUP, OPER_GROUP, Group, Membership, PamService, User
from .actions.base import Action, Attrs
from .actions.files import (RUN_DIR_QUARANTINE, Absent, ConfFile, Directory, File, Leftovers, Obsolete, Reown, Symlink,
                            SystemDirectory, TakeOver)
from .actions.keys import (ROTATE_KEYS, HostKeyAside, KeyPair, KeysFileRead, SecretFile, check_crypto_keys, check_ipc_secret,
                           generate_crypto_keys, generate_ipc_secret, host_key_aside, rotated_from, ssh_host_key,
                           tls_key_cert)
from .actions.fips import fips_actions, openssl_env, written_in_tree
from .actions.privileges import Capability, Setuid, privileged_actions
from .actions.tree import (LOCAL_OWNED_ELSEWHERE, LOCAL_WRITTEN_ELSEWHERE, WRITTEN_IN_EVERY_TREE, InstallTree,
                           left_out_of_system_tree)
from .conf.aaa import render_aaa_init
from .conf.render import (IPC_RUNTIME_DIR, RenderedConf, fips_disagreement, ipc_disagreement, keys_change,
                          kept_conf_problems, plain_path, redact_aaa, redact_conf, redact_env, render_for_install)
from .conf.variables import PROFILES, ConfContext
from .errors import UsageError
from .facts import Accounts
from .record import record
from .spec import InstallSpec
from .templates import render
from .unit import START_SCRIPT, unit_settings
from .versions import vtuple

STATE_DIR_SYSTEM = "/var/lib/nso-install"
RUN_SUBDIRS = ("cdb", "packages", "state", "rollbacks", "scripts", "backups")
ROTATED_LOGS = ("ncs.log", "devel.log", "audit.log", "audit-network.log", "netconf.log", "snmp.log",
                "xpath.trace", "ncs-java-vm.log", "ncs-python-vm*.log", "*.access")
ROOT = Attrs(0o755)
UNIT = "/etc/systemd/system/ncs.service"
UNIT_WANTS = "/etc/systemd/system/multi-user.target.wants/ncs.service"


@record(frozen=True)
class TargetView:
    """What the plan needs to know about the target, gathered by the run from its facts."""

    active_version: str | None = None  # the version ``current`` points to; None: no ``current`` yet
    # (path, version) of every installed tree: INSTALL_DIR/ncs-* directories, and the trees
    # nso-install recorded unpacking anywhere (an earlier INSTALL_DIR, a renamed copy...)
    trees: tuple[tuple[str, str], ...] = ()
    previous: InstallSpec | None = None  # what the target was installed with (recorded or found)
    memberships: frozenset[tuple[str, str]] = frozenset()  # (user, group) nso-install added
    # Accounts, PAM and CDB (nso_install.access.target_facts): the target's /etc/passwd and
    # /etc/group (IPC grants take uid, gid and home from there); whether this run may change
    # them (both files exist, and it runs as root); the PAM services it has (None: unknown);
    # whether CDB exists (then aaa_init.xml is not read again) and the users its aaa_init.xml has.
    accounts: Accounts | None = None
    accounts_editable: bool = False
    run_dir_uid: int | None = None  # the owner of RUN_DIR (None: absent), the NSO account's
    pam_services: frozenset[str] | None = None
    cdb_initialized: bool = False
    aaa_init_users: dict | None = None
    # (path, the privileged binaries it holds, relative: actions.privileges.present) of each of
    # ``trees``; a tree this run does not unpack gets privilege actions for these files only
    privileged: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def previous_user(self) -> str | None:
        """The account NSO ran as by the previous spec (None: root, or no previous spec)."""
        return self.previous.run_as_user if self.previous is not None else None

    @property
    def previous_user_gone(self) -> bool:
        """That account is no longer on the target (uninstall --accounts deleted it, or a userdel),
        or its name was given again to an account with another uid (userdel, then useradd): RUN_DIR
        is then owned by a uid no account has, as what the deleted one made in it."""
        if self.accounts is None or self.previous_user is None:
            return False
        if self.previous_user not in self.accounts.users:
            return True
        known = {0} | {u.uid for u in self.accounts.users.values()}
        return self.run_dir_uid is not None and self.run_dir_uid not in known

    def held(self, tree: str) -> tuple[str, ...]:
        """The privileged binaries the installed ``tree`` holds (none when it was not looked at)."""
        return next((files for path, files in self.privileged if path == tree), ())


def config_version(spec: InstallSpec, version: str, view: TargetView) -> str:
    """The NSO version the configuration is rendered for: the one active after this run."""
    if not spec.system or spec.activate or view.active_version is None:
        return version
    active = view.active_version
    if spec.fips_install and vtuple(active) < (6, 5) <= vtuple(version):
        # (said in the terms of this run: "FIPS mode needs NSO 6.5, not 6.4.2" named no version it installs)
        raise UsageError("bad-value", f"--fips-install sets FIPS mode in the ncs.conf the active NSO {active} reads "
                         f"(an install without --activate leaves {active} active), and NSO {active} has no FIPS "
                         "mode.", f"Install NSO {version} with --fips-install --activate to switch to it in FIPS "
                         f"mode, or without --fips-install to install it beside {active}.")
    return active


def conf_context(spec: InstallSpec, version: str) -> ConfContext:
    return ConfContext(install_kind=spec.kind, profile=spec.profile, version=version, fips=spec.fips_install,
                       config_dir=spec.config_dir, run_dir=spec.run_dir, log_dir=spec.log_dir,
                       install_dir=spec.install_dir)


def render_conf(spec: InstallSpec, version: str, view: TargetView | None = None) -> RenderedConf:
    """ncs.conf for ``spec`` and ``version``; with ``view``, the PAM service follows the target
    (:func:`nso_install.access.pam_choice`).  One rendering (and validation) per spec, version
    and PAM service in a run: a run plans twice and several actions read the configuration."""
    pam = pam_choice(spec, PROFILES[spec.profile]["aaa.pam.service"], view.pam_services) if view is not None else None
    try:
        return _render_conf_once(spec, version, pam)
    except TypeError:  # a value that cannot be a key (a list): render it anew
        return _render_conf(spec, version, pam)


def start_run() -> None:
    """Forget an earlier run's ncs.conf in this process (tests run many): each run renders its own,
    and so templates.fill_bytecode_cache keeps what every run renders."""
    _render_conf_once.cache_clear()


@lru_cache(maxsize=8)
def _render_conf_once(spec: InstallSpec, version: str, pam: str | None) -> RenderedConf:
    return _render_conf(spec, version, pam)


def _render_conf(spec: InstallSpec, version: str, pam: str | None) -> RenderedConf:
    ctx, values = conf_context(spec, version), spec.conf_values()
    if pam is not None:
        aaa = values.get("aaa", {})
        values = {**values, "aaa": {**aaa, "pam": {**aaa.get("pam", {}), "service": pam}}}
    return render_for_install(ctx, values)


def ipc_access(spec: InstallSpec, version: str, view: TargetView) -> IpcAccess:
    """The IPC grants of ``spec`` on this target (uid, gid, home from its account database)."""
    rc = render_conf(spec, version, view)
    return resolve_ipc(spec, view.accounts, rc.values["ipc"]["transport"], rc.socket_dir)


def pam_actions(spec: InstallSpec, rc: RenderedConf) -> list[Action]:
    """The check that the PAM service ncs.conf names exists on the target."""
    pam = rc.values["aaa"]["pam"]
    if not pam["enabled"]:
        return []
    default = PROFILES[spec.profile]["aaa.pam.service"]
    instead = default if "aaa.pam.service" not in dict(spec.values) and pam["service"] != default else None
    return [PamService(pam["service"], "the PAM service of ncs.conf (aaa/pam/service) exists", instead)]


def _keys_read_elsewhere(spec: InstallSpec, rc: RenderedConf, cfg: str) -> list[Action]:
    """The check of the keys file NSO's own keys command is pointed at (crypto.argument), when it
    is not the one generated in CONFIG_DIR: the run said "Done" while NSO could not start."""
    crypto = rc.values["crypto"]
    if rc.inline_keys or "crypto.command" in dict(spec.values):
        return []  # (inline keys read no file; another command's argument need not be a file at all)
    generated = f"{cfg}/ncs.crypto_keys"
    read = _read_elsewhere(crypto.get("argument"), generated, cfg)
    if read is None:
        return []
    return [KeysFileRead(read, generated, "the keys file NSO reads (crypto.argument) exists", missing=(
        f"ncs.conf makes NSO's keys command read {read} (crypto.argument), which does not exist: NSO does not "
        f"start without its encryption keys. nso-install generated them in {generated}, which NSO does not read "
        f"with this setting. Put the keys file at {read} (owner and mode as {generated}) before NSO starts, or "
        "leave crypto.argument out."))]


def _read_elsewhere(named: str | None, generated: str, cfg: str) -> str | None:
    """The file ncs.conf names (``named``; unset: ``generated``), when it is not ``generated``;
    None when it is, or when where it is depends on NSO's environment."""
    import re  # (not the audit's NcsConf: a no-op run imports no audit module it does not run)

    # ${NCS_CONFIG_DIR} (or ${NCS_CONFIG_DIR:-...}) is CONFIG_DIR where NSO runs: the service and
    # ncsrc set it; another ${VAR} is left to NSO's environment (plain_path: not judged)
    read = plain_path(re.sub(r"\$\{NCS_CONFIG_DIR(:-[^}]*)?\}", lambda m: cfg, named or generated))
    return None if read is None or os.path.normpath(read) == generated else os.path.normpath(read)


def _ipc_secret_read_elsewhere(rc: RenderedConf, cfg: str) -> list[Action]:
    """The check of the IPC access secret ncs.conf and the clients are pointed at
    (ipc.access_file), when the access check is on and it is not the one generated in
    CONFIG_DIR: the run said "Done" while NSO's access check had no secret to read."""
    ipc = rc.values["ipc"]
    if ipc.get("access_check") is not True:
        return []
    generated = f"{cfg}/ipc_access"
    read = _read_elsewhere(ipc.get("access_file"), generated, cfg)
    if read is None:
        return []
    return [KeysFileRead(read, generated, "the IPC access secret NSO reads (ipc.access_file) exists", missing=(
        f"ncs.conf has NSO's IPC access check read the secret at {read} (ipc.access_file; the clients are told so "
        f"too, NCS_IPC_ACCESS_FILE), which does not exist. nso-install generated the secret in {generated}, which "
        f"neither reads with this setting. Put it at {read} (owner and mode as {generated}, in directories only "
        "root can change) before NSO starts, or leave ipc.access_file out."))]


def build_plan(spec: InstallSpec, dist, view: TargetView = TargetView()) -> list[Action]:
    """The install plan.  ``dist`` needs ``version``, ``kind``, ``source`` (and ``member_names()``
    when it can list members cheaply).  ``spec.secrets``: "all", "skip" (everything but the
    generated secrets: image builds, so images carry no keys) or "only" (just the secrets and
    the directories they live in: container start, after an image built with "skip"; on a
    system install also what an empty volume or tmpfs lacks, see :func:`_in_volume`)."""
    plan = system_plan(spec, dist, view) if spec.system else local_plan(spec, dist, view)
    if spec.secrets == "skip":
        return [a for a in plan if not is_secret(a)]
    if spec.secrets == "only":
        wanted = [a for a in plan if is_secret(a) or (spec.system and _in_volume(spec, plan, a))]
        paths = [PurePosixPath(a.path) for a in wanted]
        kept = [a for a in plan if a in wanted
                or (isinstance(a, Directory) and any(w.is_relative_to(a.path) for w in paths))]
        return kept + _leftovers_of(kept, plan)
    return plan


def _leftovers_of(kept: list[Action], plan: list[Action]) -> list[Action]:
    """The plan's removal of what a killed run left, kept to the directories ``kept`` writes in
    and nso-install's own: a container start killed while writing a key left its half-written
    copy (.nso-install-tmp.host.key.XXXXXXXX) in CONFIG_DIR for good without it.  Not the
    image's directories (the install tree, the service's), which may be read-only."""
    def parents(acts):
        return {str(PurePosixPath(a.path).parent) for a in acts if a.fs}

    mine, every = parents(kept), parents(plan)
    out: list[Action] = []
    for a in plan:
        if isinstance(a, Leftovers):
            dirs = tuple(d for d in a.dirs if d in mine or d not in every)  # (not every's: the state's)
            if dirs:
                out.append(Leftovers(os.path.commonpath(dirs), dirs, a.skip_prefixes))
    return out


def _in_volume(spec: InstallSpec, plan: list[Action], action: Action) -> bool:
    """Container start (``--secrets-only``): besides the secrets, what lives in the directories a
    container mounts fresh -- the config, run and log directories (an empty bind mount at
    /etc/ncs must end with an ncs.conf, rendered from the recorded spec; an administrator's
    edit is kept as always) and the IPC socket's directory (/run is a tmpfs).  Never the
    install tree, accounts, privileges, profile scripts or the service: those are the image's."""
    tops = [spec.config_dir, spec.run_dir, spec.log_dir,
            *(a.path for a in plan if isinstance(a, Directory) and a.reason == SOCKET_DIR_REASON)]
    path = PurePosixPath(action.path) if action.fs else None
    return path is not None and any(path.is_relative_to(t) for t in tops)


def is_secret(action: Action) -> bool:
    return isinstance(action, (SecretFile, KeyPair, HostKeyAside))


# --- system install ------------------------------------------------------------------------

@record(frozen=True)
class _Owners:
    """Owners and modes (docs/security.md): with a run-as user the account owns what NSO writes
    (run and log dirs); root owns everything root executes and every secret, which the
    account reads through its own group (of which it is the only member)."""

    private_dir: Attrs
    aaa: Attrs
    keys: Attrs
    ipc: Attrs
    key_dir: Attrs
    host_key: Attrs
    systemd_conf: Attrs
    conf: Attrs

    @classmethod
    def of(cls, spec: InstallSpec, rc: RenderedConf) -> "_Owners":
        user = spec.run_as_user
        # ncs.conf holds no secret unless keys are configured inline (crypto.mechanism=inline).
        conf = (Attrs(0o640, "root", user) if user else Attrs(0o600)) if rc.inline_keys else Attrs(0o644)
        if not user:
            return cls(Attrs(0o750), Attrs(0o640), Attrs(0o600), Attrs(0o400), Attrs(0o700), Attrs(0o600),
                       Attrs(0o644), conf)
        # systemd parses the EnvironmentFile but runs nothing from it as root; the SysV script
        # reads it as root, so then root keeps it.
        systemd_conf = Attrs(0o644) if spec.init_system == "sysv" else Attrs(0o644, user, user)
        return cls(Attrs(0o750, user, user), Attrs(0o640, user, user), Attrs(0o440, "root", user),
                   Attrs(0o440, "root", ADMIN_GROUP), Attrs(0o750, "root", user), Attrs(0o440, "root", user),
                   systemd_conf, conf)


def system_plan(spec: InstallSpec, dist, view: TargetView) -> list[Action]:
    v = dist.version
    vdir = f"{spec.install_dir}/ncs-{v}"
    user = spec.run_as_user
    acts: list[Action] = [
        Directory(STATE_DIR_SYSTEM, Attrs(0o700), "nso-install's record of the config files it wrote"),
        *account_actions(spec, view, config_version(spec, v, view)),
        # before anything changes who NSO runs as: what the old account made is taken first
        *reown_actions(spec, view),
        Directory(spec.install_dir, ROOT, "install directory (static files, one ncs-VSN per version)", "--install-dir"),
        # ncs-setup is left out when unpacking (the Absent action below removes it from a tree
        # unpacked by someone else), so --check and the run agree on a fresh target.
        (tree := InstallTree(vdir, dist, reason=f"NSO {v} static files",
                             owned_elsewhere=left_out_of_system_tree(spec.keep_ncs_setup),
                             written_elsewhere=(*WRITTEN_IN_EVERY_TREE, *written_in_tree(spec.fips_install)))),
        *ncsrc_files(vdir, v, "root", "root", render_conf(spec, v).client_env + fips_env(spec, vdir)),
        *fips_actions(tree, v, spec.fips_install),
    ]
    active = view.active_version
    if config_version(spec, v, view) != v and (f"{spec.install_dir}/ncs-{active}", active) in view.trees:
        # The active tree's ncsrc (current/ncsrc, what users source) follows the spec as the
        # config does: a changed IPC setting given with a version installed beside it left
        # clients pointed at a socket or port NSO no longer listens on.
        atree = f"{spec.install_dir}/ncs-{active}"
        acts += ncsrc_files(atree, active, "root", "root", render_conf(spec, active).client_env + fips_env(spec, atree))
    if not spec.keep_ncs_setup:
        acts.append(Absent(f"{vdir}/bin/ncs-setup", "ncs-setup does not work in a system install (--keep-ncs-setup keeps it)"))
    names = _member_names(dist)
    # Every installed tree, not only this one: ``current`` may be switched to any of them, and a
    # changed spec must withdraw what an earlier one granted there too.  The tree this run
    # unpacks is described by the distribution; another one only by the files it really holds.
    for tdir, version in sorted({(vdir, v), *((t, tv) for t, tv in view.trees if t != vdir)}):
        # a tree outside INSTALL_DIR is no longer part of the install: no privilege stays on it
        inside = PurePosixPath(tdir).parent == PurePosixPath(spec.install_dir)
        acts += privileged_actions(tdir, version, user if inside else None, spec.setuid_cmdwrapper,
                                   names if tdir == vdir else None, None if tdir == vdir else view.held(tdir),
                                   tree if tdir == vdir else None)
    acts += [
        Symlink(f"{spec.install_dir}/current", f"ncs-{v}", "the active NSO version", switch=spec.activate),
        Directory(f"{spec.install_dir}/packages", ROOT, "store of version-prefixed packages"),
    ]
    # Config follows the active version: a version that stays inactive changes nothing here.
    acts += config_actions(spec, config_version(spec, v, view), view)
    managed = frozenset(a.path for a in acts if a.fs and not isinstance(a, (Reown, TakeOver)))

    def handover(a: Action) -> Action:
        """A hand-over leaves what other actions of the plan manage to them (``skip``).  A
        directory the old account owns that no Directory action manages any more (/run/ncs once
        the socket is no longer nso-install's: TCP IPC, ipc.path given) is taken from it too, or
        the withdrawn account kept a directory in root's /run."""
        if isinstance(a, Reown):
            return replace(a, skip=managed, itself=a.itself or a.path not in managed)
        return replace(a, skip=managed) if isinstance(a, TakeOver) else a

    return with_parents([handover(a) for a in acts], own_dirs(STATE_DIR_SYSTEM))


def config_actions(spec: InstallSpec, version: str, view: TargetView) -> list[Action]:
    """Everything outside INSTALL_DIR/ncs-VSN, rendered for ``version`` (the active one)."""
    user = spec.run_as_user
    rc = render_conf(spec, version, view)
    own = _Owners.of(spec, rc)
    ipc = ipc_access(spec, version, view)
    ctx = dict(version=version, install_dir=spec.install_dir, config_dir=spec.config_dir, run_dir=spec.run_dir,
               log_dir=spec.log_dir, run_as_user=user, run_as_group=user, client_env=rc.client_env,
               fips_env=fips_env(spec, f"{spec.install_dir}/current"))
    ctx["unit"] = unit_settings(spec, rc, ctx["fips_env"])
    socket_dir = socket_dir_actions(rc, user, ipc, account_change(spec, view))
    ctx["socket_dir"] = (dict(path=rc.socket_dir, mode=f"{socket_dir[0].attrs.mode:04o}",
                              owner=socket_dir[0].attrs.owner, group=socket_dir[0].attrs.group)
                         if socket_dir else None)
    cfg, run = spec.config_dir, spec.run_dir
    acts: list[Action] = [
        File(f"{spec.install_dir}/installdirs", render("files/installdirs.j2", **ctx), Attrs(0o644),
             "where this install keeps config, run and log files"),
        Directory(cfg, ROOT, "configuration directory", "--config-dir"),
        ConfFile(f"{cfg}/ncs.conf", rc.text, own.conf, f"ncs.conf ({spec.profile} profile, NSO {version})",
                 redact=redact_conf, explain=lambda kept, new: ipc_disagreement(kept, new, version),
                 unusable=lambda kept: kept_conf_problems(kept, version),
                 must_follow=lambda kept, new: fips_disagreement(kept, new, version),
                 replaces=lambda now, new, read: keys_change(now, new, version, {"NCS_CONFIG_DIR": cfg}, read)),
        SecretFile(f"{cfg}/ncs.crypto_keys", own.keys, lambda: generate_crypto_keys(version),
                   "encryption keys for encrypted strings in CDB "
                   + ("(imported from --crypto-keys)" if spec.crypto_keys is not None else "(generated once)"),
                   validate=lambda data: check_crypto_keys(data, version), imported=spec.crypto_keys,
                   renew=ROTATE_KEYS, rotated_from=rotated_from),
        *_keys_read_elsewhere(spec, rc, cfg),
        SecretFile(f"{cfg}/ipc_access", own.ipc, generate_ipc_secret,
                   "shared secret for the IPC access check (generated once)", validate=check_ipc_secret),
        *_ipc_secret_read_elsewhere(rc, cfg),
        Directory(f"{cfg}/ssh", own.key_dir, "SSH host keys of NSO's SSH server"),
        host_key_aside(f"{cfg}/ssh", spec.fips_install),
        ssh_host_key(f"{cfg}/ssh", own.host_key, Attrs(0o644), fips=spec.fips_install),
        Directory(f"{cfg}/ssl", ROOT, "TLS material"),
        Directory(f"{cfg}/ssl/cert", own.key_dir, "Web UI/RESTCONF certificate and key"),
        tls_key_cert(f"{cfg}/ssl/cert", own.host_key, Attrs(0o644)),
        Directory(run, own.private_dir, "run-time state (CDB, packages, rollbacks)", "--run-dir"),
        *[Directory(f"{run}/{d}", own.private_dir, f"run directory: {d}") for d in RUN_SUBDIRS],
        ConfFile(f"{run}/cdb/aaa_init.xml", render_aaa_init(ipc.grants), own.aaa,
                 "initial AAA: " + (f"IPC access for {', '.join(g.name for g in ipc.grants)}" if ipc.grants
                                    else "no local users") + ", NACM groups ncsadmin and ncsoper", redact=redact_aaa),
        *pam_actions(spec, rc),
        Directory(spec.log_dir, own.private_dir, "log files", "--log-dir"),
        *(socket_dir or [socket_dir_gone()]),
        ConfFile("/etc/profile.d/ncs.sh", render("files/profile.sh.j2", **ctx), Attrs(0o644),
                 "environment for login shells (sh)"),
        ConfFile("/etc/profile.d/ncs.csh", render("files/profile.csh.j2", **ctx), Attrs(0o644),
                 "environment for login shells (csh)"),
        ConfFile("/etc/logrotate.d/ncs", render("files/logrotate.j2", logs=ROTATED_LOGS,
                                                service=spec.init_system != "none", **ctx), Attrs(0o644),
                 "log rotation (ncserr.log is left to NSO)", decides="the account logrotate rotates the log files as "
                 "(su)", account_change=account_change(spec, view)),
    ]
    acts += service_actions(spec, ctx, own, account_change(spec, view),
                            view.previous.init_system if view.previous is not None else None)
    return acts


def account_change(spec: InstallSpec, view: TargetView) -> str:
    """"root to nso" when this run changes the account NSO runs as, else "" (a first install,
    or the same account): the files that say which account that is must follow it."""
    before = view.previous_user
    if view.previous is None or before == spec.run_as_user:
        return ""
    return f"{before or 'root'} to {spec.run_as_user or 'root'}"


SYSV_SCRIPT = "/etc/init.d/ncs"


def service_actions(spec: InstallSpec, ctx: dict, own: _Owners, changing: str = "",
                    previous_init: str | None = None) -> list[Action]:
    """The service files of ``spec.init_system``; those of the other init systems, which an
    earlier spec may have had written, go when unedited (an old SysV script would still read
    an environment file that now belongs to the NSO account), and are reported otherwise."""
    env_file = f"{spec.config_dir}/ncs.systemd.conf"
    unit_gone = [Obsolete(UNIT_WANTS, f"ncs.service is still enabled and would start NSO too; run systemctl disable "
                          f"ncs (and remove {UNIT}).", "enable link of the systemd unit", link_to=UNIT),
                 Obsolete(UNIT, "a systemd unit that starts NSO too; disable and remove it (systemctl disable ncs).",
                          "systemd unit of an earlier spec")]
    sysv_gone = [Obsolete(SYSV_SCRIPT, "a SysV script starts NSO too; disable and remove it (update-rc.d ncs remove "
                          "or chkconfig --del ncs), or re-run with --init-system sysv to keep SysV.",
                          "SysV script of an earlier spec (or a legacy one)")]
    start = f"{spec.install_dir}/{START_SCRIPT}"
    start_gone = [Absent(start, "start script of the systemd unit (not used without it)")]
    # Enabled once, as packages do (dpkg's deb-systemd-helper, rpm's presets): by the run that
    # writes the unit or moves the install to systemd; later runs leave `systemctl disable ncs` be.
    introduced = previous_init != "systemd"
    enable = Symlink(UNIT_WANTS, UNIT, "enable ncs.service at boot (not started)",
                     removed_means="" if introduced else "ncs.service was disabled (systemctl disable ncs); "
                     "systemctl enable ncs enables it again")
    if spec.init_system == "none":
        return unit_gone + sysv_gone + start_gone + [
            Obsolete(env_file, "nothing reads it without a service (--init-system none).",
                     "service environment of an earlier spec")]
    acts: list[Action] = [ConfFile(env_file, render("files/ncs.systemd.conf.j2", **ctx), own.systemd_conf,
                                   "environment of the ncs service", redact=redact_env)]
    if spec.init_system == "sysv":
        return acts + [ConfFile(SYSV_SCRIPT, render("files/init.d.ncs.j2", **ctx), Attrs(0o755),
                                "SysV init script (--init-system sysv)", decides="the account it starts NSO as",
                                account_change=changing)] + unit_gone + start_gone
    return acts + [
        File(start, render("files/ncs-service-start.j2", **ctx), Attrs(0o755),
             "starts NSO for ncs.service: reads ncs.systemd.conf as data, as the account NSO runs as"),
        # (the link before the unit: while the unit is missing the link is made, so a run stopped
        # between the two leaves no unit its re-run would take for a disabled one)
        enable,
        ConfFile(UNIT, render("files/ncs.service.j2", **ctx), Attrs(0o644),
                 "systemd unit (enabled, not started; hardened: docs/security.md)",
                 decides="the account ncs.service starts NSO as", account_change=changing),
    ] + sysv_gone


def account_actions(spec: InstallSpec, view: TargetView, version: str) -> list[Action]:
    """Accounts (docs/security.md): the NACM groups on every system install whose account
    database nso-install may change (always with a run-as user); the run-as user and its own
    group; the IPC group and the memberships of the accounts granted the IPC socket; and the
    withdrawal of the memberships nso-install added for an earlier spec."""
    user, before = spec.run_as_user, view.previous_user
    ipc = ipc_access(spec, version, view)
    if ipc.memberships and not (view.accounts_editable or user):
        raise UsageError("ipc-grants-need-accounts", "IPC grants add the granted accounts to the group "
                         f"{IPC_GROUP}, which needs the target's /etc/passwd and /etc/group and root.",
                         "Run as root on a target (or staging root) that has its account files, or withdraw the "
                         "grants (--no-ipc-user, --no-ipc-group).")
    wanted = ({(user, ADMIN_GROUP)} if user else set()) | ipc.memberships
    acts: list[Action] = [Membership(u, g, present=False, reason="added by nso-install for an earlier spec; "
                                     "withdrawn with it")
                          for u, g in sorted(view.memberships - wanted)]
    if user or view.accounts_editable:
        acts += [
            Group(ADMIN_GROUP, "NACM group with full access (aaa_init.xml); may read the IPC access secret"),
            Group(OPER_GROUP, "NACM group with read-only access (aaa_init.xml)"),
        ]
    if ipc.memberships:
        granted = tuple(u for u, _ in sorted(ipc.memberships))
        acts.append(Group(IPC_GROUP, f"the accounts granted NSO's IPC socket: may enter {ipc.socket_dir}",
                          members=tuple(sorted(set(granted) | {u for u, g in view.memberships if g == IPC_GROUP}))))
        acts += [Membership(g.name, IPC_GROUP, present=True,
                            reason=f"IPC grant ({g.via}): may enter {ipc.socket_dir}") for g in ipc.grants]
    if user:
        acts += [
            Group(user, f"primary group of {user}; the only group allowed to execute NSO's privileged binaries",
                  private_to=user),
            User(user, group=user, home=spec.run_dir, groups=(ADMIN_GROUP,),
                 reason="the unprivileged account NSO runs as (no login shell, no home created)",
                 handed_from=(before,) if before and before != user else (),
                 orphans=view.previous_user_gone),
        ]
    return acts


def reown_actions(spec: InstallSpec, view: TargetView) -> list[Action]:
    """What the previous NSO account owns in the config, run, log and IPC socket directories
    (this spec's and the previous spec's, when they moved) goes to the new one (root without a
    run-as user): nothing it could write stays behind for an NSO that no longer runs as it, and
    what it put where NSO loads code (packages/, scripts/) is moved aside for review."""
    prev, before, user = view.previous, view.previous_user, spec.run_as_user
    if prev is not None and user and (not before or view.previous_user_gone):
        # NSO ran as root, or as an account deleted since (uninstall --accounts gave its files
        # to root; one of the same name is made again, or another): what NSO wrote (CDB, state,
        # logs) must become the account's, or NSO cannot start as it (NSO's container image
        # chowns them at start for the same reason); an account deleted by a bare userdel left its
        # files under its bare uid and gid, which a later account could be given: they go too
        gone = view.previous_user_gone
        return [TakeOver(d, ("root",), ("root",), user, user, f"what NSO wrote as root{' or as ' + before if gone else ''}"
                         f" now belongs to {user}", orphans=gone)
                for d in dict.fromkeys((spec.run_dir, spec.log_dir))]
    if not before or before == user:
        return []
    to = spec.run_as_user or "root"
    acts: list[Action] = []
    for s in (spec, prev):
        for d in (s.config_dir, s.run_dir, s.log_dir, IPC_RUNTIME_DIR):
            if d not in {a.path for a in acts}:
                acts.append(Reown(d, before, to, to, f"what NSO wrote as {before} now belongs to {to}",
                                  quarantine=RUN_DIR_QUARANTINE if d == s.run_dir else ()))
    return acts


TMPFILES = "/etc/tmpfiles.d/ncs.conf"
SOCKET_DIR_REASON = "directory of NSO's IPC socket (clients must be able to traverse it)"


def socket_dir_actions(rc: RenderedConf, user: str | None, ipc: IpcAccess = IpcAccess(),
                       changing: str = "") -> list[Action]:
    """The Unix IPC socket's directory: who may enter it decides who may connect.  Its owner
    is the account NSO runs as (which creates the socket); its group is the IPC group when
    accounts are granted the socket, else the owner's own: nobody else gets in.  The tmpfiles.d
    entry makes it again at every boot, for the account it names: an edited one is not kept
    while that account changes (``changing``), or the old account owned the directory of the
    new NSO's socket from the next boot on (and could put its own socket there)."""
    if not rc.socket_dir:
        return []
    owner = user or "root"
    attrs = Attrs(0o750, owner, IPC_GROUP if ipc.memberships else owner)
    line = f"d {rc.socket_dir} {attrs.mode:04o} {attrs.owner} {attrs.group} -\n"
    return [
        Directory(rc.socket_dir, attrs, SOCKET_DIR_REASON),
        ConfFile(TMPFILES, f"# NSO IPC socket directory; written by nso-install.\n{line}".encode(),
                 Attrs(0o644), "re-create the IPC socket directory at boot (/run is emptied)",
                 decides="the account that owns the IPC socket directory from each boot on", account_change=changing),
    ]


def socket_dir_gone() -> Action:
    """The tmpfiles.d entry of an earlier spec whose socket directory nso-install managed, when
    this one's is not managed (TCP IPC, ipc.path given, the development profile): left, it would
    re-create /run/ncs at every boot for the account that spec named, a withdrawn one included."""
    return Obsolete(TMPFILES, "it re-creates the IPC socket directory at boot, which nso-install no longer "
                    "manages (TCP IPC, ipc.path given, or the development profile); remove it.",
                    "IPC socket directory at boot, of an earlier spec")


def fips_env(spec: InstallSpec, ncs_dir: str) -> list[tuple[str, str]]:
    """``NCS_OPENSSL_*`` of a FIPS install whose tree is ``ncs_dir`` (for ncsrc and the service;
    docs/security.md, "FIPS install")."""
    return openssl_env(ncs_dir) if spec.fips_install else []


def ncsrc_files(ncs_dir: str, version: str, owner: str | None, group: str | None,
                extra_env: list[tuple[str, str]] = ()) -> list[Action]:
    ctx = dict(ncs_dir=ncs_dir, version=version, extra_env=list(extra_env))
    attrs = Attrs(0o644, owner, group)
    return [
        File(f"{ncs_dir}/ncsrc", render("files/ncsrc.j2", **ctx), attrs, "environment script (sh)"),
        File(f"{ncs_dir}/ncsrc.tcsh", render("files/ncsrc.tcsh.j2", **ctx), attrs, "environment script (tcsh)"),
    ]


def _member_names(dist) -> list[str] | None:
    fn = getattr(dist, "member_names", None)
    return list(fn()) if callable(fn) else None


# --- local install -------------------------------------------------------------------------

def local_plan(spec: InstallSpec, dist, view: TargetView = TargetView()) -> list[Action]:
    d = spec.local_dir
    v = dist.version
    mine = Attrs(0o644, None, None)  # a local install belongs to whoever runs it
    private = Attrs(0o600, None, None)
    rc = render_conf(spec, v, view)
    acts: list[Action] = [
        (tree := InstallTree(d, dist, owner=None, group=None, reason=f"NSO {v} local install",
                             owned_elsewhere=LOCAL_OWNED_ELSEWHERE,
                             written_elsewhere=(*LOCAL_WRITTEN_ELSEWHERE, *written_in_tree(spec.fips_install)))),
        *fips_actions(tree, v, spec.fips_install),
        Directory(f"{d}/.nso-install", Attrs(0o700, None, None), "nso-install's record of the config files it wrote"),
        *ncsrc_files(d, v, None, None, rc.client_env + fips_env(spec, d)),
        ConfFile(f"{d}/etc/ncs/ncs.conf", rc.text, private if rc.inline_keys else mine,
                 f"default ncs.conf ({spec.profile} profile)", redact=redact_conf,
                 explain=lambda kept, new: ipc_disagreement(kept, new, v),
                 unusable=lambda kept: kept_conf_problems(kept, v),
                 must_follow=lambda kept, new: fips_disagreement(kept, new, v),
                 replaces=lambda now, new, read: keys_change(now, new, v, {"NCS_DIR": d}, read)),
        SecretFile(f"{d}/etc/ncs/ipc_access", private, generate_ipc_secret,
                   "shared secret for the IPC access check", validate=check_ipc_secret),
        Directory(f"{d}/etc/ncs/ssh", Attrs(0o700, None, None), "SSH host key of NSO's SSH server"),
        host_key_aside(f"{d}/etc/ncs/ssh", spec.fips_install),
        ssh_host_key(f"{d}/etc/ncs/ssh", private, mine, fips=spec.fips_install),
        # the key and certificate the rendered ncs.conf names for the Web UI/RESTCONF over TLS
        # (${NCS_DIR}/etc/ncs/ssl/cert/host.*, as in NSO's examples): without them, turning TLS
        # on (--set webui.ssl.enabled=true) gave a conf NSO cannot start with
        Directory(f"{d}/etc/ncs/ssl", Attrs(0o755, None, None), "TLS material"),
        Directory(f"{d}/etc/ncs/ssl/cert", Attrs(0o700, None, None), "Web UI/RESTCONF certificate and key"),
        tls_key_cert(f"{d}/etc/ncs/ssl/cert", private, mine),
    ]
    if not rc.inline_keys:  # external keys command reads ${NCS_DIR}/etc/ncs/ncs.crypto_keys
        acts.append(SecretFile(f"{d}/etc/ncs/ncs.crypto_keys", private, lambda: generate_crypto_keys(v),
                               "encryption keys (generated once)", validate=lambda data: check_crypto_keys(data, v),
                               renew=ROTATE_KEYS))
    return with_parents(acts + pam_actions(spec, rc), own_dirs(f"{d}/.nso-install"))


# --- parent directories and leftovers -------------------------------------------------------

def _ancestors(paths: list[str], managed: set[str], trees: set[str]) -> list[Action]:
    """Directories that must exist above the managed paths; created if missing, never altered."""
    out, seen = [], set()
    trees = {"/" + "/".join(c for c in t.split("/") if c and c != ".") for t in trees}
    for p in paths:
        for s in _parents(p):
            if s in managed or s in seen:
                continue
            if any(s == t or s.startswith(t + "/") for t in trees):
                continue  # comes with the unpacked distribution
            seen.add(s)
            out.append(SystemDirectory(s))
    return out


def _parents(path: str) -> list[str]:
    """The parents of an absolute path below "/", from the top: ``PurePosixPath(path).parents``
    reversed, in strings (this runs for every path of every plan, twice a run)."""
    parts = [c for c in path.split("/") if c and c != "."]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def own_dirs(state_dir: str) -> tuple[str, ...]:
    """nso-install's own directories an interrupted run may leave temporary files in: the state
    directory, its manifests (written when a tree is unpacked) and the config files' copies
    kept aside (files.ASIDE_DIR, in a system install's)."""
    return (state_dir, f"{state_dir}/manifests", f"{state_dir}/conffiles")


def with_parents(actions: list[Action], own_dirs: tuple[str, ...] = ()) -> list[Action]:
    """Insert (before the first action that needs it) every missing system parent directory,
    and end with the removal of leftovers (also in ``own_dirs``: nso-install's state)."""
    managed = {a.path for a in actions if isinstance(a, (Directory, InstallTree))}
    # An NSO tree's directories come from its distribution: none is ever made inside one, also
    # not in another version's tree whose binaries get privileges (a missing one is not created).
    trees = {a.path for a in actions if isinstance(a, InstallTree)} | \
        {a.vdir for a in actions if isinstance(a, (Setuid, Capability))}
    result, seen = [], set()
    for a in actions:
        for d in (_ancestors([a.path], managed, trees) if a.fs else []):
            if d.path not in seen:
                seen.add(d.path)
                result.append(d)
        result.append(a)
    return result + leftovers_action(actions, own_dirs)


def leftovers_action(actions: list[Action], own_dirs: tuple[str, ...] = ()) -> list[Action]:
    """One action that removes what an interrupted run left beside the files we write."""
    trees = [PurePosixPath(a.path) for a in actions if isinstance(a, InstallTree)]
    dirs = list(dict.fromkeys([str(PurePosixPath(a.path).parent) for a in actions
                               if a.fs and not isinstance(a, (Directory, InstallTree, Reown))] + list(own_dirs)))
    skip = tuple(f"{fsops.TMP_MARK}{t.name}." for t in trees)  # InstallTree cleans its own
    return [Leftovers(os.path.commonpath(dirs), tuple(dirs), skip)] if dirs else []

