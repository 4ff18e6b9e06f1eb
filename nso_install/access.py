"""Who may use NSO besides root and NSO's own account: IPC grants, NACM groups, the PAM service.

* **IPC grants** (``--ipc-user``, ``--ipc-group``, ``ipc.users``/``ipc.groups``).  On the Unix
  IPC socket NSO admits root and its own uid unchecked; any other uid only when
  ``/aaa/authentication/users/user`` has an entry with that ``uid`` and ``local_ipc_access
  true`` (NSO Administration Guide, AAA Infrastructure, "UID-based Authentication for Unix
  Sockets": nso-gitbook ``administration/management/aaa-infrastructure.md``).
  :func:`resolve_ipc` turns the granted names into such entries, with uid, gid and home from
  the target's own account database (under ``--root`` the staged ``/etc/passwd``); the plan
  seeds them into ``aaa_init.xml`` and makes the socket directory reachable by exactly those
  accounts, through the group :data:`IPC_GROUP`.
* **NACM groups** ``ncsadmin``/``ncsoper`` exist on every system install whose account
  database nso-install may change (:func:`target_facts`).
* **PAM**: the profile's service (``system-auth``) is replaced by its Debian-family
  counterpart (``common-auth``) when only that one exists on the target (:func:`pam_choice`);
  a service the target lacks is warned about by :class:`nso_install.actions.accounts.PamService`.

Pure apart from :func:`target_facts`, which reads the target through :class:`Facts`.
Reasons and sources: docs/security.md ("IPC access for operators", "NACM groups", "PAM").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .actions.accounts import ADMIN_GROUP, IPC_GROUP, OPER_GROUP, pam_services
from .conf.aaa import aaa_users
from .conf.values import ACCOUNT_NAME
from .errors import NsoInstallError, UsageError, sh
from .facts import FILE, Accounts, Facts, UserEntry
from .record import record

if TYPE_CHECKING:
    from .engine import Report
    from .spec import InstallSpec

NACM_GROUPS = (ADMIN_GROUP, OPER_GROUP)
# CDB's data files: with none, NSO loads cdb/*.xml (System Management guide, "NSO Fails to Start")
CDB_FILES = ("A.cdb", "C.cdb", "O.cdb", "S.cdb")
# The production profile's PAM service and its counterpart on the other OS family: NSO's system
# install uses system-auth (Secure Deployment), which RHEL has; Debian and Ubuntu have common-auth.
PAM_COUNTERPART = {"system-auth": "common-auth", "common-auth": "system-auth"}
INT32_MAX = 2**31 - 1  # tailf-aaa's uid and gid are int32
GRANT_HINT = ("Create the account first, or take it out of the grants: give --ipc-user/--ipc-group again with the "
              "others (the list replaces the recorded one), --no-ipc-user / --no-ipc-group, or --unset ipc.users / "
              "--unset ipc.groups.")


@record(frozen=True)
class IpcGrant:
    """One account granted the IPC socket: its aaa_init.xml entry."""

    name: str
    uid: int
    gid: int
    home: str
    via: str  # "--ipc-user" or "group GROUP"


@record(frozen=True)
class IpcAccess:
    """Who may reach NSO's IPC port: the grants, the socket directory managed, the members left out."""
    grants: tuple[IpcGrant, ...] = ()
    socket_dir: str | None = None  # the socket directory nso-install manages (None: not managed)
    left_out: tuple[str, ...] = ()  # group members not granted, and why

    @property
    def memberships(self) -> set[tuple[str, str]]:
        """(user, IPC_GROUP) for every grant: how the socket directory lets them through."""
        return {(g.name, IPC_GROUP) for g in self.grants} if self.socket_dir else set()


