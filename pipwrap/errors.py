"""Errors that are the user's to fix: printed as one clear message, never a traceback."""

from __future__ import annotations

# Exit statuses, documented in docs/reference.md ("Exit status").
EXIT_USAGE = 2  # bad arguments, config, profile
EXIT_REFUSED = 3  # the guard refused a command that would add a second source
EXIT_NOT_FOUND = 127  # `pipwrap run` of a command that does not exist, as env(1) and shells


class PipwrapError(Exception):
    """A problem with the user's input; ``str(err)`` is the whole message."""

    exit_status = EXIT_USAGE

    def __init__(self, message: str, *, exit_status: int | None = None) -> None:
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class RefusedError(PipwrapError):
    """The guard found a way for a second package source to slip in."""

    exit_status = EXIT_REFUSED
