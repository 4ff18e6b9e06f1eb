"""``@record``: a dataclass whose methods are shared functions instead of generated source.

Why this exists: on Python 3.11, ``@dataclass`` writes ``__init__``, ``__repr__`` and ``__eq__``
(and, when frozen, ``__setattr__``, ``__delattr__`` and ``__hash__``) as source text and compiles
each with ``exec``, about 0.2 ms a method on a 2-core VM. A re-run imports about 70 of these
classes: 60-80 ms of a 0.4 s process, paid again by every command (bench/RESULTS.md).

``record`` lets the standard library collect the fields, so ``dataclasses.fields``,
``replace``, ``asdict``, ``is_dataclass``, ``field(...)``, ``ClassVar`` and ``__post_init__``
behave as with ``@dataclass``, but asks it to generate nothing; the class then gets methods
built from closures over its field list, with the same meaning as the generated ones (the
parity test, tests/unit/test_record.py, compares them case by case). A call costs a few
microseconds more, so a class made once per archive member (``distribution.common.Member``)
stays a plain ``@dataclass``.

Supported: ``@record`` and ``@record(frozen=True)``, fields with ``default``,
``default_factory``, ``init``, ``repr``, ``compare`` and ``hash`` (keyword-only and ``InitVar``
fields are refused); a class's own ``__init__``,
``__repr__``, ``__eq__`` or ``__hash__`` is kept, as ``@dataclass`` keeps it. Records inherit
from records (frozen from frozen only), never from a ``@dataclass``.
"""

from __future__ import annotations

import dataclasses
import reprlib
from dataclasses import MISSING, FrozenInstanceError

__all__ = ["record"]


def record(cls=None, /, *, frozen: bool = False):
    """Make ``cls`` a dataclass (``frozen`` as ``@dataclass(frozen=True)``) without compiling code."""
    def wrap(cls):
        return _make(cls, frozen)
    return wrap if cls is None else wrap(cls)


def _make(cls, frozen: bool):
    own = dict(cls.__dict__)  # before the standard library adds anything
    for base in cls.__mro__[1:]:
        if "__dataclass_fields__" not in base.__dict__:
            continue
        if "__record_frozen__" not in base.__dict__:
            raise TypeError(f"{cls.__qualname__}: a @record cannot inherit from the @dataclass {base.__qualname__}")
        if base.__record_frozen__ != frozen:
            raise TypeError(f"{cls.__qualname__}: cannot inherit {'' if frozen else 'non-'}frozen record from a "
                            f"{'non-' if frozen else ''}frozen one ({base.__qualname__})")
    # init/repr/eq off: the standard library only collects and checks the fields, compiling nothing
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    cls.__record_frozen__ = frozen
    fields = dataclasses.fields(cls)
    for f in cls.__dataclass_fields__.values():
        # what the shared __init__ does not do: refused, rather than bound differently than @dataclass would
        if f.kw_only is True or "InitVar" in str(f.type):
            raise TypeError(f"{cls.__qualname__}.{f.name}: @record has no keyword-only or InitVar fields; "
                            "use @dataclass for this class")
    _check_defaults_order(cls, fields)
    methods = {"__init__": _init(cls, fields, frozen), "__repr__": _repr(fields),
               "__eq__": _eq([f.name for f in fields if f.compare])}
    for name, fn in methods.items():
        if name not in own:
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, fn)
    explicit_hash = not ("__hash__" not in own or (own["__hash__"] is None and "__eq__" in own))
    if not explicit_hash:
        # as @dataclass(eq=True): a frozen record hashes its compared fields, a mutable one is unhashable
        cls.__hash__ = _hash([f.name for f in fields if (f.compare if f.hash is None else f.hash)]) if frozen else None
    if frozen:
        for name, fn in _frozen(cls, {f.name for f in fields}).items():
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, fn)
    return cls


def _check_defaults_order(cls, fields) -> None:
    seen_default = None
    for f in fields:
        if not f.init:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument ({cls.__qualname__})")
        else:
            seen_default = f.name


def _init(cls, fields, frozen: bool):
    spec = tuple((f.name, f.init, f.default, f.default_factory) for f in fields)
    names = tuple(f.name for f in fields if f.init)
    accepted = frozenset(names)
    qualname = cls.__qualname__
    set_ = object.__setattr__ if frozen else setattr  # a frozen record's own __setattr__ refuses
    post_init = hasattr(cls, "__post_init__")

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{qualname}.__init__() takes {len(names) + 1} positional arguments "
                            f"but {len(args) + 1} were given")
        values = dict(zip(names, args))
        for key in kwargs:
            if key not in accepted:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {key!r}")
        values.update(kwargs)
        for name, init, default, factory in spec:
            if init and name in values:
                value = values[name]
            elif default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            elif init:
                raise TypeError(f"{qualname}.__init__() missing 1 required positional argument: {name!r}")
            else:
                continue  # init=False without a default: left unset, as @dataclass leaves it
            set_(self, name, value)
        if post_init:
            self.__post_init__()
    return __init__


def _repr(fields):
    names = tuple(f.name for f in fields if f.repr)

    @reprlib.recursive_repr()
    def __repr__(self):
        return (f"{self.__class__.__qualname__}("
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in names) + ")")
    return __repr__


def _eq(names):
    names = tuple(names)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names))
        return NotImplemented
    return __eq__


def _hash(names):
    names = tuple(names)

    def __hash__(self):
        return hash(tuple(getattr(self, n) for n in names))
    return __hash__


def _frozen(cls, field_names: set[str]):
    def __setattr__(self, name, value):
        if type(self) is cls or name in field_names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in field_names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)
    return {"__setattr__": __setattr__, "__delattr__": __delattr__}
