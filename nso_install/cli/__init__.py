"""The command line: a thin click layer over the library, one module per group of commands.

* :mod:`.common` -- the ``nso-install`` group, shared options, the error funnel, safe output;
* :mod:`.install` -- ``install``, ``render-conf``, ``sample-dist``;
* :mod:`.lifecycle` -- ``status``/``list``, ``verify``, ``activate``, ``rollback``, ``uninstall``;
* :mod:`.keys` -- ``keys rotate``;
* :mod:`.audit` -- ``audit``;
* :mod:`.discover` -- ``variables``, ``man``.

The only package that prints, reads options, or exits.
"""

# The command modules are imported when a command is first needed (see .index), not here: the
# start-up time of `nso-install --help` or of one command is mostly imports.
from .common import main, printable

__all__ = ["main", "printable"]
