"""NSO-USER-001 judges the service file in force, not only the record: an edited unit or SysV
script that starts NSO as root fails it (a security review kept such a script through a change
of the run-as user; the audit passed)."""

from __future__ import annotations

import os

import pytest
from support import cli, host_accounts_root
from support_audit import findings, rewrite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

UNIT = "etc/systemd/system/ncs.service"


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    rewrite(path, text.replace(old, new).encode())


def test_the_units_own_setpriv_start_passes(staged):
    f = findings(staged.get("nso"))["NSO-USER-001"]
    assert f.status == "pass" and any("starts NSO as nso (ExecStart=!/usr/bin/setpriv" in e for e in f.evidence)


@pytest.mark.parametrize("old, new, why", [
    ("ExecStart=!/usr/bin/setpriv", "ExecStart=!/usr/bin/env", "runs as root (!)"),
    ("User=nso\n", "", "no User="),
])
def test_a_unit_that_starts_nso_as_root_fails(staged, old, new, why):
    root = staged.get("nso")
    if "setpriv" in old:
        _edit(root / UNIT, old, new)
    else:  # the ! start goes too: then User= decides
        _edit(root / UNIT, "ExecStart=!/usr/bin/setpriv", "ExecStart=/usr/bin/setpriv")
        _edit(root / UNIT, old, new)
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and f"/{UNIT} starts NSO as root, not nso" in f.summary + " ".join(f.evidence)
    assert why in " ".join(f.evidence)


def test_a_drop_in_that_changes_the_start_is_judged_too(staged):
    root = staged.get("nso")
    d = root / "etc/systemd/system/ncs.service.d"
    d.mkdir()
    (d / "override.conf").write_text("[Service]\nExecStart=\nExecStart=!/opt/ncs/ncs-service-start\n")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and "override.conf" in " ".join(f.evidence)


def test_a_sysv_script_is_judged_by_its_run_line(tmp_path, sample_dists):
    root = host_accounts_root(tmp_path / "root")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso",
        "--init-system", "sysv")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "pass" and 'RUN="runuser -u nso --"' in " ".join(f.evidence)
    _edit(root / "etc/init.d/ncs", 'RUN="runuser -u nso --"', 'RUN=""')
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and "/etc/init.d/ncs starts NSO as root, not nso" in f.summary + " ".join(f.evidence)
