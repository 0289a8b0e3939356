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
# The snippets themselves are checked as rendered, with every option: tests/unit/test_shell_render.py
fish --no-execute shell/init.fish

# What a packager or PyPI gets: the sdist, the wheel built from it (with build isolation),
# and their metadata as PyPI will render it. The tests build their own copy
# (tests/functional/test_packaging.py) to install and run it.
rm -f dist/pipwrap_cli-*
if ! build_log=$(clean_pip .venv/bin/python -m build --outdir dist . 2>&1); then
    printf '%s\n' "$build_log" >&2
    exit 1
fi
.venv/bin/twine check --strict dist/pipwrap_cli-*

exec .venv/bin/python -m pytest "$@"
