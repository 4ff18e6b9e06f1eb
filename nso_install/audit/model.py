"""What an audit is made of: checks, their outcomes, the findings of a run and its report."""

from __future__ import annotations

from dataclasses import field
from typing import Callable

from ..record import record

PASS, FAIL, WARN, SKIP, WAIVED, ERROR = "pass", "fail", "warn", "skip", "waived", "error"
STATUSES = (FAIL, ERROR, WARN, WAIVED, SKIP, PASS)  # in the order a report lists them
SEVERITIES = ("critical", "high", "medium", "low")
DOCUMENTED, INFERENCE = "documented", "inference"


@record(frozen=True)
class Outcome:
    """What one check found: ``status`` (pass, fail, warn, skip), one line of ``summary``
    (the reason, for a skip), the ``evidence`` lines and the target ``paths`` concerned.
    Never key material: evidence names files, owners, modes, types and sizes."""

    status: str
    summary: str
    evidence: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


def passed(summary: str, evidence=(), paths=()) -> Outcome:
    return Outcome(PASS, summary, tuple(evidence), tuple(paths))


def failed(summary: str, evidence=(), paths=()) -> Outcome:
    return Outcome(FAIL, summary, tuple(evidence), tuple(paths))


def warned(summary: str, evidence=(), paths=()) -> Outcome:
    return Outcome(WARN, summary, tuple(evidence), tuple(paths))


def skipped(reason: str, evidence=(), paths=()) -> Outcome:
    return Outcome(SKIP, reason, tuple(evidence), tuple(paths))


def verdict(problems: list[str], ok: str, bad: str, evidence=(), paths=()) -> Outcome:
    """fail with ``problems`` first in the evidence, or pass."""
    if problems:
        return failed(bad, [*problems, *evidence], paths)
    return passed(ok, evidence, paths)


@record(frozen=True)
class Check:
    """One audit check.  ``id`` is stable (``NSO-PERM-003``): waivers, CI filters and SARIF rule
    ids refer to it, so it is never reused for another property.  ``source`` is the documented
    recommendation with its reference, or why nso-install infers it (``kind`` says which)."""

    id: str
    title: str
    severity: str
    domain: str
    remediation: str
    source: str
    kind: str  # DOCUMENTED | INFERENCE
    run: Callable[..., Outcome]  # (AuditContext) -> Outcome

    @property
    def source_text(self) -> str:
        return self.source if self.kind == DOCUMENTED else f"our inference: {self.source}"

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "severity": self.severity, "domain": self.domain,
                "remediation": self.remediation, "source": self.source_text, "source_kind": self.kind}


@record
class Finding:
    """A check's result in one audit (after waivers)."""

    check: Check
    status: str
    summary: str
    evidence: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    waiver: object | None = None  # the waivers.Waiver that changed the status
    found: str = ""  # the check's own status when a waiver changed it

    def as_dict(self) -> dict:
        d = {**self.check.as_dict(), "result": self.status, "summary": self.summary,
             "evidence": list(self.evidence), "paths": list(self.paths)}
        if self.waiver is not None:
            d["waiver"] = self.waiver.as_dict()
            d["found"] = self.found
        return d


@record
class Report:
    """An audit's findings, what was audited, and its notes."""
    findings: list[Finding] = field(default_factory=list)
    target: dict = field(default_factory=dict)  # what was audited (root, directories, version, user)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0: everything passed or was waived (warnings and skips included); 1: a failure;
        2: a check could not be run (an error reading the target)."""
        if self.count(ERROR):
            return 2
        return 1 if self.count(FAIL) else 0

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in (PASS, FAIL, WARN, WAIVED, SKIP, ERROR)}

    def as_dict(self) -> dict:
        return {"version": 1, "result": "audit", "ok": self.exit_code == 0, "target": self.target,
                "summary": self.summary(), "checks": [f.as_dict() for f in self.findings], "notes": self.notes}
