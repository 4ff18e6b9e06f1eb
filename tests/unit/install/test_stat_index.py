"""The manifest's stat index: a re-run tells an intact tree from its per-directory digests
without reading a record; anything the full comparison would report makes the index fail, so
the full comparison runs and says what differs (the index may only ever save time)."""

from __future__ import annotations

import os
import random
import shutil

import pytest

from nso_install import manifest

TREE = "/opt/ncs/ncs-6.5.3"
IGNORE = frozenset({"ncsrc", "etc/ncs/ncs.conf*"})
PATTERNS = ("lib/ncs/erts/bin/epam",)


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "ncs-6.5.3"
    for d in ("bin", "lib/ncs/erts/bin", "etc/ncs", "doc/a", "doc/b"):
        (t / d).mkdir(parents=True)
    (t / "VERSION").write_text("6.5.3\n")
    for i, rel in enumerate(["bin/ncs", "bin/ncsc", "lib/ncs/erts/bin/epam", "doc/a/x", "doc/b/y", "etc/ncs/z"]):
        (t / rel).write_text("#" * (10 + i))
        os.chmod(t / rel, 0o755)
    os.symlink("ncs", t / "bin/ncs-link")
    return t


def _saved(t) -> manifest.Manifest:
    m = manifest.take(t, TREE, "6.5.3")
    m.add_index(IGNORE, PATTERNS)
    return manifest.Manifest.from_json(m.as_json())


def _compare(m, t):
    return manifest.compare(m, t, IGNORE, m.matching(PATTERNS), removable=frozenset({"doc/b/y"}))


def _without_index(m):
    plain = manifest.Manifest.from_json(m.as_json())
    plain.index = None
    return plain


def test_an_intact_tree_is_told_without_reading_a_record(tree):
    m = _saved(tree)
    assert m._entries is None  # the records are not parsed when read
    assert not _compare(m, tree)
    assert m._entries is None and m.index.holds(tree, IGNORE, m.matching(PATTERNS))


def test_what_other_actions_do_in_the_tree_keeps_it_intact(tree):
    m = _saved(tree)
    (tree / "ncsrc").write_text("export NCS_DIR=...\n")  # written by its own action
    (tree / "etc/ncs/ncs.conf.new").write_text("<ncs-config/>")  # a glob pattern of the local install
    os.chmod(tree / "lib/ncs/erts/bin/epam", 0o4750)  # setuid, set by the privileges action
    assert m.index.holds(tree, IGNORE, m.matching(PATTERNS))
    assert not _compare(m, tree)


