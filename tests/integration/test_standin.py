"""An install that works end to end: the NSO stand-in of the sample distribution (docs/testing.md,
"The NSO stand-in") started the ways an operator starts NSO -- the SysV script, directly as the
run-as user, the systemd unit where systemd runs -- reads what nso-install wrote as the NSO
account, binds a port below 1024 through the capability nso-install put on ncs.smp, and lets in
root, the NSO account and a granted operator, not an ungranted one."""

import json

import pytest

pytestmark = pytest.mark.integration

V = "6.5.3"
USER = "nso"
SOCKET = "/run/ncs/nso-ipc"
CLI = "printf 'show ncs-state version\\nid\\n' | ncs_cli -C"


def ipc_users_xml(users: dict[str, tuple[int, int]]) -> str:
    """CDB init entries granting local IPC access (NSO reads every *.xml of the CDB directory on
    its first start; facts 18.1), as an administrator would write them by hand."""
    entries = "".join(f"<user><name>{n}</name><uid>{u}</uid><gid>{g}</gid><password>$6$</password>"
                      "<ssh_keydir></ssh_keydir><homedir></homedir><local_ipc_access>true</local_ipc_access></user>"
                      for n, (u, g) in users.items())
    return ('<config xmlns="http://tail-f.com/ns/config/1.0"><aaa xmlns="http://tail-f.com/ns/aaa/1.1">'
            f"<authentication><users>{entries}</users></authentication></aaa></config>\n")


def install(box, *extra):
    """The sample with a Python binary as ncs.smp (so its capability works), installed for NSO as
    USER; operators alice (to be granted) and mallory in ncsadmin, eve in no NSO group."""
    box.run("nso-install", "sample-dist", "/root/dist", "--version", V, "--ncs-smp", "/usr/bin/python3")
    result = box.nso_install("install", f"/root/dist/nso-{V}.linux.x86_64.tar.gz", "--system-install",
                             "--run-as-user", USER, "--set", "webui.ssl.port=443", *extra)
    assert result["result"] == "applied", result
    for name, groups in (("alice", ["-G", "ncsadmin"]), ("mallory", ["-G", "ncsadmin"]), ("eve", [])):
        box.add_user(name, *groups)


def grant_by_hand(box, *names):
    """What an administrator does without --ipc-user: AAA entries for the CDB's first load, and
    the socket's directory opened to ncsadmin (so mallory, a member, meets NSO's own check)."""
    ids = {n: (int(box.run("id", "-u", n).stdout), int(box.run("id", "-g", n).stdout)) for n in names}
    box.run("install", "-o", USER, "-g", USER, "-m", "0640", "/dev/stdin", "/var/opt/ncs/cdb/ipc_users.xml",
            input=ipc_users_xml(ids))
    box.run("chgrp", "ncsadmin", "/run/ncs")


def cli(box, user, env=""):
    return box.run("bash", "-lc", f"{env}{CLI}", user=user, check=False)


def assert_nso_runs_as_the_account(box):
    status = box.run("bash", "-lc", "ncs --status").stdout
    assert "status: started" in status and f"uid: {box.run('id', '-u', USER).stdout.strip()}" in status
    assert "listener: webui-ssl 0.0.0.0:443" in status  # below 1024: the capability on ncs.smp did it
    box.run("python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 443), timeout=5).close()")
    pid = next(line.split()[1] for line in status.splitlines() if line.startswith("pid:"))
    assert box.run("ps", "-o", "user=", "-p", pid).stdout.strip() == USER
    # the process is ncs.smp itself (its /proc/PID/exe is hidden: a process with file capabilities is not dumpable)
    argv = box.run("cat", f"/proc/{pid}/cmdline").stdout.split("\0")
    assert argv[0] == "/opt/ncs/current/bin/../lib/ncs/erts/bin/ncs.smp" and argv[2] == "ncs", argv
    running = json.loads(box.run("nso-install", "status", "--json").stdout)["running"]
    assert [r["pid"] for r in running] == [int(pid)]  # what nso-install sees as NSO is the daemon
    return pid


