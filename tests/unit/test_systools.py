"""System tools (setcap, useradd, ssh-keygen...) are found in system directories first."""

import os

from nso_install import systools


def test_system_directories_win_over_path(tmp_path, monkeypatch):
    """A writable directory early in root's PATH cannot substitute a system tool."""
    fake = tmp_path / "setcap"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    cmd = systools.system_tool("setcap")
    assert cmd is not None and str(cmd.executable).startswith(("/usr/sbin", "/sbin", "/usr/bin", "/bin"))


def test_missing_tool_is_none():
    assert systools.system_tool("no-such-tool-nso-install") is None
