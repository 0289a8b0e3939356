"""The ``pipwrap`` command line: the command table, the parser and the entry point.

``pipwrap.cli.main_entry`` stays importable here: shells set up by an earlier version call
it by that name.
"""

from pipwrap.cli.main import main, main_entry

__all__ = ["main", "main_entry"]
