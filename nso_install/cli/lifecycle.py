"""``status`` (``list``), ``verify``, ``activate`` and ``rollback``: an installed NSO, day 2."""

from __future__ import annotations

import os
import sys

import click

from .common import (CONTEXT, LOCK_TIMEOUT_OPTION, QUIET_OPTION, TARGET_OPTIONS, echo_notes, existing_root, guarded,
                     local_install_path, main, not_empty, not_empty_install_dir, options, printable)

INSTALL_OPTIONS = options(
    TARGET_OPTIONS,
    click.option("--install-dir", metavar="DIR", callback=not_empty_install_dir, help="The install's INSTALL_DIR, when not the one the last run recorded."),
    click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout."),
    click.option("-v", "--verbose", count=True, help="More detail (and the traceback of an unexpected error)."),
)


# status, list and verify: a local install too (activate, rollback, uninstall are system-only)
LOCAL_OPTION = click.option(
    "--local-install", "local_dir", metavar="DIR", callback=not_empty,
    help="The local install in DIR (one directory, as install --local-install DIR made it), not the system install.")


def _look(root, install_dir, local_dir=None):
    from ..lifecycle.installation import look, look_local

    existing_root(root, "that holds the install")
    if local_dir is None:
        return look(root, install_dir)
    if install_dir:
        from ..errors import UsageError

        raise UsageError("two-kinds", "--install-dir and --local-install were both given.",
                         "A local install is one directory: give --local-install DIR alone.")
    return look_local(root, local_install_path(local_dir, root))  # (as install takes it)


# why a tree shows no manifest: (none recorded, or root could not trust the records)
_NO_MANIFEST = {False: "  (no manifest: not unpacked by nso-install)",
                True: "  (its records are not sealed on this host, so root does not trust them: written by another "
                      "account, or changed)"}


def _status(root, install_dir, as_json, verbose, local_dir=None):
    from ..lifecycle.status import rotation_rerun, status

    inst = _look(root, install_dir, local_dir)
    s = status(inst)
    if as_json:
        from ..jsonout import dumps  # here, not at the top: --help imports no more than it needs
        click.echo(dumps({"version": 1, "result": "status", **s}))
        return
    if local_dir is not None:
        click.echo(f"NSO local install in {printable(s['local_dir'])}:")
    else:
        click.echo(f"NSO installs under {printable(s['install_dir'])}:")
    for t in s["versions"]:
        mark = "*" if t["active"] else " "
        extra = "" if t["manifest"] else _NO_MANIFEST[s["records_unsealed"]]
        click.echo(f"  {mark} {printable(t['version']):<12} {printable(t['path'])}{extra}")
    if not s["versions"]:
        click.echo("  (none)")
        host = inst.target.host(inst.spec.local_dir) if local_dir is not None else None
        if host is not None and os.path.islink(host):  # (never followed, as by install and verify)
            click.echo(f"  {printable(inst.spec.local_dir)} is a symbolic link (to {printable(os.readlink(host))}), "
                       "which nso-install never follows: give the directory it leads to")
    if s["recorded_install_dir"]:
        click.echo(f"  the install nso-install recorded is in {printable(s['recorded_install_dir'])}: leave out "
                   "--install-dir (the options below are that install's)")
    if s["dangling"]:
        click.echo(f"current -> {printable(s['current'])}: points nowhere (dangling)")
    elif s["versions"] and s["current"] is None and local_dir is None:
        click.echo(f"current: missing, no version is active ({inst.command('activate VSN')})")
    if s["previous"]:
        click.echo(f"rollback would go back to {printable(s['previous'])}")
    elif s.get("rolled_back_from"):
        click.echo(f"rolled back from {printable(s['rolled_back_from'])} (rollback again does nothing; to go "
                   f"forward: {inst.go_forward(printable(s['rolled_back_from']))})")
    running = ", ".join(f"pid {r['pid']} (NSO {r['version']})" for r in s["running"])
    click.echo(f"NSO running: {running or 'no'}")
    for p in s["pending_new"]:
        click.echo(f"pending: {printable(p)} (a new rendering waits to be merged)")
    for p in s["edited"]:
        click.echo(f"edited: {printable(p)} (kept; not what nso-install wrote)")
    keys = s["keys"] or {}
    if keys.get("interrupted") is not None:
        when = f" (started {printable(keys['interrupted'])})" if keys["interrupted"] else ""
        click.echo(f"keys: a keys rotate was stopped half way{when}; re-run {inst.command(rotation_rerun(inst))}: it records "
                   "the generation it wrote, or adds one if it wrote none")
    if keys.get("pending_generation") is not None:
        since = f" on {printable(keys['added'])}" if keys.get("added") else ""
        click.echo(f"keys: generation {keys['pending_generation']} added{since}, not yet recorded as applied in NSO "
                   f"({inst.command('keys rotate')} shows the steps; then {inst.command('keys rotate --applied')})")
    elif keys.get("applied_generation") is not None:
        click.echo(f"keys: generation {keys['applied_generation']} applied"
                   + (f" on {printable(keys['applied'])}" if keys.get("applied") else ""))
    if s["unfinished"]:
        click.echo(f"unfinished: {printable(s['unfinished'])}")
    for p in s["temporary_trees"]:
        click.echo(f"interrupted: {printable(p)} is a tree a run was unpacking when it stopped; the next "
                   f"{inst.command('install')} removes it")
    if s["spec"] is None and s["unfinished"]:
        click.echo("options: none recorded yet (the run that records them did not finish)")
    elif s["spec"] is None:
        click.echo("options: none recorded (not installed by nso-install, or before it recorded them)")
    elif verbose:
        for k, v in s["spec"].items():
            click.echo(f"  {k}: {printable(v)}")
    elif local_dir is not None:  # (whoever runs it runs NSO; no service)
        click.echo(f"options: profile {s['spec'].get('profile')} (-v for all)")
    else:
        user = s["spec"].get("run_as_user") or "root"
        click.echo(f"options: profile {s['spec'].get('profile')}, NSO runs as {user}, service "
                   f"{s['spec'].get('init_system')} (-v for all)")


