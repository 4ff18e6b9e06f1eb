"""Benchmark: a fresh system install of a big distribution against ``tar -xzf`` of the same tarball.

    .venv/bin/python bench/bench_fresh.py [--repeat 3] [--padding-files 34000 --padding-bytes 31000]
    .venv/bin/python bench/bench_fresh.py --dist /path/to/nso-6.5.3.linux.x86_64.tar.gz

Whole processes, never in-process: the installed ``nso-install`` beside this interpreter, and
GNU ``tar -xzf``.  Round after round, interleaved (tar, install, tar, install ...), each into a
fresh, never-used directory that is removed afterwards; round 0 warms the page cache and is not
counted.  The distribution is written by ``python -m nso_install.sample`` (seeded, incompressible
padding: reproducible) unless ``--dist`` names one.

A second baseline, ``tar+sync``, is tar followed by a syncfs of the file system it wrote: the
install writes its tree back to the disk before giving it its name (a crash must not leave an
installed-looking tree of empty files), which tar does not wait for.

Prints medians of wall and CPU seconds (user + sys of the process and its children: tar's gzip
included), the peak RSS of each process (ru_maxrss from wait4), and the ratios install / tar.  On
a shared machine the wall ratio includes waiting for a processor; quote both.  Nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
NSO_INSTALL = str(BIN / "nso-install")


def launcher(code: str | None) -> list[str]:
    """How a case starts nso-install: the installed console script, or an isolated interpreter
    with the package copy ``code`` first on sys.path (nso-install refuses PYTHONPATH as root)."""
    if code is None:
        return [NSO_INSTALL]
    return [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "
            "'nso-install'\ntry:\n    from nso_install.replay import console as main  # (the console script's)\n"
            "except ImportError:\n    from nso_install.cli import main  # (before replay.py)\nsys.exit(main())", code]


def warn_if_busy(work: Path, limit_mib: int = 200) -> None:
    """Say on stderr when ``work`` is in /dev/shm and that tmpfs already holds much: 700 MB of old
    trees left there slowed every case by a third in one run (bench/RESULTS.md, 2026-11-30)."""
    if not str(work).startswith("/dev/shm/"):
        return  # (a disk's file system holds much as a rule)
    st = os.statvfs(work)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize >> 20
    if used > limit_mib:
        print(f"note: the file system of {work} already holds {used} MiB; leftovers (in /dev/shm especially) "
              "slow every case: empty it for figures comparable with bench/RESULTS.md", file=sys.stderr)


def run(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, cpu s, peak RSS KiB) of one whole process (and its children, for CPU)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err[-2000:]}")
    # wait4's rusage covers the child and the descendants it waited for (tar's gzip)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="counted rounds (medians of these)")
    ap.add_argument("--padding-files", type=int, default=34000)
    ap.add_argument("--padding-bytes", type=int, default=31000)
    ap.add_argument("--dist", type=Path, help="an existing tar.gz distribution (else one is generated)")
    ap.add_argument("--work", type=Path, help="directory for the trees (default: a new temp directory)")
    ap.add_argument("--before", metavar="DIR", help="also time the install with DIR first on PYTHONPATH (a copy "
                                                    "of an older nso_install package), interleaved as a third case")
    ap.add_argument("--after", metavar="DIR", help="time the install case with DIR first on sys.path instead of the "
                                                   "installed package (a snapshot, safe from edits while it runs)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nso-bench-fresh-", dir=a.work))
    warn_if_busy(work)
    try:
        dist = a.dist
        if dist is None:
            out = subprocess.run([sys.executable, "-m", "nso_install.sample", str(work / "dist"), "--padding-files",
                                  str(a.padding_files), "--padding-bytes", str(a.padding_bytes)],
                                 check=True, capture_output=True, text=True).stdout
            dist = Path(out.strip())
        entries = sum(1 for _ in subprocess.run(["tar", "-tzf", str(dist)], check=True, capture_output=True,
                                                text=True).stdout.splitlines())
        # "tar+sync": tar, then syncfs of the file system it wrote (coreutils sync -f): what the
        # install must also wait for before its tree gets its name (written back, not only in the
        # page cache), which on ext4 includes the block allocation tar leaves to the kernel's threads
        cases = ("tar", "tar+sync", "install") + (("before",) if a.before else ())
        wall: dict[str, list[float]] = {c: [] for c in cases}
        cpu: dict[str, list[float]] = {c: [] for c in cases}
        rss: dict[str, list[int]] = {c: [] for c in cases}
        for i in range(a.repeat + 1):
            d = work / f"tar{i}"
            d.mkdir()
            ds = work / f"tarsync{i}"
            ds.mkdir()
            cmds = {"tar": ["tar", "-xzf", str(dist), "-C", str(d)],
                    "tar+sync": ["sh", "-c", 'tar -xzf "$1" -C "$2" && sync -f "$2"', "sh", str(dist), str(ds)]}
            for c, code in (("before", a.before), ("install", a.after)):
                if c in cases:
                    cmds[c] = launcher(code) + ["install", str(dist), "--system-install", "--root",
                                                str(work / f"{c}{i}"), "-q"]
            for c in (cases if i % 2 else cases[::-1]):
                w, t, m = run(cmds[c])
                if i:
                    wall[c].append(w)
                    cpu[c].append(t)
                    rss[c].append(m)
            shutil.rmtree(d, ignore_errors=True)
            shutil.rmtree(ds, ignore_errors=True)
            for c in cases[2:]:
                shutil.rmtree(work / f"{c}{i}", ignore_errors=True)
        mw = {c: statistics.median(v) for c, v in wall.items()}
        mc = {c: statistics.median(v) for c, v in cpu.items()}
        print(f"distribution {dist.name}: {os.path.getsize(dist) / 2**20:.0f} MiB, {entries} entries; "
              f"median of {a.repeat} interleaved rounds, whole processes; load average {os.getloadavg()[0]:.1f}")
        print(f"{'case':<9} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}  (wall min..max)")
        for c in cases:
            print(f"{c:<9} {mw[c]:8.3f} {mc[c]:8.3f} {max(rss[c]) / 1024:13.1f}  ({min(wall[c]):.3f}..{max(wall[c]):.3f})")
        for c in cases[2:]:
            print(f"{c + ' / tar -xzf':<20} wall {mw[c] / mw['tar']:5.2f}   cpu {mc[c] / mc['tar']:5.2f}")
            print(f"{c + ' / tar+sync':<20} wall {mw[c] / mw['tar+sync']:5.2f}   cpu {mc[c] / mc['tar+sync']:5.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
