"""signed.bin: the signature verified before anything is read, the signer pinned with
--trusted-cert, and a file named .signed.bin never silently left unverified."""

import datetime
import json
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import hostile
from nso_install.distribution import open_distribution
from nso_install.distribution.signature import _check_signer
from nso_install.errors import DistributionError
from nso_install.sample import certificate_pem

from support import cli, snapshot


# -- verification ----------------------------------------------------------------------------

def test_bad_signature_refused_and_skippable(sample_dists, tmp_path):
    bad = hostile.rewrite_signed_bin(sample_dists["signed.bin"], tmp_path / "nso-6.5.3.linux.x86_64.signed.bin",
                                     signature=b"\x30\x06\x02\x01\x01\x02\x01\x01")
    with pytest.raises(DistributionError) as e:
        open_distribution(bad)
    assert e.value.reference == "signature-invalid"
    assert "--skip-verification" in e.value.hint
    d = open_distribution(bad, skip_verification=True)
    assert d.version == "6.5.3" and not d.verified
    d.validate()


def test_tampered_installer_refused_and_skippable(sample_dists, tmp_path):
    tampered = hostile.rewrite_signed_bin(sample_dists["signed.bin"], tmp_path / "t.signed.bin", tamper_installer=True)
    with pytest.raises(DistributionError) as e:
        open_distribution(tampered)
    assert e.value.reference == "signature-invalid"
    d = open_distribution(tampered, skip_verification=True)
    summary = d.validate()
    dest = tmp_path / "dest"
    dest.mkdir()
    assert d.extract(dest, uid=None, gid=None) == summary
    assert (dest / "VERSION").read_text() == "6.5.3\n"


def test_untouched_rewrite_still_verifies(sample_dists, tmp_path):
    same = hostile.rewrite_signed_bin(sample_dists["signed.bin"], tmp_path / "s.signed.bin")
    assert open_distribution(same).verified


@pytest.mark.parametrize("drop", ["nso-6.5.3.linux.x86_64.installer.bin.signature", "tailf.cer"])
def test_missing_signature_material(sample_dists, tmp_path, drop):
    sb = hostile.rewrite_signed_bin(sample_dists["signed.bin"], tmp_path / "m.signed.bin", drop=(drop,))
    with pytest.raises(DistributionError) as e:
        open_distribution(sb)
    assert e.value.reference == "signature-missing" and drop in e.value.message
    assert open_distribution(sb, skip_verification=True).version == "6.5.3"


def test_signed_bin_without_installer(sample_dists, tmp_path):
    sb = hostile.rewrite_signed_bin(sample_dists["signed.bin"], tmp_path / "n.signed.bin",
                                    drop=("nso-6.5.3.linux.x86_64.installer.bin",))
    with pytest.raises(DistributionError) as e:
        open_distribution(sb, skip_verification=True)
    assert e.value.reference == "signed-bin-contents"


@pytest.mark.parametrize("name", ["nso-6.5.3.linux.x86_64.signed.bin", "NSO-6.5.3.LINUX.X86_64.SIGNED.BIN",
                                  "nso-6.5.3.linux.x86_64.Signed.Bin"])
@pytest.mark.parametrize("fmt", ["installer.bin", "tar.gz"])
def test_signed_bin_name_with_unsigned_content_is_not_silently_unverified(sample_dists, tmp_path, fmt, name):
    """An operator who downloads nso-VSN...signed.bin expects its signature checked.  A file
    with that name whose content is a bare installer.bin or tarball skipped verification; so
    did one whose name a download or a copy through another file system put in capitals."""
    fake = tmp_path / name
    shutil.copyfile(sample_dists[fmt], fake)
    with pytest.raises(DistributionError) as e:
        open_distribution(fake)
    assert e.value.reference == "signature-missing"
    assert {"installer.bin": "holds an installer.bin,", "tar.gz": "holds a tarball,"}[fmt] in e.value.message
    d = open_distribution(fake, skip_verification=True)  # the operator's explicit choice
    assert d.version == "6.5.3"


def test_real_signed_bin_still_verified(sample_dists):
    d = open_distribution(sample_dists["signed.bin"])
    assert d.kind == "signed.bin" and d.verified


