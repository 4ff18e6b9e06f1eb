"""The Ansible collection (ansible/ansible_collections/nso_install/nso) against a fleet of containers.

Four throwaway containers of the bare base image (debian:bookworm-slim: python3, no nso-install,
no network) are driven at once by the collection's example playbook nso_install.nso.fleet:
the tool role copies the session's wheelhouse (tests/integration/conftest.py) and installs
nso-install into /opt/nso-install/venv offline, the node role copies a sample distribution,
installs, verifies and audits. Three hosts are good; the fourth is given an ncs.conf variable that
does not exist, so its install fails (and only it).

Proved, in one sequence (each ansible-playbook run costs seconds per task on a loaded machine):
  1. check mode on fresh hosts: changes reported, nothing written on any host;
  2. first run: changed on every good host, the bad host failed with the tool's error and hint;
  3. second run: changed=0 on every good host (the bad host fails again, alone);
  4. check + diff mode with a changed ncs.conf value: the diff is shown, nothing written.
Then the status/verify/keys_rotate/uninstall modules, ad hoc on one host, and the ha_keys_rotate
playbook on two others as an HA pair.

The connection plugin is ansible/tests/connection_plugins/docker_exec.py (docker exec / docker cp):
community.docker's comes only with the 570 MB `ansible` package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HERE_CONFTEST = Path(__file__).resolve().with_name("conftest.py")


def docker_required() -> bool:  # = conftest.docker_required (not imported: several conftest.py exist)
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("NSO_INSTALL_REQUIRE_DOCKER", "") == "1"


@pytest.fixture(scope="module")
def box_class(request):
    """tests/integration/conftest.py's Box class (found among the loaded plugins, not imported again)."""
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == HERE_CONFTEST:
            return plugin.Box
    pytest.fail("tests/integration/conftest.py is not loaded", pytrace=False)

BASE_IMAGE = "debian:bookworm-slim"  # made by tools/docker-engine-up
ANSIBLE_DIR = ROOT / "ansible"
GOOD = 3
# What a run may write on a host, and what check mode must leave alone (ansible's own temp dirs
# under /root are not the playbook's doing).
WATCHED = ("/opt", "/etc", "/var", "/usr/local", "/run")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_bin(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found:
        return found
    msg = f"{name} not found (pip install -e '.[test]' brings ansible-core)"
    if docker_required():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def fleet(wheelhouse, tmp_path_factory, box_class):
    """(controller dir, env, [good Box...], bad Box): containers up, wheelhouse, dist, inventory."""
    work = tmp_path_factory.mktemp("ansible-fleet")
    wh = work / "wheelhouse"
    wh.mkdir()
    for whl in [*(wheelhouse / "deps").glob("*.whl"), *(wheelhouse / "project").glob("*.whl")]:
        shutil.copy2(whl, wh / whl.name)
    dist = subprocess.run([str(Path(sys.executable).parent / "nso-install"), "sample-dist", str(work / "dist"),
                           "--format", "tar.gz"], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert Path(dist).is_file(), dist

    tag = uuid.uuid4().hex[:8]
    names = [f"nso-install-test-ans-{tag}-{i}" for i in range(1, GOOD + 2)]
    try:
        for name in names:
            r = subprocess.run(["docker", "run", "-d", "--rm", "--init", "--network", "none", "--name", name,
                                BASE_IMAGE, "sleep", "infinity"], capture_output=True, text=True)
            if r.returncode:
                pytest.fail(f"docker run {BASE_IMAGE} failed:\n{r.stderr}", pytrace=False)
        good, bad = names[:GOOD], names[GOOD]
        (work / "inventory.yml").write_text(json.dumps({"nso": {
            "hosts": {**{n: {} for n in good},
                      bad: {"nso_set": {"webui.port": 1}}},  # no such ncs.conf variable
            "vars": {"ansible_connection": "docker_exec", "ansible_python_interpreter": "/usr/bin/python3"},
        }}, indent=1))
        (work / "ansible.cfg").write_text(
            "[defaults]\n"
            f"collections_path = {ANSIBLE_DIR}\n"
            f"connection_plugins = {ANSIBLE_DIR / 'tests' / 'connection_plugins'}\n"
            f"local_tmp = {work / 'tmp'}\n"
            "forks = 10\nretry_files_enabled = false\nhost_key_checking = false\n"
            "nocolor = true\n"
            "[connection]\npipelining = true\n")
        (work / "tmp").mkdir()
        env = {**os.environ, "ANSIBLE_CONFIG": str(work / "ansible.cfg"), "ANSIBLE_HOME": str(work / "home"),
               "TMPDIR": str(work / "tmp"),  # the tool role packs the wheelhouse there
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
        env.pop("ANSIBLE_COLLECTIONS_PATH", None)
        yield {"dir": work, "env": env, "dist": dist, "wheelhouse": wh,
               "good": [box_class(n) for n in good], "bad": box_class(bad)}
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)


def playbook(fleet, *extra: str) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, int]]]:
    cmd = [ansible_bin("ansible-playbook"), "-i", str(fleet["dir"] / "inventory.yml"), "nso_install.nso.fleet",
           "-e", f"nso_dist={fleet['dist']}", "-e", f"nso_install_wheelhouse={fleet['wheelhouse']}",
           "-e", "nso_serial=4", "-e", "nso_init_system=none", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, env=fleet["env"], cwd=fleet["dir"], timeout=600)
    recap = {m[0]: dict(ok=int(m[1]), changed=int(m[2]), unreachable=int(m[3]), failed=int(m[4]))
             for m in RECAP.findall(r.stdout)}
    return r, recap


