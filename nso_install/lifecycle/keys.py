"""``nso-install keys rotate``: add a new generation of NSO's crypto keys.

NSO 6.4+ reads ``ncs.crypto_keys`` (through ``${NCS_DIR}/bin/ncs_crypto_keys``) either in the
legacy one-generation format (``AESCFB128_KEY=HEX``...) or in the rotation format
(Cryptographic Keys, nso-gitbook ``administration/advanced-topics/cryptographic-keys.md``;
ncs.conf(5), ``encrypted-strings/key-rotation``)::

    EXTERNAL_KEY_FORMAT=2
    AESCFB128_KEY[-1]=...      legacy keys, when the file switches formats (mandatory)
    AESCFB128_KEY[0]=...
    AES256CFB128_KEY[0]=...

A rotation rewrites the file in the rotation format: ``EXTERNAL_KEY_FORMAT=2`` first, every
existing key kept with its value (legacy keys as generation ``-1``), plus generation
G = the highest one + 1 (0 after legacy keys) with fresh random keys for the names NSO uses
for the active version (DES3 keys only before 6.5, and only when the file already has them).
Older generations all stay: NSO persists which generation is active and refuses a key set
without it, and nso-install cannot know offline which one that is.

The file is rewritten atomically, with its current mode (never open to every account: the
bits for others are dropped), owner and group, under the run lock (a warning names another
group that reads it, and a directory other accounts may write);
key material is never printed, logged, put in an exception or in the history (the generation
number is).  The generation added is recorded in the state file (``keys.pending_generation``):
a second ``keys rotate`` while it is still the newest generation and not confirmed with
``--applied`` adds nothing (``--new`` adds another one).  It is announced (``keys.writing``: the
generation and a digest of the new file) before the file is written, so that a re-run after a
kill between the two recognises its own write instead of adding a second generation (also
with ``--new``: the write recognised is the generation it asked for).

What nso-install cannot do is the NSO side: reload the keys, apply the new generation in
NSO (``key-rotation apply-new-keys``), on every HA node; :func:`nso_steps` says how.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import time
from dataclasses import field
from pathlib import Path

from .. import fsops
from ..actions.keys import check_crypto_keys, crypto_key_lengths
from ..errors import ApplyError, NsoInstallError, UnsafePathError, UsageError
from ..facts import ABSENT, FILE, LINK, Facts
from ..record import record
from ..secret import Secret
from ..versions import at_least
from .installation import Installation

FORMAT_LINE = "EXTERNAL_KEY_FORMAT=2"
MAX_KEYS_FILE = 64 << 10  # a keys file is a few hundred bytes, even after many rotations
MAX_GENERATION = (1 << 15) - 1  # NSO's generation is an int16

_KEY = re.compile(r"^([A-Z0-9_]+)(?:\[(-?\d+)\])?=([0-9a-fA-F]+)$")


class KeysFileError(NsoInstallError):
    """The existing keys file is not in a form nso-install can rotate."""


# --- the file format -------------------------------------------------------------------------

@record
class KeysFile:
    """A parsed ``ncs.crypto_keys``.  ``lines`` are the file's key lines, in order (the format
    line and blank lines left out; NSO takes no other lines); ``keys`` maps (name, generation) to the hex value
    (legacy keys have generation -1).  Never printed: :meth:`__repr__` shows names and
    generations only."""

    legacy: bool
    lines: list[tuple[str, str, int]] = field(default_factory=list)  # (text, name, gen)
    keys: dict[tuple[str, int], str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"KeysFile(legacy={self.legacy}, generations={self.generations})"

    @property
    def generations(self) -> list[int]:
        return sorted({g for _, g in self.keys})

    @property
    def newest(self) -> int | None:
        gens = self.generations
        return gens[-1] if gens else None

    def names(self, generation: int) -> list[str]:
        return [n for n, g in self.keys if g == generation]


def parse_keys(data: bytes, version: str, shown: str) -> KeysFile:
    """Parse an existing keys file (legacy or rotation format), checked first as NSO reads it
    (:func:`check_crypto_keys`: every line, generation and key length; a key given twice).
    Errors name the line and the key, never a value."""
    problem = check_crypto_keys(data, version)
    if problem:
        raise KeysFileError("bad-crypto-keys", f"{shown} is not a valid keys file for NSO {version}: {problem}.",
                            f"Fix {shown} by hand (or restore it from a backup) first; nso-install rotates only a "
                            "valid file, since NSO cannot read its encrypted data with broken keys.")
    rows = data.decode("ascii").splitlines()
    kf = KeysFile(legacy=FORMAT_LINE not in rows)
    for line in rows:
        if not line or line == FORMAT_LINE:
            continue
        name, gen, value = _KEY.match(line).groups()  # (check_crypto_keys refused every other line)
        g = -1 if gen is None else int(gen)
        kf.keys[(name, g)] = value
        kf.lines.append((line, name, g))
    return kf


def new_key_names(kf: KeysFile, version: str) -> dict[str, int]:
    """Key name -> hex digits for a new generation: what NSO ``version`` uses; DES3 keys only
    when that version still has them (< 6.5) and the newest generation in the file has them."""
    newest = set(kf.names(kf.newest)) if kf.newest is not None else set()
    return {n: d for n, d in crypto_key_lengths(version).items() if not n.startswith("DES3") or n in newest}


def next_generation(kf: KeysFile) -> int:
    g = 0 if kf.newest is None else max(kf.newest + 1, 0)
    if g > MAX_GENERATION:
        raise KeysFileError("no-generation-left", f"the keys file already holds generation {kf.newest}, the highest "
                            "NSO allows.", "nso-install cannot renumber generations; ask Cisco support how to "
                            "continue.")
    return g


def rotated(kf: KeysFile, version: str, generation: int) -> Secret:
    """The new file: EXTERNAL_KEY_FORMAT=2, every existing line (legacy keys as [-1]), then
    ``generation`` with fresh random keys.  Checked with :func:`check_crypto_keys` and parsed
    back before it is returned."""
    out = [FORMAT_LINE]
    for text, name, g in kf.lines:
        out.append(f"{name}[-1]={kf.keys[(name, g)]}" if kf.legacy else text)
    names = new_key_names(kf, version)
    out += [f"{name}[{generation}]={secrets.token_hex(digits // 2)}" for name, digits in names.items()]
    data = ("\n".join(out) + "\n").encode("ascii")
    problem = check_crypto_keys(data, version)
    back = None
    if not problem:
        try:
            back = parse_keys(data, version, "the rotated keys")
        except KeysFileError as e:
            problem = e.message
    if problem or back is None or back.generations != sorted({*kf.generations, generation}) or \
            any(back.keys.get((n, -1 if kf.legacy else g)) != v for (n, g), v in kf.keys.items()):
        raise ApplyError("rotation-invalid", f"the rotated keys file did not check out ({problem or 'keys differ'}); "
                         "nothing was written.", "This is a bug in nso-install; report it.")
    return Secret(data)


# --- the NSO side ----------------------------------------------------------------------------

def nso_steps(inst: Installation, file: str, generation: int, converted_legacy: bool) -> list[str]:
    """What the operator does next, in order (no key material)."""
    spec = inst.spec
    init = spec.init_system
    if init == "systemd":
        reload = "systemctl reload ncs (it runs ncs --reload)"
    elif init == "sysv":
        reload = "/etc/init.d/ncs reload"
    else:
        reload = f"{spec.install_dir}/current/bin/ncs --reload (with the environment of {spec.install_dir}/current/ncsrc)"
    older = "the legacy keys, now generation -1" if converted_legacy else "the older generations"
    return [
        f"HA: copy {file} to every other node of the HA group (same content, owner and mode) before the next steps; "
        "all nodes must hold identical keys, or applying the new generation fails. Single node: nothing to do.",
        f"Reload the keys on every node: {reload}; if NSO is stopped, starting it loads them. A failing reload is "
        "only logged (developer log) and NSO keeps its old keys: check that log.",
        "Make sure the commit queue is empty (or let the action wait: wait-commit-queue SECONDS).",
        f"In the NSO CLI (on one node; it triggers the others): key-rotation get-active-generation shows the active "
        f"generation; then key-rotation apply-new-keys new-key-generation {generation} re-encrypts the data "
        f"with it (it returns new-active-key-generation {generation}; Java and Python packages restart).",
        f"Record that it is done: {inst.command('keys rotate --applied')} (the file keeps {older}).",
        f"Backups: those taken before this rotation were encrypted with {older}; keep a copy of {file} with them. "
        "Never remove the active generation from the file, nor one a backup you may restore still needs.",
    ]


# --- the command -----------------------------------------------------------------------------

@record
class RotateResult:
    """What a key rotation did or would do, and the steps left to the operator (never a key)."""
    file: str
    version: str
    generation: int | None
    status: str  # added | would-add | pending | applied | would-apply | already-applied
    changed: bool
    converted_legacy: bool = False
    check: bool = False
    mode: int | None = None
    owner: str | None = None
    names: list[str] = field(default_factory=list)
    since: str | None = None  # when the pending generation was added
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # who else reads the keys file or may replace it: said on stderr, and under -q too
    warnings: list[str] = field(default_factory=list)
    staging_root: str | None = None

    def as_dict(self) -> dict:
        return {"version": 1, "result": "keys-rotate", "file": self.file, "nso_version": self.version,
                "generation": self.generation, "status": self.status, "changed": self.changed,
                "converted_legacy": self.converted_legacy, "check": self.check,
                "mode": None if self.mode is None else f"{self.mode:04o}", "owner": self.owner,
                "key_names": self.names, "added": self.since, "steps": self.steps, "notes": self.notes,
                "warnings": self.warnings}


def keys_path(inst: Installation) -> str:
    return f"{inst.spec.config_dir}/ncs.crypto_keys"


def _check_installation(inst: Installation) -> tuple[str, str]:
    """(the active NSO version, the keys file) after refusing what cannot be rotated."""
    # (a mistyped --install-dir: "no NSO is installed under it" sent the operator to install NSO
    # there; and another install's active version would pick the key names of the recorded keys file)
    refusal = inst.not_the_recorded_dir(f"keys rotate rotates the recorded install's keys file ({keys_path(inst)}) "
                                        "for its active version")
    if refusal is not None:
        raise refusal
    active = inst.active
    if active is None:
        where = inst.spec.install_dir
        if inst.trees:
            raise UsageError("no-active-nso", f"no NSO version is active under {where} ({where}/current is "
                             f"{'dangling' if inst.dangling else 'missing'}); the keys follow the active version.",
                             f"Activate one first: {inst.command('activate VSN')} ({inst.command('status')} lists "
                             "them).")
        raise UsageError("no-nso-installed", f"no NSO is installed under {where}; there are no keys to rotate.",
                         f"Install NSO first ({inst.command('install DIST --system-install')}), or pass "
                         "--install-dir and --root for the install you mean.")
    if not at_least(active.version, 6, 4):
        raise UsageError("rotation-needs-nso-6.4", f"the active NSO is {active.version}; key rotation "
                         "(EXTERNAL_KEY_FORMAT=2, key-rotation apply-new-keys) exists from NSO 6.4 on.",
                         "Upgrade NSO to 6.4 or later first "
                         f"({inst.command('install DIST --system-install --activate')}), then rotate.")
    values = dict(inst.spec.values)
    if values.get("crypto.mechanism") == "inline":
        raise UsageError("inline-crypto-keys", f"ncs.conf ({inst.spec.config_dir}/ncs.conf) holds the keys inline "
                         "(crypto.mechanism=inline), so NSO does not read ncs.crypto_keys and a rotation there "
                         "would change nothing NSO uses.",
                         "Switch to external keys first ("
                         f"{inst.command('install DIST --system-install --set crypto.mechanism=external')}), with "
                         "ncs.crypto_keys holding the keys NSO uses now, then rotate.")
    file = keys_path(inst)
    argument = values.get("crypto.argument")
    if argument and argument not in (file, "${NCS_CONFIG_DIR}/ncs.crypto_keys"):
        raise UsageError("crypto-keys-elsewhere", f"ncs.conf makes NSO read its keys from {argument} "
                         f"(crypto.argument), not from {file}.",
                         "Rotate that file by hand, or point crypto.argument back at CONFIG_DIR/ncs.crypto_keys.")
    return active.version, file


def _check_conf(inst: Installation, version: str, file: str) -> list[str]:
    """Refuse when the ncs.conf in place does not make NSO read ``file``: the recorded options
    say what nso-install rendered, but an administrator's edit is kept (the rendering waits in
    ``.new``), and one that put the keys inline (or in a key-rotation list), or points
    external-keys elsewhere, made the rotation rewrite a file NSO never reads and print steps
    NSO then refuses.  A missing or unreadable ncs.conf is left to the recorded options.
    Returns notes: a keys command other than NSO's may or may not read ``file``."""
    from ..audit.ncsconf import NcsConf

    conf_path = f"{inst.spec.config_dir}/ncs.conf"
    try:
        raw = Facts(inst.target).read(conf_path)
    except NsoInstallError:
        return []
    if raw is None:
        return []
    conf = NcsConf.parse(raw, version, {"NCS_CONFIG_DIR": inst.spec.config_dir})
    if conf.problem:
        return []
    es = "/ncs-config/encrypted-strings"
    if conf.present(es) and not conf.present(f"{es}/external-keys"):
        raise UsageError("inline-crypto-keys", f"{conf_path} holds the keys itself (encrypted-strings without "
                         f"external-keys), so NSO does not read {file} and a rotation there would change nothing "
                         "NSO uses.", f"Rotate the keys in {conf_path} by hand (NSO's key-rotation list), or move "
                         f"them to {file} and point encrypted-strings/external-keys at it, then re-run.")
    arguments = conf.texts(f"{es}/external-keys/command-argument")
    if arguments and arguments[0] != file:
        raise UsageError("crypto-keys-elsewhere", f"{conf_path} makes NSO read its keys from {arguments[0]} "
                         f"(external-keys/command-argument), not from {file}.",
                         f"Rotate that file by hand, or point command-argument back at {file}, then re-run.")
    # NSO's ncs_crypto_keys prints the file it is given; another command (--set crypto.command,
    # or an edit) may read it, or keys from anywhere else (a vault): nso-install cannot tell
    commands = conf.texts(f"{es}/external-keys/command")
    if commands and os.path.basename(commands[0]) != "ncs_crypto_keys":
        given = f"gives it {file}" if arguments else "gives it no file (no command-argument)"
        return [f"NSO gets its keys from the command {commands[0]} (external-keys/command), not NSO's "
                f"ncs_crypto_keys; ncs.conf {given}. The rotation changes what NSO uses only if that command "
                f"prints the keys of {file}: check it before the NSO-side steps."]
    return []


