"""Secrets of an install: crypto keys, IPC access file, SSH host key, TLS key.

Generated once with final owner/mode, valid format, different per install, never
regenerated, mode drift repaired (content kept), pre-planted symlinks refused, --crypto-keys
import validated, none baked into images (--skip-secrets / --secrets-only), and no secret
byte in any CLI output (plan, --diff, --json, -v, errors)."""

import json
import os
import shutil
import stat

import pytest

from nso_install.actions import keys
from nso_install.errors import UnsafePathError
from nso_install.plan import build_plan
from nso_install.sample import make_sample_distribution
from nso_install.secret import MASK

from support import FakeDist, check_plan, cli, install_json, run_plan, snapshot, spec, staged_root

V = "6.5.3"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (chown, useradd --prefix, setcap)")

SECRET_FILES = ("etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key",
                "etc/ncs/ssl/cert/host.key")
SECRET_PATHS = ["etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key",
                "etc/ncs/ssh/ssh_host_ed25519_key.pub", "etc/ncs/ssl/cert/host.key", "etc/ncs/ssl/cert/host.cert"]


def _mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def _ids(root, name, db="group"):
    for line in (root / f"etc/{db}").read_text().splitlines():
        if line.split(":")[0] == name:
            return int(line.split(":")[2])
    raise KeyError(name)


def install(tmp_path, name="a", **kw):
    root = staged_root(tmp_path / name)
    plan = build_plan(spec(**kw), FakeDist(V))
    run_plan(plan, root)
    return root, plan


# --- generation -------------------------------------------------------------------------------

