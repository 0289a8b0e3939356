# shellcheck shell=bash
# Shared by demo.sh and test.sh: install into .venv from the default index only.
#
# This machine's (and many users') pip.conf and PIP_*/UV_* variables add other sources;
# pipwrap's own set-up must not be steered by them any more than a wrapped command is.

# clean_pip CMD ARGS...: run CMD with no pip config file and no inherited PIP_*/UV_*.
clean_pip() {
    local unset_args=() name
    while IFS= read -r name; do
        unset_args+=(-u "$name")
    done < <(compgen -e | grep -E '^(PIP|UV)_' || true)
    env "${unset_args[@]}" PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_NO_INPUT=1 "$@"
}

# ensure_venv EXTRAS: .venv with pipwrap (editable) and the given extras, quietly.
ensure_venv() {
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    local log
    log=$(mktemp)
    if ! clean_pip .venv/bin/python -m pip install -q -e ".[$1]" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "error: installing pipwrap and its tools into .venv failed (see above)" >&2
        return 1
    fi
    rm -f "$log"
}
