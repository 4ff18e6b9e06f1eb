"""Fakes for the security unit tests: a tiny NSO distribution with the privileged helpers, a
staged root with account files, and a stand-in for ncs.conf rendering when conf.py is absent."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

from nso_install.engine import Env, State, apply, evaluate
from nso_install.target import Target

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"


def ensure_conf_module() -> None:
    """Use the real nso_install.conf when it exists; else a minimal stand-in (tests of this
    module are about owners, modes and secrets, not ncs.conf)."""
    try:
        import nso_install.conf  # noqa: F401
    except ImportError:
        mod = types.ModuleType("nso_install.conf")

        class ConfContext:
            def __init__(self, **kw):
                self.__dict__.update(kw)

        mod.ConfContext = ConfContext
        mod.render_ncs_conf = lambda ctx, values: "<ncs-config/>\n"
        sys.modules["nso_install.conf"] = mod


class FakeDist:
    kind = "directory"

    def __init__(self, version: str = "6.5.3"):
        self.version = version
        self.source = Path(f"/fake/nso-{version}")

    def helpers(self) -> list[str]:
        new = not self.version.startswith(("6.5", "6.4", "6.3", "6.2", "6.1", "6.0", "5."))
        pam = "lib/ncs/lib/pam-1.0.1/priv" if new else "lib/ncs/lib/core/pam/priv"
        confd = "lib/ncs/lib/confd-8.3/priv" if new else "lib/ncs/lib/core/confd/priv"
        return ["bin/ncs", "bin/ncs-setup", "lib/ncs/erts/bin/ncs", "lib/ncs/erts/bin/ncs.smp", "lib/ncs/bin/ip",
                "lib/ncs/bin/arping", f"{pam}/epam", f"{confd}/cmdwrapper", f"{confd}/cmdptywrapper"]

    def validate(self) -> None:
        pass

    def extract(self, dest, uid=None, gid=None, progress=None) -> None:
        dest = Path(dest)
        (dest / "VERSION").write_text(self.version + "\n")
        for rel in self.helpers():
            p = dest / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("#!/bin/sh\necho fake\n")
            os.chmod(p, 0o755)
        (dest / "etc/ncs").mkdir(parents=True, exist_ok=True)
        if uid is not None and os.geteuid() == 0:
            for d, dirs, files in os.walk(dest):
                for n in dirs + files:
                    os.lchown(os.path.join(d, n), uid, gid)


def staged_root(tmp_path: Path, passwd: str = PASSWD, group: str = GROUP) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(passwd)
    (root / "etc/group").write_text(group)
    return root


def env_for(root: Path, opts=None) -> Env:
    target = Target.at(root)
    return Env(target, State(target, opts.state_path if opts else None))


def run_plan(plan, root: Path, opts=None):
    return apply(plan, env_for(root, opts))


def check_plan(plan, root: Path, opts=None):
    return evaluate(plan, env_for(root, opts))