def test_root_install_secret_modes(tmp_path):
    root, _ = install(tmp_path)
    got = {p: (_mode(root / p), os.lstat(root / p).st_uid) for p in SECRET_FILES}
    assert got == {"etc/ncs/ncs.crypto_keys": (0o600, 0), "etc/ncs/ipc_access": (0o400, 0),
                   "etc/ncs/ssh/ssh_host_ed25519_key": (0o600, 0), "etc/ncs/ssl/cert/host.key": (0o600, 0)}
    assert _mode(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub") == 0o644
    assert _mode(root / "etc/ncs/ssl/cert/host.cert") == 0o644
    assert _mode(root / "etc/ncs/ssh") == 0o700 and _mode(root / "etc/ncs/ssl/cert") == 0o700


@needs_root
def test_run_as_user_owners_and_modes(tmp_path):
    root, _ = install(tmp_path, run_as_user="nso")
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
    root, _ = install(tmp_path, run_as_user="nso", init_system="sysv")
    st = os.lstat(root / "etc/ncs/ncs.systemd.conf")
    assert (st.st_uid, st.st_gid) == (0, 0)  # /etc/init.d/ncs sources it as root


def test_formats_valid_and_different_per_install(tmp_path):
    a, _ = install(tmp_path, "a")
    b, _ = install(tmp_path, "b")
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
    root, _ = install(tmp_path, fips_install=True)
    assert not (root / "etc/ncs/ssh/ssh_host_ed25519_key").exists()
    assert (root / "etc/ncs/ssh/ssh_host_ecdsa_key.pub").read_text().startswith("ecdsa-sha2-nistp256 ")


def test_local_install_gets_an_ssh_host_key(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    run_plan(build_plan(spec(local_dir="/home/dev/nso"), FakeDist(V)), root)
    key = root / "home/dev/nso/etc/ncs/ssh/ssh_host_ed25519_key"
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    assert (key.parent / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")


def test_local_install_gets_the_tls_key_and_certificate_its_ncs_conf_names(tmp_path):
    """The rendered ncs.conf names ${NCS_DIR}/etc/ncs/ssl/cert/host.{key,cert} for the Web
    UI/RESTCONF over TLS; they were never made, so turning TLS on gave a conf NSO cannot start with."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    root = tmp_path / "r"
    root.mkdir()
    d = "/home/dev/nso"
    run_plan(build_plan(spec(local_dir=d, values={"webui.ssl.enabled": True}), FakeDist(V)), root)
    conf = (root / d.lstrip("/") / "etc/ncs/ncs.conf").read_text()
    named = {tag: conf.split(f"<{tag}>")[1].split(f"</{tag}>")[0].replace("${NCS_DIR}", d)
             for tag in ("key-file", "cert-file")}
    key, cert = (root / named["key-file"].lstrip("/"), root / named["cert-file"].lstrip("/"))
    assert _mode(key) == 0o600 and _mode(cert) == 0o644 and _mode(key.parent) == 0o700
    tkey = serialization.load_pem_private_key(key.read_bytes(), None)
    pub = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    assert pub.public_numbers() == tkey.public_key().public_numbers()


def test_a_tls_key_shipped_in_the_distribution_is_not_the_local_installs(tmp_path, sample_dists):
    """A key in the distribution is known to everyone who has it: the local install leaves the
    shipped pair out of its tree and generates its own (kept by the re-run; verify is content)."""
    dist = tmp_path / "dist"
    shutil.copytree(sample_dists["dir"], dist, symlinks=True)
    shipped = {name: b"shipped example " + name.encode() + b"\n" for name in ("host.key", "host.cert")}
    for name, data in shipped.items():
        (dist / "etc/ncs/ssl/cert" / name).write_bytes(data)
    d = tmp_path / "nso"
    cli("install", dist, "--local-install", d)
    made = {name: (d / "etc/ncs/ssl/cert" / name).read_bytes() for name in shipped}
    assert made["host.key"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert made["host.cert"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert _mode(d / "etc/ncs/ssl/cert/host.key") == 0o600
    before = snapshot(d)
    assert "Done: 0 changed" in cli("install", dist, "--local-install", d).output and snapshot(d) == before
    assert json.loads(cli("verify", "--local-install", d, "--json").stdout)["ok"] is True


def test_rerun_keeps_every_secret_and_repairs_drifted_modes(tmp_path):
    root, plan = install(tmp_path)
    before = {p: (root / p).read_bytes() for p in SECRET_FILES}
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)
    os.chmod(root / "etc/ncs/ssl/cert/host.key", 0o666)
    os.chmod(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub", 0o600)
    rep = run_plan(plan, root)
    assert {r.action.path for r in rep.records if r.changed} == {
        "/etc/ncs/ncs.crypto_keys", "/etc/ncs/ssl/cert/host.key", "/etc/ncs/ssh/ssh_host_ed25519_key"}
    assert _mode(root / "etc/ncs/ncs.crypto_keys") == 0o600
    assert _mode(root / "etc/ncs/ssl/cert/host.key") == 0o600
    assert _mode(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub") == 0o644
    assert {p: (root / p).read_bytes() for p in SECRET_FILES} == before
    assert run_plan(plan, root).changes == 0


def secret_warnings(report) -> list[str]:
    return [w for w in report.warnings if w.startswith("/etc/ncs/")]  # (not the staging root's PAM warning)


def test_a_secret_found_open_to_others_is_fixed_and_said_to_be_renewed(tmp_path):
    """Putting the mode right does not take back what another account may have copied (or
    planted): the run says so, with how to renew that secret, in --check and in the run itself;
    a secret that was only stricter than planned, or a public part, gets no such warning."""
    root, plan = install(tmp_path)
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)
    os.chmod(root / "etc/ncs/ipc_access", 0o606)
    os.chmod(root / "etc/ncs/ssl/cert/host.key", 0o400)  # stricter: nobody else could read it
    os.chmod(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub", 0o666)
    checked = secret_warnings(check_plan(plan, root))
    warnings = secret_warnings(run_plan(plan, root))
    assert warnings == checked and len(warnings) == 2, warnings
    keys_w, ipc_w = warnings
    assert keys_w.startswith("/etc/ncs/ncs.crypto_keys was open to every account (mode 0644)") and "keys rotate" in keys_w
    assert ipc_w.startswith("/etc/ncs/ipc_access was open to every account (mode 0606)") and "move it away" in ipc_w
    assert secret_warnings(run_plan(plan, root)) == []  # said once: the next run finds nothing open


@needs_root
def test_a_key_of_another_owner_is_said_to_be_renewed(tmp_path):
    root, plan = install(tmp_path)
    os.chown(root / "etc/ncs/ssl/cert/host.key", 4242, 4242)
    warnings = secret_warnings(run_plan(plan, root))
    assert len(warnings) == 1 and warnings[0].startswith("/etc/ncs/ssl/cert/host.key was open to its owner 4242")
    assert "for a new pair" in warnings[0]
    assert os.stat(root / "etc/ncs/ssl/cert/host.key").st_uid == 0


@needs_root
def test_a_secret_found_open_to_another_group_is_said_to_be_renewed(tmp_path):
    """A keys file (or IPC secret) 0640 root:GROUP let every member of GROUP read it; its group
    was put right without a word (only mode o+r and another owner were warned about).  A group
    bit of root's own group is no exposure."""
    root, plan = install(tmp_path)
    os.chown(root / "etc/ncs/ncs.crypto_keys", 0, 4242)
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o640)
    os.chmod(root / "etc/ncs/ssl/cert/host.key", 0o640)  # root:root: nobody else
    warnings = secret_warnings(run_plan(plan, root))
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("/etc/ncs/ncs.crypto_keys was open to the members of group 4242 (mode 0640)")
    assert "keys rotate" in warnings[0]
    assert os.stat(root / "etc/ncs/ncs.crypto_keys").st_gid == 0
    assert secret_warnings(run_plan(plan, root)) == []


def test_missing_public_part_is_derived_not_regenerated(tmp_path):
    root, plan = install(tmp_path)
    ssh_pub = (root / "etc/ncs/ssh/ssh_host_ed25519_key.pub").read_text()
    key = (root / "etc/ncs/ssl/cert/host.key").read_bytes()
    os.unlink(root / "etc/ncs/ssh/ssh_host_ed25519_key.pub")
    os.unlink(root / "etc/ncs/ssl/cert/host.cert")
    run_plan(plan, root)
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
    plan = build_plan(spec(), FakeDist(V))
    victim = tmp_path / "victim"
    victim.write_text("do not touch\n")
    link = root / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, link)
    with pytest.raises(UnsafePathError) as e:
        run_plan(plan, root)
    assert e.value.reference == "symlink-refused"
    assert victim.read_text() == "do not touch\n" and os.path.islink(link)


def test_no_temporary_key_material_left_behind(tmp_path):
    root, _ = install(tmp_path)
    for d in ("etc/ncs/ssh", "etc/ncs/ssl/cert", "etc/ncs"):
        assert not [n for n in os.listdir(root / d) if n.startswith(".nso-install-tmp")], d


# --- the CLI: --crypto-keys import and no secret in any output ---------------------------------

CANARY_AES = "c0ffee" * 5 + "c0"  # 32 hex digits
CANARY_AES256 = "deadbeef" * 8  # 64 hex digits
CANARY_KEYS = f"AESCFB128_KEY={CANARY_AES}\nAES256CFB128_KEY={CANARY_AES256}\n"


def _dist(tmp_path):
    """A distribution the CLI can open."""
    return str(make_sample_distribution(tmp_path / "dist", V, "dir"))


def _cli(*args):
    r = cli(*args, ok=False)
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


def test_secrets_never_printed(tmp_path, sample_dists):
    root = tmp_path / "r"
    outputs = []
    for extra in (["--check", "--diff", "-v"], ["--diff", "-v"], ["--diff", "--json"], ["--check", "--diff", "--json"]):
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, *extra)
        outputs.append(r.stdout + r.stderr)
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)  # drift: the repair is shown, the content is not
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--diff", "-v")
    outputs.append(r.stdout + r.stderr)
    text = "\n".join(outputs)
    crypto_keys = (root / "etc/ncs/ncs.crypto_keys").read_text()
    for line in crypto_keys.splitlines():
        assert line.split("=", 1)[1] not in text
    assert (root / "etc/ncs/ipc_access").read_text().strip() not in text
    assert "<secret>" in text


