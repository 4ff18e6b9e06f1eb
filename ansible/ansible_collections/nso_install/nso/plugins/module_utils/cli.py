# -*- coding: utf-8 -*-
# Shared by the nso_install.nso modules: find the nso-install CLI on the managed host,
# run it with --json, turn its answer into Ansible's result contract.

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager

from ansible_collections.nso_install.nso.plugins.module_utils.trust import refuse_untrusted_program

DEFAULT_VENV = '/opt/nso-install/venv'
DEFAULT_EXECUTABLE = DEFAULT_VENV + '/bin/nso-install'


def cli_argument_spec(**options):
    """A module's argument_spec: its own ``options`` and the two every module that runs the
    CLI has (documented by the nso_install.nso.cli doc fragment)."""
    return dict(options, root=dict(type='path'), executable=dict(type='str', aliases=['path']))


def find_executable(module):
    """The nso-install to run: the `executable` option, else the collection's venv, else PATH.
    As root, the task fails when another account could change it (module_utils/trust.py), and
    every module fails on an empty `root` (which is no staging root to stage into)."""
    if module.params.get('root') == '':
        # (nso-install would take --root '' for the current directory, and stage there)
        module.fail_json(msg='root is empty: give the staging root, or leave root out for none',
                         hint='A variable meant to say "no staging root" should omit the option: '
                              'root: "{{ nso_root or omit }}".')
    found = _find(module)
    if found:
        refuse_untrusted_program(module, found)
    return found


def _runnable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _find(module):
    exe = module.params.get('executable')
    if exe:
        if os.sep in exe:
            return exe if _runnable(exe) else None
        return module.get_bin_path(exe)
    if _runnable(DEFAULT_EXECUTABLE):
        return DEFAULT_EXECUTABLE
    found = module.get_bin_path('nso-install')
    if found:
        return found
    return None


def wrong_executable(module):
    """When find_executable found nothing: why the `executable` option cannot be a program an
    earlier task (the tool module or role) is about to install, or None when it can be (or is not
    given). Only VENV/bin/nso-install can be: the tool module puts nso-install there."""
    exe = module.params.get('executable')
    if not exe:
        return None
    if os.sep not in exe:
        return 'executable %s is not on PATH' % exe
    if os.path.lexists(exe):
        return 'executable %s is not an executable file' % exe
    if os.path.basename(exe) != 'nso-install' or os.path.basename(os.path.dirname(exe)) != 'bin':
        return 'executable %s does not exist, and is not VENV/bin/nso-install where the tool would be installed' % exe
    return None


def tool_pending(module):
    """Check mode, nso-install not found, and the `executable` (if given) where the tool module
    would install it: an earlier task that check mode did not run installs it."""
    return module.check_mode and wrong_executable(module) is None


def missing_tool(module):
    if tool_pending(module):
        module.exit_json(changed=False, skipped=True,
                         msg='nso-install is not installed yet (check mode): nothing to read')
    wrong = wrong_executable(module)
    if wrong:
        module.fail_json(msg=wrong, hint='Give executable the path of nso-install on the managed host (the '
                                         'nso_install.nso.tool module installs it as VENV/bin/nso-install).')
    module.fail_json(msg='nso-install is not installed on the managed host (looked for %s and on PATH)'
                         % DEFAULT_EXECUTABLE,
                     hint='Install it first with the nso_install.nso.tool role or module, or give executable=PATH.')


def flag(argv, name, value):
    """--NAME when value is true."""
    if value:
        argv.append('--' + name)


def tristate(argv, name, value):
    """--NAME / --no-NAME / nothing (None: keep what the last run recorded)."""
    if value is True:
        argv.append('--' + name)
    elif value is False:
        argv.append('--no-' + name)


def opt(argv, name, value):
    if value is not None:
        argv.extend(['--' + name, str(value)])


def repeat(argv, name, values):
    for v in values or ():
        argv.extend(['--' + name, str(v)])