@main.command("status", context_settings=CONTEXT)
@INSTALL_OPTIONS
@LOCAL_OPTION
@guarded
def status_cmd(root, install_dir, as_json, verbose, local_dir):
    """Installed NSO versions, the active one (*), the recorded options, what waits, whether NSO runs."""
    _status(root, install_dir, as_json, verbose, local_dir)


@main.command("list", context_settings=CONTEXT)
@INSTALL_OPTIONS
@LOCAL_OPTION
@guarded
def list_cmd(root, install_dir, as_json, verbose, local_dir):
    """Same as status."""
    _status(root, install_dir, as_json, verbose, local_dir)


@main.command("verify", context_settings=CONTEXT,
              short_help="Compare the install with what nso-install made of it (like rpm -V).")
@INSTALL_OPTIONS
@LOCAL_OPTION
@click.option("--full", is_flag=True, help="Also hash every file (slower); by default owners, modes, sizes and times.")
@guarded
def verify_cmd(root, install_dir, as_json, verbose, local_dir, full):
    """Compare the install with what nso-install made of it (like rpm -V): the trees with their
    manifests, the privileged binaries with the options, the config files with what was written.
    Changes nothing; exit 1 when something is damaged or missing, or nothing is installed there."""
    from ..lifecycle.verify import verify

    result = verify(_look(root, install_dir, local_dir), full=full)
    if as_json:
        from ..jsonout import dumps  # here, not at the top: --help imports no more than it needs
        click.echo(dumps(result.as_dict()))
    else:
        for f in result.findings:
            mark = "!" if f.fails else "~"
            click.echo(f"{mark} {f.kind:<9} {printable(f.path)}: {printable(f.problem)}")
        if verbose:
            for p in result.extra:
                click.echo(f"+ extra     {printable(p)} (not installed by nso-install)")
        echo_notes(result.notes)
        bad = sum(f.fails for f in result.findings)
        notes = len(result.findings) - bad + len(result.notes)  # the "~" lines and the "note:" lines above
        click.echo(f"Verify: {len(result.checked)} tree(s) checked{' with hashes' if full else ''}, "
                   f"{bad} problem(s), {notes} note(s), {len(result.extra)} extra entr"
                   f"{'y' if len(result.extra) == 1 else 'ies'}.")
    if not result.ok:
        sys.exit(1)


