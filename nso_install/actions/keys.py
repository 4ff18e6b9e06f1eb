"""Keys and secrets: NSO's crypto keys, the IPC access secret, the SSH host key, the TLS key.

Formats from NSO's docs (Cryptographic Keys, nso-gitbook
``administration/advanced-topics/cryptographic-keys.md``; ncs.conf(5)): ``ncs.crypto_keys`` in
the legacy one-generation format, ``AESCFB128_KEY`` 32 hex digits and ``AES256CFB128_KEY`` 64 hex
digits; DES3 keys only before NSO 6.5 (3DES was removed in 6.5).  The IPC access file holds
random printable ASCII (IPC Connection, ``administration/advanced-topics/ipc-connection.md``;
the vendor example, nso-examples ``aaa/ipc``, uses ``token_urlsafe(32)``).

Two actions: :class:`SecretFile` (a generate-once secret) and :class:`KeyPair` (a
generate-once private key with its public part).  The private part is written with its
final owner and mode before its first byte (``fsops.atomic_write``) and is never
regenerated, never read by ``check`` (apart from format validation) and never printed; its
owner and mode are repaired when they drift.  A missing public part (``.pub``,
``host.cert``) is derived again from the existing private key.

* SSH: an Ed25519 key made in memory with ``cryptography``, in OpenSSH's own private-key format
  (what ``ssh-keygen -t ed25519 -N "" -C COMMENT`` writes): no program runs as root for it and
  the key is never on disk before its final owner and mode are.  For ``--fips-install`` an
  ECDSA P-256 key from the host's ``ssh-keygen`` (the system's OpenSSL, which a FIPS host
  runs in its validated mode; the wheel's bundled OpenSSL is not), in a private temporary
  directory inside the key's own directory, read back, written in place, temporary directory
  removed; without a trusted ssh-keygen, from ``cryptography`` as well, with a warning.
* TLS: an ECDSA P-256 key and a self-signed certificate (CN and SAN = host name, plus
  ``localhost``; 10 years), made in memory with ``cryptography``.  Meant to be replaced by a
  real certificate; nso-install then leaves the replacement alone.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Callable, ClassVar

from .. import fsops
from ..errors import ApplyError, UnsafePathError
from ..facts import ABSENT, FILE, LINK, OTHER, sha256_bytes
from ..record import record
from ..secret import MASK, Secret
from ..systools import system_tool
from ..versions import at_least
from .base import Action, Attrs, change, drift_change, ok, refuse_link, require_kind

# --- NSO crypto keys and the IPC access secret ---------------------------------------------
_KEY_LINE = re.compile(r"^([A-Z0-9_]+)(\[-?\d+\])?=([0-9a-fA-F]+)$")


def crypto_key_lengths(version: str) -> dict[str, int]:
    """Key name -> number of hex digits, for the given NSO version."""
    keys = {"AESCFB128_KEY": 32, "AES256CFB128_KEY": 64}
    if not at_least(version, 6, 5):
        keys = {"DES3CBC_KEY1": 16, "DES3CBC_KEY2": 16, "DES3CBC_KEY3": 16, **keys}
    return keys


# Names NSO's external keys command may print, per release (Encryption Keys, nso-gitbook
# development/connected-topics/encryption-keys.md, its table on branches 6.1-6.7): the IVs up
# to 6.3, the DES3 keys up to 6.4.  The same page: "unsupported line content will also trigger
# an error", and then "no encryption keys will be available" (NSO does not start).
_IV_DIGITS = {"DES3CBC_IV": 16, "AESCFB128_IV": 32}


def accepted_key_names(version: str) -> dict[str, int]:
    """Every key name NSO ``version`` takes from the keys file -> hex digits (the generated
    ones, :func:`crypto_key_lengths`, and the IVs of the releases that still list them)."""
    return {**crypto_key_lengths(version), **({} if at_least(version, 6, 4) else _IV_DIGITS)}


def _unsupported_key(name: str, n: int, version: str) -> str:
    if name.startswith("DES3CBC_KEY") and at_least(version, 6, 5):
        return (f"line {n}: {name}: NSO 6.5 removed 3DES, and NSO {version} refuses a keys file with a key it does "
                "not know (no keys at all: NSO does not start). Migrate any tailf:des3-cbc-encrypted-string data "
                "first (Cryptographic Keys, \"Migrating 3DES Encrypted Values\"), keep a copy of the file for a "
                "rollback to an older NSO, then delete the DES3CBC_KEY lines")
    return (f"line {n}: {name} is not a key NSO {version} knows ({', '.join(accepted_key_names(version))}); NSO "
            "refuses a keys file with a line it does not know (no keys at all: NSO does not start). Delete the line")


def generate_crypto_keys(version: str) -> Secret:
    import secrets  # (here and below: imported when a secret is made, not on every run)

    lines = [f"{name}={secrets.token_hex(digits // 2)}" for name, digits in crypto_key_lengths(version).items()]
    return Secret("\n".join(lines) + "\n")


def check_crypto_keys(data: bytes, version: str) -> str | None:
    """A description of what is wrong with a keys file (never quoting key material), or None.

    Also what ``--crypto-keys`` imports, and what ``keys rotate`` starts from, so every line is
    checked as NSO reads it (Encryption Keys; Cryptographic Keys; ncs.conf(5) key-rotation):
    each key its number of hex digits, EXTERNAL_KEY_FORMAT=2 before the keys and then every key
    with a generation (an int16), every generation with both AES keys (mandatory in a
    key-rotation entry).  A key given twice is refused: which value NSO takes is not documented."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return "not an ASCII text file"
    digits = accepted_key_names(version)
    found: dict[tuple[str, int], tuple[int, int]] = {}  # (name, generation) -> (line, hex digits)
    rotation = False
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        # NSO's keys command (ncs_crypto_keys) passes the file to NSO as it is, and NSO takes
        # NAME=HEX lines only: "unsupported line content" is an error that leaves it without
        # keys (Encryption Keys), so no comment, CR or space is taken here either.  (Blank
        # lines are: nothing says whether NSO takes them, and this file never had a refusal.)
        if not line:
            continue
        odd = _unsupported_line(line)
        if odd:
            return f"line {n} {odd}: NSO's keys command passes every line to NSO, which takes only NAME=HEX lines " \
                   "(any other leaves NSO without its keys)"
        if line == "EXTERNAL_KEY_FORMAT=2":
            if not at_least(version, 6, 4):
                # a rollback (or an install) to a release before key rotation, after `keys rotate`
                return (f"line {n}: EXTERNAL_KEY_FORMAT=2 (key rotation) exists from NSO 6.4 on; NSO {version} "
                        "knows only the legacy NAME=HEX keys and may not read this file (nor decrypt CDB). Restore "
                        f"the keys file of a backup taken on {version}, or go back to NSO 6.4 or later")
            if found:
                return f"line {n}: EXTERNAL_KEY_FORMAT=2 comes after keys; it must be the first line"
            rotation = True
            continue
        m = _KEY_LINE.match(line)
        if not m:
            return f"line {n} is not NAME=HEX"
        name, gen, value = m.groups()
        if name == "EXTERNAL_KEY_FORMAT":
            return f"line {n}: EXTERNAL_KEY_FORMAT={value}: NSO knows format 2 only"
        if gen and not rotation:
            return f"line {n} has a key generation but EXTERNAL_KEY_FORMAT=2 is missing"
        if rotation and not gen:
            return (f"line {n}: {name} has no generation ([G]) although the file is in EXTERNAL_KEY_FORMAT=2 "
                    "(legacy keys are [-1])")
        if name not in digits:
            return _unsupported_key(name, n, version)
        g = int(gen[1:-1]) if gen else -1  # (legacy keys are generation -1)
        if not -(1 << 15) <= g < 1 << 15:
            return f"line {n}: generation {g} of {name} is outside NSO's range (an int16: -32768..32767)"
        if (name, g) in found:
            return f"line {n}: {_key_label(name, g, rotation)} appears twice (also line {found[(name, g)][0]})"
        found[(name, g)] = (n, len(value))
    generations = sorted({g for _, g in found}) or [-1]
    for g in generations:
        for name in digits:
            if (name, g) not in found:
                if name in ("AESCFB128_KEY", "AES256CFB128_KEY"):  # (DES3 keys, IVs: optional)
                    return f"generation {g} lacks {name}" if rotation else f"{name} is missing"
                continue
            count = found[(name, g)][1]
            if count != digits[name]:
                return f"{_key_label(name, g, rotation)} has {count} hex digits, expected {digits[name]}"
    return None


