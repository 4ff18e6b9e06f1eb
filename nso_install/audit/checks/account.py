"""``NSO-USER``: NSO runs as an unprivileged account (ncs-installer(1) ``--run-as-user``; NSO's
Secure Deployment guidance: run NSO as non-root)."""

from __future__ import annotations

import posixpath
import re

from ...actions.accounts import NOLOGIN_SHELLS, PRIVILEGED_GROUPS, password_state
from ...facts import FILE
from .. import unitfiles
from ..context import SYSV_SCRIPT, UNIT
from ..model import failed, verdict, warned
from ..registry import check


@check("NSO-USER-001", "NSO runs as an unprivileged account", "high",
       "Run NSO as a dedicated service account: nso-install install DIST --system-install --run-as-user nso "
       "(an account with no login shell and a locked password, not uid 0 and sharing its uid with no other "
       "account, in no group with host-wide power and named by no sudoers rule): passwd -l USER, "
       "usermod -s /usr/sbin/nologin USER.",
       "NSO Secure Deployment guidance (6.5): run NSO as non-root with --run-as-user")
def unprivileged(ctx):
    user = ctx.intent.run_as_user
    if not user:
        return failed("NSO runs as root (no run-as user recorded or found)",
                      [f"run-as user: none ({ctx.intent.user_source}); {ctx.shown(ctx.facts.path(ctx.spec.run_dir))}"])
    acc = ctx.accounts
    entry = acc.users.get(user)
    evidence = [f"run-as user {user} ({ctx.intent.user_source})"]
    if entry is None:
        return failed(f"the run-as user {user} does not exist in the target's /etc/passwd", evidence)
    problems = []
    evidence.append(f"{user}: uid {entry.uid}, group {ctx.group(entry.gid)}, shell {entry.shell}, home {entry.home}")
    if entry.uid == 0:
        problems.append(f"{user} has uid 0 (it is root)")
    if entry.gid == 0:
        problems.append(f"{user}'s primary group is root's (gid 0): it reads every group-readable root file")
    groups = sorted(g.name for g in acc.groups.values() if user in g.members or g.gid == entry.gid)
    power = [g for g in groups if g in PRIVILEGED_GROUPS and g != user]
    if power:
        problems.append(f"{user} is in {', '.join(power)}, which grant host-wide power")
    evidence.append(f"{user}'s groups: {', '.join(groups) or '(none)'}")
    twins = sorted(u.name for u in acc.users.values() if u.uid == entry.uid and u.name != user)
    if twins:
        problems.append(f"{', '.join(twins)} share{'s' if len(twins) == 1 else ''} uid {entry.uid} with {user}: "
                        "whoever logs in as one of them is NSO's account")
    password = password_state(ctx.facts, user)
    evidence.append(f"{user}'s password: {password}")
    if password.startswith("usable"):
        problems.append(f"{user} has a usable password in /etc/shadow: the account NSO runs as can be logged in to "
                        "(a service account's is locked: passwd -l)")
    problems += _sudoers(ctx, user, groups, entry.uid,
                         tuple(sorted({g.gid for g in acc.groups.values() if user in g.members or g.gid == entry.gid})))
    shell = entry.shell not in NOLOGIN_SHELLS
    if shell:
        evidence.append(f"{user} has a login shell ({entry.shell}); a service account needs none "
                        f"(usermod -s /usr/sbin/nologin {user})")
    unit = ctx.facts.path(UNIT)
    judged = []
    if ctx.intent.init_system == "systemd" and unit.kind == FILE:
        who, how = _unit_starts_as(ctx.unit)
        judged = [UNIT]
    elif ctx.intent.init_system == "sysv" and ctx.facts.path(SYSV_SCRIPT).kind == FILE:
        who, how = _sysv_starts_as((ctx.facts.read(SYSV_SCRIPT) or b"").decode(errors="replace"))
        judged = [SYSV_SCRIPT]
    if judged:
        # the service file decides, whatever the record says (an edited one may start NSO as root)
        if who not in (user, str(entry.uid)):
            problems.append(f"{judged[0]} starts NSO as {who}, not {user} ({how})")
        evidence.append(f"{judged[0]}: starts NSO as {who} ({how})")
    if shell and not problems:
        return warned(f"NSO runs as {user} (uid {entry.uid}), which has a login shell ({entry.shell})", evidence,
                      judged)
    return verdict(problems, f"NSO runs as {user} (uid {entry.uid})", f"the account NSO runs as ({user}) is "
                   "privileged, can be logged in to, or is not the one its service starts it as", evidence, judged)


