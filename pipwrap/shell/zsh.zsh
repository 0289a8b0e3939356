# pipwrap shell integration for zsh (printed by `pipwrap init zsh`).
# __pipwrap_cli (the command that runs pipwrap) is defined just above this text.

# The resolved profile is cached in shell variables and refreshed only when an input
# changes, so a `wrap` call costs a few builtin tests, not a Python start-up.
typeset -g __pipwrap_key=${__pipwrap_key-} __pipwrap_expires=${__pipwrap_expires-}
typeset -g __pipwrap_use=${__pipwrap_use-} __pipwrap_scan=${__pipwrap_scan-}
typeset -ga __pipwrap_env __pipwrap_watch
zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null

function __pipwrap_inputs() {
    # Everything the resolution depends on besides watched files.
    __pipwrap_k="${PIPWRAP_PROFILE-}"$'\x1f'"${PIPWRAP_CONFIG-}"$'\x1f'"${__pipwrap_use-}"
    __pipwrap_k+=$'\x1f'"${HOME-}"$'\x1f'"${XDG_CONFIG_HOME-}"$'\x1f'"${XDG_CONFIG_DIRS-}"
    __pipwrap_k+=$'\x1f'"${XDG_CACHE_HOME-}"$'\x1f'"${XDG_DATA_HOME-}"$'\x1f'"${VIRTUAL_ENV-}"
    __pipwrap_k+=$'\x1f'"${PIP_CONFIG_FILE-}"$'\x1f'"${PIP_CONSTRAINT-}"$'\x1f'"${PIP_REQUIREMENT-}"$'\x1f'"$PWD"
}

function __pipwrap_fresh() {
    emulate -L zsh
    [[ -n $__pipwrap_key && $__pipwrap_key == "$__pipwrap_k" ]] || return 1
    if [[ -n $__pipwrap_expires ]] && (( ${EPOCHSECONDS:-0} >= __pipwrap_expires )); then
        return 1
    fi
    local __pipwrap_f __pipwrap_s
    for __pipwrap_f __pipwrap_s in "${__pipwrap_watch[@]}"; do
        if [[ -z $__pipwrap_s ]]; then
            [[ -e $__pipwrap_f ]] && return 1
        elif [[ ! -e $__pipwrap_s || $__pipwrap_f -nt $__pipwrap_s || $__pipwrap_f -ot $__pipwrap_s ]]; then
            return 1
        fi
    done
    return 0
}

function __pipwrap_refresh() {
    emulate -L zsh
    local __pipwrap_k __pipwrap_state
    __pipwrap_inputs
    __pipwrap_fresh && return 0
    __pipwrap_key=
    __pipwrap_state=$(PIPWRAP_SHELL_PROFILE=$__pipwrap_use "${__pipwrap_cli[@]}" _state zsh --pid $$) || return
    eval -- "$__pipwrap_state"
    __pipwrap_key=$__pipwrap_k
}

# True when the command may be pip-like with arguments only Python can judge. Plain
# `pip install foo -U` stays in the shell; anything unusual goes to `pipwrap check`.
function __pipwrap_needs_check() {
    emulate -L zsh
    local __pipwrap_name=${1##*/}
    shift
    case $__pipwrap_name in
        (pip|pip[0-9]|pip[0-9].*|pip[0-9][0-9].*) ;;
        (python*|py|pypy*)
            if [[ ${1-} == -m && ${2-} == pip ]]; then
                shift 2
            else
                [[ " $* " == *pip* ]] && return 0
                return 1
            fi
            ;;
        (uv)
            [[ ${1-} == pip ]] || return 0
            shift
            ;;
        (*) return 1 ;;
    esac
    [[ -n $__pipwrap_scan ]] && return 0
    local __pipwrap_a
    for __pipwrap_a in "$@"; do
        case $__pipwrap_a in
            (--|-U|--upgrade|-q|-qq|-qqq|--quiet|-v|-vv|-vvv|--verbose|--user|--no-deps|--pre|\
--force-reinstall|-I|--ignore-installed|--no-cache-dir|--dry-run|--no-input|\
--disable-pip-version-check|--require-virtualenv|--no-index|-y|--yes|--no-color|-e|\
--editable|--break-system-packages|--no-build-isolation|--no-warn-script-location|\
--prefer-binary|--only-binary=:all:|--system|--upgrade-strategy=*|-h|--help) ;;
            (-*) return 0 ;;
        esac
    done
    return 1
}

function __pipwrap_wrap() {
    if (( $# == 0 )); then
        builtin printf '%s\n' \
            'usage: wrap COMMAND [ARGS...]' \
            'Runs COMMAND with the pipwrap profile'"'"'s index as its only package source.' \
            'Choose a profile for one command with PIPWRAP_PROFILE=NAME wrap ...' >&2
        return 2
    fi
    __pipwrap_refresh || return
    if __pipwrap_needs_check "$@"; then
        "${__pipwrap_cli[@]}" check -- "$@" || return
    fi
    # `local -x` scopes the variables to this call; zsh restores them on return, also
    # when the command is interrupted. No `emulate` here: the command runs with the
    # user's own options.
    local -x "${__pipwrap_env[@]}"
    "$@"
}

# `pipwrap use NAME` must change this shell, so it is handled here.
function pipwrap() {
    case ${1-} in
        (use)
            case ${2-} in
                (--off|-)
                    __pipwrap_use=
                    return 0
                    ;;
                (''|-h|--help)
                    builtin printf '%s\n' 'usage: pipwrap use NAME | --off' >&2
                    return 2
                    ;;
            esac
            PIPWRAP_SHELL_PROFILE=$2 "${__pipwrap_cli[@]}" show --quiet "$2" || return
            __pipwrap_use=$2
            ;;
        (*)
            PIPWRAP_SHELL_PROFILE=$__pipwrap_use "${__pipwrap_cli[@]}" "$@"
            ;;
    esac
}

# The trailing space makes zsh expand an alias in the next word: `wrap _p install`.
builtin alias wrap='__pipwrap_wrap '
