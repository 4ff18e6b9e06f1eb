"""Generate-once secrets and key pairs (nso_install.actions.keys): generated once with their
final mode, never regenerated, drift repaired with the content kept, links refused, and what
ssh-keygen returns checked, never taken on trust."""

import json
import os
import stat

import pytest

from nso_install.actions import Attrs
from nso_install.actions import keys
from nso_install.actions.keys import SecretFile
from nso_install.errors import ApplyError, UnsafePathError
from nso_install.secret import MASK, Secret, json_default

from support import run_plan


def test_secret_generated_once_mode_repaired_content_kept(tmp_path):
    calls = []

    def gen():
        calls.append(1)
        return Secret(os.urandom(8).hex())

    plan = [SecretFile("/keys", Attrs(0o600, None, None), gen)]
    assert run_plan(plan, tmp_path).changes == 1
    first = (tmp_path / "keys").read_bytes()
    assert run_plan(plan, tmp_path).changes == 0
    os.chmod(tmp_path / "keys", 0o644)
    r = run_plan(plan, tmp_path)
    assert r.changes == 1 and "content kept" in r.records[0].outcome.detail
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o600
    assert (tmp_path / "keys").read_bytes() == first
    assert len(calls) == 1


def test_secret_preplanted_symlink_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("do not touch")
    os.symlink(victim, tmp_path / "keys")
    with pytest.raises(UnsafePathError) as e:
        run_plan([SecretFile("/keys", Attrs(0o600, None, None), lambda: Secret("x"))], tmp_path)
    assert e.value.reference == "symlink-refused"
    assert victim.read_text() == "do not touch"


def test_secret_type_masks_everything():
    s = Secret("AESCFB128_KEY=c0ffee")
    assert str(s) == repr(s) == f"{s}" == MASK
    assert json.dumps({"k": s}, default=json_default) == json.dumps({"k": MASK})


def test_ssh_keygen_result_is_checked_and_public_part_derived(tmp_path, monkeypatch):
    """A wrong key type from ssh-keygen is refused; key.pub is never taken on trust."""
    real = keys._ssh_keygen()
    if real is None:
        pytest.skip("ssh-keygen not installed")

    def rsa_keygen(*args):  # a broken or substituted ssh-keygen: RSA whatever was asked
        argv = list(args)
        f = argv[argv.index("-f") + 1]
        real("-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", f)
        open(f + ".pub", "w").write("ssh-ed25519 AAAA-not-this-key\n")

    monkeypatch.setattr(keys, "_ssh_keygen", lambda: rsa_keygen)
    with pytest.raises(ApplyError) as e:
        keys.generate_ssh_key(tmp_path, fips=False, comment="c")
    assert e.value.reference == "ssh-keygen-failed"
    monkeypatch.setattr(keys, "_ssh_keygen", lambda: real)
    work = tmp_path / "ok"
    work.mkdir()
    private, pub = keys.generate_ssh_key(work, fips=False, comment="c")
    assert pub.startswith(b"ssh-ed25519 ") and pub == keys.derive_ssh_public(private, "c")
