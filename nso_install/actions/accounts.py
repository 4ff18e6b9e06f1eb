"""Accounts and authentication: the NACM groups ``ncsadmin``/``ncsoper``, the NSO service user,
the IPC group and its members (IPC grants), and the check of the PAM service ncs.conf names.

Accounts are created with the system's own shadow tools (``groupadd``, ``useradd``,
``usermod``) run through plumbum with argv lists, never shell strings.  With ``--root DIR``
they get ``--prefix DIR``, so they edit DIR/etc/passwd and DIR/etc/group without chroot
(shadow >= 4.9; Debian 12 ships 4.13).  ``check`` reads only ``Facts.accounts`` (the
target's own /etc/passwd and /etc/group); an existing account is never modified beyond
adding the user to the groups the plan asks for, and a conflicting one (uid 0, a login
shell, another home) is reported, not changed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import PurePosixPath
from typing import ClassVar

from ..errors import ApplyError, NsoInstallError, UsageError, sh
from ..facts import DIR, FILE, LINK, Facts
from ..record import record
from ..systools import system_tool
from .base import Action, Effects, change, ok

NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
NOLOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")
NOLOGIN = "/usr/sbin/nologin"
ADMIN_GROUP = "ncsadmin"
OPER_GROUP = "ncsoper"
IPC_GROUP = "ncsipc"  # the accounts granted NSO's IPC socket: the group of its directory (docs/security.md)
# Names that cannot be the run-as user: its own group must be "only the NSO account" (it may
# execute setuid epam and read the keys), so it cannot be a shared NACM group or nobody.
# ("users": every distribution's group of ordinary logins, gid 100, which adduser and homed may
# give every new account)
RESERVED_USERS = (ADMIN_GROUP, OPER_GROUP, IPC_GROUP, "nobody", "nogroup", "users")
# Groups that grant root-equivalent or host-wide access: the NSO account must be in none of
# them, and none may be its own group (an existing "disk" group would give NSO raw disks; Debian's
# "ssl-cert", a package's group above the static ones, reads every key in /etc/ssl/private).
PRIVILEGED_GROUPS = ("root", "sudo", "wheel", "admin", "adm", "shadow", "disk", "kmem", "mem", "staff", "docker",
                     "lxd", "libvirt", "kvm", "systemd-journal", "tty", "utmp", "sys", "bin", "daemon", "operator",
                     "video", "input", "audio", "plugdev", "netdev", "ssl-cert")
LOW_GID = 100  # groups below this are the distribution's static system groups


def validate_name(name: str, what: str = "user") -> str:
    """A portable POSIX user or group name (lower case, at most 32 characters), or UsageError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name.isdigit():
        raise UsageError(
            f"bad-{what}-name",
            f"{what} name {name!r} is not a portable name.",
            "Use 1-32 characters: a lower-case letter or '_' first, then lower-case letters, digits, '_' or '-'.")
    if what == "user" and name in RESERVED_USERS:
        raise UsageError(
            "reserved-user-name",
            f"{name!r} cannot be the account NSO runs as: its group would be shared, and that group may "
            "execute NSO's setuid and capability binaries and read its keys.",
            "Name a dedicated service account (for example nso).")
    return name


def password_state(facts: Facts, user: str) -> str:
    """"locked", "none", "usable (...)" or why it is not known, from the target's /etc/shadow;
    never any of the hash."""
    try:
        data = facts.read("/etc/shadow")
    except (NsoInstallError, OSError) as e:
        return f"unknown ({getattr(e, 'message', None) or e.strerror})"
    if data is None:
        return "unknown (no /etc/shadow)"
    for line in data.decode(errors="replace").splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            field = rest.split(":", 1)[0]
            if field.startswith(("!", "*")):
                return "locked"
            return "usable (empty: no password asked)" if field == "" else "usable (a hash is set)"
    return "unknown (no /etc/shadow entry)"


