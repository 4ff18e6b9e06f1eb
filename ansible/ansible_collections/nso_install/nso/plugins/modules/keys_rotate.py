#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: keys_rotate
short_description: Add a new generation of NSO's crypto keys, or record that NSO applied it
description:
  - Runs C(nso-install keys rotate ... --json) on the managed host. A new generation of keys is
    added to C(CONFIG_DIR/ncs.crypto_keys) in NSO's rotation format (C(EXTERNAL_KEY_FORMAT=2)),
    keeping every older generation (legacy keys become generation C(-1)). The file is rewritten
    atomically with its owner and mode. NSO 6.4 or later (the active version) only.
  - Keys are never returned, logged or shown; the result names the generation and the key names
    only. The module has no option that holds a secret.
  - Idempotent. While the generation added last waits to be applied in NSO, a re-run adds
    nothing and changes nothing (O(new=true) adds another). O(applied=true) records that NSO uses
    the generation added last (after C(key-rotation apply-new-keys)); a re-run of it changes nothing.
  - nso-install never talks to NSO. The returned RV(steps) say what is left on the NSO side
    (copy the file to every HA node, reload the keys, C(key-rotation apply-new-keys)), then run
    this module again with O(applied=true).
  - O(new) and O(applied) exclude each other.
  - Check mode runs C(--check). The tool's warnings (another group reads the keys file, accounts
    other than root may replace it) are the task's warnings.
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  new:
    description: C(--new). Add another generation although the one added last is not recorded as applied yet.
    type: bool
    default: false
  applied:
    description: C(--applied). Record that NSO now uses the generation added last (on an HA node given another
      node's rotated file, the file's newest); the keys file is not changed.
    type: bool
    default: false
  install_dir:
    description: C(--install-dir), when not the one the last run recorded (another one is refused).
    type: str
  lock_timeout:
    description: C(--lock-timeout) in seconds.
    type: float
extends_documentation_fragment:
  - nso_install.nso.cli
attributes:
  check_mode:
    support: full
    description: Runs C(--check); RV(status) is C(would-add) or C(would-apply) when the run would change something.
  diff_mode:
    support: none
    description: No diff of a keys file is ever shown.
seealso:
  - module: nso_install.nso.status
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Add a new generation of crypto keys (on one node of an HA group)
  nso_install.nso.keys_rotate:
  register: rotation

- name: Show what is left to do in NSO
  ansible.builtin.debug:
    var: rotation.steps

# ... copy the rotated file to the other nodes (nso_install.nso.install with crypto_keys),
# reload the keys, key-rotation apply-new-keys in NSO ...

- name: Record that NSO now uses it
  nso_install.nso.keys_rotate:
    applied: true
'''

RETURN = r'''
result:
  description: The tool's result kind, C(keys-rotate).
  returned: success
  type: str
  sample: keys-rotate
file:
  description: The keys file, C(CONFIG_DIR/ncs.crypto_keys), as NSO reads it (without O(root) when staged).
  returned: success
  type: str
  sample: /etc/ncs/ncs.crypto_keys
nso_version:
  description: The active NSO version, whose key names the new generation takes.
  returned: success
  type: str
  sample: 6.5.3
generation:
  description: The generation added (or that would be), pending, or recorded as applied.
  returned: success
  type: int
  sample: 0
status:
  description:
    - C(added) or C(would-add) (check mode); C(pending) (the generation added last waits to be
      applied in NSO, so nothing was added); C(applied) or C(would-apply) (O(applied=true));
      C(already-applied) (nothing waits).
  returned: success
  type: str
  sample: added
converted_legacy:
  description: The file was (or would be) switched from the legacy format; its keys are generation C(-1).
  returned: success
  type: bool
check:
  description: The tool ran with C(--check).
  returned: success
  type: bool
mode:
  description: The keys file's mode, four octal digits (never open to every account after a rewrite).
  returned: success
  type: str
  sample: '0600'
owner:
  description: The keys file's USER:GROUP.
  returned: success
  type: str
  sample: root:root
key_names:
  description: The names of the generation's keys, never a key.
  returned: success
  type: list
  elements: str
  sample: [AESCFB128_KEY, AES256CFB128_KEY]
added:
  description: When the pending generation was added, or null.
  returned: success
  type: str
steps:
  description: What is left to do on the NSO side, in order (HA copy, reload, apply-new-keys, O(applied=true)).
  returned: success
  type: list
  elements: str
notes:
  description: The tool's notes (an interrupted rotation completed, a pending generation kept with O(new)).
  returned: success
  type: list
  elements: str
cmd:
  description: The command that ran.
  returned: when nso-install ran (also when the task fails on its answer)
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    answer, cli_argument_spec, command, find_executable, flag, missing_tool, opt, run_json, warn_all)


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            new=dict(type='bool', default=False),
            applied=dict(type='bool', default=False),
            install_dir=dict(type='str'),
            lock_timeout=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # (not Ansible's mutually_exclusive: it counts new=false as given)
    if p['new'] and p['applied']:
        module.fail_json(msg='parameters are mutually exclusive: new and applied',
                         hint='applied records that NSO uses the pending generation; new adds another one.')
    exe = find_executable(module) or missing_tool(module)
    argv = ['keys', 'rotate']
    flag(argv, 'new', p['new'])
    flag(argv, 'applied', p['applied'])
    for name in ('install_dir', 'lock_timeout', 'root'):
        opt(argv, name.replace('_', '-'), p[name])
    if module.check_mode:
        argv.append('--check')
    rc, data, out, err = run_json(module, exe, argv)
    warn_all(module, data)
    result = answer(data)
    result.pop('warnings', None)  # (the task's warnings: warn_all)
    result['changed'] = result.get('changed') is True
    module.exit_json(cmd=command(exe, argv), **result)


if __name__ == '__main__':
    main()
