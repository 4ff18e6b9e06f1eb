#!/bin/bash
# Every benchmark of bench/RESULTS.md's table in one run, in the order it was measured:
#   bash bench/run_all.sh [WORKDIR] [PYTHON]
# WORKDIR (default /tmp/nso-bench, on the file system under test) gets the two generated
# distributions (reproducible: seeded, incompressible padding) unless they are there already;
# PYTHON is the interpreter of the venv nso-install is installed in.
set -euo pipefail
W=${1:-/tmp/nso-bench}
P=${2:-$(command -v python3)}
cd "$(dirname "$0")/.."
mkdir -p "$W"
[ -e "$W/big/nso-6.5.3.linux.x86_64.tar.gz" ] || $P -m nso_install.sample "$W/big" --padding-files 34000 --padding-bytes 31000
[ -e "$W/mid/nso-6.5.3.linux.x86_64.tar.gz" ] || $P -m nso_install.sample "$W/mid" --padding-files 12000
BIG=$W/big/nso-6.5.3.linux.x86_64.tar.gz MID=$W/mid/nso-6.5.3.linux.x86_64.tar.gz
echo "== $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg) $(git rev-parse --short HEAD 2>/dev/null || true)"
echo "== fresh big, $W"; $P bench/bench_fresh.py --dist "$BIG" --repeat 3 --work "$W" | tail -7
if [ -d /dev/shm ]; then echo "== fresh big, tmpfs"; $P bench/bench_fresh.py --dist "$BIG" --repeat 3 --work /dev/shm | tail -7; fi
if [ -d /dev/shm ]; then echo "== floor of the design, big, tmpfs (floor-isal only with isal installed)"; $P bench/bench_floor.py "$BIG" --repeat 3 --work /dev/shm | tail -6; fi
echo "== fresh mid, $W"; $P bench/bench_fresh.py --dist "$MID" --repeat 5 --work "$W" | tail -7
if [ -d /dev/shm ]; then echo "== fresh mid, tmpfs"; $P bench/bench_fresh.py --dist "$MID" --repeat 5 --work /dev/shm | tail -7; fi
if [ -d /dev/shm ]; then echo "== floor of the design, mid, tmpfs"; $P bench/bench_floor.py "$MID" --repeat 5 --work /dev/shm | tail -6; fi
echo "== unpack big"; $P bench/bench_unpack.py "$BIG" --repeat 3 | tail -3
echo "== unpack mid"; $P bench/bench_unpack.py "$MID" --repeat 5 | tail -3
echo "== startup"; $P bench/bench_startup.py --repeat 15 | tail -22
echo "== re-run 1k vs 100k"; $P bench/bench_rerun.py --repeat 3 | tail -21
echo "== $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)"