def scalar(value, name='value'):
    """A --set value as the CLI reads it: booleans lower-case (like TOML/YAML), a list's elements
    separated by commas (ipc.users=a,b). ValueError for what the CLI cannot read: a mapping, a
    nested list, an element with a comma in it."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, dict):
        raise ValueError('%s: a mapping is not an ncs.conf value; give each setting under its own '
                         'dotted name (for example webui.tcp.port: 8080)' % name)
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if isinstance(v, (list, tuple, dict)):
                raise ValueError('%s: a list of lists or mappings is not an ncs.conf value' % name)
            item = scalar(v, name)
            if ',' in item:
                raise ValueError('%s: the list element %r has a comma, which separates the elements' % (name, item))
            items.append(item)
        return ','.join(items)
    return str(value)


def command(exe, argv, positional=()):
    """EXE ARGV --json [-- POSITIONAL...]: the positional arguments (a distribution) after --, so
    that one starting with - is never read as an option."""
    return [exe] + list(argv) + ['--json'] + (['--'] + list(positional) if positional else [])


# The module parameters whose nso-install option is not --NAME-WITH-DASHES (task_terms).
CLI_OPTION = {'values_files': '--values', 'set_files': '--set-file', 'set_secrets': '--set-file',
              'ipc_users': '--ipc-user', 'ipc_groups': '--ipc-group', 'no_ipc_users': '--no-ipc-user',
              'no_ipc_groups': '--no-ipc-group', 'trusted_certs': '--trusted-cert'}
# Parameters that are no option of the CLI: an argument, a subcommand, the module's own.
NOT_AN_OPTION = ('executable', 'distribution', 'version', 'rollback', 'fail_on_drift', 'fail_on_failure')
# A command line the tool prints for the operator to run (nso-install status --root R): its
# options stay the CLI's.
CLI_COMMAND = re.compile(r'nso-install (?:install|uninstall|activate|rollback|status|list|verify|audit|keys|'
                         r'render-conf|variables)\b.*?(?=[;)]|\.(?:\s|$)|$)', re.S)
CLI_FLAG = re.compile(r'(?<![\w/.-])--[a-z][a-z0-9-]*[a-z0-9](?![\w/])')  # (not in a path: /srv/a--root)


def parameter_names(argument_spec):
    """{nso-install option: how the task names it} for a module's parameters: --install-dir is
    install_dir, --no-fips-install is fips_install: false, --check is check mode."""
    names = {'--check': 'check mode', '--diff': 'diff mode'}
    for name, spec in argument_spec.items():
        if name in NOT_AN_OPTION:
            continue
        option = CLI_OPTION.get(name, '--' + name.replace('_', '-'))
        names[option] = '%s or %s' % (names[option], name) if option in names else name  # (--set-file)
        if spec.get('type') == 'bool' and spec.get('default') is None:  # tristate(): --no-NAME
            names['--no-' + option[2:]] = '%s: false' % name
    return names


def task_terms(module, text):
    """The tool's message in the task's terms: each nso-install option that is a parameter of
    this module named as the parameter (--install-dir /opt/nsx is ... -> install_dir /opt/nsx is
    ...), except in the command lines the tool prints to run (nso-install status --root R)."""
    if not text:
        return text
    names = parameter_names(module.argument_spec)

    def renamed(part):
        return CLI_FLAG.sub(lambda f: names.get(f.group(0), f.group(0)), part)

    out, at = [], 0
    for m in CLI_COMMAND.finditer(text):
        out += [renamed(text[at:m.start()]), m.group(0)]
        at = m.end()
    out.append(renamed(text[at:]))
    return ''.join(out)


def run_json(module, exe, argv, ok_rcs=(0,), accept_errors=(), positional=(), shown=None):
    """Run EXE ARGV --json -- POSITIONAL; return (rc, parsed, stdout, stderr). Fail the task with
    the tool's error and hint, in the task's terms (task_terms), when rc is not in ok_rcs (unless
    the error's reference is one of accept_errors: then the error document is returned).
    ``shown``: {text: what the task's message says instead} (the private files of set_secrets,
    removed before the task reports: secret_names)."""
    cmd = command(exe, argv, positional)
    rc, out, err = module.run_command(cmd, environ_update={'NO_COLOR': '1', 'LC_ALL': 'C.UTF-8'})
    data = None
    text = (out or '').strip()
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            # tolerate a line of something else before the document
            start = text.find('{')
            if start > 0:
                try:
                    data = json.loads(text[start:])
                except ValueError:
                    data = None
    if rc not in ok_rcs or data is None or data.get('result') == 'error':
        error = (data or {}).get('error') or {}
        if error.get('reference') and error.get('reference') in accept_errors:
            return rc, data, out, err
        message = error.get('message') or (err or '').strip() or (out or '').strip() or 'nso-install exited with %d' % rc
        hint = error.get('hint')
        for text, instead in sorted((shown or {}).items()):
            message = message.replace(text, instead)
            hint = hint and hint.replace(text, instead)
        # (the task's parameters, not the CLI's options: the raw text stays in error)
        message, hint = task_terms(module, message), task_terms(module, hint)
        msg = message if not hint else '%s Hint: %s' % (message, hint)
        module.fail_json(msg=msg, rc=rc, cmd=cmd, error=error or None, hint=hint,
                         stdout=out, stderr=err, result=data)
    return rc, data, out, err


def answer(data):
    """The tool's --json answer as a module result: every key but the document's format version."""
    result = dict(data)
    result.pop('version', None)
    return result


def warn_all(module, data):
    """The tool's warnings as the task's, in its terms (re-run with force_conf, not --force-conf)."""
    for w in (data or {}).get('warnings') or ():
        module.warn(task_terms(module, w))


def action_diffs(actions):
    """Ansible's diff list from the tool's actions (content diffs as the tool printed them,
    attribute changes as one line each). A diff without a ---/+++ header of its own (a link's
    target, a secret's masked content) follows that line, as in the tool's output: alone, it
    would not say what it is the diff of."""
    diffs = []
    for a in actions or ():
        if a.get('status') in ('ok', None) and not a.get('changed') and not a.get('conflict'):
            continue
        head = '%s %s: %s\n' % (a.get('kind', '?'), a.get('path', ''), a.get('detail', a.get('status', '')))
        text = a.get('diff')
        if not text:
            text = head
        else:
            if not text.startswith('--- '):
                text = head + text
            if not text.endswith('\n'):
                text += '\n'
        diffs.append({'prepared': text})
    return diffs


def secret_names(secret_files):
    """{private file: how the task names its value} for run_json's ``shown``: a message of the
    tool naming the file (fix the value in FILE) names the set_secrets value instead."""
    return dict((path, 'set_secrets[%s]' % k) for k, path in secret_files.items())


@contextmanager
def secret_value_files(secrets):
    """{NAME: path} of private temporary files holding the secret ncs.conf values ``secrets``
    ({NAME: value}), given to the CLI as --set-file NAME=PATH so that no value is ever on a
    command line (the process list, the task's invocation); removed when the block ends."""
    if not secrets:
        yield {}
        return
    tmpdir = tempfile.mkdtemp(prefix='nso-install-secrets-')  # mode 0700
    try:
        files = {}
        for i, (k, v) in enumerate(sorted(secrets.items())):
            path = os.path.join(tmpdir, 'value%d' % i)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(scalar(v, 'set_secrets ' + k))
            files[k] = path
        yield files
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def set_file_args(argv, set_files, secret_files):
    """--set-file NAME=PATH for each of ``set_files`` (paths on the host), then for each secret
    value's private file (secret_value_files)."""
    for k, v in sorted((set_files or {}).items()):
        argv += ['--set-file', '%s=%s' % (k, v)]
    for k, path in sorted(secret_files.items()):
        argv += ['--set-file', '%s=%s' % (k, path)]


def run_report(module, exe, build_argv, positional=()):
    """Run a command that prints a run's report (install, activate, rollback): ``build_argv(params,
    secret_files)`` gives its options, the set_secrets values go in private files, check mode is
    --check and diff mode --diff. Returns (the task's result: changed, changed_count, result,
    totals, actions, notes, cmd, and diff in diff mode; the tool's document)."""
    try:
        with secret_value_files(module.params['set_secrets']) as secret_files:
            argv = build_argv(module.params, secret_files)
            if module.check_mode:
                argv.append('--check')
            if module._diff:
                argv.append('--diff')
            rc, data, out, err = run_json(module, exe, argv, positional=positional, shown=secret_names(secret_files))
    except ValueError as e:  # a value the CLI cannot read (scalar)
        module.fail_json(msg=str(e))
    warn_all(module, data)
    count = int(data.get('changed') or 0)
    result = dict(changed=count > 0, changed_count=count, result=data.get('result'), totals=data.get('totals', {}),
                  actions=data.get('actions', []), notes=data.get('notes', []), cmd=command(exe, argv, positional))
    if module._diff:
        result['diff'] = action_diffs(data.get('actions'))
    return result, data
