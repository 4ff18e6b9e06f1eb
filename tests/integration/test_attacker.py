"""Playing the attacker on a real system (root in a throwaway container; other accounts act
through runuser): each test is one way the privilege-boundary review found to turn nso-install's
root run against the host, and shows it no longer works."""

import pytest

pytestmark = pytest.mark.integration


def test_a_staging_root_prepared_by_another_user_is_refused(box):
    dist = box.sample_dist()
    box.add_user("eve")
    box.run("mkdir", "-p", "/tmp/stage/etc", user="eve")
    box.run("cp", "/etc/passwd", "/etc/group", "/tmp/stage/etc/", user="eve")
    r = box.nso_install("install", dist, "--system-install", "--root", "/tmp/stage", "--run-as-user", "nso",
                        check=False)
    assert r.returncode == 2 and "belongs to uid" in r.stderr
    assert box.run("find", "/tmp/stage", "-perm", "/6000").stdout == ""
    assert box.run("getcap", "-r", "/tmp/stage").stdout.strip() == ""
    assert box.run("find", "/tmp/stage", "-newer", "/tmp/stage/etc/group", "-not", "-type", "d").stdout == ""


def test_a_directory_another_user_made_inside_a_root_owned_staging_root_gets_no_privilege(box):
    dist = box.sample_dist()
    box.add_user("eve")
    box.sh("mkdir -p /srv/stage/etc /srv/stage/opt && chmod 700 /srv/stage && cp /etc/passwd /etc/group "
           "/etc/shadow /etc/gshadow /srv/stage/etc/ && chown eve /srv/stage/opt")
    r = box.nso_install("install", dist, "--system-install", "--root", "/srv/stage", "--run-as-user", "nso",
                        check=False)
    # refused before anything is written: the directory holding --install-dir is eve's
    assert r.returncode == 1 and "--install-dir /opt/ncs: /opt belongs to uid" in r.stderr, r.stderr
    assert box.run("ls", "-A", "/srv/stage/opt").stdout == ""
    assert box.run("find", "/srv/stage", "-perm", "/6000").stdout == ""
    assert box.run("getcap", "-r", "/srv/stage").stdout.strip() == ""


def test_an_ordinary_user_stages_without_owners_and_is_told(box):
    dist = box.sample_dist()
    box.add_user("eve")
    box.run("cp", dist, "/tmp/dist.tar.gz")
    box.run("chmod", "644", "/tmp/dist.tar.gz")
    out = box.run("nso-install", "install", "/tmp/dist.tar.gz", "--system-install", "--root", "/home/eve/stage",
                  user="eve")
    assert "owners are not" in out.stdout and "Done:" in out.stdout
    assert box.run("find", "/home/eve/stage", "-not", "-user", "eve").stdout == ""
    assert box.stat("/home/eve/stage/etc/ncs/ncs.crypto_keys")[0] == "600"
    again = box.run("nso-install", "install", "/tmp/dist.tar.gz", "--system-install", "--root", "/home/eve/stage",
                    user="eve")
    assert "Done: 0 changed" in again.stdout
    r = box.run("nso-install", "install", "/tmp/dist.tar.gz", "--system-install", "--root", "/home/eve/stage2",
                "--run-as-user", "nso", user="eve", check=False)
    assert r.returncode == 2 and "needs root" in r.stderr
    # inside eve's home root refuses to work (eve could swap anything there) ...
    r = box.nso_install("install", "/tmp/dist.tar.gz", "--system-install", "--root", "/home/eve/stage", check=False)
    assert r.returncode == 2 and "/home/eve belongs to uid" in r.stderr
    # ... moved where only root can change it, root applies the planned owners
    box.sh("mv /home/eve/stage /srv/stage && cp /etc/passwd /etc/group /etc/shadow /etc/gshadow /srv/stage/etc/ "
           "&& chown -R root:root /srv/stage && chmod 700 /srv/stage")
    fixed = box.nso_install("install", "/tmp/dist.tar.gz", "--system-install", "--root", "/srv/stage",
                            "--run-as-user", "nso")
    assert fixed["result"] == "applied"
    nso_uid = box.sh("awk -F: '$1 == \"nso\" {print $3}' /srv/stage/etc/passwd").stdout.strip()
    assert box.run("stat", "-c", "%u", "/srv/stage/var/opt/ncs").stdout.strip() == nso_uid
    assert box.run("find", "/srv/stage", "-perm", "-4000").stdout.strip().endswith("epam")


def test_another_user_cannot_block_installs_by_locking_the_root(box):
    dist = box.sample_dist()
    box.add_user("eve")
    box.sh("runuser -u eve -- flock / sleep 60 >/dev/null 2>&1 & runuser -u eve -- flock /tmp sleep 60 "
           ">/dev/null 2>&1 & sleep 0.5")
    out = box.nso_install("install", dist, "--system-install")
    assert out["result"] == "applied"
    r = box.run("flock", "-n", "/var/lib/nso-install", "true", user="eve", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr


@pytest.mark.timeout(90)
def test_the_nso_account_cannot_hang_roots_run_with_a_fifo(box):
    dist = box.sample_dist()
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    box.run("sh", "-c", "rm /var/opt/ncs/cdb/aaa_init.xml && mkfifo /var/opt/ncs/cdb/aaa_init.xml", user="nso")
    r = box.run("timeout", "30", "nso-install", "install", dist, "--system-install", check=False)
    assert r.returncode == 1 and "not a regular file" in r.stderr  # 124 would be the hang


def test_the_nso_accounts_shell_line_never_runs_as_root(box):
    dist = box.sample_dist()
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    box.run("sh", "-c", "echo 'NCS_X=$(touch /tmp/pwned1)' >> /etc/ncs/ncs.systemd.conf; "
                        "echo 'touch /tmp/pwned2' >> /etc/ncs/ncs.systemd.conf", user="nso")
    box.nso_install("install", dist, "--system-install", "--init-system", "sysv")
    assert box.stat("/etc/ncs/ncs.systemd.conf")[1:] == ("root", "root")
    assert "pwned" not in box.read("/etc/ncs/ncs.systemd.conf")
    box.run("sh", "/etc/init.d/ncs", "status", check=False)  # the script reads the file as root
    assert not box.exists("/tmp/pwned1") and not box.exists("/tmp/pwned2")
