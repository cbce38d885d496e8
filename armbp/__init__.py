"""armbp — how a debugger plants a software breakpoint in an AArch64 guest.

The package re-creates, layer by layer, what QEMU's KVM backend does for arm64: a guest
(Unicorn), a vCPU that turns a trapped ``BRK`` into a KVM-style debug exit, the VMM's exit
handler, the breakpoint table and a debugger on top. The vCPU layer is ``armbp.kvm`` ("the
hardware + KVM"): ``kvm.abi`` and ``kvm.backend`` are the contract every layer above
speaks, ``kvm.unicorn`` the Unicorn model behind it (the only code that imports Unicorn).

Names are imported lazily: ``import armbp.esr`` (the syndrome decoder) must not pull in
Unicorn or capstone, so that the ESR explorer can run where only pure Python is available.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Program": "armbp.program",
    "SourceLine": "armbp.program",
    "assemble": "armbp.asm",
    "AsmError": "armbp.asm",
    "load_elf": "armbp.elf",
    "BreakpointTable": "armbp.table",
    "Breakpoint": "armbp.table",
    "BreakpointError": "armbp.table",
    "VCpu": "armbp.kvm.unicorn",
    "Exit": "armbp.kvm.abi",
    "ExitReason": "armbp.kvm.abi",
    "DebugExit": "armbp.kvm.abi",
    "GuestDebug": "armbp.kvm.abi",
    "GuestDebugArch": "armbp.kvm.abi",
    "Debugger": "armbp.debugger",
    "Stop": "armbp.debugger",
    "StopReason": "armbp.debugger",
    "check": "armbp.exercises",
    "solution": "armbp.exercises",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'armbp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
