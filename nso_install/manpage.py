"""nso-install(1) in roff, generated from the click command definitions (one source: the
``--help`` texts).  ``nso-install man`` prints it; ``share/man/man1/nso-install.1`` is the same
text, shipped in the wheel (a test keeps it equal).  Regenerate it with
``python -m nso_install.manpage share/man/man1/nso-install.1``."""

from __future__ import annotations

import re

MAN_PATH = "share/man/man1/nso-install.1"


def _esc(text: str) -> str:
    """Text safe in roff: backslashes escaped, a leading control character neutralised."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n"))


def _paragraphs(help_text: str) -> list[str]:
    """Help text (click's conventions: blank lines between paragraphs, ``\\b`` = keep lines)."""
    import inspect

    out = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(help_text or "")):
        if para.startswith("\b"):
            out.append(".nf\n" + _esc(para[1:].strip("\n")) + "\n.fi")
        elif para.strip():
            out.append(_esc(" ".join(para.split())))
    return out


def _command(cmd, ctx, path: str) -> list[str]:
    import click

    lines = [f'.SS "{_esc(path)}"']
    pieces = cmd.collect_usage_pieces(ctx)
    lines += [".B " + _esc(path), _esc(" ".join(pieces)) if pieces else "", ".PP"]
    for para in _paragraphs(cmd.help or ""):
        lines += [para, ".PP"]
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # arguments: named in the usage line and the help text
            continue
        names, text = record
        lines += [".TP", f"\\fB{_esc(names)}\\fR", _esc(" ".join(text.split()))]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            lines += _command(sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings), f"{path} {name}")
    return [line for line in lines if line != ""]


def render() -> str:
    """The whole manual page (deterministic: no date, so the shipped file stays equal)."""
    import click

    from . import __version__
    from .cli import main
    from .cli.common import summary

    ctx = click.Context(main, info_name="nso-install", **main.context_settings)
    out = [f'.TH NSO\\-INSTALL 1 "" "nso\\-install {_esc(__version__)}" "User Commands"',
           ".SH NAME", "nso\\-install \\- " + _esc(main.help.strip().rstrip(".")),
           ".SH SYNOPSIS", ".B nso\\-install", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
           ".SH DESCRIPTION",
           _esc("nso-install installs and hardens Cisco NSO where NSO's own installer.bin would run: it gathers facts "
                "about the target, computes a plan of small typed actions, shows it (--check, --diff, --json) and "
                "applies it; a second identical run changes nothing. Every ncs-installer(1) option keeps its name "
                "and meaning."),
           ".SH COMMANDS"]
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            out += [".TP", f"\\fB{_esc(name)}\\fR", _esc(summary(cmd))]
    out += [".SH OPTIONS"]
    for param in main.get_params(ctx):
        record = param.get_help_record(ctx)
        if record:
            out += [".TP", f"\\fB{_esc(record[0])}\\fR", _esc(record[1])]
    out += [".SH COMMAND DETAILS"]
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            out += _command(cmd, click.Context(cmd, info_name=name, parent=ctx, **cmd.context_settings),
                            f"nso-install {name}")
    out += [".SH EXIT STATUS",
            _esc("0 success; 1 failure; 2 bad usage (the message says what, where and how to fix it); 3 another "
                 "run holds the lock; 4 install --check --fail-on-change found something to change or an edited config "
                 "file kept (drift); 130 after Ctrl-C; "
                 "141, quietly, when the reader of the output has gone (| head). audit: 2 also when a check could "
                 "not read the target."),
            ".SH ENVIRONMENT", ".TP", ".B NO_COLOR", _esc("Set (to anything): no colour, also on a terminal."),
            ".TP", ".B NSO_INSTALL_REPLAY",
            _esc("0: never replay a re-run nor record one (see FILES, /var/cache/nso-install/replay); explain: say on "
                 "stderr why a run was or was not replayed."),
            ".TP", ".B TMPDIR",
            _esc("Where a signed.bin's installer is copied while its signature is checked (default /tmp); too "
                 "little room there is refused (no-space) before the copy starts."),
            ".TP", ".B _NSO_INSTALL_COMPLETE",
            _esc("Shell completion (click): eval \"$(_NSO_INSTALL_COMPLETE=bash_source nso-install)\" in ~/.bashrc "
                 "(zsh_source, fish_source for zsh and fish); --set completes variable names."),
            ".SH FILES", ".TP", ".B /var/lib/nso\\-install/state.json",
            _esc("The recorded options, what was written to each config file (local installs: DIR/.nso-install/); "
                 "history.jsonl beside it."),
            ".TP", ".B /var/cache/nso\\-install/replay/",
            _esc("Root's records of install runs that changed nothing: the next run with the same arguments and "
                 "environment prints the same without deciding again, while everything the recorded run read is "
                 "unchanged (security.md, \"Replayed re-runs\"). Safe to delete."),
            ".TP", ".B share/doc/nso\\-install/",
            _esc("The documentation shipped with the package (ncs-conf.md, security.md, operations.md, "
                 "distributions.md, checks.md, json.md and json-output.schema.json, testing.md), below the installation "
                 "prefix."),
            ".SH SEE ALSO", "\\fBncs\\-installer\\fR(1), \\fBncs.conf\\fR(5), \\fBncs\\fR(1)"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from .generated import emit

    return emit(render(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
