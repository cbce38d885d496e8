"""``pytest --nbval notebooks/``: nbval's kernels talk over Unix sockets, as ``execute.py``'s.

Why: ``execute.over_unix_sockets``. pytest loads this file only when it collects this
folder. Lesson 8 runs on the KVM lab; where the lab's tools are missing its cells print
what is missing instead of KVM's answers, so outside CI its comparison is skipped with
that list (in CI, ``CI=true``, it runs and a missing tool fails it, as every other test).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "notebooks_execute", Path(__file__).with_name("execute.py")
)
_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_execute)

LAB_LESSONS = ("08-the-real-thing.ipynb",)  # the lessons whose stored outputs are real KVM's


def pytest_configure(config) -> None:
    if config.getoption("nbval", False) or config.getoption("nbval_lax", False):
        _execute.use_unix_sockets_in_nbval()


def lab_skip_reason() -> str | None:
    """Why a lab lesson cannot be compared here, or None (tools present, or in CI)."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return None
    from armbp.kvm.lab import packages

    missing = packages.missing_tools()
    return f"the KVM lab needs {'; '.join(missing)}" if missing else None


def pytest_collection_modifyitems(config, items) -> None:
    lab_items = [i for i in items if Path(str(i.fspath)).name in LAB_LESSONS]
    reason = lab_skip_reason() if lab_items else None
    for item in lab_items if reason else ():
        item.add_marker(pytest.mark.skip(reason=reason))
