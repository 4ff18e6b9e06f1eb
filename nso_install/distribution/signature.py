"""signed.bin verification: the private copy, the signature over it, and the trusted signer.

Separate because it is the one place that trusts a key: the installer is copied into a
private unlinked file, the signature is checked over that copy (and only the copy is read
afterwards), and with ``--trusted-cert`` the signer must be pinned.  ``cryptography`` is
imported only when a signature is actually checked.
"""

from __future__ import annotations

import errno
import hashlib
import re
import tempfile
from typing import Sequence

from ..errors import DistributionError
from .common import _GET_AGAIN, CHUNK
from ..replay import valid_until
from .tarstream import _Window

# --trusted-cert files: a certificate (or a short PEM bundle) is a few KiB; more is not a certificate.
MAX_TRUSTED_CERT = 1 << 20


def _private_copy(src, where: str, size: int | None = None):
    """What ``src`` (anything with ``read``) holds, copied into an unlinked 0600 temp file
    (nobody else can reach or change it).  ``size``: what it declares; refused before the first
    byte when the temporary directory's file system cannot hold it (an NSO installer is ~1 GiB,
    a container's /tmp often less: filling it up only to fail would starve the host's other
    users of it meanwhile)."""
    if size is not None:
        from .writer import amount, free_space

        tmp = tempfile.gettempdir()
        free = free_space(tmp)
        if free is not None and size > free[0]:
            raise DistributionError("no-space", f"{where}: the installer inside needs {amount(size)} in the "
                                                f"temporary directory {tmp} to be verified, which has "
                                                f"{amount(free[0])} free; nothing was copied.",
                                    "Point TMPDIR to a file system with room (e.g. TMPDIR=/var/tmp) and re-run.")
    copy = tempfile.TemporaryFile()
    try:
        while chunk := src.read(CHUNK):
            copy.write(chunk)
        copy.flush()
    except OSError as e:
        copy.close()
        raise DistributionError("no-space" if e.errno == errno.ENOSPC else "unreadable-distribution",
                                f"{where}: cannot copy the installer for verification: {e.strerror or e}.",
                                "Free space in the temporary directory (TMPDIR) and re-run.") from None
    return copy


# Certificates: at most this many in one PEM file, and this many links from tailf.cer to a trusted one.
MAX_CERTS_PER_FILE = 64
MAX_CHAIN = 8


def load_certs(data: bytes) -> list:
    """Every X.509 certificate in ``data``: one PEM file holding one or several, or one DER
    certificate.  ValueError (with the reason) when there is none or too many."""
    import warnings

    from cryptography import x509

    with warnings.catch_warnings():
        # cryptography warns (to stderr, with a line of its source) of a certificate that breaks
        # RFC 5280 but still parses, as a system CA bundle given by mistake holds: what is parsed
        # is judged here, and the operator gets one message, not a library's warning
        warnings.simplefilter("ignore")
        if b"-----BEGIN" in data:
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError:
                raise ValueError(_not_pem_certs(data)) from None
            if len(certs) > MAX_CERTS_PER_FILE:
                raise ValueError(f"{len(certs)} certificates in one file, more than {MAX_CERTS_PER_FILE}: a CA "
                                 "bundle, not the certificates to pin")
            return certs
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:  # (the parser's own words, "ParseError { kind: ShortData ... }", tell an operator nothing)
            raise ValueError("the file is empty, not a certificate" if not data else
                             "neither a PEM certificate (-----BEGIN CERTIFICATE-----) nor a DER X.509 "
                             "certificate") from None


