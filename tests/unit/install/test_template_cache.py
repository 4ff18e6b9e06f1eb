"""The compiled templates' cache (``STATE_DIR/template-cache``): root loads that bytecode, so it is
used only when the state directory, the cache directory and each file in it are this account's
alone; it is written after a changing run only (a no-op re-run and ``--check`` write nothing:
test_install_cli's byte-identical re-run), and rendering gives the same text with it."""

from __future__ import annotations

import os

import pytest

from nso_install import templates
from support import forget_template_cache


@pytest.fixture(autouse=True)
def _no_cache_afterwards():
    yield
    forget_template_cache()


NAME = "files/installdirs.j2"


def _render() -> str:
    return templates.render_text(NAME, config_dir="/etc/ncs", run_dir="/var/opt/ncs", log_dir="/var/log/ncs")


def _state(tmp_path, mode=0o700):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(d, mode)
    return d


def test_a_private_state_directory_gets_a_private_cache_that_renders_the_same(tmp_path):
    state = _state(tmp_path)
    assert templates.use_bytecode_cache(state, writable=False) is False  # a run starts: nothing made read-only
    assert not (state / templates.CACHE_DIR_NAME).exists()
    plain = _render()
    templates.fill_bytecode_cache(state)
    cache = state / templates.CACHE_DIR_NAME
    assert (os.stat(cache).st_mode & 0o777) == 0o700
    files = list(cache.iterdir())
    assert files and all((f.stat().st_mode & 0o777) == 0o600 for f in files)
    assert templates.use_bytecode_cache(state, writable=False)
    assert _render() == plain  # from the cached bytecode


def test_a_cached_file_open_to_others_is_not_loaded(tmp_path, monkeypatch):
    state = _state(tmp_path)
    _render()
    templates.fill_bytecode_cache(state)
    for f in (state / templates.CACHE_DIR_NAME).iterdir():
        os.chmod(f, 0o666)
    templates.use_bytecode_cache(state, writable=False)
    loaded = []
    monkeypatch.setattr("jinja2.bccache.Bucket.load_bytecode", lambda self, f: loaded.append(f))
    _render()
    assert loaded == []


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o770, 0o777])
def test_a_state_directory_open_to_others_gets_no_cache(tmp_path, mode):
    state = _state(tmp_path, mode)
    assert templates.use_bytecode_cache(state, writable=True) is False
    assert not (state / templates.CACHE_DIR_NAME).exists()


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701])
def test_a_cache_directory_open_to_others_is_not_used(tmp_path, mode):
    state = _state(tmp_path)
    (state / templates.CACHE_DIR_NAME).mkdir()
    os.chmod(state / templates.CACHE_DIR_NAME, mode)
    assert templates.use_bytecode_cache(state, writable=True) is False


