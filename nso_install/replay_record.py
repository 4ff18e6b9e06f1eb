"""Recording a run for :mod:`nso_install.replay`: what it read, looked up and printed.

The run reads the target through directory descriptors (``dir_fd``, ``/proc/self/fd/N/...``),
so every path is resolved to the name it had when read (``readlink /proc/self/fd/N``).
Reads come from two sources:

* wrappers around ``os.stat``, ``os.lstat``, ``os.open``, ``os.readlink`` and ``os.access``
  (the calls that raise no audit event, or raise one without their ``dir_fd``), around the
  account lookups of :mod:`pwd`/:mod:`grp` (answered by NSS, outside ``os``), and around
  ``os.getcwd`` and the environment's ``__getitem__``/``__iter__`` (the working directory and
  the variables outside :func:`~nso_install.replay.in_every_world` count only when read);
* an audit hook (:func:`sys.addaudithook`) for everything else: ``open`` of any kind (also
  ``io.open`` and the interpreter's own), directory listings, extended attributes, the lock;
  and, to give up the record, every event that changes something or reaches outside the file
  system (``os.mkdir``... ``subprocess.Popen``, ``socket.*``, ``os.chdir``, ``ctypes.dlopen``).

A read the recorder cannot name (a descriptor that is no file, ``..`` in a path, ``/proc`` or
``/sys`` beyond what the world holds) gives up the record too: the run goes on, unrecorded.
"""

from __future__ import annotations

import os
import sys
import time

from . import replay
from .replay import in_every_world

RACY_NS = 100_000_000  # 0.1 s: far above a file system clock tick (1-10 ms)

# Audit events after which a run keeps no record: it changed something, or depended on what
# no path signature shows.
_GIVE_UP = frozenset({
    "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.chmod", "os.chown",
    "os.utime", "os.truncate", "os.setxattr", "os.removexattr", "os.chflags", "os.lchflags", "os.lchmod",
    "os.mkfifo", "os.mknod", "os.putenv", "os.unsetenv", "os.chdir", "os.fchdir", "os.chroot",
    "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.kill", "os.killpg",
    "os.startfile", "pty.spawn", "subprocess.Popen", "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function",
    "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostname", "fcntl.ioctl", "mmap.__new__", "sqlite3.connect",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move", "shutil.rmtree",
    "shutil.chown", "os.add_dll_directory", "resource.setrlimit", "sys.setprofile", "sys.settrace",
})
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# The only paths under /proc, /sys and /dev a recorded run may read: what the world holds
# (/proc/self/status), where descriptors are resolved from, and the null device.
_PSEUDO_OK = frozenset({"/proc/self/status", "/proc/self/fd", "/dev/null"})
_PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
_LOOKUPS = (("pwd", ("getpwnam", "getpwuid", "getpwall")), ("grp", ("getgrnam", "getgrgid", "getgrall")),
            ("os", ("getgrouplist",)))


