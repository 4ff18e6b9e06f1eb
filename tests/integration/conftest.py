"""Fixtures for the integration tests: the real CLI, as root, in throwaway containers.

Session:  docker_engine  -> `docker info` answers, else SKIP (or FAIL under CI)
          wheelhouse     -> `pip wheel` of the project + all dependencies on the host
          systemd_debs   -> `apt-get download` of systemd and what the base image lacks for it
          docker_services (pytest-docker) -> `docker compose up --build --wait`
                            builds nso-install-test:latest from Dockerfile.test
Per test: box            -> a fresh `docker run -d --rm --init --network none`
                            container of that image, removed afterwards.
          systemd_box    -> the same with systemd as PID 1 (SYS_ADMIN, a private cgroup
                            namespace, tmpfs /run), for `systemctl start ncs`.

Skipping rule: without a reachable engine the tests SKIP with the reason, except
when CI=true or NSO_INSTALL_REQUIRE_DOCKER=1, where they FAIL (a missing engine
must never pass as green in CI).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "nso-install-test:latest"  # = `image:` in tests/docker-compose.yml
COMPOSE_FILE = ROOT / "tests" / "docker-compose.yml"
WHEELHOUSE = ROOT / "wheelhouse"  # gitignored; the only thing in the build context


def docker_required() -> bool:
    """True when a missing engine must fail the run instead of skipping it."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("NSO_INSTALL_REQUIRE_DOCKER", "") == "1"
    )


