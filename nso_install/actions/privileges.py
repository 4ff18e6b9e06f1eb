"""Privileged binaries: setuid helpers and file capabilities, granted or withdrawn.

What NSO's installer does with ``--run-as-user`` (ncs-installer(1), nso-gitbook
``resources/man/ncs-installer.1.md``; the docs give no mode or owner for these files, only that
execution is restricted to the run-as user, and leave setuid ``cmd*wrapper`` to the administrator):

* ``epam`` (PAM helper) setuid root;
* ``lib/ncs/erts/bin/ncs`` and ``ncs.smp``: ``cap_net_bind_service``;
* ``lib/ncs/bin/ip``: ``cap_net_admin``; ``lib/ncs/bin/arping``: ``cap_net_raw``;
* execution of all of these restricted to the run-as user.

Our modes: ``4750 root:<user's group>`` for setuid helpers and ``0750 root:<user's group>``
for capability binaries, so root owns everything it might execute and only the NSO account
(the sole member of its own group) can execute them.  ``--setuid-cmdwrapper`` (opt-in) does
the same for ``cmdwrapper``/``cmdptywrapper``.

Every privileged binary always has a desired state, so a changed spec withdraws what an
earlier one granted: without ``--run-as-user`` (or without ``--setuid-cmdwrapper`` for the
wrappers) it is the plain ``0755 root:root`` with no capabilities.

Capabilities are read from the file's ``security.capability`` attribute (through
:class:`Facts`) and written through the file's descriptor.  A privilege goes only to the file
nso-install itself unpacked: its sha256 was recorded at unpack time and is checked again, on
the descriptor that then gets the setuid bit or capabilities, reached through directories
only root can change (:func:`nso_install.fsops.open_trusted`).
``epam`` and the wrappers live in version-specific directories (<= 6.5: ``lib/core/pam``,
``lib/core/confd``; 6.6+: ``lib/pam-*``, ``lib/confd-*``); the actions find them by glob
under the unpacked tree each time they are checked, so a plan made before the tree exists
(``--check`` on an empty target) still shows the right action.  Another version's tree,
already installed, gets actions only for the privileged binaries it holds, at their real
paths (:func:`present`): nothing is planned, let alone created, for a file it does not have.
"""

from __future__ import annotations

import errno
import fnmatch
import os
from dataclasses import field
from pathlib import PurePosixPath
from typing import ClassVar

from .. import fsops
from ..capabilities import XATTR, Caps, decode, encode, format_caps, parse_text
from ..errors import ApplyError, UnsafePathError
from ..facts import ABSENT, FILE, Facts
from ..record import record
from ..versions import at_least
from .base import Action, Attrs, change, ok, refuse_link, require_kind

# relative to INSTALL_DIR/ncs-VSN; both layouts are tried, in this order
EPAM = ("lib/ncs/lib/core/pam/priv/epam", "lib/ncs/lib/pam-*/priv/epam")
CMDWRAPPER = ("lib/ncs/lib/core/confd/priv/cmdwrapper", "lib/ncs/lib/confd-*/priv/cmdwrapper")
CMDPTYWRAPPER = ("lib/ncs/lib/core/confd/priv/cmdptywrapper", "lib/ncs/lib/confd-*/priv/cmdptywrapper")
CAPABILITIES = (
    ("lib/ncs/erts/bin/ncs", "cap_net_bind_service=ep", "NSO daemon start binary: bind ports below 1024"),
    ("lib/ncs/erts/bin/ncs.smp", "cap_net_bind_service=ep", "NSO daemon (SMP VM): bind ports below 1024"),
    ("lib/ncs/bin/ip", "cap_net_admin=ep", "ip(8) copy for VIP management (tailf-hcc)"),
    ("lib/ncs/bin/arping", "cap_net_raw=ep", "arping(8) copy for gratuitous ARP (tailf-hcc)"),
)
SETUID_MODE = 0o4750
CAP_MODE = 0o750
PLAIN = Attrs(0o755)  # what every one of them is without a grant
PATTERNS = (*EPAM, *CMDWRAPPER, *CMDPTYWRAPPER, *(rel for rel, _, _ in CAPABILITIES))
# NSO's docs: delete ip and arping when tailf-hcc is not used; a deleted one stays deleted.
REMOVABLE = ("lib/ncs/bin/ip", "lib/ncs/bin/arping")


