"""``pipwrap init SHELL``: print the shell code that defines ``wrap``."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Print shell code defining `wrap` (and the `pipwrap` helper function). "
        "Add to ~/.bashrc:  command -v pipwrap >/dev/null && eval \"$(pipwrap init bash)\"   "
        "~/.zshrc: the same with zsh   ~/.config/fish/config.fish:  command -q pipwrap; and "
        "pipwrap init fish | source   (the guard keeps new shells working once pipwrap is "
        "uninstalled)"
    )
    parser.add_argument("shell", choices=("bash", "zsh", "fish"))
    parser.add_argument("--cmd", metavar="NAME", default="wrap",
                        help="name the command NAME instead of wrap (if yours is taken)")
    parser.add_argument(
        "--no-completion", action="store_true", help="leave out tab completion for pipwrap"
    )


def run(args: argparse.Namespace) -> int:
    from pipwrap.shell import init

    completion = None if args.no_completion else args.completion_data()
    sys.stdout.write(init.render(args.shell, completion=completion, command=args.cmd))
    return 0