def find_tool(name: str):
    """A plumbum command for a shadow tool (system directories first)."""
    cmd = system_tool(name)
    if cmd is None:
        raise ApplyError("tool-missing", f"{name} is not installed; it is needed to create accounts.",
                         "Install the shadow tools (Debian: apt-get install passwd) and re-run.")
    return cmd


def run_tool(name: str, argv: list[str], what: str) -> None:
    from plumbum.commands.processes import ProcessExecutionError

    cmd = find_tool(name)
    try:
        cmd(*argv)
    except ProcessExecutionError as e:
        err = (e.stderr or e.stdout or "").strip().splitlines()
        raise ApplyError("account-tool-failed", f"{what}: {name} exited with {e.retcode}"
                         f"{': ' + err[-1] if err else ''}.",
                         "Fix the cause (see the message) and re-run.") from None


def _prefix(ctx) -> list[str]:
    if not ctx.target.staged:
        return []
    # The shadow tools open ROOT/etc/... by path, following links: the staging root, every
    # directory above it and its etc must be root's alone and real directories (checked with
    # lstat, right before the tool runs), or another account could point them at the host's /etc.
    etc = ctx.target.root / "etc"
    for d in [*reversed(ctx.target.root.parents), ctx.target.root, etc]:
        st = os.lstat(d)
        sticky_above = st.st_mode & stat.S_ISVTX and d not in (ctx.target.root, etc)
        if os.geteuid() == 0 and (not stat.S_ISDIR(st.st_mode) or st.st_uid != 0
                                  or (st.st_mode & 0o022 and not sticky_above)):
            raise ApplyError("unsafe-staging-root",
                             f"{d} is not a directory owned by root, or is writable by group/others; useradd "
                             "--prefix could be redirected outside the staging root.",
                             f"Make {d} a real directory, chown root {sh(d)} && chmod go-w {sh(d)}, then re-run.")
    return ["--prefix", str(ctx.target.root)]


def _require_account_files(facts: Facts, ctx, what: str) -> None:
    missing = [p for p in ("/etc/passwd", "/etc/group") if facts.path(p).kind != FILE]
    if missing:
        raise ApplyError(
            "no-account-files",
            f"{what}: the target{' staging root ' + str(ctx.target.root) if ctx.target.staged else ''}"
            f" has no {' or '.join(missing)}; accounts are created there with {('useradd --prefix' if ctx.target.staged else 'useradd')}.",
            "Stage onto a root file system that has etc/passwd and etc/group (for example an unpacked "
            "base image), or leave out --run-as-user.")


def _no_files_warning(facts: Facts) -> str | None:
    missing = [p for p in ("/etc/passwd", "/etc/group") if facts.path(p).kind != FILE]
    if missing:
        return (f"the target has no {' or '.join(missing)}; applying will fail until the account files exist "
                "(stage onto a base system that has them).")
    return None


def name_service_only(ctx, kind: str, name: str) -> None:
    """Refuse an account the host's name service (LDAP, NIS, SSSD...) has and its own files
    lack: groupadd and useradd look names up there and refuse to create it ("already exists"),
    only once the run had begun, while nso-install reads owners and members from /etc/passwd
    and /etc/group alone.  A staging root is not asked: useradd --prefix reads its files only."""
    if ctx.target.staged:
        return
    import grp
    import pwd

    try:
        number = pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid
    except KeyError:
        return
    files, tool = ("/etc/passwd", "useradd") if kind == "user" else ("/etc/group", "groupadd")
    raise UsageError(
        f"{kind}-from-name-service",
        f"{kind} {name} comes from the host's name service (LDAP, NIS, SSSD...: {'uid' if kind == 'user' else 'gid'} "
        f"{number}), not from {files}: {tool} refuses to create it, and nso-install reads owners and members from "
        f"{files} only.",
        ("Run NSO as a local account: name one the name service does not have (for example nso)."
         if kind == "user" else
         f"Add {name} to {files} with the same gid (vigr: {name}:x:{number}:), or remove it from the name service; "
         "then re-run."))