SUDOERS = "/etc/sudoers"


_INCLUDE = re.compile(r"[@#](include|includedir)\s+(\S.*)")
_MAX_SUDOERS_FILES = 128  # (sudo itself stops at 128 nested includes)


def _sudoers(ctx, user: str, groups: list[str], uid: int | None = None, gids: tuple[int, ...] = ()) -> list[str]:
    """sudoers rules that name the account (by name or as #UID), a group it is in (%group,
    %#GID), or ALL: in /etc/sudoers, the files of /etc/sudoers.d, and every file an
    ``@include``/``#include`` or ``@includedir``/``#includedir`` line brings in (a path relative
    to the file naming it; in a directory, sudo's rule: no name ending in ``~`` or holding a dot).
    A user specification starts with the user, %group or a User_Alias; a line ending in a
    backslash goes on on the next."""
    names = {user, *(f"%{g}" for g in groups), "ALL", *((f"#{uid}",) if uid is not None else ()),
             *(f"%#{g}" for g in gids)}

    def directory(d: str) -> list[str]:
        return [f"{d.rstrip('/')}/{n}" for n in sorted(ctx.facts.listdir(d)) if not n.endswith("~") and "." not in n]

    seen: set[str] = set()
    aliases, out = set(), []

    def read(path: str) -> None:
        """One file, and each file it includes where the include line is (sudo's order: an
        alias defined there counts in the lines after it)."""
        if path in seen or len(seen) >= _MAX_SUDOERS_FILES:
            return
        seen.add(path)
        try:
            data = ctx.facts.read(path) if ctx.facts.path(path).kind == FILE else None
        except Exception:  # noqa: BLE001 - an unreadable file: said, not judged
            data = None
        text = (data or b"").decode(errors="replace").replace("\\\n", " ")
        for raw in text.splitlines():
            line = raw.strip()
            if include := _INCLUDE.fullmatch(line):
                target = posixpath.join(posixpath.dirname(path), include[2].strip())
                for each in directory(target) if include[1] == "includedir" else [target]:
                    read(each)
                continue
            if not line or (line.startswith("#") and not line[1:2].isdigit()) or line.startswith("Defaults"):
                continue  # (a comment; "#1001 ALL=..." is a user given by uid)
            first = line.split(None, 1)[0].rstrip(",")
            if first == "User_Alias":
                alias, _, members = line[len(first):].partition("=")
                if names & {m.strip() for m in members.split(",")}:
                    aliases.add(alias.strip())
                continue
            if {w.strip() for w in first.split(",")} & (names | aliases):
                out.append(f"{path} grants {first} sudo rights, which cover {user}")

    for path in [SUDOERS, *directory(f"{SUDOERS}.d")]:
        read(path)
    return out


def _unit_starts_as(unit: unitfiles.LoadedUnit) -> tuple[str, str]:
    """(the account ncs.service runs its main command as, why): ``User=`` (root without one),
    but for a command with the "+" or "!" prefix, which runs as root, unless it is the setpriv
    start nso-install writes (``!/usr/bin/setpriv --reuid=USER ...``: USER)."""
    user = unit.last("User")
    account = user.value if user else "root"
    start = unit.assigned("ExecStart")
    if not start:
        return account, "no ExecStart="
    command = start[-1].value
    prefix = unitfiles.exec_prefix(command)
    if "+" in prefix or "!" in prefix:
        words = command[len(prefix):].split()
        reuid = next((w.partition("=")[2] for w in words[1:] if w.startswith("--reuid=")), None)
        if words and words[0].endswith("/setpriv") and reuid:
            return reuid, f"ExecStart={command.split(' --', 1)[0]} --reuid={reuid} in {start[-1].source}"
        return "root", f"ExecStart={command.split()[0]}... runs as root ({prefix}) in {start[-1].source}"
    return account, f"User={account} in {user.source}" if user else "no User="


def _sysv_starts_as(text: str) -> tuple[str, str]:
    """(the account the SysV script nso-install writes starts NSO as, why): its ``RUN=`` line."""
    found = re.findall(r'^\s*RUN="runuser -u (\S+) --"\s*$', text, re.MULTILINE)
    if found:
        return found[-1], f'RUN="runuser -u {found[-1]} --"'
    return "root", 'no RUN="runuser -u USER --" line'

