"""Facts.walk: what root walks (hand-overs, audit) may have been shaped by another account, so
the walk holds one descriptor per level, never one per subdirectory of a wide directory."""

from __future__ import annotations

import os
import subprocess
import sys

from nso_install.facts import DIR, FILE, Facts
from nso_install.target import Target

WALK_UNDER_A_LOW_FD_LIMIT = """
import resource, sys
from nso_install.facts import Facts
from nso_install.target import Target
resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
print(sum(1 for _ in Facts(Target.at(sys.argv[1])).walk("/wide")))
"""


def test_a_wide_directory_does_not_exhaust_descriptors(tmp_path):
    for i in range(600):
        os.makedirs(tmp_path / "wide" / f"d{i:03}" / "sub")
    r = subprocess.run([sys.executable, "-c", WALK_UNDER_A_LOW_FD_LIMIT, str(tmp_path)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1200"


def test_parents_come_before_their_children_and_links_are_not_followed(tmp_path):
    (tmp_path / "t/a/b").mkdir(parents=True)
    (tmp_path / "t/a/b/f").write_text("x")
    (tmp_path / "t/z").mkdir()
    (tmp_path / "t/z/l").symlink_to(tmp_path / "t/a")
    seen = [(p, kind) for p, _, kind in Facts(Target.at(tmp_path)).walk("/t")]
    paths = [p for p, _ in seen]
    assert sorted(paths) == ["/t/a", "/t/a/b", "/t/a/b/f", "/t/z", "/t/z/l"]
    assert paths.index("/t/a") < paths.index("/t/a/b") < paths.index("/t/a/b/f")
    assert dict(seen)["/t/a/b"] == DIR and dict(seen)["/t/a/b/f"] == FILE and dict(seen)["/t/z/l"] != DIR


def test_capabilities_read_on_the_walk_are_those_read_by_path(tmp_path, monkeypatch):
    # the audit walks with caps=True so that a big tree's files are not resolved again one by one
    (tmp_path / "t/d").mkdir(parents=True)
    (tmp_path / "t/d/f").write_text("x")
    (tmp_path / "t/g").write_text("y")
    (tmp_path / "t/inert").write_text("z")
    os.chmod(tmp_path / "t/d/f", 0o755)
    os.chmod(tmp_path / "t/g", 0o755)
    os.chmod(tmp_path / "t/inert", 0o644)  # (as root) nobody can execute it: its capabilities are not read
    os.symlink("g", tmp_path / "t/l")
    raw = {"f": b"capraw-f", "g": b""}
    decoded, read_at = {}, []

    def fake_getxattr(path, attr, follow_symlinks=True):
        read_at.append(str(path))
        assert attr == "security.capability" and follow_symlinks is False
        name = os.path.basename(str(path))
        if not raw.get(name):
            raise OSError(61, "no data")  # ENODATA
        return raw[name]

    def fake_decode(data, key):
        decoded[key] = data
        return {"permitted": frozenset({"cap_net_bind_service"})} if data else {}

    monkeypatch.setattr(os, "getxattr", fake_getxattr)
    monkeypatch.setattr(os, "listxattr", lambda path, follow_symlinks=True: (
        ["security.capability"] if raw.get(os.path.basename(str(path))) else []))
    monkeypatch.setattr("nso_install.capabilities.decode", fake_decode)
    facts = Facts(Target.at(tmp_path))
    paths = [p for p, _, _ in facts.walk("/t", caps=True)]
    assert "/t/l" in paths and set(facts._caps) == {"/t/d/f", "/t/g"} | ({"/t/inert"} if os.geteuid() else set())  # files only, read on the way
    assert decoded["/t/d/f"] == b"capraw-f"
    assert read_at and all(p.startswith("/proc/self/fd/") for p in read_at)  # through the walk's descriptor
    on_walk = dict(facts._caps)
    by_path = Facts(Target.at(tmp_path))
    assert {k: by_path.caps(k) for k in on_walk} == on_walk


def test_a_file_its_owner_grows_after_the_look_is_hashed_within_the_bound():
    """Facts.sha256 judged a file's size by the lstat taken when the plan looked at it, then read
    to its end: the NSO account, which owns RUN_DIR/cdb/aaa_init.xml, grew it to a sparse terabyte
    in between (or faster than root reads) and held install, verify and audit, and the run's
    lock, for as long as reading that many zeros takes.  The read stops past MAX_HASH."""
    import shutil
    import tempfile
    import time

    import pytest

    from nso_install.facts import MAX_HASH

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another account")
    top = tempfile.mkdtemp(dir="/tmp")  # (reachable by nobody, unlike pytest's 0700 tmp_path)
    try:
        os.chmod(top, 0o711)
        cdb = os.path.join(top, "cdb")
        os.mkdir(cdb)
        os.chown(cdb, 65534, 65534)
        path = os.path.join(cdb, "aaa_init.xml")
        with open(path, "wb") as f:
            f.write(b"<config/>\n")
        os.chown(path, 65534, 65534)
        facts = Facts(Target.at(top))
        assert facts.path("/cdb/aaa_init.xml").kind == FILE  # the plan's look: 10 bytes
        subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "truncate", "-s", "4G",
                        path], check=True)
        start = time.monotonic()
        digest = facts.sha256("/cdb/aaa_init.xml")
        assert digest.startswith("too-large:") and int(digest[10:].rstrip("+")) > MAX_HASH
        assert time.monotonic() - start < 30
    finally:
        shutil.rmtree(top)
