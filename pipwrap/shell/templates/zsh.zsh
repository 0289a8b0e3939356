# pipwrap shell integration for zsh (printed by `pipwrap init zsh`).
# The command that runs pipwrap (this pipwrap's interpreter and package):
{{cli}}

# The resolved profile is cached in shell variables and refreshed only when an input
# changes, so a `wrap` call costs a few builtin tests, not a Python start-up.
typeset -g __pipwrap_key=${__pipwrap_key-} __pipwrap_expires=${__pipwrap_expires-}
typeset -g __pipwrap_use=${__pipwrap_use-} __pipwrap_scan=${__pipwrap_scan-}
typeset -g __pipwrap_refresh_always=${__pipwrap_refresh_always-}
typeset -g __pipwrap_blocked=${__pipwrap_blocked-} __pipwrap_blocked_key=${__pipwrap_blocked_key-}
typeset -g __pipwrap_last_pwd=${__pipwrap_last_pwd-} __pipwrap_report=${__pipwrap_report-}
typeset -ga __pipwrap_env __pipwrap_watch __pipwrap_unset __pipwrap_enter __pipwrap_env_shell
typeset -g __pipwrap_isolation=${__pipwrap_isolation-}

# Runs pipwrap. An interpreter that is gone means pipwrap was reinstalled another way (or
# removed) after this shell loaded the snippet: say so instead of "no such file".
function __pipwrap_py() {
    if [[ ${__pipwrap_cli[1]} == /* && ! -x ${__pipwrap_cli[1]} ]]; then
        builtin printf '%s\n' "pipwrap moved: ${__pipwrap_cli[1]} is gone (pipwrap was reinstalled or removed); open a new shell (or re-run the init line)" >&2
        return 127
    fi
    "${__pipwrap_cli[@]}" "$@"
}
zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null

function __pipwrap_inputs() {
    # Everything the resolution depends on besides watched files.
    __pipwrap_k="${PIPWRAP_PROFILE-}"$'\x1f'"${PIPWRAP_CONFIG-}"$'\x1f'"${__pipwrap_use-}"
    __pipwrap_k+=$'\x1f'"${HOME-}"$'\x1f'"${XDG_CONFIG_HOME-}"$'\x1f'"${XDG_CONFIG_DIRS-}"
    __pipwrap_k+=$'\x1f'"${XDG_CACHE_HOME-}"$'\x1f'"${XDG_DATA_HOME-}"$'\x1f'"${VIRTUAL_ENV-}"
    __pipwrap_k+=$'\x1f'"${PIP_CONFIG_FILE-}"$'\x1f'"${PIP_CONSTRAINT-}"$'\x1f'"${PIP_REQUIREMENT-}"$'\x1f'"$PWD"
    # pip reads PIP_* in any spelling, uv its UV_* names and pdm PDM_PYPI_*: a variable
    # set after the last resolve must be seen, so every such name is part of the key.
    __pipwrap_k+=$'\x1f'"${(k)parameters[(I)PIP_*]}"$'\x1f'"${(k)parameters[(I)UV_*]}"
    __pipwrap_k+=$'\x1f'"${(k)parameters[(I)PDM_PYPI_*]}"
}

function __pipwrap_fresh() {
    emulate -L zsh
    [[ -n $__pipwrap_key && $__pipwrap_key == "$__pipwrap_k" && -z $__pipwrap_refresh_always ]] \
        || return 1
    if [[ -n $__pipwrap_expires ]] && (( ${EPOCHSECONDS:-0} >= __pipwrap_expires )); then
        return 1
    fi
    # The fence agent holds this shell's session; if it went away, register again. Where
    # /proc exists, an exited agent nobody reaped yet (a zombie, which has no exe) is gone.
    if [[ -d /proc/self ]]; then
        [[ -e /proc/${__pipwrap_agent:-none}/exe ]] || return 1
    else
        builtin kill -0 "${__pipwrap_agent:-none}" 2>/dev/null || return 1
    fi
    local __pipwrap_f __pipwrap_s
    for __pipwrap_f __pipwrap_s in "${__pipwrap_watch[@]}"; do
        if [[ -z $__pipwrap_s ]]; then
            [[ -e $__pipwrap_f ]] && return 1
        # zsh's -nt/-ot are false for a file that is gone (bash's -ot is true): a watched
        # file deleted since the last resolve must be tested for by itself.
        elif [[ ! -e $__pipwrap_s || ! -e $__pipwrap_f || $__pipwrap_f -nt $__pipwrap_s || $__pipwrap_f -ot $__pipwrap_s ]]; then
            return 1
        fi
    done
    return 0
}

function __pipwrap_refresh() {
    emulate -L zsh
    local __pipwrap_k __pipwrap_state __pipwrap_s
    __pipwrap_inputs
    __pipwrap_fresh && return 0
    __pipwrap_key=
    __pipwrap_blocked=
    __pipwrap_state=$(PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py _state zsh --pid $$) || {
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
typeset -g {{spec_re}}
function __pipwrap_needs_check() {
    emulate -L zsh
    local __pipwrap_name=${1:t} __pipwrap_path='' __pipwrap_head='' __pipwrap_a
    case $__pipwrap_name in
        ({{pip}}) ;;
        (uv) [[ -n ${__pipwrap_enter[1]-} && ${2-} == pip && ${3-} == install ]] || return 0 ;;
        ({{inert}}) return 1 ;;
        ({{checked}}) return 0 ;;
        (*)
            # A script is read by the guard (it may run an installer); a binary is not.
            if [[ $1 == */* ]]; then
                __pipwrap_path=$1
            else
                __pipwrap_path=${commands[$1]-}
            fi
            if [[ -n $__pipwrap_path ]]; then
                [[ -f $__pipwrap_path ]] || return 0
                IFS= read -r -k 4 -u 0 __pipwrap_head <"$__pipwrap_path" 2>/dev/null
                [[ $__pipwrap_head == $'\x7f'ELF ]] || return 0
            fi
            shift
            for __pipwrap_a in "$@"; do
                case $__pipwrap_a in
                    ({{source_arguments}}) return 0 ;;
                esac
            done
            return 1
            ;;
    esac
    [[ -n $__pipwrap_scan ]] && return 0
    local __pipwrap_iso=${__pipwrap_enter[1]:+1} __pipwrap_value=''
    local -a match mbegin mend
    if [[ $__pipwrap_name == uv ]]; then
        # uv pip install: each word a flag naming no source, a harmless option and its
        # value, or a requirement that is a name (extras, versions) and not a path.
        shift 3
        for __pipwrap_a in "$@"; do
            if [[ -n $__pipwrap_value ]]; then
                __pipwrap_value=
                continue
            fi
            case $__pipwrap_a in
                ({{uv_flags}}) ;;
                ({{uv_valued}}) [[ $__pipwrap_a == *=* ]] || __pipwrap_value=1 ;;
                (-*) return 0 ;;
                (*)
                    [[ $__pipwrap_a =~ $__pipwrap_spec_re ]] || return 0
                    [[ -e $__pipwrap_a || -e $match[1] ]] && return 0
                    ;;
            esac
        done
        # A value still owed: the guard says what the line means.
        [[ -n $__pipwrap_value ]]
        return
    fi
    shift
    # pip: each word is a flag harmless for its subcommand (the first word that is not a
    # flag; empty before it), or a bare project name that is not a path.
    local __pipwrap_sub=''
    for __pipwrap_a in "$@"; do
        if [[ -n $__pipwrap_value ]]; then
            __pipwrap_value=
            continue
        fi
        case $__pipwrap_sub:$__pipwrap_a in
            ({{pip_flags}}) ;;
            ({{pip_valued}})
                # Only after the subcommand: pip takes its name out of the line by its
                # first occurrence, which before it could be a value.
                [[ -n $__pipwrap_iso && -n $__pipwrap_sub ]] || return 0
                [[ $__pipwrap_a == *=* ]] || __pipwrap_value=1
                ;;
            (*:-*) return 0 ;;
            (*:[^A-Za-z0-9]*|*:*[^A-Za-z0-9._-]*)
                # A requirement with extras or versions (under isolation, after the
                # subcommand), neither it nor its name a path.
                [[ -n $__pipwrap_iso && -n $__pipwrap_sub && $__pipwrap_a =~ $__pipwrap_spec_re ]] \
                    || return 0
                [[ -e $__pipwrap_a || -e $match[1] ]] && return 0
                ;;
            (*)
                [[ -e $__pipwrap_a ]] && return 0
                [[ -n $__pipwrap_sub ]] || __pipwrap_sub=$__pipwrap_a
                ;;
        esac
    done
    [[ -n $__pipwrap_value ]]
}

