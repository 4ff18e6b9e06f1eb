"""``nso-install keys rotate``: a new generation of NSO's crypto keys, end to end through the
CLI on real installs staged under --root.

Legacy keys become generation -1 (byte for byte) and generation 0 is new; later rotations add
max + 1 and keep every older generation; owner and mode are kept; a re-run while the added
generation waits to be applied adds nothing (--new does, --applied records it); --check writes
nothing; no key material in any output, JSON, state or history; refusals (NSO < 6.4, no
install, missing file, inline keys, a planted link, a hard link, a damaged file, the lock)
leave the file alone and say why."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from support import cli, install_json, public_tmp_dir, snapshot, staged_root

from nso_install.actions.keys import check_crypto_keys
from nso_install.lifecycle.installation import look
from nso_install.lifecycle.keys import KeysFileError, nso_steps, parse_keys
from nso_install.sample import make_sample_distribution
from nso_install.state import locked

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (owners, useradd --prefix)")

KEYS = "etc/ncs/ncs.crypto_keys"
STATE = "var/lib/nso-install/state.json"
HISTORY = "var/lib/nso-install/history.jsonl"
LINE = re.compile(r"^([A-Z0-9_]+)(?:\[(-?\d+)\])?=([0-9a-f]+)$")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    d = tmp_path_factory.mktemp("keydists")
    return {v: make_sample_distribution(d, v, "tar.gz") for v in ("6.3.1", "6.4.1")}


def _install(dist, root, *extra):
    if not root.exists():
        root.mkdir(parents=True)
    os.chmod(root, 0o700)
    cli("install", dist, "--system-install", "--root", root, *extra)
    return root


@pytest.fixture
def root65(tmp_path, sample_dists):
    return _install(sample_dists["tar.gz"], tmp_path / "r")


def rotate(root, *extra, ok=True):
    return cli("keys", "rotate", "--root", root, *extra, ok=ok)


def rotate_json(root, *extra) -> dict:
    r = rotate(root, "--json", *extra)
    return json.loads(r.stdout)


FRAGMENT = 16  # hex digits of a key that must never appear in output


def keys_of(data: bytes) -> dict[tuple[str, int | None], str]:
    """(name, generation or None for legacy) -> value."""
    out = {}
    for line in data.decode().splitlines():
        m = LINE.match(line)
        if m and m.group(1) != "EXTERNAL_KEY_FORMAT":
            name, gen, value = m.groups()
            out[(name, None if gen is None else int(gen))] = value
    return out


def attrs(p: Path):
    st = os.lstat(p)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def gid_of(root: Path, name: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        if line.split(":")[0] == name:
            return int(line.split(":")[2])
    raise KeyError(name)


# --- the first rotation: legacy -> format 2 ----------------------------------------------------

def test_legacy_keys_become_generation_minus_one_and_generation_0_is_new(root65):
    before = (root65 / KEYS).read_bytes()
    legacy = keys_of(before)
    assert set(legacy) == {("AESCFB128_KEY", None), ("AES256CFB128_KEY", None)}
    mode = attrs(root65 / KEYS)
    out = rotate_json(root65)
    assert out["result"] == "keys-rotate" and out["version"] == 1
    assert out["file"] == "/etc/ncs/ncs.crypto_keys" and out["generation"] == 0
    assert out["changed"] is True and out["converted_legacy"] is True and out["steps"]
    data = (root65 / KEYS).read_bytes()
    assert data.decode().splitlines()[0] == "EXTERNAL_KEY_FORMAT=2"
    got = keys_of(data)
    # the legacy keys, byte for byte, as generation -1
    for (name, _), value in legacy.items():
        assert got[(name, -1)] == value
        assert f"{name}[-1]={value}".encode() in data
    # a new generation 0 with fresh keys of the right lengths; no DES3 on 6.5
    assert set(got) == {("AESCFB128_KEY", -1), ("AES256CFB128_KEY", -1), ("AESCFB128_KEY", 0),
                        ("AES256CFB128_KEY", 0)}
    assert len(got[("AESCFB128_KEY", 0)]) == 32 and len(got[("AES256CFB128_KEY", 0)]) == 64
    assert got[("AESCFB128_KEY", 0)] != got[("AESCFB128_KEY", -1)]
    assert got[("AES256CFB128_KEY", 0)] != got[("AES256CFB128_KEY", -1)]
    assert check_crypto_keys(data, "6.5.3") is None
    assert attrs(root65 / KEYS) == mode == (0o600, os.geteuid(), os.getegid())
    assert not [n for n in os.listdir(root65 / "etc/ncs") if n.startswith(".nso-install-tmp")]
    state = json.loads((root65 / STATE).read_text())
    assert state["keys"]["pending_generation"] == 0
    history = [json.loads(line) for line in (root65 / HISTORY).read_text().splitlines()]
    assert history[-1]["command"] == "keys rotate" and history[-1]["generation"] == 0


def test_nso_64_keeps_des3_keys_in_the_new_generation(tmp_path, dists):
    root = _install(dists["6.4.1"], tmp_path / "r")
    legacy = keys_of((root / KEYS).read_bytes())
    assert ("DES3CBC_KEY1", None) in legacy
    assert rotate_json(root)["generation"] == 0
    data = (root / KEYS).read_bytes()
    got = keys_of(data)
    for (name, _), value in legacy.items():
        assert got[(name, -1)] == value
    for n in ("DES3CBC_KEY1", "DES3CBC_KEY2", "DES3CBC_KEY3"):
        assert len(got[(n, 0)]) == 16
    assert check_crypto_keys(data, "6.4.1") is None


def test_a_changed_mode_is_kept(root65):
    os.chmod(root65 / KEYS, 0o640)
    rotate(root65)
    assert attrs(root65 / KEYS)[0] == 0o640


@needs_root
def test_run_as_user_owner_and_mode_kept(tmp_path, sample_dists):
    root = staged_root(tmp_path)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso")
    nso = gid_of(root, "nso")
    assert attrs(root / KEYS) == (0o440, 0, nso)
    out = rotate_json(root)
    assert out["changed"] and out["mode"] == "0440" and out["owner"] == "root:nso"
    assert attrs(root / KEYS) == (0o440, 0, nso)
    assert check_crypto_keys((root / KEYS).read_bytes(), "6.5.3") is None
    r = rotate(root, "--new")
    assert "0440 root:nso" in r.stdout
    assert attrs(root / KEYS) == (0o440, 0, nso)


# --- idempotence: pending, --new, --applied ---------------------------------------------------

def test_second_run_adds_nothing_new_adds_the_next_generation_applied_records_it(root65):
    rotate(root65)
    first = (root65 / KEYS).read_bytes()
    gen0 = keys_of(first)
    r = rotate(root65)
    assert r.exit_code == 0
    assert "generation 0 was added on" in r.stdout and "waiting to be applied" in r.stdout
    assert "key-rotation apply-new-keys new-key-generation 0" in r.stdout  # the steps again
    assert (root65 / KEYS).read_bytes() == first
    out = rotate_json(root65)
    assert out["changed"] is False and out["generation"] == 0 and out["status"] == "pending"
    assert out["steps"] and out["added"]
    assert (root65 / KEYS).read_bytes() == first

    out = rotate_json(root65, "--new")
    assert out["changed"] is True and out["generation"] == 1 and out["converted_legacy"] is False
    second = keys_of((root65 / KEYS).read_bytes())
    assert {k: v for k, v in second.items() if k[1] in (-1, 0)} == gen0  # -1 and 0 kept as they were
    assert {g for _, g in second} == {-1, 0, 1}
    assert check_crypto_keys((root65 / KEYS).read_bytes(), "6.5.3") is None
    assert (root65 / KEYS).read_text().splitlines()[0] == "EXTERNAL_KEY_FORMAT=2"
    assert (root65 / KEYS).read_text().count("EXTERNAL_KEY_FORMAT=2") == 1

    before = (root65 / KEYS).read_bytes()
    out = rotate_json(root65, "--applied")
    assert out["changed"] is True and out["generation"] == 1 and out["status"] == "applied"
    assert (root65 / KEYS).read_bytes() == before  # --applied changes nothing else
    rec = json.loads((root65 / STATE).read_text())["keys"]
    assert rec["applied_generation"] == 1 and "pending_generation" not in rec
    out = rotate_json(root65, "--applied")
    assert out["changed"] is False and out["status"] == "already-applied"
    history = [json.loads(line) for line in (root65 / HISTORY).read_text().splitlines()]
    assert [h.get("command") for h in history[-3:]] == ["keys rotate", "keys rotate", "keys rotate --applied"]

    # after --applied, the next rotation is a new one: generation 2, everything else kept
    assert rotate_json(root65)["generation"] == 2
    third = keys_of((root65 / KEYS).read_bytes())
    assert {k: v for k, v in third.items() if k[1] != 2} == second


def test_applied_without_a_pending_generation_is_refused(root65):
    r = rotate(root65, "--applied", "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "no-pending-generation"
    r = rotate(root65, "--applied", "--new", ok=False)
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_a_file_changed_behind_our_back_gets_a_new_generation(root65):
    """The pending generation is no longer the newest (the file was replaced by a format-2 file
    holding generations -1..3): a rotation adds 4 and says why."""
    rotate(root65)
    lines = ["EXTERNAL_KEY_FORMAT=2"] + [f"AESCFB128_KEY[{g}]={'%02x' % (g + 1) * 16}\n"
                                         f"AES256CFB128_KEY[{g}]={'%02x' % (g + 11) * 32}" for g in range(-1, 4)]
    (root65 / KEYS).write_text("\n".join(lines) + "\n")
    out = rotate_json(root65)
    assert out["generation"] == 4 and out["changed"]
    assert any("no longer" in n or "not the newest" in n for n in out["notes"])


# --- --check ------------------------------------------------------------------------------------

def test_check_writes_nothing(root65):
    snap = snapshot(root65)
    r = rotate(root65, "--check")
    assert "Would add key generation 0" in r.stdout and "generation -1" in r.stdout
    assert "/etc/ncs/ncs.crypto_keys" in r.stdout
    out = rotate_json(root65, "--check")
    assert out["generation"] == 0 and out["changed"] is True and out["converted_legacy"] is True
    assert out["check"] is True and out["steps"]
    rotate(root65, "--check", "--new")
    assert snapshot(root65) == snap
    rotate(root65)
    snap = snapshot(root65)
    out = rotate_json(root65, "--check")
    assert out["changed"] is False and out["status"] == "pending"
    out = rotate_json(root65, "--check", "--new")
    assert out["generation"] == 1 and out["changed"] is True
    out = rotate_json(root65, "--check", "--applied")
    assert out["generation"] == 0 and out["status"] == "would-apply"
    assert snapshot(root65) == snap


# --- never printed ------------------------------------------------------------------------------

def test_no_key_material_in_any_output_state_or_history(root65):
    legacy = list(keys_of((root65 / KEYS).read_bytes()).values())
    outputs = []
    for extra in (["--check", "-v"], ["--check", "--json"], ["-v"], ["--json"], ["-v"], ["--json", "--new"],
                  ["--new", "-vv"], ["--applied", "--check", "--json"], ["--applied", "-v"], ["--applied", "--json"],
                  ["--json", "-v"]):
        r = rotate(root65, *extra)
        outputs.append(r.stdout + r.stderr)
    (root65 / KEYS).write_text((root65 / KEYS).read_text() + "AESCFB128_KEY[9]=abcdef\n")  # broken: an error
    r = rotate(root65, "--json", "-v", ok=False)
    assert r.exit_code != 0 and "bad-crypto-keys" in r.stdout
    outputs.append(r.stdout + r.stderr)
    text = "\n".join(outputs)
    text += (root65 / STATE).read_text() + (root65 / HISTORY).read_text()
    values = legacy + list(keys_of((root65 / KEYS).read_bytes()).values())
    assert len(values) >= 8
    # 16 hex digits (64 bits) per fragment: the state holds dozens of SHA-256 digests, and a 6-digit
    # window of a random key turned up inside one of them in about one run in twelve.
    text = text.replace("abcdef", "")
    for value in values:
        width = min(FRAGMENT, len(value))
        for i in range(0, len(value) - width + 1):
            assert value[i:i + width] not in text, "a fragment of a key was printed"
    assert "AES256CFB128_KEY" in text  # names may be shown


# --- refusals -------------------------------------------------------------------------------------

def test_nso_before_64_is_refused(tmp_path, dists):
    root = _install(dists["6.3.1"], tmp_path / "r")
    before = (root / KEYS).read_bytes()
    r = rotate(root, "--json", ok=False)
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["reference"] == "rotation-needs-nso-6.4" and "6.3.1" in err["message"] and err["hint"]
    # (the commands hints name are aimed at the staged install: bare, they act on the host's)
    assert f"install DIST --system-install --activate --root {root})" in err["hint"], err
    assert (root / KEYS).read_bytes() == before


def test_no_install_is_refused(tmp_path):
    root = tmp_path / "empty"
    root.mkdir(mode=0o700)
    r = rotate(root, "--json", ok=False)
    err = json.loads(r.stdout)["error"]
    assert r.exit_code == 2 and err["reference"] == "no-nso-installed"
    assert f"(nso-install install DIST --system-install --root {root})" in err["hint"], err
    assert os.listdir(root) == []


def test_an_install_dir_that_is_not_the_recorded_one_is_refused_not_sent_to_install_nso_there(root65):
    """keys rotate --install-dir /opt/nsc (a typo; the install is in /opt/ncs) said no NSO is
    installed there, and to install NSO first with --install-dir /opt/nsc."""
    snap = snapshot(root65)
    for check in (("--check",), ()):
        r = rotate(root65, "--install-dir", "/opt/nsc", "--json", *check, ok=False)
        err = json.loads(r.stdout)["error"]
        assert (r.exit_code, err["reference"]) == (2, "not-the-recorded-install-dir"), err
        assert "the install's recorded INSTALL_DIR, /opt/ncs" in err["message"] and "install DIST" not in err["hint"]
    assert snapshot(root65) == snap
    assert rotate_json(root65, "--install-dir", "/opt/ncs/", "--check")["status"] == "would-add"


def test_missing_keys_file_is_refused(root65):
    os.unlink(root65 / KEYS)
    snap = snapshot(root65)
    r = rotate(root65, ok=False)
    assert r.exit_code == 1 and "/etc/ncs/ncs.crypto_keys does not exist" in r.stderr and "Hint:" in r.stderr
    assert f"nso-install install DIST --system-install --root {root65} generates it" in r.stderr, r.stderr
    assert snapshot(root65) == snap


def test_inline_keys_are_refused(tmp_path, sample_dists):
    (tmp_path / "k16").write_text("ab" * 16 + "\n")
    (tmp_path / "k32").write_text("cd" * 32 + "\n")
    root = _install(sample_dists["tar.gz"], tmp_path / "r", "--set", "crypto.mechanism=inline",
                    "--set-file", f"crypto.aescfb128_key={tmp_path / 'k16'}",
                    "--set-file", f"crypto.aes256cfb128_key={tmp_path / 'k32'}")
    snap = snapshot(root)
    r = rotate(root, "--json", ok=False)
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["reference"] == "inline-crypto-keys" and "crypto.mechanism=external" in err["hint"]
    assert f"--set crypto.mechanism=external --root {root})" in err["hint"], err
    assert snapshot(root) == snap


def test_keys_read_from_another_file_are_refused(tmp_path, sample_dists):
    root = _install(sample_dists["tar.gz"], tmp_path / "r", "--set", "crypto.argument=/etc/ncs/other.keys")
    snap = snapshot(root)
    r = rotate(root, "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "crypto-keys-elsewhere"
    assert "/etc/ncs/other.keys" in r.stderr
    assert snapshot(root) == snap


EXTERNAL = """    <external-keys>
      <command>${NCS_DIR}/bin/ncs_crypto_keys</command>
      <command-argument>${NCS_CONFIG_DIR}/ncs.crypto_keys</command-argument>
    </external-keys>"""


@pytest.mark.parametrize("edit, reference", [
    ("    <AESCFB128><key>" + "ab" * 16 + "</key></AESCFB128>\n"
     "    <AES256CFB128><key>" + "cd" * 32 + "</key></AES256CFB128>", "inline-crypto-keys"),
    (EXTERNAL.replace("${NCS_CONFIG_DIR}/ncs.crypto_keys", "/srv/kms/keys"), "crypto-keys-elsewhere"),
], ids=["inline", "elsewhere"])
def test_an_edited_ncs_conf_that_does_not_read_the_file_is_refused(root65, edit, reference):
    """A day-2 review: only the recorded options were asked; an administrator's ncs.conf edit
    (kept by install) that put the keys inline, or pointed external-keys at another file, made
    keys rotate rewrite a file NSO never reads and print steps NSO then refuses."""
    conf = root65 / "etc/ncs/ncs.conf"
    text = conf.read_text()
    assert EXTERNAL in text
    conf.write_text(text.replace(EXTERNAL, edit))
    snap = snapshot(root65)
    r = rotate(root65, "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == reference
    assert "ab" * 16 not in r.stdout + r.stderr  # (the inline keys are not quoted)
    assert snapshot(root65) == snap
    assert rotate(root65, "--check", ok=False).exit_code == 2


@pytest.mark.parametrize("argument", [True, False])
def test_a_keys_command_other_than_ncs_crypto_keys_is_named_in_a_note(root65, argument):
    """The rotation went ahead silently when external-keys/command was not NSO's ncs_crypto_keys
    (an administrator's script, e.g. one reading a vault): whether NSO ever sees the rotated file
    depends on that command.  The rotation still happens (such a script may well read the file),
    and says what to check; NSO's own command gets no such note."""
    assert "ncs_crypto_keys" not in " ".join(rotate_json(root65, "--check")["notes"])
    conf = root65 / "etc/ncs/ncs.conf"
    edit = EXTERNAL.replace("${NCS_DIR}/bin/ncs_crypto_keys", "/usr/local/bin/vault-keys")
    if not argument:
        edit = edit.replace("      <command-argument>${NCS_CONFIG_DIR}/ncs.crypto_keys</command-argument>\n", "")
    conf.write_text(conf.read_text().replace(EXTERNAL, edit))
    for extra in (["--check"], []):
        notes = " ".join(rotate_json(root65, *extra)["notes"])
        assert "/usr/local/bin/vault-keys" in notes and "/etc/ncs/ncs.crypto_keys" in notes, notes
        assert ("no command-argument" in notes) is not argument, notes
    assert "/usr/local/bin/vault-keys" in rotate(root65, "--new").stdout


def test_a_planted_symlink_is_refused(root65, tmp_path):
    elsewhere = root65 / "etc/elsewhere"
    os.rename(root65 / KEYS, elsewhere)
    os.symlink("/etc/elsewhere", root65 / KEYS)
    before = elsewhere.read_bytes()
    for extra in ([], ["--check"]):
        r = rotate(root65, "--json", *extra, ok=False)
        assert r.exit_code == 1 and json.loads(r.stdout)["error"]["reference"] == "symlink-refused"
    assert os.path.islink(root65 / KEYS) and os.readlink(root65 / KEYS) == "/etc/elsewhere"
    assert elsewhere.read_bytes() == before


def test_a_hard_linked_file_is_refused(root65):
    os.link(root65 / KEYS, root65 / "etc/other-name")
    before = (root65 / KEYS).read_bytes()
    r = rotate(root65, "--json", ok=False)
    assert r.exit_code == 1 and json.loads(r.stdout)["error"]["reference"] == "hard-linked"
    assert (root65 / KEYS).read_bytes() == before


@pytest.mark.parametrize("content, words", [
    ("AESCFB128_KEY=" + "a" * 32 + "\n", "AES256CFB128_KEY is missing"),
    ("EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]=" + "a" * 32 + "\nAES256CFB128_KEY=" + "b" * 64 + "\n", "no generation"),
    ("AESCFB128_KEY=" + "a" * 32 + "\nEXTERNAL_KEY_FORMAT=2\nAES256CFB128_KEY[-1]=" + "b" * 64 + "\n", "first line"),
    ("EXTERNAL_KEY_FORMAT=2\n" + ("AESCFB128_KEY[0]=" + "a" * 32 + "\n") * 2 + "AES256CFB128_KEY[0]=" + "b" * 64 + "\n",
     "appears twice"),
    ("EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]=" + "a" * 32 + "\nAES256CFB128_KEY[0]=" + "b" * 64 +
     "\nAESCFB128_KEY[1]=" + "c" * 32 + "\n", "generation 1 lacks AES256CFB128_KEY"),
    ("EXTERNAL_KEY_FORMAT=3\nAESCFB128_KEY=" + "a" * 32 + "\nAES256CFB128_KEY=" + "b" * 64 + "\n", "format 2"),
])
def test_a_damaged_file_is_refused_without_quoting_it(root65, content, words):
    (root65 / KEYS).write_text(content)
    r = rotate(root65, ok=False)
    assert r.exit_code == 1 and words in r.stderr, r.stderr
    assert "aaaaaa" not in r.stderr and "bbbbbb" not in r.stderr
    assert (root65 / KEYS).read_text() == content


def test_another_run_holding_the_lock(root65):
    inst = look(root65)
    before = (root65 / KEYS).read_bytes()
    with locked(inst.target, inst.state.path, True):
        r = rotate(root65, "--json", ok=False)
    assert r.exit_code == 3 and json.loads(r.stdout)["error"]["reference"] == "locked"
    assert (root65 / KEYS).read_bytes() == before


# --- the format and the NSO side ------------------------------------------------------------------

def test_format_2_file_keeps_every_line():
    from nso_install.lifecycle.keys import rotated

    text = ("EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]=" + "1" * 32 + "\nAES256CFB128_KEY[-1]=" + "2" * 64
            + "\nAESCFB128_KEY[0]=" + "3" * 32 + "\nAES256CFB128_KEY[0]=" + "4" * 64 + "\n")
    kf = parse_keys(text.encode(), "6.5.3", "/etc/ncs/ncs.crypto_keys")
    assert not kf.legacy and kf.generations == [-1, 0] and "1111" not in repr(kf)
    new = rotated(kf, "6.5.3", 1).reveal().decode()
    assert new.startswith(text)
    assert [line.split("=")[0] for line in new.splitlines()[len(text.splitlines()):]] == \
        ["AESCFB128_KEY[1]", "AES256CFB128_KEY[1]"]
    with pytest.raises(KeysFileError):
        parse_keys(b"AESCFB128_KEY[0]=" + b"1" * 32 + b"\n", "6.5.3", "x")
    assert parse_keys(text.replace("\nAESCFB128_KEY[0]", "\n\nAESCFB128_KEY[0]").encode() + b"\n", "6.5.3",
                      "x").keys == kf.keys  # (blank lines are taken, and left out)
    with pytest.raises(KeysFileError, match="line 2 is a comment"):  # (NSO takes none)
        parse_keys(text.replace("\n", "\n# rotated 2024\n", 1).encode(), "6.5.3", "x")


def test_nso_side_steps(root65):
    inst = look(root65)
    steps = nso_steps(inst, "/etc/ncs/ncs.crypto_keys", 3, False)
    text = "\n".join(steps)
    ordered = ["every other node", "systemctl reload ncs", "commit queue", "key-rotation get-active-generation",
               "key-rotation apply-new-keys new-key-generation 3",
               f"nso-install keys rotate --applied --root {root65} (", "Backups"]
    positions = [text.find(s) for s in ordered]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "/etc/ncs/ncs.crypto_keys" in steps[0] and "identical" in steps[0]
    assert "generation -1" in "\n".join(nso_steps(inst, "/etc/ncs/ncs.crypto_keys", 0, True))
    inst.spec = replace(inst.spec, init_system="sysv")
    assert "/etc/init.d/ncs reload" in "\n".join(nso_steps(inst, "/f", 0, False))
    inst.spec = replace(inst.spec, init_system="none")
    assert "/opt/ncs/current/bin/ncs --reload" in "\n".join(nso_steps(inst, "/f", 0, False))


# --- interrupted rotations: a re-run recognises its own write ----------------------------------

def _rotate_stopped(root, how: str, when: str, *extra: str) -> None:
    """``keys rotate`` stopped right after (``when="after"``) or instead of (``"instead"``)
    writing the keys file: by a kill (a child process ending with ``os._exit``: nothing after it
    runs) or by an error (a full disk, in this process)."""
    if how == "kill":
        import subprocess
        import sys
        import textwrap

        from nso_install import state

        script = textwrap.dedent(f"""
            import os, sys
            from nso_install import fsops, state
            state.SEAL_KEY = {state.SEAL_KEY!r}
            real = fsops.atomic_write
            def write(host, data, *a):
                if str(host).endswith("/etc/ncs/ncs.crypto_keys"):
                    if {when!r} == "after":
                        real(host, data, *a)
                    os._exit(137)
                real(host, data, *a)
            fsops.atomic_write = write
            from nso_install.cli import main
            main(["keys", "rotate", "--root", {str(root)!r}, *{list(extra)!r}])
        """)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert r.returncode == 137, r.stderr
        return
    from nso_install import fsops

    real = fsops.atomic_write

    def write(host, data, *a):
        if str(host).endswith("/etc/ncs/ncs.crypto_keys"):
            if when == "after":
                real(host, data, *a)
            raise OSError(28, "No space left on device")
        real(host, data, *a)

    with pytest.MonkeyPatch.context() as mp:  # (not the fixture: its undo would undo the seal key's too)
        mp.setattr(fsops, "atomic_write", write)
        assert rotate(root, *extra, ok=False).exit_code == 1


def status_of(root) -> tuple[dict | None, list[str]]:
    """(status --json's keys, the keys: lines of status)."""
    lines = [line for line in cli("status", "--root", root).stdout.splitlines() if line.startswith("keys:")]
    return json.loads(cli("status", "--root", root, "--json").stdout)["keys"], lines


def test_status_says_where_a_keys_rotation_stands(root65):
    """status said nothing of a generation added and never applied in NSO: the operator who
    forgot the NSO steps (or --applied) had no day-2 command that reminded them."""
    assert status_of(root65) == (None, [])
    added = rotate_json(root65)["added"]
    keys, lines = status_of(root65)
    assert keys == {"pending_generation": 0, "added": added, "applied_generation": None, "applied": None,
                    "interrupted": None}
    # (the commands are aimed at the same staging root: without --root they act on the host)
    assert lines == [f"keys: generation 0 added on {added}, not yet recorded as applied in NSO (nso-install keys "
                     f"rotate --root {root65} shows the steps; then nso-install keys rotate --applied --root {root65})"]
    rotate(root65, "--applied")
    keys, lines = status_of(root65)
    assert keys["pending_generation"] is None and keys["applied_generation"] == 0 and keys["applied"]
    assert lines == [f"keys: generation 0 applied on {keys['applied']}"]
    for secret in keys_of((root65 / KEYS).read_bytes()).values():  # (no key, of course)
        assert secret[:FRAGMENT] not in cli("status", "--root", root65, "--json", "-v").stdout


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_rotation_stopped_after_writing_the_file_adds_no_second_generation_on_re_run(root65, how):
    _rotate_stopped(root65, how, "after")
    keys, lines = status_of(root65)  # told, until the re-run records it
    assert keys["interrupted"] and keys["pending_generation"] is None
    assert lines == [f"keys: a keys rotate was stopped half way (started {keys['interrupted']}); re-run nso-install "
                     f"keys rotate --root {root65}: it records the generation it wrote, or adds one if it wrote none"]
    written = (root65 / KEYS).read_bytes()
    assert sorted({g for _, g in keys_of(written)}) == [-1, 0]
    out = rotate_json(root65)
    assert out["status"] == "pending" and out["generation"] == 0 and out["changed"] is False
    assert any("interrupted" in n for n in out["notes"]) and out["steps"]
    assert (root65 / KEYS).read_bytes() == written
    state = json.loads((root65 / STATE).read_text())
    assert state["keys"]["pending_generation"] == 0 and "writing" not in state["keys"]
    assert status_of(root65)[0]["interrupted"] is None
    history = [json.loads(line) for line in (root65 / HISTORY).read_text().splitlines()]
    assert [(h["command"], h["generation"]) for h in history if h.get("command")] == [("keys rotate", 0)]
    again = rotate_json(root65)  # the usual re-run: nothing added, nothing recorded again
    assert again["status"] == "pending" and not any("interrupted" in n for n in again["notes"])
    assert rotate_json(root65, "--applied")["generation"] == 0


@pytest.mark.parametrize("how", ["kill", "error"])
@pytest.mark.parametrize("when", ["after", "instead"])
def test_a_rotation_with_new_stopped_half_way_is_completed_by_its_re_run_with_one_generation(root65, how, when):
    """keys rotate --new over a generation still pending, stopped: after its write, the same
    command run again added a second generation (the write it recognised did not count for
    --new; found by the crash sweep); before it, status said to re-run plain keys rotate, which
    'adds one if it wrote none' but found the pending generation and added none."""
    rotate(root65)  # generation 0, pending
    _rotate_stopped(root65, how, when, "--new")
    assert f"re-run nso-install keys rotate --new --root {root65}: " in status_of(root65)[1][0]
    out = rotate_json(root65, "--new")
    assert out["generation"] == 1 and out["changed"] is (when == "instead")
    assert sorted({g for _, g in keys_of((root65 / KEYS).read_bytes())}) == [-1, 0, 1]
    assert status_of(root65)[0]["interrupted"] is None and status_of(root65)[0]["pending_generation"] == 1


@pytest.mark.parametrize("how", ["kill", "error"])
def test_a_rotation_stopped_before_writing_the_file_is_done_whole_by_the_re_run(root65, how):
    before = (root65 / KEYS).read_bytes()
    _rotate_stopped(root65, how, "instead")
    assert (root65 / KEYS).read_bytes() == before
    out = rotate_json(root65)
    assert out["status"] == "added" and out["generation"] == 0 and out["notes"] == []
    assert sorted({g for _, g in keys_of((root65 / KEYS).read_bytes())}) == [-1, 0]
    assert "writing" not in json.loads((root65 / STATE).read_text())["keys"]


def test_uninstalling_the_config_directory_forgets_its_keys_rotation(root65, sample_dists):
    """The rotation record described the keys file that went with CONFIG_DIR: kept, the next
    install's first rotation spoke of a generation 'no longer in the file', and --applied of the
    fresh keys said 'already applied'."""
    assert rotate_json(root65)["status"] == "added"
    cli("uninstall", "--all", "--config", "--root", root65)
    state = json.loads((root65 / "var/lib/nso-install/state.json").read_text())
    assert "keys" not in state
    _install(sample_dists["tar.gz"], root65)
    again = rotate_json(root65)
    assert again["status"] == "added" and again["generation"] == 0, again
    assert not [n for n in again["notes"] if "no longer in the file" in n or "not yet applied" in n], again["notes"]


# --- across the 3DES boundary (6.4 -> 6.5) -------------------------------------------------------

def test_upgrade_from_64_to_65_refuses_the_des3_keys_and_rotation_refuses_them(tmp_path, dists, sample_dists):
    """The keys nso-install generated on 6.4 hold DES3CBC_KEY1..3; NSO 6.5 refuses a keys file with
    them (unknown key: no keys, no start). The upgrade kept them without a word, and keys rotate
    carried them into the new file as generation -1. Then it warned and switched, and NSO 6.5
    did not start: the switch is now refused (6.4.1 stays active) unless forced."""
    root = _install(dists["6.4.1"], tmp_path / "r")
    before = (root / KEYS).read_bytes()
    assert b"DES3CBC_KEY1=" in before
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--activate", ok=False)
    assert r.exit_code == 2 and "NSO 6.5.3 would not start with what the switch keeps as it is" in r.stderr
    assert "DES3CBC_KEY1: NSO 6.5 removed 3DES" in r.stderr and os.readlink(root / "opt/ncs/current") == "ncs-6.4.1"
    assert (root / KEYS).read_bytes() == before
    assert not (root / "opt/ncs/ncs-6.5.3").exists()  # (refused before anything changed)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)  # as the hint says, then:
    r = cli("activate", "6.5.3", "--root", root, "--force")
    assert "Switched anyway (--force)" in r.output and os.readlink(root / "opt/ncs/current") == "ncs-6.5.3"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "DES3CBC_KEY1: NSO 6.5 removed 3DES" in r.output and "left as is" in r.output
    assert (root / KEYS).read_bytes() == before  # never rewritten
    r = rotate(root, ok=False)
    assert r.exit_code != 0 and "DES3CBC_KEY1: NSO 6.5 removed 3DES" in r.output
    assert (root / KEYS).read_bytes() == before
    # once the operator deleted the DES3 lines, the warning goes and the rotation runs
    (root / KEYS).write_bytes(b"".join(line for line in before.splitlines(True) if not line.startswith(b"DES3")))
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert "DES3" not in r.output
    assert rotate_json(root)["generation"] == 0
    assert b"DES3" not in (root / KEYS).read_bytes()


def test_new_keys_are_never_written_open_to_every_account(root65):
    """A keys file found open to every account (0644) was rewritten with that mode: the new
    generation, just made, was readable by every local account the moment it was written.
    The bits for others are dropped (the group's stay: 0440 root:USER is how NSO reads it)."""
    os.chmod(root65 / KEYS, 0o644)
    out = rotate_json(root65, "--check")
    assert out["mode"] == "0640" and any("open to every account" in n for n in out["warnings"])
    assert attrs(root65 / KEYS)[0] == 0o644  # (--check changes nothing)
    r = rotate(root65)
    assert attrs(root65 / KEYS)[0] == 0o640 and "mode 0640" in r.stdout
    assert "the new keys are not" in r.stderr
    assert sorted({g for _, g in keys_of((root65 / KEYS).read_bytes())}) == [-1, 0]
    os.chmod(root65 / KEYS, 0o604)
    assert "open to every account" in rotate(root65, "--new", "-q").stderr  # (a warning: -q shows it too)
    assert attrs(root65 / KEYS)[0] == 0o600


@needs_root
def test_another_account_cannot_read_the_new_keys_of_a_file_found_open(sample_dists):
    """As above, seen by another account (nobody): before, it read generation 0 as written."""
    with public_tmp_dir() as public:
        root = _install(sample_dists["tar.gz"], public / "r")
        os.chmod(root, 0o755)
        os.chmod(root / KEYS, 0o644)
        rotate(root)
        read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(root / KEYS)], capture_output=True)
        assert read.returncode != 0 and b"[0]=" not in read.stdout
        assert b"Permission denied" in read.stderr


