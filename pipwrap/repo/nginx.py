"""The serve policy as an nginx configuration, for the static tree beyond one machine.

nginx serves the same files ``pipwrap serve`` does: PEP 691 negotiation picks
``index.json`` when the client asks for the JSON type at full weight (pip and uv do) and
``index.html`` otherwise; a normalized project name with a page here is served from here
only, one without is redirected to the fallback index. nginx cannot lower-case a name, so a
name that is not normalized is refused (404) rather than sent upstream: pip and uv always
ask for the normalized name, and a wrong guess must never reach the public index.
"""

from __future__ import annotations

import re

from pipwrap.errors import PipwrapError

_SAFE_PATH = re.compile(r"[A-Za-z0-9_./@+=:,~-]+")
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9_./@+=:,~%-]+/")

SERVER_BLOCK = """\
# pipwrap repo nginx-conf: {root} as a PEP 503/691 index at /simple/, local-first.
# Include this in the http {{}} block of your nginx configuration.
map $http_accept $pipwrap_page {{
    default index.html;
    # The JSON type at full weight (no q, or q=1), as pip and uv send it.
    {json_accept} index.json;
}}

server {{
    listen {listen};
    root {root};
    autoindex off;
    types {{
        application/vnd.pypi.simple.v1+json json;
        text/html html;
    }}
    default_type application/octet-stream;

    location = / {{ return 302 /simple/; }}
    location = /simple {{ return 301 /simple/; }}
    location = /simple/ {{
        add_header Vary Accept;
        try_files /$pipwrap_page =404;
    }}
    # A project held here (its directory exists) is answered from here only: upstream
    # never sees its name, not even before its page is written.
    location ~ "^/simple/(?<project>[a-z0-9]([a-z0-9-]*[a-z0-9])?)/$" {{
        if (!-d $document_root/$project) {{
            {missing}
        }}
        add_header Vary Accept;
        try_files /$project/$pipwrap_page =404;
    }}
    location ~ "^/simple/(?<project>[a-z0-9]([a-z0-9-]*[a-z0-9])?)/(?<file>[^/.][^/]*)$" {{
        try_files /$project/$file =404;
    }}
    # Only plain names: nginx puts $uri into Location as it is, CR LF included.
    location ~ "^/simple/[A-Za-z0-9._-]+$" {{ return 301 $uri/; }}
    # Anything else, a name that is not normalized included, is not found.
    location / {{ return 404; }}
}}
"""

JSON_ACCEPT = (
    r'"~*application/vnd\.pypi\.simple\.(v1|latest)\+json\s*(;\s*q=1(\.0*)?\s*)?(,|$)"'
)

STANDALONE = """\
# Run: nginx -p {prefix} -c {conf} -g 'daemon off;'
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{server}}}
"""


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    # The values land inside nginx syntax: anything but plain characters could end a
    # directive and start another.
    if not pattern.fullmatch(value):
        raise PipwrapError(f"nginx-conf: {what} {value!r} holds characters that cannot go "
                           "into an nginx configuration unquoted")
    return value


def render(root: str, listen: str, fallback: str | None, *, prefix: str | None = None,
           conf: str = "nginx.conf") -> str:
    root = _check(root, _SAFE_PATH, "repository path")
    listen = _check(listen, _SAFE_PATH, "listen address")
    if fallback is None:
        missing = "return 404;"
    else:
        missing = f"return 303 {_check(fallback, _SAFE_URL, 'fallback URL')}$project/;"
    server = SERVER_BLOCK.format(root=root, listen=listen, missing=missing,
                                 json_accept=JSON_ACCEPT)
    if prefix is None:
        return server
    prefix = _check(prefix, _SAFE_PATH, "prefix")
    indented = "".join(f"    {line}\n" if line else "\n" for line in server.splitlines())
    return STANDALONE.format(prefix=prefix, conf=conf, server=indented)
