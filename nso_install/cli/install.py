"""``install``, ``render-conf`` and ``sample-dist``: parse flags into a spec input, run, print."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_CHANGES_PENDING, UsageError
from .common import (CONTEXT, DIR_OPTIONS, LOCK_TIMEOUT_OPTION, QUIET_OPTION, RENDER_SPEC_OPTIONS, RENDER_TARGET_OPTIONS,
                     SPEC_OPTIONS, TARGET_OPTIONS, PathArg, Progress, _kind, echo_notes, guarded, main, not_empty,
                     printable, spec_input, styled)


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


class LiveReport:
    """Prints a run as it goes (RunOptions.observer): the header and spec once planned, then one
    line per action as it is done, so a long unpack or a failure shows what came before it."""

    def __init__(self, *, check: bool, diff: bool, verbose: int):
        self.check, self.diff, self.verbose = check, diff, verbose

    def started(self, header: str, resolution) -> None:
        click.echo(printable(header))
        _print_spec(resolution, self.verbose)

    def record(self, rec) -> None:
        o = rec.outcome
        shown = o.changed
        if not shown and not self.verbose and not o.warning and not o.conflict:
            return  # (a kept edit is named: the summary counts it)
        status = ("change" if self.check else "changed") if shown else "ok"
        if o.conflict:
            status = "kept"
        click.echo(f"  {styled(f'{status:<8}', status)} "
                   + printable(f"{rec.action.kind:<10} {rec.action.path}  ({o.detail})"))
        if self.diff and o.diff and shown:
            for line in o.diff.rstrip("\n").split("\n"):  # only a newline breaks a line; \r is shown
                click.echo(f"      {styled(printable(line), line[:1])}")


def _print_report(result, *, as_json: bool, diff: bool, verbose: int, quiet: bool, streamed: bool = False) -> None:
    """The run's result; ``streamed``: its lines were printed as it went (:class:`LiveReport`)."""
    report = result.report
    if as_json:
        d = report.as_dict(with_diff=diff)
        d["spec"] = result.resolution.as_dict()
        from ..jsonout import dumps  # here, not at the top: --help imports no more than it needs
        click.echo(dumps(d))
        return
    if not quiet and not streamed:
        live = LiveReport(check=report.mode == "check", diff=diff, verbose=verbose)
        live.started(result.header, result.resolution)
        for rec in report.records:
            live.record(rec)
    echo_notes(report.notes, report.warnings, quiet=quiet)
    n = report.changes
    total = len(report.records)
    kept = f", {report.conflicts} edited config file(s) kept" if report.conflicts else ""
    if report.mode == "check":
        click.echo(f"Check: {n} to change, {total - n} ok{kept} (nothing was changed).")
    else:
        click.echo(f"Done: {n} changed, {total - n} ok{kept}." + (" Nothing to do." if n == 0 and not kept else ""))


MAX_CRYPTO_KEYS = 64 << 10  # an ncs.crypto_keys file is a few hundred bytes, even with key rotation


def _read_crypto_keys(path, warnings: list[str]):
    """The --crypto-keys file as a Secret (its content is never shown): a regular file of at most
    64 KiB, opened without waiting on a FIFO (see :mod:`nso_install.inputs`).  ``warnings`` gets
    one when another account could have written it (as for values files: a warning, not a refusal)."""
    from ..inputs import read_operator_file
    from ..secret import Secret

    foreign: list[str] = []
    keys = Secret(read_operator_file(path, option="--crypto-keys", limit=MAX_CRYPTO_KEYS, foreign=foreign,
                                     hint="Give the ncs.crypto_keys file to install (a regular file)."))
    warnings.extend(f"{why}, so another account could have chosen the encryption keys installed from it (NSO "
                    "encrypts its secrets in CDB with them). Keep it where only root can write (chown root: and "
                    "chmod go-w), and check that it holds the keys you meant." for why in foreign)
    return keys


def _read_trusted_certs(paths, warnings: list[str]) -> list[bytes]:
    """The --trusted-cert files (PEM or DER certificates; a PEM file may hold several): regular files of
    at most 1 MiB each, each holding at least one readable certificate.  ``warnings`` gets one for
    each file another account could have written."""
    if not paths:
        return []
    from ..distribution.signature import MAX_TRUSTED_CERT, load_certs
    from ..inputs import read_operator_file

    hint = ("Give Cisco's root CA (and its intermediate CA) certificates as PEM or DER files, not the system's "
            "CA bundle.")
    certs = []
    for p in paths:
        foreign: list[str] = []
        data = read_operator_file(p, option="--trusted-cert", limit=MAX_TRUSTED_CERT, hint=hint, foreign=foreign)
        # (the pin is only as good as the file: a certificate another account put there makes a
        # signer of its choosing trusted)
        warnings.extend(f"{why}, so another account could have put its own certificate there, and a signed.bin "
                        "it signed would then pass verification. Keep pinned certificates where only root can "
                        "write (chown root: and chmod go-w)." for why in foreign)
        try:
            load_certs(data)
        except ValueError as e:  # the reason only, never the file's content
            raise UsageError("bad-input-file", f"--trusted-cert {p}: not certificates nso-install can pin: {e}.",
                             hint) from None
        certs.append(data)
    return certs


