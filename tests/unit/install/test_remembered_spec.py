"""The remembered install spec, end to end through the CLI under --root (as root).

Re-runs without flags keep what was installed; withdrawing the run-as user takes back every
privilege it was granted; --reset-options shows what it reverts; a second version without
--activate changes nothing outside its tree; render-conf prints what install writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from support import cli, off_3des, snapshot

from nso_install.sample import make_sample_distribution

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")


def install(dist, root, *args, ok=True):
    return cli("install", dist, "--system-install", "--root", root, *args, ok=ok)


def account_ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise KeyError(name)


def group_members(root: Path, group: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        f = line.split(":")
        if f[0] == group:
            return [m for m in f[3].split(",") if m]
    raise KeyError(group)


def grants(root: Path) -> dict[str, list[str]]:
    """Every setuid/setgid file, file with capabilities, and entry owned by the nso account."""
    uid, _ = account_ids(root, "nso")
    out = {"setuid": [], "caps": [], "owned": []}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if st.st_uid == uid:
                out["owned"].append(rel)
            if stat.S_ISREG(st.st_mode):
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    out["setuid"].append(rel)
                try:
                    os.getxattr(p, "security.capability", follow_symlinks=False)
                    out["caps"].append(rel)
                except OSError:
                    pass
    return out


def test_rerun_without_flags_keeps_a_run_as_user_and_set_install_byte_identical(root, dists):
    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso", "--set", "restconf.enabled=true", "--set", "cli.ssh.enabled=true",
            "--setuid-cmdwrapper", "--init-system", "sysv")
    before = snapshot(root)
    r = install(dist, root)
    assert "Done: 0 changed" in r.output
    assert snapshot(root) == before
    out = json.loads(install(dist, root, "--check", "--json").output)
    settings = {s["name"]: s for s in out["spec"]["settings"]}
    assert settings["run-as-user"] == {"name": "run-as-user", "value": "nso", "source": "recorded"}
    assert settings["restconf.enabled"]["source"] == "recorded"
    assert out["spec"]["changed"] == [] and out["changed"] == 0


def test_no_run_as_user_withdraws_every_privilege_it_granted(root, dists):
    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso", "--setuid-cmdwrapper")
    # NSO, running as nso, wrote files of its own in the run and log directories
    uid, gid = account_ids(root, "nso")
    for rel in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log", "var/opt/ncs/state/x/y"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chown(p.parent, uid, gid)
        p.write_text("data\n")
        os.chown(p, uid, gid)
    g = grants(root)
    assert g["setuid"] and len(g["caps"]) == 4 and g["owned"]
    assert "nso" in group_members(root, "ncsadmin")

    refused = install(dist, root, "--reset-options", ok=False)
    assert refused.exit_code == 2 and "--no-run-as-user" in refused.stderr

    r = install(dist, root, "--no-run-as-user")
    assert "run-as-user: nso -> (none)" in r.output
    assert grants(root) == {"setuid": [], "caps": [], "owned": []}
    assert "nso" not in group_members(root, "ncsadmin")
    assert (root / "var/opt/ncs/cdb/A.cdb").read_text() == "data\n"  # NSO's data kept, now root's
    assert "User=" not in (root / "etc/systemd/system/ncs.service").read_text()
    state = json.loads((root / "var/lib/nso-install/state.json").read_text())
    assert "memberships" not in state["grants"] and state["spec"]["run_as_user"] is None
    # what nso-install created is remembered for uninstall --accounts
    assert state["grants"]["created"] == ["group:ncsadmin", "group:ncsoper", "group:nso", "user:nso"]
    assert "Done: 0 changed" in install(dist, root).output


def test_switching_the_run_as_user_hands_everything_to_the_new_account(root, dists):
    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso")
    (root / "var/log/ncs/ncs.log").write_text("x\n")
    os.chown(root / "var/log/ncs/ncs.log", *account_ids(root, "nso"))
    install(dist, root, "--run-as-user", "nso2")
    assert grants(root)["owned"] == []
    uid2, _ = account_ids(root, "nso2")
    assert os.stat(root / "var/log/ncs/ncs.log").st_uid == uid2
    assert group_members(root, "ncsadmin") == ["nso2"]
    epam = root / "opt/ncs/ncs-6.5.3/lib/ncs/lib/core/pam/priv/epam"
    assert os.stat(epam).st_gid == account_ids(root, "nso2")[1] and os.stat(epam).st_mode & stat.S_ISUID


def test_an_edited_file_of_the_old_account_is_not_adopted_by_root(root, dists):
    """ncs.systemd.conf belongs to the NSO account under systemd; the SysV script reads it as
    root. Switching to SysV must not turn the account's edits into root's."""
    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso")
    conf = root / "etc/ncs/ncs.systemd.conf"
    assert os.stat(conf).st_uid == account_ids(root, "nso")[0]
    with open(conf, "a") as f:
        f.write("touch /tmp/pwned\n")
    r = install(dist, root, "--init-system", "sysv")
    assert "touch /tmp/pwned" not in conf.read_text()
    assert os.stat(conf).st_uid == 0
    aside = [p for p in conf.parent.iterdir() if p.name.startswith("ncs.systemd.conf.from-nso.")]
    assert len(aside) == 1 and "touch /tmp/pwned" in aside[0].read_text()
    assert "was not adopted" in r.output.replace("\n", " ") or "not adopted" in r.output


@pytest.mark.parametrize("init, path, kept_as_root", [
    ("sysv", "etc/init.d/ncs", 'RUN=""'),
    ("systemd", "etc/systemd/system/ncs.service", "ExecStart=/opt/ncs/ncs-service-start"),
    ("sysv", "etc/logrotate.d/ncs", None),
    # systemd-tmpfiles makes /run/ncs at every boot for the account this names: kept, the old
    # one owned the directory of the new NSO's IPC socket from the next boot on
    ("none", "etc/tmpfiles.d/ncs.conf", "d /run/ncs 0750 root root -"),
])
def test_an_edited_file_that_says_who_nso_runs_as_stops_a_change_of_that_account(root, dists, init, path,
                                                                                 kept_as_root):
    """Kept as it was, an edited SysV script (or unit) would go on starting NSO as root while
    this run hands the run and log directories, packages included, to the new account: its
    links there and its code would run as root (a reviewer's path to root); logrotate would go
    on rotating the account's directory as root; the tmpfiles.d entry would give the socket
    directory back to root at boot.  Refused before anything changes."""
    dist = dists["6.5.3"]
    install(dist, root, "--init-system", init)
    edited = root / path
    if kept_as_root:
        assert kept_as_root in edited.read_text()
    with open(edited, "a") as f:
        f.write("# local: a site note\n")
    before = snapshot(root)
    for extra in (("--check",), ()):
        r = install(dist, root, "--run-as-user", "nso", *extra, ok=False)
        assert r.exit_code == 2, r.output
        msg = " ".join(r.output.split())
        assert f"/{path} was edited outside nso-install" in msg and "root to nso" in msg and "--force-conf" in msg
        assert snapshot(root) == before  # no account, no owner changed, no .new
    r = install(dist, root, "--run-as-user", "nso", "--force-conf")
    assert "# local: a site note" not in edited.read_text()
    backup = r.output.split("saved the administrator's ")[1].split()[2]
    assert (root / backup.lstrip("/")).read_text().endswith("# local: a site note\n")
    assert "Done: 0 changed" in install(dist, root).output


def test_an_edited_service_file_is_kept_when_the_account_stays(root, dists):
    dist = dists["6.5.3"]
    install(dist, root, "--init-system", "sysv", "--run-as-user", "nso")
    with open(root / "etc/init.d/ncs", "a") as f:
        f.write("# local: a site note\n")
    r = install(dist, root, "--set", "cli.ssh.port=2222")  # (the script's rendering does not change)
    assert "# local: a site note" in (root / "etc/init.d/ncs").read_text()
    assert "edited outside nso-install" not in r.output and "init.d/ncs  (edited by the administrator; kept (the " \
        "rendering has not changed" in r.output  # (named, as the summary counts it; no warning)
    assert not (root / "var/lib/nso-install/conffiles/etc_init.d_ncs.new").exists()
    r = install(dist, root, "--set", "ipc.transport=tcp")  # (it does now: the IPC settings of its ncs client)
    assert "# local: a site note" in (root / "etc/init.d/ncs").read_text()
    assert "etc/init.d/ncs was edited outside nso-install; kept as is" in " ".join(r.output.split())


def test_an_account_taking_over_from_root_gets_what_nso_wrote_as_root(root, dists):
    """NSO run as root wrote its CDB and logs as root; run as nso afterwards it could not open
    them (the vendor's container image chowns them at start).  Links keep their owner, a file
    with another name (a hard link) is named and left, a quarantine stays root's."""
    dist = dists["6.5.3"]
    install(dist, root, "--init-system", "none")
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log", "var/opt/ncs/state/sub/x"):
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"data")
    os.symlink("/opt/ncs/packages/p1", root / "var/opt/ncs/packages/p1")
    (root / "etc/elsewhere").write_bytes(b"s")
    os.link(root / "etc/elsewhere", root / "var/opt/ncs/state/linked")
    (root / "var/opt/ncs/.nso-install-quarantine.old.1").mkdir(mode=0o700)
    (root / "var/opt/ncs/.nso-install-quarantine.old.1/f").write_bytes(b"q")
    chk = install(dist, root, "--run-as-user", "nso", "--check")
    r = install(dist, root, "--run-as-user", "nso")
    assert "takeover   /var/opt/ncs  (give 3 entries of root, group root to nso:nso)" in chk.output
    assert "takeover   /var/log/ncs  (give 1 entry of root, group root to nso:nso)" in chk.output
    uid, gid = account_ids(root, "nso")
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log", "var/opt/ncs/state/sub", "var/opt/ncs/state/sub/x"):
        assert (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid) == (uid, gid), p
    for p in ("var/opt/ncs/packages/p1", "var/opt/ncs/state/linked", "var/opt/ncs/.nso-install-quarantine.old.1",
              "var/opt/ncs/.nso-install-quarantine.old.1/f"):
        assert os.lstat(root / p).st_uid == 0, p
    assert "/var/opt/ncs/state/linked" in r.output and "hard links" in r.output
    assert "Done: 0 changed" in install(dist, root).output


def test_files_of_an_account_deleted_by_a_bare_userdel_go_to_the_next_run_as_user(root, dists):
    """userdel outside nso-install leaves NSO's files under its bare uid and gid (a later account
    given that number would own them): with the account gone they are adopted by number, in
    RUN_DIR and LOG_DIR only; links keep their owner and are never followed, a hard-linked file
    is named and left."""
    import subprocess

    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso", "--init-system", "none")
    subprocess.run(["userdel", "--prefix", str(root), "nso"], check=True, capture_output=True)
    gone = 4242  # the deleted account's number (one the next account is not given)
    daemon = account_ids(root, "daemon")[0]
    files = {"var/opt/ncs/cdb/A.cdb": (gone, gone), "var/opt/ncs/state/sub/x": (gone, gone),
             "var/log/ncs/ncs.log": (gone, gone), "var/log/ncs/audit.log": (daemon, gone),
             "etc/ncs/mine": (gone, gone), "outside": (gone, gone)}
    for p, (uid, gid) in files.items():
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"data")
        os.chown(root / p, uid, gid)
    os.chown(root / "var/opt/ncs/state/sub", gone, gone)
    os.symlink("/outside", root / "var/opt/ncs/state/link")
    os.symlink(root / "outside", root / "var/log/ncs/host-link")
    for link in ("var/opt/ncs/state/link", "var/log/ncs/host-link"):
        os.lchown(root / link, gone, gone)
    os.link(root / "outside", root / "var/log/ncs/linked")
    chk = install(dist, root, "--run-as-user", "nso2", "--check")
    assert "takeover   /var/opt/ncs  (give 3 entries of root, group root, deleted accounts to nso2:nso2)" in chk.output
    assert "takeover   /var/log/ncs  (give 2 entries of root, group root, deleted accounts to nso2:nso2)" in chk.output
    r = install(dist, root, "--run-as-user", "nso2")
    uid, gid = account_ids(root, "nso2")
    assert uid != gone
    for p in ("var/opt/ncs/cdb/A.cdb", "var/opt/ncs/state/sub", "var/opt/ncs/state/sub/x", "var/log/ncs/ncs.log"):
        assert (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid) == (uid, gid), p
    assert (os.lstat(root / "var/log/ncs/audit.log").st_uid, os.lstat(root / "var/log/ncs/audit.log").st_gid) == \
        (daemon, gid)  # each number on its own
    for p in ("etc/ncs/mine", "outside", "var/log/ncs/linked", "var/opt/ncs/state/link", "var/log/ncs/host-link"):
        assert (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid) == (gone, gone), p
    assert "/var/log/ncs/linked" in r.output and "hard links" in r.output
    assert "Done: 0 changed" in install(dist, root).output