@needs_root
def test_new_keys_readable_by_another_group_are_said_to_be(sample_dists):
    """A keys file 0640 root:GROUP (GROUP neither root's nor NSO's own) was rewritten so without
    a word: every member of GROUP (here nobody's) read the new generation.  The group's bits stay
    (NSO may read the file through that group), and the rotation says who else reads it."""
    nogroup = int(subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True, check=True).stdout)
    with public_tmp_dir() as public:
        root = _install(sample_dists["tar.gz"], public / "r")
        os.chmod(root, 0o755)
        os.chown(root / KEYS, 0, nogroup)
        os.chmod(root / KEYS, 0o640)
        out = rotate_json(root)
        notes = [n for n in out["warnings"] if "open to the members of group" in n]
        assert len(notes) == 1 and "the rewritten file is too, so they can read the new keys" in notes[0]
        read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(root / KEYS)], capture_output=True)
        assert read.returncode == 0 and b"[0]=" in read.stdout  # (what the note warns of)
        os.chown(root / KEYS, 0, 0)  # root's own group: no note
        assert not any("members of group" in n for n in rotate_json(root, "--new")["warnings"])


@needs_root
def test_a_config_directory_other_accounts_may_write_is_said_to_be(root65):
    """/etc/ncs owned by NSO's account (the vendor's chown -R after a --run-as-user install), or
    group-writable: that account may replace the keys file, new keys and all."""
    os.chown(root65 / "etc/ncs", 4242, 0)
    out = rotate_json(root65, "--check")
    assert any(n.startswith("/etc/ncs belongs to 4242:root with mode 0755: accounts other than root may replace "
                            "ncs.crypto_keys") for n in out["warnings"]), out["warnings"]
    os.chown(root65 / "etc/ncs", 0, 0)
    os.chmod(root65 / "etc/ncs", 0o775)
    assert any("mode 0775" in n for n in rotate_json(root65, "--check")["warnings"])
    os.chmod(root65 / "etc/ncs", 0o755)
    assert not any("/etc/ncs belongs" in n for n in rotate_json(root65)["warnings"])


