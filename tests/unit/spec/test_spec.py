"""The install spec: precedence, sources, remembered values, cross-option rules, withdrawals."""

from __future__ import annotations

import pytest

from nso_install.errors import UsageError
from nso_install.spec import DEFAULT, FLAG, RECORDED, InstallSpec, SpecInput, from_record, resolve


def given(**options):
    local = options.pop("local_dir", None)
    extra = {k: options.pop(k) for k in ("sets", "unsets", "reset", "set_files", "values_files", "activate")
             if k in options}
    return SpecInput(kind="local" if local else "system", local_dir=local, options=options, **extra)


def setting(res, name):
    return next(s for s in res.settings if s.name == name)


def test_defaults_without_record():
    res = resolve(given())
    s = res.spec
    assert (s.install_dir, s.config_dir, s.run_dir, s.log_dir) == ("/opt/ncs", "/etc/ncs", "/var/opt/ncs", "/var/log/ncs")
    assert s.run_as_user is None and s.profile == "production" and s.init_system == "systemd"
    assert setting(res, "run-as-user").source == DEFAULT
    assert res.previous is None and res.changes == []


def test_local_install_defaults_to_the_development_profile():
    assert resolve(given(local_dir="/home/dev/nso")).spec.profile == "development"


def test_recorded_values_win_over_defaults_and_flags_win_over_both():
    first = resolve(given(run_as_user="nso", install_dir="/srv/ncs", sets=["restconf.enabled=true"])).spec
    record = first.record()
    again = resolve(given(), record)
    assert again.spec.run_as_user == "nso" and again.spec.install_dir == "/srv/ncs"
    assert dict(again.spec.values) == {"restconf.enabled": True}
    assert setting(again, "run-as-user").source == RECORDED
    assert setting(again, "restconf.enabled").source == RECORDED
    assert again.changes == []
    other = resolve(given(install_dir="/opt/nso"), record)
    assert other.spec.install_dir == "/opt/nso" and setting(other, "install-dir").source == FLAG
    assert [c.name for c in other.changes] == ["install-dir"]
    assert setting(other, "install-dir").previous == "/srv/ncs"


def test_record_holds_no_per_run_option_and_no_secret(tmp_path):
    keyfile = tmp_path / "k"
    keyfile.write_text("ab" * 16)
    res = resolve(SpecInput(kind="system", options={"profile": "development"}, activate=True, secrets="skip",
                            force_conf=True, set_files=[f"crypto.aescfb128_key={keyfile}"]))
    record = res.spec.record()
    text = repr(record)
    assert "ab" * 16 not in text
    assert record["secret_names"] == ["crypto.aescfb128_key"]
    for per_run in ("activate", "secrets", "force_conf", "crypto_keys", "secret_values"):
        assert per_run not in record
    assert setting(res, "crypto.aescfb128_key").value == "<secret>"


def test_reset_options_starts_from_defaults_and_shows_each_reverted_value():
    record = resolve(given(install_dir="/srv/ncs", keep_ncs_setup=True, sets=["restconf.enabled=true",
                                                                              "cli.ssh.port=2222"])).spec.record()
    res = resolve(given(reset=True), record)
    assert res.spec.install_dir == "/opt/ncs" and not res.spec.keep_ncs_setup and res.spec.values == ()
    changed = {c.name: (c.previous, c.value) for c in res.changes}
    assert changed == {"install-dir": ("/srv/ncs", "/opt/ncs"), "keep-ncs-setup": (True, False),
                       "restconf.enabled": (True, "(profile default)"), "cli.ssh.port": (2222, "(profile default)")}
    assert all("--reset-options" in c.source for c in res.changes)


def test_unset_forgets_one_value():
    record = resolve(given(sets=["restconf.enabled=true", "cli.ssh.port=2222"])).spec.record()
    res = resolve(given(unsets=["cli.ssh.port"]), record)
    assert dict(res.spec.values) == {"restconf.enabled": True}
    assert setting(res, "cli.ssh.port").source == "--unset"
    with pytest.raises(UsageError) as e:
        resolve(given(unsets=["cli.shh.port"]), record)
    assert e.value.reference == "unknown-variable" and "cli.ssh.port" in e.value.hint


