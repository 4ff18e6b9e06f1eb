#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: audit
short_description: Judge an NSO system install against NSO's Secure Deployment guidance
description:
  - Runs C(nso-install audit --json) on the managed host. Changes nothing but the report files
    of O(junit) and O(sarif), when given; the task is changed when one of them is created or its
    content changes (RV(reports)).
  - Fails the task when a check fails (audit gating), unless O(fail_on_failure=false); waived
    deviations (O(waivers)) do not fail.
  - The report is returned and, when the task succeeds, set as the fact C(nso_install_audit).
    Ansible applies no facts of a failed task; to read the report of a run that failed, C(register)
    the task (with C(ignore_errors) or in a C(block) with C(rescue)), or give O(fail_on_failure=false).
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  install_dir:
    description: C(--install-dir).
    type: str
  config_dir:
    description: C(--config-dir).
    type: str
  run_dir:
    description: C(--run-dir).
    type: str
  log_dir:
    description: C(--log-dir).
    type: str
  run_as_user:
    description: The account NSO is meant to run as (default, the recorded one).
    type: str
  waivers:
    description: Accepted deviations, a TOML or YAML file on the managed host (C(--waivers)).
    type: path
  only:
    description: Run only the checks whose ID starts with one of these (C(--only)).
    type: list
    elements: str
  skip:
    description: Leave out the checks whose ID starts with one of these (C(--skip)).
    type: list
    elements: str
  junit:
    description:
      - Also write JUnit XML to this path on the managed host.
      - In check mode the file is not written; the task reports whether it would change.
    type: path
  sarif:
    description:
      - Also write SARIF 2.1.0 to this path on the managed host.
      - In check mode the file is not written; the task reports whether it would change.
    type: path
  fail_on_failure:
    description: Fail the task when a check fails.
    type: bool
    default: true
extends_documentation_fragment:
  - nso_install.nso.cli
attributes:
  check_mode:
    support: full
    description:
      - Runs the same in check mode, but the O(junit) and O(sarif) files are written to a private
        temporary directory, compared with the files at those paths, and removed (changed says
        whether they would change).
  diff_mode:
    support: none
    description: Nothing to diff.
  facts:
    support: full
    description: Sets C(nso_install_audit) (when the task succeeds).
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Gate the rollout on the audit
  nso_install.nso.audit:
    waivers: /etc/nso-install/waivers.yml

- name: Report only
  nso_install.nso.audit:
    fail_on_failure: false
  register: audit

- name: Show the failing checks
  ansible.builtin.debug:
    msg: "{{ audit.failed_checks }}"

- name: Gate, and show the failing checks when it fails
  block:
    - name: Audit
      nso_install.nso.audit:
      register: audit
  rescue:
    - name: The failing checks
      ansible.builtin.debug:
        msg: "{{ audit.failed_checks }}"
'''

RETURN = r'''
ok:
  description: True when no check fails (waived ones included).
  returned: when the tool ran (also when the task fails the gate)
  type: bool
summary:
  description: Counts by result (pass, fail, warn, waived, skip, error).
  returned: when the tool ran (also when the task fails the gate)
  type: dict
failed_checks:
  description: The failing checks (result C(fail) or C(error)) with id, title, severity, summary, remediation.
  returned: when the tool ran (also when the task fails the gate)
  type: list
  elements: dict
checks:
  description: Every check with its result and evidence.
  returned: when the tool ran (also when the task fails the gate)
  type: list
  elements: dict
target:
  description: What was audited (directories, version, run-as user).
  returned: when the tool ran (also when the task fails the gate)
  type: dict
reports:
  description: The report files of O(junit) and O(sarif) (option, path, changed); in check mode, whether they would change.
  returned: when the tool ran (also when the task fails the gate)
  type: list
  elements: dict
notes:
  description: The tool's notes.
  returned: when the tool ran (also when the task fails the gate)
  type: list
  elements: str
result:
  description: The tool's result kind, C(audit).
  returned: when the tool ran (also when the task fails the gate)
  type: str
ansible_facts:
  description: C(nso_install_audit), the whole report (applied by Ansible only when the task succeeds).
  returned: when the tool ran
  type: dict
'''

import os
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    answer, cli_argument_spec, find_executable, missing_tool, opt, repeat, run_json)

REPORTS = ('junit', 'sarif')


def read_report(path):
    """The content of the regular file at path (never through a link, never a FIFO), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, 'rb') as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            install_dir=dict(type='str'),
            config_dir=dict(type='str'),
            run_dir=dict(type='str'),
            log_dir=dict(type='str'),
            run_as_user=dict(type='str'),
            waivers=dict(type='path'),
            only=dict(type='list', elements='str'),
            skip=dict(type='list', elements='str'),
            junit=dict(type='path'),
            sarif=dict(type='path'),
            fail_on_failure=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    exe = find_executable(module) or missing_tool(module)
    argv = ['audit']
    for name in ('install_dir', 'config_dir', 'run_dir', 'log_dir', 'run_as_user', 'waivers', 'root'):
        opt(argv, name.replace('_', '-'), p[name])
    repeat(argv, 'only', p['only'])
    repeat(argv, 'skip', p['skip'])
    # The report files: in check mode written to a private directory and compared, never to their paths.
    before = dict((name, read_report(p[name])) for name in REPORTS if p[name])
    scratch = tempfile.mkdtemp(prefix='nso-install-audit-') if before and module.check_mode else None
    written = dict((name, os.path.join(scratch, name) if scratch else p[name]) for name in before)
    for name in REPORTS:
        opt(argv, name, written.get(name))
    try:
        # 1: a check fails; 2: a check could not run (the report is still the answer; a usage
        # error, also 2, answers with an error document, which run_json fails on)
        rc, data, out, err = run_json(module, exe, argv, ok_rcs=(0, 1, 2))
        reports = [dict(option=name, path=p[name], changed=read_report(written[name]) != before[name])
                   for name in REPORTS if name in before]
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    result = answer(data)
    result['reports'] = reports
    result['changed'] = any(r['changed'] for r in reports)
    result['ok'] = bool(data.get('ok'))
    result['failed_checks'] = [
        dict((k, c.get(k)) for k in ('id', 'title', 'severity', 'summary', 'remediation'))
        for c in data.get('checks') or () if c.get('result') in ('fail', 'error')]
    facts = {'nso_install_audit': data}
    if not result['ok'] and p['fail_on_failure']:
        ids = ', '.join('%s (%s)' % (c['id'], c['summary']) for c in result['failed_checks'])
        module.fail_json(msg='nso-install audit: %d check(s) fail: %s' % (len(result['failed_checks']), ids),
                         hint='See failed_checks[].remediation; accepted deviations go in a waivers file.',
                         ansible_facts=facts, **result)
    module.exit_json(ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