# --- finding files in the unpacked tree ----------------------------------------------------

def glob_target(facts: Facts, base: str, pattern: str) -> list[str]:
    """Target paths under ``base`` matching ``pattern`` (``*`` within one component), via facts."""
    found = [base]
    for part in PurePosixPath(pattern).parts:
        nxt = []
        for d in found:
            if any(c in part for c in "*?["):
                nxt += [f"{d}/{n}" for n in facts.listdir(d) if fnmatch.fnmatchcase(n, part)]
            else:
                nxt.append(f"{d}/{part}")
        found = nxt
    return [p for p in found if facts.path(p).kind != ABSENT]


def present(facts: Facts, vdir: str) -> tuple[str, ...]:
    """The privileged binaries the installed tree ``vdir`` holds (paths relative to it): what
    every pattern matches there now, stray copies included (the action then refuses them)."""
    return tuple(sorted({str(PurePosixPath(p).relative_to(vdir))
                         for pat in PATTERNS for p in glob_target(facts, vdir, pat)}))


def matches(rel: str, pattern: str) -> bool:
    """``rel`` matches ``pattern`` component by component (``*`` never spans a ``/``, as in
    :func:`glob_target`)."""
    a, b = PurePosixPath(rel).parts, PurePosixPath(pattern).parts
    return len(a) == len(b) and all(fnmatch.fnmatchcase(x, y) for x, y in zip(a, b))


def display_path(vdir: str, patterns: tuple[str, ...], version: str, names: list[str] | None = None) -> str:
    """The path shown in the plan: from the distribution's member list when there is one, else
    from the version rule (<= 6.5 fixed path, 6.6+ glob)."""
    names = [n.removeprefix("./") for n in names or ()]  # tar listings often name members ./x
    for pat in patterns if names else ():
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if len(hits) == 1:
            return f"{vdir}/{hits[0]}"
    pat = patterns[1] if at_least(version, 6, 6) else patterns[0]
    return f"{vdir}/{pat}"


