"""The engine's loop: check right before, apply, check again right after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
from support import PlanRun

from nso_install.actions.base import Action, change, ok
from nso_install.errors import ApplyError


@dataclass
class _Lazy(Action):
    """An action whose apply does nothing: it never converges."""

    path: str = "/lazy"
    reason: str = ""
    kind: ClassVar[str] = "lazy"
    fs: ClassVar[bool] = False
    applied: int = 0

    def check(self, facts, ctx):
        return change("wants something") if not self.applied or self.path == "/lazy" else ok("fine")

    def apply(self, facts, ctx, outcome):
        self.applied += 1


def test_an_action_still_unsatisfied_after_apply_is_an_error_not_a_success(tmp_path):
    with pytest.raises(ApplyError) as e:
        PlanRun(tmp_path).apply([_Lazy()])
    assert e.value.reference == "not-converged" and "lazy:/lazy" in e.value.message


def test_an_action_that_converges_is_reported_changed(tmp_path):
    act = _Lazy("/ok")
    report = PlanRun(tmp_path).apply([act])
    assert act.applied == 1 and [r.changed for r in report.records] == [True]


@dataclass
class _Failing(_Lazy):
    """An action whose apply fails on a path of its own choosing (as a tree's directory would)."""

    error: OSError = None

    def apply(self, facts, ctx, outcome):
        raise self.error


def test_a_failed_system_call_is_reported_with_the_path_it_failed_on(tmp_path):
    """'tree:/home/u/nso: Permission denied ... Fix the cause' named no path: the one the call
    failed on is often not the action's own (a directory inside a tree)."""
    import errno

    bad = _Failing("/tree", error=PermissionError(errno.EACCES, "Permission denied", "/home/u/nso/etc/ncs"))
    with pytest.raises(ApplyError) as e:
        PlanRun(tmp_path).apply([bad])
    assert e.value.reference == "apply-failed"
    assert e.value.message.startswith("lazy:/tree: Permission denied: /home/u/nso/etc/ncs (wants something)")
    bare = _Failing("/tree", error=OSError(errno.EIO, "Input/output error"))  # (no path: none shown)
    with pytest.raises(ApplyError) as e:
        PlanRun(tmp_path).apply([bare])
    assert e.value.message == "lazy:/tree: Input/output error (wants something)."