def _unusable(u: UserEntry, run_uid: int | None) -> str | None:
    """Why the account cannot get an aaa_init.xml entry, or None."""
    if not ACCOUNT_NAME.fullmatch(u.name):
        return "not a portable account name"
    if u.uid == 0:
        return "it has uid 0, which NSO admits without any entry"
    if run_uid is not None and u.uid == run_uid:
        return "it has the uid of NSO's own account, which NSO admits without any entry"
    if not (0 <= u.uid <= INT32_MAX and 0 <= u.gid <= INT32_MAX):
        return f"its uid {u.uid} or gid {u.gid} does not fit tailf-aaa's int32 uid/gid"
    if not u.home.startswith("/") or any(ord(c) < 32 or ord(c) == 127 for c in u.home):
        return ("it has no absolute home directory in /etc/passwd (tailf-aaa's homedir is mandatory; NSO's CLI "
                "confines file commands to it)")
    return None


def resolve_ipc(spec: "InstallSpec", accounts: Accounts | None, transport: str,
                socket_dir: str | None) -> IpcAccess:
    """The IPC grants of ``spec`` as entries for aaa_init.xml: explicit users must exist and be
    usable (else a UsageError naming the account); members of granted groups (their
    supplementary members and the accounts whose primary group it is) that cannot be granted
    are left out with the reason, and so are root and NSO's own account (always admitted)."""
    users, groups = spec.ipc_users, spec.ipc_groups
    if not (users or groups):
        return IpcAccess(socket_dir=socket_dir)
    if transport != "unix":
        raise UsageError("ipc-grants-need-unix-socket",
                         "IPC grants (--ipc-user, --ipc-group) work on NSO's Unix IPC socket, which checks the "
                         "connecting uid; this install uses TCP IPC (ipc.transport=tcp, or NSO before 6.4), where "
                         "clients prove access with the shared secret instead.",
                         "Use Unix-socket IPC (NSO 6.4+, ipc.transport=unix), or withdraw the grants "
                         "(--no-ipc-user, --no-ipc-group) and give TCP clients the IPC secret (readable by "
                         f"members of {ADMIN_GROUP}).")
    acc = accounts or Accounts()
    run_uid = acc.uid(spec.run_as_user) if spec.run_as_user else None
    chosen: dict[str, IpcGrant] = {}
    left_out: list[str] = []
    for name in users:
        u = acc.users.get(name)
        if u is None:
            raise UsageError("unknown-ipc-user", f"IPC grant for user {name!r}: the target's /etc/passwd (under "
                             "--root, the staging root's) has no such account.", GRANT_HINT)
        problem = _unusable(u, run_uid)
        if problem:
            raise UsageError("unusable-ipc-user", f"IPC grant for user {name!r}: {problem}.", GRANT_HINT)
        chosen[name] = IpcGrant(name, u.uid, u.gid, u.home, "--ipc-user")
    for gname in groups:
        g = acc.groups.get(gname)
        if g is None:
            raise UsageError("unknown-ipc-group", f"IPC grant for group {gname!r}: the target's /etc/group (under "
                             "--root, the staging root's) has no such group.", GRANT_HINT)
        members = sorted(set(g.members) | {u.name for u in acc.users.values() if u.gid == g.gid})
        granted = 0
        for m in members:
            u = acc.users.get(m)
            if m in chosen:
                granted += 1
                continue
            if u is None:
                left_out.append(f"{m} (member of {gname}): not in the target's /etc/passwd, so its uid is unknown")
                continue
            if u.uid == 0 or (run_uid is not None and u.uid == run_uid):
                continue  # admitted anyway
            problem = _unusable(u, run_uid)
            if problem:
                left_out.append(f"{m} (member of {gname}): {problem}")
                continue
            chosen[m] = IpcGrant(m, u.uid, u.gid, u.home, f"group {gname}")
            granted += 1
        if not granted:
            left_out.append(f"group {gname} has no member to grant")
    by_uid: dict[int, list[str]] = {}
    for gr in chosen.values():
        by_uid.setdefault(gr.uid, []).append(gr.name)
    for uid, names in sorted(by_uid.items()):
        if len(names) > 1:
            raise UsageError("duplicate-ipc-uid", f"IPC grants for {' and '.join(sorted(names))} share uid {uid}; "
                             "NSO finds the entry of a connecting process by its uid alone, so the entries would be "
                             "ambiguous.", "Grant one name per uid (leave the aliases out).")
    return IpcAccess(tuple(sorted(chosen.values(), key=lambda g: g.name)), socket_dir, tuple(left_out))


