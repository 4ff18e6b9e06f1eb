"""What a target holds: installed NSO versions, the active one, the recorded spec, running NSO.

Read-only.  Works on installs nso-install made (the state file says how) and, as far as the
file system tells, on a layout the vendor installer made (``INSTALL_DIR/ncs-VSN`` and
``current``, the default directories).
"""

from __future__ import annotations

import os
from dataclasses import field, replace
from pathlib import Path, PurePosixPath

from ..errors import NsoInstallError, UsageError, sh
from ..facts import ABSENT, DIR, FILE, LINK, Facts
from ..record import record
from ..spec import InstallSpec, from_record, state_path
from ..state import State
from ..target import Target, normalize
from ..versions import strays, vtuple


@record
class Tree:
    """One installed version directory (ncs-VSN)."""
    path: str  # target path
    version: str
    active: bool = False
    manifest: bool = False  # nso-install recorded what it unpacked there

    def as_dict(self) -> dict:
        return {"path": self.path, "version": self.version, "active": self.active, "manifest": self.manifest}


@record
class Lost:
    """A tree nso-install unpacked and still records that is no longer there as that tree."""
    path: str
    version: str  # the version nso-install unpacked there ("?" when its manifest cannot be read)
    problem: str  # what is there now: gone, not a directory, no VERSION, another version

    def as_dict(self) -> dict:
        return {"path": self.path, "version": self.version, "problem": self.problem}


def unrecognised(facts: Facts, path: str, version: str | None) -> str | None:
    """Why ``path`` is not the NSO ``version`` tree nso-install unpacked there, or None."""
    fact = facts.path(path)
    if fact.kind == ABSENT:
        return "missing"
    if fact.kind != DIR:
        return f"not a directory (a {fact.kind})"
    if facts.path(f"{path}/VERSION").kind != FILE:
        return "no VERSION file"
    have = facts.version_file(path)
    if version is not None and have != version:
        return f"holds NSO {have or '(an empty VERSION)'}"
    return None


def run_dir_owner(facts: Facts, run_dir: str) -> str | None:
    """The account that owns RUN_DIR when it is not root's: the account NSO runs as, where
    nso-install recorded none (NSO's own installer with --run-as-user; verify and the audit
    judge such an install by it, not as one that runs as root)."""
    run = facts.path(run_dir)
    return facts.accounts.user_name(run.uid) if run.kind == DIR and run.uid not in (0, None) else None


def aimed(target: Target, args: str, install_dir: str | None = None) -> str:
    """``nso-install ARGS`` for a message that names the next command: with the --root and
    --install-dir this run needed to find the install, since the same command without them acts
    on the host's default install (or finds none)."""
    aim = f" --root {sh(target.root)}" if target.staged else ""
    if install_dir:
        aim += f" --install-dir {sh(install_dir)}"
    return f"nso-install {args}{aim}"


