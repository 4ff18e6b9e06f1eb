"""Config files through the install command: ncs.conf and aaa_init.xml as dpkg-style
conffiles, values, diffs (secrets masked), clients' environment, and render-conf printing
exactly what install writes."""

import json
import os
import stat

import pytest

from nso_install.sample import make_sample_distribution

from support import cli, install_json, off_3des, staged_root

V = "6.5.3"


def install(dist, root, *extra):
    return install_json(dist, root, "--system-install", *extra)


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
    assert stat.S_IMODE(os.stat(root / "run/ncs").st_mode) == 0o750  # only root (NSO's account) enters
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in (root / "etc/profile.d/ncs.sh").read_text()
    assert "NCS_IPC_PATH=/run/ncs/nso-ipc" in (root / "etc/ncs/ncs.systemd.conf").read_text()
    assert (root / "etc/tmpfiles.d/ncs.conf").read_text().splitlines()[-1] == "d /run/ncs 0750 root root -"


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
    # secrets are refused in --set (every local user can read a command line): from files
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root,
            "--set", "crypto.mechanism=inline", "--set", f"crypto.aescfb128_key={k16}", "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "secret-on-command-line"
    assert "--set-file" in r.stderr
    assert k16 not in r.output + r.stderr and not root.exists()
    (tmp_path / "k16").write_text(k16 + "\n")
    (tmp_path / "k32").write_text(k32 + "\n")
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--diff", "-v",
            "--set", "crypto.mechanism=inline", "--set-file", f"crypto.aescfb128_key={tmp_path / 'k16'}",
            "--set-file", f"crypto.aes256cfb128_key={tmp_path / 'k32'}")
    assert k16 not in r.output + r.stderr and k32 not in r.output + r.stderr
    assert "<key><secret></key>" in r.stdout
    assert k16 in (root / "etc/ncs/ncs.conf").read_text()
    assert stat.S_IMODE(os.stat(root / "etc/ncs/ncs.conf").st_mode) == 0o600
    assert k16 not in (root / "var/lib/nso-install/state.json").read_text()  # secret values are never recorded
    # nor kept among the renders root keeps on the host for every install it makes (run.py)
    from nso_install.state import host_dir

    kept = [f for f in host_dir().rglob("*") if f.is_file()]
    assert any(f.name == "rendered.json" for f in kept) or os.geteuid() != 0
    assert not [f for f in kept if k16.encode() in f.read_bytes() or k32.encode() in f.read_bytes()]


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


def test_diff_of_an_edited_aaa_init_masks_password_hashes(root, sample_dists):
    """aaa_init.xml is a conffile: an administrator may add local users to it. --diff, --json and
    -v showed their password hashes (a diff is shown when the rendering changes too: an IPC grant)."""
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root]
    cli(*args, "-q")
    aaa = root / "var/opt/ncs/cdb/aaa_init.xml"
    secret_hash = "$6$saltsalt$0123456789abcdefHASHVALUE"
    aaa.write_text(aaa.read_text().replace("<users/>", f"<users><user><name>admin</name>"
                                                       f"<password>{secret_hash}</password></user></users>"))
    args += ["--ipc-user", "daemon", "--set", "ipc.transport=unix"]
    for extra in (["--check", "--diff"], ["--check", "--diff", "--json"], ["--diff", "-v"], ["--force-conf", "--diff"]):
        r = cli(*args, *extra)
        assert "HASHVALUE" not in r.stdout + r.stderr, extra
        assert "<password><secret></password>" in r.stdout or '"<password><secret></password>' in r.stdout, extra


# --- render-conf -------------------------------------------------------------------------------

def test_render_conf_prints_without_installing(tmp_path):
    root = tmp_path / "r"
    r = cli("render-conf", "--nso-version", V, "--root", root, "--set", "ipc.transport=tcp")
    assert r.stdout.startswith("<!--") and "<ncs-config" in r.stdout
    assert "<ip>127.0.0.1</ip>" in r.stdout
    r = cli("render-conf", "--local-install", "/home/dev/nso", "--nso-version", "6.4.8", "--root", root)
    assert "development profile, local install" in r.stdout
    assert not root.exists()


def test_render_conf_without_a_version_is_a_usage_error(tmp_path):
    r = cli("render-conf", "--root", tmp_path / "r", ok=False)
    assert r.exit_code == 2 and "render-conf needs the NSO version" in r.stderr


