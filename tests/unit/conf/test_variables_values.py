"""ncs.conf values: values files, --set (parsed by each variable's declared type), secrets
kept off the command line, and the checks of every value and of their combinations
(nso_install.conf.values, nso_install.conf.variables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nso_install.conf import VARIABLES, ConfContext, effective_values, load_values, render_ncs_conf
from nso_install.conf.values import read_values
from nso_install.errors import NsoInstallError

from support import conf_value

DOCS = Path(__file__).resolve().parents[3] / "docs" / "ncs-conf.md"


# --- profiles and versions -----------------------------------------------------------------

def test_ipc_defaults_follow_version_and_profile():
    assert effective_values(ConfContext("system", "production", "6.4.1"), {})["ipc"]["transport"] == "unix"
    assert effective_values(ConfContext("system", "production", "6.3.2"), {})["ipc"]["transport"] == "tcp"
    assert effective_values(ConfContext("local", "development", "6.6"), {})["ipc"]["transport"] == "tcp"
    assert effective_values(ConfContext("local", "development", "6.7.1"), {})["ipc"]["transport"] == "unix"


def test_bad_profile_and_kind():
    with pytest.raises(NsoInstallError, match="profile"):
        render_ncs_conf(ConfContext("system", "lab", "6.5.3"))
    with pytest.raises(NsoInstallError, match="install kind"):
        render_ncs_conf(ConfContext("container", "production", "6.5.3"))


# --- combinations ---------------------------------------------------------------------------

def test_fips_needs_nso_65():
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.4.8", fips=True))
    assert "6.5" in exc.value.message


def test_fips_install_of_an_nso_before_6_5_is_bad_usage_exit_2(dists, root):
    """--fips-install for NSO 6.4 failed with bad-value and exit 1, where every other value that
    does not fit the version (ipc.transport=unix before 6.4...) is bad usage, exit 2, and the hint
    is to change the command (drop --fips-install)."""
    import json

    from support import cli

    r = cli("install", dists["6.4.1"], "--system-install", "--fips-install", "--root", root, "--check", "--json",
            ok=False)
    assert r.exit_code == 2, r.output
    error = json.loads(r.stdout)["error"]
    assert error["reference"] == "bad-value" and "6.5" in error["message"] and "--fips-install" in error["hint"]


def test_fips_mode_cannot_be_forced_on_a_non_fips_install():
    with pytest.raises(NsoInstallError, match="fips.enabled"):
        render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"fips": {"enabled": True}})


def test_fips_refuses_non_approved_algorithms():
    ctx = ConfContext("system", "production", "6.5.3", fips=True)
    for values in ({"ssh": {"server_host_key": "ssh-ed25519"}}, {"ssh": {"kex": "curve25519-sha256"}}):
        with pytest.raises(NsoInstallError) as exc:
            render_ncs_conf(ctx, values)
        assert "not FIPS-approved" in exc.value.message


def test_fips_key_exchange_is_only_the_approved_list():
    """FIPS tab (facts section 11): the approved KEX are five; diffie-hellman-group16-sha512 and
    group14-sha256 are offered without FIPS but are not among them, and passed (the tool's own
    NSO-SD-004 failed right after). A subset of the approved list is fine."""
    ctx = ConfContext("system", "production", "6.5.3", fips=True)
    for kex in ("diffie-hellman-group16-sha512", "ecdh-sha2-nistp256,diffie-hellman-group14-sha256"):
        with pytest.raises(NsoInstallError, match="not FIPS-approved"):
            render_ncs_conf(ctx, {"ssh": {"kex": kex}})
    assert "<kex>ecdh-sha2-nistp384</kex>" in render_ncs_conf(ctx, {"ssh": {"kex": "ecdh-sha2-nistp384"}})
    # without FIPS the same values are NSO's to offer
    render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"ssh": {"kex": "diffie-hellman-group16-sha512"}})


def test_fips_key_exchange_left_empty_is_said_as_such():
    """--set ssh.kex= leaves the element out (NSO's own list, not the FIPS one): refused as such;
    it was refused as "'' is not FIPS-approved" ("ncs.conf variable ssh.kex ...:  is not
    FIPS-approved", "Leave  out of ssh.kex"), naming nothing the operator gave."""
    ctx = ConfContext("system", "production", "6.5.3", fips=True)
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, load_values((), ["ssh.kex="]))
    assert "ssh.kex" in exc.value.message and "left empty" in exc.value.message, exc.value.message
    assert "ecdh-sha2-nistp256" in exc.value.hint and "Leave  out" not in exc.value.hint
    # without FIPS, an empty ssh.kex is NSO's default as before
    plain = ConfContext("system", "production", "6.5.3")
    assert "<kex>" not in render_ncs_conf(plain, load_values((), ["ssh.kex="]))


def test_fips_host_key_algorithms_left_empty_are_refused():
    """--set ssh.server_host_key= left the element out under FIPS: NSO's own list, ssh-ed25519
    first (ncs.conf(5)), which is not FIPS-compliant; only the audit's NSO-SD-002, a note, said so."""
    ctx = ConfContext("system", "production", "6.5.3", fips=True)
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, load_values((), ["ssh.server_host_key="]))
    assert "ssh.server_host_key" in exc.value.message and "left empty" in exc.value.message, exc.value.message
    assert "ssh-ed25519" in exc.value.message and "ecdsa-sha2-nistp256" in exc.value.hint
    assert "<server-host-key>ecdsa-sha2-nistp256</server-host-key>" in render_ncs_conf(ctx, {})
    plain = ConfContext("system", "production", "6.5.3")  # without FIPS: NSO's default, as before
    assert "<server-host-key>" not in render_ncs_conf(plain, load_values((), ["ssh.server_host_key="]))


