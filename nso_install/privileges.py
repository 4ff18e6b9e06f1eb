"""Privileged binaries of a ``--run-as-user`` install: setuid helpers and file capabilities.

What NSO's installer does with ``--run-as-user`` (facts sheet sections 6, 7, 17.6-17.8):

* ``epam`` (PAM helper) setuid root;
* ``lib/ncs/erts/bin/ncs`` and ``ncs.smp``: ``cap_net_bind_service``;
* ``lib/ncs/bin/ip``: ``cap_net_admin``; ``lib/ncs/bin/arping``: ``cap_net_raw``;
* execution of all of these restricted to the run-as user.

Our modes: ``4750 root:<user's group>`` for setuid helpers and ``0750 root:<user's group>``
for capability binaries, so root owns everything it might execute and only the NSO account
(the sole member of its own group) can execute them.  ``--setuid-cmdwrapper`` (opt-in) does
the same for ``cmdwrapper``/``cmdptywrapper``.

Capabilities are set with ``setcap`` and read back with ``getcap`` (libcap2-bin), through
plumbum.  ``epam`` and the wrappers live in version-specific directories (<= 6.5:
``lib/core/pam``, ``lib/core/confd``; 6.6+: ``lib/pam-*``, ``lib/confd-*``); the actions here
find them by glob under the unpacked tree each time they are checked, so a plan made before
the tree exists (``--check`` on an empty target) still shows the right action.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from .actions import Action, Attrs, change, fmt_mode, ok
from .systools import system_tool
from .errors import ApplyError, UnsafePathError
from .facts import ABSENT, FILE, LINK, Facts, mount_of, no_new_privs
from .versions import at_least

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


# --- getcap output ----------------------------------------------------------------------

_CLAUSE = re.compile(r"^([a-z0-9_,]*)((?:[=+-][eip]*)+)$")
_OP = re.compile(r"([=+-])([eip]*)")


def parse_cap_text(text: str) -> dict[str, frozenset[str]]:
    """libcap's textual capabilities (``cap_a,cap_b=ep cap_c+i``) -> {cap: flags}; empty flags dropped.

    An empty capability list or ``all`` stands for every capability and is kept as ``"all"``."""
    caps: dict[str, set[str]] = {}
    for clause in text.split():
        m = _CLAUSE.match(clause.lower())
        if not m:
            raise ValueError(f"not a capability clause: {clause!r}")
        names = [n for n in m.group(1).split(",") if n] or ["all"]
        for op, flags in _OP.findall(m.group(2)):
            for n in names:
                cur = caps.setdefault(n, set(caps.get("all", ())))
                if op == "=":
                    cur.clear()
                    cur.update(flags)
                elif op == "+":
                    cur.update(flags)
                else:
                    cur.difference_update(flags)
    return {n: frozenset(f) for n, f in caps.items() if f}


def parse_getcap(output: str, path: str | None = None) -> dict[str, frozenset[str]]:
    """Capabilities from ``getcap FILE`` output; {} when the file has none (getcap prints nothing).

    Handles libcap >= 2.4x (``/p cap_x=ep``) and older (``/p = cap_x+ep``) formats.  With
    ``path``, only that file's line counts (and its name may contain spaces)."""
    for line in output.splitlines():
        line = line.rstrip()
        if not line:
            continue
        if path is not None:
            if not line.startswith(path + " "):
                continue
            rest = line[len(path):].strip()
        elif " = " in line:
            rest = line.split(" = ", 1)[1]
        else:
            parts = line.split(None, 1)
            rest = parts[1] if len(parts) > 1 else ""
        if rest.startswith("= "):
            rest = rest[2:]
        return parse_cap_text(rest)
    return {}


def format_caps(caps: dict[str, frozenset[str]]) -> str:
    if not caps:
        return "(none)"
    return " ".join(f"{n}={''.join(sorted(f))}" for n, f in sorted(caps.items()))


