"""A replayed no-op re-run (nso_install.replay) on a real system install, as root in a container:
replayed while nothing it read changed, and never once the NSO account (through runuser) has
changed something the run reads; the records are root's alone."""

import json

import pytest

pytestmark = pytest.mark.integration


def _rerun(box, dist):
    # NSO_INSTALL_REPLAY=explain (the same in every run: it is part of the world) says on stderr
    # whether the run was replayed, and else why not.
    r = box.run("env", "NSO_INSTALL_REPLAY=explain", "nso-install", "install", dist, "--system-install",
                "--run-as-user", "nso", "--json")
    return json.loads(r.stdout), "nso-install: replay: replayed" in r.stderr


def test_replayed_until_the_nso_account_changes_what_the_run_reads(box):
    dist = box.sample_dist()
    box.nso_install("install", dist, "--system-install", "--run-as-user", "nso")
    box.run("sleep", "0.3")  # (past the racy window)
    recorded, replayed = _rerun(box, dist)
    assert recorded["changed"] == 0 and not replayed
    assert box.run("sh", "-c", "ls /var/cache/nso-install/replay/*.json").stdout.strip()
    again, replayed = _rerun(box, dist)
    assert replayed and again == recorded

    # The NSO account owns the run directory: it opens it to everyone.
    assert box.stat("/var/opt/ncs")[1] == "nso"
    before = box.stat("/var/opt/ncs")[0]
    box.run("chmod", "0777", "/var/opt/ncs", user="nso")
    repaired, replayed = _rerun(box, dist)
    assert not replayed
    assert repaired["changed"] >= 1 and box.stat("/var/opt/ncs")[0] == before
    box.run("sleep", "0.3")
    _rerun(box, dist)  # recorded again
    assert _rerun(box, dist)[1]

    # Another account can neither read the records nor put one there.
    box.add_user("eve")
    r = box.run("ls", "/var/cache/nso-install/replay", user="eve", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    r = box.run("touch", "/var/cache/nso-install/replay/x.json", user="eve", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert box.stat("/var/cache/nso-install/replay")[0] == "700"
