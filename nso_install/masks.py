"""An administrator's mask: a link to /dev/null that switches a systemd file off.

``systemctl mask ncs`` makes ``/etc/systemd/system/ncs.service`` one; a link
``/etc/tmpfiles.d/NAME.conf -> /dev/null`` is tmpfiles.d(5)'s documented way to mask an
entry.  Neither is a link for nso-install to follow or replace, nor one of its files to
remove: undoing the mask is the administrator's decision, so it is named as a mask.
"""

from __future__ import annotations

from .errors import UnsafePathError, aim_systemctl, sh

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


def mask_refusal(path: str, link: str | None, shown: str | None = None,
                 root: str | None = None) -> UnsafePathError | None:
    """The refusal to write a file that is masked (``path``: its target path), said as such; None
    when it is no mask (then the generic refusal of a link applies).  ``root``: the staging root,
    which the commands of the hint must aim at (a bare ``systemctl unmask`` or ``rm`` of the target
    path would undo the host's own mask)."""
    unit = masked_unit(path, link)
    staged = root is not None and root.rstrip("/") != ""
    if unit is not None:
        unmask = aim_systemctl(f"systemctl unmask {unit}", root)
        return UnsafePathError(
            "unit-masked", f"{shown or path} is masked (a link to /dev/null, as systemctl mask {unit} makes "
            "it): the systemd unit cannot be written without undoing the mask, which nso-install leaves to you.",
            f"Run {unmask} and re-run to install the unit; or keep it masked and install without "
            "it: --init-system none (no service), or --init-system sysv (the SysV script).")
    if masked_tmpfiles(path, link):
        # (--init-system none does not help: the socket directory is needed whatever starts NSO)
        return UnsafePathError(
            "tmpfiles-masked", f"{shown or path} is masked (a link to /dev/null, tmpfiles.d's way to switch an "
            "entry off): nso-install's entry, which re-creates NSO's IPC socket directory /run/ncs at every boot, "
            "cannot be written without undoing the mask, which nso-install leaves to you.",
            f"Remove the mask (rm {sh(root.rstrip('/') + path) if staged else sh(path)}) and re-run; or keep it masked and let nso-install manage no socket "
            "directory: --set ipc.path=PATH (a directory you create at boot), or --set ipc.transport=tcp. "
            "--init-system none does not avoid the entry.")
    return None
