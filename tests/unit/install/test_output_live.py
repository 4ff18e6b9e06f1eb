"""What an operator reads: lines printed as the run goes, colour only where it helps, each
warning once, owners in names."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from nso_install.cli import main
from nso_install.run import RunOptions, install
from nso_install.spec import SpecInput

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(*args, color=False, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], color=color, env=env or {}, catch_exceptions=False)


@pytest.fixture
def dist(sample_dists):
    return sample_dists["tar.gz"]


class Recorder:
    def __init__(self):
        self.events = []

    def started(self, header, resolution):
        self.events.append(("started", header))

    def record(self, rec):
        self.events.append(("record", rec.action.path, rec.changed))


def test_the_observer_hears_the_header_first_then_each_action_as_it_is_done(tmp_path, dist):
    seen = Recorder()
    result = install(SpecInput(kind="local", local_dir=str(tmp_path / "nso")), dist,
                     RunOptions(observer=seen))
    assert seen.events[0][0] == "started" and "local install of NSO 6.5.3" in seen.events[0][1]
    assert [e[1] for e in seen.events[1:]] == [r.action.path for r in result.report.records]
    assert [e[2] for e in seen.events[1:]] == [r.changed for r in result.report.records]


def test_lines_already_done_are_printed_before_a_failure(tmp_path, dist):
    target = tmp_path / "nso"
    run("install", dist, "--local-install", target)
    (target / "ncsrc").unlink()  # restored early in the plan ...
    (target / "etc/ncs/ncs.conf").unlink()
    (target / "etc/ncs/ncs.conf").mkdir()  # ... and a directory where the config file goes: that action fails
    r = run("install", dist, "--local-install", target)
    assert r.exit_code != 0
    out = r.output
    assert out.index("local install of NSO 6.5.3") < out.index("changed  file       " + str(target / "ncsrc")) \
        < out.index("Error: ")
    assert "Done:" not in out


def test_colour_on_a_terminal_none_when_piped_or_with_no_color(tmp_path, dist):
    coloured = run("install", dist, "--local-install", tmp_path / "a", color=True)
    assert "\x1b[33mchanged " in coloured.output  # a terminal: status in colour
    assert ANSI.search(run("install", dist, "--local-install", tmp_path / "b").output) is None  # piped
    plain = run("install", dist, "--local-install", tmp_path / "c", color=True, env={"NO_COLOR": "1"})
    assert ANSI.search(plain.output) is None


def test_diff_lines_are_coloured_by_sign(tmp_path, dist):
    run("install", dist, "--local-install", tmp_path / "nso")
    r = run("install", dist, "--local-install", tmp_path / "nso", "--set", "webui.tcp.port=8090", "--diff",
            color=True)
    assert "\x1b[32m+" in r.output and "\x1b[31m-" in r.output


@pytest.mark.skipif(os.geteuid() != 0, reason="stages a system install with an account (root only)")
def test_each_warning_is_printed_once(tmp_path, dist):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.chmod(root, 0o700)
    r = run("install", dist, "--system-install", "--root", root, "--run-as-user", "nso", "--check")
    assert r.stderr.count("the target has no /etc/passwd") == 1


def test_a_local_install_shows_its_owner_by_name(tmp_path, dist):
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    out = run("install", dist, "--local-install", tmp_path / "nso").output
    assert f"(0600 {me}:" in out and "-:-" not in out and "None" not in out


def test_a_first_system_install_prints_a_line_for_every_change_its_totals_count(root, dist):
    # the state directory and its parents are made for the lock before the plan is applied: their
    # lines were printed as "ok" (hidden) while the totals and --json counted them as changed
    r = run("install", dist, "--system-install", "--root", root)
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if line.startswith("  changed  ")]
    done = re.search(r"^Done: (\d+) changed", r.stdout, re.M)
    assert done and len(lines) == int(done.group(1))
    assert "  changed  directory  /var/lib/nso-install  (created (the run's lock lives in it))" in lines
