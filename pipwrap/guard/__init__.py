"""The guard: refuse any command that would bring in a package source besides the profile's.

It fails closed. Each reader knows one grammar exactly (pip's options per version, uv's,
requirement files, lock files, project settings) and refuses what it does not fully
understand; the option and variable tables are checked against the real tools by the
differential tests. Submodules:

``launchers``  which program a command line really starts (env, sudo, python -m, ...)
``pip``        pip's command line, resolved as pip's optparse does for every pip we support
``uv``         uv's command line (``uv pip``, project commands, ``uvx``)
``reqfile``    requirement and constraint files, decoded and joined as pip does
``directref``  ``name @ URL`` and URL requirements: only the profile's index may serve them
``lockfiles``  pylock.toml, uv.lock, pdm.lock
``projects``   each installer's own project settings (uv, pdm, pip-tools, tox, hatch, poetry)
``scrub``      environment variables that would add a source, in every spelling
"""

from __future__ import annotations

from pipwrap.guard.api import check, config_files_to_scan, config_sources_need_scan, scan_files

__all__ = ["check", "config_files_to_scan", "config_sources_need_scan", "scan_files"]
