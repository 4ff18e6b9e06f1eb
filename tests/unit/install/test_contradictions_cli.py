"""Contradictory or meaningless options: refused with exit 2 (what, where, how to fix) or
noted (nso_install.spec.check_run_flags, the run's notes)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nso_install.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(args), prog_name="nso-install")


@pytest.mark.parametrize("extra,words", [
    (["--skip-secrets", "--secrets-only"], "--skip-secrets and --secrets-only exclude each other"),
    (["-q", "-v"], "-q/--quiet and -v/--verbose exclude each other"),
    (["--activate"], "--activate applies to system installs only"),
    (["--lock-timeout", "-1"], "--lock-timeout"),
    (["--lock-timeout", "nan"], "--lock-timeout"),
])
def test_refused_with_exit_2(sample_dists, tmp_path, extra, words):
    r = _run("install", str(sample_dists["dir"]), "--local-install", str(tmp_path / "nso"), "--check", *extra)
    assert r.exit_code == 2, r.output
    assert words in r.output
    assert not (tmp_path / "nso").exists()


def test_not_an_nso_directory_is_said_so(tmp_path):
    (tmp_path / "d" / "etc" / "systemd").mkdir(parents=True)
    (tmp_path / "d" / "etc" / "systemd" / "x.service").symlink_to("/etc/systemd/system/ncs.service")
    r = _run("install", str(tmp_path / "d"), "--local-install", str(tmp_path / "nso"), "--check")
    assert r.exit_code == 1
    assert "not an NSO distribution" in r.output and "tampered" not in r.output


@pytest.mark.parametrize("fmt,extra,noted", [
    ("tar.gz", ["--skip-verification"], True),
    ("dir", ["--skip-verification"], True),
    ("signed.bin", ["--skip-verification"], False),
])
def test_verification_options_without_a_signature_are_noted(sample_dists, tmp_path, fmt, extra, noted):
    r = _run("install", str(sample_dists[fmt]), "--local-install", str(tmp_path / "nso"), "--check", *extra)
    assert r.exit_code == 0, r.output
    assert ("--skip-verification had no effect" in r.output) is noted


def test_restconf_without_webui_is_noted(sample_dists, tmp_path):
    r = _run("install", str(sample_dists["dir"]), "--local-install", str(tmp_path / "nso"), "--check",
             "--set", "restconf.enabled=true", "--set", "webui.enabled=false")
    assert r.exit_code == 0, r.output
    assert "note: restconf.enabled=true with webui.enabled=false" in r.output
