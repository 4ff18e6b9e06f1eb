"""Crash sweep: kill an nso-install run before its K-th write-like call, re-run it, compare.

    python tools/crash_sweep.py SCENARIO [STRIDE] [KS]     (as root; SCENARIO: see SCENARIOS)

Each run is a fork of this process (nso_install imported once).  The child counts, through an
audit hook and wrappers of os.write/os.fsync/os.pwrite, every write-like call of its main thread
(open for writing, mkdir, rename, unlink, chmod, chown, utime, setxattr, symlink, a subprocess...)
and ends with os._exit(137) instead of the K-th (no finally, no state save: a SIGKILL).  For each
K: the scenario's starting tree is restored, the run killed at K, what it left noted, the same
command run again (must succeed and leave the tree of an uninterrupted run: paths, types, modes,
owners, capabilities, contents; random files such as keys and the records by presence, owner
and mode), and once more (an install must say "Done: 0 changed" and change nothing).

Scenarios since the first sweep: a change of --run-as-user (runas: nso -> nso2 with files nso
made in RUN_DIR, packages/ among them), --no-run-as-user (norunas), uninstall --all --accounts
(accounts), an --ipc-user grant and its withdrawal (ipcgrant, ipcwithdraw), a container start
with --secrets-only on empty config, run and log volumes (secretsonly), keys rotate --applied
and --new (applied, rotatenew), install --activate of a newer version over CDB data (activatecdb),
uninstall VSN of a version not active and uninstall VSN --force of the active one, two installed
(uninstallvsn, uninstallforce).  Each re-run is the one ``status --json`` asks for in its
'unfinished' (an uninstall's as pasted; an install's words must be the run's), and two
quarantines of one account are counted as two.
A random file is compared by presence, owner and mode, the keys file also by its key names.

KS: "auto" (every STRIDE-th call, and every 25th of an unpack's many calls), or ranges
"1-10,40-60:2,300-".  $CRASH_NO_EXCHANGE=1: runs swap trees as where the kernel has no
RENAME_EXCHANGE (three renames, each a kill point).  Scratch in $CRASH_DIR (default /tmp/nso-crash-sweep), the staging root
in $CRASH_R; runs seal with a key there (the host's /var/lib/nso-install is left alone).
"""
import hashlib
import re
import os
import shutil
import stat
import subprocess
import sys
import threading

W = os.environ.get("CRASH_DIR", "/tmp/nso-crash-sweep")
os.makedirs(W, exist_ok=True)
os.environ["NSO_INSTALL_REPLAY"] = "0"
from nso_install import state as state_module  # noqa: E402

state_module.SEAL_KEY = f"{W}/seal/seal.key"
from nso_install.cli import main  # noqa: E402

D = f"{W}/d"
VERSIONS = ("6.4.1", "6.5.3", "6.5.4")
V1, V2, V3 = (f"{D}/nso-{_v}.linux.x86_64.tar.gz" for _v in VERSIONS)
for _v, _path in zip(VERSIONS, (V1, V2, V3)):
    if not os.path.exists(_path):
        from nso_install.sample import make_sample_distribution

        os.makedirs(D, exist_ok=True)
        make_sample_distribution(D, _v, "tar.gz")
R = os.environ.get("CRASH_R", f"{W}/root")  # the staging root every run uses (same path: seals, records)
TAG = os.environ.get("CRASH_TAG", "")

NAMED = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.chown",
         "os.utime", "os.truncate", "os.setxattr", "os.removexattr", "subprocess.Popen", "os.posix_spawn"}
WFLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC


