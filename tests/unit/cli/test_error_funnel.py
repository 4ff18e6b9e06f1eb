"""The error funnel every command goes through (cli.common.guarded): what reaches the user
when something other than an nso-install error ends a command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nso_install.cli import main
from nso_install.cli.common import guarded
from support import cli


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


@pytest.mark.parametrize("exc, reference", [(PermissionError(13, "Permission denied", "/srv/nso/a"), "permission-denied"),
                                            (RuntimeError("boom"), "internal-error")])
def test_with_verbose_and_json_the_document_is_still_on_stdout_and_the_traceback_on_stderr(exc, reference, capsys):
    """--json -v ended with the traceback alone and nothing on stdout, where docs/json.md
    promises the document (found by review)."""
    import json

    code, out = _run(exc, capsys, verbose=1, as_json=True)
    assert code == 1
    assert json.loads(out.out)["error"]["reference"] == reference
    assert "Traceback (most recent call last)" in out.err and type(exc).__name__ in out.err


@pytest.mark.parametrize("args", [["variables"], ["man"], ["--help"], ["install", "--help"]])
def test_a_closed_output_pipe_ends_quietly_with_141_like_other_unix_tools(args):
    """`nso-install variables | head -3` said "unexpected BrokenPipeError ... This is a bug in
    nso-install" and exited 1. The reader here is gone before the first write."""
    read, write = os.pipe()
    os.close(read)
    p = subprocess.Popen([sys.executable, "-m", "nso_install", *args], stdout=write, stderr=subprocess.PIPE,
                         env={**os.environ, "NSO_INSTALL_REPLAY": "0"})
    os.close(write)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == b""


def test_an_interrupt_exits_130_and_says_so(monkeypatch, sample_dists, tmp_path):
    """Ctrl-C ended with click's "Aborted!" and exit 1, the status of a failure."""
    import nso_install.run

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(nso_install.run, "install", interrupted)
    r = CliRunner().invoke(main, ["install", str(sample_dists["tar.gz"]), "--local-install", str(tmp_path / "n")])
    assert r.exit_code == 130 and r.stderr == "\nInterrupted.\n" and "Aborted" not in r.output


@pytest.mark.parametrize("args", [["status", "--root", ""], ["install", "", "--system-install", "--check"],
                                  ["install", "DIST", "--system-install", "--crypto-keys", ""],
                                  ["verify", "--local-install", ""], ["install", "DIST", "--local-install", ""],
                                  ["install", "DIST", ""], ["render-conf", "--local-install", ""]])
def test_an_empty_path_is_refused_not_taken_for_the_current_directory(args, sample_dists, tmp_path, monkeypatch):
    """--root "" (an empty Ansible variable, say) staged the keys into the current directory."""
    monkeypatch.chdir(tmp_path)
    r = cli(*[str(sample_dists["tar.gz"]) if a == "DIST" else a for a in args], ok=False)
    assert r.exit_code == 2 and "an empty path, which would mean the current directory" in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [["status"], ["list"], ["verify"], ["activate", "6.5.3"], ["rollback"],
                                     ["uninstall", "--all", "--check"], ["keys", "rotate", "--check"]])
def test_an_empty_install_dir_is_refused_not_taken_for_the_recorded_one(command, tmp_path):
    """--install-dir "" (an unset variable) read, and uninstall --all removed, the recorded install,
    where install refuses it (relative-path)."""
    r = cli(*command, "--root", tmp_path, "--install-dir", "", ok=False)
    assert r.exit_code == 2 and "'--install-dir': an empty path: give the install's INSTALL_DIR" in r.stderr, \
        r.output + r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [["install", "DIST", "--check"], ["install", "DIST"], ["status"], ["verify"],
                                     ["render-conf"]])
@pytest.mark.parametrize("given, reference, said", [("nso", "relative-path", "'nso' is not absolute: under --root"),
                                                    ("/a/../nso", "dotdot-path", "'/a/../nso' contains '..'")])
