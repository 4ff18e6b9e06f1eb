"""A fake but realistic NSO distribution, for tests, demos and benchmarks.

Real NSO is proprietary, so this module writes a distribution with the *layout* of a real
NSO 6.x one (as NSO's System Install and Local Install guides and ncs-installer(1) describe it;
docs/security.md, "Privileged binaries"): ``VERSION``, ``bin/``, ``lib/ncs/erts``,
the capability binaries, ``epam`` and the ``cmd*wrapper`` helpers at the path for the
version (``lib/ncs/lib/core/...`` before 6.6, ``lib/ncs/lib/{pam,confd}-VSN/...`` from 6.6),
``etc/ncs``, ``var/ncs/cdb/aaa_init.xml``, example NEDs, and so on.  Most executables are
tiny ``#!/bin/sh`` stubs; ``bin/ncs --version`` prints the version.

The NSO stand-in: ``bin/ncs`` and ``bin/ncs_cli`` run ``lib/ncs/standin.py`` (the source of
:mod:`nso_install.standin`, copied in), a small program that starts, serves IPC and stops like
NSO; ``bin/ncs`` runs it through ``lib/ncs/erts/bin/ncs.smp`` as NSO's does its VM, and
``bin/ncs_crypto_keys`` prints the external keys file.  ``ncs.smp`` is a script running the
host's ``python3`` unless ``ncs_smp`` names a Python interpreter binary to copy there, so that a
file capability on it takes effect (docs/testing.md, "The NSO stand-in").

Formats: ``dir`` (``nso-VSN/``), ``tar.gz`` / ``tar`` (``nso-VSN.OS.ARCH.tar.gz``, members
under ``nso-VSN/``), ``installer.bin`` (a genuine self-extracting sh script, run as
``sh FILE --local-install DIR``) and ``signed.bin`` (a self-extracting sh script whose tar
payload holds the installer.bin, its signature, ``tailf.cer``, ``README.signature`` and
``cisco_x509_verify_release.py``).  The signature is ECDSA P-256 / SHA-256 (deterministic,
RFC 6979) with a key derived from a fixed seed; ``tailf.cer`` is a self-signed certificate
for it.  That key is public knowledge: it proves nothing about authenticity.

Output is byte-for-byte deterministic for the same arguments (fixed mtimes, uid/gid 0 with
empty names, sorted members, gzip mtime 0, seeded padding) and is written in a streaming
way, so memory does not grow with ``padding_files``/``padding_bytes``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import errno
import gzip
import hashlib
import io
import os
import random
import re
import shutil
import stat
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import NsoInstallError, UsageError
from .record import record
from .versions import vtuple

MTIME = 1704067200  # 2024-01-01T00:00:00Z
FORMATS = ("dir", "tar.gz", "tar", "installer.bin", "signed.bin")
PAYLOAD_MARKER = b"__NSO_PAYLOAD_BELOW__"
CHUNK = 1 << 16

# -- the tree ------------------------------------------------------------------------------


@record(frozen=True)
class Entry:
    """One entry of a sample distribution's tree."""
    path: str  # relative POSIX path inside nso-VSN/
    kind: str  # "dir" | "file" | "symlink" | "padding"
    mode: int = 0o644
    data: bytes = b""
    target: str = ""  # symlink target
    size: int = 0  # padding size
    seed: str = ""  # padding seed


def _stub(name: str, version: str, body: str = "") -> bytes:
    return (f"#!/bin/sh\n# {name}: stub from a fake NSO {version} distribution (nso-install sample)\n"
            f"{body}echo \"{name}: this is a fake NSO distribution\" >&2\nexit 1\n").encode()