class Recorder:
    """Start before the run, stop after it; :meth:`finish` keeps the record when it may."""

    def __init__(self, world: dict, started: int = 0):
        self.world = world
        self.paths: dict[str, None] = {}  # (ordered, deduplicated)
        self.listed: dict[str, None] = {}  # directories listed: each entry read as well
        self.opened: dict[str, None] = {}  # paths opened (their bytes may count: replay.content_digest)
        # the bytes of each opened path when it was opened, before the run read them: another
        # account may change them later through a mapping, moving no ctime (_finish compares)
        self.bytes_when_opened: dict[str, str | None] = {}
        self.lookups: list = []
        self.facts: list = []  # replay.fact answers
        self.inside_fact = 0  # inside a replay.fact: its reads are its own (the answer is kept)
        self.output: list = []
        self.lock: str | None = None
        self.gave_up: str | None = None  # why no record will be kept (for tests)
        self.active = False
        self._undo: list = []
        self._inner = 0  # inside a wrapper: its call's audit event is already accounted for
        self._readlink = os.readlink
        # descriptor -> (the path it was opened as, its device and inode): a descriptor number is
        # reused once closed (by os.close or by a file object), so a hit is checked with fstat
        self._fds: dict[int, tuple[str, int, int]] = {}
        self.t0 = started  # (ns) when the process began reading: the console, before it imported the run
        self.last: str | None = None  # the path read() noted last
        self.cwd = os.getcwd()
        self.cwd_used = False  # a relative path, or os.getcwd(): the record holds the directory
        self.env_read: set[str] | None = set()  # variables read through os.environ (None: all of it)

    # -- start / stop --------------------------------------------------------------------------

    def start(self) -> None:
        self.t0 = self.t0 or time.time_ns()
        if not getattr(sys, "_nso_install_replay_hook", False):
            sys.addaudithook(_hook)  # (an audit hook stays for the process: it asks _current)
            sys._nso_install_replay_hook = True
        global _current
        _current = replay._recorder = self
        self.active = True
        for name in ("stat", "lstat", "open", "readlink", "access"):
            self._wrap(os, name, self._path_call(getattr(os, name)))
        self._wrap(os, "statvfs", self._giving_up(os.statvfs, "free space read"))
        for modname, names in _LOOKUPS:
            mod = __import__(modname)
            for name in names:
                self._wrap(mod, name, self._lookup(name, getattr(mod, name)))
        self._wrap(os, "getcwd", self._using_cwd(os.getcwd))
        self._wrap(os, "getcwdb", self._using_cwd(os.getcwdb))
        environ = type(os.environ)  # (the class: os.getenv and every `from os import environ` use it)
        self._wrap(environ, "__getitem__", self._env_item(environ.__getitem__))
        self._wrap(environ, "__iter__", self._env_all(environ.__iter__))
        self._wrap(sys, "stdout", _Tee(sys.stdout, 1, self.output))
        self._wrap(sys, "stderr", _Tee(sys.stderr, 2, self.output))
        self._wrap(sys, "stdin", _NoStdin(sys.stdin, self))

    def stop(self) -> None:
        global _current
        self.active = False
        _current = replay._recorder = None
        self._unwrap()

    def _wrap(self, mod, name, new) -> None:
        old = getattr(mod, name)
        self._undo.append((mod, name, old))
        setattr(mod, name, new)
        if mod is os:
            # what os says it supports is asked by function identity: shutil, imported while a
            # wrapper stood in, would find os.open without dir_fd and fall back for the whole
            # process to its rmtree that follows links planted under it (a run may go on to
            # remove directories another account can write)
            for supports in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks,
                             os.supports_effective_ids):
                if old in supports:
                    supports.add(new)
                    self._undo.append((supports, None, new))

    def _unwrap(self) -> None:
        for mod, name, old in reversed(self._undo):
            if name is None:
                mod.discard(old)  # (a wrapper added to an os.supports_* set)
            else:
                setattr(mod, name, old)
        self._undo.clear()

    # -- what the run reads ---------------------------------------------------------------------

    def give_up(self, why: str) -> None:
        if self.gave_up is None:
            self.gave_up = why
            self.stop()  # (nothing more to note: the rest of the run, an install say, runs unwrapped)

    def fd_path(self, fd: int) -> str | None:
        known = self._fds.get(fd)
        if known is not None:
            try:
                st = os.fstat(fd)
            except OSError:
                return None
            if (st.st_dev, st.st_ino) == known[1:]:
                return known[0]
        try:
            p = self._readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        return p if p.startswith("/") and not p.endswith(" (deleted)") else None

    def read(self, path, dir_fd: int | None = None) -> str | None:
        """Note that the run read ``path`` (relative to ``dir_fd`` or the working directory);
        the path noted, or None (a descriptor, the record given up, or inside a fact)."""
        if isinstance(path, int) or self.inside_fact:
            return  # a descriptor: its path was noted when it was opened
        if dir_fd is not None and type(path) is str and "/" not in path and path not in ("", ".", ".."):
            base = self.fd_path(dir_fd)  # (the common case, made quick: a name in a directory held open)
            if base is not None and not base.startswith(("/proc", "/sys", "/dev")):
                p = f"{base}/{path}" if base != "/" else f"/{path}"
                self.paths[p] = None
                return p
        try:
            p = os.fsdecode(os.fspath(path))
        except TypeError:
            return self.give_up(f"a path of type {type(path).__name__}")
        if not p.startswith("/"):
            if dir_fd is None:
                self.cwd_used = True
            base = self.fd_path(dir_fd) if dir_fd is not None else self.cwd
            if base is None:
                return self.give_up(f"a descriptor ({dir_fd}) that names no file")
            p = f"{base}/{p}"
        if p.startswith("/proc/self/fd/"):
            n, _, rest = p[len("/proc/self/fd/"):].partition("/")
            if n.isdigit():
                base = self.fd_path(int(n))
                if base is None:
                    return self.give_up(f"/proc/self/fd/{n}, which names no file")
                p = f"{base}/{rest}" if rest else base
        parts = [c for c in p.split("/") if c and c != "."]
        if ".." in parts:
            return self.give_up(f"a path with '..': {p}")
        p = "/" + "/".join(parts)
        if p.startswith(("/proc/", "/sys/", "/dev/")):
            if p in _PSEUDO_OK:
                return None  # (not a signature: /proc/self is another directory in every process)
            return self.give_up(f"{p}, which no signature describes")
        self.paths[p] = None
        return p

    def note_opened(self, p: str) -> None:
        """Note that the run opened ``p``, and the digest of its bytes then when another account
        can write it (replay.content_digest; "!" and why, when that cannot be had)."""
        self.opened[p] = None
        if p in self.bytes_when_opened:
            return
        self.inside_fact += 1  # (what content_digest reads is not the run's)
        try:
            self.bytes_when_opened[p] = replay.content_digest(p)
        except (OSError, ValueError) as e:
            self.bytes_when_opened[p] = f"!{type(e).__name__}"
        finally:
            self.inside_fact -= 1

    def _path_call(self, func):
        rec = self
        opening = func.__name__ == "open"

        def call(path, *args, dir_fd=None, **kw):
            rec.last = None
            if rec.active:  # (os.open's audit event gives up the record when it writes)
                rec.last = rec.read(path, dir_fd)
            rec._inner += 1
            try:
                out = func(path, *args, dir_fd=dir_fd, **kw) if dir_fd is not None else func(path, *args, **kw)
            finally:
                rec._inner -= 1
            if opening and rec.active and rec.last is not None:
                p = rec.last
                st = os.fstat(out)  # (what read() just noted is this descriptor's path: no readlink later)
                rec._fds[out] = (p, st.st_dev, st.st_ino)
                rec.note_opened(p)  # (its stat and open set rec.last: p is taken first)
                rec.last = p
            return out

        call.__name__, call.__doc__, call.__wrapped__ = func.__name__, func.__doc__, func
        return call

    def _using_cwd(self, func):
        rec = self

        def getcwd():
            if rec.active and not rec.inside_fact:
                rec.cwd_used = True
            return func()

        getcwd.__wrapped__ = func
        return getcwd

    def _env_item(self, func):
        rec = self

        def getitem(environ, key):
            if rec.active and rec.env_read is not None and not in_every_world(key):
                rec.env_read.add(key)
            return func(environ, key)

        getitem.__wrapped__ = func
        return getitem

    def _env_all(self, func):
        rec = self

        def iterate(environ):
            if rec.active:
                rec.env_read = None  # the whole environment: all of it counts
            return func(environ)

        iterate.__wrapped__ = func
        return iterate

    def _giving_up(self, func, why: str):
        rec = self

        def call(*args, **kw):
            rec.give_up(why)
            return func(*args, **kw)

        call.__wrapped__ = func
        return call

    def _lookup(self, name: str, func):
        rec = self

        def call(*args):
            try:
                answer = func(*args)
            except KeyError:
                rec.lookups.append([name, list(args), "KeyError"])
                raise
            rec.lookups.append([name, list(args), replay._plain(answer)])
            return answer

        call.__name__, call.__wrapped__ = name, func
        return call

    def audit(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                self.give_up("a file opened for writing")
            elif mode is None and flags & _WRITES:
                self.give_up("a file opened for writing")
            if path == 0:
                self.give_up("standard input read")
            elif not self._inner:
                p = self.read(path)
                if p is not None:
                    self.note_opened(p)  # (before the open itself: the bytes the run is about to read)
        elif event in ("os.listdir", "os.scandir", "os.getxattr", "os.listxattr"):
            path = args[0]
            if isinstance(path, int):
                path = self.fd_path(path)
                if path is None:
                    return self.give_up(f"{event} of a descriptor that names no file")
            p = self.read("." if path is None else path)
            if p is not None and event in ("os.listdir", "os.scandir"):
                # A listing gives every entry's type (and scandir's DirEntry.stat() its metadata,
                # with no event of its own): every entry counts as read.
                self.listed[p] = None
        elif event == "fcntl.flock":
            fd, op = args
            self.lock = self.fd_path(fd)
            if self.lock is None:
                self.give_up("a lock on an unnamed descriptor")
        elif event == "os.fork" and replay._forking_pure or event == "os.kill" and args[0] in replay._pure_pids:
            pass
        elif event in _GIVE_UP:
            self.give_up(event)

    # -- the record --------------------------------------------------------------------------

    def finish(self, code) -> None:
        """Keep the record if the run succeeded, changed nothing and read only what it can name.
        Never fails the run."""
        try:
            self._finish(0 if code is None else code)
        except Exception as e:  # noqa: BLE001  (a record is an optimisation: the run stands)
            self.give_up(str(e) if type(e) is ValueError else f"the record could not be written: {type(e).__name__}"
                         f"{': ' + e.strerror if isinstance(e, OSError) and e.strerror else ''}")
        replay._explain(self.gave_up, "not recorded" if self.gave_up else "recorded")

    def _finish(self, code) -> None:
        if code != 0:
            return self.give_up(f"exit code {code}")
        if self.gave_up:
            return
        paths = dict(self.paths)
        for d in self.listed:
            try:
                paths.update((f"{d.rstrip('/')}/{name}", None) for name in os.listdir(d))
            except OSError:
                return self.give_up(f"{d} cannot be listed again")
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if isinstance(f, str) and f.startswith("/"):
                paths[f] = None
        paths[sys.executable] = None
        try:
            groups = _signed(paths, replay.directory())
        except Unsigned as e:
            return self.give_up(str(e))
        for d, (names, _, latest, coarse) in groups.items():
            if racy(latest, coarse, self.t0):
                return self.give_up(f"an entry of {d} changed while the run read it, or just before (racy)")
        contents = []
        for p in self.opened:
            try:
                digest = replay.content_digest(p)
            except (OSError, ValueError) as e:
                return self.give_up(f"{p} cannot be kept by its bytes ({e})")
            if digest != self.bytes_when_opened.get(p, digest):
                # written after the run opened it, by a write that moved no ctime (a shared mapping):
                # the run may have decided on other bytes than these
                return self.give_up(f"the bytes of {p} changed while the run read it")
            if digest is not None:
                contents.append([p, digest])
        env = None if self.env_read is None else sorted(self.env_read)
        rec = {"format": replay.FORMAT, "world": replay.digest(self.world),
               "env_read": env, "cwd_used": self.cwd_used, "context": replay.context_digest(env, self.cwd_used),
               "expires": replay._horizon, "since": time.time(), "lock": self.lock,
               "dirs": [[d, "\0".join(names), digest] for d, (names, digest, _, _) in groups.items()],
               "contents": contents, "lookups": self.lookups, "facts": self.facts, "output": self.output,
               "exit": 0}
        _write(rec)


def racy(latest: int, coarse: int, t0: int) -> bool:
    """Whether an entry whose latest ctime is ``latest`` (``coarse``: the latest of those on a
    whole second) could change again after a run that started at ``t0`` with no new ctime
    (git's racy-clean rule).  A clock tick is far below RACY_NS; but a file system that keeps
    whole seconds stamps a change later in the second of ``t0`` with the second itself, so an
    entry there is racy from the start of that second."""
    if latest >= t0 - RACY_NS:
        return True
    return coarse >= t0 - t0 % 1_000_000_000 - RACY_NS


def _groups(paths, exclude: str, groups: dict) -> None:
    """Add each path and every directory above it to ``groups`` (directory -> names; "/" is
    "." in "/"), leaving out ``exclude`` and what is below it (the records: the run does not read
    them, and they change with every record written), and the mount points of /proc, /sys and
    /dev (a listing of "/" names them; /proc's link count changes with every process started: what
    a run learns from processes it learns through replay.fact, and nothing else there is read)."""
    skip = (exclude, *_PSEUDO_ROOTS)
    below = tuple(d.rstrip("/") + "/" for d in skip)
    seen: set[str] = set()
    for p in paths:
        if p in skip or p.startswith(below):
            continue
        while p not in seen:
            seen.add(p)
            if p == "/":
                groups.setdefault("/", {})["."] = None
                break
            d, _, name = p.rpartition("/")
            d = d or "/"
            groups.setdefault(d, {})[name] = None
            p = d


class Unsigned(Exception):
    """A path the run read leads where no signature describes it: no record."""


def _signed(paths, exclude: str) -> dict[str, tuple[list[str], str, int, int]]:
    """directory -> (names, the digest of their signatures, the latest ctime, the latest on a whole
    second: replay.scan) for ``paths`` and
    every directory above them; where one of those is a symbolic link, the same for the paths
    with links resolved, and for every path looked up on the way from each link to what it
    names (a link read as the last name of a path, the distribution say, is followed: what it
    names is what the run read)."""
    groups: dict[str, dict] = {}
    _groups(paths, exclude, groups)
    signed, links = {}, set()
    for d, names in groups.items():
        found: list[str] = []
        signed[d] = (list(names), *replay.scan(d, list(names), found))
        links.update(d if n == "." else f"{d.rstrip('/')}/{n}" for n in found)
    if links:
        resolved: dict[str, None] = {}
        for d, (names, _, _, _) in list(signed.items()):
            if _under(d, links):
                real = os.path.realpath(d)
                resolved.update((f"{real.rstrip('/')}/{n}" if n != "." else real, None) for n in names)
        for link in links:
            _followed(link, resolved)
        more: dict[str, dict] = {}
        _groups(resolved, exclude, more)
        for d, names in more.items():
            have = signed[d][0] if d in signed else []
            known = set(have)
            names = have + [n for n in names if n not in known]
            signed[d] = (names, *replay.scan(d, names))
    return signed


MAX_HOPS = 40  # links followed from one link, at most (Linux's limit for one path)


def _followed(link: str, seen: dict) -> None:
    """Add to ``seen`` every path looked up when ``link`` is followed to what it names, as the
    kernel resolves it: each link on the way and where it leads.  Unsigned when it leads into
    /proc, /sys or /dev (standard input, a descriptor: no signature shows what they hold), or
    through too many links."""
    import stat

    real, rest, hops = "", link.split("/"), 0  # (real: resolved so far, "" for "/")
    while rest:
        name = rest.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            real = real.rpartition("/")[0]
            continue
        p = f"{real}/{name}"
        if any(p == r or p.startswith(r + "/") for r in _PSEUDO_ROOTS):
            there = "/".join([p, *(c for c in rest if c not in ("", "."))])
            if there in _PSEUDO_OK:
                return  # (the null device, as a run may read it)
            raise Unsigned(f"{link} leads to {there}, which no signature describes")
        seen[p] = None
        try:
            st = os.lstat(p)
        except OSError:
            real = p  # (missing: what is below it is signed as missing too)
            continue
        if not stat.S_ISLNK(st.st_mode):
            real = p
            continue
        hops += 1
        if hops > MAX_HOPS:
            raise Unsigned(f"{link} leads through more than {MAX_HOPS} links")
        target = os.readlink(p)
        if target.startswith("/"):
            real = ""
        rest[:0] = target.split("/")


def _under(d: str, links: set[str]) -> bool:
    """Whether ``d`` or a directory above it is one of ``links``."""
    while True:
        if d in links:
            return True
        if d == "/":
            return False
        d = os.path.dirname(d)


def _write(rec: dict) -> None:
    import json

    where = replay.directory()
    if not replay.prepare():
        raise ValueError(replay.unsafe_directory(where) if os.path.lexists(where) else
                         f"the records' directory {where} could not be made")
    name = f"{rec['world'][:32]}.json"
    tmp = f"{where}/.{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        # No fsync: a record is a cache. One torn by a crash is not JSON, or not of its world,
        # and is ignored; the next run in full writes it again.
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(rec).encode())
        os.rename(tmp, f"{where}/{name}")
    except BaseException:
        os.unlink(tmp)
        raise
    _prune(where)