@main.command(context_settings=CONTEXT, short_help="Install (or re-apply) an NSO distribution, system or local.")
@click.argument("distribution", type=click.Path(exists=False, dir_okay=True, path_type=PathArg))
@click.argument("local_dir_arg", metavar="[LOCAL_INSTALL_DIR]", required=False, callback=not_empty)
@click.option("--local-install", "local_install", metavar="DIR", callback=not_empty,
              help="Local install into DIR (one directory, no root needed). A bare DIR argument means the same.")
@click.option("--system-install", is_flag=True, help="System install: /opt/ncs, /etc/ncs, /var/opt/ncs, /var/log/ncs.")
@DIR_OPTIONS
@SPEC_OPTIONS
@click.option("--crypto-keys", "crypto_keys_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=PathArg),
              help="Install this ncs.crypto_keys (e.g. shared by HA nodes) instead of generating one. "
                   "An existing file with other keys is an error, never replaced; one this file extends with "
                   "newer key generations (keys rotate on another HA node) is extended.")
@click.option("--non-interactive", is_flag=True, help="Never ask (nso-install never asks; accepted for compatibility).")
@click.option("--activate", is_flag=True, help="Switch INSTALL_DIR/current to this version if it points elsewhere.")
@click.option("--skip-secrets", is_flag=True,
              help="Generate no keys or secrets (image builds: keys must not be baked into an image).")
@click.option("--secrets-only", is_flag=True,
              help="Container start: only the missing keys and secrets, and what an empty config, run or log "
                   "volume and a tmpfs /run lack (ncs.conf, /run/ncs): "
                   "nso-install install /opt/ncs/current --system-install --secrets-only ...")
@click.option("--force-conf", is_flag=True, help="Replace administrator-edited config files (a timestamped backup is kept).")
@TARGET_OPTIONS
@click.option("--check", is_flag=True, help="Show the plan; change nothing.")
@click.option("--diff", is_flag=True, help="Show content and attribute changes (secrets are always masked).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--fail-on-change", is_flag=True,
              help="With --check: exit with status 4 when anything would change or an edited config file is "
                   "kept against the options (drift detection in CI).")
@LOCK_TIMEOUT_OPTION
@click.option("--skip-verification", is_flag=True,
              help="Do not verify a signed.bin's signature (other formats carry none; a note says so).")
@click.option("--trusted-cert", "trusted_certs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=PathArg),
              help="Trusted certificate (PEM/DER; a PEM file may hold several): a signed.bin's tailf.cer must chain "
                   "to it (root CA, intermediate CA or tailf.cer itself), every link checked; may repeat. "
                   "A distribution that is not a signed.bin is then refused.")
@click.option("-v", "--verbose", count=True, help="Also list actions that are already satisfied, and every setting.")
@QUIET_OPTION
@guarded
def install(distribution, local_dir_arg, local_install, system_install, crypto_keys_file, non_interactive, activate,
            skip_secrets, secrets_only, force_conf, root, check, diff, as_json, fail_on_change, lock_timeout, skip_verification,
            trusted_certs, verbose, quiet, **spec_flags):
    """Install the NSO DISTRIBUTION (directory, .tar.gz/.tgz/.tar, installer.bin or signed.bin).

    LOCAL_INSTALL_DIR (or --local-install DIR): a local install into that one directory;
    --system-install otherwise. Options not given keep the value the last run recorded
    (--reset-options: the defaults).

    \b
    Examples:
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --system-install
      nso-install install nso-6.5.3.linux.x86_64.tar.gz --system-install --root /tmp/stage --check --diff
      nso-install install nso-6.5.3.linux.x86_64.installer.bin --local-install ~/nso-6.5.3
    """
    from ..run import RunOptions, install as run_install
    from ..spec import check_run_flags

    secrets = check_run_flags(skip_secrets=skip_secrets, secrets_only=secrets_only, quiet=quiet, verbose=verbose)
    if fail_on_change and not check:
        raise UsageError("fail-on-change-needs-check", "--fail-on-change only makes sense with --check.",
                         "Add --check (report drift without changing anything).")
    if trusted_certs and skip_verification:
        raise UsageError("conflicting-options", "--trusted-cert and --skip-verification exclude each other: "
                                                "without verification the signer would not be pinned at all.",
                         "Drop --skip-verification to verify the signed.bin against the pinned certificate, "
                         "or drop --trusted-cert.")
    kind, local = _kind(local_install, local_dir_arg, system_install, root)
    warnings: list[str] = []  # about the input files (another account could have written them)
    certs = _read_trusted_certs(trusted_certs, warnings)
    keys = _read_crypto_keys(crypto_keys_file, warnings) if crypto_keys_file else None
    given = spec_input(kind, local, **spec_flags, activate=activate, secrets=secrets, force_conf=force_conf,
                       crypto_keys=keys, crypto_keys_file=str(crypto_keys_file) if crypto_keys_file else None)
    progress = Progress if sys.stderr.isatty() and not as_json and not quiet else None
    live = LiveReport(check=check, diff=diff, verbose=verbose) if not as_json and not quiet else None
    opts = RunOptions(root=root, check=check, lock_timeout=lock_timeout, skip_verification=skip_verification,
                      trusted_certs=certs, progress=progress, observer=live, input_warnings=tuple(warnings))
    result = run_install(given, distribution, opts)
    _print_report(result, as_json=as_json, diff=diff, verbose=verbose, quiet=quiet, streamed=live is not None)
    if fail_on_change and result.report.mode == "check" and result.report.drifted:
        sys.exit(EXIT_CHANGES_PENDING)


