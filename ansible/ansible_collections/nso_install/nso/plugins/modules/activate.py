#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: activate
short_description: Switch the active NSO version, or roll back to the previous one
description:
  - Runs C(nso-install activate VSN ... --json), or C(nso-install rollback ... --json) with
    O(rollback=true), on the managed host. C(INSTALL_DIR/current) is switched to an installed
    version and the configuration rendered for it with the options the last run recorded. No
    distribution is needed. NSO itself is not restarted (the task's notes say how, with a package
    reload).
  - One of O(version) and O(rollback=true) is required, not both.
  - A second run changes nothing. A repeated rollback (a retried task) does not undo the first
    one; it changes nothing and its notes say how to go forward (activate the newer version).
  - Refused while NSO runs from what would be switched, or for a downgrade over CDB data, unless
    O(force).
  - Check mode runs C(--check); diff mode adds C(--diff) (secrets are always masked by the tool).
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  version:
    description: The installed NSO version to make active (C(6.5.3), C(ncs-6.5.3) or its path).
    type: str
  rollback:
    description: Go back to the version that was active before the current one.
    type: bool
    default: false
  force:
    description: Switch although NSO runs, it is a downgrade over CDB data, or the release cannot read the kept keys file or edited ncs.conf.
    type: bool
    default: false
  force_conf:
    description: Replace administrator-edited config files with the rendering for this version (a
      timestamped backup is kept).
    type: bool
    default: false
  set_files:
    description: C(--set-file NAME=PATH) for each key (secret ncs.conf values in files on the
      managed host; they are never recorded, so an install given them needs them again).
    type: dict
  set_secrets:
    description:
      - Secret ncs.conf values. Each is written to a private temporary file on the managed host
        and given as C(--set-file NAME=TMPFILE), so it never appears on a command line.
    type: dict
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
    description: Adds C(--diff).
seealso:
  - module: nso_install.nso.install
  - module: nso_install.nso.status
'''

EXAMPLES = r'''
- name: Make 6.5.3 the active version
  nso_install.nso.activate:
    version: 6.5.3

- name: Go back to the version that was active before (an upgrade that went wrong)
  nso_install.nso.activate:
    rollback: true
    force: true  # NSO still runs from the new version: stop it first, or force the switch
'''

RETURN = r'''
changed_count:
  description: How many actions changed (check mode, would change).
  returned: success
  type: int
totals:
  description: The tool's totals (actions, changed or would_change, ok, conflicts).
  returned: success
  type: dict
actions:
  description: Every action with kind, path, status, changed, detail, reason (and diff in diff mode).
  returned: success
  type: list
  elements: dict
notes:
  description: The tool's notes (the restart with a package reload the switch needs).
  returned: success
  type: list
  elements: str
result:
  description: The tool's result kind, C(applied) or C(check).
  returned: success
  type: str
cmd:
  description: The command that ran.
  returned: when nso-install ran (also when the task fails on its answer)
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    cli_argument_spec, find_executable, flag, missing_tool, opt, run_report, set_file_args)


def build_argv(p, secret_files):
    """`nso-install activate` (the version goes after the options and --: command()) or `rollback`."""
    argv = ['rollback' if p['rollback'] else 'activate']
    flag(argv, 'force', p['force'])
    flag(argv, 'force-conf', p['force_conf'])
    set_file_args(argv, p['set_files'], secret_files)
    for name in ('install_dir', 'lock_timeout', 'root'):
        opt(argv, name.replace('_', '-'), p[name])
    return argv


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            version=dict(type='str'),
            rollback=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            force_conf=dict(type='bool', default=False),
            set_files=dict(type='dict'),
            set_secrets=dict(type='dict', no_log=True),
            install_dir=dict(type='str'),
            lock_timeout=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # (not Ansible's mutually_exclusive/required_one_of: they count rollback=false as given)
    if p['version'] and p['rollback']:
        module.fail_json(msg='parameters are mutually exclusive: version and rollback')
    if not p['version'] and not p['rollback']:
        module.fail_json(msg='one of the following is required: version, rollback=true')
    exe = find_executable(module) or missing_tool(module)
    result, _ = run_report(module, exe, build_argv, positional=[p['version']] if p['version'] else [])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