def pam_choice(spec: "InstallSpec", default: str, services: frozenset[str] | None) -> str | None:
    """The PAM service to write instead of the profile's ``default``: its counterpart of the
    other OS family when the target has only that one (Debian: ``common-auth``, no
    ``system-auth``).  None: keep the default (it exists, cannot be checked, or neither does;
    the PamService action warns then).  A service the operator set is never replaced."""
    if "aaa.pam.service" in dict(spec.values) or services is None or default in services:
        return None
    other = PAM_COUNTERPART.get(default)
    return other if other in services else None


# --- what the plan needs to know about the target --------------------------------------------

def target_facts(facts: Facts, spec: "InstallSpec") -> dict:
    """TargetView fields about accounts, PAM and CDB (read-only)."""
    out: dict = {"pam_services": pam_services(facts)}
    if not spec.system:
        return out
    files = all(facts.path(p).kind == FILE for p in ("/etc/passwd", "/etc/group"))
    out["accounts"] = facts.accounts
    out["accounts_editable"] = files and not facts.target.unprivileged
    out["run_dir_uid"] = facts.path(spec.run_dir).uid
    cdb = f"{spec.run_dir}/cdb"
    try:
        out["cdb_initialized"] = any(facts.path(f"{cdb}/{n}").kind == FILE for n in CDB_FILES)
        text = facts.read(f"{cdb}/aaa_init.xml")
    except NsoInstallError:  # an unusable run directory is reported by the plan's own actions
        return out
    out["aaa_init_users"] = aaa_users(text.decode(errors="replace")) if text is not None else None
    return out


# --- what the operator should read ------------------------------------------------------------

def _changed(report: "Report", rec) -> bool:
    return rec.outcome.changed if report.mode == "check" else rec.changed


def run_notes(spec: "InstallSpec", view, ipc: IpcAccess, report: "Report") -> list[str]:
    """Notes about grants, memberships, the PAM service and the NACM groups for this run."""
    notes: list[str] = []
    if not spec.system:
        return notes + _pam_notes(report)
    if ipc.left_out:
        notes.append("IPC grants left out: " + "; ".join(ipc.left_out) + ".")
    if ipc.grants and ipc.socket_dir is None:
        notes.append("IPC grants: nso-install does not manage the directory of the IPC socket (ipc.path given, or "
                     "the development profile); every directory on the way to the socket must let the granted "
                     "accounts through (search permission), or NSO never sees them.")
    joined = sorted(a.action.user for a in report.records
                    if a.action.kind == "membership" and getattr(a.action, "present", False) and _changed(report, a))
    if joined:
        notes.append(f"{', '.join(joined)} {'would join' if report.mode == 'check' else 'joined'} group {IPC_GROUP}, which "
                     f"may enter {ipc.socket_dir}: a process has the groups of its login, so sessions already open "
                     f"need a new login (or sg {IPC_GROUP} -c CMD). Login shells get NCS_IPC_PATH from "
                     "/etc/profile.d/ncs.sh; cron jobs and other non-login shells must set it themselves "
                     f"(NCS_IPC_PATH={ipc.socket_dir}/nso-ipc in the crontab, or ncs_cli -S PATH).")
    aaa = next((r for r in report.records if r.action.path == f"{spec.run_dir}/cdb/aaa_init.xml"), None)
    if aaa is not None and _changed(report, aaa) and view.cdb_initialized:
        # (kept as edited: the grants are in the new rendering beside it, not in the kept file)
        notes.append(_cdb_note(spec, ipc, view.aaa_init_users or {},
                               aaa.action.new_path if aaa.outcome.conflict else None))
    if not spec.run_as_user and not view.accounts_editable:
        notes.append(f"NACM groups {' and '.join(NACM_GROUPS)} (aaa_init.xml) were not created: the target has no "
                     "/etc/passwd and /etc/group, or an ordinary user stages it. Create them "
                     f"on the system that runs NSO (groupadd --system {ADMIN_GROUP}; groupadd --system {OPER_GROUP}), "
                     "or run nso-install there as root, then put operators in them (usermod -a -G ncsadmin USER).")
    return notes + _pam_notes(report)


