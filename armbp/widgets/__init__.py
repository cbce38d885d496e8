"""Notebook widgets (ipywidgets 8). Each is imported on first use, so that importing one
widget never pulls in what another needs (the ESR explorer must load without Unicorn).

They need the ``lab`` extra (ipywidgets, and matplotlib for the pictures); without it the
import says so instead of a bare ``No module named ...``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXTRA = {"ipywidgets": "lab", "matplotlib": "lab"}


def _needs_extra(exc: ImportError) -> ModuleNotFoundError | None:
    """The error to raise when ``exc`` is a missing module that an extra provides."""
    top = (exc.name or "").partition(".")[0]
    if top not in _EXTRA:
        return None
    return ModuleNotFoundError(
        f"armbp.widgets needs {top}, which is not installed: "
        f"pip install 'armbp[{_EXTRA[top]}]'",
        name=top,
    )


try:
    import ipywidgets  # noqa: F401  (every widget is one)
except ImportError as _exc:
    _err = _needs_extra(_exc)
    if _err is None:
        raise
    raise _err from _exc

_EXPORTS = {
    "DebuggerView": "armbp.widgets.debugger_view",
    "EsrExplorer": "armbp.widgets.esr_explorer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'armbp.widgets' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        err = _needs_extra(exc)
        if err is None:
            raise
        raise err from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class Syncing:
    """A re-entrant flag for "the widget is writing its own views right now".

    A widget refreshes its views inside ``with self._syncing:``; the views' observers return
    at once while it is true, so a refresh never feeds back as user edits.
    """

    def __init__(self) -> None:
        self.depth = 0

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1

    def __bool__(self) -> bool:
        return self.depth > 0
