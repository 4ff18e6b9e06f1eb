"""A failed task's message names the module's parameters, not nso-install's options: the tool
speaks of its command line (--install-dir /opt/nsx is not the install's recorded INSTALL_DIR),
the playbook has install_dir. The command lines the tool prints for the operator to run keep
their options, and the task's result keeps the tool's own text in error."""

from __future__ import annotations

from unittest import mock

import pytest
from collection_support import Fake, basic, run


def _error(tmp_path, message, hint=None, reference="some-error"):
    return Fake(tmp_path / "bin", {"version": 1, "result": "error",
                                   "error": {"reference": reference, "message": message, "hint": hint}}, rc=2)


def test_a_mistyped_install_dir_is_named_as_the_parameter(tmp_path):
    message = ("--install-dir /opt/nsx is not the install's recorded INSTALL_DIR, /opt/ncs: activate and rollback "
               "switch the recorded install's current.")
    hint = ("Leave out --install-dir (or give /opt/ncs); to move the install, run nso-install install DIST "
            "--system-install --install-dir /opt/nsx.")
    fake = _error(tmp_path, message, hint, "not-the-recorded-install-dir")
    r = run("activate", {"executable": str(fake.path), "version": "6.5.4", "install_dir": "/opt/nsx"})
    assert r.failed
    assert r.result["msg"] == (
        "install_dir /opt/nsx is not the install's recorded INSTALL_DIR, /opt/ncs: activate and rollback switch "
        "the recorded install's current. Hint: Leave out install_dir (or give /opt/ncs); to move the install, run "
        "nso-install install DIST --system-install --install-dir /opt/nsx."), r.result["msg"]
    assert r.result["error"]["message"] == message and r.result["error"]["hint"] == hint  # (the tool's own words)


@pytest.mark.parametrize("name, args, message, said", [
    ("uninstall", {"ncs_version": "6.5.3", "config": True},
     "--config, --run-data, --logs, --service, --profile-scripts, --accounts and --purge go with --all.",
     "config, run_data, logs, service, profile_scripts, accounts and purge go with all."),
    ("install", {"distribution": "/srv/d", "local_install": "/srv/l", "fips_install": False},
     "--no-fips-install, --ipc-user and --set-file: see --check (not --fail-on-change).",
     "fips_install: false, ipc_users and set_files or set_secrets: see check mode (not --fail-on-change)."),
    ("install", {"distribution": "/srv/d", "system_install": True},
     "Pass a longer --lock-timeout SECONDS, --values FILE, --trusted-cert F or --no-ipc-group; nso-install "
     "status --root R lists them. Check --root.",
     "Pass a longer lock_timeout SECONDS, values_files FILE, trusted_certs F or no_ipc_groups; nso-install "
     "status --root R lists them. Check root."),
    ("audit", {}, "--root /x: no such directory (--only NSO-X, --junit F).",
     "root /x: no such directory (only NSO-X, junit F)."),
    ("audit", {}, "--root /srv/a--root/b--junit.x: '--root' is a link; --root=/y", "root /srv/a--root/b--junit.x: "
     "'root' is a link; root=/y"),  # (not in a path)
])
def test_the_tools_options_are_named_as_the_modules_parameters(tmp_path, name, args, message, said):
    r = run(name, {"executable": str(_error(tmp_path, message).path), **args})
    assert r.failed and r.result["msg"] == said, r.result["msg"]


def test_a_click_usage_error_names_the_parameter(tmp_path):
    """A value the CLI's parser refuses (stderr only, no document)."""
    fake = Fake(tmp_path / "bin", rc=2)
    fake.answer_file.write_text("")
    fake.path.write_text(fake.path.read_text().replace(
        "print(open(", "sys.stderr.write(\"Error: Invalid value for '--lock-timeout': -1.0 is not in the range "
        "x>=0.0.\\n\"); (open("))
    r = run("uninstall", {"executable": str(fake.path), "all": True, "lock_timeout": -1})
    assert r.failed and r.result["msg"] == "Error: Invalid value for 'lock_timeout': -1.0 is not in the range x>=0.0.", \
        r.result["msg"]


def test_verify_names_the_parameters_where_nothing_is_installed(tmp_path):
    answer = {"version": 1, "result": "verify", "ok": False, "extra": [], "checked": [], "notes": [], "findings": [
        {"kind": "install", "path": "/opt/nsx", "fails": True,
         "problem": "no NSO installed here to verify; the install nso-install recorded is in /opt/ncs (leave out "
                    "--install-dir). Check --root and --install-dir, or install NSO first (nso-install install "
                    "DISTRIBUTION --system-install --install-dir /opt/nsx)"}]}
    r = run("verify", {"executable": str(Fake(tmp_path / "bin", answer, rc=1).path), "install_dir": "/opt/nsx"})
    assert r.failed
    assert "(leave out install_dir). Check root and install_dir, or install NSO first (nso-install install " \
           "DISTRIBUTION --system-install --install-dir /opt/nsx)" in r.result["msg"], r.result["msg"]
    assert r.result["findings"] == answer["findings"]  # (the tool's own words)


@pytest.mark.parametrize("name, args", [("install", {"distribution": "/srv/d", "system_install": True}),
                                        ("activate", {"version": "6.5.3"}), ("uninstall", {"all": True})])
def test_the_tools_warnings_name_the_parameters(tmp_path, name, args):
    """An edited config file kept: the tool's warning said to re-run with --force-conf."""
    warning = ("/etc/ncs/ncs.conf was edited outside nso-install; kept as is. The new rendering is in "
               "/etc/ncs/ncs.conf.new; merge it by hand or re-run with --force-conf to replace the file.")
    fake = Fake(tmp_path / "bin", {"version": 1, "result": "applied", "changed": 0, "actions": [], "notes": [],
                                   "warnings": [warning], "kept": []})
    seen = []
    with mock.patch.object(basic.AnsibleModule, "warn", lambda self, w, **kw: seen.append(w)):
        r = run(name, {"executable": str(fake.path), **args})
    assert not r.failed, r.result
    # (uninstall has no force_conf: the option stays the CLI's)
    assert seen == [warning if name == "uninstall" else warning.replace("--force-conf", "force_conf")], seen
