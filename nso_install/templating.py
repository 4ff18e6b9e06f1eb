"""Jinja2 environment for the templates shipped with the tool (``templates/``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    installed = Path(__file__).parent / "templates"  # wheel: force-included here
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "templates"  # source checkout / editable


@lru_cache(maxsize=None)
def environment(autoescape: bool = False) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )


def render(name: str, **context) -> bytes:
    return environment().get_template(name).render(**context).encode()
