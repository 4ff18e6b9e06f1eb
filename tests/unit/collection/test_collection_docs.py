"""The collection's module documentation says what the modules and the CLI really do."""

from __future__ import annotations

import pytest
import yaml
from collection_support import module

from nso_install.conf.variables import VARIABLES


def examples(name: str) -> list[dict]:
    return yaml.safe_load(module(name).EXAMPLES)


def test_install_examples_set_only_variables_that_exist_and_secrets_only_secret_ones():
    tasks = [t["nso_install.nso.install"] for t in examples("install")]
    given = [(k, "set") for t in tasks for k in t.get("set") or {}] + \
            [(k, "set_secrets") for t in tasks for k in t.get("set_secrets") or {}]
    assert any(how == "set_secrets" for _, how in given)  # the example of set_secrets is kept
    for name, how in given:
        assert name in VARIABLES, f"{how}: no ncs.conf variable {name} (nso-install variables)"
        if how == "set_secrets":
            assert VARIABLES[name].secret, f"set_secrets: {name} is no secret variable"
    secrets = {k for t in tasks for k in t.get("set_secrets") or {}}
    if secrets & {"crypto.aescfb128_key", "crypto.aes256cfb128_key"}:  # inline keys: both, with the mechanism
        assert secrets >= {"crypto.aescfb128_key", "crypto.aes256cfb128_key"}
        assert any((t.get("set") or {}).get("crypto.mechanism") == "inline" for t in tasks)


@pytest.mark.parametrize("name", ["install", "uninstall", "activate", "tool", "audit", "verify", "status",
                                  "keys_rotate"])
def test_module_docs_are_yaml(name):
    m = module(name)
    for part in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(m, part)) is not None, part


def returned(name: str) -> dict:
    return yaml.safe_load(module(name).RETURN)


def test_verify_return_documents_the_tools_answer():
    from nso_install.lifecycle.verify import Finding, Verification

    doc = returned("verify")
    assert set(Verification().as_dict()) - {"version"} <= set(doc)
    assert set(doc["findings"]["contains"]) == set(Finding("tree", "/opt/ncs", "gone").as_dict())


def test_audit_return_documents_the_tools_answer():
    from nso_install.audit.model import Report

    assert set(Report().as_dict()) - {"version"} <= set(returned("audit"))


def test_status_return_documents_the_tools_answer():
    """RETURN named active, versions and spec of the status document; keys (where a keys rotate
    stands), running, unfinished and the others the module returns as well were not said."""
    import json

    from collection_support import ROOT

    schema = json.loads((ROOT / "docs" / "json-output.schema.json").read_text())
    assert set(schema["$defs"]["status"]["properties"]) - {"version"} <= set(returned("status"))


def test_keys_rotate_return_documents_the_tools_answer_and_what_it_returns(tmp_path):
    """RETURN names every key of the keys-rotate document (but its format version, and the
    warnings, which are the task's own) and nothing the module does not return."""
    import json

    from collection_support import ROOT, Fake, run

    schema = json.loads((ROOT / "docs" / "json-output.schema.json").read_text())
    answer = {k: None for k in schema["$defs"]["keys-rotate"]["properties"]}
    answer.update(version=1, result="keys-rotate", changed=False, warnings=[])
    doc = returned("keys_rotate")
    assert set(answer) - {"version", "warnings", "changed"} <= set(doc)
    r = run("keys_rotate", {"executable": str(Fake(tmp_path / "bin", answer).path)})
    assert not r.failed, r.result
    assert set(r.result) - _ANSIBLE_OWN == set(doc), set(r.result) ^ set(doc)


@pytest.mark.parametrize("name", ["verify", "audit"])
def test_facts_are_documented_as_set_only_by_a_task_that_succeeds(name):
    doc = yaml.safe_load(module(name).DOCUMENTATION)
    assert "when the task succeeds" in doc["attributes"]["facts"]["description"]
    assert any("register" in line for line in doc["description"])


_ANSIBLE_OWN = {"changed", "diff", "msg", "warnings", "invocation", "skipped", "failed"}


def _uninstall(tmp_path, answer, rc=0, **args):
    from collection_support import Fake, run

    return run("uninstall", {"executable": str(Fake(tmp_path / "bin", answer, rc).path), **args})


def test_uninstall_return_documents_what_it_returns(tmp_path):
    """RETURN named actions, kept and changed_count; the module also returns notes, totals and cmd
    (the kept service files' note, the command that ran), for a removal and for a version that is
    not installed."""
    doc = returned("uninstall")
    removed = {"version": 1, "result": "applied", "changed": 1, "totals": {"actions": 1, "changed": 1},
               "actions": [{"kind": "tree", "path": "/opt/ncs", "status": "changed", "changed": True}],
               "notes": ["kept"], "kept": ["/etc/ncs"]}
    gone = {"version": 1, "result": "error", "error": {"reference": "no-such-version", "message": "not installed"}}
    for answer, rc in ((removed, 0), (gone, 2)):
        r = _uninstall(tmp_path, answer, rc, all=answer is removed, ncs_version=None if answer is removed else "6.4.1")
        assert not r.failed, r.result
        assert set(r.result) - _ANSIBLE_OWN == set(doc), (answer["result"], set(r.result) ^ set(doc))


@pytest.mark.parametrize("name, args", [("install", {"distribution": "/srv/d", "system_install": True,
                                                     "local_install": "/srv/l"}),
                                        ("activate", {"version": "6.5.3", "rollback": True}),
                                        ("uninstall", {"ncs_version": "6.4.1", "all": True}),
                                        ("uninstall", {"all": True, "root": ""})])
def test_what_return_says_is_always_returned_is_returned_by_an_early_failure_too(tmp_path, name, args):
    """cmd was documented as returned always, and a task refused before nso-install ran (options
    that exclude each other, an empty root) returned none."""
    from collection_support import Fake, run

    r = run(name, {"executable": str(Fake(tmp_path / "bin").path), **args})
    assert r.failed, r.result
    always = [k for k, v in returned(name).items() if v["returned"] == "always"]
    assert all(k in r.result for k in always), (always, r.result)


def test_install_return_says_what_check_mode_before_the_tool_returns(tmp_path):
    """In check mode before nso-install is installed the task succeeds (changed: the install would
    run) without the tool's answer: RETURN said spec and result were returned on success."""
    from collection_support import run

    r = run("install", {"distribution": "/srv/d", "executable": str(tmp_path / "venv" / "bin" / "nso-install")},
            check=True)
    assert not r.failed and r.result["changed"], r.result
    on_success = [k for k, v in returned("install").items() if v["returned"] == "success"]
    assert on_success and all(k in r.result for k in on_success), (on_success, r.result)
