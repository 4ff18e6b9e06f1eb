"""``NSO-USER``: NSO runs as an unprivileged account (ncs-installer(1) ``--run-as-user``; NSO's
Secure Deployment guidance: run NSO as non-root)."""

from __future__ import annotations

import re

from ...actions.accounts import NOLOGIN_SHELLS, PRIVILEGED_GROUPS
from ...facts import FILE
from .. import unitfiles
from ..context import SYSV_SCRIPT, UNIT
from ..model import failed, verdict
from ..registry import check


@check("NSO-USER-001", "NSO runs as an unprivileged account", "high",
       "Run NSO as a dedicated service account: nso-install install DIST --system-install --run-as-user nso "
       "(an account with no login shell, not uid 0, in no group with host-wide power).",
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
    if entry.shell not in NOLOGIN_SHELLS:
        evidence.append(f"{user} has a login shell ({entry.shell}); a service account needs none")
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
    return verdict(problems, f"NSO runs as {user} (uid {entry.uid})", f"the account NSO runs as ({user}) is "
                   "privileged or not the one its service starts it as", evidence, judged)


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

