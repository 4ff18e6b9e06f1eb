"""What an audit looks at, gathered once and read-only: the install, its intended settings, ncs.conf.

The intended settings come from the spec nso-install recorded (``/var/lib/nso-install``) when
there is one, else from what the target shows, like a vendor installer's layout: the default
directories (or the ones given), NSO's account from ``--run-as-user`` or, failing that, the
owner of the run directory.  Nothing here writes, locks or creates anything on the target.
"""

from __future__ import annotations

import re
import stat
from dataclasses import field, replace
from pathlib import Path

from ..errors import NsoInstallError
from ..facts import DIR, FILE, LINK, Facts, Owned, PathFact, notable
from ..lifecycle.installation import Installation, look, run_dir_owner
from ..record import record
from ..spec import DIR_FIELDS, InstallSpec
from . import unitfiles
from .memo import Memo, load as load_memo
from .ncsconf import CONF_D, NcsConf, environment, parse_root

UNIT = "/etc/systemd/system/ncs.service"
SYSV_SCRIPT = "/etc/init.d/ncs"



@record
class Intent:
    """How the install is meant to be, and where each part of that came from."""

    run_as_user: str | None
    user_source: str  # "recorded", "--run-as-user", "owner of RUN_DIR", "none"
    setuid_cmdwrapper: bool
    fips: bool
    init_system: str  # systemd | sysv | none
    ipc_users: tuple[str, ...] = ()
    ipc_groups: tuple[str, ...] = ()


@record
class AuditContext:
    """What every audit check reads: the target's facts, the install, its spec and ncs.conf."""
    target: "object"
    facts: Facts
    inst: Installation
    spec: InstallSpec
    intent: Intent
    conf: NcsConf
    conf_path: str
    version: str | None
    cheap: bool = False  # install's own audit: no subprocess where the answer is known
    cache: dict = field(default_factory=dict)  # what checks share within one audit (walks, verify)
    memo: Memo = field(default_factory=Memo)  # facts derived from key and certificate files (install's audit: kept)

    def conf_unreadable(self):
        """The skip of a check that judges ncs.conf when there is none to judge."""
        from .model import skipped

        return skipped(f"{self.conf_path} cannot be read (see NSO-PERM-001)")

    @property
    def unit(self) -> unitfiles.LoadedUnit:
        """ncs.service as the service manager loads it from the target (read once an audit)."""
        if "unit" not in self.cache:
            self.cache["unit"] = unitfiles.load(self.facts)
        return self.cache["unit"]

    # --- accounts --------------------------------------------------------------------------

    @property
    def accounts(self):
        return self.facts.accounts

    @property
    def user_uid(self) -> int | None:
        u = self.intent.run_as_user
        return self.accounts.uid(u) if u else 0

    @property
    def user_gid(self) -> int | None:
        u = self.intent.run_as_user
        entry = self.accounts.users.get(u) if u else None
        return entry.gid if entry else (0 if not u else None)

    def owner_names(self) -> set[str]:
        """Accounts that may own NSO's files: root and NSO's own."""
        return {"root"} | ({self.intent.run_as_user} if self.intent.run_as_user else set())

    def group_members(self, gid: int | None) -> set[str]:
        """Every account in the group: listed members and accounts whose primary group it is."""
        if gid is None:
            return set()
        names = {u.name for u in self.accounts.users.values() if u.gid == gid}
        for g in self.accounts.groups.values():
            if g.gid == gid:
                names |= set(g.members)
        if gid == 0:
            names.add("root")
        return names

    def who(self, fact: PathFact, bits: tuple[int, int, int]) -> tuple[set[str], bool]:
        """(accounts, everyone) that ``bits`` (user, group, other masks) let in, by owner, group and others."""
        ubit, gbit, obit = bits
        mode = fact.mode or 0
        names: set[str] = set()
        if mode & ubit:
            names.add(self.accounts.user_name(fact.uid))
        if mode & gbit:
            names |= self.group_members(fact.gid)
            # with an ACL, the group bits are its mask: its named entries get in too (``ls -l`` hides them)
            for e in self.acl(fact):
                if e.perms & (gbit >> 3):
                    names |= {self.accounts.user_name(e.id)} if e.kind == "user" else \
                        self.group_members(e.id) if e.kind == "group" else {e.kind}
        return names, bool(mode & obit)

    def acl(self, fact: PathFact):
        """The named entries of ``fact``'s ACL that the mask leaves something (none on a link, an
        absent path or one without group bits, which an ACL with named entries always shows)."""
        if fact.kind in (LINK, "absent") or not (fact.mode or 0) & 0o070:
            return ()
        return tuple(e for e in self.facts.acl(fact.path) if e.perms)

    def acl_entry(self, e) -> str:
        """``user:alice:r--`` for a named ACL entry (:class:`~nso_install.facts.AclEntry`)."""
        name = self.accounts.user_name(e.id) if e.kind == "user" else \
            self.accounts.group_name(e.id) if e.kind == "group" else e.kind
        return f"{e.kind}:{name}:" + "".join(c if e.perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))

    def acl_shown(self, fact: PathFact) -> str:
        """``; ACL user:alice:r--, group:ops:rw-`` for the named entries of ``fact``'s ACL, or ""."""
        shown = [self.acl_entry(e) for e in self.acl(fact)]
        return f"; ACL {', '.join(shown)}" if shown else ""

    def readers(self, fact: PathFact) -> tuple[set[str], bool]:
        return self.who(fact, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH))

    def user(self, uid: int | None) -> str:
        return self.accounts.user_name(uid)

    def group(self, gid: int | None) -> str:
        return self.accounts.group_name(gid)

    def shown(self, fact: PathFact) -> str:
        """``PATH MODE OWNER:GROUP`` (``PATH: absent``, ``PATH: link -> X``)."""
        if fact.kind == LINK:
            return f"{fact.path}: symbolic link to {fact.link}"
        if not fact.exists:
            return f"{fact.path}: absent"
        what = "" if fact.kind in (FILE, DIR) else f" ({fact.kind})"
        return f"{fact.path} {fact.mode:04o} {self.user(fact.uid)}:{self.group(fact.gid)}{what}{self.acl_shown(fact)}"

    # --- where things are --------------------------------------------------------------------

    def conf_file(self, variable: str, default: str) -> str:
        """A file ncs.conf names (resolved), or the install's default location."""
        return self.conf.path(variable) or default

    @property
    def trees(self):
        return self.inst.trees

    def notable(self, top: str) -> list[tuple[str, "Owned", str]]:
        """The entries below ``top`` the audit's checks of whole trees may judge
        (:func:`~nso_install.facts.notable`: foreign-owned, world-writable, setuid, with
        capabilities; cached for the run; empty when ``top`` is not a directory): path, mode and
        owner, kind; the regular files' capabilities are read on the way (``facts.caps`` of
        their paths).  Only these are kept: the rest passes every such check, and holding 100k
        entries made the audit of a big tree the largest part of an install's memory.  A tree
        whose manifest's index finds it intact is not walked again: its check lists them."""
        key = ("notable", top)
        if key not in self.cache:
            read = self.facts.caps_read  # what the walk read (None: not read, or not readable)
            self.cache[key] = [(p, Owned(st.st_mode, st.st_uid, st.st_gid), kind)
                               for p, st, kind in self.facts.walk(top, caps=True, prewalked=self._prewalked())
                               if notable(st.st_mode, st.st_uid, read(p))] \
                if self.facts.path(top).kind == DIR else []
        return self.cache[key]

    def _prewalked(self) -> dict[str, list]:
        """The trees found intact by their manifests' index, with what that check listed: the
        run's own comparisons (install's audit after a run that changed nothing), or verify's,
        asked here first (the same comparison NSO-DRIFT-001 reports, made once)."""
        from ..lifecycle.verify import compare_tree

        out = {}
        for tree in self.trees:
            m = self.inst.state.manifest(tree.path) if tree.manifest else None
            if m is None:
                continue
            host = str(self.target.host(tree.path))
            if host not in m.listings:
                compare_tree(self.inst, tree)
            if host in m.listings:
                out[tree.path] = m.listings[host]
        return out

    @property
    def top_dirs(self) -> list[tuple[str, str]]:
        """(option, path) of the install's four directories."""
        return [(f"--{n.replace('_', '-')}", getattr(self.spec, n)) for n in DIR_FIELDS]