@record
class Installation:
    """A system install as found: its versions, the active one, the recorded spec, NSO processes."""
    target: Target
    state: State
    spec: InstallSpec  # the recorded spec, or the defaults when nothing was recorded
    recorded: bool
    trees: list[Tree] = field(default_factory=list)
    current: str | None = None  # the link's text
    dangling: bool = False
    running: list[tuple[int, str]] = field(default_factory=list)  # (pid, executable) under INSTALL_DIR
    real_dir: str | None = None  # where INSTALL_DIR leads when it is a link (processes show that path)
    given_dir: str | None = None  # --install-dir as given (None: the recorded one), for :meth:`again`

    def again(self) -> "Installation":
        """The install as found now, its state read again: for a run that just took the lock,
        which another run may have held and changed the install under (switched current,
        unpacked or removed a version, rewritten the state)."""
        root = self.target.root if self.target.staged else None
        return look(root, self.given_dir) if self.spec.system else look_local(root, self.spec.local_dir)

    def other_install_dir(self) -> str | None:
        """The recorded INSTALL_DIR when --install-dir named another one (mistyped, or an old
        one), else None: activate, rollback and uninstall --all act on the recorded install."""
        recorded = from_record(self.state.spec) if self.recorded else None
        if recorded is not None and self.given_dir and self.given_dir.rstrip("/") != recorded.install_dir.rstrip("/"):
            return recorded.install_dir
        return None

    def not_the_recorded_dir(self, why: str, more: str = "") -> UsageError | None:
        """``not-the-recorded-install-dir`` when --install-dir named another than the recorded
        INSTALL_DIR (:meth:`other_install_dir`), else None: ``why`` says what the command acts on
        instead, ``more`` adds to the hint."""
        recorded = self.other_install_dir()
        if recorded is None:
            return None
        return UsageError("not-the-recorded-install-dir", f"--install-dir {self.given_dir} is not the install's "
                          f"recorded INSTALL_DIR, {recorded}: {why}.", f"Leave out --install-dir (or give {recorded})"
                          f"{more}.")

    def command(self, args: str) -> str:
        """``nso-install ARGS`` aimed at this install (:func:`aimed`)."""
        return aimed(self.target, args, self.given_dir)

    @property
    def active(self) -> Tree | None:
        return next((t for t in self.trees if t.active), None)

    def tree(self, version: str) -> Tree | None:
        """The tree of ``version`` (a version, ``ncs-VSN``, or a path: that tree's own, as the
        target or, under --root, the host has it; another directory of that name is not it)."""
        if "/" in version.rstrip("/"):
            # (a relative path, ./ncs-6.5.3 in INSTALL_DIR, is the host's: from the working directory)
            given, host = os.path.normpath(version), os.path.normpath(os.path.abspath(version))
            return next((t for t in self.trees if host == os.path.normpath(self.target.host(t.path))
                         or os.path.isabs(version) and given == os.path.normpath(t.path)), None)
        name = os.path.basename(version.rstrip("/"))
        for t in self.trees:
            if version == t.version or name == PurePosixPath(t.path).name:
                return t
        return None

    def not_installed(self, version: str, hint: str) -> UsageError:
        """The refusal of a version that names no installed tree: "current" (the link, not a
        version) and a release prefix ("6.5" for 6.5.3) are answered with what was meant."""
        have = [t.version for t in self.trees]
        installed = f" (installed: {', '.join(have) or 'none'})"
        if os.path.basename(version.rstrip("/")) == "current":
            # (bad-version, not no-such-version: the Ansible uninstall module takes that as
            # already removed, and `ncs_version: current` said ok with the active version kept)
            active = self.active
            return UsageError("bad-version", f"{version} is the link to the active version "
                              f"({active.version if active else 'none'}), not a version{installed}.",
                              f"Name the version itself ({self.command('status')} lists them).")
        near = [v for v in have if v.startswith(version + ".") or v.startswith(version + "_")]
        if near:
            # (6.4.1 is a version of its own beside 6.4.1.1, as 6.5 is beside 6.5.3: "name it in
            # full: 6.4.1.1" sent an operator whose 6.4.1 was already gone to the other version)
            hint = f"Name it in full if you meant {' or '.join(near)}; if not: {hint[:1].lower()}{hint[1:]}"
        elif (bad := self._malformed(version)) is not None:
            return UsageError("bad-version", f"{version!r} names no NSO version: {bad[0]}{installed}.", bad[1])
        # (a mistyped --install-dir: not no-such-version, which the Ansible uninstall module takes
        # as already removed, so the version stayed installed and the task said ok)
        if (elsewhere := self.not_the_recorded_dir(f"NSO {version} is not installed under it{installed}")):
            return elsewhere
        if not have:  # nothing at all: more often the wrong --root or --install-dir than a missing version
            hint += " If NSO is installed, point --root and --install-dir at it."
        return UsageError("no-such-version", f"NSO {version} is not installed under {self.spec.install_dir}"
                          f"{installed}.", hint)

    def _malformed(self, version: str) -> tuple[str, str] | None:
        """(what is wrong, what to give) for a name that is no version, ncs-VSN or path as typed:
        not "not installed" (and "install it first"), which is for a version that can be; a
        distinct reference, as the Ansible uninstall module takes no-such-version as done."""
        from ..distribution.checks import VERSION_RE

        listed = f"{self.command('status')} lists them."
        if not version:
            return "it is empty", f"Name an installed version: {listed}"
        clean = version.strip().rstrip("/")
        meant = self.tree(clean) if clean else None
        problem = strays(version)
        if problem is not None:
            if meant is None:
                return f"it {problem}", f"Give the version alone, such as 6.5.3: {listed}"
            folded = " (a folded YAML value, >, ends with a newline: write >- or quote it)" * version.endswith("\n")
            return f"it {problem}", f"Give it as {version.strip()}{folded}."
        name = os.path.basename(version.rstrip("/"))
        if version.endswith("/") and "/" not in version.rstrip("/") and not name.startswith("ncs-"):
            # (a version is no directory: "6.4.1/" is a completion of ncs-6.4.1/ cut short, or a typo)
            return "it ends with a '/'", (f"Give {meant.version}, or its tree {meant.path}." if meant is not None
                                          else f"Give the version alone, such as 6.5.3: {listed}")
        core = name.removeprefix("ncs-")
        if VERSION_RE.fullmatch(core) or core.isdigit():
            return None  # a version, ncs-VSN or path of one that is not installed
        return ("an NSO version is numbers and dots (6.5.3), ncs-6.5.3 or the path of that tree",
                f"Name an installed version: {listed}")

    @property
    def previous(self) -> str | None:
        """The version that was active before the active one (what rollback goes back to): one
        still installed (an uninstalled one is passed over for the switch before it, if any);
        None after a rollback to the active one (:attr:`rolled_back_from`)."""
        active = self.active
        if active is None or self.rolled_back_from is not None:
            return None
        for a in reversed(self.state.activations):
            if a.get("to") == active.version and a.get("from") \
                    and a["from"] != active.version and self.tree(a["from"]) is not None:
                return a["from"]
        return None

    @property
    def rolled_back_from(self) -> str | None:
        """The version the last switch rolled back from, when that switch made the active version
        active (rollback undoes the last switch; repeated, it does nothing rather than undo itself)."""
        active = self.active
        if active is None:
            return None
        # (a switch recorded ahead counts once current leads there: a rollback killed after it)
        last = next((a for a in reversed(self.state.activations)
                     if not a.get("pending") or a.get("to") == active.version), None)
        if last is not None and last.get("rollback") and last.get("to") == active.version:
            return last.get("from")
        return None

    def go_forward(self, version: str) -> str:
        """How to go forward again to ``version`` after a rollback from it: ``activate`` while it
        is installed; once uninstalled (the usual cleanup after a rollback), activate refuses it
        (no-such-version), so it must be installed again first."""
        if self.tree(version) is not None:
            return self.command(f"activate {version}")
        return f"install NSO {version} again ({self.command('install DISTRIBUTION --system-install --activate')})"

    def running_from(self, tree: Tree) -> list[int]:
        prefixes = [tree.path.rstrip("/") + "/"] + [f"{self.real_dir}/{PurePosixPath(tree.path).name}/"] * bool(
            self.real_dir)
        if tree.active:
            prefixes += [f"{d}/current/" for d in (self.spec.install_dir, self.real_dir) if d]
        return [pid for pid, exe in self.running if exe.startswith(tuple(prefixes))]

    def recorded_version(self, path: str) -> str | None:
        """The version nso-install unpacked at ``path`` (its manifest), None without a record."""
        m = self.state.manifest(path)
        return m.version if m is not None else None

    def lost(self) -> list[Lost]:
        """The recorded trees that are no longer there as what nso-install unpacked: a tree of
        INSTALL_DIR that lost its VERSION or its directory is not among :attr:`trees` (found by
        their VERSION file), but its record says it should be."""
        facts = Facts(self.target)
        found = {t.path: t.version for t in self.trees}
        out = []
        for path in self.state.recorded_trees():
            version = self.recorded_version(path)
            if path in found:  # there with a VERSION: lost when it names another version
                problem = f"holds NSO {found[path]}" if version is not None and found[path] != version else None
            else:
                problem = unrecognised(facts, path, version)
            if problem:
                out.append(Lost(path, version or "?", problem))
        return out

    def cdb_files(self) -> list[str]:
        return cdb_files(Facts(self.target), self.spec.run_dir)


