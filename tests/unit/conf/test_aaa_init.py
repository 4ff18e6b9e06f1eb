"""aaa_init.xml: rendered with IPC grants and checked against the tailf-aaa/NACM structure."""

from __future__ import annotations

import pytest

from nso_install.access import IpcGrant
from nso_install.conf.aaa import aaa_users, render_aaa_init, validate_aaa_init
from nso_install.errors import NsoInstallError

ALICE = IpcGrant("alice", 1001, 1001, "/home/alice", "--ipc-user")
BOB = IpcGrant("bob", 1002, 100, "/home/bob", "group ops")


def text(*grants) -> str:
    return render_aaa_init(grants).decode()


def test_without_grants_no_users_and_the_earlier_header():
    t = text()
    assert "<users/>" in t and validate_aaa_init(t) == [] and aaa_users(t) == {}
    assert t.startswith("<!-- Initial AAA and NACM data for Cisco NSO; written by nso-install.\n     No local users")


def test_grants_give_one_tailf_aaa_user_each_in_the_vendors_form():
    t = text(ALICE, BOB)
    assert validate_aaa_init(t) == []
    assert aaa_users(t) == {"alice": (1001, 1001, True), "bob": (1002, 100, True)}
    entry = t[t.index("<user>"):t.index("</user>") + 7]
    assert entry.split() == ["<user>", "<name>alice</name>", "<uid>1001</uid>", "<gid>1001</gid>",
                             "<password>$6$</password>", "<ssh_keydir></ssh_keydir>",
                             "<homedir>/home/alice</homedir>", "<local_ipc_access>true</local_ipc_access>", "</user>"]


def test_values_are_escaped():
    t = text(IpcGrant("a&b", 1003, 1003, "/home/<x>&", "--ipc-user"))
    assert "<name>a&amp;b</name>" in t and "<homedir>/home/&lt;x&gt;&amp;</homedir>" in t
    assert validate_aaa_init(t) == [] and "a&b" in aaa_users(t)


def test_two_grants_with_one_uid_are_refused_at_rendering():
    with pytest.raises(NsoInstallError) as e:
        render_aaa_init([ALICE, IpcGrant("alias", 1001, 1001, "/home/alice", "--ipc-user")])
    assert e.value.reference == "invalid-aaa-init" and "share uid 1001" in e.value.message


def _user(**leaves) -> str:
    base = {"name": "alice", "uid": "1001", "gid": "1001", "password": "$6$", "ssh_keydir": "",
            "homedir": "/home/alice", "local_ipc_access": "true"}
    base.update(leaves)
    body = "".join(f"<{k}>{v}</{k}>" for k, v in base.items() if v is not None)
    return (f'<config xmlns="http://tail-f.com/ns/config/1.0"><aaa xmlns="http://tail-f.com/ns/aaa/1.1">'
            f"<authentication><users><user>{body}</user></users></authentication></aaa></config>")


@pytest.mark.parametrize("doc, problem", [
    (_user(), None),
    (_user(local_ipc_access=None), None),  # optional
    (_user(uid=None), "/aaa/authentication/users/user/uid: mandatory element missing"),
    (_user(password=None), "password: mandatory element missing"),
    (_user(homedir=None), "homedir: mandatory element missing"),
    (_user(uid="abc"), "'abc' is not an int32"),
    (_user(gid="2147483648"), "is not an int32"),
    (_user(local_ipc_access="yes"), "'yes' is not a boolean"),
    (_user(password="$0$secret"), "clear-text password"),
    (_user(password="plain"), "not a crypt-hash value"),
    (_user(shell="/bin/sh"), "/aaa/authentication/users/user/shell: unknown element"),
    (_user().replace("<uid>1001</uid>", "<uid>1001</uid><uid>1002</uid>"), "uid: appears more than once"),
    (_user().replace("</user></users>", "</user><user><name>alice</name><uid>7</uid><gid>7</gid><password>$6$"
                     "</password><ssh_keydir/><homedir>/</homedir></user></users>"), "two entries with the key name"),
    (_user().replace("</user></users>", "</user><user><name>al</name><uid>1001</uid><gid>7</gid><password>$6$"
                     "</password><ssh_keydir/><homedir>/</homedir></user></users>"), "share uid 1001"),
    (_user().replace('xmlns="http://tail-f.com/ns/aaa/1.1"', 'xmlns="urn:other"'), "expected 'http://tail-f.com"),
    (_user().replace("http://tail-f.com/ns/config/1.0", "urn:x"), "expected <config>"),
    ('<!DOCTYPE x [<!ENTITY a "b">]><config xmlns="http://tail-f.com/ns/config/1.0"/>', "DOCTYPE"),
    ("<config", "not well-formed"),
])
def test_the_validator_knows_the_tailf_aaa_user_list(doc, problem):
    problems = validate_aaa_init(doc)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("change, problem", [
    ("<action>permit</action>", None),
    ("<action>allow</action>", "'allow' is not one of permit, deny"),
    ("<access-operations>read write</access-operations><action>permit</action>", "is not '*' or a set"),
    ("<access-operations>create read</access-operations><action>permit</action>", None),
    ("", "action: mandatory element missing"),
])
def test_the_validator_knows_nacm_rules(change, problem):
    doc = ('<config xmlns="http://tail-f.com/ns/config/1.0"><nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">'
           "<read-default>deny</read-default><groups><group><name>ncsadmin</name><user-name>a</user-name>"
           '<gid xmlns="http://tail-f.com/yang/acm">99</gid></group></groups>'
           f"<rule-list><name>r</name><group>ncsadmin</group><rule><name>x</name>{change}</rule>"
           '<cmdrule xmlns="http://tail-f.com/yang/acm"><name>c</name><command>show</command><action>permit</action>'
           "</cmdrule></rule-list></nacm></config>")
    problems = validate_aaa_init(doc)
    assert problems == [] if problem is None else any(problem in p for p in problems), problems


def test_a_cmdrule_outside_the_tailf_acm_namespace_is_refused():
    doc = text().replace('<cmdrule xmlns="http://tail-f.com/yang/acm">', "<cmdrule>", 1)
    assert any("cmdrule: in namespace" in p for p in validate_aaa_init(doc))


def test_aaa_users_of_unusable_text_is_none():
    assert aaa_users("<config") is None
    assert aaa_users('<!DOCTYPE x><config xmlns="http://tail-f.com/ns/config/1.0"/>') is None
