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
        keys.generate_ssh_key(tmp_path, fips=True, comment="c")  # (ssh-keygen makes only FIPS keys)
    assert e.value.reference == "ssh-keygen-failed"
    assert os.listdir(tmp_path) == []  # its temporary directory is gone, the refused key with it
    monkeypatch.setattr(keys, "_ssh_keygen", lambda: real)
    work = tmp_path / "ok"
    work.mkdir()
    private, pub = keys.generate_ssh_key(work, fips=True, comment="c")
    assert pub.startswith(b"ecdsa-sha2-nistp256 ") and pub == keys.derive_ssh_public(private, "c")
    assert os.listdir(work) == []


def test_the_ed25519_host_key_is_made_without_ssh_keygen_and_openssh_reads_it(tmp_path, monkeypatch):
    """The standard host key comes from cryptography (no process, no temporary key file), in the
    format OpenSSH itself reads: ssh-keygen -y derives the same public key from it."""
    import subprocess

    def keygen_must_not_run():
        raise AssertionError("ssh-keygen was looked up for an Ed25519 key")

    real = keys._ssh_keygen()
    monkeypatch.setattr(keys, "_ssh_keygen", keygen_must_not_run)
    work = tmp_path / "work"
    work.mkdir()
    private, pub = keys.generate_ssh_key(work, fips=False, comment="nso@test")
    assert os.listdir(work) == []  # nothing was written on the way
    assert private.reveal().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert pub.startswith(b"ssh-ed25519 ") and pub.endswith(b" nso@test\n")
    if real is None:
        pytest.skip("ssh-keygen not installed: OpenSSH's reading of the key is not checked")
    key = tmp_path / "key"
    key.write_bytes(private.reveal())
    key.chmod(0o600)
    derived = subprocess.run([str(real), "-y", "-f", str(key)], check=True, capture_output=True).stdout
    assert derived.split()[:2] == pub.split()[:2]


# --- formats and generation details a regression would hide ------------------------------------

def test_a_short_or_unprintable_ipc_secret_is_reported():
    assert keys.check_ipc_secret(b"x" * 12 + b"\n") == "shorter than 16 characters"
    assert keys.check_ipc_secret(b"x" * 15) is not None and keys.check_ipc_secret(b"x" * 16) is None
    assert keys.check_ipc_secret(b"x" * 20 + b"\x01") is not None
    assert keys.check_ipc_secret(keys.generate_ipc_secret().reveal()) is None


def test_an_existing_short_ipc_secret_is_warned_about_never_rewritten(tmp_path):
    (tmp_path / "ipc_access").write_bytes(b"twelve-bytes")
    os.chmod(tmp_path / "ipc_access", 0o600)
    act = SecretFile("/ipc_access", Attrs(0o600, None, None), keys.generate_ipc_secret, validate=keys.check_ipc_secret)
    r = run_plan([act], tmp_path)
    assert "shorter than 16 characters" in r.records[0].outcome.warning
    assert (tmp_path / "ipc_access").read_bytes() == b"twelve-bytes"


def test_generation_indexed_keys_need_the_rotation_format_line():
    a, b = "ab" * 16, "cd" * 32
    assert keys.check_crypto_keys(f"AESCFB128_KEY[0]={a}\nAES256CFB128_KEY[0]={b}\n".encode(), "6.5.3") \
        == "line 1 has a key generation but EXTERNAL_KEY_FORMAT=2 is missing"
    assert keys.check_crypto_keys(f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]={a}\nAES256CFB128_KEY[0]={b}\n".encode(),
                                  "6.5.3") is None
    assert keys.check_crypto_keys(f"AESCFB128_KEY={a}\nAES256CFB128_KEY={b[:-2]}\n".encode(), "6.5.3") \
        == "AES256CFB128_KEY has 62 hex digits, expected 64"


def test_a_symlinked_public_part_is_refused_even_in_check_mode(tmp_path):
    ssh = tmp_path / "ssh"
    ssh.mkdir()
    (tmp_path / "elsewhere").write_text("x")
    os.symlink(tmp_path / "elsewhere", ssh / "ssh_host_ed25519_key.pub")
    act = keys.ssh_host_key("/ssh", Attrs(0o600, None, None), Attrs(0o644, None, None))
    from support import check_plan
    with pytest.raises(UnsafePathError) as e:
        check_plan([act], tmp_path)
    assert e.value.reference == "symlink-refused" and ".pub" in e.value.message


def test_keys_are_generated_in_a_private_directory(tmp_path, monkeypatch):
    seen = []

    def spy(work):
        seen.append(stat.S_IMODE(os.stat(work).st_mode))
        return Secret(b"k"), b"pub\n"
    act = keys.KeyPair("/k", "/k.pub", Attrs(0o600, None, None), Attrs(0o644, None, None), spy, lambda s: b"pub\n")
    run_plan([act], tmp_path)
    assert seen == [0o700]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nso-install-tmp")]


def test_the_self_signed_tls_certificate_is_no_ca_and_serves_only():
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    _, pem = keys.generate_tls("nso.example.net")
    cert = x509.load_pem_x509_certificate(pem)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign and not ku.crl_sign
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == ["nso.example.net", "localhost"]


def test_the_host_name_in_key_comments_is_the_host_s_own():
    # read from uname (a no-op run does not import socket for it): the same name gethostname gives
    import socket

    assert keys.host_name() == (socket.gethostname() or "localhost") != ""


@pytest.mark.parametrize("kind", ["ssh", "tls"])
def test_an_unreadable_existing_key_is_named_with_where_its_public_part_goes(tmp_path, kind):
    """An existing host key whose public part is missing, and that cannot be read to derive it,
    was reported as "the existing SSH host key cannot be read." with no path: on a host with
    several keys the operator could not tell which one, nor where the public part goes."""
    d = tmp_path / "keys"
    d.mkdir()
    if kind == "ssh":
        act = keys.ssh_host_key("/keys", Attrs(0o600, None, None), Attrs(0o644, None, None))
    else:
        act = keys.tls_key_cert("/keys", Attrs(0o600, None, None), Attrs(0o644, None, None))
    (tmp_path / act.path.lstrip("/")).write_bytes(b"not a key\n")
    os.chmod(tmp_path / act.path.lstrip("/"), 0o600)
    with pytest.raises(ApplyError) as e:
        run_plan([act], tmp_path)
    assert e.value.reference == "unreadable-key"
    assert act.path in e.value.message and act.pub_path in e.value.message
    if kind == "ssh":
        assert f"ssh-keygen -y -f {act.path} > {act.pub_path}" in e.value.hint