def _ncs_conf() -> bytes:
    return b"""<!-- -*- nxml -*- -->
<!-- Development (local install) ncs.conf of a fake NSO distribution. -->
<ncs-config xmlns="http://tail-f.com/yang/tailf-ncs-config">
  <ncs-ipc-address>
    <ip>127.0.0.1</ip>
  </ncs-ipc-address>
  <ncs-ipc-access-check>
    <enabled>false</enabled>
    <filename>${NCS_DIR}/etc/ncs/ipc_access</filename>
  </ncs-ipc-access-check>
  <load-path>
    <dir>./packages</dir>
    <dir>${NCS_DIR}/etc/ncs</dir>
    <dir>${NCS_DIR}/etc/ncs/snmp</dir>
  </load-path>
  <scripts>
    <dir>./scripts</dir>
    <dir>${NCS_DIR}/scripts</dir>
  </scripts>
  <state-dir>./state</state-dir>
  <cdb>
    <db-dir>./ncs-cdb</db-dir>
    <init-path>
      <dir>${NCS_DIR}/var/ncs/cdb</dir>
    </init-path>
  </cdb>
  <encrypted-strings>
    <AESCFB128>
      <key>0123456789abcdef0123456789abcdef</key>
    </AESCFB128>
    <AES256CFB128>
      <key>0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef</key>
    </AES256CFB128>
  </encrypted-strings>
  <crypt-hash>
    <algorithm>sha-512</algorithm>
  </crypt-hash>
  <logs>
    <ncs-log>
      <enabled>true</enabled>
      <file>
        <name>./logs/ncs.log</name>
        <enabled>true</enabled>
      </file>
    </ncs-log>
  </logs>
  <aaa>
    <ssh-server-key-dir>${NCS_DIR}/etc/ncs/ssh</ssh-server-key-dir>
    <pam>
      <enabled>true</enabled>
      <service>common-auth</service>
    </pam>
    <local-authentication>
      <enabled>true</enabled>
    </local-authentication>
  </aaa>
  <rollback>
    <enabled>true</enabled>
    <directory>./logs</directory>
  </rollback>
  <webui>
    <enabled>false</enabled>
    <transport>
      <ssl>
        <enabled>false</enabled>
        <key-file>${NCS_DIR}/etc/ncs/ssl/cert/host.key</key-file>
        <cert-file>${NCS_DIR}/etc/ncs/ssl/cert/host.cert</cert-file>
      </ssl>
    </transport>
  </webui>
</ncs-config>
"""


_AAA_INIT = b"""<!-- Initial AAA data of a fake NSO distribution: no users, PAM assumed. -->
<config xmlns="http://tail-f.com/ns/config/1.0">
  <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
    <groups>
      <group><name>ncsadmin</name></group>
      <group><name>ncsoper</name></group>
    </groups>
    <rule-list>
      <name>admin</name>
      <group>ncsadmin</group>
      <rule><name>any-access</name><action>permit</action></rule>
    </rule-list>
    <rule-list>
      <name>oper</name>
      <group>ncsoper</group>
      <rule><name>read-only</name><access-operations>read</access-operations><action>permit</action></rule>
    </rule-list>
  </nacm>
</config>
"""


def helper_paths(version: str) -> dict[str, str]:
    """Relative paths of epam, cmdwrapper and cmdptywrapper for ``version``: ``lib/ncs/lib/core/...``
    up to 6.5, ``pam-*``/``confd-*`` from 6.6 (NSO's Secure Deployment and AAA Infrastructure pages;
    ncs-installer(1) still prints the old ``core/pam`` path).  That ``*`` is the version is our
    guess: NSO's documentation does not say."""
    if vtuple(version) >= (6, 6):
        return {"epam": f"lib/ncs/lib/pam-{version}/priv/epam",
                "cmdwrapper": f"lib/ncs/lib/confd-{version}/priv/cmdwrapper",
                "cmdptywrapper": f"lib/ncs/lib/confd-{version}/priv/cmdptywrapper"}
    return {"epam": "lib/ncs/lib/core/pam/priv/epam",
            "cmdwrapper": "lib/ncs/lib/core/confd/priv/cmdwrapper",
            "cmdptywrapper": "lib/ncs/lib/core/confd/priv/cmdptywrapper"}


def fips_entries(version: str) -> list[Entry]:
    """The crypto library (Erlang's crypto NIF) and, from 6.5, what a FIPS install uses: its FIPS
    build beside it and OpenSSL's FIPS files (the layout of nso_install.actions.fips)."""
    crypto = f"lib/ncs/lib/crypto-{version}/priv/lib" if vtuple(version) >= (6, 6) else "lib/ncs/lib/core/crypto/priv/lib"
    fake = "fake {} (nso-install sample; NOT a library)\n"
    out = [Entry(f"{crypto}/crypto.so", "file", 0o755, fake.format("crypto.so, default build").encode())]
    if vtuple(version) >= (6, 5):
        out += [Entry(f"{crypto}/fips/crypto.so", "file", 0o755, fake.format("crypto.so, FIPS build").encode()),
                Entry("lib/ncs/openssl/openssl.cnf", "file", 0o644,
                      b"# OpenSSL configuration of a FIPS install (fake)\n.include fipsmodule.cnf\n"),
                Entry("lib/ncs/openssl/fipsmodule.cnf", "file", 0o644, b"[fips_sect]\nactivate = 1\n"),
                Entry("lib/ncs/openssl/ossl-modules/fips.so", "file", 0o755,
                      fake.format("OpenSSL FIPS provider").encode())]
    return out