def test_files_of_an_account_made_again_under_another_uid_go_to_the_new_one(root, dists):
    """userdel nso, then useradd nso with another uid: the name was the recorded one, so nothing
    was handed over; the directories nso-install manages were chowned, CDB and logs in them kept
    the deleted account's bare uid (NSO could not read its CDB, and a later account given that
    uid would own it).  RUN_DIR owned by a uid no account has tells: they go to the new nso."""
    import subprocess

    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso", "--init-system", "none")
    old_uid, old_gid = account_ids(root, "nso")
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log"):
        (root / p).write_bytes(b"data")
        os.chown(root / p, old_uid, old_gid)
    subprocess.run(["userdel", "--prefix", str(root), "nso"], check=True, capture_output=True)
    subprocess.run(["useradd", "--prefix", str(root), "--system", "--gid", "nso", "--uid", "4243", "--shell",
                    "/usr/sbin/nologin", "--home-dir", "/var/opt/ncs", "--no-create-home", "nso"],
                   check=True, capture_output=True)
    uid, gid = account_ids(root, "nso")
    assert uid == 4243 != old_uid
    chk = install(dist, root, "--run-as-user", "nso", "--init-system", "none", "--check")
    assert "takeover   /var/opt/ncs  (give 1 entry of root, group root, deleted accounts to nso:nso)" in chk.output
    install(dist, root, "--run-as-user", "nso", "--init-system", "none")
    for p in ("var/opt/ncs/cdb/A.cdb", "var/log/ncs/ncs.log", "var/opt/ncs/cdb"):
        assert (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid) == (uid, gid), p
    assert "Done: 0 changed" in install(dist, root, "--run-as-user", "nso", "--init-system", "none").output


