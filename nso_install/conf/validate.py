"""Check an ncs.conf text against the element table of ncs.conf(5).

The table (``nso_install/data/ncs-conf-elements.tsv``, a copy of the project's reference
table) lists every documented element: path, value type ("" for containers), default,
mandatory, repeats.  :func:`validate_ncs_conf` returns a list of problems (empty when the
text is fine); it never raises for bad input and does no I/O besides reading the table.

What is checked:

* well-formed XML, no DOCTYPE (no entity tricks), root ``<ncs-config>`` in the namespace
  ``http://tail-f.com/yang/tailf-ncs-config``, every element in that namespace;
* every element path is in the table (a container implied by a deeper path counts);
* leaf values match their type: boolean, (u)intN ranges, port-number, ipv4/ipv6 address,
  enumerations ("md5 | sha-256 | sha-512"), xs:duration, tailf:size, hex16/hex32 key
  values, unions with keywords ("uint32 | unbounded");
* ``${VAR}`` / ``${VAR:-default}`` substitutions (done by NSO at load time) are accepted in
  strings; in other types only with a ``:-default`` that matches the type;
* mandatory leaves are present when their parent is (``load-path/dir``, ``state-dir`` and
  ``cdb/db-dir`` always);
* a leaf or a non-list container does not repeat unless the table says it may.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

NAMESPACE = "http://tail-f.com/yang/tailf-ncs-config"
ROOT = "/ncs-config"

# Mandatory whatever their parent: NSO refuses to start without them (ncs.conf(5)).
ALWAYS_MANDATORY = ("/ncs-config/load-path/dir", "/ncs-config/state-dir", "/ncs-config/cdb/db-dir")

# Containers that are YANG lists although the man page's table says "repeats: no" for them
# (or does not list them at all): several entries may appear side by side.
LIST_CONTAINERS = frozenset({
    "/ncs-config/notifications/event-streams/stream",
    "/ncs-config/hide-group",
    "/ncs-config/encrypted-strings/key-rotation",
    "/ncs-config/session-limits/session-limit",
    "/ncs-config/session-limits/config-session-limit",
    "/ncs-config/restconf/custom-headers/header",
    "/ncs-config/webui/custom-headers/header",
    "/ncs-config/aaa/package-authentication/packages",
    "/ncs-config/ha-raft/seed-nodes/seed-node",
    "/ncs-config/memory-management/actions/action",
})
LIST_SUFFIXES = ("/extra-listen",)  # every */extra-listen is a list of ip/port pairs

# Leaves holding inline encryption keys: problems name them, never quote their value (an
# administrator's file is validated too, and its problems are shown in warnings).
SECRET_LEAVES = ("/key", "/key1", "/key2", "/key3")

# NSO's load-time substitution in ncs.conf(5): ${VAR} or ${VAR:-default} (group 2: the default)
SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Element(NamedTuple):
    """One ncs.conf element of ncs.conf(5): its path, type, default, and whether it is mandatory or repeats.
    A named tuple: every run that renders or checks ncs.conf makes all 745 of them."""
    path: str
    type: str  # "" for a container
    default: str
    mandatory: bool
    repeats: bool

    @property
    def is_leaf(self) -> bool:
        return bool(self.type)

    @property
    def is_list(self) -> bool:
        return self.path in LIST_CONTAINERS or self.path.endswith(LIST_SUFFIXES)


def _table_text() -> str:
    return (Path(__file__).parent.parent / "data" / "ncs-conf-elements.tsv").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def element_table() -> dict[str, Element]:
    """Every documented element, keyed by path (``/ncs-config/...``)."""
    table: dict[str, Element] = {}
    for line in _table_text().splitlines():
        if not line or line.startswith("#") or line.startswith("path\t"):
            continue
        cols = line.split("\t")
        cols += [""] * (5 - len(cols))
        path, typ, default, mandatory, repeats = cols[:5]
        table[path] = Element(path, typ.strip(), default, mandatory.strip() == "yes", repeats.strip() == "yes")
    # Containers the man page only implies (e.g. /ncs-config/cdb above cdb/db-dir).
    for path in list(table):
        parts = path.split("/")
        for i in range(2, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in table:
                table[parent] = Element(parent, "", "", False, False)
    return table


# --- leaf types --------------------------------------------------------------------------

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1), "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1), "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
    "port-number": (0, 65535), "inet:port-number": (0, 65535),
    "dscp-type": (0, 63), "cli-max": (0, 2**32 - 1),
    "dh-group-size-type": (1024, 8192), "crypt-hash-rounds-type": (1000, 999999999),
    "compressed-schema-level-type": (1, 2),
}
# ASCII digits only (re.ASCII): \d also matched other scripts' digits ("PT\u0663S", a port
# "${P:-\u0663\u0663}"), which int() reads but NSO's XML Schema types do not.
_DURATION = re.compile(r"-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?", re.ASCII)
_SIZE = re.compile(r"S(?=\d)(\d+G)?(\d+M)?(\d+K)?(\d+B)?", re.ASCII)
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_STRINGLIKE = {
    "string", "uri", "tailf:md5-digest-string", "fq-domain-name-with-optional-node-id",
}
_NODE_ID_ADDR = {"ipv4-address-with-optional-node-id": 4, "ipv6-address-with-optional-node-id": 6}
TYPE_NAMES = (set(_INT_RANGES) | _STRINGLIKE | set(_NODE_ID_ADDR)
              | {"boolean", "ipv4-address", "ipv6-address", "xs:duration", "tailf:size",
                 "hex8-value-type", "hex16-value-type", "hex32-value-type", "inet:ip-prefix",
                 "inet:ip-version"})  # anything else in a type column is an enumeration keyword


# A zone after '%' (inet:ip-address, RFC 6991): letters and digits only; anything went, "::1%a<b> c" too.
_ZONE = re.compile(r"[^\W_]+")


def _is_ip(value: str, version: int | None = None) -> bool:
    address, percent, zone = value.partition("%")
    if percent and not _ZONE.fullmatch(zone):
        return False
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return False
    return version is None or addr.version == version


def _match_one(alt: str, value: str) -> bool:
    if alt in _INT_RANGES:
        if not _INT.fullmatch(value):
            return False
        lo, hi = _INT_RANGES[alt]
        return lo <= int(value) <= hi
    if alt in _STRINGLIKE:
        return True
    if alt == "boolean":
        return value in ("true", "false")
    if alt == "ipv4-address":
        return _is_ip(value, 4)
    if alt == "ipv6-address":
        return _is_ip(value, 6)
    if alt in _NODE_ID_ADDR:
        return _is_ip(value.split("@")[-1], _NODE_ID_ADDR[alt])
    if alt == "xs:duration":
        return bool(_DURATION.fullmatch(value))
    if alt == "tailf:size":
        return bool(_SIZE.fullmatch(value))
    if alt in ("hex8-value-type", "hex16-value-type", "hex32-value-type"):
        digits = {"hex8-value-type": 16, "hex16-value-type": 32, "hex32-value-type": 64}[alt]
        return bool(re.fullmatch(r"[0-9a-fA-F]{%d}" % digits, value))
    if alt == "inet:ip-prefix":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return "/" in value
    if alt == "inet:ip-version":
        return value in ("unknown", "ipv4", "ipv6")
    return value == alt  # an enumeration keyword ("unbounded", "md5", "1", ...)


def type_alternatives(typ: str) -> list[str]:
    return [a.strip() for a in typ.split("|") if a.strip()]


def matches_type(typ: str, value: str) -> bool:
    """Whether ``value`` (no substitutions) is a valid lexical value of ``typ``."""
    alts = type_alternatives(typ)
    return not alts or any(_match_one(a, value) for a in alts)


def is_string_type(typ: str) -> bool:
    alts = type_alternatives(typ)
    return any(a in _STRINGLIKE for a in alts)


# How check_value says a ${VAR} without a default (:func:`start_problems` leaves those out).
UNRESOLVED = "so it cannot be checked"


def check_value(typ: str, value: str) -> str | None:
    """None when ``value`` is fine for ``typ``, else a short reason."""
    if "$" in value and "${" in value:
        rest = SUBST.sub("", value)
        if "${" in rest:
            return "has a malformed ${...} substitution"
        if is_string_type(typ):
            return None
        subs = list(SUBST.finditer(value))
        if len(subs) != 1 or subs[0].group(0) != value:
            return f"mixes a ${{...}} substitution with text, which cannot be a valid {typ}"
        default = subs[0].group(2)
        if default is None:
            return f"uses ${{{subs[0].group(1)}}} without a default, {UNRESOLVED} as {typ} " \
                   f"(write ${{{subs[0].group(1)}:-DEFAULT}})"
        return None if matches_type(typ, default) else f"default {default!r} is not a valid {typ}"
    if is_string_type(typ):
        return None
    if not matches_type(typ, value):
        return f"{value!r} is not a valid {typ}"
    return None


# --- the walk -----------------------------------------------------------------------------

def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def start_problems(text: str) -> list[str]:
    """What NSO refuses at start in an ncs.conf text (:func:`validate_ncs_conf`), but for a
    ``${VAR}`` without a default: NSO resolves it at start, from an environment nso-install does
    not see (an administrator's kept file, judged by install and by the audit's NSO-CONF-001)."""
    return [p for p in validate_ncs_conf(text) if UNRESOLVED not in p]


def validate_ncs_conf(text: str) -> list[str]:
    """Problems found in an ncs.conf text (empty list: valid as far as the table can tell)."""
    if re.search(r"<!DOCTYPE|<!ENTITY", text, re.IGNORECASE):
        return ["ncs.conf must not contain a DOCTYPE or ENTITY declaration"]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    ns, name = _local(root.tag)
    if name != "ncs-config":
        return [f"root element is <{name}>, expected <ncs-config>"]
    if ns != NAMESPACE:
        return [f"root element namespace is {ns or '(none)'!r}, expected {NAMESPACE!r}"]

    table = element_table()
    problems: list[str] = []

    def walk(elem: ET.Element, path: str) -> None:
        counts: dict[str, int] = {}
        present: set[str] = set()
        for child in elem:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            cns, cname = _local(child.tag)
            cpath = f"{path}/{cname}"
            if cns != NAMESPACE:
                problems.append(f"{cpath}: element in namespace {cns or '(none)'!r}, expected {NAMESPACE!r}")
                continue
            entry = table.get(cpath)
            if entry is None:
                problems.append(f"{cpath}: unknown element (not in ncs.conf(5))")
                continue
            counts[cname] = counts.get(cname, 0) + 1
            present.add(cpath)
            if counts[cname] == 2 and not entry.repeats and not entry.is_list:
                problems.append(f"{cpath}: appears more than once but may not repeat")
            if entry.is_leaf:
                if len(child):
                    problems.append(f"{cpath}: is a leaf ({entry.type}) but has child elements")
                    continue
                value = (child.text or "").strip()
                reason = check_value(entry.type, value)
                if reason and cpath.endswith(SECRET_LEAVES):  # an inline key is never quoted
                    reason = "is not a valid value"
                if reason:
                    problems.append(f"{cpath}: {reason} (expected {entry.type})")
            else:
                if (child.text or "").strip():
                    problems.append(f"{cpath}: is a container but has text"
                                    + ("" if "/encrypted-strings" in cpath else f" {(child.text or '').strip()[:40]!r}"))
                walk(child, cpath)
        # mandatory children of this (present) element
        for entry in _mandatory_children(path):
            if entry.path not in present:
                problems.append(f"{entry.path}: mandatory element missing (its parent {path} is present)")

    walk(root, ROOT)
    for must in ALWAYS_MANDATORY:
        parent = must.rsplit("/", 1)[0]
        if parent != ROOT and not _has_path(root, parent):
            problems.append(f"{must}: mandatory element missing")
    return problems


def _mandatory_children(path: str) -> tuple[Element, ...]:
    return _mandatory_by_parent().get(path, ())


@lru_cache(maxsize=None)
def _mandatory_by_parent() -> dict[str, tuple[Element, ...]]:
    """The mandatory elements of the table by their parent's path, in the table's order (then
    ALWAYS_MANDATORY's): one pass over the table, not one per element of the text validated."""
    table = element_table()
    out: dict[str, list[Element]] = {}
    for p, e in table.items():
        if e.mandatory:
            out.setdefault(p.rsplit("/", 1)[0], []).append(e)
    for m in ALWAYS_MANDATORY:
        if not table[m].mandatory:
            out.setdefault(m.rsplit("/", 1)[0], []).append(table[m])
    return {parent: tuple(entries) for parent, entries in out.items()}


def _has_path(root: ET.Element, path: str) -> bool:
    parts = path.split("/")[2:]
    elems = [root]
    for part in parts:
        elems = [c for e in elems for c in e if isinstance(c.tag, str) and _local(c.tag)[1] == part]
        if not elems:
            return False
    return True


# --- per release ----------------------------------------------------------------------------
# The table above is ncs.conf(5) of 6.7. data/ncs-conf-versions.tsv names the elements that not
# every release 6.1-6.7 documents, with the first and last that does: NSO refuses to start on
# an element its release does not know (exit 21, bad configuration file), e.g. an ncs.conf with
# 6.7's memory-management kept across a rollback to 6.5, or 6.4's DES3CBC keys across an upgrade.

def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@lru_cache(maxsize=1)
def release_table() -> dict[str, tuple[tuple[int, ...] | None, tuple[int, ...] | None]]:
    """path -> (first release documenting it or None, last one or None)."""
    out = {}
    text = (Path(__file__).parent.parent / "data" / "ncs-conf-versions.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("path\t"):
            continue
        path, first, last = (line.split("\t") + ["", ""])[:3]
        out[path] = (_release(first) if first else None, _release(last) if last else None)
    return out


def release_problems(text: str | bytes, version: tuple[int, ...]) -> list[str]:
    """The elements of an ncs.conf text that NSO ``version`` does not document (empty: none, or
    the text cannot be parsed; :func:`validate_ncs_conf` says why). Compared by release (x.y);
    a version after 6.7 is taken to keep what 6.7 dropped dropped."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    table, xy = release_table(), tuple(version[:2])
    problems: list[str] = []

    def walk(elem: ET.Element, path: str) -> None:
        for child in elem:
            if not isinstance(child.tag, str):
                continue
            cpath = f"{path}/{_local(child.tag)[1]}"
            first, last = table.get(cpath, (None, None))
            if first is not None and xy < first:
                problems.append(f"{cpath}: NSO {'.'.join(map(str, first))} and later only")
            elif last is not None and xy > last:
                problems.append(f"{cpath}: removed after NSO {'.'.join(map(str, last))}")
            else:
                walk(child, cpath)

    walk(root, ROOT)
    return problems
