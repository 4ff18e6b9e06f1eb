"""ncs.conf: variables and profiles, operator values, rendering and validation.

* :mod:`.variables` -- what can be set, its type and the defaults of each profile;
* :mod:`.values` -- values files, ``--set``, and checking values and their combinations;
* :mod:`.render` -- the template, client environment, what an install writes;
* :mod:`.validate` -- an ncs.conf text against the element table of ncs.conf(5).

Variables, their meaning, defaults per profile and element paths: ``docs/ncs-conf.md``.
"""

from .render import TEMPLATE, client_environment, render_ncs_conf
from .validate import NAMESPACE, Element, element_table, validate_ncs_conf
from .values import effective_values, load_values
from .variables import PROFILES, VARIABLES, ConfContext, Variable, profile_defaults

__all__ = [
    "ConfContext", "Variable", "VARIABLES", "PROFILES", "NAMESPACE", "Element",
    "load_values", "effective_values", "profile_defaults", "render_ncs_conf", "validate_ncs_conf",
    "element_table", "client_environment", "TEMPLATE",
]
