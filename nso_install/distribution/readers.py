"""The distribution classes: one per format, and :func:`open_distribution`, which picks one by content.

This is where the other modules meet: a reader lists members (from a directory through
directory fds, or from a tar stream of :mod:`.tarstream`), every member goes through
:mod:`.checks`, ``extract`` hands them to :mod:`.writer`, and a signed.bin is verified with
:mod:`.signature` before its inner installer is read.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from ..errors import DistributionError
from ..inputs import file_type, foreign_writer
from .checks import MAX_NAME, MAX_TOTAL_BYTES, VERSION_RE, _Checker
from .common import _DIR_FLAGS, _GET_AGAIN, _NEVER, CHUNK, DistSummary, Member, Progress, _missing_version
from .tarstream import _decompress, _inflated, _magic, _SafeReader, _tar_members, _Window
from .writer import _check_space, _Writer

if TYPE_CHECKING:
    from .selfextract import Payload

# .selfextract and .signature are imported where a self-extracting script is read: a run from a
# tarball or a directory (a re-run, most of all) does not pay for them.

VERSION_MAX = 256
_NAME_RE = re.compile(r"^(?:nso|ncs)-(?P<v>.+?)(?:\.(?:linux|darwin)\.[^.]+)?"
                      r"(?:\.(?:tar\.gz|tgz|tar|tar\.bz2|tar\.xz|installer\.bin|signed\.bin))?$",
                      re.IGNORECASE)  # a download or a copy through another file system may capitalize it


# The distribution is opened once (by path, following links: the operator named it), without
# waiting on a FIFO or becoming a terminal's owner; every later pass reads through a duplicate of
# that descriptor, so a path swapped for a FIFO or another file between passes changes nothing.
_SOURCE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _open_source(source: Path, *, directory: bool = False) -> int:
    """``source`` opened for reading (a descriptor the caller owns), checked on the descriptor to
    be a regular file (or, with ``directory``, a directory)."""
    try:
        fd = os.open(source, _SOURCE_FLAGS | (os.O_DIRECTORY if directory else 0))
    except OSError as e:
        raise DistributionError("unreadable-distribution", f"cannot read {source}: {e.strerror or e}.",
                                "Check the path and its permissions.") from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISDIR(mode) if directory else stat.S_ISREG(mode)):
        os.close(fd)
        raise DistributionError("unknown-distribution-format", f"{source} is {file_type(mode)}, not "
                                f"{'a directory' if directory else 'a regular file'}.",
                                "Pass the distribution file or directory itself.")
    return fd


def _foreign_warning(source: Path, why: str) -> str:
    # (a warning, not a note as for an unsigned distribution: what another account wrote, root
    # unpacks, and makes epam setuid and gives ncs.smp, ip, arping capabilities; -q keeps it.
    # Not a refusal: an administrator's download in their home directory is a common case)
    return (f"{source.name}: {why}, so another account could have chosen what was installed from it (and changed "
            "it while it was read): epam, the cmdwrappers and the binaries given capabilities included. Keep "
            "distributions where only root can write (chown -R root: and chmod go-w), or give the signed.bin "
            "with --trusted-cert, whose installer is verified on a private copy.")


def _unsigned_note(source: Path, kind: str) -> str:
    what = "an unpacked directory" if kind == "directory" else f"a {kind}"
    return (f"{source.name} is {what}, which carries no signature: nothing proved where it came from; prefer the "
            "signed.bin from Cisco (verified, and pinned with --trusted-cert).")


class Distribution:
    """An NSO distribution to validate and extract.  Use :func:`open_distribution`.

    It holds the descriptor the distribution was opened with (``close()`` it, or use it as a
    context manager; it is closed when the object goes away)."""

    kind = "?"
    strip_top = True

    notes: list[str]  # things the user should know about this distribution (never secrets)
    warnings: list[str]  # and things that put the host at risk

    def __init__(self, source: Path, fd: int | None = None):
        self.source = source
        self.version: str = ""
        self._summary: DistSummary | None = None
        self.notes = [_unsigned_note(source, self.kind)]
        self.warnings = []
        self._fd = fd  # owned from here on

    def _judge_writer(self, st: os.stat_result, what: str) -> None:
        """Warn (once) when an account other than root and this one could have written what ``st``
        (of what is read, on its descriptor or its directory's) describes."""
        if not self.warnings and (why := foreign_writer(st, what)):
            self.warnings.append(_foreign_warning(self.source, why))

    def close(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _held(self) -> int:
        """The descriptor the distribution was opened with."""
        if self._fd is None:
            raise DistributionError("unreadable-distribution", f"{self.where}: the distribution was closed.",
                                    "This is a bug in nso-install; please report it.")
        return self._fd

    def _dup(self) -> int:
        """A new descriptor of the distribution as it was opened (never reopened by path)."""
        return os.dup(self._held())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} NSO {self.version or '?'} {self.source}>"

    @property
    def where(self) -> str:
        return str(self.source)

    def _members(self) -> Iterator[Member]:
        raise NotImplementedError

    def _pass(self, expected: str | None, sink=None) -> _Checker:
        checker = _Checker(self.where, self.strip_top, lenient_dirs=not self.strip_top)
        members = self._members()
        try:
            for m in members:
                rel = checker.check(m)
                if rel == "VERSION" and m.kind == "file":
                    data = self._small(m)
                    checker.see_version(m, data, expected)
                    m.open = lambda data=data: io.BytesIO(data)
                if sink is not None:
                    sink(rel, m, checker)
                elif expected is None and checker.version is not None:
                    break  # only the version was wanted
        finally:
            members.close()
        return checker

    def _small(self, m: Member) -> bytes:
        if m.size > VERSION_MAX:
            raise DistributionError("bad-version", f"{self.where}: the VERSION file is {m.size} bytes, too big "
                                                   "for an NSO version.", _GET_AGAIN)
        src = m.open() if m.open else io.BytesIO()
        data = b""
        while chunk := src.read(VERSION_MAX):
            data += chunk
        return data

    def _detect_version(self) -> None:
        checker = self._pass(None)
        if checker.version is None:
            raise _missing_version(self.where)
        self.version = checker.version
        for name in (self.source.name, checker.top or ""):
            found = _NAME_RE.match(name)
            if found and VERSION_RE.fullmatch(found["v"]) and found["v"] != self.version:
                raise DistributionError("version-mismatch",
                                        f"{self.where}: the name {name} says NSO {found['v']}, but the VERSION "
                                        f"file inside says {self.version}.",
                                        "Check that this is the file you meant; renamed or mixed-up "
                                        "distributions are refused.")

    def validate(self) -> DistSummary:
        """A full pass over every member; raises DistributionError on anything unsafe; writes nothing."""
        self._summary = self._pass(self.version).finish(self.version)
        return self._summary

    def extract(self, dest: Path, *, uid: int | None, gid: int | None,
                progress: Progress | None = None, digests: dict[str, str] | None = None,
                started: Callable[[], None] | None = None) -> DistSummary:
        """Write the tree into the existing empty directory ``dest`` (checking every member again).

        Files get mode ``(mode & 0o755) | 0o600`` (a private file stays private), directories 0755, and the archive's mtimes;
        owners are ``uid``/``gid`` when given and running as root, else the caller's.  On any
        failure ``dest`` is emptied again and the error raised.  ``digests``, when given, gets the
        sha256 of every file written, by path relative to ``dest``.  ``started``: called once,
        before the first member is written (the archive is open then: a process inflating it
        is already forked, so a thread started here is never alive in a fork)."""
        dest = Path(dest)
        if self._summary or not progress:
            total = self._summary.total_bytes if self._summary else 0
        elif isinstance(self, _StreamDistribution):
            # no pass over the archive just for a progress total (it would inflate it all twice):
            # the total is estimated from how much of the archive the bytes written so far took
            total, shown = 0, progress
            progress = lambda done, _total: shown(done, self._estimated_total(done))  # noqa: E731
        else:
            total = self.validate().total_bytes  # a directory: a walk of stat calls, no data read
        w = _Writer(dest, uid, gid, progress, total, digests)
        if self._summary:
            try:
                _check_space(dest, self._summary)
            except BaseException:
                w.close()
                raise

        to_start = started

        def sink(rel: str | None, m: Member, checker: _Checker) -> None:
            nonlocal to_start
            if rel is None:
                return
            if to_start is not None:
                call, to_start = to_start, None
                call()
            w.begin_member()
            parts = rel.split("/")
            if m.kind == "dir":
                w.directory(parts, m.mtime_ns)
            elif m.kind == "file":
                w.file(parts, m)
            elif m.kind == "symlink":
                w.symlink(parts, m)
            elif m.kind == "hardlink":
                target = [p for p in m.linkname.split("/") if p not in ("", ".")]
                w.hardlink(parts, target[1:] if self.strip_top else target)

        try:
            checker = self._pass(self.version, sink)
            summary = checker.finish(self.version)
            w.finish(checker.top_mtime_ns if self.strip_top else self._root_mtime_ns())
        except BaseException as e:
            w.close()
            w.wipe()
            if isinstance(e, (OSError, OverflowError, ValueError)):
                raise DistributionError("extract-failed", f"extracting {self.where} into {dest} failed: {e}.",
                                        "Check free space and permissions of the destination, then re-run.") from e
            raise
        w.close()
        return summary

    def _root_mtime_ns(self) -> int | None:
        return None


class DirectoryDistribution(Distribution):
    kind = "directory"
    strip_top = False

    def __init__(self, source: Path, fd: int | None = None):
        super().__init__(source, _open_source(source, directory=True) if fd is None else fd)

    def _root_mtime_ns(self) -> int | None:
        return os.fstat(self._held()).st_mtime_ns

    def _detect_version(self) -> None:
        # A directory without a VERSION file at its top is not NSO (a home or /tmp given by
        # mistake): say so before its members are judged, which would call it tampered with.
        try:
            st = os.stat("VERSION", dir_fd=self._held(), follow_symlinks=False)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise _missing_version(self.where)
        super()._detect_version()

    def _members(self) -> Iterator[Member]:
        # Everything is opened relative to directory descriptors, never by path: a directory
        # swapped for a symlink after it was listed is refused, not followed (nso-install runs
        # as root and would otherwise copy whatever root can read into the install tree).
        # The root is the directory opened once; a fresh open of "." through its descriptor gives
        # this pass its own directory offset, and never goes through the path again.
        try:
            root_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._held())
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.source}: {e}.",
                                    "Check the directory's permissions.") from None
        try:
            yield from self._walk(root_fd, "")
        finally:
            os.close(root_fd)

    def _changed(self, name: str) -> DistributionError:
        return DistributionError("hostile-member", f"{self.where}: {name} changed (into a symbolic link or a "
                                                   "non-directory) while being read.",
                                 "Do not modify the directory while nso-install reads it.")

    def _unopenable(self, name: str, e: OSError) -> DistributionError:
        """Why ``name`` could not be opened: unreadable by this account (a tree root unpacked with
        private modes, read by another account), or else changed while being read."""
        if e.errno in (errno.EACCES, errno.EPERM):
            return DistributionError("unreadable-distribution",
                                     f"cannot read {self.source / name} ({e.strerror}, as uid {os.geteuid()}).",
                                     "Make every file and directory of the distribution readable by the account "
                                     "running nso-install (chmod -R a+rX DIR), or run as an account that can "
                                     "read them.")
        return self._changed(name)

    def _walk(self, dfd: int, rel: str) -> Iterator[Member]:
        """Members under the directory open as ``dfd`` (``rel`` inside the tree), depth first, in
        name order; a directory's own entries before its subdirectories'."""
        try:
            with os.scandir(dfd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.source / rel}: {e}.",
                                    "Check the directory's permissions.") from None
        subdirs = []
        for e in entries:
            name = f"{rel}/{e.name}" if rel else e.name
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                raise self._changed(name) from None
            mode = st.st_mode
            self._judge_writer(st, f"{name} in it")
            if stat.S_ISDIR(mode):
                yield Member(name, "dir", stat.S_IMODE(mode), 0, st.st_mtime_ns)
                subdirs.append((e.name, name))
            elif stat.S_ISREG(mode):
                yield Member(name, "file", stat.S_IMODE(mode), st.st_size, st.st_mtime_ns,
                             open=lambda b=e.name, n=name, s=st.st_size: self._open_file(dfd, b, n, s))
            elif stat.S_ISLNK(mode):
                try:
                    target = os.readlink(e.name, dir_fd=dfd)
                except OSError:
                    raise self._changed(name) from None
                yield Member(name, "symlink", 0o777, 0, st.st_mtime_ns, target)
            else:
                what = ("character device" if stat.S_ISCHR(mode) else "block device" if stat.S_ISBLK(mode)
                        else "FIFO (named pipe)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
                        else "special file")
                yield Member(name, "special", stat.S_IMODE(mode), what=what)
        for base, name in subdirs:
            try:
                sfd = os.open(base, _DIR_FLAGS, dir_fd=dfd)
            except OSError as e:
                raise self._unopenable(name, e) from None
            try:
                yield from self._walk(sfd, name)
            finally:
                os.close(sfd)

    def _open_file(self, dfd: int, base: str, name: str, size: int) -> _SafeReader:
        try:
            fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as e:
            raise self._unopenable(name, e) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise self._changed(name)
        self._judge_writer(st, f"{name} in it")  # (what is read: the entry listed may have been replaced)
        return _SafeReader(os.fdopen(fd, "rb"), size, self.where, name)


