"""--trusted-cert and Cisco's 3-tier chain (root CA -> intermediate CA -> tailf.cer): the root
with its intermediate (in the same PEM file, or given again), or the intermediate alone, and
every link is checked -- issuer signatures, CA constraints, validity now, and the signing
certificate's key usage -- with an error naming the certificate and check.  Issuers come only
from --trusted-cert: a CA certificate shipped in the signed.bin is no link (as Cisco's own
verifier takes innerspace.cer from Cisco, never from the archive)."""

import datetime
from pathlib import Path

import pytest

import selfextractors as sx
from nso_install.distribution import open_distribution
from nso_install.distribution.signature import _check_signer
from nso_install.errors import DistributionError

from support import cli

DAY = datetime.timedelta(days=1)


def check(chain: sx.Chain, *trusted: bytes, tailf: bytes | None = None):
    return _check_signer("x.signed.bin", tailf or sx.pem(chain.leaf), list(trusted))


def refused(chain: sx.Chain, *trusted: bytes, **kw) -> DistributionError:
    with pytest.raises(DistributionError) as e:
        check(chain, *trusted, **kw)
    assert e.value.hint
    return e.value


# -- good chains -----------------------------------------------------------------------------------

def test_root_and_intermediate_give_the_whole_chain():
    c = sx.Chain()
    described = check(c, sx.pem(c.root), sx.pem(c.inter))
    assert described.count("->") == 2 and described.endswith("(trusted)")


@pytest.mark.parametrize("where", ["in-tailf-cer", "beside-it"])
def test_an_intermediate_shipped_in_the_signed_bin_is_no_issuer(tmp_path, where):
    """Before: with the root pinned, the intermediate after the leaf in tailf.cer (or in another
    *.cer of the bundle) was taken as the link to it."""
    c = sx.Chain()
    tailf, extra = (sx.pem(c.leaf, c.inter), []) if where == "in-tailf-cer" else \
        (sx.pem(c.leaf), [("innerspace.cer", sx.pem(c.inter))])
    f = tmp_path / sx.SIGNED
    f.write_bytes(sx.signed_bin(sx.bundle_members(sx.installer("awk-xz"), c.leaf_key, tailf, extra=extra)))
    with pytest.raises(DistributionError) as e:
        open_distribution(f, trusted_certs=[sx.pem(c.root)])
    assert e.value.reference == "untrusted-signer" and "is issued by CN=Test Innerspace SubCA" in e.value.message
    assert "never from the signed.bin" in e.value.hint
    d = open_distribution(f, trusted_certs=[sx.pem(c.root), sx.pem(c.inter)])  # given: the chain holds
    assert d.verified and any("chain checked" in n and "Test Root CA M2" in n for n in d.notes)


def test_an_end_entity_of_another_sub_ca_of_the_pinned_root_is_refused(tmp_path):
    """Cisco's root signs many sub-CAs (devices, licensing...).  Before: with the root and the
    release intermediate pinned as documented, a bundle shipping another sub-CA of that root and
    a tailf.cer it issued (an end-entity without extendedKeyUsage, as device certificates are)
    was accepted as a release signer -- any holder of such a key could sign an "NSO release"."""
    c = sx.Chain()
    other_key, signer_key = sx.ec_key(), sx.ec_key()
    other = sx.cert("Test Manufacturing CA", other_key, (c.root, c.root_key), ca=True, path_length=0,
                    key_usage=sx.usage(key_cert_sign=True, crl_sign=True))
    device = sx.cert("Test device", signer_key, (other, other_key),
                     key_usage=sx.usage(digital_signature=True, key_encipherment=True))
    pin = tmp_path / "pin.pem"
    pin.write_bytes(sx.pem(c.root, c.inter))
    for tailf, extra in ((sx.pem(device, other), []), (sx.pem(device), [("manufacturing.cer", sx.pem(other))])):
        f = tmp_path / sx.SIGNED
        f.write_bytes(sx.signed_bin(sx.bundle_members(sx.installer("awk-xz"), signer_key, tailf, extra=extra)))
        assert open_distribution(f).verified  # the signature itself is sound (integrity)
        with pytest.raises(DistributionError) as e:
            open_distribution(f, trusted_certs=[pin.read_bytes()])
        assert e.value.reference == "untrusted-signer" and "CN=Test device" in e.value.message
        r = cli("install", f, "--system-install", "--root", tmp_path / "r", "--trusted-cert", pin, ok=False)
        assert r.exit_code == 1 and "CN=Test device" in r.stderr and not (tmp_path / "r").exists()


