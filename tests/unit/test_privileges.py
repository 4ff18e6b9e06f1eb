"""Privileged binaries: getcap parsing (recorded output), plan contents per layout, setuid and
capabilities applied under --root, drift repaired, clear errors and warnings."""

import os
import shutil
import stat
import subprocess

import pytest
from plumbum.commands.processes import ProcessExecutionError

from nso_install import privileges
from nso_install.errors import ApplyError, UnsafePathError
from nso_install.facts import MountFact
from nso_install.layout import InstallOptions, build_plan
from nso_install.privileges import Capability, Setuid, format_caps, parse_cap_text, parse_getcap

try:
    from .secfakes import FakeDist, check_plan, ensure_conf_module, run_plan, staged_root
except ImportError:  # tests/unit is not a package
    from secfakes import FakeDist, check_plan, ensure_conf_module, run_plan, staged_root

ensure_conf_module()

HAVE_SETCAP = os.geteuid() == 0 and shutil.which("setcap", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))
needs_setcap = pytest.mark.skipif(not HAVE_SETCAP, reason="needs root, setcap and the shadow tools")

V = "6.5.3"
VDIR = f"/opt/ncs/ncs-{V}"

# --- getcap output, recorded -------------------------------------------------------------


@pytest.mark.parametrize("output,path,expected", [
    # libcap 2.66 (Debian 12)
    ("/opt/ncs/ncs-6.5.3/lib/ncs/erts/bin/ncs.smp cap_net_bind_service=ep\n",
     "/opt/ncs/ncs-6.5.3/lib/ncs/erts/bin/ncs.smp", {"cap_net_bind_service": frozenset("ep")}),
    # libcap 2.25 (CentOS 7 / Ubuntu 18.04)
    ("/opt/ncs/current/lib/ncs/bin/ip = cap_net_admin+ep\n", None, {"cap_net_admin": frozenset("ep")}),
    ("/usr/bin/ping cap_net_raw=ep\n", None, {"cap_net_raw": frozenset("ep")}),
    ("/x/arping cap_net_admin,cap_net_raw=eip\n", "/x/arping",
     {"cap_net_admin": frozenset("eip"), "cap_net_raw": frozenset("eip")}),
    ("/x/f cap_chown=p cap_net_raw+ei\n", None, {"cap_chown": frozenset("p"), "cap_net_raw": frozenset("ei")}),
    ("/x/f =ep cap_setuid-e\n", None, {"all": frozenset("ep"), "cap_setuid": frozenset("p")}),
    ("", "/x/f", {}),  # getcap prints nothing for a file without capabilities
    ("/dir with space/ncs cap_net_bind_service=ep\n", "/dir with space/ncs", {"cap_net_bind_service": frozenset("ep")}),
])
def test_parse_getcap(output, path, expected):
    assert parse_getcap(output, path) == expected


def test_parse_getcap_ignores_other_files_lines():
    out = "/a/ncs cap_net_raw=ep\n/a/ncs.smp cap_net_bind_service=ep\n"
    assert parse_getcap(out, "/a/ncs.smp") == {"cap_net_bind_service": frozenset("ep")}
    assert parse_getcap(out, "/a/other") == {}


def test_parse_cap_text_rejects_garbage_and_formats():
    with pytest.raises(ValueError):
        parse_cap_text("cap_net_raw=ep; rm -rf /")
    assert format_caps(parse_cap_text("cap_net_raw+pe")) == "cap_net_raw=ep"
    assert format_caps({}) == "(none)"
    assert parse_cap_text("cap_net_raw=") == {}


# --- the plan ---------------------------------------------------------------------------------


def _priv(plan):
    return {a.path: a for a in plan if isinstance(a, (Setuid, Capability))}


def test_root_install_has_no_privileged_binaries():
    assert _priv(build_plan(InstallOptions(), FakeDist(V))) == {}


