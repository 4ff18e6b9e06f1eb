"""The README and the docs say what to type: every `nso-install` command in their shell examples
runs as written -- its command and options exist and take those values -- against a sample
distribution and a staged system install (`--root` added where the example means this host),
and the README's first set-up line runs whole and a second run reports 0 changed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from support import cli, host_accounts_root

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "examples/container/README.md"]
SHELL = {"", "sh", "bash", "console", "shell"}
NOT_RUN_HERE = ("--purge", "--all")  # removals of the staged install the later examples need: parsed only
COMMANDS = ("install", "status", "list", "verify", "activate", "rollback", "uninstall", "keys", "audit",
            "render-conf", "sample-dist", "variables", "man")


def shell_examples(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of every line of a shell code block (continuations joined)."""
    out, fence, pending = [], None, None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*```\s*(\S*)", line)
        if m:
            fence = None if fence is not None else m.group(1)
            continue
        if fence is None or fence not in SHELL:
            continue
        text = line.rstrip()
        if pending is not None:
            pending = (pending[0], pending[1] + " " + text.rstrip("\\").strip())
        else:
            pending = (n, text.rstrip("\\").strip())
        if not text.endswith("\\"):
            out.append(pending)
            pending = None
    return out


def nso_install_commands(path: Path) -> list[tuple[int, list[str]]]:
    """The `nso-install` invocations in ``path``'s shell examples, as argument lists."""
    found = []
    for n, line in shell_examples(path):
        for part in re.split(r"\s*(?:&&|;|\|\|?)\s*", line):
            part = re.sub(r"^(RUN|sudo|env -u \w+)\s+", "", part.strip())
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            if any("$" in w for w in words):
                continue  # shell variables: the README's set-up line, run whole by its own test
            if words and words[0].endswith("nso-install") and len(words) > 1 and words[1] in COMMANDS:
                found.append((n, words[1:]))
    return found


ALL = [(path, n, args) for path in DOCS for n, args in nso_install_commands(path)]
REMOVALS = [e for e in ALL if any(a.strip("[]") in NOT_RUN_HERE for a in e[2])]
EXAMPLES = [pytest.param(path, n, args, id=f"{path.relative_to(REPO)}:{n}") for path, n, args in ALL
            if (path, n, args) not in REMOVALS]


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) >= 25 and REMOVALS  # the parser still finds them


@pytest.fixture(scope="module")
def staged(tmp_path_factory, sample_dists):
    """A staged system install with a run-as user, as the examples assume one exists."""
    base = tmp_path_factory.mktemp("docs")
    root = host_accounts_root(base / "root")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso")
    (base / "waivers.toml").write_text('[[waivers]]\nid = "NSO-PROC-001"\nreason = "docs example"\n'
                                        'owner = "tests"\n')
    for name in ("crcam2.cer", "innerspace.cer"):  # stand-ins for Cisco's CA certificates
        (base / name).write_bytes(_self_signed(name))
    return base, root


def _self_signed(name: str) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def concrete(args: list[str], base: Path, root: Path, dist: str) -> list[str]:
    """The example made runnable here: placeholders filled, optional parts ([--full]) taken,
    `--root` added where it means the host."""
    out = []
    for a in args:
        a = a.strip("[]") if a.startswith("[") or a.endswith("]") else a
        if a in ("DIST",) or re.fullmatch(r"(/tmp/)?nso[-.].*\.(bin|tar\.gz|tar)", a):
            a = dist
        elif a == "DIR":
            a = str(root)
        elif a.startswith("~/"):
            a = str(base / "home" / a[2:])
        elif a in ("waivers.toml", "audit.xml", "audit.sarif", "crcam2.cer", "innerspace.cer"):
            a = str(base / a)
        elif a == "/opt/ncs/current":
            a = str(root / "opt/ncs/current")
        out.append(a)
    local = "--local-install" in out
    if out[0] in ("install", "status", "list", "verify", "activate", "rollback", "uninstall", "keys", "audit",
                  "render-conf") and "--root" not in out and not local:
        if out[0] == "keys":
            out[2:2] = ["--root", str(root)]
        else:
            out[1:1] = ["--root", str(root)]
    if out[0] == "sample-dist":
        out[1] = str(base / "samples")
    return out


@pytest.mark.parametrize("path,line,args", EXAMPLES)
def test_every_example_runs_as_written(path, line, args, staged, sample_dists):
    base, root = staged
    dist = sample_dists["signed.bin" if any(a.endswith(".signed.bin") for a in args) else "tar.gz"]
    r = cli(*concrete(args, base, root, str(dist)), ok=False)
    text = r.output + r.stderr
    assert "internal-error" not in text and "This is a bug" not in text, text
    # click's own usage errors (an unknown command or option, a bad value, a missing file);
    # nso-install's refusals of the staged state (no earlier version to roll back to) are fine
    assert "Try '" not in text and "No such" not in text, f"{path.name}:{line}: {shlex.join(args)}:\n{text}"


def test_removal_examples_run_in_check_mode(staged, sample_dists):
    """The examples that remove the whole install (which the other examples need), with --check."""
    base, root = staged
    for path, n, args in REMOVALS:
        run = concrete(args, base, root, str(sample_dists["tar.gz"]))
        r = cli(*run, *(["--check"] if "--check" not in run else []), ok=False)
        assert "Try '" not in r.output + r.stderr, f"{path.name}:{n}: {r.output}{r.stderr}"
        assert (root / "opt/ncs/current").exists()


def test_the_readme_set_up_line_runs_and_a_rerun_changes_nothing(tmp_path):
    first = shell_examples(REPO / "README.md")[0][1]
    prefix = "python3 -m venv .venv && .venv/bin/pip install -q . && "
    assert first.startswith(prefix)  # the rest is what the installed tool does
    script = first[len(prefix):].replace(".venv/bin/nso-install", shlex.quote(str(Path(sys.executable).parent /
                                                                                   "nso-install")))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = subprocess.run(["bash", "-c", f"set -e; {script}; echo \"D=$D\""], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    d = r.stdout.strip().splitlines()[-1].removeprefix("D=")
    last = script.rsplit(" && ", 1)[1].replace('"$D"', shlex.quote(d)).replace("$D", d)
    again = subprocess.run(["bash", "-c", last], capture_output=True, text=True)
    assert again.returncode == 0 and "0 changed" in again.stdout, again.stdout + again.stderr


def test_every_option_the_readme_tables_name_exists():
    """The README's option tables: each `--option` they name is an option of a command."""
    from nso_install.cli import main

    known = set()
    for name in main.list_commands(None):
        cmd = main.get_command(None, name)
        for sub in getattr(cmd, "commands", {}).values() or [cmd]:
            for p in sub.params:
                known.update(o for o in [*p.opts, *p.secondary_opts] if o.startswith("--"))
    named = set()
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("| `--"):
            named.update(re.findall(r"`(--[a-z][a-z0-9-]*)", line.split("|")[1]))
    assert len(named) >= 20
    assert sorted(named - known) == []


