"""Every check, one by one: a fresh production install audits clean, and breaking exactly the
property a check judges makes exactly that check fail (nothing else newly fails)."""

from __future__ import annotations

import datetime
import os
import re
import shutil

import pytest
from support_audit import chmod, failing, rewrite, set_conf

from nso_install.audit import all_checks, audit
from nso_install.audit.checks import host
from nso_install import proc
from nso_install.capabilities import encode
from nso_install.conf.variables import DUMMY_AES256CFB128_KEY, DUMMY_AESCFB128_KEY
from nso_install.systools import system_tool

C = "/ncs-config"


def _running(procs):
    """Pretend these NSO daemons run (a staged root has none): (uids, effective capabilities)."""
    def fake(ctx):
        return [host.NsoProcess(4000 + i, f"{ctx.spec.install_dir}/current/lib/ncs/erts/bin/ncs.smp",
                                (uid,) * 3, frozenset(caps), frozenset(caps)) for i, (uid, caps) in enumerate(procs)], None
    return fake


def nso_uid(root) -> int:
    return next(int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()
                if line.startswith("nso:"))


def proc_user(root, mp):
    mp.setattr(host, "_running", _running([(0, {"cap_net_bind_service"})]))


def proc_caps(root, mp):
    mp.setattr(host, "_running", _running([(nso_uid(root), {"cap_net_bind_service", "cap_sys_admin"})]))


def proc_fine(root, mp):
    mp.setattr(host, "_running", _running([(nso_uid(root), {"cap_net_bind_service"})]))


def add_to_group(root, group, user):
    path = root / "etc/group"
    lines = path.read_text().splitlines()
    out = [(line + ("," if not line.endswith(":") else "") + user) if line.startswith(f"{group}:") else line
           for line in lines]
    path.write_text("\n".join(out) + "\n")


def planted(root, rel, mode, data=b"#!/bin/sh\n"):
    p = root / rel
    p.write_bytes(data)
    os.chmod(p, mode)
    return p


def cap_file(root, mp):
    p = planted(root, "opt/ncs/ncs-6.5.3/bin/helper", 0o755)
    os.setxattr(p, "security.capability", encode({"cap_sys_admin": frozenset("ep")}))


def dummy_keys(root, mp):
    rewrite(root / "etc/ncs/ncs.crypto_keys",
            f"AESCFB128_KEY={DUMMY_AESCFB128_KEY}\nAES256CFB128_KEY={DUMMY_AES256CFB128_KEY}\n".encode())


