"""Benchmark: a whole system install and the idempotent re-run CI pipelines do on every deploy.

    .venv/bin/python bench/bench_install.py [--padding-files 2000] [--repeat 3]

Cases, each timed in this process (best of --repeat) and printed as a ratio to a baseline
measured in the same run: GNU ``tar xzf`` of the same tarball into an empty directory.
- install: ``nso-install install DIST --system-install --root R`` on an empty root
- re-run:  the same command again (must report 0 changed)
- check:   ``--check`` on the installed root
Nothing here asserts on time; read the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from nso_install.cli import main
from nso_install.sample import make_sample_distribution


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_cli(*args) -> dict:
    r = CliRunner().invoke(main, [str(a) for a in args] + ["--json"], catch_exceptions=False)
    if r.exit_code:
        sys.exit(f"nso-install failed: {r.stderr}")
    return json.loads(r.stdout)


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--padding-files", type=int, default=2000)
    ap.add_argument("--padding-bytes", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nso-bench-"))
    try:
        dist = make_sample_distribution(work, "6.5.3", "tar.gz", padding_files=a.padding_files,
                                        padding_bytes=a.padding_bytes)
        n = 0

        def baseline():
            nonlocal n
            n += 1
            d = work / f"tar{n}"
            d.mkdir()
            subprocess.run(["tar", "xzf", str(dist), "-C", str(d)], check=True)

        def fresh_install():
            nonlocal n
            n += 1
            run_cli("install", dist, "--system-install", "--root", work / f"root{n}")

        base = timed(baseline, a.repeat)
        install = timed(fresh_install, a.repeat)
        root = work / "installed"
        run_cli("install", dist, "--system-install", "--root", root)
        rerun_changed = []
        rerun = timed(lambda: rerun_changed.append(
            run_cli("install", dist, "--system-install", "--root", root)["changed"]), a.repeat)
        check = timed(lambda: run_cli("install", dist, "--system-install", "--root", root, "--check"), a.repeat)
        assert set(rerun_changed) == {0}, rerun_changed  # correctness, not timing
        print(f"distribution: {dist.name}, {dist.stat().st_size / 1e6:.1f} MB, {a.padding_files} padding files")
        print(f"{'case':<10} {'seconds':>8} {'x baseline':>11}")
        print(f"{'tar xzf':<10} {base:8.3f} {1.0:11.2f}   (baseline)")
        for name, t in (("install", install), ("re-run", rerun), ("check", check)):
            print(f"{name:<10} {t:8.3f} {t / base:11.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main_()