def snapshots(boxes) -> dict[str, str]:
    # (/var/cache/nso-install: nso-install's cache of replayed runs, where a no-op run records itself)
    return {b.name: b.tree_snapshot(*WATCHED, exclude=("/var/cache/ldconfig", "/var/cache/nso-install"))
            for b in boxes}


def show(r: subprocess.CompletedProcess) -> str:
    return f"\n--- stdout\n{r.stdout[-12000:]}\n--- stderr\n{r.stderr[-4000:]}"


@pytest.mark.timeout(1200)
def test_fleet_playbook(fleet):
    good, bad = fleet["good"], fleet["bad"]
    everyone = [*good, bad]

    # 1. check mode on fresh hosts: would change, writes nothing anywhere
    before = snapshots(everyone)
    r, recap = playbook(fleet, "--check")
    assert set(recap) == {b.name for b in everyone}, show(r)
    for b in good:
        assert recap[b.name]["failed"] == 0 and recap[b.name]["changed"] > 0, show(r)
    assert snapshots(everyone) == before, "check mode wrote something" + show(r)
    assert not any(b.exists("/opt/nso-install") or b.exists("/opt/ncs") for b in everyone)

    # 2. first run: every good host changed; the bad one failed, alone, with the tool's message
    r, recap = playbook(fleet)
    assert r.returncode != 0, show(r)  # ansible-playbook reports the failed host in its exit code
    for b in good:
        assert recap[b.name] == {**recap[b.name], "failed": 0, "unreachable": 0}, show(r)
        assert recap[b.name]["changed"] > 0, show(r)
        assert b.readlink("/opt/ncs/current") == "ncs-6.5.3"
        assert b.run("/opt/nso-install/venv/bin/nso-install", "--version").stdout.strip().endswith("0.1.0")
        assert b.stat("/var/opt/ncs")[1] == "nso"  # run_as_user nso (the node role's default)
    assert recap[bad.name]["failed"] == 1, show(r)
    fatal = [line for line in r.stdout.splitlines() if line.startswith("fatal: [")]
    assert len(fatal) == 1 and fatal[0].startswith(f"fatal: [{bad.name}]"), show(r)
    assert "unknown ncs.conf variable 'webui.port'" in fatal[0] and "Hint: Did you mean webui.tcp.port" in fatal[0]
    assert not bad.exists("/opt/ncs")

    # 3. second run: nothing changes on any good host; the bad host fails again, alone
    installed = snapshots(good)
    r, recap = playbook(fleet)
    for b in good:
        assert recap[b.name]["changed"] == 0 and recap[b.name]["failed"] == 0, show(r)
    assert recap[bad.name]["failed"] == 1, show(r)
    assert snapshots(good) == installed, "a no-op run touched a good host" + show(r)

    # 4. check + diff with a new ncs.conf value: the change is shown, nothing is written
    r, recap = playbook(fleet, "--check", "--diff", "--limit", ",".join(b.name for b in good),
                        "-e", '{"nso_set": {"webui.tcp.port": 8081}}')
    for b in good:
        assert recap[b.name]["changed"] == 1 and recap[b.name]["failed"] == 0, show(r)
    assert "-        <port>8080</port>" in r.stdout and "+        <port>8081</port>" in r.stdout, show(r)
    assert snapshots(good) == installed, "check mode wrote something" + show(r)


