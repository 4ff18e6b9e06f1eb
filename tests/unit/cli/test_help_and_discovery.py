"""Help and discovery: whole command summaries, every option described, `variables` from the
same source as docs/ncs-conf.md, shell completion of --set, the man page in step with the CLI,
and docs that messages point to shipped with the wheel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nso_install.cli import main
from nso_install.cli.common import summary
from nso_install.conf import VARIABLES

ROOT = Path(__file__).resolve().parents[3]


def _commands(cmd=main, path=("nso-install",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_option_and_argument_is_described():
    missing = []
    for path, cmd in _commands():
        if not (cmd.help or cmd.short_help):
            missing.append(" ".join(path))
        for p in cmd.params:
            if isinstance(p, click.Option) and not (p.help or "").strip():
                missing.append(f"{' '.join(path)} {p.opts[0]}")
            if isinstance(p, click.Argument) and p.human_readable_name.strip("[]") not in (cmd.help or ""):
                missing.append(f"{' '.join(path)} argument {p.human_readable_name}")
    assert not missing, "without help text: " + ", ".join(missing)


def test_no_option_takes_a_bare_text():
    """--install-dir TEXT, --nso-version TEXT: the help said a directory or a version is "TEXT"
    where the README says DIR and VSN."""
    ctx = click.Context(main)
    vague = [f"{' '.join(path)} {p.opts[0]}" for path, cmd in _commands() for p in cmd.params
             if isinstance(p, click.Option) and not p.is_flag and p.make_metavar(ctx) == "TEXT"]
    assert not vague, "metavar TEXT: " + ", ".join(vague)


def test_an_option_whose_help_names_dir_shows_dir():
    """--root DIRECTORY: the help went on 'every path lands under DIR' (and the README says
    --root DIR), naming a value the usage line did not show."""
    ctx = click.Context(main)
    unnamed = [f"{' '.join(path)} {p.opts[0]} {p.make_metavar(ctx)}" for path, cmd in _commands() for p in cmd.params
               if isinstance(p, click.Option) and not p.is_flag and re.search(r"\bDIR\b", p.help or "")
               and p.make_metavar(ctx) != "DIR"]
    assert not unnamed, "help says DIR, usage does not: " + ", ".join(unnamed)


@pytest.mark.parametrize("width", [60, 80, 100])
def test_command_summaries_are_whole(width):
    r = CliRunner().invoke(main, ["--help"], terminal_width=width)
    assert r.exit_code == 0
    text = "".join(r.output.split())  # wrapped lines (textwrap also breaks after hyphens) joined again
    for name, cmd in main.commands.items():
        assert "".join(summary(cmd).split()) in text, name
    assert "..." not in r.output.split("Commands:")[1]


@pytest.mark.parametrize("env,tty", [({}, False), ({}, True), ({"NO_COLOR": "1"}, True)])
def test_help_has_no_escape_sequences_with_or_without_a_terminal(env, tty):
    for path, _ in _commands():
        r = CliRunner().invoke(main, [*path[1:], "--help"], env=env, color=tty, prog_name="nso-install")
        assert r.exit_code == 0, path
        assert "\x1b" not in r.output, path
        assert "Usage: nso-install" in r.output


def test_variables_lists_every_variable_from_the_docs_source():
    from nso_install.conf.listing import docs_section, markdown_table

    r = CliRunner().invoke(main, ["variables", "--json"])
    got = __import__("json").loads(r.output)["variables"]
    assert [v["name"] for v in got] == list(VARIABLES)
    port = next(v for v in got if v["name"] == "cli.ssh.port")
    assert port["default"] == {"development": "2024", "production": "2024"} and "port number" in port["type"]
    # docs/ncs-conf.md holds exactly the generated table (python -m nso_install.conf.listing docs/ncs-conf.md)
    assert docs_section((ROOT / "docs" / "ncs-conf.md").read_text(encoding="utf-8")) == markdown_table()


def test_the_variables_table_runs_read_is_the_toml_people_edit():
    # data/variables.json (read on every run: json, not tomllib) is written from variables.toml by
    # python -m nso_install.conf.listing docs/ncs-conf.md
    from nso_install.conf import variables

    table = variables.table_from_toml()
    assert (ROOT / "nso_install" / "data" / "variables.json").read_bytes() == variables.json_of(table)
    assert variables._variables(table) == VARIABLES


def test_variables_pattern_and_no_match():
    r = CliRunner().invoke(main, ["variables", "webui.ssl.*"])
    names = re.findall(r"^(\S+)  \(", r.output, re.M)
    assert names and all(n.startswith("webui.ssl.") for n in names)
    assert "production:  true" in r.output  # webui.ssl.enabled, plain text (no Markdown)
    assert "`" not in r.output
    r = CliRunner().invoke(main, ["variables", "nosuchthing"])
    assert r.exit_code == 2 and "no ncs.conf variable matches" in r.output
    # --json exits as it would without it (docs/json.md): it printed an empty list and exited 0
    r = CliRunner().invoke(main, ["variables", "--json", "nosuchthing"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "unknown-variable"


def test_variables_pattern_matches_the_ncs_conf_element_path_too():
    """An operator reading ncs.conf(5) looks up the element (server-host-key): "no ncs.conf
    variable matches" sent them through the whole list to find ssh.server_host_key."""
    def names(*args):
        return re.findall(r"^(\S+)  \(", CliRunner().invoke(main, ["variables", *args]).output, re.M)

    assert names("server-host-key") == ["ssh.server_host_key"]
    webui = names("/ncs-config/webui/*")
    assert webui and all(VARIABLES[n].element.startswith("/ncs-config/webui/") for n in webui)
    assert set(webui) >= {"webui.enabled", "webui.ssl.enabled"}
    # whole words of the path: `variables port` (the help's example) listed every variable of a
    # .../transport/... element too (webui.ssl.cert_file, netconf.tcp.enabled...)
    assert names("port") == [n for n in VARIABLES if "port" in n]
    assert names("host-key") == ["ssh.server_host_key"] and "webui.ssl.port" in names("webui/transport")


