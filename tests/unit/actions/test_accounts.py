"""Accounts for --run-as-user (nso_install.actions.accounts): name validation, Group/User checks on recorded passwd/group
files, creation with the shadow tools under --root (useradd --prefix), conflicts reported."""

import os
import shutil

import pytest

from nso_install.actions.accounts import Group, Membership, NoAccount, User, validate_name
from nso_install.errors import ApplyError, NsoInstallError, UsageError
from nso_install.facts import Facts, parse_group, parse_passwd
from nso_install.plan import account_actions
from nso_install.target import Target

from support import ctx_for, run_plan, spec, staged_root, view

needs_root_tools = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd", path="/usr/sbin:/sbin:" + os.environ.get("PATH", "")),
                                      reason="needs root and the shadow tools")

# recorded from Debian 12 after `nso-install ... --run-as-user nso`
PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nso:x:999:997:Cisco NSO:/var/opt/ncs:/usr/sbin/nologin
"""
GROUP = """root:x:0:
daemon:x:1:
ncsadmin:x:999:nso
ncsoper:x:998:
nso:x:997:
"""


@pytest.mark.parametrize("name", ["nso", "_nso", "ncs-admin", "a", "nso_1", "x" * 32])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "1nso", "123", "Nso", "nso user", "nso;rm", "-nso", "x" * 33, "nso.", "ns/o",
                                  "nsö", "nso\n"])
def test_invalid_names_are_refused_clearly(name):
    with pytest.raises(UsageError) as e:
        validate_name(name)
    assert e.value.reference == "bad-user-name"
    assert "portable" in e.value.message


def test_run_as_user_option_validation():
    with pytest.raises(UsageError) as e:
        spec(run_as_user="Bad Name")
    assert e.value.reference == "bad-user-name"
    with pytest.raises(UsageError) as e:
        spec(run_as_user="root")
    assert e.value.reference == "run-as-user-is-root"
    with pytest.raises(UsageError) as e:
        spec(setuid_cmdwrapper=True)
    assert e.value.reference == "setuid-needs-run-as-user"


@pytest.mark.parametrize("name", ["ncsadmin", "ncsoper", "nobody", "users"])
def test_shared_groups_and_accounts_cannot_be_the_run_as_user(name):
    """The run-as user's own group is "only the NSO account": it may execute setuid epam and
    read ncs.crypto_keys/host keys.  ncsadmin/ncsoper are shared NACM groups (every operator
    in ncsoper would get the keys), nobody is shared by unrelated services, and users (gid 100,
    no member listed on a fresh Debian) is the ordinary logins' group: --run-as-user users
    created the account "users" in it."""
    with pytest.raises(UsageError) as e:
        spec(run_as_user=name)
    assert e.value.reference == "reserved-user-name"
    # the spec is the only way to a plan, and its check is validate_name's
    with pytest.raises(UsageError) as e:
        validate_name(name, "user")
    assert e.value.reference == "reserved-user-name"


def test_reserved_names_are_still_valid_group_names():
    assert validate_name("ncsadmin", "group") == "ncsadmin"


def test_parsers_on_recorded_files():
    users = parse_passwd(PASSWD)
    assert users["nso"].uid == 999 and users["nso"].gid == 997 and users["nso"].shell == "/usr/sbin/nologin"
    groups = parse_group(GROUP)
    assert groups["ncsadmin"].members == ("nso",) and groups["nso"].gid == 997


def _check(root, action):
    return action.check(Facts(Target.at(root)), ctx_for(root))


def nso_accounts():
    return account_actions(spec(run_as_user="nso"), view(), "6.5.3")


def test_everything_ok_on_recorded_accounts(tmp_path):
    root = staged_root(tmp_path, PASSWD, GROUP)
    for a in nso_accounts():
        o = _check(root, a)
        assert o.status == "ok", (a.id, o.detail)
        assert o.warning is None


def test_missing_accounts_are_planned(tmp_path):
    root = staged_root(tmp_path)
    outs = [_check(root, a) for a in nso_accounts()]
    assert all(o.changed for o in outs)
    assert "ncsadmin" in outs[-1].detail and "/usr/sbin/nologin" in outs[-1].detail


def test_check_on_empty_root_plans_and_warns_apply_refuses(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    o = _check(root, Group("ncsadmin"))
    assert o.changed and "no /etc/passwd" in o.warning
    with pytest.raises(ApplyError) as e:
        Group("ncsadmin").apply(Facts(Target.at(root)), ctx_for(root), o)
    assert e.value.reference == "no-account-files"


@pytest.mark.skipif(os.geteuid() != 0, reason="stages a system install with an account (root only)")
@pytest.mark.parametrize("missing", ["account-files", "shadow-tools"])
def test_a_run_that_cannot_create_accounts_is_refused_before_it_changes_anything(tmp_path, sample_dists,
                                                                                 monkeypatch, missing):
    """Found at the account actions' turn, the run had begun: its in-progress marker stayed, and
    status spoke of an unfinished run. Now refused first: no state directory, no marker, no tree."""
    from nso_install.actions import accounts
    from support import cli, snapshot

    if missing == "account-files":
        root = tmp_path / "r"
        root.mkdir(mode=0o700)
    else:
        root = staged_root(tmp_path)
        monkeypatch.setattr(accounts, "system_tool", lambda name: None)
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso", ok=False)
    assert r.exit_code == 1
    assert ("has no /etc/passwd or /etc/group" if missing == "account-files" else "is not installed") in r.stderr
    after = snapshot(root)
    assert after.pop(".")[:5] == before.pop(".")[:5] and after == before  # (only the root's mtime moved)


def test_existing_user_with_uid_0_is_an_error(tmp_path):
    root = staged_root(tmp_path, PASSWD.replace("nso:x:999:", "nso:x:0:"), GROUP)
    with pytest.raises(UsageError) as e:
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert e.value.reference == "run-as-user-is-root"


def test_existing_user_sharing_its_uid_with_another_account_is_refused(tmp_path):
    """Another name for the uid is the same account to the kernel: alice (a login account)
    would own NSO's keys and CDB. It was accepted: only uid 0 was looked at."""
    root = staged_root(tmp_path, PASSWD + "alice:x:999:1000:Alice:/home/alice:/bin/bash\n", GROUP + "alice:x:1000:\n")
    with pytest.raises(UsageError) as e:
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert e.value.reference == "run-as-user-shared-uid"
    assert "uid 999" in e.value.message and "alice" in e.value.message


