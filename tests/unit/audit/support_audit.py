"""Helpers of the audit tests: run the audit, edit ncs.conf and friends in place."""

from __future__ import annotations

import datetime
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from nso_install.audit import audit
from nso_install.audit.model import ERROR, FAIL
from nso_install.conf import NAMESPACE

ET.register_namespace("", NAMESPACE)


def failing(root: Path, **kw) -> set[str]:
    """IDs of the checks that fail (or cannot run).  ``cheap`` as install's own audit: the unit's
    exposure is computed only when the unit is not nso-install's own rendering."""
    report = audit(root, cheap=kw.pop("cheap", True), **kw)
    return {f.check.id for f in report.findings if f.status in (FAIL, ERROR)}


def findings(root: Path, **kw) -> dict:
    return {f.check.id: f for f in audit(root, **kw).findings}


def rewrite(path: Path, data: bytes) -> None:
    """New content, same inode, owner and mode."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def set_conf(root: Path, element: str, value: str | None, conf: str = "etc/ncs/ncs.conf") -> None:
    """Set (or with None remove) one element of the staged ncs.conf, creating parents."""
    path = root / conf
    tree = ET.parse(path)
    node = tree.getroot()
    parts = element.strip("/").split("/")[1:]
    for i, part in enumerate(parts):
        child = node.find(f"{{{NAMESPACE}}}{part}")
        if child is None:
            if value is None:
                return
            child = ET.SubElement(node, f"{{{NAMESPACE}}}{part}")
        if i == len(parts) - 1:
            if value is None:
                node.remove(child)
            else:
                child.text = value
        node = child
    text = ET.tostring(tree.getroot(), encoding="unicode")
    rewrite(path, text.encode())


def chmod(root: Path, rel: str, mode: int) -> None:
    os.chmod(root / rel, mode)


TODAY = datetime.date(2030, 1, 15)


def copy_tree(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-a", "--preserve=all", str(src), str(dst)], check=True)
