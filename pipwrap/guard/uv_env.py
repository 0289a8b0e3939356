"""uv's environment variables, classified (placeholder until the uv table lands).

Every ``UV_*`` variable not listed as harmless or as naming files is removed from a
wrapped command's environment.
"""

from __future__ import annotations

# Variables that name requirement-like files the guard follows and scans: kind per name.
FILES: dict[str, str] = {
    "UV_CONSTRAINT": "constraint",
    "UV_OVERRIDE": "constraint",
    "UV_BUILD_CONSTRAINT": "constraint",
}

# Variables that cannot add or widen a package source.
HARMLESS: frozenset[str] = frozenset(
    """UV_CACHE_DIR UV_NO_CACHE UV_PYTHON UV_LINK_MODE UV_SYSTEM_PYTHON UV_NO_PROGRESS
    UV_CONCURRENT_DOWNLOADS UV_CONCURRENT_BUILDS UV_CONCURRENT_INSTALLS UV_HTTP_TIMEOUT
    UV_NATIVE_TLS UV_OFFLINE UV_PRERELEASE UV_RESOLUTION UV_COMPILE_BYTECODE
    UV_PROJECT_ENVIRONMENT UV_PYTHON_PREFERENCE UV_PYTHON_DOWNLOADS UV_NO_SYNC UV_FROZEN
    UV_LOCKED UV_BREAK_SYSTEM_PACKAGES UV_REQUIRE_HASHES UV_NO_BUILD_ISOLATION
    UV_TOOL_DIR UV_TOOL_BIN_DIR UV_PYTHON_INSTALL_DIR UV_NO_COLOR UV_NO_WRAP
    UV_VENV_SEED UV_NO_MODIFY_PATH UV_UNMANAGED_INSTALL UV_INSTALL_DIR UV_LOG_CONTEXT
    UV_TORCH_BACKEND UV_EXCLUDE_NEWER UV_NO_BINARY UV_NO_BUILD UV_PREVIEW""".split()
)
