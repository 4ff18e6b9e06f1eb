"""docs/errors.md lists every error reference (``error.reference`` in ``--json``, which playbooks
and CI scripts branch on) the code can raise, each with the exit code its error class gives,
and nothing the code no longer raises.  The references are read from the source with ``ast``:
a call of an error class whose first argument is a literal (or a choice of literals, or a value
of a module-level table of literals), and the literals given to a helper's ``reference``
parameter (``require_one_of``, ``read_operator_file``...); a reference built any other way
must be listed in BUILT below, or this test fails and says where."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from nso_install import errors
from nso_install.lifecycle.keys import KeysFileError

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "nso_install"
DOC = REPO / "docs" / "errors.md"
CLASSES = {name: cls.exit_code for name, cls in vars(errors).items()
           if isinstance(cls, type) and issubclass(cls, errors.NsoInstallError)}
# error classes defined elsewhere (keys rotate's refusals of the file in place: bad-crypto-keys,
# exit 1, was documented as --crypto-keys' exit 2 alone, and no-generation-left not at all)
CLASSES["KeysFileError"] = KeysFileError.exit_code
# References built from parts, as the source writes them: every value they take.
BUILT = {
    "f'bad-{what}-name'": ("bad-user-name",),  # validate_name is only asked about users
    "f'bad-ipc-{what}'": ("bad-ipc-user", "bad-ipc-group"),
    "f'{kind}-from-name-service'": ("user-from-name-service", "group-from-name-service"),
}
RERAISED = "e.reference"  # the same reference raised again with a new message or hint


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literals(node: ast.expr, tables: dict[str, list[str]]) -> list[str] | None:
    """The references ``node`` can be, or None when it is not made of literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _literals(node.body, tables), _literals(node.orelse, tables)
        return None if a is None or b is None else a + b
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in tables:
        return tables[node.value.id]
    return None


