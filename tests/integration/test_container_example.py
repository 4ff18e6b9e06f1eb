"""examples/container: the image its Dockerfile builds (offline, from the session's wheelhouse
and the sample distribution) carries the same tree as a direct install with the same options,
with its owners, modes, setuid bits and file capabilities, and no key in any layer; started with
empty volumes at /etc/ncs and /var/opt/ncs and a tmpfs /run, the entrypoint prepares it and NSO
(the stand-in) runs as the NSO account, reachable with ncs_cli from `docker exec` as root and
as that account; a new container on the same volumes keeps the keys."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tarfile
import time
import uuid

from pathlib import Path

import pytest
from test_run_as_user import CAPS, CMDPTYWRAPPER, CMDWRAPPER, EPAM, EXPECTED, SECRETS, USER, V, VDIR

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "container"
WHEELHOUSE = ROOT / "wheelhouse"  # filled by the `wheelhouse` fixture (conftest.py)
DIST = f"nso-{V}.linux.x86_64.tar.gz"
LABEL = "nso-install.test-image=1"  # .ci/run prunes what is left dangling
# the image build's options (examples/container/Dockerfile)
BUILD = ("--system-install", "--run-as-user", USER, "--ignore-init-scripts", "--skip-secrets")
# what such an install does not have: the keys (and their public halves), the service files
NOT_IN_IMAGE = {*SECRETS, "/etc/ncs/ssh/ssh_host_ed25519_key.pub", "/etc/ncs/ssl/cert/host.cert",
                "/etc/systemd/system/ncs.service", "/etc/ncs/ncs.systemd.conf"}
TREES = ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/run/ncs", "/etc/profile.d/ncs.sh",
         "/etc/profile.d/ncs.csh", "/etc/logrotate.d/ncs", "/etc/tmpfiles.d/ncs.conf")
KEY_NAMES = ("ncs.crypto_keys", "ipc_access", "_key", "host.key")  # basenames under etc/ncs

# Every path under the given ones: type, mode, owner and group by name, size, content hash or link
# target, extended attributes (file capabilities); no times, no numeric ids.
_TREE_PY = r"""
import grp, hashlib, os, pwd, stat, sys
def nm(f, i):
    try: return f(i)[0]
    except KeyError: return str(i)
def xh(p):
    try: names = sorted(os.listxattr(p, follow_symlinks=False))
    except OSError: return "-"
    return ";".join(n + "=" + os.getxattr(p, n, follow_symlinks=False).hex() for n in names) or "-"
def line(p):
    st = os.lstat(p); m = st.st_mode
    if stat.S_ISLNK(m): t, c = "l", os.readlink(p)
    elif stat.S_ISDIR(m): t, c = "d", "-"
    elif stat.S_ISREG(m):
        t = "f"
        with open(p, "rb") as f: c = hashlib.sha256(f.read()).hexdigest()
    else: t, c = "o", "-"
    print(p, t, "%o" % stat.S_IMODE(m), nm(pwd.getpwuid, st.st_uid), nm(grp.getgrgid, st.st_gid),
          st.st_size if t == "f" else 0, c, xh(p))
for top in sys.argv[1:]:
    if not os.path.lexists(top): print(top, "absent"); continue
    line(top)
    if os.path.isdir(top) and not os.path.islink(top):
        for d, dirs, files in os.walk(top):
            dirs.sort()
            for n in sorted(dirs + files): line(os.path.join(d, n))
"""


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"docker {' '.join(args)} -> exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


@pytest.fixture(scope="module")
def sample_dist(test_image, tmp_path_factory):
    """The sample distribution with a real interpreter as ncs.smp (file capabilities work), made
    in a container of the test image so that it is the image's own Python."""
    out = tmp_path_factory.mktemp("dist")
    name = f"nso-install-example-dist-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--rm", "--init", "--network", "none", "--name", name, test_image, "sleep", "infinity")
    try:
        docker("exec", name, "nso-install", "sample-dist", "/root/dist", "--version", V, "--format", "tar.gz",
               "--ncs-smp", "/usr/bin/python3")
        docker("cp", f"{name}:/root/dist/{DIST}", str(out / DIST))
    finally:
        docker("rm", "-f", name, check=False)
    return out / DIST


