"""A distribution another account could have written: root unpacks what that account chose (and
makes epam setuid, gives ip and ncs.smp capabilities), so the run says so.  Judged on what is
read: the opened file's descriptor, every entry of a directory as it is listed and every file
as it is opened; a signed.bin verified against a pinned signer is read from a private copy and
needs no such note.  Before: nothing was said, whoever owned or could write the distribution."""

import json
import os
import shutil

import pytest

from nso_install.distribution import open_distribution
from nso_install.sample import certificate_pem, make_sample_distribution

from support import NOBODY, as_nobody, cli, public_tmp_dir

FORMATS = ("dir", "tar.gz", "installer.bin", "signed.bin")


def foreign(d) -> list[str]:
    return [n for n in d.warnings if "another account could have chosen what was installed" in n]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("dists")
    return {fmt: make_sample_distribution(d, "6.5.3", fmt) for fmt in FORMATS}


@pytest.fixture
def dist(made, tmp_path):
    """A fresh copy of a sample distribution of each format, root's and 0755/0644 to start with."""
    def copy(fmt):
        src = made[fmt]
        dst = tmp_path / src.name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        return dst
    return copy


@pytest.mark.parametrize("fmt", FORMATS)
def test_roots_own_distribution_gets_no_note(dist, fmt):
    with open_distribution(dist(fmt)) as d:
        d.validate()
        assert foreign(d) == []


@pytest.mark.parametrize("fmt", ["tar.gz", "installer.bin", "signed.bin"])
@pytest.mark.parametrize("how", ["owner", "others", "group"])
def test_a_file_another_account_could_write_is_noted(dist, fmt, how):
    f = dist(fmt)
    if how == "owner":
        os.chown(f, NOBODY, NOBODY)
    else:
        os.chmod(f, 0o646 if how == "others" else 0o664)
    with open_distribution(f) as d:
        [note] = foreign(d)
    said = {"owner": f"belongs to nobody (uid {NOBODY})", "others": "is writable by others",
            "group": "is writable by its group"}[how]
    assert note.startswith(f"{f.name}: it {said}") and "epam" in note and "--trusted-cert" in note


def test_a_pinned_signed_bin_needs_no_note_whoever_owns_it(dist, tmp_path):
    f = dist("signed.bin")
    os.chown(f, NOBODY, NOBODY)
    with open_distribution(f, trusted_certs=[certificate_pem()]) as d:
        assert d.verified and foreign(d) == []


@pytest.mark.parametrize("where", ["root", "deep-dir", "deep-file", "symlink", "group-writable-dir"])
def test_a_directory_with_an_entry_another_account_could_write_is_noted(dist, where):
    top = dist("dir")
    priv = top / "lib/ncs/lib/core/pam/priv"
    if where == "root":
        os.chown(top, NOBODY, NOBODY)
    elif where == "deep-dir":
        os.chown(priv, NOBODY, NOBODY)
    elif where == "deep-file":
        os.chown(priv / "epam", NOBODY, NOBODY)
    elif where == "symlink":
        os.symlink("epam", priv / "epam-link")
        os.chown(priv / "epam-link", NOBODY, NOBODY, follow_symlinks=False)
    else:
        os.chmod(priv, 0o775)
    with open_distribution(top) as d:
        d.validate()
        [note] = foreign(d)
    assert ("it belongs to nobody" if where == "root" else "lib/ncs/lib/core/pam/priv") in note


def test_a_sticky_tree_root_is_no_reason_but_another_accounts_entry_in_it_is(dist):
    """(A sticky directory inside the tree is refused as hostile; the root's own mode is no member's.)"""
    top = dist("dir")
    os.chmod(top, 0o1777)
    with open_distribution(top) as d:
        d.validate()
        assert foreign(d) == []
    (top / "planted").write_text("x\n")
    os.chown(top / "planted", NOBODY, NOBODY)
    with open_distribution(top) as d:
        d.validate()
        assert "planted in it belongs to nobody" in foreign(d)[0]


def test_a_file_swapped_for_another_accounts_after_it_was_listed_is_judged_as_opened(dist, monkeypatch):
    """The entry is listed root's; what is opened (another account's, swapped in through a
    directory it may write... here: by the test between listing and opening) is what counts."""
    from nso_install.distribution import readers

    top = dist("dir")
    epam = top / "lib/ncs/lib/core/pam/priv/epam"
    real = readers.DirectoryDistribution._open_file

    def swapping(self, dfd, base, name, size):
        if base == "epam":
            os.chown(epam, NOBODY, NOBODY)  # (the listing saw root's; the bytes read are nobody's)
        return real(self, dfd, base, name, size)

    monkeypatch.setattr(readers.DirectoryDistribution, "_open_file", swapping)
    with open_distribution(top) as d, public_tmp_dir() as out:
        dest = out / "t"
        dest.mkdir()
        d.extract(dest, uid=None, gid=None)
        assert "lib/ncs/lib/core/pam/priv/epam in it belongs to nobody" in foreign(d)[0]


def test_the_account_running_it_owning_the_distribution_is_no_reason(dist, tmp_path):
    """nobody reading its own tarball (a local install): the only account that could write it is
    the one installing from it."""
    with public_tmp_dir() as pub:
        f = pub / "nso-6.5.3.tar.gz"
        shutil.copy(dist("tar.gz"), f)
        os.chown(f, NOBODY, NOBODY)
        with as_nobody():
            with open_distribution(f) as d:
                assert foreign(d) == []
            os.chmod(f, 0o666)
            with open_distribution(f) as d:
                assert "it is writable by others" in foreign(d)[0]


def test_the_install_run_reports_it(dist, tmp_path):
    top = dist("dir")
    os.chown(top / "lib/ncs/bin/ip", NOBODY, NOBODY)
    out = json.loads(cli("install", top, "--system-install", "--root", tmp_path / "r", "--json").stdout)
    assert out["changed"] > 0
    assert any("lib/ncs/bin/ip in it belongs to nobody" in n and "epam" in n for n in out["warnings"])
    quiet = cli("install", top, "--system-install", "--root", tmp_path / "r2", "-q")  # (-q keeps it)
    assert "warning: " in quiet.stderr and "lib/ncs/bin/ip in it belongs to nobody" in quiet.stderr
