"""System install as root on the container's real root filesystem (no --root).

Later additions (run-as-user, setcap, setuid): use box.user_exists / box.groups_of /
box.getcap / box.stat, and the `installed` fixture below for an installed system.
"""

import pytest

pytestmark = pytest.mark.integration

VERSION = "6.5.3"
INSTALL_DIR = "/opt/ncs"
RELEASE_DIR = f"{INSTALL_DIR}/ncs-{VERSION}"
CONFIG_DIR = "/etc/ncs"
RUN_DIR = "/var/opt/ncs"
LOG_DIR = "/var/log/ncs"

# Everything a system install may touch; compared byte for byte between runs.
TOUCHED = (INSTALL_DIR, CONFIG_DIR, RUN_DIR, LOG_DIR,
           "/etc/profile.d", "/etc/systemd/system", "/etc/logrotate.d")

EXPECTED_PATHS = [
    RELEASE_DIR,
    f"{INSTALL_DIR}/current",
    f"{RELEASE_DIR}/ncsrc",
    f"{CONFIG_DIR}/ncs.conf",
    f"{CONFIG_DIR}/ncs.crypto_keys",
    f"{CONFIG_DIR}/ipc_access",
    *(f"{RUN_DIR}/{d}" for d in ("cdb", "packages", "state", "rollbacks", "scripts", "backups")),
    f"{RUN_DIR}/cdb/aaa_init.xml",
    LOG_DIR,
    "/etc/profile.d/ncs.sh",
    "/etc/logrotate.d/ncs",
    "/etc/systemd/system/ncs.service",
]

# Not part of the comparison of a whole container: kernel/docker-managed or scratch.
VOLATILE = ("/proc", "/sys", "/dev", "/tmp", "/run", "/var/tmp")


def assert_applied(result, *, changed: bool):
    assert result["version"] == 1
    assert result["result"] == "applied"
    conflicts = [a for a in result["actions"] if a["status"] == "conflict"]
    assert not conflicts, conflicts
    if changed:
        assert result["changed"] > 0
    else:
        assert result["changed"] == 0, [a for a in result["actions"] if a["changed"]]
        assert all(a["status"] == "ok" and not a["changed"] for a in result["actions"])


@pytest.fixture
def dist(box):
    return box.sample_dist("/root/dist", version=VERSION, fmt="tar.gz")


@pytest.fixture
def installed(box, dist):
    """A container with a completed default system install; returns its JSON result."""
    result = box.nso_install("install", dist, "--system-install")
    assert_applied(result, changed=True)
    return result


def test_sample_dist_is_created(box, dist):
    assert box.exists(dist)


def test_system_install_creates_layout_owned_by_root(box, installed):
    r = box.run("stat", "-c", "%n %U", *EXPECTED_PATHS, check=False)  # one exec for all
    assert r.returncode == 0, f"missing paths:\n{r.stderr}"
    owners = dict(line.rsplit(" ", 1) for line in r.stdout.splitlines())
    assert owners == {p: "root" for p in EXPECTED_PATHS}
    assert box.stat(RELEASE_DIR) == ("755", "root", "root")
    assert box.is_symlink(f"{INSTALL_DIR}/current")
    assert box.readlink(f"{INSTALL_DIR}/current").rstrip("/").endswith(f"ncs-{VERSION}")
    assert box.stat(f"{CONFIG_DIR}/ncs.crypto_keys")[0] == "600"
    ncs_dir = box.sh(f". {RELEASE_DIR}/ncsrc && echo $NCS_DIR").stdout.strip()
    assert ncs_dir == RELEASE_DIR


def test_json_actions_are_well_formed(box, installed):
    assert installed["actions"]
    for a in installed["actions"]:
        assert {"id", "kind", "path", "status", "changed"} <= set(a), a
        assert a["id"] == f"{a['kind']}:{a['path']}"
        assert a["status"] in ("ok", "change", "conflict")
    assert installed["changed"] == sum(1 for a in installed["actions"] if a["changed"])
    assert isinstance(installed["totals"], dict)


def test_second_run_changes_nothing(box, dist, installed):
    before = box.tree_snapshot(*TOUCHED)
    again = box.nso_install("install", dist, "--system-install")
    assert_applied(again, changed=False)
    assert box.tree_snapshot(*TOUCHED) == before


def test_check_on_fresh_container_writes_nothing(box, dist):
    before = box.tree_snapshot("/", exclude=VOLATILE)
    result = box.nso_install("install", dist, "--system-install", "--check")
    assert result["result"] == "check"
    assert result["changed"] > 0  # it reports what an apply would do
    for path in (INSTALL_DIR, CONFIG_DIR, RUN_DIR, LOG_DIR):
        assert not box.exists(path), f"--check created {path}"
    assert box.tree_snapshot("/", exclude=VOLATILE) == before


def test_check_after_install_reports_no_change(box, dist, installed):
    before = box.tree_snapshot(*TOUCHED)
    result = box.nso_install("install", dist, "--system-install", "--check")
    assert result["result"] == "check"
    assert result["changed"] == 0
    assert box.tree_snapshot(*TOUCHED) == before


# --- run-as-user / setcap / setuid --------------------------------------------------
# To be added (another engineer). Sketch:
#   def test_run_as_user(box, dist):
#       box.nso_install("install", dist, "--system-install", "--run-as-user", "ncsd")
#       assert box.user_exists("ncsd"); assert "ncsadmin" in box.groups_of(...)
#       assert box.getcap(...) == "cap_net_bind_service=ep"; box.stat(...)[0] == "4750"
