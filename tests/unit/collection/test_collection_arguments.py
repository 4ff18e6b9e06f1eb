"""The collection's modules take their arguments as a playbook gives them: a boolean given as
false asks for nothing, so it contradicts nothing and satisfies nothing."""

from __future__ import annotations

import os

import pytest
from collection_support import Fake, playbook, run


@pytest.fixture
def fake(tmp_path):
    return Fake(tmp_path / "bin")


@pytest.mark.parametrize("args", [
    {"skip_secrets": False, "secrets_only": True},
    {"run_as_user": "nso", "no_run_as_user": False},
    {"ipc_users": ["admin"], "no_ipc_users": False},
    {"ipc_groups": ["ops"], "no_ipc_groups": False},
    {"system_install": False, "local_install": "/srv/nso"},
])
def test_install_a_false_boolean_contradicts_nothing(fake, args):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path), **args})
    assert not r.failed, r.result
    assert len(fake.calls) == 1


@pytest.mark.parametrize("args", [
    {"skip_secrets": True, "secrets_only": True},
    {"run_as_user": "nso", "no_run_as_user": True},
    {"ipc_users": ["admin"], "no_ipc_users": True},
    {"system_install": True, "local_install": "/srv/nso"},
    {"trusted_certs": ["/srv/ca.pem"], "skip_verification": True},  # (in check mode before the tool it said changed)
])
def test_install_both_asked_for_is_refused(fake, args):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path), **args})
    assert r.failed and "mutually exclusive" in r.result["msg"], r.result
    assert fake.calls == []


def test_uninstall_version_with_all_false(fake):
    fake.set({"version": 1, "result": "uninstall", "changed": 0, "actions": []})
    r = run("uninstall", {"ncs_version": "6.4.1", "all": False, "executable": str(fake.path)})
    assert not r.failed, r.result
    assert fake.calls[0][:3] == ["uninstall", "--ncs-version", "6.4.1"] and "--all" not in fake.calls[0]


@pytest.mark.parametrize("args", [{"all": False}, {}])
def test_uninstall_needs_a_version_or_all_true(fake, args):
    r = run("uninstall", {"executable": str(fake.path), **args})
    assert r.failed and "required" in r.result["msg"], r.result
    assert fake.calls == []  # never a bare `nso-install uninstall`


def test_uninstall_version_and_all_true_are_refused(fake):
    r = run("uninstall", {"ncs_version": "6.4.1", "all": True, "executable": str(fake.path)})
    assert r.failed and "mutually exclusive" in r.result["msg"], r.result
    assert fake.calls == []


def test_set_a_list_is_given_comma_separated(fake):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path),
                        "set": {"ipc.users": ["alice", "bob"], "webui.enabled": True, "webui.tcp.port": 8080}})
    assert not r.failed, r.result
    argv = fake.calls[0]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sets == ["ipc.users=alice,bob", "webui.enabled=true", "webui.tcp.port=8080"]


@pytest.mark.parametrize("value, words", [
    ({"tcp": {"port": 8080}}, "a mapping is not an ncs.conf value"),
    ([["a"], "b"], "a list of lists or mappings"),
    (["a,b"], "has a comma"),
])
def test_set_a_value_the_cli_cannot_read_is_refused(fake, value, words):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path), "set": {"webui": value}})
    assert r.failed and words in r.result["msg"] and "set webui" in r.result["msg"], r.result
    assert fake.calls == []


@pytest.mark.parametrize("args, withdraws", [
    ({"ipc_users": []}, ["--no-ipc-user"]),
    ({"ipc_groups": []}, ["--no-ipc-group"]),
    ({"ipc_users": [], "no_ipc_users": True}, ["--no-ipc-user"]),
    ({"ipc_users": ["alice"]}, []),
    ({}, []),  # left out: the recorded grants are kept
])
def test_install_an_empty_grant_list_withdraws_the_grants(fake, args, withdraws):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path), **args})
    assert not r.failed, r.result
    assert [a for a in fake.calls[0] if a.startswith("--no-ipc")] == withdraws


