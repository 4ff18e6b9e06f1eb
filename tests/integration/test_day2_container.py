"""Day 2 on a real system (root in a throwaway container, no --root): two versions side by side,
activate / rollback / re-activate, a running NSO (a process psutil sees under /opt/ncs) that
blocks what it should, uninstall of one version and of everything, down to the accounts."""

import json

import pytest

pytestmark = pytest.mark.integration

KEYS = "/etc/ncs/ncs.crypto_keys"
PROFILE = "/etc/profile.d/ncs.sh"
# NSO's VM as ps shows it: argv[0] is the beam binary under the active release
FAKE_NCS = "exec -a /opt/ncs/current/lib/ncs/erts/bin/ncs.smp sleep 600"


@pytest.fixture
def two(box):
    """6.4.1 active with NSO running as nso, 6.5.3 installed beside it."""
    d641 = box.sample_dist("/root/d641", version="6.4.1")
    d653 = box.sample_dist("/root/d653", version="6.5.3")
    box.nso_install("install", d641, "--system-install", "--run-as-user", "nso")
    box.nso_install("install", d653, "--system-install")
    off_3des(box)
    return box


def off_3des(box) -> None:
    """What an operator does on NSO 6.4 before switching to 6.5: the DES3CBC_KEY lines out of the
    keys file (6.5 refuses them, and so does a switch to it), the file itself kept (its inode)."""
    box.sh(f"grep -v '^DES3CBC_KEY' {KEYS} > /root/k && cat /root/k > {KEYS} && rm /root/k")


def cli(box, *args, check=True):
    """``nso-install ARGS`` (plain text); returns the process."""
    return box.run("nso-install", *args, check=check)


def status(box) -> dict:
    return json.loads(cli(box, "status", "--json").stdout)


def start_fake_ncs(box) -> int:
    box.sh(f"setsid bash -c '{FAKE_NCS}' </dev/null >/dev/null 2>&1 &")
    pid = box.sh("for i in $(seq 50); do pgrep -f erts/bin/ncs.smp && exit 0; sleep 0.1; done; exit 1").stdout
    return int(pid.split()[0])


def test_activate_rollback_and_back_keep_keys_owners_and_admin_edits(two):
    box = two
    keys = box.run("sha256sum", KEYS).stdout
    box.sh(f"echo '# admin edit' >> {PROFILE}")
    assert [(v["version"], v["active"]) for v in status(box)["versions"]] == [("6.4.1", True), ("6.5.3", False)]

    out = cli(box, "activate", "6.5.3").stdout
    assert box.readlink("/opt/ncs/current") == "ncs-6.5.3" and "package reload" in out
    assert "NSO 6.5.3." in box.read("/etc/ncs/ncs.conf")
    assert status(box)["previous"] == "6.4.1"
    cli(box, "rollback")
    assert box.readlink("/opt/ncs/current") == "ncs-6.4.1"
    cli(box, "activate", "6.5.3")
    assert box.readlink("/opt/ncs/current") == "ncs-6.5.3"
    assert box.run("sha256sum", KEYS).stdout == keys
    assert box.read(PROFILE).endswith("# admin edit\n")
    # after three switches the keys are as the install made them: root's, readable by nso only
    assert box.stat(KEYS) == ("440", "root", "nso")
    assert box.run("head", "-c1", KEYS, user="nso").returncode == 0
    assert "Permission denied" in box.run("head", "-c1", KEYS, user="nobody", check=False).stderr
    assert "Done: 0 changed" in cli(box, "activate", "6.5.3").stdout
    assert cli(box, "verify").returncode == 0


def test_a_running_nso_blocks_switch_and_removal_until_stopped_or_forced(two):
    box = two
    pid = start_fake_ncs(box)
    s = status(box)
    assert [(r["pid"], r["version"]) for r in s["running"]] == [(pid, "6.4.1")]
    assert f"pid {pid} (NSO 6.4.1)" in cli(box, "status").stdout

    refused = cli(box, "activate", "6.5.3", check=False)
    assert refused.returncode == 2 and f"pid {pid}" in refused.stderr and "Stop NSO first" in refused.stderr
    gone = cli(box, "uninstall", "--all", check=False)
    assert gone.returncode == 2 and "NSO runs from what would be removed" in gone.stderr
    assert box.readlink("/opt/ncs/current") == "ncs-6.4.1" and box.exists("/opt/ncs/ncs-6.4.1/bin/ncs")
    # a version NSO does not run from may go while it runs
    cli(box, "uninstall", "--ncs-version", "6.5.3")
    assert not box.exists("/opt/ncs/ncs-6.5.3") and box.run("kill", "-0", str(pid)).returncode == 0

    box.nso_install("install", box.sample_dist("/root/d653", version="6.5.3"), "--system-install")
    forced = cli(box, "activate", "6.5.3", "--force").stdout
    assert box.readlink("/opt/ncs/current") == "ncs-6.5.3"
    assert f"NSO is running from /opt/ncs (pid {pid}); restart it" in forced
    assert box.run("kill", "-0", str(pid)).returncode == 0  # never killed

    box.run("kill", str(pid))
    box.sh(f"while kill -0 {pid} 2>/dev/null; do sleep 0.1; done")
    cli(box, "uninstall", "--all")
    assert not box.exists("/opt/ncs")


