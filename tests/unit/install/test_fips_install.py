"""--fips-install (docs/security.md, "FIPS install"): what NSO's installer does, done and checked:
fips-mode in ncs.conf, NCS_OPENSSL_* in ncsrc and the service, the FIPS build of crypto.so in
the tree (only from what nso-install unpacked); a distribution without the FIPS files refused
before anything changes; verify sees crypto.so swapped back, in every tree."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from support import cli, install_json, snapshot

from nso_install.sample import make_sample_distribution

V = "6.5.3"
CRYPTO = "lib/ncs/lib/core/crypto/priv/lib"


def _root(tmp_path, name="r"):
    root = tmp_path / name
    root.mkdir(mode=0o700)
    return root


def test_a_fips_install_does_what_nso_s_installer_does(tmp_path, sample_dists):
    root = _root(tmp_path)
    install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    tree = root / f"opt/ncs/ncs-{V}"
    assert (tree / CRYPTO / "crypto.so").read_bytes() == (tree / CRYPTO / "fips/crypto.so").read_bytes()
    assert "<fips-mode>" in (root / "etc/ncs/ncs.conf").read_text()
    ncsrc = (tree / "ncsrc").read_text()
    for var in ("NCS_OPENSSL_CONF", "NCS_OPENSSL_CONF_INCLUDE", "NCS_OPENSSL_MODULES"):
        assert var in ncsrc, var
    unit = (root / "etc/systemd/system/ncs.service").read_text()
    assert "NCS_OPENSSL_MODULES=/opt/ncs/current/lib/ncs/openssl/ossl-modules" in unit
    before = snapshot(root)
    assert install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")["changed"] == 0
    assert snapshot(root) == before
    assert cli("verify", "--root", root).exit_code == 0


def test_the_default_install_keeps_the_default_crypto_library(tmp_path, sample_dists):
    root = _root(tmp_path)
    install_json(sample_dists["tar.gz"], root, "--system-install")
    tree = root / f"opt/ncs/ncs-{V}"
    assert (tree / CRYPTO / "crypto.so").read_bytes() != (tree / CRYPTO / "fips/crypto.so").read_bytes()
    assert "NCS_OPENSSL_MODULES=" not in (tree / "ncsrc").read_text()  # (it unsets a FIPS tree's)


def test_a_distribution_without_the_fips_files_is_refused_before_anything_changes(tmp_path):
    src = make_sample_distribution(tmp_path / "src", V, "dir")
    shutil.rmtree(os.path.join(src, "lib/ncs/openssl"))
    root = _root(tmp_path)
    r = cli("install", src, "--system-install", "--fips-install", "--root", root, "--json", ok=False)
    assert r.exit_code != 0
    assert "fips" in (r.stdout + r.stderr).lower()
    assert not (root / "opt/ncs").exists() and not (root / "etc/ncs").exists()


def test_verify_sees_crypto_so_swapped_back_in_any_tree(tmp_path, sample_dists):
    root = _root(tmp_path)
    install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    other = make_sample_distribution(tmp_path / "src2", "6.5.4", "tar.gz")
    install_json(other, root, "--system-install", "--fips-install")  # beside the active 6.5.3
    for version in (V, "6.5.4"):  # the active tree and the inactive one
        tree = root / f"opt/ncs/ncs-{version}"
        good = (tree / CRYPTO / "crypto.so").read_bytes()
        (tree / CRYPTO / "crypto.so").write_bytes(b"the default build again")
        r = cli("verify", "--root", root, "--json", ok=False)
        assert r.exit_code == 1, (version, r.stdout)
        assert f"ncs-{version}/{CRYPTO}/crypto.so" in json.dumps(json.loads(r.stdout)), version
        (tree / CRYPTO / "crypto.so").write_bytes(good)
    assert cli("verify", "--root", root).exit_code == 0


def test_turning_fips_on_sets_the_ed25519_host_key_aside_and_off_puts_it_back(tmp_path, sample_dists):
    """The Ed25519 key a plain install made is not FIPS-approved ("must not be used"): it stayed
    where NSO reads host keys, and the tool's own audit failed NSO-KEY-003 right after its
    --fips-install. It goes aside under a name NSO does not read, and comes back (the same key,
    which SSH clients know) when FIPS is turned off."""
    root = _root(tmp_path)
    ssh = root / "etc/ncs/ssh"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    key = (ssh / "ssh_host_ed25519_key").read_bytes()
    on = install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    assert [a["path"] for a in on["actions"] if a["kind"] == "keyaside" and a["changed"]] == \
        ["/etc/ncs/ssh/ssh_host_ed25519_key"]
    assert sorted(p.name for p in ssh.iterdir()) == ["ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub",
                                                     "ssh_host_ed25519_key.non-fips",
                                                     "ssh_host_ed25519_key.pub.non-fips"]
    assert (ssh / "ssh_host_ed25519_key.non-fips").read_bytes() == key
    audit = json.loads(cli("audit", "--root", root, "--json", ok=False).stdout)
    assert {c["id"]: c["result"] for c in audit["checks"]}["NSO-KEY-003"] == "pass"
    assert install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")["changed"] == 0
    install_json(sample_dists["tar.gz"], root, "--system-install", "--no-fips-install")
    assert (ssh / "ssh_host_ed25519_key").read_bytes() == key and not (ssh / "ssh_host_ed25519_key.non-fips").exists()
    assert os.stat(ssh / "ssh_host_ed25519_key").st_mode & 0o777 == 0o600
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0


def test_a_host_key_under_both_names_is_left_with_a_warning(tmp_path, sample_dists):
    root = _root(tmp_path)
    ssh = root / "etc/ncs/ssh"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    shutil.copy(ssh / "ssh_host_ed25519_key", ssh / "ssh_host_ed25519_key.non-fips")
    r = install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    aside = next(a for a in r["actions"] if a["kind"] == "keyaside")
    assert not aside["changed"] and "ssh_host_ed25519_key: a file of that name.non-fips exists too" in " ".join(r["warnings"])
    assert (ssh / "ssh_host_ed25519_key").exists() and (ssh / "ssh_host_ed25519_key.non-fips").exists()


def test_an_edited_ncs_conf_that_says_the_other_fips_mode_refuses_the_switch(tmp_path, sample_dists):
    """Turning FIPS on while an administrator's ncs.conf is kept (NSO's installer keeps it too:
    fips-mode is added by hand, facts section 11): the run swapped crypto.so and set the Ed25519
    host key aside while the kept file still offered only ssh-ed25519 with fips-mode off, a
    half-FIPS install whose SSH server had no key for its one algorithm. Refused before anything
    changes, both ways; once the file says fips-mode like the run, the run goes on."""
    root = _root(tmp_path)
    conf = root / "etc/ncs/ncs.conf"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    conf.write_text(conf.read_text() + "<!-- the administrator's edit -->\n")
    before = snapshot(root)
    for extra in ((), ("--check",)):
        r = cli("install", sample_dists["tar.gz"], "--root", root, "--system-install", "--fips-install", *extra,
                ok=False)
        assert r.exit_code != 0 and "fips-mode is off there" in r.stderr, r.output + r.stderr
        assert snapshot(root) == before
    text = conf.read_text().replace("<server-host-key>ssh-ed25519</server-host-key>",
                                    "<server-host-key>ecdsa-sha2-nistp256</server-host-key>")
    conf.write_text(text.replace("</ncs-config>", "<fips-mode><enabled>true</enabled></fips-mode></ncs-config>"))
    install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    tree = root / f"opt/ncs/ncs-{V}"
    assert (tree / CRYPTO / "crypto.so").read_bytes() == (tree / CRYPTO / "fips/crypto.so").read_bytes()
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--root", root, "--system-install", "--no-fips-install", ok=False)
    assert r.exit_code != 0 and "fips-mode is on there" in r.stderr, r.output + r.stderr
    after = snapshot(root)  # (the tree's repair was prepared beside it, and discarded: /opt/ncs's mtime)
    assert {k: v for k, v in after.items() if k != "opt/ncs"} == {k: v for k, v in before.items() if k != "opt/ncs"}


def test_a_tree_kept_for_rollback_is_judged_by_its_own_fips_state(tmp_path, sample_dists):
    """FIPS belongs to each installed version. After leaving FIPS (--no-fips-install with an
    older, non-FIPS version activated), the FIPS 6.5 tree kept for a rollback was reported by
    verify and NSO-DRIFT-001 as changed ("find out who changed the files"); under FIPS, a 6.4
    tree kept for a rollback was reported as lacking the FIPS files. Neither is damage; a
    crypto.so that is neither build still is."""
    root = _root(tmp_path)
    old = make_sample_distribution(tmp_path / "src64", "6.4.2", "tar.gz")
    install_json(old, root, "--system-install")
    keys = root / "etc/ncs/ncs.crypto_keys"  # (NSO 6.5 removed 3DES: the 6.4 keys file's DES3 lines go)
    keys.write_text("".join(line for line in keys.read_text().splitlines(True) if "DES3" not in line))
    install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install", "--activate")
    r = cli("verify", "--root", root, "--json", ok=False)
    assert r.exit_code == 0, r.stdout  # the 6.4.2 tree, FIPS spec
    install_json(root / "opt/ncs/ncs-6.4.2", root, "--system-install", "--no-fips-install", "--activate")
    r = cli("verify", "--root", root, "--json", ok=False)
    assert r.exit_code == 0, r.stdout  # the FIPS 6.5.3 tree, non-FIPS spec
    audit = json.loads(cli("audit", "--root", root, "--json", ok=False).stdout)
    assert {c["id"]: c["result"] for c in audit["checks"]}["NSO-DRIFT-001"] == "pass"
    nif = root / f"opt/ncs/ncs-{V}" / CRYPTO / "crypto.so"
    nif.write_bytes(b"neither build")
    r = cli("verify", "--root", root, "--json", ok=False)
    assert r.exit_code == 1 and f"ncs-{V}/{CRYPTO}/crypto.so" in r.stdout, r.stdout


def test_a_fips_host_key_made_without_the_host_s_ssh_keygen_is_said(tmp_path, sample_dists, monkeypatch):
    """Without a trusted ssh-keygen the FIPS host key came from the cryptography wheel's own
    OpenSSL (not the host's validated module), silently."""
    from nso_install import systools

    with_keygen = install_json(sample_dists["tar.gz"], _root(tmp_path, "a"), "--system-install", "--fips-install")
    assert not [w for w in with_keygen["warnings"] if "ssh-keygen" in w]
    monkeypatch.setattr(systools, "SYSTEM_DIRS", (str(tmp_path / "empty"),))
    root = _root(tmp_path, "b")
    r = install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    assert [w for w in r["warnings"] if "no trusted ssh-keygen" in w and "FIPS-validated" in w], r["warnings"]
    assert (root / "etc/ncs/ssh/ssh_host_ecdsa_key").exists()
    plain = install_json(sample_dists["tar.gz"], _root(tmp_path, "c"), "--system-install")
    assert not [w for w in plain["warnings"] if "ssh-keygen" in w]  # (Ed25519 never uses it)


def test_fips_from_a_6_4_install_says_how_to_get_there(tmp_path, sample_dists):
    """From an active 6.4 (no FIPS mode), `install 6.5.3 --fips-install` said only "FIPS mode needs
    NSO 6.5 or later, not 6.4.2", naming no version it installed; and with --activate refused
    over 6.4's 3DES keys, its hint said to install without --activate, which is that refusal."""
    root = _root(tmp_path)
    old = make_sample_distribution(tmp_path / "src64", "6.4.2", "tar.gz")
    install_json(old, root, "--system-install")
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--fips-install", ok=False)
    assert r.exit_code == 2 and "the active NSO 6.4.2 reads (an install without --activate leaves 6.4.2 active)" \
        in r.stderr and f"Install NSO {V} with --fips-install --activate" in r.stderr, r.stderr
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--fips-install", "--activate",
            ok=False)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "DES3CBC_KEY" in said and "install without --activate," not in said, said
    assert "install it without --fips-install and without --activate" in said
    assert snapshot(root) == before
    # the way the hint gives (the 3DES lines still there: a forced switch, then FIPS)
    install_json(sample_dists["tar.gz"], root, "--system-install")
    assert cli("activate", V, "--force", "--root", root).exit_code == 0
    install_json(sample_dists["tar.gz"], root, "--system-install", "--fips-install")
    assert "<enabled>true</enabled>" in (root / "etc/ncs/ncs.conf").read_text().split("<fips-mode>")[1]


