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


@pytest.mark.parametrize("given", [
    ["--init-system", "systemd", "--ignore-systemd-script"],
    ["--ignore-init-scripts", "--init-system", "sysv"],
    ["--ignore-init-scripts", "--ignore-systemd-script"],
])
def test_conflicting_service_options_name_only_the_options_given(sample_dists, tmp_path, given):
    """It named all three options and hinted "--ignore-init-scripts installs no script at all"
    when --ignore-init-scripts was not given."""
    r = _run("install", str(sample_dists["dir"]), "--system-install", "--root", str(tmp_path / "r"), "--check",
             *given)
    assert r.exit_code == 2, r.output
    flags = [g if g.startswith("--ignore") else f"{g} {given[i + 1]}" for i, g in enumerate(given)
             if g.startswith("--")]
    error = r.output.splitlines()[0]
    assert error.startswith("Error: ") and " ask for different services: " in error, r.output
    assert all(f in error for f in flags), r.output
    for option in ("--ignore-init-scripts", "--ignore-systemd-script", "--init-system"):
        if option not in given:
            assert option + " " not in r.output.replace("--init-system systemd, sysv or none", ""), option
    assert not (tmp_path / "r").exists()


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


@pytest.mark.parametrize("kind,given,noted", [
    ("--system-install", ["--set-file", "crypto.aescfb128_key=K16"], "crypto.aescfb128_key given, but "
     "crypto.mechanism is external: not used"),
    ("--system-install", ["--set-file", "crypto.aescfb128_key=K16", "--set", "crypto.mechanism=inline",
                          "--set-file", "crypto.aes256cfb128_key=K32"], None),
    ("--local-install", ["--set", "crypto.command=/usr/local/bin/keys", "--set", "crypto.command_timeout=PT5S"],
     "crypto.command, crypto.command_timeout given, but crypto.mechanism is inline: not used"),
    ("--local-install", ["--set", "crypto.command=/usr/local/bin/keys", "--set", "crypto.mechanism=external"], None),
])
def test_a_crypto_value_the_mechanism_does_not_use_is_noted(sample_dists, tmp_path, kind, given, noted):
    """Inline keys given to a system install (external keys by default) were ignored without a
    word: the operator believed NSO used them."""
    (tmp_path / "k16").write_text("ab" * 16 + "\n")
    (tmp_path / "k32").write_text("cd" * 32 + "\n")
    given = [g.replace("K16", str(tmp_path / "k16")).replace("K32", str(tmp_path / "k32")) for g in given]
    where = ["--root", str(tmp_path / "r")] if kind == "--system-install" else [str(tmp_path / "nso")]
    (tmp_path / "r").mkdir(mode=0o700)
    r = _run("install", str(sample_dists["dir"]), kind, *where, "--check", *given)
    assert r.exit_code == 0, r.output
    if noted:
        assert f"note: {noted}" in r.output, r.output
    else:
        assert "crypto.mechanism is" not in r.output, r.output
    assert "abab" not in r.output and "cdcd" not in r.output


@pytest.mark.parametrize("command", [["install", "--system-install", "DIST"], ["activate", "6.5.3"], ["rollback"],
                                     ["uninstall", "--all"], ["keys", "rotate"]])
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "abc", "5m"])
def test_every_locking_command_refuses_a_wait_that_is_not_seconds(sample_dists, tmp_path, command, value):
    """inf and nan passed click's FloatRange(min=0) (nan compares false): activate, rollback,
    uninstall and keys rotate then waited for ever on a held lock; only install refused them."""
    root = tmp_path / "r"
    root.mkdir()
    args = [str(sample_dists["dir"]) if a == "DIST" else a for a in command]
    r = _run(*args, "--root", str(root), "--check", "--lock-timeout", value)
    assert r.exit_code == 2, r.output
    assert "Invalid value for '--lock-timeout'" in r.output, r.output
    if value != "-1":  # (not click's "'abc' is not a valid seconds.")
        assert f"'{value}' is not a number of seconds: give 0 " in r.output, r.output
    assert list(root.iterdir()) == []