@pytest.mark.parametrize("members", ["", "bob"])
def test_a_group_sharing_the_nso_groups_gid_is_refused(tmp_path, members):
    """initgroups gives the members of any group line with that gid the gid itself: bob, in
    "devs" of nso's gid, could read NSO's keys through the group. It was accepted."""
    root = staged_root(tmp_path, PASSWD, GROUP + f"devs:x:997:{members}\n")
    with pytest.raises(UsageError) as e:
        _check(root, Group("nso", private_to="nso"))
    assert e.value.reference == "shared-nso-group"
    assert "gid 997" in e.value.message and "devs" in e.value.message
    assert ("(member(s): bob)" in e.value.message) == bool(members)


def test_a_package_system_group_that_grants_host_wide_access_cannot_be_the_nso_group(tmp_path):
    """--run-as-user ssl-cert on Debian (the group exists, gid 103, no member; no such user):
    nso-install created the user ssl-cert in it, and NSO could read every key in
    /etc/ssl/private. Only groups below gid 100 and the listed names were refused."""
    root = staged_root(tmp_path, PASSWD, GROUP + "ssl-cert:x:103:\n")
    with pytest.raises(UsageError) as e:
        _check(root, Group("ssl-cert", private_to="ssl-cert"))
    assert e.value.reference == "privileged-nso-group" and "gid 103" in e.value.message


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns the home to other uids")
@pytest.mark.parametrize("case", ["owned by alice", "world-writable", "group-writable", "parent alice's"])
def test_existing_user_whose_home_another_account_can_change_is_refused(tmp_path, case):
    """NSO runs with HOME from /etc/passwd (systemd's User=, runuser): an existing nso whose home
    alice owns or anyone may write let her put there what NSO's programs read from their home
    (Python's ~/.local site-packages). It was a warning about the path at most ("left as is")."""
    passwd = PASSWD.replace(":/var/opt/ncs:", ":/srv/home/nso:") + "alice:x:1000:1000::/home/alice:/bin/bash\n"
    root = staged_root(tmp_path, passwd, GROUP + "alice:x:1000:\n")
    home = root / "srv/home/nso"
    home.mkdir(parents=True)
    os.chmod(root / "srv/home", 0o755)
    os.chown(home, 999, 997)
    os.chmod(home, 0o750)
    user = User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",))
    assert "/srv/home/nso" in _check(root, user).warning  # its own, root's above: only the path is said
    os.chmod(home, 0o770)  # its own private group may write it
    assert _check(root, user).status == "ok"
    if case == "owned by alice":
        os.chown(home, 1000, 1000)
    elif case == "world-writable":
        os.chmod(home, 0o777)
    elif case == "group-writable":
        os.chown(home, 999, 1000)
    else:
        os.chown(root / "srv/home", 1000, 1000)
    with pytest.raises(UsageError) as e:
        _check(root, user)
    assert e.value.reference == "run-as-user-foreign-home"
    assert {"owned by alice": "/srv/home/nso belongs to alice", "world-writable": "/srv/home/nso is writable by others",
            "group-writable": "/srv/home/nso is writable by group alice",
            "parent alice's": "/srv/home belongs to alice"}[case] in e.value.message
    assert f"usermod --prefix {root} -d /var/opt/ncs nso" in e.value.hint


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns the home to other uids")
def test_a_home_that_is_run_dir_is_repaired_not_refused_unless_a_stranger_owns_it(tmp_path):
    """RUN_DIR is the account's home, and the plan sets its owner and mode: made writable by
    all (by NSO's account itself), it is a warning to review what is in it, and repaired below;
    owned by another account than the one it is handed over from, it is refused as any home."""
    passwd = PASSWD + "alice:x:1000:1000::/home/alice:/bin/bash\nold:x:1001:1001::/x:/usr/sbin/nologin\n"
    root = staged_root(tmp_path, passwd, GROUP + "alice:x:1000:\nold:x:1001:\n")
    home = root / "var/opt/ncs"
    home.mkdir(parents=True)
    os.chown(home, 999, 997)
    os.chmod(home, 0o777)
    user = User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",))
    o = _check(root, user)
    assert o.status == "ok" and "/var/opt/ncs, the home of nso, is writable by others" in o.warning
    os.chown(home, 1001, 1001)
    os.chmod(home, 0o750)
    with pytest.raises(UsageError, match="belongs to old"):
        _check(root, user)
    assert _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",),
                             handed_from=("old",))).status == "ok"
    os.chown(home, 1000, 1000)
    with pytest.raises(UsageError, match="belongs to alice"):
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",), handed_from=("old",)))
    os.chown(home, 4242, 4242)  # a deleted account's bare uid: taken over when the plan says so
    assert _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",),
                             orphans=True)).status == "ok"


