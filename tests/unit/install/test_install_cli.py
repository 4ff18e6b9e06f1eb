"""The install command end to end, as a user runs it, on a real file system under --root."""

import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from nso_install.sample import make_sample_distribution

from support import all_bytes, cli, install_json, off_3des, snapshot, staged_root

V = "6.5.3"


SYSTEM_PATHS = [
    f"opt/ncs/ncs-{V}/bin/ncs", f"opt/ncs/ncs-{V}/ncsrc", f"opt/ncs/ncs-{V}/ncsrc.tcsh", "opt/ncs/packages",
    "opt/ncs/installdirs", "etc/ncs/ncs.conf", "etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh",
    "etc/ncs/ssl/cert", "etc/ncs/ncs.systemd.conf", "var/opt/ncs/cdb/aaa_init.xml", "var/opt/ncs/packages",
    "var/opt/ncs/state", "var/opt/ncs/rollbacks", "var/opt/ncs/scripts", "var/opt/ncs/backups", "var/log/ncs",
    "etc/profile.d/ncs.sh", "etc/profile.d/ncs.csh", "etc/logrotate.d/ncs", "etc/systemd/system/ncs.service",
]


@pytest.mark.parametrize("fmt", ["tar.gz", "dir", "installer.bin"])
def test_system_install_then_rerun_is_noop_and_byte_identical(tmp_path, sample_dists, fmt):
    root = tmp_path / "root"
    first = install_json(sample_dists[fmt], root, "--system-install")
    assert first["result"] == "applied" and first["changed"] > 20
    for p in SYSTEM_PATHS:
        assert (root / p).exists(), p
    assert os.readlink(root / "opt/ncs/current") == f"ncs-{V}"
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/ncs.service") == "/etc/systemd/system/ncs.service"
    assert not (root / f"opt/ncs/ncs-{V}/bin/ncs-setup").exists()
    before = snapshot(root)
    second = install_json(sample_dists[fmt], root, "--system-install")
    assert second["changed"] == 0, [a for a in second["actions"] if a["changed"]]
    assert all(a["status"] == "ok" for a in second["actions"])
    assert snapshot(root) == before


