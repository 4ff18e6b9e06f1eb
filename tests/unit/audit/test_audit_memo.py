"""Install's own audit keeps what it derives from key and certificate files (nso_install/audit/memo.py),
keyed by the files' bytes: its verdicts are those of a full parse, a changed file is parsed again, and
the memo is read only from a private state directory, written by install only, of this version only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from support import cli
from test_each_check import BREAK

from nso_install.audit import audit, memo

STATE = "var/lib/nso-install"


def verdicts(root, **kw) -> dict:
    return {f.check.id: (f.status, f.summary, f.evidence) for f in audit(root, cheap=True, **kw).findings}


def test_install_keeps_the_facts_privately_and_names_no_file(staged):
    root = staged.get("nso")
    path = root / STATE / memo.NAME
    assert (os.stat(path).st_mode & 0o777) == 0o600
    doc = json.loads(path.read_bytes())
    assert doc["format"] == memo.FORMAT and doc["tool"]
    assert {k.split(":")[0] for k in doc["facts"]} == {"private-key", "ssh-public-key", "certificate"}
    assert "etc/ncs" not in path.read_text()  # digests, types, names and dates: no path, no key material


def test_with_the_memo_the_verdicts_are_those_of_a_full_parse(staged):
    root = staged.get("nso")
    assert verdicts(root, memo_dir=root / STATE) == verdicts(root)


@pytest.mark.parametrize("check", ["NSO-KEY-003", "NSO-TLS-001", "NSO-TLS-002"])
def test_a_changed_key_or_certificate_is_parsed_again(staged, monkeypatch, check):
    variant, breaker = BREAK[check]
    root = staged.get(variant)
    breaker(root, monkeypatch)  # new bytes, same paths: the memo holds the old files' facts
    with_memo = verdicts(root, memo_dir=root / STATE)
    assert with_memo[check][0] == "fail"
    assert with_memo == verdicts(root)


def _forge(root, *, tool=None, mode=0o600) -> None:
    """A memo claiming the HTTPS certificate is unparseable (it is fine)."""
    from nso_install import __version__

    data = (root / "etc/ncs/ssl/cert/host.cert").read_bytes()
    key = "certificate:" + hashlib.sha256(b"certificate\0" + data).hexdigest()
    path = root / STATE / memo.NAME
    path.write_text(json.dumps({"format": memo.FORMAT, "tool": tool or __version__,
                                "facts": {key: {"problem": "forged"}}}))
    os.chmod(path, mode)


def test_the_memo_is_what_install_trusts_in_its_private_state_directory(staged):
    root = staged.get("nso")
    _forge(root)
    assert verdicts(root, memo_dir=root / STATE)["NSO-TLS-001"][0] == "fail"  # used: root's own record
    assert verdicts(root)["NSO-TLS-001"][0] != "fail"  # nso-install audit does not read it


@pytest.mark.parametrize("how", ["other version", "open to others", "state directory open to others"])
def test_a_memo_of_another_version_or_open_to_others_is_ignored(staged, how):
    root = staged.get("nso")
    _forge(root, tool="0.0.0-other" if how == "other version" else None,
           mode=0o644 if how == "open to others" else 0o600)
    if how == "state directory open to others":
        os.chmod(root / STATE, 0o755)
    assert verdicts(root, memo_dir=root / STATE) == verdicts(root)
    if how == "state directory open to others":
        assert memo.load(root / STATE).path is None  # nothing written there either


def test_nso_install_audit_writes_no_memo(staged):
    root = staged.get("nso")
    (root / STATE / memo.NAME).unlink()
    cli("audit", "--root", root, ok=False)
    assert not (root / STATE / memo.NAME).exists()


def test_a_rerun_writes_nothing_and_parses_nothing(staged):
    """The memo in place: install's audit on a re-run imports no cryptography (in a fresh process)."""
    root = staged.get("nso")
    before = (root / STATE / memo.NAME).stat()
    code = ("import json, sys\nfrom nso_install.audit import audit\n"
            f"r = audit({str(root)!r}, cheap=True, memo_dir={str(root / STATE)!r})\n"
            "print(json.dumps([{f.check.id: f.status for f in r.findings}['NSO-TLS-002'],"
            " sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["pass", []]
    after = (root / STATE / memo.NAME).stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
