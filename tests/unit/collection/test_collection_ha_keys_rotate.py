"""The ha_keys_rotate playbook on two localhost "nodes", each with its own stand-in nso-install
(status, keys rotate, install answered by subcommand) and a stand-in NSO environment: the
INSTALL_DIR/current/ncsrc the NSO commands source puts fake ncs_cmd / ncs_cli first on PATH,
which record their arguments and stdin. What is proved: the rotated file reaches the other node
through install --crypto-keys and the nodes end identical; reload on each running NSO; the action
once, on the rotating node, with the generation; applied recorded on every node only after the action
named the new generation; a stopped NSO or an action that did not answer skips / fails without
recording; check mode runs keys rotate --check only; no key in the output; no copy left behind.
(The real nso-install and containers: tests/integration/test_ansible_fleet.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collection_support import ROOT  # (skips the module without ansible-core)

KEY_OLD = ("0a" * 16, "1b" * 32)
KEY_NEW = ("2c" * 16, "3d" * 32)
LEGACY = f"AESCFB128_KEY={KEY_OLD[0]}\nAES256CFB128_KEY={KEY_OLD[1]}\n"
ROTATED = (f"EXTERNAL_KEY_FORMAT=2\nAESCFB128_KEY[-1]={KEY_OLD[0]}\nAES256CFB128_KEY[-1]={KEY_OLD[1]}\n"
           f"AESCFB128_KEY[0]={KEY_NEW[0]}\nAES256CFB128_KEY[0]={KEY_NEW[1]}\n")

NSO_INSTALL = '''#!{python}
# A stand-in nso-install for one node: records its arguments; answers status, keys rotate, install.
import json, shutil, sys
argv = sys.argv[1:]
node = {node!r}
with open(node + "/calls", "a") as f:
    f.write(json.dumps(argv) + "\\n")
keys = node + "/ncs.crypto_keys"
if argv[0] == "status":
    out = {{"version": 1, "result": "status", "install_dir": node + "/opt", "spec": {{"run_as_user": None}},
           "running": json.load(open(node + "/running")), "keys": None}}
elif argv[:2] == ["keys", "rotate"]:
    out = {{"version": 1, "result": "keys-rotate", "file": keys, "nso_version": "6.5.3", "generation": 0,
           "check": "--check" in argv, "key_names": ["AESCFB128_KEY", "AES256CFB128_KEY"], "steps": []}}
    if "--applied" in argv:
        out.update(status="applied", changed=True)
    elif "--check" in argv:
        out.update(status="would-add", changed=True)
    else:
        open(keys, "w").write({rotated!r})
        out.update(status="added", changed=True)
elif argv[0] == "install":
    src = argv[argv.index("--crypto-keys") + 1]
    changed = open(src).read() != open(keys).read()
    shutil.copyfile(src, keys)
    out = {{"version": 1, "result": "applied", "changed": int(changed), "actions": [], "notes": []}}
print(json.dumps(out))
'''

NCSRC = '''PATH={bin}:$PATH; export PATH
'''
NCS_CMD = '''#!/bin/sh
echo "$@" >> {node}/ncs_cmd
'''
NCS_CLI = '''#!/bin/sh
echo "$@" >> {node}/ncs_cli.args
cat >> {node}/ncs_cli.stdin
cat {node}/ncs_cli.answer
'''


def make_node(d: Path, running: bool) -> Path:
    (d / "opt" / "current").mkdir(parents=True)
    (d / "bin").mkdir()
    (d / "calls").write_text("")
    (d / "running").write_text(json.dumps([{"pid": 1, "version": "6.5.3"}] if running else []))
    (d / "ncs.crypto_keys").write_text(LEGACY)
    (d / "ncs.crypto_keys").chmod(0o640)
    (d / "ncs_cli.answer").write_text("active-generation -1\nresult true\nnew-active-key-generation 0\n")
    (d / "opt" / "current" / "ncsrc").write_text(NCSRC.format(bin=d / "bin"))
    for name, text in (("nso-install", NSO_INSTALL.format(python=sys.executable, node=str(d), rotated=ROTATED)),
                       ("ncs_cmd", NCS_CMD.format(node=d)), ("ncs_cli", NCS_CLI.format(node=d))):
        (d / "bin" / name).write_text(text)
        (d / "bin" / name).chmod(0o755)
    return d


def calls(d: Path) -> list[list[str]]:
    return [json.loads(line) for line in (d / "calls").read_text().splitlines()]


@pytest.fixture
def nodes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the modules run the stand-in nso-install as root only when root owns it (run as root)")
    tmp_path.chmod(0o755)
    return tmp_path


def run(tmp_path: Path, a: Path, b: Path, *extra: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "ansible-playbook"
    if not exe.exists():
        pytest.skip("ansible-playbook not found next to this Python (pip install -e '.[test]')")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"nso_ha": {
        "hosts": {"n1": {"nso_install_executable": str(a / "bin" / "nso-install")},
                  "n2": {"nso_install_executable": str(b / "bin" / "nso-install")}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    (tmp_path / "ctl").mkdir(exist_ok=True)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "ansible"), "ANSIBLE_HOME": str(tmp_path / "home"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_NOCOLOR": "1", "TMPDIR": str(tmp_path / "ctl")}
    return subprocess.run([str(exe), "-i", str(inventory), "nso_install.nso.ha_keys_rotate", "-v", *extra],
                          capture_output=True, text=True, env=env, timeout=280)


def no_key_and_no_copy(r: subprocess.CompletedProcess, tmp_path: Path) -> None:
    said = r.stdout + r.stderr
    assert not [k for k in (*KEY_OLD, *KEY_NEW) if k in said], "a key in Ansible's output"
    assert not list((tmp_path / "ctl").glob("nso-keys.*")), "the controller's copy is left"
    assert not [p for p in tmp_path.rglob("nso-keys.*")], "a node's copy is left"


def test_a_rotation_with_nso_running_everywhere(nodes):
    a, b = make_node(nodes / "a", True), make_node(nodes / "b", True)
    r = run(nodes, a, b)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert (b / "ncs.crypto_keys").read_text() == ROTATED == (a / "ncs.crypto_keys").read_text()
    assert [c[:2] for c in calls(a)] == [["status", "--json"], ["keys", "rotate"], ["keys", "rotate"]]
    assert "--applied" in calls(a)[-1] and "--applied" not in calls(a)[1]
    installs = [c for c in calls(b) if c[0] == "install"]
    assert len(installs) == 1 and installs[0][-1] == f"{b}/opt/current" and "--system-install" in installs[0]
    # b's nso-install added nothing; once NSO applied it, b records its file's newest generation too
    assert [c for c in calls(b) if c[:2] == ["keys", "rotate"]] == [c for c in calls(b) if "--applied" in c]
    assert len([c for c in calls(b) if "--applied" in c]) == 1
    assert (a / "ncs_cmd").read_text() == (b / "ncs_cmd").read_text() == "-d -c reload\n"
    assert (a / "ncs_cli.stdin").read_text() == ("key-rotation get-active-generation\n"
                                                 "key-rotation apply-new-keys new-key-generation 0\n")
    assert (a / "ncs_cli.args").read_text() == "-C -u admin -g ncsadmin\n" and not (b / "ncs_cli.args").exists()
    no_key_and_no_copy(r, nodes)


def test_an_action_that_does_not_name_the_new_generation_fails_before_applied(nodes):
    a, b = make_node(nodes / "a", True), make_node(nodes / "b", True)
    (a / "ncs_cli.answer").write_text("Error: the commit queue is not empty\n")
    r = run(nodes, a, b, "-e", "nso_keys_wait_commit_queue=30")
    assert r.returncode != 0 and "Apply the new generation" in r.stdout, r.stdout[-6000:]
    assert (a / "ncs_cli.stdin").read_text().endswith("new-key-generation 0 wait-commit-queue 30\n")
    assert not [c for c in calls(a) if "--applied" in c]
    no_key_and_no_copy(r, nodes)


def test_a_stopped_nso_skips_the_apply_with_a_message(nodes):
    a, b = make_node(nodes / "a", True), make_node(nodes / "b", False)
    r = run(nodes, a, b)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert (b / "ncs.crypto_keys").read_text() == ROTATED
    assert (a / "ncs_cmd").read_text() == "-d -c reload\n" and not (b / "ncs_cmd").exists()
    assert not (a / "ncs_cli.args").exists() and not [c for c in calls(a) if "--applied" in c]
    assert "NSO is\nnot running on n2" in r.stdout or "not running on n2" in r.stdout.replace("\n", " "), r.stdout
    no_key_and_no_copy(r, nodes)


def test_check_mode_runs_the_rotation_check_only(nodes):
    a, b = make_node(nodes / "a", True), make_node(nodes / "b", True)
    r = run(nodes, a, b, "--check")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert [c for c in calls(a) if c[0] != "status"] == [["keys", "rotate", "--check", "--json"]]
    assert [c[0] for c in calls(b)] == ["status"]
    assert (a / "ncs.crypto_keys").read_text() == LEGACY == (b / "ncs.crypto_keys").read_text()
    assert not (a / "ncs_cmd").exists() and not (b / "ncs_cmd").exists()
    assert "would add key generation 0" in r.stdout
    no_key_and_no_copy(r, nodes)
