#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: uninstall
short_description: Remove an NSO system install, or one version of it
description:
  - Runs C(nso-install uninstall ... --json) on the managed host, as NSO's C(ncs-uninstall) does
    it; one version (O(ncs_version)), or everything with O(all), keeping configuration, data, logs,
    service files and accounts unless named.
  - One of O(ncs_version) and O(all=true) is required, not both.
  - Removing what is already gone changes nothing. Check mode runs C(--check).
  - A version that is not installed, where no NSO at all is (no version, no record of
    nso-install), also warns that O(root) or O(install_dir) may be wrong, as a forgotten O(root)
    looks the same as a removal done before; one that is the start of installed versions (C(6.5)
    beside C(6.5.3), a version of its own) warns naming them.
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  ncs_version:
    description: Remove C(INSTALL_DIR/ncs-VSN) only (not the active one unless O(force)).
    type: str
  all:
    description: Remove C(INSTALL_DIR) (every version, current, packages).
    type: bool
    default: false
  config:
    description: With O(all), also C(CONFIG_DIR) (ncs.conf, the encryption keys, host keys).
    type: bool
    default: false
  run_data:
    description: With O(all), also C(RUN_DIR) (CDB and the backups in it).
    type: bool
    default: false
  logs:
    description: With O(all), also C(LOG_DIR).
    type: bool
    default: false
  service:
    description: With O(all), also the unit or SysV script, tmpfiles.d entry, C(/run/ncs).
    type: bool
    default: false
  profile_scripts:
    description: With O(all), also C(/etc/profile.d/ncs.*) and C(/etc/logrotate.d/ncs).
    type: bool
    default: false
  accounts:
    description: With O(all), also the user and groups nso-install created.
    type: bool
    default: false
  purge:
    description: With O(all), all of the above.
    type: bool
    default: false
  force:
    description: Remove the active version (with O(ncs_version)), leaving no active one.
    type: bool
    default: false
  install_dir:
    description: C(--install-dir), when not the one the last run recorded.
    type: str
  lock_timeout:
    description: C(--lock-timeout) in seconds.
    type: float
extends_documentation_fragment:
  - nso_install.nso.cli
attributes:
  check_mode:
    support: full
    description: Runs C(--check).
  diff_mode:
    support: full
    description: Lists what would be or was removed.
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Remove an old version after an upgrade
  nso_install.nso.uninstall:
    ncs_version: 6.4.1

- name: Remove everything
  nso_install.nso.uninstall:
    all: true
    purge: true
'''

RETURN = r'''
actions:
  description: What was (or would be) removed, each with kind, path, status, changed, detail.
  returned: success
  type: list
  elements: dict
kept:
  description:
    - What is kept and not asked to be removed; with O(all), each path with what it is (for example
      C(/etc/ncs (configuration, encryption keys, IPC secret, host keys))).
  returned: success
  type: list
  elements: str
changed_count:
  description: How many removals (check mode, would remove).
  returned: success
  type: int
notes:
  description:
    - The tool's notes (what is kept and how to remove it).
    - For a version that is not installed (or no longer), the tool's message saying so.
  returned: success
  type: list
  elements: str
totals:
  description: The tool's totals (actions, changed or would_change, ok, conflicts); empty for a version that is not installed.
  returned: success
  type: dict
cmd:
  description: The command that ran.
  returned: when nso-install ran (also when the task fails on its answer)
  type: list
  elements: str
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    cli_argument_spec, action_diffs, command, find_executable, flag, missing_tool, opt, run_json, warn_all)


def not_removed(module, exe):
    """For a version that is not installed: a warning when that may not be what the task meant, or
    None. Removing a version that is gone is no error, but where no NSO at all is installed
    (status: no version, no record) a forgotten root or a mistyped install_dir looks the same as a
    removal done before; and 6.5 names a version of its own beside 6.5.3. Either way the task said
    ok while the version meant stayed installed."""
    argv = ['status']
    for name in ('install_dir', 'root'):
        opt(argv, name.replace('_', '-'), module.params[name])
    rc, out, err = module.run_command(command(exe, argv), environ_update={'NO_COLOR': '1', 'LC_ALL': 'C.UTF-8'})
    try:
        status = json.loads(out)
    except ValueError:
        return None
    if rc != 0 or status.get('result') != 'status':
        return None
    asked = module.params['ncs_version']
    versions = [v.get('version') or '' for v in status.get('versions') or ()]
    if not versions and status.get('spec') is None:
        where = 'under root %s' % module.params['root'] if module.params['root'] else 'on the host itself (no root given)'
        return ('Nothing to remove: no NSO version and no nso-install record are in %s %s; if NSO %s is installed, '
                'point root and install_dir at it' % (status.get('install_dir'), where, asked))
    near = [v for v in versions if v.startswith(asked + '.') or v.startswith(asked + '_')]
    if near:
        return ('Nothing removed: NSO %s is not installed in %s; name it in full if you meant %s'
                % (asked, status.get('install_dir'), ' or '.join(near)))
    return None


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            ncs_version=dict(type='str'),
            all=dict(type='bool', default=False),
            config=dict(type='bool', default=False),
            run_data=dict(type='bool', default=False),
            logs=dict(type='bool', default=False),
            service=dict(type='bool', default=False),
            profile_scripts=dict(type='bool', default=False),
            accounts=dict(type='bool', default=False),
            purge=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            install_dir=dict(type='str'),
            lock_timeout=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # (not Ansible's mutually_exclusive/required_one_of: they count all=false as given)
    if p['ncs_version'] and p['all']:
        module.fail_json(msg='parameters are mutually exclusive: ncs_version and all')
    if not p['ncs_version'] and not p['all']:
        module.fail_json(msg='one of the following is required: ncs_version, all=true')
    exe = find_executable(module) or missing_tool(module)
    argv = ['uninstall']
    opt(argv, 'ncs-version', p['ncs_version'])
    for name in ('all', 'config', 'run_data', 'logs', 'service', 'profile_scripts', 'accounts', 'purge', 'force'):
        flag(argv, name.replace('_', '-'), p[name])
    for name in ('install_dir', 'lock_timeout', 'root'):
        opt(argv, name.replace('_', '-'), p[name])
    if module.check_mode:
        argv.append('--check')
    rc, data, out, err = run_json(module, exe, argv, accept_errors=('no-such-version',))
    if data.get('result') == 'error':  # that version is not (or no longer) installed: nothing to do
        doubt = not_removed(module, exe)
        if doubt:
            module.warn(doubt)
        module.exit_json(changed=False, changed_count=0, actions=[], kept=[], notes=[data['error'].get('message')],
                         totals={}, cmd=[exe] + argv + ['--json'])
    warn_all(module, data)
    count = int(data.get('changed') or 0)
    result = dict(changed=count > 0, changed_count=count, actions=data.get('actions', []),
                  kept=data.get('kept', []), notes=data.get('notes', []), totals=data.get('totals', {}),
                  cmd=[exe] + argv + ['--json'])
    if module._diff:
        result['diff'] = action_diffs(data.get('actions'))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
