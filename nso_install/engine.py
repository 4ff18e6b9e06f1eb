"""Plan evaluation and application: the facts -> plan -> apply loop, and its report.

``evaluate`` checks every action against fresh facts and changes nothing (``--check``).
``apply`` checks each action right before acting (the host may have changed since the plan
was shown), acts, then re-checks and requires the action to be satisfied.  What actions
leave behind (:class:`Effects`) goes to the caller's ``sink`` as soon as it exists, so a run
that fails half way still records what it did.
"""

from __future__ import annotations

import os
from dataclasses import field
from typing import Callable

from .actions.base import Action, Context, Effects, Outcome
from .errors import ApplyError, NsoInstallError
from .facts import Facts
from .record import record

PLAN_FORMAT_VERSION = 1


@record
class Record:
    """One action with what checking it found, and whether applying it changed something."""
    action: Action
    outcome: Outcome
    changed: bool = False

    def as_dict(self) -> dict:
        o = self.outcome
        d = {"id": self.action.id, "kind": self.action.kind, "path": self.action.path,
             "status": o.status, "changed": self.changed, "detail": o.detail,
             "reason": self.action.reason}
        if o.conflict:
            d["conflict"] = True
        if o.warning:
            d["warning"] = o.warning
        return d


@record
class Report:
    """Every action's record of one run (checked or applied), and the run's notes."""
    mode: str  # "check" or "applied"
    records: list[Record]
    root: str
    notes: list[str] = field(default_factory=list)
    run_warnings: list[str] = field(default_factory=list)  # the run's own, beside its actions'

    @property
    def changes(self) -> int:
        if self.mode == "check":
            return sum(1 for r in self.records if r.outcome.changed)
        return sum(1 for r in self.records if r.changed)

    @property
    def conflicts(self) -> int:
        """Config files kept against the spec (an administrator's edits): drift as well."""
        return sum(1 for r in self.records if r.outcome.conflict)

    @property
    def drifted(self) -> bool:
        """Anything to change, or any config file kept against the spec."""
        return bool(self.changes or self.conflicts)

    @property
    def warnings(self) -> list[str]:
        return [r.outcome.warning for r in self.records if r.outcome.warning] + self.run_warnings

    def as_dict(self, with_diff: bool = False) -> dict:
        actions = []
        for r in self.records:
            d = r.as_dict()
            if with_diff and r.outcome.diff:
                d["diff"] = r.outcome.diff
            actions.append(d)
        return {
            "version": PLAN_FORMAT_VERSION,
            "result": self.mode,
            "root": self.root,
            "changed": self.changes,
            "totals": {
                "actions": len(self.records),
                "changed" if self.mode == "applied" else "would_change": self.changes,
                "ok": sum(1 for r in self.records if not r.outcome.changed),
                "conflicts": self.conflicts,
            },
            "actions": actions,
            "warnings": self.warnings,
            "notes": self.notes,
        }


def preflight(plan: list[Action], ctx: Context) -> None:
    """What must hold before a run changes anything: each action's refusals that depend on no
    earlier action (an account still running, a file to be handed over with a second name, a
    FIPS install's files), raised now instead of half way through ``apply``."""
    for action in plan:
        if hasattr(action, "preflight"):
            action.preflight(Facts(ctx.target), ctx)


def evaluate(plan: list[Action], ctx: Context) -> Report:
    facts = Facts(ctx.target)
    return Report("check", [Record(a, a.check(facts, ctx)) for a in plan], str(ctx.target.root))


def apply(plan: list[Action], ctx: Context, sink: Callable[[Effects], None] = lambda e: None,
          on_record: Callable[[Record], None] | None = None,
          before: Callable[[Action, Outcome], None] | None = None) -> Report:
    """Check and apply each action in turn.  ``before(action, outcome)`` is told right before an
    action changes anything (the run records there what must survive a kill: write-ahead)."""
    records: list[Record] = []
    notes: list[str] = []
    for action in plan:
        facts = Facts(ctx.target)
        outcome = action.check(facts, ctx)
        rec = Record(action, outcome)
        if not outcome.changed:
            effects = action.settle(facts, ctx)
        else:
            if before is not None:
                before(action, outcome)
            try:
                effects = action.apply(facts, ctx, outcome)
            except NsoInstallError:
                raise
            except OSError as e:
                # the path the system call failed on: often not the action's own (a directory in
                # a tree, a temporary file beside it), and what the administrator needs to look at
                where = f": {os.fsdecode(e.filename)}" if isinstance(e.filename, (str, bytes)) else ""
                raise ApplyError("apply-failed", f"{action.id}: {e.strerror or e}{where} ({outcome.detail}).",
                                 "Fix the cause and re-run; everything done so far is kept and re-checked.") from e
        if effects is not None:
            sink(effects)  # before the re-check: a conffile just written is recorded as ours
            notes += effects.notes
        if outcome.changed:
            after = action.check(Facts(ctx.target), ctx)
            if after.changed:
                raise ApplyError("not-converged", f"{action.id}: still not as desired after applying ({after.detail}).",
                                 "This is a bug in nso-install or interference from another process; re-run with -v.")
            warning = outcome.warning if action.warns_before else after.warning
            rec = Record(action, Outcome(outcome.status, outcome.detail, outcome.diff, after.conflict, warning),
                         changed=True)
        records.append(rec)
        if on_record:
            on_record(rec)
    return Report("applied", records, str(ctx.target.root), notes)
