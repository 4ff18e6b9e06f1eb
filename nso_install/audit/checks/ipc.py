"""``NSO-IPC-002``, ``NSO-IPC-003``: where NSO's IPC socket lives and who can reach NSO's IPC.

Whoever reaches NSO's IPC and passes its check controls NSO (NSO Administration Guide, IPC
Connection, "Restricting Access to the IPC Socket"; AAA Infrastructure, "UID-based Authentication
for Unix Sockets"):
on the Unix socket NSO admits root and its own uid unchecked and any other uid only with an
``/aaa/authentication/users/user`` entry of that uid with ``local_ipc_access``; the socket's
directory is the first gate.  On TCP, the shared secret of the access check is the gate.
"""

from __future__ import annotations

import os
import stat

from ...actions.accounts import ADMIN_GROUP
from ...conf.aaa import aaa_users
from ...conf.secure import ipc_override, unix_ipc
from ...facts import ABSENT, DIR, FILE
from ..model import failed, skipped, verdict
from ..registry import check

IPC_DOC = "NSO IPC guide and AAA guide (G-IPC, G-AAA)"
DEFAULT_SOCKET = "/tmp/nso/nso-ipc"


def unix_socket(ctx) -> tuple[str, str] | None:
    """(socket path, where it comes from) when NSO uses the Unix socket, else None (TCP IPC).
    NCS_IPC_PATH in NSO's environment turns the socket on at that path (ncs(1), "Environment")."""
    env = ipc_override(ctx.conf, "NCS_IPC_PATH")
    if env:
        return env, "NCS_IPC_PATH in NSO's environment (the unit, ncs.systemd.conf)"
    if not unix_ipc(ctx.conf):  # ncs-local-ipc off, or NCS_IPC_PORT in the environment (6.7+)
        return None
    return ctx.conf.value("ipc.path") or DEFAULT_SOCKET, ctx.conf.shown("ipc.path")


@check("NSO-IPC-002", "The IPC socket's directory can be made or changed by root and NSO's account only", "high",
       "Keep the socket in a directory of its own that root creates, such as /run/ncs (nso-install's production "
       "default, re-created at boot by tmpfiles.d), owned by NSO's account, mode 0750, in no world-writable "
       "directory.",
       f"{IPC_DOC}: the socket's file system permissions decide who can connect; who creates /tmp/nso is not "
       "documented, so any local account could make it first after a reboot", inferred=True)
def socket_dir(ctx):
    found = unix_socket(ctx)
    if found is None:
        return skipped("NSO uses TCP IPC (no socket directory)")
    path, how = found
    sdir = os.path.dirname(path.rstrip("/")) or "/"
    problems, evidence = [], [f"socket {path} ({how})"]
    cur = ""
    for part in [p for p in sdir.split("/") if p]:
        parent, cur = cur or "/", f"{cur}/{part}"
        pf = ctx.facts.path(parent)
        if pf.exists and (pf.mode or 0) & 0o002:
            problems.append(f"{parent} ({ctx.shown(pf)}) is world-writable: any local account can create or "
                            f"replace {cur} before NSO does")
            break
        f = ctx.facts.path(cur)
        if not f.exists:
            evidence.append(f"{cur}: absent (made by root or NSO when it starts)")
            break
        if f.kind != DIR:
            problems.append(f"{ctx.shown(f)}: not a directory")
            break
        owners = ctx.owner_names() if cur == sdir else {"root"}
        if ctx.user(f.uid) not in owners:
            problems.append(f"{ctx.shown(f)}: belongs to {ctx.user(f.uid)}")
        if (f.mode or 0) & 0o022:
            problems.append(f"{ctx.shown(f)}: writable by {'every local account' if f.mode & 0o002 else 'its group'}")
    evidence.append(ctx.shown(ctx.facts.path(sdir)))
    return verdict(problems, f"{sdir}: only root and NSO's account can change it", "the IPC socket's directory is "
                   "open to other accounts", evidence, [sdir])


def _allowed(ctx, transport: str) -> tuple[set[str], list[str]]:
    """Accounts meant to reach NSO's IPC: root, NSO's own, the IPC grants (Unix socket) or the
    members of ncsadmin (the readers of the TCP access secret: NSO's Deployment Example grants it to
    ncsadmin)."""
    allowed = ctx.owner_names()
    evidence = []
    if transport == "unix":
        granted = set(ctx.intent.ipc_users)
        for g in ctx.intent.ipc_groups:
            granted |= ctx.group_members(ctx.accounts.gid(g))
        if not ctx.inst.recorded:  # no record of the grants: NSO's own list is the intent
            granted |= {name for name, (_, _, ipc) in _aaa(ctx).items() if ipc}
        allowed |= granted
        evidence.append(f"granted: {', '.join(sorted(granted)) or 'nobody'} (besides root and NSO's account)")
    else:
        members = ctx.group_members(ctx.accounts.gid(ADMIN_GROUP))
        allowed |= members
        evidence.append(f"members of {ADMIN_GROUP}: {', '.join(sorted(members)) or 'none'}")
    return allowed, evidence


