"""``NSO-DRIFT``: the install against nso-install's own records, through ``nso-install verify``
(:func:`nso_install.lifecycle.verify.verify`): the trees against their manifests, the config
files against what nso-install wrote, the ``.new`` renderings waiting.  (Privileged binaries and
``current`` have checks of their own: NSO-PRIV, NSO-LAYOUT.)"""

from __future__ import annotations

from ...actions.files import ASIDE_DIR, beside
from ...facts import FILE
from ...lifecycle.verify import verify
from ..model import failed, passed, skipped, verdict, warned
from ..registry import check
from .permissions import _listed

VERIFY = "nso-install verify (docs/operations.md): what nso-install unpacked and wrote, as recorded"


def _verification(ctx):
    if "verify" not in ctx.cache:
        ctx.cache["verify"] = verify(ctx.inst)
    return ctx.cache["verify"]


@check("NSO-DRIFT-001", "Installed trees match the manifests recorded when they were unpacked", "high",
       "Re-run nso-install install with the distribution (it restores what differs, nso-install verify lists "
       "it); find out who changed the files.", VERIFY, inferred=True)
def trees(ctx):
    # a recorded tree that lost its VERSION or its directory is not among ctx.trees: still judged
    if not any(t.manifest for t in ctx.trees) and not ctx.inst.state.recorded_trees():
        return skipped("no tree has a manifest (not unpacked by nso-install, or its records are not sealed on this "
                       "host)")
    v = _verification(ctx)
    problems = [f"{f.path}: {f.problem}" for f in v.findings if f.kind == "tree"]
    evidence = [f"compared: {', '.join(v.checked)}"] + [n for n in v.notes if "no manifest" in n]
    if v.extra:
        evidence.append(f"{len(v.extra)} entr{'y' if len(v.extra) == 1 else 'ies'} nso-install did not install "
                        "(caches NSO writes; listed by nso-install verify -v)")
    return verdict(_listed(problems), f"{len(v.checked)} tree(s) as unpacked", f"{len(problems)} entr"
                   f"{'y' if len(problems) == 1 else 'ies'} missing or changed", evidence, v.checked)


@check("NSO-DRIFT-002", "Config files nso-install wrote are present (an administrator's edit is reported)", "medium",
       "Restore a missing file with nso-install install (it writes it again); review edits with nso-install "
       "install --check --diff.", VERIFY, inferred=True)
def config_files(ctx):
    if not ctx.inst.state.conffiles:
        return skipped("no config file is recorded (not installed by nso-install)")
    v = _verification(ctx)
    found = [f for f in v.findings if f.kind == "config" and not f.path.endswith(".new")]
    problems = [f"{f.path}: {f.problem}" for f in found if f.fails]
    edited = [f"{f.path}: {f.problem}" for f in found if not f.fails]
    if problems:
        return failed("a config file nso-install wrote is missing", problems + edited, [f.path for f in found])
    if edited:
        return warned(f"{len(edited)} config file(s) edited since nso-install wrote them (kept)", edited,
                      [f.path for f in found])
    return passed(f"{len(ctx.inst.state.conffiles)} config file(s) as nso-install wrote them")


@check("NSO-DRIFT-003", "No new rendering (.new) waits to be merged", "medium",
       "Merge FILE.new into FILE (or take it: mv FILE.new FILE), then re-run nso-install install so it records "
       "the result; restart NSO for ncs.conf. The new renderings of /etc/logrotate.d/ncs and /etc/init.d/ncs wait "
       f"in {ASIDE_DIR} (logrotate and the SysV tools would read a .new beside them).",
       "dpkg-style conffiles (docs/operations.md): a kept administrator edit means the settings nso-install "
       "would write now are not in force", inferred=True)
def pending_new(ctx):
    paths = sorted({*ctx.inst.state.conffiles, *ctx.inst.state.kept}) or [ctx.conf_path]
    waiting = [beside(p, ".new") for p in paths if ctx.facts.path(beside(p, ".new")).kind == FILE]
    return verdict([f"{p} waits to be merged" for p in waiting], "nothing waits to be merged",
                   f"{len(waiting)} new rendering(s) wait to be merged", [], waiting)
