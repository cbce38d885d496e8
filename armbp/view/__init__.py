"""The debugger view without a toolkit: a model of what it shows, and renderers for it.

* :mod:`armbp.view.model` — :class:`ViewModel` follows a Debugger and hands out
  :class:`ViewState` snapshots (listing rows with the words memory holds, registers with
  the changed ones, the last exit decoded with the handler's decision, the busy flag);
* :mod:`armbp.view.render` — those snapshots as plain text and as HTML panels.

The notebook widget (:class:`armbp.widgets.DebuggerView`) wires buttons to Debugger calls
and draws with these; neither module needs ipywidgets or imports the emulator.
"""

from __future__ import annotations

from .model import Gap, LastExit, Register, Row, ViewModel, ViewState, markers

__all__ = ["Gap", "LastExit", "Register", "Row", "ViewModel", "ViewState", "markers"]
