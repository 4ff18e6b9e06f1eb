"""check_staging_root on its own: each component rule, with the reason it gives (the run's
tests reach it only through the command line, where other checks answer first)."""

from __future__ import annotations

import os

import pytest

from nso_install.errors import UsageError
from nso_install.target import check_staging_root

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="staging roots are checked when root stages")
NOBODY = 65534


@pytest.fixture
def base(tmp_path):
    """A root-owned 0755 directory to stage under (pytest's own directories are root's)."""
    os.chmod(tmp_path, 0o755)
    return tmp_path


def test_a_root_owned_staging_root_is_accepted(base):
    (base / "stage").mkdir(mode=0o755)
    check_staging_root(base / "stage")
    check_staging_root(base / "stage/missing/below")  # missing components are made by nso-install


def test_a_symlink_on_the_way_to_the_staging_root_is_refused_as_unsafe(base):
    (base / "real").mkdir(mode=0o755)
    os.symlink(base / "real", base / "link")  # root's own link, to a root-owned directory
    with pytest.raises(UsageError) as e:
        check_staging_root(base / "link/stage")
    assert e.value.reference == "unsafe-staging-root" and "symbolic link" in e.value.message


def test_a_staging_root_that_is_itself_sticky_and_world_writable_is_refused(base):
    """Sticky is fine *above* the staging root (/tmp): inside a sticky world-writable root any
    user could still create etc/ or opt/ before nso-install does."""
    stage = base / "stage"
    stage.mkdir()
    os.chmod(stage, 0o1777)
    with pytest.raises(UsageError) as e:
        check_staging_root(stage)
    assert e.value.reference == "unsafe-staging-root" and "1777" in e.value.message


def test_a_sticky_directory_above_the_staging_root_is_fine(base):
    shared = base / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    (shared / "stage").mkdir(mode=0o755)
    check_staging_root(shared / "stage")


@pytest.mark.parametrize("mode", [0o775, 0o757])
def test_a_staging_root_writable_by_group_or_others_is_refused(base, mode):
    stage = base / "stage"
    stage.mkdir()
    os.chmod(stage, mode)
    with pytest.raises(UsageError) as e:
        check_staging_root(stage)
    assert e.value.reference == "unsafe-staging-root"


def test_a_component_owned_by_another_account_is_refused(base):
    (base / "home").mkdir(mode=0o755)
    os.chown(base / "home", NOBODY, NOBODY)
    (base / "home/stage").mkdir(mode=0o755)
    with pytest.raises(UsageError) as e:
        check_staging_root(base / "home/stage")
    assert e.value.reference == "unsafe-staging-root" and f"uid {NOBODY}" in e.value.message


def test_a_looping_link_the_real_path_check_cannot_resolve_is_refused_as_a_link(base):
    """realpath leaves a link loop as it is, so the real-path comparison passes it: the
    component walk is what names it a symbolic link (not merely 'not a directory')."""
    os.symlink("loop", base / "loop")
    with pytest.raises(UsageError) as e:
        check_staging_root(base / "loop/stage")
    assert e.value.reference == "unsafe-staging-root" and "symbolic link" in e.value.message


@pytest.mark.parametrize("rel", ["etc/group", "etc/passwd", "etc"])
@pytest.mark.parametrize("how", ["owned", "writable", "link"])
def test_account_files_another_account_can_change_are_refused(base, sample_dists, rel, how):
    """Root took the owners and groups it gives the keys, the IPC secret and privileged binaries
    from the staging root's etc/passwd and etc/group, whoever could edit them: a copy that kept
    another account's ownership, or mode 0666, let that account give ncsadmin its own gid and be
    handed the staged IPC secret, group-readable. Refused, before anything is written."""
    from support import cli

    stage = base / "stage"
    (stage / "etc").mkdir(parents=True, mode=0o755)
    for name in ("passwd", "group"):
        (stage / "etc" / name).write_text(open(f"/etc/{name}").read())
        os.chmod(stage / "etc" / name, 0o644)
    if how == "owned":
        os.chown(stage / rel, NOBODY, -1)
    elif how == "link":
        real = base / f"real-{rel.replace('/', '-')}"
        os.rename(stage / rel, real)
        os.symlink(real, stage / rel)
    else:
        os.chmod(stage / rel, 0o777 if rel == "etc" else 0o666)
    with pytest.raises(UsageError) as e:
        check_staging_root(stage)
    assert e.value.reference == "unsafe-staging-root" and f"{stage / rel} " in e.value.message
    assert {"owned": "belongs to uid 65534", "writable": "writable by group or others",
            "link": "is a symbolic link"}[how] in e.value.message
    before = sorted(p.name for p in stage.rglob("*"))
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", stage, ok=False)
    assert r.exit_code == 2 and "root takes the accounts' numbers" in r.stderr
    assert sorted(p.name for p in stage.rglob("*")) == before


