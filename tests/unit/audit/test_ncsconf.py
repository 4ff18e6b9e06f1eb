"""Reading an ncs.conf as NSO does (pure): substitutions from NSO's environment, built-in
defaults by version, listeners; the shared Secure Deployment rows judged on it."""

from __future__ import annotations

import pytest

from nso_install.audit.ncsconf import NcsConf, environment
from nso_install.audit.unitfiles import LoadedUnit, _service_section
from nso_install.conf import ConfContext, render_ncs_conf
from nso_install.conf.secure import BY_ID, judge, production_values, rows_failing

HEAD = '<ncs-config xmlns="http://tail-f.com/yang/tailf-ncs-config">'


def conf(body: str, version="6.5.3", env=None) -> NcsConf:
    return NcsConf.parse(f"{HEAD}{body}</ncs-config>", version, env or {})


def test_absent_elements_take_nso_defaults_by_version():
    c = conf("")
    assert c.element("/ncs-config/cli/ssh/enabled") == ("true", "NSO's default, not set")
    assert c.value("crypt_hash.algorithm") == "md5" and conf("", "6.6.1").value("crypt_hash.algorithm") == "sha-512"
    assert c.value("ipc.transport") == "false" and conf("", "6.7").value("ipc.transport") == "true"


def test_server_host_key_default_is_ed25519_alone_in_6_4():
    """ncs.conf(5): the built-in server-host-key was ssh-ed25519 in 6.4 and gained
    ecdsa-sha2-nistp256 in 6.5; a 6.4 install that leaves it out offers Ed25519 only, as the
    Secure Deployment guidance asks (NSO-SD-002 failed it, saying NSO's default was both)."""
    assert conf("", "6.4.2").value("ssh.server_host_key") == "ssh-ed25519"
    assert conf("", "6.5.3").value("ssh.server_host_key") == "ssh-ed25519,ecdsa-sha2-nistp256"
    problems, _ = judge(BY_ID["NSO-SD-002"], conf("", "6.4.2"), production_values("6.4.2"))
    assert problems == []
    assert judge(BY_ID["NSO-SD-002"], conf("", "6.5.3"), production_values("6.5.3"))[0]


def test_substitutions_use_nso_s_environment():
    body = "<cli><ssh><enabled>${NCS_CLI_SSH:-false}</enabled></ssh></cli>"
    assert conf(body).value("cli.ssh.enabled") == "false"
    on = conf(body, env={"NCS_CLI_SSH": "true"})
    assert on.value("cli.ssh.enabled") == "true" and "from ${NCS_CLI_SSH:-false}" in on.shown("cli.ssh.enabled")
    # a unit with EnvironmentFile= (another origin): the file wins over Environment=
    env = environment(loaded("EnvironmentFile=/etc/ncs/ncs.systemd.conf\nEnvironment=A=1 \"B=two words\""),
                      [b"A=3\n# C=4\n"], b"A=9\n", *DIRS)
    assert env["A"] == "3" and env["B"] == "two words" and "C" not in env and env["NCS_DIR"] == "/opt/ncs/current"
    # nso-install's start: the file is read as data (NCS_*, JAVA_*, LANG, LC_*, TZ), then the
    # directories and the unit's Environment= (IPC) are set over it
    env = environment(loaded(f"Environment=NCS_IPC_PATH=/run/ncs/nso-ipc\n{OURS}"), [],
                      b"NCS_IPC_PATH=/tmp/x\nNCS_CONFIG_DIR=/tmp/c\nNCS_EXTRA=1\nLD_PRELOAD=/x.so\n", *DIRS)
    assert (env["NCS_IPC_PATH"], env["NCS_CONFIG_DIR"], env["NCS_EXTRA"]) == ("/run/ncs/nso-ipc", "/etc/ncs", "1")
    assert "LD_PRELOAD" not in env
    # a comment naming EnvironmentFile= (nso-install's run-as-user unit has one) assigns nothing
    env = environment(loaded("# whatever a drop-in's EnvironmentFile= adds\nEnvironment=NCS_IPC_PATH=/run/ncs/x"), [],
                      b"NCS_IPC_PATH=/tmp/x\n", *DIRS)
    assert env["NCS_IPC_PATH"] == "/run/ncs/x"
    # no unit (the SysV script): the file as data, the directories over it
    env = environment(None, [], b"NCS_CONFIG_DIR=/tmp/c\nNCS_EXTRA=2\n", *DIRS)
    assert (env["NCS_CONFIG_DIR"], env["NCS_EXTRA"]) == ("/etc/ncs", "2")