def test_what_uninstall_parts_remove_from_the_kept_directories_is_said(staged):
    """`uninstall --all --service` also removes CONFIG_DIR/ncs.systemd.conf (the operator's
    NCS_* settings), which docs/operations.md's table and the option's help did not say: a
    reader took the config directory for kept without --config. Every file a part removes from
    inside the config, run or log directory is named in its row and its help."""
    import json

    from nso_install.cli import main

    _, root = staged
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `\.\.\. (--[a-z-]+)` \| ([^|]*) \|",
                                                        (REPO / "docs/operations.md").read_text(), re.M)}
    uninstall = main.get_command(None, "uninstall")
    helps = {p.opts[0]: p.help for p in uninstall.params if isinstance(p, click.Option)}
    unsaid = []
    for part in ("--service", "--profile-scripts", "--logs", "--run-data", "--config"):
        r = cli("uninstall", "--all", part, "--root", root, "--check", "--json")
        doc = json.loads(r.output)
        for a in doc["actions"]:
            inside = [d for d in ("/etc/ncs/", "/var/opt/ncs/", "/var/log/ncs/") if a["path"].startswith(d)]
            name = Path(a["path"]).name
            if inside and (name not in rows[part] or name not in helps[part]):
                unsaid.append(f"{part}: {a['path']}")
    assert not unsaid, unsaid


def test_what_fail_on_change_exits_4_for_is_said_where_its_exit_code_is(tmp_path, sample_dists):
    """`install --check --fail-on-change` exits 4 with nothing to change when an edited config
    file is kept (operations.md and --help said so); the README's option table, its exit codes
    and json.md said only "something to change", so a CI job that kept an edit read a false
    drift. Every place that gives exit 4 says both."""
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    dist = str(sample_dists["tar.gz"])
    cli("install", dist, "--system-install", "--root", root)
    with open(root / "etc/ncs/ncs.conf", "a") as f:
        f.write("<!-- edited -->\n")
    r = cli("install", dist, "--system-install", "--root", root, "--check", "--fail-on-change", ok=False)
    assert r.exit_code == 4 and "0 to change" in r.output and "edited config file(s) kept" in r.output, r.output
    readme = (REPO / "README.md").read_text()
    said = [next(line for line in readme.splitlines() if line.startswith("| `--fail-on-change`")),
            re.search(r"Exit codes:.*?\(drift\)", readme, re.S).group(0),
            re.search(r"3 another run holds the lock, 4.*?\.", (REPO / "docs/json.md").read_text(), re.S).group(0)]
    assert all("edited" in s for s in said), said
