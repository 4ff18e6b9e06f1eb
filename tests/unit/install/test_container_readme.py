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
