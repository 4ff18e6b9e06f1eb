"""The safety checks every member passes before anything is written, and the limits they enforce.

Kept apart from the readers and the writer: the same :class:`_Checker` judges members of
every format (directory, tarball, installer.bin, signed.bin), once in ``validate`` and
again in ``extract``.  It reads no file data (only names, kinds, modes, link targets,
declared sizes and the VERSION text it is given), so it cannot be tricked by what a reader
does with bytes.
"""

from __future__ import annotations

import re
import stat

from ..errors import DistributionError
from ..target import LinkEscape, LinkLoop, follow_links
from .common import _GET_AGAIN, _NEVER, DistSummary, Member, _missing_version

MAX_LINK_HOPS = 40
# Bounds against hostile archives (decompression bombs, header bombs, name bombs).  A real
# NSO distribution is far below each of them (tens of thousands of members, a few GB).
MAX_MEMBERS = 1_000_000
MAX_NAME = 4096  # bytes of a member name or link target (PATH_MAX)
MAX_DEPTH = 128  # components of a member name
MAX_NAME_CHARS = 256 << 20  # all names (and implied directories) the checks remember
MAX_TOTAL_BYTES = 64 << 30  # declared size of all files
VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+)+([._+-][A-Za-z0-9]+)*")
_TOP_RE = re.compile(r"^(?:nso|ncs)-(?P<v>.+)$")


# (a tree repacked from inside, as an operator may do, is told how to pack it, not only "tampered")
ONE_TREE = ("(an NSO tarball holds one directory, nso-VSN/; a tree repacked from inside it, tar -C nso-VSN ., is "
            "not one: pack it with tar -C PARENT nso-VSN, or give the unpacked directory itself)")


