"""Which inherited variables a wrapped command must not see, in every spelling.

pip reads every variable whose name starts with ``PIP_``: the rest is lower-cased, ``_``
becomes ``-``, a leading ``--`` is dropped, and the result is looked up as a long option
(``PIP_PYPI_URL``, ``PIP___EXTRA_INDEX_URL`` and ``PIP_Find_Links`` all work; measured on
pip 23.2.1 and 26.3). uv reads its ``UV_*`` names exactly. Setting the canonical names is
not enough: another spelling of the same option can still be read. So the rule is an
allow-list: a variable is kept only when it names an option known to be harmless, or a
requirement/constraint file the guard scans; everything else with those prefixes is
removed for the call, and then pipwrap's own values are set.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipwrap.pipconfig import normalize_key

# Variables pip reads by name rather than as an option.
_PIP_SPECIAL = frozenset({"config-file", "user-agent-user-data"})

# pip option names (as reached from PIP_*) whose files the guard follows and scans.
PIP_FILE_OPTIONS = frozenset({"requirement", "constraint", "build-constraint"})


def pip_option_name(variable: str) -> str | None:
    """The long option pip reads ``variable`` as (``PIP_Extra_Index_URL`` ->
    ``extra-index-url``), or None when pip does not read it at all."""
    if not variable.startswith("PIP_"):
        return None
    return normalize_key(variable[4:])


def _pip_keeps(option: str) -> bool:
    from pipwrap.guard import pip

    return option in _PIP_SPECIAL or option in PIP_FILE_OPTIONS or pip.harmless_env_option(option)


def _uv_keeps(variable: str) -> bool:
    from pipwrap.guard import uv_env

    return variable in uv_env.HARMLESS or variable in uv_env.FILES


def unset_names(environ: Mapping[str, str]) -> list[str]:
    """Variables to remove from a wrapped command's environment (before pipwrap's own
    values are set on top)."""
    removed = []
    for name in environ:
        option = pip_option_name(name)
        if option is not None:
            if not _pip_keeps(option):
                removed.append(name)
        elif name.startswith("UV_") and not _uv_keeps(name):
            removed.append(name)
        elif name.startswith("PDM_PYPI_"):
            # pdm's index settings (pipwrap sets PDM_PYPI_URL itself).
            removed.append(name)
    return sorted(removed)


def file_variables(environ: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(variable, kind, value) for each kept variable that names files to scan."""
    from pipwrap.guard import uv_env

    found = []
    for name, value in environ.items():
        option = pip_option_name(name)
        if option in PIP_FILE_OPTIONS and value.strip():
            kind = "requirement" if option == "requirement" else "constraint"
            found.append((name, kind, value))
        elif name in uv_env.FILES and value.strip():
            found.append((name, uv_env.FILES[name], value))
    return found


def child_environ(environ: Mapping[str, str], additions: Mapping[str, str]) -> dict[str, str]:
    """The environment a wrapped command gets: inherited, scrubbed, then pipwrap's own."""
    drop = set(unset_names(environ))
    child = {k: v for k, v in environ.items() if k not in drop}
    child.update(additions)
    return child


# The variables the fence sets for a wrapped command (docs/fence.md): its proxy in every
# spelling, the CA bundles that trust only it, git's config that names it.
_FENCE_NAMES = frozenset({"ssl_cert_file", "ssl_cert_dir", "requests_ca_bundle",
                          "curl_ca_bundle", "git_ssl_cainfo", "git_ssl_capath",
                          "git_ssl_no_verify", "node_extra_ca_certs", "uv_native_tls",
                          "uv_system_certs", "git_config_parameters"})


def routes_past_fence(name: str) -> bool:
    """Whether setting or unsetting this variable for a command inside ``wrap`` could send
    its downloads past the fence: any proxy variable in any spelling (an empty
    ``HTTP_PROXY``, ``NO_PROXY=*``, ``GIT_PROXY_COMMAND``), or a CA or git setting the
    fence sets. A tool without a proxy reaches the fallback's files directly."""
    lowered = name.lower()
    return "proxy" in lowered or lowered in _FENCE_NAMES or lowered.startswith("git_config_")


def assigns_source(assignment: str) -> bool:
    """Whether setting this variable for an installer could change its sources: any
    PIP_*/UV_*/PDM_* name not known to be harmless (config and constraint files
    included: the guard would not see what they name), NETRC, and twine's destination."""
    from pipwrap.guard import pip, uv_env

    name = assignment.split("=", 1)[0]
    # twine's upload destination: wrap sets it from the profile's upload-url.
    if name in ("NETRC", "TWINE_REPOSITORY_URL", "TWINE_REPOSITORY") or name.startswith("PDM_"):
        return True
    option = pip_option_name(name)
    if option is not None:
        return not pip.harmless_env_option(option)
    return name.startswith("UV_") and name not in uv_env.HARMLESS
