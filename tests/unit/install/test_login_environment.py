"""The environment scripts (/etc/profile.d/ncs.sh and ncs.csh, every ncsrc and ncsrc.tcsh),
sourced for real by every shell that reads them: root's login shell among them, so an empty
entry in PATH or PYTHONPATH (the working directory: root in /tmp running ls) must never come
from them, whatever the variable was before; sourcing twice must not grow the variables; and a
caller running with ``set -u`` must not be stopped by them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nso_install.distribution import open_distribution
from nso_install.plan import build_plan

from support import spec

NSO = "/opt/ncs/current"

SH_SHELLS = [s for s in (["dash"], ["bash"], ["bash", "--posix"], ["zsh"], ["busybox", "sh"]) if shutil.which(s[0])]
CSH_SHELLS = [s for s in ("csh", "tcsh") if shutil.which(s)]

# what the variables were before: unset, empty, or set
# (an unset or empty MANPATH gets a trailing ':' on purpose: man's default path after NSO's)
ALONE = {"PATH": f"{NSO}/bin", "MANPATH": f"{NSO}/man:", "PYTHONPATH": f"{NSO}/src/ncs/pyapi"}
BEFORE = {
    "unset": ({}, ALONE),
    "empty": ({"PATH": "", "MANPATH": "", "PYTHONPATH": ""}, ALONE),
    "set": ({"PATH": "/usr/bin:/bin", "MANPATH": "/usr/share/man", "PYTHONPATH": "/site"},
            {"PATH": f"{NSO}/bin:/usr/bin:/bin", "MANPATH": f"{NSO}/man:/usr/share/man",
             "PYTHONPATH": f"{NSO}/src/ncs/pyapi:/site"}),
}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory, sample_dists):
    """The profile scripts and the active tree's ncsrc pair of a system install, written out."""
    top = tmp_path_factory.mktemp("login-env")
    plan = build_plan(spec(init_system="none"), open_distribution(sample_dists["tar.gz"]))
    files = {a.path: a.content for a in plan if hasattr(a, "content")}
    out = {}
    for name, path in (("profile.sh", "/etc/profile.d/ncs.sh"), ("profile.csh", "/etc/profile.d/ncs.csh"),
                       ("ncsrc", "/opt/ncs/ncs-6.5.3/ncsrc"), ("ncsrc.tcsh", "/opt/ncs/ncs-6.5.3/ncsrc.tcsh")):
        (top / name).write_bytes(files[path])
        out[name] = top / name
    return out


def _sourced_twice(shell: list[str], script, before: dict, csh: bool) -> dict:
    names = ("PATH", "MANPATH", "PYTHONPATH")
    if csh:
        setup = "".join(f'setenv {k} "{before[k]}"; ' if k in before else f"unsetenv {k}; " for k in names)
        cmd = [*shell, "-f", "-c", f"{setup}source {script}; source {script}; /usr/bin/env"]
    else:
        setup = "".join(f"{k}='{before[k]}'; " if k in before else f"unset {k}; " for k in names)
        cmd = [*shell, "-u", "-c", f"{setup}. {script}; . {script}; /usr/bin/env"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={}, timeout=20)
    assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    return {k: env.get(k) for k in names}


def _no_working_directory(value: str) -> bool:
    return "" not in value.split(":") and "." not in value.split(":")


@pytest.mark.parametrize("before", sorted(BEFORE))
@pytest.mark.parametrize("shell", SH_SHELLS, ids=" ".join)
def test_the_sh_profile_script_adds_no_empty_entry_and_no_duplicate(scripts, shell, before):
    given, want = BEFORE[before]
    got = _sourced_twice(shell, scripts["profile.sh"], given, csh=False)
    assert got == want
    assert _no_working_directory(got["PATH"]) and _no_working_directory(got["PYTHONPATH"])


@pytest.mark.parametrize("before", sorted(BEFORE))
@pytest.mark.parametrize("shell", CSH_SHELLS)
def test_the_csh_profile_script_adds_no_empty_entry_and_no_duplicate(scripts, shell, before):
    given, want = BEFORE[before]
    got = _sourced_twice([shell], scripts["profile.csh"], given, csh=True)
    assert got == want
    assert _no_working_directory(got["PATH"]) and _no_working_directory(got["PYTHONPATH"])


@pytest.mark.parametrize("before", sorted(BEFORE))
@pytest.mark.parametrize("shell", [*SH_SHELLS, *([c] for c in CSH_SHELLS)], ids=" ".join)
def test_ncsrc_adds_no_empty_entry_and_no_duplicate(scripts, shell, before):
    csh = shell[0] in ("csh", "tcsh")
    given, want = BEFORE[before]
    got = _sourced_twice(shell, scripts["ncsrc.tcsh" if csh else "ncsrc"], given, csh=csh)
    assert got == {k: v.replace(NSO, "/opt/ncs/ncs-6.5.3") for k, v in want.items()}


