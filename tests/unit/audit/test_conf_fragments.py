"""ncs.conf.d: NSO reads CONFIG_DIR/ncs.conf.d/*.conf as parts of its configuration (ncs.conf(5),
"Description"), so the audit judges them with ncs.conf and judges their owners and modes like
ncs.conf's; a setting written twice with different values fails, whichever NSO takes."""

from __future__ import annotations

import os

from support_audit import failing, findings

from nso_install.audit.ncsconf import NcsConf

NS = "http://tail-f.com/yang/tailf-ncs-config"
TCP_ON = (f'<ncs-config xmlns="{NS}"><netconf-north-bound><transport><tcp><enabled>true</enabled>'
          "<ip>0.0.0.0</ip></tcp></transport></netconf-north-bound></ncs-config>\n")


def fragment(root, name: str, text: str, mode: int = 0o644):
    d = root / "etc/ncs/ncs.conf.d"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    os.chmod(d / name, mode)
    return d / name


def test_a_fragment_that_turns_a_listener_on_is_judged(staged):
    root = staged.get("nso")
    assert failing(root) == set()
    fragment(root, "50-netconf.conf", TCP_ON)
    assert {"NSO-SD-010", "NSO-NET-001"} <= failing(root)
    evidence = " ".join(findings(root)["NSO-SD-010"].evidence)
    assert "ncs.conf.d/50-netconf.conf" in evidence and "different values" in evidence


def test_files_without_the_conf_suffix_are_ignored_like_nso_does(staged):
    root = staged.get("nso")
    fragment(root, "50-netconf.conf.disabled", TCP_ON)
    assert failing(root) == set()


def test_a_fragment_nso_s_account_can_change_fails_like_ncs_conf(staged):
    root = staged.get("nso")
    same = f'<ncs-config xmlns="{NS}"><cli><ssh><enabled>false</enabled></ssh></cli></ncs-config>\n'
    path = fragment(root, "10-cli.conf", same)
    assert failing(root) == set()  # the same value as ncs.conf: nothing to fix
    nso = next(int(line.split(":")[2]) for line in (root / "etc/passwd").read_text().splitlines()
               if line.startswith("nso:"))
    os.chown(path, nso, nso)
    assert failing(root) == {"NSO-PERM-001"}


def test_a_fragment_the_audit_cannot_read_fails_instead_of_being_skipped(staged):
    root = staged.get("nso")
    (root / "etc/ncs/ncs.conf.d").mkdir()
    os.symlink("/tmp/anywhere.conf", root / "etc/ncs/ncs.conf.d/link.conf")
    assert failing(root) == {"NSO-PERM-001"}
    os.unlink(root / "etc/ncs/ncs.conf.d/link.conf")
    fragment(root, "bad.conf", "<ncs-config")
    assert failing(root) == {"NSO-PERM-001"}


def test_a_leaf_written_twice_with_different_values_is_a_conflict():
    c = NcsConf.parse(f'<ncs-config xmlns="{NS}"><cli><ssh><enabled>false</enabled><enabled>true</enabled>'
                      "</ssh></cli></ncs-config>", "6.5.3", {})
    assert c.conflicts(["/ncs-config/cli/ssh/enabled"])
    assert not c.conflicts(["/ncs-config/cli/enabled"])


def test_a_fragment_nso_would_refuse_fails_ncs_conf_001(staged):
    """The other checks read an element NSO does not know (here: one in another namespace, as
    the ncs.conf(5) example's /1.0) as not set: CONF-001 judges the fragments as it does ncs.conf,
    or a fragment turning NETCONF over TCP on for every address audited clean."""
    root = staged.get("nso")
    foreign = TCP_ON.replace("<tcp>", f'<tcp xmlns="{NS}/1.0">')
    fragment(root, "50-netconf.conf", foreign)
    assert failing(root) == {"NSO-CONF-001"}
    evidence = " ".join(findings(root)["NSO-CONF-001"].evidence)
    assert "ncs.conf.d/50-netconf.conf: /ncs-config/netconf-north-bound/transport/tcp: element in namespace" in evidence
