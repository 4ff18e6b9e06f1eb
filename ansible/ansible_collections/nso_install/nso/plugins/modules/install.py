#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import annotations

DOCUMENTATION = r'''
---
module: install
short_description: Install and harden Cisco NSO with nso-install
description:
  - Runs C(nso-install install DISTRIBUTION ... --json) on the managed host and reports what it
    changed. A second run with the same options changes nothing.
  - Options mirror the command line (C(nso-install install --help)). Options left out keep the
    value the last run recorded on the host (C(reset_options=true) starts from the defaults).
  - Check mode runs C(--check) (nothing is written); diff mode adds C(--diff) (secrets are always
    masked by the tool).
  - When nso-install itself is missing, check mode reports a change (the install would happen once
    the tool is installed), provided O(executable) is left out or names a C(VENV/bin/nso-install)
    that does not exist yet (where M(nso_install.nso.tool) would install it); otherwise, and in
    a real run, the task fails.
version_added: 0.1.0
author:
  - nso-install maintainers (@nso-install)
options:
  distribution:
    description:
      - The NSO distribution on the managed host, as C(nso-install) reads it (directory, C(.tar.gz),
        C(.tar), C(installer.bin), C(signed.bin)); for O(secrets_only) the installed tree
        (C(/opt/ncs/current)).
    type: path
    required: true
  system_install:
    description: System install (C(--system-install)).
    type: bool
    default: false
  local_install:
    description: Local install into this directory (C(--local-install DIR)).
    type: path
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
    description: Run NSO as this user (C(--run-as-user)); created if missing.
    type: str
  no_run_as_user:
    description: Withdraw a recorded run-as user (C(--no-run-as-user)).
    type: bool
    default: false
  setuid_cmdwrapper:
    description: C(--setuid-cmdwrapper) / C(--no-setuid-cmdwrapper); unset keeps the recorded value.
    type: bool
  keep_ncs_setup:
    description: C(--keep-ncs-setup) / C(--no-keep-ncs-setup); unset keeps the recorded value.
    type: bool
  fips_install:
    description: C(--fips-install) / C(--no-fips-install); unset keeps the recorded value.
    type: bool
  init_system:
    description: C(--init-system).
    type: str
    choices: [systemd, sysv, none]
  profile:
    description: C(--profile) of ncs.conf.
    type: str
    choices: [production, development]
  ipc_users:
    description:
      - C(--ipc-user) for each; replaces the recorded list.
      - An empty list withdraws every grant (C(--no-ipc-user), as O(no_ipc_users=true)); left out, the
        recorded list is kept.
    type: list
    elements: str
  ipc_groups:
    description:
      - C(--ipc-group) for each; replaces the recorded list.
      - An empty list withdraws every grant (C(--no-ipc-group), as O(no_ipc_groups=true)); left out, the
        recorded list is kept.
    type: list
    elements: str
  no_ipc_users:
    description: C(--no-ipc-user), withdraw every O(ipc_users) grant.
    type: bool
    default: false
  no_ipc_groups:
    description: C(--no-ipc-group), withdraw every O(ipc_groups) grant.
    type: bool
    default: false
  values_files:
    description: ncs.conf values files on the managed host (C(--values), TOML or YAML).
    type: list
    elements: path
  set:
    description:
      - ncs.conf values, C(--set NAME=VALUE) for each key (booleans as C(true)/C(false), a list's
        elements separated by commas, as the CLI reads them; the list C([alice, bob]) of
        C(ipc.users) is C(--set ipc.users=alice,bob)). A mapping is refused; give each setting its
        dotted name.
      - Not for secrets (they would show in the process list and in the task's invocation); use
        O(set_secrets). A secret variable (C(crypto.aescfb128_key), C(crypto.aes256cfb128_key)) given
        here fails the task before nso-install runs.
    type: dict
  set_files:
    description: C(--set-file NAME=PATH) for each key (paths on the managed host).
    type: dict
  set_secrets:
    description:
      - Secret ncs.conf values. Each is written to a private temporary file on the managed host
        and given as C(--set-file NAME=TMPFILE), so it never appears on a command line.
    type: dict
  unset:
    description: C(--unset NAME) for each.
    type: list
    elements: str
  reset_options:
    description: C(--reset-options).
    type: bool
    default: false
  crypto_keys:
    description:
      - An C(ncs.crypto_keys) file on the managed host to install (C(--crypto-keys)). A path, shown as
        given in RV(cmd) and the actions; the keys in it never leave the host.
      - Not recorded. An existing keys file with other keys fails the task (keys are never
        replaced). After C(nso-install keys rotate) the host's file holds these keys and newer
        generations, and is kept with a warning. A file holding the host's keys and newer
        generations (another HA node's after a rotation) is written, every key kept.
    type: path
  activate:
    description: C(--activate) (switch C(current) to this version on an upgrade).
    type: bool
    default: false
  skip_secrets:
    description: C(--skip-secrets) (image builds).
    type: bool
    default: false
  secrets_only:
    description: C(--secrets-only) (container start).
    type: bool
    default: false
  force_conf:
    description: C(--force-conf).
    type: bool
    default: false
  skip_verification:
    description: C(--skip-verification).
    type: bool
    default: false
  trusted_certs:
    description:
      - C(--trusted-cert) for each (paths on the managed host), the certificates a signed.bin's signer must chain
        to (Cisco's root CA and the intermediate, both; the signed.bin's own certificates are never issuers).
      - A distribution that is not a signed.bin is refused when this is given.
      - Mutually exclusive with O(skip_verification=true) (the CLI refuses both).
    type: list
    elements: path
    aliases: [trusted_cert]
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
    description: Runs C(--diff); the diff shows each changed action.
notes:
  - Warnings of the tool become Ansible warnings; its notes are returned in RV(notes).
seealso:
  - module: nso_install.nso.tool
  - module: nso_install.nso.audit
'''

