"""What the readers, the checks, the writer and the signature check all speak in.

A member as a reader found it (:class:`Member`), the counts a pass returns
(:class:`DistSummary`), the read errors that mean "damaged archive" and the messages shared
by several modules live here so that no module of the package imports another just for a
type or a message.
"""

from __future__ import annotations

import gzip
import lzma
import os
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable

from ..errors import DistributionError
from ..record import record

CHUNK = 1 << 20
HEADER_LIMIT = 1 << 20  # how much of a self-extracting script is read to find its payload (.selfextract)
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError, ValueError)
_GET_AGAIN = "Download the distribution again from Cisco (software.cisco.com) and check its checksum."
_NEVER = ("Get the distribution again from Cisco; a genuine NSO distribution never contains "
          "such members, so this one was tampered with or is not NSO.")

Progress = Callable[[int, int], None]


@record(frozen=True)
class DistSummary:
    """Counts of what a pass over a distribution found."""
    files: int
    dirs: int
    symlinks: int
    total_bytes: int


@dataclass
class Member:
    """One entry of a distribution, as the reader found it (nothing checked yet)."""

    name: str  # as in the archive / relative path in a directory, for messages
    kind: str  # "file" | "dir" | "symlink" | "hardlink" | "special"
    mode: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    what: str = ""  # for "special": what it is
    open: Callable[[], BinaryIO] | None = None
    sparse: bool = False  # a tar member with a GNU sparse map: holes read as zeros, ``size`` as declared


def _missing_version(where: str) -> DistributionError:
    return DistributionError("missing-version", f"{where}: no VERSION file at the top of the distribution, so "
                                                "this is not an NSO distribution (or not a complete one).",
                             "Pass the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz you downloaded "
                             "from Cisco, or the directory it unpacks to.")


def _corrupt(where: str, e: BaseException) -> DistributionError:
    return DistributionError("corrupt-archive", f"{where}: the archive is damaged or truncated ({e}).", _GET_AGAIN)


# Opens a directory of the tree (source or destination) without ever following a symlink.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
