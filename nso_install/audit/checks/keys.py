"""``NSO-KEY``, ``NSO-TLS``: the format and strength of NSO's keys, and its TLS certificate.

Key material is read (as root) to judge it and never shown: evidence names the file, the key
type and size, the number of keys and what is wrong ("AES256CFB128_KEY has 60 hex digits"),
nothing of the value.
"""

from __future__ import annotations

import datetime
import hashlib
import re

from ...actions.keys import check_crypto_keys, check_ipc_secret
from ...conf.variables import DUMMY_AES256CFB128_KEY, DUMMY_AESCFB128_KEY
from ...facts import FILE, LINK
from ...replay import valid_until
from ...secret import Secret
from ..model import failed, passed, skipped, verdict, warned
from ..registry import check
from .permissions import private_host_keys

KEYS = "NSO key management (G-KEYS): AESCFB128_KEY 32 and AES256CFB128_KEY 64 hex " \
       "digits, random (openssl rand -hex), never the documented sample or dummy keys"
EXPIRY_WARNING = datetime.timedelta(days=30)
MIN_RSA = 2048
MIN_EC = 256


def _read(ctx, path: str) -> Secret | None:
    fact = ctx.facts.path(path)
    return Secret(ctx.facts.read(path) or b"") if fact.kind == FILE else None


def _not_read(ctx, path: str, see: str | None):
    """Why the secret at ``path`` is not judged (a skip naming the check that reports it), or
    None: missing; a symbolic link or not a regular file, or with a second name (hard link),
    which nso-install never reads (the check of its permissions, ``see``, fails on it: an error
    here as well said the same thing twice)."""
    fact = ctx.facts.path(path)
    see = f" (see {see})" if see else ""
    if fact.kind == LINK:
        return skipped(f"{path} is a symbolic link (to {fact.link}), and is not read{see}")
    if fact.exists and fact.kind != FILE:
        return skipped(f"{path} is not a regular file ({fact.kind}), and is not read{see}")
    if fact.kind != FILE:
        return skipped(f"{path} does not exist{see}")
    if (fact.nlink or 1) > 1:
        return skipped(f"{path} has {fact.nlink} names (hard links), and is not read{see}")
    return None


# What may be shown of a line of a keys file: a key's name (AESCFB128_KEY, AESCFB128_KEY[2]).
# Anything else before a "=" may be key material (a base64 value ends in "=").
_KEY_NAME = re.compile(r"[A-Z][A-Z0-9_]*(?:\[-?\d{1,6}\])?", re.ASCII)


def _names(text: str) -> tuple[list[str], int]:
    """The key names of a keys file's lines, and how many other non-comment lines it has."""
    names, other = set(), 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split("=", 1)[0].strip()
        if "=" in line and _KEY_NAME.fullmatch(name):
            names.add(name)
        else:
            other += 1
    return sorted(names), other


def _weak_keys(text: str) -> list[str]:
    """Names of keys that are NSO's dummy keys or have almost no variety (never the values)."""
    weak = []
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        name = name.strip()
        if not sep or not _KEY_NAME.fullmatch(name) or name == "EXTERNAL_KEY_FORMAT":
            continue
        v = value.strip().lower()
        if v in (DUMMY_AESCFB128_KEY, DUMMY_AES256CFB128_KEY):
            weak.append(f"{name} is NSO's well-known dummy key")
        elif len(set(v)) < 8:
            weak.append(f"{name} uses fewer than 8 distinct hex digits (not random)")
    return weak


@check("NSO-KEY-001", "Encryption keys are well-formed, random and not NSO's dummy keys", "critical",
       "Generate new keys and rotate to them: nso-install keys rotate (then the NSO-side steps it prints); "
       "a malformed file: restore it from a backup.", KEYS)