def test_system_install_modes(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    modes = {p: stat.S_IMODE(os.lstat(root / p).st_mode) for p in
             ["etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh", "var/opt/ncs", "var/log/ncs",
              "opt/ncs", f"opt/ncs/ncs-{V}", "etc/ncs/ncs.conf", "var/lib/nso-install"]}
    assert modes == {"etc/ncs/ncs.crypto_keys": 0o600, "etc/ncs/ipc_access": 0o400, "etc/ncs/ssh": 0o700,
                     "var/opt/ncs": 0o750, "var/log/ncs": 0o750, "opt/ncs": 0o755, f"opt/ncs/ncs-{V}": 0o755,
                     "etc/ncs/ncs.conf": 0o644, "var/lib/nso-install": 0o700}


def test_no_staging_root_leaks_into_installed_files(tmp_path, sample_dists):
    root = tmp_path / "stagingroot-unique"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    assert b"stagingroot-unique" not in all_bytes(root)
    ncsrc = (root / f"opt/ncs/ncs-{V}/ncsrc").read_text()
    assert f"NCS_DIR=/opt/ncs/ncs-{V}\n" in ncsrc


def test_ncsrc_sets_ncs_dir_when_sourced(tmp_path, sample_dists):
    d = tmp_path / "nso"
    cli("install", sample_dists["tar.gz"], "--local-install", d)
    out = subprocess.run(["sh", "-c", f". {d}/ncsrc && echo $NCS_DIR && command -v ncs"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(d), f"{d}/bin/ncs"]


@pytest.mark.parametrize("fmt", ["tar.gz", "dir"])
def test_local_install_then_rerun(tmp_path, sample_dists, fmt):
    d = tmp_path / "home/dev/nso"
    r = cli("install", sample_dists[fmt], str(d))  # bare DIR means local install
    assert "Done:" in r.stdout
    assert (d / "bin/ncs").exists() and (d / "ncsrc").exists() and (d / "ncsrc.tcsh").exists()
    assert (d / "VERSION").read_text().strip() == V
    assert (d / "bin/ncs-setup").exists()  # local installs keep ncs-setup
    before = snapshot(d)
    r = cli("install", sample_dists[fmt], "--local-install", d, "--json")
    assert json.loads(r.stdout)["changed"] == 0
    assert snapshot(d) == before


@pytest.mark.parametrize("made, kept", [(0o700, 0o700), (0o750, 0o750), (0o777, 0o755), (0o500, 0o700)])
def test_a_local_install_directory_made_beforehand_keeps_its_mode(tmp_path, sample_dists, made, kept):
    """``mkdir -m 0700 ~/nso`` (private on a shared host), then the install: it became 0755, open
    to every account, where ncs-installer unpacking into it keeps it. Its mode is kept now, never
    more open than the tree's 0755 and always the owner's to use; a repair keeps it too."""
    d = tmp_path / "nso"
    d.mkdir()
    os.chmod(d, made)
    cli("install", sample_dists["tar.gz"], "--local-install", d)
    assert stat.S_IMODE(d.stat().st_mode) == kept
    (d / "bin/ncs").unlink()  # damaged: the repair unpacks the tree again and swaps it in
    cli("install", sample_dists["tar.gz"], "--local-install", d)
    assert (d / "bin/ncs").is_file() and stat.S_IMODE(d.stat().st_mode) == kept


@pytest.mark.parametrize("how", ["tmpfs", "bind"])
def test_local_install_into_an_empty_mount_point_is_refused_clearly(tmp_path, sample_dists, how):
    """An empty volume as the local install directory (``docker run -v vol:/nso``): the tree is
    unpacked beside it and renamed into its place, which a mount point refuses. Before: the whole
    tree was unpacked on the parent's file system, then "Device or resource busy (unpack NSO 6.5.3
    into the empty directory)", with the hint "Fix the cause". Now: what and how to fix; a mount
    on another file system before anything is unpacked (--check says it too)."""
    vol = tmp_path / "vol"
    vol.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    args = ["mount", "-t", "tmpfs", "tmpfs", vol] if how == "tmpfs" else ["mount", "--bind", src, vol]
    if os.geteuid() != 0 or subprocess.run(args, capture_output=True).returncode != 0:
        pytest.skip("cannot mount here")
    try:
        for check in (("--check",), ()) if how == "tmpfs" else ((),):
            r = cli("install", sample_dists["tar.gz"], "--local-install", vol, *check, ok=False)
            assert r.exit_code == 1, r.output
            assert "mount point" in r.stderr and f"{vol}/nso-{V}" in r.stderr, r.stderr
        assert os.listdir(vol) == [] and os.listdir(src) == []
        assert [n for n in os.listdir(tmp_path) if n.startswith(".nso-install-tmp")] == []  # nothing left beside it
        cli("install", sample_dists["tar.gz"], "--local-install", vol / f"nso-{V}")  # as the hint says
    finally:
        subprocess.run(["umount", "-l", vol], check=True)


def test_check_on_empty_target_lists_everything_and_writes_nothing(tmp_path, sample_dists):
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(tmp_path)
    plan = install_json(sample_dists["tar.gz"], root, "--system-install", "--check")
    assert plan["result"] == "check"
    assert snapshot(tmp_path) == before
    applied = install_json(sample_dists["tar.gz"], root, "--system-install")
    assert [a["id"] for a in plan["actions"]] == [a["id"] for a in applied["actions"]]
    assert plan["totals"]["would_change"] == applied["totals"]["changed"]
    # and a check after the install reports nothing to do
    assert install_json(sample_dists["tar.gz"], root, "--system-install", "--check")["changed"] == 0


def test_check_text_output(tmp_path, sample_dists):
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "r", "--check")
    assert "Check:" in r.stdout and "nothing was changed" in r.stdout
    assert f"/opt/ncs/ncs-{V}" in r.stdout
    assert not (tmp_path / "r").exists()


def test_json_shape(tmp_path, sample_dists):
    out = install_json(sample_dists["tar.gz"], tmp_path / "r", "--system-install")
    assert out["version"] == 1
    assert set(out["totals"]) == {"actions", "changed", "ok", "conflicts"}
    assert out["totals"]["actions"] == len(out["actions"])
    for a in out["actions"]:
        assert {"id", "kind", "path", "status", "changed", "detail"} <= set(a)
        assert a["id"] == f"{a['kind']}:{a['path']}"
        assert a["detail"]


def test_option_variants(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install", "--keep-ncs-setup", "--ignore-systemd-script",
                 "--install-dir", "/srv/nso", "--config-dir", "/srv/etc", "--run-dir", "/srv/run", "--log-dir", "/srv/log")
    assert (root / f"srv/nso/ncs-{V}/bin/ncs-setup").exists()
    assert (root / "etc/init.d/ncs").exists() and not (root / "etc/systemd").exists()
    assert (root / "srv/etc/ncs.conf").exists() and (root / "srv/run/cdb/aaa_init.xml").exists()
    assert "NCS_CONFIG_DIR=/srv/etc" in (root / "etc/profile.d/ncs.sh").read_text()
    root2 = tmp_path / "r2"
    install_json(sample_dists["tar.gz"], root2, "--system-install", "--ignore-init-scripts")
    assert not (root2 / "etc/init.d").exists() and not (root2 / "etc/systemd").exists()


def test_keep_ncs_setup_toggle_on_rerun_removes_it(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install", "--keep-ncs-setup")
    # an option not given keeps the value the last run recorded: turning it off takes the flag
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0
    assert (root / f"opt/ncs/ncs-{V}/bin/ncs-setup").exists()
    out = install_json(sample_dists["tar.gz"], root, "--system-install", "--no-keep-ncs-setup")
    assert [a["id"] for a in out["actions"] if a["changed"]] == [f"absent:/opt/ncs/ncs-{V}/bin/ncs-setup"]
    # then the tree is as this spec wants it: verify agrees, and a re-run repairs nothing
    cli("verify", "--root", root)
    before = snapshot(root)
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0
    assert snapshot(root) == before
    # and back: the tree is unpacked again to hold ncs-setup, once
    out = install_json(sample_dists["tar.gz"], root, "--system-install", "--keep-ncs-setup")
    assert [a["id"] for a in out["actions"] if a["changed"]] == [f"tree:/opt/ncs/ncs-{V}"]
    assert (root / f"opt/ncs/ncs-{V}/bin/ncs-setup").is_file()
    cli("verify", "--root", root)
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0


def test_keep_ncs_setup_after_an_install_without_it_restores_it(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    assert not (root / f"opt/ncs/ncs-{V}/bin/ncs-setup").exists()
    check = install_json(sample_dists["tar.gz"], root, "--system-install", "--keep-ncs-setup", "--check")
    assert [a["id"] for a in check["actions"] if a["status"] == "change"] == [f"tree:/opt/ncs/ncs-{V}"]
    install_json(sample_dists["tar.gz"], root, "--system-install", "--keep-ncs-setup")
    assert (root / f"opt/ncs/ncs-{V}/bin/ncs-setup").is_file()
    cli("verify", "--root", root)
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0


def test_upgrade_leaves_current_alone_unless_activate(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    old = make_sample_distribution(d, "6.4.2", "tar.gz")
    new = make_sample_distribution(d, V, "tar.gz")
    root = tmp_path / "r"
    install_json(old, root, "--system-install")
    out = install_json(new, root, "--system-install")
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.2"
    assert (root / f"opt/ncs/ncs-{V}/VERSION").exists()
    assert not any("--activate" in w for w in out["warnings"])  # (the normal first step of an upgrade: a note)
    # config follows the active version: ncs.conf stays rendered for 6.4.2, and the run says so
    assert "NSO 6.4.2." in (root / "etc/ncs/ncs.conf").read_text()
    assert any("beside the active 6.4.2" in n for n in out["notes"])
    refused = cli("install", new, "--system-install", "--root", root, "--activate", ok=False)
    assert refused.exit_code == 2 and "DES3CBC_KEY1: NSO 6.5 removed 3DES" in refused.stderr
    assert "install without --activate, then run nso-install activate 6.5.3 --force" in refused.stderr
    assert os.readlink(root / "opt/ncs/current") == "ncs-6.4.2"
    off_3des(root)  # what the refusal asks for first
    install_json(new, root, "--system-install", "--activate")
    assert os.readlink(root / "opt/ncs/current") == f"ncs-{V}"
    assert f"NSO {V}." in (root / "etc/ncs/ncs.conf").read_text()


@pytest.mark.parametrize("args, ref", [
    (["--system-install", "--local-install", "/x"], "two-kinds"),
    ([], "no-install-kind"),
    (["--local-install", "/x", "--run-as-user", "nso"], "system-only-option"),
    (["--local-install", "/x", "--config-dir", "/y"], "system-only-option"),
    (["--system-install", "--install-dir", "relative/dir"], "relative-path"),
    (["--system-install", "--ignore-init-scripts", "--ignore-systemd-script"], "conflicting-options"),
    (["--system-install", "--skip-secrets", "--crypto-keys", "/etc/hostname"], "conflicting-options"),
    (["--system-install", "--config-dir", "/opt/ncs/etc"], "overlapping-directories"),
    (["--system-install", "--log-dir", "/"], "root-dir"),
    (["--system-install", "--setuid-cmdwrapper"], "setuid-needs-run-as-user"),
])
def test_usage_errors(tmp_path, sample_dists, args, ref):
    r = cli("install", sample_dists["tar.gz"], "--root", tmp_path / "r", "--json", *args, ok=False)
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"]["reference"] == ref
    assert r.stderr.startswith("Error: ") and "Hint: " in r.stderr
    if ref == "relative-path":
        assert "--install-dir" in r.stderr  # names the option the path came from
    assert not (tmp_path / "r").exists()


def test_unsafe_ipc_path_refused_before_anything_is_written(tmp_path, sample_dists):
    root = tmp_path / "root"
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root,
            "--set", "ipc.path=/run/$(reboot)/sock", ok=False)
    assert r.exit_code == 2 and "unsafe-path-characters" not in r.stdout
    assert "NCS_IPC_PATH" in r.stderr and "Hint:" in r.stderr
    assert not root.exists()
    r = cli("install", sample_dists["tar.gz"], "--root", root, "--local-install", "/home/me/my nso", ok=False)
    assert r.exit_code == 2 and "--local-install" in r.stderr and not root.exists()


@pytest.mark.parametrize("extra", [[], ["--run-as-user", "nso"]], ids=["root", "run-as-user"])
def test_check_and_apply_agree_on_every_action_of_a_fresh_staged_target(tmp_path, sample_dists, extra):
    """Before: bin/ncs-setup was 'absent' in --check but removed by the run; var/ was 'create' in
    --check but already made by the run's lock before the plan ran; the privileged binaries of
    a root install were 'change' in --check but already plain once unpacked."""
    root = staged_root(tmp_path)
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json", *extra]
    check = json.loads(cli(*args, "--check").stdout)
    applied = json.loads(cli(*args).stdout)
    want = {a["id"]: a["status"] == "change" for a in check["actions"]}
    got = {a["id"]: a["changed"] for a in applied["actions"]}
    assert want == got
    assert not (root / "opt/ncs/ncs-6.5.3/bin/ncs-setup").exists()


def test_missing_distribution_is_a_clear_error(tmp_path):
    r = cli("install", tmp_path / "nope.tar.gz", "--system-install", "--root", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and "Error:" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "r").exists()


def hostile_tar(path: Path, name: str, **kw) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(f"nso-{V}/VERSION")
        data = f"{V}\n".encode()
        info.size = len(data)
        import io
        tf.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo(name)
        for k, v in kw.items():
            setattr(evil, k, v)
        payload = b"pwned\n"
        if evil.type == tarfile.REGTYPE:
            evil.size = len(payload)
            tf.addfile(evil, io.BytesIO(payload))
        else:
            tf.addfile(evil)
    return path


@pytest.mark.parametrize("name, kw", [
    (f"nso-{V}/../../../escape", {}),
    ("/tmp/abs-escape", {}),
    (f"nso-{V}/link", {"type": tarfile.SYMTYPE, "linkname": "/etc"}),
    (f"nso-{V}/dev", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}),
    (f"nso-{V}/suid", {"mode": 0o4755}),
])
def test_hostile_archive_writes_nothing(tmp_path, name, kw):
    root = tmp_path / "r"
    root.mkdir()
    dist = hostile_tar(tmp_path / f"nso-{V}.linux.x86_64.tar.gz", name, **kw)
    r = cli("install", dist, "--system-install", "--root", root, ok=False)
    assert r.exit_code != 0 and "Error:" in r.stderr
    assert not (root / "opt/ncs" / f"ncs-{V}").exists()
    assert not any(p.name.startswith(".nso-install-tmp") for p in (root / "opt/ncs").glob("*")) if (root / "opt/ncs").exists() else True
    assert not (tmp_path / "escape").exists() and not Path("/tmp/abs-escape").exists()


def test_second_run_waits_or_fails_on_lock(tmp_path, sample_dists):
    root = tmp_path / "r"
    lock = root / "var/lib/nso-install"
    lock.mkdir(parents=True, mode=0o700)
    os.chmod(lock, 0o700)
    fd = os.open(lock, os.O_RDONLY | os.O_DIRECTORY)  # another run holds the target's lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, ok=False)
        assert r.exit_code == 3 and "another nso-install run" in r.stderr
        assert sorted(os.listdir(root)) == ["var"] and os.listdir(lock) == []
        started = time.monotonic()
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--lock-timeout", "0.5", ok=False)
        assert r.exit_code == 3 and time.monotonic() - started >= 0.5
    finally:
        os.close(fd)
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)


def test_a_shared_lock_held_elsewhere_also_blocks(tmp_path, sample_dists):
    """The run's lock is exclusive: even a shared lock held by another run keeps it out (after
    the short grace a replay's shared hold gets: state.REPLAY_GRACE)."""
    from nso_install.state import REPLAY_GRACE

    root = tmp_path / "r"
    lock = root / "var/lib/nso-install"
    lock.mkdir(parents=True)
    os.chmod(lock, 0o700)
    fd = os.open(lock, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        started = time.monotonic()
        assert cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, ok=False).exit_code == 3
        assert time.monotonic() - started >= REPLAY_GRACE
    finally:
        os.close(fd)


def test_a_replay_holding_the_lock_shared_does_not_fail_a_run_starting_then(tmp_path, sample_dists):
    """A replay (a pipeline's no-op beside this one) holds the lock shared while it runs, tens of
    milliseconds: a run starting in that instant without --lock-timeout failed as locked (exit 3).
    Only shared holders found, it waits for them a little; an exclusive holder still fails it
    at once (test_second_run_waits_or_fails_on_lock)."""
    root = tmp_path / "r"
    lock = root / "var/lib/nso-install"
    lock.mkdir(parents=True)
    os.chmod(lock, 0o700)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
                               "fcntl.flock(fd, fcntl.LOCK_SH); print('held', flush=True); time.sleep(0.5)",
                               str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
        assert "Done: " in r.output
    finally:
        holder.wait()


def test_nobody_else_can_block_runs_by_locking_the_root(tmp_path, sample_dists):
    """Locks on / (or a staging root, or a local install's parent) held by other accounts are
    irrelevant: the run's lock is a directory (or file) only its own account can open."""
    root = tmp_path / "r"
    root.mkdir()
    fds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in (root, tmp_path, Path("/"))]
    for fd in fds:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
        cli("install", sample_dists["tar.gz"], tmp_path / "local-nso")
    finally:
        for fd in fds:
            os.close(fd)
    assert stat.S_IMODE(os.stat(root / "var/lib/nso-install").st_mode) == 0o700
    lockfile = tmp_path / ".local-nso.nso-install-lock"
    assert stat.S_IMODE(os.stat(lockfile).st_mode) == 0o600


