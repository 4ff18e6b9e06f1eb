"""``docs/checks.md``, generated from the check definitions (a test keeps the file in step).

    python -m nso_install.audit.docs docs/checks.md      # rewrite it
    python -m nso_install.audit.docs                     # print it
"""

from __future__ import annotations

import re

from . import all_checks
from .registry import DOMAINS

DOMAIN_TITLES = {
    "LAYOUT": "Layout", "USER": "NSO's account", "PERM": "Owners and modes", "PRIV": "Privileged binaries",
    "KEY": "Keys", "TLS": "TLS certificate", "CONF": "ncs.conf as NSO reads it",
    "SD": "Secure Deployment settings in ncs.conf", "IPC": "IPC",
    "NET": "Northbound listeners", "PAM": "PAM", "SVC": "Service unit", "PROC": "The running NSO",
    "DRIFT": "Drift from nso-install's records",
}

HEADER = """# Audit checks

<!-- Generated from the check definitions (nso_install/audit/checks/, nso_install/conf/secure.py):
     python -m nso_install.audit.docs docs/checks.md
     Do not edit by hand; tests/unit/audit/test_docs.py keeps this file in step. -->

`nso-install audit` judges an NSO system install, read-only, against the checks below: one
line each in its report, with a result (`pass`, `fail`, `warn`, `skip` with the reason, or
`waived`), the evidence, the remediation and the source. IDs are stable: use them in waivers
(`--waivers FILE`), in `--only` / `--skip` (by prefix, e.g. `--skip NSO-SD`) and in CI.

*Source* is either a documented recommendation (NSO's documentation, with its reference) or
*our inference*: a rule nso-install derives
from its trust model (docs/security.md) where the documentation says nothing. The short
references in parentheses (G-INST, G-IPC...) are listed under [Sources](#sources) at the end.

```sh
nso-install audit                                   # the install on this host, as a table
nso-install audit --root DIR --run-as-user nso      # a staged tree, or a vendor install without records
nso-install audit --json                            # machine-readable
nso-install audit --junit audit.xml --sarif audit.sarif --waivers waivers.toml   # CI
```

Exit codes: 0 every check passed, warned, was skipped or waived; 1 a check failed (an expired
waiver fails too); 2 bad usage or a check that could not read the target.

Waivers (TOML, or YAML with a `waivers:` list):

```toml
[[waivers]]
id = "NSO-SD-008"
reason = "CLI over SSH for the NOC jump host, change 4711"
owner = "netops@example.net"
expires = 2026-06-30      # optional; the waiver holds through that day, then the check fails again
```

A waiver turns a failure into a pass of the exit code, so whoever can write the waivers file can
hide any finding: keep it root's and not writable by group or others. One that another account
owns or may write is still read, and every report says so (a note on the terminal and in JSON, a
`toolExecutionNotifications` entry in SARIF, where the other notes go too).

`install` runs the same checks on what it has just installed and prints one line for each
failure: a warning for the checks of what it sets on files (`NSO-PERM-*`, `NSO-PRIV-*`,
`NSO-KEY-*`: right after its run they fail only when something it does not reach undid them,
such as volumes written under another uid, so `-q` keeps them), a note for the others (they follow
from the options given: a development profile's listeners). To keep that cheap on a re-run, what it derives from the SSH host keys, the HTTPS key
and the certificate (key types and sizes, digests of the public keys, the certificate's names,
dates and signature hash) is kept in the state directory (`/var/lib/nso-install/audit-memo.json`,
0600, root's) under a SHA-256 digest of each file's bytes and the tool's version: a file changed
in any way is parsed again, and every verdict is still judged on every run from these facts (a
certificate's dates against the clock of that run). So install's lines and `nso-install audit`
(which parses every time and writes nothing) cannot disagree, whether or not the run changed
anything.
"""


# The short references the checks' sources use: NSO's public documentation
# (NSO-developer/nso-gitbook; man pages under resources/man/ from 6.5, man/section1.md before)
# and the vendor's public examples.
SOURCES = {
    "G-INST": "ncs-installer(1), NSO's installer man page (`--run-as-user` privileges, the system "
              "install layout): nso-gitbook `resources/man/ncs-installer.1.md`",
    "G-SYS": "NSO Administration Guide, System Install (FIPS install): nso-gitbook "
             "`administration/installation-and-deployment/system-install.md`",
    "G-SEC": "NSO Administration Guide, Secure Deployment: nso-gitbook "
             "`administration/installation-and-deployment/deployment/secure-deployment.md`",
    "G-DEP": "NSO Administration Guide, Deployment Example (HTTPS, `ipc_access`, audit, CGI): nso-gitbook "
             "`administration/installation-and-deployment/deployment/deployment-example.md`",
    "G-KEYS": "NSO Administration Guide, Cryptographic Keys: nso-gitbook "
              "`administration/advanced-topics/cryptographic-keys.md`",
    "G-IPC": "NSO Administration Guide, IPC Connection: nso-gitbook "
             "`administration/advanced-topics/ipc-connection.md`",
    "G-AAA": "NSO Administration Guide, AAA Infrastructure (\"Authenticating IPC Access\"): nso-gitbook "
             "`administration/management/aaa-infrastructure.md`",
    "G-CONF": "ncs.conf(5), NSO's configuration file man page: nso-gitbook `resources/man/ncs.conf.5.md` (6.5 on), "
              "`man/section5.md` (6.4 and before)",
    "G-SM": "NSO Administration Guide, System Management (the start's exit codes): nso-gitbook "
            "`administration/management/system-management/README.md`",
    "X-SSH": "the vendor's deployment example NSO-developer/sshkey-deployment-example "
             "(`Dockerfile.native`, `nsoapp/run_native.sh`)",
}


def _sources(texts: list[str]) -> list[str]:
    used = sorted({tag for t in texts for tag in re.findall(r"\b[GX]-[A-Z]+\b", t)})
    unknown = [tag for tag in used if tag not in SOURCES]
    if unknown:
        raise KeyError(f"sources without an entry in SOURCES: {', '.join(unknown)}")
    return (["\n## Sources\n", "| Reference | Document |", "|---|---|"]
            + [f"| {tag} | {SOURCES[tag]} |" for tag in used])


def markdown() -> str:
    checks = all_checks()
    out = [HEADER, "| ID | Check | Severity | Source |", "|---|---|---|---|"]
    out += [f"| [{c.id}](#{c.id.lower()}) | {c.title} | {c.severity} | "
            f"{'documented' if c.kind == 'documented' else 'our inference'} |" for c in checks]
    for domain in DOMAINS:
        group = [c for c in checks if c.id.split("-")[1] == domain]
        if not group:
            continue
        out.append(f"\n## {DOMAIN_TITLES[domain]}\n")
        for c in group:
            out.append(f"### {c.id}\n")
            out.append(f"**{c.title}** ({c.severity})\n")
            out.append(f"- Source: {c.source_text}")
            out.append(f"- Remediation: {c.remediation}\n")
    out += _sources([c.source_text for c in checks])
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    from ..generated import emit

    return emit(markdown(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