def _read(inst: Installation, file: str) -> tuple[bytes, os.stat_result]:
    """The keys file's bytes and its stat, read without following a link."""
    fact = Facts(inst.target).path(file)
    if fact.kind == ABSENT:
        raise NsoInstallError("no-crypto-keys", f"{file} does not exist: there are no keys to rotate.",
                              "Restore it from a backup if NSO ran with it (NSO cannot read its encrypted data "
                              f"without those keys); on a new install, {inst.command('install DIST --system-install')} "
                              "generates it.")
    if fact.kind == LINK:
        raise UnsafePathError("symlink-refused", f"{file} is a symbolic link (to {fact.link}); nso-install never "
                              "reads keys through a link nor replaces one.",
                              "Replace the link with the real file (and find out who planted it), then re-run.")
    if fact.kind != FILE:
        raise UnsafePathError("not-a-file", f"{file} is not a regular file.", "Put the keys file there, then re-run.")
    fd = fsops.open_regular(inst.target.host(file), file)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read(MAX_KEYS_FILE + 1)
    if len(data) > MAX_KEYS_FILE:
        raise KeysFileError("crypto-keys-too-large", f"{file} is larger than {MAX_KEYS_FILE >> 10} KiB; a keys file "
                            "is a few hundred bytes.", "Find out why it is so big, fix it and re-run.")
    return data, st


