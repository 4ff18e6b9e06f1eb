"""The command line: a thin click layer over the library, one module per group of commands.

* :mod:`.common` -- the ``nso-install`` group, shared options, the error funnel, safe output;
* :mod:`.install` -- ``install``, ``render-conf``, ``sample-dist``;
* :mod:`.lifecycle` -- ``status``/``list``, ``verify``, ``activate``, ``rollback``, ``uninstall``;
* :mod:`.keys` -- ``keys rotate``;
* :mod:`.audit` -- ``audit``.

The only package that prints, reads options, or exits.
"""

from . import audit, install, keys, lifecycle  # noqa: F401 (importing a command module registers its commands)
from .common import main, printable

__all__ = ["main", "printable"]
