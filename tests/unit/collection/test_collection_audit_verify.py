"""nso_install.nso.audit and verify: their report files, results and failure messages."""

from __future__ import annotations

import pytest
from collection_support import Fake, run

CLEAN = {"version": 1, "result": "audit", "ok": True, "summary": {"pass": 1}, "checks": [
    {"id": "NSO-A-001", "title": "a", "severity": "high", "result": "pass", "summary": "fine"}]}


@pytest.fixture
def fake(tmp_path):
    return Fake(tmp_path / "bin", CLEAN)


@pytest.mark.parametrize("option", ["junit", "sarif"])
def test_check_mode_writes_no_report_and_says_it_would(fake, tmp_path, option):
    path = tmp_path / "out" / "report"
    path.parent.mkdir()
    r = run("audit", {"executable": str(fake.path), option: str(path)}, check=True)
    assert not r.failed, r.result
    assert not path.exists()
    assert r.result["changed"] is True and r.result["reports"] == [dict(option=option, path=str(path), changed=True)]
    given = fake.calls[0][fake.calls[0].index("--" + option) + 1]
    assert given != str(path)  # written to a scratch file, not to the path

    path.write_text("report--" + option)  # what the tool would write: no change
    r = run("audit", {"executable": str(fake.path), option: str(path)}, check=True)
    assert r.result["changed"] is False and r.result["reports"][0]["changed"] is False, r.result


def test_a_real_run_is_changed_when_a_report_is_created_or_changes(fake, tmp_path):
    junit, sarif = tmp_path / "junit.xml", tmp_path / "audit.sarif"
    args = {"executable": str(fake.path), "junit": str(junit), "sarif": str(sarif)}
    r = run("audit", args)
    assert r.result["changed"] is True and junit.read_text() == "report--junit", r.result
    r = run("audit", args)
    assert r.result["changed"] is False, r.result  # the same reports again
    fake.set(CLEAN, report="other")
    r = run("audit", args)
    assert r.result["changed"] is True and all(x["changed"] for x in r.result["reports"]), r.result


def test_without_reports_nothing_changes(fake):
    r = run("audit", {"executable": str(fake.path)})
    assert not r.failed and r.result["changed"] is False and r.result["reports"] == [], r.result
