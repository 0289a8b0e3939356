"""Asking the real pips and uv for their option tables.

The generators in scripts/ write pipwrap/guard/{pip,uv}_table.py from these answers, and
the tests ask the same questions (tests import from here; nothing here imports tests, and
nothing here ships in the wheel, which packages pipwrap/ only).
"""
