"""The commands a mask's refusal gives aim where the run looked: under a staging root, a bare
``systemctl unmask ncs`` or ``rm /etc/tmpfiles.d/ncs.conf`` would undo the host's own mask."""

import os
from pathlib import Path

import pytest

from nso_install import fsops
from nso_install.errors import UnsafePathError
from nso_install.masks import mask_refusal


def test_on_the_host_the_commands_name_the_unit_and_the_entry():
    unit = mask_refusal("/etc/systemd/system/ncs.service", "/dev/null")
    assert unit.reference == "unit-masked" and "Run systemctl unmask ncs and re-run" in unit.hint
    entry = mask_refusal("/etc/tmpfiles.d/ncs.conf", "/dev/null")
    assert entry.reference == "tmpfiles-masked" and "(rm /etc/tmpfiles.d/ncs.conf)" in entry.hint


def test_under_a_staging_root_they_aim_at_its_files_shell_quoted():
    unit = mask_refusal("/etc/systemd/system/ncs.service", "/dev/null", root="/srv/st age")
    assert "Run systemctl --root='/srv/st age' unmask ncs and re-run" in unit.hint, unit.hint
    entry = mask_refusal("/etc/tmpfiles.d/ncs.conf", "/dev/null", root="/srv/st age/")
    assert "(rm '/srv/st age/etc/tmpfiles.d/ncs.conf')" in entry.hint, entry.hint


def test_a_mask_met_by_the_write_itself_is_aimed_the_same_way(tmp_path):
    """A mask made between the plan's look and the write is refused by fsops, which knows the
    host path and the target path shown: the difference is the staging root."""
    root = tmp_path / "st age"
    entry = root / "etc/tmpfiles.d/ncs.conf"
    entry.parent.mkdir(parents=True)
    os.symlink("/dev/null", entry)
    shown = "/etc/tmpfiles.d/ncs.conf"
    with pytest.raises(UnsafePathError) as e:
        fsops.atomic_write(Path(entry), b"d /run/ncs\n", 0o644, shown=shown)
    assert e.value.reference == "tmpfiles-masked"
    assert f"(rm '{entry}')" in e.value.hint, e.value.hint
    assert os.readlink(entry) == "/dev/null"
