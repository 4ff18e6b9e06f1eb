"""ncs.conf elements per NSO release (data/ncs-conf-versions.tsv, from ncs.conf(5) of each
release 6.1-6.7): what a release does not know is reported, so that an edited ncs.conf kept
across an upgrade or a rollback is not handed to an NSO that refuses to start with it."""

from __future__ import annotations

import pytest

from nso_install.conf import NAMESPACE, ConfContext, render_ncs_conf
from nso_install.conf.validate import element_table, release_problems, release_table


def minimal(body: str = "") -> str:
    return (f'<ncs-config xmlns="{NAMESPACE}"><load-path><dir>./packages</dir></load-path>'
            f"<state-dir>./state</state-dir><cdb><db-dir>./ncs-cdb</db-dir></cdb>{body}</ncs-config>")


def test_the_release_table_agrees_with_the_element_table():
    """The element table is ncs.conf(5) of 6.7: what an earlier release dropped is not in it."""
    table, releases = element_table(), release_table()
    assert len(releases) > 100
    assert not [p for p, (_, last) in releases.items() if last is not None and p in table]
    assert releases["/ncs-config/memory-management"] == ((6, 7), None)
    assert releases["/ncs-config/encrypted-strings/DES3CBC"] == (None, (6, 4))
    assert releases["/ncs-config/fips-mode/enabled"] == ((6, 5), None)
    assert releases["/ncs-config/japi/connect-timeout"] == (None, (6, 3))


@pytest.mark.parametrize("body, version, problem, fine_on", [
    ("<memory-management/>", (6, 6, 1), "/ncs-config/memory-management: NSO 6.7 and later only", (6, 7, 1)),
    ("<fips-mode><enabled>true</enabled></fips-mode>", (6, 4, 1), "/ncs-config/fips-mode: NSO 6.5 and later only",
     (6, 5, 3)),
    ("<encrypted-strings><DES3CBC><key1>0123456789abcdef</key1></DES3CBC></encrypted-strings>", (6, 5, 3),
     "/ncs-config/encrypted-strings/DES3CBC: removed after NSO 6.4", (6, 4, 1)),
    ("<japi><connect-timeout>PT60S</connect-timeout></japi>", (6, 4, 1),
     "/ncs-config/japi/connect-timeout: removed after NSO 6.3", (6, 3, 2)),
    ("<ncs-local-ipc><enabled>true</enabled></ncs-local-ipc>", (6, 2, 3),
     "/ncs-config/ncs-local-ipc: NSO 6.3 and later only", (6, 3, 2)),
    ("<logs><upgrade-log><enabled>true</enabled></upgrade-log></logs>", (6, 1), "/ncs-config/logs/upgrade-log: NSO 6.2",
     (6, 2)),
])
def test_an_element_the_release_does_not_know_is_reported(body, version, problem, fine_on):
    [found] = release_problems(minimal(body), version)
    assert found.startswith(problem)
    assert release_problems(minimal(body), fine_on) == []


def test_releases_compare_by_number_and_after_67_dropped_stays_dropped():
    assert release_problems(minimal("<memory-management/>"), (6, 10)) == []
    assert release_problems(minimal("<memory-management/>"), (7, 0)) == []
    assert release_problems(minimal("<cdb><db-dir>x</db-dir><journal-compaction>automatic</journal-compaction></cdb>"),
                            (6, 10)) != []
    assert release_problems("not xml", (6, 5)) == []


@pytest.mark.parametrize("version", ["6.1.1", "6.2.3", "6.3.2", "6.4.1", "6.5.3", "6.6.1", "6.7.1", "6.4.1.2",
                                     "6.5.3_251103.123"])
@pytest.mark.parametrize("profile", ["production", "development"])
@pytest.mark.parametrize("kind", ["system", "local"])
def test_every_rendering_holds_only_elements_of_its_release(version, profile, kind):
    fips = kind == "system" and profile == "production" and version >= "6.5"
    text = render_ncs_conf(ConfContext(kind, profile, version, fips=fips))
    assert release_problems(text, tuple(int(p) for p in version.replace("_", ".").split(".")[:2])) == []
