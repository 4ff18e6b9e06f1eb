"""ncs.conf rendering, values loading and validation (nso_install.conf / confvalidate)."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nso_install import conf
from nso_install.conf import (NAMESPACE, VARIABLES, ConfContext, client_environment, effective_values,
                              element_table, load_values, render_ncs_conf, validate_ncs_conf)
from nso_install.errors import NsoInstallError

NS = "{%s}" % NAMESPACE
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ncs-conf.md"


def find(text: str, path: str) -> list[ET.Element]:
    """Elements at an ncs.conf(5) path such as /ncs-config/cli/ssh/enabled."""
    root = ET.fromstring(text)
    parts = path.strip("/").split("/")
    assert parts[0] == "ncs-config"
    return root.findall("/".join(NS + p for p in parts[1:])) if len(parts) > 1 else [root]


def value(text: str, path: str) -> str | None:
    found = find(text, path)
    assert len(found) <= 1, path
    return found[0].text.strip() if found and found[0].text else None


def minimal(body: str = "", *, root: str = "ncs-config", ns: str = NAMESPACE) -> str:
    return (f'<{root} xmlns="{ns}">'
            "<load-path><dir>./packages</dir></load-path><state-dir>./state</state-dir>"
            f"<cdb><db-dir>./ncs-cdb</db-dir></cdb>{body}</{root}>")


# --- the element table --------------------------------------------------------------------

def test_element_table_parsed_from_package_data():
    table = element_table()
    assert len(table) > 600
    e = table["/ncs-config/ncs-ipc-address/port"]
    assert (e.type, e.default, e.mandatory, e.repeats) == ("port-number", "4569", False, False)
    assert table["/ncs-config/load-path/dir"].mandatory and table["/ncs-config/load-path/dir"].repeats
    assert table["/ncs-config/crypt-hash/algorithm"].type == "md5 | sha-256 | sha-512"
    assert not table["/ncs-config/cdb"].is_leaf  # implied container


def test_packaged_table_is_the_reference_table():
    ref = Path("/work/shared/reference/ncs-conf-elements.tsv")
    if not ref.exists():
        pytest.skip("reference table not on this machine")
    assert (Path(conf.__file__).parent / "data" / "ncs-conf-elements.tsv").read_bytes() == ref.read_bytes()


def test_every_variable_sets_a_documented_element():
    table = element_table()
    for var in VARIABLES.values():
        if var.element:
            assert var.element in table, var.name


# --- rendering matrix ---------------------------------------------------------------------

MATRIX = [
    (kind, profile, version, transport, fips)
    for kind, profile, version, transport, fips in itertools.product(
        ("system", "local"), ("production", "development"), ("6.4.8", "6.5.3", "6.7.1"), ("unix", "tcp"),
        (False, True))
    if not (fips and version == "6.4.8")
]


@pytest.mark.parametrize("kind,profile,version,transport,fips", MATRIX)
def test_every_combination_renders_valid(kind, profile, version, transport, fips):
    ctx = ConfContext(kind, profile, version, fips=fips)
    text = render_ncs_conf(ctx, {"ipc": {"transport": transport}})
    assert validate_ncs_conf(text) == []
    assert text.endswith("</ncs-config>\n")
    assert value(text, "/ncs-config/ncs-local-ipc/enabled") == ("true" if transport == "unix" else "false")
    if transport == "tcp":
        assert value(text, "/ncs-config/ncs-ipc-address/ip") == "127.0.0.1"
        assert value(text, "/ncs-config/ncs-ipc-address/port") == "4569"
    else:
        assert find(text, "/ncs-config/ncs-ipc-address") == []
    assert value(text, "/ncs-config/fips-mode/enabled") == ("true" if fips else None)
    if fips:
        assert "ed25519" not in text and "curve25519" not in text
    if kind == "system":
        assert value(text, "/ncs-config/state-dir") == "${NCS_RUN_DIR}/state"
        assert value(text, "/ncs-config/cdb/db-dir") == "${NCS_RUN_DIR}/cdb"
        assert value(text, "/ncs-config/aaa/ssh-server-key-dir") == "${NCS_CONFIG_DIR}/ssh"
        assert value(text, "/ncs-config/logs/ncs-log/file/name") == "${NCS_LOG_DIR}/ncs.log"
        assert value(text, "/ncs-config/ncs-ipc-access-check/filename") == "${NCS_CONFIG_DIR}/ipc_access"
    else:
        assert value(text, "/ncs-config/state-dir") == "./state"
        assert value(text, "/ncs-config/cdb/db-dir") == "./ncs-cdb"
        assert value(text, "/ncs-config/aaa/ssh-server-key-dir") == "${NCS_DIR}/etc/ncs/ssh"
        assert value(text, "/ncs-config/rollback/directory") == "./logs"
        assert value(text, "/ncs-config/ncs-ipc-access-check/filename") == "${NCS_DIR}/etc/ncs/ipc_access"
    assert [d.text for d in find(text, "/ncs-config/load-path/dir")][1:] == ["${NCS_DIR}/etc/ncs",
                                                                           "${NCS_DIR}/etc/ncs/snmp"]


def test_rendering_is_deterministic():
    ctx = ConfContext("system", "production", "6.5.3")
    assert render_ncs_conf(ctx) == render_ncs_conf(ctx, {})


def test_no_blank_indented_lines_left_by_omitted_elements():
    text = render_ncs_conf(ConfContext("local", "development", "6.5.3"))
    assert not re.search(r"^[ \t]+$", text, re.MULTILINE)


def test_ipc_defaults_follow_version_and_profile():
    assert effective_values(ConfContext("system", "production", "6.4.1"), {})["ipc"]["transport"] == "unix"
    assert effective_values(ConfContext("system", "production", "6.3.2"), {})["ipc"]["transport"] == "tcp"
    assert effective_values(ConfContext("local", "development", "6.6"), {})["ipc"]["transport"] == "tcp"
    assert effective_values(ConfContext("local", "development", "6.7.1"), {})["ipc"]["transport"] == "unix"


def test_old_nso_has_no_local_ipc_element_and_refuses_unix():
    text = render_ncs_conf(ConfContext("system", "production", "6.3.2"))
    assert find(text, "/ncs-config/ncs-local-ipc") == []
    assert value(text, "/ncs-config/ncs-ipc-access-check/enabled") == "true"
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.3.2"), {"ipc": {"transport": "unix"}})
    assert exc.value.reference == "bad-value" and "ipc.transport" in exc.value.message


def test_fips_needs_nso_65():
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.4.8", fips=True))
    assert "6.5" in exc.value.message


def test_fips_mode_cannot_be_forced_on_a_non_fips_install():
    with pytest.raises(NsoInstallError, match="fips.enabled"):
        render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"fips": {"enabled": True}})


def test_fips_refuses_non_approved_algorithms():
    ctx = ConfContext("system", "production", "6.5.3", fips=True)
    for values in ({"ssh": {"server_host_key": "ssh-ed25519"}}, {"ssh": {"kex": "curve25519-sha256"}}):
        with pytest.raises(NsoInstallError) as exc:
            render_ncs_conf(ctx, values)
        assert "not FIPS-approved" in exc.value.message


def test_tcp_ipc_off_loopback_needs_the_access_check():
    ctx = ConfContext("system", "development", "6.5.3")
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, {"ipc": {"transport": "tcp", "address": "0.0.0.0"}})
    assert "ipc.address" in exc.value.message
    text = render_ncs_conf(ctx, {"ipc": {"transport": "tcp", "address": "0.0.0.0", "access_check": True}})
    assert value(text, "/ncs-config/ncs-ipc-access-check/enabled") == "true"


def test_listeners_may_not_share_a_port():
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"webui": {"tcp": {"enabled": True, "port": 8888}}})
    assert "also used by" in exc.value.message


def test_path_styles_for_system_installs():
    ctx = ConfContext("system", "production", "6.5.3", config_dir="/srv/ncs/etc", run_dir="/srv/ncs/run",
                      log_dir="/srv/ncs/log", install_dir="/srv/ncs/opt")
    text = render_ncs_conf(ctx, {"paths": {"style": "absolute"}})
    assert value(text, "/ncs-config/state-dir") == "/srv/ncs/run/state"
    assert value(text, "/ncs-config/encrypted-strings/external-keys/command") == "/srv/ncs/opt/current/bin/ncs_crypto_keys"
    assert value(text, "/ncs-config/encrypted-strings/external-keys/command-argument") == "/srv/ncs/etc/ncs.crypto_keys"
    text = render_ncs_conf(ctx, {"paths": {"style": "env-defaults"}})
    assert value(text, "/ncs-config/logs/audit-log/file/name") == "${NCS_LOG_DIR:-/srv/ncs/log}/audit.log"
    assert validate_ncs_conf(text) == []
    with pytest.raises(NsoInstallError, match="paths.style"):
        render_ncs_conf(ctx, {"paths": {"style": "relative"}})
    with pytest.raises(NsoInstallError, match="paths.style"):
        render_ncs_conf(ConfContext("local", "development", "6.5.3"), {"paths": {"style": "env"}})


def test_env_substitution_values_for_typed_variables():
    ctx = ConfContext("system", "production", "6.7.1")
    text = render_ncs_conf(ctx, load_values(sets=["cli.ssh.enabled=${NCS_CLI_SSH:-false}",
                                                  "webui.ssl.port=${NCS_HTTPS_PORT:-8888}"]))
    assert value(text, "/ncs-config/cli/ssh/enabled") == "${NCS_CLI_SSH:-false}"
    assert value(text, "/ncs-config/webui/transport/ssl/port") == "${NCS_HTTPS_PORT:-8888}"
    with pytest.raises(NsoInstallError, match="maybe"):
        render_ncs_conf(ctx, {"cli": {"ssh": {"enabled": "${NCS_CLI_SSH:-maybe}"}}})
    with pytest.raises(NsoInstallError, match="without a default"):
        render_ncs_conf(ctx, {"cli": {"ssh": {"enabled": "${NCS_CLI_SSH}"}}})


def test_inline_keys_and_their_secrecy():
    ctx = ConfContext("local", "development", "6.5.3")
    text = render_ncs_conf(ctx)
    assert value(text, "/ncs-config/encrypted-strings/AESCFB128/key") == conf.DUMMY_AESCFB128_KEY
    assert find(text, "/ncs-config/encrypted-strings/external-keys") == []
    key = "ab" * 16
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, {"crypto": {"aescfb128_key": key[:-1] + "g"}})
    assert key[:-1] not in exc.value.message and "<secret>" in exc.value.message
    assert "32 hexadecimal digits" in exc.value.message
    with pytest.raises(NsoInstallError, match="well-known"):
        render_ncs_conf(ConfContext("local", "production", "6.5.3"), {"crypto": {
            "mechanism": "inline", "aescfb128_key": conf.DUMMY_AESCFB128_KEY, "aes256cfb128_key": "cd" * 32}})
    with pytest.raises(NsoInstallError, match="inline keys must be given"):
        render_ncs_conf(ConfContext("system", "development", "6.5.3"), {"crypto": {"mechanism": "inline"}})


def test_null_leaves_an_element_to_nso_default():
    ctx = ConfContext("system", "production", "6.5.3")
    text = render_ncs_conf(ctx, load_values(sets=["webui.rate_limiting=", "limits.max_sessions="]))
    assert find(text, "/ncs-config/webui/rate-limiting") == []
    assert find(text, "/ncs-config/session-limits/max-sessions") == []
    assert value(text, "/ncs-config/session-limits/max-config-sessions") == "50"
    with pytest.raises(NsoInstallError, match="cannot be left"):
        render_ncs_conf(ctx, load_values(sets=["cli.ssh.port="]))


# --- bad values -----------------------------------------------------------------------------

@pytest.mark.parametrize("setting,path,expected", [
    ("cli.ssh.port=70000", "/ncs-config/cli/ssh/port", "port number"),
    ("cli.ssh.port=ssh", "/ncs-config/cli/ssh/port", "port number"),
    ("cli.ssh.enabled=maybe", "/ncs-config/cli/ssh/enabled", "boolean"),
    ("ipc.address=localhost", "/ncs-config/ncs-ipc-address/ip", "IPv4 or IPv6 address"),
    ("ipc.transport=pipe", "/ncs-config/ncs-local-ipc/enabled", "one of unix | tcp"),
    ("crypt_hash.algorithm=sha1", "/ncs-config/crypt-hash/algorithm", "one of md5 | sha-256 | sha-512"),
    ("limits.max_sessions=-1", "/ncs-config/session-limits/max-sessions", "integer 0-4294967295 or 'unbounded'"),
    ("limits.max_transactions=1000", "/ncs-config/transaction-limits/max-transactions", "integer 0-255"),
    ("webui.rate_limiting=lots", "/ncs-config/webui/rate-limiting", "integer"),
    ("crypto.command_timeout=60s", "/ncs-config/encrypted-strings/external-keys/command-timeout", "xs:duration"),
    ("ssh.kex=diffie-hellman-group1-sha1", "/ncs-config/ssh/algorithms/kex", "comma-separated list"),
    ("aaa.expiration_warning=loud", "/ncs-config/aaa/expiration-warning", "ignore | display | prompt"),
])
def test_bad_set_values_name_variable_path_and_type(setting, path, expected):
    name = setting.split("=")[0]
    with pytest.raises(NsoInstallError) as exc:
        effective_values(ConfContext("system", "production", "6.5.3"), load_values(sets=[setting]))
    err = exc.value
    assert err.reference == "bad-value"
    assert name in err.message and path in err.message and expected in err.message
    assert f"--set {name}=" in err.hint


def test_control_characters_refused():
    with pytest.raises(NsoInstallError, match="control characters"):
        effective_values(ConfContext("system", "production", "6.5.3"), {"aaa": {"pam": {"service": "a\nb"}}})


def test_bad_profile_and_kind():
    with pytest.raises(NsoInstallError, match="profile"):
        render_ncs_conf(ConfContext("system", "lab", "6.5.3"))
    with pytest.raises(NsoInstallError, match="install kind"):
        render_ncs_conf(ConfContext("container", "production", "6.5.3"))


# --- injection ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,payload", [
    ("ipc.path", "</path><evil/>"),
    ("aaa.pam.service", "x</service></pam><local-authentication><enabled>true</enabled></local-authentication><pam><service>y"),
    ("webui.server_name", 'a"&<!--'),
    ("webui.ssl.cert_file", "]]><evil/><![CDATA["),
    ("crypto.argument", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]>"),
])
def test_markup_in_values_is_escaped_not_injected(name, payload):
    ctx = ConfContext("system", "production", "6.5.3")
    text = render_ncs_conf(ctx, load_values(sets=[f"{name}={payload}"]))
    assert validate_ncs_conf(text) == []
    root = ET.fromstring(text)
    assert not any(e.tag.endswith("evil") for e in root.iter())
    path = VARIABLES[name].element
    assert value(text, path) == payload  # round-trips as text
    assert value(text, "/ncs-config/aaa/local-authentication/enabled") == "false"
    assert len(find(text, "/ncs-config/aaa/pam")) == 1


# --- values files ---------------------------------------------------------------------------

def test_load_values_toml_yaml_and_set_precedence(tmp_path):
    toml = tmp_path / "a.toml"
    toml.write_text('aaa.pam.service = "login"\n[cli.ssh]\nenabled = true\nport = 3024\n'
                    '[ipc]\ntransport = "tcp"\n"access_check" = true\n')
    yml = tmp_path / "b.yaml"
    yml.write_text("cli:\n  ssh:\n    port: 4024\nwebui.ssl.port: 9443\n")
    values = load_values([toml, yml], ["cli.ssh.port=5024", "webui.cgi=false"])
    assert values == {
        "aaa": {"pam": {"service": "login"}},
        "cli": {"ssh": {"enabled": True, "port": 5024}},
        "ipc": {"transport": "tcp", "access_check": True},
        "webui": {"ssl": {"port": 9443}, "cgi": False},
    }
    text = render_ncs_conf(ConfContext("system", "production", "6.5.3"), values)
    assert value(text, "/ncs-config/cli/ssh/port") == "5024"
    assert value(text, "/ncs-config/cli/ssh/enabled") == "true"
    assert value(text, "/ncs-config/webui/transport/ssl/port") == "9443"
    assert value(text, "/ncs-config/aaa/pam/service") == "login"
    # later files win over earlier ones
    assert load_values([yml, toml])["cli"]["ssh"]["port"] == 3024


def test_set_values_are_yaml_scalars():
    values = load_values(sets=["cli.ssh.enabled=true", "cli.ssh.port=2024", "ipc.address=::1",
                               "aaa.pam.service=sshd", "ssh.kex=", "webui.server_name=[a, b]"])
    assert values["cli"]["ssh"] == {"enabled": True, "port": 2024}
    assert values["ipc"]["address"] == "::1"
    assert values["ssh"]["kex"] is None
    assert values["webui"]["server_name"] == "[a, b]"  # not a scalar: kept as text


@pytest.mark.parametrize("content,suffix", [("cli:\n  ssh:\n    enabeld: true\n", ".yaml"),
                                            ("[cli.ssh]\nenabeld = true\n", ".toml")])
def test_unknown_variable_in_file_lists_near_matches(tmp_path, content, suffix):
    f = tmp_path / f"v{suffix}"
    f.write_text(content)
    with pytest.raises(NsoInstallError) as exc:
        load_values([f])
    assert exc.value.reference == "unknown-variable"
    assert "cli.ssh.enabeld" in exc.value.message and str(f) in exc.value.message
    assert "cli.ssh.enabled" in exc.value.hint


def test_unknown_variable_in_set_and_in_values_dict():
    with pytest.raises(NsoInstallError) as exc:
        load_values(sets=["webui.ratelimiting=10"])
    assert "webui.rate_limiting" in exc.value.hint
    with pytest.raises(NsoInstallError, match="unknown ncs.conf variable"):
        effective_values(ConfContext("system", "production", "6.5.3"), {"nope": 1})
    with pytest.raises(NsoInstallError, match="NAME=VALUE"):
        load_values(sets=["cli.ssh.enabled"])


def test_bad_values_files(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("cli = [")
    with pytest.raises(NsoInstallError) as exc:
        load_values([bad])
    assert exc.value.reference == "bad-values-file"
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(NsoInstallError, match="unknown format"):
        load_values([other])
    with pytest.raises(NsoInstallError, match="cannot read"):
        load_values([tmp_path / "missing.yaml"])
    lst = tmp_path / "l.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(NsoInstallError, match="expected a mapping"):
        load_values([lst])
    empty = tmp_path / "e.yml"
    empty.write_text("")
    assert load_values([empty]) == {}


# --- validate_ncs_conf ----------------------------------------------------------------------

def test_minimal_document_is_valid():
    assert validate_ncs_conf(minimal()) == []


def test_unknown_element_and_bad_type_reported():
    problems = validate_ncs_conf(minimal("<cli><ssh><enabled>yes</enabled><port>70000</port></ssh>"
                                         "<frobnicate>1</frobnicate></cli>"))
    assert any("/ncs-config/cli/frobnicate" in p and "unknown element" in p for p in problems)
    assert any("/ncs-config/cli/ssh/enabled" in p and "boolean" in p for p in problems)
    assert any("/ncs-config/cli/ssh/port" in p and "port-number" in p for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize("body,ok", [
    ("<crypt-hash><algorithm>sha-512</algorithm></crypt-hash>", True),
    ("<crypt-hash><algorithm>sha1</algorithm></crypt-hash>", False),
    ("<ncs-ipc-address><ip>::1</ip></ncs-ipc-address>", True),
    ("<ncs-ipc-address><ip>fe80::1%eth0</ip></ncs-ipc-address>", True),
    ("<ncs-ipc-address><ip>300.1.1.1</ip></ncs-ipc-address>", False),
    ("<southbound-source-address><ipv4>::1</ipv4></southbound-source-address>", False),
    ("<session-limits><max-sessions>unbounded</max-sessions></session-limits>", True),
    ("<session-limits><max-sessions>4294967296</max-sessions></session-limits>", False),
    ("<session-limits><max-sessions>none</max-sessions></session-limits>", False),
    ("<commit-retry-timeout>infinity</commit-retry-timeout>", True),
    ("<commit-retry-timeout>PT15S</commit-retry-timeout>", True),
    ("<commit-retry-timeout>P1DT2H</commit-retry-timeout>", True),
    ("<commit-retry-timeout>P15S</commit-retry-timeout>", False),
    ("<commit-retry-timeout>15</commit-retry-timeout>", False),
    ("<ncs-ipc-listen-backlog>-5</ncs-ipc-listen-backlog>", True),
    ("<ncs-ipc-listen-backlog>2147483648</ncs-ipc-listen-backlog>", False),
    ("<compaction><file-size-relative>256</file-size-relative></compaction>", False),
    ("<encrypted-strings><AESCFB128><key>" + "a1" * 16 + "</key></AESCFB128></encrypted-strings>", True),
    ("<encrypted-strings><AESCFB128><key>" + "a1" * 15 + "</key></AESCFB128></encrypted-strings>", False),
    ("<encrypted-strings><AES256CFB128><key>" + "0f" * 32 + "</key></AES256CFB128></encrypted-strings>", True),
    ("<encrypted-strings><AES256CFB128><key>" + "0g" * 32 + "</key></AES256CFB128></encrypted-strings>", False),
    ("<logs><error-log><filename>x</filename><max-size>S1M</max-size></error-log></logs>", True),
    ("<logs><error-log><filename>x</filename><max-size>1M</max-size></error-log></logs>", False),
    ("<logs><syslog-config><facility>local3</facility></syslog-config></logs>", True),
    ("<logs><syslog-config><facility>17</facility></syslog-config></logs>", True),
    ("<logs><syslog-config><facility>kern</facility></syslog-config></logs>", False),
    ("<transaction-limits><max-transactions>logical-processors</max-transactions></transaction-limits>", True),
    ("<restconf><transport><ssl><verify>2</verify></ssl></transport></restconf>", True),
    ("<restconf><transport><ssl><verify>4</verify></ssl></transport></restconf>", False),
])
def test_leaf_types(body, ok):
    assert (validate_ncs_conf(minimal(body)) == []) is ok


@pytest.mark.parametrize("body,ok", [
    ("<state-dir>${NCS_RUN_DIR}/state</state-dir>", True),            # string: any substitution
    ("<cli><ssh><enabled>${NCS_CLI_SSH:-true}</enabled></ssh></cli>", True),
    ("<cli><ssh><enabled>${NCS_CLI_SSH:-yes}</enabled></ssh></cli>", False),
    ("<cli><ssh><enabled>${NCS_CLI_SSH}</enabled></ssh></cli>", False),
    ("<cli><ssh><port>${PORT:-2024}</port></ssh></cli>", True),
    ("<cli><ssh><port>1${PORT:-2024}</port></ssh></cli>", False),
    ("<cdb><db-dir>${NCS_RUN_DIR/cdb</db-dir></cdb>", False),         # malformed
])
def test_substitutions(body, ok):
    doc = minimal(body)
    if "<state-dir>" in body or "<cdb>" in body:  # replace the minimal ones
        doc = doc.replace("<state-dir>./state</state-dir>", "", 1) if "<state-dir>" in body else \
            doc.replace("<cdb><db-dir>./ncs-cdb</db-dir></cdb>", "", 1)
    assert (validate_ncs_conf(doc) == []) is ok, validate_ncs_conf(doc)


def test_structure_problems():
    assert "not well-formed" in validate_ncs_conf("<ncs-config")[0]
    assert "root element is <confdConfig>" in validate_ncs_conf(minimal(root="confdConfig"))[0]
    assert "namespace" in validate_ncs_conf(minimal(ns=NAMESPACE + "/1.0"))[0]
    assert "DOCTYPE" in validate_ncs_conf('<!DOCTYPE x [<!ENTITY a "b">]>' + minimal())[0]
    problems = validate_ncs_conf(minimal('<cli xmlns="urn:other"/>'))
    assert any("namespace" in p for p in problems)
    problems = validate_ncs_conf(minimal("<state-dir>./x</state-dir>"))
    assert problems == ["/ncs-config/state-dir: appears more than once but may not repeat"]
    problems = validate_ncs_conf(minimal("<cli><enabled>true</enabled></cli><cli/>"))
    assert any("/ncs-config/cli: appears more than once" in p for p in problems)
    assert validate_ncs_conf(minimal("<hide-group><name>a</name></hide-group><hide-group><name>b</name></hide-group>")) == []
    assert any("is a leaf" in p for p in validate_ncs_conf(minimal("<cli><enabled><x/></enabled></cli>")))
    assert any("is a container" in p for p in validate_ncs_conf(minimal("<cli>true</cli>")))


def test_mandatory_elements():
    bare = f'<ncs-config xmlns="{NAMESPACE}"/>'
    problems = validate_ncs_conf(bare)
    for path in ("/ncs-config/load-path/dir", "/ncs-config/state-dir", "/ncs-config/cdb/db-dir"):
        assert any(p.startswith(path + ": mandatory") for p in problems), (path, problems)
    # mandatory only when the parent is present
    assert validate_ncs_conf(minimal()) == []
    problems = validate_ncs_conf(minimal("<rollback><enabled>true</enabled></rollback>"
                                         "<ncs-ipc-access-check><enabled>true</enabled></ncs-ipc-access-check>"
                                         "<encrypted-strings><external-keys/></encrypted-strings>"))
    assert sorted(p.split(":")[0] for p in problems) == [
        "/ncs-config/encrypted-strings/external-keys/command",
        "/ncs-config/ncs-ipc-access-check/filename",
        "/ncs-config/rollback/directory",
    ]


def test_rendered_file_with_an_unknown_element_is_refused(monkeypatch):
    real = conf._environment().get_template(conf.TEMPLATE).render

    class Broken:
        def render(self, **kw):
            return real(**kw).replace("<hide-group>", "<hide-groups>").replace("</hide-group>", "</hide-groups>")

    monkeypatch.setattr(conf._environment(), "get_template", lambda name: Broken())
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.5.3"))
    assert exc.value.reference == "invalid-ncs-conf" and "/ncs-config/hide-groups" in exc.value.message


# --- clients' environment and docs ----------------------------------------------------------

def test_client_environment():
    ctx = ConfContext("system", "production", "6.5.3", config_dir="/srv/etc")
    assert client_environment(ctx) == {"NCS_IPC_PATH": "/tmp/nso/nso-ipc"}
    assert client_environment(ctx, {"ipc": {"transport": "tcp"}}) == {
        "NCS_IPC_ADDR": "127.0.0.1", "NCS_IPC_PORT": "4569", "NCS_IPC_ACCESS_FILE": "/srv/etc/ipc_access"}


def test_docs_table_lists_every_variable():
    text = DOCS.read_text()
    for name, var in VARIABLES.items():
        row = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert row, f"{name} missing from docs/ncs-conf.md"
        if var.element:
            assert f"`{var.element}`" in row[0], name
