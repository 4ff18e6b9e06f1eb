"""``nso-install activate VSN`` and ``nso-install rollback``: switch ``current`` without a
distribution.

An activation is an install run whose distribution is the installed tree itself (it can
verify the tree against its manifest but not restore it), with ``--activate``: ``current``
switches atomically, and the configuration (ncs.conf, the unit, the environment files) is
rendered for that version under the usual conffile rules, with the recorded options.

Refused, unless ``--force``:

* while NSO runs from the install (it is never stopped or killed);
* a downgrade while CDB holds data: no NSO documentation says an older NSO reads a CDB a newer
  one wrote; the documented way back is ``ncs-backup --restore`` of a backup taken on the older
  version (NSO's upgrade guide documents no downgrade, only "Recover from a Failed Upgrade":
  restore a backup), which the run's notes say;
* a release that cannot read what the switch keeps: the keys file (NSO 6.5 refuses one with
  3DES keys, which 6.4 installs hold: no keys at all, no start) or an administrator's edited
  ncs.conf (an element the release does not know: exit 21 at start). Switched anyway, NSO
  stops at its next start; refused, the running version goes on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import NsoInstallError, UnsafePathError, UsageError, sh
from ..facts import LINK, Facts
from ..record import record
from ..run import RunOptions, RunResult, install
from ..spec import SpecInput
from ..versions import vtuple
from .installation import Installation


@record
class InstalledTree:
    """An installed tree in the role of a distribution: its version, nothing to unpack."""

    path: Path
    version: str
    kind: str = "installed"
    notes: tuple = ()
    warnings: tuple = ()

    @property
    def source(self) -> Path:
        return self.path

    def extract(self, *a, **kw):  # never called: InstallTree does not restore from an installed tree
        raise NsoInstallError("tree-not-restorable", f"{self.path} cannot be restored from itself.",
                              "Run nso-install install with the distribution of this version.")


def _same_fips_state(inst: Installation, tree) -> None:
    """A switch keeps the recorded options, FIPS included, and FIPS belongs to each tree (its
    crypto.so): switched to a 6.5+ tree of the other FIPS state, the run found the tree
    "differs from what nso-install unpacked" and asked for a distribution to restore it from."""
    from .verify import fips_tree

    if tree.active or vtuple(tree.version) < (6, 5):  # (before 6.5: no FIPS mode, said by the switch itself)
        return
    fips = fips_tree(inst, tree)
    if fips == inst.spec.fips_install:
        return
    option = "--fips-install" if fips else "--no-fips-install"
    raise UsageError("fips-state-differs", f"NSO {tree.version} was installed {'in FIPS mode' if fips else 'without FIPS'}"
                     f" ({tree.path}: its crypto.so is {'the FIPS build' if fips else 'the standard one'}), and this "
                     f"install's recorded options are {'not ' if fips else ''}FIPS; a switch keeps the options.",
                     f"Switch with the tree's FIPS state: "
                     f"{inst.command(f'install {sh(inst.target.host(tree.path))} --system-install --activate {option}')} "
                     "(ncs.conf and the SSH host key follow).")


def _root_only_tree(inst: Installation, tree) -> None:
    """Refuse, before anything changes, a tree root would run that another account could have
    written: the tree itself, or a directory or file in it, not root's or writable by group or
    others.  INSTALL_DIR is root's (untrusted-directory otherwise), but a tree in it may not be:
    one NSO's own installer left that was chowned to an account (the vendor's example chowns
    /opt/ncs), or a recorded one changed since.  An unrecorded tree needs no privilege when NSO
    runs as root, so nothing else stopped the switch: current led to that account's programs,
    which the unit, logrotate and every login shell run as root; with a run-as user the switch
    was refused only at epam's privilege, after ncsrc had been written into the account's tree."""
    from ..actions.tree import foreign_entry

    found = foreign_entry(Facts(inst.target), tree.path, links=False)  # (install's judge of a tree's extra entries)
    if found:
        path, problem = found
        host = sh(inst.target.host(tree.path))
        raise UnsafePathError("untrusted-tree", f"{path} {problem}: another account could have put its own "
                              f"programs into NSO {tree.version} ({tree.path}), which root runs once it is "
                              "active; nothing was switched.",
                              f"Find out who changed it; then move {host} out of INSTALL_DIR and install that "
                              f"version again from its distribution ({inst.command('install DIST --system-install')}"
                              " --activate: a repair in place keeps the entries it does not know, as they are), "
                              f"or, once you trust all it holds, chown -R root:root {host} && chmod -R go-w {host}"
                              ", and re-run.")


def _same_install_dir(inst: Installation) -> None:
    """The switch is a run of the recorded install (its spec: config, unit, INSTALL_DIR): given
    another --install-dir, it found the version there, then copied that tree into the recorded
    INSTALL_DIR and switched the recorded current."""
    refusal = inst.not_the_recorded_dir("activate and rollback switch the recorded install's current",
                                        f"; to move the install, run {inst.command('install DIST --system-install')}")
    if refusal is not None:
        raise refusal


def activate(inst: Installation, version: str, *, force: bool = False, check: bool = False,
             root: Path | None = None, lock_timeout: float = 0.0, force_conf: bool = False,
             set_files: tuple[str, ...] = (), _rollback: bool = False) -> RunResult:
    _only_secrets(set_files)
    _same_install_dir(inst)
    tree = inst.tree(version)
    if tree is None:
        raise inst.not_installed(version, f"Install it first: {inst.command('install DISTRIBUTION --system-install')}.")
    if Path(tree.path).name != f"ncs-{tree.version}":
        raise UsageError("unconventional-tree", f"{tree.path} holds NSO {tree.version} but is not named "
                         f"ncs-{tree.version}; current can only point to INSTALL_DIR/ncs-VSN.",
                         f"Rename it to {inst.spec.install_dir}/ncs-{tree.version} (if no such tree exists), or "
                         "install the version from its distribution.")
    _root_only_tree(inst, tree)
    _same_fips_state(inst, tree)
    active = inst.active
    notes = []
    pending = inst.state.pending_activation  # a switch an interrupted run recorded ahead
    completing = active is not None and active.path == tree.path and pending is not None \
        and pending["to"] == tree.version
    if completing:
        notes.append(f"An earlier run switched current to NSO {tree.version} and was interrupted before it "
                     f"finished; {'running this command completes' if check else 'this run completed'} it.")
    elif active is not None and active.path == tree.path:
        notes.append(f"NSO {tree.version} is already the active version.")
    else:
        _refuse_while_running(inst, force)
        notes += _downgrade(inst, tree.version, active.version if active else None, force, check)
        notes += _release_cannot_start(inst, tree.version, inst.spec, force, force_conf, check)
    given = SpecInput(kind="system", activate=True, force_conf=force_conf, set_files=set_files)
    try:
        result = install(given, InstalledTree(inst.target.host(tree.path), tree.version),
                         RunOptions(root=root, check=check, lock_timeout=lock_timeout, switch_judged=True,
                                    judged_current=(inst.spec.install_dir, inst.current),
                                    rollback=_rollback))
    except NsoInstallError as e:
        # Their hints name install's options, most of which activate and rollback do not take.
        if e.reference == "secret-values-not-recorded":
            raise type(e)(e.reference, e.message, "Give them again: --set-file NAME=PATH for each.") from e
        if e.reference == "bad-value":  # a recorded value this version does not take (FIPS before 6.5...)
            switch = inst.command(f"install {sh(inst.target.host(tree.path))} --system-install --activate")
            if inst.spec.fips_install and vtuple(tree.version) < (6, 5):
                # (the one recorded option a switch back to a release before 6.5 always meets)
                raise type(e)(e.reference, f"NSO {tree.version} has no FIPS mode, and this install is recorded as a "
                              "FIPS install (--fips-install).", f"Switch with FIPS turned off: {switch} "
                              "--no-fips-install (ncs.conf and the SSH host key follow).") from e
            raise type(e)(e.reference, e.message, f"{e.hint} activate and rollback take no such options: give them "
                          f"to {switch} OPTIONS, which switches the same way.") from e
        raise
    if active is None or active.path != tree.path or (completing and not check):
        notes += next_steps(inst.spec, tree.version, check, active.version if active else None) \
            + packages_of_another_release(inst, tree.version)
    if active is not None and active.path != tree.path:
        notes += ipc_transport_change(inst.spec, active.version, inst.spec, tree.version, check)
    result.report.notes.extend(notes)
    return result


def _only_secrets(set_files: tuple[str, ...]) -> None:
    """activate and rollback switch with the recorded options; ``--set-file`` gives them only
    the secret values (inline keys), which are never recorded and without which ncs.conf
    cannot be rendered (an install with inline keys could not be switched, or rolled back)."""
    from ..conf.values import secret_variables

    names = sorted(secret_variables())
    for item in set_files:
        name = item.partition("=")[0]
        if name not in names:
            raise UsageError("not-a-secret-value", f"--set-file {name}=...: activate and rollback take only the "
                             f"secret ncs.conf values ({', '.join(names)}); the others are recorded.",
                             "Change other values with nso-install install (its --set, --set-file, --values).")


def rollback(inst: Installation, **kw) -> RunResult:
    _same_install_dir(inst)
    if inst.rolled_back_from is not None:
        # a repeated rollback (a retried pipeline step) must not undo the first one: it does
        # nothing (or completes the first, if that was interrupted)
        interrupted = inst.state.pending_activation is not None
        result = activate(inst, inst.active.version, _rollback=True, **kw)
        if not interrupted:
            result.report.notes.append(f"The last switch already rolled back from NSO {inst.rolled_back_from} to "
                                       f"{inst.active.version}; rollback undoes one switch. To go forward again: "
                                       f"{inst.go_forward(inst.rolled_back_from)}.")
        return result
    previous = inst.previous
    if previous is None:
        raise _nothing_to_roll_back(inst)
    return activate(inst, previous, _rollback=True, **kw)


def _nothing_to_roll_back(inst: Installation) -> UsageError:
    """Why there is no version to go back to: none active (no install where --root and
    --install-dir point), the one active before was uninstalled since, or no switch recorded."""
    active = inst.active
    if active is None:
        return UsageError("nothing-to-roll-back", f"no NSO version is active under {inst.spec.install_dir}; there "
                          "is nothing to roll back.", f"Check --root and --install-dir ({inst.command('status')} shows "
                          "what is installed there).")
    gone = next((a["from"] for a in reversed(inst.state.activations) if a.get("to") == active.version
                 and a.get("from") and a["from"] != active.version), None)
    if gone is not None:  # (Installation.previous passes over one no longer installed)
        return UsageError("nothing-to-roll-back", f"NSO {gone}, active before {active.version}, is no longer "
                          f"installed under {inst.spec.install_dir}; there is nothing to roll back to.",
                          f"Install NSO {gone} again, then {inst.command('activate ' + gone)}; or activate another "
                          f"installed version by name ({inst.command('status')} lists them).")
    return UsageError("nothing-to-roll-back", "no earlier active version is recorded for this install.",
                      f"Activate a version by name: {inst.command('activate VSN')} ({inst.command('status')} lists them).")


FORCE = "pass --force"  # how the refusals below are overridden (install --activate: by activate --force)


def _refuse_while_running(inst: Installation, force: bool, forcing: str = FORCE) -> None:
    pids = [pid for pid, _ in inst.running]
    if pids and not force:
        raise UsageError("nso-running", f"NSO runs from {inst.spec.install_dir} (pid {', '.join(map(str, pids))}); "
                         "switching the version under it would leave it running the old one with the new "
                         f"configuration.", f"Stop NSO first (systemctl stop ncs), or {forcing} to switch anyway "
                         "and restart it yourself.")


def _downgrade(inst: Installation, new: str, old: str | None, force: bool, check: bool = False,
               forcing: str = FORCE) -> list[str]:
    if old is None or vtuple(new) >= vtuple(old):
        return []
    cdb = inst.cdb_files()
    if not cdb:
        return []
    why = (f"NSO {new} is older than the active {old}, and {inst.spec.run_dir}/cdb holds data ({', '.join(cdb)}) "
           f"that {old} may have upgraded; no NSO documentation says an older NSO can read it.")
    if not force:
        raise UsageError("cdb-downgrade", why, f"Restore a backup taken on {new} (ncs-backup --restore) after "
                         f"switching ({forcing} to switch); or stay on the newer version.")
    done = "Would switch anyway (--force; nothing was changed)" if check else "Switched anyway (--force)"
    return [why + f" {done}: restore a backup taken on {new} (ncs-backup --restore) before starting NSO."]


def _release_cannot_start(inst: Installation, new: str, spec, force: bool, force_conf: bool, check: bool,
                          forcing: str = FORCE) -> list[str]:
    """Refuse a switch to NSO ``new`` when it could not read what the switch keeps as it is
    (:func:`unreadable_by`): it would stop at its next start, where the version running now
    goes on if the switch is refused. With ``force``: switched, and said."""
    problems = unreadable_by(inst, new, spec, force_conf)
    if not problems:
        return []
    why = f"NSO {new} would not start with what the switch keeps as it is: {' '.join(problems)}"
    if not force:
        raise UsageError("release-cannot-start", why, f"Fix that first (nothing was changed), or {forcing} to "
                         "switch anyway, and fix it before NSO starts.")
    done = "Would switch anyway (--force; nothing was changed)." if check else "Switched anyway (--force)."
    return [f"{why} {done}"]


def unreadable_by(inst: Installation, new: str, spec, force_conf: bool) -> list[str]:
    """What NSO ``new`` cannot read of what a switch to it keeps, under ``spec`` (the options of
    the run that switches): the keys file, unless this run imports keys or they are inline; the
    administrator's edited ncs.conf, unless ``force_conf`` replaces it (nso-install's own
    rendering is re-rendered for ``new``, with its elements only)."""
    from ..actions.keys import check_crypto_keys
    from ..conf.render import unknown_to_release
    from ..facts import Facts, sha256_bytes

    facts = Facts(inst.target)

    def read(path: str) -> bytes | None:
        try:
            return facts.read(path)
        except (NsoInstallError, OSError):
            return None  # (a link, a huge file...: the run's own actions refuse or report it)

    problems = []
    conf = f"{spec.config_dir}/ncs.conf"
    kept = read(conf)
    edited = not force_conf and kept is not None and sha256_bytes(kept) != inst.state.conffiles.get(conf)
    keys = _keys_file_read(spec, new, kept if edited else None)
    if keys is not None and spec.crypto_keys is None \
            and (data := read(keys)) is not None and (why := check_crypto_keys(data, new)):
        problems.append(f"{keys}: {why}.")
    if edited and (why := unknown_to_release(kept, new)):
        problems.append(f"{conf} (edited, so kept): {why}")
    return problems


def _keys_file_read(spec, new: str, kept: bytes | None) -> str | None:
    """The keys file NSO ``new`` reads after the switch (external-keys' command-argument), or
    None where it reads none: keys inline, or no argument. ``kept``: the administrator's edited
    ncs.conf the switch keeps (NSO reads that, not the recorded options), else None."""
    from ..audit.ncsconf import NcsConf
    from ..conf.render import keys_file_argument, plain_path

    env = {"NCS_CONFIG_DIR": spec.config_dir}
    if kept is not None:
        parsed = NcsConf.parse(kept, new, env)
        if parsed.problem is None:
            return keys_file_argument(parsed)
    values = dict(spec.values)
    if values.get("crypto.mechanism") == "inline":
        return None
    return plain_path(NcsConf(None, new, env).resolve(values.get("crypto.argument")
                                                        or f"{spec.config_dir}/ncs.crypto_keys"))


def guard_install_switch(inst: Installation, new: str, check: bool, spec=None, force_conf: bool = False) -> list[str]:
    """``install DIST --activate`` switching ``current`` from another version: the same
    refusals as ``activate`` (NSO running, a downgrade over CDB data, a release that cannot
    read what is kept), overridden only by ``activate --force``; then the same next steps.
    ``spec``: the run's (its options may import keys or put them inline), else the recorded."""
    active = inst.active
    if active is None or active.version == new:
        return []
    # (aimed where this run is: the same words without --root switched the host's install)
    forcing = f"install without --activate, then run {inst.command(f'activate {new} --force')}"
    spec_now = spec or inst.spec
    if spec_now.fips_install and vtuple(active.version) < (6, 5):
        # (an install without --activate is refused then: FIPS mode would land in the ncs.conf of
        # an NSO that has none; so the switch is made without FIPS, which the next install adds)
        forcing = (f"install it without --fips-install and without --activate, run "
                   f"{inst.command(f'activate {new} --force')}, then install it again with --fips-install")
    _refuse_while_running(inst, False, forcing)
    _downgrade(inst, new, active.version, False, check, forcing)
    _release_cannot_start(inst, new, spec_now, False, force_conf, check, forcing)
    return next_steps(inst.spec, new, check, active.version) + packages_of_another_release(inst, new) \
        + ipc_transport_change(inst.spec, active.version, spec_now, new, check)


# A package built for an NSO release carries it in its name, as NSO's packages and NEDs are
# named (ncs-6.4-cisco-ios-cli-6.105...); the upgrade guide puts those built for the new release
# in RUN_DIR/packages as links to INSTALL_DIR/packages/ncs-NEW-* (facts: Upgrade, step 7).
_PACKAGE_RELEASE = re.compile(r"^ncs-(\d+)\.(\d+)(?:\.\d+)*-")


def packages_of_another_release(inst: Installation, version: str) -> list[str]:
    """A note naming what in RUN_DIR/packages was built for another NSO x.y than ``version``, by
    its name or the name of what it links to: a major upgrade (x.y) needs packages compiled for
    it, and NSO's package reload at the restart fails on the others."""
    facts = Facts(inst.target)
    packages = f"{inst.spec.run_dir}/packages"
    want = vtuple(version)[:2]
    found = []
    for name in facts.listdir(packages):
        fact = facts.path(f"{packages}/{name}")
        for shown in (name, os.path.basename(fact.link.rstrip("/")) if fact.kind == LINK and fact.link else ""):
            m = _PACKAGE_RELEASE.match(shown)
            if m and (int(m.group(1)), int(m.group(2))) != want:
                found.append(f"{name} ({m.group(1)}.{m.group(2)})")
                break
    if not found:
        return []
    return [f"{packages} holds packages built for another NSO release than {version}: {', '.join(found[:10])}"
            + (f" and {len(found) - 10} more" if len(found) > 10 else "") + f". Replace them with builds for NSO "
            f"{want[0]}.{want[1]} (the upgrade guide links them to {inst.spec.install_dir}/packages/ncs-{version}-*) before "
            "the restart with a package reload: packages compiled for another x.y do not load."]


def _ipc_environment(spec, version: str) -> dict[str, str] | None:
    """The NCS_IPC_* settings clients get for NSO ``version`` under ``spec`` (None: not renderable)."""
    from ..conf.render import install_client_environment
    from ..plan import conf_context

    try:
        return install_client_environment(conf_context(spec, version), spec.conf_values())
    except NsoInstallError:
        return None


def ipc_transport_change(old_spec, old: str, new_spec, new: str, check: bool = False) -> list[str]:
    """A note when a switch from NSO ``old`` to ``new`` moves NSO's IPC between TCP and the Unix
    socket: the production profile uses the socket from 6.4 (which added it), NSO's own default
    (development) from 6.7 (facts 1, 9). The profile scripts, ncsrc and the service follow;
    what else reaches NSO with the old settings (cron, other services, clients authorised by
    the TCP secret) does not, and nothing else said so."""
    before, after = _ipc_environment(old_spec, old), _ipc_environment(new_spec, new)
    if not before or not after or ("NCS_IPC_PATH" in before) == ("NCS_IPC_PATH" in after):
        return []
    moves = "would move" if check else "moves"
    if "NCS_IPC_PATH" in after:
        grants = new_spec.ipc_users or new_spec.ipc_groups
        return [f"NSO's IPC {moves} from TCP ({before['NCS_IPC_ADDR']}:{before['NCS_IPC_PORT']}) on NSO {old} to the "
                f"Unix socket {after['NCS_IPC_PATH']} on NSO {new}. The profile scripts, ncsrc and the service "
                "follow; clients set up otherwise (cron jobs, other services, scripts with NCS_IPC_PORT or "
                f"NCS_IPC_ACCESS_FILE) need NCS_IPC_PATH={after['NCS_IPC_PATH']} (or ncs_cli -S). The socket admits "
                "root and NSO's own account, and others only with a CDB user entry with their uid and "
                "local_ipc_access true" + ("" if grants else " (grant accounts with --ipc-user or --ipc-group)")
                + ": the IPC secret no longer admits anyone. Custom Java and Python packages may need changes to "
                "connect (NSO 6.7 release notes, \"Secure Local IPC\", on the same move)."]
    return [f"NSO's IPC {moves} from the Unix socket {before['NCS_IPC_PATH']} on NSO {old} to TCP "
            f"({after['NCS_IPC_ADDR']}:{after['NCS_IPC_PORT']}) on NSO {new}. The profile scripts, ncsrc and the "
            "service follow; clients set up otherwise (cron jobs, other services, NCS_IPC_PATH or ncs_cli -S) need "
            f"NCS_IPC_PORT={after['NCS_IPC_PORT']}"
            + (f" and NCS_IPC_ACCESS_FILE={after['NCS_IPC_ACCESS_FILE']}" if "NCS_IPC_ACCESS_FILE" in after else "")
            + "."]


def next_steps(spec, version: str, check: bool = False, active: str | None = None) -> list[str]:
    """What to do after the switch; with ``check`` (nothing was switched) said as what would be,
    with what to do before it when it goes to a later version than ``active``."""
    init, install_dir, run_dir = spec.init_system, spec.install_dir, spec.run_dir
    upgrade = active is not None and vtuple(version) > vtuple(active)
    if init == "systemd":
        restart = ("set NCS_RELOAD_PACKAGES=true in ncs.systemd.conf, systemctl restart ncs, then set it back "
                   "to false")
    elif init == "sysv":
        restart = "/etc/init.d/ncs restart-with-package-reload"
    else:
        restart = "restart NSO with ncs --with-package-reload"
    if check:
        # (NSO's upgrade guide, steps 1 and 4: said ahead, when they can still be done)
        before = (f" Before it, as NSO's upgrade guide does: back up with ncs-backup (which does not save "
                  f"{install_dir}/packages), and with NSO stopped compact CDB (ncs --cdb-compact "
                  f"{run_dir}/cdb).") if upgrade else ""
        return [f"NSO {version} would be the active version (nothing was changed).{before} After the switch, "
                f"restart NSO with a package reload ({restart}); packages compiled for another NSO x.y must be "
                "rebuilt first."]
    return [f"NSO {version} is now active. Restart NSO with a package reload ({restart}); packages compiled for "
            "another NSO x.y must be rebuilt first."]
