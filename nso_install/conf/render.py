"""Rendering ncs.conf (``templates/ncs-conf/ncs.conf.xml.j2``) and what goes with it.

:func:`render_ncs_conf` renders and validates the result against ncs.conf(5);
:func:`client_environment` gives the ``NCS_IPC_*`` variables clients need for the IPC
settings chosen (for ncs.systemd.conf, /etc/profile.d and ncsrc).
"""

from __future__ import annotations

import re
from typing import Callable

from ..errors import NsoInstallError
from ..record import record
from ..secret import MASK
from ..target import check_shell_safe
from ..templates import render_text
from .validate import NAMESPACE, release_problems, start_problems, validate_ncs_conf
from .values import effective_values, secret_variables
from .variables import ConfContext, _paths

TEMPLATE = "ncs-conf/ncs.conf.xml.j2"

_EMPTY_LINE = re.compile(r"^[ \t]+\n", re.MULTILINE)


def render_ncs_conf(ctx: ConfContext, values: dict | None = None) -> str:
    """The ncs.conf text for ``ctx`` with ``values``; raises ``bad-value`` or ``invalid-ncs-conf``."""
    v = effective_values(ctx, values or {})
    p = _paths(ctx, v["paths"]["style"])
    vt = ctx.version_tuple
    # inline keys in ncs.conf: its text is not kept between runs (templates.render_text)
    inline_keys = any(_nested(v, name) is not None for name in secret_variables())
    text = render_text(TEMPLATE, keep=not inline_keys, ctx=ctx, v=v, p=p, has_local_ipc=vt >= (6, 4),
                       has_fips_mode=vt >= (6, 5), namespace=NAMESPACE)
    text = _EMPTY_LINE.sub("", text)  # lines left blank by elements omitted (value None)
    problems = validate_ncs_conf(text) or release_problems(text, vt)
    if problems:
        raise NsoInstallError(
            "invalid-ncs-conf",
            f"the {ctx.profile} ncs.conf for a {ctx.install_kind} install of NSO {ctx.version} is not valid:\n  "
            + "\n  ".join(problems),
            "Check the values given with --values/--set; if they are fine, this is a bug in nso-install's templates.")
    return text


def _nested(values: dict, name: str):
    """The value of the variable ``name`` (``a.b.c``) in nested effective values, or None."""
    node = values
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def client_environment(ctx: ConfContext, values: dict | None = None) -> dict[str, str]:
    """``NCS_IPC_*`` environment that clients (ncs_cli, ncs --reload, MAAPI...) need to reach NSO.

    Paths are absolute (the install's directories): environment files do not expand
    ``${NCS_CONFIG_DIR}``.
    """
    v = effective_values(ctx, values or {})
    ipc = v["ipc"]
    env: dict[str, str] = {}
    if ipc["transport"] == "unix":
        env["NCS_IPC_PATH"] = _resolved(ctx, ipc["path"])
    else:
        env["NCS_IPC_ADDR"] = ipc["address"]
        env["NCS_IPC_PORT"] = str(ipc["port"])
    if ipc["access_check"]:
        env["NCS_IPC_ACCESS_FILE"] = _resolved(ctx, ipc["access_file"])
    return env


def _resolved(ctx: ConfContext, path: str) -> str:
    """``path`` as a system install's clients need it: the unit's Environment=, ncs.systemd.conf
    and logrotate's command expand no ``${NCS_RUN_DIR}`` (the socket path was handed on as it
    stood, so ncs --reload looked for a file literally named so). A local install's ncsrc, a
    shell script setting NCS_DIR first, expands its own."""
    if ctx.install_kind != "system":
        return path
    for var, real in (("${NCS_CONFIG_DIR}", ctx.config_dir), ("${NCS_RUN_DIR}", ctx.run_dir),
                      ("${NCS_LOG_DIR}", ctx.log_dir), ("${NCS_DIR}", f"{ctx.install_dir}/current")):
        path = path.replace(var, real)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", path)


# --- what an install writes ----------------------------------------------------------------

