"""An administrator's mask: a link to /dev/null that switches a systemd file off.

``systemctl mask ncs`` makes ``/etc/systemd/system/ncs.service`` one; a link
``/etc/tmpfiles.d/NAME.conf -> /dev/null`` is tmpfiles.d(5)'s documented way to mask an
entry.  Neither is a link for nso-install to follow or replace, nor one of its files to
remove: undoing the mask is the administrator's decision, so it is named as a mask.
"""

from __future__ import annotations

UNIT_DIR = "/etc/systemd/system"
TMPFILES_DIR = "/etc/tmpfiles.d"


def masked_unit(path: str, link: str | None) -> str | None:
    """The unit's name when ``path`` (a target path) is a masked systemd unit, else None."""
    head, _, name = path.rpartition("/")
    if link == "/dev/null" and head == UNIT_DIR and name.endswith(".service"):
        return name.removesuffix(".service")
    return None


def masked_tmpfiles(path: str, link: str | None) -> bool:
    head, _, name = path.rpartition("/")
    return link == "/dev/null" and head == TMPFILES_DIR and name.endswith(".conf")


def is_mask(path: str, link: str | None) -> bool:
    return masked_unit(path, link) is not None or masked_tmpfiles(path, link)

