"""Planning is pure: spec + what the target holds in, actions out (no target file system)."""

from __future__ import annotations

import pytest
from support import FakeDist, spec, view

from nso_install.actions.accounts import Membership, User
from nso_install.actions.files import ConfFile, Directory, Leftovers, Reown, Symlink
from nso_install.actions.keys import KeyPair, SecretFile
from nso_install.actions.privileges import Capability, Setuid
from nso_install.actions.tree import InstallTree
from nso_install.plan import build_plan, config_version


def by_path(plan, kind=None):
    return {a.path: a for a in plan if kind is None or isinstance(a, kind)}


def conf_text(plan, path="/etc/ncs/ncs.conf") -> bytes:
    return by_path(plan, ConfFile)[path].content


def test_first_install_renders_config_for_its_own_version():
    plan = build_plan(spec(), FakeDist("6.5.3"))
    assert by_path(plan, InstallTree)["/opt/ncs/ncs-6.5.3"]
    assert b"system install, NSO 6.5.3." in conf_text(plan)
    assert "NSO 6.5.3" in by_path(plan, ConfFile)["/etc/ncs/ncs.conf"].reason


def test_an_inactive_version_gets_its_tree_and_config_stays_with_the_active_one():
    v = view(active_version="6.4.1", trees=(("/opt/ncs/ncs-6.4.1", "6.4.1"),))
    plan = build_plan(spec(), FakeDist("6.5.3"), v)
    assert config_version(spec(), "6.5.3", v) == "6.4.1"
    assert "/opt/ncs/ncs-6.5.3" in by_path(plan, InstallTree)
    assert by_path(plan, Symlink)["/opt/ncs/current"].switch is False
    # every file outside ncs-6.5.3 is exactly what a plan for the active 6.4.1 wants
    active = build_plan(spec(), FakeDist("6.4.1"), v)
    outside = {a.path: a.content for a in plan if isinstance(a, ConfFile)}
    assert outside == {a.path: a.content for a in active if isinstance(a, ConfFile)}
    assert b"system install, NSO 6.4.1." in conf_text(plan)


def test_activate_renders_config_for_the_new_version():
    v = view(active_version="6.4.1", trees=(("/opt/ncs/ncs-6.4.1", "6.4.1"),))
    plan = build_plan(spec(activate=True), FakeDist("6.5.3"), v)
    assert by_path(plan, Symlink)["/opt/ncs/current"].switch is True
    assert b"system install, NSO 6.5.3." in conf_text(plan)


def test_ncsrc_of_the_new_tree_is_for_its_own_version():
    v = view(active_version="6.4.1", trees=(("/opt/ncs/ncs-6.4.1", "6.4.1"),))
    plan = build_plan(spec(), FakeDist("6.5.3"), v)
    ncsrc = next(a for a in plan if a.path == "/opt/ncs/ncs-6.5.3/ncsrc")
    assert b"NSO 6.5.3" in ncsrc.content


def test_privileges_are_planned_for_every_installed_version():
    v = view(active_version="6.4.1", trees=(("/opt/ncs/ncs-6.4.1", "6.4.1"),))
    plan = build_plan(spec(run_as_user="nso"), FakeDist("6.5.3"), v)
    setuid = [a for a in plan if isinstance(a, Setuid)]
    assert {a.vdir for a in setuid} == {"/opt/ncs/ncs-6.4.1", "/opt/ncs/ncs-6.5.3"}
    granted = [a for a in setuid if a.attrs.mode == 0o4750]
    assert {a.vdir for a in granted} == {"/opt/ncs/ncs-6.4.1", "/opt/ncs/ncs-6.5.3"}  # epam of each
    assert all(a.attrs.group == "nso" for a in granted)


def test_without_a_run_as_user_every_privileged_binary_is_plain():
    plan = build_plan(spec(), FakeDist("6.5.3"), view(trees=(("/opt/ncs/ncs-6.4.1", "6.4.1"), ("/opt/ncs/ncs-6.5.3", "6.5.3"),)))
    priv = [a for a in plan if isinstance(a, (Setuid, Capability))]
    assert len(priv) == 2 * 7  # epam, 4 capability binaries, 2 wrappers, per version
    for a in priv:
        assert (a.attrs.mode, a.attrs.owner, a.attrs.group, a.caps) == (0o755, "root", "root", {})


def test_cmdwrapper_setuid_only_when_asked_for():
    def wrappers(plan):
        return {a.attrs.mode for a in plan if isinstance(a, Setuid) and "wrapper" in a.path}
    assert wrappers(build_plan(spec(run_as_user="nso"), FakeDist())) == {0o755}
    assert wrappers(build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), FakeDist())) == {0o4750}


def test_memberships_added_for_an_earlier_spec_are_withdrawn():
    v = view(memberships=frozenset({("nso", "ncsadmin")}))
    plan = build_plan(spec(), FakeDist(), v)
    m = [a for a in plan if isinstance(a, Membership)]
    assert [(a.user, a.group, a.present) for a in m] == [("nso", "ncsadmin", False)]
    assert not [a for a in plan if isinstance(a, User)]
    assert not [a for a in build_plan(spec(run_as_user="nso"), FakeDist(), v) if isinstance(a, Membership)]
    switched = build_plan(spec(run_as_user="nso2"), FakeDist(), v)
    assert [(a.user, a.group) for a in switched if isinstance(a, Membership)] == [("nso", "ncsadmin")]


