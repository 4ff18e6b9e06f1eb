"""``nso-install verify [--full]``: is the install still what nso-install made of it?

Read-only, like ``rpm -V`` or ``debsums``:

* every installed tree against its manifest: missing, changed (type, size, mtime, mode, owner,
  link target; with ``--full`` also every file's sha256) and extra entries; every tree
  nso-install recorded unpacking is judged, so one that lost its directory or its VERSION
  file (or holds another version) fails rather than vanishing from the check;
* the privileged binaries of every tree against the recorded spec (setuid bits, owners, modes,
  capabilities), in both directions: a missing grant and a stray one; a FIPS install's crypto.so
  in the active tree;
* the config files nso-install wrote: edited since, missing, a ``.new`` rendering waiting;
* ``current`` pointing nowhere, or to a directory that is no NSO tree (no VERSION), or missing
  while versions are installed;
* a run that did not finish (killed, failed: its marker is still there), whatever it left undone;
* nothing to verify at all (no tree under INSTALL_DIR): a failure, as ``rpm -V`` of a package
  that is not installed.

A local install (``--local-install DIR``) is one tree with its config and secrets inside it, and
no ``current``: the same checks, with what a local install writes into its tree left to theirs.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import field

from ..actions.base import Context
from ..actions.files import beside
from ..actions.fips import CRYPTO_NIF, FIPS_BUILD, FipsCrypto, written_in_tree
from ..actions.privileges import PATTERNS, REMOVABLE, present, privileged_actions
from ..capabilities import format_caps
from ..actions.tree import (LOCAL_OWNED_ELSEWHERE, LOCAL_WRITTEN_ELSEWHERE, WRITTEN_IN_EVERY_TREE,
                            left_out_of_system_tree)
from .. import fsops
from ..errors import NsoInstallError, sh
from ..facts import ABSENT, FILE, Facts
from ..manifest import compare
from ..spec import from_record
from ..state import describe_unfinished, run_marker
from .installation import Installation, Tree, run_dir_owner
from ..record import record


@record
class Finding:
    """One difference between the install and what nso-install made of it."""
    kind: str  # tree | privilege | config | link | directory (a local DIR others may write) | install (nothing installed to verify)
    path: str
    problem: str
    fails: bool = True  # False: worth knowing, not damage (an administrator's edit of a config file)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "problem": self.problem, "fails": self.fails}


@record
class Verification:
    """What verify found: differences, entries nso-install did not install, trees compared."""
    findings: list[Finding] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # entries nso-install did not install (caches...)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # trees compared with a manifest

    @property
    def ok(self) -> bool:
        return not any(f.fails for f in self.findings)

    def as_dict(self) -> dict:
        return {"version": 1, "result": "verify", "ok": self.ok, "findings": [f.as_dict() for f in self.findings],
                "extra": self.extra, "checked": self.checked, "notes": self.notes}


def verify(inst: Installation, full: bool = False) -> Verification:
    v = Verification()
    facts = Facts(inst.target)
    if inst.spec.system:  # (a local install is one directory: no current link)
        v.findings += _current_link(inst, facts)
    elif (mode := inst.target.open_local_dir(inst.spec.local_dir)) is not None:
        # (install refuses to run on it: another account could have swapped bin/ or etc/ncs in it,
        # and what verify compares below only shows what it left changed)
        v.findings.append(Finding("directory", inst.spec.local_dir,
                                  f"writable by group or others (mode {mode:04o}): another account could replace "
                                  "what is in it (bin/, etc/ncs) with its own. Check what differs below, then "
                                  f"chmod go-w {sh(inst.target.host(inst.spec.local_dir))}"))
    # What the records say was unpacked, not only what a VERSION file shows today: a tree that
    # lost its VERSION or its directory is damage, not "nothing installed".
    lost = {t.path: t for t in inst.lost()}
    for t in lost.values():
        v.findings.append(Finding("tree", t.path, _lost_problem(inst, t, facts.path(t.path).kind == ABSENT)))
    # recorded trees outside INSTALL_DIR (an earlier one), intact: checked like the others
    elsewhere = [Tree(p, inst.recorded_version(p) or "?", manifest=True) for p in inst.state.recorded_trees()
                 if p not in lost and all(p != t.path for t in inst.trees)]
    for tree in inst.trees + elsewhere:
        fips = fips_tree(inst, tree)  # (once a tree: another than the active one's is read off its crypto.so)
        if tree.path not in lost:  # (another version in its place: compared with nothing)
            _tree(inst, tree, full, v, fips)
        _privileges(inst, tree, facts, v, fips)  # every binary on disk, also in a tree that is not the recorded one
    _config(inst, facts, v)
    unfinished = inst.state.unfinished()
    if unfinished is not None:  # killed or failed half way: what is missing may be anything it had yet to do
        v.findings.append(Finding("install", run_marker(inst.state.path),
                                  describe_unfinished(unfinished, inst.state.held_by_another_run())))
    if not inst.trees and not lost:
        v.findings.append(Finding("install", inst.spec.install_dir if inst.spec.system else inst.spec.local_dir,
                                  _nothing_installed(inst)))
    return v


def _current_link(inst: Installation, facts: Facts) -> list[Finding]:
    """What is wrong with ``INSTALL_DIR/current``: pointing nowhere, to no NSO tree, or missing."""
    link = f"{inst.spec.install_dir}/current"
    if inst.dangling:
        return [Finding("link", link, f"points to {inst.current}, which does not exist")]
    if inst.current is not None and facts.path(f"{_pointed(inst)}/VERSION").kind != FILE:
        return [Finding("link", link, f"points to {inst.current}, which is no NSO tree (no VERSION file); "
                                      f"{inst.command('activate VSN')} points it to an installed version")]
    if inst.current is None and inst.trees:  # (uninstall --force of the active version, a link removed)
        what = facts.path(link).kind
        return [Finding("link", link, f"{'missing' if what == ABSENT else f'not a symbolic link (a {what})'}: no NSO "
                                      f"version is active (installed: {', '.join(t.version for t in inst.trees)}); "
                                      f"{inst.command('activate VSN')} makes one active")]
    return []


def _pointed(inst: Installation) -> str:
    """Where ``current`` leads, as a target path (never followed on the host: under --root an
    absolute link text would lead out of the staging root)."""
    idir = inst.spec.install_dir
    return os.path.normpath(inst.current if inst.current.startswith("/") else f"{idir}/{inst.current}")


def _lost_problem(inst: Installation, t, gone: bool) -> str:
    nso = f"NSO {t.version}" if t.version != "?" else "NSO"
    # install refuses to unpack over a directory that holds something else: it must go first
    fix = "Put it back, or" if gone else "Put the original back, or move what is there away and"
    # (aimed where verify looked: without --root the uninstall forgets the host's tree, if any)
    return (f"{t.problem}, but nso-install unpacked {nso} here and still records it. {fix} install {nso} "
            f"again from its distribution ({inst.command('install DISTRIBUTION --system-install')}); if it was "
            f"removed on purpose, {inst.command('uninstall --ncs-version ' + sh(t.path))} forgets it (and removes "
            "nothing)")


def _nothing_installed(inst: Installation) -> str:
    """Why there is nothing to verify, and where to look instead (a CI gate with a mistyped
    --install-dir or --root must not pass: rpm -V of a package not installed fails too)."""
    if not inst.spec.system:
        host = inst.target.host(inst.spec.local_dir)
        if os.path.islink(host):  # (never followed: install refuses it too, and says so)
            return (f"{inst.spec.local_dir} is a symbolic link (to {os.readlink(host)}), which nso-install never "
                    "follows: nothing was verified. Give the directory it leads to (--local-install DIR)")
        return (f"no NSO installed in {inst.spec.local_dir} to verify (no VERSION file there). Check the "
                f"directory given to --local-install, or install NSO there first ({_reinstall(inst)})")
    recorded = from_record(inst.state.spec)
    where = ""
    if recorded is not None and recorded.install_dir != inst.spec.install_dir:
        where = f"; the install nso-install recorded is in {recorded.install_dir} (leave out --install-dir)"
    elif not inst.state.spec:
        where = "; nso-install has no record of an install on this target"
    return (f"no NSO installed here to verify (no ncs-VSN directory with a VERSION file){where}. Check --root "
            f"and --install-dir, or install NSO first ({inst.command('install DISTRIBUTION --system-install')})")


def compare_tree(inst: Installation, tree, full: bool = False, fips: bool | None = None):
    """The tree against its manifest (None without one), as verify judges it.  An earlier answer
    to the same question in this process is reused (install's audit after a run that changed
    nothing; the audit's walk, which asks first for the listing of an intact tree).  ``fips``:
    :func:`fips_tree`'s answer for the tree, when the caller has it already."""
    m = inst.state.manifest(tree.path)
    if m is None:
        return None
    # what other actions write into the tree (compared by their own checks; the FIPS crypto.so below)
    fips = fips_tree(inst, tree) if fips is None else fips
    if inst.spec.system:
        written = WRITTEN_IN_EVERY_TREE + written_in_tree(fips)
        left_out = left_out_of_system_tree(inst.spec.keep_ncs_setup)  # bin/ncs-setup: may be gone, or there
    else:
        written = LOCAL_WRITTEN_ELSEWHERE + written_in_tree(fips)
        left_out = LOCAL_OWNED_ELSEWHERE
    return compare(m, inst.target.host(tree.path), frozenset(written), m.matching(PATTERNS), full,
                   frozenset(REMOVABLE) | frozenset(left_out), reuse=True, listing=True)


def fips_tree(inst: Installation, tree) -> bool:
    """Whether ``tree`` is judged as a FIPS install's (its crypto.so the FIPS build).  The active
    tree (a local install's only one) follows the recorded spec.  FIPS belongs to each installed
    version, so another tree is FIPS when its crypto.so is the FIPS build nso-install unpacked
    beside it (both vouched for by its manifest): after --no-fips-install the 6.5 tree kept for
    a rollback was reported as changed ("find out who changed the files"), and under FIPS a
    6.4 tree kept for a rollback as lacking the FIPS files, neither of which was damage."""
    if not inst.spec.system or tree.active:
        return inst.spec.fips_install
    m = inst.state.manifest(tree.path)
    if m is None:
        return False
    nif = next((rel for rel in m.entries if any(fnmatch.fnmatchcase(rel, p) for p in CRYPTO_NIF)), None)
    build = m.entries.get(f"{posixpath.dirname(nif)}/{FIPS_BUILD}") if nif else None
    if build is None or not build.digest:
        return False
    try:
        fd = fsops.open_regular(inst.target.host(f"{tree.path}/{nif}"), f"{tree.path}/{nif}")
    except (OSError, NsoInstallError):
        return False
    try:
        return fsops.fd_sha256(fd) == build.digest
    finally:
        os.close(fd)


def _reinstall(inst: Installation) -> str:
    """``nso-install install DISTRIBUTION`` for this install, aimed at it (--root, the kind, the
    directory): bare, it would install onto the host, or nowhere."""
    kind = "--system-install" if inst.spec.system else f"--local-install {sh(inst.spec.local_dir)}"
    return inst.command(f"install DISTRIBUTION {kind}")


def _tree(inst: Installation, tree, full: bool, v: Verification, fips: bool) -> None:
    drift = compare_tree(inst, tree, full, fips)
    if drift is None and tree.path in inst.state.recorded_trees():
        v.findings.append(Finding("tree", tree.path, "its manifest, recorded by nso-install, is missing or not the "
                                  f"one its records vouch for; install it again from its distribution "
                                  f"({_reinstall(inst)}) to compare the tree with it and record the manifest "
                                  "again"))
        return
    if drift is None:
        v.notes.append(f"{tree.path}: no manifest (not unpacked by nso-install, or its records are not sealed by "
                       f"root on this host); install it again from its distribution ({_reinstall(inst)}) to "
                       "record one")
        return
    v.checked.append(tree.path)
    v.findings += [Finding("tree", f"{tree.path}/{p}", "missing") for p in drift.missing]
    v.findings += [Finding("tree", f"{tree.path}/{p}", what) for p, what in drift.changed]
    v.extra += [f"{tree.path}/{p}" for p in drift.extra]


def _privileges(inst: Installation, tree, facts: Facts, v: Verification, fips: bool) -> None:
    # granted where the recorded install put them (its INSTALL_DIR's trees), withdrawn elsewhere:
    # judged by the record, not by an --install-dir given here (mistyped, every recorded tree
    # would seem outside it and be expected to hold no grant)
    recorded = from_record(inst.state.spec)
    inside = tree.path.rsplit("/", 1)[0] == (recorded.install_dir if recorded is not None else inst.spec.install_dir)
    # (a local install grants none; nothing recorded: NSO's own installer, its account judged as the
    # audit judges it, by who owns RUN_DIR, not as an NSO that runs as root)
    account = inst.spec.run_as_user if inst.recorded else run_dir_owner(facts, inst.spec.run_dir)
    user = account if inside and inst.spec.system else None
    ctx = Context(inst.target, inst.state.conffiles, trusted=inst.state.unpacked, manifest=inst.state.manifest)
    # every tree: crypto.so is left out of each tree's manifest comparison while FIPS is on, so this is its check
    swap = [FipsCrypto(tree.path, tree.path)] if fips else []
    # at the paths the tree really holds (a 6.6+ tree's are found by glob: pam-*/priv/epam)
    held = present(facts, tree.path)
    if not inst.spec.system:  # grants none; its files are whoever installed it's, not root's (the plain Attrs)
        _local_privileges(tree.path, held, facts, v)
    plain = privileged_actions(tree.path, tree.version, user, inst.spec.setuid_cmdwrapper, held=held) \
        if inst.spec.system else []
    for action in plain + swap:
        try:
            outcome = action.check(facts, ctx)
        except NsoInstallError as e:
            v.findings.append(Finding("privilege", action.path, e.message))
            continue
        if outcome.changed:
            v.findings.append(Finding("privilege", action.path, outcome.detail))


def _local_privileges(vdir: str, held: tuple[str, ...], facts: Facts, v: Verification) -> None:
    """A local install's privileged binaries (epam, ncs.smp...) carry no setuid or setgid bit
    and no file capability: the install grants none (their owner and mode are the tree's, which
    the manifest comparison checks)."""
    for rel in held:
        path = f"{vdir}/{rel}"
        fact = facts.path(path)
        if fact.kind != FILE:
            continue  # (the tree comparison names a link or directory there)
        bits = [name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid")) if (fact.mode or 0) & bit]
        caps = facts.caps(path)
        if bits or caps:
            have = " and ".join(bits + ([f"capabilities {format_caps(caps)}"] if caps else []))
            v.findings.append(Finding("privilege", path, f"{have}: a local install grants no privilege"))


def _config(inst: Installation, facts: Facts, v: Verification) -> None:
    for path, digest in sorted(inst.state.conffiles.items()):
        fact = facts.path(path)
        if fact.kind == ABSENT:
            v.findings.append(Finding("config", path, "missing"))
        elif fact.kind != FILE:
            v.findings.append(Finding("config", path, f"not a regular file ({fact.kind})"))
        elif facts.sha256(path) != digest:
            v.findings.append(Finding("config", path, "edited since nso-install wrote it", fails=False))
        if facts.path(beside(path, ".new")).kind == FILE:
            v.findings.append(Finding("config", beside(path, ".new"), f"a new rendering of {path} waits to be merged",
                                      fails=False))
    for path in sorted(inst.state.kept):  # (another installer's files, kept as found)
        if facts.path(beside(path, ".new")).kind == FILE:
            v.findings.append(Finding("config", beside(path, ".new"), f"a new rendering of {path} (not written by "
                                      "nso-install: kept as found) waits to be merged", fails=False))
