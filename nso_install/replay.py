"""Replay a re-run that changes nothing, when nothing it read has changed since.

A no-op ``nso-install install`` re-run spends nearly all of its time importing and deciding
again what it decided last time.  Run as root from the console script (:func:`console`), a run
that changes nothing (not ``--check``, which writes nothing at all) is *recorded*
(:mod:`.replay_record`): everything it read (every path it touched, opened or listed, each entry
of a listed directory, the modules it ran, every directory above them, and where each link among
them leads, by lstat signature:
type, mode, owner, inode, device, links, size, mtime and ctime), the answers of its account
lookups and of its questions about live processes and mounts (:func:`fact`), the environment
variables and working directory it used, and what it printed; all for its *world* (arguments,
the environment variables code may read unseen, umask, ids and capabilities, terminals,
interpreter), kept as a digest.  The next run in the same world checks that record first
(:func:`replay`): when every signature and answer is the same, the run would read the same
bytes and decide the same, so it prints the same and exits, without importing click or the
planner.  Anything else runs in full.

Why this cannot hide drift:

* every change a non-root account (or NSO) can make to a file, its metadata or a directory's
  entries sets a ctime to the current time, but for a write through a shared mapping of a page
  already written: the bytes of each file the run opened that an account other than root can
  write are kept as a digest too, and compared on replay (over 1 MiB: no record; other bytes at the run's end than when it opened the file: no record either); a path whose ctime is within 0.1 s of the
  recording run's start, or later, could change again within one clock tick unseen, so no
  record is kept then (git's racy-clean rule);
* a run that failed, changed anything, ran a program, forked (but for :func:`pure_fork`),
  opened a socket, read stdin or free space, changed directory, or read a path it could not
  name (``/proc``, ``/sys`` outside a fact, a descriptor naming no file) keeps no record;
* the record lives in root's own ``/var/cache/nso-install/replay`` (0700, in a 0700 directory),
  is read only when it and every directory above it are root's and not writable by others,
  and holds the digest of the world it is for (a file-name collision cannot replay another's);
* a decision taken from the clock says until when it holds (:func:`valid_until`): the record
  expires then; and it holds from when it was taken (a certificate already expired says
  nothing): the clock set back before the record was made means a run in full;
* the run's lock must be free (it is held shared while replaying): a run applying changes
  meanwhile makes the replay step aside;
* ``NSO_INSTALL_REPLAY=0`` turns it off; ``explain`` says on stderr what happened and why.

This module imports only what the interpreter has loaded anyway (``os``, ``sys``, ``stat``),
and ``json``, ``fcntl``, ``_blake2``, ``_struct``, ``pwd``/``grp`` when a record exists.  The
console script also prints ``nso-install --help`` from here, from stored text
(:func:`prerendered_help`), before anything else.
"""

from __future__ import annotations

import os
import stat
import sys

FORMAT = 6  # 6: when the record was made (since); 5: the bytes of the files it opened that another account can write; 4: the
# environment variables and working directory a run used, apart
# root's, on the host running nso-install (never under --root). A cache (FHS /var/cache): in no
# directory a run reads (writing a record changes no path of any record), kept across reboots
# (a staging root's records stay good), and where file integrity monitors expect churn.
DIR = "/var/cache/nso-install/replay"
MAX_RECORDS = 64  # one per world (arguments, environment...): a few per target in practice
MAX_BYTES = 32 << 20  # all records together (the newest is kept whatever its size)
SWITCH = "NSO_INSTALL_REPLAY"  # "0": never replay nor record; "explain": say why on stderr
WHERE = "NSO_INSTALL_REPLAY_DIR"  # another directory for the records (tests); the same rules


def directory() -> str:
    return os.environ.get(WHERE) or DIR


_horizon: float | None = None  # the earliest time a clock-based decision of this run may flip


def valid_until(when: float) -> None:
    """Say that a decision of this run, made from the clock, holds until ``when`` (seconds since
    the epoch): a record of the run expires then.  Every clock reading the run decides on calls
    this (tests/unit/test_replay.py lists them)."""
    global _horizon
    _horizon = when if _horizon is None else min(_horizon, when)


_forking_pure = False  # inside pure_fork(): the fork a recorded run may make
_pure_pids: set[int] = set()


