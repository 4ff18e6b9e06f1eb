"""System install as root on the container's real root filesystem (no --root).

Run-as-user, capabilities and setuid are in test_run_as_user.py.
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
TOUCHED = (INSTALL_DIR, CONFIG_DIR, RUN_DIR, LOG_DIR, "/run/ncs", "/var/lib/nso-install",
           "/etc/profile.d", "/etc/systemd/system", "/etc/logrotate.d", "/etc/tmpfiles.d")

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
    conflicts = [a for a in result["actions"] if a.get("conflict")]
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
        assert a["status"] in ("ok", "change")
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
    for path in (INSTALL_DIR, CONFIG_DIR, RUN_DIR, LOG_DIR, "/run/ncs", "/var/lib/nso-install"):
        assert not box.exists(path), f"--check created {path}"
    assert box.tree_snapshot("/", exclude=VOLATILE) == before


def test_check_after_install_reports_no_change(box, dist, installed):
    before = box.tree_snapshot(*TOUCHED)
    result = box.nso_install("install", dist, "--system-install", "--check")
    assert result["result"] == "check"
    assert result["changed"] == 0
    assert box.tree_snapshot(*TOUCHED) == before


def test_signed_bin_verified_tampered_refused(box):
    signed = box.sample_dist("/root/signed", version=VERSION, fmt="signed.bin")
    # flip one byte inside the signed installer.bin (past the inner payload marker)
    box.run("python3", "-c", f"""
data = bytearray(open('{signed}', 'rb').read())
inner = data.rindex(b'__NSO_PAYLOAD_BELOW__')  # the inner installer's payload follows
data[data.index(bytes([0x1f, 0x8b]), inner) + 500] ^= 0xFF
open('/root/bad.bin', 'wb').write(bytes(data))
""")
    r = box.run("nso-install", "install", "/root/bad.bin", "--system-install", check=False)
    assert r.returncode != 0 and "Error:" in r.stderr and "signature" in r.stderr.lower()
    assert not box.exists(INSTALL_DIR) and not box.exists(CONFIG_DIR)
    result = box.nso_install("install", signed, "--system-install")
    assert_applied(result, changed=True)
    assert box.run("cat", f"{RELEASE_DIR}/VERSION").stdout.strip() == VERSION


def test_upgrade_keeps_config_and_moves_current_only_when_asked(box):
    old = box.sample_dist("/root/old", version="6.4.8", fmt="tar.gz")
    new = box.sample_dist("/root/new", version=VERSION, fmt="installer.bin")
    assert_applied(box.nso_install("install", old, "--system-install"), changed=True)
    keys = box.run("cat", f"{CONFIG_DIR}/ncs.crypto_keys").stdout
    box.sh(f"echo '<!-- site edit -->' >> {CONFIG_DIR}/ncs.conf")
    edited = box.run("cat", f"{CONFIG_DIR}/ncs.conf").stdout
    up = box.nso_install("install", new, "--system-install")
    assert box.readlink(f"{INSTALL_DIR}/current") == "ncs-6.4.8"  # NSO leaves current alone
    assert any("beside the active 6.4.8" in n and "--activate" in n for n in up["notes"])  # (a note, not a warning)
    assert not any("--activate" in w for w in up["warnings"])
    assert box.exists(f"{RELEASE_DIR}/bin/ncs") and box.exists(f"{INSTALL_DIR}/ncs-6.4.8/bin/ncs")
    assert box.run("cat", f"{CONFIG_DIR}/ncs.crypto_keys").stdout == keys  # never regenerated
    assert box.run("cat", f"{CONFIG_DIR}/ncs.conf").stdout == edited  # admin edits kept
    refused = box.run("nso-install", "install", new, "--system-install", "--activate", check=False)
    assert refused.returncode == 2 and "DES3CBC_KEY1: NSO 6.5 removed 3DES" in refused.stderr, refused.stderr
    assert box.readlink(f"{INSTALL_DIR}/current") == "ncs-6.4.8"
    # as an operator does before switching to 6.5: the 3DES keys out of the file (kept, its inode too)
    box.sh(f"grep -v '^DES3CBC_KEY' {CONFIG_DIR}/ncs.crypto_keys > /root/k && cat /root/k > "
           f"{CONFIG_DIR}/ncs.crypto_keys")
    keys = box.run("cat", f"{CONFIG_DIR}/ncs.crypto_keys").stdout
    box.nso_install("install", new, "--system-install", "--activate")
    assert box.readlink(f"{INSTALL_DIR}/current") == f"ncs-{VERSION}"
    assert box.run("cat", f"{CONFIG_DIR}/ncs.crypto_keys").stdout == keys
    assert box.nso_install("install", new, "--system-install", "--activate")["changed"] == 0


def test_check_as_an_ordinary_user_is_a_clear_error_not_a_traceback(box, dist, installed):
    box.run("useradd", "-m", "carol")
    box.run("cp", dist, "/home/carol/dist.tar.gz")
    box.run("chown", "carol", "/home/carol/dist.tar.gz")
    r = box.run("nso-install", "install", "/home/carol/dist.tar.gz", "--system-install", "--check",
                user="carol", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "cannot look into /var/lib/nso-install (owner uid 0, mode 0700)" in r.stderr, r.stderr
    assert "root for a system install" in r.stderr
