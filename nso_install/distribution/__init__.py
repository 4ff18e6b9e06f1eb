"""Readers for NSO distributions: a directory, a tarball, an ``installer.bin`` or a ``signed.bin``.

Every reader streams: members are read one at a time and file data is copied in chunks, so
memory does not grow with the size of the distribution (only with the number of member
names, which the safety checks must remember).  Nothing trusts the archive:

* :meth:`Distribution.validate` is a full pass over the headers that writes nothing and
  refuses the whole distribution (``DistributionError``, reference ``hostile-member``) on
  an absolute name, a ``..`` component, an empty/``.``/NUL name, a duplicate, a member
  under a symlink or under a file, a symlink whose target is absolute or leaves the tree
  (lexically or through other symlinks of the tree), a hard link to anything but an
  earlier regular file of the tree, a device node, FIFO, socket or unknown member type,
  a GNU sparse member (its holes would be written out as zeros), and setuid/setgid/sticky
  bits.
* :meth:`Distribution.extract` runs the same checks again on every member before writing
  it (the archive may have changed since ``validate``), creates everything relative to
  directory file descriptors opened with ``O_NOFOLLOW`` and every file with
  ``O_CREAT|O_EXCL|O_NOFOLLOW``, never keeps the archive's owners, refuses (``no-space``)
  before writing a member whose declared size no longer fits the destination's free space
  (also without a prior ``validate``), and empties the destination again when anything fails.

Archives must hold a single top-level directory (``nso-VSN/``), which is stripped.  The
version comes from the distribution's ``VERSION`` file and is cross-checked with the
``nso-VSN`` name of the file, directory or top-level directory when there is one.

Self-extracting scripts (``installer.bin``, ``signed.bin``) are never run: :mod:`.selfextract`
finds the payload the way the script's own commands do (a ``__NAME__`` marker line its
``awk``/``sed``/``grep`` looks for, or the position its ``tail``/``head``/``dd``/``sed`` names),
else the first archive (gzip, bzip2, xz or plain tar) at a line start, within the first MiB.
A payload whose first member is a top-level file is a signed bundle (NSO's docs: the
``installer.bin``, its ``.signature``, ``tailf.cer``, ``README.signature``,
``cisco_x509_verify_release.py*``, bundled packages): the installer is copied out of it into a
private file, its signature verified there with ``tailf.cer``'s key, and with
``--trusted-cert`` the certificate chain from ``tailf.cer`` to a trusted certificate built and
checked link by link.  Formats and sources: ``docs/distributions.md``.

The package, one concern per module:

* :mod:`.readers` -- the distribution classes and :func:`open_distribution`;
* :mod:`.selfextract` -- where a self-extracting script's payload starts;
* :mod:`.tarstream` -- offset windows, magic bytes, tar streaming;
* :mod:`.checks` -- the per-member and whole-tree safety checks and their limits;
* :mod:`.writer` -- extraction into a directory through directory fds;
* :mod:`.signature` -- signed.bin verification, private copy, certificate chain;
* :mod:`.common` -- the types and messages the others share.
"""

from __future__ import annotations

# The public API, and every name other modules and tests import from ``nso_install.distribution``.
# The limits are re-exported for reading only: code reads them from the module that
# defines them, so a test that changes one must patch it there (``.checks``, ``.tarstream``).
from .checks import (
    MAX_DEPTH,
    MAX_LINK_HOPS,
    MAX_MEMBERS,
    MAX_NAME,
    MAX_NAME_CHARS,
    MAX_TOTAL_BYTES,
    VERSION_RE,
)
from .common import CHUNK, HEADER_LIMIT, DistSummary, Member, Progress
from .readers import (
    VERSION_MAX,
    DirectoryDistribution,
    Distribution,
    InstallerBinDistribution,
    SignedBinDistribution,
    TarballDistribution,
    open_distribution,
)
from .tarstream import HEADER_BUDGET, MAX_TRAILER_BYTES

__all__ = [
    "CHUNK",
    "HEADER_BUDGET",
    "HEADER_LIMIT",
    "MAX_DEPTH",
    "MAX_LINK_HOPS",
    "MAX_MEMBERS",
    "MAX_NAME",
    "MAX_NAME_CHARS",
    "MAX_TOTAL_BYTES",
    "MAX_TRAILER_BYTES",
    "VERSION_MAX",
    "VERSION_RE",
    "DirectoryDistribution",
    "DistSummary",
    "Distribution",
    "InstallerBinDistribution",
    "Member",
    "Progress",
    "SignedBinDistribution",
    "TarballDistribution",
    "open_distribution",
]
