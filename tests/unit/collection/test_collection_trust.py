"""As root, the collection's modules run nso-install (and the tool module a venv's Python) only
from where no other account could change what runs: module_utils/trust.py, the rule of
nso_install/target.py (check_staging_root, Target.check_parents)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from collection_support import Fake, run, utils

trust = utils("trust")
ME = frozenset({0, os.geteuid()})  # the owners trusted here (root, and whoever runs the tests)
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files of another owner; the modules' root rule)")


def program(path: Path, text: str = "#!/bin/sh\nexit 0\n", mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def safe_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def private_tmp(tmp_path):
    """The tests' own directories: above them, pytest's base directory (0700) under /tmp (sticky),
    judged here without the code under test."""
    for d in [tmp_path, *tmp_path.parents]:
        st = os.lstat(d)
        if st.st_uid not in ME or (st.st_mode & 0o022 and not (st.st_mode & 0o1000 and d != tmp_path)):
            pytest.skip(f"{tmp_path} is not only root's (and this user's) to change: {d}")


def test_a_program_only_its_owners_can_change(tmp_path):
    exe = program(safe_dir(tmp_path / "bin") / "nso-install")
    assert trust.untrusted_program(str(exe), ME) is None


def test_a_program_writable_by_others(tmp_path):
    exe = program(safe_dir(tmp_path / "bin") / "nso-install", mode=0o757)
    assert "writable by group or others (mode 0757)" in trust.untrusted_program(str(exe), ME)


def test_a_directory_above_writable_by_group(tmp_path):
    d = safe_dir(tmp_path / "shared" / "bin")
    (tmp_path / "shared").chmod(0o775)
    exe = program(d / "nso-install")
    assert trust.untrusted_program(str(exe), ME) == f"{tmp_path / 'shared'} is writable by group or others (mode 0775)"


def test_a_sticky_directory_is_fine_above_a_trusted_entry_but_not_as_the_last(tmp_path):
    sticky = safe_dir(tmp_path / "sticky")
    sticky.chmod(0o1777)
    exe = program(safe_dir(sticky / "venv" / "bin") / "nso-install")
    assert trust.untrusted_program(str(exe), ME) is None
    assert "writable by group or others (mode 1777)" in trust.untrusted(str(sticky), ME)
    assert trust.untrusted(str(sticky / "new-venv"), ME, missing_ok=True) is None


def test_a_link_is_followed_and_its_target_judged(tmp_path):
    open_dir = safe_dir(tmp_path / "open")
    open_dir.chmod(0o777)
    real = program(open_dir / "nso-install")
    link = safe_dir(tmp_path / "bin") / "nso-install"
    link.symlink_to(real)
    assert trust.untrusted_program(str(link), ME) == f"{open_dir} is writable by group or others (mode 0777)"


def test_a_link_in_a_writable_directory_is_refused_though_its_target_is_fine(tmp_path):
    real = program(safe_dir(tmp_path / "bin") / "nso-install")
    open_dir = safe_dir(tmp_path / "open")
    (open_dir / "nso-install").symlink_to(real)
    open_dir.chmod(0o777)
    assert "is writable by group or others" in trust.untrusted_program(str(open_dir / "nso-install"), ME)


def test_relative_links_and_dotdot_resolve_as_the_kernel_does(tmp_path):
    real = program(safe_dir(tmp_path / "a" / "bin") / "python3")
    safe_dir(tmp_path / "venv" / "bin")
    (tmp_path / "venv" / "bin" / "python").symlink_to("../../a/bin/python3")
    assert trust.untrusted_program(str(tmp_path / "venv" / "bin" / "python"), ME) is None
    (tmp_path / "a").chmod(0o777)
    assert str(tmp_path / "a") in trust.untrusted_program(str(tmp_path / "venv" / "bin" / "python"), ME)
    assert real.exists()


def test_the_interpreter_of_a_script_is_judged_too(tmp_path):
    open_dir = safe_dir(tmp_path / "venv")
    python = program(safe_dir(open_dir / "bin") / "python", "#!/bin/sh\n")
    exe = program(safe_dir(tmp_path / "bin") / "nso-install", f"#!{python}\nprint('hi')\n")
    assert trust.untrusted_program(str(exe), ME) is None
    open_dir.chmod(0o775)
    assert trust.untrusted_program(str(exe), ME) == f"{open_dir} is writable by group or others (mode 0775)"
    # pip's launcher for a long interpreter path: #!/bin/sh, then the exec of the Python
    launcher = program(tmp_path / "bin" / "launcher", f"#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''\n")
    assert trust.interpreter(str(launcher)) == str(python)
    assert trust.untrusted_program(str(launcher), ME) == f"{open_dir} is writable by group or others (mode 0775)"


def venv(top: Path) -> Path:
    """A virtual environment's shape: bin/python, pyvenv.cfg, lib/python3/site-packages/nso_install."""
    python = program(safe_dir(top / "bin") / "python", "#!/bin/sh\n")
    (top / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (top / "pyvenv.cfg").chmod(0o644)
    pkg = top / "lib/python3/site-packages/nso_install"
    pkg.mkdir(parents=True)
    for d in (top / "lib", top / "lib/python3", top / "lib/python3/site-packages", pkg):
        d.chmod(0o755)
    (pkg / "cli.py").write_text("")
    (pkg / "cli.py").chmod(0o644)
    return python


def test_the_modules_a_venv_python_imports_are_judged_too(tmp_path):
    """Root running the venv's nso-install imports its site-packages: a module there that another
    account can write (or a pyvenv.cfg, which says where the standard library is) is its code run as root."""
    python = venv(safe_dir(tmp_path / "venv"))
    exe = program(tmp_path / "venv/bin/nso-install", f"#!{python}\nimport nso_install.cli\n")
    assert trust.untrusted_program(str(exe), ME) is None
    cli = tmp_path / "venv/lib/python3/site-packages/nso_install/cli.py"
    cli.chmod(0o666)
    assert trust.untrusted_program(str(exe), ME) == f"{cli} is writable by group or others (mode 0666)"
    cli.chmod(0o644)
    (cli.parent / "__pycache__").mkdir(mode=0o777)
    (cli.parent / "__pycache__").chmod(0o777)
    assert "__pycache__ is writable by group or others (mode 0777)" in trust.untrusted_program(str(exe), ME)
    (cli.parent / "__pycache__").rmdir()
    (tmp_path / "venv/pyvenv.cfg").chmod(0o646)
    assert trust.untrusted_program(str(exe), ME) == f"{tmp_path / 'venv/pyvenv.cfg'} is writable by group or others (mode 0646)"


def test_env_in_the_hash_bang_line_judges_the_program_it_finds(tmp_path, monkeypatch):
    """#!/usr/bin/env NAME runs the NAME found on PATH: that one is judged, not only env."""
    open_dir = safe_dir(tmp_path / "tools")
    program(open_dir / "mypython", "#!/bin/sh\n")
    exe = program(safe_dir(tmp_path / "bin") / "nso-install", "#!/usr/bin/env -S mypython -u\nprint('hi')\n")
    monkeypatch.setenv("PATH", f"{open_dir}:/usr/bin:/bin")
    assert trust.interpreters(str(exe)) == ["/usr/bin/env", str(open_dir / "mypython")]
    assert trust.untrusted_program(str(exe), ME) is None
    open_dir.chmod(0o777)
    assert trust.untrusted_program(str(exe), ME) == f"{open_dir} is writable by group or others (mode 0777)"


@ROOT_ONLY
def test_an_entry_of_another_owner(tmp_path):
    exe = program(safe_dir(tmp_path / "bin") / "nso-install")
    os.chown(exe, 4242, 4242)
    assert trust.untrusted_program(str(exe), frozenset({0})) == f"{exe} belongs to uid 4242"
    os.chown(exe, 0, 0)
    os.chown(tmp_path / "bin", 4242, 0)
    assert trust.untrusted_program(str(exe), frozenset({0})) == f"{tmp_path / 'bin'} belongs to uid 4242"
    os.chown(tmp_path / "bin", 0, 0)
    # a link of another account's in a sticky directory: that account can point it elsewhere
    sticky = safe_dir(tmp_path / "sticky")
    sticky.chmod(0o1777)
    (sticky / "nso-install").symlink_to(exe)
    assert trust.untrusted_program(str(sticky / "nso-install"), frozenset({0})) is None
    os.lchown(sticky / "nso-install", 4242, 4242)
    assert trust.untrusted_program(str(sticky / "nso-install"), frozenset({0})) == \
        f"{sticky / 'nso-install'} is a symbolic link that belongs to uid 4242 (who could point it elsewhere)"


# --- the modules, as root ---------------------------------------------------------------------

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or trust.untrusted_program(sys.executable) is not None,
                             reason="needs root, and this Python root's alone (the stand-in nso-install runs it)")


