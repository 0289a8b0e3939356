# pipwrap shell integration for fish >= 3.5 (printed by `pipwrap init fish`).
# The command that runs pipwrap (this pipwrap's interpreter and package):
{{cli}}
# fish's `alias` defines functions, so `wrap _p install` needs no trailing-space trick.

set -q __pipwrap_key; or set -g __pipwrap_key ''
set -q __pipwrap_use; or set -g __pipwrap_use ''
set -q __pipwrap_scan; or set -g __pipwrap_scan ''
set -q __pipwrap_expires; or set -g __pipwrap_expires ''
set -q __pipwrap_agent; or set -g __pipwrap_agent none
set -q __pipwrap_refresh_always; or set -g __pipwrap_refresh_always ''
set -q __pipwrap_unset; or set -g __pipwrap_unset
set -q __pipwrap_blocked; or set -g __pipwrap_blocked ''
set -q __pipwrap_last_pwd; or set -g __pipwrap_last_pwd ''
set -q __pipwrap_report; or set -g __pipwrap_report ''
set -q __pipwrap_enter; or set -g __pipwrap_enter
set -q __pipwrap_isolation; or set -g __pipwrap_isolation ''

# Runs pipwrap. An interpreter that is gone means pipwrap was reinstalled another way (or
# removed) after this shell loaded the snippet: say so instead of "unknown command".
function __pipwrap_py
    if string match -q -- '/*' $__pipwrap_cli[1]; and not test -x $__pipwrap_cli[1]
        printf '%s\n' "pipwrap moved: $__pipwrap_cli[1] is gone (pipwrap was reinstalled or removed); open a new shell (or re-run the init line)" >&2
        return 127
    end
    $__pipwrap_cli $argv
end

function __pipwrap_fresh --argument-names key
    test -n "$__pipwrap_key"; and test "$__pipwrap_key" = "$key"; or return 1
    test -z "$__pipwrap_refresh_always"; or return 1
    # fish has no builtin clock, so only a secret with an expiry costs a `date`.
    if test -n "$__pipwrap_expires"
        test (command date +%s) -lt "$__pipwrap_expires"; or return 1
    end
    # One builtin call, no command substitution: this runs on every call. The expression
    # (from _state) says: no file that was absent exists now, and every stamp still exists
    # with the same mtime as its file.
    test $__pipwrap_watch_test; or return 1
    # The fence agent holds this shell's session; if it went away, register again (fish
    # has no builtin kill: where /proc exists, an agent that exited has no exe there).
    if test -d /proc/self
        test -e /proc/$__pipwrap_agent/exe; or return 1
    end
    return 0
end

function __pipwrap_refresh
    # Everything the resolution depends on besides watched files. Quoted, each variable
    # is exactly one word, so the key is one string.
    set -l key "$PIPWRAP_PROFILE"\x1f"$PIPWRAP_CONFIG"\x1f"$__pipwrap_use"\x1f"$HOME"
    set key "$key"\x1f"$XDG_CONFIG_HOME"\x1f"$XDG_CONFIG_DIRS"\x1f"$XDG_CACHE_HOME"
    set key "$key"\x1f"$XDG_DATA_HOME"\x1f"$VIRTUAL_ENV"\x1f"$PIP_CONFIG_FILE"
    set key "$key"\x1f"$PIP_CONSTRAINT"\x1f"$PIP_REQUIREMENT"\x1f"$PWD"
    # pip reads PIP_* in any spelling and uv its UV_* names: a variable set after the
    # last resolve must be seen, so every such name is part of the key.
    # Only exported names matter (pip and uv read the environment). All of them, not just
    # PIP_*/UV_*: filtering costs fish more than the rare extra resolve after an export.
    # Quoted, so the key never becomes an empty list.
    set key "$key"\x1f"$(set -xn)"
    __pipwrap_fresh "$key"; and return 0
    set -g __pipwrap_key ''
    set -g __pipwrap_blocked ''
    set -l state (PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py _state fish --pid $fish_pid)
    or begin
        set -l s $status
        # A .pipwrap.toml not allowed yet: _state names it (for the prompt) and fails.
        string match -q -- 'set -g __pipwrap_blocked *' "$state"; and string join \n -- $state | source
        return $s
    end
    string join \n -- $state | source
    set -g __pipwrap_key $key
end

