"""IPC grants, NACM groups and the socket directory, planned purely (spec + target view in,
actions out): who may use NSO's Unix IPC socket besides root and NSO's own account."""

from __future__ import annotations

import pytest
from support import FakeDist, spec, view

from nso_install.access import resolve_ipc
from nso_install.actions.accounts import Group, Membership
from nso_install.actions.files import ConfFile, Directory
from nso_install.conf.aaa import aaa_users, validate_aaa_init
from nso_install.errors import NsoInstallError, UsageError
from nso_install.facts import Accounts, parse_group, parse_passwd
from nso_install.plan import build_plan
from nso_install.spec import SpecInput, resolve

PASSWD = """root:x:0:0:root:/root:/bin/bash
toor:x:0:0:root alias:/root:/bin/sh
nso:x:990:990:Cisco NSO:/var/opt/ncs:/usr/sbin/nologin
alice:x:1001:1001:Alice:/home/alice:/bin/bash
bob:x:1002:1002::/home/bob:/bin/bash
carol:x:1003:2000::/home/carol:/bin/bash
mallory:x:1004:1004::/home/mallory:/bin/bash
nohome:x:1005:1005::relative:/bin/bash
alias:x:1001:1001::/home/alice:/bin/bash
"""
GROUP = """root:x:0:
nso:x:990:
ncsadmin:x:995:nso,alice
ncsoper:x:994:
alice:x:1001:
bob:x:1002:
ops:x:2000:bob,ghost,nso,toor,nohome
empty:x:2001:
"""
ACCOUNTS = Accounts(parse_passwd(PASSWD), parse_group(GROUP))
AAA = "/var/opt/ncs/cdb/aaa_init.xml"


def target(**kw):
    return view(accounts=ACCOUNTS, accounts_editable=True, **kw)


def by_path(plan, kind):
    return {a.path: a for a in plan if isinstance(a, kind)}


def granted(plan) -> dict:
    return aaa_users(by_path(plan, ConfFile)[AAA].content.decode())


def grant(users="", groups="", **kw):
    values = {k: v for k, v in (("ipc.users", users), ("ipc.groups", groups)) if v}
    return spec(values=values, **kw)


def test_grants_become_aaa_init_entries_with_uid_gid_from_the_target():
    plan = build_plan(grant("alice", "ops", run_as_user="nso"), FakeDist(), target())
    # ops: bob (supplementary), carol (primary group); nso (NSO's own account) and toor (uid 0)
    # are admitted without an entry; ghost has no passwd entry, nohome no absolute home
    assert granted(plan) == {"alice": (1001, 1001, True), "bob": (1002, 1002, True), "carol": (1003, 2000, True)}
    text = by_path(plan, ConfFile)[AAA].content.decode()
    assert validate_aaa_init(text) == []
    assert "<password>$6$</password>" in text and "<homedir>/home/carol</homedir>" in text
    assert "IPC access for alice, bob, carol" in by_path(plan, ConfFile)[AAA].reason


def test_the_socket_directory_lets_exactly_the_granted_accounts_through():
    plan = build_plan(grant("alice", "ops", run_as_user="nso"), FakeDist(), target())
    d = by_path(plan, Directory)["/run/ncs"]
    assert (d.attrs.mode, d.attrs.owner, d.attrs.group) == (0o750, "nso", "ncsipc")
    assert by_path(plan, ConfFile)["/etc/tmpfiles.d/ncs.conf"].content.decode().splitlines()[-1] == \
        "d /run/ncs 0750 nso ncsipc -"
    ipc_group = by_path(plan, Group)["ncsipc"]
    assert ipc_group.members == ("alice", "bob", "carol")
    adds = [(a.user, a.group) for a in plan if isinstance(a, Membership) and a.present]
    assert adds == [("alice", "ncsipc"), ("bob", "ncsipc"), ("carol", "ncsipc")]
    # the group comes before the memberships and the directory that need it
    ids = [a.id for a in plan]
    assert ids.index("group:ncsipc") < ids.index("membership:alice@ncsipc") < ids.index("directory:/run/ncs")


