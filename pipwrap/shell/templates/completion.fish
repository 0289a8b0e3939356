
complete -c pipwrap -f
function __pipwrap_words --description 'words typed after pipwrap, options aside'
    set -l typed (commandline -opc)
    set -e typed[1]
    for word in $typed
        string match -q -- '-*' $word; or echo $word
    end
end
function __pipwrap_after --description 'the words typed after pipwrap are exactly these'
    set -l typed (__pipwrap_words)
    test "$typed" = "$argv"
end
function __pipwrap_under --description 'the words typed after pipwrap start with these'
    set -l typed (__pipwrap_words)
    set -l wanted (count $argv)
    test (count $typed) -ge $wanted; and test "$typed[1..$wanted]" = "$argv"
end
function __pipwrap_first --description 'the first word typed after pipwrap is one of these'
    set -l typed (__pipwrap_words)
    set -q typed[1]; and contains -- $typed[1] $argv
end
{{described}}
# After `wrap`, complete the wrapped command and its arguments, as after `sudo`.
complete -c {{cmd}} -x -a '(__fish_complete_subcommand)'
complete -c pipwrap -n '__pipwrap_first {{profile_commands_bare}}' -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -l profile -s p -x -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -n '__pipwrap_after init' -a 'bash zsh fish'
