"""The nso_install.nso.tool module and role: install, repair and removal of the tool's venv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from collection_support import COLLECTION, playbook, run, task_states


def fake_venv(venv: Path, version: str = "0.1.0", program: bool = True) -> Path:
    """A venv whose bin/python answers VERSION to the module's question (and, with PROGRAM, has
    bin/nso-install)."""
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text(f"#!{sys.executable}\nprint({version!r})\n")
    py.chmod(0o755)
    if program:
        exe = venv / "bin" / "nso-install"
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return venv


def run_role(tmp_path, venv: Path, archives: Path, *args):
    """The tool role on localhost, with a wheelhouse of one (empty) nso_install 0.1.0 wheel, its
    archive packed in ARCHIVES."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "nso_install-0.1.0-py3-none-any.whl").write_bytes(b"")
    return playbook(tmp_path, [{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"nso_install_wheelhouse": str(wheels), "nso_install_venv": str(venv),
                 "nso_install_remote_wheelhouse": str(tmp_path / "on-host"),
                 "nso_install_archive_dir": str(archives)},
        "roles": ["nso_install.nso.tool"],
    }], *args)


def test_probe_of_a_venv_without_its_program_says_a_repair_is_needed(tmp_path):
    venv = fake_venv(tmp_path / "venv", program=False)
    r = run("tool", {"wheelhouse": str(tmp_path / "not-copied-yet"), "venv": str(venv), "version": "0.1.0"},
            check=True)
    assert not r.failed, r.result
    assert r.result["needed"] is True and r.result["changed"] is True
    assert r.result["version"] == r.result["previous_version"] == "0.1.0"  # a repair: the same version


def test_probe_of_an_installed_version_needs_nothing(tmp_path):
    venv = fake_venv(tmp_path / "venv")
    r = run("tool", {"wheelhouse": str(tmp_path / "not-copied-yet"), "venv": str(venv), "version": "0.1.0"},
            check=True)
    assert not r.failed and r.result["needed"] is False and r.result["changed"] is False, r.result


@pytest.mark.timeout(300)
def test_role_repairs_a_venv_that_lost_its_program(tmp_path):
    """The role's probe finds the version installed but nso-install gone: it copies the wheels
    and installs again (here in check mode: the install task runs, and reports the change)."""
    venv = fake_venv(tmp_path / "venv", program=False)
    (tmp_path / "archives").mkdir()
    r = run_role(tmp_path, venv, tmp_path / "archives", "--check")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert task_states(r, "tool").get("Nso-install in its venv") == "changed", r.stdout[-5000:]


@pytest.mark.timeout(300)
def test_role_packs_nothing_when_no_host_needs_the_wheels(tmp_path):
    """A re-run (every host at the version) packed the wheelhouse into a tar on the controller
    every time, for nothing."""
    archives = tmp_path / "archives"
    archives.mkdir()
    r = run_role(tmp_path, fake_venv(tmp_path / "venv"), archives)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    states = task_states(r, "tool")
    assert states.get("Is this version installed") == "ok", r.stdout[-5000:]
    assert states.get("Pack the wheelhouse on the controller") == "skipping", states
    assert states.get("Private directory for the archive on the controller") == "skipping", states
    assert list(archives.iterdir()) == [] and not (tmp_path / "on-host").exists()


def test_absent_needs_no_wheelhouse_and_removes_the_venv(tmp_path):
    venv = fake_venv(tmp_path / "venv")
    r = run("tool", {"venv": str(venv), "state": "absent"}, check=True)
    assert not r.failed and r.result["changed"] is True and venv.is_dir(), r.result
    r = run("tool", {"venv": str(venv), "state": "absent"})
    assert not r.failed and r.result["changed"] is True and not venv.exists(), r.result
    r = run("tool", {"venv": str(venv), "state": "absent"})
    assert not r.failed and r.result["changed"] is False, r.result


def test_present_needs_a_wheelhouse(tmp_path):
    r = run("tool", {"venv": str(tmp_path / "venv")})
    assert r.failed and "wheelhouse" in r.result["msg"], r.result


@pytest.mark.parametrize("what", ["link", "file"])
def test_absent_refuses_a_venv_that_is_a_link_or_a_file(tmp_path, what):
    real = fake_venv(tmp_path / "real")
    venv = tmp_path / "venv"
    if what == "link":
        venv.symlink_to(real)
    else:
        venv.write_text("not a venv")
    r = run("tool", {"venv": str(venv), "state": "absent"})
    assert r.failed and ("symbolic link" if what == "link" else "a file") in r.result["msg"], r.result
    assert (real / "bin" / "python").exists() and os.path.lexists(venv)


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0, reason="plants a file of another account (root only)")
def test_role_packs_the_wheels_where_no_other_account_can_reach_them(tmp_path):
    """The archive the role packs on the controller goes into a private directory of its own
    (removed afterwards), not to a fixed name in a shared, sticky TMPDIR: a file (or a link)
    another account put there first is neither written through nor sent to the hosts."""
    venv = fake_venv(tmp_path / "venv", program=False)
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "nso-install-wheels-0.1.0.tar"
    planted.write_bytes(b"another account's wheels")
    planted.chmod(0o666)
    os.chown(planted, 65534, 65534)
    r = run_role(tmp_path, venv, shared, "--check")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert task_states(r, "tool").get("Nso-install in its venv") == "changed", r.stdout[-5000:]
    assert planted.read_bytes() == b"another account's wheels"
    assert sorted(p.name for p in shared.iterdir()) == [planted.name]  # the private directory is gone


@pytest.mark.timeout(300)
def test_role_with_several_wheels_needs_a_pin_as_its_documentation_says(tmp_path):
    """The role does not pick the newest of several nso_install wheels (the module does): it asks
    for nso_install_version, and its defaults and argument spec say so."""
    import yaml

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for v in ("0.1.0", "0.2.0"):
        (wheels / f"nso_install-{v}-py3-none-any.whl").write_bytes(b"")
    r = playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False,
                             "vars": {"nso_install_wheelhouse": str(wheels), "nso_install_venv": str(tmp_path / "venv")},
                             "roles": ["nso_install.nso.tool"]}], "--check")
    assert r.returncode != 0 and "pin one" in r.stdout, r.stdout[-3000:]
    role = COLLECTION / "roles" / "tool"
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    described = spec["argument_specs"]["main"]["options"]["nso_install_version"]["description"]
    defaults = (role / "defaults" / "main.yml").read_text()
    for text in (described, defaults):
        assert "several" in text and "the newest nso_install wheel in the wheelhouse)" not in text, text
        assert "(default, the newest wheel)" not in text, text


def test_tasks_run_on_the_controller_do_not_inherit_the_plays_become():
    """A play with become: true (as a fleet's is) made the role's controller tasks sudo on the
    controller: a password prompt there, or root packing the operator's wheelhouse."""
    import yaml

    def tasks(items):
        for t in items or ():
            yield t
            for key in ("block", "rescue", "always"):
                yield from tasks(t.get(key))

    delegated = []
    for f in (COLLECTION / "roles").glob("*/tasks/*.yml"):
        for t in tasks(yaml.safe_load(f.read_text())):
            if t.get("delegate_to") == "localhost":
                delegated.append((f.parent.parent.name, t["name"], t.get("become")))
    assert delegated and all(become is False for _, _, become in delegated), delegated
