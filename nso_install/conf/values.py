"""Operator values for ncs.conf: values files, ``--set``, and checking them.

* :func:`read_values` reads TOML/YAML values files, ``--set a.b=value`` and ``--set-file`` overrides;
* :func:`effective_values` merges the profile defaults, the values and checks every variable
  (type, range, enumeration, address, port) and the combinations.

Errors are :class:`UsageError` ``bad-value`` / ``unknown-variable`` / ``bad-values-file``
naming the variable, its element path and the expected type, never a secret value.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from ..errors import NsoInstallError, UsageError
from ..inputs import read_operator_file
from .validate import SUBST, check_value, element_table, matches_type
from .variables import (_LISTENERS, DUMMY_AES256CFB128_KEY, DUMMY_AESCFB128_KEY, FIPS_KEX, FIPS_SERVER_HOST_KEY,
                        NON_FIPS_ALGORITHMS, VARIABLES, ConfContext, Variable, _derived_paths, _paths, profile_defaults)

# --- values files and --set ---------------------------------------------------------------

# Bounds on values files: a real one holds a few dozen settings, a few levels deep.
MAX_VALUES_FILE = 256 << 10  # bytes, checked before parsing (PyYAML reads ~30 KiB/s at worst)
MAX_SET_FILE = 64 << 10  # bytes of one --set-file value (a key, a password: a few hundred bytes)
MAX_NESTING = 16  # levels of tables/mappings/lists, checked while reading and flattening
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]*")
_DIGITS = r"[0-9]{1,30}"  # an integer as text: decimal, and short (int() refuses 4300+ digits)


def _too_deep(source: str, where: str) -> NsoInstallError:
    return UsageError("bad-values-file", f"{source}: {where} is nested deeper than {MAX_NESTING} levels.",
                      "Values are a few levels deep (e.g. cli.ssh.enabled); write variables as nested "
                      "tables/mappings or dotted keys.")


def _check_nesting(value: Any, depth: int, source: str, name: str) -> None:
    """Refuse a list/mapping value nested deeper than MAX_NESTING (counted from the file's top)."""
    stack = [(value, depth)]
    while stack:
        node, level = stack.pop()
        if level > MAX_NESTING:
            raise _too_deep(source, f"the value of {shown_name(name)!r}")
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, level + 1) for v in node)


