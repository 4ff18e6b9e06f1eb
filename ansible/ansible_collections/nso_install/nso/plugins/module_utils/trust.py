# -*- coding: utf-8 -*-
# Shared by the nso_install.nso modules: may root run this program, or create this directory?
#
# The same rule as nso-install's own (nso_install/target.py: check_staging_root, Target.check_parents):
# every entry that decides what a path is -- each directory on the way, each symbolic link and
# whatever it points to, the file itself -- must be root's and not writable by group or others;
# a sticky directory such as /tmp is fine above an entry root owns (its other users cannot
# replace what root put there). Otherwise another account could swap the program, the Python that
# runs it or a directory on the way, and the module would run that account's code as root.

from __future__ import annotations

import os
import shutil
import stat

MAX_LINKS = 40  # as the kernel's ELOOP limit


def _components(path):
    return [c for c in path.split('/') if c not in ('', '.')]


def untrusted(path, owners=frozenset((0,)), missing_ok=False):
    """Why ``path`` is not only ``owners``' to change (a sentence), or None when it is.

    Walks the path from / one entry at a time, following symbolic links as the kernel does (a
    link's target is walked in turn, from the directory the link is in): each directory on the
    way and the final entry must belong to one of ``owners`` and not be writable by group or
    others (a sticky directory is allowed above a further entry, which is checked in turn); each
    link must belong to one of ``owners`` too (in a sticky directory its owner could replace it).
    ``missing_ok``: a path that does not exist yet is judged by its existing part (what will be
    created there is created by root)."""
    named = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    todo = list(reversed(_components(named)))
    cur = '/'
    hops = 0
    problem = _judge('/', os.lstat('/'), owners, more=bool(todo))
    if problem:
        return problem
    while todo:
        name = todo.pop()
        if name == '..':
            cur = os.path.dirname(cur)  # cur is a real directory (links were followed): its parent is too
            continue
        nxt = os.path.join(cur, name)
        try:
            st = os.lstat(nxt)
        except FileNotFoundError:
            return None if missing_ok else '%s does not exist' % nxt
        except NotADirectoryError:
            return '%s is not a directory' % cur
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in owners:
                return '%s is a symbolic link that belongs to uid %d (who could point it elsewhere)' % (nxt, st.st_uid)
            hops += 1
            if hops > MAX_LINKS:
                return '%s: too many levels of symbolic links' % named
            target = os.readlink(nxt)
            if target.startswith('/'):
                cur = '/'
            todo.extend(reversed(_components(target)))
            continue
        problem = _judge(nxt, st, owners, more=bool(todo))
        if problem:
            return problem
        cur = nxt
    return None


def _judge(path, st, owners, more):
    if st.st_uid not in owners:
        return '%s belongs to uid %d' % (path, st.st_uid)
    if more and not stat.S_ISDIR(st.st_mode):
        return '%s is not a directory' % path
    sticky_above = more and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if st.st_mode & 0o022 and not sticky_above:
        return '%s is writable by group or others (mode %04o)' % (path, stat.S_IMODE(st.st_mode))
    return None


def interpreter(path):
    """The program a script's #! line names (the kernel runs it with the script; for pip's /bin/sh
    launcher of a long interpreter path, the Python it execs), or None."""
    found = interpreters(path)
    return found[0] if found else None


def interpreters(path):
    """What runs a script: the program its #! line names and, for ``#!/usr/bin/env NAME``, the
    NAME that env finds on this process's PATH (the one the modules run it with)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4096)
    except OSError:
        return []
    if not head.startswith(b'#!'):
        return []
    lines = head[2:].split(b'\n')
    launcher = b"'''exec' \""  # #!/bin/sh, then: '''exec' "PYTHON" "$0" "$@"
    if len(lines) > 2 and lines[1].startswith(launcher):
        return [os.fsdecode(lines[1][len(launcher):].split(b'"', 1)[0])]
    words = [os.fsdecode(w) for w in lines[0].split()]
    if not words:
        return []
    if os.path.basename(words[0]) == 'env':
        args = iter(words[1:])
        for w in args:
            if w in ('-u', '--unset', '-C', '--chdir'):
                next(args, None)  # (their argument is not the program)
            elif not w.startswith('-') and '=' not in w:
                return [words[0], shutil.which(w) or w]  # (not found: judged as missing)
    return words[:1]


def _venv_lib(python):
    """The lib/ directory of the virtual environment ``python`` belongs to (where the program's
    modules are imported from), or None when it is not in one."""
    venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    lib = os.path.join(venv, 'lib')
    return lib if os.path.isfile(os.path.join(venv, 'pyvenv.cfg')) and os.path.isdir(lib) else None


def untrusted_tree(top, owners=frozenset((0,))):
    """Why another account could change something below the directory ``top`` (a module Python
    would import), or None: every entry root's and not writable by group or others, each link's
    target judged from / as :func:`untrusted` does."""
    problem = untrusted(top, owners)
    if problem:
        return problem
    for dirpath, dirnames, filenames in os.walk(top):  # (never into a linked directory)
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                problem = untrusted(p, owners)
            elif st.st_uid not in owners:
                problem = '%s belongs to uid %d' % (p, st.st_uid)
            elif st.st_mode & 0o022:
                problem = '%s is writable by group or others (mode %04o)' % (p, stat.S_IMODE(st.st_mode))
            if problem:
                return problem
    return None


def untrusted_program(path, owners=frozenset((0,))):
    """Why root should not run the program ``path`` (it, what its #! line runs, or the modules
    the virtual environment of that Python imports could be changed by another account), or None."""
    todo, seen = [path], set()
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        problem = untrusted(path, owners)
        lib = None if problem else _venv_lib(path)
        if lib:  # (pyvenv.cfg says where the standard library is: its own to judge too)
            problem = untrusted(os.path.join(os.path.dirname(lib), 'pyvenv.cfg'), owners) or untrusted_tree(lib, owners)
        if problem:
            return problem
        todo.extend(interpreters(path))
    return None


def as_root():
    return hasattr(os, 'geteuid') and os.geteuid() == 0


FIX = ('Make every directory on the way, the program and what it runs root\'s and not writable by group or '
       'others (chown root:root PATH; chmod go-w PATH), after checking what is in them; or install the tool '
       'where only root can change it (the nso_install.nso.tool module\'s default venv, /opt/nso-install/venv).')


def may_run(path):
    """Whether this module may run ``path`` (not as root, or as root a program only root can change)."""
    return not as_root() or untrusted_program(path) is None


def refuse_untrusted_program(module, path, what='nso-install'):
    """fail_json when the module runs as root and another account could change ``path`` (the
    program, what its #! line runs, a directory or link on the way)."""
    if not as_root():
        return
    problem = untrusted_program(path)
    if problem:
        module.fail_json(msg='refusing to run %s %s as root: %s, so another account could change what runs.'
                             % (what, path, problem), hint=FIX)


def refuse_untrusted_path(module, path, what, missing_ok=True):
    """fail_json when the module runs as root and another account could change ``path`` or a
    directory above it (root would create, fill or read ``what`` there)."""
    if not as_root():
        return
    problem = untrusted(path, missing_ok=missing_ok)
    if problem:
        module.fail_json(msg='refusing to use %s %s as root: %s, so another account could change what is there.'
                             % (what, path, problem),
                         hint='Give a path whose every directory is root\'s and not writable by group or others '
                              '(chown root:root DIR; chmod go-w DIR, after checking what is in it); a sticky '
                              'directory such as /tmp is fine above a directory of root\'s.')