def _docker_problem() -> str | None:
    """None if a Docker engine answers, else a one-line reason."""
    if shutil.which("docker") is None:
        return "docker CLI not found on PATH"
    try:
        r = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` timed out after 30 s"
    if r.returncode != 0 or not r.stdout.strip():
        err = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`docker info` failed ({err})"
    r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if r.returncode != 0:
        return "Docker Compose v2 (`docker compose`) is missing"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = _docker_problem()
    if problem is None:
        return
    hint = "run `bash tools/docker-engine-up` (as root) first"
    if docker_required():
        pytest.fail(
            f"no Docker engine: {problem}; integration tests are required here "
            f"(CI=true or NSO_INSTALL_REQUIRE_DOCKER=1); {hint}",
            pytrace=False,
        )
    pytest.skip(f"no Docker engine: {problem}; {hint}")


@pytest.fixture(scope="session")
def wheelhouse(docker_engine) -> Path:
    """wheelhouse/deps: dependency wheels; wheelhouse/project: the nso-install wheel.

    Dependency wheels are kept between sessions (pip only re-resolves); the project
    wheel is rebuilt every session. A file lock serialises concurrent sessions in
    the same checkout.
    """
    deps, project = WHEELHOUSE / "deps", WHEELHOUSE / "project"
    WHEELHOUSE.mkdir(exist_ok=True)
    with open(WHEELHOUSE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir()
        deps.mkdir(exist_ok=True)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
             "--find-links", str(deps), "-w", str(deps), str(ROOT)],
            capture_output=True, text=True,
        )
        if r.returncode:
            pytest.fail(f"`pip wheel` of the project failed:\n{r.stdout}{r.stderr}", pytrace=False)
        built = list(deps.glob("nso_install-*.whl"))
        if not built:
            pytest.fail("`pip wheel` produced no nso_install wheel", pytrace=False)
        for whl in built:
            whl.replace(project / whl.name)
    return WHEELHOUSE


# systemd for the image (Dockerfile.test), from the host's apt (Debian 12, like the image):
# systemd itself and what the base image (tools/docker-engine-up) lacks for it; libsystemd0 and
# libudev1 too, so the set is one version even when the mirror moved on since the image was made.
SYSTEMD_DEBS = ("systemd", "libsystemd-shared", "libsystemd0", "libudev1", "libapparmor1", "libargon2-1",
                "libcryptsetup12", "libdevmapper1.02.1", "dmsetup", "libfdisk1", "libip4tc2", "libjson-c5",
                "libkmod2")


@pytest.fixture(scope="session")
def systemd_debs(docker_engine) -> Path:
    """wheelhouse/debs: the .debs of SYSTEMD_DEBS, downloaded once (kept between sessions while
    the list is unchanged; `rm -r wheelhouse/debs` fetches the current versions)."""
    debs = WHEELHOUSE / "debs"
    marker = debs / "PACKAGES"
    WHEELHOUSE.mkdir(exist_ok=True)
    with open(WHEELHOUSE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        want = "\n".join(SYSTEMD_DEBS) + "\n"
        if marker.is_file() and marker.read_text() == want and len(list(debs.glob("*.deb"))) >= len(SYSTEMD_DEBS):
            return debs
        if shutil.which("apt-get") is None:
            pytest.fail("the test image needs systemd's .debs from the host's apt (apt-get download); this host "
                        "has no apt-get (Debian 12 is what .ci/run expects)", pytrace=False)
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir()
        cmd = ["apt-get", "download", "-q", *SYSTEMD_DEBS]
        r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
        if r.returncode and os.geteuid() == 0:  # stale or missing package lists
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
            r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
        if r.returncode:
            pytest.fail(f"`{shlex.join(cmd)}` failed (the host needs Debian 12's apt sources):\n{r.stdout}{r.stderr}",
                        pytrace=False)
        marker.write_text(want)
    return debs


# --- pytest-docker configuration ------------------------------------------------

@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker compose"


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return f"nsoinstalltest{os.getpid()}"


def _image_id() -> str | None:
    r = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


@pytest.fixture(scope="session")
def previous_image_id(docker_engine) -> str | None:
    return _image_id()


@pytest.fixture(scope="session")
def docker_setup(wheelhouse, systemd_debs, previous_image_id) -> list[str]:  # engine + wheels first
    return ["up --build --wait --quiet-pull"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v"]  # keeps the image: the next session's build is cached


# --- the per-test container -------------------------------------------------------

# Walks the given paths inside the container and prints one line per path:
# relpath type mode uid gid size mtime_ns sha256|link-target|- xattrs-hash|-
_SNAPSHOT_PY = r"""
import hashlib, os, stat, sys
excl = set(sys.argv[2].split(":")) if sys.argv[2] else set()
def xh(p):
    try: names = sorted(os.listxattr(p, follow_symlinks=False))
    except OSError: return "-"
    if not names: return "-"
    h = hashlib.sha256()
    for n in names:
        h.update(n.encode() + b"=" + os.getxattr(p, n, follow_symlinks=False) + b";")
    return h.hexdigest()[:16]
def line(p):
    st = os.lstat(p); m = st.st_mode
    if stat.S_ISLNK(m): t, c = "l", os.readlink(p)
    elif stat.S_ISDIR(m): t, c = "d", "-"
    elif stat.S_ISREG(m):
        t, h = "f", hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
        c = h.hexdigest()
    else: t, c = "o", "-"
    size = st.st_size if t != "d" else 0
    print(p, t, "%o" % stat.S_IMODE(m), st.st_uid, st.st_gid, size, st.st_mtime_ns, c, xh(p))
for top in sys.argv[1].split(":"):
    if not os.path.lexists(top): print(top, "absent"); continue
    line(top)
    if not os.path.isdir(top) or os.path.islink(top): continue
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if os.path.join(d, x) not in excl)
        for n in sorted(dirs + files): line(os.path.join(d, n))
"""


class Box:
    """A fresh root container; run commands in it as root or (via runuser) as a user."""

    def __init__(self, name: str):
        self.name = name

    # -- running things --
    def run(self, *argv: str, user: str | None = None, check: bool = True,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = ["docker", "exec", *(["-i"] if input is not None else []), self.name]
        if user and user != "root":
            # never `docker exec -u`: it checks exec permission with root's capabilities
            cmd += ["runuser", "-u", user, "--"]
        r = subprocess.run(cmd + [str(a) for a in argv], capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and r.returncode:
            raise AssertionError(
                f"{shlex.join(map(str, argv))} as {user or 'root'} -> exit {r.returncode}\n"
                f"--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
            )
        return r

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run("bash", "-c", script, **kw)

    def nso_install(self, *args: str, user: str | None = None, check: bool = True):
        """Run `nso-install ARGS --json`; return the parsed JSON (check=False: the process)."""
        r = self.run("nso-install", *args, "--json", user=user, check=check)
        if not check:
            return r
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"nso-install {' '.join(args)} --json printed no JSON ({e}):\n"
                                 f"--- stdout\n{r.stdout}--- stderr\n{r.stderr}") from None

    def sample_dist(self, dest: str = "/root/dist", version: str = "6.5.3",
                    fmt: str = "tar.gz", user: str | None = None) -> str:
        """`nso-install sample-dist` -> the path of the fake NSO distribution."""
        r = self.run("nso-install", "sample-dist", dest, "--version", version,
                     "--format", fmt, user=user)
        out = r.stdout.strip()
        try:  # tolerate a JSON answer too
            return json.loads(out)["path"]
        except (ValueError, KeyError, TypeError):
            return out.splitlines()[-1].strip()

    # -- looking at things --
    def exists(self, path: str) -> bool:
        return self.run("test", "-e", path, check=False).returncode == 0

    def is_symlink(self, path: str) -> bool:
        return self.run("test", "-L", path, check=False).returncode == 0

    def readlink(self, path: str) -> str:
        return self.run("readlink", path).stdout.strip()

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def stat(self, path: str) -> tuple[str, str, str]:
        """(mode as octal string incl. special bits, e.g. '755' / '4750', owner, group)"""
        mode, owner, group = self.run("stat", "-c", "%a %U %G", path).stdout.split()
        return mode, owner, group

    def tree_snapshot(self, *paths: str, exclude: tuple[str, ...] = ()) -> str:
        """Every path under PATHS: type, mode, uid, gid, size, mtime_ns, sha256/link, xattrs.

        Two equal snapshots mean byte-identical trees (content, metadata, file caps).
        A missing top path shows as 'PATH absent'.
        """
        return self.run("python3", "-c", _SNAPSHOT_PY, ":".join(paths),
                        ":".join(exclude)).stdout

    # -- users, groups, capabilities (for run-as-user / setcap / setuid tests) --
    def user_exists(self, name: str) -> bool:
        return self.run("getent", "passwd", name, check=False).returncode == 0

    def group_exists(self, name: str) -> bool:
        return self.run("getent", "group", name, check=False).returncode == 0

    def groups_of(self, name: str) -> set[str]:
        return set(self.run("id", "-nG", name).stdout.split())

    def getcap(self, path: str) -> str:
        """getcap's capability text for PATH ('' when it has none), e.g. 'cap_net_bind_service=ep'."""
        out = self.run("getcap", path).stdout.strip()
        return out.split(None, 1)[1].strip() if " " in out else ""

    def add_user(self, name: str, *opts: str) -> None:
        self.run("useradd", "-m", *opts, name)


@pytest.fixture(scope="session")
def test_image(docker_services, previous_image_id) -> str:
    """The built test image (compose up --build --wait has succeeded).

    Compose labels each build with the (per-session) project name, so every session
    makes a new image ID and leaves the previous one dangling: remove that one (only
    that one; `docker rmi` refuses if something still uses it).
    """
    current = _image_id()
    if previous_image_id and current and previous_image_id != current:
        subprocess.run(["docker", "rmi", previous_image_id], capture_output=True)
    return IMAGE


@pytest.fixture
def box(test_image):
    """A fresh throwaway container per test (about 0.2 s), as root, no network."""
    name = f"nso-install-test-{uuid.uuid4().hex[:10]}"
    r = subprocess.run(
        ["docker", "run", "-d", "--rm", "--init", "--network", "none",
         "--name", name, test_image, "sleep", "infinity"],
        capture_output=True, text=True,
    )
    if r.returncode:
        pytest.fail(f"docker run {test_image} failed:\n{r.stderr}", pytrace=False)
    try:
        yield Box(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


SYSTEMD_RUN = ("--cap-add", "SYS_ADMIN",  # systemd mounts and sets up the units' namespaces
               "--cap-add", "NET_ADMIN", "--cap-add", "DAC_READ_SEARCH",  # what the unit's bounding set names
               "--cgroupns", "private", "--tmpfs", "/run", "--tmpfs", "/run/lock")


@pytest.fixture
def systemd_box(test_image):
    """A fresh throwaway container with systemd as PID 1 (no network), once systemd is up.

    Not --privileged (the host's own bounding set lacks a capability, which docker then fails to
    grant): CAP_SYS_ADMIN and a private cgroup namespace are what systemd 252 needs here; the
    capabilities the unit's bounding set names are added so they can be tested.
    """
    name = f"nso-install-test-sd-{uuid.uuid4().hex[:10]}"
    r = subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", *SYSTEMD_RUN, "--name", name,
                        test_image, "/lib/systemd/systemd"], capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"docker run {test_image} /lib/systemd/systemd failed:\n{r.stderr}", pytrace=False)
    try:
        box = Box(name)
        state = ""
        for _ in range(100):
            state = box.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.1)
        else:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            pytest.fail(f"systemd did not come up in {name} ({state!r}):\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}",
                        pytrace=False)
        yield box
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
