#!/usr/bin/env python3
"""Mutation testing of nso-install's security and correctness guards against the unit suite.

Each mutant is one exact text substitution in one file: (id, file, original snippet,
replacement, what it breaks, category).  Mutants are applied one at a time to a *private
copy* of the repository (never to the checkout this tool lives in), the unit tests are run
there, and the file is restored byte for byte (and its mtime) before the next mutant.

A mutant is *killed* when the tests fail (or time out), *survived* when they pass.  To save
time the tests of the mutated domain (``tests/unit/<domain>``) run first; a mutant that
survives them is run against the whole unit suite before it is called a survivor.

Usage (the copy must be a clean checkout of the commit the snippets were written for)::

    git worktree add /tmp/mut HEAD          # or: cp -a . /tmp/mut
    python tools/mutate.py --copy /tmp/mut                 # every mutant, then the table
    python tools/mutate.py --copy /tmp/mut fs-01 keys-03   # just these
    python tools/mutate.py --list                          # the mutants, nothing run
    python tools/mutate.py --copy /tmp/mut --verify        # every snippet found exactly once?

Before the first mutant it checks that the copy's ``nso_install`` is the one the tests import
(pytest runs in the copy, whose directory Python puts first on sys.path, ahead of an editable
install elsewhere; PYTHONPATH is not used: nso-install refuses to run as root with it), that
the unmutated suite passes, and that a mutant breaking the import is killed (the canary).
``--without-campaign-tests`` leaves out the tests the campaign added (the "before" figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # the checkout this tool belongs to

# Tests of each domain (the subset run first), by mutated file; anything else: the whole suite.
DOMAINS = {
    "nso_install/fsops.py": ["tests/unit/fs"],
    "nso_install/target.py": ["tests/unit/fs"],
    "nso_install/state.py": ["tests/unit/engine"],
    "nso_install/engine.py": ["tests/unit/engine"],
    "nso_install/facts.py": ["tests/unit/actions"],
    "nso_install/secret.py": ["tests/unit/actions", "tests/unit/install/test_secrets_install.py"],
    "nso_install/actions/files.py": ["tests/unit/actions", "tests/unit/install/test_conffiles.py"],
    "nso_install/actions/": ["tests/unit/actions"],
    "nso_install/distribution/": ["tests/unit/distribution"],
    "nso_install/conf/": ["tests/unit/conf"],
    "nso_install/spec.py": ["tests/unit/spec"],
    "nso_install/plan.py": ["tests/unit/plan"],
    "nso_install/cli/": ["tests/unit/install/test_output_safety.py"],
    "nso_install/manifest.py": ["tests/unit/install"],
    "nso_install/inputs.py": ["tests/unit/install/test_operator_inputs.py", "tests/unit/conf"],
    "nso_install/run.py": ["tests/unit/install"],
    "templates/": ["tests/unit/install"],
}
FULL = ["tests/unit"]
TIMEOUT = 900  # seconds for one pytest run; a hang is a kill (pytest-timeout also stops a test at 120 s)


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    what: str
    category: str

    @property
    def domain_tests(self) -> list[str]:
        for prefix, tests in DOMAINS.items():
            if self.file == prefix or (prefix.endswith("/") and self.file.startswith(prefix)):
                return tests
        return FULL


FS, TGT, ST, ENG, ACT, FILES, KEYS, PRIV, ACC = ("nso_install/fsops.py", "nso_install/target.py",
                                                 "nso_install/state.py", "nso_install/engine.py",
                                                 "nso_install/actions/base.py", "nso_install/actions/files.py",
                                                 "nso_install/actions/keys.py", "nso_install/actions/privileges.py",
                                                 "nso_install/actions/accounts.py")
CHK, TAR, WRT, SIG = ("nso_install/distribution/checks.py", "nso_install/distribution/tarstream.py",
                      "nso_install/distribution/writer.py", "nso_install/distribution/signature.py")
VAL, RND, SPEC, PLAN, RUN, SEC, FACTS = ("nso_install/conf/values.py", "nso_install/conf/render.py",
                                         "nso_install/spec.py", "nso_install/plan.py", "nso_install/run.py",
                                         "nso_install/secret.py", "nso_install/facts.py")
CLI, CLI_INSTALL, MAN, INP = ("nso_install/cli/common.py", "nso_install/cli/install.py", "nso_install/manifest.py",
                              "nso_install/inputs.py")
INITD = "templates/files/init.d.ncs.j2"
ENVF = "templates/files/_read_env_file.sh.j2"  # included by init.d.ncs.j2 and ncs-service-start.j2

# The tests this campaign added (each guard on its own); --without-campaign-tests leaves them out.
CAMPAIGN_TESTS = ("tests/unit/actions/test_handover.py", "tests/unit/actions/test_crypto_keys_format.py",
                  "tests/unit/actions/test_privilege_apply_guards.py", "tests/unit/conf/test_values_guards.py",
                  "tests/unit/distribution/test_member_check_layers.py", "tests/unit/engine/test_records_and_lock.py",
                  "tests/unit/fs/test_fsops_fd_guards.py", "tests/unit/fs/test_staging_root_rules.py",
                  "tests/unit/install/test_manifest_drift.py", "tests/unit/install/test_sysv_env_reader.py")

# Categories
LINKS, LOCK, MODES, OWNERS, SECRETS, TRUST, STAGE, ARCHIVE, LIMITS, VALUES, SPECR, CONFF, ENGINE_, OUTPUT, SCRIPT = (
    "symlinks", "lock", "modes", "owners", "secrets", "privilege trust", "staging root", "archive members",
    "resource limits", "values", "spec rules", "conffiles", "engine", "output escaping", "host scripts")

MUTANTS: list[Mutant] = [Mutant(*m) for m in [
    # --- fsops: fd-level walks and writes ----------------------------------------------------
    ("fs-01", FS, "_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC",
     "_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC",
     "parent_dir/open_trusted walk follows directory symlinks (O_NOFOLLOW dropped)", LINKS),
    ("fs-02", FS, "                if e.errno in (errno.ELOOP, errno.ENOTDIR):\n                    where =",
     "                if e.errno in (errno.ENOTDIR,):\n                    where =",
     "parent_dir: ELOOP (a directory swapped for a link) no longer reported as symlink-refused", LINKS),
    ("fs-03", FS, "os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)",
     "os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)",
     "atomic write: temp file created 0644 (readable before its final mode is set)", MODES),
    ("fs-04", FS, "os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)",
     "os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)",
     "atomic write: temp file opened without O_EXCL (a planted file/hard link is written into)", LINKS),
    ("fs-05", FS, "        os.fchmod(fd, mode)\n    except BaseException:", "        pass\n    except BaseException:",
     "atomic write: final mode never set (file stays 0600 / umask)", MODES),
    ("fs-06", FS, "        st = _refuse_link_at(host.name, dfd, shown)\n        if st is not None and not stat.S_ISREG",
     "        st = _lstat(host.name, dfd)\n        if st is not None and not stat.S_ISREG",
     "atomic_write: destination symlink check removed (only the not-a-file layer left)", LINKS),
    ("fs-07", FS, "            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno == errno.ELOOP:",
     "            fd = os.open(host.name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno == errno.ELOOP:",
     "open_regular follows a final symlink", LINKS),
    ("fs-08", FS, "            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno == errno.ELOOP:",
     "            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno == errno.ELOOP:",
     "open_regular without O_NONBLOCK (a FIFO hangs the run)", LINKS),
    ("fs-09", FS, "    if not stat.S_ISREG(st.st_mode):\n        raise UnsafePathError(\"not-a-file\", f\"{shown} is not a regular file (replaced",
     "    if False:\n        raise UnsafePathError(\"not-a-file\", f\"{shown} is not a regular file (replaced",
     "open_regular/replace_by_copy: type check on the descriptor removed", LINKS),
    ("fs-10", FS, "if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):",
     "if (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):",
     "open_trusted: ancestor owner check removed", TRUST),
    ("fs-11", FS, "if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):",
     "if st.st_uid != 0 or (st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX):",
     "open_trusted: group-writable ancestors accepted", TRUST),
    ("fs-12", FS, "if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):",
     "if st.st_uid != 0 or st.st_mode & 0o022:",
     "open_trusted: sticky ancestors (/tmp) no longer accepted", TRUST),
    ("fs-13", FS, "        if st.st_uid != 0:\n            raise UnsafePathError(\"untrusted-path\", f\"{shown} belongs to",
     "        if False:\n            raise UnsafePathError(\"untrusted-path\", f\"{shown} belongs to",
     "open_trusted: the file itself may belong to another account", TRUST),
    ("fs-14", FS, "(os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC) if last else _DIR_FLAGS",
     "(os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC) if last else _DIR_FLAGS",
     "open_trusted follows a final symlink", TRUST),
    ("fs-15", FS, "fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)",
     "fd = os.open(name, os.O_PATH | os.O_CLOEXEC, dir_fd=dfd)",
     "set_attrs: O_PATH handle follows a symlink (chmod/chown reach its target)", LINKS),
    ("fs-16", FS, "        if stat.S_ISLNK(st.st_mode):\n            raise UnsafePathError(\"symlink-refused\", f\"{shown} became",
     "        if False:\n            raise UnsafePathError(\"symlink-refused\", f\"{shown} became",
     "set_attrs: symlink check removed (only the not-a-file layer left)", LINKS),
    ("fs-17", FS, "    return ensure_dirs(host, 0o755, 0o700)", "    return ensure_dirs(host, 0o755, 0o755)",
     "ensure_private_dir: state directory 0755", MODES),
    ("fs-18", FS, "        os.mkdir(host.name, 0o700, dir_fd=dfd)  # private until owner and mode are final",
     "        os.mkdir(host.name, 0o755, dir_fd=dfd)  # private until owner and mode are final",
     "make_dir: new directory open (0755) before its owner and mode are set", MODES),
    ("fs-19", FS, "            fd = os.open(host.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno in (errno.EWOULDBLOCK",
     "            fd = os.open(host.name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)\n        except OSError as e:\n            if e.errno in (errno.EWOULDBLOCK",
     "replace_by_copy reads through a symlink (copies its target)", LINKS),
    ("fs-20", FS, "    if st.st_nlink > 1:", "    if False:",
     "files with several names (a hard link to /etc/shadow) read, copied and chowned", LINKS),
    # --- target: the root, links in it, staging roots ----------------------------------------
    ("tgt-01", TGT, "                if st.st_uid not in (0, os.geteuid()) or parent.st_uid not in (0, os.geteuid()):",
     "                if parent.st_uid not in (0, os.geteuid()):",
     "Target.host follows a parent link owned by another account", LINKS),
    ("tgt-10", TGT, "                if st.st_uid not in (0, os.geteuid()) or parent.st_uid not in (0, os.geteuid()):",
     "                if st.st_uid not in (0, os.geteuid()):",
     "Target.host follows a root-owned link in a directory another account owns (it could move one there)", LINKS),
    ("tgt-11", TGT, "        if st.st_uid not in me or parent.st_uid not in me or parent.st_mode & 0o022:",
     "        if st.st_uid not in me:",
     "a top-level directory link in a directory others own or can write is trusted", LINKS),
    ("tgt-02", TGT, "            if not current:\n                raise LinkEscape",
     "            if not current:\n                continue",
     "follow_links: '..' at the top is clamped instead of refused (links may leave the root/tree)", LINKS),
    ("tgt-03", TGT, "        if link.startswith(\"/\"):\n            current = []",
     "        if False:\n            current = []",
     "follow_links: absolute link targets resolved relative to the link", LINKS),
    ("tgt-04", TGT, "    if \"..\" in p.parts:", "    if False:", "normalize: '..' in target paths accepted", LINKS),
    ("tgt-05", TGT, "        if stat.S_ISLNK(st.st_mode):\n            raise UsageError(\"unsafe-staging-root\"",
     "        if False:\n            raise UsageError(\"unsafe-staging-root\"",
     "check_staging_root: symlink component check removed (only the not-a-directory layer left)", STAGE),
    ("tgt-06", TGT, "        if st.st_uid != 0:\n            raise UsageError(\"unsafe-staging-root\"",
     "        if False:\n            raise UsageError(\"unsafe-staging-root\"",
     "check_staging_root: components owned by other accounts accepted", STAGE),
    ("tgt-07", TGT, "        if st.st_mode & 0o022 and not sticky_above:",
     "        if st.st_mode & 0o002 and not sticky_above:",
     "check_staging_root: group-writable components accepted", STAGE),
    ("tgt-08", TGT, "        sticky_above = st.st_mode & stat.S_ISVTX and p != path",
     "        sticky_above = st.st_mode & stat.S_ISVTX",
     "check_staging_root: a sticky world-writable staging root itself accepted", STAGE),
    ("tgt-09", TGT, "_SHELL_SAFE = re.compile(r\"[A-Za-z0-9._+@,:=/-]+\")",
     "_SHELL_SAFE = re.compile(r\"[A-Za-z0-9._+@,:=/ $-]+\")",
     "shell-safe paths admit blanks and $", SPECR),
    # --- state, history, lock -----------------------------------------------------------------
    ("st-01", ST, "fsops.atomic_write(host, data, 0o600, None, None, self.path)",
     "fsops.atomic_write(host, data, 0o644, None, None, self.path)", "state.json written 0644", MODES),
    ("st-02", ST, "fsops.atomic_write(host, line, 0o600, None, None, shown)",
     "fsops.atomic_write(host, line, 0o644, None, None, shown)", "new history.jsonl written 0644", MODES),
    ("st-03", ST, "os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC",
     "os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC", "history appended through a planted symlink", LINKS),
    ("st-04", ST, "        if e.errno == errno.ELOOP:\n            raise UnsafePathError(\"symlink-refused\"",
     "        if False:\n            raise UnsafePathError(\"symlink-refused\"",
     "a link in place of the state/history reported as a full disk, not as a refused link", LINKS),
    ("st-05", ST, "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)",
     "run lock shared instead of exclusive", LOCK),
    ("st-06", ST, "if st.st_uid != os.geteuid() or st.st_mode & 0o077:", "if st.st_uid != os.geteuid():",
     "lock open to others (mode) accepted", LOCK),
    ("st-07", ST, "if st.st_uid != os.geteuid() or st.st_mode & 0o077:", "if st.st_mode & 0o077:",
     "lock owned by another account accepted", LOCK),
    ("st-08", ST, "os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,",
     "os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600,", "local lock file opened through a symlink", LOCK),
    ("st-09", ST, "os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,",
     "os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,", "local lock file created 0644", LOCK),
    ("st-10", ST, "                if not stat.S_ISREG(os.fstat(fd).st_mode):\n                    raise OSError(errno.EINVAL",
     "                if False:\n                    raise OSError(errno.EINVAL",
     "history appended to whatever file type stands there (device, FIFO)", LINKS),
    ("st-11", ST, "fsops.atomic_write(host, data, 0o600, None, None, shown)",
     "fsops.atomic_write(host, data, 0o644, None, None, shown)", "tree manifests written 0644", MODES),
    ("st-12", ST, "not hmac.compare_digest(seal, hmac.new(key, self._sealed(), \"sha256\").hexdigest())", "False",
     "a state whose seal does not verify is trusted (edited digests give privileges)", TRUST),
    ("st-13", ST, "            good = raw is not None and expected == hashlib.sha256(raw).hexdigest()",
     "            good = raw is not None", "a manifest whose digest is not the sealed one is trusted", TRUST),
    # --- manifests of unpacked trees ------------------------------------------------------------
    ("man-01", MAN, "        if want.mode != have.mode:", "        if False:",
     "a changed mode in an installed tree goes unnoticed", MODES),
    ("man-02", MAN, "        if (want.uid, want.gid) != (have.uid, have.gid):", "        if False:",
     "a changed owner in an installed tree goes unnoticed", OWNERS),
    ("man-03", MAN, "        if want.mtime_ns != have.mtime_ns and want.type == FILE:", "        if False:",
     "same-size content changes in an installed tree go unnoticed (stat level)", TRUST),
    ("man-04", MAN, "    if want.type == LINK and want.digest != have.digest:", "    if False:",
     "a retargeted link in an installed tree goes unnoticed", LINKS),
    # --- engine -------------------------------------------------------------------------------
    ("eng-01", ENG, "            if after.changed:\n                raise ApplyError(\"not-converged\"",
     "            if False:\n                raise ApplyError(\"not-converged\"",
     "post-apply convergence check removed", ENGINE_),
    ("eng-02", ENG, "            sink(effects)  # before the re-check", "            pass  # before the re-check",
     "effects (conffile digests, trees, memberships) never reach the state", ENGINE_),
    # --- base attributes and facts -------------------------------------------------------------
    ("base-01", ACT, "        if fact.mode != self.mode:", "        if (fact.mode or 0) & 0o777 != self.mode & 0o777:",
     "drift ignores setuid/setgid/sticky bits", MODES),
    ("base-02", ACT, "        elif self.owner and fact.uid != uid:", "        elif False:",
     "owner drift not detected", OWNERS),
    ("base-03", ACT, "        elif self.group and fact.gid != gid:", "        elif False:",
     "group drift not detected", OWNERS),
    ("base-04", ACT, "        if fact.kind == FILE and uid is not None and fact.uid not in (0, uid):",
     "        if False:", "a file leaving another account is chowned in place, not replaced by a copy", OWNERS),
    ("base-05", ACT, "    if fact.kind == LINK:\n        raise UnsafePathError(", "    if False:\n        raise UnsafePathError(",
     "refuse_link removed (only the wrong-kind layer left)", LINKS),
    ("facts-01", FACTS, "return PathFact(tpath, kind, stat.S_IMODE(m), st.st_uid",
     "return PathFact(tpath, kind, m & 0o777, st.st_uid", "facts drop setuid/setgid/sticky bits", MODES),
    # --- conffiles, reown ---------------------------------------------------------------------
    ("conf-01", FILES, "        if recorded == current or ctx.force_conf:",
     "        if recorded in (current, None) or ctx.force_conf:",
     "a conffile with nothing recorded counts as unedited (someone else's file overwritten)", CONFF),
    ("conf-02", FILES, "        mode = (fact.mode or 0) & self.attrs.mode\n",
     "        mode = self.attrs.mode\n", "kept conffile's mode loosened to ours", CONFF),
    ("conf-03", FILES, "            mode &= 0o640", "            mode &= 0o644",
     "kept conffile holding secrets stays world-readable", CONFF),
    ("conf-04", FILES, "        if fact.kind != FILE or fact.uid in (0, None) or uid is None or fact.uid == uid:\n            return None",
     "        if True:\n            return None", "foreign-owned edited conffile treated as an administrator's edit", CONFF),
    ("conf-05", FILES, "        if foreign and facts.sha256(self.path) not in (new, ctx.conffiles.get(self.path)):",
     "        if False:", "apply adopts a foreign-owned edited conffile (content kept, chowned to root)", CONFF),
    ("conf-06", FILES, "            if fact.kind == FILE and ctx.conffiles.get(self.path) != facts.sha256(self.path):\n                backup",
     "            if False:\n                backup", "--force-conf replaces an edited file without a backup", CONFF),
    ("conf-07", FILES, "            mode = stat.S_IMODE(st.st_mode) & 0o755  # nothing writable",
     "            mode = stat.S_IMODE(st.st_mode)  # nothing writable",
     "reown keeps setuid/setgid bits and group/other write across a change of hands", OWNERS),
    ("conf-08", FILES, "            elif kind == FILE and (st.st_uid == uid_old or st.st_mode & 0o022):\n                fsops.replace_by_copy(host, mode, owner, group, tpath)",
     "            elif kind == FILE and (st.st_uid == uid_old or st.st_mode & 0o022):\n                fsops.set_attrs(host, mode, owner, group, tpath)",
     "reown chowns files in place (old account keeps open descriptors)", OWNERS),
    ("conf-09", FILES, "            group = gid if st.st_gid == gid_old else st.st_gid", "            group = st.st_gid",
     "reown leaves the old account's group on its files", OWNERS),
    ("conf-10", FILES, "        new_ok = new_fact.kind == FILE and facts.sha256(self.new_path) == new",
     "        new_ok = new_fact.kind == FILE",
     "a stale PATH.new with other content counts as the current rendering", CONFF),
    # --- keys and secrets ---------------------------------------------------------------------
    ("keys-01", KEYS, "    if len(text) < 16:", "    if len(text) < 8:", "IPC secret of 8-15 characters accepted", SECRETS),
    ("keys-02", KEYS, "if not all(0x21 <= b <= 0x7E for b in text):", "if not all(0x01 <= b <= 0x7E for b in text):",
     "IPC secret with control characters/blanks accepted", SECRETS),
    ("keys-03", KEYS, "        if found[name] != digits:", "        if found[name] < digits:",
     "crypto keys longer than their digit count accepted", SECRETS),
    ("keys-04", KEYS, "        if gen and not rotation:", "        if False:",
     "key generations accepted without EXTERNAL_KEY_FORMAT=2", SECRETS),
    ("keys-05", KEYS, "        if name not in found:\n            return f\"{name} is missing\"",
     "        if name not in found:\n            continue", "a missing AES key accepted", SECRETS),
    ("keys-06", KEYS, "            os.mkdir(work, 0o700)", "            os.mkdir(work, 0o755)",
     "key-generation temporary directory 0755", MODES),
    ("keys-07", KEYS, "        if self.imported is not None and facts.sha256(self.path) != sha256_bytes(self.imported.reveal()):",
     "        if False:", "an existing different crypto_keys file silently kept when importing", SECRETS),
    ("keys-08", KEYS, "BasicConstraints(ca=False, path_length=None)", "BasicConstraints(ca=True, path_length=None)",
     "self-signed TLS certificate is a CA", SECRETS),
    ("keys-09", KEYS, "        pub = require_kind(refuse_link(facts.path(self.pub_path)), FILE)",
     "        pub = require_kind(facts.path(self.pub_path), FILE)",
     "KeyPair: symlink at the public part not refused as a link (only the wrong-kind layer left)", LINKS),
    ("keys-10", KEYS, "    return Secret(secrets.token_urlsafe(32) + \"\\n\")", "    return Secret(secrets.token_urlsafe(8) + \"\\n\")",
     "IPC secret generated with 64 bits instead of 256", SECRETS),
    ("keys-11", KEYS, "                warning = f\"{self.path}: {problem}; left as is",
     "                warning = None and f\"{self.path}: {problem}; left as is",
     "an invalid existing secret is not reported", SECRETS),
    # --- privileges ---------------------------------------------------------------------------
    ("priv-01", PRIV, "        if recorded is None:\n            raise UnsafePathError(\"unrecorded-tree\"",
     "        if False:\n            raise UnsafePathError(\"unrecorded-tree\"",
     "_check_trusted: unrecorded tree check removed (only the digest layer left)", TRUST),
    ("priv-02", PRIV, "        if digest != recorded:", "        if False:",
     "_check_trusted: a changed binary gets the privilege", TRUST),
    ("priv-03", PRIV, "fd = fsops.open_trusted(host, real) if self.granted else fsops.open_regular(host, real)",
     "fd = fsops.open_regular(host, real)", "privilege set without the trusted-path walk", TRUST),
    ("priv-04", PRIV, "            if self.granted:\n                self._check_trusted(ctx, real, fsops.fd_sha256(fd))",
     "            pass", "apply-time hash check on the descriptor removed (check-time only)", TRUST),
    ("priv-05", PRIV, "        if drift and self.granted:\n            self._check_trusted(ctx, real, facts.sha256(real))",
     "        pass", "check-time trust check removed (apply-time only)", TRUST),
    ("priv-06", PRIV, "SETUID_MODE = 0o4750", "SETUID_MODE = 0o4755", "setuid epam executable by everyone", MODES),
    ("priv-07", PRIV, "CAP_MODE = 0o750", "CAP_MODE = 0o755", "capability binaries executable by everyone", MODES),
    ("priv-08", PRIV, "            os.removexattr(fd, XATTR)", "            pass",
     "withdrawn capabilities are not removed", TRUST),
    ("priv-09", PRIV, "    wrappers = group is not None and setuid_cmdwrapper", "    wrappers = group is not None",
     "cmdwrapper setuid without --setuid-cmdwrapper", TRUST),
    ("priv-10", PRIV, "        return bool(self.attrs.mode & 0o6000 or self.caps)", "        return bool(self.caps)",
     "setuid helpers not treated as grants (no trust checks for epam)", TRUST),
    ("priv-11", PRIV, "        if len(hits) > 1:", "        if False:", "ambiguous helper globs pick the first match", TRUST),
    # --- accounts -----------------------------------------------------------------------------
    ("acc-01", ACC, "            if others:\n                raise UsageError(", "            if False:\n                raise UsageError(",
     "NSO account's group shared with other members accepted", OWNERS),
    ("acc-02", ACC, "        if u.uid == 0:", "        if False:", "existing run-as user with uid 0 accepted", OWNERS),
    ("acc-03", ACC, "        if u.gid == 0:", "        if False:", "existing run-as user with primary group root accepted",
     OWNERS),
    ("acc-04", ACC, "    if what == \"user\" and name in RESERVED_USERS:", "    if False:",
     "reserved names (ncsadmin, nobody) accepted as the run-as user", OWNERS),
    ("acc-05", ACC, "        if os.geteuid() == 0 and (not stat.S_ISDIR(st.st_mode) or st.st_uid != 0",
     "        if False and (not stat.S_ISDIR(st.st_mode) or st.st_uid != 0",
     "useradd --prefix into a staging root others can change (second layer)", STAGE),
    # --- distribution: per-member checks -------------------------------------------------------
    ("dist-01", CHK, "        if raw.startswith(\"/\"):", "        if False:", "absolute member names accepted", ARCHIVE),
    ("dist-02", CHK, "        if \"..\" in parts:", "        if False:", "'..' in member names accepted", ARCHIVE),
    ("dist-03", CHK, "            if target.startswith(\"/\"):", "            if False:",
     "symlink members to absolute paths accepted", ARCHIVE),
    ("dist-04", CHK, "            if not _lexically_inside(rel_parts[:-1], target):", "            if False:",
     "per-member check of symlinks leaving the tree removed (finish-time check left)", ARCHIVE),
    ("dist-05", CHK, "            why = _resolve_inside(link, self.links)", "            why = None",
     "finish-time resolution of links through other links removed", ARCHIVE),
    ("dist-06", CHK, "            if kind == \"symlink\":\n                raise self.hostile(m.name, f\"lies under the symbolic link",
     "            if False:\n                raise self.hostile(m.name, f\"lies under the symbolic link",
     "members under a symlink member accepted", ARCHIVE),
    ("dist-07", CHK, "            if kind in (\"file\", \"hardlink\"):", "            if False:",
     "members under a file member accepted", ARCHIVE),
    ("dist-08", CHK, "            if not lrel or self.kinds.get(\"/\".join(lrel)) not in (\"file\", \"hardlink\"):",
     "            if not lrel:", "hard links to anything (dirs, links, missing) accepted", ARCHIVE),
    ("dist-09", CHK, "            raise self.hostile(m.name, f\"is a {m.what or 'special file'}",
     "            return None and self.hostile(m.name, f\"is a {m.what or 'special file'}",
     "device nodes, FIFOs and unknown types accepted (skipped)", ARCHIVE),
    ("dist-10", CHK, "((stat.S_ISUID, \"setuid\"), (stat.S_ISGID, \"setgid\"), (stat.S_ISVTX, \"sticky\"))",
     "((stat.S_ISGID, \"setgid\"), (stat.S_ISVTX, \"sticky\"))", "setuid members accepted", ARCHIVE),
    ("dist-11", CHK, "        if m.sparse:", "        if False:", "GNU sparse members accepted", LIMITS),
    ("dist-12", CHK, "            if self.total > MAX_TOTAL_BYTES:", "            if False:",
     "total declared size unbounded", LIMITS),
    ("dist-13", CHK, "        if self.members > MAX_MEMBERS:", "        if False:", "member count unbounded", LIMITS),
    ("dist-14", CHK, "        if len(parts) > MAX_DEPTH:", "        if False:", "member depth unbounded", LIMITS),
    ("dist-15", CHK, "        if self.name_chars > MAX_NAME_CHARS:", "        if False:", "remembered names unbounded", LIMITS),
    ("dist-16", CHK, "        if rel in self.kinds:", "        if False:", "duplicate members accepted", ARCHIVE),
    ("dist-17", CHK, "        if parts[0] != self.top:", "        if False:", "members outside the top-level directory accepted",
     ARCHIVE),
    ("dist-18", CHK, "        if len(raw.encode(\"utf-8\", \"surrogateescape\")) > MAX_NAME:", "        if False:",
     "member names longer than PATH_MAX accepted", LIMITS),
    ("dist-19", CHK, "        if top and VERSION_RE.fullmatch(top[\"v\"]) and top[\"v\"] != self.version:",
     "        if False:", "top-level nso-VSN/ not cross-checked with VERSION", ARCHIVE),
    # --- distribution: tar stream, writer, signature ----------------------------------------------
    ("tar-01", TAR, "        if self._used > HEADER_BUDGET:", "        if False:", "header budget removed", LIMITS),
    ("tar-02", TAR, "        try:\n            guard.arm()\n            ti = tf.next()",
     "        try:\n            ti = tf.next()", "header budget not armed for members after the first", LIMITS),
    ("tar-03", TAR, "            data = self._f.read(min(n, self._left))", "            data = self._f.read(n)",
     "member data read past its declared size", LIMITS),
    ("tar-04", TAR, "            or any(str(k).startswith(\"GNU.sparse.\") for k in (ti.pax_headers or {})))",
     ")", "pax GNU.sparse.* headers tarfile ignores not treated as sparse", LIMITS),
    ("tar-05", TAR, "                if extra > MAX_TRAILER_BYTES:", "                if False:",
     "trailing data after the end-of-archive marker unbounded", LIMITS),
    ("wrt-01", WRT, "self._own(fd, (m.mode & 0o755) | 0o600)", "self._own(fd, m.mode | 0o600)",
     "extracted files keep group/world-write (and setuid) bits of the archive", MODES),
    ("wrt-02", WRT, "        if self.declared > free:", "        if False:", "writer free-space check removed", LIMITS),
    ("wrt-03", WRT, "        if inodes is not None and self.entries > inodes:", "        if False:",
     "writer free-inode check removed", LIMITS),
    ("wrt-04", WRT, "fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,",
     "fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,",
     "writer overwrites an existing entry (no O_EXCL)", ARCHIVE),
    ("wrt-05", WRT, "    if summary.total_bytes > space:", "    if False:",
     "up-front space check of a validated distribution removed (per-member check left)", LIMITS),
    ("sig-01", SIG, "    raise DistributionError(\"untrusted-signer\",", "    return DistributionError(\"untrusted-signer\",",
     "--trusted-cert: any signer accepted", TRUST),
    ("sig-02", SIG, "            continue\n    raise bad", "            continue\n    return",
     "a signature that does not verify is accepted", TRUST),
    # --- values files and ncs.conf values -----------------------------------------------------------
    ("val-01", INP, "        if st.st_size > limit:\n            raise too_big", "        if False:\n            raise too_big",
     "operator files (values, --set-file, keys) larger than the limit read before being refused", VALUES),
    ("val-02", INP, "        if total > limit:  # grew", "        if False:  # grew",
     "an operator file larger than it said (grew, /proc) silently truncated instead of refused", VALUES),
    ("val-16", INP, "        if not stat.S_ISREG(st.st_mode):\n            what = file_type(st.st_mode)",
     "        if False:\n            what = file_type(st.st_mode)",
     "operator files may be FIFOs or devices", VALUES),
    ("val-03", VAL, "                if self._depth > MAX_NESTING:", "                if False:",
     "YAML nesting limit in the loader removed (flattening limit left)", VALUES),
    ("val-04", VAL, "            if isinstance(event, yaml.AliasEvent) or getattr(event, \"anchor\", None) is not None:",
     "            if False:", "YAML anchors and aliases accepted", VALUES),
    ("val-05", VAL, "        low, high = (1, 65535) if k == \"port\" else (var.low, var.high)",
     "        low, high = (0, 65536) if k == \"port\" else (var.low, var.high)", "ports 0 and 65536 accepted", VALUES),
    ("val-06", VAL, "        if not low <= value <= high:", "        if not low <= value:",
     "integers above the range accepted", VALUES),
    ("val-07", VAL, "    if var.secret:\n        return \"<secret>\"\n    if value is None:", "    if value is None:",
     "a bad secret value is quoted in the error", SECRETS),
    ("val-08", VAL, "        if VARIABLES[name].secret:", "        if False:", "secrets accepted on the command line (--set)",
     SECRETS),
    ("val-09", VAL, "    text = _QUOTED.sub(lambda m: m.group(0) if _HARMLESS.fullmatch(m.group(0)[1:-1]) else \"'...'\", text)",
     "    text = text", "parse errors quote the values file's text", SECRETS),
    ("val-10", VAL, "            if line is not None:\n                raise _unreadable(path, f\"has a dotted key",
     "            if False:\n                raise _unreadable(path, f\"has a dotted key",
     "TOML dotted keys of any length parsed (quadratic time)", VALUES),
    ("val-11", VAL, "    if out[\"ipc.transport\"] == \"tcp\" and not _is_loopback(out[\"ipc.address\"]) and out[\"ipc.access_check\"] is not True:",
     "    if False:", "TCP IPC off loopback without the access check accepted", VALUES),
    ("val-12", VAL, "        if ctx.profile == \"production\" and (out", "        if False and (out",
     "NSO's example keys accepted in production", SECRETS),
    ("val-13", VAL, "        if port in seen:", "        if False:", "two listeners on one port accepted", VALUES),
    ("val-14", VAL, "    if _CONTROL.search(text):", "    if False:", "control characters in string values accepted", VALUES),
    ("val-15", VAL, "            if used:", "            if False:", "non-FIPS algorithms accepted with fips-mode", VALUES),
    ("rnd-01", RND, "KEY_ELEMENTS = re.compile(rb\"(<(key|key1|key2|key3)>)[^<]*(</\\2>)\")",
     "KEY_ELEMENTS = re.compile(rb\"(<(key1|key2|key3)>)[^<]*(</\\2>)\")", "inline AES <key> not masked in diffs", SECRETS),
    ("rnd-02", RND, "PASSWORD_ELEMENTS = re.compile(rb\"(<password(?:\\s[^>]*)?>)[^<]*(</password>)\")",
     "PASSWORD_ELEMENTS = re.compile(rb\"(<password>)[^<]*(</password>)\")",
     "password hashes in elements with attributes not masked", SECRETS),
    # --- spec rules -----------------------------------------------------------------------------------
    ("spec-01", SPEC, "    if previous.run_as_user and not spec.run_as_user and not _explicit(sources[\"run_as_user\"]):",
     "    if False:", "dropping the run-as user without --no-run-as-user", SPECR),
    ("spec-02", SPEC, "    elif previous.profile == \"production\" and spec.profile == \"development\" and not _explicit(sources[\"profile\"]):",
     "    elif False:", "production -> development without --profile development", SPECR),
    ("spec-03", SPEC, "    elif previous.fips_install and not spec.fips_install and not _explicit(sources[\"fips_install\"]):",
     "    elif False:", "leaving FIPS without --no-fips-install", SPECR),
    ("spec-04", SPEC, "        if before is True and now is not True and not _explicit(vsources.get(\"ipc.access_check\", DEFAULT)):",
     "        if False:", "IPC access check turned off without saying so", SPECR),
    ("spec-05", SPEC, "    return source not in (RECORDED, DEFAULT)", "    return source != RECORDED",
     "--reset-options (defaults) counts as an explicit withdrawal", SPECR),
    ("spec-06", SPEC, "    if spec.setuid_cmdwrapper and not spec.run_as_user:", "    if False:",
     "--setuid-cmdwrapper without --run-as-user accepted", SPECR),
    ("spec-07", SPEC, "        if spec.run_as_user == \"root\":", "        if False:", "--run-as-user root accepted", SPECR),
    ("spec-08", SPEC, "    if kw[\"run_as_user\"] is None and kw[\"setuid_cmdwrapper\"] and sources[\"setuid_cmdwrapper\"] == RECORDED:",
     "    if False:", "recorded --setuid-cmdwrapper not withdrawn with the run-as user", SPECR),
    ("spec-09", SPEC, "            if pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa):", "            if pa == pb:",
     "nested install/config/run/log directories accepted", SPECR),
    ("spec-10", SPEC, "        if p == PurePosixPath(\"/\"):", "        if False:",
     "'/' as a directory option (only the overlap layer left)", SPECR),
    ("spec-11", SPEC, "        check_shell_safe(flag, str(p))", "        pass",
     "directory options not checked for shell metacharacters", SPECR),
    ("spec-12", SPEC, "    secret_values = tuple(sorted((k, Secret(str(values.pop(k))))",
     "    secret_values = tuple(sorted((k, Secret(str(values.get(k))))",
     "secret ncs.conf values kept in the recorded spec (state file)", SECRETS),
    ("spec-13", SPEC, "    if missing:\n        raise UsageError(\"secret-values-not-recorded\"",
     "    if False:\n        raise UsageError(\"secret-values-not-recorded\"",
     "a re-run without the secret values silently falls back to other keys", SECRETS),
    # --- plan: owners and modes ---------------------------------------------------------------------------
    ("plan-01", PLAN, "Directory(STATE_DIR_SYSTEM, Attrs(0o700),", "Directory(STATE_DIR_SYSTEM, Attrs(0o755),",
     "state directory planned 0755", MODES),
    ("plan-02", PLAN, "cls(Attrs(0o750), Attrs(0o640), Attrs(0o600), Attrs(0o400)",
     "cls(Attrs(0o750), Attrs(0o640), Attrs(0o644), Attrs(0o400)", "ncs.crypto_keys 0644 (root install)", MODES),
    ("plan-03", PLAN, "Attrs(0o440, \"root\", ADMIN_GROUP)", "Attrs(0o444, \"root\", ADMIN_GROUP)",
     "ipc_access world-readable (run-as-user)", MODES),
    ("plan-04", PLAN, "Attrs(0o400), Attrs(0o700), Attrs(0o600),", "Attrs(0o400), Attrs(0o755), Attrs(0o600),",
     "ssh/ and ssl/cert/ 0755 (root install)", MODES),
    ("plan-05", PLAN, "systemd_conf = Attrs(0o644) if spec.init_system == \"sysv\" else Attrs(0o644, user, user)",
     "systemd_conf = Attrs(0o644, user, user)", "ncs.systemd.conf owned by the NSO account under SysV", OWNERS),
    ("plan-06", PLAN, "conf = (Attrs(0o640, \"root\", user) if user else Attrs(0o600)) if rc.inline_keys else Attrs(0o644)",
     "conf = Attrs(0o644)", "ncs.conf with inline keys world-readable", MODES),
    ("plan-07", PLAN, "    attrs = Attrs(0o750, owner, IPC_GROUP if ipc.memberships else owner)",
     "    attrs = Attrs(0o755, owner, IPC_GROUP if ipc.memberships else owner)",
     "IPC socket directory traversable by everyone (run-as-user)", MODES),
    ("plan-08", PLAN, "    private = Attrs(0o600, None, None)", "    private = Attrs(0o644, None, None)",
     "local install secrets 0644", MODES),
    ("plan-09", PLAN, "    if not before or before == spec.run_as_user:\n        return []",
     "    if True:\n        return []", "files of the previous NSO account are not reowned", OWNERS),
    ("plan-10", PLAN, "Attrs(0o750, \"root\", user), Attrs(0o440, \"root\", user),",
     "Attrs(0o750, \"root\", user), Attrs(0o460, \"root\", user),",
     "host keys group-writable by the NSO account", MODES),
    # --- run, cli, secret, SysV script ----------------------------------------------------------------------
    ("run-01", RUN, "        check_staging_root(opts.root)  # before anything", "        pass  # before anything",
     "staging root never checked", STAGE),
    ("run-02", RUN, "    if problem:\n        raise UsageError(\"bad-crypto-keys\"", "    if False:\n        raise UsageError(\"bad-crypto-keys\"",
     "invalid --crypto-keys installed", SECRETS),
    ("cli-01", CLI, "_UNPRINTABLE = re.compile(\"[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f",
     "_UNPRINTABLE = re.compile(\"[\\x00-\\x08\\x0a-\\x1a\\x1c-\\x1f\\x7f-\\x9f", "ESC printed raw", OUTPUT),
    ("cli-02", CLI, "\\x0a-\\x1f\\x7f-\\x9f\\u061c", "\\x0a-\\x1f\\x7f\\u061c", "C1 controls (0x9b CSI) printed raw", OUTPUT),
    ("cli-03", CLI, "\\u202a-\\u202e", "", "bidirectional overrides printed raw", OUTPUT),
    ("cli-04", CLI_INSTALL, "click.echo(f\"      {styled(printable(line), line[:1])}\")",
     "click.echo(f\"      {styled(line, line[:1])}\")",
     "diff lines printed unescaped", OUTPUT),
    ("cli-05", CLI, "        click.echo(f\"note: {printable(note)}\")", "        click.echo(f\"note: {note}\")",
     "notes printed unescaped", OUTPUT),
    ("sec-01", SEC, "    def __format__(self, spec: str) -> str:\n        return MASK",
     "    def __format__(self, spec: str) -> str:\n        return self._value.decode()", "f-strings reveal secrets", SECRETS),
    ("sec-02", SEC, "    if isinstance(obj, Secret):\n        return MASK", "    if False:\n        return MASK",
     "JSON encoding of a Secret without its explicit mask", SECRETS),
    ("initd-01", ENVF, "        case \"$key\" in NCS_*|JAVA_*|_JAVA_OPTIONS|LANG|LC_*|TZ) ;; *) continue ;; esac\n",
     "", "SysV script (and ncs-service-start) takes any key (PATH, LD_PRELOAD) from ncs.systemd.conf", SCRIPT),
    ("initd-02", INITD, "read_env_file {{ config_dir }}/ncs.systemd.conf", ". {{ config_dir }}/ncs.systemd.conf",
     "SysV script sources ncs.systemd.conf as root", SCRIPT),
    ("initd-03", ENVF, "        case \"$key\" in *[!A-Za-z0-9_]*) continue ;; esac\n", "",
     "SysV script (and ncs-service-start) exports keys that are not variable names", SCRIPT),
    ("initd-04", INITD, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n", "",
     "SysV script runs with the caller's PATH", SCRIPT),
]]

# The harness's own canary: a mutant that breaks the import must be killed, or the tests are
# not running the copy's code.
CANARY = Mutant("canary", "nso_install/__init__.py", '__version__ = "',
                'raise ImportError("mutation canary")\n__version__ = "', "import broken on purpose", "harness")


# --- applying -----------------------------------------------------------------------------------

class SnippetError(Exception):
    pass


def count(text: str, snippet: str) -> int:
    return text.count(snippet)


def check_snippet(copy: Path, m: Mutant) -> str:
    """The file's text, after checking the snippet occurs exactly once (else SnippetError)."""
    path = copy / m.file
    try:
        text = path.read_text()
    except OSError as e:
        raise SnippetError(f"{m.id}: cannot read {m.file}: {e.strerror}") from None
    n = count(text, m.original)
    if n != 1:
        raise SnippetError(f"{m.id}: the original snippet occurs {n} times in {m.file} (must be exactly once); "
                           "refusing the mutant")
    if m.original == m.replacement:
        raise SnippetError(f"{m.id}: replacement equals the original")
    return text