def test_keys_are_valid_and_differ_between_installs(tmp_path, sample_dists):
    a, b = tmp_path / "a", tmp_path / "b"
    install_json(sample_dists["tar.gz"], a, "--system-install")
    install_json(sample_dists["tar.gz"], b, "--system-install")
    ka, kb = (a / "etc/ncs/ncs.crypto_keys").read_text(), (b / "etc/ncs/ncs.crypto_keys").read_text()
    assert ka != kb
    lines = dict(l.split("=") for l in ka.splitlines())
    assert set(lines) == {"AESCFB128_KEY", "AES256CFB128_KEY"}  # no DES3 for NSO >= 6.5
    assert len(lines["AESCFB128_KEY"]) == 32 and len(lines["AES256CFB128_KEY"]) == 64
    int(lines["AESCFB128_KEY"], 16), int(lines["AES256CFB128_KEY"], 16)


# --- container images: no secrets baked in ----------------------------------------------------

def test_image_build_without_secrets_then_secrets_at_container_start(tmp_path, sample_dists):
    """--skip-secrets at image build, --secrets-only (from the installed tree) at start."""
    root = tmp_path / "image"
    built = install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-init-scripts", "--skip-secrets")
    assert not any((root / p).exists() for p in SECRET_PATHS)
    assert any("--secrets-only" in n for n in built["notes"])
    # the keys left out on purpose are no audit failure of the build (TLS-001/002 failed on the
    # missing certificate while PERM-002 warned on the missing keys file)
    said = built["notes"] + built["warnings"]
    assert not [n for n in said if n.startswith("audit: NSO-TLS") or n.startswith("audit: NSO-PERM")], said
    audit = json.loads(cli("audit", "--root", root, "--json", "--only", "NSO-TLS").output)
    assert {c["id"]: c["result"] for c in audit["checks"]} == {"NSO-TLS-001": "warn", "NSO-TLS-002": "warn"}
    assert all("--secrets-only" in c["summary"] for c in audit["checks"]), audit["checks"]
    assert install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-init-scripts",
                        "--skip-secrets")["changed"] == 0
    before = snapshot(root / "opt")
    tree = root / f"opt/ncs/ncs-{V}"  # the installed tree is a distribution too
    start = install_json(tree, root, "--system-install", "--ignore-init-scripts", "--secrets-only")
    assert {a["kind"] for a in start["actions"] if a["changed"]} == {"secret", "keypair"}
    assert all((root / p).exists() for p in SECRET_PATHS)
    assert snapshot(root / "opt") == before  # nothing but secrets was touched
    modes = {p: stat.S_IMODE(os.stat(root / p).st_mode) for p in SECRET_PATHS}
    full = tmp_path / "full"
    install_json(sample_dists["tar.gz"], full, "--system-install", "--ignore-init-scripts")
    assert modes == {p: stat.S_IMODE(os.stat(full / p).st_mode) for p in SECRET_PATHS}
    assert install_json(tree, root, "--system-install", "--ignore-init-scripts", "--secrets-only")["changed"] == 0
    # and the full plan agrees that nothing is missing
    assert install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-init-scripts")["changed"] == 0


