"""``nso-install uninstall``: NSO's ``ncs-uninstall`` semantics, as a plan that can be previewed.

* ``--ncs-version VSN``: ``INSTALL_DIR/ncs-VSN`` only (never the active one without
  ``--force``); configuration, run-time data and logs stay.
* ``--all``: ``INSTALL_DIR`` whole (every version, ``current``, ``packages/``, ``installdirs``).
  Only with their own options (or ``--purge`` for all of them) also: the configuration
  directory with the keys (``--config``), the run directory with CDB and the backups in it
  (``--run-data``), the logs (``--logs``), the service (unit and its enable link, SysV script,
  tmpfiles.d entry, ``/run/ncs``: ``--service``), the profile scripts and logrotate file
  (``--profile-scripts``), the accounts and groups nso-install created (``--accounts``).
  Everything else is kept, and the result lists what was kept.

Refused while NSO runs from what would be removed (it is never stopped here).
"""

from __future__ import annotations

import os
from dataclasses import field
from pathlib import PurePosixPath
from typing import ClassVar

from ..actions.accounts import NOLOGIN_SHELLS, Membership, NoAccount, members_left
from ..actions.base import Action, Context, Effects, change, masked, ok
from ..actions.files import Absent, RemoveTree, Reown, RUN_DIR_QUARANTINE, TakeOver
from ..engine import Report, apply, evaluate, preflight
from ..errors import UsageError, aim_systemctl
from ..conf.render import IPC_RUNTIME_DIR
from ..facts import ABSENT, Facts
from ..plan import SYSV_SCRIPT, UNIT, UNIT_WANTS, leftovers_action, own_dirs
from ..record import record
from ..run import record_effects
from ..state import locked
from .installation import Installation, Lost

PARTS = ("config", "run_data", "logs", "service", "profile_scripts", "accounts")


@record
class ForgetTree(Action):
    """The record of a tree nso-install unpacked that is gone, or is no longer that tree (no
    VERSION, another version): dropped, and nothing on disk touched.  Without this a tree
    removed by hand (or with an earlier INSTALL_DIR) would fail verify for good."""

    path: str
    version: str
    problem: str
    reason: str = "record of a tree that is no longer there"
    kind: ClassVar[str] = "forget"
    fs: ClassVar[bool] = False

    def check(self, facts, ctx):
        if self.path in ctx.trusted or ctx.manifest(self.path) is not None:
            return change(f"forget that nso-install unpacked NSO {self.version} here ({self.problem}); "
                          "nothing on disk is removed")
        return ok("no record of it")

    def apply(self, facts, ctx, outcome):
        return Effects(manifests_dropped={self.path})


@record
class Removal:
    """What an uninstall removed or would remove, and what it kept."""
    report: Report
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    header: str = ""