class _NeedsAccountFiles:
    """Account actions refuse a target without /etc/passwd and /etc/group (a staging root that
    is no base system), or a host without the shadow tools, before the run changes anything:
    found at their turn, the run had already begun (an unpack, its in-progress marker), and
    status then spoke of an unfinished run that had changed nothing."""

    tool: ClassVar[str]

    def preflight(self, facts: Facts, ctx) -> None:
        if self.check(facts, ctx).changed:
            _require_account_files(facts, ctx, f"{self.kind} {self.path}")
            find_tool(self.tool)


@record
class Group(_NeedsAccountFiles, Action):
    """A system group, created with ``groupadd --system`` when absent.  ``path`` is the name.

    ``private_to``: the group is meant for one user only (the run-as user's own group, which
    is allowed to execute the capability binaries and setuid helpers): other members are
    reported as a warning, never removed."""

    path: str
    reason: str = ""
    private_to: str | None = None
    # the members it should have (the IPC group): others are reported as a warning, never removed
    members: tuple[str, ...] | None = None
    kind: ClassVar[str] = "group"
    tool: ClassVar[str] = "groupadd"
    fs: ClassVar[bool] = False

    def _others(self, facts, g) -> str | None:
        if self.members is None:
            return None
        others = sorted({m for m in g.members if m not in self.members}
                        | {u.name for u in facts.accounts.users.values() if u.gid == g.gid and u.name not in self.members})
        if not others:
            return None
        return (f"group {self.path} has member(s) nso-install did not grant: {', '.join(others)}; they can reach "
                f"NSO's IPC socket directory (NSO still refuses a uid without an aaa entry). Remove them "
                f"(gpasswd -d USER {self.path}) or grant them (--ipc-user).")

    def check(self, facts, ctx):
        g = facts.accounts.groups.get(self.path)
        if g is None:
            name_service_only(ctx, "group", self.path)
            return change(f"create system group {self.path}", diff=f"+ group {self.path}",
                          warning=_no_files_warning(facts))
        if self.private_to and (g.name in PRIVILEGED_GROUPS or g.gid < LOW_GID):
            raise UsageError("privileged-nso-group",
                             f"group {self.path} already exists as a system group (gid {g.gid}); as the NSO account's "
                             "own group it would give NSO what that group grants on this host.",
                             "Name the run-as user after no existing group (for example nso).")
        if self.private_to:
            # another group of the same gid is the same group to the kernel: initgroups gives
            # its members that gid (and the name of the group itself is then only a label)
            same = [x for x in facts.accounts.groups.values() if x.gid == g.gid]
            others = sorted({m for x in same for m in x.members if m != self.private_to})
            others += sorted(u.name for u in facts.accounts.users.values()
                             if u.gid == g.gid and u.name != self.private_to)
            aliases = sorted(x.name for x in same if x.name != g.name)
            if aliases:
                raise UsageError(
                    "shared-nso-group",
                    f"group {self.path} shares its gid {g.gid} with the group(s) {', '.join(aliases)}"
                    f"{' (member(s): ' + ', '.join(others) + ')' if others else ''}: to the kernel they are one group, "
                    "whose members can execute the NSO account's setuid and capability binaries and read its keys.",
                    f"Give {self.path} a gid of its own, or run NSO as a dedicated account (for example nso, which "
                    "nso-install creates).")
            if others:
                raise UsageError(
                    "shared-nso-group",
                    f"group {self.path} also has the member(s) {', '.join(others)}; members of the NSO account's "
                    "group can execute its setuid and capability binaries and read its keys.",
                    f"Remove them from {self.path} (gpasswd -d USER {self.path}), or run NSO as a dedicated account.")
        return ok(f"group exists (gid {g.gid})", warning=self._others(facts, g))

    def apply(self, facts, ctx, outcome):
        _require_account_files(facts, ctx, f"group {self.path}")
        run_tool("groupadd", [*_prefix(ctx), "--system", self.path], f"creating group {self.path}")
        made = Facts(ctx.target).accounts.groups.get(self.path)
        return Effects(created={f"group:{self.path}"},
                       created_ids={f"group:{self.path}": made.gid} if made is not None else {})