@needs_root
def test_the_keys_first_imported_are_kept_with_a_warning_after_a_rotation(tmp_path, sample_dists):
    """A playbook keeps passing the keys file it first installed with (--crypto-keys, inventory
    variables persist). After `keys rotate` the host's file holds those keys and a new
    generation: the install keeps it and warns, where it refused with secret-mismatch (hint: move
    the host's file away, losing the generation CDB is now encrypted with)."""
    imported = tmp_path / "first.keys"
    imported.write_text(f"AESCFB128_KEY={'a1' * 16}\nAES256CFB128_KEY={'b2' * 32}\n")
    root = _install(sample_dists["tar.gz"], tmp_path / "r", "--crypto-keys", imported)
    rotate(root)
    rotated = (root / KEYS).read_bytes()
    before = snapshot(root)
    out = install_json(sample_dists["tar.gz"], root, "--system-install", "--crypto-keys", imported)
    assert out["changed"] == 0
    assert (root / KEYS).read_bytes() == rotated and snapshot(root) == before
    said = json.dumps(out)
    assert "newer generations" in said and "import this host's file" in said
    assert "a1" * 8 not in said and "b2" * 8 not in said
    # other keys than the host's (one value differs, although the host's file has more lines):
    # still refused, with a hint that keeps both files
    other = tmp_path / "other.keys"
    other.write_text(f"AESCFB128_KEY={'a1' * 16}\nAES256CFB128_KEY={'c3' * 32}\n")
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--crypto-keys", other, ok=False)
    assert r.exit_code != 0 and "never replaces existing keys" in r.stderr
    assert "Keep a copy of both" in r.output + r.stderr
    assert (root / KEYS).read_bytes() == rotated