IPC_RUNTIME_DIR = "/run/ncs"  # production system installs: the Unix socket lives here, not in /tmp
# An element's whole content, CDATA sections included, and with any namespace prefix or
# attributes: an administrator's file may spell them so (<![CDATA[$6$...]]>, <aaa:password>),
# and a value masked only in the plain spelling was shown in --diff.
_CONTENT = rb"(?:<!\[CDATA\[.*?\]\]>|[^<])*"
KEY_ELEMENTS = re.compile(rb"(<((?:[\w.-]+:)?(?:key|key1|key2|key3))(?:\s[^>]*)?>)" + _CONTENT + rb"(</\2\s*>)", re.S)
PASSWORD_ELEMENTS = re.compile(rb"(<((?:[\w.-]+:)?password)(?:\s[^>]*)?>)" + _CONTENT + rb"(</\2\s*>)", re.S)


def redact_conf(text: bytes) -> bytes:
    """ncs.conf as shown in diffs: inline encryption keys masked."""
    return KEY_ELEMENTS.sub(rb"\1" + MASK.encode() + rb"\3", text)


# ncs.systemd.conf (KEY=VALUE lines) holds no secret nso-install writes, but an administrator
# may add one (a keystore password in NCS_JAVA_VM_OPTIONS): a variable whose name says secret,
# and a -Dname=value whose name does, are masked in diffs.
_SECRET_WORD = rb"(?:pass(?:wd|word)?|secret|token|credential|private)"
ENV_SECRET_LINE = re.compile(rb"(?im)^(\s*(?:[#;]\s*)?(?:export\s+)?[\w.]*" + _SECRET_WORD + rb"[\w.]*\s*=).*$")
ENV_SECRET_PROPERTY = re.compile(rb"(?i)(-D[\w.-]*" + _SECRET_WORD + rb"[\w.-]*=)(?:\"[^\"]*\"|'[^']*'|[^\s\"']+)")


def redact_env(text: bytes) -> bytes:
    """ncs.systemd.conf as shown in diffs: values an administrator's secret names carry, masked."""
    text = ENV_SECRET_LINE.sub(rb"\1" + MASK.encode(), text)
    return ENV_SECRET_PROPERTY.sub(rb"\1" + MASK.encode(), text)


# Where NSO listens for its clients, and how: what a kept ncs.conf and the clients' settings
# (profile scripts, ncsrc, the unit; rendered from the new values) must agree on. The transport
# first: the settings of the other one do not matter.
IPC_UNIX_VARIABLES = ("ipc.path",)
IPC_TCP_VARIABLES = ("ipc.address", "ipc.port", "ipc.access_check", "ipc.access_file")


def ipc_disagreement(kept: bytes, rendered: bytes, version: str) -> str | None:
    """What a kept (edited) ncs.conf has NSO do with its IPC that the new rendering, which the
    clients' settings follow, does not: a sentence, or None when they agree (or cannot be read)."""
    from ..audit.ncsconf import NcsConf  # (only for an edited ncs.conf that gets a new rendering)
    from .variables import VARIABLES

    a, b = NcsConf.parse(kept, version), NcsConf.parse(rendered, version)
    if a.problem or b.problem:
        return None

    def differs(name: str) -> str | None:
        element = VARIABLES[name].element
        there, new = a.element(element)[0], b.element(element)[0]
        return None if there == new else \
            f"{element.removeprefix('/ncs-config/')} is {there} there, {new} in the new rendering"

    unix = b.value("ipc.transport") == "true"  # (the element: ncs-local-ipc/enabled)
    differ = [d for d in [differs("ipc.transport")] if d] or \
        [d for n in (IPC_UNIX_VARIABLES if unix else IPC_TCP_VARIABLES) if (d := differs(n))]
    if not differ:
        return None
    if unix:
        # The service (and a shell that sourced ncsrc or the profile script) starts NSO with
        # NCS_IPC_PATH, which overrides ncs.conf and turns the Unix socket on (ncs(1), 6.4+): that
        # NSO listens where the clients look, and the kept file's IPC part does not apply to it.
        path = b.element(VARIABLES["ipc.path"].element)[0]
        return (f"Its IPC settings differ from the new rendering ({'; '.join(differ)}), which the clients' "
                f"settings (profile scripts, ncsrc, the service) now follow. NSO started with them (by the service, or "
                f"from a shell that sourced ncsrc) has NCS_IPC_PATH={path}, which overrides ncs.conf and turns the "
                "Unix socket on (ncs(1), NSO 6.4+): it listens where the clients look, whatever the kept file's IPC "
                "part says; an NSO started without that variable follows the kept file, and the clients will not "
                "reach it. Merge the IPC part so that the file says what NSO does.")
    return (f"Its IPC settings differ from the new rendering ({'; '.join(differ)}), which the clients' settings "
            "(profile scripts, ncsrc, the service) now follow: until the IPC part is merged, ncs --status, ncs_cli "
            "and the service's start checks will not reach NSO.")


