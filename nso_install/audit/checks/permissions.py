"""``NSO-PERM``: owners and modes of what NSO reads, writes and keeps secret (docs/security.md).

The rules are properties, not nso-install's exact modes, so a vendor installer's layout is
judged by the same measure: a secret is readable by nobody but root, NSO's account and the
accounts its purpose names (the IPC secret: members of ``ncsadmin``), and writable by no
group, nor below a directory another account could change; NSO's account never owns what root trusts (ncs.conf, the config directory, the install
tree); no entry is world-writable or owned by a third account.
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath

from ...actions.accounts import ADMIN_GROUP
from ...facts import ABSENT, DIR, FILE, LINK
from ..ncsconf import CONF_D
from ..model import failed, passed, skipped, verdict, warned
from ..registry import check

SECURITY = "nso-install's trust model (docs/security.md, \"Owners and modes\")"
KEYS_DOC = ("NSO security guidance (G-SEC, G-KEYS): ncs.crypto_keys covers every "
            "encrypted CDB value (device credentials, the HA token) and is highly sensitive")
SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def _secret_problems(ctx, fact, allowed: set[str], what: str, groups: frozenset[int] = frozenset()) -> list[str]:
    """What lets anyone but ``allowed`` read ``fact``, or anyone change it; a group that may read
    it other than root's, NSO's own and ``groups`` (an empty one too: whoever joins it later, as
    NSO's docs have administrators join ncsoper, would read the secret)."""
    if fact.kind == LINK:
        return [f"{fact.path} is a symbolic link (to {fact.link}); a {what} is a regular file"]
    if fact.kind != FILE:
        return [f"{fact.path} is not a regular file ({fact.kind})"]
    problems = []
    mode = fact.mode or 0
    owner = ctx.user(fact.uid)
    if owner not in ctx.owner_names():
        problems.append(f"{fact.path} belongs to {owner}, neither root nor NSO's account")
    if mode & 0o007:
        problems.append(f"{fact.path} mode {mode:04o}: every local account can "
                        + ("read" if mode & 0o004 else "use") + " it")
    if mode & (stat.S_IWGRP | stat.S_IXGRP | SPECIAL):
        problems.append(f"{fact.path} mode {mode:04o}: group {ctx.group(fact.gid)} may change or run it")
    if fact.nlink and fact.nlink > 1:
        problems.append(f"{fact.path} has {fact.nlink} names (hard links): the same file is in another directory too, "
                        "where it escapes this check and keeps the old contents after a rotation")
    if mode & stat.S_IRGRP and fact.gid not in {0, ctx.user_gid, *groups}:
        problems.append(f"{fact.path} mode {mode:04o}: group {ctx.group(fact.gid)} may read it (members now: "
                        f"{', '.join(sorted(ctx.group_members(fact.gid))) or 'none'}; whoever joins it later too)")
    readers, _ = ctx.readers(fact)
    extra = sorted(readers - allowed - {owner})
    if extra:
        how = f"group {ctx.group(fact.gid)}" + (" or its ACL" if ctx.acl(fact) else "")
        problems.append(f"{fact.path} is readable by {', '.join(extra)} (through {how})")
    return problems


def _dir_problems(ctx, path: str, allowed_owners: set[str], what: str) -> list[str]:
    fact = ctx.facts.path(path)
    if fact.kind == ABSENT:
        return []
    if fact.kind not in (DIR, LINK):
        return [f"{path} ({what}) is not a directory"]
    if fact.kind == LINK:
        return []  # a root-owned link to the real directory (checked by the install's own rules)
    problems = []
    if ctx.user(fact.uid) not in allowed_owners:
        problems.append(f"{path} ({what}) belongs to {ctx.user(fact.uid)}")
    if (fact.mode or 0) & 0o022:
        problems.append(f"{path} ({what}) mode {fact.mode:04o}: writable by "
                        + ("every local account" if fact.mode & 0o002 else f"group {ctx.group(fact.gid)}"))
    return problems


def _holder_problems(ctx, directory: str, what: str) -> list[str]:
    """An account (other than root and NSO's) that owns or may write a directory above the one
    a secret is in (ncs.conf may name any file) could move that directory aside and put one of
    its own there, holding a secret it chose or reads, which NSO takes at its next start.  A
    sticky directory (/tmp) lets only an entry's owner move it, which is judged in turn.  In the
    config directory the tree checks judge what is below it, NSO-PERM-010 what is above."""
    if (directory + "/").startswith(ctx.spec.config_dir.rstrip("/") + "/"):
        return []
    for d in map(str, reversed(PurePosixPath(directory).parents)):
        f = ctx.facts.path(d)
        if f.kind != DIR:
            return []  # absent (made by whoever makes the secret), or a link (the tree checks' rules)
        mode = f.mode or 0
        if ctx.user(f.uid) not in ctx.owner_names():
            return [f"{ctx.shown(f)} above the {what}'s directory {directory} belongs to {ctx.user(f.uid)}, which "
                    "could move that directory aside and put one with a secret of its own there"]
        if mode & 0o022 and not mode & stat.S_ISVTX:
            return [f"{ctx.shown(f)} above the {what}'s directory {directory} is writable by "
                    + ("every local account" if mode & 0o002 else f"group {ctx.group(f.gid)}")
                    + ", which could move that directory aside and put one with a secret of its own there"]
    return []


def _secret_check(ctx, path: str, allowed: set[str], what: str, missing: str | None = None,
                  groups: frozenset[int] = frozenset()):
    fact = ctx.facts.path(path)
    parent = os.path.dirname(path)
    holders = []
    if parent != ctx.spec.config_dir:  # that one is NSO-PERM-006's
        holders = _dir_problems(ctx, parent, ctx.owner_names(), f"the directory of the {what}")
        holders += _holder_problems(ctx, parent, what)
    if not fact.exists:
        # (missing where another account may create it: NSO would take that account's file)
        if holders:
            return failed(f"{what} {path} is missing, and another account could put one there", [*holders,
                          ctx.shown(fact)], [path])
        return warned(missing or f"{what} {path} is missing", [ctx.shown(fact)], [path])
    problems = _secret_problems(ctx, fact, allowed, what, groups) + holders
    return verdict(problems, f"{ctx.shown(fact)}: readable by {', '.join(sorted(allowed))} at most",
                   f"the {what} is open to other accounts", [ctx.shown(fact), ctx.shown(ctx.facts.path(parent))],
                   [path])


@check("NSO-PERM-001", "ncs.conf (and ncs.conf.d/*.conf) exists, is root's and writable by root only", "high",
       "chown root:root CONFIG_DIR/ncs.conf && chmod 0644 CONFIG_DIR/ncs.conf (0640 root:NSOGROUP when it holds "
       "inline keys); nso-install install repairs both. The same for CONFIG_DIR/ncs.conf.d and every *.conf in it "
       "(NSO reads them too): root's, not writable by others, regular files of well-formed ncs-config XML, "
       "no setting written there with another value than in ncs.conf.",
       f"{SECURITY}: NSO's account reads ncs.conf but must not be able to change what NSO enables", inferred=True)
def ncs_conf(ctx):
    path = ctx.conf_path
    fact = ctx.facts.path(path)
    if fact.kind != FILE:
        return failed(f"{path} is missing" if not fact.exists else f"{path} is not a regular file", [ctx.shown(fact)],
                      [path])
    problems = []
    if ctx.conf.problem:
        problems.append(f"{path} cannot be read as ncs.conf: {ctx.conf.problem}")
    if fact.uid != 0:
        problems.append(f"{path} belongs to {ctx.user(fact.uid)}, not root")
    if (fact.mode or 0) & (0o022 | SPECIAL):
        problems.append(f"{path} mode {fact.mode:04o}: writable by others than its owner")
    inline = any(ctx.conf.present(f"/ncs-config/encrypted-strings/{k}") for k in ("AESCFB128", "AES256CFB128",
                                                                                     "DES3CBC", "key-rotation"))
    if inline:
        readers, everyone = ctx.readers(fact)
        if everyone or readers - ctx.owner_names():
            problems.append(f"{path} holds inline encryption keys and is readable by "
                            + ("every local account" if everyone else ", ".join(sorted(readers - ctx.owner_names()))))
    # NSO also reads CONFIG_DIR/ncs.conf.d/*.conf (ncs.conf(5)): those files, and the directory
    # that holds them, change what NSO enables just as ncs.conf does.
    evidence = [ctx.shown(fact)]
    confd = f"{os.path.dirname(path)}/{CONF_D}"
    if ctx.facts.path(confd).kind == DIR:
        evidence.append(ctx.shown(ctx.facts.path(confd)))
        problems += _dir_problems(ctx, confd, {"root"}, "the directory of ncs.conf's fragments")
        for src, _ in ctx.conf.fragments:
            frag = ctx.facts.path(src)
            evidence.append(ctx.shown(frag))
            if frag.uid != 0:
                problems.append(f"{src} belongs to {ctx.user(frag.uid)}, not root")
            if (frag.mode or 0) & (0o022 | SPECIAL):
                problems.append(f"{src} mode {frag.mode:04o}: writable by others than its owner")
    problems += ctx.conf.fragment_problems
    return verdict(problems, "; ".join(evidence), "ncs.conf can be changed (or its keys read) by others", evidence,
                   [path])


@check("NSO-PERM-002", "ncs.crypto_keys readable only by root and NSO's account", "critical",
       "chown root:NSOGROUP ncs.crypto_keys && chmod 0440 ncs.crypto_keys (0600 root:root when NSO runs as "
       "root); then rotate the keys (nso-install keys rotate) if others could read them.", KEYS_DOC)
def crypto_keys(ctx):
    if ctx.conf.root is not None and not ctx.conf.value("crypto.command"):
        return skipped("the keys are not in an external file (see NSO-SD-001)")
    path = ctx.conf_file("crypto.argument", f"{ctx.spec.config_dir}/ncs.crypto_keys")
    return _secret_check(ctx, path, ctx.owner_names(), "encryption keys file",
                         f"the encryption keys file {path} is missing (NSO cannot start; an image built with "
                         "--skip-secrets gets it with --secrets-only)")


@check("NSO-PERM-003", "IPC access secret readable only by root, NSO's account and ncsadmin", "high",
       "chown root:ncsadmin ipc_access && chmod 0440 ipc_access (0400 root:root when NSO runs as root); outside "
       "CONFIG_DIR, every directory above it root's (or NSO's account's) and not writable by others.",
       "NSO IPC guide (G-IPC, G-DEP): the secret is readable only by the daemon and the "
       "permitted clients; G-DEP grants it to ncsadmin (chown root:ncsadmin; chmod g+r)")
def ipc_secret(ctx):
    path = ctx.conf_file("ipc.access_file", f"{ctx.spec.config_dir}/ipc_access")
    if not ctx.facts.path(path).exists and not ctx.conf.on("/ncs-config/ncs-ipc-access-check/enabled"):
        return passed(f"{path}: absent, and the IPC access check is off", [ctx.shown(ctx.facts.path(path))])
    gid = ctx.accounts.gid(ADMIN_GROUP)
    allowed = ctx.owner_names() | ctx.group_members(gid)
    return _secret_check(ctx, path, allowed, "IPC access secret", groups=frozenset({gid} - {None}))


@check("NSO-PERM-004", "SSH host keys readable only by root and NSO's account", "high",
       "chown root:NSOGROUP CONFIG_DIR/ssh/ssh_host_*_key && chmod 0440 them (0600 root:root when NSO runs as "
       "root); the directory root's, not writable by others. Replace keys others could read.",
       "vendor deployment example (X-SSH): host keys 0440, public keys 0644")
def host_keys(ctx):
    kdir = ctx.conf_file("aaa.ssh_server_key_dir", f"{ctx.spec.config_dir}/ssh")
    keys = private_host_keys(ctx, kdir)
    if not keys:
        return warned(f"no SSH host key in {kdir} (NSO's SSH server cannot start)", [ctx.shown(ctx.facts.path(kdir))],
                      [kdir])
    problems = _dir_problems(ctx, kdir, ctx.owner_names(), "the host key directory")
    for k in keys:
        problems += _secret_problems(ctx, ctx.facts.path(k), ctx.owner_names(), "host key")
    evidence = [ctx.shown(ctx.facts.path(kdir))] + [ctx.shown(ctx.facts.path(k)) for k in keys]
    return verdict(problems, f"{len(keys)} host key(s), readable by root and NSO's account at most",
                   "a host key is open to other accounts", evidence, keys)


def private_host_keys(ctx, kdir: str) -> list[str]:
    return [f"{kdir}/{n}" for n in ctx.facts.listdir(kdir) if n.startswith("ssh_host_") and n.endswith("_key")]


@check("NSO-PERM-005", "TLS private key readable only by root and NSO's account", "high",
       "chown root:NSOGROUP the key file && chmod 0440 it (0600 root:root when NSO runs as root); replace the key "
       "and certificate if others could read it.",
       f"{SECURITY}: the Web UI/RESTCONF private key is a secret like the host keys", inferred=True)
def tls_key(ctx):
    path = ctx.conf_file("webui.ssl.key_file", f"{ctx.spec.config_dir}/ssl/cert/host.key")
    if not ctx.facts.path(path).exists and not ctx.conf.on("/ncs-config/webui/transport/ssl/enabled"):
        return skipped(f"HTTPS is off and {path} does not exist")
    return _secret_check(ctx, path, ctx.owner_names(), "TLS private key")


@check("NSO-PERM-006", "The config directory is root's and writable by root only", "high",
       "chown root:root CONFIG_DIR && chmod 0755 CONFIG_DIR.",
       f"{SECURITY}: the account that owns the directory could swap ncs.conf or the keys in it", inferred=True)
def config_dir(ctx):
    path = ctx.spec.config_dir
    fact = ctx.facts.path(path)
    if fact.kind == ABSENT:
        return failed(f"{path} is missing", [ctx.shown(fact)], [path])
    problems = _dir_problems(ctx, path, {"root"}, "the config directory")
    return verdict(problems, ctx.shown(fact), "the config directory can be changed by others", [ctx.shown(fact)], [path])


@check("NSO-PERM-007", "Run and log directories private to NSO's account", "medium",
       "chown NSOUSER:NSOGROUP RUN_DIR LOG_DIR && chmod 0750 RUN_DIR LOG_DIR (root:root when NSO runs as root); "
       "remove ACLs that name other accounts (setfacl -b DIR; setfacl -k DIR for a default ACL, then the same on "
       "what was made in it: setfacl -R -b DIR).",
       f"{SECURITY}: CDB holds encrypted secrets and the AAA database, logs can carry sensitive data; the "
       "vendor example's chmod -R g=u would let a group change them; an ACL admits accounts ls -l does not show, "
       "and a default ACL is copied into every file NSO makes there", inferred=True)
def run_log_dirs(ctx):
    problems, evidence, paths = [], [], []
    for path, what in ((ctx.spec.run_dir, "the run directory"), (f"{ctx.spec.run_dir}/cdb", "CDB"),
                       (ctx.spec.log_dir, "the log directory")):
        fact = ctx.facts.path(path)
        evidence.append(ctx.shown(fact))
        if not fact.exists:
            if path != f"{ctx.spec.run_dir}/cdb":
                problems.append(f"{path} ({what}) is missing")
            continue
        paths.append(path)
        problems += _dir_problems(ctx, path, ctx.owner_names(), what)
        if fact.kind == DIR and (fact.mode or 0) & 0o007:
            problems.append(f"{path} ({what}) mode {fact.mode:04o}: open to every local account")
        if fact.kind == DIR:
            problems += _acl_problems(ctx, fact, f"{path} ({what})")
    return verdict(problems, "run and log directories are private", "the run or log directory is open to others",
                   evidence, paths)


def _acl_problems(ctx, fact, shown: str) -> list[str]:
    """The accounts other than root and NSO's that a directory's ACL admits, and those its default
    ACL passes on to what is made in it (NSO's CDB files and logs)."""
    own_users, own_groups = {0, ctx.user_uid}, {0, ctx.user_gid}

    def others(entries) -> list[str]:
        return [ctx.acl_entry(e) for e in entries
                if e.perms and e.id not in (own_users if e.kind == "user" else own_groups)]

    problems = []
    if (named := others(ctx.acl(fact))):
        problems.append(f"{shown} has an ACL that admits {', '.join(named)}")
    if (named := others(ctx.facts.default_acl(fact.path))):
        problems.append(f"{shown} has a default ACL: every file and directory made in it (by NSO too) admits "
                        f"{', '.join(named)}")
    return problems


@check("NSO-PERM-010", "What holds the install, config, run and log directories is root's alone", "critical",
       "chown root:root and chmod go-w each directory named (after checking what is in it), or move the NSO "
       "directories to a place only root can change.",
       f"{SECURITY}, \"What holds the four directories is root's alone\": an account that owns or can write a "
       "directory above the install directory can put a tree of its own there, and root runs NSO's programs from "
       "it (the service, logrotate, every login shell's PATH)", inferred=True)
def holders(ctx):
    from ...errors import UnsafePathError

    problems, paths = [], []
    nso = frozenset({ctx.user_uid}) if ctx.user_uid not in (None, 0) else frozenset()
    for top, which in _tops(ctx):
        if ctx.facts.path(top).kind == LINK:
            continue  # a link: Target.dir_link judges it and the directories on the way (the tree checks use it)
        paths.append(top)
        try:
            ctx.target.check_parents(top, f"the {which} directory", nso if which in ("run", "log") else frozenset(),
                                     itself=which == "install")
        except UnsafePathError as e:
            problems.append(e.message)
    return verdict(problems, "every directory above them is root's and not writable by others",
                   "a directory above the NSO directories is not root's alone", [], paths)


def _tops(ctx) -> list[tuple[str, str]]:
    """(path, which) of the trees to walk: the install, config, run and log directories."""
    return [(ctx.spec.install_dir, "install"), (ctx.spec.config_dir, "config"), (ctx.spec.run_dir, "run"),
            (ctx.spec.log_dir, "log")]


def notable_real(ctx, top: str):
    """The entries below ``top`` the tree checks may judge (``ctx.notable``), through a
    root-owned link to the real directory when it is one."""
    if ctx.facts.path(top).kind != LINK:
        return ctx.notable(top)  # the cached list itself: a big tree is walked once a run
    key = ("notable_real", top)
    if key not in ctx.cache:
        real = str(ctx.target.dir_link(top))
        ctx.cache[key] = [(top + p[len(real):], st, kind) for p, st, kind in ctx.notable(real)]
    return ctx.cache[key]


LIMIT = 20  # entries listed as evidence


def _listed(problems: list[str]) -> list[str]:
    return problems[:LIMIT] + ([f"... and {len(problems) - LIMIT} more"] if len(problems) > LIMIT else [])


@check("NSO-PERM-008", "No world-writable entries in the install, config, run and log directories", "high",
       "chmod o-w the entries listed (find DIR -perm -0002 ! -type l); find out who made them so.",
       f"{SECURITY}: anything every local account can change there is code or data NSO trusts", inferred=True)
def world_writable(ctx):
    problems = []
    for top, _ in _tops(ctx):
        fact = ctx.facts.path(top)
        if fact.kind == DIR and (fact.mode or 0) & 0o002:
            problems.append(f"{top} mode {fact.mode:04o}")
        for path, st, kind in notable_real(ctx, top):
            if kind != LINK and st.st_mode & 0o002:
                problems.append(f"{path} mode {stat.S_IMODE(st.st_mode):04o}")
    return verdict(_listed(problems), "nothing world-writable", f"{len(problems)} world-writable entr"
                   f"{'y' if len(problems) == 1 else 'ies'}", [], [top for top, _ in _tops(ctx)])


@check("NSO-PERM-009", "No entries owned by other accounts (install: root only; config, run, log: root or "
       "NSO's account)", "high",
       "chown the entries listed to root (or NSO's account in the config, run and log directories); find out how "
       "the account got them.",
       f"{SECURITY}: an account that owns a file NSO or root runs or reads can change it (the vendor example's "
       "chown of /opt/ncs to the NSO user gives it the binaries root runs)", inferred=True)
def foreign_owned(ctx):
    problems = []
    nso = ctx.user_uid
    for top, which in _tops(ctx):
        allowed = {0} if which == "install" else {0, nso}
        fact = ctx.facts.path(top)
        entries = [(top, fact.uid)] if fact.kind == DIR else []
        entries += [(p, st.st_uid) for p, st, _ in notable_real(ctx, top)]
        problems += [f"{p} belongs to {ctx.user(uid)}" for p, uid in entries if uid not in allowed]
    return verdict(_listed(problems), "every entry belongs to root (or NSO's account where it writes)",
                   f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} owned by another account", [],
                   [top for top, _ in _tops(ctx)])


