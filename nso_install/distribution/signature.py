"""signed.bin verification: the private copy, the signature over it, and the trusted signer.

Separate because it is the one place that trusts a key: the installer is copied into a
private unlinked file, the signature is checked over that copy (and only the copy is read
afterwards), and with ``--trusted-cert`` the signer must be pinned.  ``cryptography`` is
imported only when a signature is actually checked.
"""

from __future__ import annotations

import errno
import hashlib
import tarfile
import tempfile
from typing import BinaryIO, Sequence

from ..errors import DistributionError
from .common import _GET_AGAIN, CHUNK
from .tarstream import _Window

# --trusted-cert files: a certificate (or a short PEM bundle) is a few KiB; more is not a certificate.
MAX_TRUSTED_CERT = 1 << 20


def _private_copy(src: _Window, where: str):
    """``src`` copied into an unlinked 0600 temp file (nobody else can reach or change it)."""
    copy = tempfile.TemporaryFile()
    try:
        src.seek(0)
        buf = bytearray(CHUNK)
        while n := src.readinto(buf):
            copy.write(buf[:n])
        copy.flush()
    except OSError as e:
        copy.close()
        raise DistributionError("no-space" if e.errno == errno.ENOSPC else "unreadable-distribution",
                                f"{where}: cannot copy the installer for verification: {e.strerror or e}.",
                                "Free space in the temporary directory (TMPDIR) and re-run.") from None
    return copy


def _read_member(raw: BinaryIO, payload: int, ti: tarfile.TarInfo, limit: int) -> bytes:
    if ti.size > limit:
        raise DistributionError("signature-invalid", f"{ti.name} is implausibly large ({ti.size} bytes).", _GET_AGAIN)
    raw.seek(payload + ti.offset_data)
    data = raw.read(ti.size)
    if len(data) != ti.size:
        raise DistributionError("corrupt-archive", f"{ti.name} is truncated.", _GET_AGAIN)
    return data


def _load_cert(data: bytes):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return x509.load_der_x509_certificate(data)


def _check_signer(where: str, certificate: bytes, trusted_certs: Sequence[bytes]) -> None:
    """The archive's tailf.cer must be one of the trusted certificates (same public key) or be
    issued directly by one of them: anyone can re-sign an installer with a tailf.cer of
    their own, so only a pinned certificate proves where it came from."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def spki(cert) -> bytes:
        return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    try:
        cert = _load_cert(certificate)
        trusted = [_load_cert(t) for t in trusted_certs]
    except ValueError as e:
        raise DistributionError("signature-invalid", f"{where}: a certificate cannot be read ({e}).",
                                "Give --trusted-cert a PEM or DER X.509 certificate.") from None
    for ca in trusted:
        if spki(ca) == spki(cert):
            return
        try:
            cert.verify_directly_issued_by(ca)
            return
        except Exception:  # wrong issuer, bad signature, unsupported key: not this one
            continue
    raise DistributionError("untrusted-signer",
                            f"{where}: the installer is signed by {cert.subject.rfc4514_string()}, which is neither a "
                            "trusted certificate nor issued by one.",
                            "Check that the file comes from Cisco; give the right certificate with --trusted-cert.")


def _verify(where: str, name: str, data: _Window, signature: bytes, certificate: bytes) -> None:
    """Check ``signature`` over ``data`` with the public key of ``certificate`` (streamed for
    RSA and ECDSA, whose hash is tried among SHA-256/384/512)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    bad = DistributionError("signature-invalid",
                            f"{where}: the signature of {name} does not verify with the public key in tailf.cer; "
                            "the installer was modified or damaged.",
                            "Download the signed.bin again from Cisco.  Only if you trust where this file came "
                            "from, pass --skip-verification.")
    try:
        try:
            cert = x509.load_pem_x509_certificate(certificate)
        except ValueError:
            cert = x509.load_der_x509_certificate(certificate)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise DistributionError("signature-invalid", f"{where}: tailf.cer is not a usable X.509 certificate ({e}).",
                                _GET_AGAIN) from None
    algos = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    digests = {n: hashlib.new(n) for n in algos}
    whole = bytearray() if isinstance(key, ed25519.Ed25519PublicKey) else None
    data.seek(0)
    buf = bytearray(CHUNK)
    while n := data.readinto(buf):
        for h in digests.values():
            h.update(buf[:n])
        if whole is not None:
            if len(whole) + n > 1 << 30:
                raise DistributionError("signature-invalid", f"{where}: {name} is too big for an Ed25519 check.",
                                        "Pass --skip-verification and verify it by hand.")
            whole += buf[:n]
    for hname, algo in algos.items():
        digest = digests[hname].digest()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(utils.Prehashed(algo)))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(algo))
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, bytes(whole))
            else:
                raise DistributionError("signature-invalid", f"{where}: tailf.cer holds an unsupported key type.",
                                        "Pass --skip-verification and verify the installer by hand.")
            return
        except InvalidSignature:
            continue
    raise bad
