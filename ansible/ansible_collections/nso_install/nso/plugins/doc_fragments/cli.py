# -*- coding: utf-8 -*-
# The options every module that runs the nso-install CLI has (module_utils/cli.py: cli_argument_spec).

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  root:
    description:
      - C(--root) staging prefix.
      - An empty string is refused (the CLI would stage into the current directory); leave the
        option out for no staging root.
    type: path
  executable:
    description:
      - The nso-install program on the managed host. Default C(/opt/nso-install/venv/bin/nso-install)
        (where M(nso_install.nso.tool) puts it), else C(nso-install) on PATH.
      - Run as root, the module refuses a program another account could change. The program, the
        interpreter of its C(#!) line (a venv's Python, followed through its links), and every
        directory and link on the way must be root's and not writable by group or others; a sticky
        directory such as C(/tmp) is fine above an entry of root's.
    type: str
    aliases: [path]
'''
