"""Benchmark: the no-op re-run CI pipelines do on every deploy, as the tree grows 100-fold.

    .venv/bin/python bench/bench_rerun.py [--small 1000] [--large 100000] [--repeat 5]

Two system installs are made under fresh staging roots, one of a distribution padded to
``--small`` entries, one to ``--large``.  Then these whole processes run in turn, round after
round (interleaved, so a drift in the machine's speed touches every case alike), and the
median of each is printed:

- ``startup``:   ``nso-install --version`` (the floor: interpreter and imports);
- ``find S/L``:  ``find TREE -printf '%m %U %G %s %T@ %l\\n'`` over each installed tree (the floor
  of any check that looks at every entry's mode, owner, size and time: one lstat an entry, in C);
- ``re-run S/L``: ``nso-install install DIST --system-install --root R --json`` on each, with
  ``NSO_INSTALL_REPLAY=0``: deciding everything again (must report 0 changed: asserted, as
  correctness, not as time);
- ``replay S/L``: the same command as it runs by default: a round before the measured ones
  records it (``nso_install.replay``), so each measured one replays it (asserted: the same output);
- ``verify S/L``: ``nso-install verify --root R`` (the same stat-level compare, read-only).

The ratios that matter: re-run L / re-run S (how the no-op grows with the tree) and
re-run L - startup against find L (how close the per-entry cost is to the C floor).
Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nso_install.sample import make_sample_distribution

NSO_INSTALL = str(Path(sys.executable).with_name("nso-install"))


def run(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return elapsed, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nso-bench-rerun-"))
    try:
        cases: dict[str, list[str]] = {"startup": [NSO_INSTALL, "--version"]}
        rerun: dict[str, list[str]] = {}
        for label, n in (("S", a.small), ("L", a.large)):
            dist = make_sample_distribution(work / f"dist{label}", "6.5.3", "tar.gz", padding_files=n,
                                            padding_bytes=16)
            root = work / f"root{label}"
            first, _ = run([NSO_INSTALL, "install", str(dist), "--system-install", "--root", str(root)])
            entries = sum(1 for _ in (root / "opt/ncs/ncs-6.5.3").rglob("*"))
            print(f"{label}: {entries} entries in ncs-6.5.3, first install {first:.2f} s")
            cases[f"find {label}"] = ["find", str(root / "opt/ncs/ncs-6.5.3"), "-printf", "%m %U %G %s %T@ %l\\n"]
            cmd = [NSO_INSTALL, "install", str(dist), "--system-install", "--root", str(root), "--json"]
            cases[f"re-run {label}"] = rerun[label] = ["env", "NSO_INSTALL_REPLAY=0", *cmd]
            cases[f"replay {label}"] = cmd
            cases[f"verify {label}"] = [NSO_INSTALL, "verify", "--root", str(root)]
        times: dict[str, list[float]] = {name: [] for name in cases}
        time.sleep(0.15)  # a run is recorded only when what it read did not change in the 0.1 s before
        outputs: dict[str, str] = {}
        for i in range(a.repeat + 1):  # round 0 records the replays, warms the caches and is not counted
            for name, cmd in cases.items():
                elapsed, out = run(cmd)
                if i:
                    times[name].append(elapsed)
                if name.startswith(("re-run", "replay")):
                    changed = json.loads(out)["changed"]
                    assert changed == 0, f"{name}: a re-run changed {changed}"  # correctness, not time
                if name.startswith("replay"):
                    assert outputs.setdefault(name, out) == out, f"{name} printed something else"
        med = {name: statistics.median(ts) for name, ts in times.items()}
        print(f"\nmedian of {a.repeat} interleaved rounds, whole processes")
        print(f"{'case':<10} {'median s':>9} {'min':>7} {'max':>7}")
        for name, ts in times.items():
            print(f"{name:<10} {med[name]:9.3f} {min(ts):7.3f} {max(ts):7.3f}")
        print(f"\nre-run L / re-run S:            {med['re-run L'] / med['re-run S']:.2f}")
        print(f"verify L / verify S:            {med['verify L'] / med['verify S']:.2f}")
        per_entry = (med["re-run L"] - med["re-run S"]) / max(a.large - a.small, 1) * 1e6
        floor = (med["find L"] - med["find S"]) / max(a.large - a.small, 1) * 1e6
        print(f"re-run cost per extra entry:    {per_entry:.1f} us (find: {floor:.1f} us)")
        print(f"replay L / replay S:            {med['replay L'] / med['replay S']:.2f}")
        per_entry = (med["replay L"] - med["replay S"]) / max(a.large - a.small, 1) * 1e6
        print(f"replay cost per extra entry:    {per_entry:.1f} us (find: {floor:.1f} us)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