@record
class User(_NeedsAccountFiles, Action):
    """The system account NSO runs as.  ``path`` is the user name.

    Created when absent: ``useradd --system --gid GROUP --home-dir HOME --no-create-home
    --shell /usr/sbin/nologin --groups G1,G2``.  An existing user is checked, not changed:
    uid 0 or one another account shares, the root group, a primary group other than its own
    ``group`` or a home another account can change is an error, a login shell or another home
    directory is a warning.  Missing
    supplementary group memberships are added with ``usermod --append --groups``."""

    path: str
    group: str
    home: str
    groups: tuple[str, ...] = ()
    reason: str = ""
    comment: str = "Cisco NSO"
    # the earlier NSO account(s) whose files this run hands to this one (plan.reown_actions),
    # and whether files of deleted accounts (bare uids) in RUN_DIR are taken over too: the home
    # ``home`` may still be theirs when this is checked, not when NSO starts
    handed_from: tuple[str, ...] = ()
    orphans: bool = False
    kind: ClassVar[str] = "user"
    tool: ClassVar[str] = "useradd"
    fs: ClassVar[bool] = False

    def _missing_groups(self, facts: Facts) -> list[str]:
        acc = facts.accounts
        u = acc.users.get(self.path)
        out = []
        for name in (self.group, *self.groups):
            g = acc.groups.get(name)
            if g is None:
                out.append(name)
            elif not (u and (u.gid == g.gid or self.path in g.members)):
                out.append(name)
        return list(dict.fromkeys(out))

    def _foreign_home(self, facts: Facts, u) -> tuple[str | None, str | None]:
        """(why an account other than root and ``u`` could change ``u``'s existing home directory
        -- it, or a directory above it, is another's or writable by others: a sticky one above
        is fine --, or None; a warning, or None).  A home that does not exist counts as far as
        it exists.  The home that is RUN_DIR, whose owner and mode the plan sets, is refused only
        for an owner the plan does not hand it over from: writable by others, it is a warning
        (its mode is repaired; what others may have put in it is not removed)."""
        home = PurePosixPath(os.path.normpath(u.home or "/"))
        if not home.is_absolute():
            return None, None
        chain = [*reversed(home.parents), home]
        for i, d in enumerate(chain):
            f = facts.path(d)
            if not f.exists:
                return None, None
            managed = d == home == PurePosixPath(os.path.normpath(self.home))
            if f.uid not in (0, os.geteuid(), u.uid) and not (managed and self._handed_over(facts, f.uid)):
                # (an ordinary user's staging root is that user's)
                return f"{d} belongs to {facts.accounts.user_name(f.uid)}", None
            if f.kind != DIR:
                continue  # (a link's own mode means nothing; the path on is judged through it)
            sticky_above = f.mode & stat.S_ISVTX and i < len(chain) - 1
            if (f.mode & 0o002 or (f.mode & 0o020 and f.gid not in (0, u.gid))) and not sticky_above:
                who = 'others' if f.mode & 0o002 else 'group ' + facts.accounts.group_name(f.gid)
                if not managed:
                    return f"{d} is writable by {who}", None
                return None, (f"{d}, the home of {self.path}, is writable by {who}: its mode is repaired below; "
                              "what others may have put in it (.local/, .ssh/, .config/...) is not removed: "
                              "review it.")
        return None, None

    def _handed_over(self, facts: Facts, uid: int) -> bool:
        """Whether ``uid`` (the owner of RUN_DIR, this account's home) is an earlier NSO account
        whose files this plan gives to this one (or a deleted one's bare uid, when taken)."""
        names = {n for n in self.handed_from if n in facts.accounts.users}
        if uid in {facts.accounts.users[n].uid for n in names}:
            return True
        return self.orphans and uid not in {x.uid for x in facts.accounts.users.values()}

    def check(self, facts, ctx):
        acc = facts.accounts
        u = acc.users.get(self.path)
        if u is None:
            name_service_only(ctx, "user", self.path)
            detail = (f"create system user {self.path} (group {self.group}, home {self.home}, "
                      f"shell {NOLOGIN}{', member of ' + ', '.join(self.groups) if self.groups else ''})")
            return change(detail, diff=f"+ user {self.path}", warning=_no_files_warning(facts))
        if u.uid == 0:
            raise UsageError("run-as-user-is-root", f"user {self.path} exists with uid 0 (a root account).",
                             "Choose an unprivileged account for --run-as-user, or leave the option out to run as root.")
        # another name for the same uid is the same account to the kernel: it owns NSO's files
        # (keys, CDB) and may signal and trace NSO, whatever the checks below find for this name
        aliases = sorted(x.name for x in acc.users.values() if x.uid == u.uid and x.name != self.path)
        if aliases:
            raise UsageError("run-as-user-shared-uid",
                             f"user {self.path} shares its uid {u.uid} with the account(s) {', '.join(aliases)}: "
                             "to the kernel they are one account, which would own NSO's keys and CDB and could "
                             "signal and trace NSO.",
                             "Give the account a uid of its own, or run NSO as a dedicated account (for example nso, "
                             "which nso-install creates).")
        # (the shadow tools' commands aim at the staging root as nso-install runs them: bare,
        # usermod and groupadd change the host's accounts)
        prefix = f" --prefix {sh(facts.target.root)}" if facts.target.staged else ""
        if u.gid == 0:
            raise UsageError("run-as-user-root-group", f"user {self.path} exists with the primary group root (gid 0); "
                             "it could read every root:root file that is group-readable.",
                             f"Give the account its own primary group (usermod{prefix} -g GROUP), or choose another "
                             "account.")
        own = acc.groups.get(self.group)
        if own is None or u.gid != own.gid:
            # NSO's files are USER:USER and its group is private to it; an account whose primary
            # group is another (nogroup, users) runs NSO in that group under runuser and su (SysV
            # script, logrotate), so what NSO writes is that group's, shared with unrelated accounts
            shared = sorted(({x.name for x in acc.users.values() if x.gid == u.gid}
                             | {m for g in acc.groups.values() if g.gid == u.gid for m in g.members}) - {self.path})
            raise UsageError(
                "run-as-user-foreign-group",
                f"user {self.path} exists with the primary group {acc.group_name(u.gid)} (gid {u.gid}), not its own "
                f"group {self.group}{'; that group also holds ' + ', '.join(shared[:5]) if shared else ''}: NSO "
                "started as it (runuser, su) would run in that group and write its CDB and logs as that group's.",
                f"Give {self.path} its own primary group ({f'groupadd{prefix} --system {self.group} && ' if own is None else ''}"
                f"usermod{prefix} -g {self.group} {self.path}), or name a dedicated account (for example nso, which "
                "nso-install creates).")
        privileged = sorted(g.name for g in acc.groups.values()
                            if (self.path in g.members or g.gid == u.gid) and g.name in PRIVILEGED_GROUPS)
        if privileged:
            raise UsageError("privileged-run-as-user", f"user {self.path} is in the group(s) {', '.join(privileged)}, "
                             "which grant root-equivalent or host-wide access; NSO (and whoever controls it) would "
                             "have that too.", f"Remove {self.path} from them, or run NSO as a dedicated account.")
        foreign, home_warning = self._foreign_home(facts, u)
        if foreign:
            raise UsageError(
                "run-as-user-foreign-home",
                f"user {self.path} exists with the home directory {u.home}, and {foreign}: NSO runs with HOME={u.home} "
                "(systemd's User=, runuser), so another account could put there what NSO's programs read from "
                "their home (a Python program's ~/.local site-packages, for one).",
                f"Give {self.path} a home only it and root can change (usermod{prefix} -d {self.home} {self.path}), or "
                "run NSO as a dedicated account (for example nso, which nso-install creates).")
        warnings = [home_warning] if home_warning else []
        if u.shell not in NOLOGIN_SHELLS:
            warnings.append(f"user {self.path} exists with the login shell {u.shell or '(none)'}; "
                            f"left as is (a service account is safer with {NOLOGIN}).")
        password = password_state(facts, self.path)
        if password.startswith("usable"):
            what = "an empty password (none is asked)" if "empty" in password else "a password"
            warnings.append(f"user {self.path} exists with {what} in /etc/shadow: the account NSO runs as can be "
                            f"logged in to; left as is (lock it: usermod{prefix} -L {self.path}; nso-install audit "
                            "fails it, NSO-USER-001).")
        if os.path.normpath(u.home or "/") != os.path.normpath(self.home):
            warnings.append(f"user {self.path} exists with the home directory {u.home}, not {self.home}; left as is.")
        warning = " ".join(warnings) or None
        missing = self._missing_groups(facts)
        if missing:
            return change(f"add {self.path} to group(s) {', '.join(missing)}",
                          diff="\n".join(f"+ {self.path} in {g}" for g in missing), warning=warning)
        return ok(f"user exists (uid {u.uid}, groups as desired)", warning=warning)

    def apply(self, facts, ctx, outcome):
        _require_account_files(facts, ctx, f"user {self.path}")
        u = facts.accounts.users.get(self.path)
        if u is None:
            argv = [*_prefix(ctx), "--system", "--gid", self.group, "--home-dir", self.home, "--no-create-home",
                    "--shell", NOLOGIN, "--comment", self.comment]
            if self.groups:
                argv += ["--groups", ",".join(self.groups)]
            run_tool("useradd", [*argv, self.path], f"creating user {self.path}")
            made = Facts(ctx.target).accounts.users.get(self.path)
            return Effects(memberships_added={(self.path, g) for g in self.groups}, created={f"user:{self.path}"},
                           created_ids={f"user:{self.path}": made.uid} if made is not None else {})
        missing = self._missing_groups(facts)
        if missing:
            run_tool("usermod", [*_prefix(ctx), "--append", "--groups", ",".join(missing), self.path],
                     f"adding {self.path} to {', '.join(missing)}")
        return Effects(memberships_added={(self.path, g) for g in missing if g != self.group})


