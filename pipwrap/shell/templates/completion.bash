
__pipwrap_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=
    if (( COMP_CWORD == 1 )); then
        words={{commands}}
    elif [[ $cur == -* ]]; then
        case ${COMP_WORDS[1]} in
{{option_cases}}        esac
    elif [[ $prev == --profile || $prev == -p || " "{{profile_commands}}" " == *" ${COMP_WORDS[1]} "* ]]; then
        words=$("${__pipwrap_cli[@]}" _names 2>/dev/null)
    elif [[ ${COMP_WORDS[1]} == init ]]; then
        words='bash zsh fish'
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F __pipwrap_complete pipwrap
# After `wrap`, complete the wrapped command as `sudo` does: bash-completion's own helper
# when it is loaded, else command names, then files.
__pipwrap_complete_wrap() {
    if \builtin declare -F _command_offset >/dev/null; then
        _command_offset 1
    elif (( COMP_CWORD == 1 )); then
        mapfile -t COMPREPLY < <(compgen -c -- "${COMP_WORDS[1]}")
    fi
}
complete -o default -o bashdefault -F __pipwrap_complete_wrap {{cmd}}
