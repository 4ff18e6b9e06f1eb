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


@pytest.mark.parametrize("name", ["install", "uninstall", "activate", "tool", "audit", "verify", "status"])
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


@pytest.mark.parametrize("name", ["verify", "audit"])
def test_facts_are_documented_as_set_only_by_a_task_that_succeeds(name):
    doc = yaml.safe_load(module(name).DOCUMENTATION)
    assert "when the task succeeds" in doc["attributes"]["facts"]["description"]
    assert any("register" in line for line in doc["description"])
