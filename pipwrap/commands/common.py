"""Arguments several commands share.

No import at module level beyond what ``check``'s hand-matched fast path already pays.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any


def add_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", "-p", metavar="NAME",
        help="use this profile (default: $PIPWRAP_PROFILE, then the config's choice)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def strip_dashdash(argv: list[str]) -> list[str]:
    return argv[1:] if argv[:1] == ["--"] else list(argv)


def seconds(kind: Callable[[str], float], *, positive: bool = False) -> Callable[[str], Any]:
    """An argparse type: a number of seconds, > 0 (``positive``) or >= 0."""

    import argparse

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if value != value or value < 0 or (positive and value == 0):  # NaN fails too
            raise argparse.ArgumentTypeError(
                f"must be {'greater than' if positive else 'at least'} 0, got {text}")
        return value

    return convert
