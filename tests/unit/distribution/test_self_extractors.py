"""Self-extracting files built differently from nso_install.sample's: the payload is found the
way the script itself finds it (never by running it), signed bundles are read as NSO's docs
describe them, and odd or hostile scripts are refused with a clear error, writing nothing."""

import functools
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

import selfextractors as sx
from nso_install.distribution import InstallerBinDistribution, SignedBinDistribution, open_distribution
from nso_install.distribution.selfextract import HEADER_LIMIT, locate_payload
from nso_install.errors import DistributionError

from support import cli, extract_all


def content(root) -> dict[str, tuple]:
    """Relative path -> (kind, sha256 of a file / link target) of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", None)
            else:
                out[rel] = ("file", hashlib.sha256(open(p, "rb").read()).hexdigest())
    return out


def unpacked_by_sh(path, tmp_path, *args, cwd=None) -> None:
    """Run the self-extractor as its author meant (sh FILE ARGS...); a directory argument is made first."""
    for a in args:
        if os.path.isabs(str(a)):
            os.makedirs(a, exist_ok=True)
    r = subprocess.run(["sh", str(path), *map(str, args)], cwd=cwd, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def extracted(dist, tmp_path, name="dest"):
    dest = tmp_path / name
    dest.mkdir()
    dist.validate()
    dist.extract(dest, uid=None, gid=None)
    return dest


def write(tmp_path, data: bytes, name=sx.INSTALLER):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- installer.bin files of other shapes ------------------------------------------------------------

EXPECTED_HOW = {"makeself": "`head -n 16 | wc -c`", "awk-xz": "marker line __ARCHIVE__",
                "dd-bz2": "`dd bs=1 skip=", "sed-tar": "marker line __PAYLOAD_FOLLOWS__",
                "grep-var-gz": "marker line __DATA_BEGINS__", "tail-n-tar": "`tail -n +5`"}


@pytest.mark.parametrize("shape", sorted(sx.SHAPES))
def test_installer_shapes_read_exactly_what_sh_unpacks(tmp_path, shape):
    """Six independently shaped self-extractors (makeself line count, awk marker, dd byte
    offset, sed marker, grep through a variable, literal tail -n +N; gzip, xz, bzip2 and
    plain tar payloads): nso-install reads the payload the script's own command names, and
    unpacks the same tree as running the script."""
    f = write(tmp_path, sx.installer(shape))
    with open(f, "rb") as fh:
        payload = locate_payload(fh, str(f))
    assert EXPECTED_HOW[shape] in payload.how
    assert payload.comp == sx.SHAPES[shape][1]
    by_sh = tmp_path / "by-sh"
    unpacked_by_sh(f, tmp_path, by_sh)
    with open_distribution(f) as d:
        assert isinstance(d, InstallerBinDistribution) and d.version == sx.VERSION
        dest = extracted(d, tmp_path)
    assert content(dest) == content(by_sh / sx.TOP)


@pytest.mark.skipif(not shutil.which("makeself"), reason="makeself is not installed (apt-get install makeself)")
@pytest.mark.parametrize("comp", ["gzip", "xz", "bzip2", "nocomp"])
def test_real_makeself_archives(tmp_path, comp):
    """Files made by makeself itself (its header: skip="N" lines, then `head -n "$skip" "$0" | wc -c`)."""
    src = tmp_path / "src"
    src.mkdir()
    with tarfile.open(fileobj=io.BytesIO(sx.tree_tar())) as tf:
        extract_all(tf, src)
    f = tmp_path / sx.INSTALLER
    subprocess.run(["makeself", f"--{comp}", "--tar-quietly", str(src), str(f), "Fake NSO", "true"], check=True,
                   capture_output=True, timeout=120)
    with open(f, "rb") as fh:
        assert "`head -n " in locate_payload(fh, str(f)).how
    unpacked_by_sh(f, tmp_path, "--quiet", "--noexec", "--target", tmp_path / "by-sh")
    with open_distribution(f) as d:
        assert d.version == sx.VERSION
        assert content(extracted(d, tmp_path)) == content(tmp_path / "by-sh" / sx.TOP)


@pytest.mark.parametrize("shape", ["sed-tar", "tail-n-tar"])
def test_installer_with_plain_tar_payload_installs(tmp_path, shape):
    f = write(tmp_path, sx.installer(shape))
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", "--json")
    assert r.exit_code == 0
    assert (tmp_path / "r/opt/ncs/ncs-6.5.3/VERSION").read_text() == "6.5.3\n"


def test_reads_what_the_script_unpacks_not_a_decoy_archive(tmp_path):
    """A script whose dd skips a decoy archive placed first: the first-archive scan would take the
    decoy; the script's own command says where its payload is, and that is what is read."""
    decoy = gzip.compress(b"decoy, not NSO\n" * 40, mtime=0) + b"\n"
    template = ("#!/bin/sh\n# the payload follows a decoy block\n"
                "dd if=\"$0\" bs=1 skip={offset} 2>/dev/null | gzip -dc | tar -xf - -C \"${{1:-.}}\"\nexit 0\n")
    header = sx.fixed_point(template)
    real_offset = len(header) + len(decoy)
    data = template.format(offset=real_offset).encode()
    assert len(data) == len(header)  # same width: the offset stays right
    f = write(tmp_path, data + decoy + sx.compress(sx.tree_tar(), "gz"))
    with open(f, "rb") as fh:
        assert locate_payload(fh, str(f)).offset == real_offset
    unpacked_by_sh(f, tmp_path, tmp_path / "by-sh")
    with open_distribution(f) as d:
        assert content(extracted(d, tmp_path)) == content(tmp_path / "by-sh" / sx.TOP)