def _aaa(ctx) -> dict[str, tuple[int, int, bool]]:
    path = f"{ctx.spec.run_dir}/cdb/aaa_init.xml"
    if ctx.facts.path(path).kind != FILE:
        return {}
    return aaa_users((ctx.facts.read(path) or b"").decode(errors="replace")) or {}


@check("NSO-IPC-003", "Only root, NSO's account and the granted accounts can reach NSO's IPC", "critical",
       "Unix socket: make its directory NSO's account's, mode 0750, group its own (or ncsipc holding exactly the "
       "granted accounts: nso-install --ipc-user/--ipc-group), and remove aaa_init.xml/CDB users with "
       "local_ipc_access that were not granted, or whose uid is no longer their account's (re-run nso-install "
       "install; in CDB: aaa authentication users user NAME uid UID). TCP: turn the access check on and keep "
       "ipc_access readable by root:ncsadmin only.",
       f"{IPC_DOC}: no AAA check is made on the IPC port itself, whoever reaches it controls NSO; only uids with "
       "local_ipc_access are admitted on the Unix socket")
def who_reaches(ctx):
    found = unix_socket(ctx)
    if ctx.conf.root is None and found is None:
        return ctx.conf_unreadable()
    problems: list[str] = []
    if found is None:
        allowed, evidence = _allowed(ctx, "tcp")
        if not ctx.conf.on("/ncs-config/ncs-ipc-access-check/enabled"):
            return failed("TCP IPC without the access check: every local process can control NSO",
                          [ctx.conf.shown("ipc.access_check"), *evidence], [ctx.conf_path])
        path = ctx.conf_file("ipc.access_file", f"{ctx.spec.config_dir}/ipc_access")
        fact = ctx.facts.path(path)
        readers, everyone = ctx.readers(fact) if fact.exists else (set(), False)
        evidence.append(f"the access secret {ctx.shown(fact)} is readable by "
                        f"{'everyone' if everyone else ', '.join(sorted(readers)) or 'nobody'}")
        if everyone:
            problems.append(f"every local account can read the access secret {path}")
        if readers - allowed:
            problems.append(f"{', '.join(sorted(readers - allowed))} can read the access secret {path}")
        return verdict(problems, "TCP IPC with the access check; only intended accounts hold the secret",
                       "accounts beyond the intended ones can use NSO's IPC", evidence, [path])
    path, _ = found
    allowed, evidence = _allowed(ctx, "unix")
    sdir = os.path.dirname(path.rstrip("/")) or "/"
    fact = ctx.facts.path(sdir)
    if fact.kind == DIR:
        enter, everyone = ctx.who(fact, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH))
        evidence.append(f"{ctx.shown(fact)}: entered by {'everyone' if everyone else ', '.join(sorted(enter))}")
        if everyone:
            problems.append(f"every local account can enter {sdir} and connect to the socket")
        if enter - allowed:
            problems.append(f"{', '.join(sorted(enter - allowed))} can enter {sdir} (not granted)")
    elif fact.kind == ABSENT:
        evidence.append(f"{sdir}: absent (NSO makes it when it starts)")
    users = _aaa(ctx)
    if ctx.inst.recorded:
        extra = sorted(f"{n} (uid {uid})" for n, (uid, _, ipc) in users.items() if ipc and n not in allowed)
        if extra:
            problems.append(f"{ctx.spec.run_dir}/cdb/aaa_init.xml gives local_ipc_access to {', '.join(extra)}, "
                            "which were not granted")
    # NSO admits by the entry's uid, not its name (G-AAA): an entry whose account now has another
    # uid (deleted and made again), or none (a grant of nso-install's), admits whichever account
    # the old uid was given to since.  (A name no account has in a vendor install's file is NSO's
    # own mapping of a uid to a user, as NSO's IPC example has it, and is left alone.)
    def now(n: str, uid: int) -> str:
        holder = "no account" if ctx.user(uid) == str(uid) else ctx.user(uid)
        has = "no account" if ctx.accounts.uid(n) is None else f"uid {ctx.accounts.uid(n)}"
        return f"{n} by uid {uid} ({holder} now; {n} has {has})"
    stale = sorted(now(n, uid) for n, (uid, _, ipc) in users.items() if ipc and ctx.accounts.uid(n) != uid
                   and (ctx.accounts.uid(n) is not None or (ctx.inst.recorded and n in allowed)))
    if stale:
        problems.append(f"{ctx.spec.run_dir}/cdb/aaa_init.xml admits {', '.join(stale)}: NSO goes by the uid")
    cdb = [n for n in ctx.facts.listdir(f"{ctx.spec.run_dir}/cdb") if n.endswith(".cdb")]
    if cdb:
        evidence.append("CDB exists: the users NSO admits now are in CDB (/aaa/authentication/users), which an "
                        "offline audit cannot read; aaa_init.xml is only its first load")
    return verdict(problems, "only root, NSO's account and the granted accounts reach the socket",
                   "accounts beyond the intended ones can reach NSO's IPC socket", evidence, [sdir])
