"""The keys_rotate module: the command line it builds (stand-in nso-install), and against the real
nso-install on a staged install: check mode changes nothing, a rotation adds a generation and
reports changed, a re-run and --applied as a playbook's retried tasks would run them, a refusal
with the tool's reference and hint; never a key in a result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from collection_support import Fake, basic, playbook, run
from support import snapshot

EXE = Path(sys.executable).parent / "nso-install"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

ANSWER = {"version": 1, "result": "keys-rotate", "file": "/etc/ncs/ncs.crypto_keys", "nso_version": "6.5.3",
          "generation": 0, "status": "would-add", "changed": True, "converted_legacy": True, "check": True,
          "mode": "0600", "owner": "root:root", "key_names": ["AESCFB128_KEY", "AES256CFB128_KEY"], "added": None,
          "steps": ["reload"], "notes": [], "warnings": ["/etc/ncs/ncs.crypto_keys is open to --new readers"]}


def test_the_command_line_check_mode_and_options(tmp_path):
    fake = Fake(tmp_path / "bin", ANSWER)
    warned = []
    with mock.patch.object(basic.AnsibleModule, "warn", lambda self, w, **kw: warned.append(w)):
        r = run("keys_rotate", {"executable": str(fake.path), "root": "/srv/r", "install_dir": "/opt/ncs",
                                "lock_timeout": 5, "new": True}, check=True)
    assert not r.failed and r.result["changed"] is True and r.result["status"] == "would-add", r.result
    assert fake.calls == [["keys", "rotate", "--new", "--install-dir", "/opt/ncs", "--lock-timeout", "5.0",
                           "--root", "/srv/r", "--check", "--json"]]
    assert warned == ["/etc/ncs/ncs.crypto_keys is open to new readers"]  # (the task's terms)
    assert "warnings" not in r.result and "version" not in r.result and r.result["nso_version"] == "6.5.3"

    fake.set({**ANSWER, "status": "pending", "changed": False, "check": False, "warnings": []})
    r = run("keys_rotate", {"executable": str(fake.path), "applied": False})
    assert not r.failed and r.result["changed"] is False and fake.calls[-1] == ["keys", "rotate", "--json"]


def test_new_and_applied_exclude_each_other_before_the_tool_runs(tmp_path):
    fake = Fake(tmp_path / "bin", ANSWER)
    r = run("keys_rotate", {"executable": str(fake.path), "new": True, "applied": True})
    assert r.failed and "new and applied" in r.result["msg"] and fake.calls == []


def test_a_refusal_is_the_tools_message_reference_and_hint_in_the_tasks_terms(tmp_path):
    error = {"version": 1, "result": "error", "error": {
        "reference": "not-the-recorded-install-dir", "message": "--install-dir /opt/nsx is not the recorded one.",
        "hint": "Leave --install-dir out, or run nso-install status --root /r."}}
    r = run("keys_rotate", {"executable": str(Fake(tmp_path / "bin", error, rc=2).path), "install_dir": "/opt/nsx"})
    assert r.failed and r.result["error"]["reference"] == "not-the-recorded-install-dir", r.result
    assert r.result["msg"].startswith("install_dir /opt/nsx is not the recorded one. Hint: Leave install_dir out")
    assert "nso-install status --root /r" in r.result["msg"] and r.result["rc"] == 2


def _keys(path: Path) -> set[str]:
    """Every key value in a keys file (the hex after NAME= or NAME[G]=)."""
    return {v.decode() for v in re.findall(rb"^[A-Z0-9_]+_KEY\d?(?:\[-?\d+\])?=([0-9a-fA-F]+)$", path.read_bytes(), re.M)}


def _no_key_in(result: dict, keys: set[str]) -> None:
    text = json.dumps(result)
    for k in keys:
        for form in (k, k.lower(), k.upper()):
            assert form not in text, "a key is in the task's result"


def _installed(root: Path, dists) -> Path:
    """A system install of the real nso-install staged under ROOT; its keys file (legacy format)."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    subprocess.run([str(EXE), "install", str(dists["6.5.3"]), "--system-install", "--root", str(root), "-q"],
                   check=True, capture_output=True)
    return root / "etc/ncs/ncs.crypto_keys"


def _generations(path: Path) -> set[int]:
    return {int(g) for g in re.findall(rb"^[A-Z0-9_]+\[(-?\d+)\]=", path.read_bytes(), re.M)}


