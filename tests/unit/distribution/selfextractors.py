"""Self-extracting files shaped the way other generators shape them (not nso_install.sample's),
signed bundles laid out as NSO's docs describe a signed.bin, and a small PKI to sign them.

Every script here is a working shell self-extractor: ``sh FILE DIR`` unpacks its payload into
DIR (the signed bundles: into the current directory), so the tests can check that nso-install
reads exactly what the script itself would unpack.
"""

from __future__ import annotations

import bz2
import datetime
import gzip
import io
import lzma
import tarfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nso_install import sample

VERSION = "6.5.3"
TOP = f"nso-{VERSION}"
INSTALLER = f"nso-{VERSION}.linux.x86_64.installer.bin"
SIGNED = f"nso-{VERSION}.linux.x86_64.signed.bin"


# -- payloads ----------------------------------------------------------------------------------

def tree_tar() -> bytes:
    """The sample NSO tree (nso-VSN/...) as a plain tar."""
    buf = io.BytesIO()
    sample.write_tar(buf, TOP, sample.tree_entries(VERSION))
    return buf.getvalue()


def compress(data: bytes, comp: str) -> bytes:
    return {"tar": lambda d: d, "gz": lambda d: gzip.compress(d, mtime=0), "bz2": bz2.compress,
            "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ)}[comp](data)


def fixed_point(template: str, payload: bytes = b"", **kw) -> bytes:
    """``template`` formatted with ``{offset}`` (its own length in bytes), ``{lines}`` (its own
    number of lines) and ``{first}`` (the line after it) filled in until they describe the
    result; then ``payload`` appended."""
    offset = lines = 0
    for _ in range(10):
        text = template.format(offset=offset, lines=lines, first=lines + 1, **kw).encode()
        if (len(text), text.count(b"\n")) == (offset, lines):
            return text + payload
        offset, lines = len(text), text.count(b"\n")
    raise AssertionError("the script header does not settle")


# -- installer.bin shapes ----------------------------------------------------------------------
# Each: (template, payload compression).  ``sh FILE DIR`` unpacks nso-VSN/ into DIR.

MAKESELF = ("""#!/bin/sh
# This script was generated the makeself way: the header is SKIP lines, the payload follows.
SKIP="{lines}"
label="Fake NSO {version}"
usage() {{
    cat <<EOH
Usage: $0 [TARGETDIR]
  unpacks $label; the payload starts after line $SKIP of $0
EOH
}}
[ "$1" = "--help" ] && {{ usage; exit 0; }}
target=${{1:-.}}
offset=`head -n "$SKIP" "$0" | wc -c | tr -d " "`
mkdir -p "$target" || exit 1
dd if="$0" bs="$offset" skip=1 2>/dev/null | gzip -cd | tar -xf - -C "$target" || exit 1
exit 0
""", "gz")

AWK_XZ = ("""#!/bin/bash
# Self-extracting archive, awk marker style: the xz payload follows the marker line.
set -e
DEST="${{1:?usage: $0 DIR}}"
ARCHIVE=$(awk '/^__ARCHIVE__/ {{print NR + 1; exit 0; }}' "$0")
mkdir -p "$DEST"
tail -n+$ARCHIVE "$0" | xz -dc | tar -xf - -C "$DEST"
exit 0
__ARCHIVE__
""", "xz")

DD_BZ2 = ("""#!/bin/sh
# dd style: the bzip2 payload starts at byte PAYLOAD_START, right after this script.
PAYLOAD_START={offset}
dest=${{1:-.}}
mkdir -p "$dest" && dd if="$0" bs=1 skip=$PAYLOAD_START 2>/dev/null | bzip2 -dc | tar -xf - -C "$dest"
exit $?
""", "bz2")

SED_TAR = ("""#!/bin/sh
d="$1"; [ -n "$d" ] || {{ echo "usage: $0 DIR" >&2; exit 2; }}
mkdir -p "$d"
sed '1,/^__PAYLOAD_FOLLOWS__$/d' "$0" | tar -xf - -C "$d"
exit 0
__PAYLOAD_FOLLOWS__
""", "tar")

GREP_VAR_GZ = ("""#!/bin/sh
# The marker is named through a variable; grep finds its line, tail takes what follows.
MARKER=__DATA_BEGINS__
SELF=$(readlink -f "$0")
line=$(grep -an "^$MARKER\\$" "$SELF" | head -n 1 | cut -d: -f1)
tail -n +$((line + 1)) "$SELF" | gunzip -c | tar -xf - -C "${{1:-.}}"
exit 0
__DATA_BEGINS__
""", "gz")

TAIL_N_TAR = ("""#!/bin/sh
# tail -n +N with the line number written in: the plain tar starts on line {first}.
cat "$0" | tail -n +{first} | tar -xf - -C "${{1:-.}}"
exit 0
""", "tar")

SHAPES = {"makeself": MAKESELF, "awk-xz": AWK_XZ, "dd-bz2": DD_BZ2, "sed-tar": SED_TAR, "grep-var-gz": GREP_VAR_GZ,
          "tail-n-tar": TAIL_N_TAR}


def installer(shape: str, payload: bytes | None = None) -> bytes:
    """An installer.bin of ``shape`` around the sample tree (or around ``payload``, uncompressed)."""
    template, comp = SHAPES[shape]
    return fixed_point(template, compress(tree_tar() if payload is None else payload, comp), version=VERSION)


# -- signed bundles ----------------------------------------------------------------------------

BUNDLE_SH = """#!/bin/sh
# Signed archive (test shape, after NSO's docs): unpacks the installer.bin, its signature,
# tailf.cer, README.signature and cisco_x509_verify_release.py*, then verifies the signature.
echo "Unpacking..."
sed -n '/^{marker}$/,$p' "$0" | tail -n +2 | {untar} || exit 1
if [ "$1" = "--skip-verification" ]; then
    exit 0
fi
echo "Verifying signature..."
python3 cisco_x509_verify_release.py3 -e tailf.cer -i {installer} -s {installer}.signature -v dgst --algo sha512
exit $?
{marker}
"""


def sign(key, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA512())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def bundle_tar(members: list[tuple[str, bytes]], comp: str = "tar") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o755 if name.endswith((".bin", ".py", ".py3")) else 0o644, 0
            tf.addfile(ti, io.BytesIO(data))
    return compress(buf.getvalue(), comp)


def bundle_members(inst: bytes, key, tailf: bytes, *, extra: list[tuple[str, bytes]] = ()) -> list:
    """The members NSO's docs list for a signed.bin, plus a bundled package and ``extra``."""
    package = gzip.compress(b"not really a package\n", mtime=0)
    return [("README.signature", b"How to verify (test bundle).\n"),
            ("cisco_x509_verify_release.py", b"# stand-in\n"), ("cisco_x509_verify_release.py3", b"# stand-in\n"),
            (INSTALLER, inst), (INSTALLER + ".signature", sign(key, inst)), ("tailf.cer", tailf),
            (f"ncs-{VERSION}-cisco-ios-6.100.tar.gz", package),
            (f"ncs-{VERSION}-cisco-ios-6.100.tar.gz.signature", sign(key, package)), *extra]


def signed_bin(members: list[tuple[str, bytes]], *, marker: str = "__BUNDLE_BELOW__", comp: str = "tar") -> bytes:
    untar = "tar -xf -" if comp == "tar" else "gzip -dc | tar -xf -"
    return BUNDLE_SH.format(marker=marker, installer=INSTALLER, untar=untar).encode() + bundle_tar(members, comp)


# -- a small PKI -------------------------------------------------------------------------------

def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def _usage(**on) -> x509.KeyUsage:
    flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    flags.update(on)
    return x509.KeyUsage(**flags)


def cert(subject: str, key, issuer=None, *, ca: bool | None = False, path_length: int | None = None,
         key_usage: x509.KeyUsage | None = None, eku: list | None = None, not_before=None, not_after=None,
         serial: int | None = None) -> x509.Certificate:
    """A certificate for ``key`` named CN=``subject``, signed by ``issuer`` = (certificate, key)
    or self-signed; ``ca=None`` leaves basicConstraints out."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
         .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
         .not_valid_before(not_before or now() - datetime.timedelta(days=1))
         .not_valid_after(not_after or now() + datetime.timedelta(days=365)))
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    if key_usage is not None:
        b = b.add_extension(key_usage, critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)


class Chain:
    """root -> intermediate -> leaf, shaped like Cisco's release signing (3 tiers); ``*_kw``
    override the arguments of :func:`cert` for one of them."""

    def __init__(self, *, leaf_key=None, root_kw=None, inter_kw=None, leaf_kw=None):
        self.root_key, self.inter_key = ec_key(), ec_key()
        self.leaf_key = leaf_key or ec_key()
        ca_usage = _usage(key_cert_sign=True, crl_sign=True)
        self.root = cert("Test Root CA M2", self.root_key,
                         **{"ca": True, "key_usage": ca_usage, **(root_kw or {})})
        self.inter = cert("Test Innerspace SubCA", self.inter_key, (self.root, self.root_key),
                          **{"ca": True, "path_length": 0, "key_usage": ca_usage, **(inter_kw or {})})
        self.leaf = cert("Test NSO release signing", self.leaf_key, (self.inter, self.inter_key),
                         **{"ca": False, "key_usage": _usage(digital_signature=True),
                            "eku": [ExtendedKeyUsageOID.CODE_SIGNING], **(leaf_kw or {})})


CODE_SIGNING, SERVER_AUTH = ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.SERVER_AUTH
usage = _usage
