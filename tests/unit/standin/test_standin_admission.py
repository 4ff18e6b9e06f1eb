"""Who the stand-in lets in, by NSO's rules (facts 18.1): on the Unix socket root and NSO's own
uid unchecked, any other uid only with a /aaa/authentication/users/user entry of that uid and
local_ipc_access true (from the CDB init files, read once on an empty CDB); on TCP with the
access check on, only clients holding the secret (NCS_IPC_ACCESS_FILE)."""

import os

import pytest

from standin_support import DAEMON_UID, ROOT_ONLY, aaa_init, aaa_user

GRANTED, UNGRANTED, NOT_LISTED = 4301, 4302, 4303


@ROOT_ONLY
def test_unix_socket_admits_root_itself_and_granted_uids_only(nso):
    nso.write("run/cdb/aaa_init.xml", aaa_init(aaa_user("alice", GRANTED, True), aaa_user("mallory", UNGRANTED, False),
                                               aaa_user("quiet", 4304, None)))
    nso.own(DAEMON_UID)
    start = nso.ncs(uid=DAEMON_UID)
    assert start.returncode == 0, start.stderr
    assert f"uid: {DAEMON_UID}" in nso.ncs("--status", uid=DAEMON_UID).stdout
    assert "aaa users with local_ipc_access: alice" in nso.ncs("--status").stdout

    for uid, user, trusted in ((None, "root", "yes"), (DAEMON_UID, "ops", "yes"), (GRANTED, "alice", "no")):
        r = nso.cli("id", uid=uid, args=("-C", "-u", "ops") if uid == DAEMON_UID else ("-C",))
        assert r.returncode == 0, (uid, r.stderr)
        assert f"user = {user}, uid = {0 if uid is None else uid}, via = unix, trusted = {trusted}" in r.stdout
    # a checked client is its AAA entry, whatever it claims (-u)
    assert "user = alice," in nso.cli("id", uid=GRANTED, args=("-u", "admin")).stdout

    for uid, why in ((UNGRANTED, "user mallory (uid 4302) has local_ipc_access false"),
                     (4304, "user quiet (uid 4304) has local_ipc_access false"),  # omitted = false
                     (NOT_LISTED, "no /aaa/authentication/users/user entry has uid 4303")):
        r = nso.cli("show ncs-state version", uid=uid)
        assert r.returncode == 1 and "Failed to connect to server" in r.stderr and why in r.stderr, r.stderr
        assert "ncs-state version" not in r.stdout
    assert "Local IPC access denied for user mallory" in nso.log_text()
    assert f"Local IPC access denied for user {NOT_LISTED}" in nso.log_text()

    # the socket's directory is the filesystem gate before NSO's check
    os.chmod(nso.sock.parent, 0o700)
    r = nso.cli("id", uid=GRANTED)
    assert r.returncode == 1 and "Permission denied" in r.stderr
    os.chmod(nso.sock.parent, 0o755)
    assert nso.ncs("--stop", uid=DAEMON_UID).returncode == 0


@ROOT_ONLY
def test_cdb_init_files_are_read_once(nso):
    """Like NSO: *.xml in db-dir and the init-path load into an empty CDB only."""
    nso.own(DAEMON_UID)
    assert nso.ncs(uid=DAEMON_UID).returncode == 0
    assert nso.ncs("--stop").returncode == 0 and nso.wait_gone()
    nso.write("run/cdb/aaa_init.xml", aaa_init(aaa_user("alice", GRANTED, True)))
    assert nso.ncs(uid=DAEMON_UID).returncode == 0
    assert nso.cli("id", uid=GRANTED).returncode == 1  # CDB exists: the new file is not read
    assert nso.ncs("--stop").returncode == 0 and nso.wait_gone()
    os.unlink(nso.run_dir / "cdb/A.cdb")  # an empty CDB again
    assert nso.ncs(uid=DAEMON_UID).returncode == 0
    assert nso.cli("id", uid=GRANTED).returncode == 0
    assert nso.ncs("--stop").returncode == 0


@pytest.mark.parametrize("entry, problem", [
    ("<user><name>bob</name><gid>1</gid><password>$6$</password><ssh_keydir></ssh_keydir><homedir></homedir>"
     "</user>", "user 'bob' lacks uid"),
    (aaa_user("bob", 12, True).replace("<uid>12</uid>", "<uid>bob</uid>"), "bad uid"),
    (aaa_user("bob", 12, True).replace(">true<", ">yes<"), "local_ipc_access"),
])
def test_a_faulty_init_file_is_exit_10(nso, entry, problem):
    nso.write("run/cdb/aaa_init.xml", aaa_init(entry))
    r = nso.ncs()
    assert r.returncode == 10 and "faulty CDB init file" in r.stderr and problem in r.stderr, r.stderr
    nso.write("run/cdb/aaa_init.xml", "<config/>")  # wrong namespace
    assert nso.ncs().returncode == 10


def test_tcp_ipc_needs_the_secret_when_the_check_is_on(nso):
    nso.write_conf(ipc="tcp", access_check=True)
    assert nso.ncs().returncode == 0
    secret = str(nso.etc / "ipc_access")
    ok = nso.cli("id", env=nso.client_env(NCS_IPC_ACCESS_FILE=secret))
    assert ok.returncode == 0 and "via = tcp" in ok.stdout, ok.stderr
    assert "status: started" in nso.ncs("--status", env=nso.client_env(NCS_IPC_ACCESS_FILE=secret)).stdout

    none = nso.cli("id")
    assert none.returncode == 1 and "set NCS_IPC_ACCESS_FILE" in none.stderr
    assert nso.ncs("--status").returncode == 1  # control commands too
    wrong = nso.write("etc/wrong_secret", "not-the-secret\n")
    r = nso.cli("id", env=nso.client_env(NCS_IPC_ACCESS_FILE=str(wrong)))
    assert r.returncode == 1 and "IPC access check failed" in r.stderr
    assert "IPC access check failed" in nso.log_text()
    assert nso.ncs("--stop", env=nso.client_env(NCS_IPC_ACCESS_FILE=secret)).returncode == 0
    assert nso.wait_gone()

    # the check off: a client that sets the variable does not get in either (facts 9)
    nso.write_conf(ipc="tcp", access_check=False)
    assert nso.ncs().returncode == 0
    assert nso.cli("id").returncode == 0
    r = nso.cli("id", env=nso.client_env(NCS_IPC_ACCESS_FILE=secret))
    assert r.returncode == 1 and "does not run the IPC access check" in r.stderr
    assert nso.ncs("--stop").returncode == 0


def test_clients_follow_ncs_ipc_path_over_the_port(nso):
    assert nso.ncs().returncode == 0
    env = nso.env(NCS_IPC_PATH=str(nso.sock), NCS_IPC_PORT="1")  # the path wins (facts 9)
    assert nso.cli("id", env=env).returncode == 0
    assert nso.cli("id", env=nso.env(), args=("-S", str(nso.sock))).returncode == 0  # -S wins over nothing
    r = nso.cli("id", env=env, args=("-P", "1"))  # a flag wins over the environment
    assert r.returncode == 1 and "Failed to connect" in r.stderr
    assert nso.ncs("--stop").returncode == 0
