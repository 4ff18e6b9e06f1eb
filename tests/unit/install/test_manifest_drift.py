"""The manifest of an unpacked tree notices every kind of change at stat level (mode, owner,
same-size content, link target), and a re-run repairs what it notices: root executes from
this tree, so a loosened mode or a swapped binary must not pass as "installed, as unpacked"."""

from __future__ import annotations

import os
import stat

import pytest

from nso_install import manifest

from support import cli

NOBODY = 65534


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "ncs-6.5.3"
    (t / "bin").mkdir(parents=True)
    (t / "VERSION").write_text("6.5.3\n")
    (t / "bin/ncs").write_text("#!/bin/sh\necho ncs\n")
    os.chmod(t / "bin/ncs", 0o755)
    os.symlink("ncs", t / "bin/ncs-link")
    return t


def _drift(t, m):
    return dict(manifest.compare(m, t).changed)


def test_an_untouched_tree_has_no_drift(tree):
    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    assert not manifest.compare(m, tree) and not manifest.compare(m, tree, full=True)


def test_a_loosened_mode_is_drift(tree):
    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    os.chmod(tree / "bin/ncs", 0o777)
    assert _drift(tree, m) == {"bin/ncs": "mode 0755 -> 0777"}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account")
def test_a_changed_owner_is_drift(tree):
    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    os.chown(tree / "bin/ncs", NOBODY, NOBODY)
    assert _drift(tree, m)["bin/ncs"].startswith("owner ")


def test_same_size_content_is_drift_by_its_modification_time(tree):
    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    before = os.stat(tree / "bin/ncs")
    (tree / "bin/ncs").write_text("#!/bin/sh\necho pwn\n")  # same size
    assert os.stat(tree / "bin/ncs").st_size == before.st_size
    os.utime(tree / "bin/ncs", ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert _drift(tree, m) == {"bin/ncs": "content (modification time differs)"}


def test_a_retargeted_link_is_drift(tree):
    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    os.unlink(tree / "bin/ncs-link")
    os.symlink("/bin/sh", tree / "bin/ncs-link")
    assert _drift(tree, m) == {"bin/ncs-link": "link target ncs -> /bin/sh"}


@pytest.mark.skipif(os.geteuid() != 0, reason="a system install staged as root")
def test_a_loosened_binary_in_the_installed_tree_is_reported_and_repaired(tmp_path, sample_dists):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    ncs = root / "opt/ncs/ncs-6.5.3/bin/ncs"
    os.chmod(ncs, 0o777)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check", "--fail-on-change",
            ok=False)
    assert r.exit_code == 4 and "bin/ncs (mode 0755 -> 0777)" in r.output
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert stat.S_IMODE(os.stat(ncs).st_mode) == 0o755


def test_the_audit_at_the_end_of_a_run_compares_with_the_manifest_the_run_holds(tmp_path, sample_dists, monkeypatch):
    # the install's own state is handed to its audit: a big tree's manifest is read, hashed
    # and held in memory once a run, not twice
    root = tmp_path / "root"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    loads = []
    real = manifest.Manifest.from_json
    monkeypatch.setattr(manifest.Manifest, "from_json", classmethod(lambda cls, data: loads.append(1) or
                                                                    real.__func__(cls, data)))
    audits = []
    from nso_install import audit

    real_audit = audit.audit
    monkeypatch.setattr(audit, "audit", lambda *a, **kw: audits.append(1) or real_audit(*a, **kw))
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "0 changed" in r.output and audits == [1]
    assert len(loads) == 1
    # the audit on its own still reads it
    cli("audit", "--root", root, ok=False)
    assert len(loads) == 2


