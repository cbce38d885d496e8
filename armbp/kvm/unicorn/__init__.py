"""The Unicorn model of "the hardware + KVM": one AArch64 core run until something exits.

The VMM above sees what QEMU sees from ``KVM_RUN``: the guest runs until an exit, and the
exit is a record of ``armbp.kvm.abi`` (``Exit``, with ``DebugExit`` = ``struct
kvm_debug_exit_arch`` for a debug exit). Unicorn gives no syndrome, so this model builds it
from the trapping instruction word with ``armbp.esr``. One module per part of the model:

* ``core``     — ``VCpu``: the memory map, the registers, ``set_guest_debug``, ``run``.
* ``traps``    — the interrupt and memory hooks: Unicorn's exception numbers made into
  architectural exceptions (syndromes), exits to the VMM, and exception entry into the
  guest's own vectors (``_deliver``); PSCI, handled "in the kernel" as KVM does.
* ``fetch``    — why an instruction fetch faults: the stage 1 walk of the PC and the
  guest's hardware breakpoints, done by hand (pure: no Unicorn in it).
* ``watchdog`` — one thread that ends runs whose time budget is up (KVM: a signal).
* ``hwdebug``  — the debugger's ``kvm_guest_debug_arch`` slots decoded and checked, and
  why breakpoints are code hooks and watchpoints page protection and read hooks (pure).
* ``memory``   — guest memory as the breakpoint table reaches it, with cache maintenance.
* ``guard``    — the one-thread rule: during a run only ``kick`` may come from elsewhere.
* ``binding``  — fast calls into Unicorn's C library for the hot paths, with the public
  binding calls as their fallback.

``fetch`` stays pure and lives here, not in ``armbp.kvm``: it exists only because Unicorn
keeps the fault to itself (a real core, and real KVM, hand over the syndrome), so it is part
of this model; being pure, its tests drive it over a dict of descriptors.
"""

from __future__ import annotations

from armbp.kvm.unicorn.core import STACK_SIZE, VCpu
from armbp.kvm.unicorn.memory import LARGE_ACCESS, MAX_ACCESS, GuestMemory

__all__ = ["LARGE_ACCESS", "MAX_ACCESS", "STACK_SIZE", "GuestMemory", "VCpu"]