def test_a_home_below_a_sticky_directory_is_judged_by_itself(tmp_path):
    passwd = PASSWD.replace(":/var/opt/ncs:", ":/tmp/nso:")
    root = staged_root(tmp_path, passwd, GROUP)
    (root / "tmp").mkdir(mode=0o777)
    os.chmod(root / "tmp", 0o1777)
    user = User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",))
    assert _check(root, user).status == "ok"  # (absent: nothing to judge)
    (root / "tmp/nso").mkdir(mode=0o700)
    os.chown(root / "tmp/nso", 999, 997) if os.geteuid() == 0 else None
    assert _check(root, user).status == "ok"


@pytest.mark.parametrize("field, said", [("$6$salt$hash", "a password"), ("", "an empty password (none is asked)"),
                                         ("!", None), ("!$6$salt$hash", None), ("*", None)])
def test_existing_user_with_a_usable_password_is_warned(tmp_path, field, said):
    """nso-install audit fails the account NSO runs as when it can be logged in to (NSO-USER-001);
    the install, which adopted it, said nothing."""
    root = staged_root(tmp_path, PASSWD, GROUP)
    (root / "etc/shadow").write_text(f"root:*:19000:0:99999:7:::\nnso:{field}:19000:0:99999:7:::\n")
    o = _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert o.status == "ok"
    if said is None:
        assert o.warning is None
    else:
        assert f"user nso exists with {said} in /etc/shadow" in o.warning
        assert f"usermod --prefix {root} -L nso" in o.warning and "salt" not in o.warning and "hash" not in o.warning