def test_the_audit_of_a_run_that_changed_nothing_reuses_its_comparison_of_the_tree(tmp_path, sample_dists,
                                                                                   monkeypatch):
    root = tmp_path / "root"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    calls = []  # the comparisons made: by the index, or record by record
    real, real_holds = manifest._compare, manifest.StatIndex.holds
    monkeypatch.setattr(manifest, "_compare", lambda *a: calls.append(str(a[1])) or real(*a))
    monkeypatch.setattr(manifest.StatIndex, "holds", lambda self, tree, *a: calls.append(str(tree)) or
                        real_holds(self, tree, *a))
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert len(calls) == 1  # the run's check; its audit asked again and got the same answer
    # a run that changed something (here: repaired the tree) compares again in its audit
    calls.clear()
    os.chmod(root / "opt/ncs/ncs-6.5.3/bin/ncs", 0o777)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "Done: 0 changed" not in r.output and "repaired" in r.output
    n = len(calls)
    assert n >= 3  # check, apply's own look, and the audit's
    assert calls[-1] == calls[0]
    # nso-install audit, a process of its own, compares for itself
    calls.clear()
    cli("audit", "--root", root, ok=False)
    assert len(calls) == 1


def test_a_fresh_install_walks_its_new_tree_only_in_its_audit(tmp_path, sample_dists, monkeypatch):
    # the tree is renamed into place with the manifest just taken from it: the engine's look after
    # the apply knows it is as unpacked; the audit walks it, and the next run finds it intact
    root = tmp_path / "root"
    calls = []
    real, real_holds = manifest._compare, manifest.StatIndex.holds
    monkeypatch.setattr(manifest, "_compare", lambda *a: calls.append(str(a[1])) or real(*a))
    monkeypatch.setattr(manifest.StatIndex, "holds", lambda self, tree, *a: calls.append(str(tree)) or
                        real_holds(self, tree, *a))
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert calls == [str(root / "opt/ncs/ncs-6.5.3")]
    calls.clear()
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "Done: 0 changed" in r.output and calls == [str(root / "opt/ncs/ncs-6.5.3")]


def test_a_comparison_is_reused_only_when_asked_and_until_forgotten(tree, tmp_path):
    from nso_install.state import State
    from nso_install.target import Target

    m = manifest.take(tree, "/opt/ncs/ncs-6.5.3", "6.5.3")
    first = manifest.compare(m, tree)
    os.chmod(tree / "bin/ncs", 0o777)
    assert manifest.compare(m, tree, reuse=True) is first  # asked for: the earlier answer
    assert manifest.compare(m, tree).changed == [("bin/ncs", "mode 0755 -> 0777")]  # not asked: looked again
    state = State(Target.at(tmp_path / "root"), None)
    state._manifests["/opt/ncs/ncs-6.5.3"] = m
    state.forget_comparisons()
    assert not m.compared
    assert manifest.compare(m, tree, reuse=True).changed  # nothing to reuse: compared


def _audit_notes(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if line.startswith(("note: audit: NSO-", "warning: audit: NSO-")))


def test_the_audit_of_a_run_that_changed_nothing_walks_the_tree_once_and_finds_the_same(tmp_path, sample_dists,
                                                                                         monkeypatch):
    # the index check lists every entry (and reads the capabilities where they can matter) as it
    # walks; that run's audit takes the tree from that listing instead of walking it again
    from nso_install.capabilities import encode
    from nso_install.facts import Facts

    root = tmp_path / "root"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    replayed = []
    real = Facts._replay
    monkeypatch.setattr(Facts, "_replay", lambda self, base, listing, caps: replayed.append(base) or
                        real(self, base, listing, caps))
    clean = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert replayed == ["/opt/ncs/ncs-6.5.3"] and "Done: 0 changed" in clean.output
    # a capability nobody intended, on an executable file of the tree: the index (stat level)
    # does not see it, the listing does
    os.setxattr(root / "opt/ncs/ncs-6.5.3/bin/ncs-backup", "security.capability",
                encode({"cap_sys_admin": frozenset("ep")}))
    replayed.clear()
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert replayed and "Done: 0 changed" in r.output
    notes = _audit_notes(r.output)
    assert any("NSO-PRIV-002" in n for n in notes) and not any("NSO-PRIV-002" in n for n in _audit_notes(clean.output))
    # the same verdicts as an audit that walks everything itself
    audit = cli("audit", "--root", root, "--json", ok=False)
    import json
    failing = {c["id"] for c in json.loads(audit.stdout)["checks"] if c["result"] in ("fail", "error")}
    assert failing == {n.split()[2] for n in notes if n.split()[2].startswith("NSO-")}