BIN_STUBS = ("ncs", "ncs_cli", "ncs_cmd", "ncs_load", "ncs-setup", "ncs-make-package",
             "ncs-backup", "ncs-uninstall", "ncs_crypto_keys", "ncs_conf_tool")
CAPABILITY_BINARIES = ("lib/ncs/erts/bin/ncs", "lib/ncs/erts/bin/ncs.smp", "lib/ncs/bin/ip", "lib/ncs/bin/arping")

# -- the NSO stand-in (docs/testing.md) ----------------------------------------------------

STANDIN = "lib/ncs/standin.py"
NCS_SMP = "lib/ncs/erts/bin/ncs.smp"
_PY_ENV = ("# Python takes no code or paths from the caller's environment (what python3 -I does, but the\n"
           "# program stays argv[1], where ps and nso-install see it).\n"
           "for v in $(env | sed -n 's/^\\(PYTHON[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset \"$v\"; done\n"
           "PYTHONNOUSERSITE=1 PYTHONSAFEPATH=1\nexport PYTHONNOUSERSITE PYTHONSAFEPATH\n"
           "case \"$0\" in */*) bin=${0%/*} ;; *) bin=. ;; esac\n")


def _standin_scripts(version: str) -> dict[str, bytes]:
    """bin/ncs, bin/ncs_cli, bin/ncs_crypto_keys and the script form of ncs.smp."""
    head = f"#!/bin/sh\n# {{}}: from a fake NSO {version} distribution (nso-install sample; NOT NSO).\n"
    return {
        "bin/ncs": (head.format("ncs") +
                    "# Like NSO's bin/ncs it runs the daemon in lib/ncs/erts/bin/ncs.smp, the file that gets\n"
                    "# cap_net_bind_service; the program is the NSO stand-in, lib/ncs/standin.py.\n"
                    f"case \"$1\" in --version) echo \"{version}\"; exit 0 ;; esac\n" + _PY_ENV +
                    f'exec "$bin/../{NCS_SMP}" "$bin/../{STANDIN}" ncs "$@"\n').encode(),
        "bin/ncs_cli": (head.format("ncs_cli") + "# The NSO stand-in's CLI client: connects over IPC, "
                        "runs the commands read from stdin.\n" + _PY_ENV +
                        f'exec python3 "$bin/../{STANDIN}" ncs_cli "$@"\n').encode(),
        "bin/ncs_crypto_keys": (head.format("ncs_crypto_keys") +
                                "# NSO's external keys command: NSO runs it at start and on every reload "
                                "with ncs.conf's\n# command-argument in NCS_EXTERNAL_KEYS_ARGUMENT; it prints "
                                "that file (NAME=HEX lines) or ERROR=why.\n"
                                'f=${NCS_EXTERNAL_KEYS_ARGUMENT:-}\n'
                                '[ -n "$f" ] || { echo "ERROR=NCS_EXTERNAL_KEYS_ARGUMENT is not set"; exit 1; }\n'
                                '[ -e "$f" ] || { echo "ERROR=$f does not exist"; exit 1; }\n'
                                'cat -- "$f" 2>/dev/null || { echo "ERROR=cannot read $f"; exit 1; }\n').encode(),
        NCS_SMP: (head.format("ncs.smp") +
                  "# bin/ncs runs the NSO stand-in with it.  A script: a file capability on it has no effect\n"
                  "# (the kernel ignores them on #! scripts); `nso-install sample-dist --ncs-smp PYTHON` puts\n"
                  "# a Python interpreter binary here instead, for which it does.\n"
                  'exec python3 "$@"\n').encode(),
    }


def standin_source() -> bytes:
    """The stand-in program, as shipped at ``lib/ncs/standin.py``."""
    return Path(__file__).with_name("standin.py").read_bytes()


