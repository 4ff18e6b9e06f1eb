"""``nso-install audit``: the security posture of an NSO system install, read-only.

Works on installs nso-install made (it then uses the recorded spec and manifests) and on a
vendor installer's layout (defaults, or the directories and ``--run-as-user`` given).  Each
check (:mod:`.checks`, registered in :mod:`.registry`) has a stable ID, a title, a severity,
a source (a documented recommendation with its reference, or nso-install's inference) and a
remediation; it yields pass, fail, warn or skip with evidence.  :mod:`.waivers` turns accepted
deviations into ``waived``; :mod:`.output` writes the table, JSON, JUnit XML and SARIF.

* :func:`audit` -- run the selected checks on a target, apply the waivers: a :class:`Report`;
* :func:`install_notes` -- what ``install`` says at its end: one warning or note per failing
  check of the same audit on what it just installed (so the two never disagree).

Read-only: nothing is written, locked or created on the target (the unit's exposure is
computed with ``systemd-analyze --offline`` on the target's file and on nso-install's own
rendering of it, in a temporary directory outside the target).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Sequence

from ..errors import NsoInstallError
from . import checks  # importing it registers every check
from .context import AuditContext, gather
from .model import ERROR, FAIL, SKIP, Check, Finding, Report
from .registry import registered, select

__all__ = ["audit", "install_notes", "run_checks", "Report", "Finding", "Check", "all_checks", "select", "gather",
           "checks"]


def all_checks() -> list[Check]:
    """Every check, in report order."""
    return registered()


def run_checks(ctx: AuditContext, checks: Sequence[Check]) -> list[Finding]:
    """Each check's outcome; a check that cannot read what it needs is skipped (permission) or
    reported as ``error`` (anything else), and the others still run."""
    out = []
    for c in checks:
        try:
            o = c.run(ctx)
            out.append(Finding(c, o.status, o.summary, o.evidence, o.paths))
        except NsoInstallError as e:
            status = SKIP if e.reference == "permission-denied" else ERROR
            out.append(Finding(c, status, f"could not check: {e.message}"))
        except PermissionError as e:
            out.append(Finding(c, SKIP, f"could not check: permission denied ({e.filename}); run as root"))
        except OSError as e:
            out.append(Finding(c, ERROR, f"could not check: {e.strerror or e} ({e.filename})"))
    return out


def audit(root: Path | None = None, dirs: dict[str, str] | None = None, run_as_user: str | None = None,
          only: Sequence[str] = (), skip: Sequence[str] = (), waivers_file: Path | None = None,
          today: datetime.date | None = None, cheap: bool = False, memo_dir: Path | None = None,
          state=None) -> Report:
    from .waivers import apply_waivers, foreign_waivers_note, load_waivers

    checks = select(all_checks(), only, skip)
    foreign: list[str] = []
    waivers = load_waivers(waivers_file, [c.id for c in all_checks()], foreign) if waivers_file else []
    ctx = gather(root, dirs, run_as_user, cheap=cheap, memo_dir=memo_dir, state=state)
    report = Report(run_checks(ctx, checks), _target(ctx))
    ctx.memo.save()
    report.notes += [foreign_waivers_note(why) for why in foreign]
    report.notes += apply_waivers(report.findings, waivers, today or datetime.date.today())
    if state is None:  # (an install's own audit runs inside that run, under its marker)
        report.notes += _unfinished(ctx)
    return report


def _unfinished(ctx: AuditContext) -> list[str]:
    """A run under way (what it changes is changing while the audit reads it), or one stopped
    half way (what it had yet to do may fail checks): said, as status and verify say it."""
    from ..state import describe_unfinished

    info = ctx.inst.state.unfinished()
    if info is None:
        return []
    return [describe_unfinished(info, ctx.inst.state.held_by_another_run())
            + "; audit again afterwards: the findings may change"]


def _target(ctx: AuditContext) -> dict:
    return {"root": str(ctx.target.root), "install_dir": ctx.spec.install_dir, "config_dir": ctx.spec.config_dir,
            "run_dir": ctx.spec.run_dir, "log_dir": ctx.spec.log_dir, "version": ctx.version,
            "run_as_user": ctx.intent.run_as_user, "run_as_user_from": ctx.intent.user_source,
            "recorded": ctx.inst.recorded, "init_system": ctx.intent.init_system, "fips": ctx.intent.fips}


# Checks of what nso-install itself sets on the files it manages (owners, modes, ACLs, setuid
# bits, capabilities, the keys): right after its run they fail only when something it does not
# reach undid them or was kept against them (volumes written under another image's uid, a file
# system without xattrs, an administrator's file in CONFIG_DIR).  Their failures are warnings,
# which -q (a container's start) keeps; the others (a development profile's listeners, IPC over
# TCP) follow from the options given, and are notes.
WARNING_PREFIXES = ("NSO-PERM-", "NSO-PRIV-", "NSO-KEY-")


def install_notes(root: Path | None, memo_dir: Path | None = None, state=None) -> tuple[list[str], list[str]]:
    """The audit of what ``install`` just did: (warnings, notes), one per failing check
    (:data:`WARNING_PREFIXES` are warnings).  Never fails the install (a problem running the
    audit is a note).  ``memo_dir``: the state directory
    (private, as for the template cache) where what was derived from key and certificate files
    is kept for the next run (:mod:`.memo`: keyed by the files' bytes, so the verdicts are the
    same as without it).  ``state``: the install's own :class:`~nso_install.state.State`, as it
    just saved it (its manifests, already in memory, are compared with the trees)."""
    try:
        report = audit(root, cheap=True, memo_dir=memo_dir, state=state)
    except Exception as e:  # noqa: BLE001 - the install itself succeeded; say so, do not fail it
        return [], [f"audit: could not run the security audit of this install ({type(e).__name__}: {e}); "
                    "run nso-install audit"]
    warnings, notes = [], []
    for f in report.findings:
        if f.status in (FAIL, ERROR):
            (warnings if f.check.id.startswith(WARNING_PREFIXES) else notes).append(
                f"audit: {f.check.id} {f.check.title}: {f.status}: {f.summary}")
    if warnings or notes:
        # the staging root stays out of the text: notes are recorded in the image's history
        (warnings or notes).append(
            f"audit: {len(warnings) + len(notes)} check(s) fail on this install; nso-install audit"
            f"{' (with the same --root)' if root else ''} shows the evidence and remediation (waive "
            "accepted deviations with --waivers FILE)")
    return warnings, notes
