"""pipwrap's one TOML reader: parse, or refuse with the file and line.

tomllib on Python 3.11+, tomli (same API) before; imported on first use, so commands that
read no TOML never pay for it.
"""

from __future__ import annotations

import sys

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def toml_module() -> ModuleType:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli  # type: ignore[import-not-found,unused-ignore]  # pragma: no cover

    return tomli  # type: ignore[no-any-return,unused-ignore]  # pragma: no cover


def loads(text: str, path: str) -> dict[str, Any]:
    """The table ``text`` holds; a PipwrapError naming ``path`` and the line if invalid."""
    toml = toml_module()
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        # The message already says "(at line N, column M)".
        raise PipwrapError(f"{path}: invalid TOML: {exc}") from None
    return data