def child(args, kill_at=None, log=None, out=None):
    pid = os.fork()
    if pid:
        _, st = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(st)
    try:
        fd = os.open(out or "/dev/null", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        me, main_thread = os.getpid(), threading.get_ident()
        count = [0]
        events = []

        def hit(desc):
            if os.getpid() != me or threading.get_ident() != main_thread:
                return
            count[0] += 1
            if log is not None:
                events.append(desc)
            if kill_at is not None and count[0] == kill_at:
                os._exit(137)

        def hook(event, a):
            if event == "open":
                path, mode, flags = a
                if (isinstance(flags, int) and flags & WFLAGS) or (isinstance(mode, str) and set(mode) & set("wax+")):
                    hit(f"open {path}")
            elif event in NAMED:
                hit(f"{event} {a[0] if a else ''}")

        sys.addaudithook(hook)
        for name in ("write", "fsync", "pwrite"):
            real = getattr(os, name)

            def wrap(*a, _real=real, _name=name):
                hit(f"os.{_name} fd={a[0]}")
                return _real(*a)
            setattr(os, name, wrap)
        if os.environ.get("CRASH_NO_EXCHANGE"):  # (fsops.exchange's fallback: no RENAME_EXCHANGE, three renames)
            from nso_install import fsops
            fsops._libc = object
        code = 0
        try:
            main(args, standalone_mode=True)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        if log is not None:
            with open(log, "w") as f:
                f.write("\n".join(events) + "\n")
        sys.stdout.flush()
        os._exit(code)
    finally:
        os._exit(99)


def snap(top):
    out = {}
    for dp, dns, fns in os.walk(top):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            else:
                extra = None
            try:
                cap = os.getxattr(p, "security.capability", follow_symlinks=False).hex()
            except OSError:
                cap = None
            shape = None  # what a random file's content must agree on: the keys file's key names
            if n == "ncs.crypto_keys" and stat.S_ISREG(st.st_mode):
                with open(p) as f:
                    shape = tuple(sorted(line.split("=")[0] for line in f if "=" in line))
            # a hand-over's quarantine is named by the time of the run that made it (and a
            # random suffix when that name was taken)
            rel = re.sub(r"(\.nso-install-quarantine\.[^/]+?)\.\d{8}T\d{6}(\.[0-9a-f]{8})?", r"\1.TIME",
                         os.path.relpath(p, top))
            while rel in out:  # (two quarantines of one account: both counted, never one)
                rel += "#"
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, cap, extra, st.st_size,
                        shape)
    return out


def restore(base, where):
    if os.path.lexists(where):
        shutil.rmtree(where)
    subprocess.run(["cp", "-a", "--preserve=mode,ownership,timestamps,links,xattr", base, where], check=True)


def fresh_root(path):
    os.makedirs(f"{path}/etc")
    os.chmod(path, 0o700)
    for f in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(f"/etc/{f}", f"{path}/etc/{f}")


def ok(args):
    rc = child(args, out=f"{W}/setup.out")
    assert rc == 0, (args, open(f"{W}/setup.out").read())


SYS = ["--root", R]


def sc_fresh():
    fresh_root(R)
    return ["install", V1, "--system-install", "--run-as-user", "nso", *SYS]


def sc_upgrade():
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    return ["install", V2, "--system-install", "--activate", *SYS]


def _two_installed():
    """6.4.1 (active, run as nso) and 6.5.3 installed beside it."""
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    ok(["install", V2, "--system-install", *SYS])


def sc_activate():
    _two_installed()
    return ["activate", "6.5.3", *SYS]


def sc_rollback():
    args = sc_activate()
    ok(args)
    return ["rollback", *SYS]


def sc_rotate():
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    return ["keys", "rotate", *SYS]


def sc_uninstall():
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    return ["uninstall", "--all", "--purge", *SYS]


def sc_local():
    os.makedirs(R)
    os.chmod(R, 0o755)
    return ["install", V2, "--local-install", f"{R}/nso"]


def sc_repair():
    fresh_root(R)
    ok(["install", V2, "--system-install", "--run-as-user", "nso", *SYS])
    t = f"{R}/opt/ncs/ncs-6.5.3"
    os.makedirs(f"{t}/packages/mypkg")
    with open(f"{t}/packages/mypkg/package-meta-data.xml", "w") as f:
        f.write("<ncs-package/>\n")
    with open(f"{t}/lib/extra.txt", "w") as f:
        f.write("an admin's file\n")
    with open(f"{t}/doc/README", "a") as f:
        f.write("damaged\n")
    return ["install", V2, "--system-install", *SYS]


