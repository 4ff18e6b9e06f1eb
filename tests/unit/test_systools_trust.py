"""The host's tools come only from root's own system directories, never from $PATH, and only when
nobody but root can have put them there.

Before: system_tool() fell back to $PATH (root ran a planted ssh-keygen/useradd from a
directory early in PATH) and took any executable in the system directories, whoever owned it
or its directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from nso_install import systools
from nso_install.actions import keys

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")


def _tool(directory: Path, name: str, marker: Path | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text(f"#!/bin/sh\n{f'touch {marker}' if marker else ''}\necho planted\n")
    p.chmod(0o755)
    return p


def test_path_is_never_searched(tmp_path, monkeypatch):
    planted = tmp_path / "planted"
    _tool(planted, "nso-install-planted-tool")
    _tool(planted, "ssh-keygen")
    monkeypatch.setenv("PATH", f"{planted}:{os.environ.get('PATH', '')}")
    assert shutil.which("nso-install-planted-tool") is not None  # the shell would run it
    assert systools.system_tool("nso-install-planted-tool") is None
    monkeypatch.setattr(systools, "SYSTEM_DIRS", (str(tmp_path / "empty"),))
    assert systools.system_tool("ssh-keygen") is None  # not in the system directories: missing


def test_names_with_a_slash_are_not_tools():
    assert systools.system_tool("../bin/sh") is None and systools.system_tool("/bin/sh") is None


def test_real_system_tools_are_found():
    sh = systools.system_tool("sh")
    assert sh is not None and str(sh.executable) in ("/usr/sbin/sh", "/sbin/sh", "/usr/bin/sh", "/bin/sh")


def _root_only_chain(path: str) -> bool:
    """``path`` and every directory above it (links resolved) root's and not group/other-writable."""
    p = os.path.realpath(path)
    while True:
        st = os.lstat(p)
        if st.st_uid != 0 or st.st_mode & 0o022:
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


@pytest.fixture
def trusted_base():
    """A fresh directory whose every ancestor is root's and not writable by group or others
    (tmp_path is not: /tmp is world-writable), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a root-only directory chain")
    base = next((b for b in ("/root", "/var/lib", "/opt", "/run") if os.path.isdir(b) and _root_only_chain(b)), None)
    if base is None:
        pytest.skip("no root-only directory to make a test directory in")
    d = Path(tempfile.mkdtemp(prefix=".nso-install-test-", dir=os.path.realpath(base)))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@needs_root
def test_only_a_binary_root_alone_could_have_placed_is_taken(trusted_base, monkeypatch):
    bindir = trusted_base / "sbin"
    tool = _tool(bindir, "nso-tool")
    bindir.chmod(0o755)
    monkeypatch.setattr(systools, "SYSTEM_DIRS", (str(bindir),))
    found = systools.system_tool("nso-tool")
    assert found is not None and str(found.executable) == str(tool)  # the control: all root's

    os.chown(tool, NOBODY, NOBODY)  # the binary belongs to another account
    assert systools.system_tool("nso-tool") is None
    os.chown(tool, 0, 0)
    tool.chmod(0o775)  # writable by its group
    assert systools.system_tool("nso-tool") is None
    tool.chmod(0o757)  # writable by others
    assert systools.system_tool("nso-tool") is None
    tool.chmod(0o644)  # not executable
    assert systools.system_tool("nso-tool") is None
    tool.chmod(0o755)
    assert systools.system_tool("nso-tool") is not None

    os.chown(bindir, NOBODY, NOBODY)  # its directory belongs to another account
    assert systools.system_tool("nso-tool") is None
    os.chown(bindir, 0, 0)
    bindir.chmod(0o1777)  # world-writable, even sticky: others may add names
    assert systools.system_tool("nso-tool") is None
    bindir.chmod(0o755)
    os.chown(trusted_base, NOBODY, NOBODY)  # a directory above it
    assert systools.system_tool("nso-tool") is None
    os.chown(trusted_base, 0, 0)
    assert systools.system_tool("nso-tool") is not None


@needs_root
def test_links_are_walked_and_must_lead_to_root_only_places(trusted_base, tmp_path, monkeypatch):
    bindir = trusted_base / "bin"
    bindir.mkdir(mode=0o755)
    real = _tool(trusted_base / "libexec", "real-tool")
    (trusted_base / "libexec").chmod(0o755)
    (bindir / "linked").symlink_to(real)
    monkeypatch.setattr(systools, "SYSTEM_DIRS", (str(bindir),))
    assert systools.system_tool("linked") is not None  # root's link to root's binary
    untrusted = _tool(tmp_path / "elsewhere", "evil")  # under world-writable /tmp
    (bindir / "evil").symlink_to(untrusted)
    assert systools.system_tool("evil") is None
    os.lchown(bindir / "linked", NOBODY, NOBODY)  # a link of another account
    assert systools.system_tool("linked") is None


def test_system_directories_that_are_links_are_followed():
    for d in systools.SYSTEM_DIRS:
        if os.path.islink(d) and os.path.exists(os.path.join(d, "sh")):
            assert systools.trusted_executable(os.path.join(d, "sh")) == os.path.join(d, "sh")


def test_ssh_keygen_untrusted_falls_back_to_cryptography(tmp_path, monkeypatch):
    """A planted ssh-keygen (in PATH and in a directory that is not root's alone) never runs;
    the host key is made with cryptography instead."""
    marker = tmp_path / "planted-ran"
    planted = tmp_path / "planted"
    _tool(planted, "ssh-keygen", marker)
    monkeypatch.setenv("PATH", f"{planted}:{os.environ.get('PATH', '')}")
    monkeypatch.setattr(systools, "SYSTEM_DIRS", (str(planted),))
    assert keys._ssh_keygen() is None
    work = tmp_path / "work"
    work.mkdir()
    private, pub = keys.generate_ssh_key(work, fips=True, comment="nso@test")  # (only FIPS keys use ssh-keygen)
    assert not marker.exists()
    assert pub.startswith(b"ecdsa-sha2-nistp256 ") and pub == keys.derive_ssh_public(private, "nso@test")
