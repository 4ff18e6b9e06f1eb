"""File capabilities (nso_install.capabilities): libcap's text form and the kernel's
``security.capability`` attribute, read through Facts for exactly the inode looked at.

These replace the tests of getcap output parsing: nso-install no longer runs getcap."""

import os
import shutil
import struct
import subprocess

import pytest

from nso_install import capabilities, facts as facts_mod
from nso_install.actions.base import Attrs
from nso_install.actions.privileges import Capability
from nso_install.capabilities import decode, encode, format_caps, parse_text
from nso_install.errors import ApplyError
from nso_install.facts import Facts
from nso_install.target import Target

from support import check_plan, unpacked_by_us

REV1, REV2, REV3, EFFECTIVE = 0x01000000, 0x02000000, 0x03000000, 0x000001
NET_BIND, NET_ADMIN, NET_RAW, BPF = 10, 12, 13, 39
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setting security.capability needs CAP_SETFCAP")


def caps(**kw):
    return {f"cap_{k}": frozenset(v) for k, v in kw.items()}


# --- the attribute ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["cap_net_bind_service=ep", "cap_net_admin=ep", "cap_net_raw=ep",
                                  "cap_net_admin,cap_net_raw=eip", "cap_chown=p cap_net_raw=pi",
                                  "cap_bpf,cap_checkpoint_restore=ep", "cap_setuid=i"])
def test_encode_decode_round_trip(text):
    c = parse_text(text)
    assert decode(encode(c)) == c


def test_no_attribute_is_no_capabilities():
    assert decode(b"") == {}
    assert encode({}) == struct.pack("<5I", REV2, 0, 0, 0, 0)


def test_revision_2_as_setcap_writes_it():
    raw = struct.pack("<5I", REV2 | EFFECTIVE, 1 << NET_BIND, 0, 1 << (BPF - 32), 0)
    assert decode(raw) == caps(net_bind_service="ep", bpf="ep")
    assert encode(caps(net_bind_service="ep", bpf="ep")) == raw
    # no effective bit: permitted (and inheritable) only
    assert decode(struct.pack("<5I", REV2, 1 << NET_RAW, 1 << NET_ADMIN, 0, 0)) == caps(net_raw="p", net_admin="i")


def test_revision_1_has_32_bits():
    assert decode(struct.pack("<3I", REV1 | EFFECTIVE, 1 << NET_ADMIN | 1 << NET_RAW, 0)) == \
        caps(net_admin="ep", net_raw="ep")


def test_revision_3_rootid():
    body = (REV3 | EFFECTIVE, 1 << NET_RAW, 0, 0, 0)
    assert decode(struct.pack("<6I", *body, 0)) == caps(net_raw="ep")  # root id 0: as revision 2
    namespaced = decode(struct.pack("<6I", *body, 1000))  # written inside a user namespace
    assert namespaced["cap_net_raw"] == frozenset("ep") and "rootid=1000" in namespaced
    assert namespaced != caps(net_raw="ep")  # so it never satisfies what nso-install wants
    assert "rootid=1000" in format_caps(namespaced)


def test_unknown_bits_are_named_by_number():
    assert decode(struct.pack("<5I", REV2 | EFFECTIVE, 0, 0, 1 << (62 - 32), 0)) == {"cap_62": frozenset("ep")}


@pytest.mark.parametrize("raw", [struct.pack("<5I", 0x04000000, 1, 0, 0, 0), struct.pack("<3I", REV2, 1, 0),
                                 b"\x00\x00"])
def test_unknown_or_short_attribute_is_a_clear_error(raw):
    with pytest.raises(ApplyError) as e:
        decode(raw, "/opt/ncs/ncs-6.5.3/lib/ncs/bin/ip")
    assert e.value.reference == "unreadable-capabilities"
    assert "/opt/ncs/ncs-6.5.3/lib/ncs/bin/ip" in e.value.message and "setcap -r" in e.value.hint


