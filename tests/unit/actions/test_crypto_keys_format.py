"""Validation of ncs.crypto_keys (also what --crypto-keys imports): every key present, each
with exactly its number of hex digits, for both key lengths and for NSO before 6.5."""

from __future__ import annotations

import pytest

from nso_install.actions import keys

A, B = "ab" * 16, "cd" * 32  # 32 and 64 hex digits


@pytest.mark.parametrize("text, problem", [
    (f"AESCFB128_KEY={A}cd\nAES256CFB128_KEY={B}\n", "AESCFB128_KEY has 34 hex digits, expected 32"),
    (f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}ef\n", "AES256CFB128_KEY has 66 hex digits, expected 64"),
    (f"AESCFB128_KEY={A}\n", "AES256CFB128_KEY is missing"),
    (f"AES256CFB128_KEY={B}\n", "AESCFB128_KEY is missing"),
    ("", "AESCFB128_KEY is missing"),
])
def test_a_keys_file_with_a_key_too_long_or_missing_is_reported(text, problem):
    assert keys.check_crypto_keys(text.encode(), "6.5.3") == problem


def test_generated_keys_pass_their_own_validation_for_every_version():
    for version in ("6.4.1", "6.5.3", "6.6.1"):
        data = keys.generate_crypto_keys(version).reveal()
        assert keys.check_crypto_keys(data, version) is None
        assert data.count(b"DES3CBC_KEY") == (3 if version == "6.4.1" else 0)  # 3DES only before 6.5


def test_the_message_never_quotes_key_material():
    secret = "ab" * 17
    problem = keys.check_crypto_keys(f"AESCFB128_KEY={secret}\nAES256CFB128_KEY={B}\n".encode(), "6.5.3")
    assert problem and secret not in problem and "ab" * 4 not in problem


def test_a_rotated_keys_file_is_reported_for_a_release_before_key_rotation():
    """keys rotate (6.4+) then a rollback to 6.3: the file in EXTERNAL_KEY_FORMAT=2 was accepted
    without a word, and NSO 6.3 knows only the legacy format."""
    rotated = f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]={A}\nAES256CFB128_KEY[-1]={B}\n".encode()
    assert keys.check_crypto_keys(rotated, "6.4.1") is None
    problem = keys.check_crypto_keys(rotated, "6.3.2")
    assert problem and "EXTERNAL_KEY_FORMAT=2" in problem and "NSO 6.3.2" in problem and A not in problem


def test_des3_keys_are_reported_from_nso_65_on():
    """NSO 6.5 removed 3DES; its external keys command refuses a line it does not know, and NSO
    then starts without keys (it does not start). A file generated on 6.4 carried its DES3 keys
    across an upgrade to 6.5 without a word."""
    data = keys.generate_crypto_keys("6.4.1").reveal()
    assert keys.check_crypto_keys(data, "6.4.1") is None
    for version in ("6.5.3", "6.7.1", "6.10"):
        problem = keys.check_crypto_keys(data, version)
        assert problem and problem.startswith("line 1: DES3CBC_KEY1") and "6.5 removed 3DES" in problem
        assert "Migrating 3DES Encrypted Values" in problem and "delete the DES3CBC_KEY lines" in problem
        assert data.decode().split("=")[1][:8] not in problem
    rotated = f"EXTERNAL_KEY_FORMAT=2\nDES3CBC_KEY1[-1]={'12' * 8}\nAESCFB128_KEY[-1]={A}\nAES256CFB128_KEY[-1]={B}\n"
    assert keys.check_crypto_keys(rotated.encode(), "6.4.1") is None
    assert "line 2: DES3CBC_KEY1" in keys.check_crypto_keys(rotated.encode(), "6.5.3")


@pytest.mark.parametrize("version, ok", [("6.1.2", True), ("6.3.2", True), ("6.4.1", False), ("6.5.3", False)])
def test_initialisation_vectors_only_before_nso_64(version, ok):
    """Encryption Keys lists DES3CBC_IV and AESCFB128_IV up to 6.3 only."""
    text = f"DES3CBC_IV={'12' * 8}\nAESCFB128_IV={A}\nAESCFB128_KEY={A}\nAES256CFB128_KEY={B}\n".encode()
    problem = keys.check_crypto_keys(text, version)
    if ok:
        assert problem is None
    else:
        assert problem.startswith("line 1: DES3CBC_IV is not a key NSO") and "Delete the line" in problem


def test_an_unknown_key_name_is_reported():
    problem = keys.check_crypto_keys(f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}\nAES512_KEY={B}\n".encode(), "6.5.3")
    assert problem.startswith("line 3: AES512_KEY is not a key NSO 6.5.3 knows (AESCFB128_KEY, AES256CFB128_KEY)")


