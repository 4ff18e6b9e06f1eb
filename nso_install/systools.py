"""The host's own tools (useradd, usermod, groupadd, ssh-keygen, systemctl), run through plumbum.

They run as root, so the system directories are searched before $PATH: a writable
directory early in root's PATH must not be able to substitute ``useradd``.
"""

from __future__ import annotations

import os

SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def system_tool(name: str):
    """A plumbum command for ``name`` (system directories first, then $PATH), or None."""
    from plumbum import local
    from plumbum.commands.processes import CommandNotFound

    for d in SYSTEM_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return local[p]
    try:
        return local[name]
    except CommandNotFound:
        return None