def assert_admission(box, granted=("alice",)):
    """Unix socket: root and the NSO account unchecked, granted operators as themselves, mallory
    (in ncsadmin, so the socket's directory lets her through) refused by NSO, eve by the directory."""
    for user in ("root", USER, *granted):
        r = cli(box, user)
        assert r.returncode == 0, (user, r.stderr)
        assert f"ncs-state version {V}" in r.stdout
    for user in granted:
        assert f"user = {user}, uid = {box.run('id', '-u', user).stdout.strip()}, via = unix, trusted = no" \
            in cli(box, user).stdout
    r = cli(box, "mallory")
    assert r.returncode == 1 and "Failed to connect to server" in r.stderr
    assert "local IPC access denied: no /aaa/authentication/users/user entry has uid" in r.stderr
    r = cli(box, "eve")
    assert r.returncode == 1 and "Failed to connect to server" in r.stderr and "Permission denied" in r.stderr
    assert "Local IPC access denied for user" in box.read("/var/log/ncs/ncs.log")


def test_sysv_script_starts_nso_as_the_run_as_user(box):
    install(box, "--init-system", "sysv")
    grant_by_hand(box, "alice")
    r = box.run("/etc/init.d/ncs", "start")
    assert r.stdout == "" and r.stderr == ""  # returns once NSO is up
    assert box.stat(SOCKET)[1] == USER
    assert_nso_runs_as_the_account(box)
    assert_admission(box)
    assert box.run("/etc/init.d/ncs", "status").stdout.strip() == "running"
    log = box.read("/var/log/ncs/ncs.log")
    assert f"NCS started vsn: {V}" in log and "CRIT" not in log

    box.run("/etc/init.d/ncs", "restart-with-package-reload-force")
    assert "Package reload requested (--with-package-reload-force)" in box.read("/var/log/ncs/ncs.log")
    box.run("/etc/init.d/ncs", "reload")
    assert "ncs.conf reloaded" in box.read("/var/log/ncs/ncs.log")
    box.run("/etc/init.d/ncs", "stop")
    assert not box.exists(SOCKET)
    r = box.run("/etc/init.d/ncs", "status", check=False)
    assert r.returncode == 3 and r.stdout.strip() == "stopped"


def test_started_directly_as_the_run_as_user(box):
    install(box)
    grant_by_hand(box, "alice")
    box.run("bash", "-lc", "cd /var/opt/ncs && ncs -c /etc/ncs/ncs.conf", user=USER)
    assert_nso_runs_as_the_account(box)
    assert_admission(box)
    box.run("bash", "-lc", "ncs --stop", user=USER)
    assert not box.exists(SOCKET) and json.loads(box.run("nso-install", "status", "--json").stdout)["running"] == []


def test_what_nso_cannot_read_stops_its_start(box):
    """A key the NSO account cannot read (a lost group grant) fails the start with NSO's exit
    code and the file named, and nothing is left listening."""
    install(box, "--init-system", "sysv")
    box.run("chmod", "0400", "/etc/ncs/ncs.crypto_keys")  # root:nso 0440 -> 0400: the group grant is gone
    r = box.run("/etc/init.d/ncs", "start", check=False)
    assert r.returncode == 21 and "cannot read /etc/ncs/ncs.crypto_keys" in r.stderr
    assert not box.exists(SOCKET)
    assert "cannot read /etc/ncs/ncs.crypto_keys" in box.read("/var/log/ncs/devel.log")
    box.run("chmod", "0440", "/etc/ncs/ncs.crypto_keys")
    box.run("chmod", "0400", "/etc/ncs/ssl/cert/host.key")
    r = box.run("/etc/init.d/ncs", "start", check=False)
    assert r.returncode == 16 and "cannot read the TLS key /etc/ncs/ssl/cert/host.key: Permission denied" in r.stderr