def gather(root: Path | None = None, dirs: dict[str, str] | None = None, run_as_user: str | None = None,
           cheap: bool = False, memo_dir: Path | None = None, state=None) -> AuditContext:
    """The audit context of the system install on the target (``--root``).  ``dirs``: directory
    options given (``install_dir``...), which win over the recorded ones.  ``memo_dir``: the
    private state directory whose :mod:`memo <nso_install.audit.memo>` install's audit uses."""
    dirs = {k: v for k, v in (dirs or {}).items() if v}
    inst = look(root, dirs.get("install_dir"), state)
    spec = replace(inst.spec, **{k: v for k, v in dirs.items() if k in DIR_FIELDS})
    facts = Facts(inst.target)
    intent = _intent(inst, spec, facts, run_as_user)
    active = inst.active or (inst.trees[-1] if inst.trees else None)
    version = active.version if active else None
    conf_path = f"{spec.config_dir}/ncs.conf"
    unit = unitfiles.load(facts) if intent.init_system == "systemd" else None
    env = environment(unit, _environment_files(facts, unit), _systemd_conf(facts, spec.config_dir, intent),
                      spec.install_dir, spec.config_dir, spec.run_dir, spec.log_dir)
    raw = _read(facts, conf_path)
    fragments, fragment_problems = _fragments(facts, spec.config_dir)
    conf = NcsConf.parse(raw, version, env, fragments) if raw is not None else \
        NcsConf(None, version, env, "it is missing")
    conf.fragment_problems = fragment_problems
    if not intent.fips and conf.on("/ncs-config/fips-mode/enabled"):
        intent.fips = True
    if not intent.fips and not inst.recorded and active is not None and _fips_ncsrc(facts, active.path):
        intent.fips = True
    return AuditContext(inst.target, facts, inst, spec, intent, conf, conf_path, version, cheap,
                        cache={"unit": unit} if unit is not None else {}, memo=load_memo(memo_dir))


