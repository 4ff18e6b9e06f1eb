"""``NSO-LAYOUT``: INSTALL_DIR/current and the version directories (ncs-installer(1); NSO's
System Install guide, "Default Directories and Scripts")."""

from __future__ import annotations

import os

from ...facts import DIR, FILE, LINK
from ...fsops import TMP_MARK
from ..model import failed, passed, verdict, warned
from ..registry import check

LAYOUT = "NSO system install layout (G-INST): INSTALL_DIR/ncs-VSN per version, " \
         "INSTALL_DIR/current -> the active one"


@check("NSO-LAYOUT-001", "INSTALL_DIR/current points to an installed version", "high",
       "Point it at an installed version: nso-install activate VSN (or ln -sfn ncs-VSN INSTALL_DIR/current), "
       "then restart NSO.", LAYOUT)
def current_link(ctx):
    idir = ctx.spec.install_dir
    cur = ctx.facts.path(f"{idir}/current")
    shown = ctx.shown(cur)
    if not ctx.trees:
        return failed(f"no NSO is installed under {idir}", [f"{idir}: no ncs-VSN directory with a VERSION file"],
                      [idir])
    if cur.kind != LINK:
        what = "missing" if not cur.exists else f"not a symbolic link ({cur.kind})"
        return failed(f"{idir}/current is {what}", [shown, *(t.path for t in ctx.trees)], [f"{idir}/current"])
    pointed = os.path.normpath(cur.link if cur.link.startswith("/") else f"{idir}/{cur.link}")
    problems = []
    if ctx.inst.dangling:
        problems.append(f"{shown}: {pointed} does not exist (dangling)")
    elif os.path.dirname(pointed) not in (idir, ctx.inst.real_dir):
        problems.append(f"{shown}: leads outside {idir}")
    elif ctx.inst.active is None:
        problems.append(f"{shown}: {pointed} is not an installed version (no VERSION file)")
    active = ctx.inst.active
    return verdict(problems, f"current -> {cur.link} (NSO {active.version if active else '?'})",
                   f"{idir}/current does not point to an installed version", [shown], [f"{idir}/current"])


@check("NSO-LAYOUT-002", "Version directories are complete (VERSION matches the name; no half-unpacked trees)",
       "medium", "Re-install the version from its distribution (nso-install install DIST), or remove the "
       "directory (nso-install uninstall --ncs-version VSN).", LAYOUT)
def version_dirs(ctx):
    idir = ctx.spec.install_dir
    real = ctx.inst.real_dir or idir
    problems, evidence, leftovers = [], [], []
    for name in ctx.facts.listdir(real):
        path = f"{idir}/{name}"
        kind = ctx.facts.path(path).kind
        if name.startswith(TMP_MARK):
            leftovers.append(path)
            continue
        if not name.startswith("ncs-") or kind != DIR:
            continue
        if ctx.facts.path(f"{path}/VERSION").kind != FILE:
            problems.append(f"{path}: no VERSION file (an incomplete or damaged tree)")
            continue
        version = ctx.facts.version_file(path)
        if version != name[4:] and not name[4:].startswith(version + "."):
            problems.append(f"{path}: its VERSION says {version!r}")
        evidence.append(f"{path}: NSO {version}")
    if problems:
        return failed("a version directory is incomplete or misnamed", problems + evidence, [idir])
    if leftovers:
        return warned("an interrupted nso-install run left a temporary tree (the next install removes it)",
                      leftovers + evidence, leftovers)
    return passed(f"{len(evidence)} version director{'y' if len(evidence) == 1 else 'ies'}", evidence, [idir])
