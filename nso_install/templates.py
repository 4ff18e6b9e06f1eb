"""The one Jinja2 environment for the templates shipped with the tool (``templates/``).

XML templates (``*.xml.j2``: ncs.conf, aaa_init.xml) escape every value; the others (shell
scripts, the unit, logrotate) take values that :mod:`nso_install.spec` has already checked
to be shell-safe.  All use ``trim_blocks``/``lstrip_blocks``, so ``{% %}`` lines leave no
trace in the output.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

# (directory, writable) of the compiled templates' cache, or None: see use_bytecode_cache()
_BYTECODE_CACHE: tuple[str, bool] | None = None
CACHE_DIR_NAME = "template-cache"


def templates_dir() -> Path:
    installed = Path(__file__).parent / "templates"  # wheel: force-included here
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "templates"  # source checkout / editable


@lru_cache(maxsize=1)
def environment():
    import jinja2  # only runs that render something pay for it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(jinja2) if _BYTECODE_CACHE else None,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def use_bytecode_cache(state_dir: Path, *, writable: bool) -> bool:
    """Keep the compiled templates in ``STATE_DIR/template-cache``, so a re-run does not compile
    them again.  Root loads that bytecode (it is Python code): the directory must be this
    account's alone, as nso-install makes it, 0700 in the private state directory (0700, checked
    by the run's lock); anything else there (another owner, group or other bits, a link) and no
    cache is used.  ``writable``: create the directory when missing and store what was compiled
    (not with --check, which changes nothing).  True when the cache is in use.  Read-only (a run
    starting): what this process rendered before is forgotten (the next fill keeps this run's)."""
    global _BYTECODE_CACHE, _memo, _memo_missed
    if not writable:
        _memo, _memo_missed = None, False
        _memo_used.clear()
        _COMPILED.clear()
    path = Path(state_dir) / CACHE_DIR_NAME
    try:
        if not _private_dir(os.lstat(state_dir)):
            return False
        if writable:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        ok = _private_dir(os.lstat(path))
    except OSError:
        ok = False
    new = (str(path), writable) if ok else None
    if new != _BYTECODE_CACHE:
        if new is None or _BYTECODE_CACHE is None or new[0] != _BYTECODE_CACHE[0]:
            _memo = None  # another directory: its own kept renders
        _BYTECODE_CACHE = new
        environment.cache_clear()
    return ok


def _private_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def _bytecode_cache(jinja2):
    directory, writable = _BYTECODE_CACHE

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            # the file as well as the directory: this account's, written by no one else
            try:
                st = os.lstat(self._get_cache_filename(bucket))
            except OSError:
                return
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                super().load_bytecode(bucket)

        def dump_bytecode(self, bucket):
            if writable:  # (jinja2 writes a 0600 temporary file and renames it into place)
                super().dump_bytecode(bucket)

    return Cache(directory)


def fill_bytecode_cache(state_dir: Path) -> None:
    """The templates this process rendered with jinja2, compiled into ``STATE_DIR/template-cache``
    (made when missing), and what they rendered (:data:`MEMO_NAME`), after a run recorded its state;
    never fails the run.  A run whose every render was a kept one neither imports jinja2 here nor
    compiles anything: a render kept is given back without its template."""
    try:
        if use_bytecode_cache(state_dir, writable=True):
            if _COMPILED:
                env = environment()
                for name in sorted(_COMPILED):
                    env.get_template(name)
            _save_memo()
    except OSError:
        pass


_COMPILED: set[str] = set()  # the templates this process rendered with jinja2 (not kept ones)

# What the templates rendered, kept beside their bytecode (``template-cache/rendered.json``, same
# rules: read only where the bytecode would be, written only when it is).  A render's key is a
# SHA-256 digest of the template's name, its context (every value with its type; a context holding
# anything else is not kept), the bytes of every file of the templates directory and of this module,
# and jinja2's and the tool's versions: with every input of a render the same, its text is the same,
# so a re-run that changes nothing neither imports jinja2 nor renders, and any other run renders
# what changed.  Renders that may hold key material (``keep=False``) are never kept.
MEMO_NAME = "rendered.json"
MAX_KEPT_RENDERS = 256  # a run renders about 30
_memo: dict[str, str] | None = None  # read from the cache directory (None: not yet)
_memo_used: dict[str, str] = {}  # this process's renders, what _save_memo writes
_memo_missed = False  # a render that could be kept was not


def render_text(name: str, keep: bool = True, **context) -> str:
    key = _memo_key(name, context) if keep else None  # kept by the next fill even when not read now
    if key is not None and _BYTECODE_CACHE:
        memo = _load_memo()
        if key in memo:
            _memo_used[key] = memo[key]
            return memo[key]
    _COMPILED.add(name)
    text = environment().get_template(name).render(**context)
    if key is not None:
        global _memo_missed
        _memo_used[key] = text
        _memo_missed = True
    return text


def renders_to_keep() -> bool:
    """Whether this process rendered something the kept renders lack (fill_bytecode_cache adds it)."""
    return _memo_missed


def _memo_key(name: str, context: dict) -> str | None:
    import hashlib

    try:
        shown = _canonical(context)
    except Exception:  # noqa: BLE001 - a value without a canonical form (or a property that fails): not kept
        return None
    return hashlib.sha256(f"{_sources_digest()}\0{name}\0{shown}".encode()).hexdigest()


def _canonical(value) -> str:
    """``value`` as text that differs whenever a template could tell it apart (types included):
    None, bool, int, float, str, lists, tuples (named ones by their type), dicts (in order), sets,
    dataclass instances (by their type, fields and properties); anything else is a TypeError."""
    import dataclasses

    t = type(value)
    if value is None or t in (bool, int, float, str):
        return f"{t.__name__}:{value!r}"
    if t in (list, tuple) or isinstance(value, tuple):
        return f"{t.__module__}.{t.__qualname__}[{','.join(_canonical(v) for v in value)}]"
    if t is dict:
        return "dict{" + ",".join(f"{_canonical(k)}:{_canonical(v)}" for k, v in value.items()) + "}"
    if t in (set, frozenset):
        return f"{t.__name__}{{{','.join(sorted(_canonical(v) for v in value))}}}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        if set(getattr(value, "__dict__", ())) <= set(names):  # nothing but its fields (and properties)
            names += sorted(n for c in t.__mro__ for n, a in vars(c).items() if isinstance(a, property))
            return f"{t.__module__}.{t.__qualname__}(" + ",".join(
                f"{n}={_canonical(getattr(value, n))}" for n in dict.fromkeys(names)) + ")"
    raise TypeError(t.__qualname__)


@lru_cache(maxsize=1)
def _sources_digest() -> str:
    """A digest of every file of the templates directory, this module, jinja2's ``__init__``
    (its version) and the tool's version."""
    import hashlib
    from importlib.util import find_spec

    from . import __version__

    h = hashlib.sha256(f"nso-install {__version__}\0".encode())
    top = templates_dir()
    for directory, dirs, files in sorted(os.walk(top)):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(directory, f)
            h.update(f"{os.path.relpath(path, top)}\0".encode())
            h.update(Path(path).read_bytes())
    spec = find_spec("jinja2")
    for path in (__file__, spec.origin if spec is not None else None):
        h.update(f"\0{path}\0".encode())
        if path:
            h.update(Path(path).read_bytes())
    return h.hexdigest()


def _load_memo() -> dict[str, str]:
    """The kept renders (empty when missing, open to others, not this account's or unreadable)."""
    global _memo
    if _memo is None:
        _memo = {}
        import json

        try:
            fd = os.open(os.path.join(_BYTECODE_CACHE[0], MEMO_NAME),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return _memo
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077:
                with os.fdopen(fd, "rb", closefd=False) as f:
                    data = json.loads(f.read(16 << 20))
                if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
                    _memo = data
        except (OSError, ValueError):
            pass
        finally:
            os.close(fd)
    return _memo


def _save_memo() -> None:
    """This process's renders added to those the cache directory holds (0600, temp + rename), when
    it lacks one of them; the oldest beyond MAX_KEPT_RENDERS are let go.  (Root's cache is the
    host's, shared by every install it makes, --root or not: two installs of other specs on one
    host keep each other's renders instead of replacing them on every run.)"""
    if not _BYTECODE_CACHE or not _BYTECODE_CACHE[1]:
        return
    known = _load_memo()
    if all(known.get(k) == v for k, v in _memo_used.items()):
        return
    import json

    from .fsops import atomic_write

    global _memo
    kept = {k: v for k, v in known.items() if k not in _memo_used}
    kept.update(_memo_used)  # the file's order is the order of use: this run's last
    kept = dict(list(kept.items())[-MAX_KEPT_RENDERS:])
    atomic_write(Path(_BYTECODE_CACHE[0]) / MEMO_NAME, json.dumps(kept).encode(), 0o600)
    _memo = kept


def render(name: str, **context) -> bytes:
    return render_text(name, **context).encode()
