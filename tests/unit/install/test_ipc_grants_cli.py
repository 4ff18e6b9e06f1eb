"""IPC grants and NACM groups through the command line, on staged roots (as root): entries in
aaa_init.xml with the staged accounts' ids, the socket directory's group and members, re-runs,
withdrawal, bad input, notes for an existing CDB, and the groups on every system install."""

from __future__ import annotations

import json
import os
import stat

import pytest
from support import cli, install_json, snapshot

from nso_install.access import cli_value
from nso_install.conf.aaa import aaa_users, validate_aaa_init
from nso_install.facts import parse_group, parse_passwd

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

PASSWD = """root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001:Alice:/home/alice:/bin/bash
bob:x:1002:1002::/home/bob:/bin/bash
carol:x:1003:2000::/home/carol:/bin/bash
mallory:x:1004:1004::/home/mallory:/bin/bash
"""
GROUP = """root:x:0:
alice:x:1001:
bob:x:1002:
mallory:x:1004:
ops:x:2000:bob
ncsadmin:x:4242:mallory
"""
AAA = "var/opt/ncs/cdb/aaa_init.xml"


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc/pam.d").mkdir(parents=True)
    os.chmod(r, 0o700)
    (r / "etc/passwd").write_text(PASSWD)
    (r / "etc/group").write_text(GROUP)
    (r / "etc/pam.d/system-auth").write_text("")
    return r


def install(dist, root, *extra, ok=True):
    if not ok:
        return cli("install", dist, "--system-install", "--root", root, "--json", *extra, ok=False)
    return install_json(dist, root, "--system-install", *extra)


def accounts(root):
    return parse_passwd((root / "etc/passwd").read_text()), parse_group((root / "etc/group").read_text())


def test_grants_seed_aaa_init_and_open_the_socket_directory_to_exactly_them(root, sample_dists):
    out = install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--ipc-user", "alice", "--ipc-group", "ops")
    users, groups = accounts(root)
    text = (root / AAA).read_text()
    assert validate_aaa_init(text) == []
    assert aaa_users(text) == {"alice": (1001, 1001, True), "bob": (1002, 1002, True), "carol": (1003, 2000, True)}
    assert sorted(groups["ncsipc"].members) == ["alice", "bob", "carol"]
    st = os.stat(root / "run/ncs")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, users["nso"].uid, groups["ncsipc"].gid)
    assert (root / "etc/tmpfiles.d/ncs.conf").read_text().endswith("d /run/ncs 0750 nso ncsipc -\n")
    assert any("alice, bob, carol joined group ncsipc" in n and "NCS_IPC_PATH=/run/ncs/nso-ipc" in n
               for n in out["notes"])
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert state["spec"]["values"] == {"ipc.groups": "ops", "ipc.users": "alice"}
    assert {tuple(m) for m in state["grants"]["memberships"]} >= {("alice", "ncsipc"), ("bob", "ncsipc"),
                                                                  ("carol", "ncsipc")}
    # the existing ncsadmin keeps its gid and members (nso joins it, as with every run-as user)
    assert groups["ncsadmin"].gid == 4242 and set(groups["ncsadmin"].members) == {"mallory", "nso"}

    before = snapshot(root)
    again = install(sample_dists["tar.gz"], root)  # remembered: the same short command on every deploy
    assert again["changed"] == 0, [a["id"] for a in again["actions"] if a["changed"]]
    assert snapshot(root) == before


def test_withdrawing_a_grant_takes_back_what_it_granted(root, sample_dists):
    install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--ipc-user", "alice", "--ipc-group", "ops")
    out = install(sample_dists["tar.gz"], root, "--no-ipc-group")
    _, groups = accounts(root)
    assert groups["ncsipc"].members == ("alice",)
    assert aaa_users((root / AAA).read_text()) == {"alice": (1001, 1001, True)}
    assert {c["name"]: c["value"] for c in out["spec"]["settings"] if c["name"] == "ipc.groups"} == {
        "ipc.groups": "(none)"}
    install(sample_dists["tar.gz"], root, "--no-ipc-user")
    users, groups = accounts(root)
    assert groups["ncsipc"].members == () and aaa_users((root / AAA).read_text()) == {}
    assert os.stat(root / "run/ncs").st_gid == groups["nso"].gid  # the NSO account's alone again


def test_a_membership_made_by_an_administrator_is_neither_recorded_nor_taken(root, sample_dists):
    (root / "etc/group").write_text(GROUP + "ncsipc:x:3000:alice,mallory\n")
    out = install(sample_dists["tar.gz"], root, "--ipc-user", "alice")
    warn = [w for w in out["warnings"] if "ncsipc" in w]
    assert warn and "mallory" in warn[0] and "alice" not in warn[0].split("grant:")[1]
    install(sample_dists["tar.gz"], root, "--no-ipc-user")
    assert set(accounts(root)[1]["ncsipc"].members) == {"alice", "mallory"}