def test_render_conf_prints_exactly_what_install_writes(tmp_path, sample_dists):
    """Same spec resolution, same plan: the options recorded on the target apply to render-conf
    as they would to install, and a distribution or the active version gives the version."""
    root = staged_root(tmp_path)
    install(sample_dists["tar.gz"], root, "--run-as-user", "nso", "--set", "cli.ssh.enabled=true")
    written = (root / "etc/ncs/ncs.conf").read_bytes()
    assert cli("render-conf", "--root", root).stdout_bytes == written  # the active version, recorded options
    assert cli("render-conf", sample_dists["tar.gz"], "--root", root).stdout_bytes == written
    changed = cli("render-conf", "--root", root, "--set", "ipc.transport=tcp").stdout_bytes
    assert changed != written
    install(sample_dists["tar.gz"], root, "--set", "ipc.transport=tcp")
    assert (root / "etc/ncs/ncs.conf").read_bytes() == changed


def test_render_conf_of_a_local_install_reads_its_version(tmp_path):
    """It said "render-conf needs the NSO version" of an existing local install (DIR/VERSION),
    and hinted only --root."""
    d = tmp_path / "d"
    d.mkdir()
    local = tmp_path / "nso"
    cli("install", make_sample_distribution(d, "6.4.2", "tar.gz"), "--local-install", local)
    written = (local / "etc/ncs/ncs.conf").read_bytes()
    assert b"NSO 6.4.2." in written
    assert cli("render-conf", "--local-install", local).stdout_bytes == written
    r = cli("render-conf", "--local-install", tmp_path / "none", ok=False)
    assert r.exit_code == 2 and f"{tmp_path}/none holds no local install (no VERSION file)" in r.stderr
    assert "--local-install DIR of a local one" in r.stderr
    (local / "VERSION").write_text("not a version\n")
    r = cli("render-conf", "--local-install", local, ok=False)
    assert r.exit_code == 2 and f"{local}/VERSION names no NSO version" in r.stderr


def test_render_conf_follows_the_active_version(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    old, new = make_sample_distribution(d, "6.4.2", "tar.gz"), make_sample_distribution(d, V, "tar.gz")
    root = tmp_path / "r"
    install(old, root)
    install(new, root)  # not activated: the configuration stays rendered for 6.4.2
    written = (root / "etc/ncs/ncs.conf").read_bytes()
    assert b"NSO 6.4.2." in written
    assert cli("render-conf", new, "--root", root).stdout_bytes == written
    activated = cli("render-conf", new, "--root", root, "--activate").stdout_bytes
    assert f"NSO {V}.".encode() in activated
    off_3des(root)  # (6.4's keys hold 3DES keys, which 6.5 refuses: the switch to it too)
    install(new, root, "--activate")
    assert (root / "etc/ncs/ncs.conf").read_bytes() == activated


def test_new_renderings_and_backups_of_files_in_scanned_directories_are_kept_out_of_them(tmp_path, sample_dists):
    """logrotate reads every file in /etc/logrotate.d (".new" and ".bak" are on none of its
    versions' lists of suffixes to skip), and the SysV tools every executable in /etc/init.d:
    a new rendering or a backup there would be read too.  They wait in nso-install's own
    directory instead, and status, verify and the audit name them there."""
    root = tmp_path / "r"
    dist = sample_dists["tar.gz"]
    install(dist, root, "--init-system", "sysv")
    aside = root / "var/lib/nso-install/conffiles"
    scanned = {"etc/logrotate.d/ncs": "etc_logrotate.d_ncs", "etc/init.d/ncs": "etc_init.d_ncs"}
    ours = {}
    for path in scanned:
        with open(root / path, "a") as f:
            f.write("# local: a site note\n")
    # a new rendering to offer (both carry the IPC settings of the ncs client they run)
    out = install(dist, root, "--set", "ipc.transport=tcp")
    for path in scanned:
        ours[path] = (aside / f"{scanned[path]}.new").read_text()
        assert "NCS_IPC_PORT" in ours[path] and "# local: a site note" in (root / path).read_text()
    assert {f"conffile:/{p}" for p in scanned} <= set(changed(out))
    for path, name in scanned.items():
        assert sorted(p.name for p in (root / path).parent.iterdir()) == ["ncs"]
        assert (aside / f"{name}.new").read_text() == ours[path]
        assert f"/var/lib/nso-install/conffiles/{name}.new" in json.dumps(out)
    st = os.stat(aside)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, os.geteuid())
    assert install(dist, root)["changed"] == 0
    status = json.loads(cli("status", "--root", root, "--json").stdout)
    assert {f"/var/lib/nso-install/conffiles/{n}.new" for n in scanned.values()} <= set(status["pending_new"])
    verify = cli("verify", "--root", root, ok=False).output
    assert "/var/lib/nso-install/conffiles/etc_init.d_ncs.new" in verify
    forced = install(dist, root, "--force-conf")
    assert {f"conffile:/{p}" for p in scanned} <= set(changed(forced))
    for path, name in scanned.items():
        assert sorted(p.name for p in (root / path).parent.iterdir()) == ["ncs"]
        assert (root / path).read_text() == ours[path]
        backups = list(aside.glob(f"{name}.*.bak"))
        assert len(backups) == 1 and backups[0].read_text().endswith("# local: a site note\n")
        assert not (aside / f"{name}.new").exists()