@main.command("sample-dist", context_settings=CONTEXT,
              short_help="Write a small fake NSO distribution (tests, demos).")
@click.argument("dest", type=click.Path(file_okay=False, path_type=PathArg))
@click.option("--version", "version", metavar="VSN", default="6.5.3", show_default=True, help="NSO version of the fake distribution.")
@click.option("--format", "fmt", default="tar.gz", show_default=True,
              type=click.Choice(["dir", "tar.gz", "tar", "installer.bin", "signed.bin"]),
              help="Distribution format to write.")
@click.option("--padding-files", default=0, show_default=True, type=click.IntRange(min=0),
              help="Extra filler files under lib/ncs/padding (benchmarks: the entry count).")
@click.option("--padding-bytes", default=4096, show_default=True, type=click.IntRange(min=0),
              help="Size of each filler file; their content is seeded random bytes (incompressible, the same on "
                   "every run), so benchmark distributions are reproducible.")
@click.option("--ncs-smp", type=click.Path(dir_okay=False, path_type=PathArg), metavar="PYTHON",
              help="Copy this Python interpreter binary (e.g. /usr/bin/python3) as lib/ncs/erts/bin/ncs.smp, "
                   "so the NSO stand-in runs in the file that holds cap_net_bind_service (tests).")
@guarded
def sample_dist(dest, version, fmt, padding_files, padding_bytes, ncs_smp):
    """Write a small fake NSO distribution (same tree, stub executables, the NSO stand-in) into DEST
    and print its path.

    DEST is created when missing; an existing DEST must be yours and not writable by others
    (unless sticky), and is never written through a symbolic link."""
    from ..sample import make_sample_distribution

    click.echo(make_sample_distribution(dest, version, fmt, padding_files=padding_files, padding_bytes=padding_bytes,
                                        ncs_smp=ncs_smp))


@main.command("render-conf", context_settings=CONTEXT,
              short_help="Print the ncs.conf install would write; install nothing.")
@click.argument("distribution", required=False, type=click.Path(exists=True, path_type=PathArg))
@click.option("--system-install", "system_install", is_flag=True, help="Render for a system install (the default).")
@click.option("--local-install", "local_install", metavar="DIR", callback=not_empty,
              help="Render for the local install in DIR.")
@click.option("--nso-version", metavar="VSN", help="NSO version to render for (default: the DISTRIBUTION's, else the installed one: "
                                    "the active version, or the local install's). With another version active, "
                                    "install leaves that one's ncs.conf, and so does this (a warning says so): add "
                                    "--activate.")
@DIR_OPTIONS
@RENDER_SPEC_OPTIONS
@RENDER_TARGET_OPTIONS
@click.option("--activate", is_flag=True, help="Render as install --activate would (for the DISTRIBUTION's version).")
@click.option("-v", "--verbose", count=True, help="Show the traceback of an unexpected error.")
@guarded
def render_conf(distribution, system_install, local_install, nso_version, root, activate, verbose, **spec_flags):
    """Print the ncs.conf `install` would write for the same options and target (--root), without
    installing anything: the options recorded on the target apply, as they would for install.

    DISTRIBUTION (optional): the distribution whose version to render for; with another version
    active, add --activate, as install needs it to write that version's ncs.conf."""
    from ..run import render_conf as run_render

    kind, local = _kind(local_install, None, system_install or not local_install, root)
    given = spec_input(kind, local, **spec_flags, activate=activate)
    # (on stderr: stdout holds the bytes alone, for a diff or a redirection)
    sys.stdout.buffer.write(run_render(given, distribution, nso_version, root, warn=lambda w: echo_notes((), [w])))