def plan_removal(inst: Installation, version: str | None, everything: bool, parts: set[str],
                 force: bool) -> tuple[list[Action], list[str], list[str]]:
    """(actions, kept, notes) for the uninstall asked for."""
    spec = inst.spec
    kept, notes, acts = [], [], []
    if version is not None:
        if inst.tree(version) is None and _interrupted(inst, version):
            # this uninstall, killed half way: its tree lost VERSION first (so it is no longer
            # found as installed), or is gone with its record and only the marker is left; the
            # re-run status asks for removes the rest and ends the marker (refused as "not
            # installed", it never could)
            left = _half_removed(inst, version)
            if left is not None:
                acts.append(RemoveTree(left.path, f"what is left of NSO {left.version} (an interrupted uninstall)"))
                if inst.current is not None and PurePosixPath(inst.current).name == PurePosixPath(left.path).name:
                    acts.append(Absent(f"{spec.install_dir}/current", "the link to the removed version"))
            kept += [d for d in (spec.config_dir, spec.run_dir, spec.log_dir) if _exists(inst, d)]
            return acts, kept, notes
        lost = next((t for t in inst.lost() if version.rstrip("/") == t.path), None)
        if lost is not None:
            # named by its path: what is there now is not the tree nso-install unpacked, so
            # nothing is removed; only the record goes (verify fails on it until then)
            return [ForgetTree(lost.path, lost.version, lost.problem)], kept, notes
        tree = inst.tree(version)
        if tree is None:
            gone = [t.path for t in inst.lost() if t.version == version]
            hint = (f"A tree nso-install recorded for it is gone or unrecognisable ({', '.join(gone)}): name its "
                    "path to forget it." if gone else f"{inst.command('status')} lists the installed versions.")
            raise inst.not_installed(version, hint)
        if tree.active and not force:
            raise UsageError("active-version", f"NSO {tree.version} is the active version ({spec.install_dir}/"
                             "current points to it).", f"Activate another version first ({inst.command('activate VSN')}), "
                             "or pass --force to remove it anyway: current goes with it, and no version is active "
                             f"until {inst.command('activate VSN')}.")
        _refuse_while_running(inst, inst.running_from(tree))
        acts.append(RemoveTree(tree.path, f"NSO {tree.version}"))
        if tree.active:
            acts.append(Absent(f"{spec.install_dir}/current", "the link to the removed version"))
        kept += [d for d in (spec.config_dir, spec.run_dir, spec.log_dir) if _exists(inst, d)]
        return acts, kept, notes
    if not everything:
        raise UsageError("nothing-to-uninstall", "say what to remove: --ncs-version VSN or --all.",
                         f"{inst.command('uninstall --ncs-version VSN')} ({inst.command('status')} lists the "
                         "versions), or --all (with --config, --run-data, --logs, --service, --profile-scripts, "
                         "--accounts, or --purge for all of them).")
    # (a mistyped one removed nothing, yet forgot the install's activations)
    refusal = inst.not_the_recorded_dir("uninstall --all removes the recorded install and forgets its records")
    if refusal is not None:
        raise refusal
    _refuse_while_running(inst, [pid for pid, _ in inst.running])
    facts = Facts(inst.target)  # (the target's accounts read once, for every account judged below)
    acts.append(RemoveTree(spec.install_dir, "every installed version, current, packages/, installdirs", "--install-dir"))
    chosen = {
        "config": [RemoveTree(spec.config_dir, "configuration, encryption keys, IPC secret, host keys", "--config-dir")],
        "run_data": [RemoveTree(spec.run_dir, "CDB, packages in use, state, rollbacks, backups", "--run-dir")],
        "logs": [RemoveTree(spec.log_dir, "log files", "--log-dir")],
        "service": [Absent(UNIT_WANTS, "enable link of ncs.service"), Absent(UNIT, "systemd unit"),
                    Absent(SYSV_SCRIPT, "SysV init script"), Absent("/etc/tmpfiles.d/ncs.conf", "IPC socket "
                    "directory at boot"), RemoveTree("/run/ncs", "IPC socket directory")]
        + ([Absent(f"{spec.config_dir}/ncs.systemd.conf", "environment of the service")]
           if "config" not in parts else []),
        "profile_scripts": [Absent("/etc/profile.d/ncs.sh", "environment for login shells (sh)"),
                            Absent("/etc/profile.d/ncs.csh", "environment for login shells (csh)"),
                            Absent("/etc/logrotate.d/ncs", "log rotation")],
        # what the deleted accounts own in the directories kept is given to root first; then
        # memberships it added to accounts it did not create go, so that a group it created
        # is left empty and can go too (userdel takes a deleted user's own along)
        "accounts": (_disown_kept(inst, parts, facts) if "accounts" in parts else []) + _account_removals(inst, facts),
    }
    # an administrator's mask (systemctl mask ncs: ncs.service -> /dev/null; a tmpfiles.d entry
    # likewise) is the administrator's decision, not nso-install's file: kept, said as a mask
    admin_masks = [a.path for a in chosen["service"] if a.fs and masked(facts.path(a.path))]
    chosen["service"] = [a for a in chosen["service"] if a.path not in admin_masks]
    kept += [f"{p} (masked: a link to /dev/null, the administrator's; not removed)" for p in admin_masks]
    for part in PARTS:
        if part in parts:
            acts += chosen[part]
        else:
            # what is there to keep: not a SysV script of a systemd install, nor a unit of none
            kept += [f"{a.path} ({a.reason})" for a in chosen[part] if not a.fs or _exists(inst, a.path)]
    # about RUN_DIR only while it is there (a re-run after --purge said its backups were removed)
    if _exists(inst, spec.run_dir):
        if "run_data" not in parts:
            notes.append(f"{spec.run_dir} is kept, with CDB and its backups/; remove it with --run-data.")
            notes += _packages_left_dangling(inst, facts)
        elif facts.listdir(f"{spec.run_dir}/backups"):  # (an empty one holds nothing to warn of)
            notes.append(f"{spec.run_dir} held backups/ (ncs-backup archives): they are removed with it.")
    if "service" not in parts:
        # INSTALL_DIR goes, the service stays: started at boot, it fails there every time.  (The
        # commands aim where this run looked: under --root, bare ones act on the host's service;
        # update-rc.d and chkconfig have no such option.)
        staged = inst.target.staged
        again = f"Remove the service files with --service ({inst.command('uninstall --all --service')})"
        if _exists(inst, UNIT_WANTS) and UNIT not in admin_masks:  # (a masked unit starts nothing)
            disable = aim_systemctl("systemctl disable ncs", str(inst.target.root) if staged else None)
            notes.append(f"ncs.service stays enabled ({UNIT_WANTS}) with {spec.install_dir} gone: it fails at "
                         f"every boot. {again}, or run {disable}.")
        if _exists(inst, SYSV_SCRIPT):
            notes.append(f"{SYSV_SCRIPT} stays with {spec.install_dir} gone: where it is enabled, it fails at every "
                         f"boot. {again}" + ("." if staged else ", or run update-rc.d ncs remove (chkconfig --del "
                                             "ncs)."))
    if "accounts" in parts and not inst.state.created_accounts:
        notes.append("nso-install recorded no account of its own creation: none deleted.")
    return acts, kept, notes