def read_ncs_smp(path: Path) -> bytes:
    """A Python interpreter binary to ship as ``ncs.smp`` (ELF only: capabilities need a binary)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError("bad-ncs-smp", f"sample-dist: cannot read --ncs-smp {path}: {e.strerror or e}.",
                         "Give a Python interpreter binary, e.g. /usr/bin/python3.") from None
    if not data.startswith(b"\x7fELF"):
        raise UsageError("bad-ncs-smp", f"sample-dist: --ncs-smp {path} is not an ELF binary.",
                         "Give the interpreter binary itself (e.g. /usr/bin/python3): the kernel ignores file "
                         "capabilities on #! scripts.")
    return data


def tree_entries(version: str, padding_files: int = 0, padding_bytes: int = 4096,
                 ncs_smp: bytes | None = None) -> list[Entry]:
    """Every entry of the distribution (without the top-level directory), sorted by path,
    every parent directory listed explicitly.  ``ncs_smp``: the interpreter binary to ship as
    ``lib/ncs/erts/bin/ncs.smp`` instead of the script that runs ``python3``."""
    scripts = _standin_scripts(version)
    if ncs_smp is not None:
        scripts[NCS_SMP] = ncs_smp
    files: list[Entry] = [Entry("VERSION", "file", 0o644, f"{version}\n".encode()),
                          Entry(STANDIN, "file", 0o644, standin_source())]
    for name in BIN_STUBS:
        data = scripts.get(f"bin/{name}") or _stub(name, version)
        files.append(Entry(f"bin/{name}", "file", 0o755, data))
    files.append(Entry("bin/ncs-netsim", "symlink", target="../netsim/bin/ncs-netsim"))
    for path in CAPABILITY_BINARIES:
        files.append(Entry(path, "file", 0o755, scripts.get(path) or _stub(path.rsplit("/", 1)[1], version)))
    for name, path in helper_paths(version).items():
        files.append(Entry(path, "file", 0o755, _stub(name, version)))
    files += fips_entries(version)
    files += [
        Entry("lib/ncs/erts/bin/beam.smp", "symlink", target="ncs.smp"),
        Entry("etc/ncs/ncs.conf", "file", 0o644, _ncs_conf()),
        Entry("etc/ncs/ssh", "dir", 0o755),
        Entry("etc/ncs/ssl/cert", "dir", 0o755),
        Entry("etc/ncs/snmp/snmp_init.xml", "file", 0o644,
              b'<config xmlns="http://tail-f.com/ns/config/1.0">\n  <!-- fake SNMP agent init -->\n</config>\n'),
        Entry("var/ncs/cdb/aaa_init.xml", "file", 0o644, _AAA_INIT),
        Entry("netsim/README", "file", 0o644, b"Network simulator (fake).\n"),
        Entry("netsim/bin/ncs-netsim", "file", 0o755, _stub("ncs-netsim", version)),
        Entry("netsim/confd/etc/confd/confd.conf.netsim", "file", 0o644, b"<confdConfig/>\n"),
        Entry("man/man1/ncs.1", "file", 0o644, b'.TH NCS 1 "" "NSO" "fake"\n.SH NAME\nncs \\- NSO daemon\n'),
        Entry("man/man1/ncs_cli.1", "file", 0o644, b'.TH NCS_CLI 1 "" "NSO" "fake"\n'),
        Entry("man/man1/ncs-setup.1", "file", 0o644, b'.TH NCS-SETUP 1 "" "NSO" "fake"\n'),
        Entry("man/man5/ncs.conf.5", "file", 0o644, b'.TH NCS.CONF 5 "" "NSO" "fake"\n'),
        Entry("doc/README", "file", 0o644, f"Documentation of a fake NSO {version}.\n".encode()),
        Entry("doc/index.html", "file", 0o644, b"<html><body>fake NSO docs</body></html>\n"),
        Entry("examples.ncs/README", "file", 0o644, b"Examples (fake).\n"),
        Entry("src/ncs/include/confd_lib.h", "file", 0o644, b"/* fake */\n#define CONFD_LIB_VSN 0x08000000\n"),
        Entry("src/ncs/include/confd.h", "symlink", target="confd_lib.h"),
        Entry("src/ncs/yang/tailf-ncs-config.yang", "file", 0o644,
              b'module tailf-ncs-config {\n  namespace "http://tail-f.com/yang/tailf-ncs-config";\n  prefix ncscfg;\n}\n'),
        Entry("scripts/README", "file", 0o644, b"Plug-and-play scripts (fake).\n"),
        Entry("support/ncs-collect-tech-report", "file", 0o755, _stub("ncs-collect-tech-report", version)),
    ]
    for ned, vsn in (("cisco-ios-cli", "6.100"), ("juniper-junos-nc", "4.14")):
        d = f"packages/neds/{ned}-{vsn}"
        files.append(Entry(f"{d}/package-meta-data.xml", "file", 0o644, (
            f'<ncs-package xmlns="http://tail-f.com/ns/ncs-packages">\n  <name>{ned}-{vsn}</name>\n'
            f"  <package-version>{vsn}</package-version>\n  <ncs-min-version>{version}</ncs-min-version>\n"
            "</ncs-package>\n").encode()))
        files.append(Entry(f"{d}/load-dir/README", "file", 0o644, b"compiled schemas would go here\n"))
    width = max(4, len(str(max(padding_files - 1, 0))))
    for i in range(padding_files):
        files.append(Entry(f"lib/ncs/padding/{i:0{width}d}.bin", "padding", 0o644,
                           size=padding_bytes, seed=f"nso-install-sample:{version}:{i}"))
    entries = {e.path: e for e in files}
    for e in files:
        parts = e.path.split("/")
        for n in range(1, len(parts)):
            entries.setdefault("/".join(parts[:n]), Entry("/".join(parts[:n]), "dir", 0o755))
    return [entries[k] for k in sorted(entries)]


def padding_chunks(seed: str, size: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(left, CHUNK)
        yield rng.randbytes(n)
        left -= n


class _ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (for tarfile.addfile)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _entry_reader(e: Entry):
    if e.kind == "padding":
        return io.BufferedReader(_ChunkReader(padding_chunks(e.seed, e.size)), CHUNK)
    return io.BytesIO(e.data)


def _tarinfo(name: str, e: Entry) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mode = e.mode
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif e.kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = e.target
        ti.mode = 0o777
    else:
        ti.type = tarfile.REGTYPE
        ti.size = e.size if e.kind == "padding" else len(e.data)
    return ti


def write_tar(out, top: str, entries: list[Entry]) -> None:
    """Stream a tar of ``entries`` under ``top/`` into the binary file object ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(_tarinfo(top, Entry(top, "dir", 0o755)))
        for e in entries:
            ti = _tarinfo(f"{top}/{e.path}", e)
            tf.addfile(ti, _entry_reader(e) if ti.isreg() else None)


