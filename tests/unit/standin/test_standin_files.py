"""The stand-in reads what ncs.conf names and fails like NSO (a clear message, NSO's start exit
code, nothing left listening) when a file is missing or unreadable by the account it runs as;
its encryption keys follow NSO's external keys contract (facts 8)."""

import os

import pytest

from nso_install.standin import Fail, parse_key_lines

from standin_support import DAEMON_UID, ROOT_ONLY, free_ports, legacy_keys

K128, K256 = "a" * 32, "b" * 64


def expect_failure(nso, code, *words, uid=None):
    r = nso.ncs(uid=uid)
    assert r.returncode == code, (r.returncode, r.stderr)
    for w in words:
        assert w in r.stderr, r.stderr
    assert not os.path.lexists(nso.sock) and nso.wait_gone()
    assert "NCS start failed" in nso.log_text()
    return r


@pytest.mark.parametrize("break_it, code, words", [
    (lambda n: os.unlink(n.etc / "ncs.crypto_keys"), 21, ["external keys command", "ncs.crypto_keys does not exist"]),
    (lambda n: n.write("etc/ncs.crypto_keys", "AESCFB128_KEY=00\n"), 21, ["AESCFB128_KEY is not 32 hexadecimal"]),
    (lambda n: os.unlink(n.etc / "ipc_access"), 16, ["cannot read the IPC access secret", "No such file"]),
    (lambda n: os.unlink(n.etc / "ssh/ssh_host_ed25519_key"), 16, ["no SSH host key"]),
    (lambda n: n.write("etc/ssl/cert/host.cert", "junk"), 16, ["do not load together"]),
    (lambda n: os.unlink(n.etc / "ssl/cert/host.key"), 16, ["cannot read the TLS key", "host.key"]),
    (lambda n: os.rmdir(n.run_dir / "state"), 16, ["state directory"]),
    (lambda n: n.write("run/cdb/A.cdb", "garbage"), 15, ["corrupt CDB file"]),
])
def test_a_missing_or_bad_file_stops_the_start(nso, break_it, code, words):
    cli_ssh, webui_ssl = free_ports(2)
    nso.write_conf(ipc="tcp", access_check=True, cli_ssh=cli_ssh, webui_ssl=webui_ssl)
    break_it(nso)
    expect_failure(nso, code, *words)


@pytest.mark.parametrize("conf_change, words", [
    (lambda t: t.replace("${NCS_LOG_DIR}/devel.log", "${NCS_NO_SUCH_VARIABLE}/devel.log"),
     ["environment variable NCS_NO_SUCH_VARIABLE is not set"]),
    (lambda t: t.replace("</ncs-config>", "<no-such-thing/></ncs-config>"), ["unknown element /ncs-config/no-such-thing"]),
    (lambda t: t.replace("<state-dir>${NCS_RUN_DIR}/state</state-dir>", ""), ["mandatory /ncs-config/state-dir"]),
    (lambda t: t.replace("tailf-ncs-config", "tailf-ncs-config/1.0"), ["root element"]),
    (lambda t: t.replace("</ncs-config>", "<encrypted-strings><AESCFB128><key>x</key></AESCFB128>"
                         "</encrypted-strings></ncs-config>").replace("<encrypted-strings><external", "<encrypted-"
                         "strings><AESCFB128><key>0</key></AESCFB128><external"), ["exclude each other"]),
    (lambda t: t.replace("<cli><enabled>true</enabled><ssh><enabled>false", "<cli><enabled>true</enabled><ssh>"
                         "<enabled>maybe"), ["must be true or false"]),
])
def test_a_bad_configuration_is_exit_21(nso, conf_change, words):
    conf = nso.etc / "ncs.conf"
    conf.write_text(conf_change(conf.read_text()))
    r = nso.ncs()
    assert r.returncode == 21, r.stderr
    for w in words:
        assert w in r.stderr
    assert nso.wait_gone()


def test_version_gated_elements(nso):
    """ncs-local-ipc exists from NSO 6.4 on: a 6.3 stand-in refuses it as an unknown element."""
    (nso.dist / "VERSION").write_text("6.3.4\n")
    r = nso.ncs()
    assert r.returncode == 21 and "unknown element /ncs-config/ncs-local-ipc for NSO 6.3.4" in r.stderr


@ROOT_ONLY
@pytest.mark.parametrize("rel", ["etc/ncs.crypto_keys", "etc/ssh/ssh_host_ed25519_key", "etc/ssl/cert/host.key",
                                 "etc/ipc_access"])
def test_a_file_the_account_cannot_read_stops_the_start(nso, rel):
    cli_ssh, webui_ssl = free_ports(2)
    nso.write_conf(ipc="tcp", access_check=True, cli_ssh=cli_ssh, webui_ssl=webui_ssl)
    nso.own(DAEMON_UID)
    os.chown(nso.base / rel, 0, 0)  # 0600 root: what a missing group grant looks like
    if rel.endswith("crypto_keys"):  # read by the external keys command, which says ERROR=cannot read FILE
        expect_failure(nso, 21, "external keys command", f"failed: cannot read {nso.base / rel}", uid=DAEMON_UID)
    else:
        expect_failure(nso, 16, "cannot read the", f"{nso.base / rel}: Permission denied", uid=DAEMON_UID)
    os.chown(nso.base / rel, DAEMON_UID, DAEMON_UID)
    assert nso.ncs(uid=DAEMON_UID).returncode == 0
    assert nso.ncs("--stop", env=nso.client_env(NCS_IPC_ACCESS_FILE=str(nso.etc / "ipc_access"))).returncode == 0