def other_pub(root, mp):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                        serialization.PublicFormat.OpenSSH)
    rewrite(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub", pub + b" other\n")


def expired_cert(root, mp):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key((root / "etc/ncs/ssl/cert/host.key").read_bytes(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nso.example.net")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    rewrite(root / "etc/ncs/ssl/cert/host.cert", cert.public_bytes(serialization.Encoding.PEM))


def other_tls_key(root, mp):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    rewrite(root / "etc/ncs/ssl/cert/host.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def inline_keys(root, mp):
    set_conf(root, f"{C}/encrypted-strings/AESCFB128/key", "5" * 16 + "a" * 16)
    chmod(root, "etc/ncs/ncs.conf", 0o600)  # keys in it: private (NSO-PERM-001 stays satisfied)


def ipc_grant(root, mp):
    path = root / "var/opt/ncs/cdb/aaa_init.xml"
    text = path.read_text()
    entry = ('<aaa xmlns="http://tail-f.com/ns/aaa/1.1"><authentication><users><user><name>mallory</name>'
             '<uid>4242</uid><gid>4242</gid><password>$6$</password><ssh_keydir></ssh_keydir><homedir>/</homedir>'
             '<local_ipc_access>true</local_ipc_access></user></users></authentication></aaa>')
    rewrite(path, re.sub(r"(<config[^>]*>)", r"\1" + entry, text, count=1).encode())


def weaker_unit(root, mp):
    unit = root / "etc/systemd/system/ncs.service"
    lines = [line for line in unit.read_text().splitlines()
             if not re.match(r"(Protect|Private|Restrict|NoNewPriv|SystemCall|LockPers|MemoryDeny|CapabilityBounding)",
                             line)]
    text = "\n".join(lines).replace("[Service]", "[Service]\nAmbientCapabilities=CAP_SYS_ADMIN", 1) + "\n"
    rewrite(unit, text.encode())


def envfile_dropin(root, mp):
    # NSO's docs: the unit "takes its environment from /etc/ncs/ncs.systemd.conf" (the NSO account's)
    d = root / "etc/systemd/system/ncs.service.d"
    d.mkdir()
    (d / "env.conf").write_text("[Service]\nEnvironmentFile=-/etc/ncs/ncs.systemd.conf\n")


def pam_without_service(root, mp):
    (root / "etc/pam.d").mkdir()
    (root / "etc/pam.d/other").write_text("auth required pam_deny.so\n")


def foreign_file(root, mp):
    p = planted(root, "var/log/ncs/dropped.log", 0o640, b"x")
    os.chown(p, 1, 1)


def group_writable(root, mp):
    # the NSO account's group may now put packages where root's NSO tree is (ls -l: drwxrwxr-x root nso)
    os.chown(root / "opt/ncs/packages", 0, nso_gid(root))
    chmod(root, "opt/ncs/packages", 0o775)


def profile_writable(root, mp):
    # every login shell, root's included, sources it: the NSO account's group may now write it
    os.chown(root / "etc/profile.d/ncs.sh", 0, nso_gid(root))
    chmod(root, "etc/profile.d/ncs.sh", 0o664)


def nso_gid(root) -> int:
    return next(int(line.split(":")[2]) for line in (root / "etc/group").read_text().splitlines()
                if line.startswith("nso:"))


def grown_file(root, mp):
    with open(root / "opt/ncs/ncs-6.5.3/VERSION", "ab") as f:
        f.write(b"\n")


# check -> (variant, how to break exactly its property)
BREAK = {
    "NSO-LAYOUT-001": ("nso", lambda r, mp: (r / "opt/ncs/current").unlink()),
    "NSO-LAYOUT-002": ("nso", lambda r, mp: (r / "opt/ncs/ncs-9.9.9/bin").mkdir(parents=True)),
    "NSO-USER-001": ("nso", lambda r, mp: add_to_group(r, "adm", "nso")),
    "NSO-PERM-001": ("nso", lambda r, mp: os.chown(r / "etc/ncs/ncs.conf", nso_uid(r), 0)),
    "NSO-PERM-002": ("nso", lambda r, mp: chmod(r, "etc/ncs/ncs.crypto_keys", 0o444)),
    "NSO-PERM-003": ("nso", lambda r, mp: chmod(r, "etc/ncs/ipc_access", 0o444)),
    "NSO-PERM-004": ("nso", lambda r, mp: chmod(r, "etc/ncs/ssh/ssh_host_ed25519_key", 0o444)),
    "NSO-PERM-005": ("nso", lambda r, mp: chmod(r, "etc/ncs/ssl/cert/host.key", 0o444)),
    "NSO-PERM-006": ("nso", lambda r, mp: chmod(r, "etc/ncs", 0o775)),
    "NSO-PERM-007": ("nso", lambda r, mp: chmod(r, "var/opt/ncs", 0o755)),
    "NSO-PERM-008": ("nso", lambda r, mp: planted(r, "var/opt/ncs/state/open", 0o666)),
    "NSO-PERM-009": ("nso", foreign_file),
    "NSO-PERM-010": ("nso", lambda r, mp: os.chown(r / "opt", 65534, 65534)),
    "NSO-PERM-011": ("nso", group_writable),
    "NSO-PERM-012": ("nso", profile_writable),
    "NSO-PRIV-001": ("nso", lambda r, mp: planted(r, "opt/ncs/ncs-6.5.3/bin/rootshell", 0o4755)),
    "NSO-PRIV-002": ("nso", cap_file),
    "NSO-KEY-001": ("nso", dummy_keys),
    "NSO-KEY-002": ("nso", lambda r, mp: rewrite(r / "etc/ncs/ipc_access", b"short\n")),
    "NSO-KEY-003": ("nso", other_pub),
    "NSO-TLS-001": ("nso", expired_cert),
    "NSO-TLS-002": ("nso", other_tls_key),
    "NSO-SD-001": ("nso", inline_keys),
    "NSO-SD-002": ("nso", lambda r, mp: set_conf(r, f"{C}/ssh/algorithms/server-host-key", "ssh-ed25519,ssh-rsa")),
    "NSO-SD-003": ("fips", lambda r, mp: set_conf(r, f"{C}/fips-mode/enabled", "false")),
    "NSO-SD-004": ("fips", lambda r, mp: set_conf(r, f"{C}/ssh/algorithms/kex", "ecdh-sha2-nistp256,curve25519-sha256")),
    "NSO-SD-005": ("nso", lambda r, mp: set_conf(r, f"{C}/aaa/local-authentication/enabled", "true")),
    "NSO-SD-006": ("nso", lambda r, mp: set_conf(r, f"{C}/aaa/pam/enabled", "false")),
    "NSO-SD-007": ("nso", lambda r, mp: set_conf(r, f"{C}/aaa/expiration-warning", None)),
    "NSO-SD-008": ("nso", lambda r, mp: set_conf(r, f"{C}/cli/ssh", None)),  # absent: NSO's default is on
    "NSO-SD-009": ("nso", lambda r, mp: set_conf(r, f"{C}/netconf-north-bound/transport/ssh/enabled", "true")),
    "NSO-SD-010": ("nso", lambda r, mp: set_conf(r, f"{C}/netconf-north-bound/transport/tcp/enabled", "true")),
    "NSO-SD-011": ("nso", lambda r, mp: set_conf(r, f"{C}/restconf/enabled", "true")),
    "NSO-SD-012": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/transport/tcp/enabled", "true")),
    "NSO-SD-013": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/transport/ssl/enabled", "false")),
    "NSO-SD-014": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/match-host-name", "false")),
    "NSO-SD-015": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/cgi/enabled", "true")),
    "NSO-SD-016": ("nso", lambda r, mp: set_conf(r, f"{C}/cli/restricted-file-access", None)),
    "NSO-SD-017": ("nso", lambda r, mp: set_conf(r, f"{C}/crypt-hash", None)),  # absent: md5 before NSO 6.6
    "NSO-SD-018": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/audit", "false")),
    "NSO-SD-019": ("nso", lambda r, mp: set_conf(r, f"{C}/logs/netconf-trace-log/enabled", "true")),
    "NSO-SD-020": ("nso", lambda r, mp: set_conf(r, f"{C}/webui/rate-limiting", "0")),
    "NSO-SD-021": ("nso", lambda r, mp: set_conf(r, f"{C}/session-limits/max-sessions", "unbounded")),
    "NSO-CONF-001": ("nso", lambda r, mp: set_conf(r, f"{C}/rollback/history-size", "many")),  # (uint32)
    "NSO-SD-022": ("nso", lambda r, mp: set_conf(r, f"{C}/parser-limits/max-data-length", "unbounded")),
    "NSO-IPC-001": ("tcp", lambda r, mp: set_conf(r, f"{C}/ncs-ipc-address/ip", "0.0.0.0")),
    "NSO-IPC-002": ("nso", lambda r, mp: chmod(r, "run/ncs", 0o770)),
    "NSO-IPC-003": ("nso", ipc_grant),
    "NSO-NET-001": ("http", lambda r, mp: set_conf(r, f"{C}/webui/transport/tcp/ip", "0.0.0.0")),
    "NSO-PAM-001": ("nso", pam_without_service),
    "NSO-SVC-001": ("nso", weaker_unit),
    "NSO-SVC-002": ("nso", envfile_dropin),
    "NSO-PROC-001": ("nso", proc_user),
    "NSO-PROC-002": ("nso", proc_caps),
    "NSO-DRIFT-001": ("nso", grown_file),
    "NSO-DRIFT-002": ("nso", lambda r, mp: (r / "etc/profile.d/ncs.sh").unlink()),
    "NSO-DRIFT-003": ("nso", lambda r, mp: shutil.copy(r / "etc/ncs/ncs.conf", r / "etc/ncs/ncs.conf.new")),
}
NEEDS = {"NSO-SVC-001": lambda: system_tool("systemd-analyze") is not None}


def test_every_check_has_a_test_that_breaks_it():
    assert sorted(BREAK) == sorted(c.id for c in all_checks())


def test_a_fresh_production_install_audits_clean(staged, monkeypatch):
    root = staged.get("nso")
    proc_fine(root, monkeypatch)  # as if NSO ran as nso with its one capability
    report = {f.check.id: f for f in __import__("nso_install.audit", fromlist=["audit"]).audit(root).findings}
    assert {i for i, f in report.items() if f.status not in ("pass", "skip")} == set()
    skipped = {i for i, f in report.items() if f.status == "skip"}
    # FIPS rows (not a FIPS install) and PAM (a staging root has no /etc/pam.d); the rest is judged
    assert skipped <= {"NSO-SD-003", "NSO-SD-004", "NSO-PAM-001", "NSO-SVC-001"}, skipped


@pytest.mark.parametrize("check_id", sorted(BREAK))
def test_breaking_one_property_fails_exactly_its_check(staged, monkeypatch, check_id):
    if check_id in NEEDS and not NEEDS[check_id]():
        pytest.skip(f"{check_id} needs systemd-analyze on this host")
    variant, breaker = BREAK[check_id]
    root = staged.get(variant)
    proc_fine(root, monkeypatch)
    before = failing(root)
    if variant == "nso":
        assert before == set()
    assert check_id not in before
    breaker(root, monkeypatch)
    assert failing(root) - before == {check_id}


def test_the_nso_accounts_settings_file_cannot_move_what_the_ipc_checks_judge(staged):
    """ncs.systemd.conf belongs to the NSO account, and nso-install's start script sets the IPC
    variables after reading it: a NCS_IPC_PATH written there is not where NSO listens, so it must
    not lead the audit to judge another (tidy) directory while /run/ncs is open to everyone."""
    root = staged.get("nso")
    chmod(root, "run/ncs", 0o755)
    assert "NSO-IPC-003" in failing(root)
    os.makedirs(root / "run/ncs-elsewhere", mode=0o700)
    with open(root / "etc/ncs/ncs.systemd.conf", "a") as f:
        f.write("NCS_IPC_PATH=/run/ncs-elsewhere/nso-ipc\nNCS_CONFIG_DIR=/tmp/mine\n")
    assert "NSO-IPC-003" in failing(root)


def test_a_process_that_only_names_nso_in_its_argv_is_not_nso(monkeypatch):
    """Any account can start `exec -a /opt/ncs/current/lib/ncs/erts/bin/ncs.smp sleep`: the audit
    goes by the binary the process runs (read from /proc, not psutil's guess from argv[0]), so
    such a process neither passes for NSO nor turns NSO-PROC-001 red."""
    import subprocess
    import time
    from types import SimpleNamespace

    fake = "/opt/ncs-audit-test/current/lib/ncs/erts/bin/ncs.smp"
    p = subprocess.Popen(["bash", "-c", f"exec -a {fake} sleep 60"])
    try:
        time.sleep(0.3)
        ctx = SimpleNamespace(spec=SimpleNamespace(install_dir="/opt/ncs-audit-test"),
                              inst=SimpleNamespace(real_dir=None))
        assert [q.pid for q in host.nso_processes(ctx)] == []
        me = SimpleNamespace(spec=SimpleNamespace(install_dir=os.path.dirname(os.path.realpath("/bin/sleep"))),
                             inst=SimpleNamespace(real_dir=None))
        monkeypatch.setattr(proc, "DAEMON", re.compile(r"/sleep$"))
        assert p.pid in [q.pid for q in host.nso_processes(me)]  # the same process, by its real binary
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("rel, mode, owner, counts", [
    ("opt/ncs/ncs-6.5.3/lib/data.bin", 0o644, "root", False),  # root's, nobody can execute it: inert
    ("opt/ncs/ncs-6.5.3/lib/tool", 0o700, "root", True),  # executable
    ("var/opt/ncs/state/data.bin", 0o600, "nso", True),  # NSO's account may chmod +x it
])
def test_a_capability_counts_where_someone_could_execute_the_file(staged, monkeypatch, rel, mode, owner, counts):
    # the audit reads capabilities only where they can matter (facts.caps_can_matter): a big
    # tree's non-executable files are not read one by one
    root = staged.get("nso")
    proc_fine(root, monkeypatch)
    p = planted(root, rel, mode, b"data")
    if owner == "nso":
        os.chown(p, nso_uid(root), -1)
    os.setxattr(p, "security.capability", encode({"cap_sys_admin": frozenset("ep")}))
    assert ("NSO-PRIV-002" in failing(root)) is counts


def test_ncs_conf_the_active_release_does_not_know_fails_and_a_variable_is_nsos_to_resolve(staged):
    """NSO-CONF-001 judges the file as the active NSO reads it: an element of a later release
    (6.7's memory-management, kept across a rollback to 6.5) stops 6.5 at start; a ${VAR} without
    a default is resolved by NSO at start, so it is no problem of the file's."""
    root = staged.get("nso")
    set_conf(root, f"{C}/rollback/history-size", "${NSO_HISTORY}")
    assert "NSO-CONF-001" not in failing(root)
    set_conf(root, f"{C}/memory-management/actions/action/name", "x")
    found = {f.check.id: f for f in audit(root).findings}["NSO-CONF-001"]
    assert found.status == "fail" and any("NSO 6.5.3 does not know" in e and "memory-management" in e
                                          for e in found.evidence), found.evidence
