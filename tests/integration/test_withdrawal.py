"""Withdrawing the run-as user on a real system (root in a throwaway container): every setuid
bit, file capability, membership and ownership it was granted goes, checked from outside
nso-install (find, getcap, id) and as the NSO account itself (runuser)."""

import pytest

pytestmark = pytest.mark.integration

V = "6.5.3"
VDIR = f"/opt/ncs/ncs-{V}"
EPAM = f"{VDIR}/lib/ncs/lib/core/pam/priv/epam"


@pytest.fixture
def installed(box):
    dist = box.sample_dist()
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso", "--setuid-cmdwrapper")
    # NSO ran as nso and wrote files of its own; nso also keeps one open for writing
    box.sh("runuser -u nso -- sh -c 'echo cdb > /var/opt/ncs/cdb/A.cdb; mkdir -p /var/opt/ncs/state/p; "
           "echo s > /var/opt/ncs/state/p/x; echo log > /var/log/ncs/ncs.log'")
    return box, dist


def test_rerun_without_flags_keeps_the_install_byte_identical(installed):
    box, dist = installed
    paths = ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/var/lib/nso-install", "/etc/passwd",
             "/etc/group", "/run/ncs", "/etc/systemd")
    before = box.tree_snapshot(*paths)
    out = box.nso_install("install", dist, "--system-install")
    assert out["changed"] == 0
    assert box.tree_snapshot(*paths) == before


def test_no_run_as_user_withdraws_everything_it_granted(installed):
    box, dist = installed
    assert box.run("find", "/opt/ncs", "-perm", "-4000", "-type", "f").stdout.strip()
    assert "ncsadmin" in box.groups_of("nso")

    refused = box.nso_install("install", dist, "--system-install", "--reset-options", check=False)
    assert refused.returncode == 2 and "--no-run-as-user" in refused.stderr

    out = box.nso_install("install", dist, "--system-install", "--no-run-as-user")
    assert {s["name"]: s.get("previous") for s in out["spec"]["settings"]}["run-as-user"] == "nso"
    assert box.run("find", "/", "-xdev", "-perm", "/6000", "-path", "/opt/ncs/*").stdout == ""
    assert box.run("getcap", "-r", "/opt/ncs").stdout.strip() == ""
    owned = box.run("find", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/run/ncs", "/opt/ncs", "-user", "nso")
    assert owned.stdout == ""
    assert "ncsadmin" not in box.groups_of("nso")
    assert "User=" not in box.read("/etc/systemd/system/ncs.service")
    assert box.read("/var/opt/ncs/cdb/A.cdb") == "cdb\n"  # NSO's data kept, now root's
    assert box.stat("/var/opt/ncs/cdb/A.cdb")[1:] == ("root", "root")

    # the account can no longer run the former privileged binaries, nor write what it owned
    r = box.run(EPAM, user="nso", check=False)
    assert r.returncode != 0
    r = box.sh("runuser -u nso -- sh -c 'echo x >> /var/log/ncs/ncs.log'", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr

    assert box.nso_install("install", dist, "--system-install")["changed"] == 0


def test_a_write_descriptor_held_by_the_old_account_cannot_reach_roots_file(box):
    dist = box.sample_dist()
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    # nso opens its ncs.systemd.conf for writing and keeps the descriptor (a process left running)
    box.sh("runuser -u nso -- python3 -c 'import time; f = open(\"/etc/ncs/ncs.systemd.conf\", \"a\"); "
           "print(f.fileno(), flush=True); time.sleep(60)' > /tmp/fd 2>&1 &")
    box.sh("for i in $(seq 50); do [ -s /tmp/fd ] && break; sleep 0.1; done")
    fd = box.read("/tmp/fd").strip()
    box.nso_install("install", dist, "--system-install", "--no-run-as-user", "--init-system", "sysv")
    assert box.stat("/etc/ncs/ncs.systemd.conf")[1:] == ("root", "root")
    # the held descriptor points at the old inode, not at the file root now reads
    pid = box.sh("pgrep -u nso python3").stdout.split()[0]
    # (as nso: root in a container lacks CAP_SYS_PTRACE to read another user's descriptors)
    fd_target = box.run("readlink", f"/proc/{pid}/fd/{fd}", user="nso").stdout.strip()
    assert fd_target.endswith("(deleted)")