def _record(state) -> dict:
    rec = state.data.get("keys")
    return rec if isinstance(rec, dict) else {}


def _pending(rec: dict) -> int | None:
    g = rec.get("pending_generation")
    return g if isinstance(g, int) and not isinstance(g, bool) else None


def _owner(inst: Installation, st: os.stat_result) -> str:
    acc = Facts(inst.target).accounts
    return f"{acc.user_name(st.st_uid)}:{acc.group_name(st.st_gid)}"


def _attr_warnings(inst: Installation, file: str, st: os.stat_result, rewritten: bool) -> list[str]:
    """What is wrong with the keys file's owner and mode (``rewritten``: a new generation is
    written, never open to every account: the bits for others are dropped)."""
    warnings = []
    mode = stat.S_IMODE(st.st_mode)
    facts = Facts(inst.target)
    acc = facts.accounts
    user = inst.spec.run_as_user
    # the groups meant to read it: root's, and the NSO account's own (0440 root:USER); another
    # group's bits stay (NSO may read it through that group), but its members get the new keys
    # as well (a file 0640 root:ncsoper was rewritten so, without a word)
    if st.st_mode & 0o060 and st.st_gid not in {0, acc.gid(user) if user else 0}:
        group = acc.group_name(st.st_gid)
        warnings.append(f"{file} is open to the members of group {group} (mode {mode:04o}); "
                     + ("the rewritten file is too, so they can read the new keys" if rewritten else "kept as it is")
                     + " (treat the older ones as known to them). nso-install install repairs owner and mode "
                     "(0600, or 0440 root:USER with --run-as-user).")
    if st.st_mode & 0o007 and rewritten:
        warnings.append(f"{file} was open to every account (mode {mode:04o}); the rewritten file is "
                     f"{mode & ~0o007:04o}, so the new keys are not (the older ones may have been copied: "
                     "treat them as known to others). nso-install install repairs owner and mode (0600, or 0440 "
                     "root:USER with --run-as-user).")
    elif st.st_mode & 0o007:
        warnings.append(f"{file} is open to other accounts (mode {mode:04o}); kept as it is. "
                     "nso-install install repairs it (0600, or 0440 root:USER with --run-as-user).")
    if st.st_uid not in (0, os.geteuid()):
        warnings.append(f"{file} belongs to uid {st.st_uid}, not root; kept as it is (that account can rewrite the keys). "
                     "nso-install install repairs it.")
    # the directory: whoever may write it may replace the file NSO reads (the new keys with it)
    parent = os.path.dirname(file)
    d = facts.path(parent)
    if d.kind != ABSENT and (d.uid not in (0, os.geteuid()) or (d.mode & 0o022 and not d.mode & stat.S_ISVTX)):
        warnings.append(f"{parent} belongs to {acc.user_name(d.uid)}:{acc.group_name(d.gid)} with mode {d.mode:04o}: "
                     f"accounts other than root may replace {os.path.basename(file)} there (with keys of their own "
                     "choosing, or none). nso-install install repairs the directory (0755 root:root).")
    return warnings


