"""`ansible-test sanity` on the Ansible collection (ansible/ansible_collections/nso_install/nso).

Runs with --local (no Docker image: ansible-test's default test containers come from a registry
this machine cannot reach) on a copy of the collection outside git (ansible-test would otherwise
test only what git tracks). Every sanity test runs except:
  * pylint      -- passes, but its virtualenv costs a minute on a cold cache (run it by hand:
                   NSO_INSTALL_SANITY_ALL=1 includes it);
  * shellcheck, pslint -- need shellcheck / PowerShell, and the collection has no shell or PS code;
  * changelog   -- the collection keeps no changelogs/ fragments.
The tests with Python requirements (ansible-doc, import, pep8, runtime-metadata, validate-modules,
yamllint) install pinned versions from PyPI into ansible-test's own virtualenvs, cached under
~/.cache/nso-install/ansible-test (HOME of the run). ansible-test bootstraps pip in them with
get-pip.py from ci-files.testing.ansible.com, which is not reachable here: a stand-in that runs
pip from the pinned pip wheel (from PyPI) is put in its cache first.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible" / "ansible_collections" / "nso_install" / "nso"
HOME = Path(os.path.expanduser("~/.cache/nso-install/ansible-test"))
SKIP = ("pylint", "shellcheck", "pslint", "changelog")
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py") if p.stem != "__init__")

GET_PIP = '''\
# Stand-in for get-pip.py (ci-files.testing.ansible.com is not reachable): run pip from the wheel
# beside this file, as get-pip does from the copy it embeds (tests/integration/test_ansible_sanity.py).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), {wheel!r}))
from pip._internal.cli.main import main  # noqa: E402

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]  # get-pip's own options
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + args))
'''


def required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("NSO_INSTALL_REQUIRE_DOCKER", "") == "1"


def ansible_test() -> str:
    exe = Path(sys.executable).parent / "ansible-test"
    if exe.exists():
        return str(exe)
    msg = "ansible-test not found next to this Python (pip install -e '.[test]' brings ansible-core)"
    if required():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def pip_bootstrap(exe: str) -> None:
    """Put the get-pip stand-in where ansible-test looks for its cached download."""
    import ansible_test  # noqa: PLC0415 -- installed with ansible-core
    src = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", src)
    assert m, "cannot find the pip version ansible-test bootstraps"
    version = m.group(1)
    cache = HOME / ".ansible" / "test" / "cache"
    script = cache / f"get_pip_{version.replace('.', '_')}.py"
    wheel = f"pip-{version}-py3-none-any.whl"
    if script.is_file() and (cache / wheel).is_file():
        return
    cache.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "-d", str(cache), f"pip=={version}"], capture_output=True, text=True)
    if r.returncode or not (cache / wheel).is_file():
        pytest.fail(f"pip download pip=={version} failed (PyPI needed):\n{r.stdout}{r.stderr}", pytrace=False)
    script.write_text(GET_PIP.format(wheel=wheel))


@pytest.mark.timeout(900)
def test_ansible_test_sanity(tmp_path):
    exe = ansible_test()
    pip_bootstrap(exe)
    copy = tmp_path / "ansible_collections" / "nso_install" / "nso"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("output", "__pycache__", "*.pyc"))
    skip = () if os.environ.get("NSO_INSTALL_SANITY_ALL") == "1" else SKIP
    cmd = [exe, "sanity", "--local", "--python", "%d.%d" % sys.version_info[:2], "--color", "no",
           *(a for t in skip for a in ("--skip-test", t))]
    env = {**os.environ, "HOME": str(HOME), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    r = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=880)
    out = "\n".join(line for line in (r.stdout + r.stderr).splitlines()
                    if not line.startswith(("WARNING: Location", "Collecting", "  Downloading", "Installing coll",
                                            "Successfully", "Looking in", "     ", "Processing", "Requirement")))
    assert r.returncode == 0, f"{' '.join(cmd)} -> exit {r.returncode}\n{out[-15000:]}"
    ran = re.findall(r'Running sanity test "([^"]+)"', r.stdout + r.stderr)
    for name in ("validate-modules", "ansible-doc", "import", "pep8", "yamllint", "runtime-metadata", "compile"):
        assert name in ran, f"sanity test {name} did not run:\n{out[-5000:]}"


def test_playbooks_syntax(tmp_path):
    """The collection's playbooks parse, with their roles (ansible-playbook --syntax-check)."""
    exe = Path(sys.executable).parent / "ansible-playbook"
    if not exe.exists():
        ansible_test()  # skips or fails with the reason
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[nso]\nh1\n[nso_ha]\nh2 nso_ha_role=primary\nh3 nso_ha_role=secondary\n")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "ansible"), "ANSIBLE_HOME": str(tmp_path / "home"),
           "ANSIBLE_NOCOLOR": "1"}
    for playbook in sorted((COLLECTION / "playbooks").glob("*.yml")):
        name = f"nso_install.nso.{playbook.stem}"
        r = subprocess.run([str(exe), "-i", str(inventory), "--syntax-check", name], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 0, f"{name}:\n{r.stdout}{r.stderr}"


def test_every_module_is_listed_where_the_collection_lists_its_modules():
    """A module left out of runtime.yml's action group is not in module_defaults' group/nso...;
    one left out of the sanity ignore files fails validate-modules (no licence chosen yet); one
    left out of the README's table is not said to exist."""
    assert "keys_rotate" in MODULES
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    assert sorted(runtime["action_groups"]["nso"]) == MODULES
    for ignore in sorted((COLLECTION / "tests" / "sanity").glob("ignore-*.txt")):
        listed = {line.split()[0] for line in ignore.read_text().splitlines() if line.strip()}
        assert {f"plugins/modules/{m}.py" for m in MODULES} <= listed, ignore.name
    readme = (COLLECTION / "README.md").read_text()
    assert [m for m in MODULES if f"| `nso_install.nso.{m}` |" not in readme] == []


def argument_spec(name: str) -> dict:
    """Module NAME's argument_spec, as its main() hands it to AnsibleModule (nothing run)."""
    from ansible.module_utils import basic

    if str(ROOT / "ansible") not in sys.path:
        sys.path.insert(0, str(ROOT / "ansible"))

    class Spec(Exception):
        pass

    def init(self, *args, **kw):
        raise Spec(kw["argument_spec"] if "argument_spec" in kw else args[0])

    mod = importlib.import_module(f"ansible_collections.nso_install.nso.plugins.modules.{name}")
    with mock.patch.object(basic.AnsibleModule, "__init__", init):
        with pytest.raises(Spec) as ei:
            mod.main()
    return ei.value.args[0]


def test_ansible_doc_shows_every_module_with_the_options_of_its_argument_spec(tmp_path):
    """ansible-doc reads each module's DOCUMENTATION (and its doc fragment), and the options it
    shows are the ones the module takes (validate-modules checks types and defaults as well)."""
    exe = Path(sys.executable).parent / "ansible-doc"
    if not exe.exists():
        ansible_test()  # skips or fails with the reason
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "ansible"), "ANSIBLE_HOME": str(tmp_path / "home"),
           "ANSIBLE_NOCOLOR": "1"}
    r = subprocess.run([str(exe), "--json", "-t", "module", *(f"nso_install.nso.{m}" for m in MODULES)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    docs = json.loads(r.stdout)
    assert sorted(docs) == [f"nso_install.nso.{m}" for m in MODULES], sorted(docs)
    for m in MODULES:
        doc = docs[f"nso_install.nso.{m}"]
        assert doc["doc"]["module"] == m and doc["examples"] and doc["return"], m
        assert set(doc["doc"]["options"]) == set(argument_spec(m)), m
