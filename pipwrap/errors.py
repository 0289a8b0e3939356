"""Errors that are the user's to fix: printed as one clear message, never a traceback."""

from __future__ import annotations

# Exit statuses, documented in README ("Exit status").
EXIT_USAGE = 2  # bad arguments, config, profile
EXIT_REFUSED = 3  # the guard refused a command that would add a second source


class PipwrapError(Exception):
    """A problem with the user's input; ``str(err)`` is the whole message."""

    exit_status = EXIT_USAGE


class RefusedError(PipwrapError):
    """The guard found a way for a second package source to slip in."""

    exit_status = EXIT_REFUSED
