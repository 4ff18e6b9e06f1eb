"""Waivers: a waived failure passes (exit 0) with its reason and owner; an expired one fails again;
the file is read as safely as a values file; a wrong ID or field is a usage error."""

from __future__ import annotations

import datetime
import json
import os
import subprocess

import jsonschema
import pytest
from sarif_schema import SARIF_2_1_0
from support import NOBODY, cli, public_tmp_dir
from support_audit import TODAY, set_conf

from nso_install.audit import audit
from nso_install.audit.waivers import load_waivers
from nso_install.errors import UsageError

C = "/ncs-config"


@pytest.fixture
def deviating(staged):
    root = staged.get("nso")
    set_conf(root, f"{C}/cli/ssh/enabled", "true")  # NSO-SD-008 fails
    return root


def toml(path, expires=None, wid="NSO-SD-008"):
    exp = f"expires = {expires}\n" if expires else ""
    path.write_text(f'[[waivers]]\nid = "{wid}"\nreason = "jump host needs CLI over SSH"\nowner = "netops"\n{exp}')
    return path


def test_a_waived_failure_is_reported_waived_and_exits_0(deviating, tmp_path):
    r = cli("audit", "--root", deviating, "--waivers", toml(tmp_path / "w.toml", "2999-12-31"))
    assert r.exit_code == 0
    line = next(x for x in r.output.splitlines() if "NSO-SD-008" in x)
    assert line.startswith("WAIVED")
    assert "waived: jump host needs CLI over SSH (netops, until 2999-12-31)" in r.output


def test_an_expired_waiver_fails_again(deviating, tmp_path):
    path = toml(tmp_path / "w.toml", "2030-01-14")
    report = audit(deviating, waivers_file=path, today=TODAY, cheap=True)
    f = next(f for f in report.findings if f.check.id == "NSO-SD-008")
    assert f.status == "fail" and f.summary.startswith("waiver expired on 2030-01-14 (netops)")
    assert report.exit_code == 1
    # the last day of a waiver still counts
    ok = audit(deviating, waivers_file=toml(tmp_path / "w2.toml", "2030-01-15"), today=TODAY, cheap=True)
    assert ok.exit_code == 0 and next(f for f in ok.findings if f.check.id == "NSO-SD-008").status == "waived"
    r = cli("audit", "--root", deviating, "--waivers", toml(tmp_path / "w3.toml", "2001-01-01"), "--json", ok=False)
    assert r.exit_code == 1
    assert next(c for c in json.loads(r.stdout)["checks"] if c["id"] == "NSO-SD-008")["result"] == "fail"


def test_a_waivers_file_another_account_could_write_is_said_in_every_report(deviating, tmp_path):
    """The audit is a CI gate and a waiver turns its failure into a pass: a waivers file the NSO
    account (here nobody) wrote itself hides the finding it waives, so the report says whose the
    file is, on the terminal, in JSON and in SARIF; a root-owned 0644 one says nothing."""
    with public_tmp_dir() as d:
        os.chown(d, NOBODY, NOBODY)
        mine = d / "w.toml"
        subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c",
                        f'printf \'[[waivers]]\\nid = "NSO-SD-008"\\nreason = "x"\\nowner = "y"\\n\' > {mine}'],
                       check=True)
        assert mine.stat().st_uid == NOBODY
        r = cli("audit", "--root", deviating, "--waivers", mine, "--json", "--sarif", tmp_path / "a.sarif")
        assert r.exit_code == 0  # (still waived: said, not refused, as for a values file)
        said = f"--waivers {mine} belongs to nobody (uid {NOBODY}), so another account could have waived"
        assert any(n.startswith(said) for n in json.loads(r.stdout)["notes"])
        sarif = json.loads((tmp_path / "a.sarif").read_text())
        jsonschema.Draft7Validator(SARIF_2_1_0, format_checker=jsonschema.FormatChecker()).validate(sarif)
        notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        assert any(n["message"]["text"].startswith(said) and n["level"] == "warning" for n in notes)
        assert said in cli("audit", "--root", deviating, "--waivers", mine).output
    ours = toml(tmp_path / "w.toml")
    os.chmod(ours, 0o644)
    r = cli("audit", "--root", deviating, "--waivers", ours, "--json", "--sarif", tmp_path / "b.sarif")
    assert json.loads(r.stdout)["notes"] == []
    assert "toolExecutionNotifications" not in json.loads((tmp_path / "b.sarif").read_text())["runs"][0]["invocations"][0]