def _fips_ncsrc(facts: Facts, tree: str) -> bool:
    """Whether the active tree's ncsrc is a FIPS install's: --fips-install adds NCS_OPENSSL_CONF,
    NCS_OPENSSL_CONF_INCLUDE and NCS_OPENSSL_MODULES to it (G-SYS, G-LOC 6.5+).  A vendor install
    leaves no other record, and its fips-mode entry may be missing: an upgrade from a non-FIPS
    release keeps the old ncs.conf, where it must be added by hand (G-UPG), which is what
    NSO-SD-003 is for; judged by ncs.conf alone, it was skipped as "not a FIPS install"."""
    text = (_read(facts, f"{tree}/ncsrc") or b"").decode(errors="replace")
    return re.search(r"^\s*(export\s+)?NCS_OPENSSL_(CONF|CONF_INCLUDE|MODULES)=", text, re.MULTILINE) is not None


def _fragments(facts: Facts, config_dir: str) -> tuple[tuple[tuple[str, object], ...], tuple[str, ...]]:
    """The ``CONFIG_DIR/ncs.conf.d/*.conf`` fragments NSO reads with ncs.conf (ncs.conf(5)), parsed,
    by name; and why any of them could not be read (a link, unreadable, not ncs-config XML): NSO
    may still take settings from such a file, so NSO-PERM-001 fails on it instead of the audit
    judging ncs.conf without it."""
    confd = f"{config_dir}/{CONF_D}"
    kind = facts.path(confd)
    if kind.kind == LINK:
        return (), (f"{confd} is a symbolic link (to {kind.link}): NSO reads the .conf files where it leads, "
                    "the audit does not follow it",)
    out, problems = [], []
    for name in facts.listdir(confd):
        if not name.endswith(".conf"):
            continue
        path = f"{confd}/{name}"
        fact = facts.path(path)
        if fact.kind != FILE:
            what = f"a symbolic link (to {fact.link})" if fact.kind == LINK else f"not a regular file ({fact.kind})"
            problems.append(f"{path} is {what}: NSO may read it, the audit does not")
            continue
        data = _read(facts, path)
        root, why = parse_root(data) if data is not None else (None, "it cannot be read")
        if root is None:
            problems.append(f"{path} cannot be read as an ncs.conf fragment: {why}")
        else:
            out.append((path, root))
    return tuple(out), tuple(problems)


def _environment_files(facts: Facts, unit: unitfiles.LoadedUnit | None) -> list[bytes]:
    """The contents of the unit's ``EnvironmentFile=`` files that exist, in the unit's order."""
    out = []
    for _, path, _ in unitfiles.environment_files(unit) if unit is not None else ():
        for file in unitfiles.expand(facts, path)[0]:
            r = unitfiles.resolve(facts, file)
            data = _read(facts, r.path) if r.path is not None else None
            if data is not None:
                out.append(data)
    return out


def _systemd_conf(facts: Facts, config_dir: str, intent: "Intent") -> bytes | None:
    """ncs.systemd.conf as nso-install's start script takes it: not at all unless it is root's (or,
    under systemd, the account NSO starts as) and not writable by group or others
    (templates/files/_read_env_file.sh.j2); the audit judged a file the script ignores."""
    path = f"{config_dir}/ncs.systemd.conf"
    fact = facts.path(path)
    owners = {0}
    if intent.init_system == "systemd" and intent.run_as_user:
        owners.add(facts.accounts.uid(intent.run_as_user))
    if fact.kind != FILE or fact.uid not in owners or (fact.mode or 0) & 0o022:
        return None
    return _read(facts, path)


def _read(facts: Facts, path: str) -> bytes | None:
    try:
        return facts.read(path) if facts.path(path).kind == FILE else None
    except NsoInstallError:
        return None


def _intent(inst: Installation, spec: InstallSpec, facts: Facts, given: str | None) -> Intent:
    if given:
        user, source = given, "--run-as-user"
    elif inst.recorded:
        user, source = spec.run_as_user, "recorded"
    else:
        owner = run_dir_owner(facts, spec.run_dir)
        user, source = (owner, "owner of RUN_DIR") if owner else (None, "none")
    if inst.recorded:
        init = spec.init_system
    else:
        init = "systemd" if facts.path(UNIT).kind == FILE else "sysv" if facts.path(SYSV_SCRIPT).kind == FILE \
            else "none"
    return Intent(user, source, spec.setuid_cmdwrapper if inst.recorded else False,
                  spec.fips_install if inst.recorded else False, init,
                  spec.ipc_users if inst.recorded else (), spec.ipc_groups if inst.recorded else ())
