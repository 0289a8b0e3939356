"""pipwrap: run pip-like tools against your own package index, one command at a time."""

__version__ = "0.1.0"
