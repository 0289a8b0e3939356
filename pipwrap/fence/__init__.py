"""The fence: under ``wrap``, the profile's index is the only thing the network reaches.

A loopback forward proxy (``proxy``) run by a per-user agent (``agent``) decides every
request of a wrapped command by the profile's policy (``policy``), terminating TLS with a
CA that only wrapped commands trust (``certificates``). The rest of pipwrap calls
:func:`open_session` (``client``). This package imports only pipwrap's helpers and
``pipwrap.indexpage``.
"""

from __future__ import annotations

from pipwrap.fence.client import FenceError, Session, environment, open_session

__all__ = ["FenceError", "Session", "environment", "open_session"]