def test_a_lock_prepared_by_another_account_is_refused(tmp_path, sample_dists):
    lockfile = tmp_path / ".nso.nso-install-lock"
    lockfile.write_text("")
    os.chown(lockfile, 65534, 65534)
    r = cli("install", sample_dists["tar.gz"], tmp_path / "nso", ok=False)
    assert r.exit_code != 0 and "unsafe-lock" not in r.stderr and "belongs to uid 65534" in r.stderr
    assert not (tmp_path / "nso").exists()


# Secrets and host keys are random per install, by design; state.json records their conffiles.
RANDOM_PER_INSTALL = ("etc/ncs/ncs.crypto_keys", "etc/ncs/ipc_access", "etc/ncs/ssh/", "etc/ncs/ssl/cert/",
                      "var/lib/nso-install")


def test_killed_midway_rerun_completes(tmp_path):
    big = make_sample_distribution(tmp_path, V, "tar.gz", padding_files=3000, padding_bytes=8192)
    root = tmp_path / "r"
    cmd = [sys.executable, "-m", "nso_install", "install", str(big), "--system-install", "--root", str(root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    opt = root / "opt/ncs"

    def temps():  # the private tree is prepared beside INSTALL_DIR/ncs-VSN or in an ancestor
        return [p for d in (root, root / "opt", opt) if d.is_dir() for p in d.iterdir()
                if p.name.startswith(".nso-install-tmp")]
    while time.monotonic() < deadline:  # wait until extraction is under way, then kill -9
        if temps():
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (opt / f"ncs-{V}").exists(), "a half tree must never carry the final name"
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert temps() == []
    ref = tmp_path / "clean"
    subprocess.run(cmd[:-1] + [str(ref)], check=True, capture_output=True)
    def shape(root):  # paths, types, modes and contents (not the times of this run)
        return {k: (v[0], v[1], v[4], v[6]) for k, v in snapshot(root).items()
                if not k.startswith(RANDOM_PER_INSTALL) and k != "."}
    assert shape(root) == shape(ref)
    again = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True).stdout)
    assert again["changed"] == 0, [a for a in again["actions"] if a["changed"]]


