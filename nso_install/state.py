"""nso-install's own records on the target: the state file, the run history and the run lock.

``state.json`` (root-only, 0600, in a 0700 directory) holds

* ``conffiles``: sha256 of what nso-install last wrote to each config file (dpkg-style
  conffile handling needs it to tell an administrator's edit from its own file);
* ``spec``: the effective install spec of the last successful run (no secret values), which
  the next run starts from (:mod:`nso_install.spec`);
* ``grants``: privileges nso-install created that the desired state alone cannot take back
  (group memberships it added), so a changed spec can withdraw exactly those;
* ``kept``: config files it manages but never wrote (another installer's), kept as found with
  the new rendering beside them, so status, verify and the audit name that ``.new``;
* ``unpacked``: the sha256 of the binaries a privilege may go to, per tree it unpacked, so a
  setuid bit or a capability only ever lands on the file nso-install put there.

``history.jsonl`` beside it gets one line per run that changed something: when, the spec,
what changed and every note printed (never secrets); also one for a run that completes another
that was stopped half way.  ``in-progress.json`` beside it (a local install's: beside its directory,
:func:`run_marker`) marks a run that changes something, from its first change until everything
is recorded (:meth:`State.begin_run`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import os
import stat
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from . import __version__, fsops
from .errors import LockedError, NsoInstallError, UnsafePathError, UsageError, sh
from .facts import Facts
from .spec import DEFAULT_DIRS
from .target import Target

STATE_FORMAT = 2
# the markers this process wrote and has not removed: a run it began and did not end (an
# interrupt then says how to complete it)
UNDER_WAY: set[str] = set()
MAX_MANIFEST = 512 << 20  # ~130 bytes an entry: millions of entries


class State:
    """The state file of one install, loaded once (after the run lock is taken).

    A file that is not JSON, or not of the expected shape, counts as damaged and is treated
    as empty (conffiles then count as edited, which is safe); the next save rewrites it.

    The records a privilege depends on (the digests of the binaries nso-install unpacked, and
    the manifests) are **sealed**: an HMAC with a key only root on this host can read
    (``/var/lib/nso-install/seal.key`` of the host, whatever ``--root`` says).  A staging root
    another account prepared, or whose state it edited, carries no valid seal: root then
    trusts none of those records and verifies the trees against the distribution again."""

    def __init__(self, target: Target, path: str | None):
        self.target = target
        self.path = path
        self.data: dict = {"version": STATE_FORMAT, "conffiles": {}}
        self._loaded = b""
        self._manifests: dict = {}
        self.damaged = False
        self.touched = False  # this run recorded something (saved even when the run fails later)
        self.unsealed = False  # sealed records were present but could not be trusted
        if path:
            facts = Facts(target)
            raw = facts.read(path) if facts.path(path).kind == "file" else None
            if raw:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                if _well_formed(data):
                    self.data = data
                    self._check_seal()
                    self._loaded = self._encode()
                else:
                    self.damaged = True

    @property
    def conffiles(self) -> dict[str, str]:
        return self.data.setdefault("conffiles", {})

    @property
    def kept(self) -> list[str]:
        """Config files nso-install manages but never wrote (another installer's, NSO's own
        installer's), kept as found with the new rendering beside them."""
        kept = self.data.get("kept", [])
        return [p for p in kept if p not in self.conffiles]

    @property
    def spec(self) -> dict | None:
        spec = self.data.get("spec")
        return spec if isinstance(spec, dict) else None

    @property
    def remembered_spec(self) -> dict | None:
        """The spec a run starts from: the last successful run's; without one, the spec of a run
        stopped half way (its marker), so that the re-run completing it need not be given its
        options again (given options win over either)."""
        if self.spec is not None:
            return self.spec
        spec = (self.unfinished() or {}).get("spec")
        return spec if isinstance(spec, dict) else None

    def record_spec(self, record: dict) -> None:
        self.data["spec"] = record

    @property
    def activations(self) -> list[dict]:
        """Switches of ``current``, oldest first: {"from": VSN or None, "to": VSN, "time": ...}."""
        return [a for a in self.data.get("activations", []) if isinstance(a, dict) and isinstance(a.get("to"), str)]

    def record_activation(self, old: str | None, new: str, pending: bool = False, rollback: bool = False) -> None:
        """A switch of ``current`` from ``old`` to ``new``.  ``pending``: recorded (and saved by
        the caller) before the link is renamed, so that a run killed right after the switch
        leaves the record rollback needs; the run confirms it when it ends (the entry then
        loses ``pending``).  A pending entry for the same switch is replaced, not repeated.
        ``rollback``: the switch was a rollback (one undoes the last switch; a second does nothing)."""
        entry = {"from": old, "to": new, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if pending:
            entry["pending"] = True
        if rollback:
            entry["rollback"] = True
        kept = self.activations
        if kept and kept[-1].get("pending") and (kept[-1].get("from"), kept[-1]["to"]) == (old, new):
            kept = kept[:-1]
        self.data["activations"] = (kept + [entry])[-50:]

    @property
    def pending_activation(self) -> dict | None:
        """The switch a run recorded ahead and did not confirm (it was interrupted), or None."""
        kept = self.activations
        return kept[-1] if kept and kept[-1].get("pending") else None

    def settle_activation(self, active: str | None) -> None:
        """After a run that ended well: a pending switch to the version ``current`` now leads to
        happened (confirmed); one to another version never did (dropped)."""
        last = self.pending_activation
        if last is None:
            return
        kept = self.activations[:-1]
        if last["to"] == active:
            kept.append({k: v for k, v in last.items() if k != "pending"})
        self.data["activations"] = kept

    @property
    def memberships(self) -> set[tuple[str, str]]:
        """(user, group) memberships nso-install added."""
        return {(u, g) for u, g in self.data.get("grants", {}).get("memberships", [])}

    @property
    def created_accounts(self) -> list[str]:
        """Accounts nso-install created ("user:NAME", "group:NAME"), which uninstall may delete."""
        return list(self.data.get("grants", {}).get("created", []))

    @property
    def created_ids(self) -> dict[str, int]:
        """The uid or gid each of :attr:`created_accounts` was created with (runs before this was
        recorded: none), by which uninstall tells it from an account made again under its name."""
        ids = self.data.get("grants", {}).get("ids", {})
        return {k: v for k, v in ids.items() if isinstance(k, str) and isinstance(v, int)} \
            if isinstance(ids, dict) else {}

    def set_memberships(self, pairs: set[tuple[str, str]]) -> None:
        grants = self.data.setdefault("grants", {})
        if pairs:
            grants["memberships"] = sorted([u, g] for u, g in pairs)
        else:
            grants.pop("memberships", None)
        if not grants:
            self.data.pop("grants")

    @property
    def unpacked(self) -> dict[str, dict[str, str]]:
        """Trees nso-install unpacked: {INSTALL_DIR/ncs-VSN: {privileged file: sha256}}, the
        files a later run may give privileges to (the dict itself: updates are live)."""
        return self.data.setdefault("unpacked", {})

    # --- manifests of the trees nso-install unpacked (one file each: they can be large) ---

    def recorded_trees(self) -> list[str]:
        """Every tree whose manifest this state records (sealed, when root reads it): what
        nso-install unpacked and has not forgotten (uninstall forgets what it removes)."""
        return sorted(self.data.get("manifests", {}))

    def _manifest_path(self, tree: str) -> str:
        from .manifest import Manifest

        return os.path.join(os.path.dirname(self.path), "manifests", Manifest.file_name(tree))

    def manifest(self, tree: str):
        """The recorded manifest of ``tree`` (None when there is none, or it is not the one
        this state's seal vouches for)."""
        from .manifest import Manifest

        if not self.path:
            return None
        if tree not in self._manifests:
            facts = Facts(self.target)
            shown = self._manifest_path(tree)
            # root's own record in a 0700 directory, its digest sealed: the bound only caps memory
            raw = facts.read(shown, MAX_MANIFEST) if facts.path(shown).kind == "file" else None
            expected = self.data.get("manifests", {}).get(tree)
            good = raw is not None and expected == hashlib.sha256(raw).hexdigest()
            self._manifests[tree] = Manifest.from_json(raw) if good else None
        return self._manifests[tree]

    def save_manifest(self, tree: str, m) -> None:
        shown = self._manifest_path(tree)
        host = self.target.host(shown)
        data = m.as_json()
        with _saving(shown):
            fsops.ensure_private_dir(host.parent)
            fsops.remove_stale_temps(host)
            fsops.atomic_write(host, data, 0o600, None, None, shown)
        self.data.setdefault("manifests", {})[tree] = hashlib.sha256(data).hexdigest()
        m.release(data)  # the records as the bytes just written until used again (a third of the memory)
        self._manifests[tree] = m

    def forget_comparisons(self) -> None:
        """Comparisons of trees with their manifests made so far are not to be reused (the run
        changed something)."""
        for m in self._manifests.values():
            if m is not None:
                m.compared.clear()
                m.listings.clear()

    def drop_manifest(self, tree: str) -> None:
        host = self.target.host(self._manifest_path(tree))
        if os.path.lexists(host):
            fsops.remove_file(host)
        self._manifests[tree] = None
        self.unpacked.pop(tree, None)
        self.data.get("manifests", {}).pop(tree, None)

    # --- the seal ---------------------------------------------------------------------------

    def _sealed(self) -> bytes:
        return json.dumps({"unpacked": self.data.get("unpacked", {}), "manifests": self.data.get("manifests", {}),
                           "state": self.path, "root": str(self.target.root)}, sort_keys=True).encode()

    def _check_seal(self) -> None:
        if not (self.data.get("unpacked") or self.data.get("manifests")) or not _sealing():
            return
        key = _seal_key(create=False)
        seal = self.data.get("seal")
        if key is None or not isinstance(seal, str) or \
                not hmac.compare_digest(seal, hmac.new(key, self._sealed(), "sha256").hexdigest()):
            self.unsealed = True
            self.data.pop("unpacked", None)
            self.data.pop("manifests", None)
            self.data.pop("seal", None)

    def _encode(self) -> bytes:
        data = {**self.data, "version": STATE_FORMAT}
        if _sealing() and (data.get("unpacked") or data.get("manifests")):
            data["seal"] = hmac.new(_seal_key(create=True), self._sealed(), "sha256").hexdigest()
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    def save(self) -> bool:
        """Write the state if it changed; True when written."""
        if not self.path:
            return False
        if not self._loaded and not self.damaged and not any(v for k, v in self.data.items() if k != "version"):
            # nothing to remember and no file to bring up to date (uninstall --all where nothing
            # is installed): a run that recorded nothing leaves no trace (locked removes its dir)
            return False
        data = self._encode()
        if data == self._loaded:
            return False
        host = self.target.host(self.path)
        with _saving(self.path):
            fsops.ensure_private_dir(host.parent)
            fsops.remove_stale_temps(host)  # (a killed run's; under the lock, as every save)
            fsops.atomic_write(host, data, 0o600, None, None, self.path)
        self._loaded = data
        return True

    # --- a run that changes something, until it has recorded everything (in-progress.json) ---

    def _run_marker(self) -> str:
        return run_marker(self.path)

    def unfinished(self) -> dict | None:
        """What :meth:`begin_run` recorded for a run that has not ended well (killed, failed, a
        full disk), or None.  A marker that cannot be read counts as such a run too ({})."""
        if not self.path:
            return None
        facts = Facts(self.target)
        shown = self._run_marker()
        fact = facts.path(shown)
        # another account's (beside a local install in a shared directory) is no run of ours: begin_run refuses it
        if fact.kind == "absent" or fact.uid != os.geteuid():
            return None
        try:
            data = json.loads(facts.read(shown, 1 << 20) or b"")
        except (ValueError, OSError, NsoInstallError):
            data = None
        return data if isinstance(data, dict) else {}

    def held_by_another_run(self) -> bool:
        """Whether a run holds this install's lock (:func:`locked`) now: its marker is then that
        of a run under way, not of one stopped half way.  Read from the kernel's table of locks
        (/proc/locks), never by taking the lock: a probe, however short, made a run starting
        just then fail as locked.  False where the table cannot tell (no /proc; a file system
        whose stat device is not the lock table's, e.g. a btrfs subvolume): the marker is then
        described as before, a run stopped half way."""
        if not self.path:
            return False
        from .spec import state_path as spec_state_path

        try:
            st = os.stat(lock_path(self.target, self.path, self.path == spec_state_path("system", None)),
                         follow_symlinks=False)
        except OSError:
            return False
        return bool(flock_holders(st))

    def begin_run(self, info: dict) -> None:
        """Record, before a run changes anything, that it is under way (``info``: what it does,
        never a secret), so that one stopped half way is told by ``verify`` and ``status`` and
        completed (and written to the history) by the next run."""
        if not self.path:
            return
        shown = self._run_marker()
        host = self.target.host(shown)
        data = (json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tool": __version__, **info},
                           sort_keys=True) + "\n").encode()
        with _saving(shown, "Nothing was changed yet; free space (or fix the cause) and re-run."):
            fsops.ensure_private_dir(host.parent)
            # (named by its host path: under --root the target path's rm would act on the host)
            _refuse_foreign(host, str(host), "the marker of a run under way", "unsafe-run-marker")
            fsops.remove_stale_temps(host)
            fsops.atomic_write(host, data, 0o600, None, None, shown)
        UNDER_WAY.add(str(host))

    def end_run(self) -> None:
        """The run has recorded everything: its marker goes (a run that wrote none has none)."""
        if not self.path:
            return
        host = self.target.host(self._run_marker())
        if os.path.lexists(host):
            with _saving(self._run_marker()):
                fsops.remove_file(host)
        UNDER_WAY.discard(str(host))

    def append_history(self, entry: dict) -> None:
        """One line in history.jsonl beside the state: ``entry`` plus the time and tool version.

        A new history file is written whole (temp + rename), so a killed run never leaves an
        empty one; an existing one is appended to, never through a link."""
        if not self.path:
            return
        line = (json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tool": __version__, **entry},
                           sort_keys=True) + "\n").encode()
        shown = os.path.join(os.path.dirname(self.path), "history.jsonl")
        host = self.target.host(shown)
        with _saving(shown):
            fsops.ensure_private_dir(host.parent)
            with fsops.parent_dir(host) as dfd:
                try:
                    fd = os.open(host.name, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                except FileNotFoundError:
                    fd = None
            if fd is None:
                fsops.remove_stale_temps(host)
                fsops.atomic_write(host, line, 0o600, None, None, shown)
                return
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(errno.EINVAL, "not a regular file")
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


SEAL_KEY = "/var/lib/nso-install/seal.key"  # on the host running nso-install, never under --root


def host_dir() -> Path:
    """nso-install's own directory on the host running it (never under --root): the seal key, and
    root's template cache (templates.use_bytecode_cache)."""
    return Path(os.path.dirname(SEAL_KEY))


def _sealing() -> bool:
    return os.geteuid() == 0


def _seal_key(create: bool) -> bytes | None:
    """The host's sealing key (32 random bytes, 0600 root in a 0700 root directory)."""
    path = Path(SEAL_KEY)
    try:
        fd = fsops.open_regular(path, SEAL_KEY)
    except FileNotFoundError:
        if not create:
            return None
        fsops.ensure_private_dir(path.parent)
        fsops.atomic_write(path, os.urandom(32), 0o600, 0, 0, SEAL_KEY)  # (secrets.token_bytes)
        fd = fsops.open_regular(path, SEAL_KEY)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != 0 or st.st_mode & 0o077:
            raise UnsafePathError("unsafe-seal-key", f"{SEAL_KEY} is not root's alone (mode "
                                  f"{stat.S_IMODE(st.st_mode):04o}, uid {st.st_uid}).",
                                  f"Remove it (rm {SEAL_KEY}); the next run makes a new one and verifies the "
                                  "installed trees again against their distributions.")
        return f.read(64)


def _well_formed(data) -> bool:
    """The shape a state file must have (anything else counts as damaged)."""
    if not isinstance(data, dict):
        return False
    checks = {
        "conffiles": lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                                            for k, x in v.items()),
        "spec": lambda v: v is None or isinstance(v, dict),
        "grants": lambda v: isinstance(v, dict) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in v.get("memberships", [])) and isinstance(v.get("memberships", []), list)
            and isinstance(v.get("created", []), list) and all(isinstance(x, str) for x in v.get("created", [])),
        "unpacked": lambda v: isinstance(v, dict) and all(
            isinstance(t, str) and isinstance(d, dict) and all(isinstance(a, str) and isinstance(b, str)
                                                               for a, b in d.items()) for t, d in v.items()),
        "manifests": lambda v: isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str)
                                                           for a, b in v.items()),
        "seal": lambda v: isinstance(v, str),
        "kept": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "activations": lambda v: isinstance(v, list),
    }
    return all(check(data[key]) for key, check in checks.items() if key in data)


