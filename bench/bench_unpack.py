"""Benchmark: only the unpacking (``open_distribution`` + ``extract``), against ``tar -xzf``.

    .venv/bin/python bench/bench_unpack.py DIST [--repeat 3] [--code DIR ...]

Each measurement is a fresh process (``python -I``) that unpacks DIST into a fresh directory
as root would (uid/gid 0) and prints its wall and CPU seconds; rounds interleave ``tar -xzf``
and one case per ``--code DIR`` (a copy of an ``nso_install`` package to import, e.g. an older
commit's, so before and after run side by side; without ``--code``: the installed package).
Prints medians and ratios to tar.  Nothing here asserts on time.
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

CHILD = """
import json, os, sys, time
code, src, dest = sys.argv[1:4]
if code:
    sys.path.insert(0, code)
from nso_install.distribution import open_distribution
t, c = time.perf_counter(), os.times()
with open_distribution(src) as d:
    d.extract(dest, uid=0, gid=0)
e = os.times()
print(json.dumps([time.perf_counter() - t, e.user - c.user + e.system - c.system]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dist", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--code", action="append", default=[], metavar="DIR")
    a = ap.parse_args()
    codes = a.code or [""]
    work = Path(tempfile.mkdtemp(prefix="nso-bench-unpack-", dir=a.dist.parent))
    res: dict[str, list[tuple[float, float]]] = {c: [] for c in ["tar"] + codes}
    try:
        for i in range(a.repeat + 1):  # round 0 warms the page cache, not counted
            for c in res:
                dest = work / f"d{i}-{len(res[c])}-{abs(hash(c))}"
                dest.mkdir()
                if c == "tar":
                    before, t = os.times(), time.perf_counter()
                    subprocess.run(["tar", "-xzf", str(a.dist), "-C", str(dest)], check=True)
                    wall, after = time.perf_counter() - t, os.times()
                    got = (wall, after.children_user - before.children_user
                           + after.children_system - before.children_system)
                else:
                    out = subprocess.run([sys.executable, "-I", "-c", CHILD, c, str(a.dist), str(dest)], check=True,
                                         capture_output=True, text=True).stdout
                    got = tuple(json.loads(out))
                if i:
                    res[c].append(got)
                shutil.rmtree(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {c: (statistics.median(w for w, _ in v), statistics.median(u for _, u in v)) for c, v in res.items()}
    print(f"{a.dist.name}: median of {a.repeat} interleaved rounds; load average {os.getloadavg()[0]:.1f}")
    for c, (w, u) in med.items():
        print(f"{c or 'installed':<24} wall {w:7.2f}  cpu {u:7.2f}   wall/tar {w / med['tar'][0]:5.2f}  "
              f"cpu/tar {u / med['tar'][1]:5.2f}")


if __name__ == "__main__":
    main()