@record
class _Privileged(Action):
    """The setuid bit or file capabilities one NSO binary of a version directory should have."""
    path: str  # shown path (may contain a glob for 6.6+ before unpacking)
    vdir: str
    patterns: tuple[str, ...]
    attrs: Attrs
    reason: str = ""
    caps: Caps = field(default_factory=dict)
    warn_setuid: bool = False  # warn when setuid would have no effect (nosuid, no_new_privs)
    risk: str | None = None  # standing warning, repeated on every run
    tree: object = field(default=None, compare=False, repr=False)  # the InstallTree of ``vdir``, when this run has one

    def _resolve(self, facts: Facts) -> str | None:
        """The real path, None before the tree is unpacked; raises on ambiguity."""
        if facts.path(f"{self.vdir}/VERSION").kind == ABSENT:
            return None
        hits: list[str] = []
        for pat in self.patterns:
            hits = glob_target(facts, self.vdir, pat)
            if hits:
                break
        if len(hits) > 1:
            raise UnsafePathError("ambiguous-helper", f"{self.path} matches several files: {', '.join(hits)}.",
                                  "Remove the stale copies from the install directory.")
        if not hits:
            return ""
        require_kind(refuse_link(facts.path(hits[0])), FILE, hint="Check the install directory.")
        return hits[0]

    def _warnings(self, facts: Facts) -> str | None:
        out = []
        if self.warn_setuid and self.attrs.mode & 0o4000:
            m = facts.mount(self.vdir)
            if m is not None and m.nosuid:
                out.append(f"{self.vdir} is on a nosuid mount ({m.mountpoint}): the setuid bit on {self.path} "
                           "has no effect there.")
            if facts.no_new_privs:
                out.append("this process runs with no_new_privs: setuid binaries started from it or its children "
                           "(e.g. an NSO started from this session) gain no privileges.")
        if self.risk:
            out.append(self.risk)
        return " ".join(out) or None

    def _want(self) -> str:
        return self.attrs.shown() + (f", {format_caps(self.caps)}" if self.caps else "")

    def _drift(self, facts: Facts, real: str) -> list[str]:
        drift = self.attrs.drift(facts, facts.path(real))
        have = facts.caps(real)
        if have != self.caps:
            drift.append(f"capabilities {format_caps(have)} -> {format_caps(self.caps)}")
        return drift

    @property
    def granted(self) -> bool:
        return bool(self.attrs.mode & 0o6000 or self.caps)

    def _check_trusted(self, ctx, real: str, digest: str | None) -> None:
        """A privilege goes only to the very file nso-install unpacked (its recorded sha256)."""
        recorded = ctx.trusted.get(self.vdir, {}).get(str(PurePosixPath(real).relative_to(self.vdir)))
        if recorded is None:
            raise UnsafePathError("unrecorded-tree", f"{real}: nso-install has no record of unpacking it, so it cannot "
                                  "tell this file from one swapped in later; it sets no privilege on it.",
                                  f"Re-install {self.vdir} from its distribution with nso-install (move the "
                                  "directory away first), or install that distribution again to record it.")
        if digest != recorded:
            raise UnsafePathError("privileged-file-changed", f"{real} is not the file nso-install unpacked (its "
                                  "content changed); it sets no privilege on it.",
                                  f"Find out who changed it; re-install {self.vdir} from its distribution.")

    def check(self, facts, ctx):
        warning = self._warnings(facts)
        real = self._resolve(facts)
        # A tree this run repairs is unpacked again, and exchanged for the one here: its file
        # comes plain from the distribution, as on a fresh install (the check said "ok" from the
        # damaged tree's file, and the run then set the privilege again: --check did not say so)
        again = real is not None and self.tree is not None and self.tree.repairs(facts, ctx)
        if real is None or again:
            if self.attrs == PLAIN and not self.caps:  # how the tree unpacks them: nothing will change
                return ok(f"{self._want()} as unpacked", warning=warning)
            return change(f"set {self._want()} once {'repaired' if again else 'unpacked'}", warning=warning)
        if real == "":
            return ok("not in this install (not shipped, or removed by the administrator); nothing to do",
                      warning=warning)
        drift = self._drift(facts, real)
        # (the line names self.path: the real file only when a pattern found it elsewhere)
        where = "" if real == self.path else f"{real}: "
        if drift and self.granted and self.tree is not None and self.tree.records(facts, ctx):
            # a tree NSO's installer unpacked: the run records it first (or repairs it), and then
            # trusts its file; refusing here made --check fail where the run succeeds
            return change(where + "; ".join(drift) + " (once the tree is compared with the distribution)",
                          diff="\n".join(drift), warning=warning)
        if drift and self.granted:
            self._check_trusted(ctx, real, facts.sha256(real))
        if drift:
            return change(where + "; ".join(drift), diff="\n".join(drift), warning=warning)
        return ok(f"{where}{self._want()}", warning=warning)

    def apply(self, facts, ctx, outcome):
        real = self._resolve(facts)
        if not real:
            raise ApplyError("missing-file", f"{self.path} does not exist.",
                             "The distribution is not unpacked yet; this is a bug in the plan order.")
        host = ctx.target.host(real)
        uid, gid = self.attrs.resolve(facts, real)
        # Everything through one descriptor: what was checked is what gets the privilege.
        fd = fsops.open_trusted(host, real) if self.granted else fsops.open_regular(host, real)
        try:
            if self.granted:
                self._check_trusted(ctx, real, fsops.fd_sha256(fd))
            if uid is not None or gid is not None:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)  # clears setuid bits and caps
            os.fchmod(fd, self.attrs.mode)
            set_caps(fd, self.caps, real)
        finally:
            os.close(fd)
        return None


@record
class Setuid(_Privileged):
    """A setuid-root helper (epam, cmdwrapper) executable only by one group, or (no grant)
    the same file without the setuid bit."""

    kind: ClassVar[str] = "setuid"


@record
class Capability(_Privileged):
    """A binary with file capabilities, or (no grant) without any."""

    kind: ClassVar[str] = "capability"