def _unsupported_line(line: str) -> str | None:
    """What makes a keys file's line one NSO does not take, but for its NAME=HEX content."""
    if line.lstrip().startswith("#"):
        return "is a comment"
    if "\r" in line:
        return "ends with a carriage return (a file saved with Windows line ends: dos2unix converts it)"
    if line != line.strip():
        return "has spaces around its text"
    return None


def _key_label(name: str, generation: int, rotation: bool) -> str:
    return f"{name}[{generation}]" if rotation else name


def _key_values(data: bytes) -> dict[tuple[str, int], str]:
    """(name, generation) -> value of every key line (legacy keys: generation -1)."""
    out = {}
    for line in data.decode("ascii", errors="replace").splitlines():
        m = _KEY_LINE.match(line.strip())
        if m and m.group(1) != "EXTERNAL_KEY_FORMAT":
            out[(m.group(1), int(m.group(2)[1:-1]) if m.group(2) else -1)] = m.group(3).lower()
    return out


def rotated_from(later: bytes, earlier: bytes) -> bool:
    """Whether ``later`` holds every key of ``earlier`` and more: ``earlier`` after ``nso-install
    keys rotate`` added generations (which keeps every older key with its value, legacy keys as
    generation -1).  An installed file later than the one imported: a playbook that imports the
    keys it first installed with, after a rotation; an imported file later than the installed
    one: the rotated file of another HA node."""
    old, now = _key_values(earlier), _key_values(later)
    return bool(old) and len(now) > len(old) and all(now.get(k) == v for k, v in old.items())