def _flatten(data: Any, prefix: str = "", source: str = "", depth: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise UsageError("bad-values-file", f"{source or 'values'}: expected a mapping of variables, "
                              f"got {type(data).__name__}.", "Write variables as nested tables/mappings or "
                              "dotted keys, e.g. cli.ssh.enabled = true.")
    if depth > MAX_NESTING:
        raise _too_deep(source or "values", repr(shown_name(prefix)))
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and name not in VARIABLES:
            out.update(_flatten(value, name, source, depth + 1))
        else:
            if isinstance(value, (dict, list, tuple)):
                _check_nesting(value, depth + 1, source or "values", name)
            out[name] = value
    return out


def flatten_values(nested: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (variables as names), the inverse of :func:`nest`."""
    return _flatten(nested, source="values")


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (the shape the template reads)."""
    root: dict[str, Any] = {}
    for name in sorted(flat):
        node = root
        *parents, last = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = flat[name]
    return root


def shown_name(name: str) -> str:
    """A name from a values file as messages show it: up to the first character no variable name
    has (a garbled line can run a key into its value, which may be an inline key) and at most
    100 characters; "..." marks the cut."""
    head = _NAME_CHARS.match(name).group(0)[:100]
    return head if head == name else head + "..."


def unknown_variable(name: str, source: str) -> NsoInstallError:
    shown = shown_name(name)
    import difflib  # only for a misspelt name

    near = difflib.get_close_matches(shown, list(VARIABLES), n=3, cutoff=0.6)
    if not near:
        head = shown.split(".")[0]
        near = [n for n in VARIABLES if n.split(".")[0] == head][:6]
    hint = ("Did you mean " + ", ".join(near) + "?") if near else \
        "nso-install variables lists them (docs/ncs-conf.md, \"Variables\")."
    return UsageError("unknown-variable", f"{source}: unknown ncs.conf variable {shown!r}.", hint)


def secret_variables() -> frozenset[str]:
    return frozenset(n for n, v in VARIABLES.items() if v.secret)


def _check_names(flat: dict[str, Any], source: str) -> None:
    for name in flat:
        if name not in VARIABLES:
            raise unknown_variable(name, source)


def parse_set_value(var: Variable, text: str) -> Any:
    """A ``--set`` value read by the variable's declared type (not as YAML, where ``022`` is
    18 and ``on`` is true): empty = null = NSO's built-in default; booleans ``true``/``false``;
    integers in decimal digits; everything else stays text (and is checked later)."""
    if text == "":
        return None
    if var.kind == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if var.kind in ("port", "int") and re.fullmatch(_DIGITS, text):
        return int(text, 10)
    return text


_CORE = "tag:yaml.org,2002:"
_YAML11_BOOL = re.compile(r"y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF")


@lru_cache(maxsize=None)
def values_loader() -> type:
    """The class :class:`ValuesLoader`, built on first use: only a YAML file imports yaml (its
    import compiles large regular expressions, a good share of a no-op run's start-up)."""
    import yaml

    class ValuesLoader(yaml.SafeLoader):
        """The YAML loader for values files: SafeLoader without YAML 1.1's surprises or bombs.

        * anchors and aliases are refused (``&a`` / ``*a``: a few hundred bytes of nested aliases
          expand to gigabytes), and so is nesting deeper than :data:`MAX_NESTING`;
        * plain scalars resolve only to null (``~``, ``null``, empty), booleans ``true``/``false``
          (three spellings each), decimal integers without leading zeros; everything else stays a
          string: ``yes``/``on`` are not booleans, ``022`` is not octal 18, ``0x10``, ``1:30``,
          ``2024-01-01`` and ``1.5`` are not numbers or dates.  The variable's type check then reads
          the string (``022`` is the port 22, like ``--set``; ``yes`` is refused for a boolean);
        * explicit tags get the same rules (``!!bool yes`` and ``!!int 0x10`` are errors) and any
          other tag (``!!timestamp``, ``!!binary``, ``!!python/...``) is refused.
        """

        yaml_implicit_resolvers: dict = {}
        yaml_constructors: dict = {}

        def __init__(self, stream):
            super().__init__(stream)
            self._depth = 0
            self.yaml11_booleans: dict[int, int] = {}  # id(text) -> line: plain words YAML 1.1 reads as booleans

        def construct_text(self, node):
            value = self.construct_scalar(node)
            if node.style is None and _YAML11_BOOL.fullmatch(value):
                self.yaml11_booleans[id(value)] = node.start_mark.line + 1
            return value

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not allowed in "
                                                  "a values file", event.start_mark)
            nests = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
            if nests:
                self._depth += 1
                if self._depth > MAX_NESTING:
                    raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_NESTING} levels",
                                                      event.start_mark)
            try:
                return super().compose_node(parent, index)
            finally:
                if nests:
                    self._depth -= 1

        def construct_strict_bool(self, node):
            value = self.construct_scalar(node)
            if value.lower() not in ("true", "false"):
                raise yaml.constructor.ConstructorError(None, None, "a boolean is true or false", node.start_mark)
            return value.lower() == "true"

        def construct_decimal_int(self, node):
            value = self.construct_scalar(node)
            if not re.fullmatch(r"[-+]?" + _DIGITS, value):
                raise yaml.constructor.ConstructorError(None, None, "an integer is written in at most 30 decimal "
                                                        "digits", node.start_mark)
            return int(value, 10)

    for _tag in ("null", "seq", "map"):
        ValuesLoader.add_constructor(_CORE + _tag, yaml.SafeLoader.yaml_constructors[_CORE + _tag])
    ValuesLoader.add_constructor(_CORE + "str", ValuesLoader.construct_text)
    ValuesLoader.add_constructor(_CORE + "bool", ValuesLoader.construct_strict_bool)
    ValuesLoader.add_constructor(_CORE + "int", ValuesLoader.construct_decimal_int)
    ValuesLoader.add_constructor(None, yaml.SafeLoader.yaml_constructors[None])  # any other tag: an error
    ValuesLoader.add_implicit_resolver(_CORE + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                       list("tTfF"))
    ValuesLoader.add_implicit_resolver(_CORE + "int", re.compile(r"^[-+]?(?:0|[1-9][0-9]{0,29})$"),
                                       list("-+0123456789"))  # longer digit strings stay text (e.g. a hex key)
    ValuesLoader.add_implicit_resolver(_CORE + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
    return ValuesLoader


def __getattr__(name: str):
    if name == "ValuesLoader":  # values.ValuesLoader, as before: the class, built on first use
        return values_loader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Parser messages may quote text of the file (a character, a tag, a key): it can be part of an
# inline key.  Quoted parts are kept only when they are YAML token names or one to three
# punctuation characters (the '=' or ']' a TOML/YAML parser expected); anything else is cut.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_HARMLESS = re.compile(r"<[a-z ]+>|[^\w\s]{1,3}| ")
_TOML_AT = re.compile(r"(?s)(?P<problem>.*) \(at (?:line (?P<line>[0-9]+), column (?P<col>[0-9]+)|end of document)\)")
_SYNTAX_HINT = ("Fix the syntax there (the file is read as TOML or YAML by its suffix). The message quotes "
                "nothing from the file, which may hold inline keys.")


def _generic(problem: str | None) -> str:
    """The parser's problem description with every quoted text of the file cut out."""
    text = problem.strip().splitlines()[0] if problem and problem.strip() else "syntax error"
    text = _QUOTED.sub(lambda m: m.group(0) if _HARMLESS.fullmatch(m.group(0)[1:-1]) else "'...'", text)
    # whatever is left unquoted comes from the parser's own texts; cut control characters anyway
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", text)[:200]


def _unreadable(path: Path, problem: str, line: int | None = None, column: int | None = None) -> NsoInstallError:
    where = "" if line is None else f", line {line}" + ("" if column is None else f", column {column}")
    return UsageError("bad-values-file", f"values file {path}{where}: {problem}.", _SYNTAX_HINT)


def _parse_error(path: Path, text: str, exc: Exception) -> NsoInstallError:
    """``bad-values-file`` for a parse error: file, line, column and a problem without file text."""
    import tomllib

    import yaml

    if isinstance(exc, tomllib.TOMLDecodeError):
        m = _TOML_AT.fullmatch(str(exc))
        problem = _generic(m["problem"] if m else None)
        if m and m["line"]:
            return _unreadable(path, f"does not parse as TOML: {problem}", int(m["line"]), int(m["col"]))
        return _unreadable(path, f"does not parse as TOML: {problem} (at the end of the file)")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = _generic(exc.problem or exc.context)
        if mark is None:
            return _unreadable(path, f"does not parse as YAML: {problem}")
        return _unreadable(path, f"does not parse as YAML: {problem}", mark.line + 1, mark.column + 1)
    if isinstance(exc, yaml.reader.ReaderError):
        pos = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, pos) + 1
        return _unreadable(path, "does not parse as YAML: a control character or another character YAML does "
                                 "not allow", line, pos - (text.rfind("\n", 0, pos) + 1) + 1)
    if isinstance(exc, RecursionError):
        return _unreadable(path, f"is nested too deeply (at most {MAX_NESTING} levels)")
    if isinstance(exc, ValueError):  # int() of a number beyond Python's 4300-digit limit, a bad date...
        return _unreadable(path, "holds a value that cannot be converted (e.g. a number with thousands of "
                                 "digits or an impossible date)")
    return _unreadable(path, f"does not parse as {'TOML' if path.suffix.lower() == '.toml' else 'YAML'}")