RUN_MARKER = "in-progress.json"  # beside the state: a run under way (State.begin_run)


def beside_local(name: str, what: str) -> str:
    """The name of a local install's file that lives beside its directory ``name`` (the lock,
    the in-progress marker): the directory itself must not exist before the first unpack."""
    return f".{name}.nso-install-{what}"


def lock_path(target: Target, state_path: str, system: bool) -> Path:
    """Where :func:`locked` takes an install's lock (host path): a system install's state
    directory itself; ``.NAME.nso-install-lock`` beside a local install's directory NAME."""
    state_dir = target.host(os.path.dirname(state_path))
    return state_dir if system else state_dir.parent.parent / beside_local(state_dir.parent.name, "lock")


def flock_holders(st: os.stat_result) -> list[str]:
    """How the file of ``st`` is flock()ed now, by any process: "WRITE" (exclusive: a run) or
    "READ" (shared: a replay) each, from the kernel's lock table (/proc/locks); [] where it
    cannot tell (no /proc, or a file system whose stat device is not the table's)."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            table = f.read(1 << 22)
    except OSError:
        return []
    lock_id = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:1466544 0 EOF" (a waiter's line has "->" after the number)
    return [f[3] for f in (line.split() for line in table.splitlines())
            if len(f) > 5 and f[1] == "FLOCK" and f[5] == lock_id]


# A replay holds the lock shared for the few tens of milliseconds it takes (nso_install.replay):
# a run finding only such holders waits this long before it says "locked", whatever its
# --lock-timeout, so that a no-op replay of a pipeline beside it does not fail it.
REPLAY_GRACE = 2.0  # seconds


def run_marker(state_path: str) -> str:
    """Where :meth:`State.begin_run` marks a run under way: beside a system install's state; a
    local install's records are inside the tree it unpacks, which must not exist before its
    unpack, so its marker is beside that directory, with its lock (:func:`locked`)."""
    from .spec import state_path as spec_state_path

    if state_path == spec_state_path("system", None):
        return os.path.join(os.path.dirname(state_path), RUN_MARKER)
    install_dir = os.path.dirname(os.path.dirname(state_path))
    return os.path.join(os.path.dirname(install_dir), beside_local(os.path.basename(install_dir), RUN_MARKER))


def describe_unfinished(info: dict, in_progress: bool = False) -> str:
    """"the last run (...) did not finish; re-run ...": for verify, status and the completing run.
    ``in_progress``: the run still holds the lock (:meth:`State.held_by_another_run`): it is under
    way, and a re-run would only be refused (or wait) until it ends."""
    # (the re-run commands shell-quote what they name: a distribution file another account
    # named 'nso-6.5.3 $(...).tar.gz', or a staging root with a blank, stays one argument)
    version, command = info.get("version"), info.get("command")
    root = f" --root {sh(info['root'])}" if isinstance(info.get("root"), str) else ""
    when = f", started {info['time']}" if isinstance(info.get("time"), str) else ""
    if command == "uninstall":
        what = f"uninstall of NSO {version}" if isinstance(version, str) else "uninstall --all"
        if in_progress:
            return (f"a run is in progress (nso-install {what}{when}; it holds the lock): what it removes is going "
                    "now; look again when it has finished")
        again = sh(version) if isinstance(version, str) else "--all"
        parts = info.get("parts")
        given = "".join(f" --{p.replace('_', '-')}" for p in parts if isinstance(p, str)) \
            if isinstance(parts, list) and again == "--all" else ""
        if info.get("force") is True and again != "--all":  # (the active version: refused without it)
            given += " --force"
        if isinstance(info.get("install_dir"), str) and info["install_dir"] != DEFAULT_DIRS["install_dir"]:
            given += f" --install-dir {sh(info['install_dir'])}"
        return (f"the last run (nso-install {what}{when}) did not finish: some of what it removes may be left; "
                f"re-run nso-install uninstall {again}{given}{root} to complete it")
    if in_progress:
        what = (f"nso-install {'activate' if command == 'activate' else 'install'} of NSO {version}"
                if isinstance(version, str) else "nso-install")
        return (f"a run is in progress ({what}{when}; it holds the lock): what it changes is changing now; "
                "look again when it has finished")
    if command == "activate" and isinstance(version, str):
        return (f"the last run (nso-install activate of NSO {version}{when}) did not finish; re-run nso-install "
                f"activate {sh(version)}{root} to complete it")
    if isinstance(version, str) and isinstance(info.get("distribution"), str):
        local = sh(info["local_dir"]) if isinstance(info.get("local_dir"), str) else "DIR"
        kind = f"--local-install {local}" if info.get("kind") == "local" else "--system-install"
        # (what the completing run needs to do the same: without --activate it completes the
        # install and ends the marker, current never switched; elsewhere than the default
        # --install-dir it looks at another install)
        spec = info.get("spec") if isinstance(info.get("spec"), dict) else {}
        where = spec.get("install_dir")
        if kind == "--system-install" and isinstance(where, str) and where != DEFAULT_DIRS["install_dir"]:
            kind += f" --install-dir {sh(where)}"
        if info.get("activate") is True:
            kind += " --activate"
        return (f"the last run (nso-install install of NSO {version} from {info['distribution']}{when}) did not "
                f"finish; re-run nso-install install {sh(info['distribution'])} {kind}{root}, with the same options, "
                "to complete it")
    return f"the last run{when} did not finish; re-run the same nso-install command to complete it"


@contextmanager
def _saving(shown: str, hint: str | None = None) -> Iterator[None]:
    """nso-install's own records failing to save (a full disk...) after the install itself
    worked: say what was done and that a re-run records it, not "this is a bug"."""
    try:
        yield
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePathError("symlink-refused", f"{shown} is a symbolic link; nso-install never writes its "
                                  "records through one.", "Remove the link (and find out who planted it), then "
                                  "re-run.") from None
        if e.errno == errno.EROFS:  # (not a matter of space: a container started with --read-only)
            where = os.path.dirname(shown)
            hint = (f"{where} is on a read-only file system, where nso-install keeps its records and its run "
                    f"marker: make it writable (in a container started with --read-only, a volume or a tmpfs "
                    f"at {where}), then re-run.")
        raise NsoInstallError("state-not-saved", f"could not save {shown}: {e.strerror or e}.",
                              hint or "Everything the run changed is in place; free space (or fix the cause) and "
                              "re-run: the next run finds the installed files as desired and records them.") from None


def lock_if_free(stack: ExitStack, target: Target, state_path: str, system: bool) -> bool:
    """Take the run's lock (:func:`locked`) into ``stack`` at once, when it exists already, is
    as :func:`locked` wants it and no other run holds it: a re-run then resolves and plans once,
    under the lock, having created nothing. False, holding nothing, in every other case: the
    caller plans first (usage errors are reported before anything is created or waited for),
    then waits for the lock and plans again, and :func:`locked` says what is wrong with it."""
    try:
        st = os.lstat(lock_path(target, state_path, system))
    except (OSError, NsoInstallError):
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return False  # locked() would refuse it too, but only after its ensure_private_dir: none of that here
    inner = ExitStack()
    try:
        made = inner.enter_context(locked(target, state_path, system))
    except (OSError, NsoInstallError):
        inner.close()
        return False
    if made:  # it vanished meanwhile and was made again: undo that, plan first
        inner.close()
        return False
    stack.enter_context(inner)
    return True


def _exists_at(dfd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    except OSError:
        pass
    return True


def _nearest_existing(path: Path) -> Path:
    """``path``, or the nearest directory above it that exists: where a new entry is made."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _not_writable(install_dir: Path, lock: Path) -> NsoInstallError:
    """A local install whose lock (beside its directory), or a directory on the way to it, the
    account running nso-install cannot create: which directory refused it, and why."""
    above = _nearest_existing(install_dir.parent)
    try:
        st = os.stat(above)
        why = f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"
    except OSError as e:
        why = e.strerror or str(e)
    what = (f"the lock {lock} beside the local install directory {install_dir}" if os.path.lexists(install_dir)
            else f"the local install directory {install_dir}")
    return UsageError("local-dir-not-writable",
                      f"cannot create {what}: {above} is not writable by uid {os.geteuid()} ({why}).",
                      "Install into a directory you can create, for example under your home directory "
                      "(nso-install install DIST ~/nso-VERSION), or run as an account that may write "
                      f"{above}.")


