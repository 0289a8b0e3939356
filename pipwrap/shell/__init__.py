"""The shell side: per-shell dialects, the ``init`` snippet, the cached state, completion.

The snippets themselves are package data in ``templates/``.
"""
