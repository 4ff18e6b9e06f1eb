"""``sample-dist DEST`` never writes where another account could redirect it.

Before: run as root into an existing DEST owned by another account (or writable by everyone),
the writer created, chmod-ed and utime-d by path, so DEST's owner could swap a directory for a
symbolic link between two steps and have root create files in, or chmod, any directory; a DEST
that was itself a link was followed."""

from __future__ import annotations

import os
import stat

import pytest

from nso_install import sample
from nso_install.sample import artifact_name, make_sample_distribution

from support import cli, snapshot

NOBODY = 65534


def _refused(r, *words):
    assert r.exit_code == 2, r.output + r.stderr
    assert "Error: sample-dist:" in r.stderr and "Hint:" in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")
def test_destination_of_another_account_is_refused(tmp_path):
    dest = tmp_path / "mallory"
    dest.mkdir()
    os.chown(dest, NOBODY, NOBODY)
    _refused(cli("sample-dist", dest, ok=False), str(dest), f"belongs to uid {NOBODY}")
    assert os.listdir(dest) == []


@pytest.mark.parametrize("mode, ok", [(0o777, False), (0o757, False), (0o1777, True), (0o775, True), (0o700, True)])
def test_destination_writable_by_others_needs_the_sticky_bit(tmp_path, mode, ok):
    dest = tmp_path / "shared"
    dest.mkdir()
    dest.chmod(mode)
    r = cli("sample-dist", dest, ok=False)
    if ok:
        assert r.exit_code == 0 and (dest / artifact_name("6.5.3", "tar.gz")).is_file()
    else:
        _refused(r, str(dest), "writable by others")
        assert os.listdir(dest) == []


def test_destination_that_is_a_symlink_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    _refused(cli("sample-dist", link, ok=False), str(link), "symbolic link")
    assert os.listdir(real) == []


@pytest.mark.parametrize("fmt", sample.FORMATS)
def test_artifact_path_that_is_a_symlink_is_refused_not_followed(tmp_path, fmt):
    dest = tmp_path / "dest"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine\n")
    victim.chmod(0o700)
    before = snapshot(victim)
    (dest / artifact_name("6.5.3", fmt)).symlink_to(victim if fmt == "dir" else victim / "keep")
    _refused(cli("sample-dist", dest, "--format", fmt, ok=False), "symbolic link")
    assert snapshot(victim) == before


def test_missing_destination_is_created_and_written(tmp_path):
    dest = tmp_path / "a/b/c"
    r = cli("sample-dist", dest, "--format", "dir")
    assert r.stdout.strip() == str(dest / "nso-6.5.3") and (dest / "nso-6.5.3/VERSION").read_text() == "6.5.3\n"


def test_directory_swapped_for_a_link_while_writing_is_not_followed(tmp_path, monkeypatch):
    """Whoever could write DEST swaps nso-VSN/bin for a link to another directory after its first
    file was written: the rest still goes into the real bin (through its descriptor), nothing
    is created, chmod-ed or touched in the link's target."""
    dest = tmp_path / "dest"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("the victim's\n")
    (victim / "secret").chmod(0o600)
    victim.chmod(0o700)
    before = snapshot(victim)
    real_reader = sample._entry_reader
    swapped = []

    def reader(e):
        if e.path == "bin/ncs_cli" and not swapped:  # bin/ncs and others are already written
            top = dest / "nso-6.5.3"
            os.rename(top / "bin", top / "bin.moved")
            (top / "bin").symlink_to(victim)
            swapped.append(True)
        return real_reader(e)

    monkeypatch.setattr(sample, "_entry_reader", reader)
    make_sample_distribution(dest, "6.5.3", "dir")
    assert swapped
    assert snapshot(victim) == before
    moved = dest / "nso-6.5.3/bin.moved"
    assert stat.S_IMODE(os.stat(moved / "ncs_cli").st_mode) == 0o755 and (moved / "ncs").is_file()


@pytest.mark.parametrize("version", ["abc", "../../x", "6", "6.5.3/../x", ""])
def test_a_version_that_is_no_nso_version_is_a_usage_error_naming_it(tmp_path, version):
    """It was "unexpected ValueError ... This is a bug in nso-install", exit 1."""
    dest = tmp_path / "dest"
    r = cli("sample-dist", dest, "--version", version, ok=False)
    _refused(r, f"--version {version!r} is not an NSO version")
    assert "bug" not in r.stderr and not dest.exists()