@pytest.mark.parametrize("args, reference", [
    (("--ipc-user", "zed"), "unknown-ipc-user"),
    (("--ipc-group", "nogroup"), "unknown-ipc-group"),
    (("--ipc-user", "Al!ce"), "bad-ipc-user"),
    (("--ipc-user", "root"), "ipc-user-is-root"),
    (("--ipc-user", "alice", "--no-ipc-user"), "conflicting-options"),
    (("--ipc-user", "alice", "--set", "ipc.transport=tcp"), "ipc-grants-need-unix-socket"),
])
def test_bad_grants_exit_2_and_write_nothing(root, sample_dists, args, reference):
    before = snapshot(root)
    r = install(sample_dists["tar.gz"], root, *args, ok=False)
    assert r.exit_code == 2, r.output
    assert json.loads(r.stdout)["error"]["reference"] == reference
    assert "Hint:" in r.stderr
    assert snapshot(root) == before


def test_grants_are_refused_for_a_local_install(tmp_path, sample_dists):
    r = cli("install", sample_dists["tar.gz"], "--local-install", tmp_path / "l", "--ipc-user", "alice", ok=False)
    assert r.exit_code == 2 and "system installs only" in r.stderr and not (tmp_path / "l").exists()


def test_changed_grants_on_an_existing_cdb_say_how_to_apply_them(root, sample_dists):
    install(sample_dists["tar.gz"], root, "--ipc-user", "alice")
    (root / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")  # NSO has started once
    check = install(sample_dists["tar.gz"], root, "--ipc-user", "bob", "--check")
    out = install(sample_dists["tar.gz"], root, "--ipc-user", "bob")
    for result in (check, out):
        note = next(n for n in result["notes"] if "reads it only when it creates CDB" in n)
        assert "aaa authentication users user bob uid 1002 gid 1002 password $6$" in note
        assert "no aaa authentication users user alice" in note and "ncs_load -l -m /var/opt/ncs/cdb/aaa_init.xml" in note
        # the directory does not shut out alice's processes started before (they keep group ncsipc)
        assert "already keeps them out" not in note and "pkill -u alice" in note
        # nor those started later through a program alice made setgid ncsipc while granted
        assert "Removing them is what takes the access back" in note and "find / -xdev -group ncsipc -perm -2000" in note
    # nothing changed about the grants: no note
    assert not any("creates CDB" in n for n in install(sample_dists["tar.gz"], root)["notes"])


def test_the_cdb_note_quotes_a_home_directory_with_a_blank(root, sample_dists):
    """The commands in the note were pasted as they were: `homedir /srv/bob home` is no command
    the NSO CLI takes (a value with a blank is quoted there)."""
    (root / "etc/passwd").write_text(PASSWD.replace("/home/bob", "/srv/bob home"))
    install(sample_dists["tar.gz"], root, "--ipc-user", "alice")
    (root / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    note = next(n for n in install(sample_dists["tar.gz"], root, "--ipc-user", "bob")["notes"] if "creates CDB" in n)
    assert 'user bob uid 1002 gid 1002 password $6$ ssh_keydir "" homedir "/srv/bob home" local_ipc_access true' in note


@pytest.mark.parametrize("text, shown", [("bob", "bob"), ("/home/bob", "/home/bob"), ("", '""'),
                                         ("/srv/a b", '"/srv/a b"'), ('x"y', '"x\\"y"'), ("a\\b", '"a\\\\b"'),
                                         ("a;b", '"a;b"')])
def test_cli_value(text, shown):
    assert cli_value(text) == shown


def test_nacm_groups_on_a_plain_system_install_and_only_ours_are_removed(root, sample_dists):
    out = install(sample_dists["tar.gz"], root)
    _, groups = accounts(root)
    assert "ncsoper" in groups and groups["ncsadmin"].gid == 4242  # created / left as it was
    assert {a["id"] for a in out["actions"] if a["changed"] and a["kind"] == "group"} == {"group:ncsoper"}
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert state["grants"]["created"] == ["group:ncsoper"]
    assert install(sample_dists["tar.gz"], root)["changed"] == 0
    cli("uninstall", "--all", "--accounts", "--root", root)
    _, groups = accounts(root)
    assert "ncsoper" not in groups and groups["ncsadmin"].members == ("mallory",)


def test_a_staging_root_without_account_files_gets_no_groups_and_is_told(tmp_path, sample_dists):
    out = install(sample_dists["tar.gz"], tmp_path / "empty")
    assert not [a for a in out["actions"] if a["kind"] == "group"]
    assert any("NACM groups ncsadmin and ncsoper (aaa_init.xml) were not created" in n for n in out["notes"])


def test_a_socket_directory_no_longer_managed_is_not_left_to_the_withdrawn_account(root, sample_dists):
    """Moving to TCP IPC left /etc/tmpfiles.d/ncs.conf (d /run/ncs 0750 nso nso) and /run/ncs as
    they were; withdrawing the run-as user afterwards then left /run/ncs the old account's, and
    the boot-time entry re-made it for that account at every boot."""
    dist = sample_dists["tar.gz"]
    install(dist, root, "--run-as-user", "nso")
    install(dist, root, "--set", "ipc.transport=tcp")
    assert not (root / "etc/tmpfiles.d/ncs.conf").exists()
    install(dist, root, "--no-run-as-user")
    st = os.stat(root / "run/ncs")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o750)
    assert install(dist, root)["changed"] == 0


def test_the_cdb_note_shell_quotes_the_names_it_takes_from_aaa_init(root, sample_dists):
    """The withdrawn names come from aaa_init.xml, which belongs to the NSO account (its CDB
    directory): a name it put there must not turn the `pkill -u NAME` root is told to run into
    a command of the account's choosing."""
    import shlex

    install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--ipc-user", "alice")
    aaa = root / AAA
    evil = "x;cp /bin/sh /tmp/rootsh;chmod 4755 /tmp/rootsh"
    entry = (f"<user><name>{evil}</name><uid>1004</uid><gid>1004</gid><password>$6$</password><ssh_keydir/>"
             "<homedir>/</homedir><local_ipc_access>true</local_ipc_access></user>")
    aaa.write_text(aaa.read_text().replace("</users>", entry + "</users>"))
    nso = accounts(root)[0]["nso"]
    os.chown(aaa, nso.uid, nso.gid)  # (the account's own file, as NSO leaves it)
    (root / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    out = install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--ipc-user", "bob")
    note = next(n for n in out["notes"] if "creates CDB" in n)
    tail = note.split("so end those too (")[1].rsplit(")", 1)[0]
    commands = [shlex.split(c) for c in tail.split(", ")]
    assert ["pkill", "-u", evil] in commands and all(len(c) == 3 and c[:2] == ["pkill", "-u"] for c in commands)


def test_the_cdb_note_loads_the_new_rendering_when_aaa_init_is_kept_as_edited(root, sample_dists):
    """An edited aaa_init.xml is kept and the grants go to the rendering beside it: the note said
    to `ncs_load -l -m` the kept file, which holds none of them (found by review)."""
    import shlex

    install(sample_dists["tar.gz"], root, "--ipc-user", "alice")
    aaa = root / AAA
    aaa.write_text(aaa.read_text().replace("</users>", "<!-- local --></users>"))  # the administrator's edit
    (root / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    for result in (install(sample_dists["tar.gz"], root, "--ipc-user", "bob", "--check"),
                   install(sample_dists["tar.gz"], root, "--ipc-user", "bob")):
        note = next(n for n in result["notes"] if "creates CDB" in n)
        load = shlex.split(note.split("load the whole file: ")[1].split(",")[0])
        assert load == ["ncs_load", "-l", "-m", "/var/opt/ncs/cdb/aaa_init.xml.new"], note
        assert note.startswith("/var/opt/ncs/cdb/aaa_init.xml was kept as edited, and its new rendering "), note
    assert aaa_users((root / AAA).with_name("aaa_init.xml.new").read_text())["bob"] == (1002, 1002, True)


def test_the_audit_fails_an_entry_whose_uid_another_account_has_now(root, sample_dists):
    """NSO admits by the entry's uid, not its name: alice deleted and made again with another
    uid, and her old uid given to mallory, leaves an aaa_init.xml entry that admits mallory as
    alice.  NSO-IPC-003 compared the entries' names with the grants only, and passed."""
    from nso_install.audit import audit

    install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--ipc-user", "alice")

    def ipc_003():
        return next(f for f in audit(root, cheap=True).findings if f.check.id == "NSO-IPC-003")

    assert ipc_003().status == "pass"
    passwd = root / "etc/passwd"
    passwd.write_text(passwd.read_text().replace("alice:x:1001:", "alice:x:1501:").replace("mallory:x:1004:",
                                                                                          "mallory:x:1001:"))
    f = ipc_003()
    assert f.status == "fail", f
    assert any("admits alice by uid 1001 (mallory now; alice has uid 1501)" in e for e in f.evidence), f.evidence
