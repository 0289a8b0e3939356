"""Tab completion for ``pipwrap``, rendered from the CLI's own description of itself.

The command names, summaries and options come from the parser at ``pipwrap init`` time
(handed in as ``data`` by the CLI layer); profile names are asked of ``pipwrap _names``
when completing, so a new profile completes without reloading the shell. A nested
command (``repo``, ``config``) completes its actions, with their summaries where the shell
shows them, and each action its own options (``data["options"]["repo add"]``). The shell
code is in ``templates/completion.*`` with named slots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipwrap.shell.dialect import dialect
from pipwrap.shell.templates import render_template


def slots(shell: str, data: dict[str, Any]) -> dict[str, str]:
    quote = dialect(shell).quote
    summaries: dict[str, str] = data["commands"]
    names: list[str] = sorted(summaries)
    options: dict[str, list[str]] = data["options"]
    # An older caller's data has no nested commands: completion then stops at the first word.
    nested: dict[str, dict[str, str]] = data.get("nested", {})
    takes = " ".join(data["profile_commands"])
    found: dict[str, str] = {}
    if shell in ("bash", "zsh"):
        found["profile_commands"] = quote(takes)
    if shell == "bash":
        found["commands"] = quote(" ".join(names))
        found["option_cases"] = "".join(
            f"        {quote(key)}) words={quote(' '.join(opts))} ;;\n"
            for key, opts in sorted(options.items()) if opts)
        found["action_cases"] = "".join(
            f"        {quote(name)}) actions={quote(' '.join(actions))} ;;\n"
            for name, actions in sorted(nested.items()))
    elif shell == "zsh":
        found["commands"] = " ".join(quote(name) for name in names)
        found["described_commands"] = _described(quote, summaries)
        found["option_cases"] = "".join(
            f"            ({quote(key)}) compadd -- {' '.join(opts)} ;;\n"
            for key, opts in sorted(options.items()) if opts)
        found["nested_names"] = "|".join(quote(name) for name in sorted(nested)) or "''"
        found["action_cases"] = "".join(
            f"            ({quote(name)}) described=({_described(quote, actions)})\n"
            f"                _describe -t actions {quote(name + ' action')} described ;;\n"
            for name, actions in sorted(nested.items()))
        found["compctl_action_cases"] = "".join(
            f"                ({quote(name)}) reply=({' '.join(quote(a) for a in actions)}) ;;\n"
            for name, actions in sorted(nested.items()))
    else:
        found["profile_commands_bare"] = takes
        found["described"] = "\n".join(_fish_lines(quote, summaries, options, nested))
    return found


def _described(quote: Callable[[str], str], summaries: dict[str, str]) -> str:
    """zsh ``_describe``'s NAME:SUMMARY words (a colon in a name would end it)."""
    return " ".join(quote(f"{name.replace(':', chr(92) + ':')}:{text}")
                    for name, text in sorted(summaries.items()))


def _fish_lines(quote: Callable[[str], str], summaries: dict[str, str],
                options: dict[str, list[str]], nested: dict[str, dict[str, str]]) -> list[str]:
    # `__pipwrap_after WORDS...`: the words typed so far, options aside, are exactly WORDS
    # (so an action is being typed); `__pipwrap_under WORDS...`: they start with WORDS.
    # Keyed by position, `pipwrap repo add --<Tab>` gets `repo add`'s options only, not
    # the top-level `add`'s (which __fish_seen_subcommand_from would also match).
    lines = [f"complete -c pipwrap -n __fish_use_subcommand -a {quote(name)} -d {quote(text)}"
             for name, text in sorted(summaries.items())]
    for name, actions in sorted(nested.items()):
        lines += [f"complete -c pipwrap -n {quote('__pipwrap_after ' + name)} "
                  f"-a {quote(action)} -d {quote(text)}"
                  for action, text in sorted(actions.items())]
    lines += [f"complete -c pipwrap -n {quote('__pipwrap_under ' + key)} -l {option[2:]}"
              for key, opts in sorted(options.items()) for option in opts]
    return lines


def render(shell: str, data: dict[str, Any], command: str) -> str:
    return render_template(f"completion.{shell}", {**slots(shell, data), "cmd": command})
