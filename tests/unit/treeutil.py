"""Snapshots of a directory tree for byte-identical comparisons (paths, types, modes,
owners, sizes, mtimes, contents)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple]:
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                extra = None
            snap[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                         st.st_size if not stat.S_ISDIR(st.st_mode) else None, st.st_mtime_ns, extra)
    st = os.lstat(root)
    snap["."] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, st.st_mtime_ns, None)
    return snap


def all_bytes(root: Path) -> bytes:
    """Every regular file's content under root, concatenated (for leak searches)."""
    out = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                out.append(p.read_bytes())
    return b"\n".join(out)