EXAMPLES = r'''
- name: System install, NSO running as nso
  nso_install.nso.install:
    distribution: /srv/dist/nso-6.5.3.linux.x86_64.signed.bin
    system_install: true
    run_as_user: nso
    trusted_certs: [/srv/dist/crcam2.cer, /srv/dist/innerspace.cer]  # Cisco's root CA and the intermediate
    set:
      webui.tcp.port: 8080
      crypto.mechanism: inline  # the AES keys in ncs.conf (default: external, ncs.crypto_keys)
    set_secrets:  # the only secret variables (nso-install variables crypto): both, 32 and 64 hex digits
      crypto.aescfb128_key: "{{ vault_nso_aes128_key }}"
      crypto.aes256cfb128_key: "{{ vault_nso_aes256_key }}"

- name: Container start, generate the keys missing from the image
  nso_install.nso.install:
    distribution: /opt/ncs/current
    system_install: true
    init_system: none
    secrets_only: true
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
  description: The tool's notes.
  returned: success
  type: list
  elements: str
spec:
  description: The effective settings and where each came from.
  returned: when nso-install ran (not in check mode before it is installed)
  type: dict
result:
  description: The tool's result kind, C(applied) or C(check).
  returned: when nso-install ran (not in check mode before it is installed)
  type: str
cmd:
  description: The command that ran (an empty list in check mode before the tool is installed).
  returned: when nso-install ran or would (also when the task fails on its answer)
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nso_install.nso.plugins.module_utils.cli import (
    cli_argument_spec, find_executable, flag, missing_tool, opt, repeat, run_report, scalar, set_file_args,
    tool_pending, tristate)


# Pairs that contradict each other when both are given a value that asks for something: a
# boolean given as false asks for nothing (Ansible's own mutually_exclusive would count it).
EXCLUSIVE = (('system_install', 'local_install'), ('skip_secrets', 'secrets_only'),
             ('run_as_user', 'no_run_as_user'), ('ipc_users', 'no_ipc_users'), ('ipc_groups', 'no_ipc_groups'),
             ('trusted_certs', 'skip_verification'))

# The secret ncs.conf variables (nso-install's VARIABLES with secret set; a test holds the two
# equal): the CLI refuses them in --set (secret-on-command-line), but only after the value was on
# its command line, and the task's failure then showed it in cmd.
SECRET_VARIABLES = ('crypto.aescfb128_key', 'crypto.aes256cfb128_key')


def conflicts(p):
    """The first pair of EXCLUSIVE both asked for, or None."""
    for pair in EXCLUSIVE:
        if all(p.get(name) for name in pair):
            return pair
    return None


def build_argv(p, secret_files):
    """The options of `nso-install install` (the distribution goes after them and --: command())."""
    argv = ['install']
    if p['local_install']:
        argv += ['--local-install', p['local_install']]
    flag(argv, 'system-install', p['system_install'])
    for name in ('install_dir', 'config_dir', 'run_dir', 'log_dir', 'run_as_user', 'init_system', 'profile',
                 'crypto_keys', 'lock_timeout', 'root'):
        opt(argv, name.replace('_', '-'), p[name])
    flag(argv, 'no-run-as-user', p['no_run_as_user'])
    for name in ('setuid_cmdwrapper', 'keep_ncs_setup', 'fips_install'):
        tristate(argv, name.replace('_', '-'), p[name])
    repeat(argv, 'ipc-user', p['ipc_users'])
    repeat(argv, 'ipc-group', p['ipc_groups'])
    # an empty list replaces the recorded one with nothing: the CLI says that with --no-ipc-*
    flag(argv, 'no-ipc-user', p['no_ipc_users'] or p['ipc_users'] == [])
    flag(argv, 'no-ipc-group', p['no_ipc_groups'] or p['ipc_groups'] == [])
    repeat(argv, 'values', p['values_files'])
    for k, v in sorted((p['set'] or {}).items()):
        argv += ['--set', '%s=%s' % (k, scalar(v, 'set ' + k))]
    set_file_args(argv, p['set_files'], secret_files)
    repeat(argv, 'unset', p['unset'])
    for name in ('reset_options', 'activate', 'skip_secrets', 'secrets_only', 'force_conf', 'skip_verification'):
        flag(argv, name.replace('_', '-'), p[name])
    repeat(argv, 'trusted-cert', p['trusted_certs'])
    return argv


def main():
    module = AnsibleModule(
        argument_spec=cli_argument_spec(
            distribution=dict(type='path', required=True),
            system_install=dict(type='bool', default=False),
            local_install=dict(type='path'),
            install_dir=dict(type='str'),
            config_dir=dict(type='str'),
            run_dir=dict(type='str'),
            log_dir=dict(type='str'),
            run_as_user=dict(type='str'),
            no_run_as_user=dict(type='bool', default=False),
            setuid_cmdwrapper=dict(type='bool'),
            keep_ncs_setup=dict(type='bool'),
            fips_install=dict(type='bool'),
            init_system=dict(type='str', choices=['systemd', 'sysv', 'none']),
            profile=dict(type='str', choices=['production', 'development']),
            ipc_users=dict(type='list', elements='str'),
            ipc_groups=dict(type='list', elements='str'),
            no_ipc_users=dict(type='bool', default=False),
            no_ipc_groups=dict(type='bool', default=False),
            values_files=dict(type='list', elements='path'),
            set=dict(type='dict'),
            set_files=dict(type='dict'),
            set_secrets=dict(type='dict', no_log=True),
            unset=dict(type='list', elements='str'),
            reset_options=dict(type='bool', default=False),
            crypto_keys=dict(type='path', no_log=False),  # a path, not the keys (no_log would mask it in cmd and actions)
            activate=dict(type='bool', default=False),
            skip_secrets=dict(type='bool', default=False, no_log=False),
            secrets_only=dict(type='bool', default=False, no_log=False),
            force_conf=dict(type='bool', default=False),
            skip_verification=dict(type='bool', default=False),
            trusted_certs=dict(type='list', elements='path', aliases=['trusted_cert']),
            lock_timeout=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    clash = conflicts(p)
    if clash:
        module.fail_json(msg='parameters are mutually exclusive: %s' % ' and '.join(clash))
    secret = sorted(k for k in p['set'] or {} if k in SECRET_VARIABLES)
    if secret:
        for k in secret:  # (Ansible masks these in the task's result, its invocation included)
            module.no_log_values.add(str(p['set'][k]))
        module.fail_json(msg='set %s: a secret ncs.conf value is not given in set (it would be on the command line '
                             'of nso-install, readable by every local user, and in the task\'s result)'
                             % ', '.join(secret),
                         hint='Give it in set_secrets (a private file on the managed host, --set-file).')
    exe = find_executable(module)
    if exe is None:
        if tool_pending(module):
            module.exit_json(changed=True, msg='nso-install is not installed yet: the install would run once it is',
                             cmd=[], actions=[], notes=[], totals={}, changed_count=0)
        missing_tool(module)

    result, data = run_report(module, exe, build_argv, positional=[p['distribution']])
    result['spec'] = data.get('spec', {})
    module.exit_json(**result)


if __name__ == '__main__':
    main()
