"""An ncs.conf on the target, read the way NSO reads it: for judging, never for rewriting.

* ``${VAR}`` and ``${VAR:-default}`` (NSO's load-time substitution, ncs.conf(5)) are resolved
  with the environment NSO starts with: ``NCS_DIR``, ``NCS_CONFIG_DIR``, ``NCS_RUN_DIR``,
  ``NCS_LOG_DIR`` of the install, and what the unit with its drop-ins and ``ncs.systemd.conf``
  add (6.6+ switches interfaces on there), in the order the start-up applies them
  (:func:`environment`);
* an element that is absent has NSO's built-in default (the element table of ncs.conf(5),
  :func:`nso_install.conf.validate.element_table`), with the defaults that changed between
  releases taken for the installed version (:data:`VERSION_DEFAULTS`);
* the northbound listeners (:func:`NcsConf.listeners`): which run, on which addresses;
* the fragments in ``ncs.conf.d/*.conf`` next to ncs.conf, which NSO reads as parts of its
  configuration (ncs.conf(5), "Description"): an element set there counts as set, and one set
  to different values in two places is a conflict (:meth:`NcsConf.conflicts`), since the
  documentation does not say which of them NSO takes.

The text is parsed without DOCTYPE or entities (refused, as :mod:`nso_install.conf.validate`
does).  Values of inline key elements are never shown (``<secret>``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..conf.validate import NAMESPACE, SUBST, element_table
from ..conf.variables import VARIABLES
from ..record import record
from ..secret import MASK
from ..unit import START_SCRIPT
from ..versions import vtuple
from .unitfiles import LoadedUnit

ROOT = "/ncs-config"
SECRET_ELEMENTS = ("/key", "/key1", "/key2", "/key3")
# ncs.conf(5): "Parts of the configuration can be placed in separate files in the ncs.conf.d
# sub-directory, next to the ncs.conf file. [...] Files without the ".conf" extension will be
# ignored."  An audit that read ncs.conf alone would pass a fragment that turns a listener on.
CONF_D = "ncs.conf.d"


def _version_defaults(path: str, version: tuple[int, ...]) -> str | None:
    """Built-in defaults that changed between releases (ncs.conf(5) of each release: 6.7 turned
    ``ncs-local-ipc`` on, 6.6 made ``crypt-hash`` ``sha-512``, 6.5 added ``ecdsa-sha2-nistp256``
    to ``server-host-key``)."""
    if path == "/ncs-config/ncs-local-ipc/enabled":  # the Unix socket is the default from 6.7
        return "true" if version >= (6, 7) else "false"
    if path == "/ncs-config/crypt-hash/algorithm":  # sha-512 is the default from 6.6
        return "sha-512" if version >= (6, 6) else "md5"
    # ssh-ed25519 alone in 6.4 (what the Secure Deployment guidance asks); the element table has
    # the 6.5+ default. Earlier releases' default is not known: the table's applies.
    if path == "/ncs-config/ssh/algorithms/server-host-key" and (6, 4) <= version < (6, 5):
        return "ssh-ed25519"
    return None


VERSION_DEFAULTS = ("/ncs-config/ncs-local-ipc/enabled", "/ncs-config/crypt-hash/algorithm",
                    "/ncs-config/ssh/algorithms/server-host-key")


# What nso-install's start script (and SysV script) takes from ncs.systemd.conf, and what it
# sets itself afterwards (templates/files/_read_env_file.sh.j2, ncs-service-start.j2).
_TAKEN = re.compile(r"NCS_\w*|JAVA_\w*|_JAVA_OPTIONS|LANG|LC_\w*|TZ", re.ASCII)
_IPC = ("NCS_IPC_PATH", "NCS_IPC_ADDR", "NCS_IPC_PORT", "NCS_IPC_ACCESS_FILE")
_SET_AFTER = ("NCS_DIR", "NCS_CONFIG_DIR", "NCS_RUN_DIR", "NCS_LOG_DIR", *_IPC)


def environment(unit: LoadedUnit | None, env_files: list[bytes], systemd_conf: bytes | None, install_dir: str,
                config_dir: str, run_dir: str, log_dir: str) -> dict[str, str]:
    """The variables NSO substitutes and starts with, as its start-up really builds them.

    ``unit``: ncs.service as the service manager loads it (drop-ins included; None: no unit, the
    SysV script); ``env_files``: the contents of its ``EnvironmentFile=`` files, in its order.
    systemd builds the environment from every ``Environment=`` (an empty one resets them), then
    the files (which win), then drops ``UnsetEnvironment=`` (systemd.exec(5)).  nso-install's start
    script and SysV script then read ncs.systemd.conf (the NSO account's file) as data, take only
    NCS_*, JAVA_*, LANG, LC_*, TZ from it, and set the directories and the IPC variables
    themselves: so that file never decides where the audit looks for the IPC socket, the keys or
    the certificates.  A unit of another origin with ``EnvironmentFile=`` hands its files to NSO
    whole; one without is taken to start NSO the way nso-install's does."""
    dirs = {"NCS_DIR": f"{install_dir}/current", "NCS_CONFIG_DIR": config_dir, "NCS_RUN_DIR": run_dir,
            "NCS_LOG_DIR": log_dir}
    unit_env, own_ipc, unset = _unit_environment(unit)
    for data in env_files:
        for line in data.decode(errors="replace").splitlines():
            _assign(unit_env, line.strip())
    for item in unset:  # a name, or NAME=VALUE: only that assignment
        name, sep, value = item.partition("=")
        if not sep or unit_env.get(name) == value:
            unit_env.pop(name, None)
    file_env = script_settings(systemd_conf or b"")
    ours = unit is not None and any(f"{install_dir}/{START_SCRIPT}" in s.value for s in unit.assigned("ExecStart"))
    if not ours and env_files:
        return {**dirs, **unit_env}
    taken = {k: v for k, v in file_env.items() if _TAKEN.fullmatch(k) and k not in _SET_AFTER}
    inherited = {k: v for k, v in unit_env.items() if k not in _SET_AFTER}  # (the script unsets the IPC ones)
    return {**inherited, **taken, **dirs, **own_ipc}


def script_settings(data: bytes) -> dict[str, str]:
    """ncs.systemd.conf as the start and SysV scripts' reader takes it, line for line
    (templates/files/_read_env_file.sh.j2): a line ends at a newline, one CR before it dropped; blanks
    around it are dropped, a comment or a line with a character outside printable ASCII is
    skipped, the key is everything before the first '=' and must be a variable name, and one pair
    of quotes around the value goes.  The file is the NSO account's: read any other way (every
    quote stripped, a line with a tab or a non-ASCII byte taken), it showed the audit one value
    while NSO started with another (a ``${NCS_X:-...}`` switch in ncs.conf on, reported off).
    Whether the script takes the file at all (owner, mode) is the caller's to decide."""
    env: dict[str, str] = {}
    for raw in data.replace(b"\0", b"").split(b"\n"):  # (sh's read drops NUL bytes)
        line = raw.removesuffix(b"\r").strip(b" \t")
        if not line or line[:1] in b"#;" or any(c < 0x20 or c > 0x7e for c in line):
            continue
        key, sep, value = line.decode("ascii").partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", key, re.ASCII):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def _unit_environment(unit: LoadedUnit | None) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """(the ``Environment=`` assignments in effect, the IPC ones of the unit file itself: what
    nso-install's start script sets too, the names ``UnsetEnvironment=`` drops)."""
    env: dict[str, str] = {}
    own: dict[str, str] = {}
    unset: set[str] = set()
    for s in unit.settings if unit is not None else ():
        if s.key == "Environment":
            if not s.value:
                env.clear()  # an empty assignment resets the list
            for item in shlex_split(s.value):
                _assign(env, item)
                if s.source == unit.path:
                    _assign(own, item)
        elif s.key == "UnsetEnvironment":
            unset = set() if not s.value else unset | set(shlex_split(s.value))
    return env, {k: v for k, v in own.items() if k in _IPC}, unset


def shlex_split(text: str) -> list[str]:
    import shlex

    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _assign(env: dict[str, str], item: str) -> None:
    key, sep, value = item.partition("=")
    if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        env[key] = value.strip().strip('"').strip("'")


def parse_root(text: bytes | str) -> tuple[ET.Element | None, str | None]:
    """(the ``<ncs-config>`` root of an ncs.conf or ncs.conf.d fragment, None) or (None, why not)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if re.search(r"<!DOCTYPE|<!ENTITY", text, re.IGNORECASE):
        return None, "it has a DOCTYPE or ENTITY declaration (not read)"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        return None, f"not well-formed XML ({e})"
    if root.tag != f"{{{NAMESPACE}}}ncs-config":
        return None, f"its root element is {root.tag}, not ncs-config"
    return root, None


@record(frozen=True)
class Listener:
    """One network listener ncs.conf configures (NETCONF, CLI, Web UI...): on or off, and where."""
    name: str  # "Web UI (HTTPS)"
    element: str  # "/ncs-config/webui/transport/ssl"
    plaintext: bool
    enabled: bool
    addresses: tuple[tuple[str, str], ...]  # (ip, port): the main one, then extra-listen entries
    how: str  # evidence: why it is on or off
    # (ip, port) of ha-primary-listen entries: listened on too while this node is the HA primary
    # (ncs.conf(5): "NCS will listen(2) to the following IPv4 or IPv6 addresses and ports")
    ha_addresses: tuple[tuple[str, str], ...] = ()


LISTENERS = (  # (name, element, plaintext, the switches above it)
    ("CLI over SSH", "/ncs-config/cli/ssh", False, ("/ncs-config/cli/enabled",)),
    ("NETCONF over SSH", "/ncs-config/netconf-north-bound/transport/ssh", False,
     ("/ncs-config/netconf-north-bound/enabled",)),
    ("NETCONF over TCP", "/ncs-config/netconf-north-bound/transport/tcp", True,
     ("/ncs-config/netconf-north-bound/enabled",)),
    ("Web UI over HTTP", "/ncs-config/webui/transport/tcp", True, ("/ncs-config/webui/enabled",)),
    ("Web UI over HTTPS", "/ncs-config/webui/transport/ssl", False, ("/ncs-config/webui/enabled",)),
    ("RESTCONF over HTTP", "/ncs-config/restconf/transport/tcp", True, ("/ncs-config/restconf/enabled",)),
    ("RESTCONF over HTTPS", "/ncs-config/restconf/transport/ssl", False, ("/ncs-config/restconf/enabled",)),
    ("NETCONF call home", "/ncs-config/netconf-call-home/transport/tcp", False, ("/ncs-config/netconf-call-home/enabled",)),
)
_NO_OWN_SWITCH = ("/ncs-config/netconf-call-home/transport/tcp",)  # switched by its parent only


class NcsConf:
    """A parsed ncs.conf (``problem`` says why it could not be parsed; values are then unknown)."""

    def __init__(self, root: ET.Element | None, version: str | None, env: dict[str, str], problem: str | None = None,
                 fragments: tuple[tuple[str, ET.Element], ...] = ()):
        self.root = root
        self.version = vtuple(version) if version else None
        self.env = env
        self.problem = problem
        self.fragments = fragments  # (path, root) of each ncs.conf.d/*.conf read, in NSO's order (by name)
        self.fragment_problems: tuple[str, ...] = ()  # fragments NSO may read that the audit could not

    @classmethod
    def parse(cls, text: bytes | str, version: str | None, env: dict[str, str] | None = None,
              fragments: tuple[tuple[str, ET.Element], ...] = ()) -> "NcsConf":
        root, problem = parse_root(text)
        return cls(root, version, env or {}, problem, fragments if root is not None else ())

    # --- elements ------------------------------------------------------------------------

    def _found(self, path: str) -> list[tuple[str | None, ET.Element]]:
        """Every element at ``path``: ncs.conf's (source None), then each fragment's (its path)."""
        if self.root is None:
            return []
        parts = path.strip("/").split("/")[1:]
        if not parts:
            return [(None, self.root)]
        xpath = "/".join(f"{{{NAMESPACE}}}{p}" for p in parts)
        return [(src, e) for src, doc in ((None, self.root), *self.fragments) for e in doc.findall(xpath)]

    def _find(self, path: str) -> list[ET.Element]:
        return [e for _, e in self._found(path)]

    def conflicts(self, paths) -> list[str]:
        """The leaves among ``paths`` written more than once (in ncs.conf, or in it and ncs.conf.d)
        with different values: which one NSO takes is not documented, so neither can be relied on."""
        out = []
        for path in paths:
            found = self._found(path)
            values = {self.resolve((e.text or "").strip()) for _, e in found}
            if len(values) > 1:
                shown = MASK if path.endswith(SECRET_ELEMENTS) else None
                where = ", ".join(f"{shown or self.resolve((e.text or '').strip())} ({src or 'ncs.conf'})"
                                  for src, e in found)
                out.append(f"{path.removeprefix(ROOT + '/')} is set to different values: {where}; "
                           "NSO takes one of them")
        return out

    def resolve(self, text: str) -> str:
        """NSO's substitution of ``${VAR}`` / ``${VAR:-default}`` (an unknown VAR stays as written)."""
        def sub(m: re.Match) -> str:
            have = self.env.get(m.group(1))
            if have:
                return have
            return m.group(2) if m.group(2) is not None else m.group(0)
        return SUBST.sub(sub, text)

    def element(self, path: str) -> tuple[str | None, str]:
        """(effective text, how it came about) of a leaf: written, substituted, or NSO's default."""
        found = self._found(path)
        if found:  # a fragment's value wins over ncs.conf's (a conflict is reported by conflicts())
            src, elem = found[-1]
            raw = (elem.text or "").strip()
            value = self.resolve(raw)
            where = f" in {src}" if src else ""
            if value != raw:
                return value, f"from {raw}{where}"
            return value, f"set{where}"
        default = _version_defaults(path, self.version) if self.version else None
        if default is None:
            entry = element_table().get(path)
            default = entry.default if entry is not None and entry.default != "" else None
        return default, ("NSO's default, not set" if default is not None else "not set")

    def texts(self, path: str) -> list[str]:
        return [self.resolve((e.text or "").strip()) for e in self._find(path)]

    def present(self, path: str) -> bool:
        return bool(self._find(path))

    # --- variables -----------------------------------------------------------------------

    def value(self, variable: str) -> str | None:
        element = VARIABLES[variable].element
        return self.element(element)[0] if element else None

    def shown(self, variable: str) -> str:
        element = VARIABLES[variable].element
        return self.shown_element(element)

    def shown_element(self, path: str) -> str:
        value, how = self.element(path)
        name = path.removeprefix(ROOT + "/")
        if value is not None and path.endswith(SECRET_ELEMENTS):
            value = MASK
        return f"{name} = {value if value is not None else '(none)'} ({how})"

    def path(self, variable: str) -> str | None:
        """A path variable's value when it is absolute after substitution, else None."""
        value = self.value(variable)
        return value if value and value.startswith("/") and "${" not in value else None

    def on(self, path: str) -> bool:
        return self.element(path)[0] == "true"

    # --- listeners -----------------------------------------------------------------------

    def listeners(self) -> list[Listener]:
        out = []
        for name, element, plaintext, switches in LISTENERS:
            own = () if element in _NO_OWN_SWITCH else (f"{element}/enabled",)
            parts = [self.shown_element(s) for s in (*switches, *own)]
            enabled = all(self.on(s) for s in (*switches, *own))
            addresses = [(self.element(f"{element}/ip")[0] or "", self.element(f"{element}/port")[0] or "")]
            addresses += self._pairs(f"{element}/extra-listen")
            out.append(Listener(name, element, plaintext, enabled, tuple(addresses), "; ".join(parts),
                                tuple(self._pairs(f"{element}/ha-primary-listen"))))
        return out

    def _pairs(self, path: str) -> list[tuple[str, str]]:
        """(ip, port) of every list entry at ``path`` (extra-listen, ha-primary-listen)."""
        out = []
        for entry in self._find(path):
            ip = entry.find(f"{{{NAMESPACE}}}ip")
            port = entry.find(f"{{{NAMESPACE}}}port")
            out.append((self.resolve((ip.text or "").strip()) if ip is not None else "",
                        self.resolve((port.text or "").strip()) if port is not None else ""))
        return out
