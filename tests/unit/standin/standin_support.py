"""Fixtures and helpers for the NSO stand-in tests (nso_install/standin.py, shipped by the sample distribution).

``nso`` is a fake NSO 6.5.3 tree with a config directory, run and log directories and an ncs.conf
in a world-readable temporary directory under /tmp (short, so the IPC socket path fits), so the
stand-in and its clients can also run as other uids (``setpriv``, as root).  Every process started
from it is killed afterwards."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nso_install.sample import make_sample_distribution

VERSION = "6.5.3"
DAEMON_UID = 4242  # the NSO account of these tests (no passwd entry needed)
PATH = "/usr/bin:/bin:/usr/sbin:/sbin"  # the system python3, which every uid can run
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (setpriv to other uids, chown)")


def free_port(below_1024: bool = False) -> int:
    """A TCP port nothing listens on at 127.0.0.1 (from 600-999 when ``below_1024``)."""
    candidates = range(600, 1000) if below_1024 else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    pytest.skip("no free port below 1024")


def free_ports(n: int) -> list[int]:
    """``n`` different TCP ports nothing listens on at 127.0.0.1: all bound at once, so two
    calls of free_port() in a row cannot return the same one (the kernel may hand it out
    again once the first socket is closed)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def legacy_keys() -> str:
    return f"AESCFB128_KEY={secrets.token_hex(16)}\nAES256CFB128_KEY={secrets.token_hex(32)}\n"


def tls_pair() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()), cert.public_bytes(serialization.Encoding.PEM))


def aaa_user(name: str, uid: int, ipc: bool | None) -> str:
    leaf = "" if ipc is None else f"<local_ipc_access>{str(ipc).lower()}</local_ipc_access>"
    return (f"<user><name>{name}</name><uid>{uid}</uid><gid>{uid}</gid><password>$6$</password>"
            f"<ssh_keydir></ssh_keydir><homedir></homedir>{leaf}</user>")


def aaa_init(*users: str) -> str:
    return ('<config xmlns="http://tail-f.com/ns/config/1.0">\n  <aaa xmlns="http://tail-f.com/ns/aaa/1.1">\n'
            f"    <authentication><users>{''.join(users)}</users></authentication>\n  </aaa>\n</config>\n")


