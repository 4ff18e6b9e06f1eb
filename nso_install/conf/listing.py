"""The ncs.conf variables as operators read them: one source for the table in
``docs/ncs-conf.md`` and for ``nso-install variables``.

Everything comes from :data:`~nso_install.conf.variables.VARIABLES` (``data/variables.toml``)
and the profiles' static defaults; a test keeps the docs' table equal to :func:`markdown_table`.
Regenerate the docs with ``python -m nso_install.conf.listing docs/ncs-conf.md`` (which first writes
``data/variables.json``, the table as runs read it, from the TOML).
"""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path

from ..record import record
from .variables import PROFILES, VARIABLES, Variable

BEGIN = "<!-- variables table: generated from nso_install/data/variables.toml by " \
        "`python -m nso_install.conf.listing docs/ncs-conf.md`; do not edit by hand -->"
END = "<!-- end of the variables table -->"


@record(frozen=True)
class Row:
    """One ncs.conf variable as the variables listing shows it."""
    name: str
    kind: str
    type: str  # what it takes, in words
    meaning: str
    development: str  # Markdown
    production: str  # Markdown
    element: str

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "type": self.type, "meaning": self.meaning,
                "default": {"development": plain(self.development), "production": plain(self.production)},
                "element": self.element or None}


def _static(var: Variable, profile: str) -> str:
    value = PROFILES[profile].get(var.name)
    if value is None:
        return "*(none)*" if var.kind == "names" else "*(NSO default)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def row(var: Variable) -> Row:
    return Row(var.name, var.kind, var.expected(), var.doc,
               var.default_development or _static(var, "development"),
               var.default_production or _static(var, "production"), var.element)


def rows(pattern: str | None = None) -> list[Row]:
    """Every variable, in the table's order; ``pattern``: a glob (``cli.*``) or a part of the name;
    also of the ncs.conf element path, a glob or whole words of it: an operator reading ncs.conf(5)
    looks up ``server-host-key`` or ``/ncs-config/webui/*``, not nso-install's names."""
    out = [row(v) for v in VARIABLES.values()]
    if pattern:
        glob = any(c in pattern for c in "*?[")
        if glob:
            out = [r for r in out if any(fnmatch.fnmatchcase(text, pattern) for text in (r.name, r.element or ""))]
        else:
            out = [r for r in out if pattern in r.name or _in_element(pattern, r.element or "")]
    return out


def _in_element(part: str, element: str) -> bool:
    """Whether ``part`` is in the element path as whole words: a path (``webui/transport``), a
    node (``server-host-key``) or the words of one (``host-key``); not inside a word, or
    ``variables port`` listed every variable of a transport/ element (address, cert_file...)."""
    if "/" in part:
        return f"/{part.strip('/')}/" in f"{element}/"
    return any(f"-{node}-".find(f"-{part}-") >= 0 for node in element.split("/"))


def plain(markdown: str) -> str:
    """Markdown cell text for a terminal: no backticks or emphasis."""
    return re.sub(r"\*\(([^)]*)\)\*", r"(\1)", markdown).replace("`", "")


def markdown_table() -> str:
    esc = lambda t: t.replace("|", "\\|")  # noqa: E731
    lines = ["| Variable | Meaning (type) | Development default | Production default | Element path |",
             "|---|---|---|---|---|"]
    for r in rows():
        lines.append(f"| `{r.name}` | {esc(r.meaning)} ({esc(r.type)}) | {esc(r.development)} | "
                     f"{esc(r.production)} | {f'`{r.element}`' if r.element else '–'} |")
    return "\n".join(lines) + "\n"


def docs_section(text: str) -> str | None:
    """The generated part of docs/ncs-conf.md (between the markers), or None without them."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update_docs(path: Path) -> bool:
    """Write the table into ``path`` between the markers; True when it changed."""
    text = path.read_text(encoding="utf-8")
    if docs_section(text) is None:
        raise SystemExit(f"{path}: no markers {BEGIN!r} ... {END!r}")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    new = f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    from .variables import refresh

    argv = sys.argv[1:] if argv is None else argv
    if refresh():  # data/variables.json from data/variables.toml, first: the table below is read from it
        print("nso_install/data/variables.json: updated", file=sys.stderr)
    if argv:
        for p in argv:
            print(f"{p}: {'updated' if update_docs(Path(p)) else 'up to date'}")
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