class _StreamDistribution(Distribution):
    """A tar stream at ``offset`` (``length`` bytes, None: to the end) of ``source``, compressed as ``comp``."""

    def __init__(self, source: Path, offset: int, length: int | None, comp: str, fd: int | None = None):
        super().__init__(source, _open_source(source) if fd is None else fd)
        self._offset, self._length, self._comp = offset, length, comp

    def _open_window(self):
        return os.fdopen(self._dup(), "rb", buffering=0)

    def _members(self) -> Iterator[Member]:
        try:
            raw = self._open_window()
        except OSError as e:
            raise DistributionError("unreadable-distribution", f"cannot read {self.where}: {e}.",
                                    "Check the file's permissions.") from None
        with raw:
            length = os.fstat(raw.fileno()).st_size - self._offset if self._length is None else self._length
            self._read_window = _Window(raw, self._offset, length)  # how far the pass got (progress)
            window = io.BufferedReader(self._read_window, CHUNK)
            stream = _inflated(window, self._comp)
            try:
                yield from _tar_members(stream, self.where, self._comp != "tar")
            finally:
                stream.close()  # stops the inflating thread before the file under it closes

    _read_window: _Window | None = None

    def _estimated_total(self, done: int) -> int:
        """The tree's size as the bytes written so far (``done``) and the share of the archive read
        up to them suggest: a progress total without a pass of its own over the archive."""
        w = self._read_window
        pos = w.tell() if w is not None else 0
        return max(done, done * w._length // pos) if pos else done


class TarballDistribution(_StreamDistribution):
    kind = "tarball"


class InstallerBinDistribution(_StreamDistribution):
    kind = "installer.bin"


# A signed.bin's payload is a tar of a few flat files (NSO's docs: the installer.bin, its
# .signature, tailf.cer, README.signature, cisco_x509_verify_release.py, bundled packages).
_BUNDLE_MEMBERS = 1000
_BUNDLE_SMALL = 64 * 1024  # a signature, a certificate
_BUNDLE_CERTS = 16  # certificate files besides tailf.cer (read and bounded like it; never used as issuers)
_CERT_SUFFIXES = (".cer", ".crt", ".pem")
_DOCUMENTED = ("README.signature", "cisco_x509_verify_release.py")


class SignedBinDistribution(_StreamDistribution):
    """The installer.bin inside a signed.bin: copied out of the bundle into a private file, and
    read only from there (its signature is checked on that copy first)."""

    kind = "signed.bin"

    def __init__(self, source: Path, payload: Payload, skip_verification: bool, trusted_certs: Sequence[bytes] = (),
                 fd: int | None = None):
        own = fd is None
        fd = _open_source(source) if own else fd
        try:
            self._read_outer(source, payload, skip_verification, trusted_certs, fd)
        except BaseException:
            self.close_copy()
            if own:
                os.close(fd)
            raise

    def _read_outer(self, source: Path, payload: Payload, skip_verification: bool, trusted_certs: Sequence[bytes],
                    fd: int) -> None:
        outer = f"{source} (signed archive)"
        from .selfextract import locate_payload
        from .signature import _check_signer, _verify

        with os.fdopen(os.dup(fd), "rb", buffering=0) as raw:
            size = os.fstat(raw.fileno()).st_size
            window = io.BufferedReader(_Window(raw, payload.offset, size - payload.offset), CHUNK)
            small, extras = self._read_bundle(window, payload.comp, outer)
        notes: list[str] = []
        name, inst_size = self.installer_name, self.installer_size
        if extras:
            notes.append(f"{source.name}: the signed archive also holds {', '.join(extras[:3])}"
                         + (f" and {len(extras) - 3} more" if len(extras) > 3 else "")
                         + "; nso-install installs only NSO itself (unpack the archive with `sh` to get them).")
        self.verified = False
        if skip_verification:
            notes.append(f"{source.name}: --skip-verification: its signature was not checked, so nothing proved "
                         "where it came from or that it is intact.")
        else:
            sig, cer = small.get(name + ".signature"), small.get("tailf.cer")
            if sig is None or cer is None:
                needed = ((name + ".signature", sig), ("tailf.cer", cer))
                missing = " and ".join(n for n, data in needed if data is None)
                raise DistributionError("signature-missing", f"{outer}: {missing} missing, so the installer's "
                                                             "signature cannot be verified.",
                                        "Download the signed.bin again, or pass --skip-verification if "
                                        "you trust where this file came from.")
            # the signer first: a few certificates, where the signature reads the whole installer
            # (an untrusted signer is refused without it). Only tailf.cer's first certificate
            # counts: CAs shipped beside it are no issuers.
            chain = _check_signer(outer, cer, trusted_certs) if trusted_certs else None
            _verify(outer, name, _Window(self._copy, 0, inst_size), sig, cer)
            self.verified = True
            if chain is not None:
                notes.append(f"{source.name}: signer pinned, chain checked: {chain}.")
            else:
                notes.append(
                    f"{source.name}: the signature was checked against the tailf.cer inside the archive, which "
                    "proves integrity, not origin; pass --trusted-cert with Cisco's certificate to pin the signer.")
        inner_where = f"{source}:{name}"
        found = locate_payload(io.BufferedReader(_Window(self._copy, 0, inst_size), CHUNK), inner_where)
        super().__init__(source, found.offset, inst_size - found.offset, found.comp, fd)
        self.notes = notes  # what the verification proved (or did not)

    def _read_bundle(self, window, comp: str, outer: str) -> tuple[dict[str, bytes], list[str]]:
        """One pass over the signed.bin's tar: the installer.bin copied into ``self._copy``, the small
        files (signatures, certificates) read, the other files listed.  Duplicates, links or
        special files under the names that matter and sparse members are refused."""
        from .signature import _private_copy

        small: dict[str, bytes] = {}
        extras: list[str] = []
        seen: set[str] = set()
        total = 0
        stream = _inflated(window, comp)
        members = _tar_members(stream, outer, comp != "tar")
        try:
            for count, m in enumerate(members, 1):
                if count > _BUNDLE_MEMBERS:
                    raise DistributionError("signed-bin-contents", f"{outer}: more than {_BUNDLE_MEMBERS} members; "
                                                                   "a signed.bin holds a few files.", _GET_AGAIN)
                if m.sparse:
                    raise DistributionError("hostile-member", f"{outer}: member {m.name!r} is a sparse file (a "
                                                              "GNU sparse member); refusing the whole "
                                                              "distribution.", _NEVER)
                if len(m.name.encode("utf-8", "surrogateescape")) > MAX_NAME:
                    # (the names are remembered and the extras listed: 1000 names of the 1 MiB a pax
                    # header may hold took a GiB of memory, from a signed.bin of one MiB)
                    raise DistributionError("hostile-member", f"{outer}: member {m.name[:200]!r}... has a name "
                                                              f"longer than {MAX_NAME} bytes; refusing the whole "
                                                              "distribution.", _NEVER)
                total += m.size
                if total > MAX_TOTAL_BYTES:  # (the extras are inflated only to be skipped: bounded as a tree is)
                    raise DistributionError("signed-bin-contents", f"{outer}: its members add up to more than "
                                                                   f"{MAX_TOTAL_BYTES >> 30} GiB.", _GET_AGAIN)
                # the name tar gives it: "./X", ".//X", "/X" and "X" are all X beside the installer
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if len(parts) != 1 or parts[0] == "..":
                    continue  # not something `sh FILE` puts beside the installer that nso-install reads
                name = parts[0]
                wanted = (name.endswith((".installer.bin", ".signature") + _CERT_SUFFIXES)
                          or name.startswith(_DOCUMENTED))
                if wanted and name in seen:
                    raise DistributionError("hostile-member", f"{outer}: two members are named {name!r}; which one "
                                                              "counts depends on the unpacker.", _NEVER)
                seen.add(name)
                if wanted and m.kind != "file":
                    raise DistributionError("hostile-member", f"{outer}: member {name!r} is a {m.kind} ("
                                                              f"{m.linkname or m.what or 'not a regular file'}), "
                                                              "not a regular file.", _NEVER)
                if m.kind != "file":
                    continue
                if name.endswith(".installer.bin"):
                    if self._copy is not None:
                        raise DistributionError("signed-bin-contents",
                                                f"{outer}: expected exactly one *.installer.bin inside, found "
                                                f"{self.installer_name} and {name}.", _GET_AGAIN)
                    self.installer_name, self.installer_size = name, m.size
                    self._copy = _private_copy(m.open(), outer, m.size)
                elif name.endswith(".signature") or name.endswith(_CERT_SUFFIXES):
                    if m.size > _BUNDLE_SMALL:
                        raise DistributionError("signature-invalid", f"{outer}: {name} is implausibly large "
                                                                     f"({m.size} bytes).", _GET_AGAIN)
                    if name.endswith(_CERT_SUFFIXES) and sum(n.endswith(_CERT_SUFFIXES) for n in small) > _BUNDLE_CERTS:
                        raise DistributionError("signed-bin-contents", f"{outer}: more than {_BUNDLE_CERTS} "
                                                                       "certificate files.", _GET_AGAIN)
                    small[name] = _read_all(m.open(), m.size)
                elif not name.startswith(_DOCUMENTED):
                    extras.append(name)
        finally:
            members.close()
            stream.close()
        if self._copy is None:
            # Cisco signs NEDs and packages the same way (a signed tarball): say so, rather than
            # only "download again", when that is what the bundle holds
            package = any(n.endswith((".tar.gz", ".tgz")) for n in seen)
            raise DistributionError("signed-bin-contents",
                                    f"{outer}: expected exactly one *.installer.bin inside, found none (it holds "
                                    f"{', '.join(sorted(seen)[:5]) or 'nothing'}).",
                                    "This looks like a signed NED or package, which goes into NSO's packages "
                                    "directory (sh FILE.signed.bin checks its signature), not through nso-install. "
                                    "Give NSO's own distribution, nso-VSN.linux.x86_64.signed.bin." if package
                                    else _GET_AGAIN)
        return small, [n for n in extras if not n.endswith(".signature")]

    _copy = None  # the installer.bin, copied out of the bundle (an unlinked private temp file)
    installer_name, installer_size = "", 0

    def close_copy(self) -> None:
        copy, self._copy = self._copy, None
        if copy is not None:
            copy.close()

    def close(self) -> None:
        self.close_copy()
        super().close()

    def _open_window(self):
        if self._copy is None:
            raise DistributionError("unreadable-distribution", f"{self.where}: the distribution was closed.",
                                    "This is a bug in nso-install; please report it.")
        return os.fdopen(os.dup(self._copy.fileno()), "rb", buffering=0)


def _read_all(reader, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := reader.read(size - len(data))):
        data += chunk
    return data


def open_distribution(path: str | os.PathLike, *, skip_verification: bool = False,
                      trusted_certs: Sequence[bytes] = ()) -> Distribution:
    """Open a distribution: a directory, a tarball (gz/bz2/xz/plain, by content), a
    self-extracting ``installer.bin`` or a ``signed.bin`` (signature verified unless
    ``skip_verification``; with ``trusted_certs``, any other format is refused).  Its
    ``version`` is read from the VERSION file.

    The path is opened once, non-blocking (a FIFO is refused, not waited on), and its type is
    checked on that descriptor; every later pass reads through a duplicate of it, so replacing
    the path afterwards (by another file, a FIFO, a link) changes nothing that is read."""
    source = Path(path)
    try:
        fd = os.open(source, _SOURCE_FLAGS)
    except OSError as e:
        missing = e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG)
        raise DistributionError("distribution-not-found" if missing else "unreadable-distribution",
                                f"cannot open the distribution {source}: {e.strerror or e}.",
                                "Give the path of the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz, or "
                                "of an unpacked nso-VSN directory." if missing else
                                "Check the permissions of the distribution and of the directories above it.") \
            from None
    dist: Distribution | None = None
    try:
        dist = _open_fd(source, fd, skip_verification, trusted_certs)
        held = f"{'an' if dist.kind[:1] in 'aeiou' else 'a'} {dist.kind}"  # an installer.bin, a tarball
        if trusted_certs and not isinstance(dist, SignedBinDistribution):
            # the operator asked for a pinned signer: a file swapped for an unsigned format (or the
            # wrong file given) must not install with only a note that the option did nothing
            raise DistributionError("signature-missing",
                                    f"{source} is {held}, which carries no signature, but --trusted-cert asks for "
                                    "a signer pinned; refusing to install it unverified.",
                                    "Give the nso-VSN.OS.ARCH.signed.bin from Cisco, or drop --trusted-cert to "
                                    "install an unsigned distribution knowingly.")
        if (source.name.lower().endswith(".signed.bin") and not skip_verification
                and not isinstance(dist, SignedBinDistribution)):
            raise DistributionError("signature-missing",
                                    f"{source} is named like a signed archive but holds {held}, which carries "
                                    "no signature; refusing to install it unverified.",
                                    "Download the signed.bin again from Cisco, or pass --skip-verification if you "
                                    "trust where this file came from.")
        if not (isinstance(dist, SignedBinDistribution) and dist.verified and trusted_certs):
            # (a signer pinned: what is installed is the verified private copy, whoever could write the file)
            dist._judge_writer(os.fstat(fd), "it")
        dist._detect_version()
    except BaseException:
        if dist is not None:
            dist.close()  # it owns the descriptor
        else:
            os.close(fd)
        raise
    return dist


