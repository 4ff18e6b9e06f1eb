"""ncs.conf from Jinja2 templates: profiles, operator values, rendering and validation.

Pure functions (no I/O except reading the templates and the element table):

* :func:`load_values` reads TOML/YAML values files and ``--set a.b=value`` overrides;
* :func:`effective_values` merges profile defaults, values files and ``--set`` and checks
  every variable (type, range, enumeration, address, port) and the combinations;
* :func:`render_ncs_conf` renders ``templates/ncs-conf/ncs.conf.xml.j2`` and validates the
  result against ncs.conf(5) (:func:`validate_ncs_conf`);
* :func:`client_environment` gives the ``NCS_IPC_*`` variables clients need for the IPC
  settings chosen (for ncs.systemd.conf, /etc/profile.d and ncsrc writers).

Variables, their meaning, defaults per profile and element paths: ``docs/ncs-conf.md``
(the table there is checked against :data:`VARIABLES` by the tests).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import jinja2
import yaml

from .confvalidate import NAMESPACE, Element, check_value, element_table, validate_ncs_conf
from .versions import vtuple
from .errors import NsoInstallError, UsageError

__all__ = [
    "ConfContext", "Variable", "VARIABLES", "PROFILES", "NAMESPACE", "Element",
    "load_values", "effective_values", "profile_defaults", "render_ncs_conf", "validate_ncs_conf",
    "element_table", "client_environment", "TEMPLATE",
]

TEMPLATE = "ncs-conf/ncs.conf.xml.j2"
INSTALL_KINDS = ("system", "local")
PROFILE_NAMES = ("production", "development")

# NSO's documented local-install dummy keys (facts sheet section 8, X-LOCALCONF): fine for a
# development sandbox, refused in production.
DUMMY_AESCFB128_KEY = "0123456789abcdef" * 2
DUMMY_AES256CFB128_KEY = "0123456789abcdef" * 4

# FIPS 140-3 (facts sheet section 11): Ed25519 is not FIPS-compliant; approved KEX list.
FIPS_SERVER_HOST_KEY = "ecdsa-sha2-nistp256"
FIPS_KEX = ("ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
            "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha256")
NON_FIPS_ALGORITHMS = ("ssh-ed25519", "curve25519-sha256", "ssh-dss", "3des-cbc", "chacha20-poly1305@openssh.com")

# Algorithms ncs.conf(5) lists as supported, per element.
SSH_ALGORITHMS = {
    "server_host_key": ("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256", "ssh-ed25519",
                        "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512", "ssh-dss"),
    "kex": ("ecdh-sha2-nistp521", "ecdh-sha2-nistp384", "ecdh-sha2-nistp256", "curve25519-sha256",
            "diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1", "diffie-hellman-group16-sha512",
            "diffie-hellman-group-exchange-sha256"),
    "mac": ("hmac-sha1", "hmac-sha2-256", "hmac-sha2-512"),
    "encryption": ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr",
                   "aes256-ctr", "aes128-cbc", "aes256-gcm@openssh.com", "aes256-cbc", "3des-cbc"),
}


@dataclass(frozen=True)
class ConfContext:
    install_kind: str          # "system" | "local"
    profile: str               # "production" | "development"
    version: str               # NSO version, e.g. "6.5.3"
    fips: bool = False
    config_dir: str = "/etc/ncs"
    run_dir: str = "/var/opt/ncs"
    log_dir: str = "/var/log/ncs"
    install_dir: str = "/opt/ncs"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return vtuple(self.version)


# --- variables ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    name: str
    kind: str                  # bool | port | ip | str | path | enum | int | duration | hex | algos
    element: str               # ncs.conf element path it sets
    doc: str
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    keywords: tuple[str, ...] = ()   # for int: also accepted words ("unbounded")
    digits: int = 0            # for hex
    secret: bool = False
    nullable: bool = True      # None (YAML null, "--set a=") leaves the element out: NSO's built-in default

    def expected(self) -> str:
        k = self.kind
        if k == "bool":
            return "boolean (true or false)"
        if k == "port":
            return "port number (1-65535)"
        if k == "ip":
            return "IPv4 or IPv6 address"
        if k in ("str", "path"):
            return "non-empty string without control characters" + (" (a path)" if k == "path" else "")
        if k == "enum":
            return "one of " + " | ".join(self.choices)
        if k == "int":
            words = "".join(f" or {w!r}" for w in self.keywords)
            return f"integer {self.low}-{self.high}{words}"
        if k == "duration":
            return "xs:duration such as PT60S"
        if k == "hex":
            return f"{self.digits} hexadecimal digits"
        if k == "algos":
            return "comma-separated list of: " + ",".join(self.choices)
        return k


def _v(name, kind, element, doc, **kw) -> Variable:
    return Variable(name, kind, "/ncs-config/" + element if element else "", doc, **kw)


_U32 = 2**32 - 1
_U64 = 2**64 - 1
VARIABLES: dict[str, Variable] = {v.name: v for v in [
    _v("paths.style", "enum", "", "How paths are written: 'env' uses ${NCS_DIR}, ${NCS_CONFIG_DIR}, ${NCS_RUN_DIR}, "
       "${NCS_LOG_DIR} like NSO's system ncs.conf; 'env-defaults' adds the install's directories as "
       "${VAR:-default}; 'absolute' writes the install's directories; 'relative' (local install) uses ./state, "
       "./ncs-cdb, ./logs... plus ${NCS_DIR}", choices=("env", "env-defaults", "absolute", "relative"),
       nullable=False),
    # IPC
    _v("ipc.transport", "enum", "ncs-local-ipc/enabled", "IPC between NSO and its clients: 'unix' (Unix socket, "
       "uid-checked; NSO >= 6.4) or 'tcp'", choices=("unix", "tcp"), nullable=False),
    _v("ipc.path", "path", "ncs-local-ipc/path", "Unix socket path (ipc.transport=unix)", nullable=False),
    _v("ipc.address", "ip", "ncs-ipc-address/ip", "TCP IPC listen address (keep it on loopback)", nullable=False),
    _v("ipc.port", "port", "ncs-ipc-address/port", "TCP IPC port", nullable=False),
    _v("ipc.access_check", "bool", "ncs-ipc-access-check/enabled", "Shared-secret challenge on IPC connections "
       "(clients need NCS_IPC_ACCESS_FILE)", nullable=False),
    _v("ipc.access_file", "path", "ncs-ipc-access-check/filename", "File holding the IPC shared secret",
       nullable=False),
    # crypto keys
    _v("crypto.mechanism", "enum", "encrypted-strings", "'external': keys come from a command reading "
       "ncs.crypto_keys; 'inline': AES keys written into ncs.conf", choices=("external", "inline"), nullable=False),
    _v("crypto.command", "path", "encrypted-strings/external-keys/command", "External keys command",
       nullable=False),
    _v("crypto.argument", "path", "encrypted-strings/external-keys/command-argument",
       "Argument passed to the command (NCS_EXTERNAL_KEYS_ARGUMENT): the keys file"),
    _v("crypto.command_timeout", "duration", "encrypted-strings/external-keys/command-timeout",
       "Timeout of the keys command"),
    _v("crypto.aescfb128_key", "hex", "encrypted-strings/AESCFB128/key", "Inline AES-128 key", digits=32,
       secret=True),
    _v("crypto.aes256cfb128_key", "hex", "encrypted-strings/AES256CFB128/key", "Inline AES-256 key", digits=64,
       secret=True),
    _v("fips.enabled", "bool", "fips-mode/enabled", "FIPS mode (NSO >= 6.5, FIPS installs only; follows "
       "--fips-install)", nullable=False),
    # AAA
    _v("aaa.pam.enabled", "bool", "aaa/pam/enabled", "Authenticate through PAM", nullable=False),
    _v("aaa.pam.service", "str", "aaa/pam/service", "PAM service name", nullable=False),
    _v("aaa.local_authentication", "bool", "aaa/local-authentication/enabled",
       "Authenticate users stored in CDB (/aaa/authentication/users)", nullable=False),
    _v("aaa.expiration_warning", "enum", "aaa/expiration-warning", "Password expiry warning from PAM",
       choices=("ignore", "display", "prompt")),
    _v("aaa.ssh_server_key_dir", "path", "aaa/ssh-server-key-dir", "Directory of NSO's SSH host keys",
       nullable=False),
    _v("crypt_hash.algorithm", "enum", "crypt-hash/algorithm", "Hash for crypt-hash leaves (passwords)",
       choices=("md5", "sha-256", "sha-512")),
    # SSH server algorithms
    _v("ssh.server_host_key", "algos", "ssh/algorithms/server-host-key", "Host key algorithms offered",
       choices=SSH_ALGORITHMS["server_host_key"]),
    _v("ssh.kex", "algos", "ssh/algorithms/kex", "Key exchange algorithms", choices=SSH_ALGORITHMS["kex"]),
    _v("ssh.mac", "algos", "ssh/algorithms/mac", "MAC algorithms", choices=SSH_ALGORITHMS["mac"]),
    _v("ssh.encryption", "algos", "ssh/algorithms/encryption", "Ciphers", choices=SSH_ALGORITHMS["encryption"]),
    # CLI
    _v("cli.enabled", "bool", "cli/enabled", "CLI server (also used by ncs_cli over IPC)", nullable=False),
    _v("cli.ssh.enabled", "bool", "cli/ssh/enabled", "CLI over NSO's built-in SSH server", nullable=False),
    _v("cli.ssh.address", "ip", "cli/ssh/ip", "CLI SSH listen address", nullable=False),
    _v("cli.ssh.port", "port", "cli/ssh/port", "CLI SSH port", nullable=False),
    _v("cli.restricted_file_access", "bool", "cli/restricted-file-access",
       "Confine CLI file commands (save, load...) to the user's home directory"),
    # NETCONF
    _v("netconf.enabled", "bool", "netconf-north-bound/enabled", "NETCONF server", nullable=False),
    _v("netconf.ssh.enabled", "bool", "netconf-north-bound/transport/ssh/enabled", "NETCONF over SSH",
       nullable=False),
    _v("netconf.ssh.address", "ip", "netconf-north-bound/transport/ssh/ip", "NETCONF SSH listen address",
       nullable=False),
    _v("netconf.ssh.port", "port", "netconf-north-bound/transport/ssh/port", "NETCONF SSH port", nullable=False),
    _v("netconf.tcp.enabled", "bool", "netconf-north-bound/transport/tcp/enabled",
       "NETCONF over plain TCP (unencrypted, unauthenticated transport)", nullable=False),
    _v("netconf.tcp.address", "ip", "netconf-north-bound/transport/tcp/ip", "NETCONF TCP listen address",
       nullable=False),
    _v("netconf.tcp.port", "port", "netconf-north-bound/transport/tcp/port", "NETCONF TCP port", nullable=False),
    # RESTCONF / Web UI
    _v("restconf.enabled", "bool", "restconf/enabled", "RESTCONF (served by the Web UI's HTTP(S) listeners)",
       nullable=False),
    _v("webui.enabled", "bool", "webui/enabled", "Web server (Web UI, JSON-RPC)", nullable=False),
    _v("webui.tcp.enabled", "bool", "webui/transport/tcp/enabled", "Plain HTTP listener", nullable=False),
    _v("webui.tcp.address", "ip", "webui/transport/tcp/ip", "HTTP listen address", nullable=False),
    _v("webui.tcp.port", "port", "webui/transport/tcp/port", "HTTP port", nullable=False),
    _v("webui.ssl.enabled", "bool", "webui/transport/ssl/enabled", "HTTPS listener", nullable=False),
    _v("webui.ssl.address", "ip", "webui/transport/ssl/ip", "HTTPS listen address", nullable=False),
    _v("webui.ssl.port", "port", "webui/transport/ssl/port", "HTTPS port", nullable=False),
    _v("webui.ssl.cert_file", "path", "webui/transport/ssl/cert-file", "TLS certificate (PEM)", nullable=False),
    _v("webui.ssl.key_file", "path", "webui/transport/ssl/key-file", "TLS private key (PEM)", nullable=False),
    _v("webui.ssl.ca_cert_file", "path", "webui/transport/ssl/ca-cert-file", "CA certificates for client "
       "certificates"),
    _v("webui.server_name", "str", "webui/server-name", "Host name the Web server answers to"),
    _v("webui.match_host_name", "bool", "webui/match-host-name", "Refuse requests whose Host header is not "
       "server-name (or a server-alias)"),
    _v("webui.cgi", "bool", "webui/cgi/enabled", "CGI scripts in the Web server", nullable=False),
    _v("webui.audit", "bool", "webui/audit", "Audit-log Web UI/JSON-RPC operations"),
    _v("webui.rate_limiting", "int", "webui/rate-limiting", "JSON-RPC requests allowed per hour (0 = unlimited)",
       low=0, high=_U64),
    _v("webui.unauthenticated_message_limit", "int", "webui/transport/unauthenticated-message-limit",
       "Largest request (bytes) accepted before authentication", low=0, high=_U32, keywords=("nolimit",)),
    # limits
    _v("limits.max_sessions", "int", "session-limits/max-sessions", "Concurrent user sessions", low=0,
       high=_U32, keywords=("unbounded",)),
    _v("limits.max_config_sessions", "int", "session-limits/max-config-sessions",
       "Concurrent configuration sessions", low=0, high=_U32, keywords=("unbounded",)),
    _v("limits.max_transactions", "int", "transaction-limits/max-transactions", "Concurrent transactions",
       low=0, high=255, keywords=("unbounded", "logical-processors")),
    _v("limits.parser.max_tag_length", "int", "parser-limits/max-tag-length", "Longest XML tag", low=0,
       high=_U32, keywords=("unbounded", "model")),
    _v("limits.parser.max_attribute_count", "int", "parser-limits/max-attribute-count",
       "Most attributes on one XML element", low=0, high=_U32, keywords=("unbounded", "model")),
    _v("limits.parser.max_attribute_value_length", "int", "parser-limits/max-attribute-value-length",
       "Longest XML attribute value", low=0, high=_U32, keywords=("unbounded",)),
    _v("limits.parser.max_xmlns_count", "int", "parser-limits/max-xmlns-count", "Most xmlns declarations",
       low=0, high=_U32, keywords=("unbounded",)),
    _v("limits.parser.max_data_length", "int", "parser-limits/max-data-length", "Largest XML text/data (bytes)",
       low=0, high=_U32, keywords=("unbounded",)),
    # logs
    _v("logs.to_file", "bool", "logs/ncs-log/file/enabled", "Write ncs, devel, audit, netconf, snmp logs to "
       "files in the log directory", nullable=False),
    _v("logs.to_syslog", "bool", "logs/ncs-log/syslog/enabled", "Send ncs, devel, audit, netconf, snmp logs "
       "to syslog", nullable=False),
    _v("logs.syslog_facility", "enum", "logs/syslog-config/facility", "Syslog facility",
       choices=("daemon", "authpriv", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
                "local7")),
    _v("logs.audit", "bool", "logs/audit-log/enabled", "Audit log (logins, operations)", nullable=False),
    _v("logs.audit_network", "bool", "logs/audit-network-log/enabled", "Audit log of southbound traffic",
       nullable=False),
    _v("logs.developer_log_level", "enum", "logs/developer-log-level", "Developer log level",
       choices=("error", "info", "trace")),
    _v("logs.xpath_trace", "bool", "logs/xpath-trace-log/enabled", "XPath evaluation trace (slow)",
       nullable=False),
    _v("logs.netconf_trace", "bool", "logs/netconf-trace-log/enabled", "Trace of all northbound NETCONF "
       "traffic (logs sensitive data unfiltered)", nullable=False),
    _v("logs.webui_access", "bool", "logs/webui-access-log/enabled", "Web server access log", nullable=False),
    _v("logs.webui_traffic", "bool", "logs/webui-access-log/traffic-log", "Full HTTP(S) traffic trace "
       "(never in production)", nullable=False),
    _v("logs.error_log", "bool", "logs/error-log/enabled", "NSO's internal error log (ncserr.log)",
       nullable=False),
    _v("logs.progress_trace", "bool", "logs/progress-trace/enabled", "Progress trace files in the log "
       "directory", nullable=False),
    _v("rollback.enabled", "bool", "rollback/enabled", "Rollback files for each commit", nullable=False),
    _v("rollback.history_size", "int", "rollback/history-size", "Rollback files kept", low=0, high=_U32),
]}

_LISTENERS = ("cli.ssh", "netconf.ssh", "netconf.tcp", "webui.tcp", "webui.ssl")


# --- profiles -----------------------------------------------------------------------------
# Static defaults per profile.  Values that depend on the install (paths, NSO version, FIPS)
# are filled in by profile_defaults().  None = element left out (NSO's built-in default).

_COMMON = {
    "ipc.path": "/tmp/nso/nso-ipc",
    "ipc.address": "127.0.0.1",
    "ipc.port": 4569,
    "crypto.command_timeout": None,
    "aaa.pam.enabled": True,
    "crypt_hash.algorithm": "sha-512",
    "ssh.mac": None,
    "ssh.encryption": None,
    "cli.enabled": True,
    "cli.ssh.port": 2024,
    "netconf.enabled": True,
    "netconf.ssh.port": 2022,
    "netconf.tcp.enabled": False,
    "netconf.tcp.address": "127.0.0.1",
    "netconf.tcp.port": 2023,
    "webui.enabled": True,
    "webui.tcp.port": 8080,
    "webui.ssl.port": 8888,
    "webui.ssl.ca_cert_file": None,
    "logs.to_file": True,
    "logs.syslog_facility": "daemon",
    "logs.audit": True,
    "logs.audit_network": False,
    "logs.netconf_trace": False,
    "logs.webui_traffic": False,
    "logs.error_log": True,
    "rollback.enabled": True,
    "rollback.history_size": 500,
}

PROFILES: dict[str, dict[str, Any]] = {
    # Close to the ncs.conf NSO ships for a local install (facts sheet sections 10 and 12).
    "development": {
        **_COMMON,
        "aaa.pam.service": "common-auth",
        "aaa.local_authentication": True,
        "aaa.expiration_warning": None,
        "ssh.server_host_key": None,
        "ssh.kex": None,
        "cli.ssh.enabled": True,
        "cli.ssh.address": "127.0.0.1",
        "cli.restricted_file_access": None,
        "netconf.ssh.enabled": True,
        "netconf.ssh.address": "127.0.0.1",
        "restconf.enabled": True,
        "webui.tcp.enabled": True,
        "webui.tcp.address": "127.0.0.1",
        "webui.ssl.enabled": False,
        "webui.ssl.address": "127.0.0.1",
        "webui.server_name": None,
        "webui.match_host_name": None,
        "webui.cgi": True,
        "webui.audit": None,
        "webui.rate_limiting": None,
        "webui.unauthenticated_message_limit": None,
        "limits.max_sessions": None,
        "limits.max_config_sessions": None,
        "limits.max_transactions": None,
        "limits.parser.max_tag_length": None,
        "limits.parser.max_attribute_count": None,
        "limits.parser.max_attribute_value_length": None,
        "limits.parser.max_xmlns_count": None,
        "limits.parser.max_data_length": None,
        "logs.to_syslog": False,
        "logs.developer_log_level": "trace",
        "logs.xpath_trace": True,
        "logs.webui_access": True,
        "logs.progress_trace": False,
        "ipc.access_check": False,
    },
    # NSO 6.5 Secure Deployment guidance, everything ncs.conf can express (facts sheet section 10).
    "production": {
        **_COMMON,
        "aaa.pam.service": "system-auth",
        "aaa.local_authentication": False,
        "aaa.expiration_warning": "prompt",
        "ssh.server_host_key": "ssh-ed25519",
        "ssh.kex": None,
        "cli.ssh.enabled": False,
        "cli.ssh.address": "0.0.0.0",
        "cli.restricted_file_access": True,
        "netconf.ssh.enabled": False,
        "netconf.ssh.address": "0.0.0.0",
        "restconf.enabled": False,
        "webui.tcp.enabled": False,
        "webui.tcp.address": "127.0.0.1",
        "webui.ssl.enabled": True,
        "webui.ssl.address": "0.0.0.0",
        "webui.server_name": "localhost",
        "webui.match_host_name": True,
        "webui.cgi": False,
        "webui.audit": True,
        "webui.rate_limiting": 1000000,
        "webui.unauthenticated_message_limit": 65536,
        "limits.max_sessions": 100,
        "limits.max_config_sessions": 50,
        "limits.max_transactions": "logical-processors",
        "limits.parser.max_tag_length": 1024,
        "limits.parser.max_attribute_count": 64,
        "limits.parser.max_attribute_value_length": 1048576,
        "limits.parser.max_xmlns_count": 1024,
        "limits.parser.max_data_length": 67108864,
        "logs.to_syslog": True,
        "logs.developer_log_level": "info",
        "logs.xpath_trace": False,
        "logs.webui_access": True,
        "logs.progress_trace": False,
        "ipc.access_check": None,  # derived: true for TCP IPC, false for the uid-checked Unix socket
    },
}


@dataclass(frozen=True)
class _Paths:
    ncs_dir: str
    config: str
    run: str
    log: str
    cdb: str
    rollbacks: str


def _paths(ctx: ConfContext, style: str) -> _Paths:
    if style == "relative":
        return _Paths("${NCS_DIR}", "${NCS_DIR}/etc/ncs", ".", "./logs", "./ncs-cdb", "./logs")
    if style == "absolute":
        nd, cd, rd, ld = f"{ctx.install_dir}/current", ctx.config_dir, ctx.run_dir, ctx.log_dir
    elif style == "env-defaults":
        nd = f"${{NCS_DIR:-{ctx.install_dir}/current}}"
        cd = f"${{NCS_CONFIG_DIR:-{ctx.config_dir}}}"
        rd = f"${{NCS_RUN_DIR:-{ctx.run_dir}}}"
        ld = f"${{NCS_LOG_DIR:-{ctx.log_dir}}}"
    else:
        nd, cd, rd, ld = "${NCS_DIR}", "${NCS_CONFIG_DIR}", "${NCS_RUN_DIR}", "${NCS_LOG_DIR}"
    return _Paths(nd, cd, rd, ld, f"{rd}/cdb", f"{rd}/rollbacks")


def _check_ctx(ctx: ConfContext) -> None:
    if ctx.install_kind not in INSTALL_KINDS:
        raise NsoInstallError("bad-value", f"install kind {ctx.install_kind!r} is not one of {', '.join(INSTALL_KINDS)}.",
                              "Use 'system' or 'local'.")
    if ctx.profile not in PROFILE_NAMES:
        raise NsoInstallError("bad-value", f"ncs.conf profile {ctx.profile!r} is not one of "
                              f"{', '.join(PROFILE_NAMES)}.", "Use --profile production or --profile development.")
    if ctx.fips and ctx.version_tuple < (6, 5):
        raise NsoInstallError("bad-value", f"FIPS mode (/ncs-config/fips-mode) needs NSO 6.5 or later, not {ctx.version}.",
                              "Drop --fips-install or install NSO 6.5+.")


def profile_defaults(ctx: ConfContext) -> dict[str, Any]:
    """Flat ``{variable: default}`` for this install (profile + install kind + version + FIPS)."""
    _check_ctx(ctx)
    d = dict(PROFILES[ctx.profile])
    v = ctx.version_tuple
    d["paths.style"] = "env" if ctx.install_kind == "system" else "relative"
    if ctx.profile == "production":
        d["ipc.transport"] = "unix" if v >= (6, 4) else "tcp"
    else:  # NSO's own default: the Unix socket is on by default from 6.7
        d["ipc.transport"] = "unix" if v >= (6, 7) else "tcp"
    # Inline (dummy) keys only where NSO's shipped file has them: a local development install.
    d["crypto.mechanism"] = "inline" if (ctx.install_kind == "local" and ctx.profile == "development") else "external"
    d["crypto.aescfb128_key"] = DUMMY_AESCFB128_KEY if d["crypto.mechanism"] == "inline" else None
    d["crypto.aes256cfb128_key"] = DUMMY_AES256CFB128_KEY if d["crypto.mechanism"] == "inline" else None
    d["fips.enabled"] = ctx.fips
    if ctx.fips:
        d["ssh.server_host_key"] = FIPS_SERVER_HOST_KEY
        d["ssh.kex"] = FIPS_KEX
    # path-derived defaults are filled after the merge (they follow paths.style): _derive()
    for name in ("ipc.access_file", "crypto.command", "crypto.argument", "aaa.ssh_server_key_dir",
                 "webui.ssl.cert_file", "webui.ssl.key_file"):
        d.setdefault(name, None)
    missing = set(VARIABLES) - set(d)
    assert not missing, f"profile {ctx.profile} lacks {sorted(missing)}"
    return d


def _derived_paths(p: _Paths) -> dict[str, str]:
    return {
        "ipc.access_file": f"{p.config}/ipc_access",
        "crypto.command": f"{p.ncs_dir}/bin/ncs_crypto_keys",
        "crypto.argument": f"{p.config}/ncs.crypto_keys",
        "aaa.ssh_server_key_dir": f"{p.config}/ssh",
        "webui.ssl.cert_file": f"{p.config}/ssl/cert/host.cert",
        "webui.ssl.key_file": f"{p.config}/ssl/cert/host.key",
    }


# --- values files and --set ---------------------------------------------------------------

def _flatten(data: Any, prefix: str = "", source: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise UsageError("bad-values-file", f"{source or 'values'}: expected a mapping of variables, "
                              f"got {type(data).__name__}.", "Write variables as nested tables/mappings or "
                              "dotted keys, e.g. cli.ssh.enabled = true.")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and name not in VARIABLES:
            out.update(_flatten(value, name, source))
        else:
            out[name] = value
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for name in sorted(flat):
        node = root
        *parents, last = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = flat[name]
    return root


def _unknown(name: str, source: str) -> NsoInstallError:
    near = difflib.get_close_matches(name, list(VARIABLES), n=3, cutoff=0.6)
    if not near:
        head = name.split(".")[0]
        near = [n for n in VARIABLES if n.split(".")[0] == head][:6]
    hint = ("Did you mean " + ", ".join(near) + "?") if near else "See docs/ncs-conf.md for the variables."
    return UsageError("unknown-variable", f"{source}: unknown ncs.conf variable {name!r}.", hint)


def _check_names(flat: dict[str, Any], source: str) -> None:
    for name in flat:
        if name not in VARIABLES:
            raise _unknown(name, source)


def _parse_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, (dict, list)) or (value is not None and not isinstance(value, (str, int, float, bool))):
        return text  # not a scalar: keep the text as given
    return value


def load_values(files: Sequence[Path] = (), sets: Sequence[str] = ()) -> dict:
    """Nested values from TOML (``.toml``) or YAML (``.yaml``/``.yml``) files, then ``--set``.

    Later files win over earlier ones; ``--set a.b.c=value`` (value parsed as a YAML scalar,
    empty = null = NSO's built-in default) wins over every file.  Unknown variable names raise
    :class:`NsoInstallError` ``unknown-variable`` naming the variable and near matches.
    """
    flat: dict[str, Any] = {}
    for f in files:
        path = Path(f)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError("bad-values-file", f"cannot read values file {path}: {exc.strerror}.",
                                  "Check the --values path.") from exc
        suffix = path.suffix.lower()
        try:
            if suffix == ".toml":
                data = tomllib.loads(raw.decode("utf-8"))
            elif suffix in (".yaml", ".yml"):
                data = yaml.safe_load(raw.decode("utf-8"))
                data = {} if data is None else data
            else:
                raise UsageError("bad-values-file", f"values file {path}: unknown format {suffix or '(no suffix)'!r}.",
                                      "Name it *.toml, *.yaml or *.yml.")
        except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UsageError("bad-values-file", f"values file {path} does not parse: {exc}",
                                  "Fix the syntax (TOML or YAML by suffix).") from exc
        part = _flatten(data, source=str(path))
        _check_names(part, str(path))
        flat.update(part)
    for item in sets:
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError("bad-set", f"--set {item!r}: expected NAME=VALUE.",
                                  "For example --set cli.ssh.enabled=true.")
        if name not in VARIABLES:
            raise _unknown(name, f"--set {name}")
        flat[name] = _parse_scalar(text)
    return _nest(flat)


# --- checking values ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad(var: Variable, value: Any, why: str = "") -> NsoInstallError:
    shown = "<secret>" if var.secret else repr(value)
    where = f" ({var.element})" if var.element else ""
    return UsageError(
        "bad-value",
        f"ncs.conf variable {var.name}{where}: {shown} is not a valid value{': ' + why if why else ''}; "
        f"expected {var.expected()}.",
        f"Fix it in the values file or with --set {var.name}=VALUE.")


def _coerce(var: Variable, value: Any) -> Any:
    """The checked, normalised value (bool/int/str/None) or raise bad-value."""
    if value is None:
        if var.nullable:
            return None
        raise _bad(var, value, "this setting cannot be left to NSO's default")
    k = var.kind
    if isinstance(value, str) and "${" in value and k not in ("str", "path", "algos"):
        # ${VAR:-default}: NSO substitutes at load time; the default must fit the element's type
        entry = element_table().get(var.element)
        reason = check_value(entry.type, value) if entry is not None and entry.is_leaf else "no substitution here"
        if reason:
            raise _bad(var, value, reason)
        return value
    if k == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(var, value)
    if k in ("port", "int"):
        if isinstance(value, str) and value in var.keywords:
            return value
        if isinstance(value, bool):
            raise _bad(var, value)
        if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise _bad(var, value)
        low, high = (1, 65535) if k == "port" else (var.low, var.high)
        if not low <= value <= high:
            raise _bad(var, value, "out of range")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(var, value)
    text = str(value)
    if _CONTROL.search(text):
        raise _bad(var, value, "contains control characters")
    if k == "ip":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise _bad(var, value) from None
        return text
    if k in ("str", "path"):
        if not text.strip():
            raise _bad(var, value, "empty")
        if text != text.strip():
            raise _bad(var, value, "leading or trailing blanks")
        if "${" in text and check_value("string", text):
            raise _bad(var, value, "malformed ${...} substitution")
        return text
    if k == "enum":
        if text not in var.choices:
            raise _bad(var, value)
        return text
    if k == "duration":
        if check_value("xs:duration", text):
            raise _bad(var, value)
        return text
    if k == "hex":
        if not re.fullmatch(r"[0-9a-fA-F]{%d}" % var.digits, text):
            raise _bad(var, value)
        return text
    if k == "algos":
        names = [a.strip() for a in text.split(",")]
        unknown = [a for a in names if a not in var.choices]
        if not text.strip() or unknown:
            raise _bad(var, value, "unknown algorithm " + ", ".join(repr(a) for a in unknown) if unknown else "empty")
        return ",".join(names)
    raise AssertionError(k)


def effective_values(ctx: ConfContext, values: dict) -> dict:
    """Nested values for the template: profile defaults <- ``values`` (from :func:`load_values`).

    Every variable is checked; combinations too (Unix IPC needs NSO >= 6.4, FIPS forbids
    Ed25519/Curve25519, HTTPS needs a certificate, listeners may not share a port...).
    Errors are :class:`NsoInstallError` ``bad-value`` naming the variable, its element path
    and the expected type.
    """
    defaults = profile_defaults(ctx)
    given = _flatten(values or {}, source="values")
    _check_names(given, "values")
    merged = {**defaults, **given}
    out: dict[str, Any] = {}
    for name, var in VARIABLES.items():
        raw = merged[name]
        if raw is None and name in defaults and defaults[name] is None and not var.nullable:
            out[name] = None  # derived below
            continue
        out[name] = _coerce(var, raw)
    _derive(ctx, out, given)
    _cross_check(ctx, out)
    return _nest(out)


def _derive(ctx: ConfContext, out: dict[str, Any], given: dict[str, Any]) -> None:
    style = out["paths.style"]
    for name, value in _derived_paths(_paths(ctx, style)).items():
        if out.get(name) is None:
            out[name] = value
    if out["ipc.access_check"] is None:
        out["ipc.access_check"] = out["ipc.transport"] == "tcp"


def _cross_check(ctx: ConfContext, out: dict[str, Any]) -> None:
    v = ctx.version_tuple
    style = out["paths.style"]
    if ctx.install_kind == "local" and style != "relative":
        raise _bad(VARIABLES["paths.style"], style, "a local install's ncs.conf uses paths relative to the "
                   "run directory plus ${NCS_DIR} (use 'relative')")
    if ctx.install_kind == "system" and style == "relative":
        raise _bad(VARIABLES["paths.style"], style, "a system install has separate config, run and log "
                   "directories (use env, env-defaults or absolute)")
    if out["ipc.transport"] == "unix" and v < (6, 4):
        raise _bad(VARIABLES["ipc.transport"], "unix", f"NSO {ctx.version} has no Unix-socket IPC "
                   "(ncs-local-ipc, NSO 6.4+)")
    if out["ipc.transport"] == "tcp" and not _is_loopback(out["ipc.address"]) and out["ipc.access_check"] is not True:
        raise _bad(VARIABLES["ipc.address"], out["ipc.address"], "TCP IPC off loopback without "
                   "ipc.access_check gives unauthenticated remote control of NSO")
    if out["fips.enabled"] and not ctx.fips:
        raise _bad(VARIABLES["fips.enabled"], True, "fips-mode can only be turned on in a FIPS install "
                   "(--fips-install)")
    if out["fips.enabled"]:
        for name in ("ssh.server_host_key", "ssh.kex", "ssh.encryption"):
            used = [a for a in (out[name] or "").split(",") if a in NON_FIPS_ALGORITHMS]
            if used:
                raise _bad(VARIABLES[name], out[name], "not FIPS-approved: " + ", ".join(used))
    if out["crypto.mechanism"] == "inline":
        for name in ("crypto.aescfb128_key", "crypto.aes256cfb128_key"):
            if out[name] is None:
                raise _bad(VARIABLES[name], None, "inline keys must be given (or use crypto.mechanism=external)")
        if ctx.profile == "production" and (out["crypto.aescfb128_key"].lower() == DUMMY_AESCFB128_KEY
                                            or out["crypto.aes256cfb128_key"].lower() == DUMMY_AES256CFB128_KEY):
            raise _bad(VARIABLES["crypto.aescfb128_key"], None, "NSO's well-known example keys are not for "
                       "production")
    # two enabled listeners on one port
    seen: dict[int, str] = {}
    listeners = [(lst, out[f"{lst}.port"]) for lst in _LISTENERS if out[f"{lst}.enabled"] is True
                 and _listener_on(out, lst) and isinstance(out[f"{lst}.port"], int)]
    if out["ipc.transport"] == "tcp":
        listeners.append(("ipc", out["ipc.port"]))
    for lst, port in listeners:
        if port in seen:
            raise _bad(VARIABLES[f"{lst}.port"], port, f"also used by {seen[port]}")
        seen[port] = lst


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # ${VAR:-default}: judge the default
        m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", address)
        return bool(m) and _is_loopback(m.group(1))


def _listener_on(out: dict[str, Any], listener: str) -> bool:
    top = {"cli": "cli.enabled", "netconf": "netconf.enabled", "webui": "webui.enabled"}[listener.split(".")[0]]
    return out[top] is not False or (listener.startswith("webui") and out["restconf.enabled"] is not False)


# --- rendering ----------------------------------------------------------------------------

def templates_dir() -> Path:
    installed = Path(__file__).parent / "templates"  # wheel: force-included here
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "templates"  # source checkout


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=True,  # XML: every value is escaped
        trim_blocks=True,
        lstrip_blocks=True,
    )


_EMPTY_LINE = re.compile(r"^[ \t]+\n", re.MULTILINE)


def render_ncs_conf(ctx: ConfContext, values: dict | None = None) -> str:
    """The ncs.conf text for ``ctx`` with ``values``; raises ``bad-value`` or ``invalid-ncs-conf``."""
    v = effective_values(ctx, values or {})
    p = _paths(ctx, v["paths"]["style"])
    vt = ctx.version_tuple
    text = _environment().get_template(TEMPLATE).render(
        ctx=ctx, v=v, p=p, has_local_ipc=vt >= (6, 4), has_fips_mode=vt >= (6, 5), namespace=NAMESPACE)
    text = _EMPTY_LINE.sub("", text)  # lines left blank by elements omitted (value None)
    problems = validate_ncs_conf(text)
    if problems:
        raise NsoInstallError(
            "invalid-ncs-conf",
            f"the {ctx.profile} ncs.conf for a {ctx.install_kind} install of NSO {ctx.version} is not valid:\n  "
            + "\n  ".join(problems),
            "Check the values given with --values/--set; if they are fine, this is a bug in nso-install's templates.")
    return text


def client_environment(ctx: ConfContext, values: dict | None = None) -> dict[str, str]:
    """``NCS_IPC_*`` environment that clients (ncs_cli, ncs --reload, MAAPI...) need to reach NSO.

    Paths are absolute (the install's directories): environment files do not expand
    ``${NCS_CONFIG_DIR}``.
    """
    v = effective_values(ctx, values or {})
    ipc = v["ipc"]
    env: dict[str, str] = {}
    if ipc["transport"] == "unix":
        env["NCS_IPC_PATH"] = ipc["path"]
    else:
        env["NCS_IPC_ADDR"] = ipc["address"]
        env["NCS_IPC_PORT"] = str(ipc["port"])
    if ipc["access_check"]:
        access = ipc["access_file"]
        if ctx.install_kind == "system":
            for var, real in (("${NCS_CONFIG_DIR}", ctx.config_dir), ("${NCS_RUN_DIR}", ctx.run_dir),
                              ("${NCS_LOG_DIR}", ctx.log_dir), ("${NCS_DIR}", f"{ctx.install_dir}/current")):
                access = access.replace(var, real)
            access = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", access)
        env["NCS_IPC_ACCESS_FILE"] = access
    return env
