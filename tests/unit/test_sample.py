"""The sample distributions the tests and benchmarks install: deterministic, NSO's layout per
version, every format, self-extracting and signed like the real ones."""

import hashlib
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from nso_install.errors import UsageError
from nso_install.sample import (CAPABILITY_BINARIES, FORMATS, certificate_pem, helper_paths,
                                make_sample_distribution, sign_file)

from support import snapshot


def digest(path):
    if path.is_dir():
        return snapshot(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_byte_for_byte_deterministic(tmp_path, fmt):
    a = make_sample_distribution(tmp_path / "a", "6.5.3", fmt, padding_files=3, padding_bytes=70000)
    b = make_sample_distribution(tmp_path / "b", "6.5.3", fmt, padding_files=3, padding_bytes=70000)
    assert a.name == b.name
    assert digest(a) == digest(b)
    # and making it again in the same place replaces it with the same bytes
    assert digest(make_sample_distribution(tmp_path / "a", "6.5.3", fmt, padding_files=3,
                                           padding_bytes=70000)) == digest(b)


def test_artifact_names(tmp_path):
    names = {fmt: make_sample_distribution(tmp_path, "6.6.1", fmt, arch="aarch64").name for fmt in FORMATS}
    assert names == {"dir": "nso-6.6.1", "tar.gz": "nso-6.6.1.linux.aarch64.tar.gz",
                     "tar": "nso-6.6.1.linux.aarch64.tar",
                     "installer.bin": "nso-6.6.1.linux.aarch64.installer.bin",
                     "signed.bin": "nso-6.6.1.linux.aarch64.signed.bin"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names.values())  # no temp files left


COMMON = ["VERSION", "bin/ncs", "bin/ncs_cli", "bin/ncs_cmd", "bin/ncs_load", "bin/ncs-setup", "bin/ncs-netsim",
          "bin/ncs-make-package", "bin/ncs-backup", "bin/ncs-uninstall", "bin/ncs_crypto_keys", "bin/ncs_conf_tool",
          *CAPABILITY_BINARIES, "etc/ncs/ncs.conf", "etc/ncs/ssh", "etc/ncs/snmp", "etc/ncs/ssl/cert",
          "var/ncs/cdb/aaa_init.xml", "packages/neds", "netsim", "man/man1/ncs.1", "doc", "examples.ncs/README",
          "src/ncs", "scripts", "support"]


@pytest.mark.parametrize("version, epam, wrappers", [
    ("6.5.3", "lib/ncs/lib/core/pam/priv/epam", "lib/ncs/lib/core/confd/priv"),
    ("6.4.1.2", "lib/ncs/lib/core/pam/priv/epam", "lib/ncs/lib/core/confd/priv"),
    ("6.6", "lib/ncs/lib/pam-6.6/priv/epam", "lib/ncs/lib/confd-6.6/priv"),
    ("6.7.1", "lib/ncs/lib/pam-6.7.1/priv/epam", "lib/ncs/lib/confd-6.7.1/priv"),
])
def test_tree_has_the_facts_sheet_paths(tmp_path, version, epam, wrappers):
    root = make_sample_distribution(tmp_path, version, "dir")
    assert root.name == f"nso-{version}"
    for rel in COMMON + [epam, f"{wrappers}/cmdwrapper", f"{wrappers}/cmdptywrapper"]:
        assert os.path.lexists(root / rel), rel
    assert helper_paths(version) == {"epam": epam, "cmdwrapper": f"{wrappers}/cmdwrapper",
                                     "cmdptywrapper": f"{wrappers}/cmdptywrapper"}
    other = "core" if "pam-" in epam else f"pam-{version}"
    assert not (root / "lib/ncs/lib" / other).exists()
    assert (root / "VERSION").read_text() == f"{version}\n"
    for rel in ["bin/ncs", *CAPABILITY_BINARIES, epam, f"{wrappers}/cmdwrapper"]:
        assert stat.S_IMODE(os.lstat(root / rel).st_mode) == 0o755, rel
        assert (root / rel).read_bytes().startswith(b"#!/bin/sh\n")
    assert stat.S_IMODE(os.lstat(root / "etc/ncs/ncs.conf").st_mode) == 0o644
    assert b'xmlns="http://tail-f.com/yang/tailf-ncs-config"' in (root / "etc/ncs/ncs.conf").read_bytes()
    assert b"ncsadmin" in (root / "var/ncs/cdb/aaa_init.xml").read_bytes()
    assert len(list((root / "packages/neds").iterdir())) == 2
    assert os.readlink(root / "bin/ncs-netsim") == "../netsim/bin/ncs-netsim"
    assert (root / "bin/ncs-netsim").resolve().is_relative_to(root.resolve())
    assert not any(os.path.isabs(os.readlink(p)) for p in root.rglob("*") if p.is_symlink())
    out = subprocess.run(["sh", root / "bin/ncs", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == version


def test_tarball_members_under_one_top_dir_with_neutral_owners(tmp_path):
    tgz = make_sample_distribution(tmp_path, "6.5.3", "tar.gz")
    with tarfile.open(tgz) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names[0] == "nso-6.5.3" and all(n == "nso-6.5.3" or n.startswith("nso-6.5.3/") for n in names)
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 1704067200)}
    assert tgz.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_padding_count(tmp_path):
    root = make_sample_distribution(tmp_path, "6.5.3", "dir", padding_files=12, padding_bytes=1000)
    pads = sorted((root / "lib/ncs/padding").iterdir())
    assert [p.name for p in pads] == [f"{i:04d}.bin" for i in range(12)]
    assert {p.stat().st_size for p in pads} == {1000}
    assert len({p.read_bytes() for p in pads}) == 12  # pseudo-random, not all the same
    with tarfile.open(make_sample_distribution(tmp_path, "6.5.3", "tar", padding_files=12)) as tf:
        assert len([n for n in tf.getnames() if "/padding/" in n]) == 12
    assert not (make_sample_distribution(tmp_path / "none", "6.5.3", "dir") / "lib/ncs/padding").exists()


def test_installer_bin_self_extracts(tmp_path):
    inst = make_sample_distribution(tmp_path, "6.5.3", "installer.bin")
    assert stat.S_IMODE(inst.stat().st_mode) == 0o755
    assert inst.read_bytes().startswith(b"#!/bin/sh\n")
    usage = subprocess.run(["sh", inst, "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--local-install" in usage.stdout and "--system-install" in usage.stdout
    target = tmp_path / "local"
    run = subprocess.run(["sh", inst, "--local-install", target], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert snapshot_without_root(target) == snapshot_without_root(make_sample_distribution(tmp_path, "6.5.3", "dir"))
    bare = tmp_path / "bare"
    assert subprocess.run(["sh", inst, bare], capture_output=True).returncode == 0  # bare dir = local install
    assert (bare / "VERSION").read_text() == "6.5.3\n"
    assert subprocess.run(["sh", inst, "--system-install"], capture_output=True).returncode != 0


def snapshot_without_root(root):
    """Types, modes, sizes, mtimes and contents; not owners, not the root itself."""
    snap = snapshot(root)
    snap.pop(".")
    return {k: (v[0], v[1], v[4], v[5], v[6]) for k, v in snap.items()}


def test_signed_bin_unpacks_and_signature_verifies(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    sb = make_sample_distribution(tmp_path, "6.5.3", "signed.bin")
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run(["sh", sb, "--skip-verification"], cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    inst = "nso-6.5.3.linux.x86_64.installer.bin"
    assert sorted(p.name for p in work.iterdir()) == sorted(
        [inst, inst + ".signature", "tailf.cer", "README.signature", "cisco_x509_verify_release.py"])
    assert (work / "tailf.cer").read_bytes() == certificate_pem()
    cert = x509.load_pem_x509_certificate(certificate_pem())
    assert cert.serial_number == 0x4E534F
    signature = (work / (inst + ".signature")).read_bytes()
    assert signature == sign_file(work / inst)  # deterministic
    cert.public_key().verify(signature, (work / inst).read_bytes(), ec.ECDSA(hashes.SHA256()))
    assert (work / inst).read_bytes() == make_sample_distribution(tmp_path / "i", "6.5.3", "installer.bin").read_bytes()


def test_module_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nso_install.sample", tmp_path / "d", "--version", "6.6.2",
                          "--format", "installer.bin", "--padding-files", "5"],
                         capture_output=True, text=True, check=True)
    path = tmp_path / "d" / "nso-6.6.2.linux.x86_64.installer.bin"
    assert out.stdout.strip() == str(path)
    assert path.is_file()


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_sample_distribution(tmp_path, "6.5.3", "zip")
    with pytest.raises(UsageError) as e:  # an operator's input (sample-dist --version): exit 2, not "a bug"
        make_sample_distribution(tmp_path, "../6.5", "dir")
    assert e.value.reference == "bad-version" and "'../6.5'" in e.value.message


def test_sample_dist_makes_reproducible_incompressible_benchmark_distributions(tmp_path):
    from support import cli

    paths = [cli("sample-dist", tmp_path / d, "--padding-files", 3, "--padding-bytes", 20000).output.strip()
             for d in ("a", "b")]
    with tarfile.open(paths[0]) as tf:
        padding = [m for m in tf.getmembers() if m.name.startswith("nso-6.5.3/lib/ncs/padding/") and m.isfile()]
        data = tf.extractfile(padding[0]).read()
    assert len(padding) == 3 and {m.size for m in padding} == {20000}
    import zlib
    assert len(zlib.compress(data, 9)) > 0.95 * len(data)  # incompressible: the archive holds the bytes
    assert open(paths[0], "rb").read() == open(paths[1], "rb").read()  # the same distribution every time
    assert cli("sample-dist", tmp_path / "c", "--padding-bytes", -1, ok=False).exit_code == 2