def test_reset_options_plan_shows_every_reverted_value(root, dists):
    dist = dists["6.5.3"]
    install(dist, root, "--run-as-user", "nso", "--keep-ncs-setup", "--set", "restconf.enabled=true",
            "--set", "cli.ssh.port=2222")
    r = install(dist, root, "--reset-options", "--no-run-as-user", "--check")
    for line in ("spec     run-as-user: nso -> (none)  [flag]",
                 "spec     keep-ncs-setup: yes -> no  [default (--reset-options)]",
                 "spec     restconf.enabled: yes -> (profile default)  [default (--reset-options)]",
                 "spec     cli.ssh.port: 2222 -> (profile default)  [default (--reset-options)]"):
        assert line in r.output
    out = json.loads(install(dist, root, "--reset-options", "--no-run-as-user", "--check", "--json").output)
    assert sorted(out["spec"]["changed"]) == ["cli.ssh.port", "keep-ncs-setup", "restconf.enabled", "run-as-user"]


def test_a_second_version_without_activate_changes_nothing_outside_its_tree(root, dists):
    install(dists["6.4.1"], root, "--run-as-user", "nso")
    before = snapshot(root)
    r = install(dists["6.5.3"], root)
    assert "installed beside the active 6.4.1" in r.output and "--activate" in r.output
    # said once, as a note: the normal first step of an upgrade is no warning (it was said twice)
    assert "/opt/ncs/current points to" not in r.output and "re-run with --activate to switch" not in r.output
    after = snapshot(root)
    new_tree = "opt/ncs/ncs-6.5.3"
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    outside = {p for p in changed if not p.startswith(new_tree)}
    # the install dir's own mtime moves (an entry was added); nso-install's own records get the
    # new tree (the digests of the binaries it may give privileges to) and a history line; root's
    # template cache is the host's, not the staging root's (run.py)
    assert outside == {"opt/ncs", "var/lib/nso-install", "var/lib/nso-install/state.json",
                       "var/lib/nso-install/history.jsonl", "var/lib/nso-install/manifests",
                       "var/lib/nso-install/manifests/opt+ncs+ncs-6.5.3.json"}
    assert not [p for p in after if "template-cache" in p]
    assert before["opt/ncs"][:5] == after["opt/ncs"][:5]
    # the new tree got the privileges of the spec too
    epam = root / new_tree / "lib/ncs/lib/core/pam/priv/epam"
    assert os.stat(epam).st_mode & stat.S_ISUID
    # activating it then renders the configuration for 6.5.3
    off_3des(root)
    install(dists["6.5.3"], root, "--activate")
    assert "NSO 6.5.3." in (root / "etc/ncs/ncs.conf").read_text()
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.5.3"