@pytest.fixture(scope="module")
def example_image(wheelhouse, sample_dist, tmp_path_factory):
    """`docker build --network none` of examples/container, as its README says: the build context
    holds the example's files, a wheelhouse and the distribution. Both stages' images are removed
    afterwards (the builder stage's would otherwise stay behind, dangling and unlabelled)."""
    ctx = tmp_path_factory.mktemp("context")
    for f in EXAMPLE.iterdir():
        if f.is_file() and f.name != "README.md":
            shutil.copy2(f, ctx / f.name)
    with open(WHEELHOUSE / ".lock", "w") as lock:  # another session may be rebuilding it
        fcntl.flock(lock, fcntl.LOCK_EX)
        for sub in ("deps", "project"):
            shutil.copytree(WHEELHOUSE / sub, ctx / "wheelhouse" / sub)
    shutil.copy2(sample_dist, ctx / DIST)
    tag = f"nso-install-example-test:{uuid.uuid4().hex[:10]}"
    build = ("build", "-q", "--network", "none", "--label", LABEL, "--build-arg", f"NSO_DIST={DIST}")
    try:
        r = docker(*build, "-t", tag, str(ctx), check=False, timeout=900)
        if r.returncode:
            pytest.fail(f"docker build of examples/container failed:\n{r.stdout}{r.stderr}", pytrace=False)
        docker(*build, "--target", "builder", "-t", f"{tag}-builder", str(ctx))  # cached: names it
        yield tag
    finally:
        docker("rmi", "-f", tag, f"{tag}-builder", check=False)


class Running:
    """Containers and volumes made by one test, removed afterwards."""

    def __init__(self, box_class):
        self.box_class, self.containers, self.volumes = box_class, [], []

    def volume(self) -> str:
        name = f"nso-install-example-{uuid.uuid4().hex[:10]}"
        docker("volume", "create", "--label", LABEL, name)
        self.volumes.append(name)
        return name

    def start(self, image: str, *opts: str, cmd: tuple[str, ...] = ()):
        name = f"nso-install-example-{uuid.uuid4().hex[:10]}"
        self.containers.append(name)
        docker("run", "-d", "--init", "--network", "none", "--name", name, *opts, image, *cmd)
        return self.box_class(name)

    def cleanup(self):
        for c in self.containers:
            docker("rm", "-f", "-v", c, check=False)
        for v in self.volumes:
            docker("volume", "rm", "-f", v, check=False)


@pytest.fixture
def running(box):
    r = Running(type(box))  # conftest's Box, without importing conftest twice
    try:
        yield r
    finally:
        r.cleanup()


def tree(b, *paths: str) -> dict[str, tuple[str, ...]]:
    """path -> (type, mode, owner, group, size, content, xattrs), or ("absent",)."""
    out = b.run("python3", "-c", _TREE_PY, *paths).stdout
    return {ln.split(" ", 1)[0]: tuple(ln.split(" ")[1:]) for ln in out.splitlines()}


def getcaps(b, *paths: str) -> dict[str, str]:
    """getcap's text per path ('' when it has none), in one `docker exec`."""
    out = b.run("getcap", *paths).stdout
    caps = dict(ln.split(None, 1) for ln in out.splitlines() if " " in ln)
    return {p: caps.get(p, "").strip() for p in paths}