def test_existing_user_with_login_shell_and_other_home_is_warned_not_changed(tmp_path):
    passwd = PASSWD.replace("/var/opt/ncs:/usr/sbin/nologin", "/home/nso:/bin/bash")
    root = staged_root(tmp_path, passwd, GROUP)
    o = _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert o.status == "ok"
    assert "/bin/bash" in o.warning and "/home/nso" in o.warning


def test_other_members_of_the_private_group_are_refused(tmp_path):
    """Members of the NSO account's group could run its setuid binaries and read its keys."""
    root = staged_root(tmp_path, PASSWD, GROUP.replace("nso:x:997:", "nso:x:997:mallory"))
    with pytest.raises(UsageError) as e:
        _check(root, Group("nso", private_to="nso"))
    assert e.value.reference == "shared-nso-group" and "mallory" in e.value.message


def test_existing_user_with_primary_group_root_is_refused(tmp_path):
    root = staged_root(tmp_path, PASSWD.replace("nso:x:999:997:", "nso:x:999:0:"), GROUP)
    with pytest.raises(UsageError) as e:
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert e.value.reference == "run-as-user-root-group"


@pytest.mark.parametrize("own_group", [True, False])
def test_existing_user_whose_primary_group_is_not_its_own_is_refused(tmp_path, own_group):
    """An existing system account in nogroup (Debian's _apt, sshd) was adopted: nso-install made
    it a group of its name as a supplementary one and chowned NSO's files USER:USER, while
    runuser (SysV script) and su (logrotate) ran NSO in nogroup, nobody's group, and the audit
    failed the keys' group."""
    passwd = PASSWD + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    passwd = passwd.replace("nso:x:999:997:", "nso:x:999:65534:")
    group = GROUP + "nogroup:x:65534:\n"
    root = staged_root(tmp_path, passwd, group if own_group else group.replace("nso:x:997:\n", ""))
    with pytest.raises(UsageError) as e:
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert e.value.reference == "run-as-user-foreign-group"
    assert "primary group nogroup (gid 65534)" in e.value.message and "nobody" in e.value.message
    # (aimed at the staging root, as nso-install runs the shadow tools: bare, they change the host's accounts)
    prefix = f" --prefix {root}"
    assert f"{'' if own_group else f'groupadd{prefix} --system nso && '}usermod{prefix} -g nso nso" in e.value.hint


@pytest.mark.skipif(os.geteuid() != 0, reason="stages a system install with an account (root only)")
def test_an_account_in_another_primary_group_is_refused_before_anything_changes(tmp_path, sample_dists):
    from support import cli, snapshot

    passwd = PASSWD.replace("nso:x:999:997:", "nso:x:999:100:")
    root = staged_root(tmp_path, passwd, GROUP + "users:x:100:alice\n")
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso",
            "--init-system", "sysv", ok=False)
    assert r.exit_code != 0 and "primary group users (gid 100)" in r.stderr and "alice" in r.stderr
    after = snapshot(root)
    assert after.pop(".")[:5] == before.pop(".")[:5] and after == before


def test_missing_membership_is_a_change(tmp_path):
    root = staged_root(tmp_path, PASSWD, GROUP.replace("ncsadmin:x:999:nso", "ncsadmin:x:999:"))
    o = _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert o.changed and "ncsadmin" in o.detail


