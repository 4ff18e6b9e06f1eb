"""Values mean what they say: --set read by the variable's declared type (not YAML 1.1), YAML
1.1 booleans in values files refused for non-boolean variables, errors in words, and the
RESTCONF/Web server combinations (nso_install.conf.values)."""

from __future__ import annotations

import pytest

from nso_install.conf import ConfContext, effective_values, load_values
from nso_install.conf.values import config_notes, flatten_values
from nso_install.errors import NsoInstallError

CTX = ConfContext("system", "production", "6.5.3")
DEV = ConfContext("local", "development", "6.5.3")


@pytest.mark.parametrize("item,name,expected", [
    ("cli.ssh.port=022", "cli.ssh.port", 22),  # decimal with a leading zero: 22, never octal 18
    ("cli.ssh.port=2024", "cli.ssh.port", 2024),
    ("aaa.pam.service=yes", "aaa.pam.service", "yes"),  # a string variable keeps the word
    ("webui.server_name=on", "webui.server_name", "on"),
    ("webui.server_name=022", "webui.server_name", "022"),
    ("cli.ssh.enabled=true", "cli.ssh.enabled", True),
    ("cli.ssh.enabled=FALSE", "cli.ssh.enabled", False),
    ("limits.max_sessions=unbounded", "limits.max_sessions", "unbounded"),
    ("cli.ssh.port=${P:-022}", "cli.ssh.port", "${P:-022}"),  # kept as given, for NSO to resolve
    ("crypto.command_timeout=${T:-infinity}", "crypto.command_timeout", "${T:-infinity}"),
    ("crypto.command_timeout=PT0.5S", "crypto.command_timeout", "PT0.5S"),
])
def test_set_values_by_declared_type(item, name, expected):
    got = flatten_values(effective_values(CTX, load_values(sets=[item])))[name]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("item,words", [
    ("cli.ssh.port=0x10", "'0x10' is not valid"),  # not 16
    ("cli.ssh.port=1e3", "'1e3' is not valid"),
    ("cli.ssh.port=70000", "out of range"),
    ("cli.ssh.enabled=yes", "'yes' is not valid"),  # booleans are true or false only
    ("cli.ssh.enabled=on", "'on' is not valid"),
    ("cli.ssh.enabled=1", "'1' is not valid"),
    ("ipc.address=", "an empty value (null) is not valid"),
    # a ${VAR:-DEFAULT}'s default passes the checks a literal passes: the element's type
    # (port-number 0-65535, a signed xs:duration) took both of these
    ("cli.ssh.port=${P:-0}", "its default '0' is not valid (out of range)"),
    ("crypto.command_timeout=-PT5S", "'-PT5S' is not valid: negative"),
    ("crypto.command_timeout=${T:--PT5S}", "its default '-PT5S' is not valid (negative)"),
])
def test_set_values_refused_in_words(item, words):
    with pytest.raises(NsoInstallError) as exc:
        effective_values(CTX, load_values(sets=[item]))
    e = exc.value
    assert e.reference == "bad-value" and words in e.message and "expected: " in e.message
    assert "None" not in e.message and item.split("=")[0] in e.hint


def test_yaml11_boolean_word_for_a_text_variable_is_refused(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("webui:\n  server_name: on\n")
    with pytest.raises(NsoInstallError) as exc:
        load_values([f])
    assert exc.value.reference == "bad-value" and "line 2" in exc.value.message and "YAML 1.1" in exc.value.message
    assert 'server_name: "on"' in exc.value.hint
    f.write_text('webui:\n  server_name: "on"\n')
    assert load_values([f]) == {"webui": {"server_name": "on"}}
    f.write_text("webui:\n  server_name: nso.example.net\n")
    assert load_values([f]) == {"webui": {"server_name": "nso.example.net"}}


def test_port_clash_reads_as_words():
    with pytest.raises(NsoInstallError) as exc:
        effective_values(CTX, {"cli": {"ssh": {"enabled": True}}, "netconf": {"ssh": {"enabled": True, "port": 2024}}})
    assert "port 2024 is already taken by cli.ssh.port" in exc.value.message
    assert "expected" not in exc.value.message and "--set netconf.ssh.port=" in exc.value.hint


def test_listeners_sharing_a_port_only_by_a_variables_default_are_noted():
    """${P:-2024} beside a literal 2024 passed unsaid (the clash check compared literal ports
    only): NSO stops at start (exit 20) unless the environment sets P."""
    both = {"cli": {"ssh": {"enabled": True, "port": "${P:-2024}"}}, "netconf": {"ssh": {"enabled": True, "port": 2024}}}
    notes = config_notes(flatten_values(effective_values(CTX, both)))
    assert notes == ["cli.ssh.port ${P:-2024} and netconf.ssh.port 2024 are both port 2024 unless P is set in NSO's "
                     "environment (ncs.systemd.conf): NSO then cannot bind the second and does not start (exit 20). "
                     "Give one another default."], notes
    apart = {"cli": {"ssh": {"enabled": True, "port": "${P:-2025}"}}, "netconf": {"ssh": {"enabled": True, "port": 2024}}}
    assert config_notes(flatten_values(effective_values(CTX, apart))) == []
    off = {"cli": {"ssh": {"enabled": False, "port": "${P:-2024}"}}, "netconf": {"ssh": {"enabled": True, "port": 2024}}}
    assert config_notes(flatten_values(effective_values(CTX, off))) == []


def test_restconf_without_webui_is_valid_and_noted():
    # NSO: "The WebUI does not have to be enabled for RESTCONF to work" (same listeners)
    v = flatten_values(effective_values(DEV, {"restconf": {"enabled": True}, "webui": {"enabled": False}}))
    assert v["restconf.enabled"] is True and v["webui.enabled"] is False
    notes = config_notes(v)
    assert len(notes) == 1 and "webui.tcp.port 8080" in notes[0]
    assert config_notes(flatten_values(effective_values(DEV, {}))) == []


def test_restconf_without_any_web_listener_is_refused():
    with pytest.raises(NsoInstallError) as exc:
        effective_values(CTX, {"restconf": {"enabled": True}, "webui": {"ssl": {"enabled": False}}})
    assert exc.value.reference == "bad-value" and "both are off" in exc.value.message