@pytest.mark.timeout(300)
def test_node_role_can_withdraw_ipc_grants_and_the_run_as_user(fake, tmp_path):
    """nso_no_ipc_users / nso_no_ipc_groups / nso_no_run_as_user / nso_unset / nso_reset_options
    reach the install as --no-ipc-user / --no-ipc-group / --no-run-as-user / --unset /
    --reset-options (and are not given by default)."""
    fake.set({"version": 1, "result": "applied", "changed": 0, "actions": []})
    play = {"hosts": "localhost", "gather_facts": False, "roles": ["nso_install.nso.node"],
            "vars": {"nso_install_tool": False, "nso_distribution": "/srv/dist", "nso_install_executable": str(fake.path),
                     "nso_verify": False, "nso_audit": False, "nso_init_system": "none"}}
    withdraw = {**play, "vars": {**play["vars"], "nso_no_ipc_users": True, "nso_no_ipc_groups": True}}
    as_root = {**play, "vars": {**play["vars"], "nso_no_run_as_user": True}}  # (nso_run_as_user keeps its default)
    forget = {**play, "vars": {**play["vars"], "nso_unset": ["ncs.crypto.aes256.key"], "nso_reset_options": True}}
    r = playbook(tmp_path, [play, withdraw, as_root, forget])
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    first, second, third, fourth = fake.calls
    assert not [a for a in first if a.startswith("--no-")] and first[first.index("--run-as-user") + 1] == "nso"
    assert "--unset" not in first and "--reset-options" not in first
    assert fourth[fourth.index("--unset") + 1] == "ncs.crypto.aes256.key" and "--reset-options" in fourth
    assert "--no-ipc-user" in second and "--no-ipc-group" in second
    # the run-as user withdrawn: NSO runs as root again
    assert "--no-run-as-user" in third and "--run-as-user" not in third


@pytest.mark.timeout(300)
def test_node_role_gives_the_directories_and_lock_timeout(fake, tmp_path):
    """The install module takes lock_timeout and the four directories, the node role did not: an
    HA rollout through the role could not wait for another run's lock nor install elsewhere than
    /opt/ncs. Not given by default (the recorded directories, no wait)."""
    import yaml
    from collection_support import COLLECTION

    fake.set({"version": 1, "result": "applied", "changed": 0, "actions": []})
    play = {"hosts": "localhost", "gather_facts": False, "roles": ["nso_install.nso.node"],
            "vars": {"nso_install_tool": False, "nso_distribution": "/srv/dist", "nso_install_executable": str(fake.path),
                     "nso_verify": False, "nso_audit": False, "nso_init_system": "none"}}
    given = {"nso_install_dir": "/srv/ncs", "nso_config_dir": "/srv/etc", "nso_run_dir": "/srv/run",
             "nso_log_dir": "/srv/log", "nso_lock_timeout": 90}
    r = playbook(tmp_path, [play, {**play, "vars": {**play["vars"], **given}},
                            {**play, "vars": {**play["vars"], "nso_lock_timeout": 0}}])
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    default, with_them, no_wait = fake.calls
    options = ("--install-dir", "--config-dir", "--run-dir", "--log-dir", "--lock-timeout")
    assert not [a for a in default + no_wait if a in options], default
    assert [with_them[with_them.index(o) + 1] for o in options] == ["/srv/ncs", "/srv/etc", "/srv/run", "/srv/log",
                                                                    "90.0"], with_them
    defaults = yaml.safe_load((COLLECTION / "roles/node/defaults/main.yml").read_text())
    assert all(defaults[k] == "" for k in given)
    readme = (COLLECTION / "README.md").read_text()
    assert all(f"`{k}`" in readme for k in given)


