"""Day 2 under a staging root (as root): status, verify, repair, activate, rollback, uninstall."""

from __future__ import annotations

import json
import os
import shlex
import shutil

import pytest
from support import cli, off_3des, snapshot

from nso_install.sample import make_sample_distribution

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")


def nso(*args, ok=True):
    return cli(*args, ok=ok)


def install(dist, root, *args, ok=True):
    return nso("install", dist, "--system-install", "--root", root, *args, ok=ok)


def js(*args):
    return json.loads(nso(*args, "--json").output)


@pytest.fixture
def two(root, dists):
    """6.4.1 installed and active, 6.5.3 installed beside it, NSO as nso."""
    install(dists["6.4.1"], root, "--run-as-user", "nso")
    install(dists["6.5.3"], root)
    return off_3des(root)


@pytest.mark.parametrize("command", ["activate", "uninstall"])
@pytest.mark.parametrize("given,said,hint", [
    ("current", "current is the link to the active version (6.4.1), not a version (installed: 6.4.1, 6.5.3)",
     "Name the version itself"),
    ("/opt/ncs/current", "/opt/ncs/current is the link to the active version (6.4.1)", "Name the version itself"),
    ("6.5", "NSO 6.5 is not installed under /opt/ncs (installed: 6.4.1, 6.5.3)", "Name it in full if you meant 6.5.3; if not: "),
    ("6.9.1", "NSO 6.9.1 is not installed under /opt/ncs (installed: 6.4.1, 6.5.3)", None),
])
def test_a_name_that_is_no_installed_version_is_answered_with_what_was_meant(two, command, given, said, hint):
    """`activate current` said "NSO current is not installed", and `activate 6.5` with 6.5.3
    installed sent the operator to install it."""
    snap = snapshot(two)
    r = nso(command, given, "--root", two, ok=False)
    assert r.exit_code == 2 and said in r.output, r.output
    assert hint is None or hint in r.output, r.output
    # current is never a version: not no-such-version, which the Ansible uninstall module takes
    # as already removed (`ncs_version: current` said ok and kept the active version)
    doc = json.loads(nso(command, "--json", "--root", two, "--", given, ok=False).stdout)
    assert doc["error"]["reference"] == ("bad-version" if "current" in given else "no-such-version"), doc
    assert snapshot(two) == snap


def test_a_full_version_that_is_the_start_of_another_is_not_taken_for_it(root, tmp_path):
    """With 6.4.1.1 installed and 6.4.1 already removed, `uninstall 6.4.1` (a re-run, a playbook)
    was told "Name it in full: 6.4.1.1.": followed, it removes the other version.  6.4.1 is
    a version of its own; the hint says what it would be for, and keeps what it said before."""
    dist = make_sample_distribution(tmp_path, "6.4.1.1", "tar.gz")
    install(dist, root)
    r = nso("uninstall", "6.4.1", "--root", root, ok=False)
    assert r.exit_code == 2 and "NSO 6.4.1 is not installed under /opt/ncs (installed: 6.4.1.1)" in r.output
    assert "Hint: Name it in full if you meant 6.4.1.1; if not: nso-install status" in r.output, r.output
    r = nso("activate", "6.4.1", "--root", root, ok=False)
    assert "Name it in full if you meant 6.4.1.1; if not: install it first: nso-install install" in r.output, r.output


# --- status ------------------------------------------------------------------------------------

def test_status_lists_versions_the_active_one_options_and_what_waits(two, dists):
    s = js("status", "--root", two)
    assert [(v["version"], v["active"], v["manifest"]) for v in s["versions"]] == [("6.4.1", True, True),
                                                                                  ("6.5.3", False, True)]
    assert s["spec"]["run_as_user"] == "nso" and s["running"] == [] and s["pending_new"] == []
    conf = two / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    install(dists["6.4.1"], two, "--set", "restconf.enabled=true")
    s = js("status", "--root", two)
    assert s["pending_new"] == ["/etc/ncs/ncs.conf.new"] and s["edited"] == ["/etc/ncs/ncs.conf"]
    text = nso("list", "--root", two).output
    assert "* 6.4.1" in text and "pending: /etc/ncs/ncs.conf.new" in text


def test_status_with_a_mistyped_install_dir_says_where_the_recorded_install_is(two):
    """status --install-dir /opt/nsc (a typo; the install is in /opt/ncs) listed no version and
    the recorded options with install_dir /opt/nsc, as if the install were there: it names the
    recorded INSTALL_DIR, and the spec shown is the recorded one."""
    text = nso("status", "--root", two, "--install-dir", "/opt/nsc").output
    assert "the install nso-install recorded is in /opt/ncs: leave out --install-dir" in text, text
    s = js("status", "--root", two, "--install-dir", "/opt/nsc")
    assert (s["install_dir"], s["recorded_install_dir"], s["versions"]) == ("/opt/nsc", "/opt/ncs", [])
    assert s["spec"]["install_dir"] == "/opt/ncs", s["spec"]
    s = js("status", "--root", two, "--install-dir", "/opt/ncs/")  # (the recorded one, as given)
    assert s["recorded_install_dir"] is None and len(s["versions"]) == 2
    assert "recorded is in" not in nso("status", "--root", two).output


@pytest.mark.parametrize("command", [["activate", "9.9.9"], ["rollback"], ["uninstall", "9.9.9"], ["uninstall", "--all"],
                                     ["keys", "rotate"]])
def test_a_command_that_changes_the_system_install_run_by_another_account_needs_root(command):
    """install as another account said needs-root (exit 2); activate, rollback, uninstall and
    keys rotate said permission-denied (exit 1) on reading root's records, or whatever a reader
    met first where there were none (keys rotate's own needs-root came after): the same refusal
    for all, before anything is read."""
    import importlib

    from support import as_nobody

    importlib.import_module("secrets")  # (keys rotate's, imported as root: nobody may not read every Python's library)

    with as_nobody():
        r = nso(*command, "--json", ok=False)
    error = json.loads(r.stdout)["error"]
    assert (r.exit_code, error["reference"]) == (2, "needs-root"), (error, r.stderr)
    assert f"{' '.join(command[:2 if command[0] == 'keys' else 1])} changes the system install" in error["message"]


@pytest.mark.parametrize("command", [["status"], ["verify"], ["activate", "6.5.3"], ["uninstall", "--all", "--check"],
                                     ["keys", "rotate", "--check"]])
def test_damaged_records_of_a_staged_install_say_to_repair_them_under_that_root(two, command):
    """The hint said "Run nso-install install with the distribution": as written, on the host,
    not on the staged install whose records are damaged."""
    (two / "var/lib/nso-install/state.json").write_text("{damaged")
    r = nso(*command, "--root", two, "--json", ok=False)
    error = json.loads(r.stdout)["error"]
    assert (r.exit_code, error["reference"]) == (1, "state-damaged"), error
    assert f"Run nso-install install DISTRIBUTION --system-install --root {two} (with the install's options)" \
        in error["hint"], error


# --- verify, drift, repair ---------------------------------------------------------------------------

def test_verify_passes_on_an_intact_install(two):
    r = nso("verify", "--root", two)
    assert r.exit_code == 0 and "2 tree(s) checked, 0 problem(s)" in r.output
    assert js("verify", "--root", two, "--full")["ok"] is True


@pytest.mark.parametrize("damage, expect", [
    (lambda t: (t / "bin/ncs").unlink(), "bin/ncs: missing"),
    (lambda t: os.chmod(t / "VERSION", 0o666), "VERSION: mode 0644 -> 0666"),
    (lambda t: shutil.rmtree(t / "lib/ncs/erts"), "lib/ncs/erts: missing"),
])
def test_verify_reports_damage_check_fails_and_a_rerun_with_the_distribution_repairs(two, dists, damage, expect):
    tree = two / "opt/ncs/ncs-6.5.3"
    damage(tree)
    r = nso("verify", "--root", two, ok=False)
    assert r.exit_code == 1 and expect in r.output
    chk = install(dists["6.5.3"], two, "--check", "--fail-on-change", ok=False)
    assert chk.exit_code == 4 and "differs from what was unpacked" in chk.output
    fixed = install(dists["6.5.3"], two)
    assert "was repaired" in fixed.output
    assert nso("verify", "--root", two, "--full").exit_code == 0
    assert "Done: 0 changed" in install(dists["6.5.3"], two).output


def _predicted_and_done(check: str, run: str) -> tuple[set[str], set[str]]:
    """The actions a ``--check --json`` said would change, and those the run's ``--json`` changed."""
    return ({a["id"] for a in json.loads(check)["actions"] if a["status"] == "change"},
            {a["id"] for a in json.loads(run)["actions"] if a["changed"]})


@pytest.mark.parametrize("damage", [
    lambda t: os.chmod(t / "VERSION", 0o666),
    lambda t: (t / "bin/ncs").unlink(),
], ids=["chmod", "deleted"])
def test_a_repair_check_predicts_the_privileges_the_run_sets_again(two, dists, damage):
    """A repair unpacks the tree again and exchanges it for the damaged one, so epam and the
    capability binaries come back plain and the run set their privileges again; --check judged
    them on the damaged tree's files (ok): "1 to change", then "Done: 6 changed"."""
    tree = two / "opt/ncs/ncs-6.5.3"
    damage(tree)
    snap = snapshot(two)
    chk = install(dists["6.5.3"], two, "--check", "--json")
    assert snapshot(two) == snap
    assert os.getxattr(tree / "lib/ncs/erts/bin/ncs", "security.capability")  # (still granted)
    run = install(dists["6.5.3"], two, "--json")
    predicted, done = _predicted_and_done(chk.stdout, run.stdout)
    assert predicted == done, (predicted ^ done)
    assert {"tree:/opt/ncs/ncs-6.5.3", "setuid:/opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam",
            "capability:/opt/ncs/ncs-6.5.3/lib/ncs/erts/bin/ncs"} <= done
    said = {a["id"]: a["detail"] for a in json.loads(chk.stdout)["actions"]}
    assert said["capability:/opt/ncs/ncs-6.5.3/lib/ncs/erts/bin/ncs"] == \
        "set 0750 root:nso, cap_net_bind_service=ep once repaired"
    assert json.loads(chk.stdout)["changed"] == json.loads(run.stdout)["changed"] == 6
    # the other version's tree, not repaired, keeps its "ok"; and the next run has nothing to do
    assert "Done: 0 changed" in install(dists["6.5.3"], two).output


