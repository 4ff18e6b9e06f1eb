"""Files the operator names (--values, --set-file, --trusted-cert, --crypto-keys) and the
distribution itself are read without hanging on a FIFO or reading without end, and the
distribution is read from what was opened, whatever the path becomes later.

Before: a FIFO given to any of the four options hung the run (open() waits for a writer);
``--set-file NAME=/dev/zero`` read until memory ran out (3 GB RSS); ``--trusted-cert`` was read
with read_bytes(), unbounded; every pass over a tarball/installer.bin (and an unverified
signed.bin, and a directory) reopened the path, so a path swapped for a FIFO or another
distribution after the version was read hung the run or changed what was unpacked."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time

import pytest

from nso_install.distribution import open_distribution
from nso_install.errors import DistributionError
from nso_install.sample import certificate_pem, make_sample_distribution

from support import cli, snapshot

KEYS = "AESCFB128_KEY=" + "ab" * 16 + "\nAES256CFB128_KEY=" + "cd" * 32 + "\n"


def _install(dist, tmp_path, *args):
    return cli("install", dist, "--system-install", "--root", tmp_path / "r", "--check", "--json", *args, ok=False)


def _error(r) -> dict:
    return json.loads(r.stdout.splitlines()[0])["error"]


def _fifo(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    return path


# --- a FIFO for each option: refused at once, exit 2 -------------------------------------------

@pytest.mark.timeout(20)
@pytest.mark.parametrize("option, name, reference", [
    ("--values", "values.yaml", "bad-values-file"),
    ("--set-file", "aes.key", "bad-set-file"),
    ("--crypto-keys", "ncs.crypto_keys", "bad-input-file"),
    ("--trusted-cert", "cisco.pem", "bad-input-file"),
])
def test_fifo_is_refused_not_waited_on(tmp_path, sample_dists, option, name, reference):
    fifo = _fifo(tmp_path, name)
    arg = f"crypto.aescfb128_key={fifo}" if option == "--set-file" else str(fifo)
    dist = sample_dists["signed.bin" if option == "--trusted-cert" else "tar.gz"]
    started = time.monotonic()
    r = _install(dist, tmp_path, option, arg)
    assert time.monotonic() - started < 15
    assert r.exit_code == 2, r.output + r.stderr
    err = _error(r)
    assert err["reference"] == reference
    assert option in err["message"] and str(fifo) in err["message"] and "FIFO" in err["message"]
    assert "not a regular file" in err["message"] and err["hint"]
    assert not (tmp_path / "r").exists()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("option", ["--values", "--crypto-keys", "--trusted-cert"])
def test_fifo_refused_in_text_output_too(tmp_path, sample_dists, option):
    fifo = _fifo(tmp_path, "in.yaml")
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "r", "--check",
            option, fifo, ok=False)
    assert r.exit_code == 2 and f"{option} {fifo}" in r.stderr and "FIFO" in r.stderr


# --- sizes ---------------------------------------------------------------------------------------

def _run_limited(*args):
    """nso-install ARGS in a child with at most 1 GiB of address space and 60 s."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    code = "import sys; from nso_install.cli import main; sys.argv = ['nso-install', *sys.argv[1:]]; main()"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=60, preexec_fn=limit, env=env)


@pytest.mark.timeout(90)
def test_set_file_dev_zero_fails_with_a_size_message(tmp_path, sample_dists):
    """Before: read /dev/zero to the end (3 GB RSS); here: MemoryError under the 1 GiB limit."""
    r = _run_limited("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "r", "--check",
                     "--set-file", "crypto.aescfb128_key=/dev/zero")
    assert r.returncode == 2, r.stderr
    assert "--set-file crypto.aescfb128_key=/dev/zero" in r.stderr
    assert "character device" in r.stderr and "larger than 64 KiB" in r.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("option, limit", [("--set-file", "64 KiB"), ("--crypto-keys", "64 KiB"),
                                           ("--trusted-cert", "1 MiB"), ("--values", "256 KiB")])