def pure_fork() -> int:
    """``os.fork()`` for a child that only reads what its parent opened (and the record holds)
    and writes to a pipe its parent reads: a run making one may still be recorded, and may
    kill that child."""
    global _forking_pure
    _forking_pure = True
    try:
        pid = os.fork()
    finally:
        _forking_pure = False
    if pid:
        _pure_pids.add(pid)
    return pid


# --- facts of the live system ---------------------------------------------------------------

_recorder = None  # the Recorder of this run, while it records (replay_record sets it)


def fact(func):
    """A question about the live system that no path signature answers (processes, mounts),
    asked with JSON arguments (str, int, None, lists): a recorded run keeps its answer, what
    the function read to find it does not count as read, and a replay asks it again (the same
    function, in this process) and goes ahead only on the same answer.  Its module must be
    light: a replay imports it."""
    name = f"{func.__module__}:{func.__qualname__}"

    def call(*args):
        rec = _recorder
        if rec is None or not rec.active:
            return func(*args)
        rec.inside_fact += 1
        try:
            answer = func(*args)
        finally:
            rec.inside_fact -= 1
        rec.facts.append([name, _plain(list(args)), _plain(answer)])
        return answer

    call.__name__, call.__qualname__, call.__doc__, call.__wrapped__ = func.__name__, func.__qualname__, \
        func.__doc__, func
    return call


def _facts_hold(facts: list) -> bool:
    import importlib

    for name, args, answer in facts:
        module, _, qualname = name.partition(":")
        func = importlib.import_module(module)
        for part in qualname.split("."):
            func = getattr(func, part)
        if _plain(func.__wrapped__(*args)) != answer:
            return False
    return True


# --- the world a run is for -------------------------------------------------------------------

# Python reads these before any line of nso-install (cli.common judges them on every full run):
# a world with one set is never replayed, so that judgement is never skipped
STARTUP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")


def _user_site_in_use() -> bool:
    """Whether a user site-packages directory is on sys.path (its .pth files ran at start-up):
    cli.common judges it on every full run, so such a world is never replayed either (a venv,
    as the README installs, has none)."""
    site = sys.modules.get("site")
    usersite = getattr(site, "USER_SITE", None) if getattr(site, "ENABLE_USER_SITE", False) else None
    return bool(usersite) and usersite in sys.path


def _eligible(argv: list[str]) -> bool:
    return (os.geteuid() == 0 and _switched_on() and argv[:1] == ["install"]
            and (sys.flags.ignore_environment or not any(os.environ.get(v) for v in STARTUP_VARIABLES))
            and not _user_site_in_use()
            and "-" not in argv  # "-": a value read from stdin
            and "--check" not in argv)  # --check writes nothing, not even a record


def _proc_status() -> list[str]:
    """The process's ids, groups, capabilities and no-new-privs flag (the run checks what root
    may do); empty when /proc/self/status cannot be read."""
    from .proc import status  # (proc imports this module for replay.fact: imported when asked)

    st = status()  # (before recording starts: not a path the run read)
    return [f"{k}:{st[k]}" for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                     "NoNewPrivs", "Seccomp") if k in st]


def _terminal(fd: int):
    if not os.isatty(fd):
        return None
    try:
        return list(os.get_terminal_size(fd))
    except OSError:
        return [0, 0]


# The environment variables in every world: what the interpreter, the C library, OpenSSL, click
# and nso-install may read without going through os.environ (so a recorder cannot see it), and
# more besides (a world too wide only means fewer replays). Any other variable counts only when
# the recorded run read it through os.environ (the record then holds its value's digest): a CI
# job's id, an SSH client's port and the like change every run and must not spoil its record.
ENV_PREFIXES = ("PYTHON", "LC_", "LD_", "NSO_INSTALL", "_NSO_INSTALL", "CLICK", "OPENSSL", "SSL_", "MALLOC",
                "GLIBC", "GCONV", "NLS", "LOC", "RES_", "TERM", "SYSTEMD_", "XDG_", "DBUS_", "COLOR", "FORCE_")