def test_installer_bin_without_our_marker_is_read(tmp_path, sample_dists):
    """A self-extracting script of another shape (archive appended after the last line)."""
    tgz = sample_dists["tar.gz"].read_bytes()
    script = b'#!/bin/sh\n# vendor-style installer\ntail -n +5 "$0" | tar xzf - -C "${1:-.}"\nexit 0\n'
    other = tmp_path / f"nso-{V}.linux.x86_64.installer.bin"
    other.write_bytes(script + tgz)
    out = install_json(other, tmp_path / "r", "--system-install")
    assert out["changed"] > 0 and (tmp_path / f"r/opt/ncs/ncs-{V}/bin/ncs").exists()


def _run_with_tty_stderr(args):
    import pty
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "nso_install", *map(str, args)], stdout=subprocess.PIPE,
                          stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_never_with_json(tmp_path, sample_dists):
    proc, err = _run_with_tty_stderr(["install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "a"])
    # the bar is set up before the distribution is opened (run.py opens it), so it names no version
    assert proc.returncode == 0 and "unpacking NSO 6.5.3 [" in err and "100%" in err
    proc, err = _run_with_tty_stderr(["install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "b",
                                      "--json"])
    assert proc.returncode == 0 and "unpacking" not in err
    json.loads(proc.stdout)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", tmp_path / "c")  # not a TTY
    assert "unpacking" not in r.stderr


def test_check_fail_on_change_exit_codes_for_drift_detection(tmp_path, sample_dists):
    root = tmp_path / "r"
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root]
    assert cli(*args, "--check", "--fail-on-change", ok=False).exit_code == 4  # nothing installed yet
    cli(*args)
    assert cli(*args, "--check", "--fail-on-change").exit_code == 0  # converged
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)  # drift
    r = cli(*args, "--check", "--fail-on-change", "--json", ok=False)
    assert r.exit_code == 4 and json.loads(r.stdout)["changed"] == 1
    assert stat.S_IMODE(os.stat(root / "etc/ncs/ncs.crypto_keys").st_mode) == 0o644  # check changed nothing
    assert cli(*args, "--fail-on-change", ok=False).exit_code == 2


