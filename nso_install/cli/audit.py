"""``audit``: the security posture of an NSO system install, for people and CI (read-only)."""

from __future__ import annotations

import os
import sys

import click

from ..errors import UsageError
from .common import (CONTEXT, DIR_OPTIONS, PathArg, TARGET_OPTIONS, echo_notes, existing_root, guarded, main,
                     printable)


def _write(path, data: bytes, option: str) -> None:
    """The report, written as a new file renamed into place: never through a link planted at its
    name or on the way (root writes where the path says, and nowhere else), never into a FIFO."""
    from pathlib import Path

    from ..errors import NsoInstallError
    from ..fsops import atomic_write

    try:
        atomic_write(Path(path), data, 0o644)
    except NsoInstallError as e:
        raise UsageError("cannot-write-report", f"{option} {path}: {e.message}",
                         "Give a path that is no symbolic link, in a directory reached without one.") from None
    except OSError as e:
        raise UsageError("cannot-write-report", f"{option} {path}: cannot write it ({e.strerror or e}).",
                         "Give a path in a directory you can write.") from None


def _list_checks(as_json: bool) -> None:
    from ..jsonout import dumps

    from ..audit import all_checks

    checks = all_checks()
    if as_json:
        click.echo(dumps({"version": 1, "result": "checks", "checks": [c.as_dict() for c in checks]}))
        return
    for c in checks:
        click.echo(f"{c.id:<14} {c.severity:<8} {c.title}")


@main.command("audit", context_settings=CONTEXT,
              short_help="Judge an install against NSO's Secure Deployment guidance (read-only).")
@TARGET_OPTIONS
@DIR_OPTIONS
@click.option("--run-as-user", metavar="USER",
              help="The account NSO is meant to run as (default: the recorded one, else the run directory's owner).")
@click.option("--waivers", "waivers_file", type=click.Path(dir_okay=False, path_type=PathArg),
              help="Accepted deviations (TOML or YAML): id, reason, owner, optional expires (YYYY-MM-DD).")
@click.option("--only", multiple=True, metavar="PREFIX", help="Run only the checks whose ID starts with PREFIX; may repeat.")
@click.option("--skip", multiple=True, metavar="PREFIX", help="Leave out the checks whose ID starts with PREFIX; may repeat.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=PathArg), help="Also write JUnit XML to FILE.")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False, path_type=PathArg), help="Also write SARIF 2.1.0 to FILE.")
@click.option("--list", "list_checks", is_flag=True, help="List the checks (ID, severity, title) and exit.")
@click.option("-v", "--verbose", count=True, help="Evidence of every check (-vv: with remediation and source).")
@guarded
def audit_cmd(root, install_dir, config_dir, run_dir, log_dir, run_as_user, waivers_file, only, skip, as_json,
              junit_file, sarif_file, list_checks, verbose):
    """Judge an NSO system install against NSO's Secure Deployment guidance and nso-install's own
    rules (docs/checks.md): owners and modes, privileges, keys, ncs.conf, IPC, listeners, the
    service, the running NSO, drift. Read-only; works without nso-install's records (a vendor
    installer's layout). Exit 0 when nothing fails (waived deviations included), 1 on a failure,
    2 on bad usage or a target that cannot be read."""
    from ..audit import audit
    from ..audit.output import as_json as report_json, junit, sarif, table
    from ..jsonout import dumps

    if list_checks:
        _list_checks(as_json)
        return
    existing_root(root, "to audit")
    dirs = {"install_dir": install_dir, "config_dir": config_dir, "run_dir": run_dir, "log_dir": log_dir}
    report = audit(root, dirs, run_as_user, only, skip, waivers_file)
    if junit_file:
        _write(junit_file, junit(report), "--junit")
    if sarif_file:
        _write(sarif_file, dumps(sarif(report)).encode(), "--sarif")
    if as_json:
        click.echo(report_json(report))
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

        def style(text: str, fg: str) -> str:
            return click.style(text, fg=fg or None) if colour else text

        for line in table(report, style, printable, verbose):
            click.echo(line, color=colour)
        echo_notes(report.notes)
    sys.exit(report.exit_code)