@AS_ROOT
@pytest.mark.parametrize("name", ["install", "status", "verify", "audit"])
def test_modules_refuse_to_run_a_program_others_can_change(tmp_path, name):
    fake = Fake(safe_dir(tmp_path / "bin"), {"version": 1, "result": name, "ok": True})
    args = {"executable": str(fake.path), **({"distribution": "/srv/dist"} if name == "install" else {})}
    r = run(name, args, as_root=True)
    assert not r.failed, r.result  # root's alone: runs
    (tmp_path / "bin").chmod(0o777)
    r = run(name, args, as_root=True)
    assert r.failed and r.result["msg"].startswith(f"refusing to run nso-install {fake.path} as root: "), r.result
    assert "chown root:root" in r.result["hint"]
    assert len(fake.calls) == 1


@AS_ROOT
def test_install_refuses_a_program_whose_python_others_can_change(tmp_path):
    fake = Fake(safe_dir(tmp_path / "bin"))
    venv_bin = safe_dir(tmp_path / "venv" / "bin")
    (venv_bin / "python").symlink_to(sys.executable)
    fake.path.write_text(fake.path.read_text().replace(sys.executable, str(venv_bin / "python"), 1))
    assert not run("install", {"distribution": "/srv/dist", "executable": str(fake.path)}, as_root=True).failed
    (tmp_path / "venv").chmod(0o777)
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path)}, as_root=True)
    assert r.failed and f"{tmp_path / 'venv'} is writable by group or others" in r.result["msg"], r.result


