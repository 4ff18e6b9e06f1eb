"""nso-install audit on a real system (root in a throwaway container, no --root): real owners and
accounts, a running NSO daemon (a process psutil sees under /opt/ncs, started as the run-as user
with runuser), the host's PAM services; the audit writes nothing."""

import json

import pytest

pytestmark = pytest.mark.integration

# NSO's VM: the sample's ncs.smp is a copy of the Python binary (--ncs-smp), run from the active
# release as NSO's start does; a process that only names it in argv[0] is an impostor
SMP = "/opt/ncs/current/lib/ncs/erts/bin/ncs.smp"
FAKE_NCS = f"exec {SMP} -c \"import time; time.sleep(600)\""
IMPOSTOR = f"exec -a {SMP} sleep 600"
TREES = ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/var/lib/nso-install", "/run/ncs",
         "/etc/systemd/system", "/etc/profile.d")


def sample(box) -> str:
    box.run("nso-install", "sample-dist", "/root/dist", "--ncs-smp", "/usr/bin/python3")
    return "/root/dist/nso-6.5.3.linux.x86_64.tar.gz"


def start_fake_ncs(box, user: str, command: str = FAKE_NCS) -> int:
    box.run("bash", "-c", f"setsid bash -c '{command}' </dev/null >/dev/null 2>&1 &", user=user)
    pid = box.sh(f"for i in $(seq 50); do pgrep -u {user} -f erts/bin/ncs.smp && exit 0; sleep 0.1; done; exit 1").stdout
    return int(pid.split()[0])


def audit(box, *args, code=0):
    r = box.run("nso-install", "audit", "--json", *args, check=False)
    assert r.returncode == code, r.stdout + r.stderr
    return {c["id"]: c for c in json.loads(r.stdout)["checks"]}


def test_audit_of_a_real_install_with_nso_running_as_its_account(box):
    dist = sample(box)
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    pid = start_fake_ncs(box, "nso")
    impostor = start_fake_ncs(box, "nobody", IMPOSTOR)  # any account can name NSO's VM in its argv[0]
    before = box.tree_snapshot(*TREES)

    checks = audit(box)
    assert {i: c["result"] for i, c in checks.items() if c["result"] not in ("pass", "skip")} == {}
    assert checks["NSO-PROC-001"]["result"] == "pass"
    assert any(f"pid {pid}" in e and "nso/nso/nso" in e for e in checks["NSO-PROC-001"]["evidence"])
    assert not any(f"pid {impostor}" in e for e in checks["NSO-PROC-001"]["evidence"])
    assert checks["NSO-PROC-002"]["result"] == "pass"
    assert checks["NSO-PAM-001"]["result"] == "pass"  # the host's /etc/pam.d has the service ncs.conf names
    assert checks["NSO-USER-001"]["result"] == "pass" and checks["NSO-PRIV-002"]["result"] == "pass"
    if checks["NSO-SVC-001"]["result"] == "skip":
        assert "systemd-analyze" in checks["NSO-SVC-001"]["summary"]

    # the CI outputs, written outside the install; the install itself is untouched
    r = box.run("nso-install", "audit", "--junit", "/root/audit.xml", "--sarif", "/root/audit.sarif", check=False)
    assert r.returncode == 0 and "0 fail" in r.stdout
    sarif = json.loads(box.read("/root/audit.sarif"))
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert "<testsuites" in box.read("/root/audit.xml")
    assert box.tree_snapshot(*TREES) == before


def test_nso_started_as_root_and_keys_others_can_read_fail_the_audit(box):
    dist = sample(box)
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    box.run("chmod", "o+r", "/etc/ncs/ncs.crypto_keys")
    pid = start_fake_ncs(box, "root")
    checks = audit(box, code=1)
    failed = {i for i, c in checks.items() if c["result"] == "fail"}
    assert failed == {"NSO-PERM-002", "NSO-PROC-001", "NSO-PROC-002"}
    assert any(f"pid {pid} runs as root" in e for e in checks["NSO-PROC-001"]["evidence"])
    # accepted for now, with an owner: the audit passes; once expired it fails again
    box.sh("printf 'waivers:\\n  - id: NSO-PERM-002\\n    reason: migration\\n    owner: ops\\n    expires: 2001-01-01\\n"
           "  - id: NSO-PROC-001\\n    reason: vendor debugging session\\n    owner: ops\\n"
           "  - id: NSO-PROC-002\\n    reason: vendor debugging session\\n    owner: ops\\n' > /root/w.yaml")
    checks = audit(box, "--waivers", "/root/w.yaml", code=1)
    assert checks["NSO-PERM-002"]["result"] == "fail" and "expired" in checks["NSO-PERM-002"]["summary"]
    assert checks["NSO-PROC-001"]["result"] == "waived"