@pytest.mark.parametrize("before, after, flag", [
    ({"run_as_user": "nso"}, {}, "--no-run-as-user"),
    ({"profile": "production"}, {}, "--profile development"),
    ({"fips_install": True}, {}, "--no-fips-install"),
])
def test_withdrawing_hardening_by_reset_is_refused_until_asked_for(before, after, flag):
    start = dict(before)
    if start.get("profile"):  # a local install defaults to development: withdrawal by reset
        record = resolve(given(local_dir="/home/dev/nso", **start)).spec.record()
        with pytest.raises(UsageError) as e:
            resolve(given(local_dir="/home/dev/nso", reset=True), record)
    else:
        record = resolve(given(**start)).spec.record()
        with pytest.raises(UsageError) as e:
            resolve(given(reset=True), record)
    assert e.value.reference == "withdrawal-needs-confirmation"
    assert flag in e.value.hint


def test_explicit_withdrawals_are_accepted_and_shown_as_changes():
    record = resolve(given(run_as_user="nso", fips_install=True)).spec.record()
    res = resolve(given(run_as_user=None, fips_install=False), record)
    assert res.spec.run_as_user is None and not res.spec.fips_install
    assert {c.name for c in res.changes} == {"run-as-user", "fips-install"}
    assert setting(res, "run-as-user").previous == "nso"


def test_turning_the_ipc_access_check_off_needs_an_explicit_value():
    record = resolve(given(sets=["ipc.transport=tcp", "ipc.access_check=true"])).spec.record()
    with pytest.raises(UsageError) as e:
        resolve(given(reset=True, sets=["ipc.transport=tcp"]), record)
    assert "ipc.access_check=false" in e.value.hint
    res = resolve(given(sets=["ipc.access_check=false"]), record)
    assert dict(res.spec.values)["ipc.access_check"] is False


def test_found_run_as_user_counts_as_previous_when_nothing_was_recorded():
    with pytest.raises(UsageError) as e:
        resolve(given(), None, found={"run_as_user": "nso"})
    assert e.value.reference == "withdrawal-needs-confirmation"
    assert resolve(given(run_as_user="nso"), None, found={"run_as_user": "nso"}).changes == []


def test_secret_values_are_never_recorded_so_a_rerun_must_give_them_again(tmp_path):
    k1, k2 = tmp_path / "k1", tmp_path / "k2"
    k1.write_text("ab" * 16)
    k2.write_text("cd" * 32)
    sets = [f"crypto.aescfb128_key={k1}", f"crypto.aes256cfb128_key={k2}"]
    record = resolve(SpecInput(kind="local", local_dir="/home/dev/nso", set_files=sets)).spec.record()
    with pytest.raises(UsageError) as e:
        resolve(SpecInput(kind="local", local_dir="/home/dev/nso"), record)
    assert e.value.reference == "secret-values-not-recorded"
    assert "ab" * 16 not in str(e.value)
    again = resolve(SpecInput(kind="local", local_dir="/home/dev/nso", set_files=sets), record)
    assert dict(again.spec.secret_values)["crypto.aescfb128_key"].reveal() == b"ab" * 16


def test_secret_on_the_command_line_is_refused():
    with pytest.raises(UsageError) as e:
        resolve(given(sets=["crypto.aescfb128_key=" + "ab" * 16]))
    assert e.value.reference == "secret-on-command-line" and "ab" * 16 not in str(e.value)
    assert "--set-file" in e.value.hint