def _switch(fn, root, install_dir, as_json, verbose, diff, quiet, **kw):
    from ..spec import check_run_flags
    from .install import _print_report

    from ..lifecycle.installation import needs_root

    check_run_flags(quiet=quiet, verbose=verbose)  # (as install: -q and -v exclude each other)
    needs_root(fn.__name__, root, kw["check"])
    result = fn(_look(root, install_dir), root=root, **kw)
    _print_report(result, as_json=as_json, diff=diff, verbose=verbose, quiet=quiet)


SWITCH_OPTIONS = options(
    INSTALL_OPTIONS,
    click.option("--check", is_flag=True, help="Show the plan; change nothing."),
    click.option("--diff", is_flag=True, help="Show content and attribute changes (secrets are always masked)."),
    QUIET_OPTION,
    click.option("--force", is_flag=True, help="Switch although NSO runs, it is a downgrade over CDB data, or the "
                 "release cannot read the kept keys file or edited ncs.conf."),
    # (the warning about a kept config edit says to re-run with it)
    click.option("--force-conf", is_flag=True, help="Replace administrator-edited config files with the rendering "
                 "for this version (a timestamped backup is kept)."),
    click.option("--set-file", "set_files", multiple=True, metavar="NAME=PATH",
                 help="A secret ncs.conf value (inline keys) from a file: never recorded, so an install given them "
                      "needs them again to render ncs.conf. May repeat."),
    LOCK_TIMEOUT_OPTION,
)


@main.command("activate", context_settings=CONTEXT,
              short_help="Make an installed NSO version the active one (switch current).")
@click.argument("version")
@SWITCH_OPTIONS
@guarded
def activate_cmd(version, root, install_dir, as_json, verbose, check, diff, quiet, force, force_conf, set_files,
                 lock_timeout):
    """Make the installed NSO VERSION the active one: switch INSTALL_DIR/current and render the
    configuration for it (no distribution needed). NSO itself is not restarted."""
    from ..lifecycle.activate import activate

    _switch(activate, root, install_dir, as_json, verbose, diff, quiet, version=version, check=check, force=force,
            force_conf=force_conf, set_files=set_files, lock_timeout=lock_timeout)


@main.command("rollback", context_settings=CONTEXT)
@SWITCH_OPTIONS
@guarded
def rollback_cmd(root, install_dir, as_json, verbose, check, diff, quiet, force, force_conf, set_files, lock_timeout):
    """Go back to the version that was active before the current one (as activate does)."""
    from ..lifecycle.activate import rollback

    _switch(rollback, root, install_dir, as_json, verbose, diff, quiet, check=check, force=force,
            force_conf=force_conf, set_files=set_files, lock_timeout=lock_timeout)


@main.command("uninstall", context_settings=CONTEXT,
              short_help="Remove one version, or the whole install with --all.")
@click.argument("named", metavar="[VSN]", required=False)
@click.option("--ncs-version", "version", metavar="VSN", help="Remove INSTALL_DIR/ncs-VSN only (not the active one); "
              "VSN alone says the same.")
@click.option("--all", "everything", is_flag=True, help="Remove INSTALL_DIR: every version, current, packages/.")
@click.option("--config", is_flag=True, help="With --all: also CONFIG_DIR (ncs.conf, the encryption keys, host keys).")
@click.option("--run-data", is_flag=True, help="With --all: also RUN_DIR (CDB, and the backups in it).")
@click.option("--logs", is_flag=True, help="With --all: also LOG_DIR.")
@click.option("--service", is_flag=True, help="With --all: also the unit or SysV script, tmpfiles.d entry, /run/ncs and "
              "CONFIG_DIR/ncs.systemd.conf.")
@click.option("--profile-scripts", is_flag=True, help="With --all: also /etc/profile.d/ncs.* and /etc/logrotate.d/ncs.")
@click.option("--accounts", is_flag=True, help="With --all: also the user and groups nso-install created.")
@click.option("--purge", is_flag=True, help="With --all: all of the above.")
@click.option("--force", is_flag=True, help="Remove the active version (--ncs-version), leaving no active one.")
@click.option("--check", is_flag=True, help="Show what would be removed and kept; change nothing.")
# ncs-uninstall(1) takes it (its --ncs-version menu would ask otherwise): scripts written for it pass it
@click.option("--non-interactive", is_flag=True, help="Never ask (nso-install never asks; accepted for compatibility "
              "with ncs-uninstall).")
