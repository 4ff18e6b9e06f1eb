"""ncs.conf through the install command: conffile policy, values, diffs, client environment."""

import json
import os
import stat


from clitools import cli

V = "6.5.3"




def install(dist, root, *extra):
    return json.loads(cli("install", dist, "--system-install", "--root", root, "--json", *extra).stdout)


def changed(out):
    return [a["id"] for a in out["actions"] if a["changed"]]


def test_values_change_updates_unedited_conf_in_place(tmp_path, sample_dists):
    root, conf = tmp_path / "r", tmp_path / "r/etc/ncs/ncs.conf"
    install(sample_dists["tar.gz"], root)
    before = os.stat(conf)
    out = install(sample_dists["tar.gz"], root, "--set", "cli.ssh.enabled=true")
    assert changed(out) == ["conffile:/etc/ncs/ncs.conf"]
    after = os.stat(conf)
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert not (root / "etc/ncs/ncs.conf.new").exists()
    assert install(sample_dists["tar.gz"], root, "--set", "cli.ssh.enabled=true")["changed"] == 0


def test_admin_edit_kept_new_written_force_conf_backs_up(tmp_path, sample_dists):
    root, conf = tmp_path / "r", tmp_path / "r/etc/ncs/ncs.conf"
    install(sample_dists["tar.gz"], root)
    edited = conf.read_text().replace("</ncs-config>", "<!-- admin was here -->\n</ncs-config>")
    conf.write_text(edited)
    out = install(sample_dists["tar.gz"], root, "--set", "cli.ssh.enabled=true")
    assert changed(out) == ["conffile:/etc/ncs/ncs.conf"]
    rec = next(a for a in out["actions"] if a["id"] == "conffile:/etc/ncs/ncs.conf")
    assert rec["conflict"] and "ncs.conf.new" in rec["warning"]
    assert conf.read_text() == edited
    assert "admin was here" not in (root / "etc/ncs/ncs.conf.new").read_text()
    again = install(sample_dists["tar.gz"], root, "--set", "cli.ssh.enabled=true")
    assert again["changed"] == 0 and again["warnings"]  # still said, nothing rewritten
    forced = install(sample_dists["tar.gz"], root, "--set", "cli.ssh.enabled=true", "--force-conf")
    assert changed(forced) == ["conffile:/etc/ncs/ncs.conf"]
    assert "admin was here" not in conf.read_text()
    backups = list((root / "etc/ncs").glob("ncs.conf.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == edited
    assert not (root / "etc/ncs/ncs.conf.new").exists()


def test_check_diff_shows_the_conf_diff_and_writes_nothing(tmp_path, sample_dists):
    root = tmp_path / "r"
    install(sample_dists["tar.gz"], root)
    conf_before = (root / "etc/ncs/ncs.conf").read_bytes()
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check", "--diff",
            "--set", "cli.ssh.enabled=true")
    assert "/etc/ncs/ncs.conf (new)" in r.stdout and "+" in r.stdout
    assert (root / "etc/ncs/ncs.conf").read_bytes() == conf_before


def test_bad_value_is_refused_before_anything_is_written(tmp_path, sample_dists):
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "r",
            "--set", "ipc.port=99999", ok=False)
    assert r.exit_code == 2 and "ipc.port" in r.stderr and "ncs-ipc-address/port" in r.stderr
    assert not (tmp_path / "r").exists()


def test_injection_in_values_cannot_add_elements(tmp_path, sample_dists):
    root = tmp_path / "r"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set",
            "aaa.pam.service=x</service></pam><evil>1</evil><pam><service>y", ok=False)
    if r.exit_code == 0:
        text = (root / "etc/ncs/ncs.conf").read_text()
        assert "<evil>" not in text and "&lt;evil&gt;" in text
    else:
        assert "aaa.pam.service" in r.stderr


def test_production_unix_socket_in_root_made_dir_and_clients_told(tmp_path, sample_dists):
    root = tmp_path / "r"
    install(sample_dists["tar.gz"], root)
    conf = (root / "etc/ncs/ncs.conf").read_text()
    assert "<path>/run/ncs/nso-ipc</path>" in conf and "/tmp/nso" not in conf
    assert stat.S_IMODE(os.stat(root / "run/ncs").st_mode) == 0o755
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in (root / "etc/profile.d/ncs.sh").read_text()
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in (root / "etc/ncs/ncs.systemd.conf").read_text()
    assert (root / "etc/tmpfiles.d/ncs.conf").read_text().splitlines()[-1] == "d /run/ncs 0755 root root -"


def test_tcp_ipc_exports_port_and_access_file(tmp_path, sample_dists):
    root = tmp_path / "r"
    install(sample_dists["tar.gz"], root, "--set", "ipc.transport=tcp")
    profile = (root / "etc/profile.d/ncs.sh").read_text()
    assert "NCS_IPC_PORT=4569" in profile and "NCS_IPC_ACCESS_FILE=/etc/ncs/ipc_access" in profile
    assert "<enabled>true</enabled>\n    <filename>${NCS_CONFIG_DIR}/ipc_access" in (root / "etc/ncs/ncs.conf").read_text()
    assert not (root / "run/ncs").exists()


def test_inline_keys_masked_in_diff_and_conf_private(tmp_path, sample_dists):
    k16, k32 = "ab" * 16, "cd" * 32
    root = tmp_path / "r"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--diff", "-v",
            "--set", "crypto.mechanism=inline", "--set", f"crypto.aescfb128_key={k16}",
            "--set", f"crypto.aes256cfb128_key={k32}")
    assert k16 not in r.output + r.stderr and k32 not in r.output + r.stderr
    assert "<key><secret></key>" in r.stdout
    assert k16 in (root / "etc/ncs/ncs.conf").read_text()
    assert stat.S_IMODE(os.stat(root / "etc/ncs/ncs.conf").st_mode) == 0o600


def test_local_install_gets_rendered_development_conf(tmp_path, sample_dists):
    d = tmp_path / "nso"
    cli("install", sample_dists["tar.gz"], "--local-install", d)
    text = (d / "etc/ncs/ncs.conf").read_text()
    assert "development profile, local install" in text
    assert not (d / "etc/ncs/ncs.conf.new").exists()


def test_local_install_production_profile_has_its_keys_file(tmp_path, sample_dists):
    d = tmp_path / "nso"
    cli("install", sample_dists["tar.gz"], "--local-install", d, "--profile", "production")
    assert "ncs.crypto_keys" in (d / "etc/ncs/ncs.conf").read_text()
    assert stat.S_IMODE(os.stat(d / "etc/ncs/ncs.crypto_keys").st_mode) == 0o600


def test_render_conf_prints_without_installing(tmp_path):
    r = cli("render-conf", "--set", "ipc.transport=tcp")
    assert r.stdout.startswith("<!--") and "<ncs-config" in r.stdout
    r = cli("render-conf", "--local-install", "--nso-version", "6.4.8")
    assert "development profile, local install" in r.stdout