def test_oversized_regular_file_is_refused_before_reading(tmp_path, sample_dists, option, limit):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(64 << 20)  # sparse: 64 MiB of zeros on no disk
    arg = f"crypto.aescfb128_key={big}" if option == "--set-file" else str(big)
    r = _install(sample_dists["tar.gz"], tmp_path, option, arg)
    assert r.exit_code == 2, r.output
    err = _error(r)
    assert f"larger than {limit}" in err["message"] and option in err["message"] and str(big) in err["message"]


def test_crypto_keys_and_certificates_within_limits_still_work(tmp_path, sample_dists):
    keys = tmp_path / "ncs.crypto_keys"
    keys.write_text(KEYS)
    pin = tmp_path / "pin.pem"
    pin.write_bytes(certificate_pem())
    r = _install(sample_dists["signed.bin"], tmp_path, "--crypto-keys", keys, "--trusted-cert", pin)
    assert r.exit_code == 0, r.output + r.stderr


def test_crypto_keys_directory_or_device_refused(tmp_path, sample_dists):
    r = _install(sample_dists["tar.gz"], tmp_path, "--crypto-keys", "/dev/null")
    assert r.exit_code == 2 and "character device" in _error(r)["message"]


# --- the distribution: opened once ------------------------------------------------------------

def _extracted(dist, dest):
    dest.mkdir()
    dist.validate()
    dist.extract(dest, uid=None, gid=None)
    return {k: v[6] for k, v in snapshot(dest).items() if k != "."}


@pytest.fixture(scope="module")
def other_version(tmp_path_factory):
    d = tmp_path_factory.mktemp("other")
    return {fmt: make_sample_distribution(d, "6.5.4", fmt) for fmt in ("dir", "tar.gz", "installer.bin", "signed.bin")}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt, skip", [("tar.gz", False), ("installer.bin", False), ("signed.bin", True),
                                       ("dir", False)])
@pytest.mark.parametrize("swap", ["fifo", "other"])
def test_distribution_path_swapped_after_opening_is_not_read(tmp_path, sample_dists, other_version, fmt, skip, swap):
    """Swap the path (new inode) between opening and the later passes: still the original."""
    reference = _extracted(open_distribution(sample_dists[fmt], skip_verification=skip), tmp_path / "ref")
    work = tmp_path / sample_dists[fmt].name
    if fmt == "dir":
        shutil.copytree(sample_dists[fmt], work, symlinks=True)
    else:
        shutil.copyfile(sample_dists[fmt], work)
    dist = open_distribution(work, skip_verification=skip)
    assert dist.version == "6.5.3"
    os.rename(work, tmp_path / "moved-away")
    if swap == "fifo":
        os.mkfifo(work)
    elif fmt == "dir":
        shutil.copytree(other_version[fmt], work, symlinks=True)
    else:
        shutil.copyfile(other_version[fmt], work)
    assert _extracted(dist, tmp_path / "dest") == reference
    assert (tmp_path / "dest/VERSION").read_text() == "6.5.3\n"


@pytest.mark.timeout(20)
def test_distribution_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = _fifo(tmp_path, "nso-6.5.3.linux.x86_64.tar.gz")
    with pytest.raises(DistributionError) as e:
        open_distribution(fifo)
    assert e.value.reference == "unknown-distribution-format" and "FIFO" in e.value.message


def test_distribution_descriptor_is_closed_with_the_object(sample_dists):
    before = len(os.listdir("/proc/self/fd"))
    for fmt in ("dir", "tar.gz", "installer.bin", "signed.bin"):
        with open_distribution(sample_dists[fmt]) as d:
            d.validate()
    assert len(os.listdir("/proc/self/fd")) == before


# --- nothing verified: said every time ----------------------------------------------------------

def test_trusted_cert_with_skip_verification_is_a_usage_error(tmp_path, sample_dists):
    pin = tmp_path / "pin.pem"
    pin.write_bytes(certificate_pem())
    r = _install(sample_dists["signed.bin"], tmp_path, "--trusted-cert", pin, "--skip-verification")
    assert r.exit_code == 2
    err = _error(r)
    assert err["reference"] == "conflicting-options"
    assert "--trusted-cert" in err["message"] and "--skip-verification" in err["message"]