def test_container_start_completes_an_empty_config_volume_and_a_fresh_run(tmp_path, sample_dists):
    """An empty bind mount at /etc/ncs and a tmpfs /run: --secrets-only (what the container's
    entrypoint runs) leaves a complete ncs.conf and the IPC socket's directory, not just keys."""
    root = tmp_path / "image"
    install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-init-scripts", "--skip-secrets")
    conf = (root / "etc/ncs/ncs.conf").read_bytes()
    shutil.rmtree(root / "etc/ncs")
    (root / "etc/ncs").mkdir()
    shutil.rmtree(root / "run")
    before = snapshot(root / "opt")
    tree = root / f"opt/ncs/ncs-{V}"
    start = install_json(tree, root, "--system-install", "--ignore-init-scripts", "--secrets-only")
    assert (root / "etc/ncs/ncs.conf").read_bytes() == conf
    assert (root / "run/ncs").is_dir() and all((root / p).exists() for p in SECRET_PATHS)
    assert snapshot(root / "opt") == before
    assert not [a for a in start["actions"] if a["changed"] and a["kind"] in ("user", "group", "setuid", "capability")]
    assert install_json(tree, root, "--system-install", "--ignore-init-scripts", "--secrets-only")["changed"] == 0



@pytest.mark.parametrize("rel", ["etc/ncs/ipc_access", "etc/ncs/ssh/ssh_host_ed25519_key.pub", "etc/ncs/ssl/cert/host.key"])
@pytest.mark.parametrize("what", ["symlink", "fifo", "hard-link"])
def test_container_start_refuses_an_odd_secret_path_before_it_writes_a_key(tmp_path, sample_dists, rel, what):
    """A config volume holding a link, a FIFO or a second name at a later secret's path: the
    start (--secrets-only) refused it only when that secret's turn came, after it had generated
    ncs.crypto_keys (and a switch: after `current` and ncs.conf). Refused before anything now."""
    root = tmp_path / "image"
    install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-init-scripts", "--skip-secrets")
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    if what == "symlink":
        os.symlink("/etc/shadow", root / rel)
    elif what == "fifo":
        os.mkfifo(root / rel)
    else:
        (root / "etc/other").write_text("x\n")
        os.link(root / "etc/other", root / rel)
    before = snapshot(root)
    r = cli("install", root / f"opt/ncs/ncs-{V}", "--root", root, "--system-install", "--ignore-init-scripts",
            "--secrets-only", "--json", ok=False)
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["error"]["reference"] == {"symlink": "symlink-refused", "fifo": "not-a-file",
                                                          "hard-link": "hard-linked"}[what]
    assert snapshot(root) == before  # no key generated, nothing recorded as begun


