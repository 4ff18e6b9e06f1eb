"""Fixtures of the install tests."""

from __future__ import annotations

import os
import shutil

import pytest
from support import NOBODY, forget_template_cache, public_tmp_dir


@pytest.fixture
def home(dists):
    """(a directory of nobody's, a copy of the 6.5.3 distribution it can read): for a local
    install run by an ordinary account."""
    with public_tmp_dir() as d:
        dist = d / dists["6.5.3"].name
        shutil.copy(dists["6.5.3"], dist)
        os.chmod(dist, 0o644)
        home = d / "home"
        home.mkdir(mode=0o755)
        os.chown(home, NOBODY, NOBODY)
        try:
            yield home, dist
        finally:
            forget_template_cache()
