#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then lint, type-check and
# run the tests. Extra arguments go to pytest (e.g. ./scripts/test.sh -k guard).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in zsh fish shellcheck; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# nginx serves the static index in the hosting tests (its daemon is not needed: the tests
# start their own on loopback with `pipwrap repo nginx-conf --standalone`).
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_venv test,lint

.venv/bin/ruff check pipwrap tests benchmarks scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
shellcheck -s bash shell/init.sh
shellcheck -x scripts/*.sh
# The snippets themselves are checked as rendered, with every option: tests/test_shell_render.py
fish --no-execute shell/init.fish

exec .venv/bin/python -m pytest "$@"
