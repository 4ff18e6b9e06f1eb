"""What nso-install unpacked: one manifest per installed tree, and comparing a tree with it.

A manifest is taken from the tree while it is still private (the temporary directory the
distribution was unpacked into, before it gets its final name), so it describes exactly what
nso-install put there: for every entry its path, type, mode, owner, size, mtime and sha256
(regular files) or target (symlinks).  It is kept in the state directory
(``manifests/ncs-VSN.json``, root-only) and serves

* re-runs and ``--check``: a stat-level comparison (no hashing) finds missing, added and
  changed entries, which a run with the distribution repairs;
* ``nso-install verify`` (``--full`` also hashes every file, like ``rpm -V``/``debsums``);
* the privilege checks: a setuid bit or capability only goes to a file whose content still
  has the sha256 recorded here.

Entries the plan itself manages inside the tree (``ncsrc``, the privileged binaries' owner and
mode) are compared by their own actions, not here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

MANIFEST_FORMAT = 1
FILE, DIR, LINK, OTHER = "f", "d", "l", "o"


class Entry(NamedTuple):  # a tuple: 100k of them are built on every re-run of a big tree
    path: str  # relative to the tree
    type: str  # f | d | l
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    digest: str = ""  # sha256 of a file; the target of a link

    def row(self) -> list:
        return list(self)


@dataclass
class Manifest:
    tree: str  # target path of the tree (INSTALL_DIR/ncs-VSN, or a local install's directory)
    version: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def as_json(self) -> bytes:
        rows = [e.row() for e in sorted(self.entries.values(), key=lambda e: e.path)]
        return json.dumps({"format": MANIFEST_FORMAT, "tree": self.tree, "version": self.version, "entries": rows},
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest | None":
        try:
            d = json.loads(data)
            if d.get("format") != MANIFEST_FORMAT:
                return None
            entries = {row[0]: Entry(*row) for row in d["entries"]}
            return cls(d["tree"], d["version"], entries)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def matching(self, patterns: tuple[str, ...]) -> frozenset[str]:
        """The entries matching any of ``patterns`` (fnmatch rules)."""
        match = matcher(patterns)
        return frozenset(rel for rel in self.entries if match(rel))

    def digests(self, patterns: tuple[str, ...]) -> dict[str, str]:
        """sha256 of the files matching ``patterns``."""
        return {rel: self.entries[rel].digest for rel in self.matching(patterns) if self.entries[rel].type == FILE}

    @staticmethod
    def file_name(tree: str) -> str:
        """Where the manifest of ``tree`` is kept, in the state directory's ``manifests/``."""
        return tree.strip("/").replace("/", "+") + ".json"


def _kind(mode: int) -> str:
    return FILE if stat.S_ISREG(mode) else DIR if stat.S_ISDIR(mode) else LINK if stat.S_ISLNK(mode) else OTHER


def take(host_tree: Path, tree: str, version: str, hashed: bool = True,
         digests: dict[str, str] | None = None) -> Manifest:
    """The manifest of the (private) tree at ``host_tree``, walked through descriptors.
    ``digests``: sha256 of files by relative path, known already (the writer hashed them as it
    wrote them into the private tree); the others are read and hashed."""
    m = Manifest(tree, version)
    for rel, st, dfd, name in _scan(host_tree):
        m.entries[rel] = _entry(rel, st, dfd, name, hashed, digests)
    return m


def _entry(rel: str, st: os.stat_result, dfd: int, name: str, hashed: bool,
           digests: dict[str, str] | None = None) -> Entry:
    kind = _kind(st.st_mode)
    digest = ""
    if kind == FILE and hashed:
        digest = (digests or {}).get(rel) or _sha256_at(dfd, name)
    elif kind == LINK:
        digest = os.readlink(name, dir_fd=dfd)
    return Entry(rel, kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size if kind != DIR else 0,
                 st.st_mtime_ns, digest)


def _scan(host_tree: Path) -> Iterator[tuple[str, os.stat_result, int, str]]:
    """(relative path, lstat, parent directory fd, name) of every entry below ``host_tree``,
    parents before children, names sorted within a directory.  One ``fstatat`` an entry (the
    one ``scandir`` makes) and directories opened by descriptor, never through a link: the
    per-entry cost every re-run pays (a no-op re-run walks the whole tree)."""
    top = os.open(host_tree, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    stack = [("", top)]
    try:
        while stack:
            prefix, dfd = stack.pop()
            try:
                # names only (a DirEntry with its stat is ~400 bytes: 34k of them in one directory
                # were the peak of an install's memory)
                for name in sorted(os.listdir(dfd)):
                    try:
                        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone since it was listed
                    rel = prefix + name
                    yield rel, st, dfd, name
                    if stat.S_ISDIR(st.st_mode):
                        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                      dir_fd=dfd)
                        stack.append((rel + "/", sub))
            finally:
                os.close(dfd)
    finally:
        for _, dfd in stack:
            os.close(dfd)


