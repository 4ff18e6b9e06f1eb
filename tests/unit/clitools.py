"""Running the CLI in-process, as a user would, for the tests."""

from click.testing import CliRunner

from nso_install.cli import main


def cli(*args, ok=True):
    """Invoke ``nso-install ARGS``; with ok=True the command must succeed."""
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output + r.stderr
    return r