DIRS = ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs")
OURS = "ExecStart=!/usr/bin/setpriv --reuid=ncsd -- /opt/ncs/ncs-service-start"
UNIT_PATH = "/etc/systemd/system/ncs.service"


def loaded(unit: str, *dropins: str) -> LoadedUnit:
    """ncs.service with [Service] lines ``unit``, and drop-ins 10.conf, 20.conf... with theirs."""
    names = [f"{UNIT_PATH}.d/{10 * (i + 1)}.conf" for i in range(len(dropins))]
    settings = [s for path, text in ((UNIT_PATH, unit), *zip(names, dropins))
                for s in _service_section(path, f"[Service]\n{text}\n".encode())]
    return LoadedUnit(UNIT_PATH, False, tuple(names), tuple(settings))


def test_drop_ins_take_part_in_nso_s_environment():
    """systemd applies the drop-ins' Environment=, EnvironmentFile= and UnsetEnvironment= after
    the unit's (systemd.exec(5)); the audit resolves ${VAR} with what NSO really gets."""
    # another origin: a drop-in's Environment= changes NSO's directories; an empty one resets
    env = environment(loaded("Environment=NCS_CONFIG_DIR=/etc/ncs X=1", "Environment=NCS_CONFIG_DIR=/srv/ncs"),
                      [b"Y=2\n"], None, *DIRS)
    assert (env["NCS_CONFIG_DIR"], env["X"], env["Y"]) == ("/srv/ncs", "1", "2")
    env = environment(loaded("Environment=X=1 Z=3", "Environment=\nEnvironment=Z=4"), [b"Y=2\n"], None, *DIRS)
    assert "X" not in env and env["Z"] == "4" and env["NCS_CONFIG_DIR"] == "/etc/ncs"
    # UnsetEnvironment= drops a name, or only the assignment NAME=VALUE
    env = environment(loaded("Environment=X=1 Z=3", "UnsetEnvironment=X Z=4"), [b"Y=2\n"], None, *DIRS)
    assert "X" not in env and env["Z"] == "3"
    # nso-install's start with a drop-in EnvironmentFile=: its other variables reach NSO, but the
    # start script still sets the directories and the IPC variables over them
    env = environment(loaded(f"Environment=NCS_IPC_PORT=4569\n{OURS}", "EnvironmentFile=/etc/ncs/extra.env"),
                      [b"CERTS=/etc/ncs/certs\nNCS_RUN_DIR=/tmp/r\nNCS_IPC_PORT=1\n"], None, *DIRS)
    assert (env["CERTS"], env["NCS_RUN_DIR"], env["NCS_IPC_PORT"]) == ("/etc/ncs/certs", "/var/opt/ncs", "4569")
    # a drop-in's Environment= of IPC settings does not reach NSO through nso-install's start
    env = environment(loaded(f"Environment=NCS_IPC_PORT=4569\n{OURS}", "Environment=NCS_IPC_PORT=1 W=5"), [], None,
                      *DIRS)
    assert (env["NCS_IPC_PORT"], env["W"]) == ("4569", "5")


def test_unreadable_texts_are_not_guessed():
    assert NcsConf.parse("<!DOCTYPE x [<!ENTITY a 'b'>]><ncs-config/>", "6.5").problem.startswith("it has a DOCTYPE")
    assert "not well-formed" in NcsConf.parse("<ncs-config", "6.5").problem
    assert "root element" in NcsConf.parse("<other/>", "6.5").problem


def test_listeners_follow_their_parent_switch_and_extra_addresses():
    c = conf("<webui><enabled>true</enabled><transport><tcp><enabled>true</enabled><ip>127.0.0.1</ip>"
             "<extra-listen><ip>10.0.0.1</ip><port>80</port></extra-listen></tcp></transport></webui>"
             "<netconf-north-bound><enabled>false</enabled></netconf-north-bound>")
    on = {x.name: x for x in c.listeners() if x.enabled}
    assert set(on) == {"Web UI over HTTP", "CLI over SSH"}  # NETCONF off by its parent; CLI SSH by NSO's default
    assert on["Web UI over HTTP"].addresses == (("127.0.0.1", "8008"), ("10.0.0.1", "80"))