def test_yaml_waivers_and_a_waiver_that_is_not_needed(deviating, tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("waivers:\n  - id: NSO-SD-008\n    reason: jump host\n    owner: netops\n    expires: 2999-01-01\n"
                    "  - id: nso-perm-001\n    reason: old habit\n    owner: me\n")
    report = audit(deviating, waivers_file=path, today=TODAY, cheap=True)
    assert report.exit_code == 0
    assert any("NSO-PERM-001" in n and "not needed" in n for n in report.notes)
    assert [w.expires for w in load_waivers(path, ["NSO-SD-008", "NSO-PERM-001"])] == [datetime.date(2999, 1, 1), None]


@pytest.mark.parametrize("text, suffix, ref, words", [
    ('[[waivers]]\nid = "NSO-SD-999"\nreason = "r"\nowner = "o"\n', ".toml", "unknown-check", "not a check ID"),
    ('[[waivers]]\nid = "NSO-SD-00"\nreason = "r"\nowner = "o"\n', ".toml", "unknown-check", "Did you mean"),
    ('[[waivers]]\nid = "NSO-SD-008"\nowner = "o"\n', ".toml", "bad-waivers-file", "reason is missing"),
    ('[[waivers]]\nid = "NSO-SD-008"\nreason = "r"\nowner = "o"\nexpires = "soon"\n', ".toml", "bad-waivers-file",
     "expires is not a date"),
    ('[[waivers]]\nid = "NSO-SD-008"\nreason = "r"\nowner = "o"\nuntil = 2030-01-01\n', ".toml", "bad-waivers-file",
     "unknown field"),
    ('[[waivers]]\nid = "NSO-SD-008"\nreason = "r"\nowner = "o"\n[[waivers]]\nid = "NSO-SD-008"\nreason = "r"\n'
     'owner = "o"\n', ".toml", "bad-waivers-file", "waived twice"),
    ("x: &a [1]\nwaivers: *a\n", ".yaml", "bad-waivers-file", "anchors and aliases"),
    ('waivers = "NSO-SD-008"\n', ".toml", "bad-waivers-file", "expected a list"),
    ("id = 1\n", ".toml", "bad-waivers-file", "expected one list named waivers"),
    ("[[waivers]\n", ".toml", "bad-waivers-file", "does not parse as TOML"),
    ("{}", ".json", "bad-waivers-file", "unknown format"),
])
def test_bad_waivers_files_are_usage_errors_naming_the_file_and_the_entry(tmp_path, text, suffix, ref, words):
    path = tmp_path / f"w{suffix}"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        load_waivers(path, ["NSO-SD-008", "NSO-SD-001"])
    assert e.value.reference == ref and words in e.value.message + (e.value.hint or ""), e.value.message
    assert e.value.message.startswith(("waivers file", "--waivers"))


def test_a_huge_waivers_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("# " + "x" * (300 << 10) + "\n")
    with pytest.raises(UsageError) as e:
        load_waivers(path, ["NSO-SD-008"])
    assert "larger than 256 KiB" in e.value.message


def test_a_waiver_for_a_check_that_could_not_run_is_not_called_unneeded():
    """A check that errored was not judged: the note told the operator to remove its waiver
    ("not needed (error)"), which then failed the next audit that could run the check."""
    from nso_install.audit import all_checks
    from nso_install.audit.model import Finding
    from nso_install.audit.waivers import Waiver, apply_waivers

    check = next(c for c in all_checks() if c.id == "NSO-KEY-003")
    f = Finding(check, "error", "could not check: something")
    notes = apply_waivers([f], [Waiver("NSO-KEY-003", "r", "o")], TODAY)
    assert f.status == "error" and len(notes) == 1
    assert "not needed" not in notes[0] and "could not run" in notes[0]