@pytest.mark.parametrize("shell", [*SH_SHELLS, *([c] for c in CSH_SHELLS)], ids=" ".join)
def test_ncsrc_of_another_version_goes_in_front_again(scripts, shell, tmp_path):
    """Sourcing one version's ncsrc, another's, then the first again: the first is in front
    (the ncs found is the NCS_DIR's), not skipped as already present."""
    csh = shell[0] in ("csh", "tcsh")
    name = "ncsrc.tcsh" if csh else "ncsrc"
    other = tmp_path / name
    other.write_text(scripts[name].read_text().replace("/opt/ncs/ncs-6.5.3", "/opt/ncs/ncs-6.4.1"))
    src = "source" if csh else "."
    cmd = [*shell, *(["-f"] if csh else []), "-c",
           f"{src} {scripts[name]}; {src} {other}; {src} {scripts[name]}; /usr/bin/printenv PATH"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=20)
    assert r.stdout.strip() == "/opt/ncs/ncs-6.5.3/bin:/opt/ncs/ncs-6.4.1/bin:/opt/ncs/ncs-6.5.3/bin:/usr/bin:/bin"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("shell", [*SH_SHELLS, *([c] for c in CSH_SHELLS)], ids=" ".join)
def test_the_ipc_settings_are_this_installs_only(sample_dists, tmp_path, shell, transport):
    """IPC variables left in the environment by another install (a local install's ncsrc, an
    earlier login): NCS_IPC_PATH takes precedence over NCS_IPC_PORT, and an NCS_IPC_ACCESS_FILE
    the daemon does not check makes the clients fail: after sourcing, only this install's are set."""
    csh = shell[0] in ("csh", "tcsh")
    plan = build_plan(spec(init_system="none", values={"ipc.transport": transport, "ipc.access_check": False}),
                      open_distribution(sample_dists["tar.gz"]))
    files = {a.path: a.content for a in plan if hasattr(a, "content")}
    stale = {"NCS_IPC_PATH": "/tmp/other/nso-ipc", "NCS_IPC_ADDR": "192.0.2.1", "NCS_IPC_PORT": "5000",
             "NCS_IPC_ACCESS_FILE": "/tmp/other/ipc_access"}
    want = ({"NCS_IPC_ADDR": "127.0.0.1", "NCS_IPC_PORT": "4569"} if transport == "tcp"
            else {"NCS_IPC_PATH": "/run/ncs/nso-ipc"})
    for path in (("/etc/profile.d/ncs.csh", "/opt/ncs/ncs-6.5.3/ncsrc.tcsh") if csh
                 else ("/etc/profile.d/ncs.sh", "/opt/ncs/ncs-6.5.3/ncsrc")):
        script = tmp_path / path.rsplit("/", 1)[1]
        script.write_bytes(files[path])
        cmd = [*shell, *(["-f"] if csh else []), "-c", f"{'source' if csh else '.'} {script}; /usr/bin/env"]
        r = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **stale}, timeout=20)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        got = {k: v for k, v in (line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
               if k.startswith("NCS_IPC_")}
        assert got == want, path


@pytest.mark.parametrize("shell", [*SH_SHELLS, *([c] for c in CSH_SHELLS)], ids=" ".join)
def test_the_openssl_settings_of_a_fips_tree_do_not_outlive_its_ncsrc(sample_dists, tmp_path, shell):
    """A FIPS install's ncsrc sets NCS_OPENSSL_*; sourcing another tree's (non-FIPS) ncsrc after
    it kept them, so that tree's programs loaded the first tree's OpenSSL configuration and
    modules. And a FIPS ncsrc after a plain one sets its own."""
    csh = shell[0] in ("csh", "tcsh")
    name = "ncsrc.tcsh" if csh else "ncsrc"
    written = {}
    for fips in (True, False):
        plan = build_plan(spec(init_system="none", fips_install=fips), open_distribution(sample_dists["tar.gz"]))
        content = next(a.content for a in plan if getattr(a, "path", "").endswith(f"/{name}"))
        written[fips] = tmp_path / f"{'fips' if fips else 'plain'}-{name}"
        written[fips].write_bytes(content)
    src = "source" if csh else "."
    for order, want in (((True, False), set()),
                        ((False, True), {"NCS_OPENSSL_CONF", "NCS_OPENSSL_CONF_INCLUDE", "NCS_OPENSSL_MODULES"})):
        cmd = [*shell, *(["-f"] if csh else []), "-c",
               "; ".join(f"{src} {written[f]}" for f in order) + "; /usr/bin/env"]
        r = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=20)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        got = {line.split("=", 1)[0] for line in r.stdout.splitlines() if line.startswith("NCS_OPENSSL_")}
        assert got == want, order