def test_history_records_changing_runs_only_and_no_secret(tmp_path, sample_dists):
    root = tmp_path / "r"
    args = ["install", sample_dists["tar.gz"], "--system-install", "--root", root]
    cli(*args)
    hist = root / "var/lib/nso-install/history.jsonl"
    assert stat.S_IMODE(os.stat(hist).st_mode) == 0o600
    lines = hist.read_text().splitlines()
    assert len(lines) == 1 and "tree:/opt/ncs/ncs-6.5.3" in [c["id"] for c in json.loads(lines[0])["changed"]]
    cli(*args)  # no-op run: nothing appended
    assert len(hist.read_text().splitlines()) == 1
    os.chmod(root / "etc/ncs/ncs.crypto_keys", 0o644)
    cli(*args)
    entries = [json.loads(l) for l in hist.read_text().splitlines()]
    assert [c["id"] for c in entries[-1]["changed"]] == ["secret:/etc/ncs/ncs.crypto_keys"]
    for line in (root / "etc/ncs/ncs.crypto_keys").read_text().splitlines():
        assert line.split("=", 1)[1] not in hist.read_text()


def test_legacy_sysv_script_is_reported_never_touched(tmp_path, sample_dists):
    root = tmp_path / "r"
    (root / "etc/init.d").mkdir(parents=True)
    (root / "etc/init.d/ncs").write_text("#!/bin/sh\n# from an old NSO\n")
    out = install_json(sample_dists["tar.gz"], root, "--system-install")
    assert any("/etc/init.d/ncs" in w and "update-rc.d" in w for w in out["warnings"])
    assert (root / "etc/init.d/ncs").read_text() == "#!/bin/sh\n# from an old NSO\n"
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0
    clean = install_json(sample_dists["tar.gz"], tmp_path / "r2", "--system-install")
    assert not any("init.d" in w for w in clean["warnings"])
    assert not (tmp_path / "r2/etc/init.d").exists()  # a check creates no parent directory