@needs_root_tools
def test_created_once_under_root_prefix_then_ok(tmp_path):
    root = staged_root(tmp_path)
    plan = nso_accounts()
    first = run_plan(plan, root)
    assert first.changes == 4
    users = parse_passwd((root / "etc/passwd").read_text())
    groups = parse_group((root / "etc/group").read_text())
    nso = users["nso"]
    assert nso.uid != 0 and nso.shell == "/usr/sbin/nologin" and nso.home == "/var/opt/ncs"
    assert nso.gid == groups["nso"].gid
    assert "nso" in groups["ncsadmin"].members and "nso" not in groups["ncsoper"].members
    assert not (root / "var/opt/ncs").exists()  # no home directory created
    second = run_plan(plan, root)
    assert second.changes == 0


@needs_root_tools
def test_membership_added_to_existing_user(tmp_path):
    root = staged_root(tmp_path, PASSWD, GROUP.replace("ncsadmin:x:999:nso", "ncsadmin:x:999:"))
    rep = run_plan(nso_accounts(), root)
    assert rep.changes == 1
    assert "nso" in parse_group((root / "etc/group").read_text())["ncsadmin"].members
    assert parse_passwd((root / "etc/passwd").read_text())["nso"].uid == 999  # not recreated


@needs_root_tools
@pytest.mark.parametrize("bad", ["group-writable-etc", "etc-is-a-link"])
def test_unsafe_staging_root_refused_before_useradd(tmp_path, bad):
    """useradd --prefix follows ROOT/etc by path: a redirectable staging root is refused."""
    root = staged_root(tmp_path)
    host_etc_copy = tmp_path / "elsewhere"
    if bad == "group-writable-etc":
        os.chmod(root / "etc", 0o775)
    else:
        (root / "etc").rename(host_etc_copy)
        os.symlink(host_etc_copy, root / "etc")
    before = (host_etc_copy / "passwd").read_text() if bad == "etc-is-a-link" else None
    with pytest.raises(NsoInstallError) as e:
        run_plan(nso_accounts(), root)
    # a link out of the root is refused when the target's files are read, before any tool runs
    assert e.value.reference == ("unsafe-staging-root" if bad == "group-writable-etc" else "no-account-files")
    if before is not None:
        assert (host_etc_copy / "passwd").read_text() == before


@needs_root_tools
def test_memberships_added_are_reported_and_withdrawn(tmp_path):
    """Effects carry the memberships nso-install added (the run records them), so a later spec
    can take exactly those back with a Membership action."""
    root = staged_root(tmp_path)
    user = User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",))
    run_plan(nso_accounts()[:-1], root)  # the groups
    facts = Facts(Target.at(root))
    effects = user.apply(facts, ctx_for(root), user.check(facts, ctx_for(root)))
    assert effects.memberships_added == {("nso", "ncsadmin")}
    withdraw = Membership("nso", "ncsadmin")
    assert withdraw.path == "nso@ncsadmin" and _check(root, withdraw).changed
    facts = Facts(Target.at(root))
    effects = withdraw.apply(facts, ctx_for(root), withdraw.check(facts, ctx_for(root)))
    assert effects.memberships_removed == {("nso", "ncsadmin")}
    assert "nso" not in parse_group((root / "etc/group").read_text())["ncsadmin"].members
    assert not _check(root, withdraw).changed
    assert parse_passwd((root / "etc/passwd").read_text())["nso"].gid == parse_group(
        (root / "etc/group").read_text())["nso"].gid  # the primary group is not a membership to withdraw


# --- uninstall: NoAccount ------------------------------------------------------------------

def test_a_group_counts_its_members_without_those_the_plan_removes_first(tmp_path):
    """--check sees the accounts before anything is removed: a group whose only member is the
    user the same plan deletes (or a membership it withdraws) is predicted deleted, as the run
    deletes it, not "kept: still has member(s) nso"."""
    root = staged_root(tmp_path, PASSWD + "bob:x:1000:1000::/home/bob:/bin/sh\n",
                       GROUP.replace("ncsoper:x:998:", "ncsoper:x:998:bob") + "bob:x:1000:\n")
    assert not _check(root, NoAccount("group:ncsadmin")).changed  # nothing removed before it: kept
    for group, leaving in (("ncsadmin", ("nso",)), ("nso", ("nso",)), ("ncsoper", ("bob@ncsoper",))):
        o = _check(root, NoAccount(f"group:{group}", leaving=leaving))
        assert o.changed and o.detail == f"delete group {group}", (group, o.detail)
    # a withdrawn membership leaves only its own group, and only its member list
    o = _check(root, NoAccount("group:ncsoper", leaving=("bob@ncsadmin",)))
    assert not o.changed and "bob" in o.detail
    o = _check(root, NoAccount("group:bob", leaving=("bob@bob",)))
    assert not o.changed and "still has member(s) bob" in o.detail


