"""Privileged binaries (nso_install.actions.privileges): the plan's desired state per layout,
granted with --run-as-user and withdrawn without it, setuid and capabilities applied under
--root, drift repaired, clear errors and warnings."""

import errno
import os
import shutil
import stat
import subprocess

import pytest

from nso_install.actions import privileges
from nso_install.actions.base import Attrs
from nso_install.actions.privileges import EPAM, Capability, Setuid, display_path
from nso_install.capabilities import parse_text
from nso_install.errors import ApplyError, UnsafePathError
from nso_install.facts import Facts, MountFact
from nso_install.target import Target
from nso_install.plan import build_plan, with_parents

from support import FakeDist, check_plan, run_plan, spec, staged_root, unpacked_by_us, view

HAVE_SETCAP = os.geteuid() == 0 and shutil.which("setcap", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))
needs_setcap = pytest.mark.skipif(not HAVE_SETCAP, reason="needs root, setcap and the shadow tools")

V = "6.5.3"
VDIR = f"/opt/ncs/ncs-{V}"


# --- the plan ---------------------------------------------------------------------------------

def _priv(plan):
    return {a.path: a for a in plan if isinstance(a, (Setuid, Capability))}


def _plain(a):
    return (a.attrs.mode, a.attrs.owner, a.attrs.group, a.caps) == (0o755, "root", "root", {})


def test_root_install_wants_every_privileged_binary_plain():
    """Without --run-as-user nothing is granted, and every privileged binary has that as its
    desired state (0755 root:root, no capabilities), so a grant of an earlier spec is withdrawn."""
    p = _priv(build_plan(spec(), FakeDist(V)))
    assert set(p) == {f"{VDIR}/lib/ncs/lib/core/pam/priv/epam", f"{VDIR}/lib/ncs/lib/core/confd/priv/cmdwrapper",
                      f"{VDIR}/lib/ncs/lib/core/confd/priv/cmdptywrapper", f"{VDIR}/lib/ncs/erts/bin/ncs",
                      f"{VDIR}/lib/ncs/erts/bin/ncs.smp", f"{VDIR}/lib/ncs/bin/ip", f"{VDIR}/lib/ncs/bin/arping"}
    assert all(_plain(a) for a in p.values()), {k: a.attrs for k, a in p.items() if not _plain(a)}
    assert not any(a.warn_setuid or a.risk for a in p.values())


def test_run_as_user_plan_modes_and_caps_65():
    plan = build_plan(spec(run_as_user="nso"), FakeDist(V))
    p = _priv(plan)
    epam = p[f"{VDIR}/lib/ncs/lib/core/pam/priv/epam"]
    assert (epam.attrs.mode, epam.attrs.owner, epam.attrs.group) == (0o4750, "root", "nso")
    caps = {path: (a.caps, a.attrs.mode, a.attrs.owner, a.attrs.group) for path, a in p.items()
            if isinstance(a, Capability)}
    assert caps == {
        f"{VDIR}/lib/ncs/erts/bin/ncs": (parse_text("cap_net_bind_service=ep"), 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/erts/bin/ncs.smp": (parse_text("cap_net_bind_service=ep"), 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/bin/ip": (parse_text("cap_net_admin=ep"), 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/bin/arping": (parse_text("cap_net_raw=ep"), 0o750, "root", "nso"),
    }
    wrappers = [a for k, a in p.items() if "cmdwrapper" in k or "cmdptywrapper" in k]
    assert len(wrappers) == 2 and all(_plain(a) for a in wrappers)  # setuid wrappers are opt-in only
    # privileged actions come after the tree is unpacked and the accounts exist
    kinds = [a.kind for a in plan]
    assert kinds.index("tree") < kinds.index("setuid") and kinds.index("user") < kinds.index("tree")


def test_cmdwrapper_opt_in_and_66_layout_from_version_rule():
    plan = build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), FakeDist("6.6.1"))
    p = _priv(plan)
    v = "/opt/ncs/ncs-6.6.1"
    assert f"{v}/lib/ncs/lib/pam-*/priv/epam" in p
    assert f"{v}/lib/ncs/lib/confd-*/priv/cmdwrapper" in p and f"{v}/lib/ncs/lib/confd-*/priv/cmdptywrapper" in p
    wrapper = p[f"{v}/lib/ncs/lib/confd-*/priv/cmdwrapper"]
    assert wrapper.attrs.mode == 0o4750 and wrapper.attrs.group == "nso" and "root-level" in wrapper.risk