def test_moving_to_sysv_removes_nso_installs_unedited_unit_and_reports_an_edited_one(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install")  # systemd first
    out = install_json(sample_dists["tar.gz"], root, "--system-install", "--ignore-systemd-script")
    assert (root / "etc/init.d/ncs").exists()
    assert not (root / "etc/systemd/system/ncs.service").exists()
    assert not os.path.lexists(root / "etc/systemd/system/multi-user.target.wants/ncs.service")
    assert {a["id"] for a in out["actions"] if a["changed"]} >= {
        "obsolete:/etc/systemd/system/ncs.service", "obsolete:/etc/systemd/system/multi-user.target.wants/ncs.service"}
    # back to systemd, the administrator edits the unit, then SysV again: the edited unit stays, reported
    install_json(sample_dists["tar.gz"], root, "--system-install", "--init-system", "systemd")
    assert not (root / "etc/init.d/ncs").exists()  # our unedited SysV script went the other way
    unit = root / "etc/systemd/system/ncs.service"
    unit.write_text(unit.read_text() + "# admin\n")
    out = install_json(sample_dists["tar.gz"], root, "--system-install", "--init-system", "sysv")
    assert unit.read_text().endswith("# admin\n")
    # (aimed at the staging root: a bare systemctl disables the host's ncs)
    assert any(f"systemctl --root={root} disable ncs" in w for w in out["warnings"]), out["warnings"]


def test_unit_leaves_shell_variables_to_the_shell(tmp_path, sample_dists):
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    unit = (root / "etc/systemd/system/ncs.service").read_text()
    # no $ for systemd to expand but its own $MAINPID (the readiness wait ends with NSO): the
    # start script reads NCS_RELOAD_PACKAGES, NCS_EXTRA_ARGS
    body = "".join(l for l in unit.splitlines() if not l.startswith("#"))
    assert "$" not in body.replace("$MAINPID", "") and "kill -0 $MAINPID" in body
    start = (root / "opt/ncs/ncs-service-start").read_text()
    assert '"$@" $NCS_EXTRA_ARGS' in start and 'case "$NCS_RELOAD_PACKAGES" in' in start
    logrotate = (root / "etc/logrotate.d/ncs").read_text()
    files = logrotate.split("{")[0]
    assert "/var/log/ncs/*.access" in files and "ncserr.log\n" not in files and "/var/log/ncs/*.log" not in files


def test_leftovers_of_an_interrupted_run_are_removed_by_the_next(tmp_path, sample_dists):
    """Half-written temp files (possibly holding key material) never survive a re-run."""
    root = tmp_path / "r"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    (root / "etc/ncs/.nso-install-tmp.ncs.crypto_keys.dead").write_text("AESCFB128_KEY=0123")
    (root / "etc/ncs/ssh/.nso-install-tmp.keygen.beef").mkdir()
    (root / "etc/ncs/ssh/.nso-install-tmp.keygen.beef/key").write_text("private")
    (root / "opt/ncs/.nso-install-tmp.ncs-6.5.3.cafe").mkdir()  # an interrupted unpack
    plan = install_json(sample_dists["tar.gz"], root, "--system-install", "--check")
    assert sorted(a["id"] for a in plan["actions"] if a["status"] == "change") == \
        ["leftovers:/", f"tree:/opt/ncs/ncs-{V}"]
    out = install_json(sample_dists["tar.gz"], root, "--system-install")
    assert out["changed"] == 2
    leftovers = [p for p in root.rglob(".nso-install-tmp*")]
    assert leftovers == []
    assert install_json(sample_dists["tar.gz"], root, "--system-install")["changed"] == 0




def _lock_is_held(root) -> bool:
    fd = os.open(root / "var/lib/nso-install", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_how_often_a_run_plans_and_under_which_lock(tmp_path, sample_dists, monkeypatch):
    """A first install plans before it creates anything for its lock (usage errors first), then
    again under the lock (another run may have changed the state while it waited). A re-run whose
    lock is there and free takes it first and plans once, under it. --check takes no lock and
    plans once."""
    import nso_install.run as run

    root = tmp_path / "r"
    calls = []  # (the State it planned with, whether the lock was held)
    real = run._resolve_and_plan
    monkeypatch.setattr(run, "_resolve_and_plan", lambda *a: (
        calls.append((a[3], (root / "var/lib/nso-install").is_dir() and _lock_is_held(root))), real(*a))[1])
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    assert [held for _, held in calls] == [False, True] and calls[0][0] is not calls[1][0]
    calls.clear()
    before = snapshot(root)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json")
    assert json.loads(r.stdout)["changed"] == 0 and [held for _, held in calls] == [True]
    calls.clear()
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--check", "--json")
    assert [held for _, held in calls] == [False] and json.loads(r.stdout)["changed"] == 0
    assert snapshot(root) == before and not _lock_is_held(root)


def test_a_usage_error_of_a_rerun_is_reported_at_once_whoever_holds_the_lock(tmp_path, sample_dists):
    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    before = snapshot(root)
    bad = ("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "no.such=1")
    r = cli(*bad, ok=False)  # the lock was free: taken, then given back
    assert r.exit_code == 2 and "no.such" in r.stderr and not _lock_is_held(root)
    fd = os.open(root / "var/lib/nso-install", os.O_RDONLY | os.O_DIRECTORY)  # another run holds the lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        r = cli(*bad, "--lock-timeout", "30", ok=False)
        assert r.exit_code == 2 and "no.such" in r.stderr and time.monotonic() - started < 20  # did not wait
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, ok=False)
        assert r.exit_code == 3 and "another nso-install run" in r.stderr
    finally:
        os.close(fd)
    assert snapshot(root) == before


def test_a_run_that_waited_for_the_lock_says_so_rather_than_hinting_the_wait_it_was_given(tmp_path, sample_dists):
    """After --lock-timeout 1 it failed with "... or pass --lock-timeout SECONDS to wait", as if
    the option had not been given (found by review)."""
    root = tmp_path / "r"
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root)
    fd = os.open(root / "var/lib/nso-install", os.O_RDONLY | os.O_DIRECTORY)  # another run holds the lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--lock-timeout", "0.5",
                "--json", ok=False)
        error = json.loads(r.stdout)["error"]
        assert r.exit_code == 3 and error["reference"] == "locked"
        assert error["message"].endswith("(waited 0.5 s for it).") and "a longer --lock-timeout" in error["hint"]
        r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, ok=False)
        assert r.exit_code == 3 and "(waited" not in r.stderr and "pass --lock-timeout SECONDS" in r.stderr
    finally:
        os.close(fd)


# --- a system install by an account other than root: the two hints agree ---------------------

def test_a_system_install_as_another_account_hints_check_as_root(sample_dists, monkeypatch):
    """It hinted "use --check to preview", and that --check, as the same account, was then
    refused ("Run as root, also for --check")."""
    monkeypatch.setattr(os, "geteuid", lambda: 1001)
    r = cli("install", sample_dists["tar.gz"], "--system-install", ok=False)
    assert r.exit_code == 2 and "must run as root" in r.stderr
    assert "Hint: Run it as root (sudo); the same command with --check, as root too, previews it" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="plays another account with seteuid (root only)")