def usergroups_enab(facts: Facts) -> bool:
    """Whether the target's login.defs says ``USERGROUPS_ENAB yes``: then ``userdel USER``
    also deletes the group named USER (shadow reads PREFIX/etc/login.defs with --prefix; the
    last setting wins, "yes" in any case; without the file or the key it is off)."""
    text = facts.read("/etc/login.defs")
    value = ""
    for line in (text or b"").decode(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "USERGROUPS_ENAB":
            value = words[1].strip('"')
    return value.lower() == "yes"


def members_left(facts: Facts, group, leaving: tuple[str, ...]) -> set[str]:
    """The users still in ``group`` (members, and users whose primary group it is) once
    ``leaving`` is done: a deleted user (``NAME``) leaves every group, a withdrawn membership
    (``NAME@GROUP``) leaves the member list of its group."""
    deleted = {x for x in leaving if "@" not in x}
    withdrawn = {x.partition("@")[0] for x in leaving if x.endswith("@" + group.name)}
    primary = {u.name for u in facts.accounts.users.values() if u.gid == group.gid}
    return (primary - deleted) | (set(group.members) - deleted - withdrawn)


def takes_own_group(facts: Facts, user: str, leaving: tuple[str, ...] = ()) -> bool:
    """Whether ``userdel USER``, run after ``leaving``, deletes the group named USER too (shadow's
    remove_usergroup: USERGROUPS_ENAB yes, the group is the user's primary group, it keeps no
    other member and is no other user's primary group)."""
    acc = facts.accounts
    u, g = acc.users.get(user), acc.groups.get(user)
    if u is None or g is None or g.gid != u.gid or not usergroups_enab(facts):
        return False
    return not members_left(facts, g, (*leaving, user))


@record
class NoAccount(Action):
    """An account nso-install created, deleted again (uninstall): ``userdel``/``groupdel``.
    ``path`` is ``user:NAME`` or ``group:NAME``; a group still holding members is kept.

    ``leaving``: what the same plan removes before this action, in order: users it deletes
    (``NAME``) and memberships it withdraws (``NAME@GROUP``).  ``--check`` sees the accounts as
    they are before any of it, so a group counts its members without these, as the run finds it
    when its turn comes; and a user whose deletion takes its own group along (``userdel`` with
    USERGROUPS_ENAB) says so, the group then being left to it."""

    path: str
    reason: str = ""
    leaving: tuple[str, ...] = ()
    # why the account of that name is no longer the one nso-install created (made again since),
    # or "": it is kept, whoever has the name now, and only its record goes
    not_ours: str = ""
    kind: ClassVar[str] = "account"
    fs: ClassVar[bool] = False

    def _split(self) -> tuple[str, str]:
        kind, _, name = self.path.partition(":")
        return kind, name

    def check(self, facts, ctx):
        kind, name = self._split()
        acc = facts.accounts
        if self.not_ours:
            return ok(f"{kind} {name} kept: {self.not_ours}; not the account nso-install created, so not deleted "
                      f"({'userdel' if kind == 'user' else 'groupdel'} {name} if it should go)")
        if kind == "user":
            if name not in acc.users:
                return ok(f"no user {name}")
            if takes_own_group(facts, name, self.leaving):
                return change(f"delete user {name} and its group {name} (userdel: USERGROUPS_ENAB yes in "
                              "/etc/login.defs; its files stay)")
            return change(f"delete user {name} (its files stay)")
        g = acc.groups.get(name)
        if g is None:
            return ok(f"no group {name}")
        users = members_left(facts, g, self.leaving)
        if users:
            return ok(f"group {name} kept: still has member(s) {', '.join(sorted(users))}")
        if name in self.leaving and takes_own_group(facts, name, self.leaving[:self.leaving.index(name)]):
            return ok(f"group {name} goes with user {name} (userdel: USERGROUPS_ENAB yes in /etc/login.defs)")
        return change(f"delete group {name}")

    def settle(self, facts, ctx):
        kind, name = self._split()
        gone = name not in (facts.accounts.users if kind == "user" else facts.accounts.groups)
        return Effects(deleted={self.path}) if gone or self.not_ours else None  # (its record goes)

    def apply(self, facts, ctx, outcome):
        kind, name = self._split()
        _require_account_files(facts, ctx, self.path)
        run_tool("userdel" if kind == "user" else "groupdel", [*_prefix(ctx), name], f"deleting {kind} {name}")
        return Effects(deleted={self.path})


@record
class Membership(_NeedsAccountFiles, Action):
    """A supplementary group membership: added (``present=True``: ``usermod --append --groups``,
    recorded so that it can be taken back) or, one nso-install added for an earlier spec, taken
    back (``present=False``: ``usermod --remove --groups``).  ``path`` is ``USER@GROUP``.  The
    account's primary group counts as membership and is never added or removed."""

    user: str
    group: str
    present: bool = False
    reason: str = ""
    path: str = ""
    kind: ClassVar[str] = "membership"
    tool: ClassVar[str] = "usermod"
    fs: ClassVar[bool] = False

    def __post_init__(self):
        self.path = f"{self.user}@{self.group}"

    def _member(self, facts: Facts) -> bool:
        g = facts.accounts.groups.get(self.group)
        return g is not None and self.user in g.members

    def _primary(self, facts: Facts) -> bool:
        g, u = facts.accounts.groups.get(self.group), facts.accounts.users.get(self.user)
        return g is not None and u is not None and u.gid == g.gid

    def check(self, facts, ctx):
        if self.present:
            if self._member(facts) or self._primary(facts):
                return ok(f"{self.user} is a member of {self.group}")
            if self.user not in facts.accounts.users:
                raise ApplyError("unknown-user", f"membership {self.path}: user {self.user!r} does not exist on the "
                                 "target.", "Create the account first, or withdraw its grant.")
            later = "" if self.group in facts.accounts.groups else " (group to be created)"
            return change(f"add {self.user} to group {self.group}{later}", diff=f"+ {self.user} in {self.group}",
                          warning=_no_files_warning(facts))
        if self._member(facts):
            return change(f"remove {self.user} from group {self.group}", diff=f"- {self.user} in {self.group}")
        return ok(f"{self.user} is not a member of {self.group}")

    def settle(self, facts, ctx):
        if self.present:
            return None  # a membership someone else made is not ours to record (nor to take back)
        return Effects(memberships_removed={(self.user, self.group)})  # nothing left to withdraw

    def apply(self, facts, ctx, outcome):
        _require_account_files(facts, ctx, f"membership {self.path}")
        if self.present:
            run_tool("usermod", [*_prefix(ctx), "--append", "--groups", self.group, self.user],
                     f"adding {self.user} to {self.group}")
            return Effects(memberships_added={(self.user, self.group)})
        run_tool("usermod", [*_prefix(ctx), "--remove", "--groups", self.group, self.user],
                 f"removing {self.user} from {self.group}")
        return Effects(memberships_removed={(self.user, self.group)})


# --- PAM -------------------------------------------------------------------------------------

PAM_DIR = "/etc/pam.d"


def pam_services(facts: Facts) -> frozenset[str] | None:
    """The PAM services the target has: the entries of /etc/pam.d (files, or links such as
    RHEL's system-auth -> system-auth-ac), or without that directory the service names of
    /etc/pam.conf (Linux-PAM reads pam.conf only then, pam.d(5)); None when it has neither."""
    if facts.path(PAM_DIR).kind == DIR:
        return frozenset(n for n in facts.listdir(PAM_DIR) if facts.path(f"{PAM_DIR}/{n}").kind in (FILE, LINK))
    text = facts.read("/etc/pam.conf")
    if text is None:
        return None
    return frozenset(line.split()[0] for line in text.decode(errors="replace").splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))


