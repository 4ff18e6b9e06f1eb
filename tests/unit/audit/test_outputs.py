"""The audit's outputs: table (colour only on a terminal), JSON, JUnit XML, SARIF 2.1.0 (validated
against the schema of the objects it uses), exit codes, --only/--skip, --list; no key material in
any of them."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from sarif_schema import SARIF_2_1_0
from support import cli
from support_audit import set_conf

from nso_install.audit import all_checks

C = "/ncs-config"
ANSI = re.compile(r"\x1b\[")


def audit(*args, ok=None):
    r = cli("audit", *args, ok=False)
    if ok is not None:
        assert (r.exit_code == 0) == ok, r.output + r.stderr
    return r


def test_clean_install_exits_0_and_a_failure_exits_1(staged):
    root = staged.get("nso")
    r = audit("--root", root, ok=True)
    assert "Audit: " in r.output and " 0 fail" in r.output and not ANSI.search(r.output)
    set_conf(root, f"{C}/cli/ssh/enabled", "true")
    r = audit("--root", root)
    assert r.exit_code == 1
    line = next(x for x in r.output.splitlines() if "NSO-SD-008" in x)
    assert line.startswith("FAIL") and "medium" in line
    assert "fix: nso-install install DIST --set cli.ssh.enabled=false" in r.output
    assert "source: NSO Secure Deployment guidance (6.5)" in r.output


def test_json_junit_and_sarif_parse_and_sarif_validates(staged, tmp_path):
    root = staged.get("nso")
    set_conf(root, f"{C}/cli/ssh/enabled", "true")  # fails
    set_conf(root, f"{C}/webui/cgi/enabled", "true")  # waived below
    (tmp_path / "w.toml").write_text('[[waivers]]\nid = "NSO-SD-015"\nreason = "legacy CGI"\nowner = "ops"\n')
    with open(root / "etc/systemd/system/ncs.service", "a") as f:
        f.write("# an administrator's line\n")  # an edited config file: NSO-DRIFT-002 warns
    r = audit("--root", root, "--json", "--junit", tmp_path / "a.xml", "--sarif", tmp_path / "a.sarif",
              "--waivers", tmp_path / "w.toml")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    by_id = {c["id"]: c for c in out["checks"]}
    assert out["version"] == 1 and out["ok"] is False and out["summary"]["fail"] == 1
    assert by_id["NSO-SD-008"]["result"] == "fail" and by_id["NSO-SD-015"]["result"] == "waived"
    assert by_id["NSO-SD-015"]["waiver"]["owner"] == "ops" and by_id["NSO-SD-015"]["found"] == "fail"
    for c in out["checks"]:
        assert {"id", "title", "severity", "result", "evidence", "remediation", "source", "source_kind"} <= set(c)
        assert c["source_kind"] in ("documented", "inference")
    assert len(by_id) == len(all_checks())

    suite = ET.parse(tmp_path / "a.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(all_checks()) and suite.get("failures") == "1"
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert len(failed) == 1 and failed[0].startswith("NSO-SD-008 ")
    assert any(c.get("name").startswith("NSO-SD-015") and c.find("skipped") is not None for c in cases)

    sarif = json.loads((tmp_path / "a.sarif").read_text())
    jsonschema.Draft7Validator(SARIF_2_1_0, format_checker=jsonschema.FormatChecker()).validate(sarif)
    run = sarif["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rules == [c.id for c in all_checks()]
    results = {res["ruleId"]: res for res in run["results"]}
    assert results["NSO-SD-008"]["kind"] == "fail" and results["NSO-SD-008"]["level"] == "warning"
    assert results["NSO-SD-015"]["suppressions"][0]["kind"] == "external"
    assert results["NSO-PERM-002"]["kind"] == "pass"
    assert by_id["NSO-DRIFT-002"]["result"] == "warn"
    assert results["NSO-DRIFT-002"]["kind"] == "review" and results["NSO-DRIFT-002"]["level"] == "none"
    assert all(rules[res["ruleIndex"]] == res["ruleId"] for res in run["results"])
    assert run["invocations"][0]["exitCode"] == 1


def test_the_schema_catches_what_sarif_forbids():
    """The schema the test validates against has teeth: a wrong level or an unknown property fails."""
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                          "results": [{"ruleId": "A", "message": {"text": "t"}, "level": "error"}]}]}
    jsonschema.validate(good, SARIF_2_1_0)
    for bad in ({**good, "version": "2.0.0"},
                {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                               "results": [{"ruleId": "A", "message": {"text": "t"},
                                                            "level": "fatal"}]}]},
                {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "colour": 1}}}]},
                {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]},
                {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "A"}]}]},
                {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                               "results": [{"ruleId": "A", "message": {"text": "t"},
                                                            "kind": "review", "level": "warning"}]}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SARIF_2_1_0)


def test_only_and_skip_select_by_prefix_and_a_typo_is_a_usage_error(staged):
    root = staged.get("nso")
    out = json.loads(audit("--root", root, "--json", "--only", "nso-perm", "--skip", "NSO-PERM-00", ok=True).stdout)
    assert [c["id"] for c in out["checks"]] == ["NSO-PERM-010", "NSO-PERM-011", "NSO-PERM-012"]
    out = json.loads(audit("--root", root, "--json", "--only", "NSO-PERM", "--skip", "NSO-PERM-009", ok=True).stdout)
    assert [c["id"] for c in out["checks"]] == [f"NSO-PERM-00{i}" for i in range(1, 9)] + ["NSO-PERM-010",
                                                                                         "NSO-PERM-011", "NSO-PERM-012"]
    r = audit("--root", root, "--only", "NSO-PREM")
    assert r.exit_code == 2 and "no check ID starts with 'NSO-PREM'" in r.stderr


@pytest.mark.parametrize("args", [("--skip", ""), ("--skip", "NSO"), ("--only", "NSO-SVC", "--skip", "NSO-SVC"),
                                  ("--only", " ")])
def test_a_selection_that_leaves_no_check_or_has_an_empty_prefix_is_a_usage_error(staged, args):
    # an unset variable in a CI job (--skip "$SKIP") must not turn a failing install into exit 0
    root = staged.get("root")  # NSO-USER-001 fails on it
    assert audit("--root", root).exit_code == 1
    r = audit("--root", root, *args)
    assert r.exit_code == 2, r.output
    assert "empty prefix" in r.stderr or "leave no check" in r.stderr, r.stderr


def test_usage_and_io_errors_exit_2(staged, tmp_path):
    root = staged.get("nso")
    r = audit("--root", tmp_path / "nowhere")
    assert r.exit_code == 2 and "not a directory" in r.stderr
    r = audit("--root", root, "--junit", tmp_path / "missing-dir" / "a.xml")
    assert r.exit_code == 2 and "cannot write it" in r.stderr
    r = audit("--root", root, "--waivers", tmp_path / "none.toml")
    assert r.exit_code == 2 and "--waivers" in r.stderr


def test_list_shows_every_check():
    r = audit("--list", ok=True)
    assert [line.split()[0] for line in r.output.splitlines()] == [c.id for c in all_checks()]
    listed = json.loads(audit("--list", "--json", ok=True).stdout)["checks"]
    assert {c["id"] for c in listed} == {c.id for c in all_checks()}


def _run(root, env, tty):
    cmd = [sys.executable, "-I", "-m", "nso_install", "audit", "--root", str(root), "--only", "NSO-LAYOUT"]
    if not tty:
        return subprocess.run(cmd, env=env, capture_output=True, text=True).stdout
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, env=env, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait()
    os.close(master)
    return out.decode(errors="replace")


def test_colour_on_a_terminal_only_and_never_with_no_color(staged):
    root = staged.get("nso")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR",) and not k.startswith("PYTHON")}
    assert ANSI.search(_run(root, env, tty=True))
    assert not ANSI.search(_run(root, {**env, "NO_COLOR": "1"}, tty=True))
    piped = _run(root, env, tty=False)
    assert "NSO-LAYOUT-001" in piped and not ANSI.search(piped)


def _secrets(root) -> list[str]:
    keys = (root / "etc/ncs/ncs.crypto_keys").read_text()
    found = [v for line in keys.splitlines() if "=" in line for v in [line.split("=", 1)[1]]]
    found.append((root / "etc/ncs/ipc_access").read_text().strip())
    for key in ("etc/ncs/ssh/ssh_host_ed25519_key", "etc/ncs/ssl/cert/host.key"):
        body = [x for x in (root / key).read_text().splitlines() if x and not x.startswith("-----")]
        found += [x[:40] for x in body]
    return found


def test_no_key_material_in_any_output(staged, tmp_path):
    root = staged.get("nso")
    # make every key check look at its file and say something about it
    (root / "etc/ncs/ipc_access").write_text("x" * 8 + "\n")
    set_conf(root, f"{C}/encrypted-strings/AESCFB128/key", "0123456789abcdef" * 2)
    os.chmod(root / "etc/ncs/ncs.conf", 0o600)
    r = audit("--root", root, "-vv", "--junit", tmp_path / "a.xml", "--sarif", tmp_path / "a.sarif")
    j = audit("--root", root, "--json")
    outputs = r.output + r.stderr + j.output + (tmp_path / "a.xml").read_text() + (tmp_path / "a.sarif").read_text()
    for secret in _secrets(root) + ["0123456789abcdef" * 2, "x" * 8]:
        assert secret not in outputs
    assert "<secret>" in j.output  # the inline key is shown masked


@pytest.mark.timeout(60)  # a FIFO at the report's name must not hang the audit
def test_reports_are_never_written_through_a_link_or_into_a_fifo(staged, tmp_path):
    """--junit/--sarif name a path in a directory another account may write (a CI workspace, the
    run directory): a link planted there must not make root overwrite what it points to."""
    root = staged.get("nso")
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    os.chmod(victim, 0o600)
    (tmp_path / "a.xml").symlink_to(victim)
    r = audit("--root", root, "--junit", tmp_path / "a.xml")
    assert r.exit_code == 2 and "symbolic link" in r.stderr
    assert victim.read_text() == "root's file\n"
    os.mkfifo(tmp_path / "a.sarif")
    r = audit("--root", root, "--sarif", tmp_path / "a.sarif")
    assert r.exit_code == 2 and "not a regular file" in r.stderr
    (tmp_path / "d").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "d")
    r = audit("--root", root, "--junit", tmp_path / "via" / "a.xml")
    assert r.exit_code == 2 and not (tmp_path / "d" / "a.xml").exists()
    r = audit("--root", root, "--junit", tmp_path / "ok.xml")  # a plain path works, 0644
    assert r.exit_code in (0, 1) and os.stat(tmp_path / "ok.xml").st_mode & 0o777 == 0o644


def test_a_key_line_without_a_key_name_is_counted_not_shown(staged, tmp_path):
    """Text before a "=" in a keys file is shown only when it is a key's name: a base64 value
    ends in "=", and would otherwise be printed as a name in every output."""
    root = staged.get("nso")
    secret = "c2VjcmV0LWtleS1tYXRlcmlhbC1oZXJlLXBsZWFzZQ"
    with open(root / "etc/ncs/ncs.crypto_keys", "a") as f:
        f.write(f"{secret}==\n")
    r = audit("--root", root, "-vv", "--junit", tmp_path / "a.xml", "--sarif", tmp_path / "a.sarif")
    j = audit("--root", root, "--json")
    outputs = r.output + r.stderr + j.output + (tmp_path / "a.xml").read_text() + (tmp_path / "a.sarif").read_text()
    assert secret not in outputs
    assert "1 other line(s) (not shown" in j.output


def test_junit_stays_parsable_whatever_file_names_the_evidence_holds(staged, tmp_path):
    """A world-writable file the NSO account names with a control character shows up in the
    evidence of a failing check; the JUnit report must still parse, with that failure in it."""
    root = staged.get("nso")
    bad = root / "var/opt/ncs/state" / "evil\x01name"
    bad.write_text("")
    os.chmod(bad, 0o666)
    r = audit("--root", root, "--junit", tmp_path / "a.xml")
    assert r.exit_code == 1
    doc = ET.parse(tmp_path / "a.xml").getroot()
    failed = [c.get("name") for c in doc.iter("testcase") if c.find("failure") is not None]
    assert failed and any("evil\\x01name" in (c.findtext("failure") or "") for c in doc.iter("testcase"))