def test_fallback_takes_a_plain_tar_at_a_line_start(tmp_path):
    """No command the reader understands (perl computes the offset): the first archive at a line
    start is the payload, a plain tar recognised by its ustar header and checksum."""
    script = (b"#!/bin/sh\n# the archive is appended\nperl -e 'open F, $ARGV[0]; while (<F>) { last if /^#END/ }"
              b" print while <F>' \"$0\" | tar -xf - -C \"${1:-.}\"\nexit 0\n#END\n")
    f = write(tmp_path, script + sx.tree_tar())
    with open(f, "rb") as fh:
        p = locate_payload(fh, str(f))
    assert (p.offset, p.comp) == (len(script), "tar") and "first archive" in p.how
    assert open_distribution(f).version == sx.VERSION


@pytest.mark.timeout(60)  # before: each line re-tested every such variable with a new regex (hours)
def test_a_header_of_many_self_references_is_read_in_linear_time(tmp_path):
    """A hostile script with thousands of `aN=$0` variables and lines that use none of them is
    read before any signature check, as root: it must not cost variables x lines."""
    script = "#!/bin/sh\n" + "".join(f"a{i}=$0\n" for i in range(3000)) + "x\n" * 3000 + "exit 0\n"
    f = write(tmp_path, script.encode() + sx.tree_tar())
    with open(f, "rb") as fh:
        p = locate_payload(fh, str(f))
    assert (p.offset, p.comp) == (len(script), "tar")


@pytest.mark.timeout(30)  # before: minutes (pipes) and hours (markers); now about a second each
@pytest.mark.parametrize("case", ["pipes", "one-long-command", "marker-variables"])
def test_a_hostile_header_of_a_mib_is_read_in_linear_time(tmp_path, case):
    """The first MiB of a script is read, as root, before any signature check.  Before: each
    stage of a line was cut by growing a string a character at a time, and searched the whole
    line again for `wc -c` (one line of 100,000 `cat "$0" |` stages: stages x line); each line
    reading the script tried every variable holding a marker with a regex of its own."""
    if case == "pipes":
        script = "#!/bin/sh\n" + 'cat "$0" |' * 100_000 + "\nexit 0\n"
    elif case == "one-long-command":
        script = "#!/bin/sh\n" + 'tail -n +$X "$0" ' * 60_000 + "\nexit 0\n"
    else:
        script = ("#!/bin/sh\n" + "".join(f"M{i}=__A{i}__\n" for i in range(15_000))
                  + "".join(f'grep -n "$M{i}" "$0"\n' for i in range(15_000)) + "exit 0\n")
    assert len(script) < HEADER_LIMIT
    f = write(tmp_path, script.encode() + sx.tree_tar())
    # in a fresh interpreter, as a run is: how slow a string grown a character at a time is
    # depends on what the process allocated before (inside pytest it was sometimes fast)
    code = ("import sys; from nso_install.distribution.selfextract import locate_payload\n"
            "from nso_install.errors import DistributionError\n"
            "try:\n    print(locate_payload(open(sys.argv[1], 'rb'), 'x').offset)\n"
            "except DistributionError as e:\n    print(e.reference, e.message)\n")
    r = subprocess.run([sys.executable, "-c", code, f], capture_output=True, text=True, timeout=15)
    if case == "marker-variables":  # the markers exist nowhere: refused, as it should be, quickly
        assert r.stdout.startswith("no-payload") and "__A0__" in r.stdout, r.stdout + r.stderr
    else:
        assert r.stdout.strip() == str(len(script)), r.stdout + r.stderr


