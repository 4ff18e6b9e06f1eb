"""Rendering ncs.conf (``templates/ncs-conf/ncs.conf.xml.j2``) and what goes with it.

:func:`render_ncs_conf` renders and validates the result against ncs.conf(5);
:func:`client_environment` gives the ``NCS_IPC_*`` variables clients need for the IPC
settings chosen (for ncs.systemd.conf, /etc/profile.d and ncsrc).
"""

from __future__ import annotations

import re

from ..errors import NsoInstallError
from ..record import record
from ..secret import MASK
from ..target import check_shell_safe
from ..templates import render_text
from .validate import NAMESPACE, release_problems, validate_ncs_conf
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
    return (f"Its IPC settings differ from the new rendering ({'; '.join(differ)}), which the clients' settings "
            "(profile scripts, ncsrc, the service) now follow: until the IPC part is merged, ncs --status, ncs_cli "
            "and the service's start checks will not reach NSO.")


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


def render_for_install(ctx: ConfContext, values: dict) -> RenderedConf:
    """ncs.conf as an install writes it, with the IPC settings its other files need."""
    socket_dir = None
    if ctx.install_kind == "system" and ctx.profile == "production" and "path" not in values.get("ipc", {}):
        # NSO's default socket dir /tmp/nso can be pre-created by any local user (socket
        # hijack); production installs put the socket in a root-made directory under /run.
        if effective_values(ctx, values)["ipc"]["transport"] == "unix":
            values = {**values, "ipc": {**values.get("ipc", {}), "path": f"{IPC_RUNTIME_DIR}/nso-ipc"}}
            socket_dir = IPC_RUNTIME_DIR
    client_env = sorted(client_environment(ctx, values).items())
    for name, value in client_env:  # written into profile scripts, ncsrc, ncs.systemd.conf
        check_shell_safe(f"{name} (from the ncs.conf ipc settings)", value)
    return RenderedConf(render_ncs_conf(ctx, values).encode(), effective_values(ctx, values), client_env, socket_dir)
