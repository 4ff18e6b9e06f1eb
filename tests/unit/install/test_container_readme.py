"""What examples/container/README.md says the container start does, done on a staged image:
its start command is the entrypoint's (--secrets-only), which leaves a lost file capability
alone, and its repair command in a container puts the capability back."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from support import cli, host_accounts_root

REPO = Path(__file__).resolve().parents[3]
README = REPO / "examples/container/README.md"
ENTRYPOINT = REPO / "examples/container/entrypoint.sh"
NCS_SMP = "opt/ncs/current/lib/ncs/erts/bin/ncs.smp"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (accounts, setcap)")


def _options(words: list[str]) -> set[str]:
    return {w for w in words if w.startswith("--") or w == "-q"}


def _readme_command(prefix: str) -> list[str]:
    """The first line of a sh block of the README that starts with ``prefix``."""
    block = False
    for line in README.read_text().splitlines():
        if re.match(r"^\s*```", line):
            block = not block
            continue
        if block and line.strip().startswith(prefix):
            return shlex.split(line.strip())
    raise AssertionError(f"{README.name} shows no command starting with {prefix!r}")


def _entrypoint_command() -> list[str]:
    text = ENTRYPOINT.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "nso-install install" in ln and not ln.lstrip().startswith("#"))
    return shlex.split(line[line.index("nso-install"):].split("||")[0])


def test_the_readmes_start_command_is_the_entrypoints():
    shown = _readme_command("nso-install install /opt/ncs/current")
    run = _entrypoint_command()
    assert "--secrets-only" in run
    assert _options(shown) == _options(run), (shown, run)


def _getcap(path: Path) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


@needs_root
def test_the_start_leaves_a_lost_capability_and_the_readmes_repair_restores_it(tmp_path, sample_dists):
    root = host_accounts_root(tmp_path / "image")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso",
        "--ignore-init-scripts", "--skip-secrets")
    smp = root / NCS_SMP
    cap = _getcap(smp)
    assert cap
    os.removexattr(smp, "security.capability")  # what a COPY or a chown leaves

    def run(words: list[str]):  # `nso-install install ...` of the README, staged
        words = [str(root / "opt/ncs/current") if w == "/opt/ncs/current" else w for w in words]
        return cli("install", "--root", root, *words[words.index("install") + 1:])

    run(_readme_command("nso-install install /opt/ncs/current"))
    assert (root / "etc/ncs/ncs.crypto_keys").exists()
    assert _getcap(smp) is None  # the start does not repair it (README: "The start does not repair them")
    repair = _readme_command("docker exec nso nso-install install /opt/ncs/current")
    run(repair[repair.index("nso-install"):])
    assert _getcap(smp) == cap


# --- the Dockerfile's install step, with NSO_UID/NSO_GID -------------------------------------

DOCKERFILE = REPO / "examples/container/Dockerfile"


def _install_step() -> str:
    """The body of the Dockerfile's RUN that installs NSO (continuations joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return next(ln[len("RUN "):] for ln in text.splitlines() if ln.startswith("RUN ") and "nso-install install" in ln)


def _run_install_step(tmp_path: Path, dist: Path, **env: str):
    """That RUN in a staging root: account tools and nso-install get --root, the distribution
    directory the COPY made is a temporary one."""
    import subprocess
    import sys

    root = host_accounts_root(tmp_path / "image")
    ctx = tmp_path / "nso-dist"
    ctx.mkdir()
    (ctx / dist.name).symlink_to(dist)
    shims = (f'groupadd() {{ command groupadd -R "$ROOT" "$@"; }}\n'
             f'useradd() {{ command useradd -R "$ROOT" "$@"; }}\n'
             f'nso-install() {{ {shlex.quote(sys.executable)} -m nso_install "$1" "$2" --root "$ROOT" '
             f'"${{@:3}}"; }}\n')
    body = _install_step().replace("/tmp/nso-dist", str(ctx))
    env = {**os.environ, "ROOT": str(root), "NSO_USER": "nso", "NSO_INSTALL_ARGS": "", "NSO_UID": "",
           "NSO_GID": "", "NSO_INSTALL_REPLAY": "0", **env}
    r = subprocess.run(["bash", "-c", shims + body], env=env, capture_output=True, text=True)
    return root, r


def _account(root: Path, db: str, name: str) -> list[str]:
    return next(ln.split(":") for ln in (root / "etc" / db).read_text().splitlines() if ln.split(":")[0] == name)


@needs_root
def test_the_dockerfile_gives_the_account_the_ids_asked_for(tmp_path, sample_dists):
    root, r = _run_install_step(tmp_path, Path(sample_dists["tar.gz"]), NSO_UID="4242", NSO_GID="4343")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _account(root, "passwd", "nso")[2:4] == ["4242", "4343"]
    assert _account(root, "group", "nso")[2] == "4343"
    assert "nso" in _account(root, "group", "ncsadmin")[3].split(",")
    st = os.stat(root / "var/opt/ncs")
    assert (st.st_uid, st.st_gid) == (4242, 4343)
    assert os.stat(root / NCS_SMP).st_gid == 4343 and _getcap(root / NCS_SMP)
    assert not (tmp_path / "nso-dist").exists()  # the step removes what the COPY brought


@needs_root
def test_the_dockerfile_refuses_half_the_ids_and_picks_them_without(tmp_path, sample_dists):
    _, r = _run_install_step(tmp_path / "half", Path(sample_dists["tar.gz"]), NSO_UID="4242")
    assert r.returncode != 0 and "set both NSO_UID and NSO_GID" in r.stderr
    root, r = _run_install_step(tmp_path / "none", Path(sample_dists["tar.gz"]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _account(root, "passwd", "nso")[2] not in ("4242", "")