STALE_TMP_NS = 60 * 10**9  # a record's temporary file older than this: left by a run killed while writing


def _prune(where: str) -> None:
    """Keep the newest records, at most :data:`MAX_RECORDS` of them and :data:`MAX_BYTES` in all
    (a record per world: old ones are dead weight; a 100k-entry install's is 1.5 MB), and no
    temporary file that a run killed while writing a record left behind (it takes milliseconds:
    a writer still at it after :data:`STALE_TMP_NS` only fails to rename it, and keeps no record)."""
    with os.scandir(where) as it:
        entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    found = sorted(((st.st_mtime_ns, st.st_size, name) for name, st in entries if name.endswith(".json")),
                   reverse=True)
    stale = time.time_ns() - STALE_TMP_NS
    for name, st in entries:
        if name.startswith(".") and name.endswith(".tmp") and st.st_mtime_ns < stale:
            try:
                os.unlink(f"{where}/{name}")
            except FileNotFoundError:
                pass
    total = 0
    for i, (_, size, name) in enumerate(found):
        total += size
        if i >= replay.MAX_RECORDS or (i and total > replay.MAX_BYTES):  # (the newest is always kept)
            try:
                os.unlink(f"{where}/{name}")
            except FileNotFoundError:
                pass


_current: Recorder | None = None


def _hook(event: str, args: tuple) -> None:
    rec = _current
    if rec is not None and rec.active:
        rec.audit(event, args)


class _Tee:
    """A standard stream that also keeps what is written to it, in order with the other one."""

    def __init__(self, stream, fd: int, out: list):
        self._stream, self._fd, self._out = stream, fd, out

    def write(self, s):
        n = self._stream.write(s)  # (first: a write the stream refuses is not kept)
        self._out.append([self._fd, s if isinstance(s, str) else list(bytes(s))])
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    @property
    def buffer(self):
        return _Tee(self._stream.buffer, self._fd, self._out)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _NoStdin:
    """Standard input that gives up the record when read (what it held is not kept)."""

    _HARMLESS = frozenset({"isatty", "encoding", "errors", "name", "closed", "mode"})

    def __init__(self, stream, rec: Recorder):
        self._stream, self._rec = stream, rec

    def __getattr__(self, name):
        if name not in self._HARMLESS:
            self._rec.give_up("standard input used")
        return getattr(self._stream, name)

    def __iter__(self):
        self._rec.give_up("standard input used")
        return iter(self._stream)

