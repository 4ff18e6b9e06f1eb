"""The audit's checks, one module per domain; importing this package registers them all.

* :mod:`.layout` -- ``NSO-LAYOUT``: INSTALL_DIR/current and the version directories;
* :mod:`.conf` -- ``NSO-CONF``: ncs.conf is one the active NSO starts with;
* :mod:`.account` -- ``NSO-USER``: NSO runs as an unprivileged account;
* :mod:`.permissions` -- ``NSO-PERM``: owners and modes of ncs.conf, keys, the IPC secret, host
  keys, the TLS key, the config, run and log directories; world-writable and foreign-owned entries;
* :mod:`.privileges` -- ``NSO-PRIV``: setuid bits and file capabilities exactly where intended;
* :mod:`.keys` -- ``NSO-KEY``, ``NSO-TLS``: key formats and strength, the TLS certificate;
* :mod:`.secure` -- ``NSO-SD``, ``NSO-IPC-001``: the Secure Deployment table of
  :mod:`nso_install.conf.secure`, judged on the target's ncs.conf;
* :mod:`.ipc` -- ``NSO-IPC``: the socket directory and who can reach NSO's IPC;
* :mod:`.network` -- ``NSO-NET``: the northbound listeners and their addresses;
* :mod:`.host` -- ``NSO-PAM``, ``NSO-SVC``, ``NSO-PROC``: the PAM service, the unit's exposure
  and who can change what it reads (its drop-ins' environment files), the running NSO;
* :mod:`.drift` -- ``NSO-DRIFT``: the install against nso-install's records (``verify``).

A check's source names NSO's documentation by a short reference (G-INST, G-IPC...);
docs/checks.md lists them under "Sources" (:data:`nso_install.audit.docs.SOURCES`).
"""

from . import account, conf, drift, host, ipc, keys, layout, network, permissions, privileges, secure

__all__ = ["account", "conf", "drift", "host", "ipc", "keys", "layout", "network", "permissions", "privileges",
           "secure"]  # importing them registers their checks
