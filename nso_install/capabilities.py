"""File capabilities: libcap's text form (``cap_net_raw=ep``) and the kernel's
``security.capability`` attribute (``struct vfs_cap_data``, linux/capability.h).

Reading the attribute directly (instead of running ``getcap`` on a path) gives the answer
for exactly the inode nso-install looked at, costs no process, and needs no libcap on the
host; they are set the same way, through the file's descriptor
(:mod:`nso_install.actions.privileges`).
"""

from __future__ import annotations

import re
import struct

from .errors import ApplyError

# Index = capability number (linux/capability.h, up to 6.x kernels).
NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
)
_REV_MASK, _EFFECTIVE = 0xFF000000, 0x000001
_REV1, _REV2, _REV3 = 0x01000000, 0x02000000, 0x03000000

Caps = dict[str, frozenset[str]]
XATTR = "security.capability"


def _name(bit: int) -> str:
    return f"cap_{NAMES[bit]}" if bit < len(NAMES) else f"cap_{bit}"


def decode(raw: bytes, shown: str = "") -> Caps:
    """``security.capability`` bytes -> {cap: flags}; {} for no attribute.

    Capabilities written from inside a user namespace (revision 3 with a non-zero root id)
    only apply there; they show as an extra ``rootid=N`` entry, so they never compare equal
    to what nso-install wants and get rewritten."""
    if not raw:
        return {}
    n = len(raw) // 4
    words = struct.unpack(f"<{n}I", raw[:n * 4])
    rev = words[0] & _REV_MASK if words else 0  # shorter than one word: unknown, not a crash
    if rev == _REV1 and n >= 3:
        permitted, inheritable = words[1], words[2]
    elif rev in (_REV2, _REV3) and n >= 5:
        permitted, inheritable = words[1] | words[3] << 32, words[2] | words[4] << 32
    else:
        raise ApplyError("unreadable-capabilities", f"{shown}: its security.capability attribute has an unknown "
                         f"format (revision {rev >> 24:#x}).",
                         f"Inspect it with getcap {shown}; remove it with setcap -r and re-run.")
    effective = bool(words[0] & _EFFECTIVE)
    caps: dict[str, set[str]] = {}
    for bit in range(64):
        for mask, flag in ((permitted, "p"), (inheritable, "i")):
            if mask >> bit & 1:
                caps.setdefault(_name(bit), set()).update(flag + ("e" if effective else ""))
    if rev == _REV3 and n >= 6 and words[5]:
        caps[f"rootid={words[5]}"] = set("?")
    return {k: frozenset(v) for k, v in caps.items()}


def encode(caps: Caps) -> bytes:
    """{cap: flags} -> ``security.capability`` bytes (revision 2, as setcap writes outside namespaces)."""
    permitted = inheritable = 0
    effective = False
    for name, flags in caps.items():
        bit = NAMES.index(name.removeprefix("cap_"))
        permitted |= ("p" in flags) << bit
        inheritable |= ("i" in flags) << bit
        effective |= "e" in flags
    return struct.pack("<5I", _REV2 | effective, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                       permitted >> 32, inheritable >> 32)


_CLAUSE = re.compile(r"^([a-z0-9_,]*)((?:[=+-][eip]*)+)$")
_OP = re.compile(r"([=+-])([eip]*)")


def parse_text(text: str) -> Caps:
    """libcap's textual capabilities (``cap_a,cap_b=ep cap_c+i``) -> {cap: flags}; empty flags dropped.

    An empty capability list or ``all`` stands for every capability and is kept as ``"all"``."""
    caps: dict[str, set[str]] = {}
    for clause in text.split():
        m = _CLAUSE.match(clause.lower())
        if not m:
            raise ValueError(f"not a capability clause: {clause!r}")
        names = [n for n in m.group(1).split(",") if n] or ["all"]
        for op, flags in _OP.findall(m.group(2)):
            for n in names:
                cur = caps.setdefault(n, set(caps.get("all", ())))
                if op == "=":
                    cur.clear()
                    cur.update(flags)
                elif op == "+":
                    cur.update(flags)
                else:
                    cur.difference_update(flags)
    return {n: frozenset(f) for n, f in caps.items() if f}


def format_caps(caps: Caps) -> str:
    if not caps:
        return "(none)"
    return " ".join(f"{n}={''.join(sorted(f))}" for n, f in sorted(caps.items()))