def rotate(inst: Installation, *, check: bool = False, new: bool = False, applied: bool = False,
           root: Path | None = None, lock_timeout: float = 0.0) -> RotateResult:
    """``keys rotate`` (see the module's docstring)."""
    if new and applied:
        raise UsageError("conflicting-options", "--new and --applied exclude each other.",
                         "--applied records that NSO uses the pending generation; --new adds another one.")
    version, file = _check_installation(inst)
    conf_notes = _check_conf(inst, version, file)
    target = inst.target
    if not check and not target.staged and os.geteuid() != 0:
        raise UsageError("needs-root", f"rewriting {file} and nso-install's records needs root.",
                         "Run it as root (sudo), or use --check to see what would be done.")
    if target.staged and not check and os.geteuid() == 0:
        from ..target import check_staging_root

        check_staging_root(root if root is not None else target.root, private=bool(inst.spec.run_as_user))
    staged = str(target.root) if target.staged else None
    if check:
        data, st = _read(inst, file)
        result = _decide(inst, version, file, data, st, inst.state, check=True, new=new, applied=applied,
                         staged=staged)
        result.notes += conf_notes
        return result
    from ..state import State, locked

    data, st = _read(inst, file)
    parse_keys(data, version, file)  # a bad file is refused before the lock is taken
    with locked(target, inst.state.path, True, lock_timeout):
        # the install again, under the lock: another run may just have switched the active
        # version (whose key names the new generation takes) or written the state
        inst = inst.again()
        version, file = _check_installation(inst)
        conf_notes = _check_conf(inst, version, file)
        state = State(target, inst.state.path)  # under the lock: another run may just have written it
        if state.damaged:
            raise NsoInstallError("state-damaged", f"{state.path} is damaged (not the state nso-install writes).",
                                  f"Run {inst.command('install DISTRIBUTION --system-install')} (with the "
                                  "install's options): it rewrites the state.")
        data, st = _read(inst, file)  # again, under the lock
        result = _decide(inst, version, file, data, st, state, check=False, new=new, applied=applied, staged=staged)
    result.notes += conf_notes
    return result


