"""--crypto-keys and --trusted-cert files another account could have written are warned about,
as values files and distributions are: the first chooses NSO's encryption keys, the second
which signer a signed.bin may come from (a certificate put there makes the pin mean nothing).
Before: root read them without a word, whoever owned or could write them."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from nso_install.sample import certificate_pem
from support import NOBODY, cli


def _warnings(r) -> list[str]:
    return json.loads(r.stdout)["warnings"]


@pytest.mark.parametrize("how", ["others", "group", "owner", "root-only"])
def test_a_trusted_cert_another_account_could_write_is_warned_about(tmp_path, sample_dists, how):
    if how == "owner" and os.geteuid() != 0:
        pytest.skip("chown to another account needs root")
    pem = tmp_path / "cisco.pem"
    pem.write_bytes(certificate_pem())
    pem.chmod({"others": 0o646, "group": 0o664}.get(how, 0o644))
    if how == "owner":
        os.chown(pem, NOBODY, NOBODY)
    r = cli("install", sample_dists["signed.bin"], "--system-install", "--root", tmp_path / "r", "--check",
            "--json", "--trusted-cert", pem)
    said = [w for w in _warnings(r) if w.startswith(f"--trusted-cert {pem} ")]
    if how == "root-only":
        assert said == []
        return
    expected = {"others": "is writable by others", "group": "is writable by its group",
                "owner": "belongs to nobody"}[how]
    assert len(said) == 1 and expected in said[0] and "signed.bin it signed would then pass" in said[0], said


@pytest.mark.parametrize("open_to_others", [True, False])
def test_crypto_keys_another_account_could_write_are_warned_about_never_quoted(tmp_path, sample_dists,
                                                                               open_to_others):
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "a", "-q")
    keys = tmp_path / "shared.keys"
    shutil.copyfile(tmp_path / "a/etc/ncs/ncs.crypto_keys", keys)
    keys.chmod(0o666 if open_to_others else 0o600)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "b", "--check", "--json",
            "--crypto-keys", keys)
    said = [w for w in _warnings(r) if w.startswith(f"--crypto-keys {keys} ")]
    assert len(said) == (1 if open_to_others else 0), said
    if open_to_others:
        assert "is writable by others" in said[0] and "encryption keys" in said[0]
    for line in keys.read_text().splitlines():  # never a key's value, anywhere in the output
        value = line.partition("=")[2]
        if len(value) >= 16:
            assert value not in r.stdout + r.stderr