def test_a_switch_to_a_tree_of_the_other_fips_state_gives_the_command_that_switches(tmp_path, sample_dists):
    """FIPS belongs to each tree, a switch keeps the recorded options: rollback from a FIPS 6.7 to
    the non-FIPS 6.5 tree said it "differs from what nso-install unpacked" and asked for a
    distribution to restore it from (an alarm over no damage, and no way given)."""
    root = _root(tmp_path)
    install_json(sample_dists["tar.gz"], root, "--system-install")
    newer = make_sample_distribution(tmp_path / "src67", "6.7.1", "tar.gz")
    install_json(newer, root, "--system-install", "--fips-install", "--activate")
    before = snapshot(root)
    r = cli("rollback", "--root", root, ok=False)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and f"NSO {V} was installed without FIPS" in said and "differs" not in said, said
    switch = f"nso-install install {root}/opt/ncs/ncs-{V} --system-install --activate --no-fips-install --root {root}"
    assert switch in said and snapshot(root) == before
    assert cli(*switch.split()[1:]).exit_code == 0 and os.readlink(root / "opt/ncs/current") == f"ncs-{V}"
    r = cli("activate", "6.7.1", "--root", root, ok=False)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "NSO 6.7.1 was installed in FIPS mode" in said and f"--fips-install --root {root} (ncs.conf" in said