def test_tcp_ipc_lets_in_who_can_read_the_secret(box):
    """TCP IPC: the access check is on; the secret is readable through ncsadmin, so alice and
    mallory (members) get in with NCS_IPC_ACCESS_FILE from the profile, eve cannot read it."""
    install(box, "--init-system", "sysv", "--set", "ipc.transport=tcp")
    box.run("/etc/init.d/ncs", "start")
    assert "ipc: tcp 127.0.0.1:4569" in box.run("bash", "-lc", "ncs --status").stdout
    for user in ("root", USER, "alice", "mallory"):
        r = cli(box, user)
        assert r.returncode == 0 and "via = tcp" in r.stdout, (user, r.stderr)
    r = cli(box, "eve")
    assert r.returncode == 1 and "cannot read NCS_IPC_ACCESS_FILE /etc/ncs/ipc_access: Permission denied" in r.stderr
    r = cli(box, "eve", env="unset NCS_IPC_ACCESS_FILE; ")
    assert r.returncode == 1 and "set NCS_IPC_ACCESS_FILE" in r.stderr
    box.run("/etc/init.d/ncs", "stop")


def test_granted_with_the_ipc_user_option(box):
    """--ipc-user / --ipc-group seed aaa_init.xml with the grants and open the socket's directory
    to exactly those accounts (group ncsipc); a member of that group without an entry (mallory,
    added afterwards) still meets NSO's own check."""
    box.add_user("bob")  # granted accounts must exist when the grant is rendered
    box.run("groupadd", "netops")
    box.add_user("carol", "-G", "netops")
    install(box, "--init-system", "sysv", "--ipc-user", "bob", "--ipc-group", "netops")
    box.run("usermod", "-aG", "ncsipc", "mallory")
    box.run("/etc/init.d/ncs", "start")
    assert_admission(box, granted=("bob", "carol"))
    box.run("/etc/init.d/ncs", "stop")


def test_systemd_unit_starts_nso(systemd_box):
    """`systemctl start ncs` with the generated, hardened unit (systemd as the container's init):
    the stand-in starts inside the sandbox as the NSO account, binds 443 through ncs.smp's file
    capability, and admits whom NSO would."""
    box = systemd_box
    install(box)
    grant_by_hand(box, "alice")
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "start", "ncs")
    assert_nso_runs_as_the_account(box)
    assert_admission(box)
    box.run("systemctl", "stop", "ncs")
    assert not box.exists(SOCKET)


PRODUCTION_VARIANTS = {
    "root": [],
    "run-as-user": ["--run-as-user", USER],
    "setuid-cmdwrapper": ["--run-as-user", USER, "--setuid-cmdwrapper"],
    "fips": ["--run-as-user", USER, "--fips-install"],
}


@pytest.mark.parametrize("variant", PRODUCTION_VARIANTS)
def test_every_production_variant_starts_under_the_unit_and_the_sysv_script(systemd_box, variant):
    """Each production variant, as nso-install writes it, starts the stand-in through the hardened
    unit and (after switching to --init-system sysv) through the SysV script: NSO runs as the
    intended account, reads every file it needs, and a granted operator gets in."""
    box = systemd_box
    owner = USER if "--run-as-user" in PRODUCTION_VARIANTS[variant] else "root"
    box.add_user("alice")
    box.run("nso-install", "sample-dist", "/root/dist", "--version", V, "--ncs-smp", "/usr/bin/python3")
    dist = f"/root/dist/nso-{V}.linux.x86_64.tar.gz"
    for init, start, stop in (("systemd", ["systemctl", "start", "ncs"], ["systemctl", "stop", "ncs"]),
                              ("sysv", ["/etc/init.d/ncs", "start"], ["/etc/init.d/ncs", "stop"])):
        box.nso_install("install", dist, "--system-install", "--init-system", init, "--ipc-user", "alice",
                        *PRODUCTION_VARIANTS[variant])
        if init == "systemd":
            box.run("systemctl", "daemon-reload")
        box.run(*start, timeout=60)
        status = box.run("bash", "-lc", "ncs --status").stdout
        assert "status: started" in status, (variant, init, status)
        pid = next(line.split()[1] for line in status.splitlines() if line.startswith("pid:"))
        assert box.run("ps", "-o", "user=", "-p", pid).stdout.strip() == owner, (variant, init)
        for user in ("root", "alice"):
            r = cli(box, user)
            assert r.returncode == 0 and f"ncs-state version {V}" in r.stdout, (variant, init, user, r.stderr)
        assert "CRIT" not in box.read("/var/log/ncs/ncs.log")
        box.run(*stop, timeout=60)
        assert not box.exists(SOCKET), (variant, init)