def test_ha_primary_listen_addresses_count_for_unencrypted_listeners():
    """ncs.conf(5): while the node is the HA primary, NSO also listens on each ha-primary-listen
    address of a listener; NETCONF over TCP on 127.0.0.1 with one on 0.0.0.0 passed NSO-NET-001."""
    from types import SimpleNamespace

    from nso_install.audit.checks.network import listeners

    body = ("<netconf-north-bound><transport><tcp><enabled>true</enabled><ip>127.0.0.1</ip>"
            "<ha-primary-listen><ip>{}</ip><port>2023</port></ha-primary-listen></tcp></transport>"
            "</netconf-north-bound><cli><enabled>false</enabled></cli>")
    c = conf(body.format("0.0.0.0"))
    tcp = next(x for x in c.listeners() if x.name == "NETCONF over TCP")
    assert tcp.addresses == (("127.0.0.1", "2023"),) and tcp.ha_addresses == (("0.0.0.0", "2023"),)
    result = listeners(SimpleNamespace(conf=c, conf_path="/etc/ncs/ncs.conf"))
    assert result.status == "fail" and "0.0.0.0:2023 (every address) (while HA primary)" in " ".join(result.evidence)
    assert listeners(SimpleNamespace(conf=conf(body.format("127.0.0.1")), conf_path="/etc/ncs/ncs.conf")).status == "pass"


@pytest.mark.parametrize("row, body, bad", [
    ("NSO-SD-008", "<cli><enabled>false</enabled></cli>", False),  # the CLI itself off: its SSH listener too
    ("NSO-SD-012", "<webui><enabled>false</enabled></webui>", False),  # HTTP default on, but the Web UI is off
    ("NSO-SD-012", "<webui><enabled>true</enabled></webui>", True),
    ("NSO-SD-020", "<webui><enabled>true</enabled><rate-limiting>0</rate-limiting></webui>", True),
    # the Web UI off (NSO's default): its own settings serve nothing and are not judged
    ("NSO-SD-020", "<webui><rate-limiting>0</rate-limiting></webui>", False),
    ("NSO-SD-015", "<webui><enabled>false</enabled><cgi><enabled>true</enabled></cgi></webui>", False),
    ("NSO-SD-015", "<webui><enabled>true</enabled><cgi><enabled>true</enabled></cgi></webui>", True),
    ("NSO-SD-018", "<webui><enabled>false</enabled><audit>false</audit></webui>", False),
    ("NSO-SD-018", "<webui><enabled>true</enabled><audit>false</audit></webui>", True),
    ("NSO-SD-018", "<webui><enabled>false</enabled></webui><logs><audit-log><enabled>false</enabled></audit-log>"
                   "</logs>", True),  # (the audit log is NSO's own, Web UI or not)
    ("NSO-SD-014", "<webui><enabled>false</enabled><match-host-name>false</match-host-name></webui>", False),
    # HTTPS: no Web server at all passes; one without HTTPS fails
    ("NSO-SD-013", "<webui><enabled>false</enabled><transport><ssl><enabled>true</enabled></ssl></transport></webui>",
     False),
    ("NSO-SD-013", "<webui><enabled>false</enabled></webui>", False),
    ("NSO-SD-013", "<webui><enabled>true</enabled></webui>", True),
    ("NSO-SD-014", "<webui><enabled>true</enabled><server-alias>*.example.net</server-alias></webui>", False),
    ("NSO-SD-014", "<webui><enabled>true</enabled><server-alias>nso.example.net</server-alias><server-alias>*"
                   "</server-alias></webui>",
     True),  # a wildcard alone matches every Host header: the match is off
    ("NSO-SD-014", "<webui><enabled>true</enabled><server-alias>*.*</server-alias></webui>", True),
    # RESTCONF on the Web UI's listeners, or on its own (restconf/transport, ncs.conf(5)) with the Web UI off
    ("NSO-SD-011", "<restconf><enabled>true</enabled></restconf><webui><enabled>false</enabled></webui>", False),
    ("NSO-SD-011", "<restconf><enabled>true</enabled></restconf><webui><enabled>true</enabled></webui>", True),
    ("NSO-SD-011", "<restconf><enabled>true</enabled><transport><ssl><enabled>true</enabled></ssl></transport>"
                   "</restconf><webui><enabled>false</enabled></webui>", True),
    ("NSO-SD-011", "<restconf><enabled>true</enabled><transport><tcp><enabled>true</enabled></tcp></transport>"
                   "</restconf>", True),
    ("NSO-SD-011", "<restconf><enabled>false</enabled><transport><tcp><enabled>true</enabled></tcp></transport>"
                   "</restconf>", False),
    ("NSO-SD-021", "<session-limits><max-sessions>200</max-sessions><max-config-sessions>9</max-config-sessions>"
                   "</session-limits>", False),  # tuned limits are still limits
    ("NSO-SD-007", "<aaa><expiration-warning>display</expiration-warning></aaa>", False),
    ("NSO-IPC-001", "<ncs-local-ipc><enabled>false</enabled></ncs-local-ipc><ncs-ipc-access-check><enabled>true"
                    "</enabled><filename>/x</filename></ncs-ipc-access-check>", False),
    ("NSO-IPC-001", "<ncs-local-ipc><enabled>false</enabled></ncs-local-ipc>", True),
    ("NSO-IPC-001", "<ncs-local-ipc><enabled>false</enabled></ncs-local-ipc><ncs-ipc-access-check><enabled>true"
                    "</enabled><filename>/x</filename></ncs-ipc-access-check>"
                    "<ncs-ipc-extra-listen-ip>192.0.2.1</ncs-ipc-extra-listen-ip>", True),
])
def test_rows_judge_what_nso_would_do(row, body, bad):
    problems, _ = judge(BY_ID[row], conf(body), production_values("6.5.3"))
    assert bool(problems) == bad, problems