@pytest.mark.timeout(300)
def test_node_role_gives_fips_setuid_and_ncs_setup_both_ways(fake, tmp_path):
    """The install module takes fips_install, setuid_cmdwrapper and keep_ncs_setup; the node role
    gave none of them: a role user could not follow the tool's FIPS hints (install TREE --activate
    --no-fips-install). Null (the default): not given, the recorded value is kept."""
    import yaml
    from collection_support import COLLECTION

    fake.set({"version": 1, "result": "applied", "changed": 0, "actions": []})
    play = {"hosts": "localhost", "gather_facts": False, "roles": ["nso_install.nso.node"],
            "vars": {"nso_install_tool": False, "nso_distribution": "/srv/dist", "nso_install_executable": str(fake.path),
                     "nso_verify": False, "nso_audit": False, "nso_init_system": "none"}}
    names = ("nso_fips_install", "nso_setuid_cmdwrapper", "nso_keep_ncs_setup")
    r = playbook(tmp_path, [play, {**play, "vars": {**play["vars"], **dict.fromkeys(names, True)}},
                            {**play, "vars": {**play["vars"], **dict.fromkeys(names, False)}},
                            {**play, "vars": {**play["vars"], **dict.fromkeys(names, "")}}])
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    default, on, off, empty = fake.calls
    flags = ("fips-install", "setuid-cmdwrapper", "keep-ncs-setup")
    assert not [a for a in default + empty for f in flags if a.endswith(f)], default + empty
    assert all("--" + f in on and "--no-" + f not in on for f in flags), on
    assert all("--no-" + f in off and "--" + f not in off for f in flags), off
    defaults = yaml.safe_load((COLLECTION / "roles/node/defaults/main.yml").read_text())
    assert all(k in defaults and defaults[k] is None for k in names)
    readme = (COLLECTION / "README.md").read_text()
    assert all(f"`{k}`" in readme for k in names)


def test_crypto_keys_is_a_path_not_masked_but_secrets_are(fake):
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path),
                        "crypto_keys": "/srv/keys/ncs.crypto_keys", "set_secrets": {"crypto.aescfb128_key": "ab" * 16}})
    assert not r.failed, r.result
    assert "/srv/keys/ncs.crypto_keys" not in r.no_log_values
    assert "ab" * 16 in r.no_log_values
    assert fake.calls[0][fake.calls[0].index("--crypto-keys") + 1] == "/srv/keys/ncs.crypto_keys"


@pytest.mark.parametrize("check", [False, True])
def test_a_secret_in_set_is_refused_before_it_is_on_a_command_line(fake, check):
    """The CLI refuses a secret in --set (secret-on-command-line), but the module had put it on
    nso-install's command line first (the process list) and the failure returned it in cmd."""
    key = "ab" * 16
    r = run("install", {"distribution": "/srv/dist", "executable": str(fake.path), "system_install": True,
                        "set": {"crypto.mechanism": "inline", "crypto.aescfb128_key": key}}, check=check)
    assert r.failed and fake.calls == [], r.result
    assert "set crypto.aescfb128_key: a secret" in r.result["msg"] and "set_secrets" in r.result["hint"]
    assert key in r.no_log_values and key not in str(r.result)


def test_the_modules_secret_variables_are_the_clis():
    from collection_support import module

    from nso_install.conf.variables import VARIABLES

    assert set(module("install").SECRET_VARIABLES) == {n for n, v in VARIABLES.items() if v.secret}


@pytest.mark.parametrize("check", [False, True])
def test_the_distribution_is_never_read_as_an_option(fake, check):
    r = run("install", {"distribution": "--help", "executable": str(fake.path), "system_install": True}, check=check)
    assert not r.failed, r.result
    argv = fake.calls[0]
    assert argv[-2:] == ["--", "--help"] and argv.count("--help") == 1
    assert "--json" in argv[:-2] and ("--check" in argv[:-2]) is check
    assert r.result["cmd"][1:] == argv