@pytest.mark.parametrize("dirs, words", [
    ({"run_dir": "/opt/ncs"}, "is the same directory as"),
    ({"install_dir": "/var/opt/ncs/install"}, "is inside"),
    ({"config_dir": "/var/opt/ncs/etc"}, "is inside"),
    ({"log_dir": "/var/opt/ncs/logs"}, "is inside"),
    ({"run_dir": "/etc"}, "--config-dir /etc/ncs is inside --run-dir /etc"),
])
def test_overlapping_directories_are_refused(dirs, words):
    with pytest.raises(UsageError) as e:
        resolve(given(**dirs))
    assert e.value.reference == "overlapping-directories" and words in e.value.message


@pytest.mark.parametrize("options, ref", [
    ({"run_as_user": "root"}, "run-as-user-is-root"),
    ({"run_as_user": "Bad Name"}, "bad-user-name"),
    ({"run_as_user": "ncsadmin"}, "reserved-user-name"),
    ({"setuid_cmdwrapper": True}, "setuid-needs-run-as-user"),
    ({"config_dir": "etc/ncs"}, "relative-path"),
    ({"config_dir": "/etc/../ncs"}, "dotdot-path"),
    ({"log_dir": "/"}, "root-dir"),
    ({"run_dir": "/var/opt/my ncs"}, "unsafe-path-characters"),
    ({"profile": "staging"}, "bad-profile"),
])
def test_bad_options_are_refused_with_a_stable_reference(options, ref):
    with pytest.raises(UsageError) as e:
        resolve(given(**options))
    assert e.value.reference == ref


def test_system_only_options_are_refused_for_a_local_install():
    for options in ({"install_dir": "/opt/x"}, {"run_as_user": "nso"}, {"init_system": "sysv"}, {"activate": True}):
        with pytest.raises(UsageError) as e:
            resolve(given(local_dir="/home/dev/nso", **options))
        assert e.value.reference == "system-only-option"


def test_crypto_keys_for_a_local_install_is_refused_with_where_its_keys_are():
    """The hint said a local install "keeps its keys in ncs.conf": its production profile keeps
    them in DIR/etc/ncs/ncs.crypto_keys (found by review)."""
    from nso_install.secret import Secret

    g = SpecInput(kind="local", local_dir="/home/dev/nso", options={}, crypto_keys=Secret(b"k"))
    with pytest.raises(UsageError) as e:
        resolve(g)
    assert e.value.reference == "system-only-option" and "--crypto-keys" in e.value.message
    assert "DIR/etc/ncs/ncs.crypto_keys (production profile)" in e.value.hint


def test_a_record_of_another_kind_or_format_is_ignored():
    local = resolve(given(local_dir="/home/dev/nso")).spec.record()
    assert resolve(given(), local).previous is None
    assert from_record({"format": 99, "kind": "system"}) is None
    assert from_record("garbage") is None
    assert isinstance(from_record({"format": 1, "kind": "system", "run_as_user": "nso"}), InstallSpec)


def test_a_recorded_setuid_cmdwrapper_goes_with_the_run_as_user():
    """--setuid-cmdwrapper exists only with a run-as user: dropping the user on purpose drops
    the recorded grant with it (said so), instead of refusing the run over a flag not given."""
    record = resolve(given(run_as_user="nso", setuid_cmdwrapper=True)).spec.record()
    res = resolve(given(run_as_user=None), record)
    assert res.spec.run_as_user is None and res.spec.setuid_cmdwrapper is False
    assert setting(res, "setuid-cmdwrapper").source == "withdrawn with run-as-user"


@pytest.mark.parametrize("options", [{"install_dir": "/opt/a:b"}, {"local_dir": "/home/dev/a:b"}])
def test_a_colon_in_a_directory_whose_bin_goes_on_path_is_refused(options):
    """NCS_DIR/bin goes in front of PATH (and /man, /src/ncs/pyapi in front of MANPATH and
    PYTHONPATH): a ':' there splits it into a relative entry."""
    with pytest.raises(UsageError) as e:
        resolve(given(**options))
    assert e.value.reference == "unsafe-path-characters" and "':'" in e.value.message