# tomllib builds a dotted key (``a.b.c = 1``, ``[a.b.c]``) one tuple at a time, in time quadratic
# in its number of parts: a 256 KiB ``x.x.x...`` key would take minutes.  So before parsing, with
# strings and comments masked, a key of more than MAX_NESTING parts is refused.  Every pattern
# below runs in linear time: an unterminated string ends at the end of its line (or of the
# file), and every body takes any character but its closing quote, each character by exactly
# one branch, so a string's match never fails and nothing is scanned twice.  (Not possessive:
# Python 3.11.2, Debian 12's, mismatches a possessive repeat of these alternations, and
# left a multi-line string's dots unmasked.)
_TOML_MASK = re.compile("|".join((
    r'"""(?:[^"\\]|\\.?|"(?!""))*(?:""""{0,2}|\Z)',  # multi-line basic string
    r"'''(?:[^']|'(?!''))*(?:''''{0,2}|\Z)",  # multi-line literal string
    r'"(?:[^"\\\n]|\\[^\n]?)*(?:"|(?=\n)|\Z)',  # basic string
    r"'[^'\n]*(?:'|(?=\n)|\Z)",  # literal string
    r"#[^\n]*",  # comment
)), re.DOTALL)
_TOML_KEY_PART = r'(?:[A-Za-z0-9_-]++|"")'
_TOML_LONG_KEY = re.compile(rf"(?<![A-Za-z0-9_-]){_TOML_KEY_PART}(?:[ \t]*\.[ \t]*{_TOML_KEY_PART}){{{MAX_NESTING}}}")


def _toml_key_too_long(text: str) -> int | None:
    """The line of a dotted key with more than MAX_NESTING parts, or None."""
    def mask(m: re.Match) -> str:  # a string becomes "" (a key part), a comment nothing; lines stay
        return ("" if m.group(0).startswith("#") else '""') + "\n" * m.group(0).count("\n")
    masked = _TOML_MASK.sub(mask, text)
    found = _TOML_LONG_KEY.search(masked)
    return None if found is None else masked.count("\n", 0, found.start()) + 1


def _read_file(path: Path, foreign: list[str] | None = None) -> dict[str, Any]:
    """One values file, read safely (:func:`read_document`), flattened to variables.

    An unquoted ``yes``/``no``/``on``/``off``/``y``/``n`` for a variable that is not a boolean
    is refused: nso-install would read the text, but YAML 1.1 readers (Ansible, older
    PyYAML users of the same file) read a boolean, so the file means two things."""
    surprises: dict[int, int] = {}
    part = _flatten(read_document(path, surprises=surprises, foreign=foreign), source=f"values file {path}")
    _check_names(part, str(path))
    for name, value in part.items():
        if isinstance(value, str) and id(value) in surprises and VARIABLES[name].kind != "bool":
            raise UsageError("bad-value", f"values file {path}, line {surprises[id(value)]}: {name}: the unquoted "
                             f"{value} is a boolean in YAML 1.1 (other tools reading this file would take it "
                             f"for {str(value.lower() in ('yes', 'y', 'on')).lower()}).",
                             f'Quote it ({name.rsplit(".", 1)[-1]}: "{value}") if you mean the text; '
                             f"{name} expects: {VARIABLES[name].expected()}.")
    return part


