"""Every audit check, by stable ID, in the order they are run and reported.

Checks register themselves with :func:`check` (a decorator on the function that judges the
target) when their module in :mod:`nso_install.audit.checks` is imported (which
:func:`nso_install.audit.all_checks` does); the Secure Deployment rows come from the shared
table :data:`nso_install.conf.secure.SECURE_DEPLOYMENT`.  :func:`select` applies ``--only`` /
``--skip``.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ..errors import UsageError
from .model import DOCUMENTED, INFERENCE, SEVERITIES, Check

ID_FORMAT = re.compile(r"NSO-[A-Z]+-[0-9]{3}")
# Domains in report order (an ID's middle part names its domain).
DOMAINS = ("LAYOUT", "USER", "PERM", "PRIV", "KEY", "TLS", "CONF", "SD", "IPC", "NET", "PAM", "SVC", "PROC", "DRIFT")

_CHECKS: dict[str, Check] = {}


def register(c: Check) -> Check:
    if not ID_FORMAT.fullmatch(c.id) or c.id.split("-")[1] not in DOMAINS:
        raise AssertionError(f"bad check id {c.id!r}")
    if c.id in _CHECKS and _CHECKS[c.id] != c:
        raise AssertionError(f"check id {c.id} registered twice")
    if c.severity not in SEVERITIES or c.kind not in (DOCUMENTED, INFERENCE):
        raise AssertionError(f"{c.id}: bad severity or source kind")
    _CHECKS[c.id] = c
    return c


def check(id: str, title: str, severity: str, remediation: str, source: str, *, inferred: bool = False):
    """Register the decorated function as the check ``id``.  ``source``: the documented
    recommendation with its reference, or (``inferred``) why nso-install asks for it."""
    def wrap(fn: Callable) -> Callable:
        register(Check(id, title, severity, id.split("-")[1].lower(), remediation, source,
                       INFERENCE if inferred else DOCUMENTED, fn))
        return fn
    return wrap


def _order(c: Check) -> tuple:
    return DOMAINS.index(c.id.split("-")[1]), c.id


def registered() -> list[Check]:
    """The checks registered so far, in report order."""
    return sorted(_CHECKS.values(), key=_order)


def select(checks: Sequence[Check], only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """The ``checks`` whose ID starts with one of ``only`` (all when empty) and with none of
    ``skip``; a prefix that matches no check is a usage error (a typo would silently audit less),
    and so are an empty prefix and a selection that leaves no check: ``--skip ""`` (an unset
    variable in a CI job) would skip every check, and an audit of nothing exits 0 like a clean one."""
    for option, prefixes in (("--only", only), ("--skip", skip)):
        for p in prefixes:
            if not p.strip():
                raise UsageError("unknown-check", f"{option} with an empty prefix would select every check.",
                                 "Give a check ID or a prefix such as NSO-PERM (nso-install audit --list), or leave "
                                 f"{option} out.")
            if not any(c.id.startswith(p.upper()) for c in checks):
                raise UsageError("unknown-check", f"{option} {p}: no check ID starts with {p!r}.",
                                 "Check IDs look like NSO-PERM-003; nso-install audit --list shows them all "
                                 "(a prefix such as NSO-PERM selects a domain).")
    up = [p.upper() for p in only]
    down = [p.upper() for p in skip]
    chosen = [c for c in checks if (not up or c.id.startswith(tuple(up))) and not c.id.startswith(tuple(down))]
    if checks and not chosen:
        raise UsageError("no-check-selected", "--only and --skip leave no check to run (an audit of nothing would "
                         "pass).", "Skip fewer checks; nso-install audit --list shows their IDs.")
    return chosen