def adhoc(fleet, host: str, module: str, args: dict, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    argv = " ".join(f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in args.items())
    r = subprocess.run([ansible_bin("ansible"), "-i", str(fleet["dir"] / "inventory.yml"), host,
                        "-m", module, *(["-a", argv] if argv else []), *extra],
                       capture_output=True, text=True, env=fleet["env"], cwd=fleet["dir"], timeout=300)
    m = re.search(r"=> (\{.*\})\s*$", r.stdout.strip(), re.S)
    return r, (json.loads(m.group(1)) if m else {})


@pytest.mark.timeout(600)
def test_modules_status_verify_uninstall(fleet):
    """After test_fleet_playbook (the same hosts): facts modules read, keys_rotate rotates once,
    uninstall is idempotent."""
    host = fleet["good"][0]
    if not host.exists("/opt/ncs/current"):
        pytest.skip("needs test_fleet_playbook's install")
    r, res = adhoc(fleet, host.name, "nso_install.nso.status", {})
    assert r.returncode == 0 and res["active"] == "6.5.3", show(r)
    assert res["ansible_facts"]["nso_install_status"]["spec"]["run_as_user"] == "nso"

    host.run("chmod", "0777", "/opt/ncs/ncs-6.5.3/bin")  # damage: verify fails the task with findings
    r, res = adhoc(fleet, host.name, "nso_install.nso.verify", {})
    assert r.returncode != 0 and "finding" in res.get("msg", "") and res["findings"], show(r)
    r, res = adhoc(fleet, host.name, "nso_install.nso.verify", {"fail_on_drift": False})
    assert r.returncode == 0 and res["ok"] is False, show(r)

    # keys_rotate on the host itself (no root): check mode changes nothing, a rotation adds
    # generation 0, a re-run adds none; no key value in any of Ansible's output
    keys = "/etc/ncs/ncs.crypto_keys"
    legacy = host.run("cat", keys).stdout
    runs = [adhoc(fleet, host.name, "nso_install.nso.keys_rotate", {}, "--check", "-v")]
    assert runs[-1][0].returncode == 0 and runs[-1][1]["status"] == "would-add", show(runs[-1][0])
    assert runs[-1][1]["changed"] is True and host.run("cat", keys).stdout == legacy
    runs.append(adhoc(fleet, host.name, "nso_install.nso.keys_rotate", {}, "-v"))
    assert runs[-1][0].returncode == 0 and runs[-1][1]["changed"] is True, show(runs[-1][0])
    assert runs[-1][1]["generation"] == 0 and runs[-1][1]["file"] == keys
    rotated = host.run("cat", keys).stdout
    assert rotated.startswith("EXTERNAL_KEY_FORMAT=2\n") and "AES256CFB128_KEY[0]=" in rotated
    runs.append(adhoc(fleet, host.name, "nso_install.nso.keys_rotate", {}, "-v"))
    assert runs[-1][0].returncode == 0 and runs[-1][1]["changed"] is False, show(runs[-1][0])
    values = set(re.findall(r"=([0-9a-fA-F]{32,})$", legacy + rotated, re.M))
    assert len(values) >= 4 and not [v for v in values for r, _ in runs if v in r.stdout + r.stderr]

    r, res = adhoc(fleet, host.name, "nso_install.nso.uninstall", {"all": True}, "--check")
    assert r.returncode == 0 and res["changed"] is True and host.exists("/opt/ncs/current"), show(r)
    r, res = adhoc(fleet, host.name, "nso_install.nso.uninstall", {"all": True})
    assert r.returncode == 0 and res["changed"] is True and not host.exists("/opt/ncs"), show(r)
    r, res = adhoc(fleet, host.name, "nso_install.nso.uninstall", {"all": True})
    assert r.returncode == 0 and res["changed"] is False, show(r)


@pytest.mark.timeout(900)
def test_ha_keys_rotate_playbook(fleet):
    """After test_fleet_playbook: two of its hosts as an HA group (their keys made identical first,
    as an HA group's are) rotated by nso_install.nso.ha_keys_rotate. Check mode writes nothing; a
    run leaves both nodes with the same keys file of the new generation, each with the owner and
    mode it had, no key value in Ansible's output and no copy of the file left on the controller;
    a re-run changes nothing. NSO does not run in these containers (the sample distribution's
    ncs_cmd is a failing stub and its stand-in has no key-rotation action): the reload and the
    apply are skipped with the message that says so, and no generation is recorded as applied."""
    a, b = fleet["good"][1], fleet["good"][2]
    if not (a.exists("/opt/ncs/current") and b.exists("/opt/ncs/current")):
        pytest.skip("needs test_fleet_playbook's install")
    keys = "/etc/ncs/ncs.crypto_keys"
    b.run("sh", "-c", f"cat > {keys}", input=a.read(keys))  # (keeps b's owner and mode)
    attrs = {h.name: h.stat(keys) for h in (a, b)}
    legacy = a.read(keys)
    inventory = fleet["dir"] / "ha.yml"
    inventory.write_text(json.dumps({"nso_ha": {
        "hosts": {a.name: {}, b.name: {}},
        "vars": {"ansible_connection": "docker_exec", "ansible_python_interpreter": "/usr/bin/python3"}}}))

    def run(*extra):
        r = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(inventory), "nso_install.nso.ha_keys_rotate",
                            "-v", *extra], capture_output=True, text=True, env=fleet["env"], cwd=fleet["dir"],
                           timeout=600)
        return r, {m[0]: dict(changed=int(m[2]), failed=int(m[4])) for m in RECAP.findall(r.stdout)}

    before = snapshots([a, b])
    r, recap = run("--check")
    assert r.returncode == 0 and "would add key generation 0" in r.stdout, show(r)
    assert snapshots([a, b]) == before, "check mode wrote something" + show(r)

    runs = [run()]
    r, recap = runs[-1]
    assert r.returncode == 0 and recap[a.name]["failed"] == 0 and recap[b.name]["failed"] == 0, show(r)
    rotated = a.read(keys)
    assert rotated.startswith("EXTERNAL_KEY_FORMAT=2\n") and "AES256CFB128_KEY[0]=" in rotated
    assert "AES256CFB128_KEY[-1]=" in rotated and b.read(keys) == rotated
    assert {h.name: h.stat(keys) for h in (a, b)} == attrs
    assert "NSO is not running on" in r.stdout and "it was not applied" in r.stdout, show(r)
    status = json.loads(a.run("/opt/nso-install/venv/bin/nso-install", "status", "--json").stdout)
    assert status["keys"]["pending_generation"] == 0 and not status["keys"].get("applied_generation")

    runs.append(run())
    r, recap = runs[-1]
    assert r.returncode == 0 and recap[a.name]["changed"] == 0 and recap[b.name]["changed"] == 0, show(r)
    assert a.read(keys) == rotated == b.read(keys)

    values = set(re.findall(r"=([0-9a-fA-F]{32,})$", legacy + rotated, re.M))
    assert len(values) >= 4
    assert not [v for v in values for r, _ in runs if v in r.stdout + r.stderr], "a key in Ansible's output"
    left = [p for p in fleet["dir"].rglob("*") if p.is_file() and any(v.encode() in p.read_bytes() for v in values)]
    assert not left, f"a copy of the keys is left on the controller: {left}"