def read_document(path: Path, option: str = "--values", surprises: dict[int, int] | None = None,
                  foreign: list[str] | None = None) -> Any:
    """A TOML or YAML file (values files, ``audit --waivers``) read safely: at most
    MAX_VALUES_FILE bytes, UTF-8, TOML or YAML by suffix (YAML through :class:`ValuesLoader`:
    no anchors or aliases), at most MAX_NESTING levels.  Every failure is the
    ``bad-values-file`` UsageError naming the file, line and column, never the file's text."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise UsageError("bad-values-file", f"values file {path}: unknown format {suffix or '(no suffix)'!r}.",
                         "Name it *.toml, *.yaml or *.yml.")
    # A regular file only (a FIFO would hang, /dev/zero never end), at most MAX_VALUES_FILE bytes.
    raw = read_operator_file(path, option=option, limit=MAX_VALUES_FILE, reference="bad-values-file", foreign=foreign)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _unreadable(path, "is not UTF-8 text", line, exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1) \
            from None
    yaml_error: type[Exception] = ValueError  # yaml.YAMLError once yaml is imported: a TOML file never imports it
    try:
        if suffix == ".toml":
            import tomllib

            line = _toml_key_too_long(text)
            if line is not None:
                raise _unreadable(path, f"has a dotted key of more than {MAX_NESTING} parts", line)
            data = tomllib.loads(text)
        else:
            import yaml

            yaml_error = yaml.YAMLError
            loader = values_loader()(text)  # ValuesLoader: a SafeLoader, stricter still
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
            if surprises is not None:
                surprises.update(loader.yaml11_booleans)
            data = {} if data is None else data
    except (yaml_error, ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise _parse_error(path, text, exc) from None
    return data


def _split(item: str, option: str, example: str) -> tuple[str, str]:
    name, sep, text = str(item).partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError("bad-set", f"{option} {item!r}: expected NAME=VALUE.", f"For example {option} {example}.")
    if name not in VARIABLES:
        raise unknown_variable(name, f"{option} {name}")
    return name, text


def foreign_input_warning(why: str) -> str:
    """The warning for a values file or --set-file file another account could have written."""
    # (a warning, as for a distribution others may write, not a refusal: a file in an
    # administrator's home directory is common; but these values choose the command NSO runs
    # for its keys, the keys themselves, the certificate and key files, the listeners)
    return (f"{why}, so another account could have chosen the ncs.conf values read from it: among them the "
            "command NSO runs for its encryption keys (crypto.command), inline keys, the TLS key and certificate "
            "files and the addresses NSO listens on. Keep them where only root can write (chown root: and "
            "chmod go-w).")


def read_values(files: Sequence[Path] = (), sets: Sequence[str] = (),
                set_files: Sequence[str] = (), warnings: list[str] | None = None) -> dict[str, tuple[Any, str]]:
    """``{variable: (value, source)}`` from TOML (``.toml``) or YAML (``.yaml``/``.yml``) files,
    then ``--set NAME=VALUE``, then ``--set-file NAME=PATH``; later ones win.

    Secret variables (inline keys) are refused in ``--set``: the command line of a process is
    readable by every local user (/proc/PID/cmdline).  Unknown variable names raise
    ``unknown-variable`` naming the variable and near matches.  ``warnings`` gets a warning for each
    file another account could have written (:func:`foreign_input_warning`)."""
    out: dict[str, tuple[Any, str]] = {}
    foreign: list[str] = []
    for f in files:
        path = Path(f)
        out.update({k: (v, f"values file {path}") for k, v in _read_file(path, foreign).items()})
    for item in sets:
        name, text = _split(item, "--set", "cli.ssh.enabled=true")
        if VARIABLES[name].secret:
            raise UsageError("secret-on-command-line",
                             f"--set {name}: a secret on the command line can be read by every local user "
                             "(/proc/PID/cmdline, shell history).",
                             f"Put it in a values file (--values FILE) or give --set-file {name}=PATH.")
        out[name] = (parse_set_value(VARIABLES[name], text), "--set")
    for item in set_files:
        name, text = _split(item, "--set-file", "crypto.aescfb128_key=/root/aes128.key")
        raw = read_operator_file(text, option="--set-file", limit=MAX_SET_FILE, reference="bad-set-file",
                                 hint="Give a readable text file holding the value.", where=f"--set-file {name}={text}",
                                 foreign=foreign)
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise UsageError("bad-set-file", f"--set-file {name}={text}: not UTF-8 text.",
                             "Give a readable text file holding the value.") from None
        out[name] = (parse_set_value(VARIABLES[name], value), f"--set-file {text}")
    if warnings is not None:
        warnings.extend(foreign_input_warning(why) for why in foreign)
    return out


def load_values(files: Sequence[Path] = (), sets: Sequence[str] = (), set_files: Sequence[str] = ()) -> dict:
    """Nested values (see :func:`read_values`), as :func:`effective_values` takes them."""
    return nest({k: v for k, (v, _) in read_values(files, sets, set_files).items()})


# --- checking values ----------------------------------------------------------------------

# Characters no value of ncs.conf may hold, and why: control characters (C1's CSI and NEL too:
# a terminal acts on them in --diff); lone surrogates (bytes of the command line that are not
# UTF-8, or a YAML "\ud800" escape), which cannot be written as UTF-8 and made the run fail
# with a traceback; U+FFFE/U+FFFF, which XML does not allow (the rendering was "not valid"
# without naming the variable); and bidirectional controls, which make a value read as
# another one wherever it is shown.
_BAD_CHARACTERS = (
    (re.compile(r"[\x00-\x1f\x7f-\x9f]"), "contains control characters"),
    (re.compile(r"[\ud800-\udfff]"), "is not UTF-8 text (a lone surrogate: bytes that are not UTF-8, or an escape "
                                     "such as \\ud800)"),
    (re.compile(r"[\ufffe\uffff]"), "contains U+FFFE or U+FFFF, which XML does not allow"),
    (re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]"), "contains bidirectional-text controls (U+200E, "
                                                            "U+200F, U+202A-U+202E, U+2066-U+2069), which make it "
                                                            "read as another text"),
)


def _bad_characters(text: str) -> str | None:
    """Why ``text`` cannot be a value (:data:`_BAD_CHARACTERS`), or None."""
    return next((why for pattern, why in _BAD_CHARACTERS if pattern.search(text)), None)


# How values appear in messages: bounded (a values file may hold a megabyte in one string, or
# a list nested 16 deep) and, through repr, with control characters escaped.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong, _SHOWN.maxlevel = 80, 80, 40, 3


def _shown_value(var: Variable, value: Any) -> str:
    """A value as messages show it, in words where repr would read badly."""
    if var.secret:
        return "<secret>"
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str) and not value:
        return "an empty string"
    return _SHOWN.repr(value)


def _bad(var: Variable, value: Any, why: str = "") -> NsoInstallError:
    """``bad-value``: the variable, its element, what was given (in words) and what it takes."""
    where = f" ({var.element})" if var.element else ""
    what = "setting" if var.kind == "names" else "ncs.conf variable"  # IPC grants are not in ncs.conf
    problem = f"{_shown_value(var, value)} is not valid" + (f": {why}" if why else "")
    error = UsageError("bad-value", f"{what} {var.name}{where}: {problem}; expected: {var.expected()}.",
                       bad_value_hint(var))
    error.variable = var.name  # the caller that knows where the value came from names it (bad_value_hint)
    error.why = why  # (a ${VAR:-DEFAULT} whose default fails says why)
    return error


def bad_value_hint(var: Variable, source: str | None = None) -> str:
    """How to fix a bad value of ``var`` that came from ``source`` (as read_values and the spec
    name sources: ``values file PATH``, ``--set``, ``--set-file PATH``, ``recorded``; None when
    unknown).  A secret is never suggested for --set, which refuses it."""
    name = var.name
    override = f"--set-file {name}=PATH" if var.secret else f"--set {name}=VALUE"
    if source and source.startswith("values file "):
        fix = f"Fix it in the {source}, or give {override}"
    elif source and source.startswith("--set-file "):
        fix = f"Fix the value in {source[len('--set-file '):]} (read by --set-file {name}=...)"
    elif source == "--set":
        fix = f"Give another value: --set {name}=VALUE"
    elif source == "recorded":
        fix = f"The value recorded by an earlier run no longer fits: give a valid one ({override}) or forget it (--unset {name})"
    elif var.secret:
        fix = (f"Fix it in the values file (--values) or the file --set-file {name}=PATH reads (a secret is never given "
               "on the command line)")
    else:
        fix = f"Fix it where it was given (a values file, --set or --set-file), or give {override}"
    return f"{fix}; nso-install variables {name} describes it."


def _conflict(var: Variable, text: str, hint: str) -> NsoInstallError:
    """``bad-value`` for a combination of settings: what clashes, in words, and how to fix it."""
    where = f" ({var.element})" if var.element else ""
    return UsageError("bad-value", f"ncs.conf variable {var.name}{where}: {text}.", hint)


# An existing account's or group's name as IPC grants take it (``names`` variables): what
# useradd/groupadd accept on common distributions, without anything a shell, XML or an
# /etc/group line would read specially.  Stricter names are checked for accounts nso-install
# creates (:func:`nso_install.actions.accounts.validate_name`).
ACCOUNT_NAME = re.compile(r"(?![0-9]+$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")


def account_names(value: Any) -> tuple[str, ...]:
    """The names of a ``names`` value (canonical: sorted, unique); () for None."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else re.split(r"[\s,]+", value) if isinstance(value, str) \
        else [value]
    return tuple(sorted({i.strip() if isinstance(i, str) else repr(i) for i in items} - {""}))


