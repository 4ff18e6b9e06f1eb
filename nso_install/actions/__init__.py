"""Small typed actions, one module per domain.

* :mod:`.base` -- the action contract, outcomes, effects, desired attributes, shared guards;
* :mod:`.files` -- directories, files, conffiles, symlinks, removals, obsolete files, leftovers, hand-overs;
* :mod:`.tree` -- the unpacked distribution;
* :mod:`.accounts` -- groups, the NSO user, memberships;
* :mod:`.keys` -- crypto keys, the IPC secret, SSH host key, TLS key and certificate;
* :mod:`.privileges` -- setuid helpers and file capabilities.
"""

from .base import Action, Attrs, Context, Effects, Outcome, change, ok
from .files import Absent, ConfFile, Directory, File, Leftovers, Obsolete, RemoveTree, Reown, Symlink
from .tree import InstallTree

__all__ = ["Action", "Attrs", "Context", "Effects", "Outcome", "change", "ok", "Absent", "ConfFile", "Obsolete", "RemoveTree",
           "Directory", "File", "Leftovers", "Reown", "Symlink", "InstallTree"]
