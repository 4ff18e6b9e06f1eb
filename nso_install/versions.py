"""NSO version strings ("6.5.3", "6.4.1.2", "6.6_250101") compared as tuples of ints."""

from __future__ import annotations

import re


def vtuple(version: str) -> tuple[int, ...]:
    """Leading numeric components: "6.5.3" -> (6, 5, 3); stops at the first non-numeric piece."""
    parts = []
    for piece in re.split(r"[._-]", str(version)):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts) or (0,)


def at_least(version: str, *minimum: int) -> bool:
    return vtuple(version) >= tuple(minimum)


# The NSO releases whose documentation nso-install follows: the ncs.conf(5), installer and
# keys pages of each (data/ncs-conf-versions.tsv names the sources).  Outside them it still
# installs, taking the nearest release's facts, and says so.
KNOWN_RELEASES = ((6, 1), (6, 7))


def unknown_release_note(version: str) -> str | None:
    """A note for a version outside :data:`KNOWN_RELEASES`, else None."""
    oldest, newest = KNOWN_RELEASES
    xy = vtuple(version)[:2]
    if oldest <= xy <= newest:
        return None
    known = f"{'.'.join(map(str, oldest))} to {'.'.join(map(str, newest))}"
    if xy > newest:
        return (f"NSO {version} is newer than the releases nso-install knows ({known}): its ncs.conf, keys and "
                f"IPC settings follow NSO {'.'.join(map(str, newest))}'s documentation. Read {version}'s release "
                "notes (ncs.conf elements, installer options) before relying on this install, and check for a "
                "newer nso-install.")
    return (f"NSO {version} is older than the releases nso-install knows ({known}): its ncs.conf, keys and IPC "
            f"settings follow NSO {'.'.join(map(str, oldest))}'s documentation, which may not hold for it; "
            "check the rendered ncs.conf against that release's ncs.conf(5).")


_CHAR_NAMES = {" ": "a space", "\n": "a newline", "\t": "a tab", "\r": "a carriage return"}


def _names(chars: str) -> str:
    seen = list(dict.fromkeys(chars))
    return " and ".join(_CHAR_NAMES.get(c, f"the character {c!r}") for c in seen)


def strays(text: str) -> str | None:
    """What surrounds or interrupts a version as typed ("ends with a newline"), else None: the
    whitespace a folded YAML value (``>``) or a copied line brings, control characters.  Named,
    since a message that shows ``6.5.3 `` shows nothing wrong."""
    if not text.strip():
        return f"is empty{' but for ' + _names(text) if text else ''}"
    lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    said = [f"starts with {_names(lead)}"] * bool(lead) + [f"ends with {_names(trail)}"] * bool(trail)
    inner = "".join(c for c in text.strip() if c.isspace() or not c.isprintable())
    said += [f"contains {_names(inner)}"] * bool(inner)
    return " and ".join(said) or None


def check_version(text: str, option: str) -> None:
    """Refuse ``text`` (given as ``option``) unless it is an NSO version such as 6.5.3, naming
    what is wrong with it (:func:`strays`)."""
    from .distribution.checks import VERSION_RE
    from .errors import UsageError

    problem = strays(text)
    if problem is None and VERSION_RE.fullmatch(text):
        return
    said = f"it {problem}" if problem else "an NSO version is numbers and dots, such as 6.5.3"
    hint = f"Give {option} {text.strip()}." if problem and VERSION_RE.fullmatch(text.strip()) else \
        f"Give {option} VSN, such as 6.5.3."
    raise UsageError("bad-version", f"{option} {text!r} is not an NSO version: {said}.", hint)