def test_an_untrusted_signer_is_refused_before_the_installer_is_read_for_its_signature(tmp_path, monkeypatch):
    """The signature reads the whole installer (a GiB); the signer is a few certificates, so it is
    judged first.  Before, an untrusted signer was refused only after the signature check."""
    from nso_install.distribution import signature

    c, other = sx.Chain(), sx.Chain()
    f = tmp_path / sx.SIGNED
    f.write_bytes(sx.signed_bin(sx.bundle_members(sx.installer("awk-xz"), c.leaf_key, sx.pem(c.leaf))))
    read = []
    verify = signature._verify
    monkeypatch.setattr(signature, "_verify", lambda *a: read.append(a) or verify(*a))
    with pytest.raises(DistributionError) as e:
        open_distribution(f, trusted_certs=[sx.pem(other.root, other.inter)])
    assert e.value.reference == "untrusted-signer" and read == []
    assert open_distribution(f, trusted_certs=[sx.pem(c.root, c.inter)]).verified and len(read) == 1


def test_root_and_intermediate_in_one_pem_bundle():
    c = sx.Chain()
    assert "Test Innerspace SubCA" in check(c, sx.pem(c.root, c.inter))


def test_root_and_intermediate_given_separately_der_and_pem():
    c = sx.Chain()
    assert check(c, sx.der(c.root), sx.pem(c.inter)).count("(trusted)") == 2


def test_pinning_the_intermediate_or_the_leaf_itself_still_works():
    c = sx.Chain()
    check(c, sx.pem(c.inter))
    check(c, sx.pem(c.leaf))


# -- refused chains --------------------------------------------------------------------------------

def test_root_only_without_the_intermediate_says_to_add_it():
    c = sx.Chain()
    e = refused(c, sx.pem(c.root))
    assert e.reference == "untrusted-signer"
    assert "Test NSO release signing" in e.message and "intermediate" in e.hint


def test_wrong_root():
    c = sx.Chain()
    other = sx.cert("Another Root CA", sx.ec_key(), ca=True, key_usage=sx.usage(key_cert_sign=True))
    e = refused(c, sx.pem(other))
    assert e.reference == "untrusted-signer" and "is issued by CN=Test Innerspace SubCA" in e.message


def test_wrong_root_of_the_same_name():
    c, same_name = sx.Chain(), sx.Chain()
    e = refused(c, sx.pem(same_name.root, same_name.inter))
    assert e.reference == "untrusted-signer"
    assert "the signing certificate tailf.cer" in e.message and "does not verify" in e.message


def test_forged_intermediate_with_the_right_name():
    """A certificate named like the real intermediate but with another key cannot vouch for tailf.cer."""
    c = sx.Chain()
    fake_key = sx.ec_key()
    fake_inter = sx.cert("Test Innerspace SubCA", fake_key, (c.root, c.root_key), ca=True,
                         key_usage=sx.usage(key_cert_sign=True))
    leaf = sx.cert("Test NSO release signing", c.leaf_key, (fake_inter, fake_key), ca=False,
                   key_usage=sx.usage(digital_signature=True))
    e = refused(c, sx.pem(c.root), sx.pem(c.inter), tailf=sx.pem(leaf))
    assert e.reference == "untrusted-signer"
    assert "signature does not verify" in e.message and "the signing certificate tailf.cer" in e.message