def local_lock_refusal(target: Target, state_path: str) -> NsoInstallError | None:
    """What :func:`locked` would refuse a local install with because this account cannot create
    its lock (or a directory on the way to it), or None: for ``--check``, which takes no lock,
    so that it says what the run would."""
    install_dir = target.host(os.path.dirname(state_path)).parent
    lock = lock_path(target, state_path, False)
    marker = install_dir.parent / beside_local(install_dir.name, RUN_MARKER)
    for path, what, reference in ((lock, "the lock", "unsafe-lock"),
                                  (marker, "the marker of a run under way", "unsafe-run-marker")):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid != os.geteuid():  # (another account's, in a shared sticky parent: the run stops there)
            return _foreign_beside(str(path), st, what, reference)  # (host paths, as locked() says them)
    if os.path.lexists(lock):
        return None  # (whatever else it is, the run judges it when it opens it)
    if os.access(_nearest_existing(install_dir.parent), os.W_OK | os.X_OK, effective_ids=True):
        return None
    return _not_writable(install_dir, lock)


def _foreign_beside(where: str, st: os.stat_result, what: str, reference: str = "unsafe-lock") -> UnsafePathError:
    """A local install's file beside its directory (the lock, the run marker) that another account
    made: in a shared sticky directory (/tmp) this account can neither open, replace nor remove it."""
    parent = os.path.dirname(where) or "/"
    try:
        shared = os.stat(parent).st_mode & stat.S_ISVTX
    except OSError:
        shared = False
    if shared:
        hint = (f"{parent} is shared (sticky): only uid {st.st_uid} or root can remove it. Find out who made it; "
                "install into a directory only you can write above it (for example mkdir -m 700 "
                f"{sh(parent)}/\"$USER\" and a local install below that, or ~/nso-VERSION).")
    else:
        hint = f"Find out who made it, remove it (rm {sh(where)}) and re-run."
    return UnsafePathError(reference, f"{what} {where} belongs to uid {st.st_uid}, not to uid {os.geteuid()} "
                           "that runs nso-install; another account made it, to block runs or to mislead them.", hint)