ENV_NAMES = frozenset({"LANG", "LANGUAGE", "TZ", "TZDIR", "HOME", "PATH", "COLUMNS", "LINES", "NO_COLOR", "TMPDIR",
                       "TEMP", "TMP", "USER", "LOGNAME", "SHELL", "HOSTALIASES", "POSIXLY_CORRECT", "CI"})


def in_every_world(name: str) -> bool:
    return name in ENV_NAMES or name.startswith(ENV_PREFIXES)


def world(argv: list[str]) -> dict | None:
    """What a run depends on outside the file system, but for the environment variables it
    reads itself and its working directory (a record holds those when the run used them); None
    when it may not be replayed.  Not NSO_INSTALL_REPLAY: "explain" changes nothing the run
    prints (it writes outside the record), and must explain the records of runs without it."""
    if not _eligible(argv):
        return None
    mask = os.umask(0o022)
    os.umask(mask)
    status = _proc_status()
    if not status:
        return None
    return {"format": FORMAT, "argv": list(argv),
            "env": [[k, v] for k, v in sorted(os.environ.items()) if in_every_world(k) and k != SWITCH],
            "umask": mask, "status": status, "terminals": [_terminal(fd) for fd in (0, 1, 2)],
            "python": [sys.executable, sys.version, list(sys.path), repr(sys.flags)]}


def context_digest(env_names: list[str] | None, cwd: bool) -> str:
    """What a record holds of the environment variables the run read (``None``: all of them, it
    iterated over the environment) and, when it used it, of the working directory."""
    env = [[k, v] for k, v in sorted(os.environ.items()) if k != SWITCH] if env_names is None else \
        [[k, os.environ.get(k)] for k in env_names]
    return digest({"env": env, "cwd": os.getcwd() if cwd else None})


def digest(w: dict) -> str:
    """The world as a record keeps it: a BLAKE2b digest, never the values (an environment may
    hold a CI job's tokens, and records may end up in a container image's layer)."""
    import json
    from _blake2 import blake2b

    return blake2b(json.dumps(w, sort_keys=True).encode(), digest_size=32).hexdigest()


_GONE = (FileNotFoundError, NotADirectoryError)
_ABSENT = bytes(72)  # (no entry has mode 0)


def scan(directory: str, names: list[str], links: list[str] | None = None) -> tuple[str, int, int]:
    """A digest of what changes whenever an entry, its content or its metadata does, for each of
    ``names`` in ``directory`` ("." for the directory itself), by lstat through the directory's
    descriptor (mode, inode, device, links, owner, group, size, mtime, ctime), the latest ctime
    among them, and the latest of those on a whole second (a file system that keeps whole seconds
    only: ext4 with small inodes, some network ones; replay_record judges those apart).
    ``links``: the names that are symbolic links are added to it."""
    from _blake2 import blake2b  # (built into CPython, unlike hashlib's OpenSSL: a quicker import)
    from _struct import Struct

    pack = Struct("<QQQQQQqqq").pack
    h = blake2b(digest_size=32)
    update = h.update
    latest = coarse = 0
    try:
        # (O_NONBLOCK: a FIFO planted where a directory was must not hold the run)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC)
    except _GONE:
        for _ in names:
            update(_ABSENT)
        return h.hexdigest(), latest, coarse
    try:
        for name in names:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except _GONE:
                update(_ABSENT)
                continue
            ctime = st.st_ctime_ns
            update(pack(st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
                        st.st_mtime_ns, ctime))
            if ctime > latest:
                latest = ctime
            if ctime > coarse and not ctime % 1_000_000_000:
                coarse = ctime
            if links is not None and stat.S_ISLNK(st.st_mode):
                links.append(name)
    finally:
        os.close(fd)
    return h.hexdigest(), latest, coarse


CONTENT_MAX = 1 << 20  # bytes of a file another account can write hashed on every replay, at most


def _others_can_write(st: os.stat_result) -> bool:
    """A regular file an account other than root can write: its owner, or group or others."""
    return stat.S_ISREG(st.st_mode) and (st.st_uid != 0 or bool(st.st_mode & 0o022))


