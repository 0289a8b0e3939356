"""One module per command (or family of commands), listed in :mod:`pipwrap.cli.registry`.

Each has ``add_arguments(parser, name)`` and ``run(args) -> int``.
"""
