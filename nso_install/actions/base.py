"""What every action is made of: the contract, outcomes, desired attributes and shared guards.

An action knows how to tell whether it is satisfied (``check``, reads facts only) and how to
get there (``apply``, the only place with side effects).  ``apply`` re-checks nothing itself:
the engine checks right before and right after.  It returns :class:`Effects` (notes for the
operator, conffile digests for the state file) instead of changing anything shared.

Owners are names (``"root"``, the run-as user), resolved through the target's own
/etc/passwd and /etc/group, so ``--root`` staging resolves against the staged system.
``owner=None`` means "leave the owner alone" (local installs as an ordinary user).
"""

from __future__ import annotations

import functools
import os
from dataclasses import field
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping

from .. import fsops, masks
from ..errors import ApplyError, UnsafePathError
from ..facts import ABSENT, DIR, FILE, LINK, Facts, PathFact
from ..record import record
from ..target import Target

if TYPE_CHECKING:
    from ..manifest import Manifest


@record
class Outcome:
    """What checking an action found: satisfied, or what applying it would change (never secret)."""
    status: str  # "ok" (satisfied) or "change" (apply would change something)
    detail: str  # why it is satisfied, or what would change; never secret
    diff: str | None = None  # unified diff or attribute changes, already masked
    conflict: bool = False  # a conffile with administrator edits that we keep
    warning: str | None = None

    @property
    def changed(self) -> bool:
        return self.status == "change"


def ok(detail: str, **kw) -> Outcome:
    return Outcome("ok", detail, **kw)


def change(detail: str, **kw) -> Outcome:
    return Outcome("change", detail, **kw)


@functools.cache
def _invoker() -> tuple[str, str]:
    """Names of the user and group running nso-install (the owner of what a local install writes)."""
    import grp
    import pwd

    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def drift_change(drift: list[str], suffix: str = "", **kw) -> Outcome:
    """The outcome for attribute drift (``drift`` non-empty): one line each, also as the diff."""
    return change("; ".join(drift) + suffix, diff="\n".join(drift), **kw)


@record
class Effects:
    """What applying (or settling) an action leaves for the run to record and report."""

    notes: list[str] = field(default_factory=list)
    conffiles: dict[str, str] = field(default_factory=dict)  # target path -> sha256 of what we wrote
    conffiles_removed: set[str] = field(default_factory=set)  # target paths no longer ours (removed)
    kept: set[str] = field(default_factory=set)  # config files nso-install never wrote, kept with a .new beside
    memberships_added: set[tuple[str, str]] = field(default_factory=set)  # (user, group) we added
    memberships_removed: set[tuple[str, str]] = field(default_factory=set)  # (user, group) we took back
    manifests: dict[str, "Manifest"] = field(default_factory=dict)  # tree -> what was unpacked there
    manifests_dropped: set[str] = field(default_factory=set)  # trees whose records go (no longer there)
    created: set[str] = field(default_factory=set)  # accounts nso-install created: "user:NAME", "group:NAME"
    created_ids: dict[str, int] = field(default_factory=dict)  # their uid/gid as created ("user:NAME" -> uid)
    deleted: set[str] = field(default_factory=set)  # accounts it deleted again (uninstall)


@record
class Context:
    """What actions may know about the run besides the facts: where, what was recorded, how."""

    target: Target
    conffiles: Mapping[str, str] = field(default_factory=dict)  # recorded digests (the engine keeps it current)
    trusted: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # trees nso-install unpacked (digests)
    manifest: Callable[[str], "Manifest | None"] = lambda tree: None  # a tree's manifest, when recorded
    force_conf: bool = False
    progress: Callable[[int, int], None] | None = None


def fmt_mode(mode: int | None) -> str:
    return "-" if mode is None else f"{mode:04o}"


# --- guards shared by the actions ---------------------------------------------------------

MOVE_IT = "Move it out of the way and re-run."
_KIND_WORDS = {FILE: "a regular file", DIR: "a directory", LINK: "a symbolic link"}
_KIND_REFS = {FILE: "not-a-file", DIR: "not-a-directory", LINK: "not-a-symlink"}


def masked(fact: PathFact) -> bool:
    """``fact`` is an administrator's mask (:mod:`nso_install.masks`): a masked unit or tmpfiles.d entry."""
    return fact.kind == LINK and masks.is_mask(fact.path, fact.link)


def refuse_link(fact: PathFact, shown: str | None = None, root: str | None = None) -> PathFact:
    """``fact`` unless it is a symlink, which nso-install never follows or replaces (``root``: the
    staging root, for the commands of a mask's refusal)."""
    refusal = masks.mask_refusal(fact.path, fact.link, shown, root) if fact.kind == LINK else None
    if refusal is not None:  # an administrator's mask, not a link to follow: said as such
        raise refusal
    if fact.kind == LINK:
        raise UnsafePathError(
            "symlink-refused",
            f"{shown or fact.path} is a symbolic link (to {fact.link}); refusing to follow or replace it.",
            fsops.LINK_HINT)
    return fact


