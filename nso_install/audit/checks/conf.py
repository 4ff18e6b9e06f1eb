"""``NSO-CONF``: ncs.conf is a file the active NSO starts with (ncs.conf(5) of its release).

The other checks read single settings out of ncs.conf and judge them as NSO would use them; a
misspelt element or a value of the wrong type is then "not set" to them (NSO's default), while
NSO itself refuses the whole file at start (exit 21, bad configuration file).  The same holds for
the ``ncs.conf.d/*.conf`` fragments NSO reads with it, which are judged alike."""

from __future__ import annotations

from ...conf.validate import release_problems, start_problems
from ...versions import vtuple
from ..model import failed, passed, skipped
from ..registry import check

SHOWN = 10  # problems listed as evidence (the count says the rest)


@check("NSO-CONF-001", "ncs.conf (and ncs.conf.d/*.conf) follows ncs.conf(5) and the active release knows every "
       "element", "high",
       "Fix what the evidence names in the file it names (the element's name, its value's type, a mandatory "
       "element), or take "
       "nso-install's rendering with nso-install install DIST --force-conf (the edited file is kept as a backup); "
       "then restart NSO.",
       "ncs.conf(5) of each release (G-CONF: its elements, their types, the mandatory ones) and NSO's start exit "
       "codes (G-SM: 21, bad configuration file): NSO does not start with a file it cannot read")
def conf_valid(ctx):
    raw = ctx.facts.read(ctx.conf_path)
    if ctx.conf.root is None or raw is None:
        return ctx.conf_unreadable()
    # The ncs.conf.d/*.conf fragments too: NSO reads them as parts of its configuration, and the
    # other checks read a misspelt element or a foreign namespace there as "not set" as well.
    files = [(ctx.conf_path, raw), *((path, ctx.facts.read(path)) for path, _ in ctx.conf.fragments)]
    problems = []
    for path, data in files:
        found = start_problems((data or b"").decode("utf-8", errors="replace"))
        if ctx.conf.fragments:  # a mandatory element may come from another of the files
            found = [p for p in found if "mandatory element missing" not in p]
        if ctx.version is not None:
            found += [f"NSO {ctx.version} does not know {p}" for p in release_problems(data or b"", vtuple(ctx.version))]
        problems += [f"{path}: {p}" for p in found]
    paths = [path for path, _ in files]
    if not problems:
        if ctx.version is None:
            return skipped("no NSO version is installed to judge the release's elements by", paths)
        return passed(f"{', '.join(paths)}: valid for NSO {ctx.version}", paths, paths)
    shown = problems[:SHOWN] + ([f"... and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else [])
    return failed(f"{len(problems)} problem(s): NSO refuses to start with this configuration (exit 21)", shown, paths)