class Applied:
    """Context manager: ``m`` applied to the copy, the file restored (content and times) afterwards."""

    def __init__(self, copy: Path, m: Mutant):
        self.copy, self.path, self.m = copy, copy / m.file, m

    def __enter__(self):
        self.text = check_snippet(self.copy, self.m)
        self.st = os.stat(self.path)
        self.path.write_text(self.text.replace(self.m.original, self.m.replacement, 1))
        return self

    def __exit__(self, *exc):
        self.path.write_text(self.text)
        os.utime(self.path, ns=(self.st.st_atime_ns, self.st.st_mtime_ns))
        assert self.path.read_text() == self.text, f"{self.path} not restored"
        return False


# --- running --------------------------------------------------------------------------------------

def env_for(copy: Path) -> dict:
    """The tests' environment: no PYTHON* start-up variables (nso-install refuses to run as root
    with them, and PYTHONPATH could point the import elsewhere); the copy is imported because
    pytest and every ``python -m``/``-c`` child the tests start run with the copy as their
    working directory, which Python puts first on sys.path (checked by :func:`verify_copy`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
                                                            "PYTHONUSERBASE", "PYTHONSAFEPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no mutant's bytecode is ever cached
    return env


EXTRA_PYTEST_ARGS: list[str] = []  # --without-campaign-tests adds an --ignore-glob here


def pytest_run(copy: Path, python: str, tests: list[str]) -> tuple[str, str, float]:
    """('passed' | 'failed' | 'timeout', first failing test or '', seconds)."""
    cmd = [python, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rfE",
           f"--basetemp={copy.parent / (copy.name + '.pytest')}", *EXTRA_PYTEST_ARGS]  # private basetemp: copies
    # may run side by side
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env_for(copy), capture_output=True, text=True, timeout=TIMEOUT,
                              start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", f"(no result within {TIMEOUT} s)", time.monotonic() - t0
    took = time.monotonic() - t0
    if proc.returncode == 0:
        return "passed", "", took
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
    if found:
        first = found.group(1)
    else:
        tail = (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ["?"])[-1]
        first = f"(exit {proc.returncode}: {tail[:120]})"
    return "failed", first, took


@dataclasses.dataclass
class Result:
    id: str
    file: str
    what: str
    category: str
    status: str  # killed | survived | refused
    by: str = ""  # killing test, or why refused
    stage: str = ""  # domain | full
    seconds: float = 0.0


def run_mutant(copy: Path, python: str, m: Mutant, full_only: bool = False, domain_only: bool = False,
               given_tests: list[str] | None = None) -> Result:
    r = Result(m.id, m.file, m.what, m.category, "survived")
    try:
        with Applied(copy, m):
            stages = [("full", FULL)] if full_only or m.domain_tests == FULL else [("domain", m.domain_tests),
                                                                                  ("full", FULL)]
            if domain_only:
                stages = stages[:1]
                r.stage = stages[0][0]  # a survivor here is only a candidate until a --full run confirms it
            if given_tests:
                stages = [("given", given_tests)]
            for stage, tests in stages:
                status, first, took = pytest_run(copy, python, tests)
                r.seconds += took
                if status != "passed":
                    r.status, r.by, r.stage = "killed", first if status == "failed" else "timeout " + first, stage
                    break
    except SnippetError as e:
        r.status, r.by = "refused", str(e)
    return r


def verify_copy(copy: Path, python: str) -> None:
    if copy.resolve() == HERE:
        sys.exit(f"--copy {copy} is this checkout; mutants only ever go into a private copy.")
    if not (copy / "nso_install").is_dir():
        sys.exit(f"--copy {copy}: no nso_install/ there.")
    out = subprocess.run([python, "-c", "import nso_install; print(nso_install.__file__)"], cwd=copy,
                         env=env_for(copy), capture_output=True, text=True)
    imported = Path(out.stdout.strip() or "?").resolve()
    if out.returncode or not imported.is_relative_to(copy.resolve()):
        sys.exit(f"the tests would import {imported}, not the copy's nso_install ({out.stderr.strip()})")
    if (copy / ".git").exists():
        dirty = subprocess.run(["git", "-C", str(copy), "status", "--porcelain", "--", "nso_install", "templates"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            sys.exit(f"the copy has changes under nso_install/ or templates/ (an interrupted run?):\n{dirty}")


def table(results: list[Result]) -> str:
    lines = ["| id | file | what | result | killed by / reason |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.id} | {r.file.removeprefix('nso_install/')} | {r.what} | {r.status} | "
                     f"{r.by.replace('|', '/')} |")
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    run = [r for r in results if r.status in ("killed", "survived")]
    killed = sum(r.status == "killed" for r in run)
    refused = len(results) - len(run)
    rate = 100.0 * killed / len(run) if run else 0.0
    return (f"{len(run)} mutants run, {killed} killed, {len(run) - killed} survived: kill rate {rate:.1f}%"
            + (f"; {refused} refused (snippet not found exactly once)" if refused else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="mutant ids to run (default: all)")
    ap.add_argument("--copy", type=Path, help="private copy of the repository to mutate (e.g. a git worktree)")
    ap.add_argument("--python", default=sys.executable, help="interpreter with pytest (default: this one)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--verify", action="store_true", help="only check that every snippet occurs exactly once")
    ap.add_argument("--full", action="store_true", help="run the whole unit suite for every mutant (no domain stage)")
    ap.add_argument("--domain-only", action="store_true",
                    help="only the mutated domain's tests (a busy machine): survivors are candidates, to be "
                         "confirmed with --full")
    ap.add_argument("--tests", action="append", metavar="PATH",
                    help="run just these tests (repeatable; e.g. the file of another domain that should kill a "
                         "--domain-only survivor) instead of the domain's and the whole suite")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run and the canary")
    ap.add_argument("--without-campaign-tests", action="store_true",
                    help="leave out CAMPAIGN_TESTS (the tests this campaign added): the 'before' run")
    ap.add_argument("--deselect", action="append", default=[], metavar="NODEID",
                    help="leave out a test that fails at this commit without any mutant (repeatable; say so "
                         "in the campaign's record)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)

    ids = [m.id for m in MUTANTS]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit(f"duplicate mutant ids: {sorted(dup)}")
    chosen = MUTANTS
    if args.ids:
        unknown = [i for i in args.ids if i not in ids]
        if unknown:
            sys.exit(f"unknown mutant ids: {unknown}")
        chosen = [m for m in MUTANTS if m.id in args.ids]
    if args.list:
        for m in chosen:
            print(f"{m.id:10} {m.category:17} {m.file:40} {m.what}")
        print(f"{len(chosen)} mutants")
        return 0
    if args.copy is None:
        ap.error("--copy DIR is required (a private copy: git worktree add /tmp/mut HEAD)")
    copy = args.copy.resolve()
    verify_copy(copy, args.python)
    if args.without_campaign_tests:
        EXTRA_PYTEST_ARGS.extend(f"--ignore={t}" for t in CAMPAIGN_TESTS)
    EXTRA_PYTEST_ARGS.extend(f"--deselect={d}" for d in args.deselect)

    problems = []
    for m in chosen:
        try:
            check_snippet(copy, m)
        except SnippetError as e:
            problems.append(str(e))
    if args.verify:
        print("\n".join(problems) or f"all {len(chosen)} snippets occur exactly once")
        return 1 if problems else 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # restore the file on the way out
    if not args.no_baseline:
        status, first, took = pytest_run(copy, args.python, FULL)
        print(f"baseline (unmutated): {status} in {took:.0f} s {first}", flush=True)
        if status != "passed":
            sys.exit("the unmutated unit suite does not pass in the copy; fix that first")
        canary = run_mutant(copy, args.python, CANARY, full_only=True)
        print(f"canary (import broken): {canary.status} {canary.by}", flush=True)
        if canary.status != "killed":
            sys.exit("a mutant that breaks the import survived: the tests do not run the copy's code")

    results = []
    started = datetime.datetime.now().isoformat(timespec="seconds")
    for m in chosen:
        r = run_mutant(copy, args.python, m, full_only=args.full, domain_only=args.domain_only,
                       given_tests=args.tests)
        results.append(r)
        print(f"{r.id:10} {r.status:9} {r.stage:6} {r.seconds:6.1f}s  {r.what}  {r.by}", flush=True)
    print()
    print(table(results))
    print()
    print(summary(results))
    if args.json:
        commit = subprocess.run(["git", "-C", str(copy), "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        args.json.write_text(json.dumps({"started": started, "commit": commit, "copy": str(copy),
                                         "deselected": args.deselect,
                                         "without_campaign_tests": args.without_campaign_tests,
                                         "results": [dataclasses.asdict(r) for r in results]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
