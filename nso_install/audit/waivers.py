"""Waivers: accepted deviations, each with a reason, an owner and an optional expiry.

``--waivers FILE`` (TOML or YAML by suffix, read like a values file: bounded, no YAML
anchors or aliases, nothing of the file echoed in errors)::

    [[waivers]]                                 # YAML: waivers: [ {id: ..., ...} ]
    id = "NSO-SD-008"                           # a check ID (nso-install audit --list)
    reason = "CLI over SSH for the NOC jump host, change 4711"
    owner = "netops@example.net"
    expires = 2026-06-30                        # optional; the waiver holds through that day

A waived check that fails or warns is reported ``waived`` (exit 0); once its waiver has
expired it fails again, saying so.  A waiver for a check that passes changes nothing (a
note says it can go).
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Iterable

from ..errors import UsageError
from .model import ERROR, FAIL, WAIVED, WARN, Finding
from ..record import record

_FIELDS = {"id", "reason", "owner", "expires"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TEXT = 500


@record(frozen=True)
class Waiver:
    """An accepted finding: the check it waives, why, who owns it, until when."""
    id: str
    reason: str
    owner: str
    expires: datetime.date | None = None

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and today > self.expires

    def as_dict(self) -> dict:
        return {"id": self.id, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat() if self.expires else None}

    def shown(self) -> str:
        until = f", until {self.expires.isoformat()}" if self.expires else ""
        return f"{self.reason} ({self.owner}{until})"


def _bad(path: Path, where: str, problem: str) -> UsageError:
    return UsageError("bad-waivers-file", f"waivers file {path}, {where}: {problem}.",
                      "Each waiver needs id (a check ID), reason and owner (text), and may have expires "
                      "(YYYY-MM-DD); see nso-install audit --help.")


def _date(path: Path, where: str, value) -> datetime.date | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _bad(path, where, "expires is not a date (YYYY-MM-DD)")


def _text(path: Path, where: str, entry: dict, name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, where, f"{name} is missing or empty")
    if len(value) > MAX_TEXT or _CONTROL.search(value):
        raise _bad(path, where, f"{name} is longer than {MAX_TEXT} characters or has control characters")
    return value.strip()


def load_waivers(path: Path, known: Iterable[str], foreign: list[str] | None = None) -> list[Waiver]:
    """The waivers in ``path``; a usage error (exit 2) for anything malformed or an unknown ID.
    ``foreign``: gets why another account could have written the file, if so
    (:func:`foreign_waivers_note`)."""
    from ..conf.values import read_document

    try:
        data = read_document(Path(path), option="--waivers", foreign=foreign)
    except UsageError as e:  # the values-file reader names its files "values file"
        raise UsageError("bad-waivers-file", e.message.replace("values file", "waivers file", 1),
                         e.hint) from None
    if isinstance(data, dict) and set(data) <= {"waivers", "waiver"} and len(data) == 1:
        entries = next(iter(data.values()))
    else:
        raise _bad(path, "top level", "expected one list named waivers")
    if not isinstance(entries, list):
        raise _bad(path, "waivers", "expected a list of tables (TOML [[waivers]]) or mappings (YAML)")
    known = set(known)
    out, seen = [], set()
    for n, entry in enumerate(entries, 1):
        where = f"waiver {n}"
        if not isinstance(entry, dict):
            raise _bad(path, where, "not a table/mapping")
        unknown = sorted(str(k)[:40] for k in entry if k not in _FIELDS)
        if unknown:
            raise _bad(path, where, f"unknown field(s) {', '.join(unknown)}")
        wid = _text(path, where, entry, "id").upper()
        if wid not in known:
            import difflib  # only for an unknown ID

            near = difflib.get_close_matches(wid, sorted(known), n=3)
            raise UsageError("unknown-check", f"waivers file {path}, {where}: {wid[:40]!r} is not a check ID.",
                             (f"Did you mean {', '.join(near)}? " if near else "") + "nso-install audit --list shows "
                             "the check IDs.")
        if wid in seen:
            raise _bad(path, where, f"{wid} is waived twice")
        seen.add(wid)
        out.append(Waiver(wid, _text(path, where, entry, "reason"), _text(path, where, entry, "owner"),
                          _date(path, where, entry.get("expires"))))
    return out


def foreign_waivers_note(why: str) -> str:
    """The note for a waivers file another account could have written."""
    # (said, not refused, as for a values file: but a waiver turns a failure into a pass of the
    # exit code a CI gate acts on, so whoever can write the file can hide any finding)
    return (f"{why}, so another account could have waived failing checks with it (a waived check does not fail "
            "the audit). Keep the waivers file where only root can write (chown root: and chmod go-w).")


def apply_waivers(findings: list[Finding], waivers: list[Waiver], today: datetime.date) -> list[str]:
    """Waive what the waivers cover (in place); the notes about waivers that are not needed."""
    by_id = {w.id: w for w in waivers}
    notes = []
    for f in findings:
        w = by_id.get(f.check.id)
        if w is None:
            continue
        if f.status == ERROR:  # not judged: whether the waiver is needed is not known
            notes.append(f"the waiver for {f.check.id} was not applied: the check could not run (error); "
                         "fix what stopped it, then see whether the waiver is still needed")
            continue
        if f.status not in (FAIL, WARN):
            state = "has expired and " if w.expired(today) else ""
            notes.append(f"the waiver for {f.check.id} {state}is not needed ({f.status}): remove it")
            continue
        f.waiver, f.found = w, f.status
        if w.expired(today):
            f.status = FAIL
            f.summary = f"waiver expired on {w.expires.isoformat()} ({w.owner}): {f.summary}"
        else:
            f.status = WAIVED
            f.summary = f"waived: {w.shown()}; found: {f.summary}"
    return notes
