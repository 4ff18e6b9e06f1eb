"""A systemd unit as the service manager loads it from the target: the unit file, its drop-ins,
the settings of its [Service] section in the order systemd applies them, and who besides root
could change a file the service manager reads.  Read-only; every path goes through the target
root, so a staging root is judged as the host it will be.

systemd.unit(5): the unit is the first ``NAME`` found along the system unit search path; its
drop-ins are the ``*.conf`` files of ``NAME.d/`` and of the top-level ``service.d/`` in every
directory of that path, applied after the unit in the lexicographic order of their names, each
name taking its file from the first directory that has one (name-specific directories before
``service.d/``); a drop-in linked to /dev/null (or empty) masks that name.  A line ending in a
backslash goes on on the next one; an empty assignment resets a list setting.
"""

from __future__ import annotations

import fnmatch
import re
import stat

from ..facts import ABSENT, DIR, FILE, LINK, Facts, PathFact
from ..record import record
from ..target import LinkLoop, follow_links

# systemd.unit(5), "System Unit Search Path" (both /usr/lib and /lib: merged /usr or not)
SEARCH_PATH = ("/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
               "/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached",
               "/run/systemd/system", "/run/systemd/system.attached", "/run/systemd/generator",
               "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
               "/run/systemd/generator.late")
EXEC_KEYS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
             "ExecStopPost")
MAX_LINKS = 40  # like the kernel's MAXSYMLINKS
GLOB = frozenset("*?[")


def _join(parts: list[str]) -> str:
    return "/" + "/".join(parts)


# --- where a path leads, and who could change that ------------------------------------------

@record(frozen=True)
class Lookup:
    """One name looked up on the way to a file: the directory it was looked up in, and what it is."""
    container: PathFact
    entry: PathFact


@record(frozen=True)
class Resolved:
    """Where a target path leads, links followed inside the root as a chroot would (the last one
    too: the service manager opens files by name), with every lookup on the way.  ``path`` is
    None when the way breaks off (a missing directory, a loop): ``why`` says how."""
    path: str | None
    lookups: tuple[Lookup, ...] = ()
    why: str = ""

    @property
    def fact(self) -> PathFact | None:
        """What the path leads to (absent, a file...); None when the way broke off."""
        return self.lookups[-1].entry if self.path is not None and self.lookups else None


class _Broken(Exception):
    """The way to a path breaks off (its text says how)."""


def resolve(facts: Facts, tpath: str) -> Resolved:
    """Follow ``tpath`` through the target, as the service manager opens it (see :class:`Resolved`)."""
    lookups: list[Lookup] = []

    def link_of(current: list[str], name: str) -> str | None:
        container = facts.path(_join(current))
        if container.kind != DIR:
            raise _Broken(f"{container.path} is {container.kind}, not a directory")
        entry = facts.path(_join([*current, name]))
        lookups.append(Lookup(container, entry))
        return entry.link if entry.kind == LINK else None

    try:
        current = follow_links(tpath.split("/"), link_of, MAX_LINKS, clamp=True)
    except _Broken as e:
        return Resolved(None, tuple(lookups), str(e))
    except LinkLoop:
        return Resolved(None, tuple(lookups), "too many symbolic links on the way")
    if not lookups:  # "/" itself
        return Resolved("/", (Lookup(facts.path("/"), facts.path("/")),))
    return Resolved(_join(current), tuple(lookups))


def others_could_change(facts: Facts, resolved: Resolved, allowed: frozenset[int], listing: bool = False) -> list[str]:
    """Why an account whose uid is not in ``allowed`` could change what ``resolved`` leads to,
    or put something there while it is absent: a directory on the way it owns, or that group or
    others may write (a sticky one only above an entry an allowed account owns), or the file
    itself.  ``listing``: the directory's own entries count too (a wildcard matches new ones)."""
    names = facts.accounts
    out: list[str] = []

    def owner(f: PathFact) -> str:
        return f"{names.user_name(f.uid)}:{names.group_name(f.gid)}"

    for lk in resolved.lookups:
        c, e = lk.container, lk.entry
        if c.uid not in allowed:
            out.append(f"{c.path} (a directory on the way) belongs to {names.user_name(c.uid)}")
        elif (c.mode or 0) & 0o022 and not ((c.mode or 0) & stat.S_ISVTX and e.kind != ABSENT and e.uid in allowed):
            what = "could put it there" if e.kind == ABSENT else f"could replace {e.path}"
            out.append(f"{c.path} (a directory on the way) is writable by group or others (mode {c.mode:04o} "
                       f"{owner(c)}): another account {what}")
    f = resolved.fact
    if f is not None and f.kind != ABSENT:
        if f.uid not in allowed:
            out.append(f"{f.path} belongs to {names.user_name(f.uid)} ({f.mode:04o} {owner(f)})")
        elif (f.mode or 0) & 0o022 and (f.kind != DIR or listing):
            out.append(f"{f.path} is writable by group or others ({f.mode:04o} {owner(f)})")
    return out


# --- the unit and its drop-ins ----------------------------------------------------------------

@record(frozen=True)
class Setting:
    """One assignment of a [Service] section: the file (unit or drop-in) it is in, key and value."""
    source: str
    key: str
    value: str