def crypto_keys_format(ctx):
    if ctx.conf.root is not None and not ctx.conf.value("crypto.command"):
        texts = [f"{n}={ctx.conf.element(f'/ncs-config/encrypted-strings/{n[:-4]}/key')[0] or ''}"
                 for n in ("AESCFB128_KEY", "AES256CFB128_KEY")]
        weak = _weak_keys("\n".join(t for t in texts if not t.endswith("=")))
        return verdict(weak, "inline keys are not the dummy keys", "the inline keys in ncs.conf are weak",
                       ["keys are written inline in ncs.conf (see NSO-SD-001)"], [ctx.conf_path])
    path = ctx.conf_file("crypto.argument", f"{ctx.spec.config_dir}/ncs.crypto_keys")
    if (skip := _not_read(ctx, path, "NSO-PERM-002")) is not None:
        return skip
    data = _read(ctx, path)
    problem = check_crypto_keys(data.reveal(), ctx.version or "6.5")
    text = data.reveal().decode("ascii", errors="replace")
    weak = _weak_keys(text)
    names, other = _names(text)
    evidence = [f"{path}: {len(names)} entr{'y' if len(names) == 1 else 'ies'} ({', '.join(names)})"
                + (f", {other} other line(s) (not shown: they may hold key material)" if other else "")]
    return verdict(([problem] if problem else []) + weak, "well-formed keys of the right length",
                   "the encryption keys file is malformed or its keys are weak", evidence, [path])


@check("NSO-KEY-002", "IPC access secret is long and printable", "high",
       "Replace it with a new random secret (python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), "
       "keeping its owner and mode, then restart NSO and its clients.",
       "NSO IPC guide (G-IPC): a random printable-ASCII string (the vendor example uses "
       "secrets.token_urlsafe(32))")
def ipc_secret_format(ctx):
    path = ctx.conf_file("ipc.access_file", f"{ctx.spec.config_dir}/ipc_access")
    if (skip := _not_read(ctx, path, "NSO-PERM-003")) is not None:
        return skip
    data = _read(ctx, path)
    problem = check_ipc_secret(data.reveal())
    return verdict([f"{path}: {problem}"] if problem else [], "long enough and printable",
                   "the IPC access secret is weak", [f"{path}: {len(data.reveal().strip())} characters"], [path])


def _describe(key) -> tuple[str, list[str]]:
    """("Ed25519" / "RSA 2048"...), problems of strength."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519", []
    if isinstance(key, ed448.Ed448PrivateKey):
        return "Ed448", []
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return f"ECDSA {key.curve.name}", [f"an elliptic curve of {size} bits"] if size < MIN_EC else []
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}", [f"RSA of {key.key_size} bits (at least {MIN_RSA})"] if key.key_size < MIN_RSA \
            else []
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA", ["DSA (ssh-dss), which is broken and disabled by OpenSSH"]
    return type(key).__name__, []


def _load_private(data: bytes):
    """(key, problem): an OpenSSH or PEM private key without a passphrase."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    for load in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            return load(data, password=None), None
        except TypeError:
            return None, "protected by a passphrase (NSO cannot read it)"
        except (ValueError, UnsupportedAlgorithm):
            continue
    return None, "not a private key in OpenSSH or PEM format"