def _coerce_names(var: Variable, value: Any) -> str | None:
    """A ``names`` value (a list, or text separated by commas or blanks) as one canonical text
    ``"a,b"`` (sorted, unique), None when empty; every item must be an account name."""
    if isinstance(value, str) and "${" in value:
        raise _bad(var, value, "no ${...} substitution here (nso-install reads the names itself)")
    if not isinstance(value, (str, list, tuple)) or (not isinstance(value, str)
                                                     and not all(isinstance(i, str) for i in value)):
        raise _bad(var, value)
    names = account_names(value)
    for name in names:
        if not ACCOUNT_NAME.fullmatch(name):
            raise _bad(var, name, "not an account or group name (letters, digits, '_', '.', '-'; at most 32; "
                                  "not all digits)")
    return ",".join(names) or None


def _coerce(var: Variable, value: Any) -> Any:
    """The checked, normalised value (bool/int/str/None) or raise bad-value."""
    if value is None:
        if var.nullable:
            return None
        raise _bad(var, value, "this setting cannot be left to NSO's default")
    if isinstance(value, str) and (why := _bad_characters(value)):  # (before any kind reads it, ${...} too)
        raise _bad(var, value, why)
    k = var.kind
    if k == "names":
        return _coerce_names(var, value)
    if isinstance(value, str) and "${" in value and k not in ("str", "path", "algos"):
        # ${VAR:-default}: NSO substitutes at load time; the default must fit the element's type
        entry = element_table().get(var.element)
        reason = check_value(entry.type, value) if entry is not None and entry.is_leaf else "no substitution here"
        if reason:
            raise _bad(var, value, reason)
        # The default must also pass this variable's own checks, as a literal does: the element's
        # type took a port ${P:-0} and a duration ${T:--PT5S} that --set P=0 and -PT5S refuse.
        subst = SUBST.fullmatch(value)
        if subst and subst.group(2) is not None and subst.group(2) not in var.keywords:
            try:
                _coerce(var, subst.group(2))
            except UsageError as error:
                why = getattr(error, "why", "")
                raise _bad(var, value, f"its default {subst.group(2)!r} is not valid"
                                       + (f" ({why})" if why else "")) from None
        return value
    if k == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(var, value)
    if k in ("port", "int"):
        if isinstance(value, str) and value in var.keywords:
            return value
        if isinstance(value, bool):
            raise _bad(var, value)
        if isinstance(value, str) and re.fullmatch(_DIGITS, value.strip()):
            value = int(value.strip(), 10)
        if not isinstance(value, int):
            raise _bad(var, value)
        low, high = (1, 65535) if k == "port" else (var.low, var.high)
        if not low <= value <= high:
            raise _bad(var, value, "out of range")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(var, value)
    text = str(value)
    if k == "ip":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise _bad(var, value) from None
        if not matches_type("ipv4-address | ipv6-address", text):  # (a zone: letters and digits, RFC 6991)
            raise _bad(var, value, "a zone after '%' is letters and digits")
        return text
    if k in ("str", "path"):
        if not text.strip():
            raise _bad(var, value, "empty")
        if text != text.strip():
            raise _bad(var, value, "leading or trailing blanks")
        if "${" in text and check_value("string", text):
            raise _bad(var, value, "malformed ${...} substitution")
        return text
    if k == "enum":
        if text not in var.choices:
            raise _bad(var, value)
        return text
    if k == "duration":
        if text in var.keywords:  # (ncs.conf(5): command-timeout is "xs:duration | infinity")
            return text
        if check_value("xs:duration", text):
            raise _bad(var, value)
        if text.startswith("-"):  # (xs:duration has a sign; no timeout is negative)
            raise _bad(var, value, "negative")
        return text
    if k == "hex":
        if not re.fullmatch(r"[0-9a-fA-F]{%d}" % var.digits, text):
            raise _bad(var, value)
        return text
    if k == "algos":
        names = [a.strip() for a in text.split(",")]
        unknown = [a for a in names if a not in var.choices]
        if not text.strip() or unknown:
            raise _bad(var, value, "unknown algorithm " + ", ".join(repr(a) for a in unknown) if unknown else "empty")
        return ",".join(names)
    raise AssertionError(k)


