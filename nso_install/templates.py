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
    (not with --check, which changes nothing).  True when the cache is in use."""
    global _BYTECODE_CACHE
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
    """The templates this process rendered, compiled into ``STATE_DIR/template-cache`` (made when
    missing), after a run recorded its state; never fails the run."""
    try:
        if use_bytecode_cache(state_dir, writable=True):
            env = environment()
            for name in sorted(_RENDERED):
                env.get_template(name)
    except OSError:
        pass


_RENDERED: set[str] = set()


def render_text(name: str, **context) -> str:
    _RENDERED.add(name)
    return environment().get_template(name).render(**context)


def render(name: str, **context) -> bytes:
    return render_text(name, **context).encode()
