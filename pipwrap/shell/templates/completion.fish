
complete -c pipwrap -f
complete -c pipwrap -n __fish_use_subcommand -a {{commands}}
{{described}}
# After `wrap`, complete the wrapped command and its arguments, as after `sudo`.
complete -c {{cmd}} -x -a '(__fish_complete_subcommand)'
complete -c pipwrap -n '__fish_seen_subcommand_from {{profile_commands_bare}}' -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -l profile -s p -x -a '($__pipwrap_cli _names 2>/dev/null)'
complete -c pipwrap -n '__fish_seen_subcommand_from init' -a 'bash zsh fish'