def _refuse_foreign(host: Path, where: str, what: str, reference: str = "unsafe-lock") -> None:
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return
    if st.st_uid != os.geteuid():
        raise _foreign_beside(where, st, what, reference)


def _loose_lock(where: str, st: os.stat_result, system: bool) -> NsoInstallError:
    """The lock (a system install's state directory, or a local install's lock file) that another
    account owns or could open: exactly which of the two, and the repair that keeps the records."""
    me, mode = os.geteuid(), stat.S_IMODE(st.st_mode)
    private = 0o700 if system else 0o600
    what = f"the state directory {where} (nso-install's records and lock)" if system else f"the lock {where}"
    wrong = []
    if st.st_uid != me:
        wrong.append(f"belongs to uid {st.st_uid}, not to uid {me} that runs nso-install")
    if mode & 0o077:
        wrong.append(f"is open to other accounts (mode {mode:04o}, not {private:04o})")
    message = f"{what} {' and '.join(wrong)}; another account could hold the lock to block every run."
    if not system and st.st_uid != me:
        return _foreign_beside(where, st, "the lock")
    if not system:
        return UnsafePathError("unsafe-lock", message, f"Make it private again (chmod 600 {sh(where)}) and re-run.")
    if st.st_uid != me:
        return UnsafePathError("unsafe-lock", message + " Another account may also have changed the records in it.",
                               f"Find out who changed it; if the records in it can be trusted, give it back "
                               f"(chown {me} {sh(where)} && chmod 700 {sh(where)}) and re-run. Do not remove it: it holds "
                               "the manifests, config file hashes, history and the accounts nso-install created.")
    return UnsafePathError("unsafe-lock", message, f"Make it private again (chmod 700 {sh(where)}) and re-run; keep what "
                           "is in it (manifests, config file hashes, history, the accounts nso-install created).")


