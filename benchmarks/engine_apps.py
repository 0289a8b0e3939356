"""The same small app on each candidate HTTP engine, for benchmarks/bench_engines.py.

    python benchmarks/engine_apps.py ENGINE ROOT PORT

Each answers what `pipwrap serve` answers most: ``GET /simple/<project>/`` with the
project's ``index.json`` read from ROOT (kept in memory while its stat is unchanged, as
serve does), 404 for a project that is not there; ``POST /`` reads the body as a stream
and answers its length (for the framing probes). ENGINE: granian-rsgi, granian-asgi,
aiohttp, uvicorn (httptools), waitress; pipwrap-granian runs the port of serve itself
(pipwrap/repo/app.py on granian, embedded), not this small app.
"""

from __future__ import annotations

import os
import sys

ROOT = os.environ.get("ENGINE_APP_ROOT", "")
_PAGES: dict[str, tuple[tuple[int, int, int], bytes]] = {}


def page(path: str) -> bytes | None:
    """The page at ``path`` from ROOT (cached by inode, size and mtime), None if absent."""
    parts = path.split("/")
    if len(parts) != 4 or parts[1] != "simple" or parts[3] or "." in parts[2]:
        return None
    file = os.path.join(ROOT, parts[2], "index.json")
    try:
        status = os.stat(file)
    except OSError:
        return None
    key = (status.st_ino, status.st_size, status.st_mtime_ns)
    cached = _PAGES.get(file)
    if cached is None or cached[0] != key:
        with open(file, "rb") as handle:
            cached = _PAGES[file] = (key, handle.read())
    return cached[1]


JSON = "application/vnd.pypi.simple.v1+json"


# -- RSGI (granian) ---------------------------------------------------------------------

async def rsgi_app(scope, protocol):  # type: ignore[no-untyped-def]
    if scope.method == "POST":
        size = 0
        async for chunk in protocol:
            size += len(chunk)
        protocol.response_str(200, [("content-type", "text/plain")], f"{size}\n")
        return
    data = page(scope.path)
    if data is None:
        protocol.response_str(404, [("content-type", "text/plain")], "not found\n")
    else:
        protocol.response_bytes(200, [("content-type", JSON)], data)


# -- ASGI (granian, uvicorn) ------------------------------------------------------------

async def asgi_app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, status, kind = f"{size}\n".encode(), 200, b"text/plain"
    else:
        data = page(scope["path"])
        body, status, kind = ((b"not found\n", 404, b"text/plain") if data is None
                              else (data, 200, JSON.encode()))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# -- WSGI (waitress) --------------------------------------------------------------------

def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
    if environ["REQUEST_METHOD"] == "POST":
        size = 0
        stream = environ["wsgi.input"]
        while chunk := stream.read(65536):
            size += len(chunk)
        body, status, kind = f"{size}\n".encode(), "200 OK", "text/plain"
    else:
        data = page(environ["PATH_INFO"])
        body, status, kind = ((b"not found\n", "404 Not Found", "text/plain") if data is None
                              else (data, "200 OK", JSON))
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def run_aiohttp(port: int) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            size = 0
            async for chunk in request.content.iter_any():
                size += len(chunk)
            return web.Response(text=f"{size}\n")
        data = page(request.path)
        if data is None:
            return web.Response(status=404, text="not found\n")
        return web.Response(body=data, content_type=JSON)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    engine, root, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    global ROOT
    ROOT = os.environ["ENGINE_APP_ROOT"] = root
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if engine in ("granian-rsgi", "granian-asgi"):
        from granian import Granian

        rsgi = engine == "granian-rsgi"
        Granian(f"engine_apps:{'rsgi_app' if rsgi else 'asgi_app'}", address="127.0.0.1",
                port=port, interface="rsgi" if rsgi else "asgi", workers=1,
                log_enabled=False).serve()
    elif engine == "aiohttp":
        run_aiohttp(port)
    elif engine == "pipwrap-granian":  # the port of `pipwrap serve` (pipwrap/repo/app.py)
        import asyncio

        from pipwrap.repo import app, hosting
        from pipwrap.repo.access import Access

        access = Access()
        if os.environ.get("ENGINE_APP_HTPASSWD"):  # --htpasswd FILE --auth read,upload
            from pipwrap.repo import auth

            access = Access(auth.Logins(os.environ["ENGINE_APP_HTPASSWD"]),
                            uploads=True, login_to_read=True)
        mirror = None
        if os.environ.get("ENGINE_APP_CACHE"):  # --fallback URL --cache
            from pipwrap.repo.mirror import Mirror, Settings

            mirror = Mirror(root, Settings(os.environ["ENGINE_APP_CACHE"]))
        served = app.App(root, None, "-v" in sys.argv, access, mirror, header_timeout=15.0)
        asyncio.run(hosting.run(served, "127.0.0.1", port))
    elif engine == "uvicorn":
        import uvicorn

        uvicorn.run("engine_apps:asgi_app", host="127.0.0.1", port=port, http="httptools",
                    log_level="warning", access_log=False, lifespan="off")
    elif engine == "waitress":
        import waitress

        waitress.serve(wsgi_app, host="127.0.0.1", port=port, _quiet=True)
    else:
        raise SystemExit(f"unknown engine {engine}")


if __name__ == "__main__":
    main()
