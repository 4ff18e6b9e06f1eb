"""FIPS install (``--fips-install``): the FIPS build of the crypto library, and where OpenSSL's
FIPS files are.

NSO's installer, per the FIPS tab of its install guides (nso-gitbook
``administration/installation-and-deployment/system-install.md`` and ``local-install.md``;
docs/security.md, "FIPS install"), does three things: ``fips-mode`` in ncs.conf (nso-install's
ncs.conf rendering), ``NCS_OPENSSL_CONF_INCLUDE``, ``NCS_OPENSSL_CONF`` and
``NCS_OPENSSL_MODULES`` in ``ncsrc`` (:func:`openssl_env`, also in the service environment), and
"the default ``crypto.so`` is replaced with the FIPS-compliant version" (:class:`FipsCrypto`).

Where those files are in a distribution is not published.  nso-install's layout (an inference,
documented in docs/security.md): the Erlang crypto NIF ``priv/lib/crypto.so`` of the crypto
application (``lib/ncs/lib/core/crypto`` up to 6.5, ``lib/ncs/lib/crypto-*`` from 6.6, like
``epam``), its FIPS build beside it in ``priv/lib/fips/crypto.so``, and OpenSSL 3's files in
``lib/ncs/openssl``: ``openssl.cnf`` (which ``.include``\\ s ``fipsmodule.cnf``) and
``ossl-modules/fips.so``, the names OpenSSL's FIPS module guide uses.  A distribution without
them is refused with the paths looked for, never installed half-FIPS.

The swap happens in the tree being installed (each version is a FIPS install or not, as with
NSO's installer); that tree's manifest ignores ``crypto.so`` while FIPS is on, and without FIPS
the tree is repaired back to the distribution's file like any other change.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import field
from typing import ClassVar

from .. import fsops
from ..errors import ApplyError, UnsafePathError
from ..facts import ABSENT, DIR, FILE, Facts
from .base import Action, change, ok, refuse_link, require_kind
from .privileges import display_path, glob_target
from ..record import record

# relative to the tree; both layouts are tried, in this order (as for epam)
CRYPTO_NIF = ("lib/ncs/lib/core/crypto/priv/lib/crypto.so", "lib/ncs/lib/crypto-*/priv/lib/crypto.so")
FIPS_BUILD = "fips/crypto.so"  # relative to the directory of the default crypto.so
OPENSSL_DIR = "lib/ncs/openssl"
OPENSSL_CONF = f"{OPENSSL_DIR}/openssl.cnf"
OPENSSL_MODULES = f"{OPENSSL_DIR}/ossl-modules"
FIPS_PROVIDER = f"{OPENSSL_MODULES}/fips.so"
MAX_LIBRARY = 256 << 20  # read whole to be copied: a crypto library is a few MiB


def openssl_env(ncs_dir: str) -> list[tuple[str, str]]:
    """The ``NCS_OPENSSL_*`` variables of a FIPS install whose tree is ``ncs_dir`` (OpenSSL 3's
    ``OPENSSL_CONF``, ``OPENSSL_CONF_INCLUDE`` and ``OPENSSL_MODULES``, for NSO's own OpenSSL)."""
    return [("NCS_OPENSSL_CONF", f"{ncs_dir}/{OPENSSL_CONF}"),
            ("NCS_OPENSSL_CONF_INCLUDE", f"{ncs_dir}/{OPENSSL_DIR}"),
            ("NCS_OPENSSL_MODULES", f"{ncs_dir}/{OPENSSL_MODULES}")]


def written_in_tree(fips: bool) -> tuple[str, ...]:
    """What the FIPS swap writes inside the tree (the tree's own comparison leaves it alone)."""
    return CRYPTO_NIF if fips else ()


@record
class FipsCrypto(Action):
    """``crypto.so`` of the tree ``vdir`` is its FIPS build (content; owner and mode stay as unpacked)."""

    path: str  # shown: the tree's crypto.so (its pattern before the tree is unpacked)
    vdir: str
    reason: str = "FIPS install: the FIPS 140-3 build of crypto.so replaces the default one"
    tree: object = field(default=None, compare=False, repr=False)  # the InstallTree of ``vdir``
    kind: ClassVar[str] = "fips"

    def preflight(self, facts: Facts, ctx=None) -> None:
        """Before the run changes anything: refuse a distribution without the FIPS files (the
        tree as prepared, or as installed), rather than leave a half-FIPS install behind."""
        prepared = getattr(self.tree, "_prepared", None)
        self._files(facts, str(facts.target.to_target(prepared)) if prepared is not None else self.vdir)

    def _files(self, facts: Facts, vdir: str | None = None) -> tuple[str, str] | None:
        """(crypto.so, its FIPS build) in the unpacked tree; None before it is unpacked."""
        vdir = vdir or self.vdir
        if facts.path(f"{vdir}/VERSION").kind == ABSENT:
            return None
        hits: list[str] = []
        for pattern in CRYPTO_NIF:
            hits = glob_target(facts, vdir, pattern)
            if hits:
                break
        if len(hits) > 1:
            raise UnsafePathError("ambiguous-helper", f"{self.path} matches several files: {', '.join(hits)}.",
                                  "Remove the stale copies from the install directory.")
        nif = hits[0] if hits else None
        fips = f"{posixpath.dirname(nif)}/{FIPS_BUILD}" if nif else None
        missing = [] if nif else [f"{vdir}/{CRYPTO_NIF[0]} (or {CRYPTO_NIF[1]})"]
        for p in (fips, f"{vdir}/{OPENSSL_CONF}", f"{vdir}/{FIPS_PROVIDER}"):
            if p is not None and refuse_link(facts.path(p)).kind != FILE:
                missing.append(p)
        if missing:
            raise ApplyError("fips-files-missing",
                             f"--fips-install: this NSO {self._version(facts, vdir)} distribution lacks what a FIPS "
                             f"install uses: {', '.join(m.replace(vdir, self.vdir, 1) for m in missing)}.",
                             "Use a distribution with FIPS support (NSO 6.5 or later), or leave out --fips-install. "
                             "docs/security.md (FIPS install) lists the layout nso-install expects.")
        require_kind(refuse_link(facts.path(f"{vdir}/{OPENSSL_MODULES}")), DIR)
        return nif, fips

    @staticmethod
    def _version(facts: Facts, vdir: str) -> str:
        return facts.version_file(vdir) or "?"

    def check(self, facts, ctx):
        files = self._files(facts)
        if files is None:
            return change("install the FIPS build of crypto.so once unpacked")
        nif, fips = files
        if facts.sha256(nif) == facts.sha256(fips):
            return ok(f"{nif} is the FIPS build ({fips})")
        return change(f"replace {nif} with the FIPS build {fips}")

    def apply(self, facts, ctx, outcome):
        files = self._files(facts)
        if files is None:
            raise ApplyError("missing-file", f"{self.vdir} is not unpacked.",
                             "This is a bug in the plan order: the tree comes first.")
        nif, fips = files
        data = self._fips_build(ctx, fips)
        have = facts.path(nif)
        owned = not ctx.target.unprivileged
        fsops.atomic_write(ctx.target.host(nif), data, have.mode, have.uid if owned else None,
                           have.gid if owned else None, nif)
        return None

    def _fips_build(self, ctx, fips: str) -> bytes:
        """The FIPS build's content, read without following links and checked against what
        nso-install unpacked (the tree's manifest): only that file goes into NSO's VM."""
        m = ctx.manifest(self.vdir)
        rel = posixpath.relpath(fips, self.vdir)
        want = m.entries.get(rel) if m is not None else None
        if want is None:
            raise UnsafePathError("unrecorded-tree", f"{fips}: nso-install has no record of unpacking it, so it "
                                  "cannot tell it from a file swapped in later; it installs no crypto library from it.",
                                  f"Re-install {self.vdir} from its distribution with nso-install.")
        fd = fsops.open_regular(ctx.target.host(fips), fips)
        try:
            size = os.fstat(fd).st_size
            if size > MAX_LIBRARY:
                raise ApplyError("too-large", f"{fips} is {size} bytes; a crypto library is far smaller, so it is "
                                 "not the FIPS build NSO ships.", f"Download the distribution again (the signed.bin, "
                                 f"verified with --trusted-cert) and re-install {self.vdir} from it.")
            if fsops.fd_sha256(fd) != want.digest:
                raise UnsafePathError("privileged-file-changed", f"{fips} is not the file nso-install unpacked "
                                      "(its content changed); it installs no crypto library from it.",
                                      f"Find out who changed it; re-install {self.vdir} from its distribution.")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def fips_actions(tree, version: str, fips: bool) -> list[Action]:
    """The FIPS swap for the tree of the InstallTree ``tree`` (nothing without ``--fips-install``:
    the tree's own comparison then restores the distribution's crypto.so)."""
    return [FipsCrypto(display_path(tree.path, CRYPTO_NIF, version), tree.path, tree=tree)] if fips else []
