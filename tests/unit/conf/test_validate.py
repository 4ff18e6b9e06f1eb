"""ncs.conf(5) validation: the element table shipped with the tool, leaf types, ${VAR}
substitutions, structure and mandatory elements (nso_install.conf.validate)."""

from __future__ import annotations

from pathlib import Path

import pytest

import nso_install
from nso_install.conf import NAMESPACE, VARIABLES, element_table, validate_ncs_conf


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
    assert (Path(nso_install.__file__).parent / "data" / "ncs-conf-elements.tsv").read_bytes() == ref.read_bytes()


def test_every_variable_sets_a_documented_element():
    table = element_table()
    for var in VARIABLES.values():
        if var.element:
            assert var.element in table, var.name


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