def test_files_of_the_previous_account_are_handed_over():
    v = view(previous=spec(run_as_user="nso"))
    plan = build_plan(spec(), FakeDist(), v)
    reown = by_path(plan, Reown)
    assert set(reown) == {"/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/run/ncs"}
    assert {(a.from_user, a.to_user, a.to_group) for a in reown.values()} == {("nso", "root", "root")}
    # paths the plan manages itself are left to their own actions
    assert "/var/opt/ncs/cdb/aaa_init.xml" in reown["/var/opt/ncs"].skip
    assert {a.to_user for a in build_plan(spec(run_as_user="nso2"), FakeDist(), v)
            if isinstance(a, Reown)} == {"nso2"}
    assert not [a for a in build_plan(spec(run_as_user="nso"), FakeDist(), v) if isinstance(a, Reown)]


def test_owners_follow_the_spec():
    def attrs(plan, path):
        return by_path(plan)[path].attrs
    root, user = build_plan(spec(), FakeDist()), build_plan(spec(run_as_user="nso"), FakeDist())
    assert (attrs(root, "/var/opt/ncs").owner, attrs(user, "/var/opt/ncs").owner) == ("root", "nso")
    assert attrs(user, "/etc/ncs/ncs.crypto_keys") == attrs(root, "/etc/ncs/ncs.crypto_keys").__class__(0o440, "root", "nso")
    assert attrs(user, "/etc/ncs/ncs.systemd.conf").owner == "nso"
    assert attrs(build_plan(spec(run_as_user="nso", init_system="sysv"), FakeDist()),
                 "/etc/ncs/ncs.systemd.conf").owner == "root"  # the SysV script reads it as root


def test_init_systems():
    def paths(init):
        return set(by_path(build_plan(spec(init_system=init), FakeDist()), ConfFile))
    assert "/etc/systemd/system/ncs.service" in paths("systemd")
    assert "/etc/init.d/ncs" in {a.path for a in build_plan(spec(init_system="sysv"), FakeDist())
                                 if isinstance(a, ConfFile)}
    none = paths("none")
    assert "/etc/systemd/system/ncs.service" not in none and "/etc/ncs/ncs.systemd.conf" not in none


def test_secrets_modes():
    full = build_plan(spec(), FakeDist())
    secrets = {a.path for a in full if isinstance(a, (SecretFile, KeyPair))}
    assert secrets == {"/etc/ncs/ncs.crypto_keys", "/etc/ncs/ipc_access", "/etc/ncs/ssh/ssh_host_ed25519_key",
                       "/etc/ncs/ssl/cert/host.key"}
    skip = build_plan(spec(secrets="skip"), FakeDist())
    assert not {a.path for a in skip} & secrets
    # container start: the secrets, and what a fresh volume or tmpfs lacks (config, run and log
    # directories, the IPC socket's directory); never the tree, accounts, privileges, services
    only = build_plan(spec(secrets="only", run_as_user="nso"), FakeDist())
    files = {a.path for a in only if a.fs and not isinstance(a, Directory)}
    assert secrets <= files and "/etc/ncs/ncs.conf" in files
    assert all(p.startswith(("/etc/ncs/", "/var/opt/ncs/", "/var/log/ncs/")) for p in files), files
    # what a killed start left there (a half-written key) is cleaned, and only there and in the state's
    (left,) = [a for a in only if isinstance(a, Leftovers)]
    assert "/etc/ncs/ssl/cert" in left.dirs and "/var/lib/nso-install" in left.dirs
    assert all(d.startswith(("/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/var/lib/nso-install")) for d in left.dirs)
    assert "/run/ncs" in {a.path for a in only if isinstance(a, Directory)}
    assert not [a for a in only if isinstance(a, (Setuid, Capability, User, Membership, Reown))]
    assert not [a for a in only if a.fs and a.path.startswith(("/opt/ncs/", "/etc/profile.d", "/etc/systemd"))]


def test_local_install_has_no_accounts_privileges_or_services():
    plan = build_plan(spec(local_dir="/home/dev/nso"), FakeDist())
    assert not [a for a in plan if isinstance(a, (Setuid, Capability, User, Membership, Reown))]
    assert all(a.path.startswith("/home/dev/nso") or a.path in ("/home", "/home/dev") for a in plan if a.fs)


def test_the_state_directory_and_the_ipc_secret_are_planned_private():
    """nso-install's records are root's alone; the IPC secret is readable by root and, with a
    run-as user, by the NSO administrators' group, never by everyone."""
    from nso_install.actions import Attrs
    from nso_install.actions.accounts import ADMIN_GROUP

    root, user = build_plan(spec(), FakeDist()), build_plan(spec(run_as_user="nso"), FakeDist())
    for plan in (root, user):
        assert by_path(plan, Directory)["/var/lib/nso-install"].attrs.mode == 0o700
    assert by_path(root, SecretFile)["/etc/ncs/ipc_access"].attrs.mode == 0o400
    assert by_path(user, SecretFile)["/etc/ncs/ipc_access"].attrs == Attrs(0o440, "root", ADMIN_GROUP)


@pytest.mark.parametrize("path", ["/opt/ncs/ncs-6.5.3/bin", "/etc", "/", "/var//opt/./ncs/", "/a/b/c/d/e"])
def test_parents_are_pathlibs(path):
    """plan._parents, in strings, gives what PurePosixPath(path).parents did (top down, without "/")."""
    from pathlib import PurePosixPath

    from nso_install.plan import _parents

    assert _parents(path) == [str(p) for p in reversed(PurePosixPath(path).parents) if str(p) != "/"]
