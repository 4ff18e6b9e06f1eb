"""One error type for everything the user can fix, in the shape of pip's DiagnosticPipError.

``reference`` is a stable kebab-case id (scripts and tests match on it), ``message`` says
what is wrong and where, ``hint`` says how to fix it.  Messages must never contain secret
values; secrets travel as :class:`nso_install.secret.Secret`, whose str() is masked.
"""

from __future__ import annotations

# Exit codes, in one place: 0 success, 1 failure, 2 bad usage, 3 locked by another run,
# 4 ``--check --fail-on-change`` found changes to make (drift).
EXIT_FAILURE, EXIT_USAGE, EXIT_LOCKED, EXIT_CHANGES_PENDING = 1, 2, 3, 4
# Ended from outside, with what a shell reports for a process ended by that signal (128 + N):
# Ctrl-C (SIGINT), or the reader of the output gone (SIGPIPE: `| head`, a pager quit).
EXIT_INTERRUPTED, EXIT_CLOSED_PIPE = 130, 141


def exit_closed_pipe():
    """End quietly because the reader of the output has gone, as a Unix tool that SIGPIPE ends
    (``cat``, ``grep``): nothing more printed, status 141.  Python ignores SIGPIPE, so a write
    raised BrokenPipeError instead; its flush at exit would fail again, so the standard streams
    go to /dev/null first."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)
    sys.exit(EXIT_CLOSED_PIPE)


def sh(value) -> str:
    """``value`` as one word of a command line printed for an operator to copy and run
    (shlex.quote): a path with a blank, or a name another account chose (a distribution file
    named 'nso-6.5.3 $(id).tar.gz', a user in the NSO account's aaa_init.xml), stays that one
    argument when pasted, and runs nothing.  (printable() escapes control characters for the
    terminal; that is separate.)"""
    import shlex

    return shlex.quote(str(value))


def aim_systemctl(text: str, root: str | None) -> str:
    """``text`` with its systemctl commands aimed at the staging root ``root`` (``systemctl
    --root=ROOT``; None or "/": the host): bare, they act on the host's service."""
    staged = root is not None and str(root).rstrip("/") != ""
    return text.replace("systemctl ", f"systemctl --root={sh(root)} ") if staged else text


class NsoInstallError(Exception):
    exit_code = EXIT_FAILURE

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

    exit_code = EXIT_USAGE


class DistributionError(NsoInstallError):
    """The distribution cannot be read or is unsafe (hostile archive members...)."""


class UnsafePathError(NsoInstallError):
    """A path on the target is a symlink, escapes the root, or has the wrong type."""


class LockedError(NsoInstallError):
    exit_code = EXIT_LOCKED


class ApplyError(NsoInstallError):
    """An action failed while being applied."""


def require_one_of(value, choices, reference: str, what: str, hint: str, error=UsageError) -> None:
    """Refuse ``value`` unless it is one of ``choices``, naming what it was and the choices."""
    if value not in choices:
        raise error(reference, f"{what} {value!r} is not one of {', '.join(choices)}.", hint)
