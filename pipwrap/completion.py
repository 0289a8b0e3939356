# ruff: noqa: E501 - generated shell code reads best one statement per line
"""Tab completion for `pipwrap`, generated from the argparse definition.

Subcommand names come from the parser at `pipwrap init` time; profile names are asked of
`pipwrap _names` when completing, so a new profile completes without reloading the shell.
"""

from __future__ import annotations

import argparse

from pipwrap.shellcode import quote

PROFILE_COMMANDS = ("use", "show", "remove", "rm", "rename", "default", "test", "set-url")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    from pipwrap.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {n: p for n, p in action.choices.items() if not n.startswith("_")}
    return {}  # pragma: no cover


def subcommands() -> list[str]:
    return sorted(_subparsers())


def descriptions() -> dict[str, str]:
    """Each subcommand's one-line help, as `pipwrap --help` lists it."""
    from pipwrap.cli import build_parser

    found: dict[str, str] = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                found[choice.dest] = choice.help or ""
    return found


def options() -> dict[str, list[str]]:
    """The long options of each subcommand."""
    return {name: sorted(o for a in sub._actions for o in a.option_strings
                         if o.startswith("--"))
            for name, sub in _subparsers().items()}


def render(shell: str) -> str:
    words = " ".join(subcommands())
    takes = " ".join(PROFILE_COMMANDS)
    per_command = options()
    if shell == "bash":
        cases = "".join(f"        {name}) words={quote(shell, ' '.join(opts))} ;;\n"
                        for name, opts in sorted(per_command.items()) if opts)
        return f"""
__pipwrap_complete() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} words=
    if (( COMP_CWORD == 1 )); then
        words={quote(shell, words)}
    elif [[ $cur == -* ]]; then
        case ${{COMP_WORDS[1]}} in
{cases}        esac
    elif [[ $prev == --profile || $prev == -p || " "{quote(shell, takes)}" " == *" ${{COMP_WORDS[1]}} "* ]]; then
        words=$("${{__pipwrap_cli[@]}}" _names 2>/dev/null)
    elif [[ ${{COMP_WORDS[1]}} == init ]]; then
        words='bash zsh fish'
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}}
complete -F __pipwrap_complete pipwrap
# After `wrap`, complete the wrapped command as `sudo` does: bash-completion's own helper
# when it is loaded, else command names, then files.
__pipwrap_complete_wrap() {{
    if \\builtin declare -F _command_offset >/dev/null; then
        _command_offset 1
    elif (( COMP_CWORD == 1 )); then
        mapfile -t COMPREPLY < <(compgen -c -- "${{COMP_WORDS[1]}}")
    fi
}}
complete -o default -o bashdefault -F __pipwrap_complete_wrap wrap
"""
    if shell == "zsh":
        zsh_cases = "".join(f"            ({name}) compadd -- {' '.join(opts)} ;;\n"
                            for name, opts in sorted(per_command.items()) if opts)
        return f"""
function _pipwrap() {{
    if (( CURRENT == 2 )); then
        compadd -- {" ".join(quote(shell, word) for word in words.split())}
    elif [[ $PREFIX == -* ]]; then
        case ${{words[2]}} in
{zsh_cases}        esac
    elif [[ ${{words[CURRENT-1]}} == (--profile|-p) || " "{quote(shell, takes)}" " == *" ${{words[2]}} "* ]]; then
        compadd -- ${{(f)"$("${{__pipwrap_cli[@]}}" _names 2>/dev/null)"}}
    elif [[ ${{words[2]}} == init ]]; then
        compadd -- bash zsh fish
    fi
}}
# compdef exists once the user's compinit has run: now, or (when this line comes before
# compinit in .zshrc) at the first prompt. After `wrap`, the wrapped command completes as
# after `sudo` (a function whose name starts with `__` gets no default completion in zsh,
# and the alias `wrap` expands to it, so both are registered by name).
function __pipwrap_compdef() {{
    (( ${{+functions[compdef]}} )) || return 0
    compdef _pipwrap pipwrap
    compdef _precommand wrap __pipwrap_wrap
    precmd_functions=(${{precmd_functions:#__pipwrap_compdef}})
}}
if (( ${{+functions[compdef]}} )); then
    __pipwrap_compdef
else
    typeset -ga precmd_functions
    precmd_functions+=(__pipwrap_compdef)
fi
"""
    described = "".join(
        f"complete -c pipwrap -n __fish_use_subcommand -a {quote(shell, name)} "
        f"-d {quote(shell, text)}\n" for name, text in sorted(descriptions().items()))
    described += "".join(
        f"complete -c pipwrap -n {quote(shell, '__fish_seen_subcommand_from ' + name)} "
        f"-l {option[2:]}\n"
        for name, opts in sorted(per_command.items()) for option in opts)
    return f"""
complete -c pipwrap -f
complete -c pipwrap -n __fish_use_subcommand -a {quote(shell, words)}
{described.rstrip()}
# After `wrap`, complete the wrapped command and its arguments, as after `sudo`.
complete -c wrap -x -a '(__fish_complete_subcommand)'
complete -c pipwrap -n '__fish_seen_subcommand_from {takes}' -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -l profile -s p -x -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -n '__fish_seen_subcommand_from init' -a 'bash zsh fish'
"""