@pytest.mark.parametrize("fmt, kind", [("tar.gz", "tarball"), ("tar", "tarball"),
                                       ("installer.bin", "installer.bin"), ("dir", "unpacked directory")])
def test_unsigned_formats_get_a_note_that_nothing_was_verified(tmp_path, sample_dists, fmt, kind):
    r = _install(sample_dists[fmt], tmp_path)
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["notes"]
    name = sample_dists[fmt].name
    assert any(n.startswith(name) and kind in n and "carries no signature" in n and "signed.bin" in n
               for n in notes), notes


def test_signed_bin_with_skip_verification_gets_a_note(tmp_path, sample_dists):
    r = _install(sample_dists["signed.bin"], tmp_path, "--skip-verification")
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["notes"]
    assert any("--skip-verification" in n and "not checked" in n and "nothing proved" in n for n in notes), notes
    text = cli("install", sample_dists["signed.bin"], "--system-install", "--root", tmp_path / "r", "--check",
               "--skip-verification").stdout
    assert "note: " in text and "not checked" in text


def test_verified_and_pinned_signed_bin_gets_no_unverified_note(tmp_path, sample_dists):
    pin = tmp_path / "pin.pem"
    pin.write_bytes(certificate_pem())
    notes = json.loads(_install(sample_dists["signed.bin"], tmp_path, "--trusted-cert", pin).stdout)["notes"]
    assert not any("no signature" in n or "not checked" in n or "integrity, not origin" in n for n in notes)


def test_an_oversized_regular_file_is_refused_without_a_byte_of_it_read(tmp_path, monkeypatch):
    """Its size decides before any read (a 64 MiB file is not read up to the limit first)."""
    from nso_install.errors import UsageError
    from nso_install.inputs import read_operator_file

    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    reads = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(UsageError) as e:
        read_operator_file(big, option="--values", limit=256 << 10)
    assert "larger than 256 KiB" in e.value.message and reads == []


def test_a_file_larger_than_its_size_says_is_refused_not_cut_short():
    """/proc files say 0 bytes: what is read decides, and more than the limit is an error,
    never the first LIMIT bytes taken as the whole file."""
    from nso_install.errors import UsageError
    from nso_install.inputs import read_operator_file

    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(UsageError) as e:
        read_operator_file("/proc/self/status", option="--set-file", limit=16)
    assert "larger than 16 bytes" in e.value.message
    assert read_operator_file("/proc/self/status", option="--set-file", limit=64 << 10).startswith(b"Name:")


@pytest.mark.parametrize("given", ["set-file", "values", "set"])
def test_a_bad_value_hint_names_where_it_came_from_and_never_a_refused_set(tmp_path, sample_dists, given):
    """The hint said "Fix it in the values file or with --set crypto.aescfb128_key=VALUE" of a
    value from --set-file, suggesting a --set that refuses secrets (secret-on-command-line)."""
    if given == "set":
        r = _install(sample_dists["tar.gz"], tmp_path, "--set", "cli.ssh.port=99999")
        assert _error(r)["hint"] == ("Give another value: --set cli.ssh.port=VALUE; nso-install variables "
                                     "cli.ssh.port describes it.")
        return
    if given == "set-file":
        (tmp_path / "key").write_text("badkey\n")
        args, where = ("--set-file", f"crypto.aescfb128_key={tmp_path}/key"), f"Fix the value in {tmp_path}/key"
    else:
        (tmp_path / "v.toml").write_text('[crypto]\naescfb128_key = "badkey"\n')
        args, where = ("--values", tmp_path / "v.toml"), f"Fix it in the values file {tmp_path}/v.toml"
    error = _error(_install(sample_dists["tar.gz"], tmp_path, *args))
    assert error["reference"] == "bad-value" and "badkey" not in json.dumps(error)
    assert error["hint"].startswith(where), error["hint"]
    assert "--set crypto" not in error["hint"]
    refused = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "r", "--check",
                  "--set", "crypto.aescfb128_key=VALUE", ok=False)
    assert refused.exit_code == 2 and "a secret on the command line" in refused.stderr  # why it is not hinted