# True when the command needs the Python guard. The lists are the guard's own, filled in
# from pipwrap/guard/fastpath.py when `pipwrap init` renders this file; the shell lets a
# command through unasked only when the guard would let it through too. Where the
# session's network isolation is in force (__pipwrap_enter is set: the command runs in
# the fence's namespace), it also lets through plain `uv pip install` and pip's harmless
# options with values and requirements with versions; the network is the last line there.
# The regular expression's named group sets the requirement's name (__pipwrap_req).
{{spec_re}}
function __pipwrap_needs_check
    set -l name $argv[1]
    string match -q -- '*/*' $name; and set name (string replace -r '.*/' '' -- $name)
    switch $name
        case {{pip}}
        case uv
            set -q __pipwrap_enter[1]; and test "$argv[2]" = pip; and test "$argv[3]" = install
            or return 0
        case {{inert}}
            return 1
        case {{checked}}
            return 0
        case '*'
            # A script is read by the guard (it may run an installer); a binary is not.
            set -l path
            if string match -q -- '*/*' $argv[1]
                set path $argv[1]
            else
                set path (command -s -- $argv[1])
            end
            if test -n "$path"
                test -f "$path"; or return 0
                set -l head
                read -l -n 4 head <$path 2>/dev/null
                test "$head" = \x7fELF; or return 0
            end
            for a in $argv[2..-1]
                switch $a
                    case {{source_arguments}}
                        return 0
                end
            end
            return 1
    end
    test -n "$__pipwrap_scan"; and return 0
    set -l value
    set -l iso
    set -q __pipwrap_enter[1]; and set iso 1
    if test "$name" = uv
        # uv pip install: each word a flag naming no source, a harmless option and its
        # value, or a requirement that is a name (extras, versions) and not a path.
        for a in $argv[4..-1]
            if test -n "$value"
                set value
                continue
            end
            switch $a
                case {{uv_flags}}
                case {{uv_valued}}
                    string match -q -- '*=*' $a; or set value 1
                case '-*'
                    return 0
                case '*'
                    string match -qr -- $__pipwrap_spec_re $a; or return 0
                    test -e $a; or test -e $__pipwrap_req; and return 0
            end
        end
        # A value still owed: the guard says what the line means.
        test -n "$value"
        return
    end
    # pip: each word is a flag harmless for its subcommand (the first word that is not a
    # flag; empty before it), or a bare project name that is not a path.
    set -l sub ''
    for a in $argv[2..-1]
        if test -n "$value"
            set value
            continue
        end
        switch "$sub:$a"
            case {{pip_flags}}
            case {{pip_valued}}
                # Only after the subcommand: pip takes its name out of the line by its
                # first occurrence, which before it could be a value.
                test -n "$iso"; and test -n "$sub"; or return 0
                string match -q -- '*=*' $a; or set value 1
            case '*:-*'
                return 0
            case '*'
                if not string match -qr -- '^[A-Za-z0-9][A-Za-z0-9._-]*$' $a
                    # A requirement with extras or versions (under isolation, after the
                    # subcommand), neither it nor its name a path.
                    test -n "$iso"; and test -n "$sub"; or return 0
                    string match -qr -- $__pipwrap_spec_re $a; or return 0
                    test -e $a; or test -e $__pipwrap_req; and return 0
                    continue
                end
                test -e $a; and return 0
                test -n "$sub"; or set sub $a
        end
    end
    test -n "$value"
end

function __pipwrap_wrap --description 'Run a command with the pipwrap profile as its only index'
    if not set -q argv[1]
        printf '%s\n' 'usage: {{cmd}} COMMAND [ARGS...]' \
            "Runs COMMAND with the pipwrap profile's index as its only package source." \
            'Choose a profile for one command with PIPWRAP_PROFILE=NAME {{cmd}} ...' >&2
        return 2
    end
    # Nothing of pipwrap's own is traced under fish_trace; the user's command still is.
    set -l __pipwrap_trace $fish_trace
    set -l fish_trace
    __pipwrap_refresh; or return
    if not command -q -- $argv[1]; and not functions -q -- $argv[1]; and not builtin -q -- $argv[1]
        # Said here, as the user typed it, not as a trace through pipwrap's functions.
        printf '{{cmd}}: command not found: %s\n' $argv[1] >&2
        return 127
    end
    if functions -q -- $argv[1]
        # A function (fish aliases are functions) can run pip itself: the guard reads
        # its body with these arguments.
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check --function-body \
            (functions -- $argv[1] | string collect) -- $argv; or return
    else if __pipwrap_needs_check $argv
        PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py check -- $argv; or return
    end
    # Function-scoped exports vanish when this call returns, also on Ctrl-C. An
    # unexported local hides an inherited variable of another spelling from the command.
    for i in $__pipwrap_env_index
        set -fx $__pipwrap_env_names[$i] $__pipwrap_env_values[$i]
    end
    for name in $__pipwrap_unset
        set -fu $name
    end
    # A program runs in the fence's network namespace, whose one way out is the fence. A
    # function or builtin runs in this shell, which no namespace can hold: it gets the
    # variables that work outside, and is refused where isolation is required.
    set -l __pipwrap_run $__pipwrap_enter $argv
    if set -q __pipwrap_enter[1]; and begin; functions -q -- $argv[1]; or builtin -q -- $argv[1]; end
        if test "$__pipwrap_isolation" = required
            printf '%s\n' "{{cmd}}: $argv[1] runs in the shell, outside the network namespace that isolation = \"required\" asks for: run a script or a program instead" >&2
            return 2
        end
        set __pipwrap_run $argv
        for i in $__pipwrap_shell_index
            set -fx $__pipwrap_shell_names[$i] $__pipwrap_shell_values[$i]
        end
    end
    if test -n "$__pipwrap_trace"
        __pipwrap_traced $__pipwrap_run
    else
        $__pipwrap_run
    end
    set -l s $status
    # The fence's refusals for this command, on its own stderr: one builtin test when
    # there are none.
    test -s "$__pipwrap_report"; and __pipwrap_said
    test $s -eq 0; or __pipwrap_agent_check
    return $s