def test_an_edit_is_kept_quietly_while_the_rendering_stays_what_nso_install_wrote(tmp_path, sample_dists):
    """dpkg's rule: an edited file whose rendering has not changed since nso-install wrote it has
    nothing new to offer, so no .new and no warning on every run (status, verify and the audit
    still name the edit); a .new of that same rendering (an earlier nso-install wrote one) goes.
    Once the rendering changes, the .new and the warning come."""
    root = tmp_path / "r"
    dist = sample_dists["tar.gz"]
    install(dist, root)
    conf = root / "etc/ncs/ncs.conf"
    ours = conf.read_bytes()
    conf.write_bytes(ours + b"<!-- local: a site note -->\n")
    for check in (("--check",), ()):
        r = cli("install", dist, "--system-install", "--root", root, *check)
        assert "0 to change" in r.output or "Done: 0 changed" in r.output, r.output
        assert "edited outside nso-install" not in r.output and not (root / "etc/ncs/ncs.conf.new").exists()
        # no warning, but the file the summary counts as kept is named
        assert "1 edited config file(s) kept" in r.output and "  kept     conffile   /etc/ncs/ncs.conf  (edited by " \
            "the administrator; kept (the rendering has not changed since nso-install wrote it))" in r.output
    assert "edited: /etc/ncs/ncs.conf" in cli("status", "--root", root).output
    assert "~ config    /etc/ncs/ncs.conf: edited since nso-install wrote it" in cli("verify", "--root", root).output
    (root / "etc/ncs/ncs.conf.new").write_bytes(ours)  # what earlier releases left on every run
    r = cli("install", dist, "--system-install", "--root", root, "--check")
    assert "remove /etc/ncs/ncs.conf.new (the rendering has not changed" in r.output
    install(dist, root)
    assert not (root / "etc/ncs/ncs.conf.new").exists() and conf.read_bytes().endswith(b"a site note -->\n")
    # a new rendering: offered beside the kept edit, and said
    r = cli("install", dist, "--system-install", "--root", root, "--set", "cli.ssh.port=2222")
    assert "edited outside nso-install; kept as is" in " ".join(r.output.split())
    assert b"2222" in (root / "etc/ncs/ncs.conf.new").read_bytes() and b"2222" not in conf.read_bytes()


