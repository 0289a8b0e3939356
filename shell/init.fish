# pipwrap for fish, from a checkout: add to ~/.config/fish/config.fish
#     source /path/to/pipwrap/shell/init.fish
# Set PIPWRAP_PYTHON to choose the interpreter (default: python3).
set -l __pipwrap_root (path resolve (status dirname)/..)
set -l __pipwrap_python python3
set -q PIPWRAP_PYTHON; and set __pipwrap_python $PIPWRAP_PYTHON
set -l __pipwrap_code ($__pipwrap_python -I -c 'import sys;sys.path.insert(0,sys.argv.pop(1));from pipwrap.cli import main_entry;main_entry()' $__pipwrap_root init fish)
or begin
    echo 'pipwrap: could not load pipwrap from this checkout' >&2
    return 1
end
string join \n -- $__pipwrap_code | source