def test_signed_bin_changed_after_verification_is_not_what_gets_unpacked(tmp_path, sample_dists):
    """Verify-then-unpack reads one private copy: rewriting the file in between changes nothing."""
    signed = tmp_path / sample_dists["signed.bin"].name
    shutil.copy(sample_dists["signed.bin"], signed)
    dist = open_distribution(signed)  # verified here
    data = bytearray(signed.read_bytes())
    start = data.rindex(b"__NSO_PAYLOAD_BELOW__")  # the inner installer's payload follows
    assert data.index(b"\x1f\x8b", start) > start  # its gzip stream
    data[data.index(b"\x1f\x8b", start) + 500] ^= 0xFF  # tamper with the installer in place
    signed.write_bytes(bytes(data))
    dest, ref = tmp_path / "dest", tmp_path / "ref"
    dest.mkdir()
    ref.mkdir()
    dist.validate()
    dist.extract(dest, uid=None, gid=None)
    open_distribution(sample_dists["tar.gz"]).extract(ref, uid=None, gid=None)
    assert {k: v[6] for k, v in snapshot(dest).items()} == {k: v[6] for k, v in snapshot(ref).items()}


# -- the trusted signer ----------------------------------------------------------------------

def make_cert(subject: str, key, issuer_name: str | None = None, issuer_key=None, ca=False) -> bytes:
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or subject)]))
         .public_key(key.public_key()).serial_number(1)
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key or key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_pinned_certificate_accepted_and_no_integrity_only_note(tmp_path, sample_dists):
    pin = tmp_path / "tailf.pem"
    pin.write_bytes(certificate_pem())
    out = json.loads(cli("install", sample_dists["signed.bin"], "--system-install", "--root", tmp_path / "r",
                         "--json", "--trusted-cert", pin).stdout)
    assert out["changed"] > 0 and not any("--trusted-cert" in n for n in out["notes"])


def test_unpinned_signature_says_it_proves_integrity_only(tmp_path, sample_dists):
    out = json.loads(cli("install", sample_dists["signed.bin"], "--system-install", "--root", tmp_path / "r",
                         "--json").stdout)
    assert any("integrity, not origin" in n and "--trusted-cert" in n for n in out["notes"])


def test_other_signer_refused_and_nothing_written(tmp_path, sample_dists):
    other = tmp_path / "other.pem"
    other.write_bytes(make_cert("Someone Else", ec.generate_private_key(ec.SECP256R1())))
    r = cli("install", sample_dists["signed.bin"], "--system-install", "--root", tmp_path / "r",
            "--trusted-cert", other, ok=False)
    assert r.exit_code == 1 and "trusted certificate" in r.stderr
    assert not (tmp_path / "r").exists()


def test_leaf_issued_by_trusted_ca_accepted():
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = make_cert("Cisco CA", ca_key, ca=True)
    leaf = make_cert("tailf", leaf_key, issuer_name="Cisco CA", issuer_key=ca_key)
    _check_signer("x", leaf, [ca])  # accepted
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = make_cert("tailf", leaf_key, issuer_name="Cisco CA", issuer_key=rogue_key)  # forged issuer name
    with pytest.raises(DistributionError) as e:
        _check_signer("x", rogue, [ca])
    assert e.value.reference == "untrusted-signer"


@pytest.mark.parametrize("fmt", ["tar.gz", "installer.bin", "dir"])
def test_trusted_cert_with_an_unsigned_distribution_is_refused(tmp_path, sample_dists, fmt):
    """Before: --trusted-cert with a tarball, an installer.bin or a directory installed it, with
    only a note that the option "had no effect" -- a pipeline pinning Cisco's signer installed
    whatever unsigned file was put in the signed.bin's place (under another name)."""
    pin = tmp_path / "tailf.pem"
    pin.write_bytes(certificate_pem())
    src = sample_dists[fmt]
    r = cli("install", src, "--system-install", "--root", tmp_path / "r", "--trusted-cert", pin, ok=False)
    assert r.exit_code == 1 and "carries no signature, but --trusted-cert asks for a signer pinned" in r.stderr
    assert "Hint" in r.stderr and not (tmp_path / "r").exists()
    with pytest.raises(DistributionError) as e:
        open_distribution(src, trusted_certs=[pin.read_bytes()])
    assert e.value.reference == "signature-missing"
    with open_distribution(src) as d:  # without the pin: installed, with the note that nothing proved its origin
        assert any("carries no signature" in n for n in d.notes)
