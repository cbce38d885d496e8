"""The debugger view without a toolkit: a model of what it shows, and renderers for it.

* :mod:`armbp.view.model` — :class:`ViewModel` follows a Debugger and hands out
  :class:`ViewState` snapshots (listing rows with the words memory holds, registers with
  the changed ones, the last exit decoded with the handler's decision, the busy flag);
* :mod:`armbp.view.render` — those snapshots as plain text and as HTML panels;
* :mod:`armbp.view.esr_table` — a syndrome's field table, in beginner mode (EC, IL, ISS
  and the fields that are set) or whole.

The notebook widget (:class:`armbp.widgets.DebuggerView`) wires buttons to Debugger calls
and draws with these; neither module needs ipywidgets or imports the emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Gap, LastExit, Register, Row, ViewModel, ViewState, markers

__all__ = ["Gap", "LastExit", "Register", "Row", "ViewModel", "ViewState", "markers"]


def __getattr__(name: str) -> Any:
    """The model's names, loaded on first use: the ESR explorer imports
    :mod:`armbp.view.esr_table` and must not pull in the disassembler with the model."""
    if name not in __all__:
        raise AttributeError(f"module 'armbp.view' has no attribute {name!r}")
    from . import model

    return getattr(model, name)
