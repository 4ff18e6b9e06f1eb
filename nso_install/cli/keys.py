"""``keys rotate``: a new generation of NSO's crypto keys (the library: :mod:`..lifecycle.keys`)."""

from __future__ import annotations


import click

from .common import (CONTEXT, LOCK_TIMEOUT_OPTION, QUIET_OPTION, TARGET_OPTIONS, echo_notes, existing_root, guarded,
                     main, not_empty_install_dir, printable)


@main.group("keys", context_settings=CONTEXT)
def keys() -> None:
    """NSO's crypto keys (ncs.crypto_keys): rotation."""


@keys.command("rotate", context_settings=CONTEXT,
              short_help="Add a new generation of crypto keys, keeping the older ones.")
@TARGET_OPTIONS
@click.option("--install-dir", metavar="DIR", callback=not_empty_install_dir, help="The install's INSTALL_DIR, when not the one the last run recorded.")
@click.option("--check", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--new", is_flag=True,
              help="Add another generation although the one added last is not recorded as applied yet.")
@click.option("--applied", is_flag=True,
              help="Record that NSO now uses the generation added last (key-rotation apply-new-keys ran), or, "
                   "on an HA node given another node's rotated file, the file's newest; changes nothing else.")
@LOCK_TIMEOUT_OPTION
@click.option("-v", "--verbose", count=True, help="More detail (and the traceback of an unexpected error).")
@QUIET_OPTION
@guarded
def rotate_cmd(root, install_dir, check, as_json, new, applied, lock_timeout, verbose, quiet):
    """Add a new generation of crypto keys to CONFIG_DIR/ncs.crypto_keys in NSO's rotation
    format (EXTERNAL_KEY_FORMAT=2), keeping every older generation (legacy keys become
    generation -1) so existing encrypted data stays readable. The file is rewritten atomically
    with its owner and mode; keys are never printed. Prints the steps to take in NSO (reload,
    key-rotation apply-new-keys, HA, backups). NSO 6.4+ only.

    Idempotent: while the generation added last waits to be applied in NSO, a re-run adds
    nothing (--new adds another); --applied records that NSO uses it."""
    from ..lifecycle.installation import look, needs_root
    from ..lifecycle.keys import rotate
    from ..spec import check_run_flags

    check_run_flags(quiet=quiet, verbose=verbose)  # (as install: -q and -v exclude each other)
    existing_root(root, "that holds the install")  # (a mistyped one would take its lock under it)
    needs_root("keys rotate", root, check)
    result = rotate(look(root, install_dir), check=check, new=new, applied=applied, root=root,
                    lock_timeout=lock_timeout)
    if as_json:
        from ..jsonout import dumps  # here, not at the top: --help imports no more than it needs
        click.echo(dumps(result.as_dict()))
        return
    _print(result, verbose, quiet)


def _print(r, verbose: int, quiet: bool) -> None:
    """The result; ``quiet`` (-q): only its summary (the line saying what was done)."""
    where = f" (staging root {printable(r.staging_root)})" if r.staging_root else ""
    if not quiet:
        click.echo(f"nso-install: keys rotate, NSO {printable(r.version)}, {printable(r.file)}{where}")
    attrs = f"mode {r.mode:04o} {printable(r.owner)}" if r.mode is not None else ""
    legacy = " (legacy keys kept as generation -1, file switched to EXTERNAL_KEY_FORMAT=2)" if r.converted_legacy else ""
    if r.status == "added":
        click.echo(f"Added key generation {r.generation} to {printable(r.file)}{legacy}; every older generation "
                   f"kept; {attrs}.")
    elif r.status == "would-add":
        click.echo(f"Would add key generation {r.generation} to {printable(r.file)}{legacy}, keeping every older "
                   f"generation; {attrs}. Nothing changed (--check).")
    elif r.status == "pending":
        since = f" on {printable(r.since)}" if r.since else ""
        click.echo(f"Key generation {r.generation} was added{since} and is waiting to be applied in NSO; no new "
                   "generation added (--new adds another; --applied records that NSO uses it).")
    elif r.status == "applied":
        click.echo(f"Recorded that NSO uses key generation {r.generation}; {printable(r.file)} unchanged.")
    elif r.status == "would-apply":
        click.echo(f"Would record that NSO uses key generation {r.generation}. Nothing changed (--check).")
    else:  # already-applied
        click.echo(f"Key generation {r.generation} is already recorded as applied; nothing changed.")
    if verbose and r.names:
        click.echo(f"  generation {r.generation} keys: {', '.join(printable(n) for n in r.names)} (values never shown)")
    echo_notes(r.notes, r.warnings, quiet=quiet)
    if r.steps and not quiet:
        click.echo("Next, on the NSO side:" if r.status != "would-add" else "Then, on the NSO side:")
        for i, step in enumerate(r.steps, 1):
            click.echo(f"  {i}. {printable(step)}")