@pytest.mark.parametrize("case, who, words", [
    ("expired-leaf", "the signing certificate tailf.cer", "expired on"),
    ("future-leaf", "the signing certificate tailf.cer", "not valid before"),
    ("expired-intermediate", "intermediate CA CN=Test Innerspace SubCA", "expired on"),
    ("expired-root", "root CA CN=Test Root CA M2", "expired on"),
    ("leaf-no-digital-signature", "the signing certificate tailf.cer", "does not allow digitalSignature"),
    ("leaf-server-auth-only", "the signing certificate tailf.cer", "does not include codeSigning"),
    ("intermediate-not-ca", "intermediate CA CN=Test Innerspace SubCA", "is not a CA"),
    ("intermediate-no-basic-constraints", "intermediate CA CN=Test Innerspace SubCA", "is not a CA"),
    ("intermediate-no-cert-sign", "intermediate CA CN=Test Innerspace SubCA", "does not allow keyCertSign"),
    ("root-pathlen-0", "root CA CN=Test Root CA M2", "pathLen 0 allows 0 intermediate CA(s) below it, but the "
                                                   "chain has 1"),
])
def test_each_check_names_the_certificate_that_failed(case, who, words):
    past = dict(not_before=sx.now() - 400 * DAY, not_after=sx.now() - DAY)
    kw = {"expired-leaf": dict(leaf_kw=past),
          "future-leaf": dict(leaf_kw=dict(not_before=sx.now() + DAY)),
          "expired-intermediate": dict(inter_kw=past),
          "expired-root": dict(root_kw=past),
          "leaf-no-digital-signature": dict(leaf_kw=dict(key_usage=sx.usage(key_encipherment=True))),
          "leaf-server-auth-only": dict(leaf_kw=dict(eku=[sx.SERVER_AUTH])),
          "intermediate-not-ca": dict(inter_kw=dict(ca=False)),
          "intermediate-no-basic-constraints": dict(inter_kw=dict(ca=None)),
          "intermediate-no-cert-sign": dict(inter_kw=dict(key_usage=sx.usage(digital_signature=True))),
          "root-pathlen-0": dict(root_kw=dict(path_length=0)),
          }[case]
    c = sx.Chain(**kw)
    e = refused(c, sx.pem(c.root), sx.pem(c.inter))
    assert e.reference == "certificate-chain-invalid", e.message
    assert f"certificate chain check failed: {who}" in e.message and words in e.message


def test_pathlen_of_the_intermediate_counts_ca_certificates_below_it():
    """intermediate pathLen 0 with a second intermediate under it: refused, naming the upper one."""
    c = sx.Chain()
    sub_key = sx.ec_key()
    sub = sx.cert("Test Sub-Sub CA", sub_key, (c.inter, c.inter_key), ca=True, key_usage=sx.usage(key_cert_sign=True))
    leaf = sx.cert("Deep signer", c.leaf_key, (sub, sub_key), ca=False, key_usage=sx.usage(digital_signature=True))
    with pytest.raises(DistributionError) as e:
        _check_signer("x", sx.pem(leaf), [sx.pem(c.root), sx.pem(c.inter, sub)])
    assert "intermediate CA CN=Test Innerspace SubCA" in e.value.message and "pathLen 0" in e.value.message


def test_checks_apply_to_a_chain_pinned_below_its_root_only_up_to_the_pin():
    """Pinning the intermediate: a root that is out of reach (or expired) is not consulted."""
    c = sx.Chain(root_kw=dict(not_before=sx.now() - 400 * DAY, not_after=sx.now() - DAY))
    assert "Test Root CA M2" not in check(c, sx.pem(c.inter))


def test_unreadable_trusted_cert_file_in_the_library():
    c = sx.Chain()
    with pytest.raises(DistributionError) as e:
        check(c, b"not a certificate")
    assert "--trusted-cert file #1" in e.value.message


# -- end to end ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    c = sx.Chain()
    d = tmp_path_factory.mktemp("chain")
    f = d / sx.SIGNED
    f.write_bytes(sx.signed_bin(sx.bundle_members(sx.installer("makeself"), c.leaf_key, sx.pem(c.leaf))))
    (d / "root.pem").write_bytes(sx.pem(c.root))
    (d / "inter.pem").write_bytes(sx.pem(c.inter))
    (d / "bundle.pem").write_bytes(sx.pem(c.root, c.inter))
    (d / "other-root.pem").write_bytes(sx.pem(sx.Chain().root))
    return f, d


@pytest.mark.parametrize("certs", [["bundle.pem"], ["root.pem", "inter.pem"]], ids=["bundle", "repeated"])
def test_cli_accepts_the_root_with_its_intermediate(tmp_path, signed, certs):
    f, d = signed
    args = [a for c in certs for a in ("--trusted-cert", d / c)]
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", *args)
    assert r.exit_code == 0 and "chain checked" in r.output + r.stderr
    assert (tmp_path / "r/opt/ncs/ncs-6.5.3/VERSION").exists()