def test_a_kept_ncs_conf_whose_ipc_settings_the_clients_no_longer_follow_is_said_so(tmp_path, sample_dists):
    """The clients' settings (profile scripts, ncsrc, the unit) follow the new rendering; an
    edited ncs.conf kept with the old IPC settings leaves them unable to reach NSO: the warning
    says which settings differ, not only that a .new waits."""
    root = tmp_path / "r"
    dist = sample_dists["tar.gz"]
    install(dist, root)
    conf = root / "etc/ncs/ncs.conf"
    conf.write_bytes(conf.read_bytes() + b"<!-- local: a site note -->\n")
    r = cli("install", dist, "--system-install", "--root", root, "--set", "cli.ssh.port=2222", "--check")
    assert "kept as is" in r.output and "IPC settings differ" not in r.output
    r = cli("install", dist, "--system-install", "--root", root, "--set", "ipc.transport=tcp")
    said = " ".join(r.output.split())
    assert "Its IPC settings differ from the new rendering (ncs-local-ipc/enabled is true there, false in the new " \
           "rendering), which the clients' settings" in said and "will not reach NSO" in said
    assert b"ncs-local-ipc" in conf.read_bytes()  # kept: the administrator merges
    # merged (and edited again): the same transport, then another port: that is what differs
    conf.write_bytes((root / "etc/ncs/ncs.conf.new").read_bytes() + b"<!-- local: a site note -->\n")
    assert "IPC settings differ" not in cli("install", dist, "--system-install", "--root", root).output
    r = cli("install", dist, "--system-install", "--root", root, "--set", "ipc.port=4570")
    assert "(ncs-ipc-address/port is 4569 there, 4570 in the new rendering)" in " ".join(r.output.split())
    # kept TCP, the new rendering the Unix socket: the service starts NSO with NCS_IPC_PATH, which
    # overrides ncs.conf (ncs(1), 6.4+), so that NSO is reached; the warning said it would not be
    r = cli("install", dist, "--system-install", "--root", root, "--set", "ipc.transport=unix",
            "--set", "cli.ssh.port=2222")  # (a rendering other than the one first written: offered)
    said = " ".join(r.output.split())
    assert "(ncs-local-ipc/enabled is false there, true in the new rendering)" in said, said
    assert "will not reach NSO" not in said and "NCS_IPC_PATH=/run/ncs/nso-ipc, which overrides ncs.conf" in said
    assert "\nNCS_IPC_PATH=/run/ncs/nso-ipc\n" in (root / "opt/ncs/ncs-service-start").read_text()


def test_a_secret_an_administrator_put_in_ncs_systemd_conf_is_never_shown(tmp_path, sample_dists):
    root = tmp_path / "r"
    dist = sample_dists["tar.gz"]
    install(dist, root)
    env = root / "etc/ncs/ncs.systemd.conf"
    env.write_bytes(env.read_bytes().replace(b"NCS_JAVA_VM_OPTIONS=",
                                             b"NCS_JAVA_VM_OPTIONS=-Djavax.net.ssl.keyStorePassword=S3CR3T"))
    for extra in (["--check", "--diff", "--force-conf"], ["--check", "--diff", "--json", "--force-conf"],
                  ["--diff", "-v", "--force-conf"]):
        r = cli("install", dist, "--system-install", "--root", root, *extra)
        assert "S3CR3T" not in r.stdout + r.stderr, extra
        assert "keyStorePassword=<secret>" in r.stdout, extra
        env.write_bytes(env.read_bytes().replace(b"NCS_JAVA_VM_OPTIONS=",
                                                 b"NCS_JAVA_VM_OPTIONS=-Djavax.net.ssl.keyStorePassword=S3CR3T"))
    # kept (no --force-conf): readable by its owner and group only, as a file holding a secret
    install(dist, root)
    assert b"S3CR3T" in env.read_bytes() and stat.S_IMODE(os.stat(env).st_mode) == 0o640


def test_a_kept_ncs_conf_that_ncs_conf_5_refuses_is_said_so_on_every_run(tmp_path, sample_dists):
    """An administrator's edit with a misspelt element and an out-of-range port was kept (rightly)
    without a word: only elements of another release were judged, so install said nothing and
    NSO failed at its next start (exit 21). Now every run names the problems; a comment or
    whitespace edit stays quiet."""
    root = tmp_path / "r"
    dist = sample_dists["tar.gz"]
    install(dist, root)
    conf = root / "etc/ncs/ncs.conf"
    ours = conf.read_text()
    conf.write_text(ours.replace("</ncs-config>", "<!-- site note -->\n\n</ncs-config>"))
    assert "ncs.conf(5)" not in cli("install", dist, "--system-install", "--root", root).output
    conf.write_text(ours.replace("<restricted-file-access>", "<restricted-file-acces>")
                    .replace("</restricted-file-access>", "</restricted-file-acces>")
                    .replace("<port>8888</port>", "<port>88888</port>"))
    for extra in ((), ("--set", "cli.ssh.port=2222")):  # kept quietly, and kept with a .new
        said = " ".join(cli("install", dist, "--system-install", "--root", root, *extra).output.split())
        assert "It does not follow ncs.conf(5): 2 problem(s) (/ncs-config/cli/restricted-file-acces: unknown " \
               "element" in said, said
        assert "/ncs-config/webui/transport/ssl/port: '88888' is not a valid port-number" in said
        assert "NSO refuses to start with such a file (exit 21" in said and "--force-conf" in said
    assert "restricted-file-acces" in conf.read_text()  # still kept: the administrator fixes it


