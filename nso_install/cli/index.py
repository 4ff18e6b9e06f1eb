"""Each command's module and one-line summary, so the command line imports a command's module only
when that command runs: ``nso-install --help`` lists the commands from this table alone, and
``nso-install install ...`` imports :mod:`.install` and none of the others (the start-up time of a
command is mostly imports; see bench/bench_startup.py).

The summaries are the commands' own (``short_help``, else the first sentence of the help):
tests/unit/cli/test_lazy_imports.py fails when this table and the commands differ, and says what to
write here. A new command module goes into :data:`MODULES` too.
"""

from __future__ import annotations

MODULES = ("audit", "discover", "install", "keys", "lifecycle")

COMMANDS: dict[str, tuple[str, str]] = {
    "activate": ("lifecycle", "Make an installed NSO version the active one (switch current)."),
    "audit": ("audit", "Judge an install against NSO's Secure Deployment guidance (read-only)."),
    "install": ("install", "Install (or re-apply) an NSO distribution, system or local."),
    "keys": ("keys", "NSO's crypto keys (ncs.crypto_keys): rotation."),
    "list": ("lifecycle", "Same as status."),
    "man": ("discover", "Print the nso-install(1) manual page (roff)."),
    "render-conf": ("install", "Print the ncs.conf install would write; install nothing."),
    "rollback": ("lifecycle", "Go back to the version that was active before the current one (as activate does)."),
    "sample-dist": ("install", "Write a small fake NSO distribution (tests, demos)."),
    "status": ("lifecycle", "Installed NSO versions, the active one (*), the recorded options, what waits, "
                            "whether NSO runs."),
    "uninstall": ("lifecycle", "Remove one version, or the whole install with --all."),
    "variables": ("discover", "List the ncs.conf variables: type, defaults, meaning."),
    "verify": ("lifecycle", "Compare the install with what nso-install made of it (like rpm -V)."),
}


def load(module: str) -> None:
    """Import one command module (its commands register themselves on the ``nso-install`` group)."""
    from importlib import import_module

    import_module(f"{__package__}.{module}")


def load_all() -> None:
    for module in MODULES:
        load(module)
