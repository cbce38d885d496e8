"""Notebook widgets (ipywidgets 8). Each is imported on first use, so that importing one
widget never pulls in what another needs (the ESR explorer must load without Unicorn)."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DebuggerView": "armbp.widgets.debugger_view",
    "EsrExplorer": "armbp.widgets.esr_explorer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'armbp.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
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