def test_a_huge_number_in_the_script_is_no_position(tmp_path):
    """`tail -c +<5000 digits>`: no offset in any file, refused or ignored like any other
    unusable position, never an internal error (int() refuses more than 4300 digits)."""
    script = f"#!/bin/sh\ntail -c +{'9' * 5000} \"$0\" | tar -xf -\nexit 0\n".encode()
    f = write(tmp_path, script + sx.tree_tar())
    try:
        with open(f, "rb") as fh:
            locate_payload(fh, str(f))
    except DistributionError:
        pass  # a clear refusal is as good as the fallback


def test_ustar_in_the_script_text_is_not_taken_for_a_tar(tmp_path):
    """``ustar`` 257 bytes after a line start of the text, without a valid tar header checksum,
    is text: the scan goes on to the real payload."""
    line = b"# " + b"x" * 254 + b"\n"  # the next line's 'ustar' sits at offset 257 from this line's start
    script = b"#!/bin/sh\n" + line + b"ustar is the tar format of the payload\nexit 0\n"
    assert script[len(b"#!/bin/sh\n") + 257:][:5] == b"ustar"
    f = write(tmp_path, script + sx.compress(sx.tree_tar(), "gz"))
    with open(f, "rb") as fh:
        p = locate_payload(fh, str(f))
    assert (p.offset, p.comp) == (len(script), "gz")


def test_heredoc_and_comment_lines_are_not_commands_or_markers(tmp_path):
    """A heredoc terminator shaped like a marker, and commands quoted in a heredoc body or a
    comment, are data: only the real command counts."""
    template = ("#!/bin/sh\nusage() {{\n    cat <<__USAGE__\nUsage: $0 DIR  (reads: tail -n +2 \"$0\")\n__USAGE__\n}}\n"
                "# old way: dd if=\"$0\" bs=1 skip=3\n"
                "tail -n +{first} \"$0\" | tar -xf - -C \"${{1:-.}}\"\nexit 0\n")
    f = write(tmp_path, sx.fixed_point(template, sx.tree_tar()))
    with open(f, "rb") as fh:
        p = locate_payload(fh, str(f))
    assert p.how.startswith("`tail -n +10` on line 8")
    assert open_distribution(f).version == sx.VERSION


def test_the_script_is_never_run(tmp_path):
    canary = tmp_path / "canary"
    template = f"#!/bin/sh\ntouch {canary}\n" + "tail -n +{first} \"$0\" | gzip -dc | tar -xf -\nexit 0\n"
    f = write(tmp_path, sx.fixed_point(template, sx.compress(sx.tree_tar(), "gz")))
    os.chmod(f, 0o755)
    with open_distribution(f) as d:
        extracted(d, tmp_path)
    assert not canary.exists()


def test_sample_generator_files_still_read(sample_dists):
    for fmt in ("installer.bin", "signed.bin"):
        with open(sample_dists[fmt], "rb") as fh:
            p = locate_payload(fh, fmt)
        assert "`tail -c +" in p.how
        assert open_distribution(sample_dists[fmt]).version == "6.5.3"


# -- signed bundles --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain():
    return sx.Chain()


