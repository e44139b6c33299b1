"""Fixtures of the DLC job tests live in ``tests/conftest.py`` (the Qt tests use them too)."""
