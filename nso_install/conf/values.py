"""Operator values for ncs.conf: values files, ``--set``, and checking them.

* :func:`read_values` reads TOML/YAML values files, ``--set a.b=value`` and ``--set-file`` overrides;
* :func:`effective_values` merges the profile defaults, the values and checks every variable
  (type, range, enumeration, address, port) and the combinations.

Errors are :class:`UsageError` ``bad-value`` / ``unknown-variable`` / ``bad-values-file``
naming the variable, its element path and the expected type, never a secret value.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..errors import NsoInstallError, UsageError
from .validate import check_value, element_table
from .variables import (_LISTENERS, DUMMY_AES256CFB128_KEY, DUMMY_AESCFB128_KEY, NON_FIPS_ALGORITHMS, VARIABLES,
                        ConfContext, Variable, _derived_paths, _paths, profile_defaults)

# --- values files and --set ---------------------------------------------------------------

def _flatten(data: Any, prefix: str = "", source: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise UsageError("bad-values-file", f"{source or 'values'}: expected a mapping of variables, "
                              f"got {type(data).__name__}.", "Write variables as nested tables/mappings or "
                              "dotted keys, e.g. cli.ssh.enabled = true.")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and name not in VARIABLES:
            out.update(_flatten(value, name, source))
        else:
            out[name] = value
    return out


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


def unknown_variable(name: str, source: str) -> NsoInstallError:
    near = difflib.get_close_matches(name, list(VARIABLES), n=3, cutoff=0.6)
    if not near:
        head = name.split(".")[0]
        near = [n for n in VARIABLES if n.split(".")[0] == head][:6]
    hint = ("Did you mean " + ", ".join(near) + "?") if near else "See docs/ncs-conf.md for the variables."
    return UsageError("unknown-variable", f"{source}: unknown ncs.conf variable {name!r}.", hint)


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
    if var.kind in ("port", "int") and re.fullmatch(r"[0-9]+", text):
        return int(text, 10)
    return text


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError("bad-values-file", f"cannot read values file {path}: {exc.strerror}.",
                         "Check the --values path.") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(raw.decode("utf-8"))
            data = {} if data is None else data
        else:
            raise UsageError("bad-values-file", f"values file {path}: unknown format {suffix or '(no suffix)'!r}.",
                             "Name it *.toml, *.yaml or *.yml.")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError("bad-values-file", f"values file {path} does not parse: {exc}",
                         "Fix the syntax (TOML or YAML by suffix).") from None
    part = _flatten(data, source=str(path))
    _check_names(part, str(path))
    return part


def _split(item: str, option: str, example: str) -> tuple[str, str]:
    name, sep, text = str(item).partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError("bad-set", f"{option} {item!r}: expected NAME=VALUE.", f"For example {option} {example}.")
    if name not in VARIABLES:
        raise unknown_variable(name, f"{option} {name}")
    return name, text


def read_values(files: Sequence[Path] = (), sets: Sequence[str] = (),
                set_files: Sequence[str] = ()) -> dict[str, tuple[Any, str]]:
    """``{variable: (value, source)}`` from TOML (``.toml``) or YAML (``.yaml``/``.yml``) files,
    then ``--set NAME=VALUE``, then ``--set-file NAME=PATH``; later ones win.

    Secret variables (inline keys) are refused in ``--set``: the command line of a process is
    readable by every local user (/proc/PID/cmdline).  Unknown variable names raise
    ``unknown-variable`` naming the variable and near matches."""
    out: dict[str, tuple[Any, str]] = {}
    for f in files:
        path = Path(f)
        out.update({k: (v, f"values file {path}") for k, v in _read_file(path).items()})
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
        try:
            value = Path(text).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError("bad-set-file", f"--set-file {name}: cannot read {text} "
                             f"({getattr(exc, 'strerror', None) or 'not UTF-8 text'}).",
                             "Give a readable text file holding the value.") from None
        out[name] = (parse_set_value(VARIABLES[name], value), f"--set-file {text}")
    return out


def load_values(files: Sequence[Path] = (), sets: Sequence[str] = (), set_files: Sequence[str] = ()) -> dict:
    """Nested values (see :func:`read_values`), as :func:`effective_values` takes them."""
    return nest({k: v for k, (v, _) in read_values(files, sets, set_files).items()})


# --- checking values ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad(var: Variable, value: Any, why: str = "") -> NsoInstallError:
    shown = "<secret>" if var.secret else repr(value)
    where = f" ({var.element})" if var.element else ""
    return UsageError(
        "bad-value",
        f"ncs.conf variable {var.name}{where}: {shown} is not a valid value{': ' + why if why else ''}; "
        f"expected {var.expected()}.",
        f"Fix it in the values file or with --set {var.name}=VALUE.")


def _coerce(var: Variable, value: Any) -> Any:
    """The checked, normalised value (bool/int/str/None) or raise bad-value."""
    if value is None:
        if var.nullable:
            return None
        raise _bad(var, value, "this setting cannot be left to NSO's default")
    k = var.kind
    if isinstance(value, str) and "${" in value and k not in ("str", "path", "algos"):
        # ${VAR:-default}: NSO substitutes at load time; the default must fit the element's type
        entry = element_table().get(var.element)
        reason = check_value(entry.type, value) if entry is not None and entry.is_leaf else "no substitution here"
        if reason:
            raise _bad(var, value, reason)
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
        if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise _bad(var, value)
        low, high = (1, 65535) if k == "port" else (var.low, var.high)
        if not low <= value <= high:
            raise _bad(var, value, "out of range")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(var, value)
    text = str(value)
    if _CONTROL.search(text):
        raise _bad(var, value, "contains control characters")
    if k == "ip":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise _bad(var, value) from None
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
        if check_value("xs:duration", text):
            raise _bad(var, value)
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
    v = ctx.version_tuple
    style = out["paths.style"]
    if ctx.install_kind == "local" and style != "relative":
        raise _bad(VARIABLES["paths.style"], style, "a local install's ncs.conf uses paths relative to the "
                   "run directory plus ${NCS_DIR} (use 'relative')")
    if ctx.install_kind == "system" and style == "relative":
        raise _bad(VARIABLES["paths.style"], style, "a system install has separate config, run and log "
                   "directories (use env, env-defaults or absolute)")
    if out["ipc.transport"] == "unix" and v < (6, 4):
        raise _bad(VARIABLES["ipc.transport"], "unix", f"NSO {ctx.version} has no Unix-socket IPC "
                   "(ncs-local-ipc, NSO 6.4+)")
    if out["ipc.transport"] == "tcp" and not _is_loopback(out["ipc.address"]) and out["ipc.access_check"] is not True:
        raise _bad(VARIABLES["ipc.address"], out["ipc.address"], "TCP IPC off loopback without "
                   "ipc.access_check gives unauthenticated remote control of NSO")
    if out["fips.enabled"] and not ctx.fips:
        raise _bad(VARIABLES["fips.enabled"], True, "fips-mode can only be turned on in a FIPS install "
                   "(--fips-install)")
    if out["fips.enabled"]:
        for name in ("ssh.server_host_key", "ssh.kex", "ssh.encryption"):
            used = [a for a in (out[name] or "").split(",") if a in NON_FIPS_ALGORITHMS]
            if used:
                raise _bad(VARIABLES[name], out[name], "not FIPS-approved: " + ", ".join(used))
    if out["crypto.mechanism"] == "inline":
        for name in ("crypto.aescfb128_key", "crypto.aes256cfb128_key"):
            if out[name] is None:
                raise _bad(VARIABLES[name], None, "inline keys must be given (or use crypto.mechanism=external)")
        if ctx.profile == "production" and (out["crypto.aescfb128_key"].lower() == DUMMY_AESCFB128_KEY
                                            or out["crypto.aes256cfb128_key"].lower() == DUMMY_AES256CFB128_KEY):
            raise _bad(VARIABLES["crypto.aescfb128_key"], None, "NSO's well-known example keys are not for "
                       "production")
    # two enabled listeners on one port
    seen: dict[int, str] = {}
    listeners = [(lst, out[f"{lst}.port"]) for lst in _LISTENERS if out[f"{lst}.enabled"] is True
                 and _listener_on(out, lst) and isinstance(out[f"{lst}.port"], int)]
    if out["ipc.transport"] == "tcp":
        listeners.append(("ipc", out["ipc.port"]))
    for lst, port in listeners:
        if port in seen:
            raise _bad(VARIABLES[f"{lst}.port"], port, f"also used by {seen[port]}")
        seen[port] = lst


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # ${VAR:-default}: judge the default
        m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", address)
        return bool(m) and _is_loopback(m.group(1))


def _listener_on(out: dict[str, Any], listener: str) -> bool:
    top = {"cli": "cli.enabled", "netconf": "netconf.enabled", "webui": "webui.enabled"}[listener.split(".")[0]]
    return out[top] is not False or (listener.startswith("webui") and out["restconf.enabled"] is not False)


