"""Whether a process is still there: one answer for the shell's stamp files and the fence's
sessions, which both belong to a process (a shell, a wrapped command's starter)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    # A zombie has exited; whoever waits for it may be waiting for our copy of its stderr.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:  # noqa: PTH123 - a helper: os only
            stat = handle.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] != b"Z"
    except (OSError, ValueError):
        return True  # no /proc (macOS): kill -0 is all there is