def _open_state_dir(state_dir: Path) -> int:
    """The state directory, opened as the lock: never through a symbolic link (where it leads is
    not judged, and the records there would choose what a re-run does as root), nor another file."""
    try:
        return os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (NotADirectoryError, OSError) as e:
        if not isinstance(e, NotADirectoryError) and e.errno != errno.ELOOP:
            raise
        what = f"a symbolic link (to {os.readlink(state_dir)})" if os.path.islink(state_dir) else "not a directory"
        raise UnsafePathError("unsafe-lock", f"the state directory {state_dir} (nso-install's records and lock) is "
                              f"{what}; nso-install keeps them only in a real directory, which no link redirects.",
                              "Find out who made it; if the records where it leads can be trusted, put them in a "
                              "real directory in its place (root's, mode 0700), then re-run.") from None


def _open_local_lock(install_dir: Path, where: str, created: list[Path]) -> int:
    """The local install's lock file ``where`` (beside ``install_dir``), opened or made 0600;
    ``created`` gets the directories made on the way."""
    try:
        created += fsops.ensure_dirs(install_dir.parent)
    except PermissionError:
        raise _not_writable(install_dir, Path(where)) from None
    with fsops.parent_dir(Path(where)) as dfd:
        try:
            return os.open(os.path.basename(where), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                           dir_fd=dfd)
        except (PermissionError, OSError) as e:
            if not isinstance(e, PermissionError) and e.errno != errno.ELOOP:
                raise
            if isinstance(e, PermissionError) and not _exists_at(dfd, os.path.basename(where)):
                fsops.remove_empty_dirs(created)
                raise _not_writable(install_dir, Path(where)) from None
            _refuse_foreign(Path(where), where, "the lock")
            raise UnsafePathError("unsafe-lock", f"cannot open the lock {where} ({e.strerror}); another account "
                                  "may have created it (or a link) to block runs.",
                                  f"Remove it (rm {sh(where)}: it holds no records) and re-run.") from None


