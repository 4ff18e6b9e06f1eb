"""ncs.conf against NSO's own file (docs/ncs-conf.md, "Differences from the vendor's ncs.conf"):
the notification streams of each version, and the default blocks taken over."""

from __future__ import annotations

import re

import pytest
from support import conf_elements

from nso_install.conf import ConfContext, render_ncs_conf, validate_ncs_conf

VENDOR_STREAMS = ["ncs-alarms", "ncs-events", "kicker-events", "device-notifications", "service-state-changes"]


def conf(version="6.5.3", profile="production", kind="system", **values) -> str:
    return render_ncs_conf(ConfContext(kind, profile, version), values)


def streams(text: str) -> list[tuple[str, str, str]]:
    out = []
    for block in re.findall(r"<stream>(.*?)</stream>", text, re.S):
        name = re.search(r"<name>([^<]+)", block).group(1)
        replay = re.search(r"<replay-support>([^<]+)", block).group(1)
        store = re.search(r"<builtin-replay-store>\s*<enabled>([^<]+)", block).group(1)
        out.append((name, replay, store))
    return out


@pytest.mark.parametrize("version", ["6.2.3", "6.4.1", "6.5.3", "6.6", "6.7.1"])
@pytest.mark.parametrize("profile, kind", [("production", "system"), ("development", "local"),
                                           ("development", "system")])
def test_five_streams_in_the_vendors_order_from_6_2(version, profile, kind):
    got = streams(conf(version, profile, kind))
    assert [n for n, _, _ in got] == VENDOR_STREAMS
    assert got[0] == ("ncs-alarms", "false", "false")
    assert all(r == s == "true" for _, r, s in got[1:])


def test_6_1_documents_service_state_changes_and_older_versions_keep_three():
    assert [n for n, _, _ in streams(conf("6.1.2"))] == ["ncs-alarms", "ncs-events", "device-notifications",
                                                         "service-state-changes"]
    assert [n for n, _, _ in streams(conf("6.0.5"))] == ["ncs-alarms", "ncs-events", "device-notifications"]


def test_replay_stores_live_in_the_run_directorys_state():
    text = conf()
    assert text.count("<dir>${NCS_RUN_DIR}/state</dir>") == 5
    for block in re.findall(r"<builtin-replay-store>(.*?)</builtin-replay-store>", text, re.S):
        assert "<dir>${NCS_RUN_DIR}/state</dir>" in block and "<max-size>S10M</max-size>" in block
        assert "<max-files>50</max-files>" in block


@pytest.mark.parametrize("path", [
    "/ncs-config/java-vm/start-command", "/ncs-config/java-vm/run-in-terminal/terminal-command",
    "/ncs-config/python-vm/start-command", "/ncs-config/python-vm/run-in-terminal/terminal-command",
    "/ncs-config/smart-license/smart-agent/java-executable", "/ncs-config/smart-license/smart-agent/java-options",
    "/ncs-config/smart-license/smart-agent/production-url", "/ncs-config/smart-license/smart-agent/alpha-url",
    "/ncs-config/smart-license/smart-agent/override-url/url", "/ncs-config/smart-license/smart-agent/proxy/url",
])
def test_commands_northbound_could_set_are_pinned_to_default_as_in_the_vendors_file(path):
    for version in ("6.0.5", "6.5.3", "6.7.1"):
        assert [e.text for e in conf_elements(conf(version), path)] == ["DEFAULT"]


def test_netconf_call_home_is_written_disabled_from_6_2():
    assert [e.text for e in conf_elements(conf(), "/ncs-config/netconf-call-home/enabled")] == ["false"]
    assert [e.text for e in conf_elements(conf(), "/ncs-config/netconf-call-home/transport/tcp/port")] == ["4334"]
    assert conf_elements(conf("6.1.2"), "/ncs-config/netconf-call-home") == []


@pytest.mark.parametrize("to_syslog", [True, False])
def test_the_webui_access_log_follows_logs_to_syslog(to_syslog):
    text = conf(logs={"to_syslog": to_syslog})
    got = conf_elements(text, "/ncs-config/logs/webui-access-log/syslog/enabled")
    assert [e.text for e in got] == [str(to_syslog).lower()]


@pytest.mark.parametrize("version", ["6.0.5", "6.1.2", "6.2.3", "6.4.1", "6.5.3", "6.7.1"])
def test_every_version_renders_valid(version):
    for profile, kind in (("production", "system"), ("development", "local")):
        assert validate_ncs_conf(conf(version, profile, kind)) == []
