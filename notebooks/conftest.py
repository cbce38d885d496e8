"""``pytest --nbval notebooks/``: nbval's kernels talk over Unix sockets, as ``execute.py``'s.

Why: ``execute.over_unix_sockets``. pytest loads this file only when it collects this
folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "notebooks_execute", Path(__file__).with_name("execute.py")
)
_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_execute)


def pytest_configure(config) -> None:
    if config.getoption("nbval", False) or config.getoption("nbval_lax", False):
        _execute.use_unix_sockets_in_nbval()