def test_the_switch_command_keeps_a_tree_path_with_a_blank_one_word(tmp_path, sample_dists):
    """The command given to switch names the tree by its host path, under --root: a staging
    root with a blank split it into two arguments (the root itself was quoted, the tree not)."""
    import shlex

    root = _root(tmp_path, "st age")
    install_json(sample_dists["tar.gz"], root, "--system-install")
    newer = make_sample_distribution(tmp_path / "src67", "6.7.1", "tar.gz")
    install_json(newer, root, "--system-install", "--fips-install", "--activate")
    said = " ".join(cli("rollback", "--root", root, ok=False).stderr.split())
    words = shlex.split(said.split("Switch with the tree's FIPS state: ")[1].split(" (ncs.conf")[0])
    assert words == ["nso-install", "install", f"{root}/opt/ncs/ncs-{V}", "--system-install", "--activate",
                     "--no-fips-install", "--root", str(root)]
    assert cli(*words[1:]).exit_code == 0 and os.readlink(root / "opt/ncs/current") == f"ncs-{V}"


def _changes(out: str, key: str) -> set[str]:
    return {a["id"] for a in json.loads(out)["actions"] if a[key] in ("change", True)}


@pytest.mark.parametrize("kind", ["system", "local"])
def test_turning_fips_off_the_check_says_the_host_key_comes_back_as_the_run_does(tmp_path, sample_dists, kind):
    """--no-fips-install --check said "generate key" for the Ed25519 host key (which it saw set
    aside, not at its name): a new host key, which SSH clients would take for an impostor's.
    The run first puts the set-aside key back and keeps it, so nothing was generated."""
    root = _root(tmp_path)
    where = ("--system-install", "--root", root) if kind == "system" else ("--local-install", root / "nso")
    ssh = root / ("etc/ncs/ssh" if kind == "system" else "nso/etc/ncs/ssh")
    cli("install", sample_dists["tar.gz"], *where)
    key = (ssh / "ssh_host_ed25519_key").read_bytes()
    cli("install", sample_dists["tar.gz"], *where, "--fips-install")
    before = snapshot(root)
    chk = cli("install", sample_dists["tar.gz"], *where, "--no-fips-install", "--check", "--json")
    assert snapshot(root) == before
    said = {a["kind"]: a["detail"] for a in json.loads(chk.stdout)["actions"] if a["path"].endswith("ed25519_key")}
    assert not said["keypair"].startswith("generate"), said
    run = cli("install", sample_dists["tar.gz"], *where, "--no-fips-install", "--json")
    assert _changes(chk.stdout, "status") == _changes(run.stdout, "changed")
    assert (ssh / "ssh_host_ed25519_key").read_bytes() == key
