"""The command line: a thin click layer over the library.

The only module that prints, reads options, or exits.  Library errors
(:class:`NsoInstallError`) become one paragraph on stderr (and a JSON error object with
``--json``) and a non-zero exit code: 1 for failures, 2 for bad usage, 3 when locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import EXIT_CHANGES_PENDING, NsoInstallError, UsageError
from .secret import json_default

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


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
        click.echo(f"\r{self.label} [{bar:<30}] {pct:3d}% {done / 1e6:7.1f} MB", nl=False, err=True)
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            click.echo("", err=True)


def fail(e: NsoInstallError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"version": 1, "result": "error", "error": e.as_dict()}, default=json_default))
    click.echo(f"Error: {e.message}", err=True)
    if e.hint:
        click.echo(f"Hint: {e.hint}", err=True)
    sys.exit(e.exit_code)


def options(*decorators):
    """Stack click options; shared option groups keep install and render-conf in step."""
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


DIR_OPTIONS = options(
    click.option("--install-dir", default="/opt/ncs", show_default=True, help="Static files: INSTALL_DIR/ncs-VSN and current."),
    click.option("--config-dir", default="/etc/ncs", show_default=True, help="Configuration files (ncs.conf, keys)."),
    click.option("--run-dir", default="/var/opt/ncs", show_default=True, help="Run-time state (CDB, packages)."),
    click.option("--log-dir", default="/var/log/ncs", show_default=True, help="Log files."),
)
CONF_OPTIONS = options(
    click.option("--fips-install", is_flag=True, help="FIPS 140-3 install (fips-mode in ncs.conf, ECDSA host key)."),
    click.option("--profile", type=click.Choice(["production", "development"]),
                 help="ncs.conf profile [default: production for system installs, development for local ones]."),
    click.option("--values", "values_files", multiple=True,
                 type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="ncs.conf values file (TOML or YAML); may repeat."),
    click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Set one ncs.conf value; wins over --values."),
)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nso-install")
def main() -> None:
    """Install and harden Cisco NSO: gather facts, plan small actions, show or apply them."""


def _print_report(report, *, as_json: bool, diff: bool, verbose: int, quiet: bool, header: str) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(with_diff=diff), indent=2, default=json_default))
        return
    if not quiet:
        click.echo(header)
        for rec in report.records:
            o = rec.outcome
            shown = rec.changed if report.mode == "applied" else o.changed
            if not shown and not verbose and not o.warning:
                continue
            status = ("changed" if report.mode == "applied" else "change") if shown else "ok"
            if o.conflict:
                status = "kept"
            click.echo(f"  {status:<8} {rec.action.kind:<10} {rec.action.path}  ({o.detail})")
            if diff and o.diff and shown:
                for line in o.diff.rstrip("\n").splitlines():
                    click.echo(f"      {line}")
        for note in report.notes:
            click.echo(f"note: {note}")
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    n = report.changes
    total = len(report.records)
    if report.mode == "check":
        click.echo(f"Check: {n} to change, {total - n} ok (nothing was changed).")
    else:
        click.echo(f"Done: {n} changed, {total - n} ok." + (" Nothing to do." if n == 0 else ""))


@main.command(context_settings=CONTEXT)
@click.argument("distribution", type=click.Path(exists=False, dir_okay=True, path_type=Path))
@click.argument("local_dir_arg", metavar="[LOCAL_INSTALL_DIR]", required=False)
@click.option("--local-install", "local_install", metavar="DIR",
              help="Local install into DIR (one directory, no root needed). A bare DIR argument means the same.")
@click.option("--system-install", is_flag=True, help="System install: /opt/ncs, /etc/ncs, /var/opt/ncs, /var/log/ncs.")
@DIR_OPTIONS
@click.option("--run-as-user", metavar="USER", help="Run NSO as USER (created if missing). System install only.")
@click.option("--setuid-cmdwrapper", is_flag=True,
              help="With --run-as-user: make cmdwrapper/cmdptywrapper setuid root (programs behind actions and CLI "
                   "commands may then run as root; off by default).")
@click.option("--crypto-keys", "crypto_keys_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Install this ncs.crypto_keys (e.g. shared by HA nodes) instead of generating one. "
                   "An existing different file is an error, never replaced.")
@click.option("--keep-ncs-setup", is_flag=True, help="Keep bin/ncs-setup (system installs drop it).")
@click.option("--non-interactive", is_flag=True, help="Never ask (nso-install never asks; accepted for compatibility).")
@click.option("--ignore-init-scripts", is_flag=True, help="Install neither a systemd unit nor a SysV script (containers).")
@click.option("--ignore-systemd-script", is_flag=True, help="Install the SysV script /etc/init.d/ncs instead of the systemd unit.")
@click.option("--activate", is_flag=True, help="Switch INSTALL_DIR/current to this version if it points elsewhere.")
@CONF_OPTIONS
@click.option("--skip-secrets", "secrets", flag_value="skip",
              help="Generate no keys or secrets (image builds: keys must not be baked into an image).")
@click.option("--secrets-only", "secrets", flag_value="only",
              help="Only generate missing keys and secrets, e.g. at container start: "
                   "nso-install install /opt/ncs/current --system-install --secrets-only ...")
@click.option("--force-conf", is_flag=True, help="Replace administrator-edited config files (a timestamped backup is kept).")
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path),
              help="Staging root: every path (also /etc and /opt) lands under DIR. For image builds and tests.")
@click.option("--check", is_flag=True, help="Show the plan; change nothing.")
@click.option("--diff", is_flag=True, help="Show content and attribute changes (secrets are always masked).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--fail-on-change", is_flag=True,
              help="With --check: exit with status 4 when anything would change (drift detection in CI).")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True, help="Seconds to wait for another run's lock.")
@click.option("--skip-verification", is_flag=True, help="Do not verify a signed.bin's signature.")
@click.option("--trusted-cert", "trusted_certs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Certificate (PEM/DER) that must have signed a signed.bin, or issued its tailf.cer; may repeat.")
@click.option("-v", "--verbose", count=True, help="Also list actions that are already satisfied.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line and warnings.")
def install(distribution, local_dir_arg, local_install, system_install, install_dir, config_dir, run_dir, log_dir,
            run_as_user, setuid_cmdwrapper, crypto_keys_file, keep_ncs_setup, non_interactive, ignore_init_scripts, ignore_systemd_script, fips_install,
            activate, profile, values_files, sets, secrets, force_conf, root, check, diff, as_json, fail_on_change,
            lock_timeout, skip_verification, trusted_certs, verbose, quiet):
    """Install the NSO DISTRIBUTION (directory, .tar.gz/.tgz/.tar, installer.bin or signed.bin).

    \b
    Examples:
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --system-install
      nso-install install nso-6.5.3.linux.x86_64.tar.gz --system-install --root /tmp/stage --check --diff
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --local-install ~/nso-6.5.3
    """
    try:
        from .dist import open_distribution
        from .engine import Env, State, apply, evaluate, locked
        from .layout import InstallOptions, build_plan
        from .services import after_apply
        from .target import Target

        local = _local_dir(local_install, local_dir_arg, system_install, root)
        if fail_on_change and not check:
            raise UsageError("fail-on-change-needs-check", "--fail-on-change only makes sense with --check.",
                             "Add --check (report drift without changing anything).")
        if ignore_init_scripts and ignore_systemd_script:
            raise UsageError("conflicting-options", "--ignore-init-scripts and --ignore-systemd-script exclude each other.",
                             "--ignore-init-scripts installs no script at all; drop one of them.")
        if crypto_keys_file and local:
            raise UsageError("system-only-option", "--crypto-keys applies to system installs only.",
                             "A local install keeps its keys in ncs.conf.")
        if crypto_keys_file and secrets == "skip":
            raise UsageError("conflicting-options", "--crypto-keys and --skip-secrets exclude each other.",
                             "Import the keys where the secrets are created (with --secrets-only).")
        imported_keys = _read_crypto_keys(crypto_keys_file) if crypto_keys_file else None
        values = {}
        if values_files or sets:
            from .conf import load_values
            values = load_values(values_files, sets)

        target = Target.at(root)
        if not check and not target.staged and system_install and os.geteuid() != 0:
            raise UsageError("needs-root", "a system install writes to /opt, /etc and /var and must run as root.",
                             "Run it as root (sudo), use --check to preview, or --root DIR to stage into a directory.")
        opts = InstallOptions(system=bool(system_install), local_dir=local, install_dir=install_dir,
                              config_dir=config_dir, run_dir=run_dir, log_dir=log_dir, run_as_user=run_as_user,
                              keep_ncs_setup=keep_ncs_setup, non_interactive=non_interactive,
                              ignore_init_scripts=ignore_init_scripts, ignore_systemd_script=ignore_systemd_script,
                              fips_install=fips_install, activate=activate, profile=profile, values=values,
                              setuid_cmdwrapper=setuid_cmdwrapper, crypto_keys=imported_keys)
        dist = open_distribution(distribution, skip_verification=skip_verification,
                                 trusted_certs=[p.read_bytes() for p in trusted_certs])
        if imported_keys is not None:
            from .keys import check_crypto_keys

            problem = check_crypto_keys(imported_keys.reveal(), dist.version)
            if problem:
                raise UsageError("bad-crypto-keys", f"--crypto-keys {crypto_keys_file}: {problem} "
                                 f"(for NSO {dist.version}).",
                                 "Give a keys file with AESCFB128_KEY (32 hex digits) and AES256CFB128_KEY "
                                 "(64 hex digits), one NAME=HEX per line.")
        plan = build_plan(opts, dist, secrets or "all")
        show_progress = sys.stderr.isatty() and not as_json and not quiet
        progress = Progress(f"unpacking NSO {dist.version}") if show_progress else None
        env = Env(target, State(target, opts.state_path), force_conf=force_conf, progress=progress)
        kind = "system" if opts.system else "local"
        where = f" (staging root {target.root})" if target.staged else ""
        header = f"nso-install: {kind} install of NSO {dist.version} from {dist.kind} {dist.source.name}{where}"
        if check:
            report = evaluate(plan, env)
        else:
            if target.staged:
                os.makedirs(target.root, exist_ok=True)
            # Lock a directory that always exists and never moves, so every run on this target
            # takes the same lock and nothing is created outside the plan: the (staging) root
            # for a system install, the parent of a local install's directory.
            lock_dir = target.root if opts.system else target.host(os.path.dirname(local))
            with contextlib.ExitStack() as held:
                held.enter_context(locked(lock_dir, create=not opts.system, timeout=lock_timeout))
                try:
                    report = apply(plan, env)
                finally:
                    if progress:
                        progress.finish()
            if opts.system:
                after_apply(report, target, opts.install_dir)
        report.notes.extend(dist.notes)
        if secrets == "skip":
            tree = f"{opts.install_dir}/current" if opts.system else opts.local_dir
            report.notes.append("--skip-secrets: no keys, host keys or IPC secret were generated. Where NSO starts, "
                                f"run this command again with {tree} as the distribution and --secrets-only "
                                "instead of --skip-secrets, or provide the config directory from a volume.")
        if fips_install:
            report.notes.append("--fips-install: fips-mode is on in ncs.conf and host keys are ECDSA; NSO's own "
                                "installer also sets NCS_OPENSSL_* in ncsrc and swaps crypto.so for the FIPS build, "
                                "which nso-install does not do yet (their values are not documented).")
        _print_report(report, as_json=as_json, diff=diff, verbose=verbose, quiet=quiet, header=header)
        if fail_on_change and report.mode == "check" and report.changes:
            sys.exit(EXIT_CHANGES_PENDING)
    except NsoInstallError as e:
        fail(e, as_json)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a bug: say so in one paragraph; -v shows the traceback
        if verbose:
            raise
        fail(NsoInstallError("internal-error", f"unexpected {type(e).__name__}: {e}",
                             "This is a bug in nso-install; re-run with -v for the traceback and report it. "
                             "A re-run repairs whatever was left half done."), as_json)


def _local_dir(local_install: str | None, local_dir_arg: str | None, system_install: bool,
               root: Path | None) -> str | None:
    """The local install directory (None for a system install), after checking the kind of install."""
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
        return None
    ctx = click.get_current_context()
    for name in ("install_dir", "config_dir", "run_dir", "log_dir"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            raise UsageError("system-only-option", f"--{name.replace('_', '-')} applies to system installs only.",
                             "Drop it for a local install (everything goes into the one directory).")
    # Without --root a relative directory is relative to the current one; under --root
    # it must already be a target path.
    return local if root else os.path.abspath(os.path.expanduser(local))


def _read_crypto_keys(path: Path):
    """The --crypto-keys file as a Secret (its content is never shown)."""
    from .secret import Secret

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return Secret(f.read(1 << 16))
    except OSError as e:
        raise UsageError("crypto-keys-unreadable", f"--crypto-keys {path}: {e.strerror}.",
                         "Give a readable keys file.") from None


@main.command("sample-dist", context_settings=CONTEXT)
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", default="6.5.3", show_default=True, help="NSO version of the fake distribution.")
@click.option("--format", "fmt", default="tar.gz", show_default=True,
              type=click.Choice(["dir", "tar.gz", "tar", "installer.bin", "signed.bin"]))
@click.option("--padding-files", default=0, show_default=True, help="Extra filler files (for benchmarks).")
def sample_dist(dest, version, fmt, padding_files):
    """Write a small fake NSO distribution (same tree, stub executables) into DEST and print its path."""
    from .sample import make_sample_distribution

    dest.mkdir(parents=True, exist_ok=True)
    click.echo(make_sample_distribution(dest, version, fmt, padding_files=padding_files))


@main.command("render-conf", context_settings=CONTEXT)
@click.argument("distribution", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--system-install", "kind", flag_value="system", default=True, help="Render for a system install (default).")
@click.option("--local-install", "kind", flag_value="local", help="Render for a local install.")
@click.option("--nso-version", default="6.5.3", show_default=True,
              help="NSO version to render for (taken from DISTRIBUTION when given).")
@CONF_OPTIONS
@DIR_OPTIONS
def render_conf(distribution, kind, nso_version, profile, values_files, sets, fips_install, install_dir, config_dir,
                run_dir, log_dir):
    """Print the ncs.conf that `install` would write, validated, without installing anything."""
    try:
        from . import conf

        version = nso_version
        if distribution is not None:
            from .dist import open_distribution

            version = open_distribution(distribution).version
        values = conf.load_values(values_files, sets)
        ctx = conf.ConfContext(install_kind=kind, profile=profile or ("production" if kind == "system" else "development"),
                               version=version, fips=fips_install, config_dir=config_dir, run_dir=run_dir,
                               log_dir=log_dir, install_dir=install_dir)
        click.echo(conf.render_ncs_conf(ctx, values), nl=False)
    except NsoInstallError as e:
        fail(e, False)
