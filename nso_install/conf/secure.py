"""NSO's Secure Deployment guidance as far as ncs.conf can express it: one table, three users.

Each :class:`Recommendation` names what the guidance asks, the ncs.conf variables
(:data:`nso_install.conf.variables.VARIABLES`) that express it and how a configured value is
judged (:func:`judge`).  The values themselves are not repeated here: what the production
profile sets (:func:`production_values`) is the expected value.  The table is used by

* the production profile's tests (``tests/unit/conf/test_secure_profiles.py``): a rendered
  production ncs.conf satisfies every row, a development one fails the rows it relaxes;
* ``nso-install audit`` (``NSO-SD-*`` and ``NSO-IPC-001``): the ncs.conf on a target is
  judged row by row (:mod:`nso_install.audit.checks.secure`);
* ``docs/checks.md``, generated from the audit's checks.

Sources (NSO-developer/nso-gitbook): Secure Deployment, branch 6.5
(``administration/installation-and-deployment/deployment/secure-deployment.md``); Deployment
Example (``.../deployment/deployment-example.md``); ncs.conf(5) for element paths and defaults;
Cryptographic Keys (``administration/advanced-topics/cryptographic-keys.md``); IPC Connection
(``administration/advanced-topics/ipc-connection.md``) and AAA Infrastructure
(``administration/management/aaa-infrastructure.md``) for IPC.  The short references in the
sources below (G-DEP, G-KEYS...) are listed in docs/checks.md, "Sources"
(:data:`nso_install.audit.docs.SOURCES`).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Protocol

from ..record import record
from .variables import ConfContext, profile_defaults


@record(frozen=True)
class Recommendation:
    """A Secure Deployment setting: the variables that express it and how their values are judged."""
    id: str  # the stable audit check ID
    title: str
    variables: tuple[str, ...]  # the ncs.conf variables that express it
    rule: str = "equal"  # how a value is judged: see judge()
    severity: str = "medium"
    source: str = ""  # what the guidance says, and where
    fips_only: bool = False  # applies to FIPS installs only
    allowed: tuple[str, ...] = ()  # rule "one-of": the accepted values


G_SEC = "NSO Secure Deployment guidance (6.5)"
G_DEP = "NSO deployment guide (G-DEP)"

SECURE_DEPLOYMENT: tuple[Recommendation, ...] = (
    Recommendation("NSO-SD-001", "Encryption keys outside ncs.conf (external keys command)",
                   ("crypto.command", "crypto.aescfb128_key", "crypto.aes256cfb128_key"), "external-keys", "high",
                   f"{G_SEC}; keys (G-KEYS): the system install reads them with "
                   "ncs_crypto_keys from ncs.crypto_keys"),
    Recommendation("NSO-SD-002", "SSH host key algorithms restricted (ssh-ed25519; FIPS: ecdsa-sha2-nistp256)",
                   ("ssh.server_host_key",), "equal", "medium", f"{G_SEC}: ssh-ed25519 host keys only"),
    Recommendation("NSO-SD-003", "FIPS mode on (FIPS installs)", ("fips.enabled",), "equal", "high",
                   "NSO FIPS install (G-SYS 6.5+)", fips_only=True),
    # "only": any part of the approved list passes (an operator keeping one curve is as FIPS as the
    # full list; judged "equal", ecdh-sha2-nistp384 alone failed)
    Recommendation("NSO-SD-004", "FIPS-approved SSH key exchange only (FIPS installs)", ("ssh.kex",), "subset",
                   "high", "NSO FIPS install", fips_only=True),
    Recommendation("NSO-SD-005", "Local (CDB) user authentication off", ("aaa.local_authentication",), "equal",
                   "medium", f"{G_SEC}: local users disabled, use PAM"),
    Recommendation("NSO-SD-006", "PAM authentication on", ("aaa.pam.enabled",), "equal", "medium",
                   f"{G_SEC}: PAM with group membership from /etc/group"),
    Recommendation("NSO-SD-007", "Password-expiry warning shown", ("aaa.expiration_warning",), "one-of", "low",
                   f"{G_SEC}: password-expiry warning on (prompt in the vendor's system ncs.conf)",
                   allowed=("display", "prompt")),
    Recommendation("NSO-SD-008", "CLI over NSO's SSH server off", ("cli.ssh.enabled",), "off", "medium",
                   f"{G_SEC}: disable every interface you do not use"),
    Recommendation("NSO-SD-009", "NETCONF over SSH off", ("netconf.ssh.enabled",), "off", "medium",
                   f"{G_SEC}: disable every interface you do not use"),
    Recommendation("NSO-SD-010", "NETCONF over plain TCP off", ("netconf.tcp.enabled",), "off", "high",
                   f"{G_SEC}: disable every interface you do not use (plain TCP is unencrypted)"),
    Recommendation("NSO-SD-011", "RESTCONF off", ("restconf.enabled",), "off", "medium",
                   f"{G_SEC}: disable every interface you do not use"),
    Recommendation("NSO-SD-012", "Web UI over plain HTTP off", ("webui.tcp.enabled",), "off", "high",
                   f"{G_DEP}: HTTPS only"),
    Recommendation("NSO-SD-013", "Web UI over HTTPS, with a certificate and key configured",
                   ("webui.ssl.enabled", "webui.ssl.cert_file", "webui.ssl.key_file"), "https", "medium",
                   f"{G_DEP}: HTTPS only, replace the self-signed certificate"),
    Recommendation("NSO-SD-014", "Web UI matches the Host header against its server name",
                   ("webui.match_host_name", "webui.server_name"), "host-name", "medium",
                   f"{G_DEP}: turn on match-host-name and set server-name"),
    Recommendation("NSO-SD-015", "Web UI CGI off", ("webui.cgi",), "equal", "medium",
                   f"{G_DEP}: disable CGI unless it is needed"),
    Recommendation("NSO-SD-016", "CLI file access restricted to the user's home", ("cli.restricted_file_access",),
                   "equal", "medium", f"{G_SEC}: CLI file-access sandbox on"),
    Recommendation("NSO-SD-017", "Password hashes SHA-512", ("crypt_hash.algorithm",), "equal", "medium",
                   f"{G_SEC}: sha-512 for crypt-hash (the built-in default is md5 up to NSO 6.5)"),
    Recommendation("NSO-SD-018", "Audit logs on (audit log, Web UI audit)", ("logs.audit", "webui.audit"),
                   "equal", "medium", f"{G_SEC} and {G_DEP}: use audit"),
    Recommendation("NSO-SD-019", "Debug traces that log sensitive data off",
                   ("logs.xpath_trace", "logs.netconf_trace", "logs.webui_traffic"), "equal", "high",
                   f"{G_SEC}: NETCONF trace and HTTP traffic logs record data (secrets included) unfiltered"),
    Recommendation("NSO-SD-020", "JSON-RPC rate limiting and a limit on unauthenticated requests",
                   ("webui.rate_limiting", "webui.unauthenticated_message_limit"), "bounded", "medium",
                   f"{G_SEC}: limits against resource exhaustion"),
    Recommendation("NSO-SD-021", "Session and transaction limits",
                   ("limits.max_sessions", "limits.max_config_sessions", "limits.max_transactions"), "bounded",
                   "medium", f"{G_SEC}: session and transaction limits"),
    Recommendation("NSO-SD-022", "XML parser limits",
                   ("limits.parser.max_tag_length", "limits.parser.max_attribute_count",
                    "limits.parser.max_attribute_value_length", "limits.parser.max_xmlns_count",
                    "limits.parser.max_data_length"), "bounded", "medium", f"{G_SEC}: parser limits"),
    Recommendation("NSO-IPC-001", "IPC: the uid-checked Unix socket, or TCP on loopback with the access check",
                   ("ipc.transport", "ipc.address", "ipc.access_check"), "ipc", "critical",
                   "NSO IPC guide and Secure Deployment (G-IPC, G-SEC): whoever "
                   "reaches an unchecked IPC port controls NSO"),
)

BY_ID = {r.id: r for r in SECURE_DEPLOYMENT}

# Words that mean "no limit" in the limit variables (ncs.conf(5)); a rate limit of 0 is none too.
UNBOUNDED = ("unbounded", "nolimit")
# A listener (or RESTCONF) runs only when the interface above it runs too.
PARENT_SWITCH = {"cli.ssh.enabled": "cli.enabled", "netconf.ssh.enabled": "netconf.enabled",
                 "netconf.tcp.enabled": "netconf.enabled", "webui.tcp.enabled": "webui.enabled",
                 "webui.ssl.enabled": "webui.enabled", "restconf.enabled": "webui.enabled"}
# ... or listeners of its own: RESTCONF has them besides the Web UI's (ncs.conf(5),
# /ncs-config/restconf/transport/{tcp,ssl}: "the RESTCONF server uses clear text TCP [SSL] as a
# transport service", ports 8009/8889), so it runs with the Web UI off when one of them is on.
OWN_LISTENERS = {"restconf.enabled": ("/ncs-config/restconf/transport/tcp/enabled",
                                      "/ncs-config/restconf/transport/ssl/enabled")}


class ConfView(Protocol):
    """An ncs.conf as NSO would read it (``nso_install.audit.ncsconf.NcsConf``)."""

    env: dict[str, str]  # NSO's environment (NCS_IPC_PATH there turns the Unix socket on)
    version: tuple[int, ...] | None  # the installed NSO's (what the environment may override depends on it)

    def value(self, variable: str) -> str | None:
        """The effective text of the variable's element: as written (substitutions resolved), or
        NSO's built-in default when it is absent; None when neither says anything."""

    def shown(self, variable: str) -> str:
        """``element = value (how)`` for evidence."""

    def texts(self, element: str) -> list[str]:
        """The (resolved) texts of every element at ``element`` (lists such as extra listen addresses)."""

    def on(self, element: str) -> bool:
        """Whether the effective text of ``element`` (written, or NSO's default) is ``true``."""

    def shown_element(self, element: str) -> str:
        """``element = value (how)`` for evidence."""