def _not_pem_certs(data: bytes) -> str:
    """Why PEM ``data`` holds no readable certificate: the kinds of block it holds instead (their
    labels, never their content), or a damaged CERTIFICATE block."""
    labels = sorted({m.decode() for m in re.findall(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----", data)})
    if "CERTIFICATE" in labels:
        return "a PEM CERTIFICATE block in it is damaged or truncated, not a readable X.509 certificate"
    held = f" (it holds {' and '.join(labels)})" if labels else ""
    return f"a PEM file without a certificate{held}, where a PEM (-----BEGIN CERTIFICATE-----) or DER X.509 " \
           "certificate is expected"


def _now():
    import datetime

    return datetime.datetime.now(datetime.timezone.utc)


def _label(cert) -> str:
    return f"{cert.subject.rfc4514_string() or '(empty subject)'} (serial {cert.serial_number:x})"


def _ext(cert, cls):
    """The value of ``cert``'s extension of type ``cls``, or None when it has none."""
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as e:  # extensions that do not parse: nothing about this certificate can be trusted
        raise DistributionError("certificate-chain-invalid", f"certificate {_label(cert)} has malformed "
                                                             f"extensions ({e}).", _GET_AGAIN) from None


def _issued_by(child, parent) -> bool:
    """``parent`` names and signed ``child`` (issuer name and signature both checked)."""
    try:
        child.verify_directly_issued_by(parent)
        return True
    except Exception:  # another issuer name, a bad signature, an unsupported key: not its issuer
        return False


def _untrusted(where: str, leaf, reach: str) -> None:
    raise DistributionError("untrusted-signer",
                            f"{where}: the installer is signed by {_label(leaf)}, which {reach}; none of these "
                            "is a trusted certificate (--trusted-cert) or issued by one.",
                            "Check that the file comes from Cisco; give Cisco's root CA and its intermediate CA "
                            "(crcam2.cer and innerspace.cer, from Cisco) with --trusted-cert, in one PEM file or "
                            "with the option repeated: issuers are taken only from --trusted-cert, never from the "
                            "signed.bin.")


def _check_signer(where: str, certificate: bytes, trusted_certs: Sequence[bytes]) -> str:
    """The archive's tailf.cer must chain to a trusted certificate (``--trusted-cert``: the signing
    certificate itself, an intermediate or the root; a file may hold several), through
    intermediates from ``trusted_certs`` only.  Never through certificates shipped in the
    signed.bin: a root such as Cisco's signs many sub-CAs (devices, licensing...), and one of
    them shipped beside a tailf.cer it issued would make any of its end-entity keys a release
    signer; Cisco's own verifier likewise takes its SubCA (innerspace.cer) from Cisco, pinned by
    digest, never from the archive.  Every link is checked: the issuer's signature,
    the issuer being a CA (basicConstraints CA=true, pathLen, keyCertSign when keyUsage is
    present), each certificate valid now, and tailf.cer fit for code signing (keyUsage
    digitalSignature, extendedKeyUsage codeSigning when present).  Anyone can re-sign an
    installer with a tailf.cer of their own, so only a pinned chain proves where it came from.
    Returns the chain, described for the run's notes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def der(cert) -> bytes:
        return cert.public_bytes(Encoding.DER)

    try:
        leaf = load_certs(certificate)[0]
    except ValueError as e:
        raise DistributionError("signature-invalid", f"{where}: tailf.cer is not a usable X.509 certificate ({e}).",
                                _GET_AGAIN) from None
    trusted = []
    for i, data in enumerate(trusted_certs, 1):
        try:
            trusted += load_certs(data)
        except ValueError as e:
            raise DistributionError("signature-invalid", f"{where}: --trusted-cert file #{i} holds no readable "
                                                         f"certificate ({e}).",
                                    "Give --trusted-cert PEM or DER X.509 certificates (a PEM file may hold "
                                    "several: the root and its intermediates).") from None
    pinned = {der(c) for c in trusted}
    pool = {der(c): c for c in trusted}

    def role(i: int, cert) -> str:
        origin = "given with --trusted-cert" if der(cert) in pinned else "from the signed.bin"
        kind = "the signing certificate tailf.cer" if i == 0 else (
            "root CA" if cert.subject == cert.issuer else "intermediate CA")
        return f"{kind} {_label(cert)}, {origin}"

    def failed(i: int, cert, problem: str, hint: str, reference: str = "certificate-chain-invalid"):
        return DistributionError(reference, f"{where}: certificate chain check failed: {role(i, cert)}: {problem}.",
                                 hint)

    # Build the chain upwards: each issuer found by name and signature, pinned certificates first.
    path, seen, forged = [leaf], {der(leaf)}, None
    while len(path) <= MAX_CHAIN:
        cur = path[-1]
        if cur.subject == cur.issuer and _issued_by(cur, cur):
            break  # a self-signed root
        named = [c for d, c in pool.items() if c.subject == cur.issuer and d not in seen]
        issuers = sorted((c for c in named if _issued_by(cur, c)), key=lambda c: der(c) not in pinned)
        if not issuers:
            if named and forged is None:
                forged = (len(path) - 1, cur, named[0])
            break
        path.append(issuers[0])
        seen.add(der(issuers[0]))
    # Pinned means this very certificate (its DER), never just its key: a certificate forged
    # around a pinned key would bring its own dates and usage, unchecked.
    tops = [i for i, c in enumerate(path) if der(c) in pinned]
    if not tops:
        if forged is not None:
            i, cert, issuer = forged
            raise failed(i, cert, f"names {issuer.subject.rfc4514_string()} as its issuer, but its signature does not "
                                  "verify with the key of the certificate of that name at hand (another CA of the "
                                  "same name, a forgery, or damage)",
                         "Check that the file comes from Cisco; give the right certificates with --trusted-cert.",
                         "untrusted-signer")
        top = path[-1]
        _untrusted(where, leaf, f"chains up to {_label(top)}" if len(path) > 1
                   else f"is issued by {top.issuer.rfc4514_string()}")
    path = path[:max(tops) + 1]
    now = _now()
    # The verdict holds until a certificate of the path becomes valid or expires (a replayed
    # run, nso_install.replay, stops replaying then).
    flips = [t for c in path for t in (c.not_valid_before_utc, c.not_valid_after_utc) if t > now]
    if flips:
        valid_until(min(flips).timestamp())
    for i, cert in enumerate(path):
        if now < cert.not_valid_before_utc:
            raise failed(i, cert, f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (now "
                                  f"{now:%Y-%m-%d %H:%M} UTC)", "Check the host's clock.")
        if now > cert.not_valid_after_utc:
            raise failed(i, cert, f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                         "Get a current release, or current CA certificates, from Cisco (or check the host's "
                         "clock).  Without --trusted-cert the signature is still checked, for integrity only.")
        if i == 0:
            usage = _ext(cert, x509.KeyUsage)
            if usage is not None and not usage.digital_signature:
                raise failed(i, cert, "its keyUsage does not allow digitalSignature, so it may not sign releases",
                             "This is not a release-signing certificate; check that the file comes from Cisco.")
            eku = _ext(cert, x509.ExtendedKeyUsage)
            if eku is not None and not {ExtendedKeyUsageOID.CODE_SIGNING,
                                        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku):
                raise failed(i, cert, "its extendedKeyUsage does not include codeSigning, so it may not sign "
                                      "releases",
                             "This is not a release-signing certificate; check that the file comes from Cisco.")
            continue
        child = path[i - 1]
        if not _issued_by(child, cert):  # found by the same test; re-checked here, where it matters
            raise failed(i - 1, child, f"its signature does not verify with the key of {_label(cert)}",
                         "Check that the file comes from Cisco.")
        bc = _ext(cert, x509.BasicConstraints)
        if bc is None or not bc.ca:
            raise failed(i, cert, f"it issued {_label(child)} but is not a CA (basicConstraints CA=true is "
                                  "missing)", "Give the CA certificates of the chain with --trusted-cert, not an "
                                              "end-entity certificate.")
        below = i - 1  # intermediate CAs between it and tailf.cer
        if bc.path_length is not None and below > bc.path_length:
            raise failed(i, cert, f"its basicConstraints pathLen {bc.path_length} allows {bc.path_length} "
                                  f"intermediate CA(s) below it, but the chain has {below}",
                         "The chain is not one its CA allows; check that the file comes from Cisco.")
        usage = _ext(cert, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            raise failed(i, cert, "its keyUsage does not allow keyCertSign, so it may not issue certificates",
                         "Check that the file comes from Cisco.")
    return " -> ".join(_label(c) + (" (trusted)" if der(c) in pinned else "") for c in path)


def _verify(where: str, name: str, data: _Window, signature: bytes, certificate: bytes) -> None:
    """Check ``signature`` over ``data`` with the public key of ``certificate`` (streamed for
    RSA and ECDSA, whose hash is tried among SHA-256/384/512)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    bad = DistributionError("signature-invalid",
                            f"{where}: the signature of {name} does not verify with the public key in tailf.cer; "
                            "the installer was modified or damaged.",
                            "Download the signed.bin again from Cisco.  Only if you trust where this file came "
                            "from, pass --skip-verification.")
    try:
        key = load_certs(certificate)[0].public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise DistributionError("signature-invalid", f"{where}: tailf.cer is not a usable X.509 certificate ({e}).",
                                _GET_AGAIN) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        # Ed25519 signs the whole message, not a digest: the copy is mapped, not read into memory
        # (it was read into a bytearray, then copied once more: 2 GiB for a 1 GiB installer that a
        # 1 MiB signed.bin inflates to, before --trusted-cert's chain was even looked at)
        import mmap

        if data._length > 1 << 30:
            raise DistributionError("signature-invalid", f"{where}: {name} is too big for an Ed25519 check.",
                                    "Pass --skip-verification and verify it by hand.")
        with mmap.mmap(data._f.fileno(), 0, access=mmap.ACCESS_READ) if data._length else _Empty() as whole:
            view = memoryview(whole)[data._start:data._start + data._length]
            try:
                key.verify(signature, view)
                return
            except InvalidSignature:
                raise bad from None
            finally:
                view.release()
    algos = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    digests = {n: hashlib.new(n) for n in algos}
    data.seek(0)
    buf = bytearray(CHUNK)
    while n := data.readinto(buf):
        for h in digests.values():
            h.update(buf[:n])
    for hname, algo in algos.items():
        digest = digests[hname].digest()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(utils.Prehashed(algo)))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(algo))
            else:
                raise DistributionError("signature-invalid", f"{where}: tailf.cer holds an unsupported key type.",
                                        "Pass --skip-verification and verify the installer by hand.")
            return
        except InvalidSignature:
            continue
    raise bad


class _Empty(bytes):
    """An empty message, as a context manager (an empty file cannot be mapped)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
