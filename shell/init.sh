# pipwrap for bash and zsh, from a checkout: add to ~/.bashrc or ~/.zshrc
#     source /path/to/pipwrap/shell/init.sh
# It defines `wrap` exactly as `eval "$(pipwrap init bash)"` does, running pipwrap from
# this checkout. Set PIPWRAP_PYTHON to choose the interpreter (default: python3); it
# needs platformdirs (and tomli before Python 3.11).
# shellcheck shell=bash

if [ -n "${ZSH_VERSION-}" ]; then
    __pipwrap_shell=zsh
    # %x: the file being sourced, wherever the user's cwd is.
    \builtin eval '__pipwrap_here=${${(%):-%x}:A:h}'
elif [ -n "${BASH_VERSION-}" ]; then
    __pipwrap_shell=bash
    __pipwrap_here=$(\builtin cd -- "$(\command dirname -- "${BASH_SOURCE[0]}")" && \builtin pwd -P)
else
    # Plain sh (dash, ash) has no `builtin`, no arrays and no local exports: say so and
    # stop. `return` ends a sourced file; `exit` is for a file run by mistake.
    printf '%s\n' 'pipwrap: shell/init.sh supports bash and zsh (fish: shell/init.fish).' \
        'In sh, run commands as: pipwrap run -- pip install NAME' >&2
    # shellcheck disable=SC2317  # reached when the file is run, not sourced
    return 1 2>/dev/null || exit 1
fi

if __pipwrap_init_code=$("${PIPWRAP_PYTHON:-python3}" -I -c \
    'import sys;sys.path.insert(0,sys.argv.pop(1));from pipwrap.cli import main_entry;main_entry()' \
    "${__pipwrap_here%/*}" init "$__pipwrap_shell"); then
    eval "$__pipwrap_init_code"
    unset __pipwrap_init_code __pipwrap_here __pipwrap_shell
else
    unset __pipwrap_init_code __pipwrap_here __pipwrap_shell
    \builtin printf '%s\n' "pipwrap: could not load pipwrap from this checkout (is platformdirs installed for ${PIPWRAP_PYTHON:-python3}?)" >&2
    \builtin return 1
fi
