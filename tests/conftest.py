"""Shared test helpers.

``require_tool`` is how a test says it needs an outside program: on a laptop without it
the test is skipped with the install hint; in CI (``CI=true``) a missing tool is a failure.
"""
from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} not found: install it with `apt-get install {debian_package}`"
    if IN_CI:
        pytest.fail(msg + " (CI must run every test)")
    pytest.skip(msg)
