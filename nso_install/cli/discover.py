"""``variables`` and ``man``: what nso-install can be told, from the same sources as the docs."""

from __future__ import annotations

import click

from .common import CONTEXT, guarded, main, printable


@main.command("variables", context_settings=CONTEXT,
              short_help="List the ncs.conf variables: type, defaults, meaning.")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list on stdout.")
@click.option("-v", "--verbose", count=True, help="Show the traceback of an unexpected error.")
@guarded
def variables_cmd(pattern, as_json, verbose):
    """List the ncs.conf variables that --set, --set-file and values files take: type,
    development and production default, meaning and ncs.conf element (the table of
    docs/ncs-conf.md, from the same source).

    PATTERN selects variables: a glob (cli.*) or a part of the name (ssh);
    also of the ncs.conf element path, a glob ('/ncs-config/webui/*') or
    whole words of it (server-host-key).

    \b
    Examples:
      nso-install variables
      nso-install variables 'webui.ssl.*'
      nso-install variables server-host-key
      nso-install variables --json port
    """
    from ..conf.listing import plain, rows

    found = rows(pattern)
    if not found:  # with --json too: it exits as it would without it (docs/json.md)
        from ..errors import UsageError

        raise UsageError("unknown-variable", f"no ncs.conf variable matches {pattern!r}.",
                         "Run nso-install variables without a pattern for the whole list.")
    if as_json:
        from ..jsonout import dumps
        click.echo(dumps({"version": 1, "result": "variables", "variables": [r.as_dict() for r in found]}))
        return
    for r in found:
        click.echo(printable(f"{r.name}  ({r.type})"))
        click.echo(printable(f"    {r.meaning}"))
        click.echo(printable(f"    development: {plain(r.development)}"))
        click.echo(printable(f"    production:  {plain(r.production)}"))
        click.echo(printable(f"    element:     {r.element or '(none: a setting of nso-install itself)'}"))


@main.command("man", context_settings=CONTEXT, short_help="Print the nso-install(1) manual page (roff).")
@guarded
def man_cmd():
    """Print the manual page nso-install(1), generated from the command definitions, as roff.

    \b
    Read it with:  nso-install man | man -l -
    The wheel also installs it as share/man/man1/nso-install.1."""
    from ..manpage import render

    click.echo(render(), nl=False)
