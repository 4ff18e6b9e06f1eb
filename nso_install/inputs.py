"""Files the operator names on the command line, read as root without hanging or bloating.

``--values``, ``--set-file``, ``--trusted-cert`` and ``--crypto-keys`` name files that a CI
pipeline may take from anywhere.  :func:`read_operator_file` is the one way they are read:

* opened ``O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY``: opening a FIFO does not wait for a writer,
  opening a terminal does not make it ours (links are followed: the operator chose the path);
* the type is checked on the descriptor (``fstat``), so only a regular file is read: a FIFO, a
  device (``/dev/zero``, ``/dev/tty``), a socket or a directory is refused, whatever the path
  pointed to when click looked at it;
* at most ``limit`` bytes are read (``limit + 1`` to tell a bigger file), whatever the file
  claims as its size (``/proc`` files say 0).

Every failure is a :class:`UsageError` (exit 2) naming the option, the path and the problem,
never the content (these files hold keys).
"""

from __future__ import annotations

import os
import stat

from .errors import UsageError

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def file_type(mode: int) -> str:
    """What a file of ``mode`` is, for messages ("a FIFO (named pipe)", "a directory"...)."""
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return what
    return "a special file"


def size_text(n: int) -> str:
    """``n`` bytes as "64 KiB" / "1 MiB" (exact units only, else bytes)."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def foreign_writer(st: os.stat_result, what: str) -> str | None:
    """Why an account other than root and this one could have written ``what`` (``st`` its stat, a
    link's own), or None: it belongs to another account, or its group or others may write it (a
    sticky directory is fine: others' entries in it belong to them, and are judged on their own)."""
    if st.st_uid not in (0, os.geteuid()):
        try:
            import pwd

            owner = f"{pwd.getpwuid(st.st_uid).pw_name} (uid {st.st_uid})"
        except KeyError:
            owner = f"uid {st.st_uid}"
        return f"{what} belongs to {owner}"
    if stat.S_ISLNK(st.st_mode) or (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        return None
    if st.st_mode & stat.S_IWOTH:
        return f"{what} is writable by others"
    if st.st_mode & stat.S_IWGRP:
        return f"{what} is writable by its group (gid {st.st_gid})"
    return None


def read_operator_file(path: str | os.PathLike, *, option: str, limit: int, reference: str = "bad-input-file",
                       hint: str | None = None, where: str | None = None, foreign: list[str] | None = None) -> bytes:
    """The content of the regular file ``path`` that the operator gave with ``option`` (at most
    ``limit`` bytes), or a ``reference`` UsageError naming ``option``, ``path`` and the problem
    (messages start with ``where``, by default "OPTION PATH").  ``foreign``: gets why another
    account could have written the file read (:func:`foreign_writer`, on the descriptor), if so."""
    where = where or f"{option} {os.fspath(path)}"
    bounded = f"a regular file of at most {size_text(limit)}"
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise UsageError(reference, f"{where}: cannot read it ({e.strerror or e}).",
                         hint or f"Give the path of a readable file ({bounded}).") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = file_type(st.st_mode)
            raise UsageError(reference, f"{where}: this is {what}, not a regular file; only {bounded} is "
                                        f"read (a pipe or a device can block, or be larger than {size_text(limit)} "
                                        "and never end).",
                             hint or f"Give {bounded}; copy the content into one first if it comes from a pipe "
                                     "or a device.")
        too_big = UsageError(reference, f"{where}: the file is larger than {size_text(limit)}, the limit for "
                                        f"{option}.",
                             hint or f"Check that {option} names the right file ({bounded}).")
        if st.st_size > limit:
            raise too_big
        if foreign is not None and (why := foreign_writer(st, where)):
            foreign.append(why)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # grew while being read, or a file whose size says nothing (/proc)
            raise too_big
        return b"".join(chunks)
    except OSError as e:
        raise UsageError(reference, f"{where}: cannot read it ({e.strerror or e}).",
                         hint or f"Give the path of a readable file ({bounded}).") from None
    finally:
        os.close(fd)
