"""Day-2 operations on an installed NSO: what is there, is it intact, switch, remove, rotate.

* :mod:`.installation` -- what a target holds (versions, the active one, the recorded spec,
  running NSO processes), read-only;
* :mod:`.status` -- ``nso-install status`` / ``list``;
* :mod:`.verify` -- ``nso-install verify [--full]``: the trees against their manifests, the
  privileged binaries against the spec, the config files against what nso-install wrote;
* :mod:`.activate` -- ``nso-install activate VSN`` and ``rollback``;
* :mod:`.uninstall` -- ``nso-install uninstall``;
* :mod:`.keys` -- ``nso-install keys rotate``.
"""
