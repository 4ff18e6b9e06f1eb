"""@record behaves as @dataclass does, case by case (nso_install/record.py says why it exists)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import KW_ONLY, InitVar, asdict, field, fields, replace
from typing import ClassVar

import pytest

from nso_install.record import record


def _plain(frozen=False):
    return dataclasses.dataclass(frozen=frozen)


def _rec(frozen=False):
    return record(frozen=frozen)


DECORATORS = {"dataclass": _plain, "record": _rec}


def shapes(deco):
    """The same class definitions, made with one decorator."""

    @deco()
    class Point:
        """x, y and a label."""
        x: int
        y: int = 0
        label: str = "p"

    @deco(frozen=True)
    class Key:
        """Frozen, hashable, with a field left out of compare and repr."""
        name: str
        size: int = 1
        note: str = field(default="", compare=False, repr=False)

    @deco()
    class Bag:
        """Factories, an init=False field, a ClassVar and __post_init__."""
        items: list = field(default_factory=list)
        tags: dict = field(default_factory=dict)
        derived: str = field(default=None, init=False, repr=False, compare=False)
        unset: int = field(init=False, repr=False, compare=False)
        kind: ClassVar[str] = "bag"

        def __post_init__(self):
            self.derived = f"{len(self.items)} items"

    @deco(frozen=True)
    class Base:
        """Frozen base of Child."""
        a: int
        b: str = "b"

    @deco(frozen=True)
    class Child(Base):
        """Adds a field after the base's."""
        c: tuple = ()

    @deco()
    class Custom:
        """Own __repr__ and __hash__ are kept."""
        v: int

        def __repr__(self):
            return f"<custom {self.v}>"

        def __hash__(self):
            return 7

    @deco(frozen=True)
    class HashOnly:
        """hash=False and hash=True fields."""
        a: int
        b: int = field(default=0, hash=False)
        c: int = field(default=0, compare=False, hash=True)

    return {c.__name__: c for c in (Point, Key, Bag, Base, Child, Custom, HashOnly)}


@pytest.fixture(scope="module")
def both():
    return {name: shapes(deco) for name, deco in DECORATORS.items()}


def outcome(fn):
    """What a call does: its value, or the type of what it raised."""
    try:
        return ("value", fn())
    except Exception as e:  # noqa: BLE001 - the type is the outcome compared
        return ("raises", type(e).__name__)


CALLS = [
    ("Point", lambda C: repr(C(1))),
    ("Point", lambda C: repr(C(1, 2, label="q"))),
    ("Point", lambda C: repr(C(x=3))),
    ("Point", lambda C: C(1) == C(1)),
    ("Point", lambda C: C(1) == C(2)),
    ("Point", lambda C: C(1) == (1, 0, "p")),
    ("Point", lambda C: C(1).__eq__(object())),
    ("Point", lambda C: C.__hash__ is None),
    ("Point", lambda C: C()),
    ("Point", lambda C: C(1, 2, "l", 4)),
    ("Point", lambda C: C(1, x=2)),
    ("Point", lambda C: C(1, z=2)),
    ("Point", lambda C: asdict(C(1, 2))),
    ("Point", lambda C: repr(replace(C(1), y=5))),
    ("Point", lambda C: [f.name for f in fields(C)]),
    ("Point", lambda C: C.__match_args__),
    ("Point", lambda C: dataclasses.is_dataclass(C(1))),
    ("Point", lambda C: (lambda p: (setattr(p, "x", 9), p.x)[1])(C(1))),
    ("Key", lambda C: repr(C("k", 2, "n"))),
    ("Key", lambda C: C("k", note="a") == C("k", note="b")),
    ("Key", lambda C: hash(C("k", note="a")) == hash(C("k", note="b"))),
    ("Key", lambda C: hash(C("k")) == hash(("k", 1))),
    ("Key", lambda C: len({C("k"), C("k"), C("j")})),
    ("Key", lambda C: setattr(C("k"), "name", "x")),
    ("Key", lambda C: setattr(C("k"), "other", "x")),
    ("Key", lambda C: delattr(C("k"), "name")),
    ("Key", lambda C: repr(replace(C("k"), size=3))),
    ("Key", lambda C: (lambda k: (copy.deepcopy(k) == k, copy.copy(k) is not k))(C("k", 4, "n"))),
    ("Bag", lambda C: (lambda b: (copy.deepcopy(b).items is not b.items, copy.deepcopy(b).derived))(C([1]))),
    ("Bag", lambda C: repr(C())),
    ("Bag", lambda C: C().derived),
    ("Bag", lambda C: C([1, 2]).derived),
    ("Bag", lambda C: C().items is C().items),
    ("Bag", lambda C: hasattr(C(), "unset")),
    ("Bag", lambda C: C(derived="x")),
    ("Bag", lambda C: C.kind),
    ("Bag", lambda C: [f.name for f in fields(C)]),
    ("Bag", lambda C: replace(C([1]), derived="x")),
    ("Bag", lambda C: C([1], {}) == C([1], {"a": 1})),
    ("Bag", lambda C: C([1]) == C([1])),
    ("Child", lambda C: repr(C(1, "x", (2,)))),
    ("Child", lambda C: repr(C(1, c=(3,)))),
    ("Child", lambda C: [f.name for f in fields(C)]),
    ("Child", lambda C: C(1) == C(1)),
    ("Child", lambda C: hash(C(1)) == hash((1, "b", ()))),
    ("Child", lambda C: setattr(C(1), "a", 2)),
    ("Child", lambda C: C.__match_args__),
    ("Custom", lambda C: repr(C(1))),
    ("Custom", lambda C: hash(C(1))),
    ("Custom", lambda C: C(1) == C(1)),
    ("HashOnly", lambda C: hash(C(1, 2, 3)) == hash((1, 3))),
    ("HashOnly", lambda C: C(1, 2, 3) == C(1, 2, 4)),
    ("HashOnly", lambda C: C(1, 2, 3) == C(1, 3, 3)),
]