def fips_disagreement(kept: bytes, rendered: bytes, version: str) -> str | None:
    """FIPS turned on (or off) by a run that keeps an edited ncs.conf saying the other: the run
    would swap crypto.so, set the NCS_OPENSSL_* variables and set aside the Ed25519 host key (or
    undo all that) while NSO reads the kept file, whose fips-mode and SSH algorithms (ssh-ed25519
    only, in the production profile) do not follow: a half-FIPS install, SSH without a host key
    for the one algorithm offered.  NSO's own installer keeps ncs.conf too and has fips-mode
    added by hand (facts section 11, Upgrades); here the run is refused until the file agrees.
    A sentence, or None (they agree, or either cannot be read)."""
    from ..audit.ncsconf import NcsConf

    a, b = NcsConf.parse(kept, version), NcsConf.parse(rendered, version)
    if a.problem or b.problem:
        return None
    there, new = a.value("fips.enabled") == "true", b.value("fips.enabled") == "true"
    if there == new:
        return None
    if new:
        return ("fips-mode is off there, and this run makes a FIPS install (the FIPS crypto.so, NCS_OPENSSL_*, the "
                "Ed25519 host key set aside for an ECDSA one); the kept file would leave NSO out of FIPS mode, "
                "offering the host-key and key-exchange algorithms it has now.")
    return ("fips-mode is on there, and this run leaves FIPS (the default crypto.so back, no NCS_OPENSSL_*); "
            "NSO allows fips-mode only in a FIPS install (ncs.conf(5)).")


# What NSO decrypts CDB's encrypted strings with: the encrypted-strings element of ncs.conf
# (inline keys, a key-rotation list, or the external keys command and its argument).
_KEY_LINE = re.compile(r"^(AESCFB128_KEY|AES256CFB128_KEY)(?:\[(-?\d+)\])?=([0-9a-fA-F]+)$")
_KEY_NAMES = {"AESCFB128": "AESCFB128_KEY", "AES256CFB128": "AES256CFB128_KEY"}


def _encrypted_strings(conf) -> tuple | None:
    """The encrypted-strings element of a parsed ncs.conf as a comparable tree (tag, text,
    children; comments and layout left out), or None when there is none."""
    es = conf.root.find(f"{{{NAMESPACE}}}encrypted-strings") if conf.root is not None else None

    def tree(e) -> tuple:
        return (e.tag.rpartition("}")[2], (e.text or "").strip(), tuple(tree(c) for c in e))
    return None if es is None else tree(es)


def _inline_keys(conf) -> dict[str, str] | None:
    """NAME -> hex of the legacy inline keys (AESCFB128/key...), or None (none, or a key-rotation list)."""
    es = "/ncs-config/encrypted-strings"
    if conf.present(f"{es}/key-rotation") or conf.present(f"{es}/external-keys"):
        return None
    keys = {name: conf.texts(f"{es}/{element}/key") for element, name in _KEY_NAMES.items()}
    return {name: v[0].lower() for name, v in keys.items() if v} or None