class Nso:
    """The stand-in's files and how to run it and its clients (optionally as uid ``uid``)."""

    def __init__(self, base: Path, dist: Path):
        self.base, self.dist = base, dist
        self.etc, self.run_dir, self.log = base / "etc", base / "run", base / "log"
        self.sock = base / "s" / "nso-ipc"
        self.ipc_port: int | None = None
        for d in (self.etc / "ssh", self.etc / "ssl/cert", self.run_dir / "cdb", self.run_dir / "state",
                  self.run_dir / "packages", self.log, self.sock.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.write("etc/ncs.crypto_keys", legacy_keys(), 0o600)
        self.write("etc/ipc_access", secrets.token_urlsafe(32) + "\n", 0o600)
        self.write("etc/ssh/ssh_host_ed25519_key",
                   "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in test key\n-----END OPENSSH PRIVATE KEY-----\n", 0o600)
        key, cert = tls_pair()
        self.write("etc/ssl/cert/host.key", key, 0o600)
        self.write("etc/ssl/cert/host.cert", cert, 0o644)
        self.write_conf()

    def write(self, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
        path = self.base / rel
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode)
        return path

    def write_conf(self, *, ipc: str = "unix", access_check: bool = False, netconf_tcp: int | None = None,
                   cli_ssh: int | None = None, webui_ssl: int | None = None, extra: str = "") -> None:
        """ncs.conf with NSO's system-install paths (${NCS_*}); every northbound listener off
        unless given a port, so nothing else on the host is in the way."""
        if ipc == "unix":
            ipc_xml = f"<ncs-local-ipc><enabled>true</enabled><path>{self.sock}</path></ncs-local-ipc>"
        else:
            self.ipc_port = self.ipc_port or free_port()
            ipc_xml = ("<ncs-local-ipc><enabled>false</enabled></ncs-local-ipc>"
                       f"<ncs-ipc-address><ip>127.0.0.1</ip><port>{self.ipc_port}</port></ncs-ipc-address>")

        def listener(port, tag="ip"):
            return (f"<enabled>{'true' if port else 'false'}</enabled><{tag}>127.0.0.1</{tag}>"
                    f"<port>{port or 1}</port>")

        logs = "".join(f"<{el}><enabled>true</enabled><file><name>${{NCS_LOG_DIR}}/{name}</name>"
                       f"<enabled>true</enabled></file></{el}>"
                       for el, name in (("ncs-log", "ncs.log"), ("developer-log", "devel.log"),
                                        ("audit-log", "audit.log")))
        self.write("etc/ncs.conf", f"""<ncs-config xmlns="http://tail-f.com/yang/tailf-ncs-config">
  {ipc_xml}
  <ncs-ipc-access-check><enabled>{str(access_check).lower()}</enabled>
    <filename>${{NCS_CONFIG_DIR}}/ipc_access</filename></ncs-ipc-access-check>
  <load-path><dir>${{NCS_RUN_DIR}}/packages</dir></load-path>
  <state-dir>${{NCS_RUN_DIR}}/state</state-dir>
  <cdb><db-dir>${{NCS_RUN_DIR}}/cdb</db-dir><init-path><dir>${{NCS_DIR}}/var/ncs/cdb</dir></init-path></cdb>
  <encrypted-strings><external-keys><command>${{NCS_DIR}}/bin/ncs_crypto_keys</command>
    <command-argument>${{NCS_CONFIG_DIR}}/ncs.crypto_keys</command-argument></external-keys></encrypted-strings>
  <logs>{logs}</logs>
  <aaa><ssh-server-key-dir>${{NCS_CONFIG_DIR}}/ssh</ssh-server-key-dir></aaa>
  <cli><enabled>true</enabled><ssh>{listener(cli_ssh)}</ssh></cli>
  <webui><enabled>{'true' if webui_ssl else 'false'}</enabled><transport>
    <tcp><enabled>false</enabled></tcp>
    <ssl>{listener(webui_ssl)}<key-file>${{NCS_CONFIG_DIR}}/ssl/cert/host.key</key-file>
      <cert-file>${{NCS_CONFIG_DIR}}/ssl/cert/host.cert</cert-file></ssl></transport></webui>
  <netconf-north-bound><enabled>true</enabled><transport>
    <ssh><enabled>false</enabled></ssh><tcp>{listener(netconf_tcp)}</tcp></transport></netconf-north-bound>
  {extra}
</ncs-config>
""")

    def own(self, uid: int) -> None:
        """Set up for NSO running as ``uid``: it owns the run and log directories and its keys."""
        for d in (self.run_dir, self.log, self.sock.parent):
            for path in [d, *d.rglob("*")]:
                os.chown(path, uid, uid)
        for rel in ("etc/ncs.crypto_keys", "etc/ipc_access", "etc/ssh", "etc/ssh/ssh_host_ed25519_key",
                    "etc/ssl/cert", "etc/ssl/cert/host.key"):
            os.chown(self.base / rel, uid, uid)

    def env(self, **extra: str) -> dict:
        env = {"PATH": PATH, "LANG": "C.UTF-8", "NCS_DIR": str(self.dist), "NCS_CONFIG_DIR": str(self.etc),
               "NCS_RUN_DIR": str(self.run_dir), "NCS_LOG_DIR": str(self.log)}
        return env | extra

    def client_env(self, **extra: str) -> dict:
        where = {"NCS_IPC_PORT": str(self.ipc_port)} if self.ipc_port else {"NCS_IPC_PATH": str(self.sock)}
        return self.env(**where) | extra

    @staticmethod
    def as_uid(uid: int | None, argv: list) -> list:
        if uid is None:
            return [str(a) for a in argv]
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *map(str, argv)]

    def ncs(self, *args, uid: int | None = None, env: dict | None = None, timeout: float = 30,
            conf: bool = True) -> subprocess.CompletedProcess:
        """``bin/ncs [-c ncs.conf] ARGS`` (control commands get the client environment)."""
        control = any(a in ("--stop", "--status", "--reload", "--wait-started") for a in args)
        argv = [self.dist / "bin/ncs", *(["-c", self.etc / "ncs.conf"] if conf and not control else []), *args]
        return subprocess.run(self.as_uid(uid, argv), capture_output=True, text=True, timeout=timeout,
                              env=env if env is not None else (self.client_env() if control else self.env()),
                              cwd=self.run_dir)

    def cli(self, *lines: str, uid: int | None = None, env: dict | None = None, args=("-C",)):
        return subprocess.run(self.as_uid(uid, [self.dist / "bin/ncs_cli", *args]), input="".join(
            line + "\n" for line in lines), capture_output=True, text=True, timeout=30,
            env=env if env is not None else self.client_env())

    def log_text(self, name: str = "ncs.log") -> str:
        path = self.log / name
        return path.read_text() if path.exists() else ""

    def pids(self) -> list[int]:
        """Processes whose command line names this tree (the daemons started from it)."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.base).encode() in cmdline and int(entry) != os.getpid():
                    found.append(int(entry))
        return found

    def wait_gone(self, timeout: float = 10) -> bool:
        end = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True


@pytest.fixture
def nso():
    base = Path(tempfile.mkdtemp(prefix="standin-", dir="/tmp"))
    os.chmod(base, 0o755)
    dist = make_sample_distribution(base, VERSION, "dir")
    n = Nso(base, dist)
    try:
        yield n
    finally:
        for pid in n.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        n.wait_gone(5)
        shutil.rmtree(base, ignore_errors=True)