function __pipwrap_wrap() {
    if (( $# == 0 )); then
        builtin printf '%s\n' \
            'usage: {{cmd}} COMMAND [ARGS...]' \
            'Runs COMMAND with the pipwrap profile'"'"'s index as its only package source.' \
            'Choose a profile for one command with PIPWRAP_PROFILE=NAME {{cmd}} ...' >&2
        return 2
    fi
    # Nothing of pipwrap's own is traced under xtrace; the user's command still is.
    local __pipwrap_traced=${options[xtrace]}
    setopt localoptions noxtrace
    __pipwrap_refresh || return
    if ! builtin whence -- "$1" >/dev/null; then
        # Said here, as the user typed it, not from inside pipwrap's function.
        builtin printf '{{cmd}}: command not found: %s\n' "$1" >&2
        return 127
    fi
    local __pipwrap_strict=
    if (( ${+functions[$1]} )); then
        # A function can run pip itself: the guard reads its body with these arguments.
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check --function-body \
            "$(builtin functions -- "$1")" -- "$@" || return
        [[ -o errexit ]] && __pipwrap_strict=1
    elif __pipwrap_needs_check "$@"; then
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check -- "$@" || return
    fi
    # Under errexit, `command || status=$?` lets a failed command come back here to say
    # the fence's refusals, but would turn errexit off inside a function, eval or source:
    # those run as they would without wrap (a failure ends the shell right there).
    [[ -o errexit ]] && case $1 in (eval|source|.) __pipwrap_strict=1 ;; esac
    # `local -x` scopes the variables to this call; zsh restores them on return, also
    # when the command is interrupted. A local without -x hides an inherited variable of
    # another spelling from the command. No `emulate` here: the command runs with the
    # user's own options.
    local -x "${__pipwrap_env[@]}"
    (( ${#__pipwrap_unset} )) && local +x "${__pipwrap_unset[@]}" && unset "${__pipwrap_unset[@]}"
    # An executable runs in the fence's network namespace, whose one way out is the fence.
    # A function or builtin runs in this shell, which no namespace can hold: it gets the
    # variables that work outside, and is refused where isolation is required.
    local -a __pipwrap_in
    __pipwrap_in=("${__pipwrap_enter[@]}")
    if (( ${#__pipwrap_in} && (${+functions[$1]} || ${+builtins[$1]}) )); then
        if [[ $__pipwrap_isolation == required ]]; then
            builtin printf '%s\n' "{{cmd}}: $1 runs in the shell, outside the network namespace that isolation = \"required\" asks for: run a script or a program instead" >&2
            return 2
        fi
        __pipwrap_in=()
        (( ${#__pipwrap_env_shell} )) && local -x "${__pipwrap_env_shell[@]}"
    fi
    local __pipwrap_s=0
    if [[ $__pipwrap_traced$__pipwrap_strict == off ]]; then
        "${__pipwrap_in[@]}" "$@" || __pipwrap_s=$?
    elif [[ $__pipwrap_traced == on ]]; then
        # Traced: the user's command; what follows it is pipwrap's own and is not.
        if [[ -n $__pipwrap_strict ]]; then
            setopt xtrace
            "${__pipwrap_in[@]}" "$@"
            { __pipwrap_s=$?; setopt noxtrace; } 2>/dev/null
        else
            setopt xtrace
            "${__pipwrap_in[@]}" "$@" || { __pipwrap_s=$?; } 2>/dev/null
            { setopt noxtrace; } 2>/dev/null
        fi
    else
        "${__pipwrap_in[@]}" "$@"
        __pipwrap_s=$?
    fi
    # The fence's refusals for this command, on its own stderr: one builtin test when
    # there are none.
    [[ -s $__pipwrap_report ]] && __pipwrap_said
    (( __pipwrap_s )) && __pipwrap_agent_check
    return $__pipwrap_s
}

# Prints what the fence agent wrote for this shell's session and empties the file (the
# agent says each refusal once per command: an empty file means a new command).
function __pipwrap_said() {
    emulate -L zsh
    local -a __pipwrap_lines
    __pipwrap_lines=("${(@f)$(<$__pipwrap_report)}")
    : >|$__pipwrap_report
    builtin printf '%s\n' "${__pipwrap_lines[@]}" >&2
}

# A failed command whose fence went away meanwhile: its requests failed for that reason.
function __pipwrap_agent_check() {
    emulate -L zsh
    if [[ -d /proc/self ]]; then
        [[ -e /proc/${__pipwrap_agent:-none}/exe ]] && return 0
    else
        builtin kill -0 "${__pipwrap_agent:-none}" 2>/dev/null && return 0
    fi
    builtin printf '%s\n' "pipwrap: the fence agent exited during this command (pid ${__pipwrap_agent:-?}); its network requests failed. The next {{cmd}} starts a new agent." >&2
}

# For prompts: keeps PIPWRAP_PROMPT_PROFILE (exported, so starship's env_var module sees
# it) current. Opt in with precmd_functions+=(__pipwrap_prompt_update); a PROMPT that
# names $PIPWRAP_PROMPT_PROFILE needs `setopt PROMPT_SUBST`. Python runs only when an input
# changed (a cd, `pipwrap use`, an edit), never on an unchanged prompt. A .pipwrap.toml
# not allowed yet shows as "(blocked)", with one line said after the `cd` (as direnv does).
function __pipwrap_prompt_update() {
    setopt localoptions noxtrace
    local __pipwrap_k
    __pipwrap_inputs
    if [[ -n $__pipwrap_blocked && $__pipwrap_blocked_key == "$__pipwrap_k" ]]; then
        __pipwrap_last_pwd=$PWD
        return 0
    fi
    __pipwrap_blocked_key=
    if __pipwrap_refresh 2>/dev/null; then
        export PIPWRAP_PROMPT_PROFILE=$__pipwrap_profile
    elif [[ -n $__pipwrap_blocked ]]; then
        export PIPWRAP_PROMPT_PROFILE='(blocked)'
        __pipwrap_blocked_key=$__pipwrap_k
        [[ $__pipwrap_last_pwd == "$PWD" ]] || builtin printf '%s\n' "pipwrap: $__pipwrap_blocked is blocked: review it, then run \`pipwrap allow\` (or \`pipwrap deny\`)" >&2
    else
        export PIPWRAP_PROMPT_PROFILE=
    fi
    __pipwrap_last_pwd=$PWD
}

# `pipwrap use NAME` must change this shell, so it is handled here.
function pipwrap() {
    __pipwrap_blocked_key=  # `pipwrap allow` (or any edit) may unblock: ask again
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
            PIPWRAP_SHELL_PROFILE=$2 __pipwrap_py show --quiet "$2" || return
            __pipwrap_use=$2
            ;;
        (*)
            # $$ is this shell even inside `$(...)`: `eval "$(pipwrap env)"` gives its
            # fence session to the shell, not to the subshell that exits at once.
            PIPWRAP_SHELL_PID=$$ PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py "$@"
            ;;
    esac
}

# A function for scripts that turn aliases off; `function NAME` is never itself
# alias-expanded, so loading this twice is safe.
builtin unalias {{cmd}} 2>/dev/null || :
function {{cmd}} {
    __pipwrap_wrap "$@"
}
# The trailing space makes zsh expand an alias in the next word: `wrap _p install`.
builtin alias {{cmd}}='__pipwrap_wrap '
