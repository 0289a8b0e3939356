"""The serve policy as an nginx configuration, for the static tree beyond one machine.

nginx serves the same files ``pipwrap serve`` does: PEP 691 negotiation picks
``index.json`` when the client asks for the JSON type at full weight (pip and uv do) and
``index.html`` otherwise; a normalized project name with a page here is served from here
only, one without is redirected to the fallback index. nginx cannot lower-case a name, so a
name that is not normalized (upper case, ``_``, ``.``, or a run of ``-`` such as
``foo--bar``, which the public index reads as ``foo-bar``) is refused (404) rather than
sent upstream: pip and uv always ask for the normalized name, and another spelling of a
held name must never reach the public index.

Held is decided fail-closed: ``repo index`` writes the held projects as a ``map`` include
(:data:`HELD_MAP`), and a name is redirected only when the tree is readable and has no
such directory. See docs/hosting.md. The redirect to the fallback carries the header
``serve --cache`` sends with a page it did not hold (:data:`pipwrap.indexpage.ORIGIN_HEADER`),
so the fence never takes a reserved name from there, whatever origin the fallback is on.
"""

from __future__ import annotations

import re

from pipwrap.errors import PipwrapError
from pipwrap.indexpage import FROM_UPSTREAM, ORIGIN_HEADER

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

# The projects held here, as `pipwrap repo index` last wrote them (read when nginx loads
# its configuration: `nginx -s reload` after adding a project). A held project is answered
# from here only, even when nginx's workers cannot read the tree. The [p] makes the
# include a pattern: a tree not indexed yet is no error.
map $pipwrap_project $pipwrap_held {{
    default 0;
    include {root}/.pipwrap/nginx-held.ma[p];
}}

server {{
    listen {listen};
    root {root};
    autoindex off;
    # Nothing in the tree is served through a symbolic link.
    disable_symlinks on from=$document_root;
    # Location: /simple/foo/, never http://<the request's Host>/simple/foo/.
    absolute_redirect off;
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
    # A project page is served when it can be opened. Only when it cannot is held
    # decided, fail-closed: listed in the map, or anything exists under its name (a
    # directory added since the last reload, a linked one) -> 404 (never upstream). A
    # name is sent upstream only when the tree's own index page is readable and nothing
    # is there: a failed stat (the workers cannot read the tree) answers 503, never a
    # redirect.
    location ~ "^/simple/(?<pipwrap_project>[a-z0-9]+(-[a-z0-9]+)*)/$" {{
        add_header Vary Accept;
        try_files /$pipwrap_project/$pipwrap_page @pipwrap_not_here;
    }}
    location @pipwrap_not_here {{
        # Nothing is served here: the test below may follow a symbolic link, so that a
        # project directory linked from elsewhere is held too, never sent upstream.
        disable_symlinks off;
        if ($pipwrap_held) {{
            return 404;
        }}
        if (-e $document_root/$pipwrap_project) {{
            return 404;
        }}
        if (!-f $document_root/index.html) {{
            return 503;
        }}
        {missing}
    }}
    # Only distributions and their metadata files, under a normalized project name.
    location ~ "^/simple/(?<project>[a-z0-9]+(-[a-z0-9]+)*)/(?<file>{file_pattern})$" {{
        try_files /$project/$file =404;
    }}
    # Only plain names: nginx puts $uri into Location as it is, CR LF included.
    location ~ "^/simple/[A-Za-z0-9._-]+$" {{ return 301 $uri/; }}
    # Anything else, a name that is not normalized included, is not found.
    location / {{ return 404; }}
}}
"""

# A distribution's or its metadata file's name (never a dot file: temporary, hidden).
FILE_PATTERN = r"[^/.][^/]*\.(whl|tar\.gz|zip)(\.metadata)?"
HELD_MAP = "nginx-held.map"  # in DIR/.pipwrap/, written by `repo index`


def held_map(projects: list[str]) -> bytes:
    """The map include: one ``name 1;`` line per held (normalized, safe) project name."""
    lines = "".join(f"{name} 1;\n" for name in projects)
    return f"# written by pipwrap repo index: the projects held here\n{lines}".encode()


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
    # Room for a map of thousands of held project names.
    map_hash_max_size 65536;
    map_hash_bucket_size 128;
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
        # add_header without `always` leaves the 404s and the 503 above unmarked: only
        # the redirect is an answer from upstream.
        missing = (f"add_header {ORIGIN_HEADER} {FROM_UPSTREAM};\n        "
                   f"return 303 {_check(fallback, _SAFE_URL, 'fallback URL')}"
                   "$pipwrap_project/;")
    server = SERVER_BLOCK.format(root=root, listen=listen, missing=missing,
                                 json_accept=JSON_ACCEPT, file_pattern=FILE_PATTERN)
    if prefix is None:
        return server
    prefix = _check(prefix, _SAFE_PATH, "prefix")
    indented = "".join(f"    {line}\n" if line else "\n" for line in server.splitlines())
    return STANDALONE.format(prefix=prefix, conf=conf, server=indented)