def effective_values(ctx: ConfContext, values: dict) -> dict:
    """Nested values for the template: profile defaults <- ``values`` (from :func:`load_values`).

    Every variable is checked; combinations too (Unix IPC needs NSO >= 6.4, FIPS forbids
    Ed25519/Curve25519, HTTPS needs a certificate, listeners may not share a port...).
    Errors are :class:`NsoInstallError` ``bad-value`` naming the variable, its element path
    and the expected type.
    """
    defaults = profile_defaults(ctx)
    given = _flatten(values or {}, source="values")
    _check_names(given, "values")
    merged = {**defaults, **given}
    out: dict[str, Any] = {}
    for name, var in VARIABLES.items():
        raw = merged[name]
        if raw is None and name in defaults and defaults[name] is None and not var.nullable:
            out[name] = None  # derived below
            continue
        out[name] = _coerce(var, raw)
    _derive(ctx, out, given)
    _cross_check(ctx, out)
    return nest(out)


def _derive(ctx: ConfContext, out: dict[str, Any], given: dict[str, Any]) -> None:
    style = out["paths.style"]
    for name, value in _derived_paths(_paths(ctx, style)).items():
        if out.get(name) is None:
            out[name] = value
    if out["ipc.access_check"] is None:
        out["ipc.access_check"] = out["ipc.transport"] == "tcp"