@record
class PamService(Action):
    """The PAM service ncs.conf names (``aaa/pam/service``) exists on the target.  Checks only:
    a missing service is a warning on every run (Linux-PAM would fall back to the ``other``
    service: Debian's includes common-auth, RHEL's denies), never a change.  ``instead_of``:
    the profile's service this one replaced (see :func:`nso_install.access.pam_choice`)."""

    service: str
    reason: str = ""
    instead_of: str | None = None
    path: str = ""
    kind: ClassVar[str] = "pam"
    fs: ClassVar[bool] = False

    def __post_init__(self):
        self.path = f"{PAM_DIR}/{self.service}"

    def check(self, facts, ctx):
        svc = self.service
        fix = (f"Set aaa.pam.service to a service the target has (ls {PAM_DIR}): common-auth on Debian/Ubuntu, "
               f"system-auth on RHEL and its relatives; or create {PAM_DIR}/{svc}.")
        if "${" in svc:
            return ok(f"PAM service {svc} (substituted by NSO at start: not checked)")
        if "/" in svc or svc in (".", ".."):
            return ok(f"PAM service {svc!r}", warning=f"aaa.pam.service {svc!r} is not a PAM service name. {fix}")
        services = pam_services(facts)
        if services is None:
            return ok(f"PAM service {svc}: not checked", warning=(
                f"PAM service {svc} (ncs.conf aaa/pam/service) cannot be checked: the target has no {PAM_DIR} (nor "
                f"/etc/pam.conf). NSO's PAM logins need it where NSO runs. {fix}"))
        if svc not in services:
            return ok(f"PAM service {svc}: missing", warning=(
                f"PAM service {svc} (ncs.conf aaa/pam/service) does not exist on the target ({PAM_DIR}/{svc}); "
                f"Linux-PAM would use the 'other' service instead (Debian: common-auth; RHEL: deny). {fix}"))
        return ok(f"PAM service {svc} exists")

    def apply(self, facts, ctx, outcome):  # never called: check never asks for a change
        return None
