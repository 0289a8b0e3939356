#!/usr/bin/env bash
# The whole pipwrap story on a fresh machine, end to end and on loopback only:
# install pipwrap, host a local repository with `pipwrap repo add` + `pipwrap serve` (its
# fallback is an "upstream" index that carries an attacker's higher version), and
# `wrap pip install` into a fresh venv.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
echo "== installing pipwrap into .venv (from the default index only)"
ensure_venv test

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A clean world: own HOME, no pip config or PIP_*/UV_* from this machine.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(PIP|UV)_' || true)
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache
export XDG_DATA_HOME=$work/home/.local/share XDG_CONFIG_DIRS=$work/xdg
export PIP_DISABLE_PIP_VERSION_CHECK=1
mkdir -p "$HOME"

echo "== building demo packages"
.venv/bin/python - "$work" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.wheels import make_wheel
root = Path(sys.argv[1])
make_wheel(root / "dist", "hello-pipwrap", "1.0", "your local index")
make_wheel(root / "upstream", "hello-pipwrap", "9.9.9", "an attacker upstream")
make_wheel(root / "upstream", "tiny-dep", "2.0", "upstream (fallback)")
PY

free_port() {
    .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
    for _ in $(seq 100); do
        .venv/bin/python -c "import urllib.request as u; u.urlopen('$1')" 2>/dev/null && return
        sleep 0.1
    done
    echo "error: $1 did not answer" >&2
    return 1
}
# "Upstream": a public index stand-in, here a pypiserver with the attacker's 9.9.9.
up=$(free_port)
.venv/bin/python -m pypiserver run -i 127.0.0.1 -p "$up" -a . -P . --server wsgiref \
    --disable-fallback "$work/upstream" >/dev/null 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$up/simple/"

echo "== pipwrap repo add dist/hello_pipwrap-1.0-py3-none-any.whl   (into the default repo)"
.venv/bin/pipwrap repo add "$work"/dist/*.whl | sed 's/^/   /'
local_port=$(free_port)
echo "== pipwrap serve --port $local_port --fallback http://127.0.0.1:$up/simple/"
.venv/bin/pipwrap serve --port "$local_port" --fallback "http://127.0.0.1:$up/simple/" \
    2>"$work/serve.log" &
pids+=($!)
wait_for "http://127.0.0.1:$local_port/simple/"
echo "   local-first: hello-pipwrap is held here, anything else is redirected upstream"

echo "== pipwrap add local http://127.0.0.1:$local_port/simple/   (the first profile is the default)"
.venv/bin/pipwrap add local "http://127.0.0.1:$local_port/simple/" | sed 's/^/   /'
echo "== pipwrap test"
.venv/bin/pipwrap test | sed 's/^/   /'

# The leak pipwrap exists for: a pip.conf that also looks upstream.
mkdir -p "$XDG_CONFIG_HOME/pip"
printf '[global]\nextra-index-url = http://127.0.0.1:%s/simple/\n' "$up" > "$XDG_CONFIG_HOME/pip/pip.conf"

python3 -m venv "$work/venv"
export PIPWRAP_PYTHON=$repo/.venv/bin/python
bash --norc -c '
    shopt -s expand_aliases
    source "$1/shell/init.sh"
    source "$2/venv/bin/activate"
    origin() { python -c "import hello_pipwrap as h; print(h.VERSION, \"from\", h.ORIGIN)"; }
    echo "== without pipwrap: PIP_INDEX_URL=<local> pip install hello-pipwrap"
    PIP_INDEX_URL=http://127.0.0.1:$3/simple/ pip install -q hello-pipwrap
    echo "   got: $(origin)"
    pip uninstall -q -y hello-pipwrap
    echo "== with pipwrap: wrap pip install hello-pipwrap tiny-dep"
    wrap pip install -q hello-pipwrap tiny-dep
    echo "   got: $(origin); tiny-dep $(python -c "import tiny_dep as t; print(t.VERSION, \"from\", t.ORIGIN)")"
    echo "== and an extra index on the command line is refused:"
    wrap pip install --extra-index-url http://127.0.0.1:$4/simple/ hello-pipwrap || echo "   (exit status $?)"
' demo "$repo" "$work" "$local_port" "$up"
echo "== pipwrap doctor"
.venv/bin/pipwrap doctor || true
