"""The hosting half of pipwrap: a tree of distributions, its static index, and a server.

The tree is ``DIR/<normalized-name>/<file>``. Its static simple index is written inside it
(``DIR/index.html``, ``DIR/<name>/index.html`` and ``index.json``, ``<file>.metadata``),
so ``file://DIR/``, any static web server rooted at DIR, ``pipwrap serve`` and pypiserver
can all serve the same directory as it is. Nothing here imports the client half (the
guard, profiles, shells) and the client half does not import this.

- :mod:`.distfile`: what a distribution file is (name, version, core metadata).
- :mod:`.store`: the tree itself: add, remove, yank, list, under one lock.
- :mod:`.index`: the incremental, atomic static index writer and its manifest.
- :mod:`.pages`: the HTML and JSON pages (PEP 503, 691, 658/714, 592, 700).
- :mod:`.hosting` and :mod:`.app`: ``pipwrap serve`` on granian, local-first with fallback.
- :mod:`.nginx`: the same policy as an nginx configuration.
- :mod:`.objectstore`: ``repo push``, the tree onto object storage (the S3 client in
  :mod:`.objectstore_s3`, an optional extra).
- :mod:`.cli`: the ``repo`` and ``serve`` subcommands.
"""