def _decide(inst: Installation, version: str, file: str, data: bytes, st: os.stat_result, state, *, check: bool,
            new: bool, applied: bool, staged: str | None) -> RotateResult:
    kf = parse_keys(data, version, file)
    rec, settled = _settle_write(state, _record(state), kf, data, file, check)
    pending = _pending(rec)
    mode = stat.S_IMODE(st.st_mode)
    base = dict(file=file, version=version, check=check, mode=mode, owner=_owner(inst, st), staging_root=staged)
    if applied:
        result = _applied(inst, kf, rec, pending, state, base)
        result.notes[:0] = settled
        return result
    # a write an interrupted run made and this one recognised (settled) is the generation asked
    # for, also with --new: the same command run again added a second one
    adds = not settled and not (pending is not None and pending == kf.newest and not new)
    notes = list(settled)
    base["warnings"] = _attr_warnings(inst, file, st, adds)
    if not adds:
        since = rec.get("time") if isinstance(rec.get("time"), str) else None
        converted = rec.get("converted_legacy") is True
        return RotateResult(generation=pending, status="pending", changed=False, since=since,
                            names=kf.names(pending), converted_legacy=converted,
                            steps=nso_steps(inst, file, pending, converted), notes=notes, **base)
    if pending is not None and pending != kf.newest:
        where = "is no longer in the file" if pending not in kf.generations else "is not the newest one in the file"
        notes.append(f"generation {pending}, recorded as added by nso-install and not yet applied, {where} "
                     "(the file was changed since); a new generation is added after the file's newest.")
    generation = next_generation(kf)
    content = rotated(kf, version, generation)
    names = list(new_key_names(kf, version))
    base["mode"] = mode = mode & ~0o007  # fresh keys are never written open to every account
    result = RotateResult(generation=generation, status="would-add" if check else "added", changed=True,
                          converted_legacy=kf.legacy, names=names,
                          steps=nso_steps(inst, file, generation, kf.legacy), notes=notes, **base)
    if pending is not None and pending == kf.newest:
        result.notes.append(f"generation {pending} was not recorded as applied in NSO yet; it stays in the file "
                            f"(--new), and NSO can go straight to generation {generation}.")
    if check:
        return result
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # write-ahead: the generation about to be written and a digest of the new file are saved first,
    # so that a re-run after a kill (or a failure) between the write and the record recognises its
    # own write instead of adding another generation; the digest of random keys reveals none
    state.data["keys"] = {**rec, "writing": {"generation": generation, "converted_legacy": kf.legacy, "time": now,
                                             "digest": hashlib.sha256(content.reveal()).hexdigest(),
                                             **({"new": True} if new else {})}}  # (its re-run's command)
    state.save()
    fsops.remove_stale_temps(inst.target.host(file))  # a killed rotation's half-written copy (keys)
    fsops.atomic_write(inst.target.host(file), content.reveal(), mode, st.st_uid, st.st_gid, file)
    result.since = now
    _record_added(state, rec, generation, kf.legacy, now, file, result.notes)
    return result