def test_every_installed_version_gets_a_desired_state():
    """Binaries of a version already installed beside this one are planned too: a changed spec
    withdraws their grants as well."""
    p = _priv(build_plan(spec(run_as_user="nso"), FakeDist(V), view(trees=(("/opt/ncs/ncs-6.4.2", "6.4.2"),))))
    old = {k: a for k, a in p.items() if k.startswith("/opt/ncs/ncs-6.4.2/")}
    assert len(old) == 7 and old["/opt/ncs/ncs-6.4.2/lib/ncs/lib/core/pam/priv/epam"].attrs.mode == 0o4750


def test_another_installed_tree_gets_actions_only_for_the_binaries_it_holds():
    """A tree this run does not unpack: the files found in it, at their real paths, and nothing
    for a binary it lacks (a 6.6 glob or a missing file would become parent directories)."""
    old = "/opt/ncs/ncs-6.6.1"
    held = ("lib/ncs/erts/bin/ncs.smp", "lib/ncs/lib/pam-1.0.1/priv/epam")
    plan = build_plan(spec(run_as_user="nso"), FakeDist(V), view(trees=((old, "6.6.1"),), privileged=((old, held),)))
    there = {a.path: a for a in plan if a.path.startswith(old + "/") or a.path == old}
    assert set(there) == {f"{old}/{rel}" for rel in held}
    assert there[f"{old}/lib/ncs/lib/pam-1.0.1/priv/epam"].attrs == Attrs(0o4750, "root", "nso")
    assert there[f"{old}/lib/ncs/erts/bin/ncs.smp"].caps == parse_text("cap_net_bind_service=ep")
    assert [a.path for a in plan if "*" in a.path] == []
    # a tree found holding none of them (a foreign ncs-9.9 with only VERSION): nothing at all
    plan = build_plan(spec(run_as_user="nso"), FakeDist(V), view(trees=(("/opt/ncs/ncs-9.9", "9.9"),),
                                                                 privileged=(("/opt/ncs/ncs-9.9", ()),)))
    assert [a.path for a in plan if a.path.startswith("/opt/ncs/ncs-9.9")] == []


def test_no_parent_directory_is_planned_inside_a_tree_with_privileged_binaries():
    acts = privileges.privileged_actions("/opt/ncs/ncs-6.6.1", "6.6.1", "nso")  # glob paths: nothing unpacked yet
    assert any("*" in a.path for a in acts)
    planned = with_parents(acts)
    made = [a.path for a in planned if a.kind == "directory"]
    assert made == ["/opt", "/opt/ncs"]  # what the tree's parent needs: nothing inside the tree


def test_display_path_uses_member_list_when_offered():
    class Listing(FakeDist):
        def member_names(self):
            return [f"./{n}" for n in self.helpers()]
    names = Listing("6.6.1").member_names()
    assert display_path("/v", EPAM, "6.6.1", names) == "/v/lib/ncs/lib/pam-1.0.1/priv/epam"
    assert display_path("/v", EPAM, "6.6.1") == "/v/lib/ncs/lib/pam-*/priv/epam"  # no list: the version rule
    assert display_path("/v", EPAM, "6.5.3") == "/v/lib/ncs/lib/core/pam/priv/epam"
    p = _priv(build_plan(spec(run_as_user="nso"), Listing("6.6.1")))
    assert "/opt/ncs/ncs-6.6.1/lib/ncs/lib/pam-1.0.1/priv/epam" in p


# --- applying ---------------------------------------------------------------------------------