def generate_ipc_secret() -> Secret:
    import secrets

    return Secret(secrets.token_urlsafe(32) + "\n")


def check_ipc_secret(data: bytes) -> str | None:
    text = data.strip()
    if len(text) < 16:
        return "shorter than 16 characters"
    if not all(0x21 <= b <= 0x7E for b in text):
        return "contains characters that are not printable ASCII"
    return None


SSH_ED25519 = "ssh_host_ed25519_key"
SSH_ECDSA = "ssh_host_ecdsa_key"
TLS_VALID_DAYS = 3650


def host_name() -> str:
    return os.uname().nodename or "localhost"  # (gethostname, without importing socket on every run)


# --- SSH ----------------------------------------------------------------------------------

def _ssh_keygen():
    """ssh-keygen from the system directories, or None when it is missing or could have been
    placed by another account (see :mod:`nso_install.systools`): the key is then made with
    ``cryptography``."""
    return system_tool("ssh-keygen")


def generate_ssh_key(key_dir: Path, fips: bool, comment: str) -> tuple[Secret, bytes]:
    """A new SSH host key -> (private key in OpenSSH format, public line).  ssh-keygen only for
    FIPS (the host's validated module), in a private temporary directory inside ``key_dir`` (the
    key's own directory) that is removed again; else in memory (no process to start, nothing on
    disk, no plumbum to import: about 0.1 s of a fresh install)."""
    keygen = _ssh_keygen() if fips else None
    if keygen is not None:
        from plumbum.commands.processes import ProcessExecutionError

        work = key_dir / f"{fsops.TMP_MARK}keygen.{os.urandom(4).hex()}"
        os.mkdir(work, 0o700)
        try:
            key = work / "key"
            try:
                keygen("-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", comment, "-f", str(key))
            except ProcessExecutionError as e:
                raise ApplyError("ssh-keygen-failed", f"ssh-keygen failed ({(e.stderr or '').strip()}).",
                                 "Check the OpenSSH client installation.") from None
            private = Secret(key.read_bytes())
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _check_ssh_key_type(private, fips)
        # The public line is derived from the private key, not taken from key.pub on trust.
        return private, derive_ssh_public(private, comment)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    priv = ec.generate_private_key(ec.SECP256R1()) if fips else ed25519.Ed25519PrivateKey.generate()
    data = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                              serialization.NoEncryption())
    return Secret(data), ssh_public_line(priv.public_key(), comment)