def _record_added(state, rec: dict, generation: int, converted: bool, when: str, file: str, notes: list[str],
                  completed: bool = False) -> None:
    """The generation written to the file, as pending (the history line first: a kill before the
    state is saved repeats the line, marked completed, rather than lose it)."""
    state.append_history({"command": "keys rotate", "file": file, "generation": generation,
                          "converted_legacy": converted, "notes": notes, **({"completed": True} if completed else {})})
    state.data["keys"] = {**{k: v for k, v in rec.items() if k in ("applied_generation", "applied_time")},
                          "pending_generation": generation, "converted_legacy": converted, "time": when}
    state.save()


def _settle_write(state, rec: dict, kf: KeysFile, data: bytes, file: str, check: bool) -> tuple[dict, list[str]]:
    """A rotation recorded ahead of its write (``writing``) that did not finish: when the file
    holds what it wrote, its generation is recorded as pending now (with its history line), so a
    re-run adds nothing; otherwise it never wrote the file and is forgotten.  (The record as the
    decision continues from it, notes.)"""
    writing = rec.get("writing")
    if not isinstance(writing, dict):
        return rec, []
    generation = writing.get("generation")
    if writing.get("digest") != hashlib.sha256(data).hexdigest() or generation not in kf.generations:
        rec = {k: v for k, v in rec.items() if k != "writing"}
        if not check:
            state.data["keys"] = rec
            state.save()
        return rec, []
    converted = writing.get("converted_legacy") is True
    when = writing.get("time") if isinstance(writing.get("time"), str) else time.strftime("%Y-%m-%dT%H:%M:%S%z")
    notes = [f"an earlier keys rotate added generation {generation} to {file} and was interrupted before it "
             f"recorded it; {'running this command records' if check else 'recorded'} it now."]
    if not check:
        _record_added(state, rec, generation, converted, when, file, notes, completed=True)
        return state.data["keys"], notes
    return {**{k: v for k, v in rec.items() if k in ("applied_generation", "applied_time")},
            "pending_generation": generation, "converted_legacy": converted, "time": when}, notes


