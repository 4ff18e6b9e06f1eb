"""Taking over a system install NSO's own installer made (``--system-install --run-as-user nso``):
nso-install has no records of it, the NSO account owns the config, run and log directories (the
vendor's example chowns them), and epam is setuid root, the daemon binaries carry capabilities."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess

import pytest
from support import cli, host_accounts_root, vendor_tree

from nso_install.conf import ConfContext, render_ncs_conf

UID = 1999  # the vendor installer's account, in the staged account files only

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setcap") is None,
                                reason="sets owners and file capabilities (root only)")


def vendor_install(tmp_path, dist):
    """The layout ``nso-VSN.installer.bin --system-install --run-as-user nso`` leaves (facts
    sections 4 and 6, with the vendor example's chown of the three directories), laid out by hand."""
    root = host_accounts_root(tmp_path / "vendor")
    for name, line in (("passwd", f"nso:x:{UID}:{UID}::/var/opt/ncs:/usr/sbin/nologin\n"),
                       ("group", f"nso:x:{UID}:\n"), ("shadow", "nso:!:19000::::::\n"), ("gshadow", "nso:!::\n")):
        with open(root / "etc" / name, "a") as f:
            f.write(line)
    opt = vendor_tree(root, dist)
    lib = opt / "ncs-6.5.3/lib/ncs"
    os.chmod(lib / "lib/core/pam/priv/epam", 0o4755)
    for rel, cap in (("erts/bin/ncs", "cap_net_bind_service"), ("erts/bin/ncs.smp", "cap_net_bind_service"),
                     ("bin/ip", "cap_net_admin"), ("bin/arping", "cap_net_raw")):
        os.chown(lib / rel, 0, UID)
        os.chmod(lib / rel, 0o750)
        subprocess.run(["setcap", f"{cap}=ep", lib / rel], check=True)
    etc = root / "etc/ncs"
    (etc / "ssh").mkdir(parents=True)
    conf = render_ncs_conf(ConfContext("system", "production", "6.5.3"))
    (etc / "ncs.conf").write_text(conf.replace("</ncs-config>", "<!-- the administrator's edit -->\n</ncs-config>"))
    (etc / "ncs.crypto_keys").write_text(f"AESCFB128_KEY={secrets.token_hex(16)}\n"
                                         f"AES256CFB128_KEY={secrets.token_hex(32)}\n")
    for d in ("var/opt/ncs/cdb", "var/opt/ncs/packages", "var/log/ncs"):
        (root / d).mkdir(parents=True)
    for top in (etc, root / "var/opt/ncs", root / "var/log/ncs"):
        for dirpath, dirs, files in os.walk(top):
            for p in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
                os.lchown(p, UID, UID)
    return root


def _outcomes(report: dict) -> dict[str, tuple]:
    return {a["id"]: (a["kind"], a["path"], a["status"], bool(a.get("conflict"))) for a in report["actions"]}


def test_check_predicts_the_takeover_of_a_vendor_install(tmp_path, sample_dists):
    """--check said the takeover fails (epam: "no record of unpacking it") where the run records
    the tree first and succeeds; and it counted the NSO account's ncs.conf, which the run replaces
    (setting the account's version aside), as an edit it keeps."""
    root = vendor_install(tmp_path, sample_dists["tar.gz"])
    args = ("install", sample_dists["tar.gz"], "--system-install", "--run-as-user", "nso", "--root", root, "--json")
    checked = json.loads(cli(*args, "--check").stdout)
    applied = json.loads(cli(*args).stdout)
    assert _outcomes(checked) == _outcomes(applied)
    assert checked["totals"]["would_change"] == applied["totals"]["changed"]
    assert checked["totals"]["conflicts"] == applied["totals"]["conflicts"]
    epam = next(a for a in applied["actions"] if a["path"].endswith("/epam"))
    assert epam["status"] == "change" and epam["changed"]
    assert os.stat(root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam").st_mode & 0o7777 == 0o4750
    conf = next(a for a in checked["actions"] if a["path"] == "/etc/ncs/ncs.conf")
    assert conf["status"] == "change" and not conf.get("conflict")
    assert len(list((root / "etc/ncs").glob("ncs.conf.from-nso.*"))) == 1
    assert json.loads(cli(*args).stdout)["totals"]["changed"] == 0


def test_the_vendor_files_kept_with_a_new_rendering_are_named_by_status_verify_and_the_audit(tmp_path, sample_dists):
    """The vendor's unit, profile scripts, logrotate file, ncs.systemd.conf and aaa_init.xml are
    kept as found, each with nso-install's rendering beside it as .new; status, verify and the
    audit (NSO-DRIFT-003) knew only the files nso-install wrote, and said nothing waits."""
    root = vendor_install(tmp_path, sample_dists["tar.gz"])
    unit = root / "etc/systemd/system/ncs.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nUser=nso\nExecStart=/opt/ncs/current/bin/ncs --foreground\n")
    (root / "etc/profile.d").mkdir()
    (root / "etc/profile.d/ncs.sh").write_text(". /opt/ncs/current/ncsrc\n")
    cli("install", sample_dists["tar.gz"], "--system-install", "--run-as-user", "nso", "--root", root)
    assert unit.read_text().startswith("[Service]\nUser=nso")  # kept
    waiting = {"/etc/systemd/system/ncs.service.new", "/etc/profile.d/ncs.sh.new"}
    assert all((root / p.lstrip("/")).is_file() for p in waiting)
    status = json.loads(cli("status", "--root", root, "--json").stdout)
    assert waiting <= set(status["pending_new"])
    assert {"/etc/systemd/system/ncs.service", "/etc/profile.d/ncs.sh"} <= set(status["edited"])
    verify = json.loads(cli("verify", "--root", root, "--json").stdout)
    assert verify["ok"] and waiting <= {f["path"] for f in verify["findings"]}
    audit = json.loads(cli("audit", "--root", root, "--only", "NSO-DRIFT-003", "--json", ok=False).stdout)
    drift = next(c for c in audit["checks"] if c["id"] == "NSO-DRIFT-003")
    assert drift["result"] == "fail" and waiting <= set(drift["paths"])
    # merged by hand (the .new taken): the next run records it as its own, nothing waits
    for p in waiting:
        os.replace(root / p.lstrip("/"), root / p.lstrip("/").removesuffix(".new"))
    cli("install", sample_dists["tar.gz"], "--system-install", "--run-as-user", "nso", "--root", root)
    status = json.loads(cli("status", "--root", root, "--json").stdout)
    assert not waiting & set(status["pending_new"]) and "/etc/systemd/system/ncs.service" not in status["edited"]


def test_verify_judges_an_unrecorded_vendor_install_by_the_account_that_owns_run_dir(tmp_path, sample_dists):
    """With nothing recorded, verify judged the privileged binaries as for an NSO that runs as
    root: the capability binaries restricted to nso (0750 root:nso, as NSO's installer makes them)
    were five problems, while the audit, on the same files, takes nso (RUN_DIR's owner) for
    NSO's account. verify now does the same: only epam, setuid for all (4755) where the account
    alone needs it (4750 root:nso), differs."""
    root = vendor_install(tmp_path, sample_dists["tar.gz"])
    out = json.loads(cli("verify", "--root", root, "--json", ok=False).stdout)
    privileges = sorted(f["path"].rsplit("/", 1)[1] for f in out["findings"] if f["kind"] == "privilege")
    assert privileges == ["epam"], out["findings"]
    lib = root / "opt/ncs/ncs-6.5.3/lib/ncs"
    os.chown(lib / "lib/core/pam/priv/epam", 0, UID)
    os.chmod(lib / "lib/core/pam/priv/epam", 0o4750)
    out = json.loads(cli("verify", "--root", root, "--json", ok=False).stdout)
    assert not [f for f in out["findings"] if f["kind"] == "privilege"], out["findings"]