def fake_venv(venv: Path) -> Path:
    program(safe_dir(venv / "bin") / "python", f"#!{sys.executable}\nprint('0.1.0')\n")
    return venv


@AS_ROOT
def test_tool_refuses_a_venv_under_a_directory_others_can_change(tmp_path):
    shared = safe_dir(tmp_path / "shared")
    shared.chmod(0o777)
    r = run("tool", {"wheelhouse": str(tmp_path / "wheels"), "venv": str(shared / "venv"), "version": "0.1.0"},
            check=True, as_root=True)
    assert r.failed and r.result["msg"].startswith(f"refusing to use the venv {shared / 'venv'} as root"), r.result
    sticky = safe_dir(tmp_path / "sticky")
    sticky.chmod(0o1777)  # like /tmp: fine above a directory of root's
    r = run("tool", {"wheelhouse": str(tmp_path / "wheels"), "venv": str(sticky / "venv"), "version": "0.1.0"},
            check=True, as_root=True)
    assert not r.failed and r.result["needed"] is True, r.result


@AS_ROOT
def test_tool_refuses_to_run_a_venv_python_others_can_change(tmp_path):
    open_dir = safe_dir(tmp_path / "open")
    real = program(open_dir / "python3", f"#!{sys.executable}\nprint('0.1.0')\n")
    venv = tmp_path / "venv"
    safe_dir(venv / "bin")
    (venv / "bin" / "python").symlink_to(real)
    args = {"wheelhouse": str(tmp_path / "wheels"), "venv": str(venv), "version": "0.1.0"}
    assert not run("tool", args, check=True, as_root=True).failed
    open_dir.chmod(0o777)
    r = run("tool", args, check=True, as_root=True)
    assert r.failed and "refusing to run the venv's Python" in r.result["msg"], r.result
    # removing it is still possible (its Python is not run)
    r = run("tool", {"venv": str(venv), "state": "absent"}, as_root=True)
    assert not r.failed and r.result["changed"] is True and not venv.exists(), r.result


@AS_ROOT
def test_tool_refuses_wheels_others_can_change(tmp_path):
    wheels = safe_dir(tmp_path / "wheels")
    program(wheels / "nso_install-0.1.0-py3-none-any.whl", "", mode=0o666)
    r = run("tool", {"wheelhouse": str(wheels), "venv": str(tmp_path / "venv")}, as_root=True)
    assert r.failed and "refusing to use the wheelhouse file" in r.result["msg"] and "mode 0666" in r.result["msg"]
    assert not (tmp_path / "venv").exists()
    (wheels / "nso_install-0.1.0-py3-none-any.whl").chmod(0o644)
    program(wheels / "other-1.0.tar.gz", "", mode=0o646)  # pip --find-links takes source archives too
    r = run("tool", {"wheelhouse": str(wheels), "venv": str(tmp_path / "venv")}, as_root=True)
    assert r.failed and "other-1.0.tar.gz" in r.result["msg"] and "mode 0646" in r.result["msg"], r.result