def cdb_files(facts: Facts, run_dir: str) -> list[str]:
    """The CDB files in ``run_dir``/cdb (data an NSO version may have upgraded)."""
    return [n for n in facts.listdir(f"{run_dir}/cdb") if n.endswith(".cdb")]


def _undamaged(state: State, options: str) -> State:
    """``state``, unless it is damaged: then what to run (install with the distribution and
    ``options``, aimed at the staging root: bare, it would install onto the host)."""
    if state.damaged:
        raise NsoInstallError("state-damaged", f"{state.path} is damaged (not the state nso-install writes).",
                              f"Run {aimed(state.target, 'install DISTRIBUTION ' + options)} (with the install's "
                              "options): it rewrites the state.")
    return state


def needs_root(command: str, root: Path | None, check: bool) -> None:
    """``needs-root`` (exit 2) for a command that changes the system install (activate, rollback,
    uninstall, keys rotate), not staged and not --check, run by another account than root: said
    before the install is read, as install says it, not as the "permission denied" of reading
    root's records (exit 1), nor as whatever else a reader finds first."""
    if not check and root is None and os.geteuid() != 0:
        raise UsageError("needs-root", f"{command} changes the system install (/opt, /etc and /var, nso-install's "
                         "records) and must run as root.",
                         f"Run it as root (sudo); nso-install {command} --check, as root too, shows what it would do "
                         "and changes nothing.")