def test_a_command_line_naming_nso_counts_only_for_root_and_the_nso_user(two):
    """Any account can write any command line (exec -a): nobody's process naming NSO's VM is not
    NSO running (services.running_ncs), so it blocks neither activate nor uninstall; the same
    command line of the NSO user's (nso) is believed, as root's is (the test above)."""
    box = two
    box.sh(f"setsid runuser -u nobody -- bash -c '{FAKE_NCS}' </dev/null >/dev/null 2>&1 &")
    spoof = box.sh("for i in $(seq 50); do pgrep -u nobody -f erts/bin/ncs.smp && exit 0; sleep 0.1; done; exit 1")
    spoof = int(spoof.stdout.split()[0])
    try:
        assert status(box)["running"] == []
        cli(box, "activate", "6.5.3")
        assert box.readlink("/opt/ncs/current") == "ncs-6.5.3"
        cli(box, "uninstall", "--ncs-version", "6.4.1")
        assert not box.exists("/opt/ncs/ncs-6.4.1") and box.run("kill", "-0", str(spoof)).returncode == 0

        box.sh(f"setsid runuser -u nso -- bash -c '{FAKE_NCS}' </dev/null >/dev/null 2>&1 &")
        nso = box.sh("for i in $(seq 50); do pgrep -u nso -f erts/bin/ncs.smp && exit 0; sleep 0.1; done; exit 1")
        nso = int(nso.stdout.split()[0])
        assert [r["pid"] for r in status(box)["running"]] == [nso]
        gone = cli(box, "uninstall", "--all", check=False)
        assert gone.returncode == 2 and f"pid {nso}" in gone.stderr
    finally:
        box.sh("pkill -f erts/bin/ncs.smp", check=False)


def test_uninstall_all_keeps_what_is_documented_and_purge_removes_accounts(two):
    box = two
    box.sh("runuser -u nso -- sh -c 'echo cdb > /var/opt/ncs/cdb/A.cdb; echo log > /var/log/ncs/ncs.log'")
    preview = cli(box, "uninstall", "--all", "--check").stdout
    assert "remove   /opt/ncs" in preview and "kept     /etc/ncs" in preview
    assert box.exists("/opt/ncs/ncs-6.5.3")

    cli(box, "uninstall", "--all")
    assert not box.exists("/opt/ncs")
    for kept in (KEYS, "/etc/ncs/ncs.conf", "/var/opt/ncs/cdb/A.cdb", "/var/log/ncs/ncs.log",
                 "/etc/systemd/system/ncs.service", PROFILE):
        assert box.exists(kept), kept
    assert box.user_exists("nso")

    cli(box, "uninstall", "--all", "--purge")
    for gone in ("/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/etc/systemd/system/ncs.service", PROFILE,
                 "/etc/logrotate.d/ncs"):
        assert not box.exists(gone), gone
    assert not box.user_exists("nso")
    assert box.run("getent", "group", "ncsadmin", check=False).returncode == 2
    assert "Nothing to do" in cli(box, "uninstall", "--all", "--purge").stdout


def test_uninstall_accounts_sets_aside_what_the_nso_account_made_where_nso_loads_code(two):
    """uninstall --all --accounts keeps RUN_DIR: what the NSO account made there goes to root as
    on a change of run-as user (write bits dropped, its code and links quarantined), not as it is."""
    box = two
    box.sh("runuser -u nso -- sh -c 'mkdir /var/opt/ncs/packages/evil /var/opt/ncs/wide && echo x > "
           "/var/opt/ncs/packages/evil/x.py && chmod 777 /var/opt/ncs/wide && ln -s /etc/shadow /var/opt/ncs/state/l'")
    cli(box, "uninstall", "--all", "--accounts")
    assert not box.exists("/var/opt/ncs/packages/evil") and not box.is_symlink("/var/opt/ncs/state/l")
    assert box.sh("stat -c '%U %a' /var/opt/ncs/wide").stdout.split() == ["root", "755"]
    q = box.sh("ls -d /var/opt/ncs/.nso-install-quarantine.nso.*").stdout.split()
    assert len(q) == 1 and box.sh(f"stat -c '%U %a' {q[0]}").stdout.split() == ["root", "700"]
    assert box.sh("stat -c '%U %G' /etc/shadow").stdout.split()[0] == "root"


def test_purge_keeps_an_account_nso_install_did_not_create(box):
    box.run("useradd", "--system", "--no-create-home", "ops")
    box.nso_install("install", box.sample_dist(), "--system-install", "--run-as-user", "ops")
    cli(box, "uninstall", "--all", "--purge")
    assert box.user_exists("ops") and not box.exists("/etc/ncs")
    # what it added to ops went with the groups it created; ops's own group stays
    assert box.run("id", "-nG", "ops").stdout.split() == ["ops"]
    assert box.run("getent", "group", "ncsadmin", check=False).returncode == 2
