"""The unit's environment: with --run-as-user, ExecStart=!setpriv runs as full root (not
setuid, so glibc strips nothing), and a drop-in may add EnvironmentFile=ncs.systemd.conf (the
NSO account's file; NSO's docs say the unit takes its environment from it). UnsetEnvironment=
(applied last by systemd, after every EnvironmentFile=) keeps what glibc drops for setuid
programs away from that root part: LD_PRELOAD in the account's file must not make it root."""

from __future__ import annotations

import re
import shlex

import pytest

from nso_install.systools import system_tool
from nso_install.unit import UNSET_ENV

from support import host_accounts_root, install_json

# glibc's UNSECURE_ENVVARS (sysdeps/generic/unsecvars.h, master of January 2026), and the names
# releases still in use honour that it dropped since (LD_HWCAP_MASK 2.40, LD_USE_LOAD_BIAS 2.36)
GLIBC_UNSECURE = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LD_AUDIT", "LD_BIND_NOT", "LD_BIND_NOW",
    "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_DYNAMIC_WEAK", "LD_LIBRARY_PATH", "LD_ORIGIN_PATH", "LD_PRELOAD",
    "LD_PROFILE", "LD_PROFILE_OUTPUT", "LD_SHOW_AUXV", "LD_VERBOSE", "LD_WARN", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_PERTURB_",
    "MALLOC_TOP_PAD_", "MALLOC_TRACE", "MALLOC_TRIM_THRESHOLD_", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF",
    "RES_OPTIONS", "TMPDIR", "TZDIR", "LD_HWCAP_MASK", "LD_USE_LOAD_BIAS",
}


def _service(unit: str) -> list[tuple[str, str]]:
    """(key, value) of the [Service] section, in order."""
    out, section = [], None
    for line in unit.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.append((key, value))
    return out


def _unset(unit: str) -> set[str]:
    return {n for k, v in _service(unit) if k == "UnsetEnvironment" for n in v.split()}


def _install(tmp_path, sample_dists, *args):
    root = host_accounts_root(tmp_path / "r")
    install_json(sample_dists["tar.gz"], root, "--system-install", *args)
    return root, (root / "etc/systemd/system/ncs.service").read_text()


def test_the_root_part_of_the_start_gets_nothing_glibc_drops_for_setuid_programs(tmp_path, sample_dists):
    root, unit = _install(tmp_path, sample_dists, "--run-as-user", "nso")
    assert re.search(r"^ExecStart=!/usr/bin/setpriv ", unit, re.M)  # the root part this is about
    assert GLIBC_UNSECURE <= _unset(unit) and set(UNSET_ENV) == _unset(unit)
    # nothing the unit sets itself is taken away again (UnsetEnvironment= also undoes Environment=)
    given = {item.partition("=")[0] for k, v in _service(unit) if k == "Environment" for item in shlex.split(v)}
    assert "PATH" in given and "NCS_DIR" in given and not given & _unset(unit)
    # nor anything the start script sets or takes from ncs.systemd.conf (TZ stays NSO's setting)
    start = (root / "opt/ncs/ncs-service-start").read_text()
    assert not {n for n in _unset(unit) if re.search(rf"\b{n}=|export [^\n]*\b{n}\b|\|{n}\)", start)}


def test_a_unit_running_nso_as_root_leaves_the_environment_to_the_administrator(tmp_path, sample_dists):
    # everything runs as root and ncs.systemd.conf is root's: nobody else can feed the environment
    root, unit = _install(tmp_path, sample_dists)
    assert "User=" not in unit and "!" not in unit.split("ExecStart=", 1)[1].split("\n", 1)[0]
    assert _unset(unit) == set()
    assert (root / "etc/ncs/ncs.systemd.conf").stat().st_uid == 0


@pytest.mark.skipif(system_tool("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_takes_every_setting_of_the_unit(tmp_path, sample_dists):
    import subprocess

    root, unit = _install(tmp_path, sample_dists, "--run-as-user", "nso")
    assert "UnsetEnvironment=" in unit
    r = subprocess.run([str(system_tool("systemd-analyze")), "security", "--no-pager", "--offline=true",
                        f"--root={root}", "ncs.service"], capture_output=True, text=True, timeout=60)
    assert "Overall exposure level" in r.stdout + r.stderr
    assert not [line for line in r.stderr.splitlines() if "ncs.service" in line], r.stderr