def wait_started(b, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = "?"
    while time.monotonic() < deadline:
        r = b.sh('[ -S "$NCS_IPC_PATH" ] && ncs --status >/dev/null', check=False)
        if r.returncode == 0:
            return
        state = docker("inspect", "-f", "{{.State.Status}}", b.name).stdout.strip()
        if state != "running":
            break
        time.sleep(0.5)
    logs = docker("logs", b.name, check=False)
    pytest.fail(f"NSO did not start in {b.name} ({state}):\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}",
                pytrace=False)


def test_image_tree_is_that_of_a_direct_install(example_image, sample_dist, box, running):
    """The same owners, modes, setuid bits and capabilities as `nso-install install` run directly
    with the Dockerfile's options (test_run_as_user's EXPECTED/CAPS), and a byte-identical tree."""
    img = running.start(example_image, "--entrypoint", "sleep", cmd=("infinity",))
    docker("cp", str(sample_dist), f"{box.name}:/root/{DIST}")
    box.nso_install("install", f"/root/{DIST}", *BUILD)

    tops = (*TREES, *(p for p in EXPECTED if not any(p == t or p.startswith(t + "/") for t in TREES)))
    got = tree(img, *tops)
    for path, want in EXPECTED.items():
        if path in NOT_IN_IMAGE:
            assert got.get(path, ("absent",)) == ("absent",), (path, got.get(path))
        elif path in (CMDWRAPPER, CMDPTYWRAPPER):  # setuid only with --setuid-cmdwrapper
            assert not int(got[path][1], 8) & 0o6000, (path, got[path])
        else:
            assert got[path][1:4] == want, (path, got[path])
    assert getcaps(img, *CAPS, EPAM, f"{VDIR}/bin/ncs") == {**CAPS, EPAM: "", f"{VDIR}/bin/ncs": ""}
    # ... and everything else too: the image's tree is the direct install's, xattrs included
    direct = tree(box, *tops)
    assert got == direct, {p: (got.get(p), direct.get(p)) for p in set(got) | set(direct)
                           if got.get(p) != direct.get(p)}


def test_no_key_in_any_layer(example_image):
    """Keys must not be baked in: no layer of the image (a file deleted in a later layer would still
    be in its own) has a key file under etc/ncs, and the image holds no wheelhouse."""
    proc = subprocess.Popen(["docker", "save", example_image], stdout=subprocess.PIPE)
    names: list[str] = []
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
            for member in outer:
                if not member.isfile() or not (member.name.endswith("layer.tar") or "/blobs/" in f"/{member.name}"):
                    continue
                try:
                    with tarfile.open(fileobj=outer.extractfile(member), mode="r|*") as layer:
                        names += [m.name for m in layer]
                except tarfile.ReadError:  # a config or manifest blob
                    continue
    finally:
        proc.stdout.close()
        assert proc.wait(timeout=120) == 0
    assert any(n.startswith("opt/ncs/ncs-") for n in names)  # the layers were read
    etc = [n for n in names if n.startswith("etc/ncs/")]
    assert "etc/ncs/ncs.conf" in etc
    assert [n for n in etc if n.endswith(KEY_NAMES) or ".wh." in n] == []
    assert [n for n in names if n.startswith("wheelhouse") or "/.cache/pip" in n] == []


# one `docker exec` for what the started container looks like
_FACTS_SH = r"""
ps -eo user=,pid=,args= | sed 's/^/ps /'
for p in $(pgrep -u nso -x ncs.smp); do grep -E '^(CapEff|NoNewPrivs):' /proc/$p/status | sed "s/^/proc /"; done
stat -c 'stat %n %a %U %G' "$@"
env | sed 's/^/env /'
(. /etc/profile.d/ncs.sh && env) | sed 's/^/profile /'
id -u nso | sed 's/^/uid /'
"""


def facts(c, *paths: str) -> dict[str, list[str]]:
    out = c.run("sh", "-c", _FACTS_SH, "facts", *paths).stdout
    got: dict[str, list[str]] = {}
    for ln in out.splitlines():
        kind, _, rest = ln.partition(" ")
        got.setdefault(kind, []).append(rest)
    return got


def test_empty_volumes_prepared_nso_runs_as_its_user_exec_gets_ipc_env(example_image, running):
    etc, var = running.volume(), running.volume()
    # volume-nocopy: empty like a new bind mount (a named volume is otherwise filled from the image)
    mounts = ("--tmpfs", "/run", "--mount", f"type=volume,src={etc},dst=/etc/ncs,volume-nocopy",
              "--mount", f"type=volume,src={var},dst=/var/opt/ncs,volume-nocopy")
    c = running.start(example_image, *mounts)
    wait_started(c)
    made = (*SECRETS, "/etc/ncs", "/etc/ncs/ncs.conf", "/etc/ncs/ssh", "/etc/ncs/ssl/cert", "/var/opt/ncs",
            "/var/opt/ncs/cdb", "/var/opt/ncs/cdb/aaa_init.xml", "/var/opt/ncs/state", "/run/ncs")
    f = facts(c, *made)

    # NSO (the stand-in in ncs.smp) runs as the NSO account, with cap_net_bind_service from its file
    procs = [ln.split(None, 2) for ln in f["ps"]]
    assert [p[0] for p in procs if "erts/bin/ncs.smp" in p[2] and "--foreground" in p[2]] == [USER], procs
    # nothing of the entrypoint stays as root (the healthcheck's `ncs --status` may be running)
    assert [p[2] for p in procs if p[0] == "root" and not p[2].startswith(("ps ", "/sbin/docker-init", "sh -c"))
            and "--status" not in p[2] and not p[2].startswith(("sed ", "grep "))] == []
    assert sorted(f["proc"]) == ["CapEff:\t0000000000000400", "NoNewPrivs:\t0"]  # CAP_NET_BIND_SERVICE

    # what the entrypoint made in the empty volumes and the tmpfs, with the documented owners
    assert {ln.split()[0]: tuple(ln.split()[1:]) for ln in f["stat"]} == {p: EXPECTED[p] for p in made}
    assert "<path>/run/ncs/nso-ipc</path>" in c.read("/etc/ncs/ncs.conf")
    logs = docker("logs", c.name)
    assert "WARNING" not in logs.stdout + logs.stderr and "ERROR" not in logs.stdout + logs.stderr
    assert "warning:" not in logs.stdout + logs.stderr  # (nso-install's -q run: its audit of a sound start)

    # `docker exec` gets the environment the profile script gives login shells
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in f["env"] and "NCS_IPC_PATH=/run/ncs/nso-ipc" in f["profile"]
    uid = f["uid"][0]
    as_root = c.run("ncs_cli", "-u", "admin", input="show ncs-state version\nid\n").stdout
    assert "ncs-state version 6.5.3" in as_root and "uid = 0, via = unix, trusted = yes" in as_root
    r = subprocess.run(["docker", "exec", "-i", "-u", USER, c.name, "ncs_cli", "-u", "admin"], input="id\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"uid = {uid}, via = unix, trusted = yes" in r.stdout, r
    r = c.run("ncs_cli", user=USER, input="id\n").stdout  # runuser -u nso: a session of the account
    assert f"user = {USER}, uid = {uid}, via = unix" in r
    # ... and nobody else (an ordinary account) gets through /run/ncs
    r = c.sh("useradd mallory && runuser -u mallory -- ncs_cli </dev/null", check=False)
    assert r.returncode != 0 and "Failed to connect to server" in r.stdout + r.stderr

    # a new container on the same volumes: the keys are kept, only the tmpfs needed /run/ncs again
    keys = c.run("sha256sum", *SECRETS).stdout
    docker("stop", "-t", "20", c.name)
    again = running.start(example_image, *mounts)
    wait_started(again)
    assert again.run("sha256sum", *SECRETS).stdout == keys
    assert "Done: 1 changed" in docker("logs", again.name).stdout  # /run/ncs
    assert "user = admin, uid = 0" in again.run("ncs_cli", "-u", "admin", input="id\n").stdout

    # volumes holding what another uid wrote (an image built with another uid for nso): the start
    # goes on, and says so in docker logs (its install runs with -q; the audit's note was dropped)
    again.sh("touch /var/opt/ncs/cdb/B.cdb && chown 4242:4242 /var/opt/ncs/cdb/B.cdb")
    docker("stop", "-t", "20", again.name)
    third = running.start(example_image, *mounts)
    wait_started(third)
    assert "warning: audit: NSO-PERM-009 " in docker("logs", third.name).stderr
