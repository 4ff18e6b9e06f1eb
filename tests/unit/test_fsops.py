import os
import stat

import pytest

from nso_install import fsops
from nso_install.errors import UnsafePathError


def test_atomic_write_sets_mode_before_first_byte(tmp_path, monkeypatch):
    seen = []
    real_write = os.write

    def spy(fd, data):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    fsops.atomic_write(tmp_path / "k", b"secret", 0o400)
    assert seen and all(m == 0o400 for m in seen)
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o400
    assert (tmp_path / "k").read_bytes() == b"secret"


def test_atomic_write_refuses_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "k")
    with pytest.raises(UnsafePathError):
        fsops.atomic_write(tmp_path / "k", b"x", 0o600)
    assert victim.read_text() == "keep"


def test_crash_at_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    f = tmp_path / "ncs.conf"
    f.write_text("old")

    def boom(*a, **k):
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fsops.atomic_write(f, b"new", 0o644)
    assert f.read_text() == "old"
    assert fsops.stale_temps(tmp_path) == []


def test_atomic_symlink_switch(tmp_path):
    fsops.atomic_symlink(tmp_path / "current", "ncs-6.4")
    fsops.atomic_symlink(tmp_path / "current", "ncs-6.5")
    assert os.readlink(tmp_path / "current") == "ncs-6.5"
    assert sorted(os.listdir(tmp_path)) == ["current"]
