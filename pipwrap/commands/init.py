"""``pipwrap init SHELL``: print the shell code that defines ``wrap``."""

from __future__ import annotations

import argparse
import sys

from pipwrap.errors import PipwrapError

SHELLS = ("bash", "zsh", "fish")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = """\
Print shell code defining `wrap` (and the `pipwrap` helper function). Add one line to
your shell's start-up file:

  ~/.bashrc                   command -v pipwrap >/dev/null && eval "$(pipwrap init bash)"
  ~/.zshrc                    command -v pipwrap >/dev/null && eval "$(pipwrap init zsh)"
  ~/.config/fish/config.fish  command -q pipwrap; and pipwrap init fish | source

The `command -v` guard keeps new shells working once pipwrap is uninstalled. Other
shells (sh, dash, ksh): run commands as `pipwrap run -- pip install NAME`.
"""
    parser.add_argument("shell", metavar="{bash,zsh,fish}")
    parser.add_argument("--cmd", metavar="NAME", default="wrap",
                        help="name the command NAME instead of wrap (if yours is taken)")
    parser.add_argument(
        "--no-completion", action="store_true", help="leave out tab completion for pipwrap"
    )


def run(args: argparse.Namespace) -> int:
    from pipwrap.shell import init, snippet_cache

    if args.shell not in SHELLS:
        raise PipwrapError(
            f"init: {args.shell!r} is not supported: `wrap` needs bash, zsh or fish "
            "(local exports and arrays). In sh and other shells, and in scripts, run "
            "commands through pipwrap itself: pipwrap run -- pip install NAME")
    # The key is taken before rendering: a file edited meanwhile makes the next key differ.
    cache_key = snippet_cache.key(args.shell, args.cmd, not args.no_completion)
    completion = None if args.no_completion else args.completion_data()
    code = init.render(args.shell, completion=completion, command=args.cmd)
    sys.stdout.write(code)
    # The next shell gets this from the entry point's fast path (cli.main._cached_init).
    snippet_cache.store(cache_key, args.shell, args.cmd, not args.no_completion, code)
    return 0