@pytest.mark.parametrize("certs, words", [
    (["root.pem"], "none of these is a trusted certificate"),
    (["other-root.pem", "inter.pem"], None),  # the intermediate pinned: trusted, the unrelated root is unused
    (["other-root.pem"], "none of these is a trusted certificate"),
])
def test_cli_refuses_an_incomplete_or_foreign_chain_writing_nothing(tmp_path, signed, certs, words):
    f, d = signed
    args = [a for c in certs for a in ("--trusted-cert", d / c)]
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", *args, ok=words is None)
    if words is None:
        return
    assert r.exit_code == 1 and words in r.stderr and "Hint" in r.stderr
    assert not (tmp_path / "r").exists()


def test_cli_refuses_a_trusted_cert_file_without_a_certificate(tmp_path, signed):
    f, _ = signed
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", "--trusted-cert", junk, ok=False)
    assert r.exit_code == 2 and f"--trusted-cert {junk}: not certificates nso-install can pin" in r.stderr
    assert "not base64" not in r.stderr  # the reason, never the content
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty, not a certificate"),
    (b"hello, not a certificate\n", "neither a PEM certificate (-----BEGIN CERTIFICATE-----) nor a DER X.509 "
                                    "certificate"),
    (bytes(range(256)), "neither a PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "a PEM CERTIFICATE block in it is damaged"),
    (b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
     "a PEM file without a certificate (it holds PRIVATE KEY), where a PEM (-----BEGIN CERTIFICATE-----) or DER "
     "X.509 certificate is expected"),
])
def test_a_trusted_cert_that_is_no_certificate_is_told_what_is_expected(tmp_path, signed, content, reason):
    """The refusal showed the parser's internals ("ParseError { kind: ShortData { needed: 86 } }",
    "MalformedFraming" and a link to cryptography's FAQ): now what the file is, and what is expected."""
    f, _ = signed
    junk = tmp_path / "junk"
    junk.write_bytes(content)
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", "--trusted-cert", junk, ok=False)
    assert r.exit_code == 2 and f"--trusted-cert {junk}: not certificates nso-install can pin: {reason}" in r.stderr
    assert "ParseError" not in r.stderr and "cryptography.io" not in r.stderr and "Framing" not in r.stderr
    assert "MC4CAQAw" not in r.stderr and not (tmp_path / "r").exists()


def test_a_ca_bundle_as_the_trusted_cert_is_refused_in_one_message(tmp_path, signed, capfd):
    """The system's CA bundle given by mistake: cryptography's deprecation warning for one of its
    certificates reached stderr, with a line of the library's source, before the refusal."""
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    f, _ = signed
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        pytest.skip("no system CA bundle here")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)  # (what a warning would do: fail here)
        r = cli("install", f, "--system-install", "--root", tmp_path / "r", "--trusted-cert", bundle, ok=False)
    assert r.exit_code == 2, r.stderr
    assert "a CA bundle, not the certificates to pin" in r.stderr and "not the system's CA bundle" in r.stderr
    assert "Warning" not in r.stderr + capfd.readouterr().err


def test_a_certificate_forged_around_a_pinned_key_is_not_the_pinned_certificate():
    """Pinned is the certificate, not its key: a tailf.cer made by someone else around the same
    public key (own dates, own usage, signed by a throwaway key) must not stand in for it -- the
    pinned one here is expired and no code-signing certificate, so it is refused on its own too."""
    key = sx.ec_key()
    pinned = sx.cert("Old CA", key, ca=True, key_usage=sx.usage(key_cert_sign=True), eku=[sx.SERVER_AUTH],
                     not_before=sx.now() - 400 * DAY, not_after=sx.now() - DAY)
    forged = sx.cert("Old CA", key, (sx.cert("Throwaway", sx.ec_key()), sx.ec_key()), ca=None)
    with pytest.raises(DistributionError) as e:
        _check_signer("x.signed.bin", sx.pem(forged), [sx.pem(pinned)])
    assert e.value.reference in ("untrusted-signer", "certificate-chain-invalid")
    with pytest.raises(DistributionError):
        _check_signer("x.signed.bin", sx.pem(pinned), [sx.pem(pinned)])  # expired, and not for code signing