def _tables(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level NAME = {key: "literal", ...}."""
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Dict)
                and all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.value.values)):
            out[node.targets[0].id] = [v.value for v in node.value.values]
    return out


def _functions(trees):
    for path, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def _params(fn) -> list[ast.arg]:
    return [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]


def _default(fn, name: str):
    positional = [*fn.args.posonlyargs, *fn.args.args]
    names = [a.arg for a in positional]
    if name in names:
        i = names.index(name) - (len(positional) - len(fn.args.defaults))
        return fn.args.defaults[i] if i >= 0 else None
    for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
        if a.arg == name:
            return d
    return None


def _argument(call: ast.Call, fn, name: str):
    """What ``call`` (of ``fn``) gives for parameter ``name``: the argument, else the default."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    names = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    if name in names and names.index(name) < len(call.args):
        return call.args[names.index(name)]
    return _default(fn, name)


def raised_references() -> tuple[dict[str, set[int]], list[str]]:
    """{reference: its exit codes} for every reference the package can raise, and the places
    whose reference this reading cannot tell."""
    trees = [(p, ast.parse(p.read_text(encoding="utf-8"), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]
    tables = {id(t): _tables(t) for _, t in trees}
    found: dict[str, set[int]] = defaultdict(set)
    unknown: list[str] = []
    # Helpers with a ``reference`` parameter, and the error classes they raise it with.
    helpers: dict[str, tuple[ast.FunctionDef, set[int]]] = {}
    for _, fn in _functions(trees):
        if "reference" not in {a.arg for a in _params(fn)} or fn.name.startswith("__"):
            continue  # (the error classes' own __init__ is read at their calls)
        codes = set()
        for call in ast.walk(fn):
            if not (isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Name)
                    and call.args[0].id == "reference"):
                continue
            cls = _name(call.func)
            if cls in CLASSES:
                codes.add(CLASSES[cls])
            elif cls in {a.arg for a in _params(fn)}:  # the class is a parameter too (require_one_of's error)
                codes.add(("class-parameter", cls))
            else:
                codes.add(("forwarded", cls))
        helpers[fn.name] = (fn, codes)

    def helper_codes(name: str, call: ast.Call, seen=()) -> set[int]:
        fn, codes = helpers[name]
        out = set()
        for c in codes:
            if isinstance(c, int):
                out.add(c)
            elif c[0] == "class-parameter":
                given = _argument(call, fn, c[1])
                out.add(CLASSES[_name(given)])
            elif c[1] in helpers and c[1] not in seen:
                inner = next(n for n in ast.walk(fn) if isinstance(n, ast.Call) and _name(n.func) == c[1])
                out |= helper_codes(c[1], inner, (*seen, name))
        return out

    for path, tree in trees:
        where = lambda node: f"{path.relative_to(REPO)}:{node.lineno}"  # noqa: E731
        for node in ast.walk(tree):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple):
                # for ..., reference in (("...", "a-reference"), ...): a table of literals
                names = [getattr(t, "id", None) for t in node.target.elts]
                if "reference" in names and isinstance(node.iter, ast.Tuple):
                    i = names.index("reference")
                    calls = [c for c in ast.walk(node) if isinstance(c, ast.Call) and _name(c.func) in helpers]
                    codes = set().union(*(helper_codes(_name(c.func), c) for c in calls))
                    for row in node.iter.elts:
                        refs = _literals(row.elts[i], tables[id(tree)])
                        if refs is None or not codes:
                            unknown.append(where(node))
                        for r in refs or ():
                            found[r] |= codes
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name in CLASSES:
                if not node.args:
                    unknown.append(where(node))
                    continue
                arg = node.args[0]
                if isinstance(arg, ast.Name) and arg.id == "reference":
                    continue  # a helper's parameter: read at its callers
                text = ast.unparse(arg)
                refs = _literals(arg, tables[id(tree)])
                if refs is None and text in BUILT:
                    refs = list(BUILT[text])
                if refs is None:
                    if text != RERAISED:
                        unknown.append(f"{where(node)}: {text}")
                    continue
                for r in refs:
                    found[r].add(CLASSES[name])
            elif name in helpers:
                fn, _ = helpers[name]
                arg = _argument(node, fn, "reference")
                if isinstance(arg, ast.Name) and arg.id == "reference":
                    continue  # passed on from a caller's own parameter (or a table, read above)
                refs = _literals(arg, tables[id(tree)]) if arg is not None else None
                if refs is None:
                    unknown.append(f"{where(node)}: {ast.unparse(arg) if arg is not None else '(none)'}")
                    continue
                for r in refs:
                    found[r] |= helper_codes(name, node)
    # A helper's default reference is raised when a caller gives none.
    for name, (fn, _) in helpers.items():
        default = _default(fn, "reference")
        if default is not None:
            for r in _literals(default, {}) or ():
                found[r] |= helper_codes(name, ast.Call(func=ast.Name(name), args=[], keywords=[]))
    return dict(found), unknown


def documented_references() -> dict[str, set[int]]:
    """{reference: exit codes} of docs/errors.md: a heading ### `reference`, then a line
    starting "Exit N." (or "Exit N or M.")."""
    out: dict[str, set[int]] = {}
    lines = DOC.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.fullmatch(r"### `([a-z0-9][a-z0-9.-]*)`", line.strip())
        if not m:
            continue
        assert m.group(1) not in out, f"docs/errors.md documents {m.group(1)} twice"
        body = next((t for t in lines[i + 1:] if t.strip()), "")
        codes = re.match(r"Exit (\d+)(?: or (\d+))?\.", body)
        assert codes, f"docs/errors.md, {m.group(1)}: its entry must start with 'Exit N.', not {body[:40]!r}"
        out[m.group(1)] = {int(c) for c in codes.groups() if c}
    return out


def test_every_raised_reference_is_read_from_the_source():
    found, unknown = raised_references()
    assert not unknown, ("references this test cannot read (use a literal, or list the values in BUILT): "
                         f"{unknown}")
    # the reading works: references of each way of raising them are there
    for ref in ("locked", "hostile-member", "bad-profile", "bad-values-file", "bad-input-file",
                "unsafe-run-marker", "certificate-chain-invalid", "not-a-symlink", "distribution-not-found",
                "bad-ipc-group", "internal-error", "permission-denied"):
        assert ref in found, ref
    assert found["locked"] == {errors.EXIT_LOCKED} and found["bad-profile"] == {errors.EXIT_USAGE}
    assert found["unsafe-run-marker"] == {errors.EXIT_FAILURE}


def test_docs_errors_lists_every_reference_with_its_exit_code():
    found, _ = raised_references()
    documented = documented_references()
    missing = sorted(set(found) - set(documented))
    assert not missing, f"references the code raises that docs/errors.md does not document: {missing}"
    stale = sorted(set(documented) - set(found))
    assert not stale, f"docs/errors.md documents references the code no longer raises: {stale}"
    wrong = {r: (sorted(documented[r]), sorted(found[r])) for r in found if documented[r] != found[r]}
    assert not wrong, f"exit codes in docs/errors.md (documented, raised) differ from the code's: {wrong}"


def test_the_json_docs_and_readme_point_to_the_list():
    assert "errors.md" in (REPO / "docs" / "json.md").read_text(encoding="utf-8")
    assert "docs/errors.md" in (REPO / "README.md").read_text(encoding="utf-8")