# --- the text form ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("cap_net_bind_service=ep", caps(net_bind_service="ep")),
    ("cap_net_admin+ep", caps(net_admin="ep")),  # libcap 2.25's form
    ("cap_net_admin,cap_net_raw=eip", caps(net_admin="eip", net_raw="eip")),
    ("cap_chown=p cap_net_raw+ei", caps(chown="p", net_raw="ei")),
    ("=ep cap_setuid-e", {"all": frozenset("ep"), "cap_setuid": frozenset("p")}),
    ("CAP_NET_RAW=EP", caps(net_raw="ep")),
    ("", {}),
    ("cap_net_raw=", {}),
])
def test_parse_text(text, expected):
    assert parse_text(text) == expected


def test_parse_text_rejects_garbage_and_formats():
    with pytest.raises(ValueError):
        parse_text("cap_net_raw=ep; rm -rf /")
    with pytest.raises(ValueError):
        parse_text("cap_net_raw")
    assert format_caps(parse_text("cap_net_raw+pe")) == "cap_net_raw=ep"
    assert format_caps(parse_text("cap_net_raw=ep cap_net_admin=p")) == "cap_net_admin=p cap_net_raw=ep"
    assert format_caps({}) == "(none)"


# --- read through Facts ------------------------------------------------------------------------

@needs_root
def test_facts_read_the_attribute_of_the_file_itself_never_through_a_link(tmp_path):
    f = tmp_path / "ip"
    f.write_text("x")
    facts = Facts(Target.at(tmp_path))
    assert facts.caps("/ip") == {}
    os.setxattr(f, "security.capability", encode(caps(net_admin="ep")))
    assert Facts(Target.at(tmp_path)).caps("/ip") == caps(net_admin="ep")
    if shutil.which("getcap", path="/usr/sbin:/sbin:" + os.environ.get("PATH", "")):  # libcap agrees
        out = subprocess.run(["getcap", str(f)], capture_output=True, text=True).stdout
        assert out.split()[-1] == "cap_net_admin=ep"
    os.symlink(f, tmp_path / "link")
    assert Facts(Target.at(tmp_path)).caps("/link") == {}
    assert Facts(Target.at(tmp_path)).caps("/missing") == {}


def _unpacked(tmp_path):
    v = tmp_path / "v"
    (v / "bin").mkdir(parents=True)
    (v / "VERSION").write_text("6.5.3\n")
    (v / "bin/ip").write_text("x")
    os.chmod(v / "bin/ip", 0o750)
    return Capability("/v/bin/ip", "/v", ("bin/ip",), Attrs(0o750, None, None), caps=parse_text("cap_net_admin=ep"))


def test_unreadable_attribute_is_an_apply_error_not_a_crash(tmp_path, monkeypatch):
    """Anything in security.capability that cannot be understood must be a clear error naming
    the file, not a ValueError."""
    act = _unpacked(tmp_path)
    monkeypatch.setattr(facts_mod.os, "listxattr", lambda *a, **kw: ["security.capability"])
    monkeypatch.setattr(facts_mod.os, "getxattr", lambda *a, **kw: b"\x07" * 20)
    with pytest.raises(ApplyError) as e:
        check_plan([act], tmp_path)
    assert e.value.reference == "unreadable-capabilities" and "/v/bin/ip" in e.value.message


def test_namespaced_capabilities_are_drift(tmp_path, monkeypatch):
    act = _unpacked(tmp_path)
    raw = {"ok": encode(caps(net_admin="ep")),
           "ns": struct.pack("<6I", REV3 | EFFECTIVE, 1 << NET_ADMIN, 0, 0, 0, 1000)}
    run = unpacked_by_us(tmp_path, "/v", ["bin/ip"])
    monkeypatch.setattr(facts_mod.os, "listxattr", lambda *a, **kw: ["security.capability"])
    for kind, want_change in (("ok", False), ("ns", True)):
        monkeypatch.setattr(facts_mod.os, "getxattr", lambda *a, _r=raw[kind], **kw: _r)
        rec = run.check([act]).records[0]
        assert rec.outcome.changed is want_change, rec.outcome.detail
        if want_change:
            assert "rootid=1000" in rec.outcome.detail


def test_capabilities_module_names_match_the_kernel_numbers():
    for name, bit in (("net_bind_service", NET_BIND), ("net_admin", NET_ADMIN), ("net_raw", NET_RAW), ("bpf", BPF)):
        assert capabilities.NAMES[bit] == name
