"""Local install by an unprivileged user: no root needed, everything owned by the user."""

import pytest

pytestmark = pytest.mark.integration

VERSION = "6.5.3"
USER = "dev"
HOME = f"/home/{USER}"
TARGET = f"{HOME}/nso"


@pytest.fixture
def dev_dist(box):
    box.add_user(USER)
    return box.sample_dist(f"{HOME}/dist", version=VERSION, fmt="tar.gz", user=USER)


def test_local_install_as_unprivileged_user(box, dev_dist):
    result = box.nso_install("install", dev_dist, "--local-install", TARGET, user=USER)
    assert result["result"] == "applied"
    assert result["changed"] > 0
    assert not [a for a in result["actions"] if a["status"] == "conflict"]

    assert box.exists(f"{TARGET}/ncsrc")
    not_owned = box.run("find", TARGET, "!", "-user", USER, "-o", "!", "-group", USER).stdout
    assert not_owned == "", f"not owned by {USER}:\n{not_owned}"

    ncs_dir = box.run("bash", "-c", f". {TARGET}/ncsrc && echo $NCS_DIR", user=USER).stdout
    assert ncs_dir.strip() == TARGET
    # nothing outside the user's home was touched
    for path in ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs"):
        assert not box.exists(path)


def test_local_install_second_run_changes_nothing(box, dev_dist):
    box.nso_install("install", dev_dist, "--local-install", TARGET, user=USER)
    before = box.tree_snapshot(TARGET)
    again = box.nso_install("install", dev_dist, "--local-install", TARGET, user=USER)
    assert again["changed"] == 0
    assert box.tree_snapshot(TARGET) == before


def test_local_install_positional_dir(box, dev_dist):
    result = box.nso_install("install", dev_dist, TARGET, user=USER)
    assert result["result"] == "applied"
    assert box.exists(f"{TARGET}/ncsrc")