def _names(where: str, fd: int) -> bool:
    """Whether the name ``where`` still is the file (directory) open as ``fd``: a run that held
    the lock may have removed it, and a lock on what nobody else will open excludes nobody."""
    try:
        st, held = os.lstat(where), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


@contextmanager
def locked(target: Target, state_path: str, system: bool, timeout: float = 0.0) -> Iterator[list[str]]:
    """An exclusive lock, so two runs on one target cannot interleave, held where only the
    account that runs nso-install can open it (another account cannot take it to block runs):

    * system install: the state directory itself (``/var/lib/nso-install``, 0700), created first;
    * local install: ``.NAME.nso-install-lock`` (0600) beside the install directory ``NAME``,
      whose own state directory may not exist before the first unpack.  A run that leaves no
      directory NAME (refused, or nothing installed), or that made the lock file and failed
      (refused over a directory NAME that is no NSO install), removes the lock file it held, so
      a failed first install leaves nothing beside it; a run waiting for that lock then finds
      its file gone, and takes the one at the name instead.

    Yields the target paths of the directories it had to create (the run reports them).
    """
    state_dir = target.host(os.path.dirname(state_path))
    install_dir = state_dir.parent
    created: list[Path] = []
    deadline = time.monotonic() + timeout
    fd, held, made, failed = -1, False, False, False
    try:
        while True:
            if system:
                created += fsops.ensure_private_dir(state_dir)
                where = str(state_dir)
                fd = _open_state_dir(state_dir)
            else:
                where = str(lock_path(target, state_path, False))
                made = not os.path.lexists(where)  # (two runs both taking it for new: see _names)
                fd = _open_local_lock(install_dir, where, created)
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o077:
                raise _loose_lock(where, st, system)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                    now = time.monotonic()
                    replays = set(flock_holders(st)) == {"READ"}  # (only replays hold it: they end soon)
                    if now >= deadline and not (replays and now < deadline + REPLAY_GRACE):
                        # (after a --lock-timeout, "pass --lock-timeout" read as if it had not been given)
                        waited = f" (waited {timeout:g} s for it)" if timeout > 0 else ""
                        raise LockedError("locked", f"another nso-install run holds the lock {where}{waited}.",
                                          "Wait for it to finish, or pass a longer --lock-timeout SECONDS to wait."
                                          if waited else
                                          "Wait for it to finish, or pass --lock-timeout SECONDS to wait.") from None
                    time.sleep(0.02 if replays else 0.2)
            if _names(where, fd):  # (a system install's state directory may be one a refused run removed)
                held = True
                break
            os.close(fd)
            fd = -1
        try:
            yield [str(target.to_target(d)) for d in created]
        except BaseException:
            failed = True
            raise
    finally:
        gone = not os.path.lexists(install_dir)
        if held and not system and (gone or made and failed) and _names(where, fd):
            os.unlink(where)  # while held: a run waiting for it finds it gone (see _names)
        if fd >= 0:
            os.close(fd)
        fsops.remove_empty_dirs(created)  # a run that recorded nothing leaves no trace of its lock
