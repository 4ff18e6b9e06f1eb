#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: verify
short_description: Check an NSO install against what nso-install made of it
description:
  - Runs C(nso-install verify --json) on the managed host (like C(rpm -V)). Changes nothing.
  - Fails the task when something is damaged or missing, unless O(fail_on_drift=false).
  - The answer is returned and, when the task succeeds, set as the fact C(nso_install_verify).
    Ansible applies no facts of a failed task; to read the findings of a run that failed, C(register)
    the task (with C(ignore_errors) or in a C(block) with C(rescue)), or give O(fail_on_drift=false).
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
  local_install:
    description:
      - C(--local-install), the directory of a local install to judge instead of the system install.
      - Mutually exclusive with I(install_dir).
    type: path
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
    description: Sets C(nso_install_verify) (when the task succeeds).
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Verify every file of the install
  nso_install.nso.verify:
    full: true

- name: Verify, and show what differs when it fails
  block:
    - name: Verify
      nso_install.nso.verify:
      register: verify
  rescue:
    - name: What differs
      ansible.builtin.debug:
        msg: "{{ verify.findings | selectattr('fails') | list }}"
'''

RETURN = r'''
ok:
  description: True when nothing is damaged or missing (no finding with RV(findings[].fails)).
  returned: when the tool ran (also when the task fails on drift)
  type: bool
findings:
  description: What differs.
  returned: when the tool ran (also when the task fails on drift)
  type: list
  elements: dict
  contains:
    kind:
      description: What kind of thing differs (C(tree), C(privilege), C(config), C(link), C(install)).
      type: str
    path:
      description: The path that differs.
      type: str
    problem:
      description: How it differs (for example C(mode 0755 -> 0777)).
      type: str
    fails:
      description:
        - True for damage (it fails the task); false for what is worth knowing but is no damage,
          such as an administrator's edit of a configuration file.
      type: bool
extra:
  description: Entries in the checked trees that nso-install did not install (caches...); they do not fail the task.
  returned: when the tool ran (also when the task fails on drift)
  type: list
  elements: str
checked:
  description: The trees that were checked.
  returned: when the tool ran (also when the task fails on drift)
  type: list
  elements: str
notes:
  description: The tool's notes (for example a tree without a manifest to compare with).
  returned: when the tool ran (also when the task fails on drift)
  type: list
  elements: str
result:
  description: The tool's result kind, C(verify).
  returned: when the tool ran (also when the task fails on drift)
  type: str
ansible_facts:
  description: C(nso_install_verify), the whole answer of the tool (applied by Ansible only when the task succeeds).
  returned: when the tool ran
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    answer, cli_argument_spec, find_executable, flag, missing_tool, opt, run_json, task_terms)


def nothing_verified(problem):
    """Whether an `install` finding's problem says there was nothing to verify where the tool
    looked (not a run that did not finish, the other `install` finding)."""
    return problem.startswith('no NSO installed') or 'nothing was verified' in problem


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            full=dict(type='bool', default=False),
            fail_on_drift=dict(type='bool', default=True),
            install_dir=dict(type='str'),
            local_install=dict(type='path'),
        ),
        mutually_exclusive=[('install_dir', 'local_install')],
        supports_check_mode=True,
    )
    p = module.params
    exe = find_executable(module) or missing_tool(module)
    argv = ['verify']
    flag(argv, 'full', p['full'])
    opt(argv, 'install-dir', p['install_dir'])
    opt(argv, 'local-install', p['local_install'])
    opt(argv, 'root', p['root'])
    rc, data, out, err = run_json(module, exe, argv, ok_rcs=(0, 1))
    result = answer(data)
    result['ok'] = bool(data.get('ok'))
    facts = {'nso_install_verify': data}
    if not result['ok'] and p['fail_on_drift']:
        failing = [f for f in data.get('findings') or () if f.get('fails', True)]
        failing.sort(key=lambda f: f.get('kind') != 'install')  # (the tool lists it last; the message names 5)
        said = task_terms(module, '; '.join('%s: %s' % (f.get('path'), f.get('problem')) for f in failing[:5]))
        registered = ' The findings are in the registered result (facts of a failed task are not set).'
        # (the tool's finding of an empty or mistyped install_dir, or of a local_install that is a
        # link, which it never follows: nothing there a re-run could repair, nor was anything verified)
        if any(f.get('kind') == 'install' and nothing_verified(str(f.get('problem', ''))) for f in failing):
            module.fail_json(msg='nso-install verify: no NSO installed where it looked (%s)' % said,
                             hint='Point the task at the install (install_dir, local_install, root), or install NSO '
                                  'there first (nso_install.nso.install).' + registered,
                             ansible_facts=facts, **result)
        # (the tool's finding of a run that did not finish, or is under way: install, activate or
        # uninstall; re-running install would undo an interrupted uninstall, and a run in progress is waited for)
        if any(f.get('kind') == 'install' for f in failing):
            module.fail_json(msg='nso-install verify: an nso-install run did not finish, or is in progress (%s)' % said,
                             hint='Complete it with the command the finding names (the same command, not '
                                  'necessarily install), or wait for the run in progress to end; then verify '
                                  'again.' + registered,
                             ansible_facts=facts, **result)
        module.fail_json(msg='nso-install verify: %d finding(s) of damage: the install differs from what nso-install '
                             'made of it (%s)' % (len(failing), said),
                         hint='A re-run of install with the distribution repairs it.' + registered,
                         ansible_facts=facts, **result)
    module.exit_json(changed=False, ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