def test_a_kept_ncs_conf_missing_a_mandatory_element_or_with_a_bad_key_is_said_so_without_the_key(tmp_path):
    """The same for a mandatory element removed, and a malformed inline key, whose value is
    never quoted (local development install: keys inline in ncs.conf)."""
    dist = make_sample_distribution(tmp_path, V, "tar.gz")
    d = tmp_path / "nso"
    cli("install", dist, "--local-install", d)
    conf = d / "etc/ncs/ncs.conf"
    text = conf.read_text()
    bad = "0123456789abcdef0123456789abcdeX"
    text = text.replace("<key>0123456789abcdef0123456789abcdef</key>", f"<key>{bad}</key>", 1)
    conf.write_text(text.replace("<state-dir>./state</state-dir>", ""))
    said = " ".join(cli("install", dist, "--local-install", d).output.split())
    assert "/ncs-config/state-dir: mandatory element missing" in said, said
    assert "/ncs-config/encrypted-strings/AESCFB128/key: is not a valid value (expected hex16-value-type)" in said
    assert "a part in ncs.conf.d/*.conf may hold a missing element" in said
    assert bad not in said and "0123456789abcdef" not in said


def test_an_ipc_path_through_an_install_directory_variable_reaches_the_clients_resolved(tmp_path, sample_dists):
    """ncs.conf may name the socket ${NCS_RUN_DIR}/nso-ipc (NSO substitutes it); the clients' files
    got that text as it stood, and neither the unit's environment file nor logrotate's reload
    command expands it: ncs --reload looked for a file named '${NCS_RUN_DIR}/nso-ipc'."""
    root = tmp_path / "r"
    install(sample_dists["tar.gz"], root, "--run-dir", "/srv/nso", "--set", "ipc.path=${NCS_RUN_DIR}/nso-ipc")
    assert "<path>${NCS_RUN_DIR}/nso-ipc</path>" in (root / "etc/ncs/ncs.conf").read_text()
    for path in ("etc/profile.d/ncs.sh", "etc/ncs/ncs.systemd.conf", "etc/logrotate.d/ncs"):
        text = (root / path).read_text()
        assert "NCS_IPC_PATH=/srv/nso/nso-ipc" in text and "NCS_IPC_PATH=${" not in text, (path, text)


def test_a_relative_ipc_access_file_is_refused_when_clients_must_read_it(tmp_path, sample_dists):
    """With the IPC access check on, the secret's file is also every client's
    NCS_IPC_ACCESS_FILE: a relative one named another file for each client (ncs.conf(5): the
    full path). Refused before anything is written; with the check off it is not read at all."""
    root = tmp_path / "r"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "ipc.transport=tcp",
            "--set", "ipc.access_file=ipc_access", ok=False)
    assert r.exit_code == 2 and "ipc.access_file (/ncs-config/ncs-ipc-access-check/filename): 'ipc_access' is a " \
        "relative path" in " ".join(r.stderr.split()), r.stderr
    assert not (root / "etc/ncs").exists()
    install(sample_dists["tar.gz"], root, "--set", "ipc.transport=tcp", "--set", "ipc.access_file=ipc_access",
            "--set", "ipc.access_check=false")


@pytest.mark.parametrize("path", ["/etc/ncs/ncs.conf", "/etc/profile.d/ncs.sh"])
def test_a_fifo_where_the_new_rendering_goes_is_refused_before_anything_changes(tmp_path, sample_dists, path):
    """An edited config file is kept and the new rendering goes to PATH.new; a FIFO there (the
    NSO account's, where it owns CONFIG_DIR: a vendor install) was found only by the write,
    after ncsrc and ncsrc.tcsh had changed and the run's marker was written."""
    from support import snapshot

    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "-q")
    conf = root / path.lstrip("/")
    mark = "<!-- admin -->\n" if path.endswith(".conf") else "# admin\n"
    conf.write_text(conf.read_text() + mark)
    os.mkfifo(f"{conf}.new")
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "ipc.transport=tcp",
            ok=False)
    assert r.exit_code != 0 and f"{path}.new exists and is not a regular file" in r.stderr, r.output
    assert f"Move {path}.new out of the way" in r.stderr
    assert snapshot(root) == before
    # an unedited file writes no .new: the FIFO is not in the way
    conf.write_text(conf.read_text().replace(mark, ""))
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "ipc.transport=tcp")
    assert mark not in conf.read_text() and "tcp" in r.output