def _packages_left_dangling(inst: Installation, facts: Facts) -> list[str]:
    """A note naming the packages in RUN_DIR/packages that are links into INSTALL_DIR (NSO's
    upgrade guide links them to INSTALL_DIR/packages/ncs-VSN-*): ``--all`` removes what they
    lead to while RUN_DIR, said to keep the packages in use, is kept, and ``ncs-backup`` does not
    save INSTALL_DIR/packages (Upgrade, step 1), so nothing else has a copy."""
    spec = inst.spec
    packages = f"{spec.run_dir}/packages"
    found = []
    for name in facts.listdir(packages):
        fact = facts.path(f"{packages}/{name}")
        if fact.link is not None and inside(os.path.normpath(os.path.join(packages, fact.link)), spec.install_dir):
            found.append(name)
    if not found:
        return []
    return [f"{packages} holds links into {spec.install_dir}, which is removed: {', '.join(found[:10])}"
            + (f" and {len(found) - 10} more" if len(found) > 10 else "") + " would lead nowhere, and NSO would not "
            f"load them at its next start. ncs-backup does not save {spec.install_dir}/packages: copy what they lead "
            "to first if you may need it again."]


def _disown_kept(inst: Installation, parts: set[str], facts: Facts) -> list[Action]:
    """The files of the accounts and groups nso-install deletes, in the directories it keeps
    (the keys are root:ncsadmin, CDB and logs the NSO account's): given to root first, or a
    later account or group given the same number would own them."""
    spec = inst.spec
    acc = facts.accounts
    ours = [a for a in inst.state.created_accounts if not _not_ours(inst, a, acc)]
    users = sorted(a.partition(":")[2] for a in ours if a.startswith("user:"))
    groups = {a.partition(":")[2] for a in ours if a.startswith("group:")}
    for u in users:  # a user's own group goes with it (userdel, USERGROUPS_ENAB)
        entry = acc.users.get(u)
        group = acc.groups.get(u)
        if entry is not None and group is not None and group.gid == entry.gid:
            groups.add(u)
    kept = [d for part, d in (("config", spec.config_dir), ("run_data", spec.run_dir), ("logs", spec.log_dir),
                              ("service", IPC_RUNTIME_DIR)) if part not in parts]
    if not (users or groups):
        return []
    # A deleted user is the account NSO ran as: it could write its directories and made what is
    # in them.  Handed over as they are (TakeOver), its 0777 directory, or packages/ it made
    # writable by all, became root's with the same mode, and the code it put in packages/ and
    # scripts/ root's as well, for an NSO re-installed to run as root to load unreviewed.  So it
    # gets what a change of run-as user gives it (Reown): write bits dropped, files copied, links
    # and that code moved aside for review; the groups' files are then handed over as before.
    own_groups = {u for u in users if u in groups}
    acts: list[Action] = [Reown(d, u, "root", "root", f"kept, and {u} (NSO's account) is deleted below: what it "
                                "made goes to root, write bits dropped, its code and links set aside for review",
                                quarantine=RUN_DIR_QUARANTINE if d == spec.run_dir else (), itself=True)
                          for d in dict.fromkeys(kept) for u in users]
    # a group someone gave members since (an administrator in ncsadmin) is kept below
    # (NoAccount): its files stay its own, for the members it keeps, not root's
    leaving = tuple(_leaving(inst, acc))
    rest = sorted(g for g in groups - own_groups
                  if g not in acc.groups or not members_left(facts, acc.groups[g], leaving))
    if rest:
        acts += [TakeOver(d, (), tuple(rest), "root", "root",
                          "kept, and its groups are deleted below: root's, not a number a later group may get")
                 for d in dict.fromkeys(kept)]
    return acts


