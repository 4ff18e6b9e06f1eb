"""Benchmark: the fixed cost of the command line, as whole processes against their floors.

    .venv/bin/python bench/bench_startup.py [--repeat 7] [--padding-files 0]

Measures the installed ``nso-install`` (the console script beside this interpreter), never
in-process: each figure is a fresh process.  Round after round, interleaved (a drift in the
machine's speed touches every case alike), each round in fresh, never-used directories:

- ``pass``:       ``python -c pass`` from a bare venv made here (B of the performance issue);
- ``click``:      ``python -c "import click"`` in nso-install's venv (the floor of any click CLI);
- ``help``:       ``nso-install --help``;
- ``re-run``:     a second ``install DIST --system-install --root R --json`` after a first one (not
                  timed) into a fresh staging root R: must report 0 changed (asserted, as correctness);
                  it decides everything again, and is recorded (``nso_install.replay``);
- ``replay``:     the same command once more: the steady state of a pipeline re-running it, where the
                  record of the run before is replayed (asserted: the same output);
- ``norecord``:   the re-run with ``NSO_INSTALL_REPLAY=0``: deciding everything, neither recording
                  nor replaying (what ``re-run`` cost before replay existed; re-run / norecord is
                  the price of recording);
- ``check``:      ``install ... --check`` on that root afterwards (never recorded nor replayed: it
                  writes nothing, not even a record);
- ``imports``:    ``python -c "import ..."`` of every module of nso_install a re-run imports (listed
                  by running one in-process first), and nothing else: the floor of a re-run that
                  decides every action and every audit check again instead of replaying a memo;
- with ``--before DIR``: ``re-run@before`` and ``check@before``, the same with an older copy of
  the package (``git archive COMMIT nso_install templates | tar -x -C DIR``), each on a root that
  code installed, in the same rounds; ``--after DIR`` runs nso-install's own cases from such a
  copy too, so that both start the same way (an isolated interpreter, the copy first on sys.path).

Prints the median wall and CPU (user + sys of the process and its children) seconds of each and
the ratios help/click, re-run/pass, check/pass and imports/pass.  On a shared machine quote the CPU ratios
(wall time there includes waiting for a processor).  Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fresh import NSO_INSTALL, launcher


# a re-run in-process, then the nso_install modules it imported (for the ``imports`` case)
MODULES_OF_A_RERUN = """
import io, json, sys, contextlib
from nso_install.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    main(["install", sys.argv[1], "--system-install", "--root", sys.argv[2], "-q"], standalone_mode=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "nso_install")))
"""


def cpu_of(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, cpu s, stdout) of one whole process; cpu: its user + sys time (and its children's)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc kept
    before = os.times()
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - t
    after = os.times()
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, p.stdout.decode(errors="replace")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="rounds (medians of these)")
    ap.add_argument("--padding-files", type=int, default=0, help="extra entries in the distribution")
    ap.add_argument("--before", metavar="DIR", help="also time re-run and check with this copy of an older "
                                                    "nso_install package, interleaved")
    ap.add_argument("--after", metavar="DIR", help="time nso-install's cases with this copy of the package "
                                                   "instead of the installed one")
    a = ap.parse_args()
    tool = launcher(a.after)
    work = Path(tempfile.mkdtemp(prefix="nso-bench-startup-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "bare")], check=True)
        bare = str(work / "bare" / "bin" / "python")
        dist = Path(subprocess.run([NSO_INSTALL, "sample-dist", str(work / "dist"), "--padding-files",
                                    str(a.padding_files)], check=True, capture_output=True, text=True).stdout.strip())
        single = ["pass", "click", "help", "imports"]  # independent of one another: order alternates
        # each after the one before it, on the same root: re-run (recorded) -> replay, ...
        chain = ["re-run", "replay", "norecord", "check"]
        cases = single + chain + (["re-run@before", "check@before"] if a.before else [])
        root0 = work / "root-modules"
        cpu_of(tool + ["install", str(dist), "--system-install", "--root", str(root0), "-q"])
        first = f"import sys; sys.path.insert(0, {a.after!r}); " if a.after else ""
        imports = first + "import " + ", ".join(json.loads(cpu_of([sys.executable, "-c", first + MODULES_OF_A_RERUN,
                                                                   str(dist), str(root0)])[2]))
        shutil.rmtree(root0, ignore_errors=True)
        wall: dict[str, list[float]] = {c: [] for c in cases}
        cpu: dict[str, list[float]] = {c: [] for c in cases}
        for i in range(a.repeat + 1):  # round 0 warms the caches (page cache, .pyc) and is not counted
            root, root_before = work / f"root{i}", work / f"root-before{i}"
            cpu_of(tool + ["install", str(dist), "--system-install", "--root", str(root), "-q"])
            time.sleep(0.15)  # a re-run is recorded only when what it reads did not change in the last 0.1 s
            off = ["env", "NSO_INSTALL_REPLAY=0"]
            run = {
                "pass": [bare, "-c", "pass"],
                "click": [sys.executable, "-c", "import click"],
                "help": tool + ["--help"],
                "re-run": tool + ["install", str(dist), "--system-install", "--root", str(root), "--json"],
                "replay": tool + ["install", str(dist), "--system-install", "--root", str(root), "--json"],
                "norecord": off + tool + ["install", str(dist), "--system-install", "--root", str(root), "--json"],
                "check": tool + ["install", str(dist), "--system-install", "--root", str(root), "--check", "-q"],
                "imports": [sys.executable, "-c", imports],
            }
            if a.before:
                old = launcher(a.before)
                cpu_of(old + ["install", str(dist), "--system-install", "--root", str(root_before), "-q"])
                run["re-run@before"] = old + ["install", str(dist), "--system-install", "--root", str(root_before),
                                              "--json"]
                run["check@before"] = old + ["install", str(dist), "--system-install", "--root", str(root_before),
                                             "--check", "-q"]
            others = [c for c in cases if c not in single]
            order = single + others if i % 2 else others + single[::-1]  # no case always runs first
            outputs = {}
            for c in order:
                w, t, out = cpu_of(run[c])
                outputs[c] = out
                if c.startswith("re-run") or c in ("replay", "norecord"):
                    changed = json.loads(out)["changed"]
                    assert changed == 0, f"a re-run changed {changed}"  # correctness, not time
                if c == "replay":
                    assert out == outputs["re-run"], "a replay printed something else"
                if i:
                    wall[c].append(w)
                    cpu[c].append(t)
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(root_before, ignore_errors=True)
        mw = {c: statistics.median(v) for c, v in wall.items()}
        mc = {c: statistics.median(v) for c, v in cpu.items()}
        print(f"median of {a.repeat} interleaved rounds, whole processes; distribution {dist.name}"
              f" (+{a.padding_files} padding files)")
        print(f"{'case':<14} {'wall s':>8} {'cpu s':>8}  (wall min..max)")
        for c in cases:
            print(f"{c:<14} {mw[c]:8.3f} {mc[c]:8.3f}  ({min(wall[c]):.3f}..{max(wall[c]):.3f})")
        print()
        for name, num, den, goal in (("help / click", "help", "click", 1.15), ("re-run / pass", "re-run", "pass", 10),
                                     ("replay / pass", "replay", "pass", 10), ("norecord / pass", "norecord", "pass", 10),
                                     ("check / pass", "check", "pass", 10),
                                     ("imports / pass", "imports", "pass", 10)):
            print(f"{name:<20} wall {mw[num] / mw[den]:6.2f}   cpu {mc[num] / mc[den]:6.2f}   (goal <= {goal})")
        print(f"{'re-run / norecord':<20} wall {mw['re-run'] / mw['norecord']:6.2f}   "
              f"cpu {mc['re-run'] / mc['norecord']:6.2f}   (the price of recording)")
        for c in ("re-run", "check") if a.before else ():
            print(f"{c + ' / before':<15} wall {mw[c] / mw[c + '@before']:6.2f}   "
                  f"cpu {mc[c] / mc[c + '@before']:6.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