def test_run_as_user_plan_modes_and_caps_65():
    plan = build_plan(InstallOptions(run_as_user="nso"), FakeDist(V))
    p = _priv(plan)
    epam = p[f"{VDIR}/lib/ncs/lib/core/pam/priv/epam"]
    assert (epam.attrs.mode, epam.attrs.owner, epam.attrs.group) == (0o4750, "root", "nso")
    caps = {path: (a.caps, a.attrs.mode, a.attrs.owner, a.attrs.group) for path, a in p.items()
            if isinstance(a, Capability)}
    assert caps == {
        f"{VDIR}/lib/ncs/erts/bin/ncs": ("cap_net_bind_service=ep", 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/erts/bin/ncs.smp": ("cap_net_bind_service=ep", 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/bin/ip": ("cap_net_admin=ep", 0o750, "root", "nso"),
        f"{VDIR}/lib/ncs/bin/arping": ("cap_net_raw=ep", 0o750, "root", "nso"),
    }
    assert not any("cmdwrapper" in k or "cmdptywrapper" in k for k in p)  # opt-in only
    # privileged actions come after the tree is unpacked and the accounts exist
    kinds = [a.kind for a in plan]
    assert kinds.index("tree") < kinds.index("setuid") and kinds.index("user") < kinds.index("tree")


def test_cmdwrapper_opt_in_and_66_layout_from_version_rule():
    plan = build_plan(InstallOptions(run_as_user="nso", setuid_cmdwrapper=True), FakeDist("6.6.1"))
    p = _priv(plan)
    v = "/opt/ncs/ncs-6.6.1"
    assert f"{v}/lib/ncs/lib/pam-*/priv/epam" in p
    assert f"{v}/lib/ncs/lib/confd-*/priv/cmdwrapper" in p and f"{v}/lib/ncs/lib/confd-*/priv/cmdptywrapper" in p
    wrapper = p[f"{v}/lib/ncs/lib/confd-*/priv/cmdwrapper"]
    assert wrapper.attrs.mode == 0o4750 and wrapper.attrs.group == "nso" and "root-level" in wrapper.risk


def test_display_path_uses_member_list_when_offered():
    class Listing(FakeDist):
        def member_names(self):
            return [f"./{n}" for n in self.helpers()]
    assert privileges.display_path("/v", privileges.EPAM, Listing("6.6.1")) == "/v/lib/ncs/lib/pam-1.0.1/priv/epam"


# --- applying ---------------------------------------------------------------------------------


def _mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def _getcap(p):
    return subprocess.run(["getcap", str(p)], capture_output=True, text=True).stdout.split(None, 1)[-1].strip()


@pytest.fixture
def installed(tmp_path):
    root = staged_root(tmp_path)
    opts = InstallOptions(run_as_user="nso", setuid_cmdwrapper=True)
    plan = build_plan(opts, FakeDist(V))
    run_plan(plan, root, opts)
    return root, opts, plan


@needs_setcap
@pytest.mark.parametrize("version", ["6.5.3", "6.6.1"])
def test_apply_sets_setuid_and_caps_then_rerun_is_noop(tmp_path, version):
    root = staged_root(tmp_path)
    opts = InstallOptions(run_as_user="nso", setuid_cmdwrapper=True)
    dist = FakeDist(version)
    plan = build_plan(opts, dist)
    pre = check_plan(plan, root, opts)
    assert all(r.outcome.changed for r in pre.records if r.action.kind in ("setuid", "capability"))
    run_plan(plan, root, opts)
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
    assert run_plan(plan, root, opts).changes == 0


@needs_setcap
def test_drifted_mode_and_removed_caps_are_repaired(installed):
    root, opts, plan = installed
    v = root / f"opt/ncs/ncs-{V}"
    os.chmod(v / "lib/ncs/lib/core/pam/priv/epam", 0o4755)  # world-executable setuid root
    subprocess.run(["setcap", "-r", str(v / "lib/ncs/bin/ip")], check=True)
    os.chown(v / "lib/ncs/erts/bin/ncs.smp", 0, 0)  # chown also drops its capabilities
    rep = run_plan(plan, root, opts)
    changed = {r.action.path for r in rep.records if r.changed}
    assert changed == {f"{VDIR}/lib/ncs/lib/core/pam/priv/epam", f"{VDIR}/lib/ncs/bin/ip",
                       f"{VDIR}/lib/ncs/erts/bin/ncs.smp"}
    assert _mode(v / "lib/ncs/lib/core/pam/priv/epam") == 0o4750
    assert _getcap(v / "lib/ncs/bin/ip") == "cap_net_admin=ep"
    assert _getcap(v / "lib/ncs/erts/bin/ncs.smp") == "cap_net_bind_service=ep"
    assert run_plan(plan, root, opts).changes == 0


@needs_setcap
def test_deleted_ip_and_arping_are_left_deleted(installed):
    root, opts, plan = installed
    v = root / f"opt/ncs/ncs-{V}"
    os.unlink(v / "lib/ncs/bin/ip")
    os.unlink(v / "lib/ncs/bin/arping")
    rep = run_plan(plan, root, opts)
    assert rep.changes == 0
    assert not (v / "lib/ncs/bin/ip").exists()


@needs_setcap
def test_symlink_planted_at_privileged_path_is_refused(installed, tmp_path):
    root, opts, plan = installed
    p = root / f"opt/ncs/ncs-{V}/lib/ncs/lib/core/pam/priv/epam"
    os.unlink(p)
    os.symlink("/bin/sh", p)
    with pytest.raises(UnsafePathError) as e:
        run_plan(plan, root, opts)
    assert e.value.reference == "symlink-refused"


def test_ambiguous_glob_is_an_error(tmp_path):
    root = tmp_path / "r"
    v = root / "opt/ncs/ncs-6.6.1"
    for d in ("pam-1.0", "pam-2.0"):
        (v / f"lib/ncs/lib/{d}/priv").mkdir(parents=True)
        (v / f"lib/ncs/lib/{d}/priv/epam").write_text("x")
    (v / "VERSION").write_text("6.6.1\n")
    a = Setuid("/opt/ncs/ncs-6.6.1/lib/ncs/lib/pam-*/priv/epam", "/opt/ncs/ncs-6.6.1", privileges.EPAM,
               privileges.Attrs(0o4750, "root", "root"))
    with pytest.raises(UnsafePathError) as e:
        check_plan([a], root)
    assert e.value.reference == "ambiguous-helper"


def _unpacked(tmp_path):
    root = tmp_path / "r"
    v = root / "v"
    (v / "bin").mkdir(parents=True)
    (v / "VERSION").write_text("6.5.3\n")
    (v / "bin/ip").write_text("x")
    return root, Capability("/v/bin/ip", "/v", ("bin/ip",), privileges.Attrs(0o750, None, None),
                            caps="cap_net_admin=ep")


def test_missing_setcap_is_a_clear_error(tmp_path, monkeypatch):
    root, act = _unpacked(tmp_path)
    real = privileges.system_tool
    monkeypatch.setattr(privileges, "system_tool", lambda name: None if name == "setcap" else real(name))
    with pytest.raises(ApplyError) as e:
        run_plan([act], root)
    assert e.value.reference == "setcap-missing" and "libcap" in e.value.hint


def test_no_xattr_support_is_a_clear_error(tmp_path, monkeypatch):
    root, act = _unpacked(tmp_path)
    real = privileges.system_tool

    def failing(*args):
        raise ProcessExecutionError(["setcap", *args], 1, "", "Failed to set capabilities on file `x' (Operation not supported)\n")
    monkeypatch.setattr(privileges, "system_tool", lambda name: failing if name == "setcap" else real(name))
    monkeypatch.setattr(privileges, "get_caps", lambda host: {})
    with pytest.raises(ApplyError) as e:
        run_plan([act], root)
    assert e.value.reference == "no-xattrs" and "extended attributes" in e.value.message


def test_nosuid_mount_and_no_new_privs_are_warned(tmp_path, monkeypatch):
    plan = build_plan(InstallOptions(run_as_user="nso", setuid_cmdwrapper=True), FakeDist(V))
    root = staged_root(tmp_path)
    monkeypatch.setattr(privileges, "mount_of", lambda p: MountFact("/opt", "ext4", ("rw", "nosuid", "nodev")))
    monkeypatch.setattr(privileges, "no_new_privs", lambda: True)
    rep = check_plan(plan, root)
    setuid = [r for r in rep.records if r.action.kind == "setuid"]
    assert len(setuid) == 3
    for r in setuid:
        assert "nosuid" in r.outcome.warning and "no_new_privs" in r.outcome.warning
    caps = [r for r in rep.records if r.action.kind == "capability"]
    assert all(r.outcome.warning is None for r in caps)


def test_cmdwrapper_risk_is_warned_every_run(tmp_path, monkeypatch):
    monkeypatch.setattr(privileges, "mount_of", lambda p: None)
    monkeypatch.setattr(privileges, "no_new_privs", lambda: False)
    plan = build_plan(InstallOptions(run_as_user="nso", setuid_cmdwrapper=True), FakeDist(V))
    rep = check_plan(plan, staged_root(tmp_path))
    warned = [r.action.path for r in rep.records if r.outcome.warning]
    assert sorted(warned) == sorted(a.path for a in plan if "cmd" in a.path and a.kind == "setuid")
    assert all("root-level execution" in w for w in rep.warnings)
