"""--run-as-user on a real system (as root in a throwaway container): accounts, owners and
modes as documented in docs/security.md, file capabilities, setuid helpers executable only
by the NSO account's group (checked with runuser, never `docker exec -u`), no secret in output."""

import pytest

pytestmark = pytest.mark.integration

V = "6.5.3"
VDIR = f"/opt/ncs/ncs-{V}"
USER = "nso"
EPAM = f"{VDIR}/lib/ncs/lib/core/pam/priv/epam"
CMDWRAPPER = f"{VDIR}/lib/ncs/lib/core/confd/priv/cmdwrapper"
CMDPTYWRAPPER = f"{VDIR}/lib/ncs/lib/core/confd/priv/cmdptywrapper"
TOUCHED = ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/etc/passwd", "/etc/group", "/etc/shadow",
           "/etc/gshadow", "/etc/profile.d", "/etc/systemd/system", "/etc/logrotate.d")
SECRETS = ("/etc/ncs/ncs.crypto_keys", "/etc/ncs/ipc_access", "/etc/ncs/ssh/ssh_host_ed25519_key",
           "/etc/ncs/ssl/cert/host.key")

# path -> (mode, owner, group), exactly as docs/security.md documents them
EXPECTED = {
    "/opt/ncs": ("755", "root", "root"),
    VDIR: ("755", "root", "root"),
    f"{VDIR}/bin/ncs": ("755", "root", "root"),
    EPAM: ("4750", "root", USER),
    CMDWRAPPER: ("4750", "root", USER),
    CMDPTYWRAPPER: ("4750", "root", USER),
    f"{VDIR}/lib/ncs/erts/bin/ncs": ("750", "root", USER),
    f"{VDIR}/lib/ncs/erts/bin/ncs.smp": ("750", "root", USER),
    f"{VDIR}/lib/ncs/bin/ip": ("750", "root", USER),
    f"{VDIR}/lib/ncs/bin/arping": ("750", "root", USER),
    "/etc/ncs": ("755", "root", "root"),
    "/etc/ncs/ncs.conf": ("644", "root", "root"),
    "/etc/ncs/ncs.crypto_keys": ("440", "root", USER),
    "/etc/ncs/ipc_access": ("440", "root", "ncsadmin"),
    "/etc/ncs/ncs.systemd.conf": ("644", USER, USER),
    "/etc/ncs/ssh": ("750", "root", USER),
    "/etc/ncs/ssh/ssh_host_ed25519_key": ("440", "root", USER),
    "/etc/ncs/ssh/ssh_host_ed25519_key.pub": ("644", "root", "root"),
    "/etc/ncs/ssl/cert": ("750", "root", USER),
    "/etc/ncs/ssl/cert/host.key": ("440", "root", USER),
    "/etc/ncs/ssl/cert/host.cert": ("644", "root", "root"),
    "/var/opt/ncs": ("750", USER, USER),
    "/var/opt/ncs/cdb": ("750", USER, USER),
    "/var/opt/ncs/cdb/aaa_init.xml": ("640", USER, USER),
    "/var/opt/ncs/state": ("750", USER, USER),
    "/var/log/ncs": ("750", USER, USER),
    "/etc/systemd/system/ncs.service": ("644", "root", "root"),
    "/etc/profile.d/ncs.sh": ("644", "root", "root"),
    "/run/ncs": ("750", USER, USER),  # no IPC grants: nobody else may enter
}
CAPS = {
    f"{VDIR}/lib/ncs/erts/bin/ncs": "cap_net_bind_service=ep",
    f"{VDIR}/lib/ncs/erts/bin/ncs.smp": "cap_net_bind_service=ep",
    f"{VDIR}/lib/ncs/bin/ip": "cap_net_admin=ep",
    f"{VDIR}/lib/ncs/bin/arping": "cap_net_raw=ep",
}


@pytest.fixture
def dist(box):
    return box.sample_dist("/root/dist", version=V, fmt="tar.gz")


def _install(box, dist, *extra, check=True):
    return box.nso_install("install", dist, "--system-install", "--run-as-user", USER, "--setuid-cmdwrapper",
                           *extra, check=check)


@pytest.fixture
def installed(box, dist):
    result = _install(box, dist)
    assert result["result"] == "applied" and result["changed"] > 0
    return result