def _cross_check(ctx: ConfContext, out: dict[str, Any]) -> None:
    """Combinations of settings: each refusal says what clashes with what and how to fix it."""
    v = ctx.version_tuple
    style = out["paths.style"]
    var = VARIABLES
    if ctx.install_kind == "local" and style != "relative":
        raise _conflict(var["paths.style"], f"{style!r} does not fit a local install, whose ncs.conf uses paths "
                        "relative to the run directory plus ${NCS_DIR}", "Use --set paths.style=relative "
                        "(or leave it out: that is a local install's default).")
    if ctx.install_kind == "system" and style == "relative":
        raise _conflict(var["paths.style"], "'relative' does not fit a system install, which has separate config, "
                        "run and log directories", "Use env, env-defaults or absolute (or leave it out).")
    if out["ipc.transport"] == "unix" and v < (6, 4):
        raise _conflict(var["ipc.transport"], f"'unix' needs NSO 6.4 or later (ncs-local-ipc); this is NSO "
                        f"{ctx.version}", "Use --set ipc.transport=tcp for this version.")
    # The socket path is also every client's NCS_IPC_PATH (profile scripts, ncsrc, the unit): a
    # relative one names another file in each client's working directory than NSO's (its run
    # directory), and leaves the socket outside the directory nso-install makes private.
    path = out["ipc.path"]
    if out["ipc.transport"] == "unix" and isinstance(path, str) and not path.startswith(("/", "${")):
        raise _conflict(var["ipc.path"], f"{path!r} is a relative path; NSO would make the socket relative to its "
                        "working directory and clients (NCS_IPC_PATH) relative to theirs",
                        "Give an absolute path (--set ipc.path=/run/ncs/nso-ipc), or leave ipc.path out.")
    # The secret's file is also every client's NCS_IPC_ACCESS_FILE, a full path (ncs.conf(5):
    # ncs-ipc-access-check/filename; the IPC guide): a relative one names another file for each.
    access = out["ipc.access_file"]
    if out["ipc.access_check"] is True and isinstance(access, str) and not access.startswith(("/", "${")):
        raise _conflict(var["ipc.access_file"], f"{access!r} is a relative path; NSO and each client "
                        "(NCS_IPC_ACCESS_FILE) would read it relative to their own working directory",
                        "Give an absolute path (--set ipc.access_file=/etc/ncs/ipc_access), or leave "
                        "ipc.access_file out.")
    if out["ipc.transport"] == "tcp" and not _is_loopback(out["ipc.address"]) and out["ipc.access_check"] is not True:
        raise _conflict(var["ipc.address"], f"TCP IPC on {out['ipc.address']!r}, off loopback, without "
                        "ipc.access_check would give unauthenticated remote control of NSO",
                        "Keep ipc.address on 127.0.0.1, or add --set ipc.access_check=true.")
    if out["fips.enabled"] and not ctx.fips:
        raise _conflict(var["fips.enabled"], "fips-mode can only be turned on in a FIPS install",
                        "Add --fips-install (fips.enabled follows it), or drop fips.enabled.")
    if out["fips.enabled"]:
        if not out["ssh.kex"]:  # (--set ssh.kex= leaves the element out: NSO's own list, not the FIPS one)
            raise _conflict(var["ssh.kex"], "left empty, so NSO would offer its default key exchange, not the "
                            "FIPS-approved list, and this is a FIPS install", f"Give some of {FIPS_KEX} (or do "
                            "not set ssh.kex: the FIPS list applies).")
        if not out["ssh.server_host_key"]:  # (NSO's own list starts with ssh-ed25519: ncs.conf(5))
            raise _conflict(var["ssh.server_host_key"], "left empty, so NSO would offer its default host key "
                            "algorithms, ssh-ed25519 first, which is not FIPS-compliant, and this is a FIPS install",
                            f"Give {FIPS_SERVER_HOST_KEY} (or do not set ssh.server_host_key: it is the FIPS "
                            "default).")
        for name in ("ssh.server_host_key", "ssh.kex", "ssh.encryption"):
            # KEX: only the FIPS tab's approved list (facts section 11), not just "no known bad one":
            # diffie-hellman-group16-sha512 passed, and the tool's own NSO-SD-004 then failed
            used = [a for a in (out[name] or "").split(",")
                    if a in NON_FIPS_ALGORITHMS or (name == "ssh.kex" and a not in FIPS_KEX.split(","))]
            if used:
                raise _conflict(var[name], f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} not "
                                "FIPS-approved, and this is a FIPS install", f"Leave {', '.join(used)} out of "
                                f"{name} (or leave {name} out: the FIPS defaults apply).")
    if out["crypto.mechanism"] == "inline":
        for name in ("crypto.aescfb128_key", "crypto.aes256cfb128_key"):
            if out[name] is None:
                raise _conflict(var[name], "crypto.mechanism=inline needs both inline keys, and this one was not "
                                "given", f"Give it in a values file or with --set-file {name}=PATH, or use "
                                "crypto.mechanism=external.")
        if ctx.profile == "production" and (out["crypto.aescfb128_key"].lower() == DUMMY_AESCFB128_KEY
                                            or out["crypto.aes256cfb128_key"].lower() == DUMMY_AES256CFB128_KEY):
            raise _conflict(var["crypto.aescfb128_key"], "NSO's well-known example keys are not for production",
                            "Give keys of your own, or use crypto.mechanism=external (generated ncs.crypto_keys).")
    # RESTCONF is served by the Web server's listeners (webui.tcp, webui.ssl), also with
    # webui.enabled=false (NSO's RESTCONF API guide: "The WebUI does not have to be enabled for
    # RESTCONF to work"); without either listener it cannot be reached.
    if out["restconf.enabled"] is True and out["webui.tcp.enabled"] is False and out["webui.ssl.enabled"] is False:
        raise _conflict(var["restconf.enabled"], "RESTCONF is on, but it is served on the Web server's listeners "
                        "and both are off (webui.tcp.enabled=false, webui.ssl.enabled=false)",
                        "Turn one on (--set webui.ssl.enabled=true), or leave RESTCONF off.")
    # two enabled listeners on one port
    seen: dict[int, str] = {}
    listeners = [(lst, out[f"{lst}.port"]) for lst in _LISTENERS if out[f"{lst}.enabled"] is True
                 and _listener_on(out, lst) and isinstance(out[f"{lst}.port"], int)]
    if out["ipc.transport"] == "tcp":
        listeners.append(("ipc", out["ipc.port"]))
    for lst, port in listeners:
        if port in seen:
            raise _conflict(var[f"{lst}.port"], f"port {port} is already taken by {seen[port]}.port (both "
                            "listeners are enabled)", f"Give one of them another port, e.g. --set "
                            f"{lst}.port=PORT, or turn one off.")
        seen[port] = lst


