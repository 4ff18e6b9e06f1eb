"""As root, nso-install refuses to go on in a Python that may already have run another account's
code: a user site-packages directory (whose .pth files run at start-up) that is not root's
alone, or PYTHONPATH/PYTHONHOME/PYTHONSTARTUP/PYTHONUSERBASE set.  ``--help`` and
``--version`` are refused too (the code ran before them).

Before: the console script (``#!/usr/bin/python3`` without -I) ran as root with
HOME=/home/mallory, so mallory's ~/.local/lib/python3.X/site-packages/evil.pth ran as root,
and nso-install carried on as if nothing happened."""

from __future__ import annotations

import os
import site
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nso_install.cli import main

NOBODY = 65534
STARTUP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")
COMMANDS = [["--version"], ["--help"], [], ["install", "--help"], ["sample-dist", "--help"],
            ["render-conf", "--nso-version", "6.5.3"]]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the guard is for root")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for v in STARTUP_VARIABLES:
        monkeypatch.delenv(v, raising=False)


def _user_site(monkeypatch, path):
    monkeypatch.setattr(site, "ENABLE_USER_SITE", True)
    monkeypatch.setattr(site, "getusersitepackages", lambda: str(path))


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _refused(r, *words):
    assert r.exit_code == 2, r.output
    assert "untrusted-python-startup" not in r.stdout  # a message, not a dump
    err = r.stderr
    assert "Error: running as root" in err and "python3 -I -m nso_install" in err and "virtual environment" in err
    assert "nso-install, version" not in r.stdout and "Usage:" not in r.stdout
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("args", COMMANDS)
def test_user_site_of_another_account_is_refused_for_every_command(tmp_path, monkeypatch, args):
    usersite = tmp_path / "home/mallory/.local/lib/python3.11/site-packages"
    usersite.mkdir(parents=True)
    for p in (tmp_path / "home/mallory", tmp_path / "home/mallory/.local", usersite.parent.parent, usersite.parent,
              usersite):
        os.chown(p, NOBODY, NOBODY)
    (usersite / "evil.pth").write_text("import os\n")
    _user_site(monkeypatch, usersite)
    _refused(_run(args), str(usersite), f"uid {NOBODY}", ".pth")


def test_root_owned_site_below_a_directory_of_another_account_is_refused(tmp_path, monkeypatch):
    home = tmp_path / "home/mallory"
    usersite = home / ".local/lib/python3.11/site-packages"
    usersite.mkdir(parents=True)
    os.chown(home, NOBODY, NOBODY)  # mallory can rename .local and put her own in its place
    _user_site(monkeypatch, usersite)
    _refused(_run(["--version"]), str(home), "above the user site directory")


@pytest.mark.parametrize("mode, who", [(0o777, "others"), (0o775, "its group")])
def test_root_owned_site_writable_by_others_is_refused(tmp_path, monkeypatch, mode, who):
    usersite = tmp_path / "site-packages"
    usersite.mkdir()
    usersite.chmod(mode)
    _user_site(monkeypatch, usersite)
    _refused(_run(["--version"]), f"writable by {who}")


def test_roots_own_user_site_and_a_missing_one_are_fine(tmp_path, monkeypatch):
    usersite = tmp_path / "root/.local/lib/python3.11/site-packages"
    _user_site(monkeypatch, usersite)
    r = _run(["--version"])  # missing
    assert r.exit_code == 0 and "version" in r.stdout
    usersite.mkdir(parents=True, mode=0o755)
    r = _run(["--version"])  # root's (tmp_path sits under the sticky /tmp: fine)
    assert r.exit_code == 0 and "version" in r.stdout


def test_disabled_user_site_is_not_looked_at(tmp_path, monkeypatch):
    usersite = tmp_path / "site-packages"
    usersite.mkdir()
    os.chown(usersite, NOBODY, NOBODY)
    monkeypatch.setattr(site, "ENABLE_USER_SITE", False)  # python3 -s / -I, a venv
    monkeypatch.setattr(site, "getusersitepackages", lambda: str(usersite))
    assert _run(["--version"]).exit_code == 0


@pytest.mark.parametrize("variable", [v for v in STARTUP_VARIABLES if v != "PYTHONPATH"])
def test_startup_variables_are_refused(monkeypatch, variable):
    monkeypatch.setenv(variable, "/home/mallory/py")
    _refused(_run(["--version"]), f"{variable} is set")
    _refused(_run(["install", "--help"]), f"{variable} is set")


@pytest.mark.parametrize("how", ["owned-by-nobody", "below-one-of-nobody", "group-writable", "relative", "empty"])
def test_a_pythonpath_another_account_could_fill_is_refused(tmp_path, monkeypatch, how):
    mallory = tmp_path / "home/mallory"
    (mallory / "py").mkdir(parents=True)
    entry, said = str(mallory / "py"), None
    if how == "owned-by-nobody":
        os.chown(mallory / "py", NOBODY, NOBODY)
        said = f"the PYTHONPATH directory {entry} belongs to uid {NOBODY}"
    elif how == "below-one-of-nobody":
        os.chown(mallory, NOBODY, NOBODY)  # she can rename py and put her own in its place
        said = f"the directory {mallory} belongs to uid {NOBODY} (above the PYTHONPATH directory {entry})"
    elif how == "group-writable":
        os.chmod(mallory / "py", 0o775)
        said = "is writable by its group"
    elif how == "relative":
        entry, said = "py", "PYTHONPATH holds 'py', which is not an absolute path"
    else:
        entry, said = f"/usr/lib:{entry}:", "PYTHONPATH holds '', which is not an absolute path"
    monkeypatch.setenv("PYTHONPATH", entry)
    _refused(_run(["--version"]), said)


def test_a_pythonpath_only_root_could_fill_is_accepted(tmp_path, monkeypatch):
    """What NSO's /etc/profile.d/ncs.sh gives every login shell, root's too: the root-owned
    pyapi directory of the install (through the current link), whether or not it exists yet."""
    pyapi = tmp_path / "opt/ncs/ncs-6.5.3/src/ncs/pyapi"
    pyapi.mkdir(parents=True)
    os.symlink("ncs-6.5.3", tmp_path / "opt/ncs/current")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}/opt/ncs/current/src/ncs/pyapi:{tmp_path}/not/yet")
    r = _run(["--version"])
    assert r.exit_code == 0 and "nso-install, version" in r.stdout


def test_not_root_is_not_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert _run(["--version"]).exit_code == 0


def _subprocess(*pyflags, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in STARTUP_VARIABLES}
    env.update(env_extra)
    return subprocess.run([sys.executable, *pyflags, "-m", "nso_install", "--version"], capture_output=True,
                          text=True, env=env, timeout=60)


def test_the_advertised_fix_works(tmp_path):
    """The real interpreter: PYTHONPATH of another account -> refused; the same with -I (which
    ignores it) -> runs."""
    os.chown(tmp_path, NOBODY, NOBODY)
    r = _subprocess(env_extra={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 2 and f"the PYTHONPATH directory {tmp_path} belongs to uid {NOBODY}" in r.stderr
    r = _subprocess("-I", env_extra={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0 and "nso-install, version" in r.stdout
