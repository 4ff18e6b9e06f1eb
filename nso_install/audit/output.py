"""An audit report for people and for CI: a table, JSON, JUnit XML, SARIF 2.1.0.

Every text that comes from the target (paths, evidence) is escaped by the caller's
``printable`` for terminals; JSON and SARIF escape it by their own encoders; XML 1.0 cannot
hold control characters at all, so :func:`_xml` writes them as ``\\xNN`` (a file name the NSO
account chose must not make the JUnit report unreadable, and the failures in it unseen).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Callable

from .. import __version__
from .model import ERROR, FAIL, PASS, SKIP, WAIVED, WARN, Check, Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"
COLOURS = {PASS: "green", FAIL: "red", ERROR: "red", WARN: "yellow", WAIVED: "cyan", SKIP: "bright_black"}


def table(report: Report, style: Callable[[str, str], str], show: Callable[[str], str], verbose: int = 0) -> list[str]:
    """The human report: one line per check (status, ID, severity, title), then evidence and
    remediation for what fails, warns or is waived (``verbose``: for every check)."""
    lines = []
    width = max((len(f.check.id) for f in report.findings), default=12)
    for f in report.findings:
        status = style(f"{f.status.upper():<6}", COLOURS.get(f.status, ""))
        lines.append(f"{status} {f.check.id:<{width}} {f.check.severity:<8} {show(f.check.title)}")
        if f.status in (PASS, SKIP) and not verbose:
            if f.status == SKIP:
                lines.append(f"       {'':<{width}} skipped: {show(f.summary)}")
            continue
        lines.append(f"       {'':<{width}} {show(f.summary)}")
        for e in f.evidence[: None if verbose else 12]:
            lines.append(f"       {'':<{width}}   - {show(e)}")
        if f.status in (FAIL, WARN, ERROR, WAIVED) or verbose > 1:
            lines.append(f"       {'':<{width}}   fix: {show(f.check.remediation)}")
            lines.append(f"       {'':<{width}}   source: {show(f.check.source_text)}")
    s = report.summary()
    lines.append("Audit: " + ", ".join(f"{n} {k}" for k, n in s.items() if n or k in (PASS, FAIL)) + ".")
    return lines


def as_json(report: Report) -> str:
    from ..jsonout import dumps
    return dumps(report.as_dict())


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text) -> str:
    """``text`` with what XML 1.0 cannot hold written as ``\\xNN`` / ``\\uNNNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}",
                        str(text))


def junit(report: Report) -> bytes:
    """JUnit XML: one test case per check, ``classname`` its domain; fail/error as failures, skip
    and waived as skipped (with the reason)."""
    suite = ET.Element("testsuite", name="nso-install audit", tests=str(len(report.findings)),
                       failures=str(report.count(FAIL)), errors=str(report.count(ERROR)),
                       skipped=str(report.count(SKIP) + report.count(WAIVED)))
    props = ET.SubElement(suite, "properties")
    for k, v in report.target.items():
        ET.SubElement(props, "property", name=_xml(k), value=_xml(v))
    for f in report.findings:
        case = ET.SubElement(suite, "testcase", classname=f"nso-install.audit.{f.check.domain}",
                             name=_xml(f"{f.check.id} {f.check.title}"))
        detail = _xml("\n".join([*f.evidence, f"fix: {f.check.remediation}", f"source: {f.check.source_text}"]))
        summary = _xml(f.summary)
        if f.status == FAIL:
            ET.SubElement(case, "failure", message=summary, type=f.check.severity).text = detail
        elif f.status == ERROR:
            ET.SubElement(case, "error", message=summary).text = detail
        elif f.status in (SKIP, WAIVED):
            ET.SubElement(case, "skipped", message=summary)
        elif f.status == WARN:
            ET.SubElement(case, "system-out").text = f"warning: {summary}\n{detail}"
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _rule(c: Check) -> dict:
    return {"id": c.id, "name": c.id.replace("-", ""), "shortDescription": {"text": c.title},
            "fullDescription": {"text": f"{c.title}. Source: {c.source_text}"},
            "help": {"text": f"{c.remediation}\nSource: {c.source_text}\n(nso-install docs/checks.md)"},
            "defaultConfiguration": {"level": _LEVEL[c.severity]},
            "properties": {"tags": ["security", c.domain], "security-severity": _SECURITY_SEVERITY[c.severity],
                           "source": c.kind}}


def _uri(path: str) -> str:
    from urllib.parse import quote

    return "file://" + quote(path)


def sarif(report: Report) -> dict:
    """A SARIF 2.1.0 log: every selected check as a rule, every finding as a result (pass, skip
    and warn as ``kind`` pass / notApplicable / review, all three at level none, as SARIF requires
    of a kind other than fail; waived with an external suppression)."""
    rules, index = [], {}
    for f in report.findings:
        if f.check.id not in index:
            index[f.check.id] = len(rules)
            rules.append(_rule(f.check))
    results = []
    for f in report.findings:
        text = f"{f.check.title}: {f.summary}" + "".join(f"\n- {e}" for e in f.evidence)
        r = {"ruleId": f.check.id, "ruleIndex": index[f.check.id], "message": {"text": text},
             "properties": {"result": f.status, "evidence": list(f.evidence)}}
        if f.status in (FAIL, ERROR, WAIVED):
            r["kind"], r["level"] = "fail", _LEVEL[f.check.severity]
        elif f.status == WARN:  # SARIF 3.27.10: a kind other than "fail" has level "none"
            r["kind"], r["level"] = "review", "none"
        elif f.status == SKIP:
            r["kind"], r["level"] = "notApplicable", "none"
        else:
            r["kind"], r["level"] = "pass", "none"
        if f.paths:
            r["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": _uri(p)}}} for p in f.paths[:10]]
        if f.status == WAIVED and f.waiver is not None:
            r["suppressions"] = [{"kind": "external", "state": "accepted", "justification": f.waiver.shown()}]
        results.append(r)
    failed = report.exit_code != 0
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "nso-install audit", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "invocations": [{"executionSuccessful": report.count(ERROR) == 0,
                             "exitCode": report.exit_code,
                             **({"exitCodeDescription": "a check failed"} if failed else {}),
                             # the report's notes (a waivers file another account could write, a
                             # waiver not needed, a run under way): a CI gate reading SARIF alone sees them
                             **({"toolExecutionNotifications": [{"message": {"text": n}, "level": "warning"}
                                                                for n in report.notes]} if report.notes else {})}],
            "results": results,
            "properties": {"target": report.target},
        }],
    }
