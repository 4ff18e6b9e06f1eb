"""Top-level test configuration (kept minimal on purpose).

Unit tests live in tests/unit and must run without a Docker engine.
Container tests live in tests/integration; their fixtures are in
tests/integration/conftest.py and only load for tests collected there.
"""
