"""Values guards on their own: the YAML loader bounds nesting itself, while it reads (a deeply
nested file is refused at the line and column where it gets too deep, before any mapping of
that depth is built), not only when the result is flattened afterwards; ports are 1-65535 at
both ends; password hashes in an aaa_init.xml diff are masked whatever attributes the element has."""

from __future__ import annotations

import pytest
import yaml

from nso_install.conf import ConfContext, effective_values
from nso_install.conf.render import redact_aaa
from nso_install.conf.values import MAX_NESTING, ValuesLoader, read_values
from nso_install.errors import NsoInstallError

CTX = ConfContext("system", "production", "6.5.3")


def _nested_yaml(levels: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(levels - 1)) + "  " * (levels - 1) + "k: 1\n"


def test_the_yaml_loader_itself_refuses_nesting_beyond_the_limit():
    assert yaml.load(_nested_yaml(MAX_NESTING), Loader=ValuesLoader)  # the limit itself is fine
    with pytest.raises(yaml.composer.ComposerError) as e:
        yaml.load(_nested_yaml(MAX_NESTING + 1), Loader=ValuesLoader)
    assert f"nested deeper than {MAX_NESTING} levels" in str(e.value)
    with pytest.raises(yaml.composer.ComposerError):
        yaml.load("a: " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), Loader=ValuesLoader)


def test_too_deep_yaml_is_reported_where_it_gets_too_deep(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text(_nested_yaml(MAX_NESTING + 1))
    with pytest.raises(NsoInstallError) as e:
        read_values([f])
    assert e.value.reference == "bad-values-file"
    assert f", line {MAX_NESTING + 1}, column " in e.value.message and f"deeper than {MAX_NESTING}" in e.value.message


# --- port ranges ------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [0, 65536, -1])
def test_a_port_outside_1_to_65535_is_refused(port):
    with pytest.raises(NsoInstallError) as e:
        effective_values(CTX, {"cli": {"ssh": {"port": port}}})
    assert e.value.reference == "bad-value" and "out of range" in e.value.message and "cli.ssh.port" in e.value.message


@pytest.mark.parametrize("port", [1, 65535])
def test_the_ends_of_the_port_range_are_accepted(port):
    assert effective_values(CTX, {"cli": {"ssh": {"port": port}}})["cli"]["ssh"]["port"] == port


# --- what diffs show of an administrator's aaa_init.xml ----------------------------------------------

@pytest.mark.parametrize("element", ["<password>", '<password xmlns="http://tail-f.com/ns/aaa/1.1">',
                                     '<password\ttype="hash">'])
def test_password_hashes_are_masked_with_or_without_attributes(element):
    text = f"<user><name>admin</name>{element}$6$salt$HASHHASHHASH</password></user>".encode()
    masked = redact_aaa(text)
    assert b"HASHHASH" not in masked and b"<secret>" in masked and element.encode() in masked


@pytest.mark.parametrize("spelled", [
    "<password><![CDATA[$6$salt$HASHHASHHASH]]></password>",
    '<aaa:password xmlns:aaa="http://tail-f.com/ns/aaa/1.1">$6$salt$HASHHASHHASH</aaa:password>',
    "<password>\n  $6$salt$HASHHASHHASH\n</password >",
])
def test_password_hashes_are_masked_however_the_xml_spells_them(spelled):
    """CDATA, a namespace prefix, a line break: the same hash, which --diff showed."""
    masked = redact_aaa(f"<user><name>admin</name>{spelled}<uid>1000</uid></user>".encode())
    assert b"HASHHASH" not in masked and b"<secret>" in masked and b"<uid>1000</uid>" in masked


@pytest.mark.parametrize("spelled", ["<key><![CDATA[a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1]]></key>",
                                     '<key xmlns="http://tail-f.com/yang/tailf-ncs-config">a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1</key>',
                                     "<c:key>a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1</c:key>"])
def test_inline_keys_are_masked_however_the_xml_spells_them(spelled):
    from nso_install.conf.render import redact_conf

    masked = redact_conf(f"<AESCFB128>{spelled}</AESCFB128>".encode())
    assert b"a1a1" not in masked and b"<secret>" in masked


# --- what diffs show of an ncs.conf with inline keys ---------------------------------------------------

def test_inline_encryption_keys_are_masked_in_ncs_conf_diffs():
    """Every inline key element is masked: the AES ones (<key>) as well as DES3's key1-key3."""
    from nso_install.conf.render import redact_conf

    aes128, aes256, des = b"a1" * 16, b"0f" * 32, b"0123456789abcdef"
    text = (b"<encrypted-strings><DES3CBC><key1>" + des + b"</key1><key2>" + des + b"</key2><key3>" + des
            + b"</key3><initVector>" + des + b"</initVector></DES3CBC><AESCFB128><key>" + aes128
            + b"</key></AESCFB128><AES256CFB128><key>" + aes256 + b"</key></AES256CFB128></encrypted-strings>")
    masked = redact_conf(text)
    assert aes128 not in masked and aes256 not in masked
    assert masked.count(b"<key><secret></key>") == 2 and masked.count(des) == 1  # the IV is not a key


def test_secrets_an_administrator_adds_to_ncs_systemd_conf_are_masked():
    from nso_install.conf.render import redact_env

    text = (b"NCS_RELOAD_PACKAGES=false\n"
            b'NCS_JAVA_VM_OPTIONS="-Xmx2g -Djavax.net.ssl.keyStorePassword=S3CR3T-A -Dfoo=bar"\n'
            b"NCS_JAVA_VM_OPTIONS2=-Dapp.secret='S3CR3T B'\n"
            b"MY_API_TOKEN=S3CR3T-C\n# DB_PASSWORD=S3CR3T-D\nexport VAULT_CREDENTIALS=S3CR3T-E\n"
            b"NCS_IPC_PATH=/run/ncs/nso-ipc\n")
    masked = redact_env(text)
    assert b"S3CR3T" not in masked
    assert b"-Djavax.net.ssl.keyStorePassword=<secret> -Dfoo=bar" in masked and b"MY_API_TOKEN=<secret>" in masked
    # what is no secret stays readable in a diff
    assert b"NCS_RELOAD_PACKAGES=false\n" in masked and b"NCS_IPC_PATH=/run/ncs/nso-ipc\n" in masked


@pytest.mark.parametrize("path, ok", [
    ("relative/nso-ipc", False), ("nso-ipc", False), ("./nso-ipc", False),
    ("/run/ncs/nso-ipc", True), ("${NCS_RUN_DIR}/nso-ipc", True),
])
def test_a_relative_unix_socket_path_is_refused(path, ok):
    # every client's NCS_IPC_PATH is this path: relative, it names a file in each client's own directory
    for kind in ("system", "local"):
        ctx = ConfContext(kind, "production", "6.5.3")
        if ok:
            assert effective_values(ctx, {"ipc": {"path": path}})["ipc"]["path"] == path
        else:
            with pytest.raises(NsoInstallError) as e:
                effective_values(ctx, {"ipc": {"path": path}})
            assert e.value.reference == "bad-value" and "ipc.path" in str(e.value) and "absolute" in e.value.hint
    # with TCP IPC the path is not used
    assert effective_values(CTX, {"ipc": {"path": "nso-ipc", "transport": "tcp"}})["ipc"]["path"] == "nso-ipc"
