"""The error funnel every command goes through (cli.common.guarded): what reaches the user
when something other than an nso-install error ends a command."""

from __future__ import annotations

import os

import pytest

from nso_install.cli.common import guarded


def _run(exc, capsys, **kw):
    @guarded
    def command(**_):
        raise exc

    with pytest.raises(SystemExit) as e:
        command(**kw)
    return e.value.code, capsys.readouterr()


def test_a_permission_error_is_the_host_saying_no_not_a_bug_nor_a_traceback(capsys):
    """A PermissionError nothing foresaw showed a Python traceback (it was re-raised unless root
    lacked capabilities)."""
    code, out = _run(PermissionError(13, "Permission denied", "/srv/nso/a"), capsys)
    assert code == 1
    assert f"Error: Permission denied (/srv/nso/a), as uid {os.geteuid()}." in out.err
    assert "Hint: " in out.err and "bug" not in out.err and "Traceback" not in out.err


def test_with_verbose_the_permission_error_keeps_its_traceback():
    @guarded
    def command(**_):
        raise PermissionError(13, "Permission denied", "/x")

    with pytest.raises(PermissionError):
        command(verbose=1)
