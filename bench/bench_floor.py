"""Benchmark: the floor of the install's design on a big distribution, against ``tar -xzf``.

    .venv/bin/python bench/bench_floor.py DIST [--repeat 3] [--work DIR]

What is the least time any install built like nso-install's could take?  The ``floor`` case
keeps only the work no such install can leave out, on the same two processes the install uses
(``nso_install.distribution.tarstream``: a forked child inflates into a pipe while the main
process reads the tar stream):

- parse the tar headers (tarfile, with the install's fast header parser);
- create every directory, file and symbolic link, each file with ``O_CREAT|O_EXCL``;
- hash every file with SHA-256 as it is written (the manifest that ``verify`` and every re-run
  compare against needs it);
- write the tree back to the disk (syncfs) before it could be given its name.

It leaves out everything else the install does: the checks of every member against hostile
archives, the directory fds that never follow a link, owners, modes and times, the manifest and
its stat index, the state file, the keys, ncs.conf, the audit.  ``floor-isal`` is the same with
python-isal's inflate in the child (only when ``isal`` can be imported; it is not a dependency
of nso-install).  ``install`` is the real ``nso-install install --system-install``.

Whole processes, interleaved round after round in fresh directories; round 0 warms the page
cache and is not counted.  Prints medians of wall and CPU seconds (the processes and their
children) and the ratios to tar.  Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_fresh import run, warn_if_busy  # (whole process: wall, cpu of it and its children, peak RSS)

NSO_INSTALL = str(Path(sys.executable).with_name("nso-install"))

FLOOR = """
import hashlib, io, os, sys, tarfile
from nso_install.distribution import tarstream
from nso_install.distribution.tarheader import TarInfo
from nso_install.fsops import sync_filesystem
src, dest, inflate = sys.argv[1:4]
if inflate == "isal":
    from isal import igzip
    tarstream._decompress = lambda raw, comp: igzip.IGzipFile(fileobj=raw, mode="rb")
f = open(src, "rb", buffering=0)
stream = tarstream._inflated(io.BufferedReader(tarstream._Window(f, 0, os.fstat(f.fileno()).st_size), 1 << 20), "gz")
tf = tarfile.open(fileobj=stream, mode="r:", tarinfo=TarInfo)
digests = {}
while (ti := tf.next()) is not None:
    tf.members.clear()
    path = os.path.join(dest, ti.name)
    if ti.isdir():
        os.makedirs(path, exist_ok=True)
    elif ti.issym():
        os.symlink(ti.linkname, path)
    elif ti.isreg():
        data, h = tarstream._Span(stream, ti.offset_data, ti.size), hashlib.sha256()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        while chunk := data.read(1 << 20):
            os.write(fd, chunk)
            h.update(chunk)
        os.close(fd)
        digests[ti.name] = h.hexdigest()
stream.close()
sync_filesystem(dest)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dist", type=Path, help="a tar.gz distribution (bench/run_all.sh makes the 1 GiB one)")
    ap.add_argument("--repeat", type=int, default=3, help="counted rounds (medians of these)")
    ap.add_argument("--work", type=Path, help="directory for the trees (default: beside DIST)")
    a = ap.parse_args()
    have_isal = importlib.util.find_spec("isal") is not None  # the floor-isal case only when it can run
    cases = ["tar", "floor"] + (["floor-isal"] if have_isal else []) + ["install"]
    work = Path(tempfile.mkdtemp(prefix="nso-bench-floor-", dir=a.work or a.dist.parent))
    warn_if_busy(work)
    wall: dict[str, list[float]] = {c: [] for c in cases}
    cpu: dict[str, list[float]] = {c: [] for c in cases}
    try:
        for i in range(a.repeat + 1):
            for c in (cases if i % 2 else cases[::-1]):
                dest = work / f"{c}{i}"
                if c == "tar":
                    dest.mkdir()
                    cmd = ["tar", "-xzf", str(a.dist), "-C", str(dest)]
                elif c == "install":
                    cmd = [NSO_INSTALL, "install", str(a.dist), "--system-install", "--root", str(dest), "-q"]
                else:
                    dest.mkdir()
                    cmd = [sys.executable, "-I", "-c", FLOOR, str(a.dist), str(dest),
                           "isal" if c == "floor-isal" else "zlib"]
                w, t, _ = run(cmd)
                if i:
                    wall[c].append(w)
                    cpu[c].append(t)
                shutil.rmtree(dest, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mw = {c: statistics.median(v) for c, v in wall.items()}
    mc = {c: statistics.median(v) for c, v in cpu.items()}
    print(f"{a.dist.name} ({os.path.getsize(a.dist) >> 20} MiB) in {work.parent}: median of {a.repeat} interleaved "
          f"rounds, whole processes; load average {os.getloadavg()[0]:.1f}")
    for c in cases:
        print(f"{c:<11} wall {mw[c]:7.2f}  cpu {mc[c]:7.2f}   wall/tar {mw[c] / mw['tar']:5.2f}  "
              f"cpu/tar {mc[c] / mc['tar']:5.2f}  ({min(wall[c]):.2f}..{max(wall[c]):.2f})")
    print(f"install / floor: wall {mw['install'] / mw['floor']:.2f}")


if __name__ == "__main__":
    main()