def test_tcp_ipc_off_loopback_needs_the_access_check():
    ctx = ConfContext("system", "development", "6.5.3")
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ctx, {"ipc": {"transport": "tcp", "address": "0.0.0.0"}})
    assert "ipc.address" in exc.value.message
    text = render_ncs_conf(ctx, {"ipc": {"transport": "tcp", "address": "0.0.0.0", "access_check": True}})
    assert conf_value(text, "/ncs-config/ncs-ipc-access-check/enabled") == "true"


def test_listeners_may_not_share_a_port():
    with pytest.raises(NsoInstallError) as exc:
        render_ncs_conf(ConfContext("system", "production", "6.5.3"), {"webui": {"tcp": {"enabled": True, "port": 8888}}})
    assert "is already taken by" in exc.value.message


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


def test_keys_command_timeout_takes_infinity():
    """ncs.conf(5) types command-timeout "xs:duration | infinity"; --set crypto.command_timeout=infinity
    was refused as not an xs:duration."""
    ctx = ConfContext("system", "production", "6.5.3")
    for value in ("infinity", "PT90S"):
        text = render_ncs_conf(ctx, load_values(sets=[f"crypto.command_timeout={value}"]))
        assert conf_value(text, "/ncs-config/encrypted-strings/external-keys/command-timeout") == value
    with pytest.raises(NsoInstallError, match="xs:duration such as PT60S or 'infinity'"):
        effective_values(ctx, load_values(sets=["crypto.command_timeout=forever"]))


def test_control_characters_refused():
    with pytest.raises(NsoInstallError, match="control characters"):
        effective_values(ConfContext("system", "production", "6.5.3"), {"aaa": {"pam": {"service": "a\nb"}}})


# --- values files and --set -----------------------------------------------------------------

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
    assert conf_value(text, "/ncs-config/cli/ssh/port") == "5024"
    assert conf_value(text, "/ncs-config/cli/ssh/enabled") == "true"
    assert conf_value(text, "/ncs-config/webui/transport/ssl/port") == "9443"
    assert conf_value(text, "/ncs-config/aaa/pam/service") == "login"
    # later files win over earlier ones
    assert load_values([yml, toml])["cli"]["ssh"]["port"] == 3024


def test_set_values_are_parsed_by_the_variables_declared_type():
    values = load_values(sets=["cli.ssh.enabled=true", "cli.ssh.port=2024", "ipc.address=::1",
                               "aaa.pam.service=sshd", "ssh.kex=", "webui.server_name=[a, b]"])
    assert values["cli"]["ssh"] == {"enabled": True, "port": 2024}
    assert values["ipc"]["address"] == "::1"
    assert values["ssh"]["kex"] is None
    assert values["webui"]["server_name"] == "[a, b]"  # not a scalar: kept as text
    # not YAML: 022 is the port 22 (YAML's octal 18), 'yes' is not a boolean (YAML's true)
    assert load_values(sets=["cli.ssh.port=022"])["cli"]["ssh"]["port"] == 22
    yes = load_values(sets=["cli.ssh.enabled=yes", "aaa.pam.service=022"])
    assert yes["cli"]["ssh"]["enabled"] == "yes" and yes["aaa"]["pam"]["service"] == "022"
    with pytest.raises(NsoInstallError) as exc:
        effective_values(ConfContext("system", "production", "6.5.3"), yes)
    assert exc.value.reference == "bad-value" and "cli.ssh.enabled" in exc.value.message


def test_read_values_says_where_each_value_came_from(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("cli:\n  ssh:\n    port: 4024\n    enabled: true\n")
    got = read_values([f], ["cli.ssh.port=5024"])
    assert got == {"cli.ssh.port": (5024, "--set"), "cli.ssh.enabled": (True, f"values file {f}")}


def test_secret_values_are_refused_on_the_command_line_but_read_from_files(tmp_path):
    key = "ab" * 16
    for name in ("crypto.aescfb128_key", "crypto.aes256cfb128_key"):
        with pytest.raises(NsoInstallError) as exc:
            read_values(sets=[f"{name}={key}"])
        assert exc.value.reference == "secret-on-command-line" and name in exc.value.message
        assert key not in exc.value.message and "--set-file" in exc.value.hint
    kf = tmp_path / "aes128.key"
    kf.write_text(key + "\n")
    assert read_values(set_files=[f"crypto.aescfb128_key={kf}"]) == {
        "crypto.aescfb128_key": (key, f"--set-file {kf}")}
    vf = tmp_path / "keys.toml"
    vf.write_text(f'crypto.aescfb128_key = "{key}"\n')
    assert load_values([vf]) == {"crypto": {"aescfb128_key": key}}
    with pytest.raises(NsoInstallError) as exc:
        read_values(set_files=[f"crypto.aescfb128_key={tmp_path / 'missing'}"])
    assert exc.value.reference == "bad-set-file"


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


# --- docs -----------------------------------------------------------------------------------

def test_docs_table_lists_every_variable():
    text = DOCS.read_text()
    for name, var in VARIABLES.items():
        row = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert row, f"{name} missing from docs/ncs-conf.md"
        if var.element:
            assert f"`{var.element}`" in row[0], name
