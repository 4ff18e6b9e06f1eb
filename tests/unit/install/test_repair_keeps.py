"""A repair restores what was unpacked and deletes nothing else.

A re-run that finds the tree damaged unpacks the distribution again and exchanges the two
trees.  What the old tree holds beyond the distribution must come along: in a local install
that is its ncs.conf, keys, secrets and nso-install's records (they live inside the tree), in
any install the entries other actions write (ncsrc) and the extra ones (NSO's caches, an
administrator's packages).  Before this was kept, a local install's repair regenerated its
secrets, dropped the administrator's ncs.conf edit and reset its history, while ``--check``
said the edit was kept."""

from __future__ import annotations

import hashlib
import os

import pytest

from nso_install import fsops

from support import cli, snapshot


def _without_dir_mtimes(snap: dict) -> dict:
    return {k: v[:5] + (None if v[4] is None else v[5],) + v[6:] for k, v in snap.items()}


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def local(tmp_path, sample_dists):
    d = tmp_path / "nso"
    cli("install", sample_dists["tar.gz"], "--local-install", d)
    return d


def test_a_local_install_repair_keeps_config_secrets_records_and_extras(local, sample_dists):
    dist = sample_dists["tar.gz"]
    with open(local / "etc/ncs/ncs.conf", "a") as f:
        f.write("<!-- the administrator's edit -->\n")
    (local / "packages/mypkg").mkdir()
    (local / "packages/mypkg/package-meta-data.xml").write_text("<ncs-package/>\n")
    secrets = {p: _sha(local / p) for p in ("etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key",
                                            "etc/ncs/ssl/cert/host.key", "etc/ncs/ssl/cert/host.cert",
                                            *(["etc/ncs/ncs.crypto_keys"]
                                              if (local / "etc/ncs/ncs.crypto_keys").exists() else []))}
    history = (local / ".nso-install/history.jsonl").read_text()
    shipped = local / "doc/index.html"
    original = shipped.read_bytes()
    with open(shipped, "ab") as f:
        f.write(b"damage\n")

    check = cli("install", dist, "--local-install", local, "--check").output
    r = cli("install", dist, "--local-install", local)
    assert "was repaired" in r.output
    assert shipped.read_bytes() == original  # the damage is repaired ...
    # ... and nothing else is lost or made anew
    assert (local / "etc/ncs/ncs.conf").read_text().endswith("<!-- the administrator's edit -->\n")
    assert {p: _sha(local / p) for p in secrets} == secrets
    assert (local / "packages/mypkg/package-meta-data.xml").read_text() == "<ncs-package/>\n"
    assert (local / ".nso-install/history.jsonl").read_text().startswith(history)
    for said in (check, r.output):  # --check says what the run does: nothing generated, the edit kept
        assert "generate" not in said and "(create)" not in said and "1 edited config file(s) kept" in said
    assert [p.name for p in local.parent.iterdir() if p.name.startswith(fsops.TMP_MARK)] == []

    before = snapshot(local)
    again = cli("install", dist, "--local-install", local)
    assert "Done: 0 changed" in again.output and snapshot(local) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="a system install under --root (root only)")
def test_a_system_tree_repair_keeps_its_extra_entries(tmp_path, sample_dists):
    root = tmp_path / "root"
    dist = sample_dists["tar.gz"]
    cli("install", dist, "--system-install", "--root", root)
    tree = root / "opt/ncs/ncs-6.5.3"
    (tree / "lib/ncs/cache").mkdir()  # as NSO's VMs may write
    (tree / "lib/ncs/cache/x.beam").write_bytes(b"cache\n")
    os.chmod(tree / "bin/ncs_cli", 0o777)
    r = cli("install", dist, "--system-install", "--root", root)
    assert "was repaired" in r.output
    assert os.stat(tree / "bin/ncs_cli").st_mode & 0o777 == 0o755
    assert (tree / "lib/ncs/cache/x.beam").read_bytes() == b"cache\n"
    assert (tree / "ncsrc").is_file()
    assert "Done: 0 changed" in cli("install", dist, "--system-install", "--root", root).output


def test_an_extra_entry_the_repaired_tree_has_no_place_for_stops_the_repair_before_any_change(local, sample_dists):
    """A shipped file replaced by a directory holding something: the distribution's file cannot
    hold it, so the repair stops and says what to move, with the old tree untouched."""
    shipped = local / "doc/index.html"
    shipped.unlink()
    shipped.mkdir()
    (shipped / "notes.txt").write_text("mine\n")
    before = snapshot(local)
    r = cli("install", sample_dists["tar.gz"], "--local-install", local, ok=False)
    assert r.exit_code != 0
    assert "doc/index.html/notes.txt cannot be kept" in r.output + r.stderr
    assert snapshot(local) == before
    assert [p.name for p in local.parent.iterdir() if p.name.startswith(fsops.TMP_MARK)] == []


def test_a_failure_while_carrying_over_moves_everything_back(local, sample_dists, monkeypatch):
    (local / "packages/mypkg").mkdir()
    with open(local / "doc/index.html", "ab") as f:
        f.write(b"damage\n")
    before = snapshot(local)
    real, calls = fsops.move_across, []

    def failing(src, dst, rel):
        calls.append(rel)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst, rel)

    monkeypatch.setattr(fsops, "move_across", failing)
    r = cli("install", sample_dists["tar.gz"], "--local-install", local, ok=False)
    assert r.exit_code != 0 and "No space left" in r.output + r.stderr
    assert len(calls) > 3  # (two moved, the third failed, the two moved back)
    # every entry as it was; only the directories the moves passed through have a new mtime
    assert _without_dir_mtimes(snapshot(local)) == _without_dir_mtimes(before)
    assert [p.name for p in local.parent.iterdir() if p.name.startswith(fsops.TMP_MARK)] == []
