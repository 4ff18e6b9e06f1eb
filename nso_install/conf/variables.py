"""ncs.conf variables: what an operator may set, their types, and the defaults of each profile.

A :class:`Variable` names one ncs.conf element, its type and its meaning; :data:`VARIABLES`
is the whole table (``docs/ncs-conf.md`` lists the same, a test keeps them in step).
:data:`PROFILES` holds the static defaults of the ``production`` and ``development``
profiles; :func:`profile_defaults` adds what depends on the install (kind, NSO version, FIPS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import NsoInstallError, UsageError, require_one_of
from ..record import record
from ..versions import vtuple

INSTALL_KINDS = ("system", "local")
PROFILE_NAMES = ("production", "development")

# NSO's local-install dummy keys (the Local Install guide: its ncs.conf holds fixed, predefined
# keys; these are the values of nso-examples misc/locks-and-timeouts/ncs.conf): fine for a
# development sandbox, refused in production.
DUMMY_AESCFB128_KEY = "0123456789abcdef" * 2
DUMMY_AES256CFB128_KEY = "0123456789abcdef" * 4

# FIPS 140-3 (the FIPS tab of NSO's System Install and Local Install guides): Ed25519 is not
# FIPS-compliant; approved KEX list.
FIPS_SERVER_HOST_KEY = "ecdsa-sha2-nistp256"
FIPS_KEX = ("ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
            "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha256")
NON_FIPS_ALGORITHMS = ("ssh-ed25519", "curve25519-sha256", "ssh-dss", "3des-cbc", "chacha20-poly1305@openssh.com")

@record(frozen=True)
class ConfContext:
    """What the ncs.conf defaults depend on: install kind, profile, NSO version, FIPS, directories."""
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

@record(frozen=True)
class Variable:
    """One ncs.conf variable: the element it sets, what it accepts, and its documented defaults."""
    name: str
    kind: str                  # bool | port | ip | str | path | enum | int | duration | hex | algos | names
    element: str               # ncs.conf element path it sets
    doc: str
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    keywords: tuple[str, ...] = ()   # for int and duration: also accepted words ("unbounded", "infinity")
    digits: int = 0            # for hex
    secret: bool = False
    nullable: bool = True      # None (YAML null, "--set a=") leaves the element out: NSO's built-in default
    default_development: str = ""  # the default as documented (Markdown) where it depends on the install
    default_production: str = ""

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
            return "xs:duration such as PT60S" + "".join(f" or {w!r}" for w in self.keywords)
        if k == "hex":
            return f"{self.digits} hexadecimal digits"
        if k == "algos":
            return "comma-separated list of: " + ",".join(self.choices)
        if k == "names":
            return "account names, as a list or separated by commas"
        return k


_DATA = Path(__file__).parent.parent / "data"


def table_from_toml() -> dict:
    """``data/variables.toml``, the table as people edit it (data, not code: one source for the
    checks here, docs/ncs-conf.md and the operator's listing)."""
    import tomllib

    return tomllib.loads((_DATA / "variables.toml").read_text(encoding="utf-8"))


def json_of(table: dict) -> bytes:
    """What ``data/variables.json`` holds for ``table``."""
    return (json.dumps(table, indent=1, ensure_ascii=False) + "\n").encode()


def _variables(raw: dict) -> dict[str, Variable]:
    out = {}
    for name, d in raw.items():
        d = dict(d)
        element = d.pop("element")
        out[name] = Variable(name, d.pop("kind"), "/ncs-config/" + element if element else "", d.pop("doc"),
                             choices=tuple(d.pop("choices", ())), keywords=tuple(d.pop("keywords", ())), **d)
    return out


def _load_variables() -> dict[str, Variable]:
    """The table, from ``data/variables.json``: variables.toml as JSON, because it is read on
    every run and json parses it in 0.1 ms where tomllib takes 5 ms and its import as much
    again.  ``python -m nso_install.conf.listing docs/ncs-conf.md`` writes it from the TOML
    (:func:`refresh`); a test keeps the two equal."""
    return _variables(json.loads((_DATA / "variables.json").read_bytes()))


def refresh() -> bool:
    """Write ``data/variables.json`` from the TOML and load the table again (in place: every
    holder of :data:`VARIABLES` sees it); True when the file changed."""
    table = table_from_toml()
    path, data = _DATA / "variables.json", json_of(table)
    changed = not path.exists() or path.read_bytes() != data
    if changed:
        path.write_bytes(data)
    VARIABLES.clear()
    VARIABLES.update(_variables(table))
    return changed


VARIABLES: dict[str, Variable] = _load_variables()

_LISTENERS = ("cli.ssh", "netconf.ssh", "netconf.tcp", "webui.tcp", "webui.ssl")


# --- profiles -----------------------------------------------------------------------------
# Static defaults per profile.  Values that depend on the install (paths, NSO version, FIPS)
# are filled in by profile_defaults().  None = element left out (NSO's built-in default).

_COMMON = {
    "ipc.path": "/tmp/nso/nso-ipc",
    "ipc.address": "127.0.0.1",
    "ipc.port": 4569,
    "ipc.users": None,  # IPC grants (system installs): nobody but root and NSO's own account
    "ipc.groups": None,
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
    # Close to the ncs.conf NSO ships for a local install (nso-examples misc/locks-and-timeouts/ncs.conf;
    # the development settings of NSO's Secure Deployment page).
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
    # NSO 6.5 Secure Deployment guidance, everything ncs.conf can express (nso-gitbook branch 6.5,
    # administration/installation-and-deployment/deployment/secure-deployment.md).
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


@record(frozen=True)
class _Paths:
    """The directories an install's ncs.conf names."""
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
    require_one_of(ctx.install_kind, INSTALL_KINDS, "bad-value", "install kind", "Use 'system' or 'local'.",
                   NsoInstallError)
    require_one_of(ctx.profile, PROFILE_NAMES, "bad-value", "ncs.conf profile",
                   "Use --profile production or --profile development.", NsoInstallError)
    if ctx.fips and ctx.version_tuple < (6, 5):
        # bad usage (exit 2), as every value that does not fit the version: the fix is in the command
        raise UsageError("bad-value", f"FIPS mode (/ncs-config/fips-mode) needs NSO 6.5 or later, not {ctx.version}.",
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


