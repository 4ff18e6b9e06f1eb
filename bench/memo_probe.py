"""Probe: what a whole-run memo of a no-op re-run would cost to check, as a whole process.

    .venv/bin/python bench/memo_probe.py [--repeat 15] [--padding-files 0]

The no-op re-run's goal (<= 10x ``python -c pass``) is below what a run that decides every action
again can reach (bench_startup's ``imports`` case). A memo would replay the last run's output when
nothing it read has changed. Checking that is the memo's fixed cost, and this probe measures it:

1. installs a sample distribution into a fresh staging root with the installed nso-install;
2. runs a no-op re-run in-process and records the paths it lstat'ed, stat'ed, listed or opened
   by name (wrapping ``os`` and ``open``; what it reads through directory descriptors shows up as
   ``/proc/self/fd/N/...`` or not at all, which is why a real memo needs a recorder that maps
   descriptors to paths);
3. times, interleaved with ``python -c pass`` from a bare venv, a process that does what a memo's
   check would: lstat every entry of the staging root (a walk), every host path the run touched
   outside it, and the exe link of every process (is NSO running from the install?).

Prints the medians and the ratio. Nothing here is part of nso-install; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_fresh import NSO_INSTALL, run  # (whole process: wall, cpu, peak RSS)

RECORD = r"""
import builtins, contextlib, io, json, os, sys
out, argv = sys.argv[1], sys.argv[2:]
from nso_install.cli import main
touched = set()
def wrap(name):
    real = getattr(os, name)
    def w(path, *a, **k):
        if isinstance(path, (str, bytes, os.PathLike)) and k.get("dir_fd") is None:
            touched.add(os.fsdecode(os.fspath(path)))
        return real(path, *a, **k)
    setattr(os, name, w)
for n in ("lstat", "stat", "readlink", "getxattr", "listxattr", "access", "scandir", "listdir", "open"):
    wrap(n)
real_open = builtins.open
def opened(f, *a, **k):
    if isinstance(f, (str, bytes, os.PathLike)):
        touched.add(os.fsdecode(os.fspath(f)))
    return real_open(f, *a, **k)
builtins.open = opened
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(argv, standalone_mode=False)
    except SystemExit:
        pass
builtins.open = real_open
json.dump(sorted(touched), open(out, "w"))
"""

CHECK = r"""
import os, sys, json
root, touched = sys.argv[1], json.load(open(sys.argv[2]))
def walk(d):
    with os.scandir(d) as it:
        for e in it:
            e.stat(follow_symlinks=False)
            if e.is_dir(follow_symlinks=False):
                walk(e.path)
walk(root)
for p in touched:
    if not p.startswith(root) and not p.startswith("/proc/self/fd"):
        try:
            os.lstat(p)
        except OSError:
            pass
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            os.readlink(f"/proc/{pid}/exe")
        except OSError:
            pass
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15, help="alternating pairs (medians of these)")
    ap.add_argument("--padding-files", type=int, default=0, help="extra entries in the distribution")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nso-bench-memo-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "bare")], check=True)
        bare = str(work / "bare" / "bin" / "python")
        dist = subprocess.run([NSO_INSTALL, "sample-dist", str(work / "dist"), "--padding-files",
                               str(a.padding_files)], check=True, capture_output=True, text=True).stdout.strip()
        root = work / "root"
        rerun = ["install", dist, "--system-install", "--root", str(root), "-q"]
        subprocess.run([NSO_INSTALL, *rerun], check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", RECORD, str(work / "touched.json"), *rerun], check=True)
        touched = json.loads((work / "touched.json").read_text())
        entries = sum(1 for _ in root.rglob("*"))
        check = [sys.executable, "-I", "-c", CHECK, str(root), str(work / "touched.json")]
        cases = {"check": check, "pass": [bare, "-c", "pass"]}
        times: dict[str, list[float]] = {c: [] for c in cases}
        for i in range(a.repeat + 1):  # round 0 warms the caches and is not counted
            for c in (cases if i % 2 else reversed(list(cases))):
                t = run(cases[c])[0]
                if i:
                    times[c].append(t)
        m = {c: statistics.median(v) for c, v in times.items()}
        outside = sum(1 for p in touched if not p.startswith(str(root)))
        print(f"staging root: {entries} entries; the no-op re-run touched {len(touched)} paths by name "
              f"({outside} outside the root, {sum(1 for p in touched if p.startswith('/proc/self/fd'))} "
              f"through /proc/self/fd)")
        print(f"median of {a.repeat} alternating pairs, whole processes")
        print(f"memo check  {m['check'] * 1e3:7.1f} ms")
        print(f"pass        {m['pass'] * 1e3:7.1f} ms")
        print(f"check / pass  {m['check'] / m['pass']:5.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
