"""``NSO-USER``: NSO runs as an unprivileged account (ncs-installer(1) ``--run-as-user``; NSO's
Secure Deployment guidance: run NSO as non-root)."""

from __future__ import annotations

import re

from ...actions.accounts import NOLOGIN_SHELLS, PRIVILEGED_GROUPS
from ...facts import FILE
from ..context import UNIT
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
    if ctx.intent.init_system == "systemd" and unit.kind == FILE:
        text = (ctx.facts.read(UNIT) or b"").decode(errors="replace")
        found = re.findall(r"^\s*User\s*=\s*(\S*)\s*$", text, re.MULTILINE)
        if (found[-1] if found else "root") not in (user, str(entry.uid)):
            problems.append(f"{UNIT} starts NSO as {found[-1] if found else 'root (no User=)'}, not {user}")
        evidence.append(f"{UNIT}: User={found[-1] if found else '(none)'}")
    return verdict(problems, f"NSO runs as {user} (uid {entry.uid})", f"the account NSO runs as ({user}) is "
                   "privileged", evidence, [UNIT] if unit.kind == FILE else [])