def _as_recorded_by_format_1(root) -> bytes:
    """Rewrite the install's manifest as an nso-install before format 2 wrote it (no stat
    index), sealed as that version sealed it; its bytes."""
    import hashlib
    import json

    from nso_install.state import State
    from nso_install.target import Target

    state = State(Target.at(root), "/var/lib/nso-install/state.json")
    shown = root / "var/lib/nso-install/manifests/opt+ncs+ncs-6.5.3.json"
    m = manifest.Manifest.from_json(shown.read_bytes())
    old = json.dumps({"format": 1, "tree": m.tree, "version": m.version,
                      "entries": [e.row() for e in m.entries.values()]}).encode()
    shown.write_bytes(old)
    state.data["manifests"]["/opt/ncs/ncs-6.5.3"] = hashlib.sha256(old).hexdigest()
    assert state.save()
    return old


def test_a_manifest_recorded_without_a_stat_index_gets_one_on_the_next_run_and_only_then(tmp_path, sample_dists,
                                                                                        monkeypatch):
    # an install recorded by an nso-install before format 2: its every re-run compared the
    # records one by one, for as long as the tree stayed intact
    from support import snapshot

    root = tmp_path / "root"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    shown = root / "var/lib/nso-install/manifests/opt+ncs+ncs-6.5.3.json"
    old = _as_recorded_by_format_1(root)
    calls = []
    real, real_holds = manifest._compare, manifest.StatIndex.holds
    monkeypatch.setattr(manifest, "_compare", lambda *a: calls.append("records") or real(*a))
    monkeypatch.setattr(manifest.StatIndex, "holds", lambda self, *a: calls.append("index") or real_holds(self, *a))

    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "Done: 0 changed" in r.output and "got the stat index" in r.output
    assert calls[0] == "records"
    assert shown.read_bytes().startswith(b'{"format":2') and b'"index"' in shown.read_bytes()
    # the next run tells the tree intact from the index, and writes nothing at all
    before = snapshot(root)
    calls.clear()
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "Nothing to do" in r.output and "stat index" not in r.output
    assert calls == ["index"]
    assert snapshot(root) == before
    # a damaged tree is not indexed: it is repaired from the distribution (a manifest of its own)
    old = _as_recorded_by_format_1(root)
    os.chmod(root / "opt/ncs/ncs-6.5.3/bin/ncs", 0o777)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check")
    assert "stat index" not in r.output and shown.read_bytes() == old  # --check writes nothing
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "repaired" in r.output and "stat index" not in r.output
    assert stat.S_IMODE(os.stat(root / "opt/ncs/ncs-6.5.3/bin/ncs").st_mode) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="plays the owner of a local install with seteuid (root only)")
@pytest.mark.parametrize("mode", [0o000, 0o300])
def test_a_directory_of_the_tree_its_owner_cannot_read_is_named_whole(mode):
    """A local install's owner who made a directory of the tree 0000 (or unreadable) got
    "Permission denied (packages)": which packages? Now the whole path, its mode, and the chmod
    that lets the run put the tree right."""
    from nso_install.errors import NsoInstallError
    from support import as_nobody, public_tmp_dir

    with public_tmp_dir() as d:
        t = d / "nso"
        (t / "packages/x").mkdir(parents=True)
        m = manifest.take(t, str(t), "6.5.3")
        for p in (t, t / "packages", t / "packages/x"):
            os.chown(p, NOBODY, NOBODY)
        os.chmod(t / "packages", mode)
        with as_nobody(), pytest.raises(NsoInstallError) as e:
            manifest.compare(m, t)
    assert e.value.reference == "permission-denied"
    assert e.value.message == (f"cannot read {t}/packages (owner uid {NOBODY}, mode {mode:04o}) as uid {NOBODY}, "
                               "to compare the installed tree with its manifest.")
    assert e.value.hint.startswith(f"Give it back the modes it had (chmod u+rwx {t}/packages)")