def _mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def _getcap(p):
    """libcap's view, independent of nso-install's reading of the attribute ("" for none)."""
    out = subprocess.run(["getcap", str(p)], capture_output=True, text=True).stdout.split()
    return out[-1] if out else ""


@pytest.fixture
def installed(tmp_path):
    root = staged_root(tmp_path)
    plan = build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), FakeDist(V))
    run_plan(plan, root)
    return root, plan


@needs_setcap
@pytest.mark.parametrize("version", ["6.5.3", "6.6.1"])
def test_apply_sets_setuid_and_caps_then_rerun_is_noop(tmp_path, version):
    root = staged_root(tmp_path)
    dist = FakeDist(version)
    plan = build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), dist)
    pre = check_plan(plan, root)
    assert all(r.outcome.changed for r in pre.records if r.action.kind in ("setuid", "capability"))
    run_plan(plan, root)
    v = root / f"opt/ncs/ncs-{version}"
    gid = int([l for l in (root / "etc/group").read_text().splitlines() if l.startswith("nso:")][0].split(":")[2])
    for rel in dist.helpers():
        p = v / rel
        if rel.endswith(("epam", "cmdwrapper", "cmdptywrapper")):
            st = os.lstat(p)
            assert (_mode(p), st.st_uid, st.st_gid) == (0o4750, 0, gid), rel
    assert _getcap(v / "lib/ncs/erts/bin/ncs.smp") == "cap_net_bind_service=ep"
    assert _getcap(v / "lib/ncs/erts/bin/ncs") == "cap_net_bind_service=ep"
    assert _getcap(v / "lib/ncs/bin/ip") == "cap_net_admin=ep"
    assert _getcap(v / "lib/ncs/bin/arping") == "cap_net_raw=ep"
    for rel in ("lib/ncs/erts/bin/ncs.smp", "lib/ncs/bin/ip"):
        assert (_mode(v / rel), os.lstat(v / rel).st_uid, os.lstat(v / rel).st_gid) == (0o750, 0, gid)
    assert run_plan(plan, root).changes == 0


@needs_setcap
def test_drifted_mode_and_removed_caps_are_repaired(installed):
    root, plan = installed
    v = root / f"opt/ncs/ncs-{V}"
    os.chmod(v / "lib/ncs/lib/core/pam/priv/epam", 0o4755)  # world-executable setuid root
    subprocess.run(["setcap", "-r", str(v / "lib/ncs/bin/ip")], check=True)
    os.chown(v / "lib/ncs/erts/bin/ncs.smp", 0, 0)  # chown also drops its capabilities
    rep = run_plan(plan, root)
    changed = {r.action.path for r in rep.records if r.changed}
    assert changed == {f"{VDIR}/lib/ncs/lib/core/pam/priv/epam", f"{VDIR}/lib/ncs/bin/ip",
                       f"{VDIR}/lib/ncs/erts/bin/ncs.smp"}
    # the line names the path; its detail is what changed (it repeated the path: "epam  (/opt/...epam: mode")
    epam = next(r for r in rep.records if r.action.path.endswith("/epam"))
    assert epam.outcome.detail == "mode 4755 -> 4750", epam.outcome.detail
    assert _mode(v / "lib/ncs/lib/core/pam/priv/epam") == 0o4750
    assert _getcap(v / "lib/ncs/bin/ip") == "cap_net_admin=ep"
    assert _getcap(v / "lib/ncs/erts/bin/ncs.smp") == "cap_net_bind_service=ep"
    assert run_plan(plan, root).changes == 0


@needs_setcap
def test_grants_are_withdrawn_by_a_spec_without_run_as_user(installed):
    root, plan = installed
    v = root / f"opt/ncs/ncs-{V}"
    dist = FakeDist(V)
    plain = build_plan(spec(), dist)
    rep = run_plan(plain, root)
    privileged = [rel for rel in dist.helpers() if rel.startswith("lib/")]
    changed = {r.action.path for r in rep.records if r.changed and r.action.kind in ("setuid", "capability")}
    assert changed == {f"{VDIR}/{rel}" for rel in privileged}
    for rel in privileged:
        st = os.lstat(v / rel)
        assert (_mode(v / rel), st.st_uid, st.st_gid) == (0o755, 0, 0), rel
        assert _getcap(v / rel) == "", rel
    assert run_plan(plain, root).changes == 0


