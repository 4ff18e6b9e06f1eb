"""Values files read safely (nso_install.conf.values): no YAML anchors/aliases (alias bombs), a
size limit checked before parsing, a nesting limit, conversion errors as ``bad-values-file``
(never "internal-error" or a traceback), YAML read without YAML 1.1's surprises (``yes`` is
not true, ``022`` is not 18), and parse errors that name file, line and column but quote
nothing from the file (which may hold inline keys).

Before these fixes: the 516-byte alias bomb below used > 2.5 GB; deep nesting, a 4300-digit
integer (file or --set) and a dotted TOML key of thousands of parts ended as internal-error
(RecursionError/ValueError) or took minutes; ``port: 022`` was 18 and ``enabled: yes`` True;
a syntax error echoed the offending line, inline key included."""

from __future__ import annotations

import json
import os
import time
import tomllib
import tracemalloc

import pytest

from nso_install.conf import ConfContext, effective_values, load_values
from nso_install.conf import values as valuesmod
from nso_install.conf.values import MAX_NESTING, MAX_VALUES_FILE, read_values
from nso_install.errors import NsoInstallError

from support import cli

KEY = "0123456789abcdef0123456789abcdeX"  # the inline key that must never be echoed
CTX = ConfContext("system", "production", "6.5.3")


def refused(path, reference="bad-values-file") -> NsoInstallError:
    with pytest.raises(NsoInstallError) as exc:
        read_values([path])
    assert exc.value.reference == reference, exc.value
    assert str(path) in exc.value.message and exc.value.hint
    return exc.value


def render_conf(tmp_path, *args):
    """``nso-install render-conf`` for NSO 6.5.3 against an empty staging root."""
    return cli("render-conf", "--nso-version", "6.5.3", "--root", tmp_path / "root", *args, ok=False)


# --- alias bombs, size, nesting -------------------------------------------------------------

# A "billion laughs" in one value: 9**9 strings once expanded, by repr() in a bad-value message
# or by anything else that walks it.
BOMB = ('cli:\n  ssh:\n    port: [&a [lol,lol,lol,lol,lol,lol,lol,lol,lol],\n'
        + "".join(f"      &{b} [{','.join(['*' + a] * 9)}],\n" for a, b in zip("abcdefg", "bcdefgh"))
        + "      [*h,*h,*h,*h,*h,*h,*h,*h,*h]]\n")