def production_values(version: str, fips: bool = False, kind: str = "system") -> dict[str, Any]:
    """The production profile's values for this install: the expected value of each row."""
    return profile_defaults(ConfContext(kind, "production", version, fips))


def conf_text(value: Any) -> str | None:
    """A profile value as ncs.conf writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def applies(rec: Recommendation, fips: bool) -> bool:
    return fips or not rec.fips_only


def _tokens(text: str | None) -> frozenset[str]:
    return frozenset(t.strip() for t in (text or "").split(",") if t.strip())


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _why_on(conf: ConfView, variable: str) -> list[str]:
    """What runs the switch ``variable`` (its value, and the parent or own listener that is on),
    shown as evidence; empty when it does not run."""
    if conf.value(variable) != "true":
        return []
    parent = PARENT_SWITCH.get(variable)
    if parent is None:
        return [conf.shown(variable)]
    if conf.value(parent) == "true":
        return [conf.shown(variable), conf.shown(parent)]
    own = [conf.shown_element(e) for e in OWN_LISTENERS.get(variable, ()) if conf.on(e)]
    return [conf.shown(variable), *own] if own else []


def _on(conf: ConfView, variable: str) -> bool:
    return bool(_why_on(conf, variable))


def judge(rec: Recommendation, conf: ConfView, want: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, evidence) of ``conf`` for ``rec``; no problem means the row is satisfied.
    ``want``: the production values (:func:`production_values`).  Key material is never shown:
    the crypto rows only say whether a key is written inline."""
    rule, variables = rec.rule, rec.variables
    moot = []
    if rule != "off" and conf.value("webui.enabled") != "true":
        # No Web UI at all: its settings serve nothing ("disable every interface you do not
        # use" is met). Judged, they failed an install that turned it off (HTTPS, CGI, Web UI
        # audit...), with a remediation already done or moot and a waiver the only way out.
        # ("off" rows judge their switches with the parent's, and RESTCONF's own listeners.)
        moot = [v for v in variables if v.startswith("webui.")]
        variables = tuple(v for v in variables if v not in moot)
        if not variables:
            return [], [conf.shown("webui.enabled") + ": no Web server"]
    evidence = [conf.shown(v) for v in variables if not v.startswith("crypto.aes")] + \
        ([conf.shown("webui.enabled") + ": no Web server, " + ", ".join(moot) + " not judged"] if moot else [])
    problems: list[str] = []
    if rule == "equal":
        for v in variables:
            expected, have = conf_text(want.get(v)), conf.value(v)
            same = _tokens(have) == _tokens(expected) if "," in (expected or "") + (have or "") else have == expected
            if not same:
                problems.append(f"{conf.shown(v)}; expected {expected if expected is not None else '(left out)'}")
    elif rule == "subset":  # a comma-separated list: every entry among the expected ones (NSO's default too)
        for v in variables:
            expected, have = conf_text(want.get(v)), conf.value(v)
            extra = sorted(_tokens(have) - _tokens(expected))
            if extra or not _tokens(have):
                problems.append(f"{conf.shown(v)}; " + (f"{', '.join(extra)} not among " if extra else "expected some of ")
                                + f"{expected}")
    elif rule == "one-of":
        for v in variables:
            if conf.value(v) not in rec.allowed:
                problems.append(f"{conf.shown(v)}; expected one of {', '.join(rec.allowed)}")
    elif rule == "off":
        for v in variables:
            if why := _why_on(conf, v):
                problems.append(" and ".join(why) + "; expected off")
    elif rule == "bounded":
        for v in variables:
            have = conf.value(v)
            if have is None or have in UNBOUNDED or (v == "webui.rate_limiting" and have == "0"):
                problems.append(f"{conf.shown(v)}; expected a limit")
    elif rule == "external-keys":
        if not conf.value("crypto.command"):
            problems.append("no external keys command (encrypted-strings/external-keys/command)")
        inline = [v for v in variables if v.startswith("crypto.aes") and conf.value(v) is not None]
        inline += ["key-rotation"] * bool(conf.texts("/ncs-config/encrypted-strings/key-rotation/generation"))
        if inline:
            problems.append("keys are written into ncs.conf (" + ", ".join(
                "key-rotation entries" if v == "key-rotation" else f"{v} <secret>" for v in inline) + ")")
    elif rule == "https":  # (the Web UI is on: see above)
        if not _on(conf, "webui.ssl.enabled"):
            problems.append(f"{conf.shown('webui.ssl.enabled')}; expected HTTPS on")
        for v in ("webui.ssl.cert_file", "webui.ssl.key_file"):
            if _on(conf, "webui.ssl.enabled") and not conf.value(v):
                problems.append(f"{conf.shown(v)}; expected a file")
    elif rule == "host-name":
        if conf.value("webui.match_host_name") != "true":
            problems.append(f"{conf.shown('webui.match_host_name')}; expected true")
        if not conf.value("webui.server_name"):
            problems.append(f"{conf.shown('webui.server_name')}; expected the server's name")
        # ncs.conf(5): an alias may hold wildcards ('*' any characters, '?' one); one with nothing
        # else (*, *.*) matches every Host header, which turns the match off
        problems += [f"webui/server-alias = {alias}: matches any host name; expected a name (or *.DOMAIN)"
                     for alias in conf.texts("/ncs-config/webui/server-alias") if alias and not alias.strip("*?.")]
    elif rule == "ipc":
        problems += _judge_ipc(conf)
    else:
        raise AssertionError(f"unknown rule {rule!r} in {rec.id}")
    return problems, evidence


