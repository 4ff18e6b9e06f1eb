"""Rendering ncs.conf (nso_install.conf.render): every combination valid, paths per install
kind, inline keys, values escaped, the result validated, clients' environment."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from nso_install.conf import VARIABLES, ConfContext, client_environment, load_values, render_ncs_conf, validate_ncs_conf
from nso_install.conf import render as render_mod
from nso_install.conf.variables import DUMMY_AESCFB128_KEY
from nso_install.errors import NsoInstallError

from support import conf_elements, conf_value


# --- rendering matrix ---------------------------------------------------------------------

MATRIX = [
    (kind, profile, version, transport, fips)
    for kind, profile, version, transport, fips in itertools.product(
        ("system", "local"), ("production", "development"), ("6.4.8", "6.5.3", "6.7.1"), ("unix", "tcp"),
        (False, True))
    if not (fips and version == "6.4.8")
]


@pytest.mark.parametrize("kind,profile,version,transport,fips", MATRIX)
def test_every_combination_renders_valid(kind, profile, version, transport, fips):
    ctx = ConfContext(kind, profile, version, fips=fips)
    text = render_ncs_conf(ctx, {"ipc": {"transport": transport}})
    assert validate_ncs_conf(text) == []
    assert text.endswith("</ncs-config>\n")
    assert conf_value(text, "/ncs-config/ncs-local-ipc/enabled") == ("true" if transport == "unix" else "false")
    if transport == "tcp":
        assert conf_value(text, "/ncs-config/ncs-ipc-address/ip") == "127.0.0.1"
        assert conf_value(text, "/ncs-config/ncs-ipc-address/port") == "4569"
    else:
        assert conf_elements(text, "/ncs-config/ncs-ipc-address") == []
    assert conf_value(text, "/ncs-config/fips-mode/enabled") == ("true" if fips else None)
    if fips:
        assert "ed25519" not in text and "curve25519" not in text
    if kind == "system":
        assert conf_value(text, "/ncs-config/state-dir") == "${NCS_RUN_DIR}/state"
        assert conf_value(text, "/ncs-config/cdb/db-dir") == "${NCS_RUN_DIR}/cdb"
        assert conf_value(text, "/ncs-config/aaa/ssh-server-key-dir") == "${NCS_CONFIG_DIR}/ssh"
        assert conf_value(text, "/ncs-config/logs/ncs-log/file/name") == "${NCS_LOG_DIR}/ncs.log"
        assert conf_value(text, "/ncs-config/ncs-ipc-access-check/filename") == "${NCS_CONFIG_DIR}/ipc_access"
    else:
        assert conf_value(text, "/ncs-config/state-dir") == "./state"
        assert conf_value(text, "/ncs-config/cdb/db-dir") == "./ncs-cdb"
        assert conf_value(text, "/ncs-config/aaa/ssh-server-key-dir") == "${NCS_DIR}/etc/ncs/ssh"
        assert conf_value(text, "/ncs-config/rollback/directory") == "./logs"
        assert conf_value(text, "/ncs-config/ncs-ipc-access-check/filename") == "${NCS_DIR}/etc/ncs/ipc_access"
    assert [d.text for d in conf_elements(text, "/ncs-config/load-path/dir")][1:] == ["${NCS_DIR}/etc/ncs",
                                                                           "${NCS_DIR}/etc/ncs/snmp"]


def test_rendering_is_deterministic():
    ctx = ConfContext("system", "production", "6.5.3")
    assert render_ncs_conf(ctx) == render_ncs_conf(ctx, {})


def test_no_blank_indented_lines_left_by_omitted_elements():
    text = render_ncs_conf(ConfContext("local", "development", "6.5.3"))
    assert not re.search(r"^[ \t]+$", text, re.MULTILINE)


def test_old_nso_has_no_local_ipc_element_and_refuses_unix():
    text = render_ncs_conf(ConfContext("system", "production", "6.3.2"))
    assert conf_elements(text, "/ncs-config/ncs-local-ipc") == []
    assert conf_value(text, "/ncs-config/ncs-ipc-access-check/enabled") == "true"
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.3.2"), {"ipc": {"transport": "unix"}})
    assert exc.value.reference == "bad-value" and "ipc.transport" in exc.value.message


def test_path_styles_for_system_installs():
    ctx = ConfContext("system", "production", "6.5.3", config_dir="/srv/ncs/etc", run_dir="/srv/ncs/run",
                      log_dir="/srv/ncs/log", install_dir="/srv/ncs/opt")
    text = render_ncs_conf(ctx, {"paths": {"style": "absolute"}})
    assert conf_value(text, "/ncs-config/state-dir") == "/srv/ncs/run/state"
    assert conf_value(text, "/ncs-config/encrypted-strings/external-keys/command") == "/srv/ncs/opt/current/bin/ncs_crypto_keys"
    assert conf_value(text, "/ncs-config/encrypted-strings/external-keys/command-argument") == "/srv/ncs/etc/ncs.crypto_keys"
    text = render_ncs_conf(ctx, {"paths": {"style": "env-defaults"}})
    assert conf_value(text, "/ncs-config/logs/audit-log/file/name") == "${NCS_LOG_DIR:-/srv/ncs/log}/audit.log"
    assert validate_ncs_conf(text) == []
    with pytest.raises(NsoInstallError, match="paths.style"):
        render_ncs_conf(ctx, {"paths": {"style": "relative"}})
    with pytest.raises(NsoInstallError, match="paths.style"):
        render_ncs_conf(ConfContext("local", "development", "6.5.3"), {"paths": {"style": "env"}})


def test_env_substitution_values_for_typed_variables():
    ctx = ConfContext("system", "production", "6.7.1")
    text = render_ncs_conf(ctx, load_values(sets=["cli.ssh.enabled=${NCS_CLI_SSH:-false}",
                                                  "webui.ssl.port=${NCS_HTTPS_PORT:-8888}"]))
    assert conf_value(text, "/ncs-config/cli/ssh/enabled") == "${NCS_CLI_SSH:-false}"
    assert conf_value(text, "/ncs-config/webui/transport/ssl/port") == "${NCS_HTTPS_PORT:-8888}"
    with pytest.raises(NsoInstallError, match="maybe"):
        render_ncs_conf(ctx, {"cli": {"ssh": {"enabled": "${NCS_CLI_SSH:-maybe}"}}})
    with pytest.raises(NsoInstallError, match="without a default"):
        render_ncs_conf(ctx, {"cli": {"ssh": {"enabled": "${NCS_CLI_SSH}"}}})


def test_inline_keys_and_their_secrecy():
    ctx = ConfContext("local", "development", "6.5.3")
    text = render_ncs_conf(ctx)
    assert conf_value(text, "/ncs-config/encrypted-strings/AESCFB128/key") == DUMMY_AESCFB128_KEY
    assert conf_elements(text, "/ncs-config/encrypted-strings/external-keys") == []
    key = "ab" * 16
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, {"crypto": {"aescfb128_key": key[:-1] + "g"}})
    assert key[:-1] not in exc.value.message and "<secret>" in exc.value.message
    assert "32 hexadecimal digits" in exc.value.message
    with pytest.raises(NsoInstallError, match="well-known"):
        render_ncs_conf(ConfContext("local", "production", "6.5.3"), {"crypto": {
            "mechanism": "inline", "aescfb128_key": DUMMY_AESCFB128_KEY, "aes256cfb128_key": "cd" * 32}})
    with pytest.raises(NsoInstallError, match="needs both inline keys"):
        render_ncs_conf(ConfContext("system", "development", "6.5.3"), {"crypto": {"mechanism": "inline"}})


def test_null_leaves_an_element_to_nso_default():
    ctx = ConfContext("system", "production", "6.5.3")
    text = render_ncs_conf(ctx, load_values(sets=["webui.rate_limiting=", "limits.max_sessions="]))
    assert conf_elements(text, "/ncs-config/webui/rate-limiting") == []
    assert conf_elements(text, "/ncs-config/session-limits/max-sessions") == []
    assert conf_value(text, "/ncs-config/session-limits/max-config-sessions") == "50"
    with pytest.raises(NsoInstallError, match="cannot be left"):
        render_ncs_conf(ctx, load_values(sets=["cli.ssh.port="]))


# --- injection ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,payload", [
    ("ipc.path", "/tmp/</path><evil/>"),  # absolute: a relative ipc.path is refused
    ("aaa.pam.service", "x</service></pam><local-authentication><enabled>true</enabled></local-authentication><pam><service>y"),
    ("webui.server_name", 'a"&<!--'),
    ("webui.ssl.cert_file", "]]><evil/><![CDATA["),
    ("crypto.argument", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]>"),
])
def test_markup_in_values_is_escaped_not_injected(name, payload):
    ctx = ConfContext("system", "production", "6.5.3")
    text = render_ncs_conf(ctx, load_values(sets=[f"{name}={payload}"]))
    assert validate_ncs_conf(text) == []
    root = ET.fromstring(text)
    assert not any(e.tag.endswith("evil") for e in root.iter())
    path = VARIABLES[name].element
    assert conf_value(text, path) == payload  # round-trips as text
    assert conf_value(text, "/ncs-config/aaa/local-authentication/enabled") == "false"
    assert len(conf_elements(text, "/ncs-config/aaa/pam")) == 1


# --- the rendered file is validated ---------------------------------------------------------

def test_rendered_file_with_an_unknown_element_is_refused(monkeypatch):
    real = render_mod.render_text

    def broken(name, **kw):
        text = real(name, **kw)
        if name != render_mod.TEMPLATE:
            return text
        return text.replace("<hide-group>", "<hide-groups>").replace("</hide-group>", "</hide-groups>")

    monkeypatch.setattr(render_mod, "render_text", broken)
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.5.3"))
    assert exc.value.reference == "invalid-ncs-conf" and "/ncs-config/hide-groups" in exc.value.message


# --- clients' environment -------------------------------------------------------------------

def test_client_environment():
    ctx = ConfContext("system", "production", "6.5.3", config_dir="/srv/etc")
    assert client_environment(ctx) == {"NCS_IPC_PATH": "/tmp/nso/nso-ipc"}
    assert client_environment(ctx, {"ipc": {"transport": "tcp"}}) == {
        "NCS_IPC_ADDR": "127.0.0.1", "NCS_IPC_PORT": "4569", "NCS_IPC_ACCESS_FILE": "/srv/etc/ipc_access"}