def _exists(inst: Installation, path: str) -> bool:
    return Facts(inst.target).path(path).kind != ABSENT


def _not_ours(inst: Installation, account: str, acc) -> str:
    """Why the account now named as one nso-install created ("user:NAME", "group:NAME") is not
    that account, or "": deleted and made again since under the name (userdel nso; useradd nso,
    a person's account now), it has another uid or gid than it was created with, or a login
    shell, which nso-install never gives (records from before the ids were kept have only that).
    Deleting it, or giving its files to root, would hit whoever has the name now.  ``acc``: the
    target's accounts (:attr:`Facts.accounts`, read once for every account judged)."""
    kind, _, name = account.partition(":")
    now = acc.users.get(name) if kind == "user" else acc.groups.get(name)
    if now is None:
        return ""
    number = now.uid if kind == "user" else now.gid
    made = inst.state.created_ids.get(account)
    if made is not None and number != made:
        return f"its {'uid' if kind == 'user' else 'gid'} is {number}, not {made}, the one nso-install created it with"
    if kind == "user" and now.shell not in NOLOGIN_SHELLS:
        return f"it has the login shell {now.shell or '(none)'}, which nso-install never gives an account it creates"
    return ""


def _withdrawn(inst: Installation) -> list[tuple[str, str]]:
    """The memberships uninstall --accounts withdraws: those it added to accounts it did not create."""
    state = inst.state
    return [(u, g) for u, g in sorted(state.memberships) if f"user:{u}" not in state.created_accounts]


def _leaving(inst: Installation, acc) -> list[str]:
    """What the plan removes before it deletes its groups (as :class:`NoAccount` counts it):
    the memberships withdrawn (``NAME@GROUP``), then the users it created and deletes (``NAME``)."""
    users = [a.partition(":")[2] for a in sorted(inst.state.created_accounts)
             if a.startswith("user:") and not _not_ours(inst, a, acc)]
    return [f"{u}@{g}" for u, g in _withdrawn(inst)] + users


