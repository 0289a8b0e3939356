# pipwrap shell integration for bash (printed by `pipwrap init bash`).
# shellcheck shell=bash
# The __pipwrap_{env,watch,scan,...} variables are assigned by eval'd generated code.
# shellcheck disable=SC2154
# The command that runs pipwrap (this pipwrap's interpreter and package):
{{cli}}

# The resolved profile is cached in shell variables and refreshed only when an input
# changes, so a `wrap` call costs a few builtin tests, not a Python start-up.
__pipwrap_key=${__pipwrap_key-}
__pipwrap_expires=${__pipwrap_expires-}
__pipwrap_use=${__pipwrap_use-}
__pipwrap_refresh_always=${__pipwrap_refresh_always-}
__pipwrap_blocked=${__pipwrap_blocked-}
__pipwrap_blocked_key=${__pipwrap_blocked_key-}
__pipwrap_last_pwd=${__pipwrap_last_pwd-}
__pipwrap_report=${__pipwrap_report-}
__pipwrap_isolation=${__pipwrap_isolation-}

# Runs pipwrap. An interpreter that is gone means pipwrap was reinstalled another way (or
# removed) after this shell loaded the snippet: say so instead of "No such file".
__pipwrap_py() {
    if [[ ${__pipwrap_cli[0]} == /* && ! -x ${__pipwrap_cli[0]} ]]; then
        \builtin printf '%s\n' "pipwrap moved: ${__pipwrap_cli[0]} is gone (pipwrap was reinstalled or removed); open a new shell (or re-run the init line)" >&2
        return 127
    fi
    "${__pipwrap_cli[@]}" "$@"
}

__pipwrap_inputs() {
    # Everything the resolution depends on besides watched files.
    __pipwrap_k="${PIPWRAP_PROFILE-}"$'\x1f'"${PIPWRAP_CONFIG-}"$'\x1f'"${__pipwrap_use-}"
    __pipwrap_k+=$'\x1f'"${HOME-}"$'\x1f'"${XDG_CONFIG_HOME-}"$'\x1f'"${XDG_CONFIG_DIRS-}"
    __pipwrap_k+=$'\x1f'"${XDG_CACHE_HOME-}"$'\x1f'"${XDG_DATA_HOME-}"$'\x1f'"${VIRTUAL_ENV-}"
    __pipwrap_k+=$'\x1f'"${PIP_CONFIG_FILE-}"$'\x1f'"${PIP_CONSTRAINT-}"$'\x1f'"${PIP_REQUIREMENT-}"$'\x1f'"$PWD"
    # pip reads PIP_* in any spelling, uv its UV_* names and pdm PDM_PYPI_*: a variable
    # set after the last resolve must be seen, so every such name is part of the key.
    __pipwrap_k+=$'\x1f'"${!PIP_@}"$'\x1f'"${!UV_@}"$'\x1f'"${!PDM_PYPI_@}"
}

__pipwrap_fresh() {
    [[ -n $__pipwrap_key && $__pipwrap_key == "$__pipwrap_k" && -z $__pipwrap_refresh_always ]] \
        || return 1
    if [[ -n $__pipwrap_expires ]] && (( ${EPOCHSECONDS:-$(\command date +%s)} >= __pipwrap_expires )); then
        return 1
    fi
    # The fence agent holds this shell's session; if it went away, register again. Where
    # /proc exists, an exited agent nobody reaped yet (a zombie, which has no exe) is gone.
    if [[ -d /proc/self ]]; then
        [[ -e /proc/${__pipwrap_agent:-none}/exe ]] || return 1
    else
        \builtin kill -0 "${__pipwrap_agent:-none}" 2>/dev/null || return 1
    fi
    local __pipwrap_i __pipwrap_f __pipwrap_s
    for (( __pipwrap_i = 0; __pipwrap_i < ${#__pipwrap_watch[@]}; __pipwrap_i += 2 )); do
        __pipwrap_f=${__pipwrap_watch[__pipwrap_i]}
        __pipwrap_s=${__pipwrap_watch[__pipwrap_i + 1]}
        if [[ -z $__pipwrap_s ]]; then
            [[ -e $__pipwrap_f ]] && return 1
        elif [[ ! -e $__pipwrap_s || $__pipwrap_f -nt $__pipwrap_s || $__pipwrap_f -ot $__pipwrap_s ]]; then
            return 1
        fi
    done
    return 0
}

__pipwrap_refresh() {
    local __pipwrap_k __pipwrap_state __pipwrap_s
    __pipwrap_inputs
    __pipwrap_fresh && return 0
    __pipwrap_key=
    __pipwrap_blocked=
    __pipwrap_state=$(PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py _state bash --pid "$$") || {
        __pipwrap_s=$?
        # A .pipwrap.toml not allowed yet: _state names it (for the prompt) and fails.
        [[ $__pipwrap_state == __pipwrap_blocked=* ]] && eval -- "$__pipwrap_state"
        return $__pipwrap_s
    }
    eval -- "$__pipwrap_state"
    __pipwrap_key=$__pipwrap_k
}

# True when the command needs the Python guard. The lists are the guard's own, filled in
# from pipwrap/guard/fastpath.py when `pipwrap init` renders this file; the shell lets a
# command through unasked only when the guard would let it through too. Where the
# session's network isolation is in force (__pipwrap_enter is set: the command runs in
# the fence's namespace), it also lets through plain `uv pip install` and pip's harmless
# options with values and requirements with versions; the network is the last line there.
{{spec_re}}
# bash copies a function's whole body on every call: the long pattern lists of pip and uv
# live in functions of their own, so `wrap true` and other programs do not pay for them.
__pipwrap_needs_check() {
    local __pipwrap_name=${1##*/} __pipwrap_path='' __pipwrap_head='' __pipwrap_a
    case $__pipwrap_name in
        {{pip}}) ;;
        uv) [[ -n ${__pipwrap_enter[0]-} && ${2-} == pip && ${3-} == install ]] || return 0 ;;
        {{inert}}) return 1 ;;
        {{checked}}) return 0 ;;
        *)
            # A script is read by the guard (it may run an installer); a binary is not.
            if [[ $1 == */* ]]; then
                __pipwrap_path=$1
            elif \builtin hash -- "$1" 2>/dev/null; then
                __pipwrap_path=${BASH_CMDS[$1]-}
            fi
            if [[ -n $__pipwrap_path ]]; then
                [[ -f $__pipwrap_path ]] || return 0
                IFS= \builtin read -r -n 4 __pipwrap_head <"$__pipwrap_path" 2>/dev/null
                [[ $__pipwrap_head == $'\x7f'ELF ]] || return 0
            fi
            shift
            for __pipwrap_a in "$@"; do
                case $__pipwrap_a in
                    {{source_arguments}}) return 0 ;;
                esac
            done
            return 1
            ;;
    esac
    [[ -n $__pipwrap_scan ]] && return 0
    if [[ $__pipwrap_name == uv ]]; then
        __pipwrap_needs_check_uv "${@:4}"
    else
        __pipwrap_needs_check_pip "${@:2}"
    fi
}

# uv pip install (under isolation): each word a flag naming no source, a harmless option
# and its value, or a requirement that is a name (extras, versions) and not a path.
__pipwrap_needs_check_uv() {
    local __pipwrap_a __pipwrap_value=''
    for __pipwrap_a in "$@"; do
        if [[ -n $__pipwrap_value ]]; then
            __pipwrap_value=
            continue
        fi
        case $__pipwrap_a in
            {{uv_flags}}) ;;
            {{uv_valued}}) [[ $__pipwrap_a == *=* ]] || __pipwrap_value=1 ;;
            -*) return 0 ;;
            *)
                [[ $__pipwrap_a =~ $__pipwrap_spec_re ]] || return 0
                [[ -e $__pipwrap_a || -e ${BASH_REMATCH[1]} ]] && return 0
                ;;
        esac
    done
    # A value still owed: the guard says what the line means.
    [[ -n $__pipwrap_value ]]
}

# pip: each word is a flag harmless for its subcommand (the first word that is not a
# flag; empty before it), or a bare project name that is not a path.
__pipwrap_needs_check_pip() {
    local __pipwrap_a __pipwrap_value='' __pipwrap_sub=''
    local __pipwrap_iso=${__pipwrap_enter[0]:+1}
    for __pipwrap_a in "$@"; do
        if [[ -n $__pipwrap_value ]]; then
            __pipwrap_value=
            continue
        fi
        case $__pipwrap_sub:$__pipwrap_a in
            {{pip_flags}}) ;;
            {{pip_valued}})
                # Only after the subcommand: pip takes its name out of the line by its
                # first occurrence, which before it could be a value.
                [[ -n $__pipwrap_iso && -n $__pipwrap_sub ]] || return 0
                [[ $__pipwrap_a == *=* ]] || __pipwrap_value=1
                ;;
            *:-*) return 0 ;;
            *:[!A-Za-z0-9]* | *:*[!A-Za-z0-9._-]*)
                # A requirement with extras or versions (under isolation, after the
                # subcommand), neither it nor its name a path.
                [[ -n $__pipwrap_iso && -n $__pipwrap_sub && $__pipwrap_a =~ $__pipwrap_spec_re ]] \
                    || return 0
                [[ -e $__pipwrap_a || -e ${BASH_REMATCH[1]} ]] && return 0
                ;;
            *)
                [[ -e $__pipwrap_a ]] && return 0
                [[ -n $__pipwrap_sub ]] || __pipwrap_sub=$__pipwrap_a
                ;;
        esac
    done
    [[ -n $__pipwrap_value ]]
}

__pipwrap_wrap() {
    if (( $# == 0 )); then
        \builtin printf '%s\n' \
            'usage: {{cmd}} COMMAND [ARGS...]' \
            'Runs COMMAND with the pipwrap profile'"'"'s index as its only package source.' \
            'Choose a profile for one command with PIPWRAP_PROFILE=NAME {{cmd}} ...' >&2
        return 2
    fi
    # Nothing of pipwrap's own is traced under `set -x` (the user's command still is):
    # `local -` restores the shell's options when this function returns.
    local - __pipwrap_traced=${-//[^x]/}
    set +x
    __pipwrap_refresh || return
    if ! \builtin type -t -- "$1" >/dev/null; then
        # Said here, as the user typed it, not from inside pipwrap's function.
        \builtin printf '{{cmd}}: command not found: %s\n' "$1" >&2
        return 127
    fi
    local __pipwrap_strict=
    if \builtin declare -F -- "$1" >/dev/null; then
        # A function can run pip itself: the guard reads its body with these arguments.
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check --function-body \
            "$(\builtin declare -f -- "$1")" -- "$@" || return
        [[ $- == *e* ]] && __pipwrap_strict=1
    elif __pipwrap_needs_check "$@"; then
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check -- "$@" || return
    fi
    # Under errexit, `command || status=$?` lets a failed command come back here to say
    # the fence's refusals, but would turn errexit off inside a function, eval or source:
    # those run as they would without wrap (a failure ends the shell right there).
    [[ $- == *e* ]] && case $1 in eval | source | .) __pipwrap_strict=1 ;; esac
    # `local -x` scopes the variables to this call; bash restores them on return, also
    # when the command is interrupted.
    local -x "${__pipwrap_env[@]}"
    # An executable runs in the fence's network namespace, whose one way out is the fence.
    # A function or builtin runs in this shell, which no namespace can hold: it gets the
    # variables that work outside, and is refused where isolation is required.
    local -a __pipwrap_in=("${__pipwrap_enter[@]}")
    if (( ${#__pipwrap_in[@]} )) && __pipwrap_in_shell "$1"; then
        if [[ $__pipwrap_isolation == required ]]; then
            \builtin printf '%s\n' "{{cmd}}: $1 runs in the shell, outside the network namespace that isolation = \"required\" asks for: run a script or a program instead" >&2
            return 2
        fi
        __pipwrap_in=()
        (( ${#__pipwrap_env_shell[@]} )) && local -x "${__pipwrap_env_shell[@]}"
    fi
    local __pipwrap_s=0
    if [[ -z $__pipwrap_traced$__pipwrap_strict${__pipwrap_unset[0]-} ]]; then
        "${__pipwrap_in[@]}" "$@" || __pipwrap_s=$?
    elif [[ -n $__pipwrap_strict ]]; then
        __pipwrap_command "$@"
        # Traced: tracing came on right before the command; pipwrap's own is not traced.
        { __pipwrap_s=$?; set +x; } 2>/dev/null
    else
        __pipwrap_command "$@" || { __pipwrap_s=$?; } 2>/dev/null
        { set +x; } 2>/dev/null
    fi
    # The fence's refusals for this command, on its own stderr: one builtin test when
    # there are none.
    [[ -s $__pipwrap_report ]] && __pipwrap_said
    (( __pipwrap_s )) && __pipwrap_agent_check
    return "$__pipwrap_s"
}

__pipwrap_command() {
    if (( ${#__pipwrap_unset[@]} )); then
        # Other spellings of a source variable must not reach the command. bash cannot
        # hide an inherited export from a function's child, so a subshell drops them.
        [[ -n $__pipwrap_traced ]] && set -x
        ( \builtin unset -v "${__pipwrap_unset[@]}"; "${__pipwrap_in[@]}" "$@" )
    else
        [[ -n $__pipwrap_traced ]] && set -x
        "${__pipwrap_in[@]}" "$@"
    fi
}

# Whether a command word runs in this shell itself (a function or a builtin).
__pipwrap_in_shell() {
    \builtin declare -F -- "$1" >/dev/null && return 0
    case $1 in
        . | : | \[ | alias | bg | bind | break | builtin | caller | cd | command | compgen | \
        complete | compopt | continue | declare | dirs | disown | echo | enable | eval | \
        exec | exit | export | false | fc | fg | getopts | hash | help | history | jobs | \
        kill | let | local | logout | mapfile | popd | printf | pushd | pwd | read | \
        readarray | readonly | return | set | shift | shopt | source | suspend | test | \
        times | trap | true | type | typeset | ulimit | umask | unalias | unset | wait)
            return 0 ;;
    esac
    return 1
}

# Prints what the fence agent wrote for this shell's session and empties the file (the
# agent says each refusal once per command: an empty file means a new command).
__pipwrap_said() {
    local __pipwrap_lines
    \builtin mapfile -t __pipwrap_lines <"$__pipwrap_report"
    : >|"$__pipwrap_report"
    \builtin printf '%s\n' "${__pipwrap_lines[@]}" >&2
}

# A failed command whose fence went away meanwhile: its requests failed for that reason.
__pipwrap_agent_check() {
    if [[ -d /proc/self ]]; then
        [[ -e /proc/${__pipwrap_agent:-none}/exe ]] && return 0
    else
        \builtin kill -0 "${__pipwrap_agent:-none}" 2>/dev/null && return 0
    fi
    \builtin printf '%s\n' "pipwrap: the fence agent exited during this command (pid ${__pipwrap_agent:-?}); its network requests failed. The next {{cmd}} starts a new agent." >&2
}

# For prompts: keeps PIPWRAP_PROMPT_PROFILE (exported, so starship's env_var module sees
# it) current. Opt in with PROMPT_COMMAND+=(__pipwrap_prompt_update) (bash >= 5.1) or
# PROMPT_COMMAND="__pipwrap_prompt_update;$PROMPT_COMMAND". Python runs only when an input
# changed (a cd, `pipwrap use`, an edit), never on an unchanged prompt. A .pipwrap.toml
# not allowed yet shows as "(blocked)", with one line said after the `cd` (as direnv does).
__pipwrap_prompt_update() {
    local - __pipwrap_status=$? __pipwrap_k
    set +x
    __pipwrap_inputs
    if [[ -n $__pipwrap_blocked && $__pipwrap_blocked_key == "$__pipwrap_k" ]]; then
        __pipwrap_last_pwd=$PWD
        return $__pipwrap_status
    fi
    __pipwrap_blocked_key=
    if __pipwrap_refresh 2>/dev/null; then
        export PIPWRAP_PROMPT_PROFILE=$__pipwrap_profile
    elif [[ -n $__pipwrap_blocked ]]; then
        export PIPWRAP_PROMPT_PROFILE='(blocked)'
        __pipwrap_blocked_key=$__pipwrap_k
        [[ $__pipwrap_last_pwd == "$PWD" ]] || \builtin printf '%s\n' "pipwrap: $__pipwrap_blocked is blocked: review it, then run \`pipwrap allow\` (or \`pipwrap deny\`)" >&2
    else
        export PIPWRAP_PROMPT_PROFILE=
    fi
    __pipwrap_last_pwd=$PWD
    return $__pipwrap_status
}

# `pipwrap use NAME` must change this shell, so it is handled here.
pipwrap() {
    __pipwrap_blocked_key=  # `pipwrap allow` (or any edit) may unblock: ask again
    case ${1-} in
        use)
            case ${2-} in
                --off | -)
                    __pipwrap_use=
                    return 0
                    ;;
                '' | -h | --help)
                    \builtin printf '%s\n' 'usage: pipwrap use NAME | --off' >&2
                    return 2
                    ;;
            esac
            PIPWRAP_SHELL_PROFILE=$2 __pipwrap_py show --quiet "$2" || return
            __pipwrap_use=$2
            ;;
        *)
            # $$ is this shell even inside `$(...)`: `eval "$(pipwrap env)"` gives its
            # fence session to the shell, not to the subshell that exits at once.
            PIPWRAP_SHELL_PID=$$ PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py "$@"
            ;;
    esac
}

# A function for scripts, where aliases do not expand; `function NAME` is never itself
# alias-expanded, so loading this twice is safe.
\builtin unalias {{cmd}} 2>/dev/null || :
function {{cmd}} {
    __pipwrap_wrap "$@"
}
# The trailing space makes bash expand an alias in the next word: `wrap _p install`.
\builtin alias {{cmd}}='__pipwrap_wrap '
