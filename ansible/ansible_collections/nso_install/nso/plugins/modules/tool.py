#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: tool
short_description: Install the nso-install tool into a venv on the managed host, offline
description:
  - Creates a Python virtual environment (C(python3 -m venv)) and installs the nso-install wheel
    into it from a directory of wheels on the managed host (C(pip install --no-index --find-links)),
    so the host needs no network. The directory must also hold the wheels of nso-install's
    dependencies (C(pip wheel -w DIR nso-install) builds such a wheelhouse).
  - Idempotent, changed only when the installed version differs from the wanted one (or the venv
    is missing). With O(version) given and installed, O(wheelhouse) need not exist; in check mode
    a missing O(wheelhouse) then reports the change (the role uses this to copy wheels only when
    needed).
  - The M(nso_install.nso.tool) role copies a wheelhouse from the controller and calls this module.
  - Run as root, it refuses a O(venv) below a directory another account could change (each
    directory on the way must be root's and not writable by group or others; a sticky one such as
    C(/tmp) is fine above a directory of root's), a venv Python such an account could change
    (followed through its links), and a O(wheelhouse) or a file in it such an account could change.
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  wheelhouse:
    description:
      - Directory on the managed host holding the nso-install wheel and its dependencies' wheels.
      - Required with O(state=present).
    type: path
  version:
    description: The version to install. Default, the newest nso-install wheel in O(wheelhouse).
    type: str
  venv:
    description: The virtual environment to create or update.
    type: path
    default: /opt/nso-install/venv
  python:
    description: The Python that creates the venv (3.11 or newer).
    type: str
    default: python3
  state:
    description:
      - C(present) installs, C(absent) removes the venv.
      - C(absent) removes a directory only; a symbolic link or a file at O(venv) fails the task (it is never followed).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports whether it would install; changes nothing.
  diff_mode:
    support: full
    description: Shows the version before and after.
seealso:
  - module: nso_install.nso.install
'''

EXAMPLES = r'''
- name: Wheels to the host
  ansible.builtin.copy:
    src: wheelhouse/
    dest: /opt/nso-install/wheelhouse/
    mode: "0644"

- name: The tool in its venv
  nso_install.nso.tool:
    wheelhouse: /opt/nso-install/wheelhouse
'''

RETURN = r'''
version:
  description: The version now installed (check mode, the one that would be).
  returned: success
  type: str
previous_version:
  description: The version installed before, or null.
  returned: success
  type: str
needed:
  description:
    - Whether the venv needed (check mode, needs) an install, an upgrade, a repair or (O(state=absent)) a
      removal; C(changed) without C(changed_when). A repair keeps the version (RV(version) equals
      RV(previous_version)); the venv has that version but lost its nso-install program.
  returned: success
  type: bool
executable:
  description: The path of nso-install in the venv.
  returned: success
  type: str
'''

import os
import re
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.trust import (
    may_run, refuse_untrusted_path, refuse_untrusted_program)

WHEEL = re.compile(r'^nso_install-([^-]+)-.*\.whl$')


def version_key(v):
    parts = []
    for piece in re.split(r'[.+-]', v):
        parts.append((0, int(piece), '') if piece.isdigit() else (1, 0, piece))
    return parts


def installed_version(module, venv):
    py = os.path.join(venv, 'bin', 'python')
    if not os.access(py, os.X_OK):
        return None
    refuse_untrusted_program(module, py, "the venv's Python")
    rc, out, err = module.run_command([py, '-c', 'import importlib.metadata as m; print(m.version("nso-install"))'])
    return out.strip() if rc == 0 and out.strip() else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            wheelhouse=dict(type='path'),
            version=dict(type='str'),
            venv=dict(type='path', default='/opt/nso-install/venv'),
            python=dict(type='str', default='python3'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ['wheelhouse'])],
        supports_check_mode=True,
    )
    p = module.params
    venv = p['venv']
    exe = os.path.join(venv, 'bin', 'nso-install')

    if p['state'] == 'absent':
        try:
            st = os.lstat(venv)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            module.fail_json(msg='venv %s is %s, not a directory: state=absent removes a venv directory and never '
                                 'follows a link' % (venv, 'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'a file'),
                             hint='Check what it is and remove it yourself, or give venv the real directory.')
        # (a venv another account could change is removed, but its Python is not run to ask its version)
        before = installed_version(module, venv) if st is not None and may_run(os.path.join(venv, 'bin', 'python')) \
            else None
        changed = st is not None
        if changed and not module.check_mode:
            shutil.rmtree(venv)
        module.exit_json(changed=changed, needed=changed, version=None, previous_version=before, executable=exe,
                         diff=dict(before='nso-install %s\n' % before if before else '', after=''))

    refuse_untrusted_path(module, venv, 'the venv')  # root creates it, and runs and fills what is in it
    before = installed_version(module, venv)
    wheelhouse = p['wheelhouse']
    if p['version'] and before == p['version'] and os.access(exe, os.X_OK):
        # already there: the wheelhouse is not even needed (the role probes this way first)
        module.exit_json(changed=False, needed=False, version=before, previous_version=before, executable=exe,
                         diff=dict(before='nso-install %s\n' % before, after='nso-install %s\n' % before))
    if p['version'] and module.check_mode and not os.path.isdir(wheelhouse):
        # would install (or repair); the wheels are not on the host yet (copied only when needed)
        module.exit_json(changed=True, needed=True, version=p['version'], previous_version=before, executable=exe,
                         diff=dict(before='nso-install %s\n' % before if before else '',
                                   after='nso-install %s\n' % p['version']))
    if not os.path.isdir(wheelhouse):
        module.fail_json(msg='wheelhouse %s is not a directory on the managed host' % wheelhouse,
                         hint='Copy the wheels there first (the nso_install.nso.tool role does).')
    available = sorted((m.group(1) for m in (WHEEL.match(n) for n in os.listdir(wheelhouse)) if m), key=version_key)
    if not available:
        module.fail_json(msg='no nso_install-*.whl in %s' % wheelhouse,
                         hint='Build it with: pip wheel -w WHEELHOUSE nso-install (or the project directory).')
    want = p['version'] or available[-1]
    if want not in available:
        module.fail_json(msg='no nso-install %s wheel in %s (there: %s)' % (want, wheelhouse, ', '.join(available)))

    changed = before != want or not os.access(exe, os.X_OK)
    diff = dict(before='nso-install %s\n' % before if before else '', after='nso-install %s\n' % want)
    if changed and not module.check_mode:
        # root installs from these files (pip --find-links takes wheels and source archives):
        # no other account may have changed them
        refuse_untrusted_path(module, wheelhouse, 'the wheelhouse', missing_ok=False)
        for name in sorted(os.listdir(wheelhouse)):
            refuse_untrusted_path(module, os.path.join(wheelhouse, name), 'the wheelhouse file', missing_ok=False)
        if not os.access(os.path.join(venv, 'bin', 'python'), os.X_OK):
            python = p['python'] if os.sep in p['python'] else module.get_bin_path(p['python'], required=True)
            refuse_untrusted_program(module, python, 'the Python that creates the venv')
            module.run_command([python, '-m', 'venv', venv], check_rc=True)
        refuse_untrusted_program(module, os.path.join(venv, 'bin', 'python'), "the venv's Python")
        cmd = [os.path.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
               '--no-index', '--find-links', wheelhouse, 'nso-install==%s' % want]
        if before == want:  # same version, but the program is missing: repair
            cmd.insert(4, '--force-reinstall')
        rc, out, err = module.run_command(cmd)
        if rc:
            module.fail_json(msg='pip could not install nso-install %s from %s: %s' % (want, wheelhouse, err.strip() or out.strip()),
                             hint='The wheelhouse needs every dependency as a wheel for this host (pip wheel -w DIR nso-install).',
                             rc=rc, stdout=out, stderr=err, cmd=cmd)
        now = installed_version(module, venv)
        if now != want:
            module.fail_json(msg='after pip install, the venv has nso-install %s, not %s' % (now, want))
    module.exit_json(changed=changed, needed=changed, version=want, previous_version=before, executable=exe, diff=diff)


if __name__ == '__main__':
    main()