@ROOT_ONLY
@pytest.mark.parametrize("rel", ["log", "run/cdb"])
def test_a_directory_the_account_cannot_write_stops_the_start(nso, rel):
    nso.own(DAEMON_UID)
    os.chown(nso.base / rel, 0, 0)
    for p in (nso.base / rel).iterdir():
        os.chown(p, 0, 0)
    if rel == "run/cdb":
        expect_failure(nso, 16, f"the CDB directory {nso.run_dir / 'cdb'} is missing or not writable", uid=DAEMON_UID)
    else:  # no log to write "start failed" to: only the message
        r = nso.ncs(uid=DAEMON_UID)
        assert r.returncode == 16 and f"cannot open the log file {nso.log}/ncs.log: Permission denied" in r.stderr


def test_key_generations_follow_nso(nso):
    """Legacy keys are generation -1; NSO keeps its active generation, so a rotation file must
    still carry it, and a fresh CDB takes the highest (facts 8)."""
    assert nso.ncs().returncode == 0
    assert "active key generation: -1" in nso.ncs("--status").stdout
    assert nso.ncs("--stop").returncode == 0 and nso.wait_gone()
    old = dict(line.split("=", 1) for line in (nso.etc / "ncs.crypto_keys").read_text().split())
    rotated = (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]={old['AESCFB128_KEY']}\n"
               f"AES256CFB128_KEY[-1]={old['AES256CFB128_KEY']}\nAESCFB128_KEY[0]={K128}\nAES256CFB128_KEY[0]={K256}\n")
    nso.write("etc/ncs.crypto_keys", rotated, 0o600)
    assert nso.ncs().returncode == 0
    status = nso.ncs("--status").stdout
    assert "active key generation: -1" in status and "key generations: -1, 0" in status
    assert nso.ncs("--stop").returncode == 0 and nso.wait_gone()
    nso.write("etc/ncs.crypto_keys", f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]={K128}\nAES256CFB128_KEY[0]={K256}\n")
    r = expect_failure(nso, 21, "lack the active generation -1")
    assert K128 not in r.stderr
    os.unlink(nso.run_dir / "cdb/A.cdb")  # no previous keys: the highest generation is active
    assert nso.ncs().returncode == 0
    assert "active key generation: 0" in nso.ncs("--status").stdout
    assert nso.ncs("--stop").returncode == 0


@pytest.mark.parametrize("lines, version, problem", [
    ([f"AESCFB128_KEY={K128}"], "6.5.3", "generation -1 lacks AES256CFB128_KEY"),
    ([f"AESCFB128_KEY[0]={K128}", f"AES256CFB128_KEY[0]={K256}"], "6.5.3", "every key has a [generation]"),
    (["EXTERNAL_KEY_FORMAT=2", f"AESCFB128_KEY={K128}", f"AES256CFB128_KEY={K256}"], "6.5.3", "every key has"),
    ([f"AESCFB128_KEY={K128}", "EXTERNAL_KEY_FORMAT=2"], "6.5.3", "must be the first line"),
    (["ERROR=the vault is sealed"], "6.5.3", "the vault is sealed"),
    (["hello"], "6.5.3", "line 1 is not NAME=VALUE"),
    ([f"AESCFB128_KEY={K128}", f"AES256CFB128_KEY={K256}", "DES3CBC_KEY1=0123456789abcdef"], "6.5.3",
     "unknown key DES3CBC_KEY1"),
    ([], "6.5.3", "no keys"),
    ([f"AESCFB128_KEY={K128}", f"AES256CFB128_KEY={K256[:-1]}g"], "6.5.3", "AES256CFB128_KEY is not 64"),
])
def test_external_key_output_is_checked(lines, version, problem):
    with pytest.raises(Fail) as e:
        parse_key_lines(lines, version, "keys")
    assert e.value.code == 21 and problem in str(e.value)
    assert K128 not in str(e.value) and K256[:-1] not in str(e.value)


def test_external_key_output_accepted():
    assert parse_key_lines(legacy_keys().splitlines(), "6.5.3", "k").keys() == {-1}
    des3 = [f"AESCFB128_KEY={K128}", f"AES256CFB128_KEY={K256}", *(f"DES3CBC_KEY{i}={'c' * 16}" for i in (1, 2, 3))]
    assert len(parse_key_lines(des3, "6.4.8", "k")[-1]) == 5  # DES3 keys before 6.5
    gens = parse_key_lines(["EXTERNAL_KEY_FORMAT=2", f"AESCFB128_KEY[-1]={K128}", f"AES256CFB128_KEY[-1]={K256}",
                            f"AESCFB128_KEY[3]={K128.upper()}", f"AES256CFB128_KEY[3]={K256}", ""], "6.7", "k")
    assert sorted(gens) == [-1, 3] and gens[3]["AESCFB128_KEY"] == K128
