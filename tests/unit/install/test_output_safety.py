"""What the CLI prints never carries a terminal control sequence from the target or the
distribution: file contents in diffs, paths, action details, warnings, notes and error
messages have their control characters escaped by one helper, ``nso_install.cli.printable``
(ESC -> ``\\x1b``; newlines only as the line breaks of a diff; tabs kept).  ``--json`` is
escaped by json.dumps.

Each test fails on the code before ``printable``: the raw ESC/BEL bytes reached stdout or
stderr (click strips only CSI colour codes such as ``ESC[31m`` when not writing to a
terminal, never the OSC title sequence ``ESC]0;...BEL``)."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile

import pytest

from nso_install.cli import printable

from support import cli, staged_root

HOSTILE_TEXT = "\x1b[31mred\x1b]0;title\x07"
SHOWN = "\\x1b[31mred\\x1b]0;title\\x07"
RAW = ("\x1b", "\x07", "\x9b")


def assert_escaped(*outputs: str) -> None:
    for out in outputs:
        for byte in RAW:
            assert byte not in out, repr(out)


# --- the helper -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,shown", [
    (HOSTILE_TEXT, SHOWN),
    ("tab\tkept", "tab\tkept"),
    ("line\nbreak\rreturn", "line\\nbreak\\rreturn"),
    ("back\bspace\x7fdel", "back\\x08space\\x7fdel"),
    ("c1 \x9b31m csi", "c1 \\x9b31m csi"),
    ("bidi \u202eevil\u2066", "bidi \\u202eevil\\u2066"),
    ("sep\u2028arator", "sep\\u2028arator"),
    ("bad byte \udcff", "bad byte \\xff"),  # a file name that is not UTF-8 (surrogateescape)
    ("plain UTF-8: ncs.conf é ✓", "plain UTF-8: ncs.conf é ✓"),
])
def test_printable_escapes_control_characters(text, shown):
    assert printable(text) == shown
    assert printable(shown) == shown  # escaping is stable: no byte it produces needs escaping


# --- diffs of target files ------------------------------------------------------------------

NEW_RENDERING = ("--set", "cli.ssh.port=2222")  # (an edited file is diffed when there is a new rendering to offer)


def _edited_target(tmp_path, sample_dists):
    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "-q")
    conf = root / "etc/ncs/ncs.conf"
    conf.write_text(conf.read_text().replace("</ncs-config>", f"<!-- {HOSTILE_TEXT} -->\n</ncs-config>"))
    return root


@pytest.mark.parametrize("mode", [["--check"], []], ids=["check", "apply"])
def test_diff_of_an_edited_conffile_is_printed_escaped(tmp_path, sample_dists, mode):
    root = _edited_target(tmp_path, sample_dists)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--diff", *mode, *NEW_RENDERING)
    assert_escaped(r.stdout, r.stderr)
    diff_lines = [line for line in r.stdout.splitlines() if SHOWN in line]
    assert diff_lines and diff_lines[0].lstrip().startswith("-")  # still one diff line, escaped
    assert "/etc/ncs/ncs.conf" in r.stdout and "+++" in r.stdout  # the rest of the diff as before


def test_json_diff_stays_escaped_by_json(tmp_path, sample_dists):
    root = _edited_target(tmp_path, sample_dists)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check", "--diff", "--json",
            *NEW_RENDERING)
    assert_escaped(r.stdout)
    out = json.loads(r.stdout)
    assert any(HOSTILE_TEXT in (a.get("diff") or "") for a in out["actions"])  # the data itself is intact


# --- warnings, notes and paths --------------------------------------------------------------

def test_warning_about_the_target_is_printed_escaped(tmp_path, sample_dists):
    """The run-as user's login shell comes from the target's /etc/passwd into a warning."""
    root = staged_root(tmp_path, passwd=f"root:x:0:0:root:/root:/bin/bash\nnso:x:1000:1000::/var/opt/ncs:"
                                        f"/bin/{HOSTILE_TEXT}sh\n", group="root:x:0:\nnso:x:1000:\n")
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso", "--check")
    assert_escaped(r.stdout, r.stderr)
    assert f"login shell /bin/{SHOWN}sh" in r.stderr


def test_distribution_file_name_in_header_and_notes_is_printed_escaped(tmp_path, sample_dists):
    """A signed.bin's file name reaches the plan's header and the note about its signature."""
    dist = tmp_path / f"nso{HOSTILE_TEXT}.signed.bin"
    shutil.copyfile(sample_dists["signed.bin"], dist)
    r = cli("install", dist, "--system-install", "--root", tmp_path / "r", "--check")
    assert_escaped(r.stdout, r.stderr)
    assert f"nso{SHOWN}.signed.bin" in r.stdout
    assert any(line.startswith("note: ") and SHOWN in line for line in r.stdout.splitlines())


def test_file_names_found_on_the_target_are_printed_escaped(tmp_path, sample_dists):
    """A run directory left by an account (NSO's own installer with --run-as-user): the reown
    action lists the entries it takes back, named as the account named them."""
    if os.geteuid() != 0:
        pytest.skip("chown to another account needs root")
    root = staged_root(tmp_path, passwd="root:x:0:0:root:/root:/bin/bash\nnso:x:1000:1000::/var/opt/ncs:"
                                        "/usr/sbin/nologin\n", group="root:x:0:\nnso:x:1000:\n")
    state = root / "var/opt/ncs/state"
    state.mkdir(parents=True)
    planted = state / f"x{HOSTILE_TEXT}y"
    planted.touch()
    for p in (root / "var/opt/ncs", state, planted):
        os.lchown(p, 1000, 1000)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check", "--diff",
            "--no-run-as-user")
    assert_escaped(r.stdout, r.stderr)
    assert f"/var/opt/ncs/state/x{SHOWN}y" in r.stdout


# --- error messages -------------------------------------------------------------------------

@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_error_message_quoting_the_distribution_is_printed_escaped(tmp_path, as_json):
    """The hostile-member message quotes a symlink's target as the archive gives it."""
    archive = tmp_path / "nso-6.5.3.linux.x86_64.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in (("nso-6.5.3", tarfile.DIRTYPE, None),
                                 ("nso-6.5.3/VERSION", tarfile.REGTYPE, b"6.5.3\n"),
                                 ("nso-6.5.3/evil", tarfile.SYMTYPE, None)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.size = kind, 0o755, len(data or b"")
            ti.linkname = f"/{HOSTILE_TEXT}" if kind == tarfile.SYMTYPE else ""
            tf.addfile(ti, io.BytesIO(data) if data else None)
    args = ["install", archive, "--system-install", "--root", tmp_path / "r"] + (["--json"] if as_json else [])
    r = cli(*args, ok=False)
    assert r.exit_code == 1
    assert_escaped(r.stdout, r.stderr)
    assert "hostile" in r.stderr or "refusing" in r.stderr
    assert f"/{SHOWN}" in r.stderr
    if as_json:
        err = json.loads(r.stdout)["error"]
        assert err["reference"] == "hostile-member" and HOSTILE_TEXT in err["message"]


# --- JSON and SARIF: strict Unicode -----------------------------------------------------------

def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _strict(data: bytes) -> object:
    """The document as a strict parser reads it: UTF-8, and no lone surrogate (\\udcff is
    valid JSON syntax, yet no character: serde_json and code-scanning uploads reject it)."""
    doc = json.loads(data.decode("utf-8", errors="strict"))
    bad = [s for s in _strings(doc) if any("\ud800" <= c <= "\udfff" for c in s)]
    assert not bad, bad
    return doc


def test_file_names_that_are_not_utf8_reach_json_and_sarif_as_their_bytes_shown(tmp_path, sample_dists):
    """A file the NSO account (or anyone) named with bytes that are not UTF-8 came out of
    verify --json, audit --json and audit --sarif as lone surrogates ('\\udcff')."""
    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "-q")
    bad = os.path.join(os.fsencode(root), b"etc/ncs/bad\xff.conf")
    with open(bad, "wb") as f:
        f.write(b"x")
    os.chmod(bad, 0o666)
    extra = os.path.join(os.fsencode(root), b"opt/ncs/current/bin/x\xfe")
    open(extra, "wb").close()
    verify = _strict(cli("verify", "--root", root, "--json").stdout_bytes)
    assert "/opt/ncs/ncs-6.5.3/bin/x\\xfe" in verify["extra"], verify["extra"]
    audit = cli("audit", "--root", root, "--json", "--sarif", tmp_path / "a.sarif", ok=False)
    assert audit.exit_code == 1
    found = [s for s in _strings(_strict(audit.stdout_bytes)) if "bad\\xff.conf" in s]
    assert found, "the world-writable file is named in the report"
    sarif = _strict((tmp_path / "a.sarif").read_bytes())
    assert any("bad\\xff.conf" in s for s in _strings(sarif))
