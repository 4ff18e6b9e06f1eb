"""docs/checks.md is generated from the check definitions; install runs the same checks at its end."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import cli

from nso_install.audit import all_checks
from nso_install.audit.docs import markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "checks.md"


def test_docs_checks_md_is_in_step_with_the_checks():
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/checks.md is out of date: run python -m nso_install.audit.docs docs/checks.md")
    for c in all_checks():
        assert f"### {c.id}\n" in DOC.read_text()


def test_every_check_has_a_source_a_remediation_and_a_unique_title():
    checks = all_checks()
    assert len({c.title for c in checks}) == len(checks)
    for c in checks:
        assert c.source and c.remediation, c.id


def test_install_reports_the_failures_audit_would_report(staged, sample_dists):
    root = staged.get("nso")
    out = json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json").stdout)
    assert not [n for n in out["notes"] + out["warnings"] if n.startswith("audit:")]  # a clean install says nothing
    out = json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json",
                         "--set", "cli.ssh.enabled=true", "--set", "webui.cgi=true").stdout)
    notes = [n for n in out["notes"] if n.startswith("audit:")]
    audited = json.loads(cli("audit", "--root", root, "--json", ok=False).stdout)
    failing = sorted(c["id"] for c in audited["checks"] if c["result"] == "fail")
    assert failing == ["NSO-SD-008", "NSO-SD-015"]
    assert [n.split()[1] for n in notes[:-1]] == failing  # one note per failure, the same checks
    assert "2 check(s) fail" in notes[-1] and "nso-install audit (with the same --root)" in notes[-1]
    assert str(root) not in " ".join(notes)  # notes go to the recorded history: no staging path
    assert not [w for w in out["warnings"] if w.startswith("audit:")]  # (a choice of options: notes)


def test_a_failure_of_what_install_sets_on_files_is_a_warning_that_q_keeps(staged, sample_dists):
    """A container's start runs install -q: its audit failures were notes, which -q drops, so a CDB
    left to another image's uid (NSO-PERM-009) or a lost capability never showed in docker logs.
    Failures of what nso-install sets on files (owners, modes, setuid bits, capabilities, keys)
    are warnings; the others (a profile's listeners) stay notes."""
    root = staged.get("nso")
    stray = root / "var/opt/ncs/cdb/A.cdb"
    stray.write_bytes(b"cdb")
    os.chown(stray, 4242, 4242)  # what NSO wrote under another image's uid
    args = ("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "webui.cgi=true")
    out = json.loads(cli(*args, "--json").stdout)
    assert [w.split()[1] for w in out["warnings"] if w.startswith("audit:")][:-1] == ["NSO-PERM-009"]
    assert "2 check(s) fail on this install" in out["warnings"][-1]  # (the summary with the warnings)
    assert [n.split()[1] for n in out["notes"] if n.startswith("audit:")] == ["NSO-SD-015"]
    quiet = cli(*args, "-q")
    assert "warning: audit: NSO-PERM-009 " in quiet.stderr and "NSO-SD-015" not in quiet.output