def test_uninstall_checks_the_staging_root_as_install_does(base, sample_dists):
    """uninstall under --root never checked it: root removed trees, handed files to root and ran
    userdel --prefix with account files another account could edit."""
    from support import cli, host_accounts_root

    stage = host_accounts_root(base / "stage")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", stage)
    os.chown(stage / "etc/group", NOBODY, -1)
    r = cli("uninstall", "--all", "--accounts", "--root", stage, ok=False)
    assert r.exit_code == 2 and "root takes the accounts' numbers" in r.stderr, r.stderr
    assert (stage / "opt/ncs/current").is_symlink()  # nothing removed
    os.chown(stage / "etc/group", 0, -1)
    assert cli("uninstall", "--all", "--accounts", "--root", stage).exit_code == 0


@pytest.mark.parametrize("rel, how", [("var/lib", "owned"), ("var", "writable"), ("var/lib/nso-install", "owned")])
def test_a_state_directory_another_account_can_change_is_refused(base, sample_dists, rel, how):
    """A staging root whose var/lib another account owned was staged into as root: that account
    could swap state.json, and a re-run as root took the options it remembers from there
    (--setuid-cmdwrapper, IPC grants, the directories uninstall --all removes). Refused by
    install, uninstall, keys rotate and activate, before anything is changed."""
    from support import cli, snapshot

    stage = base / "stage"
    stage.mkdir(mode=0o755)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", stage)
    if how == "owned":
        os.chown(stage / rel, NOBODY, -1)
    else:
        os.chmod(stage / rel, 0o777)
    before = snapshot(stage)
    for args in (("install", sample_dists["tar.gz"], "--system-install"), ("uninstall", "--all"),
                 ("keys", "rotate"), ("activate", "6.5.3")):
        r = cli(*args, "--root", stage, ok=False)
        assert r.exit_code == 2 and f"{stage / rel} " in r.stderr and "the options nso-install remembers" in r.stderr, \
            (args, r.stderr)
    assert snapshot(stage) == before


def test_on_a_host_the_state_directory_is_held_by_root_alone_as_the_four_directories_are(base, sample_dists,
                                                                                          monkeypatch):
    """Without --root the staging root rules do not apply; what holds /var/lib/nso-install is then
    judged as what holds INSTALL_DIR is. Shown here under a staging root whose own check is
    left out (the host's /var/lib is not this test's to change)."""
    from support import cli

    from nso_install import run

    stage = base / "stage"
    (stage / "var/lib").mkdir(parents=True)
    os.chown(stage / "var/lib", NOBODY, -1)
    monkeypatch.setattr(run, "check_staging_root", lambda *a, **k: None)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", stage, ok=False)
    assert r.exit_code == 1 and "nso-install's state directory /var/lib/nso-install: /var/lib belongs to uid 65534" \
        in r.stderr and "a re-run takes the options it remembers from there" in r.stderr, r.stderr
    assert not (stage / "var/lib/nso-install").exists() and not (stage / "opt").exists()


def test_a_state_directory_that_is_a_link_is_refused_by_name(base, sample_dists):
    """A root-owned link at var/lib/nso-install passes the staging root's rules (where it leads is
    not theirs to judge), and every run then failed with "unexpected NotADirectoryError ... This is
    a bug in nso-install": the state directory is never followed through a link, and said so."""
    from support import cli, snapshot

    stage = base / "stage"
    stage.mkdir(mode=0o700)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", stage)
    (stage / "srv").mkdir()
    os.rename(stage / "var/lib/nso-install", stage / "srv/state")
    os.symlink("/srv/state", stage / "var/lib/nso-install")
    before = snapshot(stage)
    for args in (("install", sample_dists["tar.gz"], "--system-install"), ("uninstall", "--all"),
                 ("keys", "rotate"), ("activate", "6.5.3")):
        r = cli(*args, "--root", stage, ok=False)
        assert r.exit_code == 1 and "unexpected" not in r.stderr, (args, r.stderr)
        assert f"{stage / 'var/lib/nso-install'} (nso-install's records and lock) is a symbolic link (to " \
            "/srv/state)" in r.stderr, (args, r.stderr)
    assert snapshot(stage) == before