@needs_setcap
def test_deleted_ip_and_arping_are_left_deleted(installed):
    root, plan = installed
    v = root / f"opt/ncs/ncs-{V}"
    os.unlink(v / "lib/ncs/bin/ip")
    os.unlink(v / "lib/ncs/bin/arping")
    rep = run_plan(plan, root)
    assert rep.changes == 0
    assert not (v / "lib/ncs/bin/ip").exists()


@needs_setcap
def test_symlink_planted_at_privileged_path_never_gets_the_privilege(installed, tmp_path):
    """With the distribution at hand the tree is repaired (the link is gone, the real epam is
    back); without a repair the link is refused: either way /bin/sh never becomes setuid."""
    root, plan = installed
    p = root / f"opt/ncs/ncs-{V}/lib/ncs/lib/core/pam/priv/epam"
    sh_mode = os.stat("/bin/sh").st_mode
    os.unlink(p)
    os.symlink("/bin/sh", p)
    no_repair = [a for a in plan if a.kind != "tree"]
    with pytest.raises(UnsafePathError) as e:
        run_plan(no_repair, root)
    assert e.value.reference == "symlink-refused"
    run_plan(plan, root)
    assert not p.is_symlink() and _mode(p) == 0o4750
    assert os.stat("/bin/sh").st_mode == sh_mode


def test_ambiguous_glob_is_an_error(tmp_path):
    root = tmp_path / "r"
    v = root / "opt/ncs/ncs-6.6.1"
    for d in ("pam-1.0", "pam-2.0"):
        (v / f"lib/ncs/lib/{d}/priv").mkdir(parents=True)
        (v / f"lib/ncs/lib/{d}/priv/epam").write_text("x")
    (v / "VERSION").write_text("6.6.1\n")
    a = Setuid("/opt/ncs/ncs-6.6.1/lib/ncs/lib/pam-*/priv/epam", "/opt/ncs/ncs-6.6.1", EPAM,
               Attrs(0o4750, "root", "root"))
    with pytest.raises(UnsafePathError) as e:
        check_plan([a], root)
    assert e.value.reference == "ambiguous-helper"


def _unpacked(tmp_path):
    root = tmp_path / "r"
    v = root / "v"
    (v / "bin").mkdir(parents=True)
    (v / "VERSION").write_text("6.5.3\n")
    (v / "bin/ip").write_text("x")
    return root, Capability("/v/bin/ip", "/v", ("bin/ip",), Attrs(0o750, None, None),
                            caps=parse_text("cap_net_admin=ep"))


def _refusing(err):
    def setxattr(*args, **kw):
        raise OSError(err, os.strerror(err))
    return setxattr


def test_capabilities_refused_by_the_kernel_are_a_clear_error(tmp_path, monkeypatch):
    root, act = _unpacked(tmp_path)
    monkeypatch.setattr(privileges.os, "setxattr", _refusing(errno.EPERM))
    with pytest.raises(ApplyError) as e:
        unpacked_by_us(root, "/v", ["bin/ip"]).apply([act])
    assert e.value.reference == "setcap-denied" and "CAP_SETFCAP" in e.value.hint


def test_no_xattr_support_is_a_clear_error(tmp_path, monkeypatch):
    root, act = _unpacked(tmp_path)
    monkeypatch.setattr(privileges.os, "setxattr", _refusing(errno.EOPNOTSUPP))
    monkeypatch.setattr(Facts, "caps", lambda self, tpath: {})  # whatever the file system says
    with pytest.raises(ApplyError) as e:
        unpacked_by_us(root, "/v", ["bin/ip"]).apply([act])
    assert e.value.reference == "no-xattrs" and "extended attributes" in e.value.message