def test_the_plan_names_each_keys_public_part(tmp_path):
    """The TLS key's public part is host.cert: the plan said "(.pub)" of it, a file that never exists."""
    root = staged_root(tmp_path / "a")
    details = {r.action.path: r.outcome.detail for r in check_plan(build_plan(spec(), FakeDist(V)), root).records}
    assert details["/etc/ncs/ssl/cert/host.key"].endswith("and its public part (host.cert)")
    assert details["/etc/ncs/ssh/ssh_host_ed25519_key"].endswith("and its public part (ssh_host_ed25519_key.pub)")


@needs_root
def test_crypto_keys_import_refuses_a_file_nso_cannot_use(tmp_path):
    """A duplicated key, a generation without both keys or an older generation's short key was
    imported as it was (only the last value of each name was checked): NSO then refuses it at start."""
    dist = _dist(tmp_path)
    root = staged_root(tmp_path)
    kf = tmp_path / "keys"
    for text, words in ((CANARY_KEYS + f"AESCFB128_KEY={CANARY_AES}\n", "appears twice"),
                        (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]=abc\nAES256CFB128_KEY[-1]={CANARY_AES256}\n"
                         f"AESCFB128_KEY[0]={CANARY_AES}\nAES256CFB128_KEY[0]={CANARY_AES256}\n", "has 3 hex digits"),
                        (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]={CANARY_AES}\nAES256CFB128_KEY[1]={CANARY_AES256}\n",
                         "generation 0 lacks AES256CFB128_KEY")):
        kf.write_text(text)
        code, out = _cli("install", dist, "--system-install", "--root", root, "--crypto-keys", kf, "--json")
        assert code == 2 and "bad-crypto-keys" in out and words in out, out
        assert CANARY_AES not in out and CANARY_AES256 not in out
        assert not (root / "etc/ncs/ncs.crypto_keys").exists()


