"""``nso-install status``: installed versions, the active one, the recorded options, what waits."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from ..actions.files import beside
from ..facts import FILE, Facts
from ..spec import LOCAL_UNUSED
from ..state import describe_unfinished
from .installation import Installation


def _shown_spec(inst: Installation) -> dict | None:
    if not inst.recorded:
        return None
    local = not inst.spec.system
    shown = {k: v for k, v in inst.spec.record().items()
             if k not in ("format", "secret_names") and not (local and k in LOCAL_UNUSED)}
    if (recorded := inst.other_install_dir()) is not None:
        # (a mistyped --install-dir: the spec is the recorded one, which names where the install is)
        shown["install_dir"] = recorded
    return shown


def _keys(inst: Installation) -> dict | None:
    """Where a ``keys rotate`` stands (the state's record; never a key): a generation added and
    not yet applied in NSO, the last one applied, or a rotation stopped between announcing its
    write and recording it (``interrupted``: its re-run records what it wrote).  None when no
    rotation was ever made."""
    rec = inst.state.data.get("keys")
    if not isinstance(rec, dict):
        return None

    def number(key):
        v = rec.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def text(key, within=rec):
        v = within.get(key)
        return v if isinstance(v, str) else None

    writing = rec.get("writing") if isinstance(rec.get("writing"), dict) else None
    shown = {"pending_generation": number("pending_generation"), "added": text("time"),
             "applied_generation": number("applied_generation"), "applied": text("applied_time"),
             "interrupted": None if writing is None else (text("time", writing) or "")}
    return shown if any(v is not None for v in shown.values()) else None


def rotation_rerun(inst: Installation) -> str:
    """The command that completes an interrupted ``keys rotate``: with ``--new`` when it had it
    (without, a generation added before and still pending is all a re-run finds: it adds none)."""
    rec = inst.state.data.get("keys")
    writing = rec.get("writing") if isinstance(rec, dict) else None
    return "keys rotate --new" if isinstance(writing, dict) and writing.get("new") is True else "keys rotate"


def _temporary_trees(inst: Installation, facts: Facts) -> list[str]:
    """The trees a run unpacked and did not finish with (killed while unpacking, before the
    tree was renamed into place): ``.nso-install-tmp.ncs-VSN.*`` beside INSTALL_DIR's trees or
    in a directory above (where a first install prepares it before INSTALL_DIR exists), or beside
    a local install's directory.  A distribution's worth of disk each, invisible to ``ls
    INSTALL_DIR`` when above it; the next install removes them.  This account's only, as the
    install judges them (another's in a shared sticky directory is no leftover of ours)."""
    from ..fsops import TMP_MARK

    if inst.spec.system:
        prefix, start = f"{TMP_MARK}ncs-", PurePosixPath(inst.spec.install_dir)
        where = [start, *start.parents]
    else:
        local = PurePosixPath(inst.spec.local_dir)
        prefix, where = f"{TMP_MARK}{local.name}.", list(local.parents)
    me = os.geteuid()
    return sorted(str(d / n) for d in where for n in facts.listdir(str(d))
                  if n.startswith(prefix) and facts.path(str(d / n)).uid == me)


def status(inst: Installation) -> dict:
    """Everything ``status`` shows, as data (the CLI prints it, or dumps it with --json)."""
    facts = Facts(inst.target)
    managed = [*inst.state.conffiles, *inst.state.kept]  # (kept: not written by nso-install, kept as found)
    pending = sorted(beside(p, ".new") for p in managed if facts.path(beside(p, ".new")).kind == FILE)
    edited = sorted([p for p, digest in inst.state.conffiles.items()
                     if facts.path(p).kind == FILE and facts.sha256(p) != digest] +
                    [p for p in inst.state.kept if facts.path(p).kind == FILE])
    running = [{"pid": pid, "executable": exe,
                "version": next((t.version for t in inst.trees if exe.startswith(t.path + "/")),
                                inst.active.version if inst.active else None)} for pid, exe in inst.running]
    return {
        "install_dir": inst.spec.install_dir if inst.spec.system else None,
        # --install-dir named another directory than the install's recorded one (a typo, an old one)
        "recorded_install_dir": inst.other_install_dir() if inst.spec.system else None,
        "local_dir": None if inst.spec.system else inst.spec.local_dir,
        "versions": [t.as_dict() for t in inst.trees],
        "active": inst.active.version if inst.active else None,
        "current": inst.current,
        "dangling": inst.dangling,
        "previous": inst.previous,
        "rolled_back_from": inst.rolled_back_from,
        "spec": _shown_spec(inst),
        # the manifests were there but root could not trust them (not sealed on this host: another
        # account wrote them, as it does for its own local install): "not unpacked by nso-install"
        # would be wrong
        "records_unsealed": inst.state.unsealed,
        "pending_new": pending,
        "edited": edited,
        "running": running,
        "keys": _keys(inst),
        "unfinished": None if (unfinished := inst.state.unfinished()) is None else
        describe_unfinished(unfinished, inst.state.held_by_another_run()),
        "temporary_trees": _temporary_trees(inst, facts),
    }