def test_a_link_in_place_of_the_cache_directory_is_not_followed(tmp_path):
    state = _state(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (state / templates.CACHE_DIR_NAME).symlink_to(elsewhere)
    assert templates.use_bytecode_cache(state, writable=True) is False


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")
def test_a_cache_directory_of_another_account_is_not_used(tmp_path):
    state = _state(tmp_path)
    (state / templates.CACHE_DIR_NAME).mkdir(mode=0o700)
    os.chown(state / templates.CACHE_DIR_NAME, 65534, 65534)
    assert templates.use_bytecode_cache(state, writable=True) is False


# --- what the templates rendered (template-cache/rendered.json) ------------------------------

def _kept(state):
    """A fresh process's view: the cache in use, nothing rendered yet, jinja2 never asked."""
    templates._memo = None
    templates.environment.cache_clear()
    return templates.use_bytecode_cache(state, writable=False)


def _no_jinja2(monkeypatch):
    def refuse(*a, **kw):
        raise AssertionError("rendered with jinja2")
    monkeypatch.setattr("jinja2.Environment.get_template", refuse)


def test_renders_are_kept_and_given_back_without_rendering(tmp_path, monkeypatch):
    state = _state(tmp_path)
    plain = _render()
    templates.fill_bytecode_cache(state)
    kept = state / templates.CACHE_DIR_NAME / templates.MEMO_NAME
    assert (os.stat(kept).st_mode & 0o777) == 0o600
    assert _kept(state) and not templates.renders_to_keep()
    _no_jinja2(monkeypatch)
    assert _render() == plain and not templates.renders_to_keep()


def test_another_context_is_rendered_and_marked_to_keep(tmp_path):
    state = _state(tmp_path)
    _render()
    templates.fill_bytecode_cache(state)
    _kept(state)
    other = templates.render_text(NAME, config_dir="/etc/ncs2", run_dir="/var/opt/ncs", log_dir="/var/log/ncs")
    assert "/etc/ncs2" in other and templates.renders_to_keep()


@pytest.mark.parametrize("mode", [0o644, 0o660, 0o606])
def test_kept_renders_open_to_others_are_not_used(tmp_path, monkeypatch, mode):
    state = _state(tmp_path)
    _render()
    templates.fill_bytecode_cache(state)
    os.chmod(state / templates.CACHE_DIR_NAME / templates.MEMO_NAME, mode)
    _kept(state)
    _no_jinja2(monkeypatch)
    with pytest.raises(AssertionError, match="rendered with jinja2"):
        _render()


def test_renders_that_may_hold_keys_or_unknown_values_are_not_kept(tmp_path):
    state = _state(tmp_path)
    templates.render_text(NAME, keep=False, config_dir="/etc/secret", run_dir="/r", log_dir="/l")
    templates.render_text(NAME, config_dir=object(), run_dir="/r", log_dir="/l")  # no canonical form
    assert not templates.renders_to_keep()
    templates.fill_bytecode_cache(state)
    assert not (state / templates.CACHE_DIR_NAME / templates.MEMO_NAME).exists()


def test_the_key_tells_apart_what_a_template_could():
    c = templates._canonical
    assert len({c(1), c(True), c("1"), c(1.0), c(None), c("None")}) == 6
    assert c([1, 2]) != c((1, 2)) and c({"a": 1, "b": 2}) != c({"b": 2, "a": 1})
    from nso_install.conf.variables import ConfContext
    a, b = ConfContext("system", "production", "6.5.3"), ConfContext("system", "production", "6.4.1")
    assert c(a) != c(b) and "version_tuple" in c(a)  # fields and properties



# --- root's cache is the host's (run.py) ---------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="root keeps the cache on the host; other accounts in the target")
def test_root_keeps_the_cache_on_the_host_and_a_fresh_staged_install_renders_nothing(tmp_path, monkeypatch):
    """A staged install as root keeps the compiled templates and their renders in the host's
    nso-install directory (here the test session's, see conftest's private_seal_key), never in the
    staging root (an image built from it carries none); an install of the same into a fresh staging
    root then asks jinja2 for no template (it renders nothing, and compiles nothing to keep) and
    writes the same ncs.conf."""
    from support import cli

    from nso_install.sample import make_sample_distribution
    from nso_install.state import host_dir

    dist = make_sample_distribution(tmp_path / "dist", "6.5.3")
    cli("install", dist, "--system-install", "--root", tmp_path / "a")
    kept = host_dir() / templates.CACHE_DIR_NAME / templates.MEMO_NAME
    assert kept.is_file() and (os.stat(kept).st_mode & 0o777) == 0o600
    assert not [p for p in (tmp_path / "a").rglob("*") if p.name in (templates.CACHE_DIR_NAME, templates.MEMO_NAME)]
    _no_jinja2(monkeypatch)
    cli("install", dist, "--system-install", "--root", tmp_path / "b")
    assert (tmp_path / "b/etc/ncs/ncs.conf").read_bytes() == (tmp_path / "a/etc/ncs/ncs.conf").read_bytes()


def test_kept_renders_of_other_runs_stay_beside_this_runs(tmp_path):
    """Two installs of other specs on one host (root's cache is shared) keep each other's renders:
    the second run adds its own instead of replacing the first's."""
    state = _state(tmp_path)
    _render()
    templates.fill_bytecode_cache(state)
    first = dict(templates._load_memo())
    _kept(state)
    templates._memo_used.clear()
    templates.render_text(NAME, config_dir="/etc/ncs2", run_dir="/var/opt/ncs", log_dir="/var/log/ncs")
    templates.fill_bytecode_cache(state)
    _kept(state)
    both = templates._load_memo()
    assert len(both) == len(first) + 1 and first.items() <= both.items()