@pytest.mark.parametrize("kind", ["system", "local"])
@pytest.mark.parametrize("profile", ["production", "development"])
def test_render_conf_prints_what_install_writes(root, dists, kind, profile):
    dist = dists["6.5.3"]
    if kind == "system":
        where, conf = ["--system-install", "--root", root], root / "etc/ncs/ncs.conf"
    else:
        where, conf = ["--local-install", root / "home/dev/nso"], root / "home/dev/nso/etc/ncs/ncs.conf"
    extra = ["--profile", profile, "--set", "webui.server_name=nso.example.net"]
    cli("install", dist, *where, *extra)
    assert cli("render-conf", dist, *where, *extra).stdout_bytes == conf.read_bytes()
    # the recorded spec applies to render-conf as it does to install
    assert cli("render-conf", dist, *where).stdout_bytes == conf.read_bytes()
    if kind == "system":
        assert cli("render-conf", "--root", root).stdout_bytes == conf.read_bytes()  # the active version
        assert b"/run/ncs/nso-ipc" in conf.read_bytes() or profile == "development"


def test_render_conf_says_when_the_version_asked_for_is_not_the_one_rendered(root, dists):
    """render-conf --nso-version 6.2.1 (or a 6.4.1 DISTRIBUTION) without --activate, with 6.5.3
    active, silently printed 6.5.3's ncs.conf (what install writes then), the option ignored."""
    cli("install", dists["6.5.3"], "--system-install", "--root", root)
    conf = (root / "etc/ncs/ncs.conf").read_bytes()
    for asked, shown in ((["--nso-version", "6.2.1"], "not 6.2.1 (--nso-version)"),
                         ([dists["6.4.1"]], "not 6.4.1 (the DISTRIBUTION's version)")):
        r = cli("render-conf", "--root", root, *asked)
        assert r.stdout_bytes == conf  # (still what install writes, byte for byte)
        assert f"warning: this is the ncs.conf for NSO 6.5.3, {shown}: 6.5.3 is active under /opt/ncs" in r.stderr
        assert "Add --activate" in r.stderr, r.stderr
        r = cli("render-conf", "--root", root, *asked, "--activate")
        assert b"NSO 6.5.3." not in r.stdout_bytes and not r.stderr, r.stderr
    for same in ([], ["--nso-version", "6.5.3"], [dists["6.5.3"]]):  # nothing to say
        r = cli("render-conf", "--root", root, *same)
        assert r.stdout_bytes == conf and not r.stderr, r.stderr


def test_history_records_the_spec_and_every_note(root, dists, tmp_path):
    signed = make_sample_distribution(tmp_path, "6.5.3", "signed.bin")
    install(signed, root, "--run-as-user", "nso", "--skip-secrets")
    entry = json.loads((root / "var/lib/nso-install/history.jsonl").read_text().splitlines()[-1])
    assert entry["spec"]["run_as_user"] == "nso" and entry["spec"]["kind"] == "system"
    notes = " ".join(entry["notes"])
    assert "--skip-secrets" in notes and "proves integrity, not origin" in notes
    assert any(s["name"] == "run-as-user" for s in entry["spec_changes"]) is False  # first run: nothing before
    install(signed, root, "--set", "restconf.enabled=true")
    entry = json.loads((root / "var/lib/nso-install/history.jsonl").read_text().splitlines()[-1])
    assert entry["spec_changes"] == [{"name": "restconf.enabled", "value": True, "source": "--set",
                                      "previous": "(profile default)"}]