def _loosen(t): os.chmod(t / "bin/ncs", 0o777)
def _same_size(t):  # noqa: E704
    st = os.stat(t / "bin/ncs")
    (t / "bin/ncs").write_text("!" * st.st_size)
    os.utime(t / "bin/ncs", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
def _grow(t): (t / "doc/a/x").write_text("longer than before, by far")  # noqa: E704
def _retarget(t): os.remove(t / "bin/ncs-link"); os.symlink("ncsc", t / "bin/ncs-link")  # noqa: E702,E704
def _delete(t): os.remove(t / "bin/ncsc")  # noqa: E704
def _delete_dir(t): shutil.rmtree(t / "doc/a")  # noqa: E704
def _add(t): (t / "bin/backdoor").write_text("x")  # noqa: E704
def _add_dir(t): (t / "doc/c").mkdir()  # noqa: E704
def _retype(t): os.remove(t / "doc/a/x"); (t / "doc/a/x").mkdir()  # noqa: E702,E704
def _loosen_dir(t): os.chmod(t / "doc", 0o777)  # noqa: E704
def _epam_content(t): (t / "lib/ncs/erts/bin/epam").write_text("a different epam binary")  # noqa: E704
def _removable(t): os.remove(t / "doc/b/y")  # noqa: E704


@pytest.mark.parametrize("change", [_loosen, _same_size, _grow, _retarget, _delete, _delete_dir, _add, _add_dir,
                                    _retype, _loosen_dir, _epam_content])
def test_every_change_the_full_comparison_sees_fails_the_index(tree, change):
    m = _saved(tree)
    change(tree)
    assert not m.index.holds(tree, IGNORE, m.matching(PATTERNS))
    drift = _compare(m, tree)
    assert drift and drift.as_dict() == _compare(_without_index(m), tree).as_dict()


def test_a_removed_removable_entry_takes_the_full_comparison_which_accepts_it(tree):
    m = _saved(tree)
    _removable(tree)
    assert not m.index.holds(tree, IGNORE, m.matching(PATTERNS))
    assert not _compare(m, tree)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account")
def test_a_changed_owner_fails_the_index(tree):
    m = _saved(tree)
    os.chown(tree / "doc/a/x", 65534, 65534, follow_symlinks=False)
    assert not m.index.holds(tree, IGNORE, m.matching(PATTERNS))
    assert _compare(m, tree).changed == [("doc/a/x", "owner 0:0 -> 65534:65534")]


def test_another_comparison_than_the_index_was_made_for_reads_the_records(tree):
    m = _saved(tree)
    assert not m.index.holds(tree, frozenset({"ncsrc"}), m.matching(PATTERNS))  # other ignores: other key
    assert not m.index.holds(tree, IGNORE, frozenset())
    assert not manifest.StatIndex.usable(frozenset({"ncsrc?"}))  # "?" does not cross "/": not the same walk
    assert not manifest.compare(m, tree, frozenset({"ncsrc"}), m.matching(PATTERNS))
    assert m._entries is not None  # the full comparison ran


def test_format_1_manifests_are_still_read_and_compared_in_full(tree):
    m = manifest.take(tree, TREE, "6.5.3")
    import json
    old = json.dumps({"format": 1, "tree": TREE, "version": "6.5.3",
                      "entries": [e.row() for e in m.entries.values()]}).encode()
    back = manifest.Manifest.from_json(old)
    assert back == m and back.index is None
    assert not _compare(back, tree)
    _delete(tree)
    assert _compare(back, tree).missing == ["bin/ncsc"]


def test_the_index_agrees_with_the_full_comparison_on_random_damage(tmp_path):
    rng = random.Random(1729)
    for round_ in range(25):
        t = tmp_path / f"t{round_}"
        for d in range(4):
            (t / f"d{d}" / "sub").mkdir(parents=True)
            for f in range(5):
                (t / f"d{d}" / f"f{f}").write_text("x" * rng.randrange(1, 50))
                (t / f"d{d}" / "sub" / f"g{f}").write_text("y")
        m = manifest.take(t, TREE, "6.5.3")
        m.add_index(frozenset(), ())
        files = sorted(p for p in t.rglob("*") if p.is_file())
        for _ in range(rng.randrange(0, 3)):
            victim = rng.choice(files)
            if not victim.exists():
                continue
            what = rng.choice(["chmod", "size", "mtime", "rm", "add"])
            if what == "chmod":
                os.chmod(victim, 0o600)
            elif what == "size":
                victim.write_text("z" * 60)
            elif what == "mtime":
                os.utime(victim, ns=(0, 10**9))
            elif what == "rm":
                victim.unlink()
            else:
                (victim.parent / f"new{rng.randrange(100)}").write_text("n")
        fast = manifest.compare(m, t)
        plain = manifest.Manifest(m.tree, m.version, m.entries)
        assert fast.as_dict() == manifest.compare(plain, t).as_dict()
        assert m.index.holds(t, frozenset(), frozenset()) == (not fast)


def test_the_listing_of_an_intact_tree_is_what_the_audit_would_keep_of_a_walk_of_it(tree, tmp_path):
    # install's audit (and verify's) takes a tree the index check found intact from that
    # check's listing (Facts.walk prewalked): the walk's entries the tree checks may judge
    # (facts.notable), ignored entries and order included, nothing else
    from nso_install.capabilities import encode
    from nso_install.facts import Facts, notable
    from nso_install.target import Target

    (tree / "etc/ncs/ncs.conf.d").mkdir()
    (tree / "etc/ncs/ncs.conf.d/a").write_text("y")  # below an ignored directory
    os.chmod(tree / "doc/a/x", 0o646)  # world-writable file
    os.chmod(tree / "doc/b", 0o777)  # world-writable directory
    os.chmod(tree / "etc/ncs/ncs.conf.d/a", 0o2755)  # setgid, where it is only listed
    os.symlink("nowhere", tree / "doc/link")  # links are 0777 and never judged as such
    root = os.geteuid() == 0
    if root:
        os.chown(tree / "bin/ncsc", 4321, 0)  # another account's
        os.setxattr(tree / "bin/ncs", "security.capability", encode({"cap_net_bind_service": frozenset("ep")}))
        (tree / "doc/inert").write_text("z")  # root's, nobody can execute it: its capability is inert
        os.setxattr(tree / "doc/inert", "security.capability", encode({"cap_net_raw": frozenset("ep")}))
    m = _saved(tree)
    (tree / "ncsrc").write_text("x")  # ignored: listed, not judged
    os.chmod(tree / "lib/ncs/erts/bin/epam", 0o4750)
    listing = []
    assert m.index.holds(tree, IGNORE, m.matching(PATTERNS), listing)
    walked = Facts(Target.at(tree.parent))
    want = [(p, (st.st_mode, st.st_uid, st.st_gid), kind) for p, st, kind in walked.walk("/" + tree.name, caps=True)
            if notable(st.st_mode, st.st_uid, walked._caps.get(p))]
    replayed = Facts(Target.at(tree.parent))
    got = [(p, tuple(st), kind) for p, st, kind in replayed._replay("/" + tree.name, listing, True)]
    assert got == want
    expected = {"lib/ncs/erts/bin/epam", "doc/a/x", "doc/b", "etc/ncs/ncs.conf.d/a"}
    if root:
        expected |= {"bin/ncsc", "bin/ncs"}
    else:  # everything is the test account's
        expected = {p[len("/ncs-6.5.3/"):] for p, _, _ in got}
        assert len(expected) > 10
    assert {p[len("/ncs-6.5.3/"):] for p, _, _ in got} == expected
    # capabilities read where they can matter, the same for what is kept
    assert replayed._caps == {p: c for p, c in walked._caps.items() if p in {g[0] for g in got}}
    if root:
        assert replayed._caps["/ncs-6.5.3/bin/ncs"] == {"cap_net_bind_service": frozenset("ep")}


def test_a_tree_the_index_does_not_find_intact_leaves_no_listing_to_use(tree):
    m = _saved(tree)
    _loosen(tree)
    assert manifest.compare(m, tree, IGNORE, m.matching(PATTERNS), listing=True)  # drift
    assert m.listings == {}
    again = _saved(tree)  # (as it is now)
    assert not manifest.compare(again, tree, IGNORE, again.matching(PATTERNS))
    assert again.listings == {}  # not asked for
    assert not manifest.compare(again, tree, IGNORE, again.matching(PATTERNS), listing=True)
    assert list(again.listings) == [str(tree)]


def test_a_saved_manifest_holds_its_records_as_bytes_until_they_are_used(tree, tmp_path):
    from nso_install.state import State
    from nso_install.target import Target

    m = manifest.take(tree, TREE, "6.5.3")
    m.add_index(IGNORE, PATTERNS)
    before = dict(m.entries)
    state = State(Target.at(tmp_path / "root"), "/var/lib/nso-install/state.json")
    state.save_manifest(TREE, m)
    assert m._entries is None and m._raw  # released: the index and the comparison need no records
    assert not _compare(m, tree) and m._entries is None
    _delete(tree)
    assert _compare(m, tree).missing == ["bin/ncsc"]  # a directory differs: parsed again, the same
    assert m.entries == before


def test_the_records_are_written_as_one_json_array_in_path_order(tmp_path):
    # as_json writes them in slices into one buffer: the bytes must be those of one json.dumps
    import json

    t = tmp_path / "many"
    t.mkdir()
    for i in range(9000):  # more than two slices
        (t / f"f{i:05d}").write_text("x")
    m = manifest.take(t, TREE, "6.5.3")
    data = m.as_json()
    head, _, body = data.partition(b"\n")
    rows = [list(e) for e in sorted(m.entries.values(), key=lambda e: e.path)]
    assert body == json.dumps(rows, separators=(",", ":")).encode() + b"\n"
    back = manifest.Manifest.from_json(data)
    assert back._raw is data and back._entries is None  # the read bytes themselves, parsed when used
    assert back == m
    empty = manifest.Manifest(TREE, "6.5.3", {})
    assert manifest.Manifest.from_json(empty.as_json()).entries == {}


def test_the_entries_the_index_check_skips_for_the_listing_are_never_notable():
    """holds() asks nothing (no capability read, no notable()) of a root-owned entry without an
    execute, setuid/setgid, group- or world-write bit: for every mode of every type, such an entry is
    never notable, whatever its capabilities."""
    import stat

    from nso_install.facts import notable
    from nso_install.manifest import _MAY_BE_NOTABLE

    skipped = 0
    for kind in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
        for perm in range(0o10000):
            if perm & _MAY_BE_NOTABLE:
                continue
            skipped += 1
            for caps in (None, b"", b"\x01\x00\x00\x02"):
                assert not notable(kind | perm, 0, caps), (oct(kind | perm), caps)
    assert skipped == 3 * 0o10000 // 128  # 7 of the 12 permission bits decide (group write too)