end

# The user's command, traced; tracing ends with this function, so what follows it in
# __pipwrap_wrap is not. It sees the caller's variables (the exports, the hidden ones).
function __pipwrap_traced --no-scope-shadowing
    set -l fish_trace $__pipwrap_trace
    $argv
end

# Prints what the fence agent wrote for this shell's session and empties the file (the
# agent says each refusal once per command: an empty file means a new command).
function __pipwrap_said
    set -l lines
    while read -l line
        set -a lines $line
    end <$__pipwrap_report
    true >$__pipwrap_report
    printf '%s\n' $lines >&2
end

# A failed command whose fence went away meanwhile: its requests failed for that reason
# (fish has no builtin kill: only where /proc shows it).
function __pipwrap_agent_check
    if test -d /proc/self; and not test -e /proc/$__pipwrap_agent/exe
        printf '%s\n' "pipwrap: the fence agent exited during this command (pid $__pipwrap_agent); its network requests failed. The next {{cmd}} starts a new agent." >&2
    end
end

function {{cmd}} --wraps __pipwrap_wrap --description 'Run a command with the pipwrap profile as its only index'
    __pipwrap_wrap $argv
end

# For prompts: PIPWRAP_PROMPT_PROFILE (exported, so starship's env_var module sees it) is
# kept current by calling this at the start of fish_prompt. Python runs only when an input
# changed (a cd, `pipwrap use`, an edit), never on an unchanged prompt. A .pipwrap.toml
# not allowed yet shows as "(blocked)", with one line said after the `cd` (as direnv does).
function __pipwrap_prompt_update
    set -l fish_trace
    # Still blocked here (no cd, no pipwrap command since): no Python on every prompt.
    if test -n "$__pipwrap_blocked"; and test "$__pipwrap_last_pwd" = "$PWD"
        and test "$PIPWRAP_PROMPT_PROFILE" = '(blocked)'
        return 0
    end
    if __pipwrap_refresh 2>/dev/null
        set -gx PIPWRAP_PROMPT_PROFILE $__pipwrap_profile
    else if test -n "$__pipwrap_blocked"
        set -gx PIPWRAP_PROMPT_PROFILE '(blocked)'
        test "$__pipwrap_last_pwd" = "$PWD"; or printf '%s\n' "pipwrap: $__pipwrap_blocked is blocked: review it, then run `pipwrap allow` (or `pipwrap deny`)" >&2
    else
        set -gx PIPWRAP_PROMPT_PROFILE ''
    end
    set -g __pipwrap_last_pwd $PWD
end

# `pipwrap use NAME` must change this shell, so it is handled here.
function pipwrap --description 'pipwrap: choose and inspect package index profiles'
    set -g __pipwrap_blocked ''  # `pipwrap allow` (or any edit) may unblock: ask again
    if test "$argv[1]" = use
        switch "$argv[2]"
            case --off -
                set -g __pipwrap_use ''
                return 0
            case '' -h --help
                printf '%s\n' 'usage: pipwrap use NAME | --off' >&2
                return 2
        end
        PIPWRAP_SHELL_PROFILE=$argv[2] __pipwrap_py show --quiet $argv[2]; or return
        set -g __pipwrap_use $argv[2]
        return 0
    end
    # `pipwrap env --reveal --format fish | source` gives its fence session to this shell.
    PIPWRAP_SHELL_PID=$fish_pid PIPWRAP_SHELL_PROFILE=$__pipwrap_use __pipwrap_py $argv
end