@check("NSO-PERM-011", "No entries a group or an ACL lets other accounts change (install: root only; config, run, "
       "log: root or NSO's account)", "critical",
       "chmod g-w the entries listed (find DIR -perm -g+w ! -type l), or give them a group of root's (NSO's own in "
       "the config, run and log directories); remove ACLs (setfacl -b PATH); find out who made them so.",
       f"{SECURITY}: root runs the programs of the install tree (the service, logrotate, every login shell's PATH) "
       "and NSO reads the config, run and log directories; a group or ACL entry that lets another account change "
       "them gives that account what NSO-PERM-009 keeps from owners (ls -l shows an ACL only as a '+', its mask as "
       "the group bits)", inferred=True)
def group_writable(ctx):
    from ...facts import PathFact

    problems = []
    for top, which in _tops(ctx):
        allowed = {"root"} if which == "install" else ctx.owner_names()
        gids = {0} if which == "install" else {0, ctx.user_gid}
        fact = ctx.facts.path(top)
        entries = [fact] if fact.kind == DIR else []
        entries += [PathFact(p, kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) for p, st, kind in
                    notable_real(ctx, top) if kind != LINK and st.st_mode & stat.S_IWGRP]
        for f in entries:
            if not (f.mode or 0) & stat.S_IWGRP:
                continue
            writers, _ = ctx.who(f, (0, stat.S_IWGRP, 0))
            extra = sorted(writers - allowed)
            if extra or f.gid not in gids:
                who = ", ".join(extra) if extra else "nobody now, whoever joins it later"
                problems.append(f"{ctx.shown(f)}: group {ctx.group(f.gid)}"
                                + (" or its ACL" if ctx.acl(f) else "") + f" may change it ({who})")
    return verdict(_listed(problems), "no group or ACL lets another account change anything there",
                   f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} another account may change through "
                   "a group or an ACL", [], [top for top, _ in _tops(ctx)])