def test_accounts_created_once_second_run_changes_nothing(box, dist, installed):
    assert box.user_exists(USER) and box.group_exists("ncsadmin") and box.group_exists("ncsoper")
    assert box.groups_of(USER) == {USER, "ncsadmin"}
    pw = box.run("getent", "passwd", USER).stdout.strip().split(":")
    assert pw[2] != "0" and pw[5] == "/var/opt/ncs" and pw[6] == "/usr/sbin/nologin"
    kinds = {a["kind"] for a in installed["actions"] if a["changed"]}
    assert {"group", "user", "setuid", "capability", "keypair", "secret"} <= kinds
    before = box.tree_snapshot(*TOUCHED)
    again = _install(box, dist)
    assert again["changed"] == 0, [a for a in again["actions"] if a["changed"]]
    assert box.tree_snapshot(*TOUCHED) == before
    assert any("root-level execution" in w for w in again["warnings"])  # the cmdwrapper risk, every run


def test_owners_and_modes_as_documented(box, installed):
    got = {p: box.stat(p) for p in EXPECTED}
    assert got == EXPECTED
    # the NSO account owns nothing under the install dir (root executes from there)
    owned = box.run("find", "/opt/ncs", "/etc/profile.d", "/etc/systemd", "-user", USER).stdout.split()
    assert owned == []


def test_file_capabilities(box, installed):
    assert {p: box.getcap(p) for p in CAPS} == CAPS
    assert box.getcap(EPAM) == "" and box.getcap(f"{VDIR}/bin/ncs") == ""


def test_only_the_nso_account_can_execute_privileged_helpers(box, installed):
    box.add_user("mallory")  # an ordinary user
    box.add_user("alice", "-G", "ncsadmin")  # an NSO administrator: still no setuid root for her
    for helper in (EPAM, CMDWRAPPER, CMDPTYWRAPPER, f"{VDIR}/lib/ncs/erts/bin/ncs.smp", f"{VDIR}/lib/ncs/bin/ip"):
        for outsider in ("mallory", "alice"):
            r = box.run(helper, user=outsider, check=False)
            assert r.returncode != 0 and "Permission denied" in r.stderr, (helper, outsider, r.stderr)
    for helper in (EPAM, CMDWRAPPER, CMDPTYWRAPPER):
        r = box.run(helper, user=USER, check=False)
        assert "Permission denied" not in r.stderr, (helper, r.stderr)
        # it ran: the sample's stub prints its own name (and exits 1 on purpose)
        assert helper.rsplit("/", 1)[1] in r.stdout + r.stderr, (helper, r.stdout, r.stderr)


def test_secret_files_readable_by_the_right_users_only(box, installed):
    box.add_user("mallory")
    box.add_user("alice", "-G", "ncsadmin")
    for path in ("/etc/ncs/ncs.crypto_keys", "/etc/ncs/ssh/ssh_host_ed25519_key", "/etc/ncs/ssl/cert/host.key"):
        assert box.run("cat", path, user=USER, check=False).returncode == 0, path
        for outsider in ("mallory", "alice"):
            r = box.run("cat", path, user=outsider, check=False)
            assert r.returncode != 0 and "Permission denied" in r.stderr, (path, outsider)
    assert box.run("cat", "/etc/ncs/ipc_access", user="alice", check=False).returncode == 0
    assert box.run("cat", "/etc/ncs/ipc_access", user=USER, check=False).returncode == 0
    assert "Permission denied" in box.run("cat", "/etc/ncs/ipc_access", user="mallory", check=False).stderr
    # the NSO account cannot rewrite its keys or config
    for path in ("/etc/ncs/ncs.crypto_keys", "/etc/ncs/ncs.conf"):
        assert box.run("sh", "-c", f": >> {path}", user=USER, check=False).returncode != 0, path


def test_existing_user_with_login_shell_is_reported_not_changed(box, dist):
    box.add_user(USER, "-s", "/bin/bash")
    result = _install(box, dist)
    assert any("login shell /bin/bash" in w for w in result["warnings"])
    assert box.run("getent", "passwd", USER).stdout.strip().endswith(":/bin/bash")
    assert "ncsadmin" in box.groups_of(USER)


def test_existing_root_uid_user_is_refused(box, dist):
    box.run("useradd", "-o", "-u", "0", "-g", "0", "-M", "toor")
    r = box.nso_install("install", dist, "--system-install", "--run-as-user", "toor", check=False)
    assert r.returncode == 2 and "run-as-user-is-root" in r.stdout
    assert not box.exists("/opt/ncs")