@pytest.mark.parametrize("inner, comp, marker", [
    ("awk-xz", "tar", "__BUNDLE_BELOW__"),  # the case that failed: plain tar after another marker
    ("makeself", "tar", "__ARCHIVE__"),  # the inner installer uses a marker of the same form
    ("sed-tar", "gz", "__SIGNED_PAYLOAD__"),  # a compressed bundle around a plain-tar installer
])
def test_signed_bundle_as_the_docs_describe_it(tmp_path, chain, inner, comp, marker):
    """A signed.bin is a self-extractor whose payload is a tar of the installer.bin, its
    .signature, tailf.cer, README.signature and cisco_x509_verify_release.py* (and bundled
    packages): the installer's signature is verified and the installer read from the copy."""
    inst = sx.installer(inner)
    members = sx.bundle_members(inst, chain.leaf_key, sx.pem(chain.leaf))
    f = write(tmp_path, sx.signed_bin(members, marker=marker, comp=comp), sx.SIGNED)
    # the bundle is real: sh unpacks the documented files, the installer byte for byte
    (tmp_path / "sh").mkdir()
    unpacked_by_sh(f, tmp_path, "--skip-verification", cwd=tmp_path / "sh")
    assert (tmp_path / "sh" / sx.INSTALLER).read_bytes() == inst
    unpacked_by_sh(tmp_path / "sh" / sx.INSTALLER, tmp_path, tmp_path / "by-sh")
    with open_distribution(f) as d:
        assert isinstance(d, SignedBinDistribution) and d.verified and d.version == sx.VERSION
        assert d.installer_name == sx.INSTALLER
        assert any("integrity, not origin" in n for n in d.notes)
        assert any("ncs-6.5.3-cisco-ios-6.100.tar.gz" in n for n in d.notes)  # bundled package: said, not installed
        assert content(extracted(d, tmp_path)) == content(tmp_path / "by-sh" / sx.TOP)


def test_signed_bundle_installs_with_the_cli(tmp_path, chain):
    members = sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))
    f = write(tmp_path, sx.signed_bin(members), sx.SIGNED)
    r = cli("install", f, "--system-install", "--root", tmp_path / "r")
    assert r.exit_code == 0
    assert (tmp_path / "r/opt/ncs/ncs-6.5.3/VERSION").read_text() == "6.5.3\n"