def write_tar_gz(out, top: str, entries: list[Entry]) -> None:
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        write_tar(gz, top, entries)


# Everything is written relative to directory descriptors and never through a link: a name
# that is a link when it is created or opened is refused (O_EXCL|O_NOFOLLOW), and modes and
# times are set on the descriptors, so nobody who can write DEST can redirect a chmod or a write.
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_dir_at(parent_fd: int, name: str, entries: list[Entry]) -> None:
    """Write the tree ``entries`` as the new directory ``name`` of the directory ``parent_fd``."""
    os.mkdir(name, 0o755, dir_fd=parent_fd)
    dirs = {"": os.open(name, _DIR_OPEN, dir_fd=parent_fd)}
    try:
        for e in entries:  # sorted: every directory before what it holds
            parent, _, base = e.path.rpartition("/")
            pfd = dirs[parent]
            if e.kind == "dir":
                os.mkdir(base, 0o755, dir_fd=pfd)
                dirs[e.path] = fd = os.open(base, _DIR_OPEN, dir_fd=pfd)
                os.fchmod(fd, e.mode)
            elif e.kind == "symlink":
                os.symlink(e.target, base, dir_fd=pfd)
                os.utime(base, (MTIME, MTIME), dir_fd=pfd, follow_symlinks=False)
            else:
                with os.fdopen(os.open(base, _NEW_FILE, 0o600, dir_fd=pfd), "wb") as f:
                    shutil.copyfileobj(_entry_reader(e), f, CHUNK)
                    f.flush()
                    os.fchmod(f.fileno(), e.mode)
                    os.utime(f.fileno(), (MTIME, MTIME))
        os.fchmod(dirs[""], 0o755)
        for path in sorted(dirs, reverse=True):  # every directory after its contents, the top last
            os.utime(dirs[path], (MTIME, MTIME))
    finally:
        for fd in dirs.values():
            os.close(fd)


def write_dir(root: Path, entries: list[Entry]) -> None:
    """Write the tree ``entries`` as the new directory ``root``."""
    parent = os.open(root.parent, _DIR_OPEN)
    try:
        write_dir_at(parent, root.name, entries)
    finally:
        os.close(parent)


# -- self-extracting scripts ---------------------------------------------------------------

