"""What nso-install unpacked: one manifest per installed tree, and comparing a tree with it.

A manifest is taken from the tree while it is still private (the temporary directory the
distribution was unpacked into, before it gets its final name), so it describes exactly what
nso-install put there: for every entry its path, type, mode, owner, size, mtime and sha256
(regular files) or target (symlinks).  It is kept in the state directory
(``manifests/ncs-VSN.json``, root-only) and serves

* re-runs and ``--check``: a stat-level comparison (no hashing) finds missing, added and
  changed entries, which a run with the distribution repairs.  An intact tree is told by its
  **stat index** (format 2): per directory, a digest of what its entries' stat must say,
  computed when the manifest is taken, so a re-run compares the digests of what it finds
  with those, reading none of the entries' records (a 100k-entry manifest costs more to
  parse than the tree costs to stat); only when a directory differs are the records read
  and compared one by one (:func:`compare`, which says what differs);
* ``nso-install verify`` (``--full`` also hashes every file, like ``rpm -V``/``debsums``);
* the privilege checks: a setuid bit or capability only goes to a file whose content still
  has the sha256 recorded here.

Entries the plan itself manages inside the tree (``ncsrc``, the privileged binaries' owner and
mode) are compared by their own actions, not here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import stat
import sys
from dataclasses import field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from .facts import capability_bytes, caps_can_matter, notable
from .record import record

MANIFEST_FORMAT = 2  # a header line (tree, version, the stat index), then the entries; 1 (one document) is read too
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


class Manifest:
    """What was unpacked into ``tree``: ``entries`` by relative path.  Read from a file, the
    entries are parsed when first used (:func:`compare` of an intact tree never uses them)."""

    def __init__(self, tree: str, version: str, entries: dict[str, Entry] | None = None):
        self.tree, self.version = tree, version
        self._entries: dict[str, Entry] | None = {} if entries is None else entries
        self._raw: bytes | None = None  # a whole manifest file's bytes, its entries not parsed yet
        self.index: StatIndex | None = None
        # entries of the distribution left out of the tree (bin/ncs-setup of a system install):
        # a later spec that wants one has the tree unpacked again (InstallTree.drift)
        self.left_out: frozenset[str] = frozenset()
        self._matching: dict[tuple[str, ...], frozenset[str]] = {}  # kept with the index
        # what compare() found, by its arguments: reused only when asked (compare(reuse=True));
        # and, by host path, the entries the audit may judge (facts.notable) of a tree the index
        # check found intact (Facts.walk's prewalked), for the same audit
        self.compared: dict[tuple, Drift] = {}
        self.listings: dict[str, list] = {}

    def __eq__(self, other) -> bool:
        return isinstance(other, Manifest) and (self.tree, self.version, self.entries) == \
            (other.tree, other.version, other.entries)

    @property
    def entries(self) -> dict[str, Entry]:
        if self._entries is None:
            raw, self._raw = self._raw, None
            body = raw[raw.find(b"\n") + 1:]  # (after the header line: the file's bytes let go before the parse)
            del raw
            self._entries = {row[0]: Entry(*row) for row in json.loads(body)}
        return self._entries

    def release(self, data: bytes) -> None:
        """Hold the entries as ``data`` (what :meth:`as_json` returned) instead of as objects:
        parsed again only if used (an intact tree's comparison does not use them).  The bytes
        themselves, not a copy of their body (100k entries: 13 MB)."""
        if b"\n" in data and self._entries is not None:
            self._entries, self._raw = None, data

    def as_json(self) -> bytes:
        """A header line (tree, version, the stat index), then the entries as one JSON array
        sorted by path.  Written in slices into one buffer, which becomes the bytes returned:
        never a list of every row, nor the text and then its encoding, beside the records."""
        head = {"format": MANIFEST_FORMAT, "tree": self.tree, "version": self.version}
        if self.left_out:
            head["left_out"] = sorted(self.left_out)
        if self.index is not None:
            head["index"] = self.index.as_dict()
            head["matching"] = [[list(p), sorted(m)] for p, m in self._matching.items()]
        out = io.BytesIO()
        out.write(json.dumps(head, separators=(",", ":")).encode() + b"\n[")
        ordered = sorted(self.entries.values(), key=lambda e: e.path)
        for i in range(0, len(ordered), 4096):
            # the same bytes as json.dumps of all rows: the slices' arrays without brackets, joined by ","
            out.write((("," if i else "") + json.dumps([list(e) for e in ordered[i:i + 4096]],
                                                       separators=(",", ":"))[1:-1]).encode())
        out.write(b"]\n")
        return out.getvalue()  # (the buffer itself: BytesIO hands it over without a copy)

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest | None":
        try:
            at = data.find(b"\n")
            d = json.loads(data[:at] if at >= 0 else data)
            if d.get("format") == 1:  # written before the stat index: one document
                return cls(d["tree"], d["version"], {row[0]: Entry(*row) for row in d["entries"]})
            if d.get("format") != MANIFEST_FORMAT or at < 0:
                return None
            m = cls(d["tree"], d["version"])
            m._entries, m._raw = None, data  # the body is parsed when used
            m.left_out = frozenset(d.get("left_out", ()))
            if "index" in d:
                m.index = StatIndex.from_dict(d["index"])
                m._matching = {tuple(p): frozenset(paths) for p, paths in d["matching"]}
            return m
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def matching(self, patterns: tuple[str, ...]) -> frozenset[str]:
        """The entries matching any of ``patterns`` (fnmatch rules)."""
        patterns = tuple(patterns)
        if patterns not in self._matching:
            match = matcher(patterns)
            self._matching[patterns] = frozenset(rel for rel in self.entries if match(rel))
        return self._matching[patterns]

    def digests(self, patterns: tuple[str, ...]) -> dict[str, str]:
        """sha256 of the files matching ``patterns``."""
        return {rel: self.entries[rel].digest for rel in self.matching(patterns) if self.entries[rel].type == FILE}

    def add_index(self, ignore: frozenset[str], attr_patterns: tuple[str, ...]) -> None:
        """Compute the stat index for comparisons that leave out ``ignore`` (entries other
        actions write into the tree) and the owner and mode of the entries matching
        ``attr_patterns`` (which other actions set): the ones :func:`compare` gets."""
        self._matching = {tuple(attr_patterns): self.matching(attr_patterns)}
        self.index = StatIndex.of_entries(self.entries.values(), ignore, self._matching[tuple(attr_patterns)])

    @staticmethod
    def file_name(tree: str) -> str:
        """Where the manifest of ``tree`` is kept, in the state directory's ``manifests/``."""
        return tree.strip("/").replace("/", "+") + ".json"


class StatIndex:
    """Per directory of a tree (relative path, "" the top), a digest of what :func:`compare`
    looks at in its entries (:func:`_row`), in name order; for comparisons that leave out
    ``ignore`` and the mode and owner of ``attrless``, whose digest is ``key``.

    A directory's digest is the BLAKE2b of its names (and link targets) joined, plus Python's
    hash of the tuple of its rows of integers (type and mode, owner, size, mtime): both are
    computed in C, so the per-entry cost is the ``fstatat`` and one small tuple.  Integers'
    and tuples' hashes are not salted per process (strings' are, which is why names go
    through BLAKE2b); the key names the interpreter's version and hash width, so an index is
    only used by an interpreter that computes the same hashes (another one takes the full
    comparison).  The hash is not a defence against someone who can write the tree (root
    can change the records too); it notices what changed by accident or by hand."""

    def __init__(self, key: str, dirs: dict[str, str]):
        self.key, self.dirs = key, dirs

    @staticmethod
    def key_of(ignore: frozenset[str], attrless: frozenset[str]) -> str:
        return _digest(repr((sorted(ignore), sorted(attrless), sys.version_info[:2], sys.hash_info.width,
                             sys.hash_info.algorithm)))

    @staticmethod
    def usable(ignore: frozenset[str]) -> bool:
        """Whether a walk that does not enter ignored directories leaves out exactly what
        :func:`compare` leaves out: yes unless a pattern has ``?`` or ``[`` (``*`` crosses
        ``/`` in fnmatch, so whatever is below a directory ``*`` matches is matched too)."""
        return not any(c in p for p in ignore for c in "?[")

    @classmethod
    def of_entries(cls, entries, ignore: frozenset[str], attrless: frozenset[str]) -> "StatIndex":
        ignored = ignored_by(ignore)
        left_out: dict[str, bool] = {"": False}  # by directory: ignored, or below one (the walk does not enter it)

        def outside(directory: str) -> bool:
            chain = []
            while directory not in left_out:
                chain.append(directory)
                directory = directory.rpartition("/")[0]
            verdict = left_out[directory]
            for d in reversed(chain):
                verdict = left_out[d] = verdict or ignored(d)
            return verdict

        # the entries themselves by directory (a list slot each: 100k entries' names and rows
        # at once were the peak of a big install's memory), each directory's rows made in turn
        found: dict[str, list] = {"": []}
        for e in entries:
            parent = e.path.rpartition("/")[0]
            if outside(parent) or ignored(e.path):
                continue  # ignored, or below an ignored directory the walk does not enter
            found.setdefault(parent, []).append(e)
            if e.type == DIR:
                found.setdefault(e.path, [])
        dirs = {}
        for d, members in found.items():
            members.sort(key=lambda e: e.path)  # (one directory's: the order of its names)
            dirs[d] = _dir_digest([e.path.rpartition("/")[2] for e in members],
                                  [e.digest if e.type == LINK else "" for e in members],
                                  [_row(_TYPE_BITS.get(e.type, 0) | e.mode, e.uid, e.gid, e.size, e.mtime_ns,
                                        e.path in attrless) for e in members])
            found[d] = []
        return cls(cls.key_of(ignore, attrless), dirs)

    def as_dict(self) -> dict:
        return {"key": self.key, "dirs": self.dirs}

    @classmethod
    def from_dict(cls, d: dict) -> "StatIndex":
        if not (isinstance(d["key"], str) and isinstance(d["dirs"], dict)):
            raise TypeError("not a stat index")
        return cls(d["key"], d["dirs"])

    def holds(self, host_tree: Path, ignore: frozenset[str], attrless: frozenset[str],
              listing: list | None = None) -> bool:
        """Whether the tree at ``host_tree`` is, at stat level, what the index was computed
        from (with the same ``ignore`` and ``attrless``).  One ``fstatat`` an entry, no
        record read; False at the first directory that differs (or is gone, or new).

        ``listing``: when given, gets every entry below the tree the audit may judge
        (:func:`~nso_install.facts.notable`; ignored ones and what is below them included), in
        :meth:`Facts.walk`'s order: (relative path, mode, uid, gid, capabilities' raw bytes or
        None where they cannot matter), so that an audit of the tree this check found intact
        need neither walk it again nor hold and judge its 100k ordinary entries.  Complete only
        when the answer is True."""
        if self.key != self.key_of(ignore, attrless) or not self.usable(ignore):
            return False
        dirs = self.dirs
        ignored = ignored_by(ignore) if ignore else None
        seen = 0
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            top = os.open(host_tree, flags)
        except OSError:
            return False
        stack = [("", top, False)]  # (prefix, fd, inside an ignored directory: listed, not judged)
        try:
            while stack:
                prefix, dfd, outside = stack.pop()
                names, targets, rows = [], [], []
                try:
                    for name in sorted(os.listdir(dfd)):
                        rel = prefix + name
                        left_out = outside or (ignored is not None and ignored(rel))
                        if left_out and listing is None:
                            continue  # and what is below it: not entered
                        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                        mode = st.st_mode
                        # most of a tree is root's, with no execute, setuid/setgid or world-write bit:
                        # never notable, its capabilities cannot matter (no call for it: 100k entries)
                        if listing is not None and (st.st_uid != 0 or mode & _MAY_BE_NOTABLE):
                            raw = _raw_caps_at(dfd, name, mode, st.st_uid)
                            if notable(mode, st.st_uid, raw):
                                listing.append((rel, mode, st.st_uid, st.st_gid, raw))
                        if left_out:
                            if stat.S_ISDIR(mode):
                                stack.append((rel + "/", os.open(name, flags, dir_fd=dfd), True))
                            continue
                        names.append(name)
                        if rel in attrless or not stat.S_ISREG(mode):  # the few that are not plain files
                            targets.append(os.readlink(name, dir_fd=dfd) if stat.S_ISLNK(mode) else "")
                            rows.append(_row(mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, rel in attrless))
                            if stat.S_ISDIR(mode):
                                stack.append((rel + "/", os.open(name, flags, dir_fd=dfd), False))
                        else:  # inline: the per-entry cost of every re-run
                            targets.append("")
                            rows.append((mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns))
                finally:
                    os.close(dfd)
                if outside:
                    continue
                seen += 1
                if dirs.get(prefix[:-1]) != _dir_digest(names, targets, rows):
                    return False
        except OSError:
            return False  # changed under the walk: the full comparison says how
        finally:
            for _, dfd, _ in stack:
                os.close(dfd)
        return seen == len(dirs)


# Bits without which a root-owned entry is never notable (facts.notable): setuid, setgid, group- and
# world-write, and any execute bit (without one a root-owned file's capabilities cannot matter:
# facts.caps_can_matter)
_MAY_BE_NOTABLE = stat.S_ISUID | stat.S_ISGID | 0o022 | 0o111


def _raw_caps_at(dfd: int, name: str, mode: int, uid: int) -> bytes | None:
    """A regular file's ``security.capability`` (b"" for none), read through its directory's
    descriptor, where a capability can matter (:func:`nso_install.facts.caps_can_matter`);
    None elsewhere."""
    if not stat.S_ISREG(mode) or not caps_can_matter(mode, uid):
        return None
    return capability_bytes(f"/proc/self/fd/{dfd}/{name}")


_TYPE_BITS = {FILE: stat.S_IFREG, DIR: stat.S_IFDIR, LINK: stat.S_IFLNK}


def _row(mode: int, uid: int, gid: int, size: int, mtime_ns: int, attrless: bool) -> tuple:
    """What :func:`compare` looks at in one entry (``mode`` with its type bits): the type; a
    file's size and mtime; mode and owner unless other actions set them (``attrless``).  (A
    link's target goes with the names.)"""
    if stat.S_ISREG(mode):
        return (stat.S_IFMT(mode), size, mtime_ns) if attrless else (mode, uid, gid, size, mtime_ns)
    return (stat.S_IFMT(mode),) if attrless else (mode, uid, gid)


def _dir_digest(names: list[str], targets: list[str], rows: list[tuple]) -> str:
    text = "\0".join(names) + "\0\0" + "\0".join(targets)
    return _digest(text) + format(hash(tuple(rows)) & 0xFFFFFFFFFFFFFFFF, "016x")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(errors="surrogateescape"), digest_size=16).hexdigest()