@pytest.mark.parametrize("user, owner", [("nso", "nso"), (None, "root")])
def test_without_grants_only_root_and_the_nso_account_enter(user, owner):
    plan = build_plan(spec(run_as_user=user), FakeDist(), target())
    d = by_path(plan, Directory)["/run/ncs"]
    assert (d.attrs.mode, d.attrs.owner, d.attrs.group) == (0o750, owner, owner)
    assert "ncsipc" not in by_path(plan, Group)
    assert not [a for a in plan if isinstance(a, Membership)]
    assert granted(plan) == {}


def test_a_withdrawn_grant_takes_back_the_membership_it_added():
    v = target(memberships=frozenset({("alice", "ncsipc"), ("bob", "ncsipc")}))
    plan = build_plan(grant("bob", run_as_user="nso"), FakeDist(), v)
    assert [(a.user, a.group, a.present) for a in plan if isinstance(a, Membership)] == [
        ("alice", "ncsipc", False), ("bob", "ncsipc", True)]
    assert granted(plan) == {"bob": (1002, 1002, True)}
    # all grants gone: the directory is the NSO account's alone again
    plan = build_plan(spec(run_as_user="nso"), FakeDist(), v)
    assert {(a.user, a.present) for a in plan if isinstance(a, Membership)} == {("alice", False), ("bob", False)}
    assert by_path(plan, Directory)["/run/ncs"].attrs.group == "nso"


def test_nacm_groups_on_every_system_install_that_may_change_accounts():
    plain = build_plan(spec(), FakeDist(), target())
    assert {"ncsadmin", "ncsoper"} <= set(by_path(plain, Group))
    assert "nso" not in by_path(plain, Group)
    # a target without account files (an empty staging root) or staged by an ordinary user
    assert not by_path(build_plan(spec(), FakeDist(), view()), Group)
    # with a run-as user they are always planned (applying needs the account files anyway)
    assert {"ncsadmin", "ncsoper", "nso"} <= set(by_path(build_plan(spec(run_as_user="nso"), FakeDist(), view()),
                                                         Group))
    assert not [a for a in build_plan(spec(local_dir="/tmp/l"), FakeDist()) if isinstance(a, Group)]


@pytest.mark.parametrize("kw, reference", [
    (dict(users="zed"), "unknown-ipc-user"),
    (dict(groups="nogroup"), "unknown-ipc-group"),
    (dict(users="toor"), "unusable-ipc-user"),  # uid 0 under another name
    (dict(users="nohome"), "unusable-ipc-user"),
    (dict(users="alice,alias"), "duplicate-ipc-uid"),
    (dict(users="alice", groups="ncsadmin", run_as_user="nso", values_extra={"ipc.transport": "tcp"}),
     "ipc-grants-need-unix-socket"),
])
def test_bad_grants_are_usage_errors_naming_the_account(kw, reference):
    extra = kw.pop("values_extra", {})
    s = spec(values={**{k: v for k, v in (("ipc.users", kw.pop("users", "")),
                                          ("ipc.groups", kw.pop("groups", ""))) if v}, **extra}, **kw)
    with pytest.raises(UsageError) as e:
        build_plan(s, FakeDist(), target())
    assert e.value.reference == reference and e.value.hint
    assert e.value.exit_code == 2


def test_nso_before_6_4_has_no_unix_socket_for_grants():
    with pytest.raises(UsageError, match="TCP IPC") as e:
        build_plan(grant("alice"), FakeDist("6.3.2"), target())
    assert e.value.reference == "ipc-grants-need-unix-socket"


def test_grants_need_an_account_database_nso_install_may_change():
    with pytest.raises(UsageError) as e:
        build_plan(grant("alice"), FakeDist(), view(accounts=ACCOUNTS, accounts_editable=False))
    assert e.value.reference == "ipc-grants-need-accounts"


def test_a_group_without_grantable_members_is_said():
    ipc = resolve_ipc(grant("alice", "empty,ops", run_as_user="nso"), ACCOUNTS, "unix", "/run/ncs")
    assert [g.name for g in ipc.grants] == ["alice", "bob", "carol"]
    assert "group empty has no member to grant" in ipc.left_out
    assert any(x.startswith("ghost (member of ops): not in the target's /etc/passwd") for x in ipc.left_out)
    assert any(x.startswith("nohome (member of ops)") for x in ipc.left_out)
    assert {g.name: g.via for g in ipc.grants} == {"alice": "--ipc-user", "bob": "group ops", "carol": "group ops"}


