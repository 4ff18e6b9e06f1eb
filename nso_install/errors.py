"""One error type for everything the user can fix, in the shape of pip's DiagnosticPipError.

``reference`` is a stable kebab-case id (scripts and tests match on it), ``message`` says
what is wrong and where, ``hint`` says how to fix it.  Messages must never contain secret
values; secrets travel as :class:`nso_install.secret.Secret`, whose str() is masked.
"""

from __future__ import annotations


class NsoInstallError(Exception):
    exit_code = 1

    def __init__(self, reference: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.reference = reference
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text

    def as_dict(self) -> dict:
        return {"reference": self.reference, "message": self.message, "hint": self.hint}


class UsageError(NsoInstallError):
    """Bad options or option combinations (exit code 2, like click's UsageError)."""

    exit_code = 2


class NotSupportedYet(UsageError):
    def __init__(self, option: str, detail: str = ""):
        super().__init__(
            "not-supported-yet",
            f"{option} is not supported yet by nso-install{': ' + detail if detail else ''}.",
            "Leave the option out, or run NSO's own installer for this part.",
        )


class DistributionError(NsoInstallError):
    """The distribution cannot be read or is unsafe (hostile archive members...)."""


class UnsafePathError(NsoInstallError):
    """A path on the target is a symlink, escapes the root, or has the wrong type."""


class LockedError(NsoInstallError):
    exit_code = 3


class ApplyError(NsoInstallError):
    """An action failed while being applied."""