def sc_localrepair():
    args = sc_local()
    ok(args)
    with open(f"{R}/nso/doc/README", "a") as f:
        f.write("damaged\n")
    return args


def _nso_files(run_dir, uid, gid):
    """Files the NSO account made at run time: CDB, state, a package it compiled (owned by it)."""
    for rel, text in (("cdb/A.cdb", "cdb\n"), ("state/global.data", "s\n"), ("packages/mypkg/package-meta-data.xml",
                      "<ncs-package/>\n"), ("packages/mypkg/load-dir/x.fxs", "fxs\n"), ("streams/n.log", "x\n")):
        path = f"{run_dir}/{rel}"
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        while d.startswith(run_dir + "/"):
            os.chown(d, uid, gid)
            d = os.path.dirname(d)
        os.chown(path, uid, gid)


def _account(name):
    for line in open(f"{R}/etc/passwd"):
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise KeyError(name)


def sc_runas():
    """--run-as-user nso -> nso2: the old account's files in RUN_DIR (and packages/) handed over."""
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    _nso_files(f"{R}/var/opt/ncs", *_account("nso"))
    return ["install", V1, "--system-install", "--run-as-user", "nso2", *SYS]


def sc_norunas():
    """--no-run-as-user: NSO as root again, the account's grants and files withdrawn."""
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    _nso_files(f"{R}/var/opt/ncs", *_account("nso"))
    return ["install", V1, "--system-install", "--no-run-as-user", *SYS]


def sc_accounts():
    """uninstall --all --accounts: userdel/groupdel, the kept directories handed to root."""
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    _nso_files(f"{R}/var/opt/ncs", *_account("nso"))
    return ["uninstall", "--all", "--accounts", *SYS]


def sc_ipcgrant():
    fresh_root(R)
    ok(["install", V2, "--system-install", "--run-as-user", "nso", *SYS])
    return ["install", V2, "--system-install", "--ipc-user", "daemon", *SYS]


def sc_ipcwithdraw():
    fresh_root(R)
    ok(["install", V2, "--system-install", "--run-as-user", "nso", "--ipc-user", "daemon", *SYS])
    return ["install", V2, "--system-install", "--no-ipc-user", *SYS]


def sc_secretsonly():
    """Container start: an image built with --skip-secrets, its config, run and log volumes empty."""
    fresh_root(R)
    ok(["install", V2, "--system-install", "--run-as-user", "nso", "--ignore-init-scripts", "--skip-secrets", *SYS])
    for d in ("etc/ncs", "var/opt/ncs", "var/log/ncs"):
        for n in os.listdir(f"{R}/{d}"):
            p = f"{R}/{d}/{n}"
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
    return ["install", f"{R}/opt/ncs/current", "--system-install", "--run-as-user", "nso", "--ignore-init-scripts",
            "--secrets-only", *SYS]


def sc_applied():
    fresh_root(R)
    ok(["install", V1, "--system-install", "--run-as-user", "nso", *SYS])
    ok(["keys", "rotate", *SYS])
    return ["keys", "rotate", "--applied", *SYS]


def sc_rotatenew():
    args = sc_applied()
    ok(args)
    return ["keys", "rotate", "--new", *SYS]


def sc_uninstallvsn():
    """uninstall VSN of a version that is not active, two installed."""
    _two_installed()
    return ["uninstall", "6.5.3", *SYS]


def sc_uninstallforce():
    """uninstall VSN --force of the active version (the other one stays, none active)."""
    _two_installed()
    return ["uninstall", "6.4.1", "--force", *SYS]