def test_a_socket_path_of_the_operators_own_gets_the_entries_but_no_directory():
    plan = build_plan(spec(values={"ipc.users": "alice", "ipc.path": "/srv/nso/ipc"}), FakeDist(), target())
    assert granted(plan) == {"alice": (1001, 1001, True)}
    assert "/run/ncs" not in by_path(plan, Directory) and "ncsipc" not in by_path(plan, Group)


# --- the spec: given, remembered, withdrawn ------------------------------------------------------

def given(**kw) -> SpecInput:
    return SpecInput(kind="system", **kw)


def test_flags_values_files_and_set_give_the_same_canonical_spec(tmp_path):
    toml, yaml = tmp_path / "v.toml", tmp_path / "v.yaml"
    toml.write_text('[ipc]\nusers = ["bob", "alice"]\ngroups = ["ops"]\n')
    yaml.write_text("ipc:\n  users: [alice, bob, alice]\n  groups: ops\n")
    specs = [resolve(given(grants={"ipc.users": (("bob", "alice"), "--ipc-user"),
                                   "ipc.groups": (("ops",), "--ipc-group")})).spec,
             resolve(given(values_files=[toml])).spec, resolve(given(values_files=[yaml])).spec,
             resolve(given(sets=["ipc.users=alice,bob", "ipc.groups=ops"])).spec]
    assert {s.values for s in specs} == {(("ipc.groups", "ops"), ("ipc.users", "alice,bob"))}
    assert specs[0].ipc_users == ("alice", "bob") and specs[0].ipc_groups == ("ops",)
    settings = {s.name: s for s in resolve(given(grants={"ipc.users": (("alice",), "--ipc-user")})).settings}
    assert (settings["ipc.users"].value, settings["ipc.users"].source) == ("alice", "--ipc-user")


def test_grants_are_remembered_replaced_and_withdrawn():
    first = resolve(given(grants={"ipc.users": (("alice", "bob"), "--ipc-user")})).spec
    recorded = first.record()
    assert recorded["values"]["ipc.users"] == "alice,bob"
    again = resolve(given(), recorded)
    assert again.spec.ipc_users == ("alice", "bob") and not again.changes  # not given: kept
    replaced = resolve(given(grants={"ipc.users": (("carol",), "--ipc-user")}), recorded)
    assert replaced.spec.ipc_users == ("carol",)
    assert [(c.name, c.previous, c.value) for c in replaced.changes] == [("ipc.users", "alice,bob", "carol")]
    withdrawn = resolve(given(grants={"ipc.users": ((), "--no-ipc-user")}), recorded)
    assert withdrawn.spec.ipc_users == () and [(c.name, c.value, c.source) for c in withdrawn.changes] == [
        ("ipc.users", "(none)", "--no-ipc-user")]
    assert resolve(given(unsets=["ipc.users"]), recorded).spec.ipc_users == ()
    assert resolve(given(reset=True), recorded).spec.ipc_users == ()  # a grant, not hardening: no words needed


@pytest.mark.parametrize("kw, reference", [
    (dict(grants={"ipc.users": (("root",), "--ipc-user")}), "ipc-user-is-root"),
    (dict(grants={"ipc.users": (("nso",), "--ipc-user")}, options={"run_as_user": "nso"}), "ipc-user-is-run-as-user"),
    (dict(grants={"ipc.users": (("Al!ce",), "--ipc-user")}), "bad-ipc-user"),
    (dict(grants={"ipc.groups": (("-x",), "--ipc-group")}), "bad-ipc-group"),
    (dict(sets=["ipc.users=a b;c"]), "bad-value"),
    (dict(sets=["ipc.groups=${OPS}"]), "bad-value"),
])
def test_bad_grant_options_are_refused_before_anything_is_planned(kw, reference):
    with pytest.raises(NsoInstallError) as e:
        resolve(given(**kw))
    assert e.value.reference == reference


def test_grants_are_for_system_installs_only():
    with pytest.raises(UsageError) as e:
        resolve(SpecInput(kind="local", local_dir="/tmp/l", grants={"ipc.users": (("alice",), "--ipc-user")}))
    assert e.value.reference == "system-only-option"