def get_caps(host_path) -> dict[str, frozenset[str]]:
    from plumbum.commands.processes import ProcessExecutionError

    getcap = system_tool("getcap")
    if getcap is None:
        raise ApplyError("getcap-missing", "getcap is not installed; it is needed to verify file capabilities.",
                         "Install libcap2-bin (Debian/Ubuntu) or libcap (RHEL) and re-run. NSO's --run-as-user "
                         "needs setcap as well.")
    try:
        out = getcap(str(host_path))
    except ProcessExecutionError as e:
        raise ApplyError("getcap-failed", f"getcap {host_path} failed: {(e.stderr or '').strip()}",
                         "Check that the file is readable.") from None
    try:
        return parse_getcap(out, str(host_path))
    except ValueError as e:
        raise ApplyError("getcap-unparsable", f"getcap {host_path} printed something nso-install cannot read ({e}); "
                         "namespaced ([rootid=N]) or unusual capabilities are not compared.",
                         f"Inspect it with getcap -n {host_path}; remove them with setcap -r and re-run.") from None


def set_caps(host_path, caps_text: str, shown: str) -> None:
    from plumbum.commands.processes import ProcessExecutionError

    setcap = system_tool("setcap")
    if setcap is None:
        raise ApplyError("setcap-missing", "setcap is not installed; --run-as-user needs it to give NSO's "
                         "binaries their file capabilities.",
                         "Install libcap2-bin (Debian/Ubuntu) or libcap (RHEL) and re-run.")
    try:
        setcap(caps_text, str(host_path))
    except ProcessExecutionError as e:
        err = (e.stderr or e.stdout or "").strip()
        low = err.lower()
        if "not supported" in low:
            raise ApplyError("no-xattrs", f"{shown}: the file system does not support extended attributes "
                             f"(setcap: {err}).",
                             "Install onto a file system with xattr support (ext4, xfs, btrfs; not some "
                             "overlay/NFS setups), or leave out --run-as-user.") from None
        if "not permitted" in low or "permission" in low:
            raise ApplyError("setcap-denied", f"{shown}: setcap {caps_text} was refused ({err}).",
                             "Setting file capabilities needs root with CAP_SETFCAP.") from None
        raise ApplyError("setcap-failed", f"{shown}: setcap {caps_text} failed ({err}).",
                         "Fix the cause and re-run.") from None


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


def display_path(vdir: str, patterns: tuple[str, ...], dist) -> str:
    """The path shown in the plan: from the distribution's member list when it offers one,
    else from the version rule (<= 6.5 fixed path, 6.6+ glob)."""
    for meth in ("member_names", "names", "members", "getnames"):
        fn = getattr(dist, meth, None)
        if callable(fn):
            try:
                names = [str(n).lstrip("./") for n in fn()]
            except Exception:  # noqa: BLE001 - a reader without a cheap listing: fall back
                break
            for pat in patterns:
                hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
                if len(hits) == 1:
                    return f"{vdir}/{hits[0]}"
            break
    pat = patterns[1] if at_least(dist.version, 6, 6) else patterns[0]
    return f"{vdir}/{pat}"