@pytest.mark.parametrize("i", range(len(CALLS)))
def test_same_outcome_as_dataclass(both, i):
    name, call = CALLS[i]
    assert outcome(lambda: call(both["record"][name])) == outcome(lambda: call(both["dataclass"][name]))


@pytest.mark.parametrize("deco", DECORATORS.values(), ids=DECORATORS.keys())
def test_definition_errors_as_dataclass(deco):
    with pytest.raises(TypeError, match="non-default argument"):
        @deco()
        class Bad:
            """A default, then none."""
            a: int = 1
            b: int
    with pytest.raises(ValueError, match="mutable default"):
        @deco()
        class Mutable:
            """A list as a default."""
            a: list = []  # noqa: RUF012 - the error under test
    with pytest.raises(TypeError):
        @deco(frozen=True)
        class OwnSetattr:
            """A frozen class may not bring its own __setattr__."""
            a: int

            def __setattr__(self, name, value):
                pass


def test_what_record_does_not_bind_is_refused():
    with pytest.raises(TypeError, match="keyword-only"):
        @record
        class KwOnly:
            """A keyword-only field."""
            a: int
            _: KW_ONLY
            b: int = 0
    with pytest.raises(TypeError, match="InitVar"):
        @record
        class WithInitVar:
            """An init-only variable."""
            a: int
            seed: InitVar[int] = 0


def test_frozen_and_mutable_records_do_not_mix():
    @record(frozen=True)
    class Frozen:
        """Base."""
        a: int

    with pytest.raises(TypeError, match="non-frozen"):
        @record
        class Thawed(Frozen):
            """Not allowed, as with @dataclass."""
            b: int = 0

    @dataclasses.dataclass
    class Plain:
        """A @dataclass."""
        a: int

    with pytest.raises(TypeError, match="cannot inherit from the @dataclass"):
        @record
        class Mixed(Plain):
            """Records do not build on generated methods."""
            b: int = 0


def test_records_compile_no_code():
    """The point of record: defining one compiles nothing (a @dataclass compiles its methods)."""
    import builtins

    calls = []
    # dataclasses compiles its methods with exec(source): count what it is asked to compile
    dataclasses.exec = lambda *a, **k: (calls.append(a[0]), builtins.exec(*a, **k))[1]
    try:
        shapes(_rec)
        assert calls == []
        shapes(_plain)
        assert calls  # the counter works: @dataclass is seen compiling
    finally:
        del dataclasses.exec


def test_no_dataclass_left_in_the_package_but_the_per_member_one():
    """Every class of nso_install is a @record, except Member (made once per archive member,
    where the generated __init__ is faster to call) and the NSO stand-in's (a standalone script
    that runs from the installed tree and never imports nso_install)."""
    import importlib
    import pkgutil

    import nso_install

    plain = set()
    for info in pkgutil.walk_packages(nso_install.__path__, "nso_install."):
        if info.name.endswith("__main__"):
            continue  # runs the command line
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (isinstance(obj, type) and obj.__module__ == info.name and "__dataclass_fields__" in obj.__dict__
                    and "__record_frozen__" not in obj.__dict__):
                plain.add(f"{info.name}.{obj.__qualname__}")
    standin = {p for p in plain if p.startswith("nso_install.standin.")}
    assert standin and plain - standin == {"nso_install.distribution.common.Member"}