def test_drift_repaired(box, dist, installed):
    box.run("chmod", "4755", EPAM)
    box.run("setcap", "-r", f"{VDIR}/lib/ncs/bin/ip")
    box.run("chmod", "0644", "/etc/ncs/ncs.crypto_keys")
    keys_before = box.read("/etc/ncs/ncs.crypto_keys")
    result = _install(box, dist)
    changed = {a["path"] for a in result["actions"] if a["changed"]}
    assert changed == {EPAM, f"{VDIR}/lib/ncs/bin/ip", "/etc/ncs/ncs.crypto_keys"}
    assert box.stat(EPAM)[0] == "4750" and box.getcap(f"{VDIR}/lib/ncs/bin/ip") == "cap_net_admin=ep"
    assert box.stat("/etc/ncs/ncs.crypto_keys")[0] == "440"
    assert box.read("/etc/ncs/ncs.crypto_keys") == keys_before


def test_no_secret_byte_in_output(box, dist):
    outs = []
    outs.append(box.run("nso-install", "install", dist, "--system-install", "--run-as-user", USER,
                        "--check", "--diff", "-v").stdout)
    r = box.run("nso-install", "install", dist, "--system-install", "--run-as-user", USER, "--diff", "-vv")
    outs.append(r.stdout + r.stderr)
    box.run("chmod", "0644", "/etc/ncs/ncs.crypto_keys")
    r = box.run("nso-install", "install", dist, "--system-install", "--run-as-user", USER, "--diff", "--json", "-v")
    outs.append(r.stdout + r.stderr)
    text = "\n".join(outs)
    for path in SECRETS:
        for line in box.read(path).splitlines():
            line = line.strip()
            if not line or line.startswith("-----"):
                continue
            value = line.split("=", 1)[1] if line.split("=", 1)[0].isupper() else line
            for i in range(0, max(len(value) - 23, 1), 24):
                frag = value[i:i + 24]
                if len(frag) >= 16:
                    assert frag not in text, path
    assert "<secret>" in text


def test_ipc_socket_directory_reachable_by_nso_and_granted_users_only(box, dist, installed):
    """Unix-socket IPC: who can traverse /run/ncs decides who can reach NSO's socket.  Being in
    ncsadmin is not enough (NSO's uid check would refuse such a user anyway); --ipc-user is."""
    assert "<path>/run/ncs/nso-ipc</path>" in box.run("cat", "/etc/ncs/ncs.conf").stdout
    box.add_user("mallory")
    box.add_user("alice", "-G", "ncsadmin")
    for who in ("mallory", "alice"):
        r = box.run("ls", "/run/ncs", user=who, check=False)
        assert r.returncode != 0 and "Permission denied" in r.stderr, who
    assert box.run("cat", "/etc/tmpfiles.d/ncs.conf").stdout.splitlines()[-1] == f"d /run/ncs 0750 {USER} {USER} -"
    _install(box, dist, "--ipc-user", "alice")
    assert box.run("ls", "/run/ncs", user="alice", check=False).returncode == 0  # a new login: the new group
    assert "Permission denied" in box.run("ls", "/run/ncs", user="mallory", check=False).stderr
    # the NSO account creates its socket there; nobody else can plant anything
    box.run("touch", "/run/ncs/nso-ipc", user=USER)
    assert "Permission denied" in box.run("touch", "/run/ncs/x", user="alice", check=False).stderr
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in box.run("cat", "/etc/profile.d/ncs.sh").stdout
    assert box.run("cat", "/etc/tmpfiles.d/ncs.conf").stdout.splitlines()[-1] == f"d /run/ncs 0750 {USER} ncsipc -"


def test_image_build_skips_secrets_container_start_creates_them(box, dist):
    """The image-build pattern: no keys in the image, generated with their owners at start."""
    build = ("--system-install", "--run-as-user", USER, "--ignore-init-scripts")
    box.nso_install("install", dist, *build, "--skip-secrets")
    for path in SECRETS:
        assert not box.exists(path), path
    start = box.nso_install("install", "/opt/ncs/current", *build, "--secrets-only")
    assert {a["kind"] for a in start["actions"] if a["changed"]} == {"secret", "keypair"}
    for path in SECRETS:
        assert box.stat(path) == EXPECTED[path], path
    assert box.nso_install("install", dist, *build)["changed"] == 0
