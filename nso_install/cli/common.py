"""What every command of the command line shares: the group, options, output safety, errors.

Every command goes through one error
funnel (:func:`guarded`): library errors (:class:`NsoInstallError`) become one paragraph on
stderr (and a JSON error object with ``--json``) and a non-zero exit code: 1 for failures, 2
for bad usage, 3 when locked; anything else is reported as a bug, never as a traceback
(``-v`` shows it).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import time
from typing import TYPE_CHECKING

import click

from .. import __version__
from ..errors import NsoInstallError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


class PathArg:
    """``path_type`` of a ``click.Path``: the value as a :class:`pathlib.Path`, pathlib imported only
    when such an option is given, so ``--help`` imports no more than the CLI's definition (the
    heavy modules are imported inside the commands; tests/unit/cli checks it)."""

    def __new__(cls, value):
        from pathlib import Path

        if not str(value):  # Path("") is ".": --root "" staged into the current directory
            raise click.BadParameter(EMPTY_PATH)
        return Path(value)


EMPTY_PATH = "an empty path, which would mean the current directory: give a path."


def not_empty(ctx, param, value):
    """A click callback for a path taken as text: "" refused, as :class:`PathArg` refuses it."""
    if value == "":
        raise click.BadParameter(EMPTY_PATH)
    return value


def not_empty_install_dir(ctx, param, value):
    """``--install-dir`` of a command that reads an install: "" refused, not taken for the recorded
    INSTALL_DIR (``--install-dir "$DIR"`` with DIR unset would act on whatever install is recorded;
    install refuses it as a relative path)."""
    if value == "":
        raise click.BadParameter("an empty path: give the install's INSTALL_DIR, or leave the option out (the "
                                 "recorded one).")
    return value


# What a terminal would act on: C0 controls but tab (ESC starts colour, title and clipboard
# sequences; CR and BS overwrite what was printed), DEL, C1 controls (0x9b is a one-byte CSI on
# some terminals), the Unicode line/paragraph separators and bidirectional overrides (text that
# reads differently from what it is), and lone surrogates (undecodable bytes of a file name).
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                          "\u2066-\u2069\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    if c in (0x0A, 0x0D):
        return "\\n" if c == 0x0A else "\\r"
    if 0xDC80 <= c <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text) -> str:
    """``text`` safe to print on a terminal: control characters escaped as Python does
    (ESC -> ``\\x1b``, newline -> ``\\n``), tab kept.  Everything printed that comes from the
    target or the distribution goes through here (multi-line text line by line)."""
    return _UNPRINTABLE.sub(_escape, str(text))


class Progress:
    """Extraction progress on stderr, only for a terminal; throttled to ~10 updates/s."""

    def __init__(self, label: str):
        self.label = label
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        pct = 100 * done // total if total else 100
        bar = "#" * (pct * 30 // 100)
        click.echo(f"\r{printable(self.label)} [{bar:<30}] {pct:3d}% {done / 1e6:7.1f} MB", nl=False, err=True)
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False


def color() -> bool:
    """Colour unless NO_COLOR is set (https://no-color.org); click drops it anyway when the
    output is not a terminal (piped, CI logs)."""
    return not os.environ.get("NO_COLOR")


STYLES = {"changed": "yellow", "change": "yellow", "removed": "yellow", "remove": "yellow", "ok": "green",
          "kept": "magenta", "warning": "yellow", "error": "red", "+": "green", "-": "red"}


def styled(text: str, key: str) -> str:
    """``text`` in the colour of ``key`` (a status, ``warning``, ``error``, a diff's ``+``/``-``)."""
    fg = STYLES.get(key)
    return click.style(text, fg=fg) if fg and color() else text


def echo_notes(notes, warnings=(), quiet: bool = False) -> None:
    """A result's notes (stdout) and warnings (stderr), escaped for the terminal; ``quiet``
    (-q): the warnings only."""
    for note in () if quiet else notes:
        click.echo(f"note: {printable(note)}")
    for w in dict.fromkeys(warnings):  # each once, however many actions met it
        click.echo(f"{styled('warning', 'warning')}: {printable(w)}", err=True)


# -q on every command that changes something (install, activate, rollback, uninstall, keys rotate),
# with one meaning; -v excludes it (spec.check_run_flags)
QUIET_OPTION = click.option("-q", "--quiet", is_flag=True, help="Only the summary line and warnings.")


class _Seconds(click.FloatRange):
    """0 or more seconds, finite: "inf" and "nan" parse as floats and pass FloatRange(min=0)
    (nan compares false with everything), and a run would then wait for ever."""

    name = "seconds"

    def __init__(self):
        super().__init__(min=0.0)

    def convert(self, value, param, ctx):
        import math

        try:
            rv = float(value)
        except (TypeError, ValueError):
            rv = math.nan  # click's own words were "'abc' is not a valid seconds."
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a number of seconds: give 0 (fail at once if another run holds "
                      "the lock) or the seconds to wait, e.g. 60.", param, ctx)
        return super().convert(value, param, ctx)  # (the range: a negative number)


# One definition for every command that takes the run lock (install, activate, rollback,
# uninstall, keys rotate), so they accept and refuse the same values.
LOCK_TIMEOUT_OPTION = click.option("--lock-timeout", type=_Seconds(), metavar="SECONDS", default=0.0,
                                   show_default=True,
                                   help="Seconds to wait for another run's lock (0: fail at once with exit 3; a replayed "
                                        "no-op's brief hold is waited out).")


def existing_root(root, what: str) -> None:
    """Commands that read an install refuse a --root that is not there: a mistyped staging root
    would otherwise read as "nothing installed" (and a CI gate on it would pass)."""
    if root is not None and not os.path.isdir(root):
        raise UsageError("bad-root", f"--root {root} is not a directory.", f"Point --root at the staged tree {what}.")


def fail(e: NsoInstallError, as_json: bool) -> None:
    if as_json:
        from ..jsonout import dumps

        click.echo(dumps({"version": 1, "result": "error", "error": e.as_dict()}, indent=None))
    click.echo(f"{styled('Error', 'error')}: {printable(e.message)}", err=True)
    if e.hint:
        click.echo(f"Hint: {printable(e.hint)}", err=True)
    sys.exit(e.exit_code)


def _denied(e: PermissionError) -> NsoInstallError:
    """A "permission denied" no check foresaw: the host's doing (the account, its capabilities,
    an immutable file, a read-only mount...), said as such, never a traceback or "a bug"."""
    from ..proc import denied_to_root

    lacking = denied_to_root(f"{e.strerror}: {e.filename or ''}")
    if lacking is not None:
        return lacking
    uid = os.geteuid()
    where = f" ({e.filename})" if e.filename else ""
    if uid == 0:
        hint = ("Find out what denies root there (an immutable attribute: lsattr; a read-only mount; a security "
                "module such as SELinux or AppArmor), fix it and re-run: it repairs whatever was left half done.")
    else:
        hint = ("Run as an account that may write there (root for a system install, the directory's owner for a "
                "local one), or choose a directory this account owns; a re-run repairs whatever was left half done.")
    return NsoInstallError("permission-denied", f"{e.strerror or 'Permission denied'}{where}, as uid {uid}.", hint)


def _traceback(verbose, as_json: bool) -> None:
    """-v: the traceback of what ended the command.  Raised on as it is, unless --json: the
    document must still be on stdout (a pipeline's -v for the traceback in its log must not
    leave it without the answer it parses), so the traceback goes to stderr beside it."""
    if not verbose:
        return
    if not as_json:
        raise  # (the exception being handled)
    import traceback

    traceback.print_exc(file=sys.stderr)


def guarded(f):
    """Every command's error funnel (see the module's docstring)."""
    @functools.wraps(f)
    def wrapper(*args, **kw):
        as_json, verbose = kw.get("as_json", False), kw.get("verbose", 0)
        try:
            return f(*args, **kw)
        except NsoInstallError as e:
            fail(e, as_json)
        except (KeyboardInterrupt, BrokenPipeError, SystemExit, click.exceptions.Exit, click.ClickException):
            raise  # an interrupt and a closed output end the program as a whole (_Group)
        except PermissionError as e:
            _traceback(verbose, as_json)
            fail(_denied(e), as_json)
        except Exception as e:  # a bug: say so in one paragraph; -v shows the traceback
            _traceback(verbose, as_json)
            # (sample-dist and man have no -v: their hint must not name it)
            again = "re-run with -v for the traceback and report it" if "verbose" in kw else "please report it"
            fail(NsoInstallError("internal-error", f"unexpected {type(e).__name__}: {e}",
                                 f"This is a bug in nso-install; {again}. "
                                 "A re-run repairs whatever was left half done."), as_json)
    return wrapper


def options(*decorators):
    """Stack click options; shared option groups keep install and render-conf in step."""
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


def complete_set(incomplete: str) -> list:
    """Shell completion of ``--set``: variable names as ``NAME=``, then the values of a
    boolean or an enumeration."""
    from click.shell_completion import CompletionItem

    from ..conf.variables import VARIABLES

    name, sep, value = incomplete.partition("=")
    if not sep:
        return [CompletionItem(f"{n}=", help=v.doc[:80]) for n, v in VARIABLES.items() if n.startswith(name)]
    var = VARIABLES.get(name)
    choices = ("true", "false") if var is not None and var.kind == "bool" else var.choices if var is not None and \
        var.kind == "enum" else ()
    return [CompletionItem(f"{name}={c}") for c in choices if c.startswith(value)]


# Every spec option defaults to None ("not given"): the run then takes the recorded value.
DIR_OPTIONS = options(
    click.option("--install-dir", metavar="DIR", help="Static files: INSTALL_DIR/ncs-VSN and current. [default: /opt/ncs]"),
    click.option("--config-dir", metavar="DIR", help="Configuration files (ncs.conf, keys). [default: /etc/ncs]"),
    click.option("--run-dir", metavar="DIR", help="Run-time state (CDB, packages). [default: /var/opt/ncs]"),
    click.option("--log-dir", metavar="DIR", help="Log files. [default: /var/log/ncs]"),
)
def _spec_options(render: bool):
    """The options of the install spec, for ``install`` or, worded for a command that changes
    nothing, for ``render-conf`` (it takes the same options so that it renders what install
    would write; the help must not promise accounts created or grants withdrawn)."""
    def helps(install: str, render_conf: str) -> str:
        return render_conf if render else install

    return options(
        click.option("--run-as-user", metavar="USER", help=helps(
            "Run NSO as USER (created if missing). System install only.",
            "Render for NSO running as USER, as install would (which creates the account; render-conf creates "
            "nothing). System install only.")),
        click.option("--no-run-as-user", is_flag=True, help=helps(
            "Run NSO as root again: withdraws everything a run-as user was granted.",
            "Render for NSO running as root again, as install --no-run-as-user would (nothing is withdrawn here).")),
        click.option("--setuid-cmdwrapper/--no-setuid-cmdwrapper", default=None, help=helps(
            "With --run-as-user: make cmdwrapper/cmdptywrapper setuid root (programs behind actions and CLI "
            "commands may then run as root; off by default).",
            "Render as install with this option would (with --run-as-user; install sets the setuid bits, "
            "render-conf changes no file).")),
        click.option("--keep-ncs-setup/--no-keep-ncs-setup", default=None, help=helps(
            "Keep bin/ncs-setup (system installs drop it).",
            "Render as install with this option would (install keeps or drops bin/ncs-setup).")),
        click.option("--init-system", type=click.Choice(["systemd", "sysv", "none"]), help=helps(
            "Service to install: the systemd unit, the SysV script /etc/init.d/ncs, or none. [default: systemd]",
            "Render for this service: the systemd unit, the SysV script /etc/init.d/ncs, or none (render-conf "
            "installs none). [default: systemd]")),
        click.option("--ignore-init-scripts", is_flag=True, help=helps("Same as --init-system none (containers).",
                                                                       "Same as --init-system none.")),
        click.option("--ignore-systemd-script", is_flag=True, help="Same as --init-system sysv."),
        click.option("--fips-install/--no-fips-install", default=None, help=helps(
            "FIPS 140-3 install (fips-mode in ncs.conf, ECDSA host key).",
            "Render for a FIPS 140-3 install (fips-mode in ncs.conf), or for leaving one.")),
        click.option("--profile", type=click.Choice(["production", "development"]),
                     help="ncs.conf profile [default: production for system installs, development for local ones]."),
        click.option("--ipc-user", "ipc_users", multiple=True, metavar="USER", help=helps(
            "Grant USER (an existing account) the use of NSO's Unix IPC socket (ncs_cli, ncs_load, "
            "MAAPI): an aaa_init.xml entry with local_ipc_access, and access to the socket directory. "
            "May repeat; replaces the recorded list. System install only.",
            "Render as install --ipc-user USER would (USER granted NSO's Unix IPC socket; nothing is granted "
            "here). May repeat; replaces the recorded list for this rendering. System install only.")),
        click.option("--ipc-group", "ipc_groups", multiple=True, metavar="GROUP", help=helps(
            "Grant the members GROUP has now, like --ipc-user. May repeat; replaces the recorded list.",
            "Render as install --ipc-group GROUP would, like --ipc-user. May repeat.")),
        click.option("--no-ipc-user", "no_ipc_users", is_flag=True, help=helps(
            "Withdraw every --ipc-user grant.", "Render without the --ipc-user grants (nothing is withdrawn here).")),
        click.option("--no-ipc-group", "no_ipc_groups", is_flag=True, help=helps(
            "Withdraw every --ipc-group grant.", "Render without the --ipc-group grants (nothing is withdrawn here).")),
        click.option("--values", "values_files", multiple=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=PathArg),
                     help="ncs.conf values file (TOML or YAML); may repeat."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", shell_complete=lambda c, p, i: complete_set(i),
                     help="Set one ncs.conf value, read by the variable's type (nso-install variables lists them); "
                          "wins over --values."),
        click.option("--set-file", "set_files", multiple=True, metavar="NAME=PATH",
                     help="Set one ncs.conf value from a file (for secrets such as inline keys)."),
        click.option("--unset", "unsets", multiple=True, metavar="NAME", help=helps(
            "Forget a value set earlier: back to the profile's default.",
            "Render without a value set earlier (the profile's default); the record keeps it.")),
        click.option("--reset-options", is_flag=True, help=helps(
            "Start from the defaults instead of the options recorded by the last run.",
            "Render from the defaults instead of the options recorded by the last run (the record is kept).")),
    )


SPEC_OPTIONS = _spec_options(render=False)
RENDER_SPEC_OPTIONS = _spec_options(render=True)


TARGET_OPTIONS = options(
    click.option("--root", "root", type=click.Path(file_okay=False, path_type=PathArg), metavar="DIR",
                 help="Staging root: every path (also /etc and /opt) lands under DIR. For image builds and tests."),
)
RENDER_TARGET_OPTIONS = options(
    click.option("--root", "root", type=click.Path(file_okay=False, path_type=PathArg), metavar="DIR",
                 help="Staging root: render for the install under DIR (its recorded options, its active version), "
                      "as install --root DIR would write it."),
)


def spec_input(kind, local_dir, install_dir, config_dir, run_dir, log_dir, run_as_user, no_run_as_user,
               setuid_cmdwrapper, keep_ncs_setup, init_system, ignore_init_scripts, ignore_systemd_script,
               fips_install, profile, values_files, sets, set_files, unsets, reset_options, ipc_users=(),
               ipc_groups=(), no_ipc_users=False, no_ipc_groups=False, **run):
    """The flags given, as the spec module takes them (nothing decided here)."""
    from ..spec import SpecInput

    grants = {}
    for var, names, off, flag in (("ipc.users", ipc_users, no_ipc_users, "--ipc-user"),
                                  ("ipc.groups", ipc_groups, no_ipc_groups, "--ipc-group")):
        if names and off:
            raise UsageError("conflicting-options", f"{flag} and --no-{flag[2:]} exclude each other.",
                             f"Give {flag} (the complete list) or --no-{flag[2:]}.")
        if names or off:
            grants[var] = (tuple(names), flag if names else f"--no-{flag[2:]}")

    if run_as_user and no_run_as_user:
        raise UsageError("conflicting-options", "--run-as-user and --no-run-as-user exclude each other.",
                         "Give one of them.")
    asked = [(v, f) for v, f, on in (("none", "--ignore-init-scripts", ignore_init_scripts),
                                     ("sysv", "--ignore-systemd-script", ignore_systemd_script),
                                     (init_system, f"--init-system {init_system}", init_system)) if on]
    inits = [v for v, _ in asked]
    if len(set(inits)) > 1:
        flags = [f for _, f in asked]
        meaning = {"none": "no service at all", "sysv": "the SysV script /etc/init.d/ncs",
                   "systemd": "the systemd unit"}
        raise UsageError("conflicting-options", f"{', '.join(flags[:-1])} and {flags[-1]} ask for different "
                         "services: " + "; ".join(f"{f} means {meaning[v]}" for v, f in asked) + ".",
                         "Give only one of them (--init-system systemd, sysv or none says it all).")
    given = {"install_dir": install_dir, "config_dir": config_dir, "run_dir": run_dir, "log_dir": log_dir,
             "run_as_user": None if no_run_as_user else run_as_user, "setuid_cmdwrapper": setuid_cmdwrapper,
             "keep_ncs_setup": keep_ncs_setup, "init_system": inits[0] if inits else None,
             "fips_install": fips_install, "profile": profile}
    opts = {k: v for k, v in given.items() if v is not None or (k == "run_as_user" and no_run_as_user)}
    return SpecInput(kind=kind, local_dir=local_dir, options=opts, values_files=values_files, sets=sets,
                     set_files=set_files, unsets=unsets, reset=reset_options, grants=grants, **run)


# Python reads these before nso-install's first line: code or modules from wherever they point.
from ..replay import STARTUP_VARIABLES as _STARTUP_VARIABLES  # noqa: E402  (replay: never replayed with one)


def _not_roots(path: str, what: str, *, sticky_ok: bool) -> str | None:
    """Why ``path`` (not followed) could have been changed by an account other than root, or None."""
    import os
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return None
    if st.st_uid != 0:
        return f"{what} {path} belongs to uid {st.st_uid}"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if stat.S_ISLNK(st.st_mode) or not writable or (sticky_ok and st.st_mode & stat.S_ISVTX):
        return None
    return f"{what} {path} is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'}"


def untrusted_python_startup() -> list[str]:
    """Why the Python running us as root may already have run code of another account: a user
    site-packages directory (its ``.pth`` files run at start-up) not root's alone, or a PYTHON*
    variable that loads code from elsewhere.  Empty when not root or all is well."""
    import os
    import site

    if os.geteuid() != 0:
        return []
    found = []
    if not sys.flags.ignore_environment:
        found += [f"{v} is set" for v in _STARTUP_VARIABLES if v != "PYTHONPATH" and os.environ.get(v)]
        # NSO's own profile script (/etc/profile.d/ncs.sh) puts its root-owned pyapi directory on
        # every login shell's PYTHONPATH, root's included: a PYTHONPATH only root could have
        # filled is no other account's code
        for entry in os.environ.get("PYTHONPATH", "").split(":") if os.environ.get("PYTHONPATH") else ():
            if not entry.startswith("/"):  # ("" is the working directory)
                found.append(f"PYTHONPATH holds {entry!r}, which is not an absolute path")
            else:
                found += _chain_not_roots(entry, "the PYTHONPATH directory")
    usersite = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if usersite and os.path.lexists(usersite):
        found += _chain_not_roots(usersite, "the user site directory")
    return list(dict.fromkeys(found))


def _chain_not_roots(path: str, what: str) -> list[str]:
    """Why another account could have put code at ``path``: it or a directory above it, as
    named and with links resolved, not root's alone (a sticky /tmp above is fine; a missing
    one is judged by what holds it)."""
    import os

    found = []
    for start in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        p = start
        while True:
            why = _not_roots(p, what if p == start else "the directory", sticky_ok=p != start)
            if why:
                found.append(why if p == start else f"{why} (above {what} {start})")
                break
            if p == os.path.dirname(p):
                break
            p = os.path.dirname(p)
    return found


def refuse_untrusted_python() -> None:
    """Stop (exit 2) when :func:`untrusted_python_startup` finds anything."""
    problems = untrusted_python_startup()
    if not problems:
        return
    fail(UsageError(
        "untrusted-python-startup",
        "running as root in a Python that may already have run another account's code: "
        + "; ".join(problems) + ". Python loads those before nso-install starts (a .pth file in a user "
        "site-packages directory is executed at start-up, as root), so nso-install refuses to go on.",
        "Run it isolated, as `python3 -I -m nso_install ...` (no PYTHON* variables, no user site directory), or "
        "install nso-install into a root-owned virtual environment as the README does and run its "
        "bin/nso-install with a clean environment (sudo without -E, HOME=/root)."
        + (" Look for .pth files in that user site directory that nobody meant to put there: they ran as root."
           if any("user site" in p for p in problems) else "")), as_json=False)


def summary(cmd: click.Command) -> str:
    """A command's one-line summary, whole: its short_help, else the first sentence of its help."""
    return cmd.short_help or cmd.get_short_help_str(limit=1 << 16)


class HelpGroup(click.Group):
    """A group whose command list shows each summary whole (click cuts it to fit one line,
    "Make the installed NSO VERSION the active one: switch..."); long ones wrap."""

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, summary(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _HelpFormatter(click.HelpFormatter):
    """click's formatter, the terminal's width found without importing shutil (which loads the zlib,
    bz2 and lzma extension modules: a tenth of ``nso-install --help``'s time); as shutil does."""

    def __init__(self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None):
        if width is None:
            from click import formatting

            width = formatting.FORCED_WIDTH
            if width is None:
                columns = 0
                try:
                    columns = int(os.environ.get("COLUMNS", "0"))
                except ValueError:
                    pass
                if columns <= 0:
                    try:
                        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
                    except (AttributeError, ValueError, OSError):
                        columns = 80
                width = max(min(columns or 80, max_width or 80) - 2, 50)
        super().__init__(indent_increment, width, max_width)


class _Context(click.Context):
    formatter_class = _HelpFormatter


class _Group(HelpGroup):
    """The ``nso-install`` group.  Its commands are imported when first needed (:mod:`.index` names
    each command's module and summary): ``--help`` imports no command module, a command only its
    own.  ``.commands`` is still every command, as on any click group (it imports them all)."""

    group_class = HelpGroup  # subgroups (keys) list their commands the same way
    context_class = _Context

    @property
    def commands(self) -> dict:
        from .index import load_all

        load_all()
        return self._commands

    @commands.setter
    def commands(self, value: dict) -> None:
        self._commands = value

    def add_command(self, cmd, name=None) -> None:
        self._commands[name or cmd.name] = cmd  # (a command module being imported: load no other)

    def list_commands(self, ctx):
        from .index import COMMANDS

        return sorted(set(COMMANDS) | set(self._commands))

    def get_command(self, ctx, name):
        from .index import COMMANDS, load

        if name not in self._commands and name in COMMANDS:
            load(COMMANDS[name][0])
        return self._commands.get(name)

    def format_commands(self, ctx, formatter):
        from .index import COMMANDS

        rows = [(name, summary(self._commands[name]) if name in self._commands else COMMANDS[name][1])
                for name in self.list_commands(ctx)
                if name in COMMANDS or not self._commands[name].hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx, args):
        refuse_untrusted_python()  # before --help/--version too: whatever ran, ran already
        return super().parse_args(ctx, args)

    # Parsing (which prints --help and --version) and the command itself: an interrupt or a
    # closed output ends them here, before click's own handlers, which exit 1 for both ("Aborted!").
    def make_context(self, *args, **kwargs):
        with ended_from_outside():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with ended_from_outside():
            return super().invoke(ctx)


@contextlib.contextmanager
def ended_from_outside():
    """Ctrl-C and a closed output pipe end nso-install as they end other Unix tools: exit 130
    after saying so on stderr, or 141 quietly (the reader of the output has gone: ``| head``).
    Neither is a failure of the command, nor a bug."""
    from ..errors import EXIT_INTERRUPTED, exit_closed_pipe

    if (loaded := sys.modules.get("nso_install.state")) is not None:
        loaded.UNDER_WAY.clear()  # (one command a process, but the tests run many in one)
    try:
        yield
    except BrokenPipeError:
        exit_closed_pipe()
    except KeyboardInterrupt:
        state = sys.modules.get("nso_install.state")  # (not imported: no run was begun)
        try:
            click.echo("\nInterrupted.", err=True)  # (on its own line, after the terminal's ^C)
            if state is not None and state.UNDER_WAY:
                click.echo("Hint: the run had begun changing things; what it did is kept. Re-run the same command "
                           "to complete it (until then status and verify say it did not finish).", err=True)
        except OSError:
            pass
        sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nso-install")
def main() -> None:
    """Install and harden Cisco NSO: gather facts, plan small actions, show or apply them."""
    refuse_untrusted_python()  # (also checked before the group's own options: see _Group)


def _kind(local_install: str | None, local_dir_arg: str | None, system_install: bool, root: Path | None):
    """(kind, local directory) after checking the kind of install."""
    local = local_install or local_dir_arg
    if local_install and local_dir_arg:
        raise UsageError("two-local-dirs", "both --local-install and a LOCAL_INSTALL_DIR argument were given.",
                         "Give the directory once.")
    if local and system_install:
        raise UsageError("two-kinds", "--system-install and a local install directory were both given.",
                         "Choose one kind of install.")
    if not local and not system_install:
        raise UsageError("no-install-kind", "neither --system-install nor a local install directory was given.",
                         "Pass --system-install, or --local-install DIR.")
    if not local:
        return "system", None
    return "local", local_install_path(local, root)


def local_install_path(local: str, root: Path | None) -> str:
    """A local install's directory as given: without --root a relative directory is relative
    to the current one; under --root it must already be a target path."""
    if not root:
        return os.path.abspath(os.path.expanduser(local))
    from ..target import normalize

    try:  # (said of the directory given: its records' path, DIR/.nso-install/state.json, was named)
        normalize(local)
    except UsageError as e:
        why = ("is not absolute: under --root it is a path on the staged target, not one relative to the current "
               "directory" if e.reference == "relative-path" else "contains '..', which nso-install does not interpret")
        raise UsageError(e.reference, f"the local install directory {local!r} {why}.",
                         "Give it as the target names it, absolute and without '..' (for example /home/USER/nso-VSN; "
                         "it lands under --root).") from None
    return local