def test_set_completes_variable_names_then_values():
    from nso_install.cli.common import complete_set

    assert {c.value for c in complete_set("cli.ssh.p")} == {"cli.ssh.port="}
    assert {c.value for c in complete_set("cli.ssh.enabled=t")} == {"cli.ssh.enabled=true"}
    assert {c.value for c in complete_set("ipc.transport=")} == {"ipc.transport=unix", "ipc.transport=tcp"}
    assert len(complete_set("")) == len(VARIABLES)


def test_bash_completion_through_click(monkeypatch):
    env = {"_NSO_INSTALL_COMPLETE": "bash_complete", "COMP_WORDS": "nso-install install --set webui.ssl.p",
           "COMP_CWORD": "3"}
    r = CliRunner().invoke(main, [], env=env, prog_name="nso-install")
    assert "webui.ssl.port=" in r.output


def test_man_page_is_in_step_with_the_cli_and_renders():
    from nso_install.manpage import MAN_PATH, render

    text = render()
    assert (ROOT / MAN_PATH).read_text(encoding="utf-8") == text, \
        "regenerate: python -m nso_install.manpage share/man/man1/nso-install.1"
    assert CliRunner().invoke(main, ["man"]).output == text
    for path, cmd in _commands():
        if len(path) > 1:
            assert f'.SS "{" ".join(path)}"'.replace("-", "\\-") in text
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.opts[0].replace("-", "\\-") in text
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed")
    r = subprocess.run([man, "-l", str(ROOT / MAN_PATH)], capture_output=True, text=True,
                       env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat"})
    assert r.returncode == 0 and "NSO-INSTALL(1)" in r.stdout and "nso-install install" in r.stdout
    assert "warning" not in r.stderr.lower(), r.stderr


def test_docs_mentioned_in_messages_exist_and_are_shipped():
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert shipped["shared-data"]["docs"] == "share/doc/nso-install"
    assert shipped["shared-data"]["share/man/man1/nso-install.1"] == "share/man/man1/nso-install.1"
    mentioned = set()
    for py in (ROOT / "nso_install").rglob("*.py"):
        mentioned |= set(re.findall(r"\bdocs/([A-Za-z0-9_.-]+\.md)", py.read_text(encoding="utf-8")))
    assert mentioned
    missing = sorted(m for m in mentioned if not (ROOT / "docs" / m).is_file())
    assert not missing, f"messages point to docs that do not exist: {missing}"


def test_no_user_visible_text_cites_the_internal_facts_sheet():
    """Sources and notes cited "facts sheet 18.7" and "facts sheet section 10", a document users
    do not have; comments and docstrings may keep such references."""
    import ast

    import nso_install

    cited = []
    for path in Path(nso_install.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        cited += [f"{path.name}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and "facts sheet" in n.value and id(n) not in docstrings]
    assert cited == []


def test_render_conf_help_promises_nothing_it_does_not_do():
    """render-conf reused install's help: "(created if missing)", "withdraws everything a run-as
    user was granted", "Grant USER ..." -- though it changes nothing."""
    runner = CliRunner()
    render = runner.invoke(main, ["render-conf", "--help"]).output
    install = runner.invoke(main, ["install", "--help"]).output
    promises = ("created if missing", "withdraws everything", "Withdraw every", "Grant USER", "Grant the members",
                "Service to install", "Forget a value", "lands under DIR")
    assert [p for p in promises if p not in " ".join(install.split())] == []
    assert [p for p in promises if p in " ".join(render.split())] == []
    assert "nothing is withdrawn here" in " ".join(render.split())


def test_operations_doc_says_which_day_2_commands_take_check():
    """docs/operations.md said every day-2 command accepts --check; status and verify have none."""
    text = " ".join((ROOT / "docs/operations.md").read_text().split())
    said = re.search(r"Those that change something \(([^)]*)\) also take `--check`", text)
    assert said, "the sentence naming the commands with --check"
    named = set(re.findall(r"`([a-z ]+)`", said.group(1)))
    runner = CliRunner()
    with_check = {c for c in ("status", "verify", "activate", "rollback", "uninstall", "keys rotate")
                  if "--check" in runner.invoke(main, [*c.split(), "--help"]).output}
    assert named == with_check == {"activate", "rollback", "uninstall", "keys rotate"}


# --- nso-install --help without click (nso_install.replay.prerendered_help) -----------------------

def test_the_stored_help_is_click_s():
    from nso_install.cli.helptext import COLUMNS, render
    from nso_install.helptext import TEXT

    assert TEXT == {min(c, 100) - 2: render(c) for c in COLUMNS}, \
        "regenerate: python -m nso_install.cli.helptext nso_install/helptext.py"


def _console(*args, argv0="/usr/local/bin/nso-install", env=None):
    """The console script's entry in a process of its own, with the modules it imported."""
    import nso_install

    # (this checkout's package without PYTHONPATH, which a run as root judges)
    here = str(Path(nso_install.__file__).parents[1])
    code = (f"import sys; sys.path.insert(0, {here!r}); sys.argv = [{argv0!r}, *{list(args)!r}]\n"
            "from nso_install.replay import console\n"
            "try:\n    console()\nfinally:\n    print('\\0' + ' '.join(sorted(sys.modules)), end='')")
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**base, **(env or {})})
    out, _, modules = r.stdout.rpartition("\0")
    return r.returncode, out, r.stderr, set(modules.split())


@pytest.mark.parametrize("args,columns", [(["--help"], None), (["-h"], "80"), (["--help"], "132")])
def test_help_is_printed_without_importing_click(args, columns):
    """`nso-install --help` imported click only to print a text that changes with the command
    definitions alone: more than half of its time (bench/bench_startup.py, help / click)."""
    from nso_install.cli.helptext import render

    code, out, err, modules = _console(*args, env={"COLUMNS": columns} if columns else None)
    assert (code, err) == (0, "") and out == render(int(columns or 80))
    assert "click" not in modules


@pytest.mark.parametrize("args,argv0,env", [
    (["--help"], "/usr/local/bin/nso-install", {"COLUMNS": "60"}),  # another width
    (["--help"], "/usr/lib/python3/dist-packages/nso_install/__main__.py", None),  # another program name
    (["install", "--help"], "/usr/local/bin/nso-install", None),  # another text
])
def test_help_the_stored_text_does_not_match_is_clicks(args, argv0, env):
    code, out, err, modules = _console(*args, argv0=argv0, env=env)
    assert code == 0 and "click" in modules and out.startswith("Usage: ")
    if env:
        assert out.splitlines()[3] == "  actions, show or apply them."  # (wrapped at 58)


@pytest.mark.skipif(os.geteuid() != 0, reason="the guard is for root")
def test_help_as_root_in_a_python_that_may_have_run_other_code_is_still_refused():
    code, out, err, modules = _console("--help", env={"PYTHONSTARTUP": "/nonexistent"})
    assert code == 2 and "may already have run another account's code" in err and "Usage:" not in out
