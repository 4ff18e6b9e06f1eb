"""Benchmark: validate + extract of a sample NSO distribution, per format, against a baseline.

    .venv/bin/python bench/bench_extract.py [--padding-files 2000] [--padding-bytes 4096] [--repeat 3]

The baseline, measured in the same run, is ``tarfile.open(tgz).extractall(dest, filter="data")``
of the same tar.gz.  Each measurement runs in a fresh subprocess so that peak RSS
belongs to that case alone; "peak RSS" is VmHWM (ru_maxrss off Linux), and the Python heap peak comes from a second run under
tracemalloc (which slows things down, so it is not timed).  Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = ("baseline", "dir", "tar.gz", "installer.bin", "signed.bin")


def peak_rss_kib() -> int:
    """This process's RSS high-water mark.  VmHWM is per address space, so unlike ru_maxrss it
    does not inherit the parent's peak across fork/exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_one(case: str, source: Path, dest: Path, trace: bool) -> dict:
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if case == "baseline":
        with tarfile.open(source) as tf:
            tf.extractall(dest, filter="data")
    else:
        from nso_install.distribution import open_distribution

        dist = open_distribution(source)
        dist.validate()
        dist.extract(dest, uid=None, gid=None, progress=lambda done, total: None)
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "maxrss_kib": peak_rss_kib()}
    if trace:
        out["heap_peak"] = tracemalloc.get_traced_memory()[1]
    return out


def measure(case: str, source: Path, work: Path, trace: bool) -> dict:
    dest = work / f"dest-{case}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    cmd = [sys.executable, __file__, "--one", case, str(source), str(dest)] + (["--trace"] if trace else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{case} failed:\n{res.stderr}")
    shutil.rmtree(dest)
    return json.loads(res.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--padding-files", type=int, default=2000)
    p.add_argument("--padding-bytes", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per case; the best is kept")
    p.add_argument("--one", nargs=3, metavar=("CASE", "SOURCE", "DEST"), help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one[0], Path(a.one[1]), Path(a.one[2]), a.trace)))
        return

    from nso_install.sample import make_sample_distribution

    with tempfile.TemporaryDirectory(prefix="nso-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        sources = {fmt: make_sample_distribution(work / "dists", "6.5.3", fmt, padding_files=a.padding_files,
                                                 padding_bytes=a.padding_bytes)
                   for fmt in ("dir", "tar.gz", "installer.bin", "signed.bin")}
        sources["baseline"] = sources["tar.gz"]
        size = os.path.getsize(sources["tar.gz"])
        print(f"sample: {a.padding_files} padding files of {a.padding_bytes} bytes, tar.gz {size / 1e6:.1f} MB, "
              f"generated in {time.perf_counter() - t0:.2f}s")
        results = {}
        for case in CASES:
            runs = [measure(case, sources[case], work, trace=False) for _ in range(a.repeat)]
            traced = measure(case, sources[case], work, trace=True)
            results[case] = {"seconds": min(r["seconds"] for r in runs),
                             "maxrss_kib": min(r["maxrss_kib"] for r in runs), "heap_peak": traced["heap_peak"]}
        base = results["baseline"]
        print(f"{'case':<14}{'seconds':>9}{'x base':>8}{'peak RSS MiB':>14}{'x base':>8}{'heap peak MiB':>15}"
              f"{'x base':>8}")
        for case, r in results.items():
            print(f"{case:<14}{r['seconds']:>9.3f}{r['seconds'] / base['seconds']:>8.2f}"
                  f"{r['maxrss_kib'] / 1024:>14.1f}{r['maxrss_kib'] / base['maxrss_kib']:>8.2f}"
                  f"{r['heap_peak'] / 2**20:>15.2f}{r['heap_peak'] / base['heap_peak']:>8.2f}")
        print("nso-install cases = open_distribution + validate() + extract(); baseline = "
              "tarfile extractall(filter='data'), which neither pre-validates nor sets directory mtimes.")


if __name__ == "__main__":
    main()