@pytest.mark.parametrize("text, problem", [
    # a key given twice: only the last value was looked at (its length too)
    (f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}\nAESCFB128_KEY={A}\n", "line 3: AESCFB128_KEY appears twice (also line 1)"),
    (f"AESCFB128_KEY=abc\nAES256CFB128_KEY={B}\nAESCFB128_KEY={A}\n", "line 3: AESCFB128_KEY appears twice (also line 1)"),
    # an older generation's key too short, hidden by the newer generation's of the same name
    (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]=abc\nAES256CFB128_KEY[-1]={B}\nAESCFB128_KEY[0]={A}\n"
     f"AES256CFB128_KEY[0]={B}\n", "AESCFB128_KEY[-1] has 3 hex digits, expected 32"),
    # a generation without one of its two keys (both are mandatory in a key-rotation entry)
    (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]={A}\nAES256CFB128_KEY[1]={B}\n", "generation 0 lacks AES256CFB128_KEY"),
    # generation-less keys in a format-2 file
    (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY={A}\nAES256CFB128_KEY={B}\nAESCFB128_KEY[0]={A}\nAES256CFB128_KEY[0]={B}\n",
     "line 2: AESCFB128_KEY has no generation ([G]) although the file is in EXTERNAL_KEY_FORMAT=2"),
    # the format line after the keys
    (f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}\nEXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[0]={A}\nAES256CFB128_KEY[0]={B}\n",
     "line 3: EXTERNAL_KEY_FORMAT=2 comes after keys; it must be the first line"),
    # a generation outside int16
    (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[40000]={A}\nAES256CFB128_KEY[40000]={B}\n",
     "line 2: generation 40000 of AESCFB128_KEY is outside NSO's range"),
])
def test_every_line_and_generation_is_checked(text, problem):
    """--crypto-keys imported such files as they were (NSO's own reading refuses them, or which
    value it takes is not documented), and keys rotate refused them only later."""
    found = keys.check_crypto_keys(text.encode(), "6.5.3")
    assert found and found.startswith(problem), found
    assert A not in found and B not in found


def test_des3_keys_and_ivs_are_checked_for_length_where_they_exist():
    assert keys.check_crypto_keys(f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}\nDES3CBC_KEY1=abc\n".encode(),
                                  "6.4.1") == "DES3CBC_KEY1 has 3 hex digits, expected 16"
    assert keys.check_crypto_keys(f"AESCFB128_IV=12\nAESCFB128_KEY={A}\nAES256CFB128_KEY={B}\n".encode(),
                                  "6.3.2") == "AESCFB128_IV has 2 hex digits, expected 32"


def test_well_formed_files_still_pass():
    for text in (f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}\n\n",  # a trailing blank line
                 f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]={A}\nAES256CFB128_KEY[-1]={B}\n"
                 f"AESCFB128_KEY[0]={A}\nAES256CFB128_KEY[0]={B}\n"):
        assert keys.check_crypto_keys(text.encode(), "6.5.3") is None


PASSED_ON = "NSO's keys command passes every line to NSO, which takes only NAME=HEX lines"


@pytest.mark.parametrize("text, problem", [
    (f"# rotated 2024\nAESCFB128_KEY={A}\nAES256CFB128_KEY={B}\n", "line 1 is a comment"),
    (f"AESCFB128_KEY={A}\r\nAES256CFB128_KEY={B}\r\n", "line 1 ends with a carriage return"),
    (f"AESCFB128_KEY={A}\n  AES256CFB128_KEY={B}\n", "line 2 has spaces around its text"),
    (f"AESCFB128_KEY={A}\n \nAES256CFB128_KEY={B}\n", "line 2 has spaces around its text"),
])
def test_a_line_nso_does_not_take_is_reported(text, problem):
    """NSO's keys command (ncs_crypto_keys) copies the file to NSO as it is, and NSO takes only
    NAME=HEX lines: "unsupported line content" is an error that leaves it without keys
    (Encryption Keys). A comment or Windows line ends passed, and NSO would not
    start (or, on a reload, keep its old keys). Blank lines are still taken."""
    said = keys.check_crypto_keys(text.encode(), "6.5.3")
    assert said is not None and said.startswith(problem) and PASSED_ON in said


def test_a_last_line_without_its_newline_is_taken():
    assert keys.check_crypto_keys(f"AESCFB128_KEY={A}\nAES256CFB128_KEY={B}".encode(), "6.5.3") is None
