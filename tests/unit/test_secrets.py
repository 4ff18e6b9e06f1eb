"""Secrets of an install: crypto keys, IPC access file, SSH host key, TLS key.

Generated once with final owner/mode, valid format, different per install, never
regenerated, mode drift repaired (content kept), pre-planted symlinks refused, --crypto-keys
import validated, and no secret byte in any CLI output (plan, --diff, --json, -v, errors)."""

import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from nso_install import keys
from nso_install.errors import UnsafePathError
from nso_install.layout import InstallOptions, build_plan
from nso_install.secret import MASK, Secret

try:
    from .secfakes import FakeDist, ensure_conf_module, run_plan, staged_root
except ImportError:  # tests/unit is not a package
    from secfakes import FakeDist, ensure_conf_module, run_plan, staged_root

ensure_conf_module()

V = "6.5.3"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (chown, useradd --prefix, setcap)")

SECRET_FILES = ("etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key",
                "etc/ncs/ssl/cert/host.key")


def _mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def _ids(root, name, db="group"):
    for line in (root / f"etc/{db}").read_text().splitlines():
        if line.split(":")[0] == name:
            return int(line.split(":")[2])
    raise KeyError(name)


def install(tmp_path, name="a", **kw):
    root = staged_root(tmp_path / name)
    opts = InstallOptions(**kw)
    plan = build_plan(opts, FakeDist(V))
    run_plan(plan, root, opts)
    return root, opts, plan


# --- generation -------------------------------------------------------------------------------