def _open_fd(source: Path, fd: int, skip_verification: bool, trusted_certs: Sequence[bytes]) -> Distribution:
    """The distribution class for what ``fd`` (``source`` opened) holds; it then owns ``fd``."""
    mode = os.fstat(fd).st_mode
    unknown = DistributionError(
        "unknown-distribution-format",
        f"{source} is neither a directory nor a tar archive nor an NSO installer.bin/signed.bin"
        + ("." if stat.S_ISREG(mode) else f" (it is {file_type(mode)})."),
        "Pass the nso-VSN.OS.ARCH.installer.bin / .signed.bin / .tar.gz downloaded from Cisco, or the "
        "directory it unpacks to.")
    if stat.S_ISDIR(mode):
        return DirectoryDistribution(source, fd)
    if not stat.S_ISREG(mode):
        raise unknown
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            head = f.read(512)
            comp = _magic(head)
            if comp is not None:
                return TarballDistribution(source, 0, None, comp, fd)
            if not head.startswith(b"#!"):
                raise unknown
            from .selfextract import locate_payload

            payload = locate_payload(f, str(source))
            bundle = _holds_bundle(f, payload, str(source))
    except OSError as e:
        raise DistributionError("unreadable-distribution", f"cannot read {source}: {e}.",
                                "Check the file's permissions.") from None
    if bundle:
        return SignedBinDistribution(source, payload, skip_verification, trusted_certs, fd)
    return InstallerBinDistribution(source, payload.offset, None, payload.comp, fd)


_TOP_DOTS = 4  # ``./`` members skipped to find the first real one (tar writes one at most)


def _holds_bundle(f, payload: Payload, where: str) -> bool:
    """Whether the script's payload is a signed bundle (flat files: the installer.bin and its
    signature...) rather than an installer's tree (everything under ``nso-VSN/``): told by its
    first member other than ``./`` (an archive holds one: a payload of millions of them, a few
    MiB compressed, was read to its end here, before any check counts members, and is now left
    to the checks, which refuse it at once)."""
    f.seek(0, io.SEEK_END)
    window = io.BufferedReader(_Window(f, payload.offset, f.tell() - payload.offset), CHUNK)
    members = _tar_members(_decompress(window, payload.comp), where, payload.comp != "tar")
    try:
        for count, m in enumerate(members):
            name = m.name.removeprefix("./")
            if name in ("", "."):
                if count >= _TOP_DOTS:
                    return False
                continue
            return m.kind == "file" and "/" not in name
        return False
    finally:
        members.close()