def test_check_mode_reports_the_install_when_the_tool_is_not_installed_yet(tmp_path):
    for args in ({"executable": str(tmp_path / "venv" / "bin" / "nso-install")}, {}):
        r = run("install", {"distribution": "/srv/dist", **args}, check=True)
        if not args and r.failed:  # this machine has nso-install at the default path or on PATH
            continue
        assert not r.failed and r.result["changed"] is True, r.result
    r = run("status", {"executable": str(tmp_path / "venv" / "bin" / "nso-install")}, check=True)
    assert not r.failed and r.result["skipped"] is True, r.result


@pytest.mark.parametrize("module_name", ["install", "status", "verify", "audit", "uninstall", "keys_rotate"])
@pytest.mark.parametrize("wrong, words", [
    ("venv/bin/nso-instal", "does not exist, and is not VENV/bin/nso-install"),
    ("venv", "is not an executable file"),  # a directory
    ("plain-file", "is not an executable file"),
    ("no-such-nso-install-on-path", "is not on PATH"),
])
@pytest.mark.parametrize("check", [True, False])
def test_a_wrong_executable_fails_clearly_in_check_mode_too(tmp_path, module_name, wrong, words, check):
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "plain-file").write_text("")
    exe = wrong if "/" not in wrong and wrong.startswith("no-such") else str(tmp_path / wrong)
    args = {"executable": exe, **({"distribution": "/srv/dist"} if module_name == "install" else {}),
            **({"all": True} if module_name == "uninstall" else {})}
    r = run(module_name, args, check=check)
    assert r.failed and r.result["msg"].startswith(f"executable {exe} {words}"), r.result


@pytest.mark.parametrize("args, argv", [
    ({"version": "6.5.3"}, ["activate", "--json", "--", "6.5.3"]),
    ({"version": "-x", "force": True}, ["activate", "--force", "--json", "--", "-x"]),  # (never read as an option)
    ({"rollback": True, "force_conf": True, "version": None}, ["rollback", "--force-conf", "--json"]),
])
def test_activate_runs_activate_or_rollback(fake, args, argv):
    r = run("activate", {"executable": str(fake.path), **args})
    assert not r.failed, r.result
    assert fake.calls == [argv] and r.result["cmd"][1:] == argv


@pytest.mark.parametrize("args, words", [
    ({"version": "6.5.3", "rollback": True}, "mutually exclusive"),
    ({"rollback": False}, "required"),
    ({}, "required"),
])
def test_activate_needs_a_version_or_rollback_not_both(fake, args, words):
    r = run("activate", {"executable": str(fake.path), **args})
    assert r.failed and words in r.result["msg"], r.result
    assert fake.calls == []


def test_activate_gives_secrets_in_private_files_removed_after(fake, tmp_path):
    """As install: a secret value is never on the command line; its file is gone after the run."""
    seen = tmp_path / "seen"
    fake.path.write_text(fake.path.read_text().replace(
        "print(open(", f"[open({str(seen)!r}, 'a').write(open(a.split('=', 1)[1]).read()) for a in argv "
        "if a.startswith('ncs.crypto.aes256.key=')]\nprint(open(", 1))
    fake.set({"version": 1, "result": "applied", "changed": 2, "actions": [], "notes": ["restart NSO"]})
    r = run("activate", {"executable": str(fake.path), "version": "6.5.3",
                         "set_secrets": {"ncs.crypto.aes256.key": "s3cret-value"}})
    assert not r.failed and r.result["changed"] and r.result["notes"] == ["restart NSO"], r.result
    (call,) = fake.calls
    assert "s3cret-value" not in " ".join(call) and "s3cret-value" in r.no_log_values
    path = call[call.index("--set-file") + 1].split("=", 1)[1]
    assert seen.read_text() == "s3cret-value" and not os.path.exists(path)


def test_activate_check_and_diff_mode(fake):
    fake.set({"version": 1, "result": "check", "changed": 1,
              "actions": [{"kind": "symlink", "path": "/opt/ncs/current", "status": "change", "changed": True,
                           "detail": "ncs-6.5.3 -> ncs-6.5.4"}]})
    r = run("activate", {"executable": str(fake.path), "version": "6.5.4"}, check=True, diff=True)
    assert fake.calls == [["activate", "--check", "--diff", "--json", "--", "6.5.4"]]
    assert r.result["changed"] and "/opt/ncs/current" in r.result["diff"][0]["prepared"]