# Files outside the four directories that root runs, sources or applies for NSO (docs/security.md,
# "Owners and modes"); the unit and its drop-ins are NSO-SVC-002's.
ROOT_RUNS = (("/etc/profile.d/ncs.sh", "every login shell sources it, root's included"),
             ("/etc/profile.d/ncs.csh", "every csh login shell sources it, root's included"),
             ("/etc/logrotate.d/ncs", "logrotate runs its postrotate script as root"),
             ("/etc/tmpfiles.d/ncs.conf", "systemd-tmpfiles applies it as root at boot (creates, chowns)"),
             ("/etc/init.d/ncs", "root runs the SysV script"))


@check("NSO-PERM-012", "What root runs or sources for NSO outside its directories (profile scripts, logrotate, "
       "tmpfiles.d, SysV script) is root's alone", "critical",
       "chown root:root the file named and chmod go-w it (setfacl -b for an ACL), and the same for each directory "
       "named on its way; then read the file for lines you did not write (nso-install install rewrites its own "
       "files).",
       f"{SECURITY}: /etc/profile.d/ncs.{{sh,csh}}, /etc/logrotate.d/ncs and /etc/init.d/ncs are root:root, "
       "executed or read by root; an account that can change one runs its commands as root at the next login, "
       "rotation or boot", inferred=True)
def root_runs(ctx):
    from .. import unitfiles

    me = frozenset({0, os.geteuid()})  # (a staging root made by an ordinary user is that user's)
    files = list(ROOT_RUNS)
    if ctx.intent.init_system == "sysv":
        files.append((f"{ctx.spec.config_dir}/ncs.systemd.conf", "the SysV script reads it as root"))
    problems, evidence, paths = [], [], []
    for path, why in files:
        r = unitfiles.resolve(ctx.facts, path)
        if r.path is None or not r.fact.exists:
            continue
        paths.append(path)
        evidence.append(f"{ctx.shown(r.fact)} ({why})")
        found = unitfiles.others_could_change(ctx.facts, r, me)
        acl = ctx.acl(r.fact)
        if acl and not found:
            found = [f"{r.path} has an ACL{ctx.acl_shown(r.fact).removeprefix(';')}"]
        problems += [f"{p}; {why}" for p in found]
    return verdict(problems, f"{len(paths)} file(s), root's alone", "another account can change what root runs "
                   "or sources for NSO", evidence, paths)
