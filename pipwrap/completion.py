# ruff: noqa: E501 - generated shell code reads best one statement per line
"""Tab completion for `pipwrap`, generated from the argparse definition.

Subcommand names come from the parser at `pipwrap init` time; profile names are asked of
`pipwrap _names` when completing, so a new profile completes without reloading the shell.
"""

from __future__ import annotations

import argparse

from pipwrap.shellcode import quote

PROFILE_COMMANDS = ("use", "show", "remove", "rename", "default", "test")


def subcommands() -> list[str]:
    from pipwrap.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(n for n in action.choices if not n.startswith("_"))
    return []  # pragma: no cover


def render(shell: str) -> str:
    words = " ".join(subcommands())
    takes = " ".join(PROFILE_COMMANDS)
    if shell == "bash":
        return f"""
__pipwrap_complete() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} words=
    if (( COMP_CWORD == 1 )); then
        words={quote(shell, words)}
    elif [[ $prev == --profile || $prev == -p || " "{quote(shell, takes)}" " == *" ${{COMP_WORDS[1]}} "* ]]; then
        words=$("${{__pipwrap_cli[@]}}" _names 2>/dev/null)
    elif [[ ${{COMP_WORDS[1]}} == init ]]; then
        words='bash zsh fish'
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}}
complete -F __pipwrap_complete pipwrap
"""
    if shell == "zsh":
        return f"""
function _pipwrap() {{
    if (( CURRENT == 2 )); then
        compadd -- {" ".join(quote(shell, word) for word in words.split())}
    elif [[ ${{words[CURRENT-1]}} == (--profile|-p) || " "{quote(shell, takes)}" " == *" ${{words[2]}} "* ]]; then
        compadd -- ${{(f)"$("${{__pipwrap_cli[@]}}" _names 2>/dev/null)"}}
    elif [[ ${{words[2]}} == init ]]; then
        compadd -- bash zsh fish
    fi
}}
# Only when the user's compinit is loaded; `if` keeps `set -e` shells alive.
if (( ${{+functions[compdef]}} )); then compdef _pipwrap pipwrap; fi
"""
    return f"""
complete -c pipwrap -f
complete -c pipwrap -n __fish_use_subcommand -a {quote(shell, words)}
complete -c pipwrap -n '__fish_seen_subcommand_from {takes}' -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -l profile -s p -x -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -n '__fish_seen_subcommand_from init' -a 'bash zsh fish'
"""