def _applied(inst: Installation, kf: KeysFile, rec: dict, pending: int | None, state, base: dict) -> RotateResult:
    file = base["file"]
    if pending is None:
        done = rec.get("applied_generation")
        done = done if isinstance(done, int) and not isinstance(done, bool) else None
        newest = None if kf.legacy else kf.newest
        if newest is not None and newest >= 0 and (done is None or newest > done):
            # an HA node given the rotated file of another (install --crypto-keys): its nso-install
            # added nothing, but NSO applies the generation on every node of the group alike
            return _record_applied(kf, newest, state, base, [
                f"generation {newest} was not added by nso-install here (another node's rotated keys file, written "
                "by install --crypto-keys, or an edit of the file); recorded as applied, as asked."])
        if done is not None:
            return RotateResult(generation=done, status="already-applied", changed=False,
                                notes=[f"generation {done} was already recorded as applied "
                                       f"({rec.get('applied_time', 'time unknown')}); nothing waits."], **base)
        raise UsageError("no-pending-generation", f"nso-install has not added a key generation to {file} that waits "
                         "to be applied, and the file holds none newer than one recorded as applied.",
                         f"Run {inst.command('keys rotate')} first (it adds one and prints the NSO steps).")
    notes = []
    if pending not in kf.generations:
        notes.append(f"generation {pending} is no longer in {file} (the file was changed since it was added); "
                     "recorded as applied anyway, as asked.")
    return _record_applied(kf, pending, state, base, notes)


def _record_applied(kf: KeysFile, generation: int, state, base: dict, notes: list[str]) -> RotateResult:
    """``generation`` recorded as the one NSO uses (only said, with --check)."""
    result = RotateResult(generation=generation, status="would-apply" if base["check"] else "applied", changed=True,
                          names=kf.names(generation), notes=notes, **base)
    if base["check"]:
        return result
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    state.data["keys"] = {"applied_generation": generation, "applied_time": now}
    state.save()
    state.append_history({"command": "keys rotate --applied", "file": base["file"], "generation": generation})
    return result