# What only one crypto.mechanism reads: given for the other, a value is silently unused (keys
# an operator believes NSO uses, or a command it never runs)
_MECHANISM_ONLY = {"external": ("crypto.command", "crypto.argument", "crypto.command_timeout"),
                   "inline": ("crypto.aescfb128_key", "crypto.aes256cfb128_key")}


def config_notes(values: dict[str, Any], given: frozenset[str] = frozenset()) -> list[str]:
    """Notes on effective values (flat) that are valid but easy to misread; ``given``: the names
    the operator set (options, values files, secret files)."""
    notes = []
    mechanism = values.get("crypto.mechanism")
    for other, names in _MECHANISM_ONLY.items():
        unused = [n for n in names if n in given]
        if mechanism != other and unused:
            notes.append(f"{', '.join(unused)} given, but crypto.mechanism is {mechanism}: not used (only "
                         f"crypto.mechanism={other} writes {'them' if len(unused) > 1 else 'it'} into ncs.conf). "
                         f"Leave {'them' if len(unused) > 1 else 'it'} out, or set crypto.mechanism={other}.")
    notes += _shared_default_ports(values)
    if values.get("restconf.enabled") is True and values.get("webui.enabled") is False:
        on = [f"{lst}.port {values.get(lst + '.port')}" for lst in ("webui.tcp", "webui.ssl")
              if values.get(f"{lst}.enabled") is True]
        notes.append("restconf.enabled=true with webui.enabled=false: NSO still opens the Web server's listeners "
                     f"({', '.join(on) or 'none'}) for RESTCONF; only the Web UI itself is off.")
    return notes


def _shared_default_ports(values: dict[str, Any]) -> list[str]:
    """Enabled listeners on one port only by the default of a ``${VAR:-PORT}`` (two literal ports
    are refused by :func:`_cross_check`): NSO binds the second one at start only when the
    environment sets the variable to another port, and otherwise stops (exit 20)."""
    if not all(k in values for k in ("cli.enabled", "netconf.enabled", "webui.enabled", "restconf.enabled")):
        return []  # (a partial set of values: nothing to judge the listeners by)
    seen: dict[int, tuple[str, Any]] = {}
    notes = []
    for lst in _LISTENERS:
        port = values.get(f"{lst}.port")
        if values.get(f"{lst}.enabled") is not True or not _listener_on(values, lst):
            continue
        m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-(\d+)\}", port) if isinstance(port, str) else None
        number = port if isinstance(port, int) else int(m.group(2)) if m else None
        if number is None:
            continue
        if number in seen and (m or isinstance(seen[number][1], str)):
            other, other_port = seen[number]
            variables = [re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-\d+\}", str(p)).group(1)
                         for p in (other_port, port) if isinstance(p, str)]
            notes.append(f"{other}.port {other_port} and {lst}.port {port} are both port {number} unless "
                         f"{' or '.join(variables)} is set in NSO's environment (ncs.systemd.conf): NSO then cannot "
                         "bind the second and does not start (exit 20). Give one another default.")
        seen.setdefault(number, (lst, port))
    return notes


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # ${VAR:-default}: judge the default
        m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", address)
        return bool(m) and _is_loopback(m.group(1))


def _listener_on(out: dict[str, Any], listener: str) -> bool:
    top = {"cli": "cli.enabled", "netconf": "netconf.enabled", "webui": "webui.enabled"}[listener.split(".")[0]]
    return out[top] is not False or (listener.startswith("webui") and out["restconf.enabled"] is not False)