def content_digest(path: str) -> str | None:
    """A digest of the bytes of the regular file ``path`` when an account other than root can
    write it (it owns it, or group or others have write): that account can change the bytes
    through a shared mapping of a page already written, and the kernel then moves no mtime or
    ctime, so no signature notices.  None for a file only root can write, or no regular file.
    Raises OSError when it cannot be read, ValueError above :data:`CONTENT_MAX`."""
    if not _others_can_write(os.stat(path)):  # (one call for the common case: every module a run imported)
        return None
    from _blake2 import blake2b

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # (O_NONBLOCK: a FIFO must not hold the run)
    try:
        st = os.fstat(fd)
        if not _others_can_write(st):  # (judged again on what was opened)
            return None
        if st.st_size > CONTENT_MAX:
            raise ValueError(f"{path}, which an account other than root can write, is too big to read on every "
                             "replay")
        h = blake2b(digest_size=32)
        while chunk := os.read(fd, 1 << 16):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def _private_chain(directory: str) -> bool:
    """``directory`` and every directory above it are real directories, root's, that no one else
    can change: written by root alone, or sticky (``/tmp``: others cannot rename or remove what
    root owns there); ``directory`` and its parent (``/var/cache/nso-install``) are root's alone,
    0700."""
    parts = directory.strip("/").split("/")
    for i in range(len(parts) + 1):
        p = "/" + "/".join(parts[:i])
        try:
            st = os.lstat(p)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
            return False
        if i >= len(parts) - 1:
            if st.st_mode & 0o077:
                return False
        elif st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return False
    return True


def _switched_on() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


def prepare() -> bool:
    """Make the records' directory (and its parent), 0700 each, if missing: done by a run that
    changes things anyway, so that the first run recorded changes nothing outside it (making
    /var/cache/nso-install changes /var/cache).  True when it is there, as a record needs it.
    Nothing at all where replay is switched off (NSO_INSTALL_REPLAY=0)."""
    if not _switched_on():
        return False
    where = directory()
    for d in (os.path.dirname(where), where):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
    return _private_chain(where)


# --- replaying --------------------------------------------------------------------------------

def unsafe_directory(where: str) -> str:
    """Why the records' directory ``where`` is not used (NSO_INSTALL_REPLAY=explain)."""
    return (f"the records' directory {where} is not root's alone (it and its parent must be root's and 0700, "
            f"every directory above them root's and not writable by others); remove it (a cache: rm -r {where}) "
            "and re-run, after fixing the owner or mode of a directory above it that is wrong")


def _load(w: dict) -> dict | None:
    """The record of the world ``w``; None when there is none (or a torn one); ValueError (why)
    when the record or its directory is not as only nso-install keeps them."""
    where = directory()
    if not _private_chain(where):
        if not os.path.lexists(where):
            return None  # (no run has changed anything yet: prepare)
        raise ValueError(unsafe_directory(where))
    name = digest(w)
    path = f"{where}/{name[:32]}.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"the record {path} cannot be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077 or st.st_nlink != 1:
            raise ValueError(f"the record {path} is not a file of root's alone (0600, one link)")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    finally:
        os.close(fd)
    import json

    try:
        rec = json.loads(data)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and rec.get("world") == name else None


def _lookups_hold(lookups: list) -> bool:
    import grp
    import pwd

    funcs = {"getpwnam": pwd.getpwnam, "getpwuid": pwd.getpwuid, "getpwall": pwd.getpwall,
             "getgrnam": grp.getgrnam, "getgrgid": grp.getgrgid, "getgrall": grp.getgrall,
             "getgrouplist": os.getgrouplist}
    return all(_ask(funcs[name], args) == answer for name, args, answer in lookups)


def _ask(func, args):
    try:
        return _plain(func(*args))
    except KeyError:
        return "KeyError"