def _load_ssh_private(private: Secret, error: ApplyError):
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_ssh_private_key(private.reveal(), password=None)
    except (ValueError, TypeError):
        raise error from None


def _check_ssh_key_type(private: Secret, fips: bool) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key = _load_ssh_private(private, ApplyError("ssh-keygen-failed", "ssh-keygen wrote a key nso-install cannot read.",
                                                "Check the OpenSSH client installation."))
    want = ec.EllipticCurvePrivateKey if fips else ed25519.Ed25519PrivateKey
    if not isinstance(key, want):
        raise ApplyError("ssh-keygen-failed", f"ssh-keygen wrote a {type(key).__name__}, not the requested "
                         f"{'ECDSA P-256 (FIPS)' if fips else 'Ed25519'} key.", "Check the OpenSSH client installation.")


def ssh_public_line(pub, comment: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + \
        f" {comment}\n".encode()


def derive_ssh_public(private: Secret, comment: str) -> bytes:
    key = _load_ssh_private(private, ApplyError("unreadable-key", "the existing SSH host key cannot be read.",
                                                "Restore its public part by hand (ssh-keygen -y -f KEY > KEY.pub), or move the key "
                                                "away (keep a backup) to get a new pair."))
    return ssh_public_line(key.public_key(), comment)


# --- TLS ----------------------------------------------------------------------------------

def self_signed_cert(key, name: str, days: int = TLS_VALID_DAYS) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(name)] + ([x509.DNSName("localhost")] if name != "localhost" else [])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_tls(name: str) -> tuple[Secret, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return Secret(pem), self_signed_cert(key, name)


def derive_tls_cert(private: Secret, name: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(private.reveal(), password=None)
    except (ValueError, TypeError) as e:
        raise ApplyError("unreadable-key", f"the existing TLS key cannot be read ({type(e).__name__}).",
                         "Provide the certificate for it by hand, or move the key away to get a new pair.") from None
    return self_signed_cert(key, name)


# --- the actions ---------------------------------------------------------------------------

# CDB's encrypted strings need the keys: never "move it away", a new generation beside the old ones
ROTATE_KEYS = "rotate them (nso-install keys rotate, NSO 6.4+; docs/operations.md, \"Rotating the encryption keys\")"
RENEW = "move it away (keep a copy while anything encrypted with it matters) and re-run: nso-install makes a new one"


def exposure(attrs: Attrs, facts, fact, path: str, renew: str) -> str | None:
    """A warning when an existing secret could have been read or replaced by accounts it is not
    meant for (any account: o+r or o+w; the members of a group it is not meant for: g+r or g+w;
    another owner, who may chmod it at will): fixing its owner and mode now does not take back
    what they may have copied, so it should be renewed."""
    if facts.target.unprivileged:
        return None  # (a staging root an ordinary user made: every file is theirs)
    uid = attrs.ids(facts)[0] if attrs.owner else os.geteuid()  # (a local install: whoever runs it)
    who = []
    if fact.mode & 0o006:
        who.append(f"every account (mode {fact.mode:04o})")
    # (a keys file 0640 root:ncsoper: every operator could read the keys; the group was put right
    # silently. Root's group is root's; a local install names no group to judge by)
    if fact.mode & 0o060 and attrs.group and fact.gid not in (0, attrs.ids(facts)[1]):
        who.append(f"the members of group {facts.accounts.group_name(fact.gid)} (mode {fact.mode:04o})")
    if fact.uid not in (0, uid):
        who.append(f"its owner {facts.accounts.user_name(fact.uid)}")
    if not who:
        return None
    return (f"{path} was open to {' and '.join(who)}: only its owner and mode are put right (its content is "
            f"kept), so treat it as known to others and {renew}.")


def refuse_early(facts, *paths: str) -> None:
    """Before the run changes anything (``engine.preflight``): a link, a special file or a file
    with a second name (hard link) at a secret's path is refused now.  Found only when the
    secret's turn came, it stopped the run half way: ``current`` already switched and ncs.conf
    rendered for the new version, or (a container's start) the keys generated and the rest of
    the config volume not (found by review).  Root's only, as for a config file (``ConfFile``):
    another account's may be moved aside by a hand-over first."""
    for path in paths:
        fact = facts.path(path)
        if fact.uid != 0 and not facts.target.unprivileged:
            continue
        root = str(facts.target.root) if facts.target.staged else None
        if fact.kind in (LINK, OTHER):
            require_kind(refuse_link(fact, root=root), FILE)
        elif fact.kind == FILE and (fact.nlink or 1) > 1:
            facts.read(path)  # (refused there: hard-linked)


@record
class SecretFile(Action):
    """A generate-once secret (keys, access secrets).  Created with its final owner and mode
    before the first byte; never regenerated; its mode and owner are repaired if they drift,
    its content never is.  ``generate`` returns a :class:`Secret`; ``imported`` (HA nodes must
    share keys) is used instead when given and must match an existing file."""

    path: str
    attrs: Attrs
    generate: Callable[[], Secret]
    reason: str = ""
    validate: Callable[[bytes], str | None] | None = None  # problem description or None
    imported: Secret | None = None
    renew: str = RENEW  # how to replace it when it may have been exposed
    # (existing, imported) -> the existing file is a later state of the imported one: kept
    rotated_from: Callable[[bytes, bytes], bool] | None = None
    kind: ClassVar[str] = "secret"
    warns_before: ClassVar[bool] = True  # (found open to others: still worth saying once fixed)

    def check(self, facts, ctx):
        fact = self._fact(facts, FILE)
        if fact.kind == ABSENT:
            src = "import" if self.imported is not None else "generate"
            return change(f"{src} ({self.attrs.shown()})", diff=f"+ {MASK} content")
        warning = None
        if self._extends(facts):
            # (HA: keys rotate on one node, then its file given to the others, as NSO's key
            # rotation asks: every key this node has stays, so nothing it encrypted is lost)
            return change("add the imported file's newer key generations (every existing key kept; reload the "
                          "keys in NSO afterwards)", diff=f"~ {MASK} content (key generations added)")
        if self.imported is not None and facts.sha256(self.path) != sha256_bytes(self.imported.reveal()):
            if self.rotated_from is not None and self.rotated_from(facts.read(self.path) or b"",
                                                                   self.imported.reveal()):
                # (refused, the run stopped on every re-run after a rotation, and the hint to
                # move the file away would have lost the keys CDB is encrypted with now)
                warning = (f"{self.path} holds the imported keys and newer generations (nso-install keys rotate "
                           "since): kept. The file given to import is an older copy: import this host's file "
                           "instead (it extends the other nodes' too), or leave the import out.")
            else:
                raise UnsafePathError(
                    "secret-mismatch",
                    f"{self.path} exists and differs from the file given to import; nso-install never replaces "
                    "existing keys.",
                    "If the imported keys are the right ones and nothing NSO encrypted with the existing ones "
                    "matters (a node that never ran), move the existing file away and re-run; otherwise import "
                    "this host's file on the other nodes instead. Keep a copy of both: CDB's encrypted values "
                    "cannot be read without the keys they were encrypted with.")
        if self.validate is not None:
            problem = self.validate(facts.read(self.path) or b"")
            if problem:
                warning = " ".join(w for w in (warning, f"{self.path}: {problem}; left as is (nso-install never "
                                               "rewrites existing secrets).") if w)
        drift = self.attrs.drift(facts, fact)
        if drift:
            exposed = exposure(self.attrs, facts, fact, self.path, self.renew)
            warning = " ".join(w for w in (warning, exposed) if w) or None
            return drift_change(drift, " (content kept)", warning=warning)
        return ok("present; content kept, owner and mode as desired", warning=warning)

    def _extends(self, facts) -> bool:
        """Whether the imported file holds every key of the existing one and more: the same
        keys after ``keys rotate`` on another node."""
        if self.imported is None or self.rotated_from is None or facts.path(self.path).kind != FILE:
            return False
        existing = facts.read(self.path) or b""
        return sha256_bytes(existing) != sha256_bytes(self.imported.reveal()) and \
            self.rotated_from(self.imported.reveal(), existing)

    def preflight(self, facts, ctx) -> None:
        refuse_early(facts, self.path)

    def apply(self, facts, ctx, outcome):
        host = ctx.target.host(self.path)

        def create(uid, gid):
            value = self.imported if self.imported is not None else self.generate()
            fsops.atomic_write(host, value.reveal(), self.attrs.mode, uid, gid, self.path)
        if self._extends(facts):
            create(*self.attrs.resolve(facts, self.path))  # (a new file renamed over it: final attrs first)
            return
        self.attrs.create_or_fix(facts, host, self.path, create)


@record
class KeysFileRead(Action):
    """The keys file NSO's own keys command reads (``crypto.argument``), or the IPC access secret
    NSO and its clients read (``ipc.access_file``, with the access check on), where it is not the
    file nso-install generates.  Checks only: a missing one is a warning on every run (NSO does
    not start without its keys; its access check has no secret to check), never a change: what
    belongs there is the administrator's (a mounted secret, a file they keep elsewhere), and
    nso-install's generated file is not it."""

    path: str
    generated: str
    reason: str = ""
    missing: str = ""  # the warning while ``path`` does not exist (what NSO lacks, how to fix it)
    kind: ClassVar[str] = "keysfile"
    fs: ClassVar[bool] = False

    def check(self, facts, ctx):
        if facts.path(self.path).kind == ABSENT:
            return ok("missing", warning=self.missing)
        return ok(f"present (read here, not {self.generated})")

    def apply(self, facts, ctx, outcome):  # never called: check never asks for a change
        return None


@record
class KeyPair(Action):
    """A generate-once private key (``path``) with its public part (``pub_path``)."""

    path: str
    pub_path: str
    attrs: Attrs
    pub_attrs: Attrs
    generate: Callable[[Path], tuple[Secret, bytes]]  # the key's directory -> (private, public)
    derive: Callable[[Secret], bytes]  # public part from the existing private key
    reason: str = ""
    # what a new key would be made with that the operator must know (None: nothing), said when
    # the key is to be generated
    generated_with: Callable[[], str | None] | None = None
    # the suffix of a set-aside copy an earlier action of the plan renames back (HostKeyAside)
    put_back: str | None = None
    kind: ClassVar[str] = "keypair"
    warns_before: ClassVar[bool] = True  # (a .pub replaced, a key found open to others: said once done)

    def check(self, facts, ctx):
        fact = self._fact(facts, FILE)
        pub = require_kind(refuse_link(facts.path(self.pub_path)), FILE)
        if fact.kind == ABSENT and self.put_back:
            # put back before this action runs: the check said "generate key" (for a new host key
            # SSH clients would take for an impostor's) where the run kept the one they know
            aside = require_kind(refuse_link(facts.path(self.path + self.put_back)), FILE)
            if aside.kind == FILE:
                fact = aside
                if pub.kind == ABSENT:  # (its .pub comes back with it, unless one is there)
                    pub = require_kind(refuse_link(facts.path(self.pub_path + self.put_back)), FILE)
        if fact.kind == ABSENT:
            warning = None
            if pub.kind == FILE:
                warning = f"{self.pub_path} exists without its private key; it is replaced by the new pair's."
            made_with = self.generated_with() if self.generated_with is not None else None
            warning = " ".join(w for w in (warning, made_with) if w) or None
            # (the public part is named: the TLS key's is host.cert, not a .pub)
            return change(f"generate key ({self.attrs.shown()}) and its public part "
                          f"({PurePosixPath(self.pub_path).name})", diff=f"+ {MASK} content",
                          warning=warning)
        notes = self.attrs.drift(facts, fact)
        if pub.kind == ABSENT:
            notes.append(f"derive missing {self.pub_path} from the existing key")
        else:
            notes += [f"{self.pub_path}: {d}" for d in self.pub_attrs.drift(facts, pub)]
        if notes:
            return drift_change(notes, " (key content kept)",
                                warning=exposure(self.attrs, facts, fact, self.path, "move the key away and re-run "
                                                 "for a new pair (clients that pinned it must learn the new one)"))
        return ok("present; key kept, owner and mode as desired")

    def preflight(self, facts, ctx) -> None:
        refuse_early(facts, self.path, self.pub_path)

    def apply(self, facts, ctx, outcome):
        host = ctx.target.host(self.path)
        pub_host = ctx.target.host(self.pub_path)
        fact = facts.path(self.path)
        if fact.kind == ABSENT:
            uid, gid = self.attrs.resolve(facts, self.path)
            puid, pgid = self.pub_attrs.resolve(facts, self.pub_path)
            private, public = self.generate(host.parent)
            fsops.atomic_write(host, private.reveal(), self.attrs.mode, uid, gid, self.path)
            fsops.atomic_write(pub_host, public, self.pub_attrs.mode, puid, pgid, self.pub_path)
            return None
        if self.attrs.drift(facts, fact):
            self.attrs.apply(facts, host, self.path)
        pub = facts.path(self.pub_path)
        if pub.kind == ABSENT:
            puid, pgid = self.pub_attrs.resolve(facts, self.pub_path)
            public = self._derive(facts)
            fsops.atomic_write(pub_host, public, self.pub_attrs.mode, puid, pgid, self.pub_path)
        elif self.pub_attrs.drift(facts, pub):
            self.pub_attrs.apply(facts, pub_host, self.pub_path)


    def _derive(self, facts) -> bytes:
        """The missing public part, from the existing key; a key that cannot be read is named,
        with where its public part goes (derive knows the key's content, not its place)."""
        try:
            return self.derive(Secret(facts.read(self.path) or b""))
        except ApplyError as e:
            if e.reference != "unreadable-key":
                raise
            raise ApplyError(e.reference, f"{self.path}: {e.message} Its public part {self.pub_path} is missing and "
                             "is derived from it.", (e.hint or "").replace("KEY", self.path)) from None


def ssh_host_key(ssh_dir: str, attrs: Attrs, pub_attrs: Attrs, fips: bool = False) -> KeyPair:
    name = SSH_ECDSA if fips else SSH_ED25519
    comment = f"nso@{host_name()}"
    return KeyPair(f"{ssh_dir}/{name}", f"{ssh_dir}/{name}.pub", attrs, pub_attrs,
                   lambda key_dir: generate_ssh_key(key_dir, fips, comment),
                   lambda private: derive_ssh_public(private, comment),
                   f"SSH host key of NSO's SSH server ({'ECDSA P-256, FIPS' if fips else 'Ed25519'}; generated once)",
                   generated_with=_fips_keygen_missing if fips else None, put_back=None if fips else NON_FIPS)


def _fips_keygen_missing() -> str | None:
    """A FIPS host key made without the host's ssh-keygen (missing, or placed where another
    account could have written it) comes from the Python package's own OpenSSL, not the host's
    validated module: it was done silently."""
    if _ssh_keygen() is not None:
        return None
    return ("--fips-install: no trusted ssh-keygen (root's, in /usr/bin, /bin, /usr/sbin or /sbin, none of it "
            "writable by others): the ECDSA host key is made with the cryptography package's own OpenSSL, not the "
            "host's FIPS-validated module. Install the OpenSSH client, remove the new key pair and re-run, if the "
            "key must come from the validated module.")


NON_FIPS = ".non-fips"  # the suffix of a host key set aside while FIPS is on


@record
class HostKeyAside(Action):
    """The Ed25519 SSH host key pair (``path`` and its .pub) while FIPS is on (``fips``): NSO's
    guidance says Ed25519 is not FIPS-approved and must not be used, so the pair is renamed to
    ``NAME.non-fips`` (and ``NAME.pub.non-fips``) in the same directory, where NSO's SSH server,
    which reads host keys under their documented file names (ncs.conf(5), ssh-server-key-dir),
    no longer finds it.  Renamed back when FIPS is off again (planned before the pair's own
    action: the key SSH clients know comes back, rather than a new one they would take for an
    impostor).  A pair found under both names is left, with a warning; never overwritten, never
    removed."""

    path: str
    fips: bool
    reason: str = "the Ed25519 host key is not FIPS-approved (set aside while FIPS is on)"
    kind: ClassVar[str] = "keyaside"
    fs: ClassVar[bool] = False  # (renames within the key directory, which its own action makes)

    def _names(self) -> list[tuple[str, str]]:
        """[(from, to)] for the private key, then its .pub, in this direction."""
        pairs = [(self.path, self.path + NON_FIPS), (self.path + ".pub", self.path + ".pub" + NON_FIPS)]
        return pairs if self.fips else [(b, a) for a, b in pairs]

    def _moves(self, facts) -> tuple[list[tuple[str, str]], list[str]]:
        """([(from, to)] to rename, [names left because the other name is taken]): the pair moves
        with its private key, and not at all when that cannot move."""
        moves, both = [], []
        for i, (src, dst) in enumerate(self._names()):
            if require_kind(refuse_link(facts.path(src)), FILE).kind == ABSENT:
                if i == 0:
                    return [], []
                continue
            if require_kind(refuse_link(facts.path(dst)), FILE).kind != ABSENT:
                both.append(src)
                if i == 0:
                    return [], both
                continue
            moves.append((src, dst))
        return moves, both

    def check(self, facts, ctx):
        moves, both = self._moves(facts)
        warning = (f"{', '.join(both)}: a file of that name{NON_FIPS if self.fips else ''} exists too; both are left "
                   "as they are: remove the one you do not want, then re-run.") if both else None
        if not moves:
            return ok("no Ed25519 host key to set aside" if self.fips else "no set-aside host key to put back",
                      warning=warning)
        what = ("set aside (Ed25519 is not FIPS-approved; NSO reads host keys by file name and no longer finds it; "
                "turning FIPS off puts it back)" if self.fips else "put back (FIPS is off; the key SSH clients know)")
        return change(what, diff="\n".join(f"{a} -> {b}" for a, b in moves), warning=warning)

    def apply(self, facts, ctx, outcome):
        for src, dst in self._moves(facts)[0]:
            fsops.rename_aside(ctx.target.host(src), os.path.basename(dst))
        return None


def host_key_aside(ssh_dir: str, fips: bool) -> HostKeyAside:
    return HostKeyAside(f"{ssh_dir}/{SSH_ED25519}", fips)


def tls_key_cert(cert_dir: str, attrs: Attrs, cert_attrs: Attrs) -> KeyPair:
    name = host_name()
    return KeyPair(f"{cert_dir}/host.key", f"{cert_dir}/host.cert", attrs, cert_attrs,
                   lambda key_dir: generate_tls(name), lambda private: derive_tls_cert(private, name),
                   "Web UI/RESTCONF TLS key and self-signed certificate (generated once; replace with a real one)")