def test_a_user_whose_deletion_takes_its_group_says_so_and_the_group_is_left_to_it(tmp_path):
    """With USERGROUPS_ENAB yes in the target's login.defs, userdel deletes the user's own
    group: --check says so on the user, and does not count the group a second time."""
    root = staged_root(tmp_path, PASSWD, GROUP)
    (root / "etc/login.defs").write_text("# defaults\nUSERGROUPS_ENAB no\nUSERGROUPS_ENAB Yes\n")
    user = _check(root, NoAccount("user:nso"))
    assert user.changed and "and its group nso" in user.detail
    group = _check(root, NoAccount("group:nso", leaving=("nso",)))
    assert not group.changed and "goes with user nso" in group.detail
    (root / "etc/login.defs").write_text("USERGROUPS_ENAB no\n")
    assert "its group" not in _check(root, NoAccount("user:nso")).detail
    assert _check(root, NoAccount("group:nso", leaving=("nso",))).changed


@pytest.mark.parametrize("kind", ["group", "user"])
def test_an_account_only_the_name_service_has_is_refused_before_the_run(tmp_path, monkeypatch, kind):
    """ncsadmin in LDAP (or the run-as user): groupadd/useradd look names up through NSS and
    exited 9 ("already exists") at their turn, the run begun; nso-install's checks read only
    /etc/group and /etc/passwd, so it planned the creation.  Now --check and the run refuse it
    first, naming where it comes from.  A staging root is not asked (useradd --prefix reads its
    files only)."""
    import grp
    import pwd
    from collections import namedtuple

    from nso_install.actions.base import Context

    name = "zz-nss-only-nso"
    host = Facts(Target.at(None))
    assert name not in host.accounts.users and name not in host.accounts.groups  # the host's own files lack it
    entry = namedtuple("entry", "pw_uid gr_gid")(60123, 60200)
    real_pw, real_gr = pwd.getpwnam, grp.getgrnam
    monkeypatch.setattr(pwd, "getpwnam", lambda n: entry if n == name else real_pw(n))
    monkeypatch.setattr(grp, "getgrnam", lambda n: entry if n == name else real_gr(n))
    action = Group(name) if kind == "group" else User(name, group=name, home="/var/opt/ncs", groups=("ncsadmin",))
    with pytest.raises(UsageError) as e:
        action.check(host, Context(Target.at(None)))
    assert e.value.reference == f"{kind}-from-name-service"
    assert "name service" in e.value.message and ("gid 60200" if kind == "group" else "uid 60123") in e.value.message
    root = staged_root(tmp_path)
    assert _check(root, action).changed  # the staged files decide there


def test_a_name_given_twice_is_its_first_line_as_for_libc(tmp_path):
    """getpwnam, runuser and useradd take a name's first line; the parser took its last, so a
    "nso" with uid 0 above an ordinary nso was adopted as uid 999, and the SysV script's runuser
    -u nso would start NSO as root."""
    passwd = PASSWD.replace("daemon:", "nso:x:0:0:twin:/root:/usr/sbin/nologin\ndaemon:", 1)
    group = GROUP.replace("nso:x:997:", "nso:x:0:\nnso:x:997:")
    assert parse_passwd(passwd)["nso"].uid == 0 and parse_group(group)["nso"].gid == 0
    root = staged_root(tmp_path, passwd, group)
    with pytest.raises(UsageError) as e:
        _check(root, User("nso", group="nso", home="/var/opt/ncs", groups=("ncsadmin",)))
    assert e.value.reference == "run-as-user-is-root"