def test_a_local_install_directory_under_root_that_is_no_target_path_is_named_as_given(command, given, reference,
                                                                                       said, sample_dists, tmp_path):
    """install DIST nso --root R (a relative local directory) said "path 'nso/.nso-install/state.json'
    is not absolute" and to give absolute install, config, run and log directories."""
    import json

    args = [str(sample_dists["tar.gz"]) if a == "DIST" else a for a in command]
    r = cli(*args, "--local-install", given, "--root", tmp_path, ok=False)
    assert r.exit_code == 2 and f"Error: the local install directory {said}" in r.stderr, r.output + r.stderr
    assert "state.json" not in r.stderr and os.listdir(tmp_path) == []
    if command[0] != "render-conf":
        r = cli(*args, "--local-install", given, "--root", tmp_path, "--json", ok=False)
        assert json.loads(r.stdout)["error"]["reference"] == reference


def test_the_hint_of_an_unexpected_error_names_v_only_where_the_command_has_it(monkeypatch, tmp_path):
    """A docs review: sample-dist (and man) have no -v, yet an unexpected error there said
    "re-run with -v for the traceback", which click then refused ("No such option '-v'")."""
    import nso_install.sample

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(nso_install.sample, "make_sample_distribution", broken)
    r = CliRunner().invoke(main, ["sample-dist", str(tmp_path / "d")])
    assert r.exit_code == 1 and "unexpected RuntimeError: boom" in r.stderr
    assert "-v" not in r.stderr and "report it" in r.stderr, r.stderr
    import nso_install.conf.listing

    monkeypatch.setattr(nso_install.conf.listing, "rows", broken)
    r = CliRunner().invoke(main, ["variables"])
    assert r.exit_code == 1 and "re-run with -v for the traceback" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="plays nobody (root only)")
def test_a_permission_error_names_the_path_in_full_not_the_entry_alone(sample_dists):
    """Calls made relative to a directory descriptor (fsops.parent_dir) failed naming the entry
    alone: an ordinary user staging into a --root it may not write read "Permission denied (var),
    as uid 65534", and an apply that failed said ".nso-install-tmp.ncs.conf.1234abcd" without
    where (found by review)."""
    import json
    import shutil

    from support import as_nobody, public_tmp_dir

    with public_tmp_dir() as d:
        root = d / "root"
        root.mkdir(mode=0o755)  # root's, 0755: nobody may not create var/ in it
        dist = shutil.copy(sample_dists["tar.gz"], d)
        os.chmod(dist, 0o644)
        with as_nobody():
            r = cli("install", dist, "--system-install", "--root", root, "--json", ok=False)
        assert r.exit_code == 1
        error = json.loads(r.stdout)["error"]
        assert error["reference"] == "permission-denied", (error, r.stderr)
        assert f"Permission denied ({root}/var), as uid 65534." == error["message"], error
        assert f"({root}/var)" in r.stderr
        assert os.listdir(root) == []


def test_an_interrupt_after_the_run_began_changing_things_says_to_re_run(monkeypatch, sample_dists, tmp_path):
    """"Interrupted." alone left an operator who pressed Ctrl-C half way through an install to
    find out from status or verify that the run was to be completed."""
    import nso_install.run

    seen = []

    def stop_at_the_fifth(rec, made):
        seen.append(rec)
        if len(seen) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(nso_install.run, "_created_for_the_lock", stop_at_the_fifth)
    target = tmp_path / "n"
    r = CliRunner().invoke(main, ["install", str(sample_dists["tar.gz"]), "--local-install", str(target)])
    assert r.exit_code == 130 and "\nInterrupted.\nHint: the run had begun changing things; what it did is kept. " \
        "Re-run the same command to complete it" in r.stderr, r.stderr
    monkeypatch.undo()
    assert "did not finish" in cli("verify", "--local-install", target, ok=False).output
    r = CliRunner().invoke(main, ["install", str(sample_dists["tar.gz"]), "--local-install", str(target)])
    assert r.exit_code == 0 and "did not finish" not in cli("verify", "--local-install", target).output
