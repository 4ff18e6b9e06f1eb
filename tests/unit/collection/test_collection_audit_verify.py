"""nso_install.nso.audit and verify: their report files, results and failure messages."""

from __future__ import annotations

import sys
from pathlib import Path

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


def test_verify_fails_counting_only_the_findings_that_fail(tmp_path):
    findings = [{"kind": "config", "path": "/etc/ncs/ncs.conf", "problem": "edited since nso-install wrote it",
                 "fails": False},
                {"kind": "tree", "path": "/opt/ncs/ncs-6.5.3/bin", "problem": "mode 0755 -> 0777", "fails": True},
                {"kind": "config", "path": "/etc/ncs/logrotate", "problem": "edited", "fails": False}]
    fake = Fake(tmp_path / "bin", {"version": 1, "result": "verify", "ok": False, "findings": findings, "extra": [],
                                   "checked": ["/opt/ncs/ncs-6.5.3"], "notes": []}, rc=1)
    r = run("verify", {"executable": str(fake.path)})
    assert r.failed and r.result["msg"].startswith("nso-install verify: 1 finding(s)"), r.result
    assert "/opt/ncs/ncs-6.5.3/bin: mode 0755 -> 0777" in r.result["msg"] and "ncs.conf" not in r.result["msg"]
    assert r.result["findings"] == findings  # the whole answer, for `register`
    assert r.result["hint"].startswith("A re-run of install with the distribution repairs it.")


@pytest.mark.parametrize("args", [{}, {"install_dir": "/srv/ncs"}, {"local_install": "/srv/ncs"}])
def test_verify_where_nothing_is_installed_says_so_not_that_a_rerun_repairs_it(tmp_path, args):
    """An empty or mistyped install_dir (or root) failed with "finding(s) of damage: the install
    differs" and the hint that a re-run of install repairs it: there is nothing there to repair."""
    exe = Path(sys.executable).parent / "nso-install"
    if not exe.exists():
        pytest.skip("nso-install is not installed next to this Python")
    root = tmp_path / "r"
    root.mkdir(mode=0o700)
    r = run("verify", {"executable": str(exe), "root": str(root), **args})
    assert r.failed and r.result["msg"].startswith("nso-install verify: no NSO installed where it looked ("), r.result
    assert "damage" not in r.result["msg"] and "re-run" not in r.result["hint"], r.result
    assert r.result["hint"].startswith("Point the task at the install (install_dir, local_install, root), or "
                                       "install NSO there first"), r.result
    assert r.result["findings"][0]["kind"] == "install"


def test_verify_of_a_local_install_that_is_a_link_says_nothing_was_verified_not_that_a_rerun_repairs_it(tmp_path):
    """verify --local-install LINK verifies nothing (the tool never follows the link, 9c12525) and
    says so in a finding of its own wording; the module took it for damage, with the hint that a
    re-run of install repairs it (install refuses the link too)."""
    exe = Path(sys.executable).parent / "nso-install"
    if not exe.exists():
        pytest.skip("nso-install is not installed next to this Python")
    root = tmp_path / "r"
    (root / "srv" / "real").mkdir(parents=True)
    root.chmod(0o700)
    (root / "srv" / "link").symlink_to("real")
    r = run("verify", {"executable": str(exe), "root": str(root), "local_install": "/srv/link"})
    assert r.failed and r.result["msg"].startswith("nso-install verify: no NSO installed where it looked ("), r.result
    assert "is a symbolic link" in r.result["msg"], r.result
    assert "damage" not in r.result["msg"] and "re-run" not in r.result["hint"], r.result
    assert r.result["hint"].startswith("Point the task at the install (install_dir, local_install, root)"), r.result


@pytest.mark.parametrize("in_progress", [False, True])
def test_verify_of_an_unfinished_run_names_it_not_a_reinstall(tmp_path, in_progress):
    """An interrupted uninstall --all leaves trees half removed (findings of kind tree) and the
    run's own finding (kind install, listed last) naming the uninstall that completes it; the task
    said 'finding(s) of damage', named the first five findings only and hinted that a re-run of
    install repairs it, which puts back what the operator was removing (and a run in progress is
    only to be waited for)."""
    from nso_install.state import describe_unfinished

    problem = describe_unfinished({"command": "uninstall", "version": None, "parts": ["config"]}, in_progress)
    findings = [{"kind": "tree", "path": "/opt/ncs/ncs-6.5.3/f%d" % i, "problem": "missing", "fails": True}
                for i in range(6)]
    findings.append({"kind": "install", "path": "/var/opt/nso-install/run", "problem": problem, "fails": True})
    fake = Fake(tmp_path / "bin", {"version": 1, "result": "verify", "ok": False, "findings": findings, "extra": [],
                                   "checked": ["/opt/ncs/ncs-6.5.3"], "notes": []}, rc=1)
    r = run("verify", {"executable": str(fake.path)})
    assert r.failed and r.result["msg"].startswith("nso-install verify: an nso-install run did not finish, or is "
                                                   "in progress (/var/opt/nso-install/run: " + problem), r.result
    assert "damage" not in r.result["msg"] and "re-run of install" not in r.result["hint"], r.result
    assert r.result["findings"] == findings


def test_an_audit_whose_check_could_not_run_fails_naming_it(tmp_path):
    """The tool exits 2 when a check could not run (its report is still the answer); the module
    took that for a tool failure and showed raw output instead of the check."""
    report = {"version": 1, "result": "audit", "ok": False, "summary": {"pass": 1, "error": 1}, "checks": [
        {"id": "NSO-A-001", "title": "a", "severity": "high", "result": "pass", "summary": "fine"},
        {"id": "NSO-B-002", "title": "b", "severity": "high", "result": "error", "summary": "cannot read /etc/x",
         "remediation": "fix it"}]}
    r = run("audit", {"executable": str(Fake(tmp_path / "bin", report, rc=2).path)})
    assert r.failed and r.result["msg"] == "nso-install audit: 1 check(s) fail: NSO-B-002 (cannot read /etc/x)", \
        r.result
    assert [c["id"] for c in r.result["failed_checks"]] == ["NSO-B-002"]


def test_an_audit_usage_error_still_fails_with_the_tools_message(tmp_path):
    error = {"version": 1, "result": "error", "error": {"reference": "bad-root", "message": "--root /x: no such "
                                                        "directory.", "hint": "Give an existing one."}}
    r = run("audit", {"executable": str(Fake(tmp_path / "bin", error, rc=2).path)})
    assert r.failed and r.result["msg"] == "root /x: no such directory. Hint: Give an existing one.", r.result


@pytest.mark.parametrize("module", ["verify", "status"])
def test_verify_and_status_take_a_local_install(tmp_path, module):
    fake = Fake(tmp_path / "bin", {"version": 1, "result": module, "ok": True, "findings": [], "extra": [],
                                   "checked": [], "notes": [], "versions": [], "active": None, "spec": None})
    r = run(module, {"executable": str(fake.path), "local_install": "/srv/nso"})
    assert not r.failed, r.result
    argv = fake.calls[0]
    assert argv[argv.index("--local-install") + 1] == "/srv/nso" and "--install-dir" not in argv
    r = run(module, {"executable": str(fake.path), "local_install": "/srv/nso", "install_dir": "/opt/ncs"})
    assert r.failed and "mutually exclusive" in r.result["msg"]
