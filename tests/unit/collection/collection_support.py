"""Running the Ansible collection's modules (ansible/ansible_collections/nso_install/nso) in this
process: their arguments as Ansible hands them over, exit_json/fail_json caught, and a stand-in
nso-install program that records its command line and answers with a given --json document."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[3]
COLLECTION = ROOT / "ansible" / "ansible_collections" / "nso_install" / "nso"
if str(ROOT / "ansible") not in sys.path:
    sys.path.insert(0, str(ROOT / "ansible"))

basic = pytest.importorskip("ansible.module_utils.basic")  # ansible-core: pip install -e '.[test]'


class Exit(Exception):
    def __init__(self, failed: bool, result: dict, no_log_values: set | None = None):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result
        self.no_log_values = no_log_values or set()  # what Ansible would mask in the output


def module(name: str):
    return importlib.import_module(f"ansible_collections.nso_install.nso.plugins.modules.{name}")


def utils(name: str):
    return importlib.import_module(f"ansible_collections.nso_install.nso.plugins.module_utils.{name}")


def _args(args: dict):
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19+
    except ImportError:  # older: the serialized arguments in a global
        return mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    return patch_module_args(args)


def run(name: str, args: dict, check: bool = False, diff: bool = False, as_root: bool = False) -> Exit:
    """Run module NAME's main() with ARGS; the Exit it ends with (.failed, .result). The modules'
    refusal to run, as root, a program another account could change is off unless ``as_root``
    (this checkout and its venv need not be root's: the tests of that refusal set it up)."""
    full = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    as_root_now = contextlib.nullcontext()
    if (COLLECTION / "plugins" / "module_utils" / "trust.py").exists():
        as_root_now = mock.patch.object(utils("trust"), "as_root", lambda: as_root)

    def exit_json(self, **kw):
        raise Exit(False, kw, self.no_log_values)

    def fail_json(self, msg, **kw):
        raise Exit(True, dict(kw, msg=msg), self.no_log_values)

    with _args(full), mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json):
        with pytest.raises(Exit) as ei, as_root_now:
            module(name).main()
    return ei.value


FAKE = '''#!{python}
# A stand-in nso-install: records its arguments, answers with ANSWER (a --json document), or for
# audit writes the --junit/--sarif files it is given (REPORT's text).
import json, sys
argv = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(argv) + "\\n")
for opt in ("--junit", "--sarif"):
    if opt in argv:
        with open(argv[argv.index(opt) + 1], "w") as f:
            f.write(open({report!r}).read() + opt)
print(open({answer!r}).read())
sys.exit(int(open({rc!r}).read()))
'''


class Fake:
    """A stand-in nso-install in DIR (its runs: .calls)."""

    def __init__(self, d: Path, answer: dict | None = None, rc: int = 0, report: str = "report"):
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / "nso-install"
        self.log, self.answer_file, self.rc_file, self.report_file = d / "calls", d / "answer", d / "rc", d / "report"
        self.log.write_text("")
        self.set(answer or {"version": 1, "result": "applied", "changed": 0, "actions": []}, rc, report)
        self.path.write_text(FAKE.format(python=sys.executable, log=str(self.log), answer=str(self.answer_file),
                                         rc=str(self.rc_file), report=str(self.report_file)))
        self.path.chmod(0o755)

    def set(self, answer: dict, rc: int = 0, report: str = "report") -> None:
        self.answer_file.write_text(json.dumps(answer))
        self.rc_file.write_text(str(rc))
        self.report_file.write_text(report)

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def playbook(tmp_path: Path, plays: list[dict], *extra: str) -> subprocess.CompletedProcess:
    """ansible-playbook PLAYS on localhost (connection local, this Python) with the collection."""
    exe = Path(sys.executable).parent / "ansible-playbook"
    if not exe.exists():
        pytest.skip("ansible-playbook not found next to this Python (pip install -e '.[test]')")
    play = tmp_path / "play.yml"
    play.write_text(json.dumps(plays))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "ansible"), "ANSIBLE_HOME": str(tmp_path / "home"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(exe), "-i", "localhost,", "-c", "local", str(play),
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable}), *extra],
                          capture_output=True, text=True, env=env, timeout=280)


def task_states(r: subprocess.CompletedProcess, role: str) -> dict[str, str]:
    """{task name: ok|changed|skipping|fatal} of ROLE's tasks on localhost in a playbook's output."""
    return dict(re.findall(r"^TASK \[nso_install\.nso\.%s : ([^\]]+)\].*?\n(\w+): \[localhost\]" % role, r.stdout,
                           re.M | re.S))
