"""The activate module against the real nso-install (a staged install of two versions): a switch,
its re-run, a rollback and a retried rollback, as a playbook's tasks would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from collection_support import basic, run
from support import off_3des

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")
EXE = Path(sys.executable).parent / "nso-install"


def test_switch_rerun_rollback_and_a_retried_rollback(root, dists):
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    for v, extra in (("6.4.1", ["--run-as-user", "nso"]), ("6.5.3", [])):  # (as a process: the host's seal key)
        subprocess.run([str(EXE), "install", str(dists[v]), "--system-install", "--root", str(root), "-q", *extra],
                       check=True, capture_output=True)
    off_3des(root)
    args = {"executable": str(EXE), "root": str(root)}
    current = root / "opt/ncs/current"

    check = run("activate", {**args, "version": "6.5.3"}, check=True)
    assert check.result["changed"] and check.result["result"] == "check" and os.readlink(current) == "ncs-6.4.1"
    switch = run("activate", {**args, "version": "6.5.3"})
    assert not switch.failed and switch.result["changed"], switch.result
    assert os.readlink(current) == "ncs-6.5.3" and any("package reload" in n for n in switch.result["notes"])
    again = run("activate", {**args, "version": "6.5.3"})
    assert not again.failed and not again.result["changed"] and again.result["changed_count"] == 0

    back = run("activate", {**args, "rollback": True})
    assert back.result["changed"] and os.readlink(current) == "ncs-6.4.1"
    retried = run("activate", {**args, "rollback": True})
    assert not retried.failed and not retried.result["changed"] and os.readlink(current) == "ncs-6.4.1"
    assert any("nso-install activate 6.5.3" in n for n in retried.result["notes"]), retried.result["notes"]

    missing = run("activate", {**args, "version": "9.9.9"})
    assert missing.failed and "9.9.9" in missing.result["msg"] and "Hint:" in missing.result["msg"]


def test_a_bad_secret_value_is_named_as_the_task_gave_it(root, dists):
    """The tool's message about a bad --set-file value names the file; the module's private
    file of a set_secrets value is gone when the task reports, so the message names the
    set_secrets value instead (and never shows the value)."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    r = run("install", {"executable": str(EXE), "root": str(root), "distribution": str(dists["6.5.3"]),
                        "system_install": True, "set": {"crypto.mechanism": "inline"},
                        "set_secrets": {"crypto.aescfb128_key": "not-hex-at-all",
                                        "crypto.aes256cfb128_key": "0" * 63 + "1"}}, check=True)
    assert r.failed and "set_secrets[crypto.aescfb128_key]" in r.result["msg"], r.result["msg"]
    assert "nso-install-secrets-" not in r.result["msg"] and "not-hex-at-all" not in r.result["msg"]


def test_uninstall_of_a_version_with_a_folded_yaml_newline_fails_not_done(root, dists):
    """`ncs_version: >` (a folded YAML value) hands over "6.4.1\n": the tool answered
    no-such-version, which the uninstall module takes as already removed, so the task said ok
    and 6.4.1 stayed; now it fails, naming the newline."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    for v in ("6.4.1", "6.5.3"):
        subprocess.run([str(EXE), "install", str(dists[v]), "--system-install", "--root", str(root), "-q"],
                       check=True, capture_output=True)
    r = run("uninstall", {"executable": str(EXE), "root": str(root), "ncs_version": "6.4.1\n"})
    assert r.failed and "'6.4.1\\n' names no NSO version: it ends with a newline" in r.result["msg"], r.result
    assert "Give it as 6.4.1" in r.result["msg"] and (root / "opt/ncs/ncs-6.4.1/VERSION").exists()
    for current in ("current", "/opt/ncs/current"):  # (the link, not a version: it said ok, changed nothing)
        r = run("uninstall", {"executable": str(EXE), "root": str(root), "ncs_version": current})
        assert r.failed and "is the link to the active version" in r.result["msg"], r.result
    gone = run("uninstall", {"executable": str(EXE), "root": str(root), "ncs_version": "6.9.9"})
    assert not gone.failed and not gone.result["changed"]  # (what no-such-version still means: nothing to do)


def test_uninstall_where_no_nso_is_installed_warns_that_root_may_be_wrong(root, dists, tmp_path):
    """A version that is not installed is no error (already removed); but where no NSO at all is
    installed, a forgotten or mistyped root looks just like that, and the task said ok with no
    word while the version stayed under the real root. It now warns, naming root and install_dir;
    a version missing from an install that has others is still ok without a warning."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    subprocess.run([str(EXE), "install", str(dists["6.5.3"]), "--system-install", "--root", str(root), "-q"],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "mistyped-root"
    elsewhere.mkdir(mode=0o700)
    for where, warned in ((elsewhere, True), (root, False)):
        for check in (True, False):
            new = []
            with mock.patch.object(basic.AnsibleModule, "warn", lambda self, w, **kw: new.append(w)):
                r = run("uninstall", {"executable": str(EXE), "root": str(where), "ncs_version": "6.4.1"}, check=check)
            assert not r.failed and not r.result["changed"], r.result
            assert bool(new) == warned, (where, new)
            assert all("point root and install_dir at it" in w and str(elsewhere) in w for w in new), new
    assert (root / "opt/ncs/ncs-6.5.3/VERSION").exists()


def test_uninstall_of_the_start_of_an_installed_version_warns_naming_it(root, dists):
    """6.5 is a version of its own (not installed: nothing to do), but beside an installed 6.5.3
    it is more likely that cut short: the task said ok with no word and 6.5.3 stayed."""
    if not EXE.exists():
        pytest.skip("nso-install is not installed next to this Python")
    subprocess.run([str(EXE), "install", str(dists["6.5.3"]), "--system-install", "--root", str(root), "-q"],
                   check=True, capture_output=True)
    for asked, warned in (("6.5", "name it in full if you meant 6.5.3"), ("6.5.9", None), ("6.5.3.1", None)):
        new = []
        with mock.patch.object(basic.AnsibleModule, "warn", lambda self, w, **kw: new.append(w)):
            r = run("uninstall", {"executable": str(EXE), "root": str(root), "ncs_version": asked})
        assert not r.failed and not r.result["changed"], r.result
        assert (new == [] if warned is None else len(new) == 1 and warned in new[0]), (asked, new)
    assert (root / "opt/ncs/ncs-6.5.3/VERSION").exists()
