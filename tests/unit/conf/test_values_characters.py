"""Characters no ncs.conf value may hold, refused as ``bad-value`` naming the variable, before
anything is rendered: bytes of the command line that are not UTF-8 (Python makes them lone
surrogates) and YAML's ``"\\ud800"`` escape made the run fail with a traceback (UnicodeEncodeError
writing ncs.conf); U+FFFE/U+FFFF gave an "invalid ncs.conf" that named no variable and blamed
the templates; C1 control characters (a terminal's CSI, NEL) and bidirectional controls were
written into ncs.conf and shown raw in --diff."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nso_install.conf import ConfContext
from nso_install.conf.render import render_for_install
from nso_install.conf.values import nest
from nso_install.errors import NsoInstallError

CTX = ConfContext("system", "production", "6.5.3")

BAD = {"surrogate": ("a\udcffb", "not UTF-8 text"), "escape": ("a\ud800b", "not UTF-8 text"),
       "fffe": ("a\ufffeb", "XML does not allow"), "ffff": ("a\uffffb", "XML does not allow"),
       "csi": ("a\x9b31mb", "control characters"), "nel": ("a\x85b", "control characters"),
       "rlo": ("/opt/\u202egnp.sh", "bidirectional"), "lri": ("a\u2066b", "bidirectional")}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("values", [lambda s: {"aaa.pam.service": s}, lambda s: {"crypto.command": "/bin/" + s},
                                    lambda s: {"webui.server_name": s},
                                    lambda s: {"cli.ssh.address": "${A:-::1%" + s + "}"},  # a default too
                                    lambda s: {"crypto.mechanism": "inline", "crypto.aescfb128_key": s,
                                               "crypto.aes256cfb128_key": "ab" * 32}])
def test_a_value_with_characters_ncs_conf_cannot_hold_is_a_bad_value(case, values):
    text, why = BAD[case]
    flat = values(text)
    name = [n for n, v in flat.items() if text in v][0]
    with pytest.raises(NsoInstallError) as e:
        render_for_install(CTX, nest(flat))
    assert e.value.reference == "bad-value" and f"variable {name} " in e.value.message, e.value.message
    if name != "crypto.aescfb128_key":
        assert why in e.value.message
    else:  # a secret: which character is wrong, never the key
        assert "<secret>" in e.value.message and text not in e.value.message


def test_bytes_that_are_not_utf8_on_the_command_line_are_refused_without_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nso_install", "render-conf", "--nso-version", "6.5.3",
                        "--root", str(tmp_path), b"--set", b"aaa.pam.service=a\xffb"], capture_output=True,
                       env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert r.returncode == 2, r.stderr
    assert b"aaa.pam.service" in r.stderr and b"not UTF-8 text" in r.stderr and b"unexpected" not in r.stderr
    assert os.listdir(tmp_path) == []


def test_a_yaml_escape_for_a_lone_surrogate_is_refused_without_a_traceback(tmp_path):
    (tmp_path / "v.yaml").write_text('aaa:\n  pam:\n    service: "a\\ud800b"\n')
    root = tmp_path / "root"
    root.mkdir()
    r = subprocess.run([sys.executable, "-m", "nso_install", "render-conf", "--nso-version", "6.5.3",
                        "--root", str(root), "--values", str(tmp_path / "v.yaml")], capture_output=True, text=True)
    assert r.returncode == 2 and "values file" in r.stderr and "not UTF-8 text" in r.stderr, r.stderr
    assert os.listdir(root) == []


@pytest.mark.parametrize("text", ["/opt/ncs/bin/ncs_crypto_keys", "/opt/nsø/ключи", "${NCS_DIR}/bin/keys"])
def test_ordinary_text_non_ascii_included_is_still_taken(text):
    assert b"<command>" + text.encode() + b"</command>" in render_for_install(CTX, nest({"crypto.command": text})).text


# --- types read as NSO reads them ------------------------------------------------------------------

@pytest.mark.parametrize("flat", [{"crypto.command_timeout": "PT\u0663S"},  # Arabic-Indic 3
                                  {"crypto.command_timeout": "PT\uff13\uff10S"},  # fullwidth 30
                                  {"cli.ssh.port": "${P:-\u0662\u0662}"}, {"rollback.history_size": "${H:-\u0663}"},
                                  {"limits.max_sessions": "${M:-\uff11\uff10}"}])
def test_digits_of_other_scripts_are_not_numbers_of_ncs_conf(flat):
    """\\d matched them (int() reads them too); xs:duration and NSO's integers are ASCII digits."""
    with pytest.raises(NsoInstallError) as e:
        render_for_install(CTX, nest(flat))
    assert e.value.reference == "bad-value" and f"variable {next(iter(flat))} " in e.value.message


@pytest.mark.parametrize("address", ["::1%a<b> c", "fe80::1%$(id)", "${A:-fe80::1%x y}", "fe80::1%"])
def test_an_ipv6_zone_is_letters_and_digits(address):
    """ipaddress takes any zone; inet:ipv6-address (RFC 6991) only letters and digits."""
    with pytest.raises(NsoInstallError) as e:
        render_for_install(CTX, nest({"cli.ssh.address": address}))
    assert e.value.reference == "bad-value" and "variable cli.ssh.address " in e.value.message


@pytest.mark.parametrize("flat", [{"cli.ssh.address": "fe80::1%eth0"}, {"cli.ssh.address": "${A:-fe80::1%eth0}"},
                                  {"crypto.command_timeout": "PT30S"}, {"cli.ssh.port": "${P:-2022}"}])
def test_ascii_digits_and_plain_zones_are_still_taken(flat):
    render_for_install(CTX, nest(flat))