def require_kind(fact: PathFact, *kinds: str, hint: str = MOVE_IT) -> PathFact:
    """``fact`` if it is absent or one of ``kinds``; else a clear error (wrong file type)."""
    if fact.kind != ABSENT and fact.kind not in kinds:
        what = " or ".join(_KIND_WORDS[k] for k in kinds)
        raise UnsafePathError(_KIND_REFS[kinds[0]], f"{fact.path} exists and is not {what}.", hint)
    return fact


@record(frozen=True)
class Attrs:
    """Desired mode and owner of a path."""

    mode: int
    owner: str | None = "root"
    group: str | None = "root"

    def ids(self, facts: Facts) -> tuple[int | None, int | None]:
        if facts.target.unprivileged:  # staged by an ordinary user: owners planned, not applied
            return None, None
        acc = facts.accounts
        uid = acc.uid(self.owner) if self.owner else None
        gid = acc.gid(self.group) if self.group else None
        return uid, gid

    def shown(self) -> str:
        """``MODE OWNER:GROUP``; an owner left alone (a local install) is whoever runs nso-install."""
        user, group = _invoker()
        return f"{fmt_mode(self.mode)} {self.owner or user}:{self.group or group}"

    def drift(self, facts: Facts, fact: PathFact) -> list[str]:
        """What differs between the path as it is and these attributes (setuid/setgid/sticky included)."""
        out = []
        if fact.mode != self.mode:
            out.append(f"mode {fmt_mode(fact.mode)} -> {fmt_mode(self.mode)}")
        if facts.target.unprivileged:
            return out
        uid, gid = self.ids(facts)
        if self.owner and uid is None:
            out.append(f"owner -> {self.owner} (user to be created)")
        elif self.owner and fact.uid != uid:
            out.append(f"owner {facts.accounts.user_name(fact.uid)} -> {self.owner}")
        if self.group and gid is None:
            out.append(f"group -> {self.group} (group to be created)")
        elif self.group and fact.gid != gid:
            out.append(f"group {facts.accounts.group_name(fact.gid)} -> {self.group}")
        return out

    def resolve(self, facts: Facts, shown: str) -> tuple[int | None, int | None]:
        uid, gid = self.ids(facts)
        if facts.target.unprivileged:
            return uid, gid
        if self.owner and uid is None:
            raise ApplyError("unknown-user", f"{shown}: user {self.owner!r} does not exist on the target.",
                             "Create the user first or pass --run-as-user so nso-install creates it.")
        if self.group and gid is None:
            raise ApplyError("unknown-group", f"{shown}: group {self.group!r} does not exist on the target.",
                             "Create the group first.")
        return uid, gid

    def create_or_fix(self, facts: Facts, host, tpath: str, create: Callable[[int | None, int | None], None]) -> None:
        """``create(uid, gid)`` when ``tpath`` is absent (with the final owner, before any content),
        else bring the existing path's owner and mode to these attributes."""
        if facts.path(tpath).kind == ABSENT:
            create(*self.resolve(facts, tpath))
        else:
            self.apply(facts, host, tpath)

    def apply(self, facts: Facts, host, tpath: str) -> None:
        """Set owner and mode of ``tpath`` (``host`` on this machine).  A regular file that
        changes hands away from an account other than root is replaced by a copy, not
        chowned in place (:func:`fsops.replace_by_copy` says why)."""
        uid, gid = self.resolve(facts, tpath)
        fact = facts.path(tpath)
        if fact.kind == FILE and uid is not None and fact.uid not in (0, uid):
            # the content copied must be the content checked: the old owner may still write it
            fsops.replace_by_copy(host, self.mode, uid, gid, tpath, expect_sha256=facts.sha256(tpath))
        else:
            fsops.set_attrs(host, self.mode, uid, gid, tpath)


class Action:
    kind: ClassVar[str] = "action"
    fs: ClassVar[bool] = True  # False: ``path`` names an account, not a file (no parent directories)
    # True: report the warning of the check before applying (what the change meant: a secret found
    # open to others), which the re-check after applying cannot see; else the re-check's
    warns_before: ClassVar[bool] = False
    path: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.path}"

    def check(self, facts: Facts, ctx: Context) -> Outcome:
        raise NotImplementedError

    def apply(self, facts: Facts, ctx: Context, outcome: Outcome) -> Effects | None:
        raise NotImplementedError

    def settle(self, facts: Facts, ctx: Context) -> Effects | None:
        """Called by the engine for an action found satisfied: bookkeeping only (no file changes)."""
        return None

    def _fact(self, facts: Facts, *kinds: str) -> PathFact:
        """The path's fact, refusing a symlink and (given ``kinds``) any other wrong type."""
        target = facts.target
        fact = refuse_link(facts.path(self.path), root=str(target.root) if target.staged else None)
        return require_kind(fact, *kinds) if kinds else fact


def text_diff(path: str, before: bytes | None, after: bytes) -> str:
    def lines(b: bytes | None) -> list[str]:
        if b is None:
            return []
        try:
            return b.decode().splitlines(keepends=True)
        except UnicodeDecodeError:
            return [f"<binary, {len(b)} bytes>\n"]
    import difflib  # only when a diff is shown

    return "".join(difflib.unified_diff(lines(before), lines(after),
                                        fromfile=f"{path} (current)" if before is not None else "/dev/null",
                                        tofile=f"{path} (new)"))
