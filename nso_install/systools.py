"""The host's own tools (useradd, usermod, groupadd, ssh-keygen, systemctl), run through plumbum.

They run as root, so they are taken only from the system directories (``/usr/sbin``,
``/sbin``, ``/usr/bin``, ``/bin``), never from ``$PATH``: a directory in root's PATH that
someone else can write (or that the invoking environment set) must not be able to substitute
``useradd`` or ``ssh-keygen``.  A candidate counts only when the binary and every directory
on the way to it (and every symbolic link followed, and the directory holding it) belong to
root and are not writable by group or others; anything else is treated as missing.
"""

from __future__ import annotations

import os
import stat

SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_MAX_LINKS = 40  # like the kernel's limit on symbolic links in one lookup


def _root_only(st: os.stat_result) -> bool:
    """Owned by root and not writable by group or others."""
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def trusted_executable(path: str) -> str | None:
    """The resolved path of the executable ``path`` if only root can have put it there, else None.

    The absolute ``path`` is walked one component at a time with ``lstat`` (no check can be
    skipped by a link): ``/`` and every directory passed through must be root's and not
    writable by group or others; so must every symbolic link met (its target is walked the same
    way) and the final regular file, which must be executable."""
    if not os.path.isabs(path):
        return None
    try:
        if not _root_only(os.lstat("/")):
            return None
        todo = [p for p in path.split("/") if p not in ("", ".")]
        cur, links = "/", 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                cur = os.path.dirname(cur) or "/"
                continue
            nxt = os.path.join(cur, part)
            st = os.lstat(nxt)
            if not _root_only(st) and not stat.S_ISLNK(st.st_mode):
                return None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if st.st_uid != 0 or links > _MAX_LINKS:  # (a link's own mode is always 0777)
                    return None
                target = os.readlink(nxt)
                if target.startswith("/"):
                    cur = "/"
                todo[:0] = [p for p in target.split("/") if p not in ("", ".")]
            elif stat.S_ISDIR(st.st_mode):
                cur = nxt
            elif stat.S_ISREG(st.st_mode) and not todo:
                if not st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
                    return None
                return path  # the path checked (a multi-call binary may go by its name)
            else:
                return None
    except OSError:
        return None
    return None


def system_tool(name: str):
    """A plumbum command for ``name`` from the system directories, or None when it is not there
    or could have been placed by anyone but root (``$PATH`` is never searched)."""
    from plumbum import local

    if not name or "/" in name:
        return None
    for d in SYSTEM_DIRS:
        found = trusted_executable(os.path.join(d, name))
        if found is not None:
            return local[found]
    return None