def sc_activatecdb():
    """install --activate of a newer version over CDB data the running NSO left."""
    fresh_root(R)
    ok(["install", V2, "--system-install", "--run-as-user", "nso", *SYS])
    _nso_files(f"{R}/var/opt/ncs", *_account("nso"))
    return ["install", V3, "--system-install", "--activate", *SYS]


SCENARIOS = {k[3:]: v for k, v in globals().items() if k.startswith("sc_")}

RECORDS = ("state.json", "history.jsonl", "audit-memo.json")  # (times in them: compared by presence)
TMPISH = (".nso-install-tmp", ".tmp", "tmp.")


def leftovers(killed, ref, base):
    """What a killed run leaves that an account other than root might see or that looks half done."""
    notes = []
    for p, v in killed.items():
        typ, mode, uid, gid, cap, h, size, _ = v
        if p in ref or p in base:
            r = ref.get(p) or base.get(p)
            if r[0] != typ:
                notes.append(f"type differs {p}")
            elif typ == stat.S_IFDIR and mode != r[1] and (p not in base or mode != base[p][1]):
                notes.append(f"dir mode {p} {mode:o} (ref {r[1]:o})")
            elif typ == stat.S_IFREG and mode & ~r[1] & 0o077 and (p not in base or mode & ~base[p][1] & 0o077):
                notes.append(f"file more open {p} {mode:o} (ref {r[1]:o}){' with capabilities' if cap else ''}")
            continue
        notes.append(f"extra {p} {'dir' if typ == stat.S_IFDIR else 'file' if typ == stat.S_IFREG else 'other'} "
                     f"{mode:o} {uid}:{gid} size={size}")
    return notes


def diff(a, b, varying):
    out = []
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            out.append(f"{'missing' if p not in a else 'extra'} {p}")
            continue
        x, y = a[p], b[p]
        if p in varying:
            x, y = x[:5] + x[7:], y[:5] + y[7:]
        else:
            x, y = x[:6], y[:6]
        if x != y:
            out.append(f"differs {p}: {x} vs {y}")
    return out


def hinted(args):
    """The command ``status --json`` says to re-run (its 'unfinished'), as argv: for an uninstall
    the one to run, which must be args (in any order); for an install ("with the same options")
    its words must be among args.  Returns (argv to re-run, what is wrong with the hint or None)."""
    import json
    import shlex

    where = ["--local-install", args[args.index("--local-install") + 1]] if "--local-install" in args else SYS
    rc = child(["status", "--json", *where], out=f"{W}/status.out")
    text = open(f"{W}/status.out").read()
    try:
        hint = json.loads(text[text.index("{"):])["unfinished"]
    except (ValueError, KeyError):
        return args, f"status --json rc={rc}: {text[-300:]}"
    if hint is None:
        return args, None
    m = re.search(r"re-run nso-install (.+?)(?:, with the same options,)? to complete it", hint)
    if not m:
        return args, f"status hint without a command: {hint}"
    words = shlex.split(m.group(1))
    if args[0] == "uninstall":  # (run as pasted, even where it differs: does it complete the run?)
        return words, None if sorted(words) == sorted(args) else f"status hint {words} is not {args}"
    return args, None if set(words) <= set(args) else f"status hint {words} not among {args}"