def _kind(mode: int) -> str:
    return FILE if stat.S_ISREG(mode) else DIR if stat.S_ISDIR(mode) else LINK if stat.S_ISLNK(mode) else OTHER


def take(host_tree: Path, tree: str, version: str, hashed: bool = True,
         digests: dict[str, str] | None = None) -> Manifest:
    """The manifest of the (private) tree at ``host_tree``, walked through descriptors.
    ``digests``: sha256 of files by relative path, known already (the writer hashed them as it
    wrote them into the private tree), taken out of it as they are used (only the manifest holds
    them then); the others are read and hashed."""
    m = Manifest(tree, version)
    for rel, st, dfd, name in _scan(host_tree):
        m.entries[rel] = _entry(rel, st, dfd, name, hashed, digests)
    return m


def _entry(rel: str, st: os.stat_result, dfd: int, name: str, hashed: bool,
           digests: dict[str, str] | None = None) -> Entry:
    kind = _kind(st.st_mode)
    digest = ""
    if kind == FILE and hashed:
        digest = (digests.pop(rel, None) if digests else None) or _sha256_at(dfd, name)
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
                try:
                    names = sorted(os.listdir(dfd))
                except PermissionError:
                    raise _unreadable(host_tree / prefix, os.fstat(dfd)) from None
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone since it was listed
                    rel = prefix + name
                    yield rel, st, dfd, name
                    if stat.S_ISDIR(st.st_mode):
                        try:
                            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                          dir_fd=dfd)
                        except PermissionError:
                            raise _unreadable(host_tree / rel, st) from None
                        stack.append((rel + "/", sub))
            finally:
                os.close(dfd)
    finally:
        for _, dfd in stack:
            os.close(dfd)


