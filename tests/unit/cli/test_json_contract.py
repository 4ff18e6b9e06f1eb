"""The --json documents are a contract (docs/json.md, docs/json-output.schema.json): every
command's document, in each of its forms, is valid against the schema, and a property the
schema does not know fails here (so a change of the output is a change of the schema too)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import cli, off_3des

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs/json-output.schema.json").read_text())
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")


def valid(output: str) -> dict:
    doc = json.loads(output)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))
    if error is not None:  # (the most relevant error, not "is not valid under any of the given schemas")
        raise error
    return doc


def test_the_schema_is_a_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_property_the_schema_does_not_know_is_refused():
    doc = json.loads(cli("variables", "--json", "webui.enabled").output)
    valid(json.dumps(doc))
    with pytest.raises(jsonschema.ValidationError):
        valid(json.dumps({**doc, "surprise": 1}))
    status = {"version": 1, "result": "status", "surprise": True}
    with pytest.raises(jsonschema.ValidationError):
        valid(json.dumps(status))


@root_only
def test_every_command_prints_a_document_of_the_schema(root, dists, tmp_path):
    def run(*args, ok=True):
        return valid(cli(*args, "--json", ok=ok).stdout)

    r = ("--root", root)
    assert run("install", dists["6.4.1"], "--system-install", *r, "--run-as-user", "nso")["result"] == "applied"
    assert run("install", dists["6.5.3"], "--system-install", *r, "--check", "--diff")["result"] == "check"
    run("install", dists["6.5.3"], "--system-install", *r, "--set", "webui.tcp.port=8090")
    refused = run("activate", "6.5.3", *r, ok=False)  # 6.4.1's 3DES keys, which 6.5.3 refuses
    assert refused["result"] == "error" and refused["error"]["reference"] == "release-cannot-start", refused
    off_3des(root)
    assert run("activate", "6.5.3", *r, "--check")["result"] == "check"
    run("activate", "6.5.3", *r, "--diff")
    run("rollback", *r)
    conf = root / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text() + "<!-- edited -->\n")
    edited = run("install", dists["6.4.1"], "--system-install", *r, "--set", "webui.tcp.port=8091")
    assert any(a.get("conflict") for a in edited["actions"]) and edited["warnings"]
    status = run("status", *r)
    assert status["result"] == "status" and status["pending_new"]
    assert run("verify", *r)["result"] == "verify"
    os.chmod(root / "opt/ncs/ncs-6.4.1/bin/ncs", 0o777)
    assert not run("verify", *r, ok=False)["ok"]
    run("install", dists["6.4.1"], "--system-install", *r)  # (repaired)
    assert run("keys", "rotate", *r, "--check")["status"] == "would-add"
    assert run("keys", "rotate", *r)["status"] == "added"
    assert run("status", *r)["keys"]["pending_generation"] == 0  # (the status document with a rotation)
    assert run("audit", *r, ok=False)["result"] == "audit"
    assert run("audit", "--list")["result"] == "checks"
    assert run("uninstall", "6.5.3", *r, "--check")["kept"]
    run("uninstall", "6.5.3", *r)
    assert run("install", tmp_path / "missing.tar.gz", "--system-install", *r, ok=False)["result"] == "error"
    assert run("uninstall", "9.9.9", *r, ok=False)["error"]["reference"] == "no-such-version"
    local = run("install", dists["6.5.3"], "--local-install", tmp_path / "nso")
    assert local["result"] == "applied"
    assert run("status", "--local-install", tmp_path / "nso")["local_dir"] == str(tmp_path / "nso")