def test_rsa_sha512_signature_verified(tmp_path):
    """Cisco's release signatures are RSA (256-byte .signature files in the docs' listing),
    verified with --algo sha512 in README.signature."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    c = sx.Chain(leaf_key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    members = sx.bundle_members(sx.installer("dd-bz2"), c.leaf_key, sx.pem(c.leaf))
    assert len(dict(members)[sx.INSTALLER + ".signature"]) == 256
    f = write(tmp_path, sx.signed_bin(members), sx.SIGNED)
    assert open_distribution(f, trusted_certs=[sx.pem(c.root)] + [sx.pem(c.inter)]).verified
    tampered = [(n, d[:-1] + bytes([d[-1] ^ 1]) if n == sx.INSTALLER else d) for n, d in members]
    with pytest.raises(DistributionError) as e:
        open_distribution(write(tmp_path, sx.signed_bin(tampered), "t.signed.bin"))
    assert e.value.reference == "signature-invalid"


def _bundle(chain, *, drop=(), extra=()):
    members = [m for m in sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))
               if m[0] not in drop]
    return sx.signed_bin(members + list(extra))


def test_members_spelled_as_tar_would_put_them_beside_the_installer_count(tmp_path, chain):
    """``.//X`` and ``/X`` are X to tar (what ``sh FILE`` unpacks); they were skipped as "not flat",
    so such a bundle had no installer."""
    members = [(f".//{n}" if n == sx.INSTALLER else f"/{n}" if n == "tailf.cer" else n, d)
               for n, d in sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))]
    with open_distribution(write(tmp_path, sx.signed_bin(members), sx.SIGNED)) as d:
        assert d.verified and d.installer_name == sx.INSTALLER


def test_documented_helper_files_are_not_required(tmp_path, chain):
    f = write(tmp_path, _bundle(chain, drop=("README.signature", "cisco_x509_verify_release.py",
                                             "cisco_x509_verify_release.py3")), sx.SIGNED)
    assert open_distribution(f).verified


@pytest.mark.parametrize("case, reference, words", [
    ("two-tailf", "hostile-member", "two members are named 'tailf.cer'"),
    ("two-installers", "signed-bin-contents", "exactly one *.installer.bin"),
    ("no-installer", "signed-bin-contents", "found none"),
    ("ned", "signed-bin-contents", "found none"),
    ("tailf-symlink", "hostile-member", "'tailf.cer' is a symlink"),
    ("two-tailf-spelled", "hostile-member", "two members are named 'tailf.cer'"),  # tar makes both tailf.cer
    ("huge-extra", "signed-bin-contents", "add up to more than 64 GiB"),
])
def test_bundle_contents_refused(tmp_path, chain, case, reference, words):
    if case == "two-tailf":
        data = _bundle(chain, extra=[("tailf.cer", sx.pem(sx.Chain().leaf))])
    elif case == "two-installers":
        data = _bundle(chain, extra=[("nso-6.5.2.linux.x86_64.installer.bin", sx.installer("dd-bz2"))])
    elif case == "no-installer":
        package = f"ncs-{sx.VERSION}-cisco-ios-6.100.tar.gz"
        data = _bundle(chain, drop=(sx.INSTALLER, package, package + ".signature"))
    elif case == "ned":  # a NED's signed.bin: a tarball and its signature, no installer
        data = _bundle(chain, drop=(sx.INSTALLER, sx.INSTALLER + ".signature"))
    elif case == "two-tailf-spelled":
        data = _bundle(chain, extra=[(".//tailf.cer", sx.pem(sx.Chain().leaf))])
    elif case == "huge-extra":  # declares 65 GiB (a bomb would inflate that much only to skip it)
        big = tarfile.TarInfo("bundled.tar.gz")
        big.size = 65 << 30
        members = sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))
        raw = b"".join(sx.bundle_tar([m])[:512 + -(-len(m[1]) // 512) * 512] for m in members)  # (no end blocks)
        data = sx.BUNDLE_SH.format(marker="__BUNDLE_BELOW__", installer=sx.INSTALLER, untar="tar -xf -").encode() \
            + raw + big.tobuf(tarfile.GNU_FORMAT)
    else:
        members = [m for m in sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))
                   if m[0] != "tailf.cer"]
        raw = sx.bundle_tar(members)
        buf = io.BytesIO()
        with tarfile.open(fileobj=io.BytesIO(raw)) as tin, tarfile.open(fileobj=buf, mode="w") as tout:
            for ti in tin.getmembers():
                tout.addfile(ti, tin.extractfile(ti))
            link = tarfile.TarInfo("tailf.cer")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/ssl/certs/ca-certificates.crt"
            tout.addfile(link)
        data = sx.BUNDLE_SH.format(marker="__BUNDLE_BELOW__", installer=sx.INSTALLER, untar="tar -xf -").encode() \
            + buf.getvalue()
    f = write(tmp_path, data, sx.SIGNED)
    with pytest.raises(DistributionError) as e:
        open_distribution(f, skip_verification=case in ("no-installer", "ned"))
    assert e.value.reference == reference and words in e.value.message and e.value.hint
    assert ("signed NED or package" in e.value.hint) is (case == "ned"), e.value.hint
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and not (tmp_path / "r").exists()


def test_an_ed25519_signature_is_checked_on_the_mapped_copy_in_bounded_memory(tmp_path):
    """Ed25519 signs the message itself, not a digest: the installer copy was read into memory,
    then copied once more (2 GiB of memory for a 1 GiB installer that a signed.bin of 1 MiB
    inflates to, before --trusted-cert's chain was looked at).  It is mapped now."""
    import tracemalloc

    from cryptography.hazmat.primitives.asymmetric import ed25519

    c = sx.Chain(leaf_key=ed25519.Ed25519PrivateKey.generate())
    padded = sx.installer("sed-tar", sx.tree_tar() + bytes(64 << 20))  # (zeros after the tar's end: ignored)
    members = sx.bundle_members(padded, c.leaf_key, sx.pem(c.leaf))
    f = write(tmp_path, sx.signed_bin(members, comp="gz"), sx.SIGNED)
    tracemalloc.start()
    try:
        with open_distribution(f, trusted_certs=[sx.pem(c.root, c.inter)]) as d:
            assert d.verified and d.version == sx.VERSION
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, peak
    tampered = [(n, padded[:-1] + b"\1" if n == sx.INSTALLER else d) for n, d in members]
    with pytest.raises(DistributionError) as e:
        open_distribution(write(tmp_path, sx.signed_bin(tampered, comp="gz"), "t.signed.bin"))
    assert e.value.reference == "signature-invalid"
    empty = sx.bundle_members(b"", c.leaf_key, sx.pem(c.leaf))
    with pytest.raises(DistributionError) as e:  # an empty installer: verified (mapping nothing), then no payload
        open_distribution(write(tmp_path, sx.signed_bin(empty), "e.signed.bin"))
    assert e.value.reference != "signature-invalid"


def test_a_bundle_of_overlong_member_names_is_refused_in_bounded_memory(tmp_path, chain):
    """A pax header may hold a name of up to 1 MiB, and a bundle's flat names were remembered (and
    listed in a note) whatever their length: 1000 of them, a signed.bin of 1 MiB compressed, took
    a GiB of memory (and a note of 3 MiB).  A name longer than PATH_MAX is refused as in a tree."""
    import tracemalloc

    members = sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key, sx.pem(chain.leaf))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members[:1] + [(f"{i:03d}" + "a" * 1_000_000, b"") for i in range(100)] + members[1:]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    f = write(tmp_path, sx.BUNDLE_SH.format(marker="__BUNDLE_BELOW__", installer=sx.INSTALLER,
                                            untar="gzip -dc | tar -xf -").encode()
              + sx.compress(buf.getvalue(), "gz"), sx.SIGNED)
    assert f.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DistributionError) as e:
            open_distribution(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.reference == "hostile-member" and "has a name longer than 4096 bytes" in e.value.message
    assert len(e.value.message) < 1000 and peak < 32 << 20, peak


@pytest.mark.parametrize("inner", ["tarball", "empty", "signed.bin"])
def test_a_signed_bin_whose_installer_is_something_else_is_refused_with_a_hint(tmp_path, chain, inner):
    """The member named *.installer.bin, signed, but a tarball, nothing or another signed.bin:
    refused, saying what it is and what to do (before: a tarball or empty file came with no hint)."""
    data = {"tarball": sx.compress(sx.tree_tar(), "gz"), "empty": b"",
            "signed.bin": sx.signed_bin(sx.bundle_members(sx.installer("awk-xz"), chain.leaf_key,
                                                          sx.pem(chain.leaf)))}[inner]
    f = write(tmp_path, sx.signed_bin(sx.bundle_members(data, chain.leaf_key, sx.pem(chain.leaf))), sx.SIGNED)
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", ok=False)
    said = "top-level directory" if inner == "signed.bin" else f"{f}:{sx.INSTALLER} is not a self-extracting script"
    assert r.exit_code == 1 and said in r.stderr, r.stderr
    assert "Hint: " in r.stderr and not (tmp_path / "r").exists()


@pytest.mark.timeout(30)  # before: about 50 s here (and hours for a larger file)
def test_a_payload_of_millions_of_dot_members_is_refused_at_once(tmp_path):
    """A 4 MiB installer.bin whose gzip payload inflates to 2 GiB of ``./`` headers: telling a
    signed bundle from an installer read it to its end, member by member, before any check."""
    dot = tarfile.TarInfo("./")
    dot.type, dot.mode = tarfile.DIRTYPE, 0o755
    member = gzip.compress(dot.tobuf(tarfile.USTAR_FORMAT) * 4096, mtime=0)  # 2 MiB inflated
    script = b'#!/bin/sh\nsed "1,3d" "$0" | tar -xzf -\nexit 0\n'
    f = write(tmp_path, script + member * 1024 + gzip.compress(b"\0" * 1024, mtime=0))
    with pytest.raises(DistributionError) as e:
        open_distribution(f)
    assert e.value.reference == "hostile-member" and "'.'" in e.value.message
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and "refusing the whole distribution" in r.stderr and not (tmp_path / "r").exists()


# -- odd and hostile scripts -----------------------------------------------------------------------

@functools.cache
def _gz() -> bytes:
    return sx.compress(sx.tree_tar(), "gz")


def _hostile(case: str) -> bytes:
    awk = "ARCHIVE=$(awk '/^__ARCHIVE__/ {print NR + 1; exit 0; }' \"$0\")\ntail -n+$ARCHIVE \"$0\" | tar -xzf -\n"
    if case == "marker-at-eof":  # the marker line ends the file: nothing after it
        return b"#!/bin/sh\n" + awk.encode() + b"exit 0\n__ARCHIVE__\n"
    if case == "tail-past-eof":
        return b"#!/bin/sh\ntail -n +5000 \"$0\" | tar -xzf -\nexit 0\n" + _gz()
    if case == "dd-past-eof":
        return b"#!/bin/sh\ndd if=\"$0\" bs=1 skip=99999999 | tar -xzf -\nexit 0\n" + _gz()
    if case == "two-markers":
        return b"#!/bin/sh\n" + awk.encode() + b"exit 0\n__ARCHIVE__\n__ARCHIVE__\n" + _gz()
    if case == "two-different-markers":
        return (b"#!/bin/sh\n" + awk.encode() + b"sed '1,/^__PAYLOAD__$/d' \"$0\" | tar -xzf - -C /tmp\nexit 0\n"
                b"__ARCHIVE__\n# padding\n__PAYLOAD__\n" + _gz())
    if case == "commands-disagree":
        braced = awk.replace("{", "{{").replace("}", "}}")
        return sx.fixed_point("#!/bin/sh\n" + braced + "dd if=\"$0\" bs=1 skip={offset} | tar -xzf -\nexit 0\n"
                              "__ARCHIVE__\n# the payload starts after this line\n", _gz())
    if case == "absent-marker":
        return b"#!/bin/sh\n" + awk.encode() + b"exit 0\n__ARCHVE__\n" + _gz()
    if case == "huge-header":
        return b"#!/bin/sh\n" + b"# filler filler filler filler filler filler filler filler\n" * 40_000 + _gz()
    if case == "payload-too-far":
        pad = b"\x00" * (HEADER_LIMIT + 4096)
        return (b"#!/bin/sh\ndd if=\"$0\" bs=1 skip=%d | tar -xzf -\nexit 0\n" % (HEADER_LIMIT + 8192)) + pad + _gz()
    if case == "not-an-archive-there":
        return b"#!/bin/sh\ntail -n +3 \"$0\" | tar -xzf -\nexit 0\n" + _gz()
    raise AssertionError(case)


@pytest.mark.parametrize("case, reference, words", [
    ("marker-at-eof", "no-payload", "the marker line __ARCHIVE__ (line 5) that line 2 looks for puts the payload "
                                    "at the very end of the file"),
    ("tail-past-eof", "no-payload", "`tail -n +5000` on line 2 puts the payload at line 5000, beyond the end"),
    ("dd-past-eof", "no-payload", "beyond the end of the file"),
    ("two-markers", "ambiguous-payload", "__ARCHIVE__ (looked for on line 2) appears 2 times (lines 5, 6)"),
    ("two-different-markers", "ambiguous-payload", "disagree"),
    ("commands-disagree", "ambiguous-payload", "disagree"),
    ("absent-marker", "no-payload", "looks for the marker line __ARCHIVE__, but the script has no such line"),
    ("huge-header", "no-payload", "all shell script text"),
    ("payload-too-far", "no-payload", "beyond the first 1024 KiB"),
    ("not-an-archive-there", "corrupt-archive", "no archive (gzip, bzip2, xz or tar) starts there"),
])
def test_hostile_scripts_refused_clearly_writing_nothing(tmp_path, case, reference, words):
    f = write(tmp_path, _hostile(case))
    with pytest.raises(DistributionError) as e:
        open_distribution(f)
    assert e.value.reference == reference, e.value.message
    assert words in e.value.message and str(f) in e.value.message and e.value.hint
    r = cli("install", f, "--system-install", "--root", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and words.split(" ")[0] in r.stderr and "Hint" in r.stderr
    assert not (tmp_path / "r").exists()


def test_the_failing_case_is_not_taken_for_an_installer(tmp_path, chain):
    """Before: a signed.bin whose plain-tar payload follows a marker of another name was taken for
    an installer.bin (the first gzip at a line start is the inner installer's) and refused."""
    f = write(tmp_path, _bundle(chain), sx.SIGNED)
    d = open_distribution(f)
    assert d.kind == "signed.bin" and d.verified