@LOCK_TIMEOUT_OPTION
@INSTALL_OPTIONS
@QUIET_OPTION
@guarded
def uninstall_cmd(named, version, everything, config, run_data, logs, service, profile_scripts, accounts, purge,
                  force, check, non_interactive, lock_timeout, root, install_dir, as_json, verbose, quiet):
    """Remove an NSO system install, as NSO's ncs-uninstall does: one version (VSN, or
    --ncs-version VSN), or everything with --all, keeping configuration, data, logs, service
    files and accounts unless asked for."""
    from ..errors import UsageError
    from ..lifecycle.installation import needs_root
    from ..lifecycle.uninstall import PARTS, uninstall
    from ..spec import check_run_flags

    check_run_flags(quiet=quiet, verbose=verbose)  # (as install: -q and -v exclude each other)
    if named is not None and version is not None and named != version:
        raise UsageError("conflicting-options", f"two versions to remove: {named!r} and --ncs-version {version!r}.",
                         "Give one (nso-install uninstall VSN).")
    # (as activate takes it; ncs-uninstall's own spelling is --ncs-version); an empty one given
    # is refused as such (Installation.not_installed), not taken for none
    version = named if version is None else version
    if version is not None and everything:
        raise UsageError("conflicting-options", "one version (VSN, --ncs-version) and --all exclude each other.",
                         "Give one of them.")
    flags = dict(config=config, run_data=run_data, logs=logs, service=service, profile_scripts=profile_scripts,
                 accounts=accounts)
    parts = set(PARTS) if purge else {k for k, v in flags.items() if v}
    if parts and not everything:
        raise UsageError("needs-all", "--config, --run-data, --logs, --service, --profile-scripts, --accounts and "
                         "--purge go with --all.", "Add --all (the whole install goes too), or drop them.")
    needs_root("uninstall", root, check)
    result = uninstall(_look(root, install_dir), version=version, everything=everything, parts=parts, force=force,
                       check=check, lock_timeout=lock_timeout)
    report = result.report
    if as_json:
        d = report.as_dict()
        d["kept"] = result.kept
        from ..jsonout import dumps  # here, not at the top: --help imports no more than it needs
        click.echo(dumps(d))
        return
    if not quiet:
        click.echo(printable(result.header))
        for rec in report.records:
            shown = rec.changed if report.mode == "applied" else rec.outcome.changed
            if shown or verbose:
                # a forgotten record removes nothing on disk, and a kept directory whose deleted
                # accounts' files go to root is kept: neither is labelled "removed"
                verbs = _UNINSTALL_VERBS.get(rec.action.kind, ("removed", "remove"))
                status = (verbs[0] if report.mode == "applied" else verbs[1]) if shown else "ok"
                click.echo(f"  {status:<8} {printable(rec.action.path)}  ({printable(rec.outcome.detail)})")
        for k in result.kept:
            click.echo(f"  kept     {printable(k)}")
    echo_notes(report.notes, report.warnings, quiet=quiet)
    done = [rec.action for rec in report.records if (rec.changed if report.mode == "applied" else rec.outcome.changed)]
    forgets = sum(a.kind == "forget" for a in done)
    reowned = [a for a in done if a.kind in _UNINSTALL_VERBS and a.kind != "forget"]
    owners = len({a.path for a in reowned})  # (a directory may be handed over twice: the account's, the groups')
    n = len(done) - forgets - len(reowned)
    if report.mode == "check":
        also = (f", {forgets} record(s) to forget" if forgets else "") + \
               (f", {owners} kept director{'y' if owners == 1 else 'ies'} to hand to root" if owners else "")
        click.echo(f"Check: {n} to remove{also} (nothing was changed).")
    else:
        also = (f", {forgets} record(s) forgotten" if forgets else "") + \
               (f", {owners} kept director{'y' if owners == 1 else 'ies'} handed to root" if owners else "")
        click.echo(f"Done: {n} removed{also}." + (" Nothing to do." if not done else ""))


# uninstall's actions that remove nothing: (past, present) verbs for its listing
_UNINSTALL_VERBS = {"forget": ("forgot", "forget"), "takeover": ("reowned", "reown"), "reown": ("reowned", "reown")}
