"""NSO stand-in: a small program that starts, serves IPC and stops the way Cisco NSO's ``ncs`` does.

The sample distribution (:mod:`nso_install.sample`) ships this file as ``lib/ncs/standin.py``;
``bin/ncs`` runs it as ``ncs`` through ``lib/ncs/erts/bin/ncs.smp`` (the file that gets
``cap_net_bind_service``, as NSO's VM does) and ``bin/ncs_cli`` runs it as ``ncs_cli``.  It uses
the standard library only and never imports nso_install: it runs from the installed tree, as the
run-as user.  What it does and which NSO fact each behaviour follows: docs/testing.md, "The NSO
stand-in".  The NSO documentation cited below (NSO-developer/nso-gitbook): ncs(1), ncs_cli(1) and
ncs.conf(5) (``resources/man/``); Cryptographic Keys
(``administration/advanced-topics/cryptographic-keys.md``); Encryption Keys, the external keys
command (``development/connected-topics/encryption-keys.md``); IPC Connection
(``administration/advanced-topics/ipc-connection.md``); AAA Infrastructure
(``administration/management/aaa-infrastructure.md``); System Management
(``administration/management/system-management/README.md``).

  ncs [-c FILE] [--cd DIR] [--foreground [-v] [--stop-on-eof]] [--heart] [--with-package-reload[-force]]
  ncs --stop | --status | --reload | --wait-started [SECONDS]   [--timeout SECONDS]
  ncs_cli [-C|-J] [-u USER] [-S PATH | -A ADDR -P PORT]          (CLI commands on stdin)

At start it reads ncs.conf (``-c``, else ``./ncs.conf``, else ``${NCS_DIR}/etc/ncs/ncs.conf``)
and the files it names -- crypto keys (through the external keys command), SSH host keys when an
SSH listener is on, the TLS key and certificate when the Web UI's TLS transport is on, the IPC
access secret when the access check is on -- opens its logs, loads the AAA users of the CDB init
files on an empty CDB, and binds the IPC endpoint and the northbound ports.  Any failure is a
one-line message and NSO's start exit code; then it daemonizes unless ``--foreground``.

IPC is newline-delimited JSON: the daemon speaks first (``denied``, ``challenge`` or ``welcome``),
then the client sends requests (``status``, ``stop``, ``reload``, ``session``, ``cli``) and reads
one reply each.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import hmac
import json
import os
import pwd
import re
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NS = "{http://tail-f.com/yang/tailf-ncs-config}"
CONFIG_NS = "{http://tail-f.com/ns/config/1.0}"
AAA_NS = "{http://tail-f.com/ns/aaa/1.1}"

# NSO's start exit codes (System Management; ncs(1) refers there): the ones a start can hit here
EXIT_INIT_FILE, EXIT_CORRUPT_CDB, EXIT_FILE, EXIT_BIND, EXIT_CONF = 10, 15, 16, 20, 21
# control commands: refused or failed, no connection within TryTime, --timeout ran out
EXIT_FAIL, EXIT_NO_CONNECTION, EXIT_TIMEOUT = 1, 2, 3

TOP_LEVEL = frozenset("""
    validate-utf8 ncs-ipc-address ncs-ipc-extra-listen-ip ncs-ipc-listen-backlog ncs-ipc-access-check
    enable-shared-memory-schema shared-memory-schema-path enable-client-template-schemas load-path
    enable-compressed-schema compressed-schema-level state-dir commit-retry-timeout max-validation-errors
    transaction-lock-time-violation-alarm notifications opcache hide-group cdb compaction encrypted-strings
    crypt-hash logs sort-transactions enable-inactive enable-origin session-limits transaction-limits
    parser-limits aaa rollback ssh cli restconf webui api japi netconf-north-bound netconf-call-home
    southbound-source-address ha ha-raft scripts java-vm python-vm smart-license
    disable-schema-uri-for-agents checkpoint memory-management""".split())  # + version-gated below
HOST_KEYS = ("ssh_host_ed25519_key", "ssh_host_ecdsa_key", "ssh_host_rsa_key", "ssh_host_dsa_key")
KEY_DIGITS = {"AESCFB128_KEY": 32, "AES256CFB128_KEY": 64}
DES3_DIGITS = {"DES3CBC_KEY1": 16, "DES3CBC_KEY2": 16, "DES3CBC_KEY3": 16}  # removed in NSO 6.5
LOGS = {"ncs": "ncs-log", "devel": "developer-log", "audit": "audit-log"}
CDB_FORMAT = "nso-standin-cdb/1"


class Fail(Exception):
    """A start (or control) failure: a one-line message and NSO's exit code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def dist_version() -> str:
    """The version of the distribution this file was shipped in (its ``VERSION``)."""
    try:
        return (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()
    except (OSError, IndexError):
        return "0.0"


def vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


# -- ncs.conf ------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, env: dict, where: str) -> str:
    """``${VAR}`` and ``${VAR:-default}``; an undefined variable without a default is an error."""
    def sub(m: re.Match) -> str:
        value = env.get(m.group(1))
        if value is None or (value == "" and m.group(2) is not None):
            if m.group(2) is None:
                raise Fail(EXIT_CONF, f"{where}: environment variable {m.group(1)} is not set")
            return m.group(2)
        return value
    return _VAR.sub(sub, text)


def parse_xml(path: Path, tag: str, unreadable: str, faulty: str, unreadable_exit: int, faulty_exit: int):
    """The root element of the XML file ``path``, which must be ``tag`` ({namespace}name); else
    a start failure with the message and exit code of NSO for that file."""
    try:
        root = ET.fromstring(path.read_bytes())
    except OSError as e:
        raise Fail(unreadable_exit, f"{unreadable}: {e.strerror}") from None
    except ET.ParseError as e:
        raise Fail(faulty_exit, f"{faulty}: {e}") from None
    if root.tag != tag:
        ns, name = tag[1:].split("}")
        raise Fail(faulty_exit, f"{faulty}: the root element must be <{name} xmlns=\"{ns}\">")
    return root


class Conf:
    """A parsed, variable-expanded ncs.conf; ``get("a/b")`` is the text of /ncs-config/a/b."""

    def __init__(self, path: Path, env: dict, version: str):
        self.path = path
        root = parse_xml(path, NS + "ncs-config", f"cannot read {path}", f"{path}: bad configuration file",
                         EXIT_CONF, EXIT_CONF)
        vt = vtuple(version)
        known = TOP_LEVEL | ({"ncs-local-ipc"} if vt >= (6, 4) else set()) | ({"fips-mode"} if vt >= (6, 5) else set())
        for child in root:
            name = child.tag.removeprefix(NS)
            if name not in known:
                raise Fail(EXIT_CONF, f"{path}: unknown element /ncs-config/{name} for NSO {version}")
        for el in root.iter():
            if el.text and "$" in el.text:
                el.text = expand(el.text, env, f"{path}: <{el.tag.removeprefix(NS)}>")
        self.root = root

    def _xpath(self, p: str) -> str:
        return "/".join(NS + s for s in p.split("/"))

    def has(self, p: str) -> bool:
        return self.root.find(self._xpath(p)) is not None

    def get(self, p: str, default: str | None = None) -> str | None:
        el = self.root.find(self._xpath(p))
        return default if el is None else (el.text or "").strip()

    def all(self, p: str) -> list[str]:
        return [(el.text or "").strip() for el in self.root.findall(self._xpath(p))]

    def flag(self, p: str, default: bool) -> bool:
        value = self.get(p)
        if value in (None, ""):
            return default
        if value not in ("true", "false"):
            raise Fail(EXIT_CONF, f"{self.path}: /ncs-config/{p} must be true or false, not {value!r}")
        return value == "true"

    def port(self, p: str, default: int) -> int:
        value = self.get(p, str(default))
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise Fail(EXIT_CONF, f"{self.path}: /ncs-config/{p} is not a port number: {value!r}")
        return int(value)

    def need(self, p: str) -> str:
        value = self.get(p)
        if not value:
            raise Fail(EXIT_CONF, f"{self.path}: mandatory /ncs-config/{p} is missing")
        return value


@dataclass
class Settings:
    """What the stand-in uses of ncs.conf (NSO's built-in defaults where an element is absent)."""

    conf: Conf
    ipc: tuple  # ("unix", path) or ("tcp", (address, port))
    access_check: bool
    access_file: str | None
    state_dir: Path
    db_dir: Path
    init_dirs: list[Path]
    logs: dict[str, Path] = field(default_factory=dict)
    ssh_key_dir: str | None = None
    listeners: list[tuple[str, str, int]] = field(default_factory=list)  # (name, address, port)
    tls: tuple[str, str] | None = None  # (key file, cert file)


def load_settings(path: Path, env: dict, version: str) -> Settings:
    c = Conf(path, env, version)
    vt = vtuple(version)
    for p in ("load-path/dir", "state-dir", "cdb/db-dir"):
        c.need(p)
    if c.has("rollback"):
        c.need("rollback/directory")
    if c.has("ncs-ipc-access-check"):
        c.need("ncs-ipc-access-check/filename")
    # IPC: ncs-local-ipc (6.4+; on by default from 6.7) or TCP; the daemon's environment wins
    # (ncs(1), "Environment")
    local = vt >= (6, 4) and c.flag("ncs-local-ipc/enabled", vt >= (6, 7))
    sock_path = c.get("ncs-local-ipc/path", "/tmp/nso/nso-ipc")
    tcp = (c.get("ncs-ipc-address/ip", "127.0.0.1"), c.port("ncs-ipc-address/port", 4569))
    if vt >= (6, 4) and env.get("NCS_IPC_PATH"):
        local, sock_path = True, env["NCS_IPC_PATH"]
    elif vt >= (6, 7) and env.get("NCS_IPC_PORT", "").isdigit():
        local, tcp = False, (tcp[0], int(env["NCS_IPC_PORT"]))
    s = Settings(conf=c, ipc=("unix", sock_path) if local else ("tcp", tcp),
                 access_check=c.flag("ncs-ipc-access-check/enabled", False),
                 access_file=c.get("ncs-ipc-access-check/filename"),
                 state_dir=Path(c.get("state-dir")), db_dir=Path(c.get("cdb/db-dir")),
                 init_dirs=[Path(d) for d in c.all("cdb/init-path/dir")],
                 ssh_key_dir=c.get("aaa/ssh-server-key-dir") or None)
    for key, element in LOGS.items():
        name = c.get(f"logs/{element}/file/name")
        if name and c.flag(f"logs/{element}/enabled", True) and c.flag(f"logs/{element}/file/enabled", False):
            s.logs[key] = Path(name)
    if c.flag("cli/enabled", True) and c.flag("cli/ssh/enabled", True):
        s.listeners.append(("cli-ssh", c.get("cli/ssh/ip", "0.0.0.0"), c.port("cli/ssh/port", 2024)))
    if c.flag("netconf-north-bound/enabled", True):
        for t, on, port in (("ssh", True, 2022), ("tcp", False, 2023)):
            if c.flag(f"netconf-north-bound/transport/{t}/enabled", on):
                s.listeners.append((f"netconf-{t}", c.get(f"netconf-north-bound/transport/{t}/ip", "0.0.0.0"),
                                    c.port(f"netconf-north-bound/transport/{t}/port", port)))
    if c.flag("webui/enabled", False):
        for t, on, port in (("tcp", True, 8008), ("ssl", False, 8888)):
            if c.flag(f"webui/transport/{t}/enabled", on):
                s.listeners.append((f"webui-{t}", c.get(f"webui/transport/{t}/ip", "0.0.0.0"),
                                    c.port(f"webui/transport/{t}/port", port)))
        if any(name == "webui-ssl" for name, _, _ in s.listeners):
            s.tls = (c.need("webui/transport/ssl/key-file"), c.need("webui/transport/ssl/cert-file"))
    if any(name.endswith("-ssh") for name, _, _ in s.listeners) and not s.ssh_key_dir:
        raise Fail(EXIT_CONF, f"{path}: an SSH listener is enabled but /ncs-config/aaa/ssh-server-key-dir is not set")
    return s


def find_conf(given: str | None, env: dict) -> Path:
    """``-c FILE``, else ``./ncs.conf``, else ``${NCS_DIR}/etc/ncs/ncs.conf`` (ncs(1), ``--conf``)."""
    if given:
        return Path(given)
    if Path("ncs.conf").exists():
        return Path("ncs.conf")
    if env.get("NCS_DIR"):
        return Path(env["NCS_DIR"]) / "etc/ncs/ncs.conf"
    raise Fail(EXIT_CONF, "no configuration file: give -c FILE, or run in a directory with ncs.conf, or set NCS_DIR")


# -- keys and the files ncs.conf names --------------------------------------------------------

_KEY_LINE = re.compile(r"([A-Z0-9_]+)(?:\[(-?\d+)\])?=(.*)")


def parse_key_lines(lines: list[str], version: str, source: str) -> dict[int, dict[str, str]]:
    """The external keys command's output -> {generation: {name: hex}} (Encryption Keys;
    Cryptographic Keys).  Without ``EXTERNAL_KEY_FORMAT=2`` the keys are generation -1; key values
    never appear in a message."""
    digits = KEY_DIGITS | (DES3_DIGITS if vtuple(version) < (6, 5) else {})
    gens: dict[int, dict[str, str]] = {}
    rotation = False
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        m = _KEY_LINE.fullmatch(line)
        if not m:
            raise Fail(EXIT_CONF, f"{source}: output line {n} is not NAME=VALUE")
        name, gen, value = m.groups()
        if name == "ERROR":
            raise Fail(EXIT_CONF, f"{source}: {value}")
        if name == "EXTERNAL_KEY_FORMAT":
            if value != "2" or gens:
                raise Fail(EXIT_CONF, f"{source}: EXTERNAL_KEY_FORMAT=2 must be the first line")
            rotation = True
            continue
        if name not in digits:
            raise Fail(EXIT_CONF, f"{source}: unknown key {name} (NSO {version})")
        if rotation != (gen is not None):
            raise Fail(EXIT_CONF, f"{source}: {name}: with EXTERNAL_KEY_FORMAT=2 every key has a [generation], "
                                  "without it none has")
        if not re.fullmatch(f"[0-9a-fA-F]{{{digits[name]}}}", value):
            raise Fail(EXIT_CONF, f"{source}: {name}{'' if gen is None else f'[{gen}]'} is not "
                                  f"{digits[name]} hexadecimal digits")
        g = -1 if gen is None else int(gen)
        if not -32768 <= g <= 32767:
            raise Fail(EXIT_CONF, f"{source}: generation {g} is not an int16")
        gens.setdefault(g, {})[name] = value.lower()
    if not gens:
        raise Fail(EXIT_CONF, f"{source}: no keys")
    for g, keys in sorted(gens.items()):
        missing = [k for k in KEY_DIGITS if k not in keys]
        if missing:
            raise Fail(EXIT_CONF, f"{source}: generation {g} lacks {', '.join(missing)}")
    return gens


def _seconds(duration: str) -> float | None:
    """xs:duration such as PT60S or PT1M30S; None for ``infinity``."""
    if duration == "infinity":
        return None
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", duration)
    if not m or duration == "PT":
        raise Fail(EXIT_CONF, f"command-timeout {duration!r} is not an xs:duration such as PT60S")
    h, mi, s = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def load_keys(c: Conf, env: dict, version: str) -> dict[int, dict[str, str]]:
    """The encryption keys, from exactly one of external-keys, key-rotation or legacy keys."""
    es = "encrypted-strings"
    ways = [w for w in ("external-keys", "key-rotation", "AESCFB128") if c.has(f"{es}/{w}")]
    if len(ways) > 1:
        raise Fail(EXIT_CONF, f"{c.path}: /ncs-config/{es}: {' and '.join(ways)} exclude each other")
    if not ways:
        return {}
    if ways == ["external-keys"]:
        command = c.need(f"{es}/external-keys/command")
        argument = c.get(f"{es}/external-keys/command-argument")
        timeout = _seconds(c.get(f"{es}/external-keys/command-timeout", "PT60S"))
        run_env = dict(env)
        if argument is not None:
            run_env["NCS_EXTERNAL_KEYS_ARGUMENT"] = argument
        try:
            r = subprocess.run([command], env=run_env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except OSError as e:
            raise Fail(EXIT_CONF, f"external keys command {command}: {e.strerror}") from None
        except subprocess.TimeoutExpired:
            raise Fail(EXIT_CONF, f"external keys command {command}: no answer within {timeout:g} s") from None
        lines = r.stdout.splitlines()
        errors = [ln[len("ERROR="):] for ln in lines if ln.startswith("ERROR=")]
        if errors or r.returncode:
            why = errors[0] if errors else (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
            raise Fail(EXIT_CONF, f"external keys command {command} failed: {why}")
        return parse_key_lines(lines, version, f"external keys command {command}")
    if ways == ["key-rotation"]:
        gens = {}
        for el in c.root.findall(c._xpath(f"{es}/key-rotation")):
            gen = el.findtext(NS + "generation", "").strip()
            lines = [f"{name}[{gen}]={el.findtext(f'{NS}{name[:-4]}/{NS}key', '').strip()}" for name in KEY_DIGITS]
            gens |= parse_key_lines(["EXTERNAL_KEY_FORMAT=2", *lines], version, f"{c.path}: key-rotation")
        return gens
    return parse_key_lines([f"{name}={c.get(f'{es}/{name[:-4]}/key', '')}" for name in KEY_DIGITS], version,
                           f"{c.path}: {es}")


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError as e:
        raise Fail(EXIT_FILE, f"cannot read the {what} {path}: {e.strerror}") from None


def check_files(s: Settings) -> bytes | None:
    """Read what ncs.conf names besides the keys; returns the IPC access secret (if the check is on)."""
    if any(name.endswith("-ssh") for name, _, _ in s.listeners):
        found = 0
        for k in HOST_KEYS:
            path = os.path.join(s.ssh_key_dir, k)
            try:
                os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise Fail(EXIT_FILE, f"cannot read the SSH host key {path}: {e.strerror}") from None
            if not _read(path, "SSH host key").startswith(b"-----BEGIN "):
                raise Fail(EXIT_FILE, f"the SSH host key {path} is not a PEM/OpenSSH private key")
            found += 1
        if not found:
            raise Fail(EXIT_FILE, f"no SSH host key ({', '.join(HOST_KEYS)}) in {s.ssh_key_dir}")
    if s.tls:
        key, cert = s.tls
        _read(key, "TLS key")
        _read(cert, "TLS certificate")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        except ssl.SSLError as e:
            raise Fail(EXIT_FILE, f"the TLS key {key} and certificate {cert} do not load together: "
                                  f"{e.reason or e}") from None
    if s.access_check:
        secret = _read(s.access_file, "IPC access secret").strip()
        if not secret:
            raise Fail(EXIT_FILE, f"the IPC access secret {s.access_file} is empty")
        return secret
    return None


# -- CDB: the AAA users of the init files, the active key generation ----------------------------

def read_aaa_users(path: Path) -> dict[str, dict]:
    """/aaa/authentication/users/user entries of one CDB init file (tailf-aaa, as AAA
    Infrastructure prints it)."""
    root = parse_xml(path, CONFIG_NS + "config", f"cannot read the CDB init file {path}",
                     f"{path}: faulty CDB init file", EXIT_FILE, EXIT_INIT_FILE)
    users = {}
    a = AAA_NS
    for u in root.findall(f"{a}aaa/{a}authentication/{a}users/{a}user"):
        name = u.findtext(a + "name", "").strip()
        missing = [leaf for leaf in ("name", "uid", "gid", "password", "ssh_keydir", "homedir")
                   if u.find(a + leaf) is None]
        if missing:
            raise Fail(EXIT_INIT_FILE, f"{path}: faulty CDB init file: user {name!r} lacks {', '.join(missing)}")
        uid, gid = u.findtext(a + "uid").strip(), u.findtext(a + "gid").strip()
        ipc = u.findtext(a + "local_ipc_access", "false").strip()
        if not re.fullmatch(r"-?\d+", uid) or not re.fullmatch(r"-?\d+", gid) or ipc not in ("true", "false"):
            raise Fail(EXIT_INIT_FILE, f"{path}: faulty CDB init file: user {name!r}: bad uid, gid or local_ipc_access")
        users[name] = {"name": name, "uid": int(uid), "gid": int(gid), "local_ipc_access": ipc == "true"}
    return users


def _xml_files(d: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise Fail(EXIT_FILE, f"cannot list the CDB directory {d}: {e.strerror}") from None
    return [d / n for n in names if n.endswith(".xml")]


def open_cdb(s: Settings) -> dict:
    """The stand-in's CDB (``A.cdb`` in db-dir, JSON).  An empty CDB is initialised from every
    ``*.xml`` in the init-path directories and db-dir, once; later starts ignore those files."""
    if not os.access(s.db_dir, os.W_OK | os.X_OK) or not s.db_dir.is_dir():
        raise Fail(EXIT_FILE, f"the CDB directory {s.db_dir} is missing or not writable")
    a = s.db_dir / "A.cdb"
    try:
        cdb = json.loads(a.read_text())
        if cdb.get("format") != CDB_FORMAT:
            raise ValueError
        return cdb
    except FileNotFoundError:
        pass
    except OSError as e:
        raise Fail(EXIT_FILE, f"cannot read the CDB file {a}: {e.strerror}") from None
    except (ValueError, AttributeError):
        raise Fail(EXIT_CORRUPT_CDB, f"{a}: corrupt CDB file") from None
    users: dict[str, dict] = {}
    files = [f for d in [*s.init_dirs, s.db_dir] for f in _xml_files(d)]
    for f in files:
        users |= read_aaa_users(f)
    return {"format": CDB_FORMAT, "init_files": [str(f) for f in files], "aaa_users": sorted(users.values(),
            key=lambda u: u["name"]), "active_key_generation": None}


def save_cdb(s: Settings, cdb: dict) -> None:
    tmp = s.db_dir / f".A.cdb.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cdb, f, indent=1)
    os.replace(tmp, s.db_dir / "A.cdb")


def active_generation(cdb: dict, keys: dict) -> int | None:
    """NSO keeps its active generation; with no previous keys the highest becomes active
    (Cryptographic Keys)."""
    gen = cdb.get("active_key_generation")
    if not keys:
        return gen
    if gen is None:
        return max(keys)
    if gen not in keys:
        raise Fail(EXIT_CONF, f"the encryption keys lack the active generation {gen} (supplied: "
                              f"{', '.join(map(str, sorted(keys)))}); NSO refuses the new set "
                              "(legacy keys must stay as generation -1)")
    return gen


# -- the daemon ----------------------------------------------------------------------------------

class Logs:
    """NSO's log files (ncs.log, devel.log, audit.log), opened for every line so rotation works."""

    def __init__(self, files: dict[str, Path]):
        self.files = files
        self.lock = threading.Lock()
        for path in files.values():
            try:
                open(path, "a").close()
            except OSError as e:
                raise Fail(EXIT_FILE, f"cannot open the log file {path}: {e.strerror}") from None

    def write(self, which: str, level: str, message: str) -> None:
        path = self.files.get(which)
        if path is None:
            return
        now = time.time()
        stamp = time.strftime("%d-%b-%Y::%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        with self.lock:
            try:
                with open(path, "a") as f:
                    f.write(f"<{level}> {stamp} {socket.gethostname()} ncs[{os.getpid()}]: - {message}\n")
            except OSError:
                pass  # like NSO, a log that went away does not stop the daemon


def send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def recv(rfile) -> dict | None:
    line = rfile.readline(1 << 16)
    return json.loads(line) if line.strip() else None


class Daemon:
    def __init__(self, opts: argparse.Namespace, env: dict, version: str):
        self.opts, self.env, self.version = opts, env, version
        self.status = "starting"
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.ipc: list[tuple[socket.socket, str]] = []  # (socket, "unix" | "tcp")
        self.northbound: list[tuple[socket.socket, str]] = []  # (socket, listener name)
        self.socket_inode: tuple[int, int] | None = None
        self.threads: list[threading.Thread] = []
        self.sessions = 0

    # start-up, in NSO's order: configuration, logs, keys and files, IPC (phase 0), CDB (phase 1),
    # northbound listeners (phase 2)
    def start(self) -> None:
        self.conf_path = find_conf(self.opts.conf, self.env)
        self.s = load_settings(self.conf_path, self.env, self.version)
        self.logs = Logs(self.s.logs)
        self.log(f"Starting NCS vsn: {self.version} (NSO stand-in of nso-install)")
        try:
            try:
                keys = load_keys(self.s.conf, self.env, self.version)
            except Fail as e:
                self.logs.write("devel", "ERR", str(e))  # where NSO reports external keys errors
                raise
            self.secret = check_files(self.s)
            d = self.s.state_dir
            if not d.is_dir() or not os.access(d, os.W_OK | os.X_OK):
                raise Fail(EXIT_FILE, f"the state directory {d} is missing or not writable")
            self.bind_ipc()
            self.cdb = open_cdb(self.s)
            self.cdb["active_key_generation"] = active_generation(self.cdb, keys)
            self.keys = keys
            save_cdb(self.s, self.cdb)
            for name, address, port in self.s.listeners:
                self.northbound.append((self.bind_tcp(name, address, port), name))
        except Fail as e:
            self.log(f"NCS start failed: {e}", "CRIT")
            self.close_sockets()
            raise
        for flag in ("with_package_reload", "with_package_reload_force"):
            if getattr(self.opts, flag):
                self.log(f"Package reload requested (--{flag.replace('_', '-')})")
        self.status = "started"
        self.log(f"NCS started vsn: {self.version}")

    def log(self, message: str, level: str = "INFO") -> None:
        self.logs.write("ncs", level, message)

    def bind_ipc(self) -> None:
        kind, where = self.s.ipc
        if kind == "unix":
            self.bind_unix(where)
        else:
            self.ipc.append((self.bind_tcp("IPC", *where), "tcp"))

    def bind_unix(self, path: str) -> socket.socket:
        try:
            os.makedirs(os.path.dirname(path) or ".", 0o755, exist_ok=True)
            if os.path.lexists(path):
                probe = socket.socket(socket.AF_UNIX)
                try:
                    probe.connect(path)
                    raise Fail(EXIT_BIND, f"cannot create the IPC socket {path}: another NSO listens there")
                except (ConnectionRefusedError, FileNotFoundError):
                    os.unlink(path)  # a stale socket of an earlier run
                finally:
                    probe.close()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ipc.append((sock, "unix"))  # closed (and the socket file removed) if anything fails
            sock.bind(path)
            st = os.stat(path)
            self.socket_inode = (st.st_dev, st.st_ino)
            # The directory is the filesystem gate; the uid check below decides on everyone who passes it.
            os.chmod(path, 0o666)
            sock.listen(128)
            return sock
        except OSError as e:
            raise Fail(EXIT_BIND, f"cannot create the IPC socket {path}: {e.strerror or e}") from None

    def bind_tcp(self, name: str, address: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            sock.listen(128)
        except OSError as e:
            sock.close()
            hint = ("; ports below 1024 need cap_net_bind_service on lib/ncs/erts/bin/ncs.smp"
                    if port < 1024 and e.errno == errno.EACCES else "")
            raise Fail(EXIT_BIND, f"cannot bind {name} {address}:{port}: {e.strerror}{hint}") from None
        return sock

    def close_sockets(self) -> None:
        for sock, _ in self.ipc + self.northbound:
            sock.close()
        kind, where = self.s.ipc
        if kind == "unix" and self.socket_inode:
            try:
                st = os.stat(where)
                if (st.st_dev, st.st_ino) == self.socket_inode:
                    os.unlink(where)
            except OSError:
                pass
        self.ipc, self.northbound = [], []

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        sel = selectors.DefaultSelector()
        for sock, what in self.ipc + self.northbound:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, what)
        if self.opts.stop_on_eof:
            sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        while not self.stopping.is_set():
            for key, _ in sel.select(0.2):
                if key.data == "stdin":
                    if not os.read(key.fd, 4096):
                        self.stopping.set()
                    continue
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:
                    continue
                conn.setblocking(True)
                if key.data in ("unix", "tcp"):
                    t = threading.Thread(target=self.session, args=(conn, key.data), daemon=True)
                    t.start()
                    self.threads = [x for x in self.threads if x.is_alive()] + [t]
                else:
                    self.greet(conn, key.data)
        self.status = "stopping"
        self.close_sockets()
        self.log("NCS stopped")
        self.stopped.set()
        deadline = time.monotonic() + 2  # let a stop request get its answer; idle sessions just end
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def greet(self, conn: socket.socket, listener: str) -> None:
        """A northbound connection: SSH listeners send their version line; then it is closed."""
        with conn:
            if listener.endswith("-ssh"):
                try:
                    conn.settimeout(1)
                    conn.sendall(b"SSH-2.0-NSO_standin\r\n")
                except OSError:
                    pass

    # one IPC connection: admission, then requests
    def session(self, conn: socket.socket, kind: str) -> None:
        with conn:
            conn.settimeout(10)
            rfile = conn.makefile("rb")
            try:
                who = self.admit(conn, kind, rfile)
                if who is None:
                    return
                send(conn, {"welcome": self.version, "user": who.get("name"), "trusted": who["trusted"]})
                conn.settimeout(None)
                while (request := recv(rfile)) is not None:
                    send(conn, self.handle(request, who))
                    if request.get("cmd") == "stop":
                        return  # closing it tells the client NSO has stopped
            except (OSError, ValueError):
                return

    def admit(self, conn: socket.socket, kind: str, rfile) -> dict | None:
        """NSO's rules (AAA Infrastructure, "UID-based Authentication for Unix Sockets"; IPC
        Connection, "Restricting Access to the IPC Socket"): on the Unix socket root and NSO's own
        uid get in unchecked, any other uid only with a users/user entry of that uid with
        local_ipc_access true; on TCP with the access check on, only a client that proves it holds
        the secret."""
        if kind == "unix":
            pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid in (0, os.getuid()):
                return {"trusted": True, "uid": uid, "via": "unix"}
            user = next((u for u in self.cdb["aaa_users"] if u["uid"] == uid), None)
            if user and user["local_ipc_access"]:
                return {"trusted": False, "uid": uid, "name": user["name"], "via": "unix"}
            self.log(f"Local IPC access denied for user {user['name'] if user else uid} connecting from pid {pid}")
            why = (f"user {user['name']} (uid {uid}) has local_ipc_access false" if user else
                   f"no /aaa/authentication/users/user entry has uid {uid}")
            send(conn, {"denied": f"local IPC access denied: {why}"})
            return None
        if self.secret is not None:
            nonce = os.urandom(16).hex()
            send(conn, {"challenge": nonce})
            answer = (recv(rfile) or {}).get("response", "")
            if not hmac.compare_digest(str(answer), hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()):
                self.log("IPC access check failed for a TCP client")
                send(conn, {"denied": "IPC access check failed"})
                return None
        return {"trusted": True, "uid": None, "via": "tcp"}

    def handle(self, request: dict, who: dict) -> dict:
        cmd = request.get("cmd")
        if cmd in ("status", "wait-started"):
            return {"ok": True, "status": self.status_lines()}
        if cmd == "stop":
            self.log("NCS stop requested over IPC")
            self.stopping.set()
            self.stopped.wait(30)
            return {"ok": True}
        if cmd == "reload":
            return self.reload()
        if cmd == "session":
            # trusted clients say who they are (ncs_cli -u); checked ones are their AAA entry
            # (AAA Infrastructure, "Authenticating IPC Access")
            who["user"] = who.get("name") or request.get("user") or str(who["uid"])
            with self.lock:
                self.sessions += 1
                n = self.sessions
            uid = "" if who["uid"] is None else f" (uid {who['uid']})"
            self.logs.write("audit", "INFO", f"audit user: {who['user']}/{n} local IPC session via {who['via']}{uid}")
            return {"ok": True, "user": who["user"]}
        if cmd == "cli":
            return self.cli(str(request.get("line", "")), who)
        return {"ok": False, "error": f"unknown request {cmd!r}"}

    def status_lines(self) -> list[str]:
        kind, where = self.s.ipc
        return [f"vsn: {self.version}", "SMP support: no (NSO stand-in of nso-install)", f"status: {self.status}",
                f"pid: {os.getpid()}", f"uid: {os.getuid()}",
                f"ipc: {kind} {where if kind == 'unix' else '%s:%d' % where}",
                *(f"listener: {name} {addr}:{port}" for name, addr, port in self.s.listeners),
                f"active key generation: {self.cdb.get('active_key_generation')}",
                f"key generations: {', '.join(map(str, sorted(self.keys))) or '-'}",
                f"aaa users with local_ipc_access: "
                f"{', '.join(u['name'] for u in self.cdb['aaa_users'] if u['local_ipc_access']) or '-'}"]

    def reload(self) -> dict:
        """``ncs --reload``: ncs.conf again, logs reopened, keys again (a failing keys command keeps
        the old keys and says so in the developer log, Encryption Keys); sockets stay as they are."""
        with self.lock:
            try:
                s = load_settings(self.conf_path, self.env, self.version)
                self.logs = Logs(s.logs)
            except Fail as e:
                self.log(f"reload failed: {e}", "ERR")
                return {"ok": False, "error": str(e)}
            s.ipc, s.listeners = self.s.ipc, self.s.listeners
            self.s = s
            try:
                keys = load_keys(s.conf, self.env, self.version)
                self.cdb["active_key_generation"] = active_generation(self.cdb, keys)
                self.keys = keys
                save_cdb(s, self.cdb)
            except (Fail, OSError) as e:
                self.logs.write("devel", "ERR", f"keeping the old encryption keys: {e}")
            self.log("ncs.conf reloaded")
            return {"ok": True}

    def cli(self, line: str, who: dict) -> dict:
        words = line.split()
        if words == ["show", "ncs-state", "version"]:
            return {"ok": True, "output": f"ncs-state version {self.version}"}
        if words == ["show", "ncs-state", "daemon-status"]:
            return {"ok": True, "output": f"ncs-state daemon-status {self.status}"}
        if words in (["id"], ["whoami"]):
            uid = "-" if who["uid"] is None else who["uid"]
            return {"ok": True, "output": f"user = {who.get('user', '?')}, uid = {uid}, via = {who['via']}, "
                                          f"trusted = {'yes' if who['trusted'] else 'no'}"}
        return {"ok": False, "output": f"syntax error: unknown command: {line.strip()!r} (NSO stand-in)"}


def daemonize() -> None:
    """Detach like NSO without --foreground: the starting command returns once NSO is up."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(fd, n)
    if fd > 2:
        os.close(fd)


# -- clients -------------------------------------------------------------------------------------

class NoConnection(Exception):
    """Nothing listens (yet): worth retrying."""


class Refused(Exception):
    """Reached but not admitted, or not allowed to reach it."""


def client_endpoint(env: dict, version: str, path: str | None = None, address: str | None = None,
                    port: int | None = None) -> tuple:
    """Flags, then NCS_IPC_PATH (wins over the port), then NCS_IPC_ADDR/NCS_IPC_PORT, then the
    version's default (ncs(1) "Environment", ncs_cli(1), IPC Connection)."""
    if path:
        return ("unix", path)
    if not (address or port) and env.get("NCS_IPC_PATH"):
        return ("unix", env["NCS_IPC_PATH"])
    if address or port or env.get("NCS_IPC_ADDR") or env.get("NCS_IPC_PORT"):
        port = port or env.get("NCS_IPC_PORT") or 4569
        if not str(port).isdigit():
            raise Refused(f"NCS_IPC_PORT is not a port number: {port!r}")
        return ("tcp", (address or env.get("NCS_IPC_ADDR") or "127.0.0.1", int(port)))
    return ("unix", "/tmp/nso/nso-ipc") if vtuple(version) >= (6, 7) else ("tcp", ("127.0.0.1", 4569))


def connect(endpoint: tuple, access_file: str | None, timeout: float | None = 10):
    """An admitted IPC connection: (socket, reader, welcome)."""
    kind, where = endpoint
    family = socket.AF_UNIX if kind == "unix" else socket.AF_INET6 if ":" in where[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(where)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        sock.close()
        raise NoConnection(f"{where}: {e.strerror}") from None
    except OSError as e:
        sock.close()
        raise Refused(f"{where}: {e.strerror or e}") from None
    rfile = sock.makefile("rb")
    try:
        first = recv(rfile) or {"denied": "the connection was closed"}
        if "challenge" in first:
            if not access_file:
                raise Refused("NSO runs the IPC access check; set NCS_IPC_ACCESS_FILE to the secret's file")
            try:
                secret = Path(access_file).read_bytes().strip()
            except OSError as e:
                raise Refused(f"cannot read NCS_IPC_ACCESS_FILE {access_file}: {e.strerror}") from None
            send(sock, {"response": hmac.new(secret, first["challenge"].encode(), hashlib.sha256).hexdigest()})
            first = recv(rfile) or {"denied": "the connection was closed"}
        elif "welcome" in first and access_file and kind == "tcp":
            raise Refused("NCS_IPC_ACCESS_FILE is set but NSO does not run the IPC access check")
        if "denied" in first:
            raise Refused(first["denied"])
    except (Refused, OSError, ValueError) as e:
        sock.close()
        raise e if isinstance(e, Refused) else Refused(str(e)) from None
    sock.settimeout(None)
    return sock, rfile, first


def control(cmd: str, opts: argparse.Namespace, env: dict, version: str) -> int:
    """``ncs --stop | --status | --reload | --wait-started``: an IPC client, like NSO's."""
    try_time = opts.wait_started if cmd == "wait-started" else 0
    deadline = time.monotonic() + (try_time or 0)
    while True:
        try:
            endpoint = client_endpoint(env, version)
            sock, rfile, _ = connect(endpoint, env.get("NCS_IPC_ACCESS_FILE"), opts.timeout or 10)
            break
        except NoConnection:
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            print(f"connection refused ({cmd})", file=sys.stderr)
            return EXIT_NO_CONNECTION
        except Refused as e:
            print(f"ncs: {cmd}: {e}", file=sys.stderr)
            return EXIT_FAIL
    with sock:
        sock.settimeout(opts.timeout)
        try:
            send(sock, {"cmd": cmd})
            reply = recv(rfile) or {}
            if cmd == "stop":
                rfile.read()  # NSO has stopped when it closes the connection
        except TimeoutError:
            print(f"ncs: {cmd}: timeout", file=sys.stderr)
            return EXIT_TIMEOUT
        except OSError:
            reply = {"ok": cmd == "stop"}
    if cmd == "status":
        print("\n".join(reply.get("status", [])))
    if not reply.get("ok"):
        print(f"ncs: {cmd} failed: {reply.get('error', 'no answer')}", file=sys.stderr)
        return EXIT_FAIL
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 1: NSO's control commands use 2 for "no connection"
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_FAIL)


def ncs_main(argv: list[str], env: dict, version: str) -> int:
    p = _Parser(prog="ncs", description="NSO stand-in daemon (nso-install sample; NOT NSO).")
    p.add_argument("-c", "--conf", metavar="FILE")
    p.add_argument("--cd", metavar="DIR")
    p.add_argument("--foreground", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--stop-on-eof", action="store_true")
    p.add_argument("--heart", action="store_true", help="accepted (NSO's watchdog)")
    p.add_argument("--with-package-reload", action="store_true")
    p.add_argument("--with-package-reload-force", action="store_true")
    p.add_argument("--ignore-initial-validation", action="store_true")
    p.add_argument("--addloadpath", action="append", default=[])
    p.add_argument("--timeout", type=float, metavar="MaxTime")
    g = p.add_mutually_exclusive_group()
    for name in ("stop", "status", "reload", "areload", "version"):
        g.add_argument(f"--{name}", action="store_true")
    g.add_argument("--wait-started", "--wait-phase0", nargs="?", const=5.0, type=float, metavar="TryTime")
    o = p.parse_args(argv)
    if o.version:
        print(version)
        return 0
    if o.cd:
        try:
            os.chdir(o.cd)
        except OSError as e:
            print(f"ncs: --cd {o.cd}: {e.strerror}", file=sys.stderr)
            return EXIT_FAIL
    for cmd in ("stop", "status", "reload", "areload"):
        if getattr(o, cmd):
            return control("reload" if cmd == "areload" else cmd, o, env, version)
    if o.wait_started is not None:
        return control("wait-started", o, env, version)
    daemon = Daemon(o, env, version)
    try:
        daemon.start()
    except Fail as e:
        print(f"ncs: {e}", file=sys.stderr)
        return e.code
    if not o.foreground:
        daemonize()
    daemon.serve()
    return 0


def cli_main(argv: list[str], env: dict, version: str) -> int:
    p = _Parser(prog="ncs_cli", description="NSO stand-in CLI client (nso-install sample; NOT NSO): "
                "connects over IPC and runs the commands read from stdin.")
    p.add_argument("-C", dest="style", action="store_const", const="c")
    p.add_argument("-J", dest="style", action="store_const", const="j")
    p.add_argument("-u", "--user")
    p.add_argument("-g", "--groups")
    p.add_argument("--noaaa", action="store_true")
    p.add_argument("-S", "--socket-path")
    p.add_argument("-A", "--address")
    p.add_argument("-P", "--port", type=int)
    o = p.parse_args(argv)
    try:
        endpoint = client_endpoint(env, version, o.socket_path, o.address, o.port)
        sock, rfile, _ = connect(endpoint, env.get("NCS_IPC_ACCESS_FILE"))
    except (NoConnection, Refused) as e:
        print(f"Failed to connect to server\nncs_cli (stand-in): {e}", file=sys.stderr)
        return EXIT_FAIL
    try:
        login = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        login = str(os.geteuid())
    errors = 0
    with sock:
        send(sock, {"cmd": "session", "user": o.user or login})
        user = (recv(rfile) or {}).get("user", "?")
        where = endpoint[1] if endpoint[0] == "unix" else "%s:%d" % endpoint[1]
        print(f"{user} connected from {where} using console on {socket.gethostname()}")
        for line in sys.stdin:
            if line.strip() in ("exit", "quit"):
                break
            if not line.strip():
                continue
            send(sock, {"cmd": "cli", "line": line})
            reply = recv(rfile) or {"ok": False, "output": "connection closed"}
            print(reply.get("output", ""))
            errors += not reply.get("ok")
    return EXIT_FAIL if errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    program = argv[0] if argv and argv[0] in ("ncs", "ncs_cli") else "ncs"
    rest = argv[1:] if argv and argv[0] == program else argv
    env = dict(os.environ)
    version = dist_version()
    return (cli_main if program == "ncs_cli" else ncs_main)(rest, env, version)


if __name__ == "__main__":
    sys.exit(main())
