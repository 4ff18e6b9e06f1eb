"""The command line imports only what the command at hand needs (start-up time is mostly imports):
``import nso_install.cli`` and ``nso-install --help`` import no command module and none of the heavy
libraries; a command's ``--help`` imports its own module only.  And the table that lets ``--help``
list the commands without importing them (:mod:`nso_install.cli.index`) says what the commands say.

Checked on ``sys.modules`` in a fresh interpreter, never on time."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from nso_install.cli import index, main
from nso_install.cli.common import summary

HEAVY = ("jinja2", "yaml", "plumbum", "psutil", "cryptography", "tomllib", "shutil", "pathlib", "json")
LIBRARY = ("nso_install.run", "nso_install.plan", "nso_install.distribution", "nso_install.spec",
           "nso_install.conf", "nso_install.facts", "nso_install.engine", "nso_install.audit")
COMMAND_MODULES = tuple(f"nso_install.cli.{m}" for m in index.MODULES)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after ``code`` (what it prints is thrown away)."""
    script = ("import sys, io, contextlib\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              + "".join(f"    {line}\n" for line in code.splitlines())
              + "print('\\n'.join(sorted(sys.modules)))\n")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(p.stdout.split())


def _run_main(*args: str) -> str:
    return (f"import sys\nsys.argv = ['nso-install', *{list(args)!r}]\nfrom nso_install.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY or m.startswith(LIBRARY))


def test_importing_the_cli_imports_no_heavy_module_and_no_command_module():
    mods = _modules_after("import nso_install.cli")
    assert not _heavy(mods), _heavy(mods)
    assert not mods & set(COMMAND_MODULES)


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_top_level_help_imports_no_command_module(args):
    mods = _modules_after(_run_main(*args))
    assert not _heavy(mods), _heavy(mods)
    assert not mods & set(COMMAND_MODULES)


@pytest.mark.parametrize("name", ["install", "render-conf", "audit", "status", "verify", "uninstall", "keys"])
def test_a_commands_help_imports_its_own_module_and_nothing_heavy(name):
    mods = _modules_after(_run_main(name, "--help"))
    own = f"nso_install.cli.{index.COMMANDS[name][0]}"
    assert own in mods
    assert not (mods & set(COMMAND_MODULES)) - {own}
    heavy = [m for m in _heavy(mods) if m.split(".")[0] != "shutil"]  # click's help formatter imports shutil
    assert not heavy, heavy


def test_the_index_says_what_the_commands_say():
    """A command added, renamed or re-summarised: write its module and summary in cli/index.py."""
    got = {name: (cmd.callback.__module__.rsplit(".", 1)[1], summary(cmd))
           for name, cmd in main.commands.items() if not cmd.hidden}
    assert got == index.COMMANDS, (
        "nso_install/cli/index.py's COMMANDS differs from the commands; it should read:\n"
        + "\n".join(f"    {n!r}: {v!r}," for n, v in sorted(got.items())))
    assert {module for module, _ in got.values()} <= set(index.MODULES)
    assert {cmd.callback.__module__.rsplit(".", 1)[1] for cmd in main.commands.values()} <= set(index.MODULES)


def test_every_command_is_reachable_through_the_lazy_group():
    ctx = click.Context(main)
    names = main.list_commands(ctx)
    assert set(index.COMMANDS) <= set(names)
    for name in names:
        assert main.get_command(ctx, name) is not None, name


def test_the_values_reader_imports_yaml_for_a_yaml_file_only(tmp_path):
    toml, yml = tmp_path / "v.toml", tmp_path / "v.yaml"
    toml.write_text("[cli.ssh]\nenabled = true\n")
    yml.write_text("cli:\n  ssh:\n    enabled: true\n")
    read = "from pathlib import Path\nfrom nso_install.conf.values import read_values\nread_values([Path({!r})])"
    assert "yaml" not in _modules_after("import nso_install.conf.values")
    assert "yaml" not in _modules_after(read.format(str(toml)))
    assert "yaml" in _modules_after(read.format(str(yml)))


# What a re-run that changes nothing, and --check on an installed root, must not import: templates
# are not rendered (their kept text, templates.py), host keys and the certificate not parsed (the
# audit's memo, audit/memo.py), services not asked; nor what only other inputs or other runs need
# (the variable table is data/variables.json, not TOML; random names come from os.urandom; the
# readers of self-extracting scripts and signatures are not needed for a tarball).
NOOP_HEAVY = ("jinja2", "yaml", "plumbum", "psutil", "cryptography", "tomllib", "socket", "secrets", "tempfile")
NOOP_UNUSED = ("nso_install.distribution.selfextract", "nso_install.distribution.signature")


@pytest.fixture(scope="module")
def installed(tmp_path_factory, sample_dists):
    root = tmp_path_factory.mktemp("lazy") / "root"
    dist = sample_dists["tar.gz"]
    subprocess.run([sys.executable, "-m", "nso_install", "install", str(dist), "--system-install", "--root",
                    str(root), "-q"], check=True, capture_output=True)
    return dist, root


@pytest.mark.parametrize("extra", [["--json"], ["--check", "-q"]])
def test_a_noop_rerun_and_check_import_no_heavy_library(installed, extra):
    dist, root = installed
    mods = _modules_after(_run_main("install", str(dist), "--system-install", "--root", str(root), *extra))
    assert "nso_install.engine" in mods and ("nso_install.audit.memo" in mods) == ("--json" in extra)  # it ran
    assert not sorted(m for m in mods if m.split(".")[0] in NOOP_HEAVY or m in NOOP_UNUSED)


def test_every_dataclass_of_the_package_has_its_own_docstring():
    """@dataclass makes a docstring from ``inspect.signature`` for a class that has none, at import
    (about 0.4 ms a class: a no-op re-run imports some 70 dataclasses), so each gets its own."""
    import dataclasses
    import importlib
    import pkgutil

    import nso_install

    missing = []
    for info in pkgutil.walk_packages(nso_install.__path__, "nso_install."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        missing += [f"{info.name}.{name}" for name, obj in vars(module).items()
                    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == info.name
                    and "__doc__" in vars(obj) and (obj.__doc__ or "").startswith(f"{obj.__name__}(")]
    assert not missing
