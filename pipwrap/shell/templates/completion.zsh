
function _pipwrap() {
    local key=${words[2]}
    local -a described
    # A nested command (`pipwrap repo ACTION`): each action has its own options.
    if [[ $key == ({{nested_names}}) ]] && (( CURRENT > 3 )); then
        key="$key ${words[3]}"
    fi
    if (( CURRENT == 2 )); then
        described=({{described_commands}})
        _describe -t commands 'pipwrap command' described
    elif [[ $PREFIX == -* ]]; then
        case $key in
{{option_cases}}        esac
    elif (( CURRENT == 3 )) && [[ $key == ({{nested_names}}) ]]; then
        case $key in
{{action_cases}}        esac
    elif [[ ${words[CURRENT-1]} == (--profile|-p) || " "{{profile_commands}}" " == *" ${words[2]} "* ]]; then
        compadd -- ${(f)"$("${__pipwrap_cli[@]}" _names 2>/dev/null)"}
    elif [[ ${words[2]} == init ]]; then
        compadd -- bash zsh fish
    fi
}
# compdef exists once the user's compinit has run: now, or (when this line comes before
# compinit in .zshrc) at the first prompt. After `wrap`, the wrapped command completes as
# after `sudo` (a function whose name starts with `__` gets no default completion in zsh,
# and the alias `wrap` expands to it, so both are registered by name).
function __pipwrap_compdef() {
    (( ${+functions[compdef]} )) || return 0
    compdef _pipwrap pipwrap
    compdef _precommand {{cmd}} __pipwrap_wrap
    precmd_functions=(${precmd_functions:#__pipwrap_compdef})
}
if (( ${+functions[compdef]} )); then
    __pipwrap_compdef
else
    typeset -ga precmd_functions
    precmd_functions+=(__pipwrap_compdef)
    # Without compinit (zsh's completion system), zsh still has its older compctl: enough
    # for `pipwrap <Tab>` and `pipwrap use <Tab>`. compinit, if it runs later, takes over.
    if zmodload -i zsh/compctl 2>/dev/null; then
        function __pipwrap_compctl() {
            local -a __pipwrap_words
            local __pipwrap_n
            read -cA __pipwrap_words
            read -cn __pipwrap_n
            reply=()
            if (( __pipwrap_n == 2 )); then
                reply=({{commands}})
            elif (( __pipwrap_n == 3 )) && [[ ${__pipwrap_words[2]} == ({{nested_names}}) ]]; then
                case ${__pipwrap_words[2]} in
{{compctl_action_cases}}                esac
            elif [[ ${__pipwrap_words[2]} == init ]]; then
                reply=(bash zsh fish)
            elif [[ ${__pipwrap_words[__pipwrap_n-1]} == (--profile|-p) || " "{{profile_commands}}" " == *" ${__pipwrap_words[2]} "* ]]; then
                reply=(${(f)"$("${__pipwrap_cli[@]}" _names 2>/dev/null)"})
            fi
        }
        compctl -K __pipwrap_compctl pipwrap
    fi
fi