def _pam_notes(report: "Report") -> list[str]:
    """The PAM service chosen instead of the profile's, when ncs.conf is (to be) written."""
    if not any(r.action.path.endswith("/ncs.conf") and r.action.kind == "conffile" and _changed(report, r)
               for r in report.records):
        return []
    out = []
    for r in report.records:
        instead = getattr(r.action, "instead_of", None)
        if r.action.kind == "pam" and instead:
            out.append(f"PAM service {r.action.service} in ncs.conf instead of the profile's {instead}: the target "
                       f"has /etc/pam.d/{r.action.service} and no {instead} (set aaa.pam.service to choose).")
    return out


def cli_value(text: str) -> str:
    """``text`` as one value of an NSO CLI command: in double quotes (``\\`` and ``\"`` escaped)
    when it is empty or holds a blank or a character the CLI reads otherwise, else as it is."""
    if text and not any(c.isspace() or c in '"\\;!|#' for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cdb_note(spec: "InstallSpec", ipc: IpcAccess, before: dict, new: str | None = None) -> str:
    """aaa_init.xml changed on a target whose CDB exists: NSO does not read it again.  ``new``:
    the file was kept as edited, and this run's rendering, with the grants, went there."""
    aaa = f"{spec.run_dir}/cdb/aaa_init.xml"
    rendering = new or aaa
    added = [g for g in ipc.grants if before.get(g.name) != (g.uid, g.gid, True)]
    removed = sorted(n for n, (_, _, ipc_access) in before.items()
                     if ipc_access and n not in {g.name for g in ipc.grants})
    steps = []
    if added:
        steps.append("in the CLI as root (ncs_cli -C -u admin -g ncsadmin): " + "; ".join(
            f"aaa authentication users user {cli_value(g.name)} uid {g.uid} gid {g.gid} password $6$ ssh_keydir "
            f"\"\" homedir {cli_value(g.home)} local_ipc_access true" for g in added) + "; commit (or load the whole file: "
            f"ncs_load -l -m {sh(rendering)}, which also merges its NACM groups and rules)")
    if removed:
        # Not "the socket directory keeps them out": a process keeps the supplementary groups it
        # started with, so one of theirs started before this run still enters the directory (while
        # other grants keep it in group ncsipc), and NSO admits it by its CDB entry; and a program
        # a grantee made setgid ncsipc (chgrp and chmod g+s of its own file, allowed to any member)
        # gives that group to every process it starts later too, a new login or pkill aside.
        steps.append("withdrawn grants stay in CDB, and NSO admits these accounts, until removed: " + "; ".join(
            f"no aaa authentication users user {cli_value(n)}" for n in removed) + "; commit. Removing them is what "
            f"takes the access back: the socket directory does not keep these accounts out for sure (a process of "
            f"theirs started before keeps group {IPC_GROUP} until it ends, and a program one of them made setgid "
            f"{IPC_GROUP} while granted gives that group to what it starts from now on: find / -xdev -group "
            f"{IPC_GROUP} -perm -2000), and an open connection stays open, so end those too (" + ", ".join(
                # (shell-quoted: the names come from aaa_init.xml, which the NSO account owns and
                # may have filled with "x;cp /bin/sh ..." for root to paste)
                f"pkill -u {sh(n)}" for n in removed) + ")")
    changed = f"{aaa} was kept as edited, and its new rendering {new} changes the IPC grants" if new \
        else f"{aaa} changed"
    return (f"{changed}, but NSO reads it only when it creates CDB (while {spec.run_dir}/cdb has none of "
            f"{', '.join(CDB_FILES)}), and this CDB exists. To apply the change to the running configuration: "
            + ("; ".join(steps) if steps else "nothing to do for the IPC grants") + ".")