@needs_root
def test_the_rotated_keys_of_one_ha_node_are_given_to_another(tmp_path, sample_dists):
    """NSO's key rotation on HA: rotate on one node, copy its keys file to every other node. With
    --crypto-keys that file was refused on the others (secret-mismatch, 'move the existing file
    away'); it holds every key they have and more, so it is written, with the file's owner and
    mode, and nothing is lost."""
    first = tmp_path / "first.keys"
    first.write_text(f"AESCFB128_KEY={'a1' * 16}\nAES256CFB128_KEY={'b2' * 32}\n")
    a = _install(sample_dists["tar.gz"], staged_root(tmp_path / "a"), "--crypto-keys", first, "--run-as-user", "nso")
    b = _install(sample_dists["tar.gz"], staged_root(tmp_path / "b"), "--crypto-keys", first, "--run-as-user", "nso")
    rotate(a)
    rotated = tmp_path / "rotated.keys"
    rotated.write_bytes((a / KEYS).read_bytes())
    attrs = (lambda st: (st.st_mode, st.st_uid, st.st_gid))((b / KEYS).stat())
    before = snapshot(b)
    out = install_json(sample_dists["tar.gz"], b, "--system-install", "--crypto-keys", rotated, "--check", "--diff")
    assert out["changed"] == 1 and snapshot(b) == before
    out = install_json(sample_dists["tar.gz"], b, "--system-install", "--crypto-keys", rotated, "--diff", "-v")
    assert out["changed"] == 1 and (b / KEYS).read_bytes() == rotated.read_bytes()
    assert (lambda st: (st.st_mode, st.st_uid, st.st_gid))((b / KEYS).stat()) == attrs
    said = json.dumps(out)
    assert "newer key generations" in said
    assert not any(v[:FRAGMENT] in said for v in keys_of(rotated.read_bytes()).values())
    assert install_json(sample_dists["tar.gz"], b, "--system-install", "--crypto-keys", rotated)["changed"] == 0
    # the older file again (an inventory not yet updated): kept, as on the rotated node
    again = install_json(sample_dists["tar.gz"], b, "--system-install", "--crypto-keys", first)
    assert again["changed"] == 0 and (b / KEYS).read_bytes() == rotated.read_bytes()
    # once NSO applied it (from any node of the group), every node records it: b's nso-install did
    # not add generation 0, its file holds it newer than anything recorded as applied
    before = snapshot(b)
    assert rotate_json(b, "--applied", "--check")["status"] == "would-apply" and snapshot(b) == before
    done = rotate_json(b, "--applied")
    assert (done["status"], done["generation"], done["changed"]) == ("applied", 0, True)
    assert "not added by nso-install here" in " ".join(done["notes"])
    assert json.loads(cli("status", "--root", b, "--json").stdout)["keys"]["applied_generation"] == 0
    assert rotate_json(b, "--applied")["status"] == "already-applied"
    assert (b / KEYS).read_bytes() == rotated.read_bytes()
    assert rotate_json(b)["generation"] == 1  # the next rotation there goes on from it