def test_alias_bomb_refused_without_expanding_it(tmp_path):
    """Before: read fine, then effective_values' bad-value message repr()'d it (> 2.5 GB)."""
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB)
    assert len(BOMB) < 600
    tracemalloc.start()
    try:
        err = refused(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert "anchors and aliases" in err.message and "line 3, column 12" in err.message


@pytest.mark.parametrize("text", ["base: &b {enabled: true}\ncli:\n  ssh: *b\n",  # an alias
                                  "cli:\n  ssh: &s\n    enabled: true\n",  # an anchor alone
                                  "cli:\n  ssh:\n    <<: *s\n"])  # a merge of an undefined alias
def test_every_anchor_and_alias_is_refused(tmp_path, text):
    f = tmp_path / "v.yaml"
    f.write_text(text)
    assert "anchors and aliases" in refused(f).message


def test_size_limit_is_checked_before_parsing(tmp_path, monkeypatch):
    f = tmp_path / "big.yaml"
    f.write_text("cli:\n  ssh:\n    enabled: true\n" + "#" * MAX_VALUES_FILE + "\n")  # valid YAML, too big

    def parse(*a, **kw):
        raise AssertionError("parsed a file over the size limit")
    monkeypatch.setattr(valuesmod, "values_loader", lambda: parse)  # the YAML loader (yaml is imported lazily)
    monkeypatch.setattr(tomllib, "loads", parse)
    assert f"larger than {MAX_VALUES_FILE >> 10} KiB" in refused(f).message
    g = tmp_path / "big.toml"
    os.rename(f, g)
    refused(g)


def test_endless_values_file_is_read_only_up_to_the_limit(tmp_path):
    """click accepts any existing non-directory path: /dev/zero must not be read without end."""
    f = tmp_path / "zero.yaml"
    f.symlink_to("/dev/zero")
    assert "larger than" in refused(f).message


def _nested_yaml(levels):
    return "".join("  " * i + f"k{i}:\n" for i in range(levels - 1)) + "  " * (levels - 1) + "k: 1\n"


@pytest.mark.parametrize("name,text", [
    ("block.yaml", _nested_yaml(MAX_NESTING + 1)),
    ("flow.yaml", "a: " + "[" * 5000 + "]" * 5000),
    ("flowmap.yaml", "a: " + "{b: " * 5000 + "1" + "}" * 5000),
    ("inline.toml", "a = " + "{b = " * 3000 + "1" + "}" * 3000),
    ("array.toml", "a = " + "[" * 3000 + "]" * 3000),
    ("tables.toml", "[" + ".".join(["t"] * 3000) + "]\nx = 1\n"),
    ("dotted.toml", "x = 1\n" + ".".join(["k"] * (MAX_NESTING + 1)) + " = 1\n"),
    ("quoted.toml", ".".join(['"k"'] * 3000) + " = 1\n"),
    ("nested.toml", "a = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n"),
])
def test_deep_nesting_refused(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    err = refused(f)
    assert str(MAX_NESTING) in err.message


def test_nesting_up_to_the_limit_is_fine_and_counted_from_the_top(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(_nested_yaml(MAX_NESTING))
    assert refused(f, "unknown-variable")  # read fine; only the name is unknown


def test_long_dotted_toml_key_is_refused_quickly(tmp_path):
    """tomllib needs time quadratic in a dotted key's parts: minutes for a file under the size
    limit.  The key is refused before tomllib sees it."""
    f = tmp_path / "dotted.toml"
    f.write_text("x." * (MAX_VALUES_FILE // 2 - 8) + "y = 1\n")
    start = time.monotonic()
    assert "dotted key" in refused(f).message
    assert time.monotonic() - start < 5


def test_dots_inside_strings_and_comments_are_not_keys(tmp_path):
    f = tmp_path / "v.toml"
    dots = ".".join(["x"] * 40)
    f.write_text(f'# {dots}\naaa.pam.service = "{dots}"\n[webui]\nserver_name = """\n{dots}\n"""\n'
                 f"\"cgi\" = false # {dots}\n")
    got = read_values([f])
    assert got["aaa.pam.service"][0] == dots and got["webui.cgi"][0] is False


@pytest.mark.parametrize("name,text", [
    ("int.yaml", "cli:\n  ssh:\n    port: 1" + "1" * 4400 + "\n"),
    ("tagged.yaml", "cli:\n  ssh:\n    port: !!int 1" + "1" * 4400 + "\n"),
    ("int.toml", "[cli.ssh]\nport = 1" + "1" * 4400 + "\n"),
])
def test_huge_integers_are_usage_errors(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(NsoInstallError) as exc:
        effective_values(CTX, load_values([f]))
    assert exc.value.reference in ("bad-values-file", "bad-value")
    assert len(exc.value.message) < 500  # the value is shown cut short, if at all


def test_huge_integer_in_set_is_a_bad_value():
    with pytest.raises(NsoInstallError) as exc:
        effective_values(CTX, load_values(sets=["cli.ssh.port=" + "1" * 5000]))
    assert exc.value.reference == "bad-value" and len(exc.value.message) < 500


HOSTILE_FILES = {
    "bomb.yaml": BOMB,
    "deep.yaml": "a: " + "[" * 5000,
    "deep.toml": "a = " + "{b = " * 3000 + "1" + "}" * 3000,
    "dotted.toml": "x." * 5000 + "y = 1\n",
    "int.yaml": "cli:\n  ssh:\n    port: " + "9" * 4400 + "\n",
    "int.toml": "cli.ssh.port = " + "9" * 4400 + "\n",
    "list.yaml": "cli:\n  ssh:\n    port: " + "[" * 15 + "1" + "]" * 15 + "\n",
    "long.yaml": "ipc:\n  address: " + "x" * 200_000 + "\n",
    "tag.yaml": "cli: !!python/object/apply:os.system ['true']\n",
    "binary.yaml": "cli:\n  ssh:\n    port: !!binary AAAA\n",
    "date.toml": "cli.ssh.port = 1979-05-27T07:32:00Z\n",
    "nan.toml": "cli.ssh.port = nan\n",
    "notutf8.yaml": b"cli:\n  ssh:\n    enabled: \xff\n",
    "control.yaml": "aaa:\n  pam:\n    service: \"a\x01\"\n",
    "twodocs.yaml": "a: 1\n---\nb: 2\n",
    "keylist.yaml": "? [a, b]\n: 1\n",
    "toplist.toml": "a = [1]\n[[a]]\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_no_values_file_produces_an_internal_error(tmp_path, name):
    f = tmp_path / name
    content = HOSTILE_FILES[name]
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = render_conf(tmp_path, "--values", f)
    assert r.exit_code == 2, r.output + r.stderr
    assert "internal-error" not in r.stderr and "This is a bug" not in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr) < 1000


# --- YAML without YAML 1.1's surprises ------------------------------------------------------

def test_yaml_octal_and_yes_are_not_numbers_and_booleans(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("cli:\n  ssh:\n    port: 022\n    enabled: true\n")
    got = read_values([f])
    assert got["cli.ssh.port"][0] == "022"  # text, read as the decimal port 22 (like --set), not 18
    assert effective_values(CTX, load_values([f]))["cli"]["ssh"]["port"] == 22
    for word in ("yes", "no", "on", "off", "y", "Yes", "ON"):
        f.write_text(f"cli:\n  ssh:\n    enabled: {word}\n")
        assert read_values([f])["cli.ssh.enabled"][0] == word
        with pytest.raises(NsoInstallError) as exc:
            effective_values(CTX, load_values([f]))
        assert exc.value.reference == "bad-value" and "cli.ssh.enabled" in exc.value.message
        assert "boolean" in exc.value.message


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("False", False), ("TRUE", True), ("2024", 2024), ("-1", -1), ("0", 0), ("~", None),
    ("null", None), ("", None), ("0x10", "0x10"), ("0o17", "0o17"), ("1_000", "1_000"), ("1:30", "1:30"),
    ("1.5", "1.5"), ("1e3", "1e3"), (".inf", ".inf"), ("2024-01-01", "2024-01-01"), ("'022'", "022"),
    ("12345678901234567890123456789012", "12345678901234567890123456789012"),  # an all-digit hex key stays text
    ("01234567890123456789012345678901", "01234567890123456789012345678901"),
])
def test_yaml_scalars_resolve_only_to_null_true_false_and_decimal_integers(tmp_path, text, expected):
    f = tmp_path / "v.yaml"
    f.write_text(f"aaa:\n  pam:\n    service: {text}\n")
    got = read_values([f])["aaa.pam.service"][0]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("text", ["!!bool yes", "!!int 0x10", "!!int 022x", "!!float 1.5", "!!timestamp 2024-01-01",
                                  "!!set {a}", "!!python/name:os.system", "!custom x"])
def test_yaml_tags_follow_the_same_rules(tmp_path, text):
    f = tmp_path / "v.yaml"
    f.write_text(f"cli:\n  ssh:\n    port: {text}\n")
    assert "line 3" in refused(f).message


def test_explicit_int_tag_is_decimal(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("cli:\n  ssh:\n    port: !!int 022\n    enabled: !!bool TRUE\n")
    assert read_values([f]) == {"cli.ssh.port": (22, f"values file {f}"), "cli.ssh.enabled": (True, f"values file {f}")}


# --- parse errors quote nothing from the file -----------------------------------------------

SYNTAX_ERRORS = {
    "block.yaml": (f"crypto:\n  aescfb128_key: {KEY}\n  : bad\n", "line 3, column 3"),
    "indent.yaml": (f"crypto:\n  aescfb128_key: {KEY}\n bad: x\n", "line 3"),
    "quote.yaml": (f"crypto:\n  aescfb128_key: \"{KEY}\n", "line 3"),
    "tab.yaml": (f"crypto:\n\taescfb128_key: {KEY}\n", "line 2, column 1"),
    "control.yaml": (f"crypto:\n  aescfb128_key: \"{KEY}\x01\"\n", "line 2"),
    "escape.yaml": (f"crypto:\n  aescfb128_key: \"\\q{KEY}\"\n", "line 2"),
    "tag.yaml": (f"crypto:\n  aescfb128_key: !{KEY} x\n", "line 2"),
    "anchor.yaml": (f"crypto:\n  aescfb128_key: &{KEY} x\n", "line 2"),
    "bare.toml": (f"[crypto]\naescfb128_key = {KEY}\n", "line 2"),
    "unterminated.toml": (f'[crypto]\naescfb128_key = "{KEY}\nx = 1\n', "line 2"),
    "control.toml": (f'[crypto]\naescfb128_key = "{KEY}\x1b"\n', "line 2"),
    "noequals.toml": (f'[crypto]\naescfb128_key "{KEY}"\n', "line 2"),
    "twice.toml": (f'[crypto]\naescfb128_key = "{KEY}"\n[crypto]\n', "line 3"),
    "key.toml": (f'[crypto]\n{KEY} "x"\n', "line 2"),
    "notutf8.yaml": (f"crypto:\n  aescfb128_key: {KEY}\xff\n".encode("latin-1"), "line 2"),
}


@pytest.mark.parametrize("name", sorted(SYNTAX_ERRORS))
def test_syntax_errors_name_the_place_but_quote_no_text_of_the_file(tmp_path, sample_dists, name):
    content, where = SYNTAX_ERRORS[name]
    f = tmp_path / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    err = refused(f)
    assert where in err.message
    assert KEY not in str(err) and KEY[:8] not in str(err) and KEY[-8:] not in str(err)
    install = ["install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "root", "--check"]
    for args in (["render-conf", "--nso-version", "6.5.3", "--root", tmp_path / "root"], install,
                 install + ["--json"]):
        r = cli(*args, "--values", f, ok=False)
        assert r.exit_code == 2 and f"Error: values file {f}, {where}" in r.stderr
        everything = r.stdout + r.stderr
        assert KEY[:8] not in everything and KEY[-8:] not in everything
        if "--json" in args:
            e = json.loads(r.stdout)["error"]
            assert e["reference"] == "bad-values-file" and where in e["message"]


def test_a_key_run_into_its_value_is_cut_in_the_message(tmp_path):
    """A missing colon makes 'aescfb128_key KEY' one (unknown) name: it is shown only up to the
    first character no variable name has."""
    f = tmp_path / "v.yaml"
    f.write_text(f"crypto:\n  aescfb128_key {KEY}: x\n")
    err = refused(f, "unknown-variable")
    assert "crypto.aescfb128_key..." in err.message and KEY[:8] not in str(err)
    assert "crypto.aescfb128_key" in err.hint  # the near match still helps
