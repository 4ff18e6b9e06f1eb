"""Shared helpers for the tests (on sys.path through pytest's ``pythonpath = tests``).

* :func:`cli`, :func:`install_json` -- run ``nso-install ARGS`` in-process, as a user would;
* :func:`snapshot`, :func:`all_bytes` -- a tree's paths, types, modes, owners, sizes, mtimes
  and contents, for byte-identical comparisons and leak searches;
* :func:`staged_root`, :func:`run_plan`, :func:`check_plan`, :func:`ctx_for` -- apply or check a
  hand-made plan against a staging root (the action tests);
* :class:`FakeDist` -- a tiny distribution with the privileged helpers, for plan tests;
* :func:`spec`, :func:`view` -- an InstallSpec / TargetView in one call (pure planning tests);
* :func:`conf_elements`, :func:`conf_value` -- elements of an ncs.conf text by ncs.conf(5) path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from nso_install.actions.base import Attrs, Context
from nso_install.cli import main
from nso_install.conf import NAMESPACE
from nso_install.engine import apply, evaluate
from nso_install.plan import TargetView
from nso_install.run import record_effects
from nso_install.spec import InstallSpec, SpecInput, resolve
from nso_install.state import State
from nso_install.target import Target

ME = Attrs(0o644, None, None)  # owner left alone: whoever runs the tests
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"


# --- the command line ----------------------------------------------------------------------

NOBODY = 65534


@contextmanager
def as_nobody():
    """This process with the effective ids of nobody, for the block (root switches back): the
    permission checks another account meets, in-process (modules already imported as root)."""
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@contextmanager
def public_tmp_dir():
    """A fresh directory nobody can reach (pytest's own are root's 0700), removed after."""
    d = tempfile.mkdtemp(prefix="nso-public-")
    os.chmod(d, 0o755)
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d)


def forget_template_cache() -> None:
    """Forget which template cache directory this process's runs used (and what they rendered):
    after a test whose run kept it somewhere that is removed with the test (a local install's
    own, as another account), later renders in this process must not write there."""
    from nso_install import templates

    templates._BYTECODE_CACHE = None
    templates._memo = None
    templates._memo_used.clear()
    templates._memo_missed = False
    templates.environment.cache_clear()


def cli(*args, ok=True):
    """Invoke ``nso-install ARGS``; with ok=True the command must succeed."""
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output + r.stderr
    return r


def off_3des(root: Path, config_dir: str = "etc/ncs") -> Path:
    """What an operator does on NSO 6.4 before switching to 6.5 (Cryptographic Keys, "Migrating
    3DES Encrypted Values"): the DES3CBC_KEY lines deleted from the keys file, which NSO 6.5
    refuses with them (and a switch to it is refused). ``root``, staged (or "/"); returned."""
    keys = Path(root) / config_dir / "ncs.crypto_keys"
    keys.write_bytes(b"".join(line for line in keys.read_bytes().splitlines(True)
                              if not line.startswith(b"DES3CBC_KEY")))
    return Path(root)


def install_json(dist, root, *extra) -> dict:
    """``nso-install install DIST --root ROOT --json EXTRA...`` (which must succeed), parsed."""
    return json.loads(cli("install", dist, "--root", root, "--json", *extra).stdout)


# --- trees ---------------------------------------------------------------------------------

def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every entry under ``root`` (relative paths starting with one of ``skip`` left out)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if rel.startswith(skip) if skip else False:
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                extra = None
            snap[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                         st.st_size if not stat.S_ISDIR(st.st_mode) else None, st.st_mtime_ns, extra)
    st = os.lstat(root)
    snap["."] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, st.st_mtime_ns, None)
    return snap


def extract_all(tf, dest) -> None:
    """A tarfile the suite made itself, unpacked at DEST: with the "tar" filter where this Python
    has extraction filters (3.11.4 on; Debian 12's 3.11.2 has none, and the call failed there)."""
    if hasattr(tf, "extraction_filter"):
        tf.extractall(dest, filter="tar")
    else:
        tf.extractall(dest)


def all_bytes(root: Path) -> bytes:
    """Every regular file's content under root, concatenated (for leak searches)."""
    out = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                out.append(p.read_bytes())
    return b"\n".join(out)


# --- hand-made plans -----------------------------------------------------------------------

def host_accounts_root(root: Path) -> Path:
    """A private staging root (0700: with --run-as-user it must be) holding copies of this
    host's account files, so accounts are created as on the host without touching it."""
    (root / "etc").mkdir(parents=True)
    os.chmod(root, 0o700)
    for f in ("passwd", "group", "shadow", "gshadow"):
        if os.path.exists(f"/etc/{f}"):
            shutil.copy(f"/etc/{f}", root / "etc" / f)
    return root


def vendor_tree(root: Path, dist) -> Path:
    """``root``/opt/ncs as NSO's own installer leaves it (ncs-VSN and ``current``), from the
    suite's tarball ``dist`` of NSO 6.5.3; returned."""
    import tarfile

    opt = root / "opt/ncs"
    opt.mkdir(parents=True)
    with tarfile.open(dist) as tf:
        extract_all(tf, opt)
    (opt / "nso-6.5.3").rename(opt / "ncs-6.5.3")
    (opt / "current").symlink_to("ncs-6.5.3")
    return opt


def staged_root(tmp_path: Path, passwd: str = PASSWD, group: str = GROUP) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # with --run-as-user a staging root must be private
    (root / "etc/passwd").write_text(passwd)
    (root / "etc/group").write_text(group)
    return root


class PlanRun:
    """A staging root with its state file, to check and apply plans against repeatedly."""

    def __init__(self, root: Path, state_path: str | None = "/state/state.json", force_conf: bool = False):
        self.target = Target.at(root)
        self.state = State(self.target, state_path)
        self.force_conf = force_conf

    def ctx(self) -> Context:
        return Context(self.target, self.state.conffiles, trusted=self.state.unpacked, manifest=self.state.manifest,
                       force_conf=self.force_conf)

    def check(self, plan):
        return evaluate(plan, self.ctx())

    def apply(self, plan):
        report = apply(plan, self.ctx(), lambda effects: record_effects(self.state, effects))
        self.state.save()
        return report


def unpacked_by_us(root: Path, vdir: str, rels: list[str] | None = None) -> PlanRun:
    """A PlanRun whose state says nso-install unpacked the hand-made tree ``vdir`` (the sha256
    of ``rels``, or of every privileged candidate in it): privileges may then be granted there."""
    from nso_install.actions.privileges import PATTERNS
    from nso_install.manifest import take

    run = PlanRun(root)
    tree = run.target.host(vdir)
    digests = ({rel: hashlib.sha256((tree / rel).read_bytes()).hexdigest() for rel in rels} if rels
               else take(tree, vdir, "").digests(PATTERNS))
    run.state.unpacked[vdir] = digests
    return run


def ctx_for(root: Path, force_conf: bool = False) -> Context:
    return PlanRun(root, force_conf=force_conf).ctx()


def run_plan(plan, root: Path, force_conf: bool = False):
    return PlanRun(root, force_conf=force_conf).apply(plan)


def check_plan(plan, root: Path):
    return PlanRun(root).check(plan)


# --- specs and distributions for planning --------------------------------------------------

def spec(**kw) -> InstallSpec:
    """An InstallSpec resolved and validated like the command line's (kind "system" unless
    ``local_dir`` is given); ncs.conf values as ``values={"a.b": v}``."""
    values = kw.pop("values", {})
    local = kw.pop("local_dir", None)
    run = {k: kw.pop(k) for k in ("activate", "secrets", "force_conf", "crypto_keys") if k in kw}
    given = SpecInput(kind="local" if local else "system", local_dir=local, options=kw,
                      sets=[f"{k}={'' if v is None else str(v).lower() if isinstance(v, bool) else v}"
                            for k, v in values.items()], **run)
    return resolve(given).spec


def view(**kw) -> TargetView:
    """A TargetView; each of ``trees`` holds the privileged binaries FakeDist unpacks for its
    version (as the run finds them) unless ``privileged`` says otherwise."""
    from nso_install.actions.privileges import PATTERNS, matches

    kw.setdefault("privileged", tuple((path, tuple(sorted(h for h in FakeDist(v).helpers()
                                                          if any(matches(h, p) for p in PATTERNS))))
                                      for path, v in kw.get("trees", ())))
    return TargetView(**kw)


class FakeDist:
    """A distribution with the privileged helpers at the paths of its version, as stub files."""

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

    def fips_files(self) -> list[str]:
        """What a FIPS install switches between (facts 18): present, never privileged."""
        new = not self.version.startswith(("6.5", "6.4", "6.3", "6.2", "6.1", "6.0", "5."))
        crypto = "lib/ncs/lib/crypto-5.5/priv/lib" if new else "lib/ncs/lib/core/crypto/priv/lib"
        return [f"{crypto}/crypto.so", f"{crypto}/fips/crypto.so", "lib/ncs/openssl/openssl.cnf",
                "lib/ncs/openssl/ossl-modules/fips.so"]

    def validate(self) -> None:
        pass

    def extract(self, dest, uid=None, gid=None, progress=None, digests=None, started=None) -> None:
        dest = Path(dest)
        if started is not None:
            started()
        (dest / "VERSION").write_text(self.version + "\n")
        for rel in self.helpers() + self.fips_files():
            p = dest / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("#!/bin/sh\necho fake\n")
            os.chmod(p, 0o755)
        (dest / "etc/ncs").mkdir(parents=True, exist_ok=True)
        if uid is not None and os.geteuid() == 0:
            for d, dirs, files in os.walk(dest):
                for n in dirs + files:
                    os.lchown(os.path.join(d, n), uid, gid)


# --- ncs.conf --------------------------------------------------------------------------------

def conf_elements(text: str | bytes, path: str) -> list[ET.Element]:
    """Elements at an ncs.conf(5) path such as /ncs-config/cli/ssh/enabled."""
    root = ET.fromstring(text)
    parts = path.strip("/").split("/")
    assert parts[0] == "ncs-config"
    return root.findall("/".join("{%s}%s" % (NAMESPACE, p) for p in parts[1:])) if len(parts) > 1 else [root]


def conf_value(text: str | bytes, path: str) -> str | None:
    """The text of the one element at ``path`` (None when absent or empty)."""
    found = conf_elements(text, path)
    assert len(found) <= 1, path
    return found[0].text.strip() if found and found[0].text else None
