"""``aaa_init.xml``: rendering it, and checking it against the tailf-aaa/NACM structure.

NSO loads every ``*.xml`` in its CDB directory once, when it creates CDB (no ``A.cdb``,
``C.cdb``...), as a ``<config>`` document (NSO Administration Guide, System Management, "NSO Fails
to Start": nso-gitbook ``administration/management/system-management/README.md``).
nso-install's file holds two subtrees:

* ``/aaa/authentication/users/user`` of ``tailf-aaa.yang`` (namespace
  ``http://tail-f.com/ns/aaa/1.1``): one entry per account granted NSO's Unix IPC socket.
  The leaves and which are mandatory follow the YANG excerpt in NSO's AAA documentation
  (AAA Infrastructure, nso-gitbook ``administration/management/aaa-infrastructure.md``,
  "Authentication": ``name`` key, ``uid``/``gid`` int32, ``password`` passwdStr, ``ssh_keydir``,
  ``homedir``, all mandatory) plus ``local_ipc_access`` (boolean; the same page, "UID-based
  Authentication for Unix Sockets", and the vendor's nso-examples ``aaa/ipc/users.xml``);
* ``/nacm`` of ``ietf-netconf-acm.yang`` (RFC 8341) with the ``tailf-acm.yang`` augments
  (``cmdrule``, ``gid``, ``cmd-read-default``...), namespace ``http://tail-f.com/yang/acm``.

:func:`validate_aaa_init` checks a text against that structure (:data:`SCHEMA`): well-formed
XML without DOCTYPE/ENTITY, the namespaces, only known elements, leaf types (int32, boolean,
enumerations, access-operations, the crypt-hash form of ``password``), mandatory leaves,
unique list keys, no repeated leaves or containers, and two rules of its own: no clear-text
(``$0$``) password and no two users with one uid (NSO finds an IPC client's entry by uid).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import field
from typing import Sequence

from ..errors import NsoInstallError
from ..record import record
from ..templates import render_text

TEMPLATE = "files/aaa_init.xml.j2"
CONFIG_NS = "http://tail-f.com/ns/config/1.0"
AAA_NS = "http://tail-f.com/ns/aaa/1.1"
NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
ACM_NS = "http://tail-f.com/yang/acm"
# An unusable password: the SHA-512 crypt prefix with no salt and no hash, as the vendor's IPC
# example gives its IPC-only users (nso-examples aaa/ipc/users.xml).  A value starting with
# $<id>$ (id not 0) is stored as it is (confd_types(3), crypt-hash); no password hashes to it.
UNUSABLE_PASSWORD = "$6$"


@record(frozen=True)
class Node:
    """One element of the schema: a leaf (``type``) or a container/list (``children``)."""

    type: str = ""  # int32 | boolean | string | crypt-hash | access-operations | "a | b" (enumeration)
    ns: str | None = None  # None: the parent's namespace
    mandatory: bool = False
    many: bool = False  # a list entry or leaf-list item: may repeat
    key: str | None = None  # list key leaf
    children: dict[str, "Node"] = field(default_factory=dict)


def _leaf(typ: str = "string", **kw) -> Node:
    return Node(type=typ, **kw)


_ACTION = "permit | deny"
_ACM_COMMON = {"context": _leaf(ns=ACM_NS), "log-if-permit": _leaf("empty", ns=ACM_NS),
               "log-if-deny": _leaf("empty", ns=ACM_NS)}
SCHEMA = Node(ns=CONFIG_NS, children={
    "aaa": Node(ns=AAA_NS, children={
        "authentication": Node(children={
            "users": Node(children={
                "user": Node(many=True, key="name", children={
                    "name": _leaf(mandatory=True),
                    "uid": _leaf("int32", mandatory=True),
                    "gid": _leaf("int32", mandatory=True),
                    "password": _leaf("crypt-hash", mandatory=True),
                    "ssh_keydir": _leaf(mandatory=True),
                    "homedir": _leaf(mandatory=True),
                    "local_ipc_access": _leaf("boolean"),
                }),
            }),
        }),
    }),
    "nacm": Node(ns=NACM_NS, children={
        "enable-nacm": _leaf("boolean"),
        "read-default": _leaf(_ACTION),
        "write-default": _leaf(_ACTION),
        "exec-default": _leaf(_ACTION),
        "enable-external-groups": _leaf("boolean"),
        "cmd-read-default": _leaf(_ACTION, ns=ACM_NS),
        "cmd-exec-default": _leaf(_ACTION, ns=ACM_NS),
        "log-if-default-permit": _leaf("empty", ns=ACM_NS),
        "log-if-default-deny": _leaf("empty", ns=ACM_NS),
        "groups": Node(children={
            "group": Node(many=True, key="name", children={
                "name": _leaf(mandatory=True),
                "user-name": _leaf(many=True),
                "gid": _leaf("int32", ns=ACM_NS),
            }),
        }),
        "rule-list": Node(many=True, key="name", children={
            "name": _leaf(mandatory=True),
            "group": _leaf(many=True),
            "rule": Node(many=True, key="name", children={
                "name": _leaf(mandatory=True),
                "module-name": _leaf(),
                "rpc-name": _leaf(),
                "notification-name": _leaf(),
                "path": _leaf(),
                "access-operations": _leaf("access-operations"),
                "action": _leaf(_ACTION, mandatory=True),
                "comment": _leaf(),
                **_ACM_COMMON,
            }),
            "cmdrule": Node(ns=ACM_NS, many=True, key="name", children={
                "name": _leaf(mandatory=True),
                "command": _leaf(),
                "access-operations": _leaf("access-operations"),
                "action": _leaf(_ACTION, mandatory=True),
                "comment": _leaf(),
                "context": _leaf(),
                "log-if-permit": _leaf("empty"),
                "log-if-deny": _leaf("empty"),
            }),
        }),
    }),
})

_INT32 = re.compile(r"[+-]?[0-9]{1,10}")
_CRYPT = re.compile(r"\$[0-9a-z]+\$.*", re.DOTALL)  # $<id>$... (crypt-hash; $0$ = clear text)
_OPERATIONS = ("create", "read", "update", "delete", "exec")


def _type_problem(typ: str, value: str) -> str | None:
    if typ == "string":
        return None
    if typ == "int32":
        if _INT32.fullmatch(value) and -(2**31) <= int(value) <= 2**31 - 1:
            return None
        return f"{value!r} is not an int32"
    if typ == "boolean":
        return None if value in ("true", "false") else f"{value!r} is not a boolean"
    if typ == "empty":
        return None if value == "" else "an empty leaf has no value"
    if typ == "crypt-hash":
        if not _CRYPT.fullmatch(value):
            return "not a crypt-hash value ($<id>$...)"
        if value.startswith("$0$"):
            return "a clear-text password ($0$); nso-install never writes credentials"
        return None
    if typ == "access-operations":
        words = value.split()
        if value.strip() == "*" or (words and all(w in _OPERATIONS for w in words) and len(set(words)) == len(words)):
            return None
        return f"{value!r} is not '*' or a set of {', '.join(_OPERATIONS)}"
    choices = [c.strip() for c in typ.split("|")]
    return None if value in choices else f"{value!r} is not one of {', '.join(choices)}"


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def _parse(text: str) -> tuple[ET.Element | None, str | None]:
    if re.search(r"<!DOCTYPE|<!ENTITY", text, re.IGNORECASE):
        return None, "aaa_init.xml must not contain a DOCTYPE or ENTITY declaration"
    try:
        return ET.fromstring(text), None
    except ET.ParseError as exc:
        return None, f"not well-formed XML: {exc}"


def validate_aaa_init(text: str) -> list[str]:
    """Problems of an aaa_init.xml text against :data:`SCHEMA` (empty: valid)."""
    root, problem = _parse(text)
    if root is None:
        return [problem]
    ns, name = _split(root.tag)
    if name != "config" or ns != CONFIG_NS:
        return [f"root element is {root.tag!r}, expected <config> in {CONFIG_NS!r}"]
    problems: list[str] = []

    def walk(elem: ET.Element, node: Node, path: str, ns: str) -> None:
        seen: dict[str, int] = {}
        keys: dict[str, set[str]] = {}
        for child in elem:
            if not isinstance(child.tag, str):
                continue  # comments
            cns, cname = _split(child.tag)
            cpath = f"{path}/{cname}"
            spec = node.children.get(cname)
            if spec is None:
                problems.append(f"{cpath}: unknown element")
                continue
            want = spec.ns or ns
            if cns != want:
                problems.append(f"{cpath}: in namespace {cns or '(none)'!r}, expected {want!r}")
                continue
            seen[cname] = seen.get(cname, 0) + 1
            if seen[cname] == 2 and not spec.many:
                problems.append(f"{cpath}: appears more than once")
            if spec.type:
                if len(child):
                    problems.append(f"{cpath}: is a leaf but has child elements")
                    continue
                reason = _type_problem(spec.type, (child.text or "").strip() if spec.type != "string"
                                       else child.text or "")
                if reason:
                    problems.append(f"{cpath}: {reason}")
                continue
            if (child.text or "").strip():
                problems.append(f"{cpath}: is a container but has text")
            walk(child, spec, cpath, want)
            if spec.key:
                key = child.find(f"{{{want}}}{spec.key}")
                value = (key.text or "") if key is not None else None
                if value is not None and value in keys.setdefault(cname, set()):
                    problems.append(f"{cpath}: two entries with the key {spec.key} {value!r}")
                keys[cname].add(value)
        for cname, spec in node.children.items():
            if spec.mandatory and not seen.get(cname):
                problems.append(f"{path}/{cname}: mandatory element missing")

    walk(root, SCHEMA, "", CONFIG_NS)
    uids: dict[str, str] = {}
    for name, (uid, _, _) in (aaa_users(text) or {}).items():
        if uid in uids:
            problems.append(f"/aaa/authentication/users/user: {uids[uid]} and {name} share uid {uid} (NSO finds an "
                            "IPC client's entry by its uid)")
        uids.setdefault(uid, name)
    return problems


def aaa_users(text: str) -> dict[str, tuple[int, int, bool]] | None:
    """``{name: (uid, gid, local_ipc_access)}`` of the users in an aaa_init.xml text; None when
    the text is not usable XML (entries with a missing or non-numeric uid/gid are skipped)."""
    root, _ = _parse(text)
    if root is None:
        return None
    users = {}
    for user in root.iterfind(f"./{{{AAA_NS}}}aaa/{{{AAA_NS}}}authentication/{{{AAA_NS}}}users/{{{AAA_NS}}}user"):
        def leaf(name: str) -> str:
            e = user.find(f"{{{AAA_NS}}}{name}")
            return (e.text or "").strip() if e is not None else ""
        if _INT32.fullmatch(leaf("uid")) and _INT32.fullmatch(leaf("gid")):
            users[leaf("name")] = (int(leaf("uid")), int(leaf("gid")), leaf("local_ipc_access") == "true")
    return users


def render_aaa_init(grants: Sequence) -> bytes:
    """aaa_init.xml with an IPC user entry for each grant (``name``, ``uid``, ``gid``, ``home``),
    checked by :func:`validate_aaa_init`; raises ``invalid-aaa-init`` otherwise."""
    text = render_text(TEMPLATE, grants=list(grants), password=UNUSABLE_PASSWORD)
    problems = validate_aaa_init(text)
    if problems:
        raise NsoInstallError("invalid-aaa-init", "the aaa_init.xml for this install is not valid:\n  "
                              + "\n  ".join(problems),
                              "Check the accounts granted IPC access (--ipc-user, --ipc-group); if they are fine, "
                              "this is a bug in nso-install's templates.")
    return text.encode()