def _file_keys(data: bytes | None, only: bool) -> dict[str, str] | None:
    """NAME -> hex of the keys NSO takes as generation -1 from a keys file (legacy NAME=HEX, or
    NAME[-1]=HEX), or None when it cannot be read, has none, or (``only``) holds another
    generation too: NSO may use that one by now (nso-install cannot see which is active)."""
    if data is None:
        return None
    keys = {}
    for line in data.decode("ascii", errors="replace").splitlines():
        m = _KEY_LINE.match(line.strip())
        if m and m.group(2) in (None, "-1"):
            keys[m.group(1)] = m.group(3).lower()
        elif m and only:
            return None
    return keys or None


EXTERNAL_KEYS = "/ncs-config/encrypted-strings/external-keys"


def plain_path(text: str | None) -> str | None:
    """``text`` when it is a plain absolute path, else None: a ``${VAR}`` the environment given
    did not resolve is left to NSO's start-up environment, which nso-install cannot see."""
    return text if text and text.startswith("/") and "${" not in text else None


def keys_file_argument(conf) -> str | None:
    """The file a parsed ncs.conf's external keys command is given (``command-argument``), when
    it is a :func:`plain_path`, else None."""
    arguments = conf.texts(f"{EXTERNAL_KEYS}/command-argument")
    return plain_path(arguments[0]) if arguments else None


def keys_change(current: bytes, rendered: bytes, version: str, env: dict[str, str],
                read: Callable[[str], bytes | None]) -> str | None:
    """What replacing ncs.conf ``current`` with ``rendered`` does to the keys NSO decrypts CDB's
    encrypted strings (device passwords, NED secrets, the HA token) with: a sentence, or None
    when they stay the same (or either file cannot be read).  A switch between inline keys and
    NSO's keys command reading a keys file (``read``: its bytes, by target path) is no change when
    that file holds the inline keys as its legacy keys.  Never quotes a key."""
    from ..audit.ncsconf import NcsConf

    a, b = NcsConf.parse(current, version, env), NcsConf.parse(rendered, version, env)
    if a.problem or b.problem:
        return None
    before, after = _encrypted_strings(a), _encrypted_strings(b)
    if before is None or before == after:
        return None
    es = EXTERNAL_KEYS

    def source(conf) -> str:
        if conf.present(es):
            argument = (conf.texts(f"{es}/command-argument") or [None])[0]
            command = (conf.texts(f"{es}/command") or ["?"])[0]
            return f"the keys command {command}" + (f" reading {argument}" if argument else "")
        return "the keys written in ncs.conf"

    def file_of(conf) -> str | None:
        """The keys file NSO's own keys command reads (ncs_crypto_keys ARGUMENT), else None."""
        command = conf.texts(f"{es}/command")
        return keys_file_argument(conf) if command and command[0].rpartition("/")[2] == "ncs_crypto_keys" else None

    inline_a, inline_b, file_a, file_b = _inline_keys(a), _inline_keys(b), file_of(a), file_of(b)
    try:
        # inline keys -> a file holding them as generation -1: NSO's own way to start rotating
        if inline_a and file_b and _file_keys(read(file_b), only=False) == inline_a:
            return None
        if file_a and inline_b and _file_keys(read(file_a), only=True) == inline_b:
            return None
        if file_a and file_b and read(file_a) is not None and read(file_a) == read(file_b):
            return None
    except (OSError, NsoInstallError):
        pass  # (cannot tell: said)
    what = ("the keys written in ncs.conf are replaced by other ones" if inline_a and inline_b else
            f"NSO is to take them from {source(b)} instead of {source(a)}, not known to give the same keys")
    return (f"The encryption keys NSO uses change ({what}): NSO cannot decrypt the encrypted strings it already "
            "holds in CDB (device passwords, NED secrets, the HA token) with other keys. A backup of the current "
            "ncs.conf is kept beside it (ncs.conf.TIMESTAMP.bak). If NSO ran with the old keys, put them back (the "
            "same options as before, or a keys file holding them), or move to new keys with NSO's key rotation "
            "(nso-install keys rotate, docs/operations.md).")


