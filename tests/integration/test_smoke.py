"""The test image itself: the project is installed and the tools the tests use exist."""

import pytest

pytestmark = pytest.mark.integration


def test_container_is_root_without_network(box):
    assert box.run("id", "-u").stdout.strip() == "0"
    # --network none: only the loopback interface
    links = box.run("ip", "-o", "link").stdout
    assert "lo" in links and "eth0" not in links


def test_package_importable_in_image(box):
    r = box.run("python3", "-c", "import nso_install, sys; print(nso_install.__version__)")
    assert r.stdout.strip()


def test_cli_help(box):
    r = box.run("nso-install", "--help")
    assert "install" in r.stdout


def test_run_as_other_user_uses_runuser(box):
    box.add_user("dev")
    assert box.run("id", "-un", user="dev").stdout.strip() == "dev"
    assert box.user_exists("dev") and not box.user_exists("nosuchuser")
    assert "dev" in box.groups_of("dev")


def test_tree_snapshot_sees_every_change(box):
    box.sh("mkdir -p /srv/t/d && echo a > /srv/t/d/f && ln -s d/f /srv/t/l")
    before = box.tree_snapshot("/srv/t")
    assert before == box.tree_snapshot("/srv/t")
    assert "/srv/t/l l " in before and " d/f " in before
    box.run("chmod", "600", "/srv/t/d/f")
    after_chmod = box.tree_snapshot("/srv/t")
    assert after_chmod != before
    box.run("touch", "-d", "@0", "/srv/t/d/f")
    assert box.tree_snapshot("/srv/t") != after_chmod
    assert box.tree_snapshot("/srv/nothing") == "/srv/nothing absent\n"


def test_getcap_helper(box):
    box.sh("cp /bin/true /root/t && setcap cap_net_bind_service=ep /root/t")
    assert box.getcap("/root/t") == "cap_net_bind_service=ep"
    assert box.getcap("/bin/true") == ""
