#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: status
short_description: Installed NSO versions and recorded options, as facts
description:
  - Runs C(nso-install status --json) on the managed host. Changes nothing.
  - The answer is returned and also set as the fact C(nso_install_status) for later tasks
    (for example C(nso_install_status.active), the active version).
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
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
    description: Sets C(nso_install_status).
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: What is installed
  nso_install.nso.status:

- name: Upgrade only where 6.5.3 is not active yet
  nso_install.nso.install:
    distribution: /srv/dist/nso-6.5.3.linux.x86_64.signed.bin
    system_install: true
    activate: true
  when: nso_install_status.active != '6.5.3'
'''

RETURN = r'''
result:
  description: The tool's result kind, C(status).
  returned: success
  type: str
install_dir:
  description: The system install's INSTALL_DIR, or null for a local install.
  returned: success
  type: str
local_dir:
  description: The local install's directory, or null for a system install.
  returned: success
  type: str
recorded_install_dir:
  description: The install's recorded INSTALL_DIR when I(install_dir) named another directory (a typo, an old one), else null.
  returned: success
  type: str
active:
  description: The active version (C(current)), or null.
  returned: success
  type: str
current:
  description: What C(INSTALL_DIR/current) points to (for example C(ncs-6.5.3)), or null.
  returned: success
  type: str
dangling:
  description: True when C(current) points nowhere.
  returned: success
  type: bool
previous:
  description: The version a rollback would go back to, or null.
  returned: success
  type: str
rolled_back_from:
  description: The version the last rollback left (activating it goes forward again), or null.
  returned: success
  type: str
versions:
  description: Installed versions (path, version, active, manifest).
  returned: success
  type: list
  elements: dict
spec:
  description: The recorded options, or null when nso-install has not installed here.
  returned: success
  type: dict
records_unsealed:
  description: True when nso-install's records are there but root could not trust them.
  returned: success
  type: bool
pending_new:
  description: Configuration files whose new rendering waits (next to them) to be merged.
  returned: success
  type: list
  elements: str
edited:
  description: Configuration files kept although they differ from what nso-install wrote.
  returned: success
  type: list
  elements: str
running:
  description: The NSO processes running (pid, executable, version).
  returned: success
  type: list
  elements: dict
keys:
  description:
    - Where a C(nso-install keys rotate) stands, or null when none was made.
    - C(pending_generation) (added, not yet recorded as applied in NSO) and when it was C(added);
      C(applied_generation) and when it was C(applied) (C(keys rotate --applied)); C(interrupted),
      when a rotation that stopped half way began (a re-run of C(keys rotate) completes it).
  returned: success
  type: dict
unfinished:
  description: A run that did not finish and how to complete it (or one in progress that holds the lock), or null.
  returned: success
  type: str
temporary_trees:
  description: Trees a run was unpacking when it stopped (C(.nso-install-tmp.*)); the next install removes them.
  returned: success
  type: list
  elements: str
ansible_facts:
  description: C(nso_install_status), the whole answer of the tool.
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    answer, cli_argument_spec, find_executable, missing_tool, opt, run_json)


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            install_dir=dict(type='str'),
            local_install=dict(type='path'),
        ),
        mutually_exclusive=[('install_dir', 'local_install')],
        supports_check_mode=True,
    )
    p = module.params
    exe = find_executable(module) or missing_tool(module)
    argv = ['status']
    opt(argv, 'install-dir', p['install_dir'])
    opt(argv, 'local-install', p['local_install'])
    opt(argv, 'root', p['root'])
    rc, data, out, err = run_json(module, exe, argv)
    result = answer(data)
    module.exit_json(changed=False, ansible_facts={'nso_install_status': data}, **result)


if __name__ == '__main__':
    main()