@pytest.mark.parametrize("name, args", [
    ("install", {"distribution": "/opt/ncs/current"}),
    ("activate", {"rollback": True}),
    ("uninstall", {"all": True}),
    ("status", {}), ("verify", {}), ("audit", {}), ("keys_rotate", {}),
])
def test_an_empty_root_is_refused_not_given_to_the_cli(fake, name, args):
    """nso-install takes --root '' for the current directory: a variable meant as "no root"
    would stage the install (keys included) wherever the module happens to run."""
    r = run(name, {**args, "root": "", "executable": str(fake.path)})
    assert r.failed and "root is empty" in r.result["msg"], r.result
    assert fake.calls == []


@pytest.mark.timeout(300)
def test_container_start_gives_no_option_for_an_empty_variable(fake, tmp_path):
    """The playbook's variables are the node role's, where an empty string means not given (the
    example inventory sets nso_run_as_user: ""): no --root '', --run-as-user '' or --crypto-keys ''
    (which the CLI reads as the current directory)."""
    r = playbook(tmp_path, [{"import_playbook": "nso_install.nso.container_start"}],
                 "-e", '{"nso_hosts": "localhost", "nso_root": "", "nso_run_as_user": "", "nso_crypto_keys": "", '
                 '"nso_install_dir": "", "nso_install_executable": "%s"}' % fake.path)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert fake.calls == [["install", "--system-install", "--init-system", "none", "--secrets-only", "--json", "--",
                           "/opt/ncs/current"]], fake.calls


@pytest.mark.timeout(300)
def test_container_start_installs_into_the_install_dir_it_reads_the_tree_from(fake, tmp_path):
    """It read the tree from nso_install_dir but never passed --install-dir: an image built with
    another INSTALL_DIR relied on the record of the build's run to say so."""
    r = playbook(tmp_path, [{"import_playbook": "nso_install.nso.container_start"}],
                 "-e", '{"nso_hosts": "localhost", "nso_install_dir": "/srv/nso", "nso_install_executable": "%s"}'
                 % fake.path)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    [call] = fake.calls
    assert call[-1] == "/srv/nso/current" and call[call.index("--install-dir") + 1] == "/srv/nso", call


def test_diff_mode_says_what_a_diff_without_a_header_is_of(fake):
    """The tool's diff of a link's target or of a secret has no ---/+++ header (its text output
    prints it under the action's line): the Ansible diff names the path, a content diff stays as is."""
    fake.set({"version": 1, "result": "check", "changed": 3, "actions": [
        {"kind": "symlink", "path": "/opt/ncs/current", "status": "change", "changed": False,
         "detail": "switch ncs-6.5.3 -> ncs-6.4.1", "diff": "- ncs-6.5.3\n+ ncs-6.4.1"},
        {"kind": "secret", "path": "/etc/ncs/ipc_access", "status": "change", "changed": False,
         "detail": "generate (0400 root:root)", "diff": "+ <secret> content"},
        {"kind": "conffile", "path": "/etc/ncs/ncs.conf", "status": "change", "changed": False,
         "detail": "update", "diff": "--- /etc/ncs/ncs.conf (current)\n+++ /etc/ncs/ncs.conf (new)\n-a\n+b\n"}]})
    r = run("activate", {"executable": str(fake.path), "rollback": True}, check=True, diff=True)
    assert [d["prepared"] for d in r.result["diff"]] == [
        "symlink /opt/ncs/current: switch ncs-6.5.3 -> ncs-6.4.1\n- ncs-6.5.3\n+ ncs-6.4.1\n",
        "secret /etc/ncs/ipc_access: generate (0400 root:root)\n+ <secret> content\n",
        "--- /etc/ncs/ncs.conf (current)\n+++ /etc/ncs/ncs.conf (new)\n-a\n+b\n"]
