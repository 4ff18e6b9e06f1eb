"""Installing beside another version's tree (as root, under a staging root): the privileged
binaries of every installed tree keep a desired state, but only the files a tree really holds
are acted on; nothing (least of all a glob-named directory) is created inside another tree."""

from __future__ import annotations

import json
import os
import stat

import pytest
from support import cli, snapshot

from nso_install.sample import make_sample_distribution

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

OLD = "/opt/ncs/ncs-6.6.1"  # installed first, then left beside 6.5.3


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    d = tmp_path_factory.mktemp("dists")
    return {v: make_sample_distribution(d, v, "tar.gz") for v in ("6.5.3", "6.6.1")}


def install(dist, root, *args) -> dict:
    return json.loads(cli("install", dist, "--system-install", "--root", root, "--json", *args).stdout)


def inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def test_a_second_version_leaves_the_66_tree_as_it_is_but_for_its_real_binaries(root, dists):
    install(dists["6.6.1"], root, "--run-as-user", "nso")
    tree = root / OLD.lstrip("/")
    before = snapshot(tree)
    epam = f"{OLD}/lib/ncs/lib/pam-6.6.1/priv/epam"

    planned = install(dists["6.5.3"], root, "--check")["actions"]
    assert [a["path"] for a in planned if "*" in a["path"]] == []
    mine = {a["path"]: a for a in planned if inside(a["path"], OLD)}
    # the 6.6.1 binaries still have a desired state (current may be switched back to 6.6.1),
    # at the paths the tree has, and nothing else is planned in it but its ncsrc (it is active)
    assert epam in mine and {a["kind"] for a in mine.values()} == {"setuid", "capability", "file"}
    assert sorted(p for p, a in mine.items() if a["kind"] == "file") == [f"{OLD}/ncsrc", f"{OLD}/ncsrc.tcsh"]
    assert not any(a["changed"] for a in mine.values())

    done = install(dists["6.5.3"], root)
    assert [a["path"] for a in done["actions"] if "*" in a["path"]] == []
    assert [a["path"] for a in done["actions"] if a["changed"] and inside(a["path"], OLD)] == []
    assert snapshot(tree) == before  # not one entry added, removed or changed
    assert [str(p) for p in root.rglob("*") if "*" in p.name] == []
    st = os.stat(root / epam.lstrip("/"))
    assert stat.S_IMODE(st.st_mode) == 0o4750  # the real file keeps what --run-as-user grants

    v = json.loads(cli("verify", "--root", root, "--json").stdout)
    assert v["ok"] is True and v["findings"] == [] and v["extra"] == []
    assert sorted(v["checked"]) == ["/opt/ncs/ncs-6.5.3", OLD]
    assert install(dists["6.5.3"], root)["changed"] == 0


def test_a_foreign_tree_holding_only_version_gets_nothing(root, dists):
    install(dists["6.5.3"], root)
    foreign = root / "opt/ncs/ncs-9.9"
    foreign.mkdir()
    (foreign / "VERSION").write_text("9.9\n")
    planned = install(dists["6.5.3"], root, "--check")["actions"]
    assert [a["path"] for a in planned if inside(a["path"], "/opt/ncs/ncs-9.9")] == []
    assert install(dists["6.5.3"], root)["changed"] == 0
    assert os.listdir(foreign) == ["VERSION"]


def test_verify_names_a_66_trees_privileged_binary_by_its_real_path(root, dists):
    """Its binaries are found by glob (lib/pam-*/priv/epam): a finding names the file itself."""
    install(dists["6.6.1"], root, "--run-as-user", "nso")
    os.chmod(root / OLD.lstrip("/") / "lib/ncs/lib/pam-6.6.1/priv/epam", 0o750)  # the grant lost
    r = cli("verify", "--root", root, "--json", ok=False)
    found = {f["path"]: f["problem"] for f in json.loads(r.stdout)["findings"] if f["kind"] == "privilege"}
    assert list(found) == [f"{OLD}/lib/ncs/lib/pam-6.6.1/priv/epam"] and "0750 -> 4750" in found[list(found)[0]]


def test_the_active_trees_ncsrc_follows_a_changed_spec_given_with_a_version_installed_beside(root, dists):
    """current/ncsrc is what users source: it kept the Unix socket's NCS_IPC_PATH after a run
    that installed 6.5.3 beside and moved IPC to TCP, which ncs.conf and the profile scripts did."""
    install(dists["6.6.1"], root)
    ncsrc = root / OLD.lstrip("/") / "ncsrc"
    assert "NCS_IPC_PATH=" in ncsrc.read_text()
    tcp = ("--set", "ipc.transport=tcp", "--set", "ipc.access_check=true")
    planned = install(dists["6.5.3"], root, "--check", *tcp)["actions"]
    assert any(a["path"] == f"{OLD}/ncsrc" and a["status"] == "change" for a in planned)
    install(dists["6.5.3"], root, *tcp)
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.6.1"
    text = ncsrc.read_text()
    assert "NCS_IPC_PORT=4569" in text and "NCS_IPC_PATH=" not in text and "NCS_DIR=/opt/ncs/ncs-6.6.1" in text
    assert "NCS_IPC_PORT 4569" in (root / OLD.lstrip("/") / "ncsrc.tcsh").read_text()
    assert "NCS_IPC_PORT=4569" in (root / "etc/profile.d/ncs.sh").read_text()
    assert install(dists["6.5.3"], root)["changed"] == 0
    v = json.loads(cli("verify", "--root", root, "--json").stdout)
    assert v["ok"] is True and v["findings"] == []
