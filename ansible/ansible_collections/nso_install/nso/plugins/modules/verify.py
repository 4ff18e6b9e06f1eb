#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: verify
short_description: Check an NSO install against what nso-install made of it
description:
  - Runs C(nso-install verify --json) on the managed host (like C(rpm -V)). Changes nothing.
  - Fails the task when something is damaged or missing, unless O(fail_on_drift=false); the
    answer is also set as the fact C(nso_install_verify).
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  full:
    description: C(--full), also hash every file.
    type: bool
    default: false
  fail_on_drift:
    description: Fail the task when the tool finds damage or drift.
    type: bool
    default: true
  install_dir:
    description: C(--install-dir), when not the one the last run recorded.
    type: str
extends_documentation_fragment:
  - nso_install.nso.cli
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  facts:
    support: full
    description: Sets C(nso_install_verify).
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Verify every file of the install
  nso_install.nso.verify:
    full: true
'''

RETURN = r'''
ok:
  description: True when nothing is damaged or missing.
  returned: success
  type: bool
findings:
  description: What differs (path, what, expected, found).
  returned: success
  type: list
  elements: dict
checked:
  description: The trees that were checked.
  returned: success
  type: list
  elements: str
ansible_facts:
  description: C(nso_install_verify), the whole answer of the tool.
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    answer, cli_argument_spec, find_executable, flag, missing_tool, opt, run_json)


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            full=dict(type='bool', default=False),
            fail_on_drift=dict(type='bool', default=True),
            install_dir=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    exe = find_executable(module) or missing_tool(module)
    argv = ['verify']
    flag(argv, 'full', p['full'])
    opt(argv, 'install-dir', p['install_dir'])
    opt(argv, 'root', p['root'])
    rc, data, out, err = run_json(module, exe, argv, ok_rcs=(0, 1))
    result = answer(data)
    result['ok'] = bool(data.get('ok'))
    facts = {'nso_install_verify': data}
    if not result['ok'] and p['fail_on_drift']:
        n = len(data.get('findings') or ())
        module.fail_json(msg='nso-install verify: %d finding(s): the install differs from what nso-install made '
                             'of it' % n, hint='A re-run of install with the distribution repairs it.',
                         ansible_facts=facts, **result)
    module.exit_json(changed=False, ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