_INSTALLER_SH = """#!/bin/sh
# Fake Cisco NSO {version} installer ({os_name} {arch}), generated by nso_install.sample.
# NOT NSO: stub executables only, for testing nso-install.
# The payload, a gzip-compressed tar of nso-{version}/, starts at byte offset
# PAYLOAD_OFFSET, right after the {marker} line.
PAYLOAD_OFFSET={offset}
VERSION={version}
usage() {{
    echo "Usage: $0 [--local-install] LocalInstallDir"
    echo "       $0 --system-install [--install-dir InstallDir] [--config-dir ConfigDir]"
    echo "           [--run-dir RunDir] [--log-dir LogDir] [--run-as-user User] [--keep-ncs-setup]"
    echo "           [--non-interactive] [--ignore-init-scripts] [--ignore-systemd-script]"
    echo "This is a fake NSO $VERSION installer made by nso-install; only --local-install works."
}}
dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) usage; exit 0 ;;
        --local-install)
            [ $# -ge 2 ] || {{ usage >&2; exit 2; }}
            dir=$2; shift 2 ;;
        --system-install)
            echo "$0: this fake installer cannot do a system install; use nso-install" >&2; exit 2 ;;
        -*) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) dir=$1; shift ;;
    esac
done
[ -n "$dir" ] || {{ usage >&2; exit 2; }}
mkdir -p "$dir" || exit 1
tail -c +$((PAYLOAD_OFFSET + 1)) "$0" | gzip -dc | tar -xf - -C "$dir" --strip-components=1 || {{
    echo "$0: unpacking failed" >&2; exit 1; }}
echo "INFO  NSO $VERSION (fake) installed in $dir"
exit 0
{marker}
"""

_SIGNED_SH = """#!/bin/sh
# Fake Cisco NSO {version} signed archive ({os_name} {arch}), generated by nso_install.sample.
# NOT NSO.  The payload, an uncompressed tar, starts at byte offset PAYLOAD_OFFSET, right
# after the {marker} line.  Running this script unpacks it into the current directory
# and verifies the installer's signature (unless --skip-verification).
PAYLOAD_OFFSET={offset}
INSTALLER={installer}
verify=yes
for arg in "$@"; do
    case "$arg" in
        --skip-verification) verify=no ;;
        --help|-h) echo "Usage: $0 [--skip-verification]"; exit 0 ;;
        *) echo "$0: unknown argument $arg" >&2; exit 2 ;;
    esac
done
echo "Unpacking..."
tail -c +$((PAYLOAD_OFFSET + 1)) "$0" | tar -xf - || {{ echo "$0: unpacking failed" >&2; exit 1; }}
if [ "$verify" = yes ]; then
    echo "Verifying signature..."
    python3 cisco_x509_verify_release.py -e tailf.cer -i "$INSTALLER" -s "$INSTALLER.signature" -v dgst -sha256 || {{
        echo "$0: signature verification failed; re-run with --skip-verification to unpack anyway" >&2
        exit 1; }}
else
    echo "Skipping signature verification"
fi
exit 0
{marker}
"""

_VERIFY_PY = '''#!/usr/bin/env python3
"""Stand-in for Cisco's cisco_x509_verify_release.py in a fake NSO signed.bin.

Checks only that -s is a valid ECDSA/SHA-256 signature over -i made with the public key in
the certificate -e.  (The real script also checks Cisco's 3-tier certificate chain.)"""
import argparse
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

p = argparse.ArgumentParser()
p.add_argument("-e", required=True, help="end-entity certificate (PEM)")
p.add_argument("-i", required=True, help="signed file")
p.add_argument("-s", required=True, help="signature file")
p.add_argument("-v", default="dgst")
p.add_argument("-sha256", action="store_true")
a = p.parse_args()
cert = x509.load_pem_x509_certificate(open(a.e, "rb").read())
try:
    cert.public_key().verify(open(a.s, "rb").read(), open(a.i, "rb").read(), ec.ECDSA(hashes.SHA256()))
except InvalidSignature:
    print("Signature verification failed", file=sys.stderr)
    sys.exit(1)
print("Successfully verified the signature of %s using %s" % (a.i, a.e))
'''

_README_SIGNATURE = """This fake NSO signed archive (made by nso_install.sample, not by Cisco) contains:

  {installer}            the installer
  {installer}.signature  ECDSA P-256 / SHA-256 signature over the installer
  tailf.cer              self-signed X.509 certificate holding the verification key
  cisco_x509_verify_release.py  a stand-in verifier
  README.signature       this file

Verify by hand:
  python3 cisco_x509_verify_release.py -e tailf.cer -i {installer} -s {installer}.signature -v dgst -sha256

The signing key is derived from a public, fixed seed: the signature shows integrity only.
"""


