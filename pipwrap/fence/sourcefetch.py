"""A project page read outside the proxy, for ``pipwrap explain``: the same request as the
fence sends (:func:`sources.read_page`: its Accept, redirects, a source's login to its own
host only), one hop over ``http.client``, so that explain and the fence decide on the same
pages with the same code (:func:`sources.compose`).
"""

from __future__ import annotations

import http.client
import ssl

from pipwrap.fence import sources
from pipwrap.fence.composer import MAX_PAGE
from pipwrap.fence.policy import canonical
from pipwrap.indexpage import ORIGIN_HEADER


def fetcher(rules: sources.Rules, login: tuple[str, str] | None, ca_file: str | None,
            timeout: float = 30.0) -> sources.Fetch:
    """``fetch(number, url, same_origin_only)`` for :func:`sources.compose`; ``login``:
    the profile's own, for its index (source 0); a fallback's comes from its URL."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)

    def hop(page: str, headers: dict[str, str]) -> sources.Answer:
        found = canonical(page)
        if found is None:
            raise sources.NoAnswer("not an http(s) URL")
        origin, path = found
        connection = (http.client.HTTPSConnection(origin.host, origin.port, timeout=timeout,
                                                  context=context)
                      if origin.scheme == "https" else
                      http.client.HTTPConnection(origin.host, origin.port, timeout=timeout))
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read(MAX_PAGE + 1)
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            raise sources.NoAnswer(str(exc)) from None
        finally:
            connection.close()
        if len(body) > MAX_PAGE:
            raise sources.NoAnswer("a page larger than 64 MB")
        return sources.Answer(response.status, response.getheader("location"),
                              response.getheader("content-type"),
                              response.getheader("content-encoding"), body,
                              response.getheader(ORIGIN_HEADER))

    def fetch(number: int, url: str, same_origin_only: bool = False) -> sources.Fetched:
        source = rules.sources[number]
        own = login if number == 0 else sources.source_login(source)
        return sources.read_page(source, url, own, hop, same_origin_only)

    return fetch