def test_root_install_secret_modes(tmp_path):
    root, _, _ = install(tmp_path)
    got = {p: (_mode(root / p), os.lstat(root / p).st_uid) for p in SECRET_FILES}
    assert got == {"etc/ncs/ncs.crypto_keys": (0o600, 0), "etc/ncs/ipc_access": (0o400, 0),
                   "etc/ncs/ssh/ssh_host_ed25519_key": (0o600, 0), "etc/ncs/ssl/cert/host.key": (0o600, 0)}
    assert _mode(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub") == 0o644
    assert _mode(root / "etc/ncs/ssl/cert/host.cert") == 0o644
    assert _mode(root / "etc/ncs/ssh") == 0o700 and _mode(root / "etc/ncs/ssl/cert") == 0o700


@needs_root
def test_run_as_user_owners_and_modes(tmp_path):
    root, _, _ = install(tmp_path, run_as_user="nso")
    nso_uid, nso_gid, admin_gid = _ids(root, "nso", "passwd"), _ids(root, "nso"), _ids(root, "ncsadmin")

    def owner(p):
        st = os.lstat(root / p)
        return (_mode(root / p), st.st_uid, st.st_gid)

    assert owner("etc/ncs/ncs.crypto_keys") == (0o440, 0, nso_gid)
    assert owner("etc/ncs/ipc_access") == (0o440, 0, admin_gid)
    assert owner("etc/ncs/ssh") == (0o750, 0, nso_gid)
    assert owner("etc/ncs/ssh/ssh_host_ed25519_key") == (0o440, 0, nso_gid)
    assert owner("etc/ncs/ssh/ssh_host_ed25519_key.pub") == (0o644, 0, 0)
    assert owner("etc/ncs/ssl/cert") == (0o750, 0, nso_gid)
    assert owner("etc/ncs/ssl/cert/host.key") == (0o440, 0, nso_gid)
    assert owner("etc/ncs/ssl/cert/host.cert") == (0o644, 0, 0)
    assert owner("etc/ncs") == (0o755, 0, 0)
    assert owner("etc/ncs/ncs.conf") == (0o644, 0, 0)
    assert owner("etc/ncs/ncs.systemd.conf") == (0o644, nso_uid, nso_gid)
    for d in ("var/opt/ncs", "var/opt/ncs/cdb", "var/opt/ncs/state", "var/log/ncs"):
        assert owner(d) == (0o750, nso_uid, nso_gid), d
    assert owner("var/opt/ncs/cdb/aaa_init.xml") == (0o640, nso_uid, nso_gid)
    # the NSO account owns nothing that root executes
    for top in ("opt", "etc/profile.d", "etc/systemd", "etc/logrotate.d"):
        for d, dirs, files in os.walk(root / top):
            for n in dirs + files:
                assert os.lstat(os.path.join(d, n)).st_uid == 0, os.path.join(d, n)


@needs_root
def test_sysv_script_keeps_ncs_systemd_conf_root_owned(tmp_path):
    root, _, _ = install(tmp_path, run_as_user="nso", ignore_systemd_script=True)
    st = os.lstat(root / "etc/ncs/ncs.systemd.conf")
    assert (st.st_uid, st.st_gid) == (0, 0)  # /etc/init.d/ncs sources it as root


def test_formats_valid_and_different_per_install(tmp_path):
    a, _, _ = install(tmp_path, "a")
    b, _, _ = install(tmp_path, "b")
    for rel in SECRET_FILES:
        assert (a / rel).read_bytes() != (b / rel).read_bytes(), rel
    assert keys.check_crypto_keys((a / "etc/ncs/ncs.crypto_keys").read_bytes(), V) is None
    assert keys.check_ipc_secret((a / "etc/ncs/ipc_access").read_bytes()) is None
    # ssh host key: ed25519 in OpenSSH format, public part matching
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    key = serialization.load_ssh_private_key((a / "etc/ncs/ssh/ssh_host_ed25519_key").read_bytes(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    pub = (a / "etc/ncs/ssh/ssh_host_ed25519_key.pub").read_text().split()
    assert pub[0] == "ssh-ed25519"
    assert key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode().split()[1] == pub[1]
    # TLS: certificate for the key, self-signed, server auth
    from cryptography import x509
    tkey = serialization.load_pem_private_key((a / "etc/ncs/ssl/cert/host.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((a / "etc/ncs/ssl/cert/host.cert").read_bytes())
    assert isinstance(tkey, ec.EllipticCurvePrivateKey)
    assert cert.public_key().public_numbers() == tkey.public_key().public_numbers()
    assert cert.issuer == cert.subject


def test_fips_install_gets_an_ecdsa_ssh_key(tmp_path):
    root, _, _ = install(tmp_path, fips_install=True)
    assert not (root / "etc/ncs/ssh/ssh_host_ed25519_key").exists()
    assert (root / "etc/ncs/ssh/ssh_host_ecdsa_key.pub").read_text().startswith("ecdsa-sha2-nistp256 ")


def test_local_install_gets_an_ssh_host_key(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    opts = InstallOptions(system=False, local_dir="/home/dev/nso")
    run_plan(build_plan(opts, FakeDist(V)), root, opts)
    key = root / "home/dev/nso/etc/ncs/ssh/ssh_host_ed25519_key"
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    assert (key.parent / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")


def test_rerun_keeps_every_secret_and_repairs_drifted_modes(tmp_path):
    root, opts, plan = install(tmp_path)
    before = {p: (root / p).read_bytes() for p in SECRET_FILES}
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)
    os.chmod(root / "etc/ncs/ssl/cert/host.key", 0o666)
    os.chmod(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub", 0o600)
    rep = run_plan(plan, root, opts)
    assert {r.action.path for r in rep.records if r.changed} == {
        "/etc/ncs/ncs.crypto_keys", "/etc/ncs/ssl/cert/host.key", "/etc/ncs/ssh/ssh_host_ed25519_key"}
    assert _mode(root / "etc/ncs/ncs.crypto_keys") == 0o600
    assert _mode(root / "etc/ncs/ssl/cert/host.key") == 0o600
    assert _mode(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub") == 0o644
    assert {p: (root / p).read_bytes() for p in SECRET_FILES} == before
    assert run_plan(plan, root, opts).changes == 0


def test_missing_public_part_is_derived_not_regenerated(tmp_path):
    root, opts, plan = install(tmp_path)
    ssh_pub = (root / "etc/ncs/ssh/ssh_host_ed25519_key.pub").read_text()
    key = (root / "etc/ncs/ssl/cert/host.key").read_bytes()
    os.unlink(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub")
    os.unlink(root / "etc/ncs/ssl/cert/host.cert")
    run_plan(plan, root, opts)
    assert (root / "etc/ncs/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2] == ssh_pub.split()[:2]
    assert (root / "etc/ncs/ssl/cert/host.key").read_bytes() == key
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate((root / "etc/ncs/ssl/cert/host.cert").read_bytes())
    assert cert.public_key().public_numbers() == serialization.load_pem_private_key(key, None).public_key().public_numbers()


@pytest.mark.parametrize("rel", ["etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key",
                                 "etc/ncs/ssh/ssh_host_ed25519_key.pub", "etc/ncs/ssl/cert/host.key"])
def test_preplanted_symlink_at_a_secret_path_is_refused(tmp_path, rel):
    root = staged_root(tmp_path)
    opts = InstallOptions()
    plan = build_plan(opts, FakeDist(V))
    victim = tmp_path / "victim"
    victim.write_text("do not touch\n")
    link = root / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, link)
    with pytest.raises(UnsafePathError) as e:
        run_plan(plan, root, opts)
    assert e.value.reference == "symlink-refused"
    assert victim.read_text() == "do not touch\n" and os.path.islink(link)


def test_no_temporary_key_material_left_behind(tmp_path):
    root, _, _ = install(tmp_path)
    for d in ("etc/ncs/ssh", "etc/ncs/ssl/cert", "etc/ncs"):
        assert not [n for n in os.listdir(root / d) if n.startswith(".nso-install-tmp")], d


def test_secret_type_masks_everything():
    s = Secret("AESCFB128_KEY=c0ffee")
    assert str(s) == repr(s) == f"{s}" == MASK
    assert json.dumps({"k": s}, default=__import__("nso_install.secret", fromlist=["json_default"]).json_default) \
        == json.dumps({"k": MASK})


# --- the CLI: --crypto-keys import and no secret in any output ---------------------------------

CANARY_AES = "c0ffee" * 5 + "c0"  # 32 hex digits
CANARY_AES256 = "deadbeef" * 8  # 64 hex digits
CANARY_KEYS = f"AESCFB128_KEY={CANARY_AES}\nAES256CFB128_KEY={CANARY_AES256}\n"


def _dist(tmp_path):
    """A distribution the CLI can open: the real reader and sample when they exist, else a fake reader."""
    try:
        import nso_install.dist  # noqa: F401
        from nso_install.sample import make_sample_distribution
        return str(make_sample_distribution(tmp_path / "dist", V, "dir"))
    except ImportError:
        mod = types.ModuleType("nso_install.dist")
        mod.open_distribution = lambda path, **kw: FakeDist(V)
        sys.modules["nso_install.dist"] = mod
        return str(tmp_path / "fake-dist")


def _cli(*args):
    from nso_install.cli import main
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.stdout + r.stderr


def _secret_fragments(root):
    """Pieces of every secret on disk, as they could appear in output."""
    out = [CANARY_AES, CANARY_AES256]
    for rel in SECRET_FILES:
        p = root / rel
        if p.exists():
            for line in p.read_text().splitlines():
                line = line.strip()
                if line.startswith("-----"):
                    continue
                value = line.split("=", 1)[1] if line.split("=", 1)[0].isupper() else line
                out += [value[i:i + 24] for i in range(0, max(len(value) - 23, 1), 24)]
    return [f for f in out if len(f) >= 16]


@needs_root
def test_canary_secret_never_printed(tmp_path):
    dist = _dist(tmp_path)
    root = staged_root(tmp_path)
    kf = tmp_path / "keys"
    kf.write_text(CANARY_KEYS)
    base = ("install", dist, "--system-install", "--root", root, "--run-as-user", "nso", "--crypto-keys", kf)
    outputs = []
    for extra in (("--check", "--diff", "--json", "-v"), ("--check", "--diff", "-vv")):
        code, out = _cli(*base, *extra)
        assert code == 0, out
        outputs.append(out)
    code, out = _cli(*base, "--diff", "--json", "-v")
    assert code == 0, out
    outputs.append(out)
    assert (root / "etc/ncs/ncs.crypto_keys").read_text() == CANARY_KEYS
    for extra in (("--diff", "-v"), ("--check", "--diff", "--json", "-v")):
        os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)  # drift: the diff shows modes, never content
        code, out = _cli(*base, *extra)
        assert code == 0, out
        outputs.append(out)
    # a different key file to import over an existing one: an error, still without secrets
    kf2 = tmp_path / "keys2"
    kf2.write_text(CANARY_KEYS.replace("c0ffee", "facade"))
    code, out = _cli(*base[:-1], kf2, "--diff", "--json", "-v")
    assert code != 0 and "secret-mismatch" in out
    outputs.append(out)
    # an invalid key file: a clear error that does not quote it
    bad = tmp_path / "bad"
    bad.write_text(f"AESCFB128_KEY={CANARY_AES}\nAES256CFB128_KEY=abc\n")
    code, out = _cli(*base[:-1], bad, "--check", "--json")
    assert code == 2 and "bad-crypto-keys" in out and "AES256CFB128_KEY" in out
    outputs.append(out)
    text = "\n".join(outputs)
    for frag in _secret_fragments(root) + ["facade" * 5]:
        assert frag not in text, frag
    assert MASK in text


@needs_root
def test_crypto_keys_import_then_rerun_ok_and_existing_never_replaced(tmp_path):
    dist = _dist(tmp_path)
    root = staged_root(tmp_path)
    kf = tmp_path / "keys"
    kf.write_text(CANARY_KEYS)
    code, out = _cli("install", dist, "--system-install", "--root", root, "--crypto-keys", kf, "--json")
    assert code == 0, out
    assert (root / "etc/ncs/ncs.crypto_keys").read_text() == CANARY_KEYS
    code, out = _cli("install", dist, "--system-install", "--root", root, "--crypto-keys", kf, "--json")
    assert code == 0 and json.loads(out)["changed"] == 0, out
    code, out = _cli("install", dist, "--system-install", "--root", root, "--json")  # no import: kept
    assert code == 0 and (root / "etc/ncs/ncs.crypto_keys").read_text() == CANARY_KEYS


def test_ssh_keygen_result_is_checked_and_public_part_derived(tmp_path, monkeypatch):
    """A wrong key type from ssh-keygen is refused; key.pub is never taken on trust."""
    from nso_install import hostkeys
    from nso_install.errors import ApplyError

    real = hostkeys._ssh_keygen()
    if real is None:
        pytest.skip("ssh-keygen not installed")

    def rsa_keygen(*args):  # a broken or substituted ssh-keygen: RSA whatever was asked
        argv = list(args)
        f = argv[argv.index("-f") + 1]
        real("-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", f)
        open(f + ".pub", "w").write("ssh-ed25519 AAAA-not-this-key\n")

    monkeypatch.setattr(hostkeys, "_ssh_keygen", lambda: rsa_keygen)
    with pytest.raises(ApplyError) as e:
        hostkeys.generate_ssh_key(tmp_path, fips=False, comment="c")
    assert e.value.reference == "ssh-keygen-failed"
    monkeypatch.setattr(hostkeys, "_ssh_keygen", lambda: real)
    work = tmp_path / "ok"
    work.mkdir()
    private, pub = hostkeys.generate_ssh_key(work, fips=False, comment="c")
    assert pub.startswith(b"ssh-ed25519 ") and pub == hostkeys.derive_ssh_public(private, "c")