class _Checker:
    """Checks members one by one (``check``) and as a whole (``finish``); remembers names."""

    def __init__(self, where: str, strip_top: bool, lenient_dirs: bool = False):
        self.where = where
        self.strip_top = strip_top
        self.lenient_dirs = lenient_dirs  # unpacked trees: setgid dirs are an inheritance artefact
        self.top: str | None = None
        self.top_mtime_ns: int | None = None
        self.kinds: dict[str, str] = {}
        self.implied: set[str] = set()
        self.links: dict[str, str] = {}
        self.version: str | None = None
        self.files = self.dirs = self.symlinks = self.total = 0
        self.members = self.name_chars = 0
        self.root_member = False  # a "./" member seen (tar -C DIR . writes one)

    def shown(self, rel: str) -> str:
        """How a tree path is named in messages: as in the archive."""
        return f"{self.top}/{rel}" if self.top else rel

    def hostile(self, name: str, why: str) -> DistributionError:
        return DistributionError("hostile-member",
                                 f"{self.where}: member {name!r} {why}; refusing the whole distribution.", _NEVER)

    def too_big(self, why: str) -> DistributionError:
        return DistributionError("distribution-too-big", f"{self.where}: {why}; refusing it as a decompression "
                                                         "or archive bomb.", _NEVER)

    def _parts(self, raw: str, name: str, what: str = "name") -> list[str]:
        if raw == "":
            raise self.hostile(name, f"has an empty {what}")
        if len(raw.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise self.hostile(name[:200] + "...", f"has a {what} longer than {MAX_NAME} bytes")
        if "\x00" in raw:
            raise self.hostile(name, f"has a NUL character in its {what}")
        if raw.startswith("/"):
            raise self.hostile(name, f"has an absolute {what}")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.hostile(name, f"has a '..' component in its {what}")
        if not parts:
            raise self.hostile(name, f"has the {what} {raw!r}, which names no file")
        if len(parts) > MAX_DEPTH:
            raise self.hostile(name[:200] + "...", f"has a {what} deeper than {MAX_DEPTH} directories")
        return parts

    def _remember(self, key: str) -> None:
        self.name_chars += len(key) + 1
        if self.name_chars > MAX_NAME_CHARS:
            raise self.too_big(f"its member names add up to more than {MAX_NAME_CHARS >> 20} MiB")

    def _strip(self, parts: list[str], name: str, m_kind: str | None) -> list[str] | None:
        """Remove the top-level directory; None for the top-level directory itself."""
        if not self.strip_top:
            return parts
        if self.top is None:
            if len(parts) == 1 and m_kind != "dir":
                raise self.hostile(name, f"is not inside a top-level directory {ONE_TREE}")
            self.top = parts[0]
        if parts[0] != self.top:
            raise self.hostile(name, f"is outside the archive's single top-level directory {self.top}/ {ONE_TREE}")
        return parts[1:] if len(parts) > 1 else None

    def check(self, m: Member) -> str | None:
        """Check ``m``; its relative path inside the tree, or None for the top directory."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise self.too_big(f"it has more than {MAX_MEMBERS} members")
        if m.sparse:
            # tarfile expands a sparse map's holes into zeros: a few bytes of archive can declare
            # (and would write) terabytes.  NSO is never packed with sparse members.
            raise self.hostile(m.name, f"is a sparse file (a GNU sparse member declaring {m.size} bytes)")
        if m.kind == "dir" and m.name.strip("/.") == "" and not m.name.startswith("/") and ".." not in m.name:
            # "./" (or "."): the directory the archive is unpacked in, which `tar -C DIR .` (a
            # repacked tree) writes first; nothing to write, its mode and time are not used
            if self.root_member:
                raise self.hostile(m.name, "appears twice in the archive (a second root directory)")
            self.root_member = True
            return None
        parts = self._parts(m.name, m.name)
        rel_parts = self._strip(parts, m.name, m.kind)
        if rel_parts is None:
            if m.kind != "dir":
                raise self.hostile(m.name, "is the top-level directory but is not a directory")
            if self.top_mtime_ns is not None:
                raise self.hostile(m.name, "appears twice in the archive")
            self.top_mtime_ns = m.mtime_ns
            self._check_mode(m)
            return None
        rel = "/".join(rel_parts)
        for n in range(1, len(rel_parts)):
            parent = "/".join(rel_parts[:n])
            kind = self.kinds.get(parent)
            if kind == "symlink":
                raise self.hostile(m.name, f"lies under the symbolic link member {self.shown(parent)} "
                                           "(writing it would follow the link)")
            if kind in ("file", "hardlink"):
                raise self.hostile(m.name, f"lies under {self.shown(parent)}, which is a file member")
            if kind is None and parent not in self.implied:
                self._remember(parent)
                self.implied.add(parent)
        if rel in self.kinds:
            raise self.hostile(m.name, "appears twice in the archive (duplicate member name)")
        if rel in self.implied and m.kind != "dir":
            raise self.hostile(m.name, "is not a directory although other members lie under it")
        self._check_mode(m)
        if m.kind == "file":
            self.files += 1
            self.total += m.size
            if self.total > MAX_TOTAL_BYTES:
                raise self.too_big(f"its files add up to more than {MAX_TOTAL_BYTES >> 30} GiB")
        elif m.kind == "dir":
            self.dirs += 1
        elif m.kind == "symlink":
            target = m.linkname
            if target == "" or "\x00" in target:
                raise self.hostile(m.name, "is a symbolic link with an empty or NUL-containing target")
            if len(target.encode("utf-8", "surrogateescape")) > MAX_NAME:
                raise self.hostile(m.name, f"is a symbolic link with a target longer than {MAX_NAME} bytes")
            if target.startswith("/"):
                raise self.hostile(m.name, f"is a symbolic link to the absolute path {target}")
            if not _lexically_inside(rel_parts[:-1], target):
                raise self.hostile(m.name, f"is a symbolic link to {target}, which leads outside the tree")
            self.links[rel] = target
            self.symlinks += 1
        elif m.kind == "hardlink":
            lrel = self._parts(m.linkname, m.name, "hard link target")
            if self.strip_top:
                lrel = lrel[1:] if lrel[0] == self.top else []
            if not lrel or self.kinds.get("/".join(lrel)) not in ("file", "hardlink"):
                raise self.hostile(m.name, f"is a hard link to {m.linkname}, which is not an earlier "
                                           "regular file of the tree")
            self.files += 1
        else:
            raise self.hostile(m.name, f"is a {m.what or 'special file'}; only files, directories and links "
                                       "are allowed")
        self._remember(rel)
        self.kinds[rel] = m.kind
        return rel

    def _check_mode(self, m: Member) -> None:
        if m.kind == "symlink":
            return
        mode = m.mode & ~stat.S_ISGID if self.lenient_dirs and m.kind == "dir" else m.mode
        bits = [n for bit, n in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"))
                if mode & bit]
        if bits and self.lenient_dirs:
            # a directory: most likely an installed tree (nso-install's own epam is setuid root)
            raise DistributionError(
                "hostile-member", f"{self.where}: member {m.name!r} has the {'/'.join(bits)} bit set (mode "
                                  f"{m.mode & 0o7777:04o}); refusing the whole distribution.",
                "An installed NSO tree is no distribution (install sets epam setuid): give the distribution file "
                "(the .signed.bin, .installer.bin or tarball) or its unpacked copy; a container start that only "
                "needs its secrets takes --secrets-only. A genuine unpacked distribution has no such bit.")
        if bits:
            raise self.hostile(m.name, f"has the {'/'.join(bits)} bit set (mode {m.mode & 0o7777:04o})")

    def see_version(self, m: Member, data: bytes, expected: str | None) -> None:
        text = data.decode("ascii", errors="replace").strip()
        if not VERSION_RE.fullmatch(text):
            raise DistributionError("bad-version", f"{self.where}: the VERSION file holds {text[:40]!r}, "
                                                   "which is not an NSO version.", _GET_AGAIN)
        if expected is not None and text != expected:
            raise DistributionError("version-mismatch", f"{self.where}: VERSION now says {text}, but it said "
                                                        f"{expected} when the distribution was opened.",
                                    "Do not modify the distribution while nso-install reads it; re-run.")
        self.version = text

    def finish(self, expected: str | None) -> DistSummary:
        if self.strip_top and self.top is None:
            raise DistributionError("empty-distribution", f"{self.where}: the archive has no members.", _GET_AGAIN)
        if self.version is None:
            raise _missing_version(self.where)
        top = _TOP_RE.match(self.top or "")
        if top and VERSION_RE.fullmatch(top["v"]) and top["v"] != self.version:
            raise DistributionError("version-mismatch",
                                    f"{self.where}: the top-level directory {self.top}/ does not match its "
                                    f"VERSION file ({self.version}).", _GET_AGAIN)
        if expected is not None and self.version != expected:
            raise DistributionError("version-mismatch", f"{self.where}: VERSION says {self.version}, expected "
                                                        f"{expected}.", _GET_AGAIN)
        for link in self.links:
            why = _resolve_inside(link, self.links)
            if why:
                raise self.hostile(self.shown(link), f"is a symbolic link to {self.links[link]}, which {why}")
        return DistSummary(self.files, self.dirs + len(self.implied - self.kinds.keys()), self.symlinks, self.total)


def _lexically_inside(parent: list[str], target: str) -> bool:
    """``target``, read from the directory ``parent``, stays inside the tree (links not followed)."""
    try:
        follow_links(parent + target.split("/"), lambda current, name: None, 0)
    except LinkEscape:
        return False
    return True


def _resolve_inside(link: str, links: dict[str, str]) -> str | None:
    """Follow ``link`` through the tree's symlinks the way the kernel would; why it escapes, or None."""
    try:
        follow_links(link.split("/"), lambda current, name: links.get("/".join(current + [name])), MAX_LINK_HOPS)
    except LinkEscape:
        return "leads outside the tree (through other links of the tree)"
    except LinkLoop:
        return "is part of a symbolic link loop"
    return None