def unknown_to_release(kept: bytes, version: str) -> str | None:
    """What in a kept (edited) ncs.conf NSO ``version`` does not know: a sentence, or None.
    Such a file stops NSO at start (exit 21): an element a newer release added, kept across a
    rollback, or one a newer release dropped, kept across an upgrade."""
    from ..versions import vtuple

    problems = release_problems(kept, vtuple(version))
    if not problems:
        return None
    return (f"NSO {version} does not know {len(problems)} of its elements ({'; '.join(problems)}; ncs.conf(5) of "
            "each release) and refuses to start with it (exit 21): remove or change them, or re-run with "
            "--force-conf to take nso-install's rendering (a backup is kept).")


# How many of a kept ncs.conf's problems a warning lists (the first ones; the count says the rest).
_SHOWN_PROBLEMS = 5


def kept_conf_problems(kept: bytes, version: str) -> str | None:
    """What in a kept (edited) ncs.conf stops NSO ``version`` from starting (exit 21, bad
    configuration file): elements its release does not know (:func:`unknown_to_release`), then
    what ncs.conf(5) refuses (:func:`start_problems`: an unknown or misspelt element, a value
    of the wrong type, a mandatory element missing...). A sentence, or None. Only the release
    was judged: a typo in the administrator's file went unsaid on every run and in the audit,
    and NSO failed at its next start. A ``${VAR}`` without a default is NSO's to resolve at
    start, not a problem here."""
    if why := unknown_to_release(kept, version):
        return why
    problems = start_problems(kept.decode("utf-8", errors="replace"))
    if not problems:
        return None
    shown = "; ".join(problems[:_SHOWN_PROBLEMS]) + ("; ..." if len(problems) > _SHOWN_PROBLEMS else "")
    fragments = " (a part in ncs.conf.d/*.conf may hold a missing element)" \
        if any("mandatory element missing" in p for p in problems) else ""
    return (f"It does not follow ncs.conf(5): {len(problems)} problem(s) ({shown}){fragments}; NSO refuses to start "
            "with such a file (exit 21, bad configuration file): fix them, or re-run with --force-conf to take "
            "nso-install's rendering (a backup is kept).")


def redact_aaa(text: bytes) -> bytes:
    """aaa_init.xml as shown in diffs: password hashes an administrator added are masked."""
    return PASSWORD_ELEMENTS.sub(rb"\1" + MASK.encode() + rb"\3", text)


@record(frozen=True)
class RenderedConf:
    """ncs.conf as rendered, with the values and the IPC settings derived from them."""
    text: bytes
    values: dict  # effective template values
    client_env: list[tuple[str, str]]  # NCS_IPC_* for clients (profile scripts, ncsrc, service)
    socket_dir: str | None  # directory of the Unix IPC socket that nso-install manages

    @property
    def inline_keys(self) -> bool:
        return self.values["crypto"]["mechanism"] == "inline"


def _install_ipc_values(ctx: ConfContext, values: dict) -> tuple[dict, str | None]:
    """``values`` with the socket path an install uses, and the socket directory it manages."""
    if ctx.install_kind == "system" and ctx.profile == "production" and "path" not in values.get("ipc", {}):
        # NSO's default socket dir /tmp/nso can be pre-created by any local user (socket
        # hijack); production installs put the socket in a root-made directory under /run.
        if effective_values(ctx, values)["ipc"]["transport"] == "unix":
            return {**values, "ipc": {**values.get("ipc", {}), "path": f"{IPC_RUNTIME_DIR}/nso-ipc"}}, IPC_RUNTIME_DIR
    return values, None


def install_client_environment(ctx: ConfContext, values: dict) -> dict[str, str]:
    """The NCS_IPC_* settings an install gives its clients, without rendering ncs.conf."""
    return client_environment(ctx, _install_ipc_values(ctx, values)[0])


def render_for_install(ctx: ConfContext, values: dict) -> RenderedConf:
    """ncs.conf as an install writes it, with the IPC settings its other files need."""
    values, socket_dir = _install_ipc_values(ctx, values)
    client_env = sorted(client_environment(ctx, values).items())
    for name, value in client_env:  # written into profile scripts, ncsrc, ncs.systemd.conf
        check_shell_safe(f"{name} (from the ncs.conf ipc settings)", value)
    return RenderedConf(render_ncs_conf(ctx, values).encode(), effective_values(ctx, values), client_env, socket_dir)