@as_root
def test_check_rotate_rerun_applied_and_never_a_key(root, dists):
    keys_file = _installed(root, dists)
    before = keys_file.read_bytes()
    seen = set(_keys(keys_file))
    assert seen and b"EXTERNAL_KEY_FORMAT=2" not in before  # (install writes the legacy format)
    tree = snapshot(root)
    args = {"executable": str(EXE), "root": str(root)}
    results = []

    check = run("keys_rotate", args, check=True)
    results.append(check.result)
    assert not check.failed and check.result["changed"] and check.result["status"] == "would-add", check.result
    assert check.result["generation"] == 0 and check.result["converted_legacy"] and check.result["check"]
    assert keys_file.read_bytes() == before and snapshot(root) == tree  # (the keys file, the records: nothing)

    rotated = run("keys_rotate", args)
    results.append(rotated.result)
    assert not rotated.failed and rotated.result["changed"] and rotated.result["status"] == "added", rotated.result
    after = keys_file.read_bytes()
    assert after.startswith(b"EXTERNAL_KEY_FORMAT=2\n") and _generations(keys_file) == {-1, 0}
    assert rotated.result["key_names"] and rotated.result["steps"] and rotated.result["added"]
    assert rotated.result["file"] == "/etc/ncs/ncs.crypto_keys"  # (as NSO reads it: without the staging root)
    seen |= _keys(keys_file)

    again = run("keys_rotate", args)  # (a retried task: the generation waits to be applied, nothing added)
    results.append(again.result)
    assert not again.failed and not again.result["changed"] and again.result["status"] == "pending", again.result
    assert keys_file.read_bytes() == after

    would = run("keys_rotate", {**args, "applied": True}, check=True)
    applied = run("keys_rotate", {**args, "applied": True})
    retried = run("keys_rotate", {**args, "applied": True})
    results += [would.result, applied.result, retried.result]
    assert would.result["changed"] and would.result["status"] == "would-apply", would.result
    assert applied.result["changed"] and applied.result["status"] == "applied", applied.result
    assert not retried.failed and not retried.result["changed"] and retried.result["status"] == "already-applied"
    assert keys_file.read_bytes() == after

    next_one = run("keys_rotate", args)
    results.append(next_one.result)
    assert next_one.result["changed"] and next_one.result["generation"] == 1 and _generations(keys_file) == {-1, 0, 1}
    seen |= _keys(keys_file)

    assert len(seen) >= 6 and all(len(k) >= 32 for k in seen)  # (legacy, 0 and 1: the values looked for below)
    for result in results:
        _no_key_in(result, seen)


@as_root
def test_a_refusal_of_the_real_tool_names_its_reference_and_hint_and_no_key(root, dists):
    keys_file = _installed(root, dists)
    before = keys_file.read_bytes()
    r = run("keys_rotate", {"executable": str(EXE), "root": str(root), "install_dir": "/opt/nsx"})
    assert r.failed and r.result["error"]["reference"] == "not-the-recorded-install-dir", r.result
    assert "Hint:" in r.result["msg"] and r.result["hint"] and "--install-dir" not in r.result["msg"].split(
        "nso-install")[0], r.result["msg"]
    assert keys_file.read_bytes() == before
    _no_key_in(r.result, _keys(keys_file))


@as_root
def test_a_playbook_rotates_and_its_verbose_output_holds_no_key(root, dists, tmp_path):
    """Through ansible-playbook -vvv (the module's arguments, its result, its warnings as Ansible
    prints them): check mode, a rotation, its re-run; no key value anywhere in the output."""
    keys_file = _installed(root, dists)
    before = keys_file.read_bytes()
    task = {"nso_install.nso.keys_rotate": {"root": str(root), "executable": str(EXE)}}
    r = playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "check", **task, "check_mode": True, "register": "check"},
        {"name": "rotate", **task, "register": "rotated"},
        {"name": "again", **task, "register": "again"},
        {"ansible.builtin.assert": {"that": [
            "check.changed and check.status == 'would-add'", "rotated.changed and rotated.generation == 0",
            "not again.changed and again.status == 'pending'"]}}]}], "-vvv")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert re.search(r"^localhost\s*: ok=4\s+changed=2\s", r.stdout, re.M), r.stdout[-2000:]
    assert r.stdout.count("\"key_names\"") >= 3  # (each task's result is in the output looked through)
    assert keys_file.read_bytes() != before and _generations(keys_file) == {-1, 0}
    keys = _keys(keys_file)
    assert keys and not [k for k in keys if k in r.stdout or k in r.stderr or k.upper() in r.stdout]