def _account_removals(inst: Installation, facts: Facts) -> list[Action]:
    """Withdraw the memberships nso-install added to accounts it did not create, then delete the
    users it created, then its groups: a group left empty by the earlier steps can go too
    (userdel takes a deleted user's own group along when login.defs says USERGROUPS_ENAB).
    Each deletion is told what the plan removes before it, so that --check predicts the run.
    An account made again under a created one's name (:func:`_not_ours`) is kept, its record dropped."""
    state = inst.state
    acts: list[Action] = [Membership(u, g, reason="membership added by nso-install") for u, g in _withdrawn(inst)]
    leaving = [m.path for m in acts]
    acc = facts.accounts
    for a in sorted(state.created_accounts, key=lambda a: (a.startswith("group:"), a)):
        not_ours = _not_ours(inst, a, acc)
        acts.append(NoAccount(a, "created by nso-install", tuple(leaving), not_ours))
        if a.startswith("user:") and not not_ours:
            leaving.append(a.partition(":")[2])
    return acts


def _refuse_while_running(inst: Installation, pids: list[int]) -> None:
    if pids:
        raise UsageError("nso-running", f"NSO runs from what would be removed (pid {', '.join(map(str, pids))}).",
                         "Stop NSO first (systemctl stop ncs, or /etc/init.d/ncs stop), then re-run.")


def uninstall(inst: Installation, *, version: str | None = None, everything: bool = False,
              parts: set[str] = frozenset(), force: bool = False, check: bool = False,
              lock_timeout: float = 0.0) -> Removal:
    where = f" (staging root {inst.target.root})" if inst.target.staged else ""
    header = f"nso-install: uninstall {'NSO ' + version if version else 'the whole install (--all)'}{where}"
    if check:
        return _uninstall(inst, version, everything, parts, force, True, header)
    if inst.target.staged and os.geteuid() == 0:
        from ..target import check_staging_root

        # as install checks it: root removes, hands over and runs userdel --prefix there
        check_staging_root(inst.target.root)
    plan_removal(inst, version, everything, set(parts), force)  # refusals come before the lock is waited for
    with locked(inst.target, inst.state.path, True, lock_timeout):
        # decided again under the lock, on the install and state as they are now: decided before,
        # a run waiting for the lock (--lock-timeout) removed the version another run had just
        # activated meanwhile, leaving current dangling, and saved the state it had read before,
        # which undid that run's records (its conffiles, manifests, activations)
        return _uninstall(inst.again(), version, everything, parts, force, False, header)


