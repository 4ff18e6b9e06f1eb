"""The PAM service of ncs.conf follows the target's /etc/pam.d (Debian-like and RHEL-like staged
roots): picked when only the other family's service exists, warned about when missing, never
configured silently where it is not."""

from __future__ import annotations

import os

import pytest
from support import cli, conf_value, install_json, spec

from nso_install.actions.accounts import PamService, pam_services
from nso_install.facts import Facts
from nso_install.target import Target

SERVICE = "/ncs-config/aaa/pam/service"
DEBIAN = {"common-auth": "auth [success=1 default=ignore] pam_unix.so nullok\n", "common-account": "",
          "other": "@include common-auth\n", "login": "", "sshd": ""}
RHEL = {"system-auth-ac": "auth required pam_unix.so\n", "password-auth": "", "other": "auth required pam_deny.so\n",
        "login": "", "sshd": ""}


def stage(tmp_path, files: dict | None, links: dict | None = None, pam_conf: str | None = None):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if files is not None:
        (root / "etc/pam.d").mkdir()
        for name, text in files.items():
            (root / "etc/pam.d" / name).write_text(text)
        for name, to in (links or {}).items():
            os.symlink(to, root / "etc/pam.d" / name)
    if pam_conf is not None:
        (root / "etc/pam.conf").write_text(pam_conf)
    return root


def debian(tmp_path):
    return stage(tmp_path, DEBIAN)


def rhel(tmp_path):  # authconfig's layout: system-auth is a link to system-auth-ac
    return stage(tmp_path, RHEL, {"system-auth": "system-auth-ac"})


def install(dist, root, *extra):
    return install_json(dist, root, "--system-install", *extra)


def conf(root) -> bytes:
    return (root / "etc/ncs/ncs.conf").read_bytes()


def pam_record(out) -> dict:
    return next(a for a in out["actions"] if a["kind"] == "pam")


def test_debian_like_target_gets_common_auth_and_is_told(tmp_path, sample_dists):
    root = debian(tmp_path)
    out = install(sample_dists["tar.gz"], root)
    assert conf_value(conf(root), SERVICE) == "common-auth"
    assert any("PAM service common-auth in ncs.conf instead of the profile's system-auth" in n for n in out["notes"])
    assert "warning" not in pam_record(out) and pam_record(out)["path"] == "/etc/pam.d/common-auth"
    again = install(sample_dists["tar.gz"], root)
    assert again["changed"] == 0 and not any("PAM service" in n for n in again["notes"])  # said when written


def test_rhel_like_target_keeps_system_auth(tmp_path, sample_dists):
    root = rhel(tmp_path)
    out = install(sample_dists["tar.gz"], root)
    assert conf_value(conf(root), SERVICE) == "system-auth"
    assert not any("PAM" in n for n in out["notes"]) and "warning" not in pam_record(out)


def test_a_local_development_install_on_rhel_gets_system_auth(tmp_path, sample_dists):
    root = rhel(tmp_path)
    install_json(sample_dists["tar.gz"], root, "--local-install", "/home/dev/nso")
    assert conf_value((root / "home/dev/nso/etc/ncs/ncs.conf").read_bytes(), SERVICE) == "system-auth"


def test_a_service_the_operator_set_is_kept_and_warned_about_when_missing(tmp_path, sample_dists):
    root = debian(tmp_path)
    out = install(sample_dists["tar.gz"], root, "--set", "aaa.pam.service=system-auth")
    assert conf_value(conf(root), SERVICE) == "system-auth"
    assert "does not exist on the target (/etc/pam.d/system-auth)" in pam_record(out)["warning"]
    assert any("common-auth on Debian/Ubuntu" in w for w in out["warnings"])
    # every run says it, and it is not a change
    again = install(sample_dists["tar.gz"], root)
    assert again["changed"] == 0 and any("system-auth" in w for w in again["warnings"])
    ok = install(sample_dists["tar.gz"], root, "--set", "aaa.pam.service=login")
    assert conf_value(conf(root), SERVICE) == "login" and not ok["warnings"]


def test_neither_family_service_keeps_the_default_and_warns(tmp_path, sample_dists):
    root = stage(tmp_path, {"other": "", "login": ""})
    out = install(sample_dists["tar.gz"], root)
    assert conf_value(conf(root), SERVICE) == "system-auth"
    assert "does not exist on the target" in pam_record(out)["warning"]


def test_a_target_without_pam_d_is_warned_about(tmp_path, sample_dists):
    root = stage(tmp_path, None)
    out = install(sample_dists["tar.gz"], root)
    assert conf_value(conf(root), SERVICE) == "system-auth"
    assert "cannot be checked: the target has no /etc/pam.d" in pam_record(out)["warning"]
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "warning: PAM service system-auth" in r.stderr


def test_pam_conf_is_read_when_there_is_no_pam_d(tmp_path):
    root = stage(tmp_path, None, pam_conf="# services\ncommon-auth auth required pam_unix.so\n\nlogin auth x\n")
    assert pam_services(Facts(Target.at(root))) == frozenset({"common-auth", "login"})
    assert pam_services(Facts(Target.at(debian(tmp_path / "d")))) == frozenset(DEBIAN)
    assert "system-auth" in pam_services(Facts(Target.at(rhel(tmp_path / "r"))))
    assert pam_services(Facts(Target.at(stage(tmp_path / "n", None)))) is None


@pytest.mark.parametrize("service, warned", [("common-auth", False), ("system-auth", True), ("../shadow", True),
                                             ("${NCS_PAM:-login}", False)])
def test_the_pam_check_never_changes_anything(tmp_path, service, warned):
    root = debian(tmp_path)
    o = PamService(service).check(Facts(Target.at(root)), None)
    assert not o.changed and bool(o.warning) == warned


def test_render_conf_shows_the_same_choice(tmp_path):
    root = debian(tmp_path)
    r = cli("render-conf", "--system-install", "--nso-version", "6.5.3", "--root", root)
    assert conf_value(r.stdout_bytes, SERVICE) == "common-auth"
    assert spec().values == ()  # the choice is not an operator value: nothing is recorded for it