@record(frozen=True)
class LoadedUnit:
    """The files the service manager loads for the unit, in order (the unit first; None: no such
    unit on the target), whether it is masked, and the [Service] assignments of all of them."""
    path: str | None
    masked: bool = False
    dropins: tuple[str, ...] = ()
    settings: tuple[Setting, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return ((self.path,) if self.path else ()) + self.dropins

    def assigned(self, key: str) -> list[Setting]:
        """The assignments of a list setting that are in effect (an empty one drops those before it)."""
        out: list[Setting] = []
        for s in self.settings:
            if s.key == key:
                out = [] if not s.value else [*out, s]
        return out

    def last(self, key: str) -> Setting | None:
        """The assignment of a single-valued setting in effect (None: unset, or reset to its default)."""
        hits = [s for s in self.settings if s.key == key]
        return hits[-1] if hits and hits[-1].value else None


def _is_mask(facts: Facts, tpath: str) -> tuple[bool, str | None]:
    """(masked, readable path): a file linked to /dev/null, a device or an empty file masks."""
    fact = facts.path(tpath)
    if fact.kind == LINK and fact.link == "/dev/null":
        return True, None
    r = resolve(facts, tpath)
    target = r.fact
    if target is None or target.kind == ABSENT:
        return False, None  # a dangling link: nothing loaded
    if target.kind != FILE:
        return target.kind != DIR, None
    return target.size == 0, r.path


def load(facts: Facts, name: str = "ncs.service") -> LoadedUnit:
    unit_type = name.rsplit(".", 1)[-1]
    unit = next((f"{d}/{name}" for d in SEARCH_PATH if facts.path(f"{d}/{name}").kind != ABSENT), None)
    if unit is None:
        return LoadedUnit(None)
    masked, readable = _is_mask(facts, unit)
    if masked or readable is None:
        return LoadedUnit(unit, masked=masked)
    chosen: dict[str, str] = {}  # drop-in name -> its file
    for sub in (f"{name}.d", f"{unit_type}.d"):
        for d in SEARCH_PATH:
            directory = resolve(facts, f"{d}/{sub}")
            if directory.fact is None or directory.fact.kind != DIR:
                continue
            for entry in facts.listdir(directory.path):
                if entry.endswith(".conf") and entry not in chosen:
                    chosen[entry] = f"{d}/{sub}/{entry}"
    dropins, settings = [], list(_service_section(unit, facts.read(readable) or b""))
    for entry in sorted(chosen):
        masked_dropin, path = _is_mask(facts, chosen[entry])
        if masked_dropin or path is None:
            continue
        dropins.append(chosen[entry])
        settings += _service_section(chosen[entry], facts.read(path) or b"")
    return LoadedUnit(unit, False, tuple(dropins), tuple(settings))


def _service_section(source: str, data: bytes) -> list[Setting]:
    out: list[Setting] = []
    section, pending = None, ""
    for raw in data.decode(errors="replace").splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if pending and line[:1] in ("#", ";"):
            continue  # a comment inside a continued line is skipped
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            out.append(Setting(source, key.strip(), value.strip()))
    return out


# --- the settings the audit judges ------------------------------------------------------------

def exec_prefix(command: str) -> str:
    """The special prefixes of an ``Exec*=`` value ("!", "+", "-", "@", ":", "|"; systemd.service(5))."""
    return command[:len(command) - len(command.lstrip("@-:+!|"))]


def runs_as_root(unit: LoadedUnit) -> str | None:
    """Why a command of the unit runs with root's privileges (None: every one drops them):
    no ``User=`` (or root), or a command with the ``+`` or ``!`` prefix (systemd.service(5))."""
    user = unit.last("User")
    if user is None or user.value in ("root", "0"):
        return "the unit has no User= (every command runs as root)" if user is None else \
            f"User={user.value} ({user.source})"
    for key in EXEC_KEYS:
        for s in unit.assigned(key):
            prefix = exec_prefix(s.value)
            if "+" in prefix or "!" in prefix:
                return f"{key}={s.value.split()[0]}... runs as root ({s.source})"
    return None


def environment_files(unit: LoadedUnit) -> list[tuple[Setting, str, bool]]:
    """(assignment, path, optional) of each ``EnvironmentFile=`` in effect: an absolute path or a
    wildcard, ``-`` first when a missing file is fine (systemd.exec(5)); one path an assignment.
    The unit-name specifiers are resolved; any other one is left in the path (see :func:`expand`)."""
    name = (unit.path or "").rsplit("/", 1)[-1]
    prefix = name.rsplit(".", 1)[0]
    known = {"%": "%", "n": name, "N": prefix, "p": prefix.split("@")[0], "P": prefix.split("@")[0]}
    out = []
    for s in unit.assigned("EnvironmentFile"):
        optional = s.value.startswith("-")
        path = re.sub(r"%(.)", lambda m: known.get(m.group(1), "\0" + m.group(1)), s.value[1:] if optional else s.value)
        out.append((s, path, optional))
    return out


def expand(facts: Facts, path: str) -> tuple[list[str], str | None, str]:
    """(files, listed directory, problem) of a path that may end in a wildcard: the matches (the
    path itself without one) and the directory whose new entries would match (None: no wildcard);
    a wildcard above the last component, or a specifier left, is a problem (not followed)."""
    if "\0" in path:
        shown = path.replace("\0", "%")
        return [], None, f"{shown} has a specifier the audit does not resolve"
    parts = path.split("/")
    if any(GLOB & set(p) for p in parts[:-1]):
        return [], None, f"{path} has a wildcard above its last component, which the audit does not follow"
    if not GLOB & set(parts[-1]):
        return [path], None, ""
    directory = "/".join(parts[:-1]) or "/"
    r = resolve(facts, directory)
    names = facts.listdir(r.path) if r.fact is not None and r.fact.kind == DIR else []
    pattern = parts[-1]
    hits = [f"{directory.rstrip('/')}/{n}" for n in names
            if fnmatch.fnmatchcase(n, pattern) and (pattern.startswith(".") or not n.startswith("."))]
    return hits, directory, ""