def _public_bytes(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_digest(public_key) -> str:
    return hashlib.sha256(_public_bytes(public_key)).hexdigest()


# What the checks below read of a key or certificate file, derived from its bytes alone (plain
# JSON values: install's audit keeps them between runs, see nso_install/audit/memo.py).

def _private_facts(data: bytes) -> dict:
    """{"problem"} or {"what", "weak", "ed25519", "kind" (host key algorithm), "public" (digest)}."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key, problem = _load_private(data)
    if key is None:
        return {"problem": problem}
    what, weak = _describe(key)
    ed = isinstance(key, ed25519.Ed25519PrivateKey)
    kind = "ssh-ed25519" if ed else f"ecdsa-sha2-nistp{key.curve.key_size}" \
        if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"
    return {"what": what, "weak": list(weak), "ed25519": ed, "kind": kind, "public": _public_digest(key.public_key())}


def _ssh_public_facts(data: bytes) -> dict:
    """{"public": digest} of an OpenSSH public key, or {"problem"}."""
    from cryptography.hazmat.primitives import serialization

    try:
        have = serialization.load_ssh_public_key(data.strip())
    except (ValueError, TypeError):
        return {"problem": "not an OpenSSH public key"}
    return {"public": _public_digest(have)}


def _cert_facts(data: bytes) -> dict:
    """{"problem"} or {"start", "end" (ISO, UTC), "subject", "issuer", "weak_hash" (None or the
    name of a SHA-1/MD5 signature hash), "self_signed", "public" (digest)}."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            return {"problem": "not a PEM or DER certificate"}
    algo = cert.signature_hash_algorithm
    try:
        public = _public_digest(cert.public_key())
    except Exception:  # noqa: BLE001 - a key type cryptography cannot load: NSO-TLS-002 says so
        public = None
    return {"start": cert.not_valid_before_utc.isoformat(), "end": cert.not_valid_after_utc.isoformat(),
            "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "weak_hash": algo.name if isinstance(algo, (hashes.SHA1, hashes.MD5)) else None,
            "self_signed": cert.issuer == cert.subject, "public": public}


@check("NSO-KEY-003", "SSH host keys are readable, strong, match their .pub and cover the offered algorithms",
       "high", "Generate a new host key of the offered type (ssh-keygen -t ed25519 -N '' -f CONFIG_DIR/ssh/"
       "ssh_host_ed25519_key; ECDSA P-256 in FIPS mode) with the owner and mode of NSO-PERM-004, or remove the "
       "bad one and re-run nso-install install.",
       "NSO Secure Deployment guidance (6.5): Ed25519 host keys (ECDSA P-256 in "
       "FIPS mode); weak key types: our inference")
def host_key_strength(ctx):
    kdir = ctx.conf_file("aaa.ssh_server_key_dir", f"{ctx.spec.config_dir}/ssh")
    keys = private_host_keys(ctx, kdir)
    if not keys:
        return skipped(f"no SSH host key in {kdir} (see NSO-PERM-004)")
    problems, evidence, kinds, unread = [], [], set(), []
    for path in keys:
        # a link or a file with other names is NSO-PERM-004's failure; reading it here crashed the
        # whole audit (a link) or said the same thing again as an error (hard links)
        if (skip := _not_read(ctx, path, "NSO-PERM-004")) is not None:
            unread.append(skip.summary)
            continue
        key = ctx.memo.derived("private-key", _read(ctx, path).reveal(), _private_facts)
        if "problem" in key:
            problems.append(f"{path}: {key['problem']}")
            continue
        evidence.append(f"{path}: {key['what']}")
        problems += [f"{path}: {w}" for w in key["weak"]]
        if ctx.intent.fips and key["ed25519"]:
            problems.append(f"{path}: Ed25519 is not FIPS-approved")
        kinds.add(key["kind"])
        pub = ctx.facts.path(path + ".pub")
        if pub.kind == FILE:
            have = ctx.memo.derived("ssh-public-key", ctx.facts.read(path + ".pub") or b"", _ssh_public_facts)
            if "problem" in have:
                problems.append(f"{path}.pub is not an OpenSSH public key")
            elif have["public"] != key["public"]:
                problems.append(f"{path}.pub is not the public part of {path}")
    offered = {a.strip() for a in (ctx.conf.value("ssh.server_host_key") or "").split(",") if a.strip()}
    usable = {a for a in offered if a in kinds or (a.startswith(("rsa-", "ssh-rsa")) and "rsa" in kinds)}
    if unread and not (evidence or problems):
        return skipped(unread[0], unread, keys)
    if offered and not usable and not unread:  # (an unread key may be of the offered type)
        problems.append(f"ncs.conf offers {', '.join(sorted(offered))}, but there is no host key of that type")
    return verdict(problems, f"{len(evidence)} host key(s): {', '.join(e.split(': ', 1)[1] for e in evidence)}",
                   "a host key is unreadable, weak or does not match", evidence + unread, keys)


def _cert_paths(ctx) -> tuple[str, str]:
    return (ctx.conf_file("webui.ssl.cert_file", f"{ctx.spec.config_dir}/ssl/cert/host.cert"),
            ctx.conf_file("webui.ssl.key_file", f"{ctx.spec.config_dir}/ssl/cert/host.key"))


def _load_cert(ctx, path: str) -> tuple[dict | None, str | None]:
    """(the certificate's facts, None) or (None, problem)."""
    cert = ctx.memo.derived("certificate", ctx.facts.read(path) or b"", _cert_facts)
    if "problem" in cert:
        return None, f"{path} is {cert['problem']}"
    return cert, None


SECRETS_ONLY = "an image built with --skip-secrets gets it with --secrets-only"
TLS_DOC = ("NSO deployment guide (G-DEP): HTTPS only, with your own certificate in "
           "webui/transport/ssl/{cert-file,key-file}")


@check("NSO-TLS-001", "The HTTPS certificate is valid now, for more than 30 days, and not signed with SHA-1/MD5",
       "high", "Install a current certificate from your CA at webui.ssl.cert_file (and its key at "
       "webui.ssl.key_file), then restart NSO.", TLS_DOC)
def tls_cert(ctx):
    cert_path, _ = _cert_paths(ctx)
    if ctx.facts.path(cert_path).exists and (skip := _not_read(ctx, cert_path, None)) is not None:
        return skip  # there, not missing: "NSO cannot start" was wrong
    if ctx.facts.path(cert_path).kind != FILE:
        if not ctx.conf.on("/ncs-config/webui/transport/ssl/enabled"):
            return skipped(f"HTTPS is off and {cert_path} does not exist")
        # (as a missing keys file, NSO-PERM-002: NSO cannot start, which is no exposure; an image
        # built with --skip-secrets leaves it out on purpose, and its install's notes said it failed)
        return warned(f"HTTPS is on but its certificate {cert_path} is missing (NSO cannot start; {SECRETS_ONLY})",
                      [ctx.shown(ctx.facts.path(cert_path))], [cert_path])
    cert, problem = _load_cert(ctx, cert_path)
    if cert is None:
        return failed(problem, [ctx.shown(ctx.facts.path(cert_path))], [cert_path])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = datetime.datetime.fromisoformat(cert["start"]), datetime.datetime.fromisoformat(cert["end"])
    flips = [t for t in (start, end - EXPIRY_WARNING, end) if t > now]  # where this verdict changes
    if flips:
        valid_until(min(flips).timestamp())
    evidence = [f"{cert_path}: subject {cert['subject']}, issuer {cert['issuer']}, "
                f"valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"]
    problems = []
    if now < start:
        problems.append(f"not valid before {start:%Y-%m-%d %H:%M} UTC")
    if now > end:
        problems.append(f"expired on {end:%Y-%m-%d}")
    if cert["weak_hash"]:
        problems.append(f"signed with {cert['weak_hash']}")
    self_signed = cert["self_signed"]
    if self_signed:
        evidence.append("self-signed: browsers and clients cannot verify it; replace it with one from your CA")
    if problems:
        return failed("the HTTPS certificate is not valid", problems + evidence, [cert_path])
    if end - now < EXPIRY_WARNING:
        return warned(f"the HTTPS certificate expires on {end:%Y-%m-%d}", evidence, [cert_path])
    return passed(f"valid until {end:%Y-%m-%d}" + (" (self-signed)" if self_signed else ""), evidence, [cert_path])


@check("NSO-TLS-002", "The HTTPS key matches the certificate and is strong (RSA >= 2048, EC >= 256 bits)", "high",
       "Install the key that belongs to the certificate (or a new key and certificate pair) at the paths of "
       "webui.ssl.key_file and webui.ssl.cert_file.", TLS_DOC)
def tls_key_match(ctx):
    cert_path, key_path = _cert_paths(ctx)
    for path, see in ((key_path, "NSO-PERM-005"), (cert_path, None)):  # there, not missing: "NSO cannot start" was wrong
        if ctx.facts.path(path).exists and (skip := _not_read(ctx, path, see)) is not None:
            return skip
    if ctx.facts.path(key_path).kind != FILE or ctx.facts.path(cert_path).kind != FILE:
        if not ctx.conf.on("/ncs-config/webui/transport/ssl/enabled"):
            return skipped("HTTPS is off and its key or certificate does not exist")
        return warned(f"HTTPS is on but its key or certificate is missing (NSO cannot start; {SECRETS_ONLY})",
                      [ctx.shown(ctx.facts.path(key_path)), ctx.shown(ctx.facts.path(cert_path))], [key_path, cert_path])
    key = ctx.memo.derived("private-key", _read(ctx, key_path).reveal(), _private_facts)
    if "problem" in key:
        return failed(f"{key_path}: {key['problem']}", [ctx.shown(ctx.facts.path(key_path))], [key_path])
    what = key["what"]
    problems = [f"{key_path}: {w}" for w in key["weak"]]
    cert, cproblem = _load_cert(ctx, cert_path)
    if cert is None:
        problems.append(cproblem)
    elif cert["public"] is None:
        problems.append(f"{cert_path}: its public key is of a type that cannot be read")
    elif cert["public"] != key["public"]:
        problems.append(f"{key_path} is not the key of {cert_path}")
    return verdict(problems, f"{what} key matching its certificate", "the HTTPS key does not fit",
                   [f"{key_path}: {what}"], [key_path, cert_path])

