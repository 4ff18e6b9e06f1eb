# -*- coding: utf-8 -*-
# A minimal connection plugin for the integration test (tests/integration/test_ansible_fleet.py):
# runs modules in a local Docker container with the docker CLI (docker exec / docker cp), as
# root. community.docker.docker does the same and more, but comes only with the 570 MB `ansible`
# package; this keeps the test on ansible-core alone. Not part of the collection.

from __future__ import annotations

DOCUMENTATION = r'''
name: docker_exec
short_description: Run tasks in a local container with the docker CLI (test helper)
description:
  - docker exec / docker cp against the container named by the inventory host (or ansible_host).
author: nso-install maintainers
options:
  remote_addr:
    description: The container name.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
'''

import os
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleFileNotFound
from ansible.plugins.connection import ConnectionBase


class Connection(ConnectionBase):
    transport = 'docker_exec'
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._docker = shutil.which('docker') or 'docker'

    @property
    def _container(self):
        return self.get_option('remote_addr')

    def _connect(self):
        if not self._connected:
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = [self._docker, 'exec', '-i', self._container, '/bin/sh', '-c', cmd]
        p = subprocess.run(argv, input=in_data, capture_output=True)
        if p.returncode == 125 or (p.returncode == 1 and b'No such container' in p.stderr):
            raise AnsibleConnectionFailure('container %s: %s' % (self._container, p.stderr.decode(errors='replace')))
        return p.returncode, p.stdout, p.stderr

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        if not os.path.exists(in_path):
            raise AnsibleFileNotFound('file or module does not exist: %s' % in_path)
        with open(in_path, 'rb') as f:
            p = subprocess.run([self._docker, 'exec', '-i', self._container, '/bin/sh', '-c',
                                'cat > "$0"', out_path], stdin=f, capture_output=True)
        if p.returncode:
            raise AnsibleConnectionFailure('put %s -> %s:%s failed: %s' % (in_path, self._container, out_path,
                                                                           p.stderr.decode(errors='replace')))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        with open(out_path, 'wb') as f:
            p = subprocess.run([self._docker, 'exec', self._container, 'cat', in_path], stdout=f,
                               stderr=subprocess.PIPE)
        if p.returncode:
            raise AnsibleConnectionFailure('fetch %s:%s failed: %s' % (self._container, in_path,
                                                                       p.stderr.decode(errors='replace')))

    def close(self):
        self._connected = False