def _plain(value):
    """An answer as JSON keeps it (struct_passwd, named tuples and tuples -> lists; sets -> sorted)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


def replay(w: dict | None) -> int | None:
    """Print what the recorded run printed and return its exit code, when the record for the
    world ``w`` (:func:`world`) exists and everything it read is as it was; None (having printed
    nothing, holding nothing) otherwise."""
    lock = None
    try:
        rec = _load(w) if w is not None else None
        if rec is None or rec.get("format") != FORMAT:
            return _explain("no record for this world" if w is not None else None)
        import time

        if context_digest(rec["env_read"], rec["cwd_used"]) != rec["context"]:
            raise ValueError("an environment variable the run read, or the working directory it used, "
                             "is not as it was")
        now = time.time()
        if rec["expires"] is not None and now >= rec["expires"]:
            return _explain("the record has expired (a certificate's validity)")
        if now < rec["since"]:  # (a verdict whose flip is past, as an expired certificate's, holds since then only)
            return _explain("the clock is earlier than when the record was made (set back)")
        if rec["lock"] is not None:
            import fcntl

            # Held (shared) until the process ends: no run applies changes while this replays.
            # (O_NONBLOCK: taken before the signatures are compared, so a FIFO another account put
            # at its name must not hold the run; the comparison then finds it)
            lock = os.open(rec["lock"], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        for where, names, want in rec["dirs"]:
            if scan(where, names.split("\0"))[0] != want:
                raise ValueError(f"an entry of {where} changed (or the directory itself)")
        for path, want in rec["contents"]:
            if content_digest(path) != want:
                raise ValueError(f"the bytes of {path}, which an account other than root can write, changed")
        if not _lookups_hold(rec["lookups"]):
            raise ValueError("an account lookup answers differently")
        if not _facts_hold(rec["facts"]):
            raise ValueError("a process or mount is not as it was")
        output, code = rec["output"], rec["exit"]
    except Exception as e:  # noqa: BLE001  (whatever the matter with a record: the run in full decides)
        if lock is not None:
            os.close(lock)  # (a run in full takes it exclusively)
        return _explain(str(e) if type(e) is ValueError else f"{type(e).__name__}: {e}")
    for fd, text in output:
        stream = sys.stdout if fd == 1 else sys.stderr
        if isinstance(text, str):
            stream.write(text)
        else:
            stream.buffer.write(bytes(text))
    _explain(None, "replayed")
    return code


def _explain(why: str | None, what: str = "not replayed") -> None:
    """With NSO_INSTALL_REPLAY=explain: say on stderr what happened, and why."""
    if why is not None or what != "not replayed":
        if os.environ.get(SWITCH) == "explain":
            sys.stderr.write(f"nso-install: replay: {what}{': ' + why if why else ''}\n")
    return None


# --- the console script ----------------------------------------------------------------------

def prerendered_help() -> None:
    """``nso-install --help`` (or ``-h``): print the text click prints, stored at the widths most
    terminals and every pipe give it (:mod:`.helptext`, generated from the command definitions),
    and exit, without importing click, which alone takes longer than the rest.  Anything that
    could make click print otherwise (another width, another program name, ``python -m``) or
    refuse (root in a Python that may have run another account's code: cli.common) is left to
    click."""
    if sys.argv[1:] not in (["--help"], ["-h"]) or os.path.basename(sys.argv[0]) != "nso-install":
        return
    if os.geteuid() == 0:
        site = sys.modules.get("site")
        if site is None or getattr(site, "ENABLE_USER_SITE", True) or (
                not sys.flags.ignore_environment and any(os.environ.get(v) for v in STARTUP_VARIABLES)):
            return
    # (as cli.common._HelpFormatter finds the width: COLUMNS, the terminal's, else 80)
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
    from .helptext import TEXT

    text = TEXT.get(max(min(columns or 80, 100) - 2, 50))
    if text is None:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        from .errors import exit_closed_pipe

        exit_closed_pipe()
    sys.exit(0)


def console() -> None:
    """``nso-install``: replay when a record allows it, else run in full (recording when eligible)."""
    prerendered_help()
    import time

    # The racy window (replay_record.racy) starts here, before the modules of the run are
    # imported: one changed after this process read it and before recording starts is racy too.
    started = time.time_ns()
    w = world(sys.argv[1:])
    try:
        code = replay(w)
    except BrokenPipeError:  # printing what the recorded run printed, to a reader that has gone
        from .errors import exit_closed_pipe

        exit_closed_pipe()
    if code is not None:
        sys.exit(code)
    recorder = None
    if w is not None:
        from .replay_record import Recorder

        recorder = Recorder(w, started)
    from .cli import main

    if recorder is None:
        main()
        return
    code: object = 1  # an exception other than SystemExit: a failed run, never recorded
    try:
        recorder.start()
        main()
        code = 0
    except SystemExit as e:
        code = e.code
        raise
    finally:
        recorder.stop()
        recorder.finish(code)