@dataclass
class _Privileged(Action):
    path: str  # shown path (may contain a glob for 6.6+ before unpacking)
    vdir: str
    patterns: tuple[str, ...]
    attrs: Attrs
    reason: str = ""
    warn_setuid: bool = False  # warn when setuid would have no effect (nosuid, no_new_privs)
    risk: str | None = None  # standing warning, repeated on every run

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
        fact = facts.path(hits[0])
        if fact.kind == LINK:
            raise UnsafePathError("symlink-refused", f"{hits[0]} is a symbolic link; refusing to change it.",
                                  "Replace it with the file from the distribution.")
        if fact.kind != FILE:
            raise UnsafePathError("not-a-file", f"{hits[0]} is not a regular file.", "Check the install directory.")
        return hits[0]

    def _warnings(self, env) -> str | None:
        out = []
        if self.warn_setuid:
            m = mount_of(env.target.host(self.vdir))
            if m is not None and m.nosuid:
                out.append(f"{self.vdir} is on a nosuid mount ({m.mountpoint}): the setuid bit on {self.path} "
                           "has no effect there.")
            if no_new_privs():
                out.append("this process runs with no_new_privs: setuid binaries started from it or its children "
                           "(e.g. an NSO started from this session) gain no privileges.")
        if self.risk:
            out.append(self.risk)
        return " ".join(out) or None

    def _extra_check(self, facts, env, real: str) -> list[str]:
        return []

    def _extra_apply(self, facts, env, real: str) -> None:
        pass

    def _want(self) -> str:
        return f"{fmt_mode(self.attrs.mode)} {self.attrs.owner}:{self.attrs.group}"

    def check(self, facts, env):
        warning = self._warnings(env)
        real = self._resolve(facts)
        if real is None:
            return change(f"set {self._want()} once unpacked", warning=warning)
        if real == "":
            return ok("not in this install (not shipped, or removed by the administrator); nothing to do",
                      warning=warning)
        drift = self.attrs.drift(facts, facts.path(real)) + self._extra_check(facts, env, real)
        if drift:
            return change(f"{real}: " + "; ".join(drift), diff="\n".join(drift), warning=warning)
        return ok(f"{real}: {self._want()}{self._ok_extra()}", warning=warning)

    def _ok_extra(self) -> str:
        return ""

    def apply(self, facts, env, outcome):
        real = self._resolve(facts)
        if not real:
            raise ApplyError("missing-file", f"{self.path} does not exist.",
                             "The distribution is not unpacked yet; this is a bug in the plan order.")
        fact = facts.path(real)
        host = env.target.host(real)
        if self.attrs.drift(facts, fact):
            self.attrs.apply(facts, host, real)  # chown first, then chmod (chown clears setuid and caps)
        self._extra_apply(Facts(env.target), env, real)


@dataclass
class Setuid(_Privileged):
    """A setuid-root helper (epam, cmdwrapper) executable only by one group."""

    kind: ClassVar[str] = "setuid"


@dataclass
class Capability(_Privileged):
    """A binary with file capabilities (``setcap``), verified with ``getcap``."""

    caps: str = ""
    kind: ClassVar[str] = "capability"

    def _extra_check(self, facts, env, real):
        have = get_caps(env.target.host(real))
        want = parse_cap_text(self.caps)
        if have != want:
            return [f"capabilities {format_caps(have)} -> {format_caps(want)}"]
        return []

    def _ok_extra(self):
        return f", {self.caps}"

    def _extra_apply(self, facts, env, real):
        host = env.target.host(real)
        if get_caps(host) != parse_cap_text(self.caps):
            set_caps(host, self.caps, real)


CMDWRAPPER_RISK = ("--setuid-cmdwrapper: cmdwrapper/cmdptywrapper are setuid root, so the programs behind NSO "
                   "actions and CLI commands can run as root: whoever can define actions, clispec commands "
                   "or load packages gets root-level execution on this host.")


def privileged_actions(vdir: str, dist, user: str, group: str, setuid_cmdwrapper: bool = False) -> list[Action]:
    """The privileged-binary actions of a ``--run-as-user USER`` system install."""
    acts: list[Action] = []
    setuid = Attrs(SETUID_MODE, "root", group)
    acts.append(Setuid(display_path(vdir, EPAM, dist), vdir, EPAM, setuid,
                       f"PAM helper: setuid root to read /etc/shadow; executable by group {group} only",
                       warn_setuid=True))
    for rel, caps, why in CAPABILITIES:
        acts.append(Capability(f"{vdir}/{rel}", vdir, (rel,), Attrs(CAP_MODE, "root", group),
                               f"{why}; executable by group {group} only", caps=caps))
    if setuid_cmdwrapper:
        for pats, what in ((CMDWRAPPER, "actions"), (CMDPTYWRAPPER, "CLI commands")):
            acts.append(Setuid(display_path(vdir, pats, dist), vdir, pats, setuid,
                               f"--setuid-cmdwrapper: programs behind {what} may run as root; executable by "
                               f"group {group} only", warn_setuid=True, risk=CMDWRAPPER_RISK))
    return acts


def is_setuid(mode: int | None) -> bool:
    return bool(mode and mode & stat.S_ISUID)
