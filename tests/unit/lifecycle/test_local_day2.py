"""Day 2 of a local install (--local-install DIR): status and verify judge the one directory,
its tree against its manifest (what the install writes into it left to its own checks), its
config files and its in-progress marker; no current link, no service, no privileges granted."""

from __future__ import annotations

import json
import os

import pytest
from support import cli


@pytest.fixture
def local(tmp_path, dists):
    loc = tmp_path / "nso"
    cli("install", dists["6.5.3"], "--local-install", loc)
    return loc


def test_a_fresh_local_install_verifies_clean_and_status_shows_it(local):
    r = cli("verify", "--local-install", local, "-v", "--full")
    # the config, secrets and records the install writes into its own tree are not "extra"
    assert r.output.strip() == "Verify: 1 tree(s) checked with hashes, 0 problem(s), 0 note(s), 0 extra entries."
    s = json.loads(cli("status", "--local-install", local, "--json").output)
    assert (s["local_dir"], s["install_dir"], s["current"]) == (str(local), None, None)
    assert [(v["path"], v["version"], v["active"], v["manifest"]) for v in s["versions"]] == \
        [(str(local), "6.5.3", True, True)]
    assert s["spec"]["kind"] == "local" and s["unfinished"] is None and not s["records_unsealed"]
    # what a local install has no use for is not shown as if it applied (/opt/ncs, systemd...)
    assert not {"install_dir", "config_dir", "run_dir", "log_dir", "run_as_user", "init_system", "setuid_cmdwrapper",
                "keep_ncs_setup"} & set(s["spec"])
    text = cli("status", "--local-install", local).output
    assert f"NSO local install in {local}:" in text and "current" not in text and "service" not in text


def test_damage_in_a_local_install_fails_verify_and_an_edit_is_a_note(local):
    os.chmod(local / "bin/ncs", 0o644)
    (local / "bin/ncs_cli").unlink()
    with open(local / "etc/ncs/ncs.conf", "a") as f:
        f.write("<!-- an edit -->\n")
    os.chmod(local / "bin", 0o777)
    r = cli("verify", "--local-install", local, "--json", ok=False)
    assert r.exit_code == 1
    found = {(f["path"][len(str(local)) + 1:], f["fails"]) for f in json.loads(r.output)["findings"]}
    assert ("bin/ncs", True) in found and ("bin", True) in found
    assert ("bin/ncs_cli", True) in found
    assert ("etc/ncs/ncs.conf", False) in found  # the administrator's edit: worth knowing, not damage


def test_a_setuid_bit_added_in_a_local_install_fails_verify(local):
    epam = next(local.glob("lib/ncs/lib/*/pam/priv/epam"), None) or next(local.glob("lib/ncs/lib/pam-*/priv/epam"))
    os.chmod(epam, 0o4755)
    r = cli("verify", "--local-install", local, ok=False)
    assert r.exit_code == 1 and str(epam) in r.output


def test_a_relative_directory_is_taken_from_the_current_one(local, monkeypatch):
    monkeypatch.chdir(local.parent)
    assert "1 tree(s) checked, 0 problem(s)" in cli("verify", "--local-install", "nso").output


def test_nothing_installed_there_fails_and_says_where_it_looked(tmp_path):
    r = cli("verify", "--local-install", tmp_path / "none", ok=False)
    assert r.exit_code == 1 and f"no NSO installed in {tmp_path / 'none'} to verify" in r.output


def test_a_link_to_the_install_is_not_followed_and_verify_says_so(local):
    """A link to the install (~/nso -> ~/nso-6.5.3), which install refuses as a link, made
    verify say "no VERSION file there" of a directory whose VERSION the operator can read
    through it: it now says it is a link nso-install does not follow, and fails still
    (found by review)."""
    link = local.parent / "nso-link"
    link.symlink_to(local)
    r = cli("verify", "--local-install", link, ok=False)
    assert r.exit_code == 1 and f"{link} is a symbolic link (to {local})" in r.output
    assert "no VERSION file" not in r.output
    r = cli("status", "--local-install", link)  # (it listed "(none)" and no reason)
    assert f"{link} is a symbolic link (to {local}), which nso-install never follows" in r.output


def test_install_dir_and_local_install_exclude_each_other(local):
    r = cli("verify", "--local-install", local, "--install-dir", "/opt/ncs", ok=False)
    assert r.exit_code == 2 and "--install-dir and --local-install were both given" in r.output


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another account's records as root (root only)")
def test_root_reading_another_accounts_local_install_says_why_it_trusts_no_manifest(tmp_path, dists):
    """Records another account wrote carry no seal of this host's root: status said "no manifest:
    not unpacked by nso-install" of a tree nso-install had unpacked."""
    import shutil

    from support import NOBODY, as_nobody, forget_template_cache, public_tmp_dir

    with public_tmp_dir() as d:
        home = d / "home"
        home.mkdir()
        os.chown(home, NOBODY, NOBODY)
        dist = d / dists["6.5.3"].name
        shutil.copy(dists["6.5.3"], dist)
        os.chmod(dist, 0o644)
        try:
            with as_nobody():
                cli("install", dist, "--local-install", home / "nso")
        finally:
            forget_template_cache()  # (that run kept it in the install, removed with the test)
        s = json.loads(cli("status", "--local-install", home / "nso", "--json").output)
        text = cli("status", "--local-install", home / "nso").output
    assert s["records_unsealed"] and [v["manifest"] for v in s["versions"]] == [False]
    assert "its records are not sealed on this host, so root does not trust them" in text
    assert "not unpacked by nso-install" not in text
