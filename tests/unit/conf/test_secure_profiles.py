"""The production ncs.conf follows NSO's Secure Deployment guidance (facts sheet section 10).

Each row: the recommendation, the ncs.conf element that expresses it, and the value the
production rendering must have there (None: the element must be absent).  The development
profile keeps NSO's local-install defaults instead.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from nso_install.conf import NAMESPACE, ConfContext, render_ncs_conf, validate_ncs_conf

NS = "{%s}" % NAMESPACE

RECOMMENDATIONS = [
    # (recommendation, element path, expected production value)
    ("crypto keys outside ncs.conf: external command", "/ncs-config/encrypted-strings/external-keys/command",
     "${NCS_DIR}/bin/ncs_crypto_keys"),
    ("crypto keys file in the config dir", "/ncs-config/encrypted-strings/external-keys/command-argument",
     "${NCS_CONFIG_DIR}/ncs.crypto_keys"),
    ("no inline AES-128 key", "/ncs-config/encrypted-strings/AESCFB128/key", None),
    ("no inline AES-256 key", "/ncs-config/encrypted-strings/AES256CFB128/key", None),
    ("SSH host key algorithm ssh-ed25519 only", "/ncs-config/ssh/algorithms/server-host-key", "ssh-ed25519"),
    ("local (CDB) authentication off", "/ncs-config/aaa/local-authentication/enabled", "false"),
    ("PAM on", "/ncs-config/aaa/pam/enabled", "true"),
    ("PAM service system-auth", "/ncs-config/aaa/pam/service", "system-auth"),
    ("password expiry warning prompts", "/ncs-config/aaa/expiration-warning", "prompt"),
    ("CLI over SSH off", "/ncs-config/cli/ssh/enabled", "false"),
    ("Web UI plain HTTP off", "/ncs-config/webui/transport/tcp/enabled", "false"),
    ("Web UI HTTPS on", "/ncs-config/webui/transport/ssl/enabled", "true"),
    ("HTTPS certificate in the config dir", "/ncs-config/webui/transport/ssl/cert-file",
     "${NCS_CONFIG_DIR}/ssl/cert/host.cert"),
    ("HTTPS key in the config dir", "/ncs-config/webui/transport/ssl/key-file", "${NCS_CONFIG_DIR}/ssl/cert/host.key"),
    ("NETCONF over SSH off", "/ncs-config/netconf-north-bound/transport/ssh/enabled", "false"),
    ("NETCONF over TCP off", "/ncs-config/netconf-north-bound/transport/tcp/enabled", "false"),
    ("RESTCONF off unless used", "/ncs-config/restconf/enabled", "false"),
    ("CLI file access restricted", "/ncs-config/cli/restricted-file-access", "true"),
    ("password hashing sha-512", "/ncs-config/crypt-hash/algorithm", "sha-512"),
    ("audit log on", "/ncs-config/logs/audit-log/enabled", "true"),
    ("Web UI audit on", "/ncs-config/webui/audit", "true"),
    ("XPath trace off", "/ncs-config/logs/xpath-trace-log/enabled", "false"),
    ("NETCONF trace (unfiltered, secrets) off", "/ncs-config/logs/netconf-trace-log/enabled", "false"),
    ("HTTP traffic trace off", "/ncs-config/logs/webui-access-log/traffic-log", "false"),
    ("Web UI matches the host name", "/ncs-config/webui/match-host-name", "true"),
    ("Web UI server name set", "/ncs-config/webui/server-name", "localhost"),
    ("CGI off", "/ncs-config/webui/cgi/enabled", "false"),
    ("JSON-RPC rate limiting", "/ncs-config/webui/rate-limiting", "1000000"),
    ("unauthenticated message limit", "/ncs-config/webui/transport/unauthenticated-message-limit", "65536"),
    ("session limit", "/ncs-config/session-limits/max-sessions", "100"),
    ("configuration session limit", "/ncs-config/session-limits/max-config-sessions", "50"),
    ("transaction limit", "/ncs-config/transaction-limits/max-transactions", "logical-processors"),
    ("parser limit: tag length", "/ncs-config/parser-limits/max-tag-length", "1024"),
    ("parser limit: attribute count", "/ncs-config/parser-limits/max-attribute-count", "64"),
    ("parser limit: data length", "/ncs-config/parser-limits/max-data-length", "67108864"),
    ("IPC over the uid-checked Unix socket", "/ncs-config/ncs-local-ipc/enabled", "true"),
    ("no TCP IPC listener configured", "/ncs-config/ncs-ipc-address/ip", None),
    ("FIPS mode only for FIPS installs", "/ncs-config/fips-mode/enabled", None),
]

TCP_IPC = [
    ("TCP IPC on loopback", "/ncs-config/ncs-ipc-address/ip", "127.0.0.1"),
    ("TCP IPC port 4569", "/ncs-config/ncs-ipc-address/port", "4569"),
    ("IPC access check on", "/ncs-config/ncs-ipc-access-check/enabled", "true"),
    ("IPC secret file in the config dir", "/ncs-config/ncs-ipc-access-check/filename", "${NCS_CONFIG_DIR}/ipc_access"),
    ("Unix socket off", "/ncs-config/ncs-local-ipc/enabled", "false"),
]

FIPS = [
    ("FIPS mode on", "/ncs-config/fips-mode/enabled", "true"),
    ("ECDSA host key (Ed25519 is not FIPS-approved)", "/ncs-config/ssh/algorithms/server-host-key", "ecdsa-sha2-nistp256"),
    ("FIPS-approved KEX only", "/ncs-config/ssh/algorithms/kex",
     "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group14-sha1,"
     "diffie-hellman-group-exchange-sha256"),
]


def lookup(text: str, path: str) -> str | None:
    root = ET.fromstring(text)
    parts = path.strip("/").split("/")[1:]
    found = root.findall("/".join(NS + p for p in parts))
    assert len(found) <= 1, f"{path} appears {len(found)} times"
    return (found[0].text or "").strip() if found else None


@pytest.fixture(scope="module")
def production():
    return render_ncs_conf(ConfContext("system", "production", "6.5.3"))


@pytest.mark.parametrize("recommendation,path,expected", RECOMMENDATIONS, ids=[r[0] for r in RECOMMENDATIONS])
def test_production_system_install_follows_secure_deployment(production, recommendation, path, expected):
    assert lookup(production, path) == expected, recommendation


@pytest.mark.parametrize("recommendation,path,expected", TCP_IPC, ids=[r[0] for r in TCP_IPC])
def test_production_tcp_ipc_is_loopback_with_access_check(recommendation, path, expected):
    text = render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"ipc": {"transport": "tcp"}})
    assert lookup(text, path) == expected, recommendation


@pytest.mark.parametrize("recommendation,path,expected", FIPS, ids=[r[0] for r in FIPS])
def test_production_fips(recommendation, path, expected):
    text = render_ncs_conf(ConfContext("system", "production", "6.5.3", fips=True))
    assert validate_ncs_conf(text) == []
    assert lookup(text, path) == expected, recommendation


def test_production_local_install_keeps_the_same_settings():
    text = render_ncs_conf(ConfContext("local", "production", "6.5.3"))
    for recommendation, path, expected in RECOMMENDATIONS:
        if expected is not None and "${NCS_CONFIG_DIR}" in expected:
            expected = expected.replace("${NCS_CONFIG_DIR}", "${NCS_DIR}/etc/ncs")
        assert lookup(text, path) == expected, recommendation


DEVELOPMENT = [
    ("local authentication on", "/ncs-config/aaa/local-authentication/enabled", "true"),
    ("PAM common-auth", "/ncs-config/aaa/pam/service", "common-auth"),
    ("CLI over SSH on", "/ncs-config/cli/ssh/enabled", "true"),
    ("CLI SSH on loopback, port 2024", "/ncs-config/cli/ssh/port", "2024"),
    ("NETCONF over SSH on", "/ncs-config/netconf-north-bound/transport/ssh/enabled", "true"),
    ("NETCONF port 2022", "/ncs-config/netconf-north-bound/transport/ssh/port", "2022"),
    ("Web UI plain HTTP on 8080", "/ncs-config/webui/transport/tcp/port", "8080"),
    ("Web UI plain HTTP on", "/ncs-config/webui/transport/tcp/enabled", "true"),
    ("HTTPS off", "/ncs-config/webui/transport/ssl/enabled", "false"),
    ("no file-access sandbox", "/ncs-config/cli/restricted-file-access", None),
    ("no expiry prompt", "/ncs-config/aaa/expiration-warning", None),
    ("xpath trace on", "/ncs-config/logs/xpath-trace-log/enabled", "true"),
    ("developer log at trace", "/ncs-config/logs/developer-log-level", "trace"),
    ("no host key restriction", "/ncs-config/ssh/algorithms/server-host-key", None),
    ("no session limits", "/ncs-config/session-limits/max-sessions", None),
    ("no rate limiting", "/ncs-config/webui/rate-limiting", None),
    ("rollbacks in ./logs", "/ncs-config/rollback/directory", "./logs"),
    ("dummy inline keys like NSO's local install", "/ncs-config/encrypted-strings/AESCFB128/key",
     "0123456789abcdef0123456789abcdef"),
]


@pytest.mark.parametrize("what,path,expected", DEVELOPMENT, ids=[r[0] for r in DEVELOPMENT])
def test_development_local_install_keeps_nso_defaults(what, path, expected):
    text = render_ncs_conf(ConfContext("local", "development", "6.5.3"))
    assert lookup(text, path) == expected, what


def test_development_system_install_uses_the_generated_keys_file():
    text = render_ncs_conf(ConfContext("system", "development", "6.5.3"))
    assert lookup(text, "/ncs-config/encrypted-strings/external-keys/command-argument") == \
        "${NCS_CONFIG_DIR}/ncs.crypto_keys"
    assert lookup(text, "/ncs-config/aaa/local-authentication/enabled") == "true"


# --- the shared table (nso_install.conf.secure): the rows nso-install audit judges targets by --------

@pytest.mark.parametrize("kind,fips,transport", [("system", False, None), ("system", True, None),
                                                  ("system", False, "tcp"), ("local", False, None)])
def test_production_satisfies_every_secure_deployment_row(kind, fips, transport):
    from nso_install.audit.ncsconf import NcsConf
    from nso_install.conf.secure import rows_failing

    values = {"ipc": {"transport": transport}} if transport else {}
    text = render_ncs_conf(ConfContext(kind, "production", "6.5.3", fips=fips), values)
    assert rows_failing(NcsConf.parse(text, "6.5.3"), "6.5.3", fips) == {}


def test_every_secure_deployment_row_names_variables_the_profiles_set():
    from nso_install.conf import PROFILES, VARIABLES
    from nso_install.conf.secure import SECURE_DEPLOYMENT, production_values

    want = production_values("6.5.3", fips=True)
    for rec in SECURE_DEPLOYMENT:
        assert rec.variables and all(v in VARIABLES and v in want for v in rec.variables), rec.id
        if rec.rule == "equal":
            assert all(want[v] is not None for v in rec.variables), rec.id
    assert all(v in PROFILES["production"] or v in want for r in SECURE_DEPLOYMENT for v in r.variables)



def test_fips_key_exchange_row_takes_any_part_of_the_approved_list():
    """NSO-SD-004 "FIPS-approved SSH key exchange only": a FIPS install offering ecdh-sha2-nistp384
    alone is as FIPS as the full list, and failed (judged "equal"); a non-approved one, or NSO's
    default (which has curve25519-sha256), still fails."""
    from nso_install.audit.ncsconf import NcsConf
    from nso_install.conf.secure import rows_failing

    def failing(kex):
        text = render_ncs_conf(ConfContext("system", "production", "6.5.3", fips=True))
        kex_line = "<kex>ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group14-sha1," \
                   "diffie-hellman-group-exchange-sha256</kex>"
        assert kex_line in text
        text = text.replace(kex_line, f"<kex>{kex}</kex>" if kex else "")
        return set(rows_failing(NcsConf.parse(text, "6.5.3"), "6.5.3", True))

    assert failing("ecdh-sha2-nistp384") == set()
    assert failing("diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521") == set()
    assert failing("ecdh-sha2-nistp384,diffie-hellman-group16-sha512") == {"NSO-SD-004"}
    assert failing(None) == {"NSO-SD-004"}  # NSO's default offers curve25519-sha256
