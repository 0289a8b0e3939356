"""The shell code pipwrap prints, with ``{{name}}`` slots filled by :func:`render_template`.

A slot is filled only with text the caller built for that shell (quoted by
:mod:`pipwrap.shell.dialect`); a slot left unfilled or a value given for no slot is a bug
and raises, so a template and its renderer cannot drift apart silently.
"""

from __future__ import annotations

import re
from importlib import resources

_SLOT = re.compile(r"\{\{(\w+)\}\}")


def read(name: str) -> str:
    return (resources.files(__name__) / name).read_text("utf-8")


def render_template(name: str, values: dict[str, str]) -> str:
    text = read(name)
    wanted = set(_SLOT.findall(text))
    if wanted != set(values):
        raise AssertionError(f"template {name}: slots {sorted(wanted)}, values for "
                             f"{sorted(values)}")
    return _SLOT.sub(lambda match: values[match.group(1)], text)