def test_no_privilege_for_a_tree_nso_install_did_not_unpack(tmp_path):
    """A tree laid out by someone else (or by hand) gets no setuid bit or capability: nothing
    tells its files from ones an attacker swapped in."""
    root, act = _unpacked(tmp_path)
    with pytest.raises(UnsafePathError) as e:
        run_plan([act], root)
    assert e.value.reference == "unrecorded-tree"
    assert Facts(Target.at(root)).caps("/v/bin/ip") == {}


def test_no_privilege_for_a_file_changed_since_it_was_unpacked(tmp_path):
    root, act = _unpacked(tmp_path)
    run = unpacked_by_us(root, "/v", ["bin/ip"])
    (root / "v/bin/ip").write_text("#!/bin/sh\nexec /bin/sh\n")  # swapped in after the unpack
    for attempt in (run.check, run.apply):
        with pytest.raises(UnsafePathError) as e:
            attempt([act])
        assert e.value.reference == "privileged-file-changed"
    assert Facts(Target.at(root)).caps("/v/bin/ip") == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account")
def test_no_privilege_below_a_directory_another_account_controls(tmp_path):
    """Even the right file gets no privilege while an account other than root could swap it:
    a directory on its way owned by another uid, or writable by others, is refused."""
    root, act = _unpacked(tmp_path)
    run = unpacked_by_us(root, "/v", ["bin/ip"])
    for how in ("owner", "mode"):
        if how == "owner":
            os.chown(root / "v/bin", 65534, 65534)
        else:
            os.chown(root / "v/bin", 0, 0)
            os.chmod(root / "v/bin", 0o777)
        with pytest.raises(UnsafePathError) as e:
            run.apply([act])
        assert e.value.reference == "untrusted-path"
        assert Facts(Target.at(root)).caps("/v/bin/ip") == {}
    os.chmod(root / "v/bin", 0o755)
    run.apply([act])
    assert Facts(Target.at(root)).caps("/v/bin/ip") == parse_text("cap_net_admin=ep")


def test_nosuid_mount_and_no_new_privs_are_warned(tmp_path, monkeypatch):
    plan = build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), FakeDist(V))
    root = staged_root(tmp_path)
    monkeypatch.setattr(Facts, "mount", lambda self, p: MountFact("/opt", "ext4", ("rw", "nosuid", "nodev")))
    monkeypatch.setattr(Facts, "no_new_privs", property(lambda self: True))
    rep = check_plan(plan, root)
    setuid = [r for r in rep.records if r.action.kind == "setuid"]
    assert len(setuid) == 3
    for r in setuid:
        assert "nosuid" in r.outcome.warning and "no_new_privs" in r.outcome.warning
    caps = [r for r in rep.records if r.action.kind == "capability"]
    assert all(r.outcome.warning is None for r in caps)
    # nothing setuid is wanted without --run-as-user: nothing to warn about
    plain = check_plan(build_plan(spec(), FakeDist(V)), root)
    assert not [r for r in plain.records if r.action.kind in ("setuid", "capability") and r.outcome.warning]


def test_cmdwrapper_risk_is_warned_every_run(tmp_path, monkeypatch):
    monkeypatch.setattr(Facts, "mount", lambda self, p: None)
    monkeypatch.setattr(Facts, "no_new_privs", property(lambda self: False))
    plan = build_plan(spec(run_as_user="nso", setuid_cmdwrapper=True), FakeDist(V))
    root = staged_root(tmp_path)
    (root / "etc/pam.d").mkdir()
    (root / "etc/pam.d/system-auth").touch()  # else the PAM service check warns too
    rep = check_plan(plan, root)
    warned = [r.action.path for r in rep.records if r.outcome.warning]
    assert sorted(warned) == sorted(a.path for a in plan if "cmd" in a.path and a.kind == "setuid")
    assert all("root-level execution" in w for w in rep.warnings)