def _script_header(template: str, **kw) -> bytes:
    offset = 0
    while True:
        text = template.format(offset=offset, marker=PAYLOAD_MARKER.decode(), **kw).encode()
        if len(text) == offset:
            return text
        offset = len(text)


# -- signing material ----------------------------------------------------------------------

SIGNING_SEED = b"nso-install sample release signing key v1"


def signing_key():
    """The fixed ECDSA P-256 private key the sample signs with (derived from SIGNING_SEED)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    secret = int.from_bytes(hashlib.sha256(SIGNING_SEED).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(secret, ec.SECP256R1())


def certificate_pem() -> bytes:
    """``tailf.cer`` of the sample: a deterministic self-signed certificate for signing_key()."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = signing_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nso-install sample (not Cisco)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Fake NSO release signing")])
    utc = _dt.timezone.utc
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x4E534F).not_valid_before(_dt.datetime(2024, 1, 1, tzinfo=utc))
            .not_valid_after(_dt.datetime(2044, 1, 1, tzinfo=utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return cert.public_bytes(serialization.Encoding.PEM)


def sign_file(path: Path) -> bytes:
    """Deterministic DER ECDSA signature over the file's bytes (streamed, SHA-256 prehashed)."""
    with open(path, "rb") as f:
        return sign_stream(f)


def sign_stream(f) -> bytes:
    """Deterministic DER ECDSA signature over what ``f`` holds from its current position to its end."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    h = hashlib.sha256()
    while chunk := f.read(CHUNK):
        h.update(chunk)
    return signing_key().sign(h.digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True))


# -- the entry point -----------------------------------------------------------------------


def artifact_name(version: str, fmt: str, os_name: str = "linux", arch: str = "x86_64") -> str:
    return f"nso-{version}" if fmt == "dir" else f"nso-{version}.{os_name}.{arch}.{fmt}"


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    tf.addfile(_tarinfo(name, Entry(name, "file", mode, data)), io.BytesIO(data))


def _unsafe(path: Path, problem: str) -> UsageError:
    return UsageError("unsafe-destination", f"sample-dist: {path} {problem}.",
                      "Give a directory that you own and that others cannot write (mktemp -d makes one), or a path "
                      "that does not exist yet; nso-install never writes through a symbolic link.")


def open_destination(dest_dir: Path) -> int:
    """``dest_dir`` (created when missing) as a directory descriptor, after refusing what its owner or
    others could use to redirect the writes: a symbolic link, a directory of another account
    (the owner could swap names for links while root writes), a directory writable by others
    that is not sticky."""
    dest_dir = Path(dest_dir)
    if dest_dir.is_symlink():
        raise _unsafe(dest_dir, "is a symbolic link")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest_dir, _DIR_OPEN)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _unsafe(dest_dir, "is a symbolic link") from None
        raise UsageError("bad-destination", f"sample-dist: cannot create or open {dest_dir}: {e.strerror or e}.",
                         "Give a writable directory.") from None
    st = os.fstat(fd)
    euid = os.geteuid()
    problem = None
    if st.st_uid != euid:
        problem = (f"belongs to uid {st.st_uid}, not to you (uid {euid}): its owner could replace what is written "
                   "there with symbolic links")
    elif st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        problem = "is writable by others (and not sticky): anyone could replace what is written there"
    if problem:
        os.close(fd)
        raise _unsafe(dest_dir, problem)
    return fd


def _make_room(dfd: int, dest_dir: Path, name: str) -> None:
    """Remove an earlier artifact ``name`` of ``dfd`` (never following a link; a link is refused)."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _unsafe(dest_dir / name, "is a symbolic link")
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def _new_file(dfd: int, name: str):
    """A binary file object for the new file ``name`` of ``dfd`` (never an existing one, never a link)."""
    return os.fdopen(os.open(name, _NEW_FILE, 0o600, dir_fd=dfd), "wb")


def make_sample_distribution(dest_dir: Path, version: str = "6.5.3", fmt: str = "tar.gz", *,
                             os_name: str = "linux", arch: str = "x86_64", padding_files: int = 0,
                             padding_bytes: int = 4096, ncs_smp: Path | None = None) -> Path:
    """Write a fake NSO ``version`` distribution in format ``fmt`` into ``dest_dir`` and return
    its path (``nso-VSN/`` or ``nso-VSN.OS.ARCH.FMT``).  An existing artifact is replaced.
    ``ncs_smp``: a Python interpreter binary to copy as ``lib/ncs/erts/bin/ncs.smp`` (see
    :func:`tree_entries`; for tests of file capabilities).

    ``dest_dir`` must not be a symbolic link and, when it exists, must belong to the caller and
    not be writable by others unless sticky (``unsafe-destination``); everything is written
    through directory descriptors, never following a link."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)+([._+-][A-Za-z0-9]+)*", version):
        raise UsageError("bad-version", f"sample-dist: --version {version!r} is not an NSO version (it names the "
                         "distribution's files and directory).",
                         "Give numbers separated by dots, optionally with a suffix: 6.5.3, 6.4.1.2, 6.5.3_250101.")
    dest_dir = Path(dest_dir)
    entries = tree_entries(version, padding_files, padding_bytes,
                           read_ncs_smp(ncs_smp) if ncs_smp is not None else None)
    top = f"nso-{version}"
    name = artifact_name(version, fmt, os_name, arch)
    dfd = open_destination(dest_dir)
    try:
        _make_room(dfd, dest_dir, name)
        if fmt == "dir":
            write_dir_at(dfd, name, entries)
            return dest_dir / name
        with _new_file(dfd, name) as f:
            if fmt == "tar":
                write_tar(f, top, entries)
            elif fmt == "tar.gz":
                write_tar_gz(f, top, entries)
            elif fmt == "installer.bin":
                _write_installer(f, version, os_name, arch, top, entries)
            else:
                _write_signed(f, version, os_name, arch, top, entries)
            f.flush()
            os.fchmod(f.fileno(), 0o755 if fmt.endswith(".bin") else 0o644)
            os.utime(f.fileno(), (MTIME, MTIME))
    finally:
        os.close(dfd)
    return dest_dir / name


def _write_installer(f, version: str, os_name: str, arch: str, top: str, entries: list[Entry]) -> None:
    f.write(_script_header(_INSTALLER_SH, version=version, os_name=os_name, arch=arch))
    write_tar_gz(f, top, entries)


def _write_signed(f, version: str, os_name: str, arch: str, top: str, entries: list[Entry]) -> None:
    installer = artifact_name(version, "installer.bin", os_name, arch)
    with tempfile.TemporaryFile() as inner:  # unlinked: nobody can reach or change it
        _write_installer(inner, version, os_name, arch, top, entries)
        inner.flush()
        size = inner.tell()
        inner.seek(0)
        signature = sign_stream(inner)
        f.write(_script_header(_SIGNED_SH, version=version, os_name=os_name, arch=arch, installer=installer))
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            _add_bytes(tf, "README.signature", _README_SIGNATURE.format(installer=installer).encode())
            _add_bytes(tf, "cisco_x509_verify_release.py", _VERIFY_PY.encode(), 0o755)
            ti = _tarinfo(installer, Entry(installer, "file", 0o755))
            ti.size = size
            inner.seek(0)
            tf.addfile(ti, inner)
            _add_bytes(tf, f"{installer}.signature", signature)
            _add_bytes(tf, "tailf.cer", certificate_pem())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nso_install.sample",
                                description="Write a fake NSO distribution and print its path.")
    p.add_argument("dest", type=Path, help="directory to write into (created when missing)")
    p.add_argument("--version", default="6.5.3", help="NSO version (default: %(default)s)")
    p.add_argument("--format", dest="fmt", default="tar.gz", choices=FORMATS, help="default: %(default)s")
    p.add_argument("--os", dest="os_name", default="linux")
    p.add_argument("--arch", default="x86_64")
    p.add_argument("--padding-files", type=int, default=0, help="extra filler files (benchmarks)")
    p.add_argument("--padding-bytes", type=int, default=4096, help="size of each filler file")
    p.add_argument("--ncs-smp", type=Path, metavar="PYTHON",
                   help="copy this Python interpreter binary as lib/ncs/erts/bin/ncs.smp (file capabilities)")
    a = p.parse_args(argv)
    try:
        path = make_sample_distribution(a.dest, a.version, a.fmt, os_name=a.os_name, arch=a.arch,
                                        padding_files=a.padding_files, padding_bytes=a.padding_bytes,
                                        ncs_smp=a.ncs_smp)
    except ValueError as e:
        p.error(str(e))
    except NsoInstallError as e:
        p.error(e.message)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