def set_caps(fd: int, caps: Caps, shown: str) -> None:
    """The file's capabilities (its ``security.capability`` attribute) set to exactly ``caps``,
    through its descriptor (setcap would take a path, which could be swapped meanwhile)."""
    try:
        have = decode(os.getxattr(fd, XATTR), shown)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.ENOTSUP):
            raise
        have = {}
    if have == caps:
        return
    try:
        if caps:
            os.setxattr(fd, XATTR, encode(caps))
        else:
            os.removexattr(fd, XATTR)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise ApplyError("no-xattrs", f"{shown}: the file system does not support extended attributes, so no "
                             "file capabilities can be set.",
                             "Install onto a file system with xattr support (ext4, xfs, btrfs; not some "
                             "overlay/NFS setups), or leave out --run-as-user.") from None
        if e.errno in (errno.EPERM, errno.EACCES):
            raise ApplyError("setcap-denied", f"{shown}: setting file capabilities {format_caps(caps)} was refused "
                             f"({e.strerror}).", "Setting file capabilities needs root with CAP_SETFCAP.") from None
        raise


CMDWRAPPER_RISK = ("--setuid-cmdwrapper: cmdwrapper/cmdptywrapper are setuid root, so the programs behind NSO "
                   "actions and CLI commands can run as root: whoever can define actions, clispec commands "
                   "or load packages gets root-level execution on this host.")


def privileged_actions(vdir: str, version: str, group: str | None, setuid_cmdwrapper: bool = False,
                       names: list[str] | None = None, held: tuple[str, ...] | None = None,
                       tree: object = None) -> list[Action]:
    """The desired state of every privileged binary of the tree ``vdir``: granted to ``group``
    (the run-as user's own group) or, with ``group`` None, plain root files without privileges.

    ``held``: for a tree already installed that this run does not unpack, the privileged
    binaries it holds (:func:`present`); only those get an action, at their real path.  A
    binary a tree lacks has no state to keep, and a planned path (a glob, or a file missing
    there) would make the run create parent directories inside another version's tree.
    ``tree``: the InstallTree of ``vdir`` in the same plan (a repair it makes resets them)."""
    acts: list[Action] = []

    def where(patterns: tuple[str, ...]) -> str | None:
        if held is None:  # the tree this run unpacks: from the distribution's listing or the version rule
            return display_path(vdir, patterns, version, names)
        for pat in patterns:  # in the order _Privileged._resolve tries them
            hits = [rel for rel in held if matches(rel, pat)]
            if hits:
                return f"{vdir}/{hits[0]}"  # several: the action's check refuses them all by name
        return None

    def helper(patterns, granted: bool, why: str, risk: str | None = None) -> None:
        if (path := where(patterns)) is None:
            return
        attrs = Attrs(SETUID_MODE, "root", group) if granted else PLAIN
        reason = f"{why}; executable by group {group} only" if granted else f"{why.split(':')[0]}: no setuid bit"
        acts.append(Setuid(path, vdir, patterns, attrs, reason, warn_setuid=granted, risk=risk if granted else None,
                           tree=tree))

    helper(EPAM, group is not None, "PAM helper: setuid root to read /etc/shadow")
    for rel, caps, why in CAPABILITIES:
        path = f"{vdir}/{rel}" if held is None else where((rel,))  # (one fixed path: no glob to show)
        if path is None:
            continue
        if group:
            acts.append(Capability(path, vdir, (rel,), Attrs(CAP_MODE, "root", group),
                                   f"{why}; executable by group {group} only", caps=parse_text(caps), tree=tree))
        else:
            acts.append(Capability(path, vdir, (rel,), PLAIN, f"{why.split(':')[0]}: no capabilities", tree=tree))
    wrappers = group is not None and setuid_cmdwrapper
    for pats, what in ((CMDWRAPPER, "actions"), (CMDPTYWRAPPER, "CLI commands")):
        helper(pats, wrappers, f"{PurePosixPath(pats[0]).name} (--setuid-cmdwrapper): programs behind "
               f"{what} may run as root", CMDWRAPPER_RISK)
    return acts
