"""``NSO-PRIV``: setuid bits and file capabilities exactly where intended (ncs-installer(1)
``--run-as-user``; NSO's Secure Deployment and AAA Infrastructure pages for ``cmd*wrapper`` and
``epam``).

What is intended comes from the same definitions the install uses
(:func:`nso_install.actions.privileges.privileged_actions`): with a run-as user, ``epam`` setuid
root (and the ``cmd*wrapper``s with ``--setuid-cmdwrapper``) and the capability binaries,
each executable by NSO's own group only; without one, none.  Every installed tree is walked,
so a privilege anywhere else (or in the config, run and log directories) is found too.
"""

from __future__ import annotations

import stat
from pathlib import PurePosixPath

from ...actions.privileges import REMOVABLE, glob_target, privileged_actions
from ...capabilities import format_caps
from ...errors import NsoInstallError
from ...facts import FILE, caps_can_matter
from ..model import verdict
from ..registry import check
from .permissions import LIMIT, notable_real

PRIVS = "NSO installer's --run-as-user privileges (G-INST)"


def intended(ctx) -> tuple[dict[str, object], dict[str, object], list[str]]:
    """({path: attrs} of setuid files, {path: action} of capability files, evidence)."""
    user = ctx.intent.run_as_user
    group = ctx.group(ctx.user_gid) if user else None
    setuid, caps, evidence = {}, {}, []
    for tree in ctx.trees:
        inside = str(PurePosixPath(tree.path).parent) in (ctx.spec.install_dir, ctx.inst.real_dir)
        for action in privileged_actions(tree.path, tree.version, group if inside else None,
                                         ctx.intent.setuid_cmdwrapper):
            hits: list[str] = []
            for pattern in action.patterns:
                hits = glob_target(ctx.facts, tree.path, pattern)
                if hits:
                    break
            for real in hits:
                if action.attrs.mode & 0o6000:
                    setuid[real] = action.attrs
                if action.caps:
                    caps[real] = action
    evidence.append(f"intended: setuid on {len(setuid)} file(s), capabilities on {len(caps)} file(s) "
                    f"(run-as user {user or 'none'}, --setuid-cmdwrapper {'on' if ctx.intent.setuid_cmdwrapper else 'off'})")
    return setuid, caps, evidence


def _files(ctx):
    """(path, stat) of every notable regular file (setuid, with capabilities, not root's:
    ``ctx.notable``) in the trees and the config, run and log directories."""
    seen = set()
    for top in (ctx.spec.install_dir, ctx.spec.config_dir, ctx.spec.run_dir, ctx.spec.log_dir):
        for path, st, kind in notable_real(ctx, top):
            if kind == FILE and path not in seen:
                seen.add(path)
                yield path, st


def _attrs_problem(ctx, path: str, st, attrs) -> str | None:
    want_gid = ctx.accounts.gid(attrs.group) if attrs.group else 0
    mode = stat.S_IMODE(st.st_mode)
    if mode != attrs.mode or st.st_uid != 0 or st.st_gid != want_gid:
        return (f"{path}: {mode:04o} {ctx.user(st.st_uid)}:{ctx.group(st.st_gid)}, intended "
                f"{attrs.mode:04o} root:{attrs.group or 'root'}")
    return None


@check("NSO-PRIV-001", "setuid/setgid bits exactly where intended", "critical",
       "Re-run nso-install install with the distribution (it sets and withdraws them), or chmod u-s,g-s the files "
       "listed; a setuid file nobody installed may be a backdoor: find out where it came from.",
       f"{PRIVS}: epam setuid root with --run-as-user, cmdwrapper/cmdptywrapper only when asked; "
       "executable by NSO's group only (our inference)")
def setuid_bits(ctx):
    want, _, evidence = intended(ctx)
    problems, found = [], set()
    for path, st in _files(ctx):
        if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            found.add(path)
            if path not in want:
                problems.append(f"{path}: {stat.S_IMODE(st.st_mode):04o} {ctx.user(st.st_uid)}:"
                                f"{ctx.group(st.st_gid)} (not intended)")
            else:
                problem = _attrs_problem(ctx, path, st, want[path])
                if problem:
                    problems.append(problem)
    for path, attrs in sorted(want.items()):
        if path not in found:
            problems.append(f"{path}: no setuid bit (intended {attrs.mode:04o} root:{attrs.group})")
    evidence += [f"setuid/setgid: {p}" for p in sorted(found)][:LIMIT]
    return verdict(problems[:LIMIT], f"setuid on {len(found)} file(s), as intended",
                   "a setuid/setgid bit is missing, misplaced or executable by others", evidence,
                   sorted(found | set(want))[:LIMIT])


@check("NSO-PRIV-002", "File capabilities exactly where intended", "critical",
       "Re-run nso-install install with the distribution, or setcap -r the files listed (setcap "
       "cap_net_bind_service=ep ncs.smp for a missing one, mode 0750 root:NSOGROUP).",
       f"{PRIVS}: cap_net_bind_service on ncs/ncs.smp, cap_net_admin on ip, cap_net_raw on arping, execution "
       "restricted to the run-as user; no other capabilities are listed. A capability on a root-owned file "
       "without any execute bit is inert (only root could make it executable) and is not read")
def file_caps(ctx):
    _, want, evidence = intended(ctx)
    problems, found = [], set()
    for path, st in _files(ctx):
        if not caps_can_matter(st.st_mode, st.st_uid):
            continue  # inert: nobody but root can make it executable (not read: most files of a tree)
        try:
            have = ctx.facts.caps(path)
        except NsoInstallError as e:
            problems.append(f"{path}: {e.message}")
            continue
        if not have:
            continue
        found.add(path)
        action = want.get(path)
        if action is None:
            problems.append(f"{path}: {format_caps(have)} (not intended)")
            continue
        if have != action.caps:
            problems.append(f"{path}: {format_caps(have)}, intended {format_caps(action.caps)}")
        problem = _attrs_problem(ctx, path, st, action.attrs)
        if problem:
            problems.append(problem)
    for path, action in sorted(want.items()):
        removable = str(PurePosixPath(path).relative_to(action.vdir)) in REMOVABLE
        if path not in found and not (removable and not ctx.facts.path(path).exists):
            problems.append(f"{path}: no capabilities (intended {format_caps(action.caps)})")
    evidence += [f"{p}: {format_caps(ctx.facts.caps(p))}" for p in sorted(found)][:LIMIT]
    return verdict(problems[:LIMIT], f"capabilities on {len(found)} file(s), as intended",
                   "a file capability is missing, misplaced or executable by others", evidence,
                   sorted(found | set(want))[:LIMIT])
