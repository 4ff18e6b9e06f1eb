"""The one Jinja2 environment for the templates shipped with the tool (``templates/``).

XML templates (``*.xml.j2``: ncs.conf, aaa_init.xml) escape every value; the others (shell
scripts, the unit, logrotate) take values that :mod:`nso_install.spec` has already checked
to be shell-safe.  All use ``trim_blocks``/``lstrip_blocks``, so ``{% %}`` lines leave no
trace in the output.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def templates_dir() -> Path:
    installed = Path(__file__).parent / "templates"  # wheel: force-included here
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "templates"  # source checkout / editable


@lru_cache(maxsize=1)
def environment():
    import jinja2  # only runs that render something pay for it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_text(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


def render(name: str, **context) -> bytes:
    return render_text(name, **context).encode()