def test_a_check_that_cannot_see_roots_records_says_which_directory_and_hints_check_as_root():
    """It said "cannot read .../state.json" of a file it could not even see (the directory above
    is root's 0700)."""
    import importlib
    import shutil
    import tempfile

    importlib.import_module("nso_install.fsops")  # imported as root: nobody may not read this Python's files
    from nso_install.errors import NsoInstallError
    from nso_install.facts import Facts
    from nso_install.target import Target

    stage = Path(tempfile.mkdtemp(prefix="nso-denied-"))
    try:
        os.chmod(stage, 0o755)
        (stage / "var/lib/nso-install").mkdir(parents=True, mode=0o700)
        (stage / "etc").mkdir(mode=0o755)
        (stage / "etc/secret").write_text("x")
        os.chmod(stage / "etc/secret", 0o600)
        os.setegid(65534)
        os.seteuid(65534)
        try:
            with pytest.raises(NsoInstallError) as looked:
                Facts(Target.at(stage)).path("/var/lib/nso-install/state.json")
            with pytest.raises(NsoInstallError) as read:
                Facts(Target.at(stage)).read("/etc/secret")
        finally:
            os.seteuid(0)
            os.setegid(0)
    finally:
        shutil.rmtree(stage)
    assert looked.value.message == ("cannot look into /var/lib/nso-install (owner uid 0, mode 0700) for "
                                    "/var/lib/nso-install/state.json as uid 65534.")
    assert read.value.message.startswith("cannot read /etc/secret (owner uid 0, mode 0600) as uid 65534")
    for e in (looked.value, read.value):
        assert "root for a system install (sudo; with --check it still changes nothing)" in e.hint
        # "the owner for a local one" alone sent the owner of a local install to run keys rotate,
        # uninstall... again as itself, which meet the same refusal: they have no local form
        assert "status and verify take --local-install DIR" in e.hint
        assert "activate, rollback, uninstall, keys rotate and audit are for system installs" in e.hint


def test_a_local_install_dir_that_is_a_link_is_refused_with_the_place_it_leads_to(sample_dists, tmp_path):
    """The hint said only "Remove the link": an operator who made DIR -> /data/nso on purpose
    was not told that naming /data/nso itself works."""
    (tmp_path / "data").mkdir()
    (tmp_path / "nso").symlink_to(tmp_path / "data" / "nso")
    r = cli("install", sample_dists["tar.gz"], "--local-install", tmp_path / "nso", ok=False)
    assert r.exit_code == 1 and f"is a symbolic link (to {tmp_path / 'data' / 'nso'})" in r.output, r.output
    assert "give the path it leads to instead" in r.output
    assert not (tmp_path / "data" / "nso").exists()
    cli("install", sample_dists["tar.gz"], "--local-install", tmp_path / "data" / "nso")
    assert (tmp_path / "data" / "nso" / "VERSION").is_file()


def test_systemctl_disable_ncs_is_not_undone_by_a_re_run(tmp_path, sample_dists):
    """The unit is enabled once (NSO's installer: "installed and enabled"), as packages do. A
    re-run re-created the enable link that `systemctl disable ncs` had removed: CI re-running
    nso-install on every deploy enabled NSO again on a node the administrator had disabled it on."""
    root = tmp_path / "r"
    wants = root / "etc/systemd/system/multi-user.target.wants/ncs.service"
    install_json(sample_dists["tar.gz"], root, "--system-install")
    assert os.readlink(wants) == "/etc/systemd/system/ncs.service"
    wants.unlink()  # systemctl disable ncs
    out = install_json(sample_dists["tar.gz"], root, "--system-install")
    assert out["changed"] == 0 and not os.path.lexists(wants)
    link = next(a for a in out["actions"] if a["id"] == "symlink:/etc/systemd/system/multi-user.target.wants/ncs.service")
    assert link["status"] == "ok" and f"systemctl --root={root} enable ncs" in link["detail"], link
    # a run that moves the install (back) to systemd enables it, as the first install does
    install_json(sample_dists["tar.gz"], root, "--system-install", "--init-system", "sysv")
    install_json(sample_dists["tar.gz"], root, "--system-install", "--init-system", "systemd")
    assert os.readlink(wants) == "/etc/systemd/system/ncs.service"
    # a unit that is gone is written and enabled again (the link comes first: a run stopped
    # between the two leaves no unit that its re-run would take for a disabled one)
    wants.unlink()
    (root / "etc/systemd/system/ncs.service").unlink()
    plan = install_json(sample_dists["tar.gz"], root, "--system-install", "--check")["actions"]
    ids = [a["id"] for a in plan]
    assert ids.index("symlink:/etc/systemd/system/multi-user.target.wants/ncs.service") < \
        ids.index("conffile:/etc/systemd/system/ncs.service")
    install_json(sample_dists["tar.gz"], root, "--system-install")
    assert os.readlink(wants) == "/etc/systemd/system/ncs.service"


@pytest.mark.parametrize("init_system", ["systemd", "none", "sysv"])
def test_a_masked_unit_is_named_as_masked_and_never_written_through(tmp_path, sample_dists, init_system):
    """`systemctl mask ncs` (ncs.service -> /dev/null) stopped the install with the generic
    refusal of a symbolic link, whose hint says to remove it or give the path it leads to; with
    --init-system none or sysv it was warned of as 'a systemd unit that starts NSO too'."""
    root = tmp_path / "r"
    unit = root / "etc/systemd/system/ncs.service"
    unit.parent.mkdir(parents=True)
    os.symlink("/dev/null", unit)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", init_system,
            ok=init_system != "systemd")
    assert os.readlink(unit) == "/dev/null"
    if init_system != "systemd":  # the mask starts nothing: no unit to disable
        assert "ncs.service" not in r.stderr and "starts NSO too" not in r.stderr, r.stderr
        return
    assert r.exit_code != 0 and "/etc/systemd/system/ncs.service is masked (a link to /dev/null, as systemctl " \
                                "mask ncs makes it)" in r.stderr, r.stderr
    # (aimed at the staging root: a bare 'systemctl unmask ncs' undoes the host's own mask)
    assert f"Run systemctl --root={root} unmask ncs and re-run" in r.stderr and "--init-system none" in r.stderr
    assert "--init-system sysv" in r.stderr and "give the path it leads to" not in r.stderr
    assert not (root / "etc/ncs").exists() and not (root / "opt/ncs").exists()  # refused before anything
    assert json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json",
                          ok=False).stdout)["error"]["reference"] == "unit-masked"