def look(root: Path | None = None, install_dir: str | None = None, state: State | None = None) -> Installation:
    """The system install on the target (``--root``); ``install_dir`` overrides the recorded one.
    ``state``: the system install's state as a run holding its lock has it (else read here)."""
    target = Target.at(root)
    if install_dir:  # (as install takes it: "/srv/ncs/" is /srv/ncs, whose trees are /srv/ncs/ncs-VSN)
        install_dir = str(normalize(install_dir))
    state = _undamaged(state or State(target, state_path("system", None)), "--system-install")
    spec = from_record(state.spec)
    recorded = spec is not None
    spec = spec or InstallSpec()
    if install_dir:
        spec = replace(spec, install_dir=install_dir)
    inst = Installation(target, state, spec, recorded, given_dir=install_dir or None)
    facts = Facts(target)
    idir = spec.install_dir
    cur = facts.path(f"{idir}/current")
    active_path = None
    if cur.kind == LINK and cur.link:
        inst.current = cur.link
        pointed = os.path.normpath(cur.link if cur.link.startswith("/") else f"{idir}/{cur.link}")
        inst.dangling = facts.path(pointed).kind != DIR
        active_path = pointed
    # INSTALL_DIR may be a root-owned link to the real directory (/opt/ncs -> /data/ncs)
    real = target.dir_link(idir, "--install-dir") if facts.path(idir).kind == LINK else None
    inst.real_dir = str(real) if real else None
    for name in facts.listdir(str(real or idir)):
        p = f"{idir}/{name}"
        if name.startswith("ncs-") and facts.path(p).kind == DIR and facts.path(f"{p}/VERSION").kind == FILE:
            version = facts.version_file(p) or name[4:]
            inst.trees.append(Tree(p, version, p == active_path, state.manifest(p) is not None))
    inst.trees.sort(key=lambda t: (vtuple(t.version), t.path))
    if not target.staged:
        from ..services import running_ncs

        # command lines are believed for root's processes and the NSO user's (services.running_ncs)
        nso_uid = facts.accounts.uid(spec.run_as_user) if spec.run_as_user else None
        inst.running = running_ncs(idir, nso_uid) + (running_ncs(inst.real_dir, nso_uid) if inst.real_dir else [])
    return inst


def look_local(root: Path | None, local_dir: str) -> Installation:
    """The local install in ``local_dir`` (``--local-install DIR``) as found: one directory, its
    one tree (no ``current``), its records inside it (:func:`~nso_install.spec.state_path`)."""
    target = Target.at(root)
    state = _undamaged(State(target, state_path("local", local_dir)), f"--local-install {sh(local_dir)}")
    spec = from_record(state.spec)
    recorded = spec is not None
    # (the record does not name the directory it is in)
    spec = replace(spec, local_dir=local_dir) if spec is not None else InstallSpec(kind="local", local_dir=local_dir)
    inst = Installation(target, state, spec, recorded)
    facts = Facts(target)
    if facts.path(local_dir).kind == DIR and facts.path(f"{local_dir}/VERSION").kind == FILE:
        version = facts.version_file(local_dir) or "?"
        inst.trees.append(Tree(local_dir, version, True, state.manifest(local_dir) is not None))
    if not target.staged:
        from ..services import running_ncs

        inst.running = running_ncs(local_dir, os.geteuid())  # (a local install's NSO runs as its owner)
    return inst
