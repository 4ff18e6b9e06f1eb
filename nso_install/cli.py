"""The command line: parse flags into a :class:`SpecInput`, run, print the result.

The only module that prints, reads options, or exits.  Every command goes through one error
funnel (:func:`guarded`): library errors (:class:`NsoInstallError`) become one paragraph on
stderr (and a JSON error object with ``--json``) and a non-zero exit code: 1 for failures, 2
for bad usage, 3 when locked; anything else is reported as a bug, never as a traceback
(``-v`` shows it).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import EXIT_CHANGES_PENDING, NsoInstallError, UsageError
from .secret import json_default

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


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


def fail(e: NsoInstallError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"version": 1, "result": "error", "error": e.as_dict()}, default=json_default))
    click.echo(f"Error: {printable(e.message)}", err=True)
    if e.hint:
        click.echo(f"Hint: {printable(e.hint)}", err=True)
    sys.exit(e.exit_code)


def guarded(f):
    """Every command's error funnel (see the module's docstring)."""
    @functools.wraps(f)
    def wrapper(*args, **kw):
        as_json, verbose = kw.get("as_json", False), kw.get("verbose", 0)
        try:
            return f(*args, **kw)
        except NsoInstallError as e:
            fail(e, as_json)
        except (KeyboardInterrupt, SystemExit, click.exceptions.Exit, click.ClickException):
            raise
        except Exception as e:  # a bug: say so in one paragraph; -v shows the traceback
            if verbose:
                raise
            fail(NsoInstallError("internal-error", f"unexpected {type(e).__name__}: {e}",
                                 "This is a bug in nso-install; re-run with -v for the traceback and report it. "
                                 "A re-run repairs whatever was left half done."), as_json)
    return wrapper


def options(*decorators):
    """Stack click options; shared option groups keep install and render-conf in step."""
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


# Every spec option defaults to None ("not given"): the run then takes the recorded value.
DIR_OPTIONS = options(
    click.option("--install-dir", help="Static files: INSTALL_DIR/ncs-VSN and current. [default: /opt/ncs]"),
    click.option("--config-dir", help="Configuration files (ncs.conf, keys). [default: /etc/ncs]"),
    click.option("--run-dir", help="Run-time state (CDB, packages). [default: /var/opt/ncs]"),
    click.option("--log-dir", help="Log files. [default: /var/log/ncs]"),
)
SPEC_OPTIONS = options(
    click.option("--run-as-user", metavar="USER", help="Run NSO as USER (created if missing). System install only."),
    click.option("--no-run-as-user", is_flag=True,
                 help="Run NSO as root again: withdraws everything a run-as user was granted."),
    click.option("--setuid-cmdwrapper/--no-setuid-cmdwrapper", default=None,
                 help="With --run-as-user: make cmdwrapper/cmdptywrapper setuid root (programs behind actions and CLI "
                      "commands may then run as root; off by default)."),
    click.option("--keep-ncs-setup/--no-keep-ncs-setup", default=None, help="Keep bin/ncs-setup (system installs drop it)."),
    click.option("--init-system", type=click.Choice(["systemd", "sysv", "none"]),
                 help="Service to install: the systemd unit, the SysV script /etc/init.d/ncs, or none. [default: systemd]"),
    click.option("--ignore-init-scripts", is_flag=True, help="Same as --init-system none (containers)."),
    click.option("--ignore-systemd-script", is_flag=True, help="Same as --init-system sysv."),
    click.option("--fips-install/--no-fips-install", default=None,
                 help="FIPS 140-3 install (fips-mode in ncs.conf, ECDSA host key)."),
    click.option("--profile", type=click.Choice(["production", "development"]),
                 help="ncs.conf profile [default: production for system installs, development for local ones]."),
    click.option("--values", "values_files", multiple=True,
                 type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="ncs.conf values file (TOML or YAML); may repeat."),
    click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Set one ncs.conf value; wins over --values."),
    click.option("--set-file", "set_files", multiple=True, metavar="NAME=PATH",
                 help="Set one ncs.conf value from a file (for secrets such as inline keys)."),
    click.option("--unset", "unsets", multiple=True, metavar="NAME",
                 help="Forget a value set earlier: back to the profile's default."),
    click.option("--reset-options", is_flag=True,
                 help="Start from the defaults instead of the options recorded by the last run."),
)
TARGET_OPTIONS = options(
    click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path),
                 help="Staging root: every path (also /etc and /opt) lands under DIR. For image builds and tests."),
)


def spec_input(kind, local_dir, install_dir, config_dir, run_dir, log_dir, run_as_user, no_run_as_user,
               setuid_cmdwrapper, keep_ncs_setup, init_system, ignore_init_scripts, ignore_systemd_script,
               fips_install, profile, values_files, sets, set_files, unsets, reset_options, **run):
    """The flags given, as the spec module takes them (nothing decided here)."""
    from .spec import SpecInput

    if run_as_user and no_run_as_user:
        raise UsageError("conflicting-options", "--run-as-user and --no-run-as-user exclude each other.",
                         "Give one of them.")
    inits = [v for v, flag in (("none", ignore_init_scripts), ("sysv", ignore_systemd_script)) if flag]
    if init_system:
        inits.append(init_system)
    if len(set(inits)) > 1:
        raise UsageError("conflicting-options", "--ignore-init-scripts, --ignore-systemd-script and --init-system "
                         "ask for different services.", "--ignore-init-scripts installs no script at all; give one.")
    given = {"install_dir": install_dir, "config_dir": config_dir, "run_dir": run_dir, "log_dir": log_dir,
             "run_as_user": None if no_run_as_user else run_as_user, "setuid_cmdwrapper": setuid_cmdwrapper,
             "keep_ncs_setup": keep_ncs_setup, "init_system": inits[0] if inits else None,
             "fips_install": fips_install, "profile": profile}
    opts = {k: v for k, v in given.items() if v is not None or (k == "run_as_user" and no_run_as_user)}
    return SpecInput(kind=kind, local_dir=local_dir, options=opts, values_files=values_files, sets=sets,
                     set_files=set_files, unsets=unsets, reset=reset_options, **run)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nso-install")
def main() -> None:
    """Install and harden Cisco NSO: gather facts, plan small actions, show or apply them."""


def _shown(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_spec(resolution, verbose: int) -> None:
    shown = resolution.settings if verbose else resolution.changes
    for s in shown:
        change = f"{_shown(s.previous)} -> {_shown(s.value)}" if s.changed else _shown(s.value)
        click.echo(printable(f"  spec     {s.name}: {change}  [{s.source}]"))


def _print_report(result, *, as_json: bool, diff: bool, verbose: int, quiet: bool) -> None:
    report = result.report
    if as_json:
        d = report.as_dict(with_diff=diff)
        d["spec"] = result.resolution.as_dict()
        click.echo(json.dumps(d, indent=2, default=json_default))
        return
    if not quiet:
        click.echo(printable(result.header))
        _print_spec(result.resolution, verbose)
        for rec in report.records:
            o = rec.outcome
            shown = rec.changed if report.mode == "applied" else o.changed
            if not shown and not verbose and not o.warning:
                continue
            status = ("changed" if report.mode == "applied" else "change") if shown else "ok"
            if o.conflict:
                status = "kept"
            click.echo(printable(f"  {status:<8} {rec.action.kind:<10} {rec.action.path}  ({o.detail})"))
            if diff and o.diff and shown:
                for line in o.diff.rstrip("\n").split("\n"):  # only a newline breaks a line; \r is shown
                    click.echo(f"      {printable(line)}")
        for note in report.notes:
            click.echo(f"note: {printable(note)}")
    for w in report.warnings:
        click.echo(f"warning: {printable(w)}", err=True)
    n = report.changes
    total = len(report.records)
    if report.mode == "check":
        click.echo(f"Check: {n} to change, {total - n} ok (nothing was changed).")
    else:
        click.echo(f"Done: {n} changed, {total - n} ok." + (" Nothing to do." if n == 0 else ""))


def _kind(local_install: str | None, local_dir_arg: str | None, system_install: bool, root: Path | None):
    """(kind, local directory) after checking the kind of install."""
    import os

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
    # Without --root a relative directory is relative to the current one; under --root it
    # must already be a target path.
    return "local", local if root else os.path.abspath(os.path.expanduser(local))


def _read_crypto_keys(path: Path):
    """The --crypto-keys file as a Secret (its content is never shown)."""
    import os

    from .secret import Secret

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return Secret(f.read(1 << 16))
    except OSError as e:
        raise UsageError("crypto-keys-unreadable", f"--crypto-keys {path}: {e.strerror}.",
                         "Give a readable keys file.") from None


@main.command(context_settings=CONTEXT)
@click.argument("distribution", type=click.Path(exists=False, dir_okay=True, path_type=Path))
@click.argument("local_dir_arg", metavar="[LOCAL_INSTALL_DIR]", required=False)
@click.option("--local-install", "local_install", metavar="DIR",
              help="Local install into DIR (one directory, no root needed). A bare DIR argument means the same.")
@click.option("--system-install", is_flag=True, help="System install: /opt/ncs, /etc/ncs, /var/opt/ncs, /var/log/ncs.")
@DIR_OPTIONS
@SPEC_OPTIONS
@click.option("--crypto-keys", "crypto_keys_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Install this ncs.crypto_keys (e.g. shared by HA nodes) instead of generating one. "
                   "An existing different file is an error, never replaced.")
@click.option("--non-interactive", is_flag=True, help="Never ask (nso-install never asks; accepted for compatibility).")
@click.option("--activate", is_flag=True, help="Switch INSTALL_DIR/current to this version if it points elsewhere.")
@click.option("--skip-secrets", "secrets", flag_value="skip",
              help="Generate no keys or secrets (image builds: keys must not be baked into an image).")
@click.option("--secrets-only", "secrets", flag_value="only",
              help="Only generate missing keys and secrets, e.g. at container start: "
                   "nso-install install /opt/ncs/current --system-install --secrets-only ...")
@click.option("--force-conf", is_flag=True, help="Replace administrator-edited config files (a timestamped backup is kept).")
@TARGET_OPTIONS
@click.option("--check", is_flag=True, help="Show the plan; change nothing.")
@click.option("--diff", is_flag=True, help="Show content and attribute changes (secrets are always masked).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--fail-on-change", is_flag=True,
              help="With --check: exit with status 4 when anything would change (drift detection in CI).")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True, help="Seconds to wait for another run's lock.")
@click.option("--skip-verification", is_flag=True, help="Do not verify a signed.bin's signature.")
@click.option("--trusted-cert", "trusted_certs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Certificate (PEM/DER) that must have signed a signed.bin, or issued its tailf.cer; may repeat.")
@click.option("-v", "--verbose", count=True, help="Also list actions that are already satisfied, and every setting.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line and warnings.")
@guarded
def install(distribution, local_dir_arg, local_install, system_install, crypto_keys_file, non_interactive, activate,
            secrets, force_conf, root, check, diff, as_json, fail_on_change, lock_timeout, skip_verification,
            trusted_certs, verbose, quiet, **spec_flags):
    """Install the NSO DISTRIBUTION (directory, .tar.gz/.tgz/.tar, installer.bin or signed.bin).

    Options not given keep the value the last run recorded (--reset-options: the defaults).

    \b
    Examples:
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --system-install
      nso-install install nso-6.5.3.linux.x86_64.tar.gz --system-install --root /tmp/stage --check --diff
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --local-install ~/nso-6.5.3
    """
    from .run import RunOptions, install as run_install

    if fail_on_change and not check:
        raise UsageError("fail-on-change-needs-check", "--fail-on-change only makes sense with --check.",
                         "Add --check (report drift without changing anything).")
    kind, local = _kind(local_install, local_dir_arg, system_install, root)
    keys = _read_crypto_keys(crypto_keys_file) if crypto_keys_file else None
    given = spec_input(kind, local, **spec_flags, activate=activate, secrets=secrets or "all", force_conf=force_conf,
                       crypto_keys=keys, crypto_keys_file=str(crypto_keys_file) if crypto_keys_file else None)
    progress = Progress if sys.stderr.isatty() and not as_json and not quiet else None
    opts = RunOptions(root=root, check=check, lock_timeout=lock_timeout, skip_verification=skip_verification,
                      trusted_certs=[p.read_bytes() for p in trusted_certs], progress=progress)
    result = run_install(given, distribution, opts)
    _print_report(result, as_json=as_json, diff=diff, verbose=verbose, quiet=quiet)
    if fail_on_change and result.report.mode == "check" and result.report.changes:
        sys.exit(EXIT_CHANGES_PENDING)


@main.command("sample-dist", context_settings=CONTEXT)
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", default="6.5.3", show_default=True, help="NSO version of the fake distribution.")
@click.option("--format", "fmt", default="tar.gz", show_default=True,
              type=click.Choice(["dir", "tar.gz", "tar", "installer.bin", "signed.bin"]),
              help="Distribution format to write.")
@click.option("--padding-files", default=0, show_default=True, help="Extra filler files (for benchmarks).")
@guarded
def sample_dist(dest, version, fmt, padding_files):
    """Write a small fake NSO distribution (same tree, stub executables) into DEST and print its path."""
    from .sample import make_sample_distribution

    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError("bad-destination", f"cannot create {dest}: {e.strerror}.", "Give a writable directory.") from None
    click.echo(make_sample_distribution(dest, version, fmt, padding_files=padding_files))


@main.command("render-conf", context_settings=CONTEXT)
@click.argument("distribution", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--system-install", "system_install", is_flag=True, help="Render for a system install (the default).")
@click.option("--local-install", "local_install", metavar="DIR", help="Render for the local install in DIR.")
@click.option("--nso-version", help="NSO version to render for (default: the DISTRIBUTION's, else the active one).")
@DIR_OPTIONS
@SPEC_OPTIONS
@TARGET_OPTIONS
@click.option("--activate", is_flag=True, help="Render as install --activate would (for the DISTRIBUTION's version).")
@click.option("-v", "--verbose", count=True, help="Show the traceback of an unexpected error.")
@guarded
def render_conf(distribution, system_install, local_install, nso_version, root, activate, verbose, **spec_flags):
    """Print the ncs.conf `install` would write for the same options and target (--root), without
    installing anything: the options recorded on the target apply, as they would for install."""
    from .run import render_conf as run_render

    kind, local = _kind(local_install, None, system_install or not local_install, root)
    given = spec_input(kind, local, **spec_flags, activate=activate)
    sys.stdout.buffer.write(run_render(given, distribution, nso_version, root))