def ipc_override(conf: ConfView, name: str) -> str | None:
    """An ``NCS_IPC_*`` variable of NSO's start-up environment that overrides ncs.conf, else None.
    ncs(1), "Environment": NCS_IPC_PATH set at start turns the Unix socket on (6.4+); from 6.7
    "the environment variables override the configuration file. In particular, setting
    NCS_IPC_PATH or NCS_IPC_PORT selects local or TCP IPC (in this order), regardless of the
    ncs.conf(5) setting" (NCS_IPC_ADDR too).  Before 6.7 only NCS_IPC_PATH does."""
    if name != "NCS_IPC_PATH" and (conf.version is None or conf.version < (6, 7)):
        return None
    return conf.env.get(name) or None


def unix_ipc(conf: ConfView) -> bool:
    """Whether NSO uses only the Unix socket for IPC (ncs.conf and the environment it starts with)."""
    if ipc_override(conf, "NCS_IPC_PATH"):
        return True
    return conf.value("ipc.transport") == "true" and not ipc_override(conf, "NCS_IPC_PORT")


def _judge_ipc(conf: ConfView) -> list[str]:
    extra = [a for a in conf.texts("/ncs-config/ncs-ipc-extra-listen-ip") if not _loopback(a)]
    if unix_ipc(conf):
        return []  # ncs-local-ipc/enabled, or NCS_IPC_PATH at start (ncs(1)): only the Unix socket is used
    problems = []
    if ipc_override(conf, "NCS_IPC_PORT") and conf.value("ipc.transport") == "true":
        problems.append(f"NCS_IPC_PORT={conf.env['NCS_IPC_PORT']} in NSO's environment selects TCP IPC although "
                        f"{conf.shown('ipc.transport')} (ncs(1), NSO 6.7+)")
    address = ipc_override(conf, "NCS_IPC_ADDR")
    if address is not None and not _loopback(address):
        problems.append(f"TCP IPC: NCS_IPC_ADDR={address} in NSO's environment (it overrides ncs.conf); "
                        "expected a loopback address")
    elif address is None and not _loopback(conf.value("ipc.address")):
        problems.append(f"TCP IPC: {conf.shown('ipc.address')}; expected a loopback address")
    if extra:
        problems.append(f"TCP IPC also listens on {', '.join(extra)} (ncs-ipc-extra-listen-ip)")
    if conf.value("ipc.access_check") != "true":
        problems.append(f"TCP IPC without the access check: {conf.shown('ipc.access_check')}")
    return problems


def rows_failing(conf: ConfView, version: str, fips: bool = False,
                 keep: Callable[[Recommendation], bool] = lambda r: True) -> dict[str, list[str]]:
    """{row id: problems} of every applicable row ``conf`` does not satisfy (for the profile tests)."""
    want = production_values(version, fips)
    out = {}
    for rec in SECURE_DEPLOYMENT:
        if applies(rec, fips) and keep(rec):
            problems, _ = judge(rec, conf, want)
            if problems:
                out[rec.id] = problems
    return out
