"""uv's environment variables, classified for the scrub.

Every ``UV_*`` variable not listed here as harmless or as naming files is removed from a
wrapped command's environment (then pipwrap sets UV_CONFIG_FILE, UV_INDEX_STRATEGY,
UV_NO_CONFIG and, for a profile with an upload-url, UV_PUBLISH_URL itself).
tests/differential/test_guard_uv.py requires every variable uv's help pages name
(pipwrap/guard/uv_table.py) to be in one of these sets, so a new one is reviewed.
"""

from __future__ import annotations

# Variables that name requirement-like files the guard follows and scans: kind per name.
FILES: dict[str, str] = {
    "UV_CONSTRAINT": "constraint",
    "UV_OVERRIDE": "constraint",
    "UV_BUILD_CONSTRAINT": "constraint",
    "UV_EXCLUDE": "constraint",
}

# Removed for a wrapped command, and why (documentation; the scrub removes every name
# not in HARMLESS or FILES anyway).
SOURCES: dict[str, str] = {
    "UV_INDEX": "adds an index",
    "UV_DEFAULT_INDEX": "replaces the index (pipwrap sets its own)",
    "UV_INDEX_URL": "replaces the index",
    "UV_EXTRA_INDEX_URL": "adds an index",
    "UV_FIND_LINKS": "adds a source of archives",
    "UV_INDEX_STRATEGY": "can merge versions across indexes (pipwrap sets first-index)",
    "UV_INSECURE_HOST": "turns off TLS verification for a host",
    "UV_CONFIG_FILE": "loads a uv.toml that can add indexes (read even with UV_NO_CONFIG)",
    "UV_NO_CONFIG": "pipwrap sets its own",
    "UV_ENV_FILE": "loads variables for `uv run` that can name a source",
    "UV_PROJECT": "moves the project whose sources the guard checks",
    "UV_WORKING_DIR": "moves the project whose sources the guard checks",
    "UV_TORCH_BACKEND": "adds PyTorch's own index for torch packages",
    "UV_PYTHON_INSTALL_MIRROR": "downloads Python itself from elsewhere",
    "UV_PYPY_INSTALL_MIRROR": "downloads PyPy itself from elsewhere",
    "UV_PYTHON_DOWNLOADS_JSON_URL": "downloads Python itself from elsewhere",
    # `uv publish` under wrap uploads to the profile's upload-url with the fence's login
    # (pipwrap sets UV_PUBLISH_URL and a placeholder user and password); clap refuses
    # these beside them, even empty.
    "UV_PUBLISH_INDEX": "names another upload destination (and conflicts with UV_PUBLISH_URL)",
    "UV_PUBLISH_TOKEN": "a login the fence replaces (and conflicts with UV_PUBLISH_USERNAME)",
}

# Variables that cannot add or widen a package source.
HARMLESS: frozenset[str] = frozenset(
    """UV_BREAK_SYSTEM_PACKAGES UV_CACHE_DIR UV_COMPILE_BYTECODE UV_CUSTOM_COMPILE_COMMAND
    UV_DEV UV_EXCLUDE_NEWER UV_FORK_STRATEGY UV_FROZEN UV_GITHUB_TOKEN UV_INIT_BUILD_BACKEND
    UV_ISOLATED UV_KEYRING_PROVIDER UV_LINK_MODE UV_LOCKED UV_MANAGED_PYTHON UV_NO_BINARY
    UV_NO_BINARY_PACKAGE UV_NO_BUILD UV_NO_BUILD_ISOLATION UV_NO_BUILD_PACKAGE UV_NO_CACHE
    UV_NO_DEFAULT_GROUPS UV_NO_DEV UV_NO_EDITABLE UV_NO_ENV_FILE UV_NO_GROUP
    UV_NO_INSTALL_LOCAL UV_NO_INSTALL_PROJECT UV_NO_INSTALL_WORKSPACE UV_NO_MANAGED_PYTHON
    UV_NO_PROGRESS UV_NO_PROJECT UV_NO_SOURCES UV_NO_SOURCES_PACKAGE UV_NO_SYNC
    UV_NO_VERIFY_HASHES UV_OFFLINE UV_PRERELEASE UV_PUBLISH_CHECK_URL
    UV_PUBLISH_NO_ATTESTATIONS UV_PUBLISH_PASSWORD UV_PUBLISH_URL
    UV_PUBLISH_USERNAME UV_PYTHON UV_PYTHON_DOWNLOADS UV_PYTHON_INSTALL_DIR
    UV_REQUIRE_HASHES UV_RESOLUTION UV_SYSTEM_CERTS UV_SYSTEM_PYTHON UV_VENV_CLEAR
    UV_VENV_RELOCATABLE UV_VENV_SEED UV_HTTP_TIMEOUT UV_REQUEST_TIMEOUT
    UV_CONCURRENT_DOWNLOADS UV_CONCURRENT_BUILDS UV_CONCURRENT_INSTALLS UV_NATIVE_TLS
    UV_PYTHON_PREFERENCE UV_TOOL_DIR UV_TOOL_BIN_DIR UV_PROJECT_ENVIRONMENT UV_NO_COLOR
    UV_NO_WRAP UV_LOG_CONTEXT UV_NO_MODIFY_PATH UV_UNMANAGED_INSTALL UV_INSTALL_DIR
    UV_PYTHON_BIN_DIR UV_PYTHON_CACHE_DIR UV_PREVIEW UV_SHOW_RESOLUTION
    UV_HTTP_RETRIES""".split()
)