def _uninstall(inst: Installation, version: str | None, everything: bool, parts, force: bool, check: bool,
               header: str) -> Removal:
    acts, kept, notes = plan_removal(inst, version, everything, set(parts), force)
    # what a run killed while writing nso-install's records left (a temp copy of state.json):
    # install removes it; an uninstall whose re-run completes the killed one must as well
    acts += leftovers_action([], own_dirs(os.path.dirname(inst.spec.state_path)))
    state = inst.state
    ctx = Context(inst.target, state.conffiles, trusted=state.unpacked, manifest=state.manifest)
    # A run killed half way left its marker (in-progress.json), which makes status and verify ask
    # for a re-run "to complete it", and which an install takes its options from when none are
    # recorded (after --purge): --all removes what that run installed, so it is abandoned here;
    # left in place, a later plain install brought back the purged options (--run-as-user...).
    unfinished = state.unfinished()
    # (an uninstall's own marker is not abandoned: this run completes it, or it stays for its re-run)
    abandoned = everything and version is None and unfinished is not None and unfinished.get("command") != "uninstall"
    if abandoned:
        notes.append(f"an earlier nso-install run did not finish; {'it would be' if check else 'it was'} abandoned "
                     "(--all removes what it installed): no later run completes it or takes its options.")
    if check:
        # the notes too: the preview must warn as the run does (that RUN_DIR's backups go with it)
        report = evaluate(acts, ctx)
        report.notes.extend(notes)
        return Removal(report, kept, notes, header)
    # (the same uninstall, with every part it was given: given fewer, it does not complete that one)
    same = (unfinished or {}).get("command") == "uninstall" and unfinished.get("version") == version \
        and unfinished.get("all") == everything and isinstance(unfinished.get("parts"), list) \
        and set(unfinished["parts"]) <= set(parts)
    # the marker is this run's to write and remove only where no other run's is (or this one
    # completes or abandons it): another's (an install killed half way, the uninstall of another
    # version) stays for its own re-run, which status and verify still ask for
    ours = unfinished is None or abandoned or same
    begun = []

    def before(action, outcome) -> None:
        # marked as under way from its first removal: one killed half way leaves a tree with
        # files missing, which verify and status would otherwise call damaged ("re-run install
        # to repair") where re-running the uninstall completes what the operator asked for
        if not begun and ours:
            # (--force too: killed before the active tree lost its VERSION, a re-run without it is
            # refused as removing the active version)
            state.begin_run({"command": "uninstall", "version": version, "all": everything, "parts": sorted(parts),
                             "install_dir": inst.spec.install_dir, **({"force": True} if force else {}),
                             **({"root": str(inst.target.root)} if inst.target.staged else {})})
            begun.append(True)

    preflight(acts, ctx)  # its refusals before anything is removed (a hand-over's: the account still running)
    report = apply(acts, ctx, lambda e: record_effects(state, e), before=before)  # (under the lock: uninstall above)
    removed = [r.action.path for r in report.records if r.changed]
    # what a run killed after removing it (before recording that) removed is gone as well:
    # its records go now, or they stayed for good (the re-run found nothing left to remove)
    gone = removed + [r.action.path for r in report.records if not r.changed
                      and isinstance(r.action, (RemoveTree, Absent)) and not _exists(inst, r.action.path)]
    _forget(inst, gone, version is None and everything)
    if inst.spec.config_dir in gone:
        state.data.pop("keys", None)  # (its rotation record must not outlive the keys file it describes)
    if "config" in parts and "run_data" in parts and "accounts" in parts:
        state.data = {"conffiles": {}}  # purged: nothing of the install is left to remember
    state.save()
    if report.changes:
        state.append_history({"uninstall": {"version": version, "all": everything, "parts": sorted(parts)},
                              "changed": [{"id": r.action.id} for r in report.records if r.changed],
                              "kept": kept, "notes": notes})
    if begun or abandoned or same:  # (each implies ours: begun is only where ours)
        state.end_run()  # everything is recorded (a save that failed above left the marker for the re-run)
    if any(p.startswith("/etc/systemd/") for p in removed) and not inst.target.staged:
        from ..services import daemon_reload, systemd_running

        if systemd_running():
            problem = daemon_reload()
            notes.append(f"could not reload systemd: {problem}" if problem else "ran systemctl daemon-reload")
    report.notes.extend(notes)
    return Removal(report, kept, notes, header)


def _interrupted(inst: Installation, version: str) -> bool:
    """The run marker is an uninstall of ``version`` (as typed) that did not finish."""
    info = inst.state.unfinished() or {}
    return info.get("command") == "uninstall" and info.get("version") == version


def _half_removed(inst: Installation, version: str) -> Lost | None:
    """The recorded tree the interrupted uninstall of ``version`` was removing that is no longer
    found as installed (no VERSION, or gone with its record still there), else None."""
    found = {t.path for t in inst.trees}
    name = version.rstrip("/")
    return next((t for t in inst.lost() if t.path not in found
                 and name in (t.version, t.path, PurePosixPath(t.path).name)), None)


def inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def _forget(inst: Installation, removed: list[str], everything: bool) -> None:
    """Records of what is gone: manifests and digests of removed trees, removed conffiles."""
    state = inst.state
    for tree in state.recorded_trees():  # also one that had lost its VERSION: gone with INSTALL_DIR
        if tree in removed or (everything and inst.spec.install_dir in removed and inside(tree, inst.spec.install_dir)):
            state.drop_manifest(tree)
    for path in list(state.conffiles):
        if any(path == r or path.startswith(r.rstrip("/") + "/") for r in removed):
            state.conffiles.pop(path)
    if "kept" in state.data:
        state.data["kept"] = [p for p in state.kept
                              if not any(p == r or p.startswith(r.rstrip("/") + "/") for r in removed)]
    if everything and inst.spec.install_dir in removed:
        state.data.pop("activations", None)