@pytest.mark.parametrize("switch", [("activate", "6.5.3"), ("rollback",)], ids=["activate", "rollback"])
def test_a_switch_to_a_damaged_tree_fails_its_check_as_it_fails_the_run(two, switch):
    """activate/rollback --check to a tree that differs from what was unpacked said "3 to
    change" (the tree "cannot be restored without the distribution") and exited 0; the run then
    refused it (tree-not-restorable, exit 1): a pipeline that gated on the check went ahead."""
    if switch[0] == "rollback":
        nso("activate", "6.5.3", "--root", two)
    to = "6.5.3" if switch[0] == "activate" else "6.4.1"
    (two / f"opt/ncs/ncs-{to}/bin/ncs").unlink()
    snap = snapshot(two)
    said = []
    for check in (("--check",), ("--check", "--json"), ()):
        r = nso(*switch, "--root", two, *check, ok=False)
        assert r.exit_code == 1 and f"/opt/ncs/ncs-{to} differs from what nso-install unpacked (1 missing: " \
            "bin/ncs), and no distribution was given to restore it from." in r.output, r.output
        said.append(json.loads(r.stdout)["error"]["reference"] if "--json" in check else None)
    assert said[1] == "tree-not-restorable"
    assert snapshot(two) == snap  # (the run refused before changing anything)


@pytest.mark.parametrize("rel", ["etc/ncs/ipc_access", "etc/ncs/ssh", "var/opt/ncs/state"])
def test_a_link_at_a_secret_s_or_a_directory_s_path_stops_a_switch_before_current_moves(two, rel):
    """A link at ipc_access or CONFIG_DIR/ssh (an administrator sharing them, or planted):
    activate switched `current` and rendered ncs.conf for 6.5.3, then refused the link at its
    action's turn, leaving the half-switched install `verify` fails on. Refused before anything now."""
    (two / rel).rename(two / "etc/shared")
    os.symlink("/etc/shared", two / rel)
    snap = snapshot(two)
    r = nso("activate", "6.5.3", "--root", two, ok=False)
    assert r.exit_code == 1 and f"/{rel} is a symbolic link" in r.output, r.output
    assert snapshot(two) == snap and os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"


def test_verify_with_full_finds_content_changed_with_size_and_time_kept(two):
    f = two / "opt/ncs/ncs-6.5.3/bin/ncs"
    st = os.stat(f)
    data = bytearray(f.read_bytes())
    data[-2] ^= 1
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert nso("verify", "--root", two).exit_code == 0  # stat level cannot see it
    r = nso("verify", "--root", two, "--full", ok=False)
    assert r.exit_code == 1 and "bin/ncs: content (sha256 differs)" in r.output


def test_verify_reports_privilege_drift_both_ways(two):
    epam = two / "opt/ncs/ncs-6.4.1/lib/ncs/lib/core/pam/priv/epam"
    os.chmod(epam, 0o750)  # a grant lost
    wrapper = two / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/confd/priv/cmdwrapper"
    os.chmod(wrapper, 0o4755)  # a grant nobody asked for (no --setuid-cmdwrapper)
    r = nso("verify", "--root", two, "--json", ok=False)
    assert r.exit_code == 1
    out = json.loads(r.output)
    problems = {f["path"]: f["problem"] for f in out["findings"] if f["kind"] == "privilege"}
    assert set(problems) == {"/opt/ncs/ncs-6.4.1/lib/ncs/lib/core/pam/priv/epam",
                             "/opt/ncs/ncs-6.5.3/lib/ncs/lib/core/confd/priv/cmdwrapper"}
    assert "0750 -> 4750" in problems["/opt/ncs/ncs-6.4.1/lib/ncs/lib/core/pam/priv/epam"]
    assert "4755 -> 0755" in problems["/opt/ncs/ncs-6.5.3/lib/ncs/lib/core/confd/priv/cmdwrapper"]
    assert out["ok"] is False and all(f["fails"] for f in out["findings"])


def _version_moved_away(t, tmp):
    os.rename(t / "VERSION", tmp / "VERSION")


def _replaced_by_an_empty_directory(t, tmp):
    os.rename(t, tmp / "away")
    t.mkdir()


def _gone(t, tmp):
    os.rename(t, tmp / "away")


def _another_version(t, tmp):
    (t / "VERSION").write_text("6.6.1\n")


@pytest.mark.parametrize("damage, problem", [
    (_version_moved_away, "no VERSION file"),
    (_replaced_by_an_empty_directory, "no VERSION file"),
    (_gone, "missing"),
    (_another_version, "holds NSO 6.6.1"),
])
def test_verify_fails_on_a_recorded_tree_that_is_gone_or_not_that_tree_any_more(two, tmp_path, damage, problem):
    """The trees are the ones nso-install recorded unpacking, not the ones a VERSION file shows
    today: a tree without it (or without its directory) is damage, not "nothing installed"."""
    tree = two / "opt/ncs/ncs-6.5.3"
    damage(tree, tmp_path)
    for full in ((), ("--full",)):
        r = nso("verify", "--root", two, *full, ok=False)
        assert r.exit_code == 1 and f"! tree      /opt/ncs/ncs-6.5.3: {problem}, but nso-install unpacked NSO " \
            "6.5.3 here" in r.output and "1 problem(s)" in r.output
    out = json.loads(nso("verify", "--root", two, "--json", ok=False).output)
    assert out["ok"] is False and [(f["kind"], f["path"], f["fails"]) for f in out["findings"]] == [
        ("tree", "/opt/ncs/ncs-6.5.3", True)]
    assert out["checked"] == ["/opt/ncs/ncs-6.4.1"]
    # removed on purpose: uninstall forgets the record when named by path, and removes nothing
    before = snapshot(two, skip=("var/lib/nso-install",))
    assert "NSO 6.5.3 is not installed" in nso("uninstall", "--ncs-version", "6.5.3", "--root", two, ok=False).stderr
    # (the command verify gives, as pasted: it named no --root, and forgot the host's record)
    said = " ".join(nso("verify", "--root", two, ok=False).output.split())
    given = said.split("if it was removed on purpose, ")[1].split(" forgets it")[0]
    assert shlex.split(given) == ["nso-install", "uninstall", "--ncs-version", "/opt/ncs/ncs-6.5.3", "--root", str(two)]
    r = nso(*shlex.split(given)[1:])
    assert "forgot   /opt/ncs/ncs-6.5.3" in r.output and "0 removed, 1 record(s) forgotten" in r.output
    assert snapshot(two, skip=("var/lib/nso-install",)) == before
    assert nso("verify", "--root", two).exit_code == 0


def test_verify_fails_when_the_recorded_manifest_of_a_tree_is_gone(two):
    from nso_install.manifest import Manifest

    (two / "var/lib/nso-install/manifests" / Manifest.file_name("/opt/ncs/ncs-6.5.3")).unlink()
    r = nso("verify", "--root", two, ok=False)
    assert r.exit_code == 1 and "! tree      /opt/ncs/ncs-6.5.3: its manifest, recorded by nso-install, is " \
        "missing" in r.output
    # (aimed at the staged install: bare, the install it names goes onto the host)
    assert f"(nso-install install DISTRIBUTION --system-install --root {two}) to compare" in r.output, r.output


def test_verify_fails_when_current_leads_to_an_empty_directory_in_place_of_its_tree(two, tmp_path):
    _replaced_by_an_empty_directory(two / "opt/ncs/ncs-6.4.1", tmp_path)
    out = json.loads(nso("verify", "--root", two, "--json", ok=False).output)
    problems = {f["path"]: f["problem"] for f in out["findings"] if f["fails"]}
    assert problems["/opt/ncs/ncs-6.4.1"].startswith("no VERSION file, but nso-install unpacked NSO 6.4.1")
    assert "which is no NSO tree" in problems["/opt/ncs/current"]


def test_a_tree_that_lost_its_version_goes_with_uninstall_all_and_its_record_too(two, tmp_path):
    _version_moved_away(two / "opt/ncs/ncs-6.5.3", tmp_path)
    nso("uninstall", "--all", "--root", two)
    out = json.loads(nso("verify", "--root", two, "--json", ok=False).output)
    # its record went with it (no "missing" tree); nothing is installed now, which fails
    assert [(f["kind"], f["path"]) for f in out["findings"]] == [("install", "/opt/ncs")]


def test_audit_judges_the_trees_also_when_the_only_one_lost_its_version(root, dists, tmp_path):
    from nso_install.audit import audit

    install(dists["6.5.3"], root)
    _version_moved_away(root / "opt/ncs/ncs-6.5.3", tmp_path)
    drift = next(f for f in audit(root, only=("NSO-DRIFT-001",)).findings)
    assert drift.status == "fail", drift


# --- verify with nothing to verify: a mistyped --root or --install-dir must not pass -----------