def test_a_keys_file_nso_is_pointed_at_elsewhere_is_checked_on_every_run(tmp_path, sample_dists):
    """--set crypto.argument=/etc/ncs/other.keys wrote that into ncs.conf, generated the keys in
    /etc/ncs/ncs.crypto_keys and said "Done": NSO's keys command read a file that did not exist,
    and NSO could not start (found by review)."""
    root = tmp_path / "r"
    root.mkdir(mode=0o700)
    other = "crypto.argument=/etc/ncs/other.keys"

    def said(*extra):
        out = install_json(sample_dists["tar.gz"], root, "--system-install", *extra)
        return [w for w in out["warnings"] if "(crypto.argument)" in w], out

    warned, _ = said("--set", other)
    assert len(warned) == 1 and "read /etc/ncs/other.keys (crypto.argument), which does not exist" in warned[0]
    assert "generated them in /etc/ncs/ncs.crypto_keys" in warned[0]
    assert not (root / "etc/ncs/other.keys").exists()  # (the administrator's to put there)
    warned, again = said()  # every run says so while it is missing, and changes nothing
    assert len(warned) == 1 and again["changed"] == 0
    shutil.copy(root / "etc/ncs/ncs.crypto_keys", root / "etc/ncs/other.keys")
    assert said()[0] == []
    fresh = tmp_path / "f"  # NSO's own file, and another command's argument: nothing to check
    fresh.mkdir(mode=0o700)
    for extra in ((), ("--set", other, "--set", "crypto.command=/usr/local/bin/vault-keys")):
        out = install_json(sample_dists["tar.gz"], fresh, "--system-install", *extra)
        assert not any(a["kind"] == "keysfile" for a in out["actions"]), extra


def test_an_ipc_secret_nso_is_pointed_at_elsewhere_is_checked_on_every_run(tmp_path, sample_dists):
    """--set ipc.access_file=/etc/ncs/other_ipc with the access check on wrote that into ncs.conf
    and the clients' NCS_IPC_ACCESS_FILE, generated the secret in /etc/ncs/ipc_access and said
    "Done", as crypto.argument once did: the file NSO's access check reads did not exist, for
    whoever could create it first to fill (found by review)."""
    root = tmp_path / "r"
    root.mkdir(mode=0o700)
    tcp = ("--set", "ipc.transport=tcp")
    other = "ipc.access_file=/etc/ncs/other_ipc"

    def said(*extra):
        out = install_json(sample_dists["tar.gz"], root, "--system-install", *tcp, *extra)
        return [w for w in out["warnings"] if "(ipc.access_file;" in w], out

    warned, _ = said("--set", other)
    assert len(warned) == 1 and "read the secret at /etc/ncs/other_ipc" in warned[0]
    assert "generated the secret in /etc/ncs/ipc_access" in warned[0]
    assert not (root / "etc/ncs/other_ipc").exists()  # (the administrator's to put there)
    warned, again = said()
    assert len(warned) == 1 and again["changed"] == 0
    shutil.copy(root / "etc/ncs/ipc_access", root / "etc/ncs/other_ipc")
    assert said()[0] == []
    fresh = tmp_path / "f"  # the generated file itself, or the access check off: nothing to check
    fresh.mkdir(mode=0o700)
    for extra in (tcp, ("--set", other, "--set", "ipc.access_check=false", *tcp)):
        out = install_json(sample_dists["tar.gz"], fresh, "--system-install", *extra)
        assert not any(a["kind"] == "keysfile" for a in out["actions"]), extra
