"""The audit never writes to the target, and a tree laid out by hand like the vendor installer's
(no nso-install records) gets sensible results."""

from __future__ import annotations

import json
import os
import secrets
import shutil

import pytest
from support import host_accounts_root, vendor_tree
from support import cli, snapshot

from nso_install.audit import audit
from nso_install.conf import ConfContext, render_ncs_conf


def test_auditing_changes_nothing_on_the_target(staged, tmp_path):
    root = staged.get("nso")
    before = snapshot(root)
    for args in (["--json"], ["-vv", "--junit", tmp_path / "a.xml", "--sarif", tmp_path / "a.sarif"]):
        cli("audit", "--root", root, *args)
    audit(root)  # the full audit too (the unit's exposure from systemd-analyze, not install's shortcut)
    assert snapshot(root) == before


def _vendor_tree(tmp_path, dist, *, user: str | None):
    """A system install as NSO's installer leaves it, laid out by hand: no /var/lib/nso-install."""
    root = host_accounts_root(tmp_path / "vendor")
    vendor_tree(root, dist)
    etc = root / "etc/ncs"
    (etc / "ssh").mkdir(parents=True)
    (etc / "ncs.conf").write_text(render_ncs_conf(ConfContext("system", "production", "6.5.3")))
    keys = etc / "ncs.crypto_keys"
    keys.write_text(f"AESCFB128_KEY={secrets.token_hex(16)}\nAES256CFB128_KEY={secrets.token_hex(32)}\n")
    os.chmod(keys, 0o644)  # the vendor documents no mode: here everyone can read them
    for d in ("var/opt/ncs/cdb", "var/log/ncs"):
        (root / d).mkdir(parents=True)
        os.chmod(root / d, 0o755)
    if user:
        uid = next(int(x.split(":")[2]) for x in (root / "etc/passwd").read_text().splitlines()
                   if x.startswith(user + ":"))
        for d in ("var/opt/ncs", "var/opt/ncs/cdb", "var/log/ncs"):
            os.chown(root / d, uid, uid)
    return root


def test_a_vendor_layout_without_records(tmp_path, sample_dists):
    if os.geteuid() != 0:
        pytest.skip("sets owners (root only)")
    root = _vendor_tree(tmp_path, sample_dists["tar.gz"], user=None)
    report = {f.check.id: f for f in audit(root).findings}
    status = {i: f.status for i, f in report.items()}
    # the layout is judged, NSO's own rules apply, nothing of nso-install's records is assumed
    assert status["NSO-LAYOUT-001"] == "pass" and "ncs-6.5.3" in report["NSO-LAYOUT-001"].summary
    assert status["NSO-USER-001"] == "fail" and "root" in report["NSO-USER-001"].summary
    assert status["NSO-PERM-002"] == "fail" and "every local account can read" in "".join(report["NSO-PERM-002"].evidence)
    assert status["NSO-PERM-007"] == "fail"  # 0755 run and log directories
    assert status["NSO-KEY-001"] == "pass"
    assert status["NSO-SD-008"] == "pass" and status["NSO-IPC-001"] == "pass"
    assert status["NSO-PRIV-001"] == "pass"  # NSO as root: no setuid binary is intended, none is there
    for check in ("NSO-DRIFT-001", "NSO-DRIFT-002"):
        assert status[check] == "skip" and "nso-install" in report[check].summary
    assert status["NSO-PERM-004"] == "warn"  # no host key yet
    assert not any(f.status == "error" for f in report.values())


def test_a_vendor_layout_with_an_account_found_from_the_run_directory(tmp_path, sample_dists):
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creates an account (root only)")
    root = host_accounts_root(tmp_path / "base")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso")  # the account
    vendor = _vendor_tree(tmp_path / "v", sample_dists["tar.gz"], user=None)
    shutil.copy(root / "etc/passwd", vendor / "etc/passwd")
    shutil.copy(root / "etc/group", vendor / "etc/group")
    uid = os.stat(root / "var/opt/ncs").st_uid
    for d in ("var/opt/ncs", "var/opt/ncs/cdb", "var/log/ncs"):
        os.chown(vendor / d, uid, uid)
        os.chmod(vendor / d, 0o750)
    out = json.loads(cli("audit", "--root", vendor, "--json", ok=False).stdout)
    assert out["target"]["run_as_user"] == "nso" and out["target"]["run_as_user_from"] == "owner of RUN_DIR"
    status = {c["id"]: c for c in out["checks"]}
    assert status["NSO-USER-001"]["result"] == "pass" and status["NSO-PERM-007"]["result"] == "pass"
    # with a run-as user, epam should be setuid root for NSO's group and the daemon hold its capability
    assert status["NSO-PRIV-001"]["result"] == "fail" and status["NSO-PRIV-002"]["result"] == "fail"
    assert any("no setuid bit" in e for e in status["NSO-PRIV-001"]["evidence"])
    given = json.loads(cli("audit", "--root", vendor, "--json", "--run-as-user", "root", ok=False).stdout)
    assert given["target"]["run_as_user_from"] == "--run-as-user"


def test_a_vendor_fips_install_whose_ncs_conf_lacks_fips_mode_fails(tmp_path, sample_dists):
    """--fips-install writes NCS_OPENSSL_* into ncsrc (G-SYS, G-LOC 6.5+); an upgrade from a
    non-FIPS release keeps the old ncs.conf, where fips-mode must be added by hand (G-UPG).
    Without nso-install's records the audit judged FIPS by ncs.conf alone, and skipped NSO-SD-003
    ("not a FIPS install") on exactly that install."""
    if os.geteuid() != 0:
        pytest.skip("sets owners (root only)")
    root = _vendor_tree(tmp_path, sample_dists["tar.gz"], user=None)
    report = {f.check.id: f for f in audit(root, only=["NSO-SD-003"]).findings}
    assert report["NSO-SD-003"].status == "skip"  # a standard install: FIPS rows do not apply
    ncsrc = root / "opt/ncs/ncs-6.5.3/ncsrc"
    with open(ncsrc, "a") as f:
        f.write("NCS_OPENSSL_MODULES=/opt/ncs/ncs-6.5.3/lib/ncs/openssl/ossl-modules\nexport NCS_OPENSSL_MODULES\n")
    report = {f.check.id: f for f in audit(root, only=["NSO-SD-003"]).findings}
    assert report["NSO-SD-003"].status == "fail" and "fips-mode/enabled = false" in report["NSO-SD-003"].summary