@pytest.mark.parametrize("init_system", ["systemd", "none"])
def test_a_masked_tmpfiles_entry_is_named_as_masked_and_never_written_through(tmp_path, sample_dists, init_system):
    """/etc/tmpfiles.d/ncs.conf -> /dev/null (tmpfiles.d's way to mask an entry) stopped the install
    with the generic refusal of a symbolic link (remove it, or give the path it leads to)."""
    root = tmp_path / "r"
    entry = root / "etc/tmpfiles.d/ncs.conf"
    entry.parent.mkdir(parents=True)
    os.symlink("/dev/null", entry)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", init_system,
            ok=False)
    assert r.exit_code != 0 and "/etc/tmpfiles.d/ncs.conf is masked (a link to /dev/null, tmpfiles.d's way to " \
                                "switch an entry off)" in r.stderr, r.stderr
    # (the staged file: 'rm /etc/tmpfiles.d/ncs.conf' removes the host's own mask)
    assert f"Remove the mask (rm {entry}) and re-run" in r.stderr and "ipc.path" in r.stderr
    assert "give the path it leads to" not in r.stderr
    assert os.readlink(entry) == "/dev/null" and not (root / "opt/ncs").exists()  # refused before anything
    assert json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--json",
                          ok=False).stdout)["error"]["reference"] == "tmpfiles-masked"
    # kept masked, with no socket directory for nso-install to manage (TCP IPC): installed, the mask
    # left alone and not called an entry that re-creates the directory at boot
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--set", "ipc.transport=tcp")
    assert os.readlink(entry) == "/dev/null" and "tmpfiles.d/ncs.conf" not in r.stderr, r.stderr


@pytest.mark.parametrize("path", ["etc/tmpfiles.d/ncs.conf", "etc/systemd/system/ncs.service"])
def test_a_mask_made_between_check_and_write_is_named_as_masked(tmp_path, sample_dists, monkeypatch, path):
    """A mask made after the check (systemctl mask ncs while the install runs) got the generic
    refusal of a symbolic link from the write itself; it is still never written through."""
    from nso_install import fsops
    root = tmp_path / "r"
    real = fsops.atomic_write

    def masking(host, *a, **kw):  # the administrator masks it right before nso-install writes it
        if str(host) == str(root / path):
            os.symlink("/dev/null", host)
        return real(host, *a, **kw)
    monkeypatch.setattr(fsops, "atomic_write", masking)
    r = cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, ok=False)
    assert r.exit_code != 0 and f"/{path} is masked (a link to /dev/null" in r.stderr, r.stderr
    assert "give the path it leads to" not in r.stderr and os.readlink(root / path) == "/dev/null"


@pytest.mark.parametrize("init, start", [
    ("systemd", "start it with systemctl start ncs (ncs.service is enabled: it starts at boot)"),
    ("sysv", "start it with /etc/init.d/ncs start (where the script is enabled"),
    ("none", "start it with /opt/ncs/current/bin/ncs -c /etc/ncs/ncs.conf, with the environment of "
             "/opt/ncs/current/ncsrc (no service was written: --init-system none)"),
])
def test_a_first_system_install_says_nso_is_not_started_and_how_to_start_it(tmp_path, sample_dists, init, start):
    """A first install ended on its totals: nothing said that nso-install never starts NSO, nor how
    to (a journey review's first question). Said once: a re-run, or another version installed
    beside the active one, says nothing of it."""
    from support import cli

    root = tmp_path / "r"
    root.mkdir(mode=0o700)
    args = ("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--init-system", init, "--json")
    notes = json.loads(cli(*args).stdout)["notes"]
    said = [n for n in notes if "is installed, not started" in n]
    assert len(said) == 1 and start in said[0] and "/etc/profile.d/ncs.sh" in said[0], notes
    assert not [n for n in json.loads(cli(*args).stdout)["notes"] if "not started" in n]
    skip = tmp_path / "image"
    skip.mkdir(mode=0o700)
    built = json.loads(cli("install", sample_dists["tar.gz"], "--system-install", "--root", skip, "--skip-secrets",
                           "--json").stdout)["notes"]
    assert not [n for n in built if "not started" in n]  # (an image: its start is the --secrets-only run's)


@pytest.mark.parametrize("kind", ["local", "system"])
def test_a_colon_in_the_directory_put_on_path_is_refused_before_anything_is_written(tmp_path, sample_dists, kind):
    """':' was among the characters allowed in every directory, but NCS_DIR/bin is put in front of
    PATH (ncsrc, profile.d, the unit's PATH) and NCS_DIR/src/ncs/pyapi in front of PYTHONPATH:
    --local-install /home/lucy/a:b gave an ncsrc whose PATH held /home/lucy/a and the relative
    entry b/bin (commands, and Python modules, found below the working directory) and no NSO
    bin/ (found by review)."""
    if kind == "local":
        where = tmp_path / "a:b"
        args = ["--local-install", where]
    else:
        where = tmp_path / "root"
        args = ["--system-install", "--root", where, "--install-dir", "/opt/a:b"]
    r = cli("install", sample_dists["tar.gz"], *args, "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["reference"] == "unsafe-path-characters"
    assert "':'" in r.stderr and "PATH" in r.stderr and "Hint: " in r.stderr
    assert not where.exists() and list(tmp_path.iterdir()) == []  # (no lock beside it either)


def test_a_colon_elsewhere_in_the_directories_is_still_accepted(tmp_path, sample_dists):
    """Only the directories whose bin/ goes on PATH lose ':' (the config, run and log
    directories are never part of a PATH-like list)."""
    root = tmp_path / "root"
    install_json(sample_dists["tar.gz"], root, "--system-install", "--config-dir", "/etc/nso:1")
    assert (root / "etc/nso:1/ncs.conf").exists()
