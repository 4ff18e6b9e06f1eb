"""One install run, start to end: the only orchestrator.

open the distribution -> take the lock -> read the state -> resolve the spec (given +
recorded) -> gather what the plan needs -> plan -> check or apply -> record the state and
the spec -> host follow-ups -> notes -> history.  Everything the operator should read ends
up in the report's notes, and the same notes go to ``history.jsonl``.

:func:`render_conf` answers "what would ``install`` write to ncs.conf" through the same
spec resolution and the same plan, so the two can never disagree.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import field
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from . import fsops
from .actions.base import Context, Effects, Outcome
from .actions.files import ConfFile
from .actions.tree import InstallTree
from .engine import Report, apply, evaluate, preflight
from .errors import LockedError, NsoInstallError, UnsafePathError, UsageError, sh
from .facts import DIR, FILE, LINK, Facts
from .plan import STATE_DIR_SYSTEM, TargetView, build_plan, config_version, start_run
from .record import record
from .spec import DEFAULT_DIRS, DIR_FIELDS, InstallSpec, Resolution, SpecInput, check_real_directories, resolve, state_path
from .state import State, host_dir, local_lock_refusal, lock_if_free, locked
from .target import Target, check_staging_root


@record
class RunOptions:
    """How to run (never remembered): where, check or apply, how to read the distribution."""

    root: Path | None = None
    check: bool = False
    lock_timeout: float = 0.0
    skip_verification: bool = False
    trusted_certs: Sequence[bytes] = ()
    input_warnings: Sequence[str] = ()  # about the files --crypto-keys and --trusted-cert read
    # progress(label) -> a callable (done, total) with a finish() method, for the unpack
    progress: Callable[[str], Callable[[int, int], None]] | None = None
    # told as the run goes: started(header, resolution) once planned, record(rec) per action as it
    # is done (the CLI prints each line then, not all at the end: a long unpack shows its context)
    observer: object | None = None
    switch_judged: bool = False  # activate/rollback judged the switch of ``current`` already
    judged_current: tuple[str, str | None] | None = None  # ... on INSTALL_DIR/current's link text then
    rollback: bool = False  # the switch undoes the last one (recorded: a repeated rollback does nothing)


@record
class RunResult:
    """What an install run did: its report, the resolved spec, and its notes."""
    report: Report
    resolution: Resolution
    header: str
    spec_changed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> InstallSpec:
        return self.resolution.spec


def install(given: SpecInput, distribution, opts: RunOptions) -> RunResult:
    """One install run.  ``distribution``: its path, or an opened distribution (an installed
    tree, for activate and rollback)."""
    from .distribution import open_distribution

    target = Target.at(opts.root)
    if not opts.check and not target.staged and given.kind == "system" and os.geteuid() != 0:
        raise UsageError("needs-root", "a system install writes to /opt, /etc and /var and must run as root.",
                         "Run it as root (sudo); the same command with --check, as root too, previews it and "
                         "changes nothing. Or stage it with --root DIR (owners are then planned, not applied).")
    if target.staged and not opts.check and os.geteuid() == 0:
        check_staging_root(opts.root)  # before anything is created or trusted there
    dist = open_distribution(distribution, skip_verification=opts.skip_verification, trusted_certs=opts.trusted_certs) \
        if isinstance(distribution, (str, os.PathLike)) else distribution
    spath = state_path(given.kind or "", given.local_dir)
    # The compiled templates and what they rendered (templates.use_bytecode_cache) are read here,
    # written only after a run that changed something recorded its state (or rendered what the kept
    # renders lack: templates.renders_to_keep): a no-op re-run and a refused run write nothing.
    # Root loads that bytecode, so root keeps it in the host's own /var/lib/nso-install (beside the
    # seal key, whatever --root says; for a real system install that is the state directory): root's
    # alone whatever a staging root is, never baked into a staged image, and a fresh install on a
    # host that installed the same before renders nothing again. Another account keeps it in the
    # target's state directory.
    cache_dir = host_dir() if os.geteuid() == 0 else target.host(os.path.dirname(spath))
    from .templates import fill_bytecode_cache, renders_to_keep, use_bytecode_cache

    start_run()
    cached = use_bytecode_cache(cache_dir, writable=False)
    with contextlib.ExitStack() as held:
        # A re-run whose lock is there and free takes it now and plans once, under it. Otherwise
        # usage errors (options, values, paths) come before anything is created for the lock or
        # waited for: the same resolution and plan, read without the lock; an applying run makes
        # them again once it holds the lock, --check (which takes none) keeps these.
        early = not opts.check and lock_if_free(held, target, spath, given.kind == "system")
        made: list[str] = []
        state = State(target, spath)
        planned = _resolve_and_plan(target, given, dist, state)
        _check_environment(target, planned[0].spec)
        _check_imported_keys(given, dist.version)
        refused = local_lock_refusal(target, spath) if opts.check and given.kind != "system" else None
        if refused is not None:
            raise refused  # (--check takes no lock: it refuses as the run would, for the same reason)
        if not opts.check and not early:
            if target.staged:
                created = fsops.ensure_dirs(target.root, 0o755, 0o700)  # a new staging root is private
                held.callback(fsops.remove_empty_dirs, created)  # a refused run leaves no staging root behind
            made = held.enter_context(locked(target, spath, given.kind == "system", timeout=opts.lock_timeout))
            state = State(target, spath)  # read under the lock: another run may just have written it
            planned = _resolve_and_plan(target, given, dist, state)
        resolution, view, plan = planned
        spec = resolution.spec
        if opts.switch_judged and not opts.check:
            _still_as_judged(target, spec, opts.judged_current, dist)
        switching = []  # install --activate of another version: activate's refusals, its next steps
        if spec.system and spec.activate and not opts.switch_judged and view.active_version not in (None, dist.version):
            from .lifecycle.activate import guard_install_switch
            from .lifecycle.installation import look

            switching = guard_install_switch(look(opts.root, spec.install_dir, state), dist.version, opts.check,
                                             spec, spec.force_conf)
        elif spec.system and view.active_version is None and not opts.switch_judged:
            switching = _older_than_cdb(target, spec, state, dist.version, opts.check)
        if target.staged and not opts.check and os.geteuid() == 0:
            # again, now that every component exists: none may have been made by someone else
            # meanwhile; and staged accounts' uids mean nothing on this host
            check_staging_root(opts.root, private=bool(spec.run_as_user))
        kind = "system" if spec.system else "local"
        where = f" (staging root {target.root})" if target.staged else ""
        if opts.switch_judged:  # activate and rollback: a switch to a tree already installed, not an install
            header = (f"nso-install: {'rollback to' if opts.rollback else 'activate'} NSO {dist.version} "
                      f"({target.to_target(dist.source)}){where}")
        else:
            header = f"nso-install: {kind} install of NSO {dist.version} from {dist.kind} {dist.source.name}{where}"
        observer = opts.observer
        if observer is not None:
            observer.started(header, resolution)
        bar = opts.progress(f"unpacking NSO {dist.version}") if opts.progress and not opts.check else None
        ctx = Context(target, state.conffiles, trusted=state.unpacked, manifest=state.manifest, force_conf=spec.force_conf, progress=bar)
        unfinished = state.unfinished()  # a run stopped half way (killed, failed, a full disk)
        if opts.check:
            report = evaluate(plan, ctx)
            for rec in report.records if observer is not None else ():
                observer.record(rec)
        else:
            started = {"command": "activate" if dist.kind == "installed" else "install", "kind": kind,
                       "version": dist.version, "distribution": str(dist.source), "spec": spec.record(),
                       **({"root": str(opts.root)} if target.staged else {}),
                       **({"activate": True} if spec.activate and dist.kind != "installed" else {}),
                       **({} if spec.system else {"local_dir": spec.local_dir})}
            def on_record(rec, made=made) -> None:  # marked before it is shown: the lines agree with the totals
                _created_for_the_lock(rec, made)
                if observer is not None:
                    observer.record(rec)
            report, spec_changed = _apply(plan, ctx, state, spec, bar, view, dist.version, on_record, started,
                                          rollback=opts.rollback)
        result = RunResult(report, resolution, header)
        if not opts.check:
            result.spec_changed = spec_changed
            if spec.system:
                from .services import after_apply

                after_apply(report, target, spec.install_dir, spec.run_as_user)
        # an installed tree given back as the distribution (--secrets-only at container start) was
        # verified when it was installed: its "no signature" note would only be noise
        installed = dist.kind == "directory" and spec.system and \
            str(dist.source).startswith(str(target.host(spec.install_dir)) + "/")
        report.notes.extend(n for n in dist.notes if not (installed and "carries no signature" in n))
        report.run_warnings.extend(dist.warnings)
        report.run_warnings.extend(resolution.warnings)
        report.run_warnings.extend(opts.input_warnings)
        report.notes.extend(_verification_notes(dist, opts))
        report.notes.extend(switching)
        report.notes.extend(_notes(spec, dist.version, view, target))
        if spec.system and not opts.check and view.active_version is None and report.changes \
                and spec.secrets != "skip":
            report.notes.append(_first_start(spec, dist.version))
        if not spec.system and not opts.check and spec.secrets != "skip" and _unpacked(report):
            report.notes.append(_first_local_start(target.host(spec.local_dir), dist.version))
        if spec.system and not opts.check and not target.unprivileged:
            from .audit import install_notes  # the checks of `nso-install audit`, on what was just installed

            # what it derives from key and certificate files is kept in the state directory under
            # a digest of their bytes (audit/memo.py): the same verdicts, without cryptography on a
            # re-run. Root trusts that directory only where every directory above it is root's: a
            # real system install, or a staging root check_staging_root accepted (before this
            # apply and again under the lock). The run's state, just saved under the lock, is
            # handed over: its manifests are not read and held twice, and after a run that changed
            # nothing its comparisons of the trees are not made twice
            if report.changes:
                state.forget_comparisons()
            memo_dir = target.host(os.path.dirname(spath)) if os.geteuid() != 0 or given.kind == "system" else None
            audit_warnings, audit_notes = install_notes(opts.root, memo_dir, state)
            report.run_warnings.extend(audit_warnings)
            report.notes.extend(audit_notes)
        report.notes.extend(_access_notes(spec, dist.version, view, report))
        if unfinished is not None and opts.check and state.held_by_another_run():
            from .state import describe_unfinished

            report.notes.append(describe_unfinished(unfinished, in_progress=True) + ".")  # (not stopped: under way)
        elif unfinished is not None:
            from .state import describe_unfinished

            told = describe_unfinished(unfinished).split("; re-run")[0]
            if unfinished.get("command") == "uninstall":  # (an install puts back what it removed, not completes it)
                report.notes.append(f"{told}; {'running this command installs' if opts.check else 'this run installed'}"
                                    " over what it left.")
            else:
                report.notes.append(f"{told}; {'running this command completes' if opts.check else 'this run completed'} "
                                    "it.")
        # after the notes, which render too (the audit's reference unit): every render of this run is kept
        if not opts.check and (report.changes or result.spec_changed or not cached or renders_to_keep()):
            if os.geteuid() == 0:
                try:  # (made with the seal key by now, as a rule)
                    fsops.ensure_private_dir(cache_dir)
                except (OSError, NsoInstallError):
                    pass  # no cache kept; fill_bytecode_cache checks the directory in any case
            fill_bytecode_cache(cache_dir)
        if not opts.check and (report.changes or result.spec_changed or unfinished is not None):
            if os.geteuid() == 0:
                from .replay import prepare

                prepare()  # (a run that changed things makes the records' directory, not a no-op)
            # also after a run that completes one stopped half way, whose changes may all have been
            # made by then: that run is in the history this way (its marker says what it was)
            completes = {"supersedes" if unfinished.get("command") == "uninstall" else "completes":
                         {k: unfinished.get(k) for k in ("command", "version", "distribution", "time")}} \
                if unfinished is not None else {}
            state.append_history({"spec": spec.record(), "spec_changes": [s.as_dict() for s in resolution.changes],
                                  "changed": [{"id": r.action.id, "detail": r.outcome.detail}
                                              for r in report.records if r.changed],
                                  "notes": report.notes, **completes})
            state.end_run()  # everything is recorded: the run is over
    return result


def _still_as_judged(target: Target, spec: InstallSpec, judged: tuple[str, str | None] | None, dist) -> None:
    """activate and rollback judge the switch (already active, NSO running, a downgrade over CDB
    data, which version rollback goes back to) before the lock is theirs; another run holding it
    meanwhile (--lock-timeout) may have switched ``current``, or removed the tree: the judgement
    is then void."""
    def status() -> str:  # (aimed where this run looked: a bare one looks at the host's default install)
        from .lifecycle.installation import aimed
        return aimed(target, "status", None if spec.install_dir == DEFAULT_DIRS["install_dir"] else spec.install_dir)

    if dist.kind == "installed" and not os.path.lexists(os.path.join(dist.source, "VERSION")):
        raise LockedError("removed-meanwhile", f"NSO {dist.version} ({dist.source}) is no longer installed: another "
                          "nso-install run removed it while this one waited for the lock; nothing was changed.",
                          f"See {status()}; install it again from its distribution if it is still wanted.")
    if judged is None or judged[0] != spec.install_dir:
        return
    cur = Facts(target).path(f"{spec.install_dir}/current")
    now = cur.link if cur.kind == LINK and cur.link else None
    if now != judged[1]:
        raise LockedError("switched-meanwhile", f"another nso-install run switched {spec.install_dir}/current "
                          f"(from {judged[1] or 'no link'} to {now or 'no link'}) while this one waited for the "
                          "lock; nothing was changed.", f"See {status()}, then re-run if the switch is still "
                          "wanted.")


def _apply(plan, ctx: Context, state: State, spec: InstallSpec, bar, view: TargetView,
           version: str, on_record=None, started: dict | None = None, rollback: bool = False) -> tuple[Report, bool]:
    """Prepare the distribution (checked and unpacked privately before anything else changes),
    apply the plan, record state and spec; what was recorded so far is kept on failure.
    ``started``: what the run's marker records (:meth:`State.begin_run`), written before the
    first change (a run that changes nothing writes none)."""
    trees = [a for a in plan if isinstance(a, InstallTree)]
    current = f"{spec.install_dir}/current" if spec.system else None
    begun = []

    def before(action, outcome) -> None:
        if not begun and started is not None:
            state.begin_run(started)
            begun.append(True)
        if action.path == current and action.kind == "symlink":
            # write-ahead: what rollback goes back to is saved before the link is renamed, so a run
            # killed (or failing) right after the switch leaves a record that agrees with the link
            state.record_activation(view.active_version, version, pending=True, rollback=rollback)
            state.save()
    try:
        for tree in trees:
            tree.prepare(Facts(ctx.target), ctx)
        preflight(plan, ctx)  # what must hold before anything changes (a FIPS install's files)
        if bar is not None:
            bar.finish()  # the unpack is over: what follows are result lines
        report = apply(plan, ctx, sink=lambda e: record_effects(state, e), on_record=on_record, before=before)
    except BaseException:
        for tree in trees:
            tree.discard()
        with contextlib.suppress(Exception):
            if state.touched:  # keep what was recorded so far (a membership too); nothing: no state file
                state.save()
        raise
    finally:
        if bar is not None:
            bar.finish()
    spec_changed = state.spec != spec.record()
    state.record_spec(spec.record())
    switched = current is not None and any(r.changed and r.action.path == current for r in report.records)
    if switched:
        state.record_activation(view.active_version, version, rollback=rollback)  # (confirmed)
    if spec.system:  # an interrupted run's switch: confirmed when current leads there, else dropped
        state.settle_activation(version if switched else view.active_version)
    state.save()
    return report, spec_changed


def _created_for_the_lock(rec, made: list[str]) -> None:
    """Directories the lock needed (the state directory and its parents) were made by this
    run before its plan was applied: reported as changes, so the run agrees with --check (and
    its printed lines with its totals)."""
    if rec.action.path in made and rec.action.kind == "directory" and not rec.changed:
        rec.changed = True
        rec.outcome = Outcome("change", "created (the run's lock lives in it)")


def _older_than_cdb(target: Target, spec: InstallSpec, state: State, version: str, check: bool) -> list[str]:
    """A run that makes ``current`` anew (none is there: the active version was uninstalled with
    --force) for a version older than the last one active, over CDB data that one may have
    upgraded: said, as activate says it (a refusal would leave no way to install it)."""
    from .lifecycle.installation import cdb_files
    from .versions import vtuple

    last = next((a["to"] for a in reversed(state.activations) if not a.get("pending")), None)
    if last is None or vtuple(version) >= vtuple(last):
        return []
    cdb = cdb_files(Facts(target), spec.run_dir)
    if not cdb:
        return []
    becomes = "would become" if check else "is now"
    return [f"NSO {version} {becomes} the active version, older than {last}, the last one active; {spec.run_dir}/cdb "
            f"holds data ({', '.join(cdb)}) that {last} may have upgraded, and no NSO documentation says an older NSO "
            f"can read it. Restore a backup taken on {version} (ncs-backup --restore) before starting NSO."]


def _check_environment(target: Target, spec: InstallSpec) -> None:
    if spec.system:
        links = _check_directory_links(target, spec)
        if not target.unprivileged:
            _check_directory_parents(target, spec, links)
    elif spec.local_dir:
        _check_local_parents(target, PurePosixPath(spec.local_dir))
    if target.unprivileged and spec.run_as_user:
        raise UsageError("run-as-user-needs-root",
                         f"--run-as-user {spec.run_as_user} needs root: it creates accounts, sets owners, a setuid "
                         "bit and file capabilities, none of which an ordinary user can do, even in a staging root.",
                         "Stage as root (sudo nso-install ... --root DIR), or stage without --run-as-user "
                         "(--no-run-as-user) and run the same command as root later to add it.")


def _check_directory_parents(target: Target, spec: InstallSpec, links: set[str]) -> None:
    """What holds the four directories must be root's alone (:meth:`Target.check_parents`), the
    install directory itself too (root runs NSO's programs from it); the run and log
    directories may sit in the NSO account's own (it owns them anyway).  ``links``: the ones
    that are symbolic links, which :meth:`Target.dir_link` judged with every directory on the
    way to where they lead."""
    account = Facts(target).accounts.users.get(spec.run_as_user) if spec.run_as_user else None
    nso = frozenset({account.uid}) if account is not None else frozenset()
    for name in DIR_FIELDS:
        if name in links:
            continue
        target.check_parents(PurePosixPath(getattr(spec, name)), f"--{name.replace('_', '-')}", nso if name in ("run_dir", "log_dir") else
                             frozenset(), itself=name == "install_dir")
    # nso-install's own records too: another account that could swap them would choose the
    # options a re-run takes (--setuid-cmdwrapper, IPC grants) and what it takes for its own files
    target.check_parents(PurePosixPath(STATE_DIR_SYSTEM), "nso-install's state directory", itself=True, records=True)


def _check_local_parents(target: Target, local_dir: PurePosixPath) -> None:
    """A local install's directory, and every directory above it, must be the caller's or root's
    and not writable by group or others (a sticky one such as /tmp is fine above it), as for a
    system install's directories: whoever runs the install then runs NSO's programs from there,
    and another account that can rename or replace entries on the way could swap the tree (or
    its keys and ncs.conf) for its own between runs.  Checked by name up to a symbolic link, then
    (on this host: a staging root's links lead elsewhere) where the path really leads."""
    target.check_parents(local_dir, "--local-install", itself=True, local=True)
    _check_local_dir_mode(target, local_dir)
    real = PurePosixPath(os.path.realpath(local_dir))
    if not target.staged and real != local_dir:
        target.check_parents(real, "--local-install", itself=True, local=True)


def _check_local_dir_mode(target: Target, local_dir: PurePosixPath) -> None:
    """DIR itself, once it holds anything, must not be writable by group or others either: another
    account could rename bin/ away and put its own there (NSO's programs, on the PATH ncsrc sets),
    and the tree's records would still say "as unpacked" (verify says so too)."""
    mode = target.open_local_dir(local_dir)
    if mode is None:
        return
    host = target.host(local_dir)
    raise UnsafePathError("untrusted-directory",
                          f"--local-install {local_dir}: {target.show_host(host)} is writable by group or others "
                          f"(mode {mode:04o}), so another account could replace what is in it (bin/, etc/ncs) with "
                          "its own.", f"Check what is in it (nso-install verify --local-install {sh(host)} lists what "
                          f"differs from the distribution, and who owns it), then chmod go-w {sh(host)} and re-run.")


def _check_directory_links(target: Target, spec: InstallSpec) -> set[str]:
    """Top-level directories may be root-owned symbolic links (``/var/opt/ncs -> /data/ncs-run``):
    each is checked as :meth:`Target.dir_link` says, and where they really lead must pass the
    same rules as the options themselves (not a system directory, no overlap), before
    anything changes.  The names (``install_dir``...) of those that are links."""
    real, linked, links = {}, False, set()
    for name in DIR_FIELDS:
        given = PurePosixPath(getattr(spec, name))
        flag = f"--{name.replace('_', '-')}"
        link = target.dir_link(given, flag)
        if link is not None:
            links.add(name)
        try:
            real[name] = link or target.to_target(target.host(given / "x").parent)
        except UnsafePathError as e:
            if e.reference != "not-a-directory":
                raise
            # (dir_link resolved its parents: it is the directory itself, not the probe "x" below it)
            raise UnsafePathError("not-a-directory", f"{flag} {given}: {given} exists and is not a directory.",
                                  f"Move it out of the way, or give {flag} another directory.") from None
        linked |= real[name] != given
    if linked:
        try:
            check_real_directories(real)
        except UsageError as e:
            shown = ", ".join(f"{getattr(spec, n)} -> {r}" for n, r in real.items() if str(r) != getattr(spec, n))
            raise UsageError(e.reference, f"through symbolic links ({shown}): {e.message}", e.hint) from None
    return links


def _resolve_and_plan(target: Target, given: SpecInput, dist, state: State):
    facts = Facts(target)
    resolution = _resolve(facts, given, state)
    with _value_sources(resolution):
        view = _view(facts, resolution.spec, resolution, state)
        return resolution, view, build_plan(resolution.spec, dist, view)


def _resolve(facts: Facts, given: SpecInput, state: State) -> Resolution:
    """The spec of this run: given > remembered (:attr:`State.remembered_spec`) > found > default."""
    remembered = state.remembered_spec
    return resolve(given, remembered, None if remembered else _found(facts, given))


@contextlib.contextmanager
def _value_sources(resolution: Resolution):
    """A bad ncs.conf value is found where the configuration is rendered, which no longer knows
    where it came from: its hint then names the values file, --set or --set-file it came from."""
    try:
        yield
    except UsageError as e:
        name = getattr(e, "variable", None)
        if name is None:
            raise
        from .conf.values import bad_value_hint
        from .conf.variables import VARIABLES

        source = next((s.source for s in resolution.settings if s.name == name), None)
        e.hint = bad_value_hint(VARIABLES[name], source)
        raise


def record_effects(state: State, effects: Effects) -> None:
    """What an action left behind, into the state (conffile digests, memberships, unpacked trees)."""
    state.touched = True
    if effects.created or effects.deleted:
        grants = state.data.setdefault("grants", {})
        grants["created"] = sorted((set(grants.get("created", [])) | effects.created) - effects.deleted)
        if not grants["created"]:
            grants.pop("created")
        ids = {**grants.get("ids", {}), **effects.created_ids}  # (what uninstall tells its own accounts by)
        ids = {k: v for k, v in ids.items() if k not in effects.deleted}
        if ids:
            grants["ids"] = ids
        else:
            grants.pop("ids", None)
    state.conffiles.update(effects.conffiles)
    for path in effects.conffiles_removed:
        state.conffiles.pop(path, None)
    kept = (set(state.kept) | effects.kept) - set(effects.conffiles) - effects.conffiles_removed
    if kept or "kept" in state.data:
        state.data["kept"] = sorted(kept)
    from .actions.privileges import PATTERNS

    for tree, m in effects.manifests.items():
        state.unpacked[tree] = m.digests(PATTERNS)
        state.save_manifest(tree, m)
    for tree in effects.manifests_dropped:
        state.drop_manifest(tree)
    # a deleted account's memberships go with it (userdel): recorded still, the next uninstall
    # --accounts took the user as one it did not create and "withdrew" them, changing the state
    # once more; an account made again under the name later would have them taken back
    gone = {(u, g) for u, g in state.memberships if f"user:{u}" in effects.deleted or f"group:{g}" in effects.deleted}
    if effects.memberships_added or effects.memberships_removed or gone:
        state.set_memberships((state.memberships | effects.memberships_added) - effects.memberships_removed - gone)


def _check_imported_keys(given: SpecInput, version: str) -> None:
    if given.crypto_keys is None:
        return
    from .actions.keys import check_crypto_keys

    problem = check_crypto_keys(given.crypto_keys.reveal(), version)
    if problem:
        raise UsageError("bad-crypto-keys", f"--crypto-keys {given.crypto_keys_file}: {problem} (for NSO {version}).",
                         "Give a keys file with AESCFB128_KEY (32 hex digits) and AES256CFB128_KEY "
                         "(64 hex digits), one NAME=HEX per line; or EXTERNAL_KEY_FORMAT=2 first, then "
                         "NAME[G]=HEX lines, each generation G with both keys once.")


def _found(facts: Facts, given: SpecInput) -> dict | None:
    """Settings observed on a target without a recorded spec (an older nso-install, NSO's own
    installer): a run directory owned by an account means NSO runs as that account, and
    dropping it must then be asked for like any other withdrawal."""
    if given.kind != "system":
        return None
    run_dir = given.options.get("run_dir") or "/var/opt/ncs"
    try:
        fact = facts.path(run_dir)
    except Exception:  # noqa: BLE001 - an unusable path is reported by the spec's checks
        return None
    if fact.kind == DIR and fact.uid not in (0, None):
        name = facts.accounts.user_name(fact.uid)
        if not name.isdigit():
            return {"run_as_user": name}
    return None


def _local_version(facts: Facts, local_dir: str) -> str | None:
    """The version of the local install in ``local_dir`` (its VERSION file), or None."""
    from .distribution.checks import VERSION_RE

    text = facts.version_file(local_dir)
    return text if VERSION_RE.fullmatch(text) else None


def _version_of(facts: Facts, vdir: str, name: str) -> str:
    text = facts.version_file(vdir)
    return text or name.removeprefix("ncs-")


def _view(facts: Facts, spec: InstallSpec, resolution: Resolution, state: State) -> TargetView:
    from .access import target_facts
    from .actions.privileges import present

    if not spec.system:
        return TargetView(previous=resolution.previous, **target_facts(facts, spec))
    idir = spec.install_dir
    current = facts.path(f"{idir}/current")
    active = None
    if current.kind == LINK and current.link:
        name = os.path.basename(current.link.rstrip("/"))
        vdir = f"{idir}/{name}"
        active = _version_of(facts, vdir, name) if facts.path(vdir).kind == DIR else name.removeprefix("ncs-")
    trees = {}
    previous_idir = resolution.previous.install_dir if resolution.previous is not None else idir
    for d in dict.fromkeys((idir, previous_idir)):  # an earlier INSTALL_DIR keeps no privilege either
        for name in facts.listdir(d):  # by directory: a renamed copy (ncs-6.5.3.old) is a tree too
            if name.startswith("ncs-") and facts.path(f"{d}/{name}").kind == DIR \
                    and facts.path(f"{d}/{name}/VERSION").kind == FILE:
                trees[f"{d}/{name}"] = _version_of(facts, f"{d}/{name}", name)
    for tree in state.unpacked:  # recorded anywhere, e.g. under an earlier INSTALL_DIR
        if tree not in trees and facts.path(tree).kind == DIR and facts.path(f"{tree}/VERSION").kind == FILE:
            trees[tree] = _version_of(facts, tree, os.path.basename(tree))
    return TargetView(active, tuple(sorted(trees.items())), resolution.previous, frozenset(state.memberships),
                      privileged=tuple((t, present(facts, t)) for t in sorted(trees)), **target_facts(facts, spec))


def _access_notes(spec: InstallSpec, version: str, view: TargetView, report: Report) -> list[str]:
    """IPC grants, memberships, NACM groups, PAM (:func:`nso_install.access.run_notes`)."""
    from .access import IpcAccess, run_notes
    from .plan import ipc_access

    ipc = ipc_access(spec, config_version(spec, version, view), view) if spec.system else IpcAccess()
    return run_notes(spec, view, ipc, report)


def _first_start(spec: InstallSpec, version: str) -> str:
    """What to do after the first install of a system: nso-install never starts NSO."""
    start = {"systemd": "systemctl start ncs (ncs.service is enabled: it starts at boot)",
             "sysv": "/etc/init.d/ncs start (where the script is enabled: update-rc.d ncs defaults, or chkconfig "
                     "--add ncs)"}.get(spec.init_system)
    if start is None:  # --init-system none: no service was written
        who = f" as {spec.run_as_user}" if spec.run_as_user else ""
        start = (f"{spec.install_dir}/current/bin/ncs -c {spec.config_dir}/ncs.conf{who}, with the environment of "
                 f"{spec.install_dir}/current/ncsrc (no service was written: --init-system none)")
    return (f"NSO {version} is installed, not started: start it with {start}. Login shells get its environment from "
            "/etc/profile.d/ncs.sh (log in again, or source it); nso-install status and audit show where it stands.")


def _unpacked(report) -> bool:
    """Whether this run unpacked a new tree (not a re-run, a repair or a completed interrupted run)."""
    return any(isinstance(r.action, InstallTree) and r.changed and r.outcome.detail.startswith("unpack ")
               for r in report.records)


def _first_local_start(local_dir: Path, version: str) -> str:
    """What to do after a local install: its environment, then NSO's own steps (a runtime
    directory made by ncs-setup, where ncs starts: NSO's Local Install guide)."""
    return (f"NSO {version} is installed in {local_dir}, not started. Its environment: . {local_dir}/ncsrc (sh, "
            f"bash, zsh; tcsh: source {local_dir}/ncsrc.tcsh). Then, as NSO's Local Install guide says, make a "
            "runtime directory and start NSO there: ncs-setup --dest $HOME/ncs-run; cd $HOME/ncs-run; ncs. "
            # (ncs reads ./ncs.conf first: the one ncs-setup writes, with NSO's fixed example keys)
            f"That starts NSO with the ncs.conf ncs-setup wrote there; for the one nso-install rendered (its "
            f"keys, its profile), start it with ncs -c {local_dir}/etc/ncs/ncs.conf in that directory. "
            f"nso-install status --local-install {local_dir} (and verify) show where it stands.")


def _notes(spec: InstallSpec, version: str, view: TargetView, target: Target) -> list[str]:
    from .actions.accounts import ADMIN_GROUP
    from .versions import unknown_release_note

    notes: list[str] = []
    if unknown := unknown_release_note(version):
        notes.append(unknown)
    before = view.previous_user
    if before and before != spec.run_as_user and not view.previous_user_gone:
        notes.append(f"NSO no longer runs as {before}: the account and its group remain (nso-install never deletes "
                     f"accounts; userdel {before} when nothing else needs it). The encryption keys, IPC secret and "
                     f"host keys {before} could read are unchanged: rotate them (nso-install keys rotate; new host "
                     "keys by removing them and re-running) if the account may have been misused. Leaving group "
                     # (a member may chgrp and chmod g+s its own file; the kernel keeps both after it left)
                     f"{ADMIN_GROUP} does not end what a program {before} made setgid while a member gives: "
                     f"{ADMIN_GROUP}'s read of the IPC secret, a renewed one too. Remove such programs first "
                     f"(find / -xdev -user {sh(before)} -perm -2000).")
    if target.unprivileged:
        notes.append(f"staged as uid {os.geteuid()}: modes are set, owners are not (an ordinary user cannot "
                     "chown); everything is yours. Run the same command as root on the same --root to apply the "
                     "planned owners.")
    if spec.system and config_version(spec, version, view) != version:
        notes.append(f"NSO {version} is installed beside the active {view.active_version}; configuration, unit and "
                     f"environment files stay rendered for {view.active_version}. To switch, re-run this command "
                     "with --activate, then restart NSO with package reload (NCS_RELOAD_PACKAGES=true in "
                     "ncs.systemd.conf for one start).")
    if spec.secrets == "skip":
        tree = f"{spec.install_dir}/current" if spec.system else spec.local_dir
        notes.append("--skip-secrets: no keys, host keys or IPC secret were generated. Where NSO starts, run this "
                     f"command again with {tree} as the distribution and --secrets-only instead of --skip-secrets, "
                     "or provide the config directory from a volume.")
    if spec.fips_install:
        notes.append(f"--fips-install: fips-mode in ncs.conf, ECDSA host keys, NCS_OPENSSL_* in ncsrc and the service, "
                     f"the FIPS build of crypto.so in NSO {version}'s tree. FIPS belongs to each installed version: "
                     "install the next one with --fips-install too (docs/security.md, FIPS install).")
    notes.extend(_config_notes(spec, config_version(spec, version, view)))
    return notes


def _config_notes(spec: InstallSpec, version: str) -> list[str]:
    """Valid but easily misread ncs.conf settings (:func:`nso_install.conf.values.config_notes`)."""
    from .conf.values import config_notes, effective_values, flatten_values
    from .plan import conf_context

    try:
        given = frozenset(dict(spec.values)) | {k for k, _ in spec.secret_values}
        return config_notes(flatten_values(effective_values(conf_context(spec, version), spec.conf_values())), given)
    except NsoInstallError:  # reported where the configuration is rendered
        return []


def _verification_notes(dist, opts: "RunOptions") -> list[str]:
    """--skip-verification given for a distribution without a signature (--trusted-cert with one
    is refused when it is opened: open_distribution)."""
    if dist.kind == "signed.bin" or not opts.skip_verification:
        return []
    return [f"--skip-verification had no effect: {dist.source.name} is a {dist.kind}, which carries no "
            "signature to verify (only a signed.bin does)."]


# --- render-conf ---------------------------------------------------------------------------

@record
class _VersionOnly:
    """A distribution stand-in for planning without one (render-conf by version)."""

    version: str
    kind: str = "version"
    source: Path = Path("-")


def render_conf(given: SpecInput, distribution: Path | None, nso_version: str | None,
                root: Path | None = None, warn: Callable[[str], None] = lambda w: None) -> bytes:
    """The ncs.conf ``install`` would write for this spec and target, byte for byte; ``warn`` is
    told when that is not for the version asked for (another one stays active)."""
    if nso_version is not None:
        from .versions import check_version

        check_version(nso_version, "--nso-version")
    target = Target.at(root)
    facts = Facts(target)
    state = State(target, state_path(given.kind or "", given.local_dir))
    resolution = _resolve(facts, given, state)
    for w in resolution.warnings:
        warn(w)
    spec = resolution.spec
    view = _view(facts, spec, resolution, state)
    if distribution is not None:
        from .distribution import open_distribution

        dist = open_distribution(distribution)
    elif nso_version or (spec.system and view.active_version):
        dist = _VersionOnly(nso_version or view.active_version)
    elif not spec.system and (installed := _local_version(facts, spec.local_dir)):
        dist = _VersionOnly(installed)
    else:
        if spec.system:
            where = f"no version is active under {spec.install_dir}{' in ' + str(root) if root else ''}"
        elif facts.path(f"{spec.local_dir}/VERSION").kind == FILE:
            where = f"{spec.local_dir}/VERSION names no NSO version"
        else:
            where = f"{spec.local_dir} holds no local install (no VERSION file)"
        raise UsageError("no-version", f"render-conf needs the NSO version to render for, and {where}.",
                         "Give the DISTRIBUTION or --nso-version VSN; or point at an install: --local-install DIR "
                         "of a local one, --root DIR (and --install-dir) of a system one.")
    asked = "--nso-version" if nso_version else "the DISTRIBUTION's version" if distribution is not None else ""
    rendered = config_version(spec, dist.version, view)
    if asked and rendered != dist.version:
        # install without --activate leaves the active version and its ncs.conf: the bytes are
        # what install writes, but not for the version the operator named
        warn(f"this is the ncs.conf for NSO {rendered}, not {dist.version} ({asked}): {rendered} is active under "
             f"{spec.install_dir}, and install without --activate leaves it active with its configuration. Add "
             f"--activate to render what install --activate would write for {dist.version}.")
    path = f"{spec.config_dir}/ncs.conf" if spec.system else f"{spec.local_dir}/etc/ncs/ncs.conf"
    with _value_sources(resolution):
        plan = build_plan(spec, dist, view)
    for action in plan:
        if isinstance(action, ConfFile) and action.path == path:
            return action.content
    raise AssertionError(f"the plan has no {path}")