def _unreadable(host: Path, st: os.stat_result):
    """A directory of the tree this account may not read (a local install's owner who made one
    0000): named whole, with its owner and mode ("Permission denied (packages)" named none)."""
    from .errors import NsoInstallError

    mine = st.st_uid == os.geteuid()
    return NsoInstallError(
        "permission-denied", f"cannot read {host} (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}) as uid "
        f"{os.geteuid()}, to compare the installed tree with its manifest.",
        f"Give it back the modes it had (chmod u+rwx {host}) and re-run: the run puts every mode of the tree right."
        if mine else "Run the same command as the account that installed it: root for a system install, the owner "
        "for a local one.")


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


@record
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
            removable: frozenset[str] = frozenset(), reuse: bool = False, listing: bool = False) -> Drift:
    """The tree at ``host_tree`` against ``manifest``: stat level (type, mode, owner, size, mtime,
    link target), and with ``full`` also every file's sha256.  ``ignore``: entries (and what is
    below them) other actions write; ``ignore_attrs``: entries whose owner and mode other actions
    set (privileged binaries); ``removable``: entries an administrator may delete (not missing).
    ``reuse``: the answer of an earlier comparison with the same arguments, if any (the audit at
    the end of a run that changed nothing: the run compared every tree a moment ago, and a big
    tree costs a stat an entry; a run that changed something forgets them first).  ``listing``:
    keep what the index check of an intact tree listed (``manifest.listings``: the entries the
    audit may judge, a few in a tree as unpacked) for the audit that follows (the run's own
    comparisons and verify's ask; the capabilities of the files they can matter for are read)."""
    key = (str(host_tree), frozenset(ignore), frozenset(ignore_attrs), full, frozenset(removable))
    if reuse and key in manifest.compared:
        return manifest.compared[key]
    if not full and manifest.index is not None:
        listed = [] if listing and os.path.isdir("/proc/self/fd") else None  # (caps are read through it)
        if manifest.index.holds(host_tree, ignore, ignore_attrs, listed):
            # as the index says it was unpacked: no record needs reading
            if listed is not None:
                manifest.listings[str(host_tree)] = listed
            drift = manifest.compared[key] = Drift()
            return drift
    drift = manifest.compared[key] = _compare(manifest, host_tree, ignore, ignore_attrs, full, removable)
    return drift


def _compare(manifest: Manifest, host_tree: Path, ignore: frozenset[str], ignore_attrs: frozenset[str],
             full: bool, removable: frozenset[str]) -> Drift:
    drift = Drift()
    ignored = ignored_by(ignore)
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


def ignored_by(ignore) -> Callable[[str], bool]:
    """The test for "left out of a comparison": an entry matching one of ``ignore`` (fnmatch
    patterns), or below an entry named by one."""
    return matcher(tuple(ignore) + tuple(glob_escape(i) + "/*" for i in ignore))


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
