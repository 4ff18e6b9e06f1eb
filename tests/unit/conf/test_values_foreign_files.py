"""Values files and --set-file files another account could have written: a warning, as for a
distribution (readers._foreign_warning). They choose the command NSO runs for its keys
(crypto.command, as NSO's account: root without --run-as-user), inline keys, the TLS files; a
world-writable values file in /tmp was read by root without a word."""

from __future__ import annotations

import os
import pwd

import pytest

from nso_install.conf.values import read_values
from support import cli

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account")


def _file(tmp_path, name: str, text: str, mode: int):
    f = tmp_path / name
    f.write_text(text)
    f.chmod(mode)
    return f


@pytest.mark.parametrize("mode, said", [(0o666, "is writable by others"), (0o664, "is writable by its group")])
def test_a_values_file_others_may_write_is_warned_about(tmp_path, mode, said):
    f = _file(tmp_path, "v.yaml", "crypto:\n  command: /tmp/keys\n", mode)
    warnings: list[str] = []
    assert read_values([f], warnings=warnings)["crypto.command"][0] == "/tmp/keys"
    assert len(warnings) == 1 and f"--values {f} {said}" in warnings[0] and "crypto.command" in warnings[0]


def test_a_set_file_others_may_write_is_warned_about_never_quoting_it(tmp_path):
    key = "0123456789abcdef" * 4
    f = _file(tmp_path, "k", key + "\n", 0o646)
    warnings: list[str] = []
    read_values(set_files=[f"crypto.aes256cfb128_key={f}"], warnings=warnings)
    assert len(warnings) == 1 and f"--set-file crypto.aes256cfb128_key={f} is writable by others" in warnings[0]
    assert key not in warnings[0]


@needs_root
def test_a_values_file_of_another_account_is_warned_about(tmp_path):
    f = _file(tmp_path, "v.toml", 'cli.ssh.port = 2024\n', 0o644)
    os.chown(f, pwd.getpwnam("nobody").pw_uid, -1)
    warnings: list[str] = []
    read_values([f], warnings=warnings)
    assert len(warnings) == 1 and "belongs to nobody" in warnings[0]


def test_files_only_root_may_write_bring_no_warning(tmp_path):
    f = _file(tmp_path, "v.yaml", "cli:\n  ssh:\n    port: 2024\n", 0o644)
    k = _file(tmp_path, "k", "ab" * 16, 0o600)
    warnings: list[str] = []
    read_values([f], set_files=[f"crypto.aescfb128_key={k}"], warnings=warnings)
    assert warnings == []


def test_render_conf_says_it(tmp_path):
    f = _file(tmp_path, "v.yaml", "cli:\n  ssh:\n    port: 2024\n", 0o666)
    root = tmp_path / "root"
    root.mkdir()
    r = cli("render-conf", "--nso-version", "6.5.3", "--root", root, "--values", f)
    assert "warning: --values" in r.stderr and "is writable by others" in r.stderr
    assert b"<port>2024</port>" in r.stdout_bytes


def test_install_reports_it_among_its_warnings(tmp_path, sample_dists):
    import json

    f = _file(tmp_path, "v.yaml", "cli:\n  ssh:\n    port: 2024\n", 0o666)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "root", "--values", f,
            "--check", "--json")
    assert any(w.startswith(f"--values {f} is writable by others") for w in json.loads(r.stdout)["warnings"])