def _sha256_at(dfd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def matcher(patterns) -> Callable[[str], bool]:
    """One compiled test for "matches any of ``patterns``" (fnmatch's rules, case-sensitive):
    called once an entry of a big tree, where a loop over fnmatchcase dominated a re-run."""
    if not patterns:
        return lambda rel: False
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


@dataclass
class Drift:
    """How a tree differs from its manifest."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (path, what: "content", "mode 0755 -> 0777"...)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.changed)

    @property
    def damaged(self) -> bool:
        """Something of what was unpacked is missing or changed (extra entries, such as caches
        NSO's VMs write, do not make a tree damaged; verify lists them)."""
        return bool(self.missing or self.changed)

    @property
    def content_lost(self) -> bool:
        """Something only the distribution can restore (a missing or changed file's content)."""
        return bool(self.missing) or any(what.startswith(("content", "size", "type", "link")) for _, what in
                                         self.changed)

    def summary(self, limit: int = 5) -> str:
        parts = []
        for label, items in (("missing", self.missing), ("extra", self.extra),
                             ("changed", [f"{p} ({w})" for p, w in self.changed])):
            if items:
                shown = ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
                parts.append(f"{len(items)} {label}: {shown}")
        return "; ".join(parts)

    def lines(self) -> list[str]:
        return ([f"- {p} (missing)" for p in self.missing] + [f"+ {p} (not installed by nso-install)"
                                                              for p in self.extra]
                + [f"~ {p}: {w}" for p, w in self.changed])

    def as_dict(self) -> dict:
        return {"missing": self.missing, "extra": self.extra,
                "changed": [{"path": p, "what": w} for p, w in self.changed]}


def compare(manifest: Manifest, host_tree: Path, ignore: frozenset[str] = frozenset(),
            ignore_attrs: frozenset[str] = frozenset(), full: bool = False,
            removable: frozenset[str] = frozenset()) -> Drift:
    """The tree at ``host_tree`` against ``manifest``: stat level (type, mode, owner, size, mtime,
    link target), and with ``full`` also every file's sha256.  ``ignore``: entries (and what is
    below them) other actions write; ``ignore_attrs``: entries whose owner and mode other actions
    set (privileged binaries); ``removable``: entries an administrator may delete (not missing)."""
    drift = Drift()
    ignored = matcher(tuple(ignore) + tuple(glob_escape(i) + "/*" for i in ignore))
    entries = manifest.entries
    seen = 0
    # one pass over the tree, no Entry built for what is as recorded: the per-entry cost of
    # every no-op re-run
    for rel, st, dfd, name in _scan(host_tree):
        want = entries.get(rel)
        if want is None:
            if not ignored(rel):
                drift.extra.append(rel)
            continue
        seen += 1
        if not full and want.type == FILE and stat.S_ISREG(st.st_mode) and want.size == st.st_size \
                and want.mtime_ns == st.st_mtime_ns and want.mode == stat.S_IMODE(st.st_mode) \
                and want.uid == st.st_uid and want.gid == st.st_gid:
            continue
        if ignored(rel):
            continue
        what = _differs(want, _entry(rel, st, dfd, name, full), full, rel in ignore_attrs)
        if what:
            drift.changed.append((rel, what))
    if seen < len(entries):  # something recorded is gone: which, by a second walk (names only)
        present = {rel for rel, _, _, _ in _scan(host_tree)}
        drift.missing = sorted(rel for rel in entries.keys() - present if not ignored(rel) and rel not in removable)
    drift.changed.sort()
    drift.extra.sort()
    return drift


def glob_escape(path: str) -> str:
    """``path`` as an fnmatch pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def _differs(want: Entry, have: Entry, full: bool, skip_attrs: bool) -> str | None:
    if want.type != have.type:
        return f"type {want.type} -> {have.type}"
    if want.type == LINK and want.digest != have.digest:
        return f"link target {want.digest} -> {have.digest}"
    if want.type == FILE:
        if want.size != have.size:
            return f"size {want.size} -> {have.size}"
        if full and want.digest != have.digest:
            return "content (sha256 differs)"
        if want.mtime_ns != have.mtime_ns and want.type == FILE:
            return "content (modification time differs)"
    if not skip_attrs:
        if want.mode != have.mode:
            return f"mode {want.mode:04o} -> {have.mode:04o}"
        if (want.uid, want.gid) != (have.uid, have.gid):
            return f"owner {want.uid}:{want.gid} -> {have.uid}:{have.gid}"
    return None
