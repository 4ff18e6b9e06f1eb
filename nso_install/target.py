"""The one target-root abstraction: every path the tool touches goes through here.

Paths in plans, messages and installed files are *target paths* (``/etc/ncs/ncs.conf``), as
NSO will see them at run time.  ``--root DIR`` is a staging prefix: the host path of a
target path is ``DIR`` + target path.  Symlinks inside the root are resolved the way a
``chroot`` would (an absolute link target is relative to the root), and any link that
would leave the root is refused, never followed (pip's ``change_root`` is purely lexical
and gets this wrong).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Callable

from .errors import UnsafePathError, UsageError, sh
from .record import record

_MAX_LINKS = 40  # like the kernel's MAXSYMLINKS


def normalize(tpath: str | PurePosixPath) -> PurePosixPath:
    """A clean absolute target path; '..' is refused rather than interpreted."""
    p = PurePosixPath(tpath)
    if not p.is_absolute():
        raise UsageError("relative-path", f"path {str(p)!r} is not absolute.",
                         "Give absolute paths for install, config, run and log directories.")
    if ".." in p.parts:
        raise UsageError("dotdot-path", f"path {str(p)!r} contains '..'.",
                         "Give the path without '..' components.")
    return p


# Directories and IPC paths are written unquoted into sh and csh scripts, the systemd unit and
# its EnvironmentFile, logrotate and tmpfiles.d files: only characters that mean nothing to
# any of them (no blanks, quotes, $, `, \\, ;, &, |, globs, ~, #, systemd's %).
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._+@,:=/-]+")
_VAR_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # ${NCS_DIR}: expanded alike by sh and csh


def check_shell_safe(what: str, value: str) -> None:
    plain = _VAR_REF.sub("x", value)
    if not _SHELL_SAFE.fullmatch(plain):
        # the very characters: a blank or an accented letter is not obviously "interpreted"
        bad = ", ".join(repr(c) for c in dict.fromkeys(_SHELL_SAFE.sub("", plain)))
        raise UsageError("unsafe-path-characters",
                         f"{what} {value!r}: the path is written unquoted into shell scripts (and, for a system "
                         "install, the systemd unit and logrotate's configuration), and it contains characters "
                         f"they would interpret or that not every one of them reads alike: {bad}.",
                         "Use a path made of ASCII letters, digits and . _ + @ , : = / - only.")


class LinkEscape(Exception):
    """A '..' (or a link) leads above the root."""


class LinkLoop(Exception):
    """Too many links on the way."""


def follow_links(parts: list[str], link_of: Callable[[list[str], str], str | None], max_hops: int,
                 clamp: bool = False) -> list[str]:
    """Components resolved the way the kernel resolves a path inside a chroot: ``link_of(current,
    name)`` gives the text of a link (None for anything else), an absolute link starts again at
    the root, '..' never climbs above it (:class:`LinkEscape`; with ``clamp``, '..' at the root
    is the root itself, as the kernel has it), more than ``max_hops`` links raise
    :class:`LinkLoop`.  Used for the target's paths, for links inside an archive, and for the
    files the service manager opens (audit.unitfiles)."""
    current: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if not current and not clamp:
                raise LinkEscape
            if current:
                current.pop()
            continue
        link = link_of(current, name)
        if link is None:
            current.append(name)
            continue
        hops += 1
        if hops > max_hops:
            raise LinkLoop
        if link.startswith("/"):
            current = []
        pending = link.split("/") + pending
    return current


@record(frozen=True)
class Target:
    """A target root: where the tree NSO will see lies on this host (``/`` or a staging root)."""
    root: Path = Path("/")

    @classmethod
    def at(cls, root: str | os.PathLike | None) -> "Target":
        if root is None:
            return cls(Path("/"))
        r = Path(os.path.realpath(root))  # canonical: the only links on a host path are inside the root
        if r.exists() and not r.is_dir():
            raise UsageError("bad-root", f"--root {r} exists and is not a directory.",
                             "Point --root at a directory (it is created when missing).")
        return cls(r)

    @property
    def staged(self) -> bool:
        return self.root != Path("/")

    @property
    def unprivileged(self) -> bool:
        """Staged by an ordinary user: owners cannot be set, so they are planned, not applied."""
        return self.staged and os.geteuid() != 0



    def host(self, tpath: str | PurePosixPath) -> Path:
        """Host path of ``tpath`` with every *parent* component resolved inside the root.

        The last component is never followed: callers lstat it and refuse links they do
        not manage.  Raises UnsafePathError when a parent link escapes the root or loops.
        """
        # strings, not PurePosixPath parsing and Path joins: this runs for every path of every action
        text = str(tpath)
        parts = [c for c in text.split("/") if c and c != "."]
        if not text.startswith("/") or ".." in parts:
            normalize(text)  # raises the error that says what is wrong
        resolved = self._resolve_parents(parts[:-1], "/" + "/".join(parts))
        return Path(f"{resolved}/{parts[-1]}" if parts else resolved or "/")

    def dir_link(self, tpath: str | PurePosixPath, option: str = "") -> PurePosixPath | None:
        """The real directory a top-level directory's symbolic link leads to (``/var/opt/ncs ->
        /data/ncs-run``, common on servers), or None when ``tpath`` is not a link.

        Accepted only when nobody but root could have made it or could redirect it later: the
        link and the directory holding it are root's, and every directory on the way to the
        real one (resolved inside the root) is root's and not writable by group or others; the
        real directory exists (its owner and mode are then managed like the path's own).
        Anything else is ``unsafe-directory-link``, naming ``option`` for the real path."""
        p = normalize(tpath)
        host = self.host(p)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISLNK(st.st_mode):
            return None
        me = (0, os.geteuid())
        hint = (f"Make the link, and every directory on the way to where it leads, root's and not writable by "
                f"group or others; or give the real directory{' with ' + option if option else ''}.")
        parent = os.lstat(host.parent)
        if st.st_uid not in me or parent.st_uid not in me or parent.st_mode & 0o022:
            raise UnsafePathError("unsafe-directory-link", f"{p} is a symbolic link (to {os.readlink(host)}) that "
                                  f"an account other than root owns or could replace.", hint)
        # where it leads, as a chroot would see it; a chain of links is not followed further
        real = PurePosixPath(os.path.normpath(p.parent / os.readlink(host)))
        real = self.to_target(self.host(real))
        cur = self.root
        for i, part in enumerate(real.parts[1:], 1):
            cur = cur / part
            try:
                cst = os.lstat(cur)
            except FileNotFoundError:
                raise UnsafePathError("directory-link-target-missing", f"{p} is a symbolic link to {real}, which "
                                      "does not exist.", f"Create {real} (root's, or the owner the directory "
                                      f"should have) or remove the link{' and use ' + option if option else ''}.")
            last = i == len(real.parts) - 1
            if not stat.S_ISDIR(cst.st_mode):
                raise UnsafePathError("unsafe-directory-link", f"{p} is a symbolic link to {real}, and "
                                      f"{self.show_host(cur)} is not a directory.", hint)
            if not last and (cst.st_uid not in me or cst.st_mode & 0o022):
                raise UnsafePathError("unsafe-directory-link", f"{p} is a symbolic link to {real}, and "
                                      f"{self.show_host(cur)} on the way is not root's alone; another account "
                                      "could change where the link leads.", hint)
        return real

    def open_local_dir(self, local_dir: str | PurePosixPath) -> int | None:
        """The mode of a local install's DIR when it holds anything and group or others may write
        it (another account could replace bin/ or etc/ncs in it), else None.  An empty DIR made
        beforehand (``mkdir ~/nso`` with umask 002) is fine: the unpacked tree replaces it."""
        host = self.host(local_dir)
        try:
            st = os.lstat(host)
            if not stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o022 or not os.listdir(host):
                return None
        except OSError:
            return None  # (absent, or unreadable: the plan says so)
        return stat.S_IMODE(st.st_mode)

    def check_parents(self, tpath: str | PurePosixPath, option: str, also: frozenset[int] = frozenset(),
                      itself: bool = False, local: bool = False, records: bool = False) -> None:
        """Refuse a top-level directory (``option``) below one another account could change: each
        existing directory above it must be root's (or this process's, or one of ``also``: the
        NSO account, for its run and log directories) and not writable by group or others, but
        for a sticky one such as /tmp above an entry such an owner holds; with ``itself`` the
        directory too must be such an owner's.  Otherwise that account could put a tree of its
        own at the path between runs, and root would run its programs (the service, logrotate,
        the login shells' PATH) or adopt it with a chown.  A directory that does not exist yet is
        made by nso-install (root's, 0755); a symbolic link is :meth:`dir_link`'s to judge.
        ``local``: a local install's directory, said in its terms (whoever runs it runs NSO from it).
        ``records``: nso-install's own state directory (the options it remembers, its records of
        what it wrote), which no option moves."""
        p = normalize(tpath)
        owners = {0, os.geteuid(), *also}
        chain = [*reversed(p.parents)] + ([p] if itself else [])
        for i, d in enumerate(chain):
            host = self.host(d)
            try:
                st = os.lstat(host)
            except (FileNotFoundError, NotADirectoryError):
                return
            if not stat.S_ISDIR(st.st_mode):
                return  # (a link: dir_link; a file: the plan's own error)
            shown = self.show_host(host)
            # (the commands name the host path, shell-quoted: under --root the target path is
            # the host's own directory, and a staging root may hold a blank)
            here = sh(host)
            if local:
                hint = (f"Install where only you (or root) can change anything, for example under your home directory "
                        f"(nso-install install DIST ~/nso-VERSION); or make {shown} yours and not writable by group "
                        f"or others (chmod go-w {here}), after checking what is in it.")
                runs = f"uid {os.geteuid()} runs NSO's programs from it and reads its configuration and keys"
            else:
                hint = (f"Make {shown} root's and not writable by group or others (chown root:root {here} && chmod "
                        f"go-w {here}), after checking what is in it"
                        + ("." if records else f"; or give {option} a place only root can change."))
                runs = ("a re-run takes the options it remembers from there, and the records of what it wrote"
                        if records else "root runs NSO's programs from it and reads its configuration")
            if st.st_uid not in owners:
                if local and os.geteuid() == 0:  # not "make it yours": that would take the account's directory
                    aim = f" --root {sh(self.root)}" if self.staged else ""  # (without it: the host's path)
                    hint = (f"To install for that account, run nso-install as it (runuser -u ACCOUNT -- nso-install "
                            f"install DIST --local-install {sh(p)}{aim}); as root, install into a directory only root can "
                            "change (for example /root/nso-VERSION).")
                raise UnsafePathError("untrusted-directory", f"{option} {p}: {shown} belongs to uid {st.st_uid}, which "
                                      f"could replace what nso-install puts there ({runs}).", hint)
            sticky_above = st.st_mode & stat.S_ISVTX and i < len(chain) - 1  # (the next one is checked in turn)
            if st.st_mode & 0o022 and not sticky_above and d != p:
                raise UnsafePathError("untrusted-directory", f"{option} {p}: {shown} is writable by group or others "
                                      f"(mode {stat.S_IMODE(st.st_mode):04o}), so another account could replace "
                                      f"{p.relative_to(d).parts[0]} in it.", hint)

    def _resolve_parents(self, parts: list[str], original: str) -> str:
        """The host path (a string; "" for the root "/") of the directory ``parts`` name."""
        root = str(self.root).rstrip("/")

        def link_of(current: list[str], name: str) -> str | None:
            parent_path = "/".join([root, *current])
            nxt = f"{parent_path}/{name}"
            try:
                st = os.lstat(nxt)
            except (FileNotFoundError, NotADirectoryError):
                return None  # does not exist yet: it will be created as a real directory
            except PermissionError:
                from .proc import denied_to_root

                lacking = denied_to_root(f"Permission denied: {self.show_host(nxt)}")
                if lacking is not None:
                    raise lacking from None
                raise UsageError(
                    "path-not-reachable",
                    f"{self.show(original)}: cannot look into {self.show_host(parent_path or '/')} as uid "
                    f"{os.geteuid()} (Permission denied): the account running nso-install may not search it.",
                    "Choose a path this account can reach (a local install: for example ~/nso-VERSION), or run "
                    "as an account that may (root for a system install).") from None
            if stat.S_ISLNK(st.st_mode):
                parent = os.lstat(parent_path or "/")
                if st.st_uid not in (0, os.geteuid()) or parent.st_uid not in (0, os.geteuid()):
                    # Only root (or whoever runs us) may redirect our writes: a link owned by
                    # another account (the NSO user in its run dir, say) is never followed, nor
                    # one in a directory another account owns (it could move a root-owned link
                    # there from elsewhere).
                    raise UnsafePathError(
                        "unsafe-symlink",
                        f"{original}: {self.show_host(nxt)} is a symbolic link owned by uid {st.st_uid} in a "
                        f"directory owned by uid {parent.st_uid}; refusing to follow a link another account could "
                        "have planted or moved there.",
                        "Replace the link with a real directory, or make root own it (and its directory) if it "
                        "is intended.")
                return os.readlink(nxt)
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError("not-a-directory",
                                      f"{self.show(original)}: parent {self.show_host(nxt)} is not a directory.",
                                      "Move the file out of the way or choose another directory.")
            return None

        try:
            return "/".join([root, *follow_links(parts, link_of, _MAX_LINKS)])
        except LinkEscape:
            raise self._escape(original) from None
        except LinkLoop:
            raise self._loop(original) from None

    def _loop(self, original: str) -> UnsafePathError:
        """A link chain that never ends, named by its first link: in a staging root the usual one
        is ``ROOT/etc -> /etc``, which leads back to itself because links are followed inside
        the root (as in a chroot), never to the host's /etc."""
        first, prefix = None, self.root
        for part in PurePosixPath(original).parts[1:]:
            prefix = prefix / part
            if os.path.islink(prefix):
                first = f"{prefix} -> {os.readlink(prefix)}"
                break
        where = f" (the first link: {first})" if first else ""
        if self.staged:
            return UnsafePathError("symlink-loop", f"too many symbolic links resolving {original}{where}: links are "
                                   f"followed inside the staging root {self.root}, as in a chroot, never to the "
                                   "host's files.", "Make that path a real directory in the staging root (or a link "
                                   "to one inside it); to install onto this host itself, leave out --root.")
        return UnsafePathError("symlink-loop", f"too many symbolic links resolving {original}{where}.",
                               "Remove the symlink loop.")

    def _escape(self, original: str) -> UnsafePathError:
        return UnsafePathError(
            "symlink-escapes-root",
            f"{original}: a symlink on the way leads outside the target root {self.root}.",
            "Remove the symlink, or pass the real location of the directory.")

    def to_target(self, host_path: str | os.PathLike) -> PurePosixPath:
        rel = os.path.relpath(os.path.abspath(host_path), self.root)
        if rel == ".." or rel.startswith("../"):
            raise self._escape(str(host_path))
        return PurePosixPath("/") / rel if rel != "." else PurePosixPath("/")

    def show(self, tpath: str | PurePosixPath) -> str:
        """How a target path is shown to the user (always the target path)."""
        return str(tpath)

    def show_host(self, host_path: Path) -> str:
        try:
            return str(self.to_target(host_path))
        except UnsafePathError:
            return str(host_path)


def check_staging_root(given: str | os.PathLike, private: bool = False) -> None:
    """Refuse a staging root another account could have prepared or could still redirect.

    Like OpenSSH's StrictModes or sudo's secure path: every existing component of the path, the
    root included, must be a real directory (no symlink) owned by root and not writable by group
    or others; a sticky directory such as /tmp is fine above an entry root owns.  It must be
    named by its real path (no symlink, no '..').  ``private``: the root itself must not be open
    to other accounts at all (staged owners are the image's uids and gids, not the host's).
    Applies when root stages (setuid bits and capabilities are set there); missing components
    are created by nso-install itself, and the check runs again once they exist."""
    real = os.path.realpath(given)
    named = str(given) if os.path.isabs(given) else os.path.join(os.getcwd(), str(given))  # (a replayed
    # run's record holds the working directory only when the run used it: nso_install.replay)
    if os.path.normpath(named) != real or ".." in Path(given).parts:
        raise UsageError("unsafe-staging-root", f"--root {given} goes through a symbolic link or '..' (it is {real}); "
                         "the staging root must be named by its real path.", f"Give --root {sh(real)} (after checking "
                         "that it is where you meant to stage).")
    path = Path(real)
    for p in [Path(*path.parts[:i]) for i in range(1, len(path.parts) + 1)]:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return
        hint = f"Stage into a directory only root can change: chown root:root {sh(p)} && chmod go-w {sh(p)} (or pick another)."
        if stat.S_ISLNK(st.st_mode):
            raise UsageError("unsafe-staging-root", f"--root {given}: {p} is a symbolic link; the staging root must be "
                             "reached through real directories only.", f"Give the real path ({os.path.realpath(given)}).")
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError("bad-root", f"--root {given}: {p} is not a directory.", "Point --root at a directory.")
        if st.st_uid != 0:
            raise UsageError("unsafe-staging-root", f"--root {given}: {p} belongs to uid {st.st_uid}, so that account "
                             "could swap what nso-install makes setuid or gives capabilities under it.", hint)
        sticky_above = st.st_mode & stat.S_ISVTX and p != path
        if st.st_mode & 0o022 and not sticky_above:
            raise UsageError("unsafe-staging-root", f"--root {given}: {p} is writable by group or others "
                             f"(mode {stat.S_IMODE(st.st_mode):04o}).", hint)
        if private and p == path and st.st_mode & 0o077:
            raise UsageError("staging-root-not-private",
                             f"--root {given} is open to other accounts (mode {stat.S_IMODE(st.st_mode):04o}), and "
                             "with --run-as-user its keys and privileged binaries belong to the staged accounts' "
                             "uids and gids, which may mean other accounts on this host.",
                             f"chmod 700 {sh(p)} (the image build copies the tree out of it), then re-run.")
    _check_staged_account_files(given, path)
    _check_staged_state_dir(given, path)


# What root takes account numbers from in a staging root (useradd --prefix, and nso-install's own
# reading): the owners and groups it gives the keys, the IPC secret and privileged binaries.
STAGED_ACCOUNT_FILES = ("etc", "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow", "etc/login.defs")


def _not_roots_alone(st: os.stat_result) -> str | None:
    """Why an entry of a staging root (``st``, its lstat) is not root's alone, or None: another
    owner, or group or others may write it (a link's own mode grants nothing)."""
    if st.st_uid != 0:
        return "belongs to uid %d" % st.st_uid
    if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o022:
        return f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _check_staged_account_files(given: str | os.PathLike, root: Path) -> None:
    """The staging root's account files (and etc/) must be root's and written by nobody else: an
    account that can edit etc/group (a copied file kept its owner, or mode 0666) could give
    ncsadmin its own gid, and root then gave it the staged IPC secret, group-readable."""
    for rel in STAGED_ACCOUNT_FILES:
        p = root / rel
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        what = f"is a symbolic link (to {os.readlink(p)}), which useradd --prefix would follow" \
            if stat.S_ISLNK(st.st_mode) else _not_roots_alone(st)
        if what:
            raise UsageError("unsafe-staging-root", f"--root {given}: {p} {what}; root takes the accounts' numbers from "
                             "the staging root's account files (the owners of keys, secrets and privileged binaries), "
                             "so only root may be able to change them.",
                             "Replace the link with a copy of what it leads to (if that is meant), then re-run." if
                             stat.S_ISLNK(st.st_mode) else
                             f"chown root:root {sh(p)} && chmod go-w {sh(p)} (after checking its contents), then re-run.")


# nso-install's records in a staging root: the options a re-run (install, uninstall, keys
# rotate) takes from there, and the directories uninstall removes
STAGED_STATE_DIRS = ("var", "var/lib", "var/lib/nso-install")


def _check_staged_state_dir(given: str | os.PathLike, root: Path) -> None:
    """The staging root's state directory, and each directory holding it, must be root's and
    written by nobody else (a link too must be root's; the run then refuses a state directory
    that is one, unsafe-lock, as it never follows it): an account that could swap state.json
    would choose what a re-run does as root (--setuid-cmdwrapper, IPC grants, the directories
    uninstall --all removes)."""
    for rel in STAGED_STATE_DIRS:
        p = root / rel
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return
        what = _not_roots_alone(st)
        if what:
            raise UsageError("unsafe-staging-root", f"--root {given}: {p} {what}; a re-run as root takes the options "
                             "nso-install remembers (and the directories uninstall removes) from the records kept "
                             "there, so only root may be able to change them.",
                             f"chown root:root {sh(p)} && chmod go-w {sh(p)} (after checking what is in it), then re-run.")
        if stat.S_ISLNK(st.st_mode):
            return

