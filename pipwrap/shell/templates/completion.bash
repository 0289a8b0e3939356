
__pipwrap_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words='' actions=''
    local key=${COMP_WORDS[1]}
    # A nested command (`pipwrap repo ACTION`): its actions, then each action's options.
    case $key in
{{action_cases}}    esac
    if [[ -n $actions ]] && (( COMP_CWORD > 2 )); then
        key="$key ${COMP_WORDS[2]}"
    fi
    if (( COMP_CWORD == 1 )); then
        words={{commands}}
    elif [[ $cur == -* ]]; then
        case $key in
{{option_cases}}        esac
    elif [[ -n $actions ]] && (( COMP_CWORD == 2 )); then
        words=$actions
    elif [[ $prev == --profile || $prev == -p || " "{{profile_commands}}" " == *" ${COMP_WORDS[1]} "* ]]; then
        words=$("${__pipwrap_cli[@]}" _names 2>/dev/null)
    elif [[ ${COMP_WORDS[1]} == init ]]; then
        words='bash zsh fish'
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F __pipwrap_complete pipwrap
# After `wrap`, complete the wrapped command as `sudo` does: bash-completion's own helper
# when it is loaded; without it (the package is not installed, or not sourced), command
# names, then the wrapped command's own completion function if it has one (`pip completion
# --bash`, for one), else files.
__pipwrap_complete_wrap() {
    if \builtin declare -F _command_offset >/dev/null; then
        _command_offset 1
        return
    fi
    if (( COMP_CWORD == 1 )); then
        mapfile -t COMPREPLY < <(compgen -c -- "${COMP_WORDS[1]}")
        return
    fi
    local __pipwrap_spec __pipwrap_re='(^| )-F ([^ ]+)' __pipwrap_rest
    __pipwrap_spec=$(complete -p -- "${COMP_WORDS[1]}" 2>/dev/null) || return 0
    [[ $__pipwrap_spec =~ $__pipwrap_re ]] || return 0
    # The line as if it started at the wrapped command.
    __pipwrap_rest=${COMP_LINE#"${COMP_LINE%%[![:space:]]*}"}
    __pipwrap_rest=${__pipwrap_rest#"${COMP_WORDS[0]}"}
    __pipwrap_rest=${__pipwrap_rest#"${__pipwrap_rest%%[![:space:]]*}"}
    local COMP_POINT=$(( COMP_POINT - ${#COMP_LINE} + ${#__pipwrap_rest} ))
    local COMP_LINE=$__pipwrap_rest COMP_CWORD=$(( COMP_CWORD - 1 ))
    local -a COMP_WORDS=("${COMP_WORDS[@]:1}")
    "${BASH_REMATCH[2]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
        "${COMP_WORDS[COMP_CWORD-1]}"
}
complete -o default -o bashdefault -F __pipwrap_complete_wrap {{cmd}}
