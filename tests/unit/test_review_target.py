"""Review findings for target.py."""

import os
from pathlib import Path

import pytest

from nso_install.errors import UnsafePathError
from nso_install.target import Target


def test_link_through_a_missing_directory_cannot_leave_the_root(tmp_path):
    """A parent link whose target goes through a directory that does not exist yet and then
    back up with '..' produced a host path outside the root (root/missing/../../outside/f):
    as soon as 'missing' is created (by the plan itself, or by whoever planted the link), the
    kernel resolves it outside the root."""
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("missing/../../outside", root / "a")
    t = Target.at(root)
    with pytest.raises(UnsafePathError) as e:
        t.host("/a/f")
    assert e.value.reference == "symlink-escapes-root"


def test_missing_then_dotdot_stays_inside_and_is_resolved(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("missing/../etc", root / "a")
    t = Target.at(root)
    host = t.host("/a/f")
    assert ".." not in host.parts
    assert host == root / "etc" / "f"


def test_missing_parents_are_kept(tmp_path):
    t = Target.at(tmp_path)
    assert t.host("/opt/ncs/ncs-6.5.3/VERSION") == tmp_path / "opt/ncs/ncs-6.5.3/VERSION"


def test_to_target_accepts_names_starting_with_two_dots(tmp_path):
    t = Target.at(tmp_path)
    assert str(t.to_target(tmp_path / "..hidden")) == "/..hidden"
    with pytest.raises(UnsafePathError):
        t.to_target(tmp_path.parent / "x")
