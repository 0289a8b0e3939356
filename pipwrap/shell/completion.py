"""Tab completion for ``pipwrap``, rendered from the CLI's own description of itself.

The command names, summaries and options come from the parser at ``pipwrap init`` time
(handed in as ``data`` by the CLI layer); profile names are asked of ``pipwrap _names``
when completing, so a new profile completes without reloading the shell. The shell code
is in ``templates/completion.*`` with named slots.
"""

from __future__ import annotations

from typing import Any

from pipwrap.shell.dialect import dialect
from pipwrap.shell.templates import render_template


def slots(shell: str, data: dict[str, Any]) -> dict[str, str]:
    quote = dialect(shell).quote
    names: list[str] = sorted(data["commands"])
    options: dict[str, list[str]] = data["options"]
    takes = " ".join(data["profile_commands"])
    found: dict[str, str] = {}
    if shell in ("bash", "zsh"):
        found["profile_commands"] = quote(takes)
    if shell == "bash":
        found["commands"] = quote(" ".join(names))
        found["option_cases"] = "".join(
            f"        {name}) words={quote(' '.join(opts))} ;;\n"
            for name, opts in sorted(options.items()) if opts)
    elif shell == "zsh":
        found["commands"] = " ".join(quote(name) for name in names)
        found["option_cases"] = "".join(
            f"            ({name}) compadd -- {' '.join(opts)} ;;\n"
            for name, opts in sorted(options.items()) if opts)
    else:
        found["commands"] = quote(" ".join(names))
        found["profile_commands_bare"] = takes
        described = [f"complete -c pipwrap -n __fish_use_subcommand -a {quote(name)} "
                     f"-d {quote(text)}" for name, text in sorted(data["commands"].items())]
        described += [f"complete -c pipwrap -n {quote('__fish_seen_subcommand_from ' + name)} "
                      f"-l {option[2:]}"
                      for name, opts in sorted(options.items()) for option in opts]
        found["described"] = "\n".join(described)
    return found


def render(shell: str, data: dict[str, Any], command: str) -> str:
    return render_template(f"completion.{shell}", {**slots(shell, data), "cmd": command})
