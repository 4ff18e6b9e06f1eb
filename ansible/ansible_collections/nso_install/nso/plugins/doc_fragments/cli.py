# -*- coding: utf-8 -*-
# The options every module that runs the nso-install CLI has (module_utils/cli.py: cli_argument_spec).

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  root:
    description: C(--root) staging prefix.
    type: path
  executable:
    description:
      - The nso-install program on the managed host. Default C(/opt/nso-install/venv/bin/nso-install)
        (where M(nso_install.nso.tool) puts it), else C(nso-install) on PATH.
    type: str
    aliases: [path]
'''
