"""The harness's HTML pages (load report, compare, nightly trend) from Jinja2 templates in
harness/templates/: one base page holds the shared CSS, every value is autoescaped, and plots are
inlined as data URLs so each page is one file that reads offline."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

_TEMPLATES = Environment(loader=PackageLoader("harness", "templates"), autoescape=True, undefined=StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    """`template` (e.g. "compare.html") filled with `context`; an undefined name is an error, never blank."""
    return _TEMPLATES.get_template(template).render(**context)


def png_base64(data: bytes | Path) -> str:
    """A PNG (bytes or a file) as the base64 text of a data URL."""
    return base64.b64encode(data.read_bytes() if isinstance(data, Path) else data).decode()