def main_sweep(name, stride=1, only=None):
    base = f"{W}/base-{name}"
    for d in (R, base):
        if os.path.lexists(d):
            shutil.rmtree(d)
    args = SCENARIOS[name]()
    shutil.move(R, base)
    base_snap = None
    # two references: what differs between them is random (secrets, times)
    refs = []
    for i in range(2):
        restore(base, R)
        if base_snap is None:
            base_snap = snap(R)
        assert child(args, log=f"{W}/events-{name}{TAG}.txt", out=f"{W}/ref.out") == 0, open(f"{W}/ref.out").read()
        refs.append(snap(R))
    varying = {p for p in refs[0] if refs[0][p][5] != refs[1].get(p, (None,) * 8)[5] or p.endswith(RECORDS) or "/manifests/" in p}
    ref = refs[0]
    events = open(f"{W}/events-{name}{TAG}.txt").read().splitlines()
    n = len(events)
    print(f"== {name}: {' '.join(args)}\n   {n} write-like calls; varying: {sorted(varying)}", flush=True)
    summary = {}
    notes = {}
    if only == "auto":
        # the unpack's many calls (between the temp tree's mkdir and the end of its mtimes) sampled
        start = next((i for i, e in enumerate(events) if e.startswith("os.mkdir") and ".nso-install-tmp." in e), None)
        end = start
        if start is not None:
            end = next((i for i in range(start + 1, n) if events[i].startswith(("os.remove", "os.chown /proc", "open /dev/null", "os.rename", "subprocess"))), n)
        only = [k for k in range(1, n + 1) if (k % stride == 0 and (start is None or not (start + 2 <= k <= end)))
                or (start is not None and start + 2 <= k <= end and (k - start) % 25 == 0)]
    ks = [k for k in (only or range(1, n + 1, stride)) if k <= n]
    for k in ks:
        restore(base, R)
        rc = child(args, kill_at=k, out=f"{W}/kill.out")
        if rc != 137:
            print(f"K={k}: not killed (rc={rc})" + (f": {open(f'{W}/kill.out').read()[-600:]}" if rc else ""))
            continue
        killed = snap(R)

        for x in leftovers(killed, ref, base_snap):
            x = re.sub(r"\.[0-9a-f]{8}\b", ".XXXX", x)
            if ".XXXX/" in x:
                continue
            notes.setdefault(x, []).append(k)
        problems = []
        again, wrong = hinted(args)  # the re-run status asks for, pasted (an uninstall's: as it names it)
        if wrong:
            problems.append(wrong)
        rc = child(again, out=f"{W}/rerun.out")
        # (an uninstall of one version, killed once everything was done: its re-run finds it gone)
        gone = args[0] == "uninstall" and "--all" not in args
        if rc != 0 and not (gone and rc == 2 and "is not installed" in open(f"{W}/rerun.out").read()):
            problems.append(f"rerun rc={rc}: {open(f'{W}/rerun.out').read()[-600:]}")
        after = snap(R)
        problems += diff(after, ref, varying)
        rc = child(args, out=f"{W}/third.out")
        third = snap(R)
        txt = open(f"{W}/third.out").read()
        if (rc != 0 and not (gone and rc == 2 and "is not installed" in txt)) or \
                (args[0] == "install" and "Done: 0 changed" not in txt):
            problems.append(f"third run rc={rc}: {txt[-400:]}")
        if "--new" not in args:  # (keys rotate --new adds a generation at every run)
            problems += [f"third: {x}" for x in diff(third, after, set())]
        if problems:
            print(f"K={k} [{events[k-1]}]:")
            for x in problems[:12]:
                print("    " + x)
            if len(problems) > 12:
                print(f"    ... {len(problems) - 12} more")
            sys.stdout.flush()
        for x in problems:
            summary.setdefault(x.split(":")[0][:90], []).append(k)
    print(f"== {name} done; {len(ks)} kill points; what kills left (before the re-run):")
    for x, kk in notes.items():
        print(f"   {x}: K={kk[:6]}{'...' if len(kk) > 6 else ''} ({len(kk)})")
    print("== problems after the re-run:")
    for x, kk in summary.items():
        print(f"   {x}: K={kk[:10]}{'...' if len(kk) > 10 else ''} ({len(kk)})")


if __name__ == "__main__":
    name = sys.argv[1]
    stride = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    only = None
    if len(sys.argv) > 3 and sys.argv[3] == "auto":
        only = "auto"
    elif len(sys.argv) > 3:
        only = []
        for part in sys.argv[3].split(","):
            rng, _, step = part.partition(":")
            a, _, b = rng.partition("-")
            b = b if "-" in rng else a
            only += list(range(int(a), int(b or 100000) + 1, int(step or 1)))
    main_sweep(name, stride, only)
