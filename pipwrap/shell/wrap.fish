# pipwrap shell integration for fish >= 3.5 (printed by `pipwrap init fish`).
# __pipwrap_cli (the command that runs pipwrap) is defined just above this text.
# fish's `alias` defines functions, so `wrap _p install` needs no trailing-space trick.

set -q __pipwrap_key; or set -g __pipwrap_key ''
set -q __pipwrap_use; or set -g __pipwrap_use ''
set -q __pipwrap_scan; or set -g __pipwrap_scan ''
set -q __pipwrap_expires; or set -g __pipwrap_expires ''

function __pipwrap_inputs
    # Everything the resolution depends on besides watched files.
    string join \x1f -- "$PIPWRAP_PROFILE" "$PIPWRAP_CONFIG" "$__pipwrap_use" "$HOME" \
        "$XDG_CONFIG_HOME" "$XDG_CONFIG_DIRS" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$VIRTUAL_ENV" \
        "$PIP_CONFIG_FILE" "$PIP_CONSTRAINT" "$PIP_REQUIREMENT" "$PWD"
end

function __pipwrap_fresh --argument-names key
    test -n "$__pipwrap_key"; and test "$__pipwrap_key" = "$key"; or return 1
    # fish has no builtin clock: a secret with an expiry is asked for every time.
    test -z "$__pipwrap_expires"; or return 1
    set -l count (count $__pipwrap_watch)
    for i in (seq 1 2 $count)
        set -l f $__pipwrap_watch[$i]
        set -l s $__pipwrap_watch[(math $i + 1)]
        if test -z "$s"
            test -e "$f"; and return 1
        else if not test -e "$s"; or test "$f" -nt "$s"; or test "$f" -ot "$s"
            return 1
        end
    end
    return 0
end

function __pipwrap_refresh
    set -l key (__pipwrap_inputs)
    __pipwrap_fresh "$key"; and return 0
    set -g __pipwrap_key ''
    set -l state (PIPWRAP_SHELL_PROFILE=$__pipwrap_use $__pipwrap_cli _state fish --pid $fish_pid)
    or return
    string join \n -- $state | source
    set -g __pipwrap_key $key
end

# True when the command may be pip-like with arguments only Python can judge.
function __pipwrap_needs_check
    set -l name (string replace -r '.*/' '' -- $argv[1])
    set -e argv[1]
    switch $name
        case pip 'pip[0-9]' 'pip[0-9].*' 'pip[0-9][0-9].*'
        case 'python*' py 'pypy*'
            if test "$argv[1]" = -m -a "$argv[2]" = pip
                set -e argv[1..2]
            else
                string match -q -- '*pip*' $argv; and return 0
                return 1
            end
        case uv
            test "$argv[1]" = pip; or return 0
            set -e argv[1]
        case '*'
            return 1
    end
    test -n "$__pipwrap_scan"; and return 0
    for a in $argv
        switch $a
            case -- -- -U --upgrade -q -qq -qqq --quiet -v -vv -vvv --verbose --user --no-deps \
                --pre --force-reinstall -I --ignore-installed --no-cache-dir --dry-run \
                --no-input --disable-pip-version-check --require-virtualenv --no-index -y \
                --yes --no-color -e --editable --break-system-packages --no-build-isolation \
                --no-warn-script-location --prefer-binary --only-binary=:all: --system \
                '--upgrade-strategy=*' -h --help
            case '-*'
                return 0
        end
    end
    return 1
end

function __pipwrap_wrap --description 'Run a command with the pipwrap profile as its only index'
    if test (count $argv) -eq 0
        printf '%s\n' 'usage: wrap COMMAND [ARGS...]' \
            "Runs COMMAND with the pipwrap profile's index as its only package source." \
            'Choose a profile for one command with PIPWRAP_PROFILE=NAME wrap ...' >&2
        return 2
    end
    __pipwrap_refresh; or return
    if __pipwrap_needs_check $argv
        $__pipwrap_cli check -- $argv; or return
    end
    # Function-scoped exports vanish when this call returns, also on Ctrl-C.
    for assignment in $__pipwrap_env
        set -l pair (string split -m 1 = -- $assignment)
        set -fx $pair[1] $pair[2]
    end
    $argv
end

function wrap --wraps __pipwrap_wrap --description 'Run a command with the pipwrap profile as its only index'
    __pipwrap_wrap $argv
end

# `pipwrap use NAME` must change this shell, so it is handled here.
function pipwrap --description 'pipwrap: choose and inspect package index profiles'
    if test "$argv[1]" = use
        switch "$argv[2]"
            case --off -
                set -g __pipwrap_use ''
                return 0
            case '' -h --help
                printf '%s\n' 'usage: pipwrap use NAME | --off' >&2
                return 2
        end
        PIPWRAP_SHELL_PROFILE=$argv[2] $__pipwrap_cli show --quiet $argv[2]; or return
        set -g __pipwrap_use $argv[2]
        return 0
    end
    PIPWRAP_SHELL_PROFILE=$__pipwrap_use $__pipwrap_cli $argv
end