def test_inline_keys_are_named_never_shown():
    key = "a1b2c3d4" * 4
    c = conf(f"<encrypted-strings><AESCFB128><key>{key}</key></AESCFB128></encrypted-strings>")
    problems, evidence = judge(BY_ID["NSO-SD-001"], c, production_values("6.5.3"))
    assert problems and key not in repr((problems, evidence)) and "<secret>" in problems[-1]
    assert key not in c.shown_element("/ncs-config/encrypted-strings/AESCFB128/key")


def test_the_production_rendering_satisfies_every_row_and_development_does_not():
    prod = NcsConf.parse(render_ncs_conf(ConfContext("system", "production", "6.5.3")), "6.5.3")
    assert rows_failing(prod, "6.5.3") == {}
    dev = NcsConf.parse(render_ncs_conf(ConfContext("system", "development", "6.5.3")), "6.5.3")
    assert {"NSO-SD-005", "NSO-SD-008", "NSO-SD-012", "NSO-SD-019", "NSO-SD-021"} <= set(rows_failing(dev, "6.5.3"))


@pytest.mark.parametrize("version, env, failing", [
    ("6.7.1", {}, False),  # the Unix socket (NSO 6.7's default)
    ("6.7.1", {"NCS_IPC_PORT": "4569"}, True),  # ncs(1) 6.7: NCS_IPC_PORT selects TCP IPC regardless of ncs.conf
    ("6.7.1", {"NCS_IPC_PATH": "/run/ncs/nso-ipc", "NCS_IPC_PORT": "4569"}, False),  # NCS_IPC_PATH first
    ("6.5.3", {"NCS_IPC_PORT": "4569"}, False),  # before 6.7 only NCS_IPC_PATH overrides ncs.conf
])
def test_the_environment_nso_starts_with_can_select_tcp_ipc(version, env, failing):
    c = conf("<ncs-local-ipc><enabled>true</enabled></ncs-local-ipc>", version, env)
    problems, _ = judge(BY_ID["NSO-IPC-001"], c, production_values(version))
    assert bool(problems) is failing, problems


def test_ncs_ipc_addr_overrides_the_tcp_listen_address_from_6_7():
    body = ("<ncs-local-ipc><enabled>false</enabled></ncs-local-ipc>"
            "<ncs-ipc-access-check><enabled>true</enabled><filename>/etc/ncs/ipc_access</filename></ncs-ipc-access-check>")
    assert judge(BY_ID["NSO-IPC-001"], conf(body, "6.7.1", {"NCS_IPC_ADDR": "0.0.0.0"}), production_values("6.7.1"))[0]
    assert not judge(BY_ID["NSO-IPC-001"], conf(body, "6.7.1", {"NCS_IPC_ADDR": "127.0.0.1"}),
                     production_values("6.7.1"))[0]