def test_verify_refuses_a_root_that_does_not_exist(tmp_path):
    for cmd in (["verify"], ["status"], ["keys", "rotate"], ["keys", "rotate", "--check"], ["uninstall", "--all"]):
        r = nso(*cmd, "--root", tmp_path / "nonexistent", ok=False)
        assert r.exit_code == 2 and "--root" in r.stderr and "is not a directory" in r.stderr
    r = nso("verify", "--root", tmp_path / "nonexistent", "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "bad-root"
    assert not (tmp_path / "nonexistent").exists()


def test_verify_fails_when_nothing_is_installed(tmp_path, two):
    (tmp_path / "empty").mkdir()
    r = nso("verify", "--root", tmp_path / "empty", "--json", ok=False)
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["ok"] is False and out["checked"] == []
    [f] = out["findings"]
    assert (f["kind"], f["path"], f["fails"]) == ("install", "/opt/ncs", True)
    assert "no NSO installed here" in f["problem"] and "no record of an install" in f["problem"]
    # (aimed at the root verify looked at: bare, it installs onto the host)
    assert f"(nso-install install DISTRIBUTION --system-install --root {tmp_path / 'empty'})" in f["problem"]
    r = nso("verify", "--root", two, "--install-dir", "/opt/nsc", ok=False)  # a typo in a CI gate
    assert r.exit_code == 1 and "! install   /opt/nsc: no NSO installed here" in r.output
    assert "the install nso-install recorded is in /opt/ncs" in r.output
    # the recorded trees' grants are judged by the record, not by the mistyped directory
    out = json.loads(nso("verify", "--root", two, "--install-dir", "/opt/nsc", "--json", ok=False).stdout)
    assert [f["kind"] for f in out["findings"]] == ["install"], out["findings"]


def test_verify_notes_config_edits_without_failing(two):
    conf = two / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    r = nso("verify", "--root", two)
    assert r.exit_code == 0 and "~ config" in r.output and "edited since nso-install wrote it" in r.output


def test_check_fail_on_change_counts_a_kept_config_edit(two, dists):
    conf = two / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    install(dists["6.4.1"], two, "--set", "restconf.enabled=true")  # kept, .new written
    r = install(dists["6.4.1"], two, "--check", "--fail-on-change", ok=False)
    assert r.exit_code == 4 and "edited config file(s) kept" in r.output


# --- activate and rollback -----------------------------------------------------------------------

def test_activate_rollback_and_again_keep_keys_and_admin_edits(two):
    keys = (two / "etc/ncs/ncs.crypto_keys").read_bytes()
    prof = two / "etc/profile.d/ncs.sh"
    prof.write_text(prof.read_text() + "# admin edit\n")
    r = nso("activate", "6.5.3", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    assert "NSO 6.5.3." in (two / "etc/ncs/ncs.conf").read_text() and "package reload" in r.output
    assert js("status", "--root", two)["previous"] == "6.4.1"
    nso("rollback", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert "NSO 6.4.1." in (two / "etc/ncs/ncs.conf").read_text()
    nso("activate", "ncs-6.5.3", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    assert (two / "etc/ncs/ncs.crypto_keys").read_bytes() == keys
    assert prof.read_text().endswith("# admin edit\n")
    again = nso("activate", "6.5.3", "--root", two)
    assert "already the active version" in again.output and "Done: 0 changed" in again.output


def test_a_repeated_rollback_changes_nothing_and_says_how_to_go_forward(two):
    """rollback undoes the last switch; a retried rollback (a pipeline step run again) must not
    undo the first one and re-upgrade: it changes nothing and says so; activate goes forward."""
    nso("activate", "6.5.3", "--root", two)
    nso("rollback", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    before = snapshot(two)
    for check in ((), ("--check",)):
        again = nso("rollback", "--root", two, *check)
        assert "Done: 0 changed" in again.output or "Check: 0 to change" in again.output, again.output
        assert "already rolled back from NSO 6.5.3 to 6.4.1" in again.output
        assert "nso-install activate 6.5.3" in again.output
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    s = js("status", "--root", two)
    assert (s["previous"], s["rolled_back_from"]) == (None, "6.5.3")
    assert "rolled back from 6.5.3 (rollback again does nothing" in nso("status", "--root", two).output
    assert {k: v for k, v in snapshot(two).items() if "nso-install" not in k} == \
        {k: v for k, v in before.items() if "nso-install" not in k}
    # going forward again by name: then rollback undoes that switch, as before
    nso("activate", "6.5.3", "--root", two)
    assert js("status", "--root", two)["previous"] == "6.4.1"
    nso("rollback", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"


def test_after_a_rollback_and_the_removal_of_the_newer_version_going_forward_says_install_it(two):
    """A rollback, then the usual cleanup (uninstall the version rolled back from): status and a
    repeated rollback still said "nso-install activate 6.5.3 goes forward", which activate
    refuses (no-such-version, 6.5.3 is not installed)."""
    nso("activate", "6.5.3", "--root", two)
    nso("rollback", "--root", two)
    nso("uninstall", "6.5.3", "--root", two)
    said = "install NSO 6.5.3 again (nso-install install DISTRIBUTION --system-install --activate"
    status = nso("status", "--root", two).output
    assert "rolled back from 6.5.3 (rollback again does nothing; to go forward: " + said in status, status
    again = nso("rollback", "--root", two).output
    assert "To go forward again: " + said in again and "activate 6.5.3" not in again, again


def test_a_rollback_removes_the_new_rendering_of_the_version_it_leaves(two):
    """An edited ncs.conf kept across activate 6.5.3 gets ncs.conf.new (the 6.5.3 rendering); the
    rollback to 6.4.1 found its own rendering unchanged and kept the edit quietly, but left that
    .new: status, the audit and the run's summary then offered the 6.5.3 file for merging while
    6.4.1 runs."""
    conf, new = two / "etc/ncs/ncs.conf", two / "etc/ncs/ncs.conf.new"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    nso("activate", "6.5.3", "--root", two)
    assert "NSO 6.5.3." in new.read_text() and "NSO 6.4.1." in conf.read_text()
    r = nso("rollback", "--root", two)
    assert not new.exists() and "<!-- admin -->" in conf.read_text()
    assert js("status", "--root", two)["pending_new"] == []
    again = nso("rollback", "--root", two)
    assert "Done: 0 changed" in again.output and not new.exists()
    r = nso("activate", "6.5.3", "--root", two, "--check")
    assert "ncs.conf.new" in r.output and not new.exists()
    nso("activate", "6.5.3", "--root", two)
    assert "NSO 6.5.3." in new.read_text()


def test_an_option_taken_back_removes_the_new_rendering_it_made(root, dists):
    """The same for an option given and taken back on one version: the .new of the other
    options stayed, offered for merging, although no run would write it any more."""
    install(dists["6.4.1"], root)
    conf, new = root / "etc/ncs/ncs.conf", root / "etc/ncs/ncs.conf.new"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    install(dists["6.4.1"], root, "--set", "restconf.enabled=true")
    assert "<restconf>\n    <enabled>true" in new.read_text()
    chk = install(dists["6.4.1"], root, "--unset", "restconf.enabled", "--check")
    assert "remove /etc/ncs/ncs.conf.new (a rendering for other options or another NSO version" in chk.output
    assert new.exists()
    r = install(dists["6.4.1"], root, "--unset", "restconf.enabled")
    assert not new.exists() and "<!-- admin -->" in conf.read_text()
    assert js("status", "--root", root)["pending_new"] == [] and "Done: 1 changed" in r.output


def test_a_kept_ncs_conf_with_an_element_the_older_release_lacks_stops_the_rollback_unless_forced(two):
    """The administrator enables 6.5's CLI commit prompt on 6.5.3; rolled back to 6.4.1, the
    edited file is kept (rightly), but NSO 6.4.1 does not know cli/commit-prompt and refuses to
    start with it (exit 21): nothing said so. Now the switch is refused (the running 6.5.3 goes
    on) unless forced, or the edit is replaced (--force-conf); forced, every run says it."""
    nso("activate", "6.5.3", "--root", two)
    conf = two / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text().replace("<cli>\n", "<cli>\n    <commit-prompt><enabled>true</enabled></commit-prompt>\n"))
    assert "commit-prompt" not in nso("activate", "6.5.3", "--root", two).output
    for run in (("rollback",), ("activate", "6.4.1"), ("activate", "6.4.1", "--check")):
        r = nso(*run, "--root", two, ok=False)
        text = " ".join(r.stderr.split())
        assert r.exit_code == 2 and "NSO 6.4.1 would not start with what the switch keeps as it is" in text, text
        assert "/etc/ncs/ncs.conf (edited, so kept): NSO 6.4.1 does not know 1 of its elements" in text
        assert "or pass --force to switch anyway" in text
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    taken = nso("rollback", "--force-conf", "--check", "--root", two).output  # the edit replaced: no refusal
    assert "would not start" not in taken and "replace administrator's edits" in taken
    for run in (("rollback", "--force"), ("rollback",), ("activate", "6.4.1", "--check")):  # the switch, then quiet runs
        text = " ".join(nso(*run, "--root", two).output.split())
        assert "NSO 6.4.1 does not know 1 of its elements (/ncs-config/cli/commit-prompt: NSO 6.5 and later only" in text
        assert "refuses to start with it (exit 21)" in text and "commit-prompt" in conf.read_text()
    conf.write_text(conf.read_text().replace("    <commit-prompt><enabled>true</enabled></commit-prompt>\n", ""))
    assert "does not know" not in nso("rollback", "--root", two).output


def test_the_switch_judges_the_keys_file_nso_reads_not_the_default_one(root, dists):
    """The refusal of a switch to 6.5 over 3DES keys read CONFIG_DIR/ncs.crypto_keys whatever
    ncs.conf said: with crypto.argument elsewhere, or an edited ncs.conf holding the keys inline,
    NSO never reads that file, and the switch was refused over it (while the file NSO does read
    went unchecked)."""
    import re

    install(dists["6.4.1"], root, "--set", "crypto.argument=/srv/nso.keys")
    install(dists["6.5.3"], root)
    (root / "srv").mkdir()
    shutil.copy(root / "etc/ncs/ncs.crypto_keys", root / "srv/nso.keys")  # (6.4's, with its 3DES keys)
    off_3des(root)  # the default file fixed, the one NSO reads not
    r = nso("activate", "6.5.3", "--root", root, "--check", ok=False)
    assert r.exit_code == 2 and "/srv/nso.keys: line 1: DES3CBC_KEY1" in r.stderr, r.output
    (root / "srv/ncs.crypto_keys").write_bytes((root / "srv/nso.keys").read_bytes())
    off_3des(root, "srv")  # and the other way round: NSO's file fixed, the unused one with 3DES keys
    os.replace(root / "srv/ncs.crypto_keys", root / "srv/nso.keys")
    (root / "etc/ncs/ncs.crypto_keys").write_bytes(b"DES3CBC_KEY1=0123456789abcdef\n"
                                                   + (root / "srv/nso.keys").read_bytes())
    nso("activate", "6.5.3", "--root", root, "--check")
    # an edited ncs.conf with the keys inline: NSO reads no keys file at all
    conf = root / "etc/ncs/ncs.conf"
    conf.write_text(re.sub(r"<external-keys>.*?</external-keys>", "<AESCFB128><key>" + "1" * 32 + "</key></AESCFB128>"
                           "<AES256CFB128><key>" + "2" * 64 + "</key></AES256CFB128>", conf.read_text(), flags=re.S))
    shutil.copy(root / "etc/ncs/ncs.crypto_keys", root / "srv/nso.keys")
    r = nso("activate", "6.5.3", "--root", root, "--check")
    assert "would not start" not in r.output and "1" * 32 not in r.output
    assert "/srv/nso.keys: line 1" in nso("activate", "6.5.3", "--root", root, "--check", "--force-conf",
                                           ok=False).stderr  # (replaced by the rendering: it reads the file)


def test_a_config_file_replaced_by_a_link_stops_activate_before_current_switches(two):
    """A link at a config file's path is refused; found when its turn came (after the switch of
    current), it left NSO 6.5.3 active with the config of 6.4.1 and a run marked unfinished."""
    prof = two / "etc/profile.d/ncs.csh"
    os.rename(prof, two / "etc/profile.d/ncs.csh.real")
    os.symlink("ncs.csh.real", prof)
    before = snapshot(two)
    r = nso("activate", "6.5.3", "--root", two, ok=False)
    assert r.exit_code == 1 and "is a symbolic link" in r.stderr
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1" and snapshot(two) == before
    assert "unfinished" not in nso("status", "--root", two).output
    os.unlink(prof)
    os.rename(two / "etc/profile.d/ncs.csh.real", prof)
    nso("activate", "6.5.3", "--root", two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"


def test_activate_and_rollback_take_force_conf_as_their_kept_edit_warning_says(two):
    """The warning about a kept config edit says "re-run with --force-conf": activate and
    rollback refused the option, so a switch could not take the new version's config."""
    conf = two / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text() + "<!-- admin -->\n")
    r = nso("activate", "6.5.3", "--root", two)
    assert "re-run with --force-conf" in " ".join(r.output.split()) and "<!-- admin -->" in conf.read_text()
    r = nso("activate", "6.5.3", "--root", two, "--force-conf")
    assert "NSO 6.5.3." in conf.read_text() and "<!-- admin -->" not in conf.read_text()
    [bak] = [p for p in conf.parent.iterdir() if p.name.endswith(".bak")]
    assert "<!-- admin -->" in bak.read_text() and not (two / "etc/ncs/ncs.conf.new").exists()
    conf.write_text(conf.read_text() + "<!-- admin again -->\n")
    nso("rollback", "--root", two, "--force-conf")
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1" and "NSO 6.4.1." in conf.read_text()
    assert any("<!-- admin again -->" in p.read_text() for p in conf.parent.iterdir() if ".bak" in p.name)


def test_an_install_with_inline_keys_can_be_switched_and_rolled_back(root, dists, tmp_path):
    """Secret values are never recorded: activate and rollback could not render ncs.conf without
    them, took no option to give them, and install --activate refuses a downgrade over CDB data
    (pointing to activate --force): an inline-keys install could not be rolled back at all."""
    (tmp_path / "k16").write_text("a1" * 16)
    (tmp_path / "k32").write_text("0f" * 32)
    keys = ("--set-file", f"crypto.aescfb128_key={tmp_path / 'k16'}",
            "--set-file", f"crypto.aes256cfb128_key={tmp_path / 'k32'}")
    install(dists["6.4.1"], root, "--set", "crypto.mechanism=inline", *keys)
    install(dists["6.5.3"], root, "--activate", *keys)
    (root / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    r = nso("rollback", "--root", root, "--force", ok=False)
    assert r.exit_code == 2 and "--set-file NAME=PATH" in r.stderr
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.5.3"
    r = nso("rollback", "--root", root, "--set-file", f"cli.ssh.port={tmp_path / 'k16'}", ok=False)
    assert r.exit_code == 2 and "only the secret ncs.conf values" in r.stderr
    nso("rollback", "--root", root, "--force", *keys)
    conf = (root / "etc/ncs/ncs.conf").read_text()
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.1" and "NSO 6.4.1." in conf and "a1" * 16 in conf


def test_a_rollback_refused_for_a_recorded_value_says_how_to_switch_with_it_changed(two, dists, tmp_path):
    """FIPS (recorded) needs NSO 6.5: the hint said "Drop --fips-install", which rollback does not
    take, then "give them to install ... OPTIONS", leaving the operator to find the option; it now
    gives the command that switches, and that command works."""
    install(dists["6.5.3"], two, "--activate", "--fips-install")
    r = nso("rollback", "--root", two, ok=False)
    said = " ".join(r.stderr.split())
    # exit 2, as for every recorded value the version switched to does not take (it was 1 for FIPS alone)
    switch = f"nso-install install {two}/opt/ncs/ncs-6.4.1 --system-install --activate --root {two} --no-fips-install"
    assert r.exit_code == 2 and "NSO 6.4.1 has no FIPS mode, and this install is recorded as a FIPS install" in said
    assert switch in said, said
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    nso(*switch.split()[1:])
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    # another recorded value 6.4 does not take: the generic hint, which names the options to give
    six = make_sample_distribution(tmp_path / "d63", "6.3.4", "tar.gz")
    install(six, two)
    install(dists["6.4.1"], two, "--set", "ipc.transport=unix")
    r = nso("activate", "6.3.4", "--root", two, ok=False)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "activate and rollback take no such options" in said, said
    assert f"nso-install install {two}/opt/ncs/ncs-6.3.4 --system-install --activate --root {two} OPTIONS" in said


def test_the_switch_a_refused_rollback_gives_keeps_a_tree_path_with_a_blank_one_word(dists, tmp_path):
    """Under a staging root with a blank, the tree the switch command names was split in two
    (the --root after it was quoted, the tree's host path not)."""
    import shlex

    from support import host_accounts_root

    root = host_accounts_root(tmp_path / "st age")
    install(dists["6.4.1"], root)
    off_3des(root)
    install(dists["6.5.3"], root, "--activate", "--fips-install")
    said = " ".join(nso("rollback", "--root", root, ok=False).stderr.split())
    words = shlex.split(said.split("Switch with FIPS turned off: ")[1].split(" (ncs.conf")[0])
    assert words == ["nso-install", "install", f"{root}/opt/ncs/ncs-6.4.1", "--system-install", "--activate",
                     "--root", str(root), "--no-fips-install"]
    nso(*words[1:])
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.1"


def test_activate_check_changes_nothing(two):
    before = snapshot(two)
    r = nso("activate", "6.5.3", "--root", two, "--check")
    assert "switch ncs-6.4.1 -> ncs-6.5.3" in r.output and snapshot(two) == before
    # it said "NSO 6.5.3 is now active" (and cited "facts sheet 18.7", which users do not have)
    assert "note: NSO 6.5.3 would be the active version (nothing was changed)" in r.output
    assert "now active" not in r.output and "facts sheet" not in r.output
    # an upgrade: what NSO's upgrade guide does before the switch is said while it can be done
    assert "back up with ncs-backup (which does not save /opt/ncs/packages)" in r.output
    assert "compact CDB (ncs --cdb-compact /var/opt/ncs/cdb)" in r.output
    r = nso("activate", "6.5.3", "--root", two)
    assert "note: NSO 6.5.3 is now active" in r.output and "facts sheet" not in r.output
    assert "cdb-compact" not in r.output  # (done: too late to say)
    # its header said "system install of NSO 6.5.3 from installed ncs-6.5.3": it installs nothing
    assert r.output.startswith(f"nso-install: activate NSO 6.5.3 (/opt/ncs/ncs-6.5.3) (staging root {two})\n")
    (two / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    before = snapshot(two)
    r = nso("rollback", "--root", two, "--check", "--force")
    assert r.output.startswith("nso-install: rollback to NSO 6.4.1 (/opt/ncs/ncs-6.4.1) (staging root ")
    assert "Would switch anyway (--force; nothing was changed)" in r.output and "Switched" not in r.output
    assert "NSO 6.4.1 would be the active version" in r.output and snapshot(two) == before
    assert "cdb-compact" not in r.output  # (a rollback: the guide restores a backup instead)


def test_a_downgrade_over_cdb_data_needs_force_and_says_why(two):
    nso("activate", "6.5.3", "--root", two)
    (two / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    r = nso("rollback", "--root", two, ok=False)
    assert r.exit_code == 2 and "older than the active 6.5.3" in r.stderr and "ncs-backup" in r.stderr
    r = nso("rollback", "--root", two, "--force")
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1" and "ncs-backup --restore" in r.output


def test_install_activate_refuses_the_downgrade_activate_refuses(two, dists):
    """install DIST --activate switches current as activate does, so it meets the same guards
    (a reviewer downgraded over CDB data with it, exit 0, no note)."""
    nso("activate", "6.5.3", "--root", two)
    (two / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    before = snapshot(two)
    for extra in (("--check",), ()):
        r = install(dists["6.4.1"], two, "--activate", *extra, ok=False)
        assert r.exit_code == 2 and "older than the active 6.5.3" in r.stderr
        assert "nso-install activate 6.4.1 --force" in " ".join(r.stderr.split())
        assert snapshot(two) == before
    assert "older than" not in install(dists["6.4.1"], two).output  # installed beside: no switch, no guard
    r = nso("activate", "6.4.1", "--root", two, "--force")
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"


def test_an_install_that_makes_current_anew_for_an_older_version_says_what_a_downgrade_means(two, dists):
    """After uninstall --force of the active version no current is left to compare with; the
    last activation says which version CDB was last used by (a day-2 review's silent downgrade)."""
    nso("activate", "6.5.3", "--root", two)
    (two / "var/opt/ncs/cdb/A.cdb").write_bytes(b"cdb")
    nso("uninstall", "--ncs-version", "6.5.3", "--force", "--root", two)
    assert not os.path.lexists(two / "opt/ncs/current")
    said = "older than 6.5.3, the last one active; /var/opt/ncs/cdb holds data (A.cdb)"
    r = install(dists["6.4.1"], two, "--check")
    assert "NSO 6.4.1 would become the active version, " + said in " ".join(r.output.split())
    r = install(dists["6.4.1"], two)
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"
    assert "NSO 6.4.1 is now the active version, " + said in " ".join(r.output.split())
    assert "older than" not in install(dists["6.4.1"], two).output


def test_install_activate_of_a_newer_version_says_what_activate_says(two, dists):
    r = install(dists["6.5.3"], two, "--activate")
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    assert "NSO 6.5.3 is now active. Restart NSO with a package reload" in " ".join(r.output.split())
    assert "package reload" not in install(dists["6.5.3"], two, "--activate").output  # nothing switched


def test_install_activate_is_refused_while_nso_runs(two):
    from nso_install.errors import UsageError
    from nso_install.lifecycle.activate import guard_install_switch
    from nso_install.lifecycle.installation import look

    inst = look(two)
    inst.running = [(4242, "/opt/ncs/current/lib/ncs/erts/bin/ncs.smp")]
    with pytest.raises(UsageError) as e:
        guard_install_switch(inst, "6.5.3", check=False)
    assert e.value.reference == "nso-running" and "activate 6.5.3 --force" in e.value.hint
    assert guard_install_switch(inst, "6.4.1", check=False) == []  # the active one: no switch


@pytest.mark.parametrize("command", [("activate", "--"), ("uninstall", "--"), ("uninstall", "--ncs-version")])
@pytest.mark.parametrize("given,said,hint", [
    ("", "'' names no NSO version: it is empty", "Name an installed version"),
    ("6.5.3 ", "'6.5.3 ' names no NSO version: it ends with a space", "Give it as 6.5.3."),
    ("6.5.3\n", "'6.5.3\\n' names no NSO version: it ends with a newline", "Give it as 6.5.3 (a folded YAML value"),
    (" 6.9.9", "' 6.9.9' names no NSO version: it starts with a space", "Give the version alone"),
    ("6.4.1/", "'6.4.1/' names no NSO version: it ends with a '/'", "Give 6.4.1, or its tree /opt/ncs/ncs-6.4.1."),
    ("-x", "'-x' names no NSO version: an NSO version is numbers and dots", "Name an installed version"),
    ("../x", "'../x' names no NSO version", "Name an installed version"),
])
def test_a_version_as_mistyped_is_named_and_not_sent_to_install(two, command, given, said, hint):
    """`activate ""` said "NSO  is not installed", "6.5.3 " (a YAML folding artefact) showed no
    stray character, and junk was told to "install it first"; as no-such-version, the Ansible
    uninstall module took a mistyped version for one already removed."""
    snap = snapshot(two)
    r = nso(command[0], "--root", two, command[1], given, ok=False)
    assert r.exit_code == 2 and said in r.stderr and "is not installed" not in r.stderr, r.stderr
    assert hint in r.stderr and "Install it first" not in r.stderr, r.stderr
    doc = json.loads(nso(command[0], "--root", two, "--json", command[1], given, ok=False).stdout)
    assert doc["error"]["reference"] == "bad-version"
    assert snapshot(two) == snap


def test_render_conf_refuses_a_version_that_is_none(two):
    r = nso("render-conf", "--activate", "--root", two, "--nso-version", "6.5.3\n", ok=False)
    assert r.exit_code == 2 and "--nso-version '6.5.3\\n' is not an NSO version: it ends with a newline" in r.stderr
    assert "Give --nso-version 6.5.3." in r.stderr and "ncs.conf" not in r.stdout
    r = nso("render-conf", "--activate", "--root", two, "--nso-version", "../x", ok=False)
    assert r.exit_code == 2 and "'../x' is not an NSO version" in r.stderr
    assert "NSO 6.2.1." in nso("render-conf", "--activate", "--root", two, "--nso-version", "6.2.1").stdout


def test_activate_refuses_what_is_not_installed_and_a_damaged_tree(two):
    r = nso("activate", "7.0", "--root", two, ok=False)
    assert r.exit_code == 2 and "installed: 6.4.1, 6.5.3" in r.stderr
    (two / "opt/ncs/ncs-6.5.3/bin/ncs").unlink()
    r = nso("activate", "6.5.3", "--root", two, ok=False)
    assert r.exit_code == 1 and "no distribution was given" in r.stderr
    assert os.readlink(two / "opt/ncs/current") == "ncs-6.4.1"


def test_rollback_without_history_is_a_clear_error(root, dists):
    install(dists["6.4.1"], root)
    r = nso("rollback", "--root", root, ok=False)
    assert r.exit_code == 2 and "no earlier active version" in r.stderr


# --- uninstall -----------------------------------------------------------------------------------

def test_uninstall_one_version_keeps_everything_else(two):
    before = {p: v for p, v in snapshot(two).items() if not p.startswith(("opt/ncs/ncs-6.5.3", "var/lib/nso-install"))}
    both = nso("uninstall", "6.5.3", "--ncs-version", "6.4.1", "--root", two, ok=False)
    assert both.exit_code == 2 and "two versions to remove: '6.5.3' and --ncs-version '6.4.1'" in both.stderr
    r = nso("uninstall", "6.5.3", "--root", two)  # (VSN alone, as activate takes it)
    assert "removed  /opt/ncs/ncs-6.5.3" in r.output
    after = {p: v for p, v in snapshot(two).items() if not p.startswith("var/lib/nso-install")}
    before.pop("opt/ncs")
    after.pop("opt/ncs")
    assert after == before
    assert [v["version"] for v in js("status", "--root", two)["versions"]] == ["6.4.1"]
    again = nso("uninstall", "--ncs-version", "6.5.3", "--root", two, ok=False)
    assert again.exit_code == 2 and "6.5.3 is not installed" in again.stderr


def test_uninstall_takes_ncs_uninstall_s_non_interactive(two):
    """ncs-uninstall(1): `--ncs-version Version [--install-dir DIR] [--non-interactive]`; a script
    written for it was refused ("No such option '--non-interactive'"), as install accepts it."""
    r = nso("uninstall", "--ncs-version", "6.5.3", "--install-dir", "/opt/ncs", "--non-interactive", "--root", two)
    assert "removed  /opt/ncs/ncs-6.5.3" in r.output and not (two / "opt/ncs/ncs-6.5.3").exists()
    assert (two / "opt/ncs/ncs-6.4.1").is_dir()


def test_uninstall_refuses_the_active_version_without_force(two):
    r = nso("uninstall", "--ncs-version", "6.4.1", "--root", two, ok=False)
    assert r.exit_code == 2 and "active version" in r.stderr
    nso("uninstall", "--ncs-version", "6.4.1", "--root", two, "--force")
    assert not os.path.lexists(two / "opt/ncs/current")


def test_uninstall_all_removes_the_install_and_keeps_the_rest_unless_asked(two):
    before = snapshot(two)
    chk = nso("uninstall", "--all", "--root", two, "--check")
    assert "remove   /opt/ncs" in chk.output and "kept     /etc/ncs" in chk.output and snapshot(two) == before
    assert "deleted below" not in chk.output  # the accounts stay: nothing of theirs is given to root
    nso("uninstall", "--all", "--root", two)
    assert not (two / "opt/ncs").exists()
    for kept in ("etc/ncs/ncs.crypto_keys", "var/opt/ncs/cdb", "var/log/ncs", "etc/systemd/system/ncs.service",
                 "etc/profile.d/ncs.sh"):
        assert (two / kept).exists(), kept
    assert "nso:" in (two / "etc/passwd").read_text()


def test_uninstall_purge_removes_everything_nso_install_made_including_its_accounts(two):
    nso("uninstall", "--all", "--purge", "--root", two)
    for gone in ("opt/ncs", "etc/ncs", "var/opt/ncs", "var/log/ncs", "etc/systemd/system/ncs.service",
                 "etc/profile.d/ncs.sh", "etc/logrotate.d/ncs", "run/ncs"):
        assert not os.path.lexists(two / gone), gone
    passwd, group = (two / "etc/passwd").read_text(), (two / "etc/group").read_text()
    assert "\nnso:" not in "\n" + passwd and "\nncsadmin:" not in "\n" + group and "\nnso:" not in "\n" + group
    state = json.loads((two / "var/lib/nso-install/state.json").read_text())
    assert "spec" not in state
    assert "Nothing to do" in nso("uninstall", "--all", "--purge", "--root", two).output


def _ids(root, name, kind="passwd"):
    for line in (root / "etc" / kind).read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2])
    return None


def test_uninstall_accounts_gives_their_files_in_kept_directories_to_root_and_a_new_account_takes_them(two, dists):
    """A day-2 review: after uninstall --all --accounts the keys stayed root:ncsadmin by number,
    and the next groupadd got that gid and read them; a re-install then left CDB and logs to
    whoever got the old uid, and NSO could not start as the new account."""
    nso_uid = _ids(two, "nso")
    gids = {_ids(two, g, "group") for g in ("nso", "ncsadmin", "ncsoper")}
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log"):  # what NSO writes as its account
        (two / p).write_bytes(b"data")
        os.chown(two / p, nso_uid, _ids(two, "nso", "group"))
    assert os.stat(two / "etc/ncs/ncs.crypto_keys").st_gid in gids
    chk = js("uninstall", "--all", "--accounts", "--check", "--root", two)
    run = js("uninstall", "--all", "--accounts", "--root", two)
    assert [a["path"] for a in chk["actions"] if a["status"] == "change"] == \
        [a["path"] for a in run["actions"] if a["changed"]]
    left = [str(p) for d in ("etc/ncs", "var/opt/ncs", "var/log/ncs") for p in [two / d, *(two / d).rglob("*")]
            if not p.is_symlink() and (p.lstat().st_uid == nso_uid or p.lstat().st_gid in gids)]
    assert left == []
    assert os.stat(two / "etc/ncs/ncs.crypto_keys").st_gid == 0
    install(dists["6.4.1"], two)  # the recorded spec: NSO as nso, a new account of that name
    new_uid = _ids(two, "nso")
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log"):
        assert os.stat(two / p).st_uid == new_uid, p
    assert "Nothing to do" in install(dists["6.4.1"], two).output


def test_uninstall_accounts_with_a_hard_linked_file_of_the_account_removes_nothing(two):
    """The hand-over's refusal of a file of nso's with a second name came at its turn: the
    trees and the service were already removed (found by review)."""
    uid, gid = _ids(two, "nso"), _ids(two, "nso", "group")
    mine = two / "var/opt/ncs/state/mine"
    mine.write_text("x\n")
    os.chown(mine, uid, gid)
    os.link(mine, two / "var/opt/ncs/state/other-name")
    before = snapshot(two)
    r = nso("uninstall", "--all", "--accounts", "--root", two, ok=False)
    assert r.exit_code == 1 and "2 names (hard links)" in r.stderr, r.output
    assert snapshot(two) == before


def test_uninstall_accounts_leaves_a_kept_group_its_files(two):
    """uninstall --accounts gave root the files of ncsadmin (the IPC secret: root:ncsadmin) in the kept
    /etc/ncs, then kept the group, which an administrator had given a member: she could no
    longer read what the group still exists for."""
    passwd, group = two / "etc/passwd", two / "etc/group"
    passwd.write_text(passwd.read_text() + "ada:x:4321:4321:Ada:/home/ada:/bin/bash\n")
    group.write_text("".join(line + (",ada" if line.split(":")[3] else "ada") * line.startswith("ncsadmin:") + "\n"
                             for line in group.read_text().splitlines()) + "ada:x:4321:\n")
    admin, own = _ids(two, "ncsadmin", "group"), _ids(two, "nso", "group")
    assert own is not None and [p for p in (two / "etc/ncs").rglob("*") if p.lstat().st_gid == own]
    secret = two / "etc/ncs/ipc_access"
    assert os.stat(secret).st_gid == admin
    chk = js("uninstall", "--all", "--accounts", "--check", "--root", two)
    run = js("uninstall", "--all", "--accounts", "--root", two)
    for out in (chk, run):
        [act] = [a for a in out["actions"] if a["path"] == "group:ncsadmin"]
        assert act["status"] == "ok" and "kept: still has member(s) ada" in act["detail"], act
    assert _ids(two, "ncsadmin", "group") == admin and os.stat(secret).st_gid == admin  # hers to read still
    assert _ids(two, "ncsoper", "group") is None and _ids(two, "nso") is None  # (the others went)
    # the groups deleted lose their files (nso's own, by its number taken before: once deleted it has none)
    assert _ids(two, "nso", "group") is None
    assert not [p for p in (two / "etc/ncs").rglob("*") if p.lstat().st_gid == own]


@pytest.mark.parametrize("how", ["another uid", "a login shell (records without ids)"])
def test_uninstall_accounts_keeps_an_account_made_again_under_the_name(two, how):
    """uninstall --accounts deleted by name: nso deleted and made again since (a person's account
    now, with a login shell and files in the kept directories) was deleted, and its files in the
    kept directories given to root."""
    state = two / "var/lib/nso-install/state.json"
    data = json.loads(state.read_text())
    assert data["grants"]["ids"]["user:nso"] == _ids(two, "nso")  # recorded when it was created
    passwd = (two / "etc/passwd").read_text()
    line = next(x for x in passwd.splitlines() if x.startswith("nso:"))
    f = line.split(":")
    person = ":".join([f[0], f[1], str(int(f[2]) + 50), f[3], "Nina", f[5], f[6]]) if how == "another uid" else \
        ":".join([*f[:4], "Nina", f[5], "/bin/bash"])  # (made again by useradd --system: the same uid may come)
    (two / "etc/passwd").write_text(passwd.replace(line, person))
    if how != "another uid":  # an older record: no ids kept, the login shell tells
        from nso_install.state import State
        from nso_install.target import Target

        st = State(Target.at(two), "/var/lib/nso-install/state.json")
        st.data["grants"].pop("ids", None)
        st.save()
    mine = two / "var/log/ncs/nina.txt"
    mine.write_text("hers\n")
    os.chown(mine, _ids(two, "nso"), -1)
    chk = js("uninstall", "--all", "--accounts", "--check", "--root", two)
    run = js("uninstall", "--all", "--accounts", "--root", two)
    for out in (chk, run):
        [act] = [a for a in out["actions"] if a["path"] == "user:nso"]
        assert act["status"] == "ok" and "not the account nso-install created, so not deleted" in act["detail"], act
    assert "\nnso:" in "\n" + (two / "etc/passwd").read_text()  # kept
    assert mine.stat().st_uid == _ids(two, "nso")  # hers still
    assert "user:nso" not in json.loads(state.read_text()).get("grants", {}).get("created", [])  # record dropped


def test_the_note_on_a_previous_account_is_only_given_while_it_exists(two, dists):
    r = install(dists["6.4.1"], two, "--run-as-user", "nso2")
    assert "NSO no longer runs as nso: the account and its group remain" in " ".join(r.output.split())
    # a setgid ncsadmin program it made while a member still reads the IPC secret, renewed or not
    assert "find / -xdev -user nso -perm -2000" in " ".join(r.output.split())
    (two / "var/log/ncs/ncs.log").write_bytes(b"log")
    os.chown(two / "var/log/ncs/ncs.log", _ids(two, "nso2"), -1)
    nso("uninstall", "--all", "--accounts", "--root", two)
    r = install(dists["6.4.1"], two, "--run-as-user", "nso3")
    assert "NSO no longer runs as" not in r.output
    assert os.stat(two / "var/log/ncs/ncs.log").st_uid == _ids(two, "nso3")  # (given to root, then to nso3)


def test_every_action_of_uninstall_accounts_after_a_change_of_account_has_its_own_id(two, dists):
    """Each kept directory is handed over from both accounts nso-install made (nso, then nso2):
    the JSON listed two 'reown:/etc/ncs' actions, one id for two results."""
    install(dists["6.4.1"], two, "--run-as-user", "nso2")
    for out in (js("uninstall", "--all", "--accounts", "--check", "--root", two),
                js("uninstall", "--all", "--accounts", "--root", two)):
        ids = [a["id"] for a in out["actions"]]
        assert len(ids) == len(set(ids)), sorted(ids)
        assert {"reown:/etc/ncs:nso", "reown:/etc/ncs:nso2"} <= set(ids), sorted(ids)


def test_uninstall_all_with_a_mistyped_install_dir_is_refused_and_forgets_nothing(two):
    """uninstall --all --install-dir /opt/nsc (a typo; the install is in /opt/ncs) removed nothing
    and said 'Nothing to do', yet forgot the install's activations: rollback had nothing to go
    back to. It is refused, as activate and rollback refuse it."""
    nso("activate", "6.5.3", "--root", two)
    state = two / "var/lib/nso-install/state.json"
    before = state.read_bytes()
    for check in ((), ("--check",)):
        r = nso("uninstall", "--all", "--root", two, "--install-dir", "/opt/nsc", *check, "--json", ok=False)
        assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "not-the-recorded-install-dir"
    assert state.read_bytes() == before and (two / "opt/ncs/current").is_symlink()
    assert js("status", "--root", two)["previous"] == "6.4.1"


def test_uninstall_of_a_version_under_a_mistyped_install_dir_is_not_taken_for_already_removed(two):
    """uninstall --ncs-version 6.4.1 --install-dir /opt/nsc (the install is in /opt/ncs) said
    no-such-version, which the Ansible uninstall module takes as already removed: the task said
    ok with 6.4.1 still installed. A version missing under another directory than the recorded
    one is refused as for --all; the recorded directory still says no-such-version."""
    for check in ((), ("--check",)):
        r = nso("uninstall", "--ncs-version", "6.4.1", "--root", two, "--install-dir", "/opt/nsc", *check,
                "--json", ok=False)
        error = json.loads(r.stdout)["error"]
        assert r.exit_code == 2 and error["reference"] == "not-the-recorded-install-dir", error
        assert "/opt/ncs" in error["message"] and "/opt/ncs" in error["hint"]
    assert (two / "opt/ncs/ncs-6.4.1").is_dir()
    r = nso("uninstall", "--ncs-version", "6.6.1", "--root", two, "--json", ok=False)
    assert json.loads(r.stdout)["error"]["reference"] == "no-such-version"


def test_uninstall_options_need_all_and_a_target(two):
    assert nso("uninstall", "--root", two, ok=False).exit_code == 2
    assert nso("uninstall", "--config", "--root", two, ok=False).exit_code == 2
    assert nso("uninstall", "--all", "--ncs-version", "6.4.1", "--root", two, ok=False).exit_code == 2


@pytest.mark.parametrize("usergroups", [False, True], ids=["plain", "usergroups-enab"])
def test_uninstall_accounts_check_predicts_exactly_what_the_run_removes(two, usergroups):
    """The check counted the groups of the run-as user as kept ("still has member(s) nso")
    although the same plan deletes nso first, and the run then removed them too."""
    if usergroups:  # userdel then takes the user's own group along
        (two / "etc/login.defs").write_text("USERGROUPS_ENAB yes\n")
    chk = js("uninstall", "--all", "--accounts", "--check", "--root", two)
    run = js("uninstall", "--all", "--accounts", "--root", two)
    predicted = {a["path"] for a in chk["actions"] if a["status"] == "change"}
    removed = {a["path"] for a in run["actions"] if a["changed"]}
    assert predicted == removed == {"/opt/ncs", "user:nso", "group:ncsadmin", "group:ncsoper",
                                    "/etc/ncs", "/var/opt/ncs", "/var/log/ncs", "/run/ncs"} | (
        set() if usergroups else {"group:nso"})
    assert chk["changed"] == run["changed"]
    group = "\n" + (two / "etc/group").read_text()
    assert not any(f"\n{g}:" in group for g in ("nso", "ncsadmin", "ncsoper"))


def test_uninstall_all_without_service_says_the_enabled_unit_fails_at_boot_and_how_to_remove_it(two, dists):
    """uninstall --all kept ncs.service enabled with INSTALL_DIR gone (it fails at every boot),
    listed as kept without a word; the SysV script likewise."""
    enable = "/etc/systemd/system/multi-user.target.wants/ncs.service"
    # (aimed at the staging root: bare, both commands act on the host's service)
    said = f"ncs.service stays enabled ({enable}) with /opt/ncs gone: it fails at every boot. Remove the service " \
           f"files with --service (nso-install uninstall --all --service --root {two}), or run systemctl " \
           f"--root={two} disable ncs."
    assert said in js("uninstall", "--all", "--root", two, "--check")["notes"]
    assert said in nso("uninstall", "--all", "--root", two).stdout and os.path.lexists(two / enable.lstrip("/"))
    assert not [n for n in js("uninstall", "--all", "--service", "--root", two, "--check")["notes"] if "boot" in n]
    nso("uninstall", "--all", "--service", "--root", two)  # (what the note says removes it)
    assert not os.path.lexists(two / enable.lstrip("/")) and not (two / "etc/systemd/system/ncs.service").exists()
    assert not [n for n in js("uninstall", "--all", "--root", two, "--check")["notes"] if "boot" in n]
    install(dists["6.5.3"], two, "--init-system", "sysv")
    notes = js("uninstall", "--all", "--root", two, "--check")["notes"]
    assert "/etc/init.d/ncs stays with /opt/ncs gone: where it is enabled, it fails at every boot. Remove the " \
           f"service files with --service (nso-install uninstall --all --service --root {two})." in notes, notes


def test_uninstall_all_names_the_packages_in_use_it_leaves_dangling(two):
    """RUN_DIR/packages linking to INSTALL_DIR/packages/ncs-VSN-* (NSO's upgrade guide): --all
    removed what they lead to while keeping RUN_DIR as holding "packages in use", without a word,
    and ncs-backup does not save INSTALL_DIR/packages."""
    store = two / "opt/ncs/packages/ncs-6.4-cisco-foo-1.0"
    store.mkdir()
    pkgs = two / "var/opt/ncs/packages"
    os.symlink("/opt/ncs/packages/ncs-6.4-cisco-foo-1.0", pkgs / "cisco-foo")
    os.symlink("../../../../opt/ncs/packages/ncs-6.4-cisco-foo-1.0", pkgs / "relative")
    os.symlink("/srv/elsewhere", pkgs / "elsewhere")
    (pkgs / "own").mkdir()
    said = "/var/opt/ncs/packages holds links into /opt/ncs, which is removed: cisco-foo, relative would lead nowhere"
    notes = js("uninstall", "--all", "--root", two, "--check")["notes"]
    assert [n for n in notes if said in n], notes
    assert said in nso("uninstall", "--all", "--root", two).stdout
    assert os.path.islink(pkgs / "cisco-foo") and not (two / "opt/ncs").exists()
    assert said not in nso("uninstall", "--all", "--run-data", "--root", two).stdout

@pytest.mark.parametrize("path", ["etc/systemd/system/ncs.service", "etc/tmpfiles.d/ncs.conf"])
def test_uninstall_service_keeps_an_administrators_mask_and_says_it_is_one(two, path):
    """uninstall --all --service removed a mask (ncs.service -> /dev/null, what systemctl mask ncs
    makes; a tmpfiles.d entry likewise) as if it were nso-install's file: the administrator's
    decision, undone by an uninstall."""
    (two / path).unlink()
    os.symlink("/dev/null", two / path)
    said = f"/{path} (masked: a link to /dev/null, the administrator's; not removed)"
    chk = js("uninstall", "--all", "--service", "--root", two, "--check")
    assert said in chk["kept"] and f"/{path}" not in {a["path"] for a in chk["actions"]}, chk
    if path.endswith(".service"):  # (a masked unit starts nothing: it does not fail at boot)
        assert not [n for n in js("uninstall", "--all", "--root", two, "--check")["notes"] if "boot" in n]
    r = nso("uninstall", "--all", "--service", "--root", two)
    assert f"kept     {said}" in r.stdout, r.stdout
    assert os.readlink(two / path) == "/dev/null"
    other = next(p for p in ("etc/systemd/system/ncs.service", "etc/tmpfiles.d/ncs.conf") if p != path)
    assert not os.path.lexists(two / other) and not os.path.lexists(two / "opt/ncs")  # (the rest went)


def test_uninstall_all_lists_as_kept_only_what_is_there(two):
    """It listed "kept /etc/init.d/ncs" on a systemd install, which has no such script."""
    text = nso("uninstall", "--all", "--root", two, "--check").output
    assert "kept     /etc/systemd/system/ncs.service" in text and "kept     /etc/ncs" in text
    assert "/etc/init.d/ncs" not in text
    assert not [k for k in js("uninstall", "--all", "--root", two, "--check")["kept"] if "/etc/init.d/" in k]
    shutil.rmtree(two / "var/log/ncs")
    r = js("uninstall", "--ncs-version", "6.5.3", "--root", two)
    assert r["kept"] == ["/etc/ncs", "/var/opt/ncs"]


def test_status_and_rollback_agree_after_the_previous_version_is_uninstalled(two):
    nso("activate", "6.5.3", "--root", two)
    assert js("status", "--root", two)["previous"] == "6.4.1"
    nso("uninstall", "--ncs-version", "6.4.1", "--root", two)
    assert js("status", "--root", two)["previous"] is None
    assert "rollback would go back" not in nso("status", "--root", two).output
    r = nso("rollback", "--root", two, ok=False)
    # (it said "no earlier active version is recorded": there was one, uninstalled since)
    assert r.exit_code == 2 and "NSO 6.4.1, active before 6.5.3, is no longer installed under /opt/ncs" in r.stderr
    assert f"Install NSO 6.4.1 again, then nso-install activate 6.4.1 --root {two}; " in r.stderr


def test_a_forgotten_root_is_suggested_when_nothing_is_installed_where_a_command_looks(tmp_path, two):
    empty = tmp_path / "empty"  # (the host without --root looks the same: nothing installed there)
    empty.mkdir()
    for args in (("activate", "6.5.3"), ("uninstall", "6.5.3"), ("rollback",)):
        r = nso(*args, "--root", empty, ok=False)
        assert r.exit_code == 2 and "--root and --install-dir" in r.stderr.split("Hint:")[1], r.stderr
    r = nso("activate", "7.0", "--root", two, ok=False)  # versions are installed there: the version is what is wrong
    assert r.exit_code == 2 and "point --root" not in r.stderr, r.stderr
    # (the command it gives is aimed where this one was: without --root it installs on the host)
    assert f"Install it first: nso-install install DISTRIBUTION --system-install --root {two}." in r.stderr


def test_uninstall_force_of_the_active_version_says_what_it_does_and_verify_fails_on_the_missing_link(two):
    r = nso("uninstall", "--ncs-version", "6.4.1", "--root", two, ok=False)
    assert "dangling" not in r.stderr and "current goes with it" in r.stderr
    nso("uninstall", "--ncs-version", "6.4.1", "--root", two, "--force")
    assert not os.path.lexists(two / "opt/ncs/current")
    v = nso("verify", "--root", two, ok=False)
    assert v.exit_code == 1
    assert "! link      /opt/ncs/current: missing: no NSO version is active (installed: 6.5.3); " \
           "nso-install activate VSN" in v.output
    assert f"current: missing, no version is active (nso-install activate VSN --root {two})" \
        in nso("status", "--root", two).output
    nso("activate", "6.5.3", "--root", two)
    assert nso("verify", "--root", two).exit_code == 0


def test_activate_and_rollback_take_the_output_options_of_install(two):
    def quiet(output):  # only warnings and the summary line, as install -q
        return all(line.startswith(("warning: ", "Done: ", "Check: ")) for line in output.splitlines())

    r = nso("activate", "6.5.3", "--root", two, "-q")
    assert quiet(r.output) and "Done: " in r.output and os.readlink(two / "opt/ncs/current") == "ncs-6.5.3"
    r = nso("rollback", "--root", two, "--quiet", "--check")
    assert quiet(r.output) and "Check: " in r.output
    r = nso("rollback", "--root", two, "--diff")
    assert "- ncs-6.5.3" in r.output and "+ ncs-6.4.1" in r.output
    r = nso("activate", "6.5.3", "--root", two, "-q", "-v", ok=False)
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_uninstall_and_keys_rotate_take_quiet_as_install_does(two):
    r = nso("uninstall", "--ncs-version", "6.5.3", "--root", two, "-q", "--check")
    assert r.output.splitlines() == ["Check: 1 to remove (nothing was changed)."]
    r = nso("uninstall", "--ncs-version", "6.5.3", "--root", two, "--quiet")
    assert r.output.splitlines() == ["Done: 1 removed."] and not (two / "opt/ncs/ncs-6.5.3").exists()
    r = nso("keys", "rotate", "--root", two, "-q")  # the summary: no header, notes or next steps
    [line] = r.output.splitlines()
    assert line.startswith("Added key generation 0 to /etc/ncs/ncs.crypto_keys")
    for cmd in (["uninstall", "--all"], ["keys", "rotate"]):
        r = nso(*cmd, "--root", two, "-q", "-v", ok=False)
        assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_uninstall_check_warns_as_the_run_does_that_the_backups_go(two):
    """A day-2 review: --check printed no notes, so the preview of --run-data (or --purge) did not
    say that RUN_DIR/backups (every ncs-backup archive) is deleted with it; only the run did."""
    (two / "var/opt/ncs/backups/ncs-6.5.3@2026-12-01T06:00:00.backup.gz").write_bytes(b"\x1f\x8b")
    chk = nso("uninstall", "--all", "--purge", "--root", two, "--check")
    assert "backups/ (ncs-backup archives): they are removed with it" in chk.output
    assert any("removed with it" in n for n in js("uninstall", "--all", "--run-data", "--root", two, "--check")["notes"])
    assert "is kept, with CDB and its backups/" in nso("uninstall", "--all", "--root", two, "--check").output


def test_uninstall_accounts_does_not_list_the_kept_directories_it_hands_to_root_as_removed(two):
    """A day-2 review: "remove /etc/ncs (give 7 entries of nso ... to root:root)" above "kept
    /etc/ncs", and "Done: 8 removed" counted those hand-overs as removals."""
    chk = nso("uninstall", "--all", "--accounts", "--root", two, "--check").output
    assert "remove   /etc/ncs" not in chk and "reown    /etc/ncs" in chk and "kept     /etc/ncs" in chk
    assert "Check: 5 to remove, 4 kept directories to hand to root (nothing was changed)." in chk
    run = nso("uninstall", "--all", "--accounts", "--root", two).output
    assert "removed  /var/opt/ncs" not in run and "reowned  /var/opt/ncs" in run
    assert "Done: 5 removed, 4 kept directories handed to root." in run


def test_uninstall_accounts_does_not_hand_what_the_nso_account_made_to_root_as_it_is(two):
    """A day-2 review: uninstall --all --accounts (RUN_DIR kept) chowned what the NSO account
    made to root with its modes: a directory it had made 0777 became a world-writable one of
    root's, and the code it had put in packages/ root's, for an NSO re-installed to run as root
    to load unreviewed.  It is now handed over as a change of run-as user does it."""
    uid, gid = _ids(two, "nso"), _ids(two, "nso", "group")
    run = two / "var/opt/ncs"
    (run / "packages/evil").mkdir()
    (run / "packages/evil/x.py").write_text("code\n")
    (run / "wide").mkdir()
    os.chmod(run / "wide", 0o777)
    (run / "state/link").symlink_to("/etc/shadow")
    for p in ("packages/evil", "packages/evil/x.py", "wide", "state/link"):
        os.chown(run / p, uid, gid, follow_symlinks=False)
    shadow = os.stat("/etc/shadow")
    chk = js("uninstall", "--all", "--accounts", "--check", "--root", two)
    out = js("uninstall", "--all", "--accounts", "--root", two)
    assert [a["id"] for a in chk["actions"] if a["status"] == "change"] == [a["id"] for a in out["actions"] if a["changed"]]
    assert not (run / "packages/evil").exists() and not os.path.lexists(run / "state/link")
    [q] = [p for p in run.iterdir() if p.name.startswith(".nso-install-quarantine.nso.")]
    assert sorted(p.name for p in q.iterdir()) == ["packages%evil", "state%link"]
    assert (q.stat().st_uid, q.stat().st_mode & 0o777) == (0, 0o700)
    st = (run / "wide").stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o755)
    assert (run.stat().st_uid, run.stat().st_gid) == (0, 0)
    assert os.stat("/etc/shadow") == shadow


def test_uninstall_says_nothing_of_backups_where_there_is_no_run_dir(two):
    """A docs review: a second `uninstall --all --purge` (nothing to do) still said "/var/opt/ncs
    held backups/ (ncs-backup archives): they are removed with it", of a directory the first run
    had removed."""
    nso("uninstall", "--all", "--purge", "--root", two)
    for args in (["--purge"], []):
        r = nso("uninstall", "--all", *args, "--root", two)
        assert "Nothing to do" in r.output and "backups/" not in r.output, r.output


def test_uninstall_warns_of_backups_only_where_there_are_some(two):
    """`uninstall --all --run-data` said RUN_DIR "held backups/ (ncs-backup archives)" of the
    empty backups/ every install makes (found by the conformance review)."""
    r = nso("uninstall", "--all", "--run-data", "--check", "--root", two)
    assert "backups/" not in r.output, r.output
    (two / "var/opt/ncs/backups/ncs-6.5.3@2026-12-01T06:00:00.backup.gz").write_bytes(b"\x1f\x8b")
    r = nso("uninstall", "--all", "--run-data", "--check", "--root", two)
    assert "held backups/ (ncs-backup archives): they are removed with it" in " ".join(r.output.split())


@pytest.mark.parametrize("args", [[], ["--purge"]])
def test_uninstall_all_where_nothing_is_installed_writes_nothing(tmp_path, args):
    """It changed nothing (exit 0, "Nothing to do") and yet left /var/lib/nso-install/state.json,
    an empty record, behind: the lock's directory of a run that recorded nothing is removed, the
    state saved in it kept it (found by review)."""
    root = tmp_path / "empty"
    root.mkdir()
    doc = js("uninstall", "--all", *args, "--root", root)
    assert doc["changed"] == 0 and doc["result"] == "applied"
    assert os.listdir(root) == []


def test_verify_counts_the_notes_it_prints(root, sample_dists):
    """A docs review: a tree nso-install did not unpack got "note: ...: no manifest", and the
    summary right below it said "0 note(s)"."""
    shutil.copytree(sample_dists["dir"], root / "opt/ncs/ncs-6.5.3", symlinks=True)
    (root / "opt/ncs/current").symlink_to("ncs-6.5.3")
    r = nso("verify", "--root", root)
    assert "note: /opt/ncs/ncs-6.5.3: no manifest" in r.output
    assert f"(nso-install install DISTRIBUTION --system-install --root {root}) to record one" in r.output, r.output
    assert r.output.rstrip().endswith("0 problem(s), 1 note(s), 0 extra entries."), r.output
    r = nso("verify", "--root", root, "--local-install", "/srv/my nso", ok=False)
    assert "(nso-install install DISTRIBUTION --local-install '/srv/my nso' --root " in r.output, r.output


@pytest.mark.parametrize("command", [["activate", "6.4.1"], ["rollback"]])
def test_activate_and_rollback_refuse_an_install_dir_that_is_not_the_recorded_one(root, dists, command):
    """With the install recorded under /srv/ncs, `activate 6.4.1 --install-dir /opt/ncs` found
    6.4.1 under /opt/ncs, then copied that tree into /srv/ncs and switched /srv/ncs/current."""
    install(dists["6.4.1"], root)
    install(dists["6.5.3"], root, "--install-dir", "/srv/ncs")
    snap = snapshot(root)
    r = nso(*command, "--root", root, "--install-dir", "/opt/ncs", ok=False)
    assert r.exit_code == 2 and "--install-dir /opt/ncs is not the install's recorded INSTALL_DIR, /srv/ncs" \
        in r.output, r.output
    assert snapshot(root) == snap and not (root / "srv/ncs/ncs-6.4.1").exists()
    # (the install it names is aimed at the staged one: bare, it installs onto the host)
    assert f"to move the install, run nso-install install DIST --system-install --root {root} --install-dir " \
        "/opt/ncs." in r.stderr, r.stderr
    assert "NSO 6.5.3 is already the active version" in nso("activate", "6.5.3", "--root", root, "--install-dir",
                                                            "/srv/ncs/", "--check").output
    assert "  * 6.5.3        /srv/ncs/ncs-6.5.3\n" in nso("status", "--root", root, "--install-dir", "/srv/ncs/").output


def test_a_path_names_only_the_tree_at_that_path(two, tmp_path, monkeypatch):
    """uninstall /home/someone/ncs-6.5.3 (or activate with such a path) took any directory whose
    last component was ncs-VSN for the installed tree, and removed /opt/ncs/ncs-6.5.3."""
    other = tmp_path / "elsewhere/ncs-6.5.3"
    other.mkdir(parents=True)
    for command in (("uninstall",), ("uninstall", "--ncs-version"), ("activate",)):
        r = nso(*command, other, "--root", two, ok=False)
        assert r.exit_code == 2 and "is not installed under /opt/ncs" in r.stderr, r.stderr
    assert (two / "opt/ncs/ncs-6.5.3/VERSION").exists()
    # the tree's own path, as the target has it or as the host does under --root, and its name
    for given in ("/opt/ncs/ncs-6.5.3", two / "opt/ncs/ncs-6.5.3", "ncs-6.5.3/"):
        chk = js("uninstall", str(given), "--root", two, "--check")
        assert [a["path"] for a in chk["actions"] if a["status"] == "change"] == ["/opt/ncs/ncs-6.5.3"], chk
        assert "NSO 6.5.3" in nso("activate", given, "--root", two, "--check").output
    # a relative path is the host's, from the working directory (it was no installed version at all)
    monkeypatch.chdir(two / "opt/ncs")
    for given in ("./ncs-6.5.3", "../ncs/ncs-6.5.3/"):
        chk = js("uninstall", given, "--root", two, "--check")
        assert [a["path"] for a in chk["actions"] if a["status"] == "change"] == ["/opt/ncs/ncs-6.5.3"], chk
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert nso("uninstall", "./ncs-6.5.3", "--root", two, ok=False).exit_code == 2
    monkeypatch.chdir(two)  # (from the staging root itself: opt/... is its tree, as the host names it)
    assert "NSO 6.5.3" in nso("activate", "opt/ncs/ncs-6.5.3", "--root", two, "--check").output


def test_a_switch_names_the_packages_built_for_another_release(two, dists):
    """The switch said only "packages compiled for another NSO x.y must be rebuilt first", while
    RUN_DIR/packages named which: NSO's packages carry their release (ncs-6.4-cisco-ios-...), and
    the upgrade guide links those for the new release to INSTALL_DIR/packages/ncs-NEW-*."""
    packages = two / "var/opt/ncs/packages"
    (two / "opt/ncs/packages/ncs-6.4.1-cisco-ios-cli-6.105").mkdir(parents=True)
    os.symlink("/opt/ncs/packages/ncs-6.4.1-cisco-ios-cli-6.105", packages / "cisco-ios-cli-6.105")
    (packages / "ncs-6.5-router-nc-1.0").mkdir()  # built for 6.5: nothing to say
    (packages / "mine").mkdir()  # no release in its name: nothing to say
    said = [n for n in js("activate", "6.5.3", "--root", two)["notes"] if "another NSO release" in n]
    assert said == ["/var/opt/ncs/packages holds packages built for another NSO release than 6.5.3: "
                    "cisco-ios-cli-6.105 (6.4). Replace them with builds for NSO 6.5 (the upgrade guide links them "
                    "to /opt/ncs/packages/ncs-6.5.3-*) before the restart with a package reload: packages compiled "
                    "for another x.y do not load."], said
    back = js("rollback", "--root", two)["notes"]
    assert [n for n in back if "another NSO release" in n and "ncs-6.5-router-nc-1.0 (6.5)" in n and "cisco" not in n]
    again = json.loads(install(dists["6.5.3"], two, "--activate", "--json").stdout)["notes"]  # (install's switch)
    assert [n for n in again if "another NSO release than 6.5.3: cisco-ios-cli-6.105 (6.4)" in n], again


def test_the_commands_a_message_names_are_aimed_where_this_one_was(tmp_path):
    """The next command a message gives (status's keys line, a rollback's hint) said plain
    `nso-install keys rotate --applied` under a staging root: run as given, it acted on the
    host's install, or found none there."""
    from nso_install.lifecycle.installation import look

    staged = tmp_path / "image root"  # (a blank: the command must stay one argument)
    staged.mkdir(mode=0o700)
    assert look(staged).command("status") == f"nso-install status --root '{staged}'"
    assert look(staged, "/srv/nso").command("keys rotate --applied") == \
        f"nso-install keys rotate --applied --root '{staged}' --install-dir /srv/nso"
    assert look(None).command("activate 6.5.3") == "nso-install activate 6.5.3"


def test_a_switch_that_moves_ipc_between_tcp_and_the_unix_socket_says_so(root, dists, tmp_path):
    """6.3 (TCP IPC, the IPC secret for members of ncsadmin) to 6.4 (the production profile's
    Unix socket, facts 1 and 9) moved every client setting silently: cron jobs and other
    services with NCS_IPC_PORT, and the accounts the secret let in, lost NSO without a word."""
    old = make_sample_distribution(tmp_path, "6.3.2", "tar.gz")
    install(old, root, "--run-as-user", "nso")
    (root / "var/opt/ncs/cdb/A.cdb").write_text("x")

    def said(doc):
        return [n for n in doc["notes"] if "NSO's IPC" in n]

    check = json.loads(install(dists["6.4.1"], root, "--activate", "--check", "--json").stdout)
    assert said(check) and said(check)[0].startswith("NSO's IPC would move from TCP (127.0.0.1:4569) on NSO 6.3.2 "
                                                    "to the Unix socket /run/ncs/nso-ipc on NSO 6.4.1."), check
    up = said(json.loads(install(dists["6.4.1"], root, "--activate", "--json").stdout))
    assert len(up) == 1 and "NCS_IPC_PATH=/run/ncs/nso-ipc" in up[0] and "--ipc-user" in up[0], up
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in (root / "etc/profile.d/ncs.sh").read_text()  # (what it says follows)
    back = said(js("rollback", "--root", root, "--force"))  # (a downgrade over CDB data)
    assert back == ["NSO's IPC moves from the Unix socket /run/ncs/nso-ipc on NSO 6.4.1 to TCP (127.0.0.1:4569) on "
                    "NSO 6.3.2. The profile scripts, ncsrc and the service follow; clients set up otherwise (cron "
                    "jobs, other services, NCS_IPC_PATH or ncs_cli -S) need NCS_IPC_PORT=4569 and "
                    "NCS_IPC_ACCESS_FILE=/etc/ncs/ipc_access."], back
    assert said(js("rollback", "--root", root)) == []  # (undoes nothing twice)
    assert len(said(js("activate", "6.4.1", "--root", root))) == 1
    assert said(js("activate", "6.4.1", "--root", root)) == []  # (already active)
    install(dists["6.5.3"], root)
    assert said(js("activate", "6.5.3", "--root", off_3des(root))) == []  # (Unix socket on both)


def test_the_refusals_name_their_next_command_aimed_at_the_same_staging_root(dists, tmp_path):
    """Left over by the pass that aimed status's and rollback's commands: under a staging root,
    verify's `nso-install activate VSN` for a missing current, install --activate's `run
    nso-install activate VSN --force`, uninstall's and keys rotate's `activate VSN` and the
    `nso-install status` of a bad version name had no --root, so run as given they switched,
    or listed, the host's install (status said `--root` on the same target)."""
    from support import host_accounts_root

    root = host_accounts_root(tmp_path / "st age")  # (a blank: the --root must stay one word)
    aim = f"--root {shlex.quote(str(root))}"

    def said(r):
        return " ".join(r.output.split())

    install(dists["6.4.1"], root)
    install(dists["6.5.3"], root)
    # (the keys still hold 6.4's DES3 lines: 6.5.3 would not start, the switch is refused)
    # (install names the INSTALL_DIR it used)
    assert f"then run nso-install activate 6.5.3 --force {aim} --install-dir /opt/ncs to switch anyway" in \
        said(install(dists["6.5.3"], root, "--activate", ok=False))
    assert f"Activate another version first (nso-install activate VSN {aim}), or pass --force" in \
        said(nso("uninstall", "6.4.1", "--root", root, ok=False))
    assert f"Name an installed version: nso-install status {aim} lists them." in \
        said(nso("activate", "nso", "--root", root, ok=False))
    (root / "opt/ncs/current").unlink()
    assert f"(installed: 6.4.1, 6.5.3); nso-install activate VSN {aim} makes one active" in \
        said(nso("verify", "--root", root, ok=False))
    assert f"Activate one first: nso-install activate VSN {aim} (nso-install status {aim} lists them)." in \
        said(nso("keys", "rotate", "--root", root, ok=False))
    # uninstall with nothing named gave a literal 'nso-install uninstall --ncs-version 6.4.1', bare
    assert f"nso-install uninstall --ncs-version VSN {aim} (nso-install status {aim} lists the versions)" in \
        said(nso("uninstall", "--root", root, ok=False))
    # and rollback with no active version 'nso-install status shows what is installed there'
    assert f"(nso-install status {aim} shows what is installed there)" in \
        said(nso("rollback", "--root", root, ok=False))


def test_uninstall_accounts_forgets_the_memberships_of_the_accounts_it_deletes(two):
    """userdel took nso out of ncsadmin, but the record of that membership (nso-install added it)
    stayed: the next uninstall --all --accounts took nso for an account it had not created,
    "withdrew" the membership and saved the state again, so a re-run was no no-op (found by the
    crash sweep, which compares a run after an uninterrupted one)."""
    state = two / "var/lib/nso-install/state.json"
    assert ["nso", "ncsadmin"] in json.loads(state.read_text())["grants"]["memberships"]
    nso("uninstall", "--all", "--accounts", "--root", two)
    assert "\nnso:" not in "\n" + (two / "etc/passwd").read_text()
    assert "memberships" not in json.loads(state.read_text()).get("grants", {})
    before = state.read_bytes()
    assert "Nothing to do" in nso("uninstall", "--all", "--accounts", "--root", two).output
    assert state.read_bytes() == before
