"""The keys NSO decrypts CDB's encrypted strings with must not change silently with ncs.conf.

With crypto.mechanism=inline the keys are in ncs.conf itself.  A re-run given other inline keys
(another --set-file), or switching between inline keys and the external keys command, rewrote
the unedited ncs.conf in place: no warning, a --diff with nothing to see (keys are masked), and
the old keys gone for good, so NSO could no longer decrypt device passwords, NED secrets or
the HA token.  Now the change is said (--check and the run) and the replaced ncs.conf is kept as
a backup; a switch to a keys file that holds the inline keys is no change and says nothing."""

from __future__ import annotations

import json
import os

import pytest

from support import cli, staged_root

CONF = "etc/ncs/ncs.conf"
KEYS = "etc/ncs/ncs.crypto_keys"
K128 = "abcdef0123456789abcdef01234567aa"
K256 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98765432bb"
OTHER128 = "1111222233334444555566667777888a"
SENTENCE = "The encryption keys NSO uses change"


@pytest.fixture
def key_files(tmp_path):
    out = {}
    for name, value in (("k128", K128), ("k256", K256), ("other128", OTHER128)):
        p = tmp_path / name
        p.write_text(value + "\n")
        os.chmod(p, 0o600)
        out[name] = p
    return out


def _inline(dist, root, k128, k256, *extra, ok=True):
    return cli("install", dist, "--system-install", "--root", root, "--set", "crypto.mechanism=inline",
               "--set-file", f"crypto.aescfb128_key={k128}", "--set-file", f"crypto.aes256cfb128_key={k256}",
               *extra, ok=ok)


def _external(dist, root, *extra):
    return cli("install", dist, "--system-install", "--root", root, "--set", "crypto.mechanism=external",
               "--unset", "crypto.aescfb128_key", "--unset", "crypto.aes256cfb128_key", *extra)


def _backups(root) -> list[str]:
    return sorted(n for n in os.listdir(root / "etc/ncs") if n.startswith("ncs.conf.") and n.endswith(".bak"))


def test_other_inline_keys_are_said_and_the_old_ncs_conf_is_kept(tmp_path, sample_dists, key_files):
    dist = sample_dists["tar.gz"]
    root = staged_root(tmp_path)
    _inline(dist, root, key_files["k128"], key_files["k256"])
    before = (root / CONF).read_bytes()
    assert K128.encode() in before
    # the same keys again: nothing said, nothing kept
    r = _inline(dist, root, key_files["k128"], key_files["k256"])
    assert SENTENCE not in r.output + r.stderr and _backups(root) == []
    # other keys, --check: said before anything changes
    r = _inline(dist, root, key_files["other128"], key_files["k256"], "--check", "--diff")
    assert SENTENCE in r.stderr and (root / CONF).read_bytes() == before
    assert K128 not in r.output + r.stderr and OTHER128 not in r.output + r.stderr
    # the run: said, and the ncs.conf with the old keys kept (as private as it was)
    r = _inline(dist, root, key_files["other128"], key_files["k256"], "--json")
    out = json.loads(r.stdout)
    assert any(SENTENCE in w for w in out["warnings"])
    assert K128 not in r.output + r.stderr and OTHER128 not in r.output + r.stderr
    assert OTHER128.encode() in (root / CONF).read_bytes()
    [backup] = _backups(root)
    assert (root / "etc/ncs" / backup).read_bytes() == before
    st = os.lstat(root / "etc/ncs" / backup)
    assert st.st_mode & 0o077 == 0 and st.st_uid == os.geteuid()


def test_switch_to_external_keys_is_said_unless_the_keys_file_holds_the_inline_keys(tmp_path, sample_dists,
                                                                                     key_files):
    dist = sample_dists["tar.gz"]
    root = staged_root(tmp_path)
    _inline(dist, root, key_files["k128"], key_files["k256"])
    # the generated ncs.crypto_keys holds other (random) keys: NSO would lose its keys
    r = _external(dist, root, "--check")
    assert SENTENCE in r.stderr
    # the keys file given the inline keys first (the documented way): no change, nothing said
    (root / KEYS).write_text(f"AESCFB128_KEY={K128}\nAES256CFB128_KEY={K256}\n")
    r = _external(dist, root)
    assert SENTENCE not in r.output + r.stderr and _backups(root) == []
    assert b"<external-keys>" in (root / CONF).read_bytes()
    # and back to the same inline keys: no change either
    r = _inline(dist, root, key_files["k128"], key_files["k256"])
    assert SENTENCE not in r.output + r.stderr and _backups(root) == []
    # back to external after the file gained another generation (NSO may use it by now): a switch
    # to inline keys then says so
    _external(dist, root)
    (root / KEYS).write_text(f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]={K128}\nAES256CFB128_KEY[-1]={K256}\n"
                             f"AESCFB128_KEY[0]={OTHER128}\nAES256CFB128_KEY[0]={K256}\n")
    r = _inline(dist, root, key_files["k128"], key_files["k256"], "--check")
    assert SENTENCE in r.stderr
