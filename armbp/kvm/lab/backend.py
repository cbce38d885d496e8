"""``LabVCpu``: the vCPU interface over real KVM inside the lab machine (``kvm-lab``).

Each call of the ``Backend`` protocol becomes one request to the agent in the emulated
arm64 machine, which answers it with its ``KvmVCpu`` (``armbp.kvm.devkvm.vcpu``): the same
ioctls an arm64 host would make, run by the real kernel. The machine is the session's
(``machine.shared()``: started on first use, stopped when Python exits).

A round trip over the serial console costs milliseconds, so what is cheap and safe to
know on this side is kept here: the core registers come back with every exit (and after
every call that changes them), with the instruction word at the new pc; a write of pc is
sent with the next request; ``scratch_open`` and ``hide_scratch`` are bookkeeping only on
KVM (see ``armbp.kvm.devkvm.vcpu``) and cost nothing. Every request has a timeout, and a
QEMU that dies is a ``LabError``, never a hang.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from armbp.kvm.abi import (
    REGISTER_NAMES,
    Budget,
    Exit,
    GuestDebug,
    GuestDebugArch,
    VCpuBusy,
)
from armbp.kvm.devkvm.vcpu import refuse_instructions
from armbp.kvm.lab import machine as lab_machine
from armbp.kvm.lab import rpc
from armbp.program import Program

__all__ = ["RUN_MARGIN", "LabVCpu"]

RUN_MARGIN = 30.0  # how much longer than its budget a run's answer may take (TCG, a busy host)
GUEST_SECONDS = 0.25  # the least guest time a run gets (see run_until)
_CORE = frozenset(REGISTER_NAMES) | {"cpsr"}
# lab -> its vCPUs whose LabVCpu was collected, dropped with that lab's next "new" (per
# lab: a number is only meaningful to the agent that gave it)
_DROPS: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()


def _named(values: list[int]) -> dict[str, int]:
    """The core registers by name, from the agent's list (``REGISTER_NAMES`` order)."""
    if len(values) != len(REGISTER_NAMES):
        raise ValueError(f"expected {len(REGISTER_NAMES)} core registers, got {values!r}")
    return dict(zip(REGISTER_NAMES, values, strict=True))


class _LabMemory:
    """Guest memory through the agent; the word at the pc of the last exit is known."""

    def __init__(self, vcpu: LabVCpu) -> None:
        self._vcpu = vcpu

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; ``MemoryFault`` if any of them is unmapped."""
        word = self._vcpu._word
        if word is not None and word[0] <= address and address + size <= word[0] + 4:
            at = address - word[0]
            return word[1][at : at + size]
        return self._vcpu._call("read", address, size)

    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` (nothing is written if any byte is unmapped)."""
        self._vcpu.ensure_idle("write_memory")
        self._vcpu._word = None
        self._vcpu._call("write", address, bytes(data))

    def invalidate_code(self, address: int, size: int) -> None:
        """Nothing to do from the host (see ``armbp.kvm.devkvm.vcpu``)."""


class LabVCpu:
    """One vCPU on real KVM inside the lab machine, driven as the Unicorn model is."""

    def __init__(self, program: Program, *, lab: Any = None) -> None:
        if not isinstance(program, Program):
            raise ValueError(
                f"expected an armbp.Program (e.g. from armbp.assemble), got "
                f"{type(program).__name__}"
            )
        self.program = program
        self.lab = lab if lab is not None else lab_machine.shared()
        drops = _DROPS.setdefault(self.lab, [])
        sent = list(drops)
        made = self.lab.request("new", program=rpc.encode(program), drop=sent)
        del drops[: len(sent)]
        self._id: int = made["vcpu"]
        weakref.finalize(self, drops.append, self._id)
        self.scratch_base: int = made["scratch_base"]
        self.stack_top: int = made["stack_top"]
        self.caps: dict[str, int] = made["caps"]
        self.memory = _LabMemory(self)
        self.flush_code_writes = True
        self._runner: int | None = None
        self._fresh(_named(made["registers"]))

    def _fresh(self, registers: dict[str, int]) -> None:
        self.guest_debug = GuestDebug.NONE
        self.guest_debug_arch: GuestDebugArch | None = None
        self.scratch_open: frozenset[int] = frozenset()
        self.scratch_after: dict[int, frozenset[int]] = {}
        self.last_exit: Exit | None = None
        self._regs: dict[str, int] | None = registers
        self._writes: dict[str, int] = {}  # register writes sent with the next request
        self._word: tuple[int, bytes] | None = None

    # -- the wire --------------------------------------------------------------------------
    def _call(
        self, method: str, *args: Any, timeout: float = lab_machine.REPLY_SECONDS
    ) -> Any:
        extra: dict[str, Any] = {"args": rpc.encode(list(args))} if args else {}
        if self._writes:
            extra["writes"] = list(self._writes.items())
            self._writes.clear()  # (sent: the agent makes them before the call)
        return self.lab.request("call", vcpu=self._id, method=method, timeout=timeout, **extra)

    def _update(self, result: dict[str, Any]) -> None:
        self._regs = _named(result["registers"])

    # -- memory map, registers ---------------------------------------------------------------
    def map(self, address: int, size: int, perms: str = "rw") -> None:
        """Add ``size`` zeroed bytes at ``address``: a new memory slot."""
        self.ensure_idle("map")
        self._call("map", address, size, perms)

    @property
    def pc(self) -> int:
        """The program counter (settable: the write goes with the next request)."""
        if "pc" in self._writes:
            return self._writes["pc"]
        if self._regs is not None:
            return self._regs["pc"]
        return self.read_register("pc")

    @pc.setter
    def pc(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
            raise ValueError(f"value {value!r} for pc: expected an integer 0..2**64-1")
        self.ensure_idle("pc")
        self._writes["pc"] = value
        self._word = None

    def registers(self) -> dict[str, int]:
        """x0–x30, sp, pc, pstate (as of the last exit, unless written since)."""
        if self._regs is None:
            self._regs = _named(self._call("registers"))
        values = dict(self._regs)
        values.update(self._writes)
        return values

    def read_register(self, name: str) -> int:
        """One register by name (core ones from what the last exit brought)."""
        key = name.lower() if isinstance(name, str) else name
        key = "pstate" if key == "cpsr" else key
        if key in self._writes:
            return self._writes[key]
        if key in _CORE and self._regs is not None:
            return self._regs[key]
        return self._call("read_register", name)

    def write_register(self, name: str, value: int) -> None:
        """Write one register by name (pc: with the next request)."""
        if isinstance(name, str) and name.lower() == "pc":
            self.pc = value
            return
        self.ensure_idle("write_register")
        self._update(self._call("write_register", name, value))

    # -- guest debug, running ----------------------------------------------------------------
    def set_guest_debug(
        self, flags: GuestDebug | int, arch: GuestDebugArch | None = None
    ) -> None:
        """``KVM_SET_GUEST_DEBUG`` in the lab."""
        self.ensure_idle("set_guest_debug")
        self._call("set_guest_debug", int(flags), arch)
        self.guest_debug = GuestDebug(flags)
        self.guest_debug_arch = arch

    def run(self, budget: Budget | float | None = None) -> Exit:
        """``KVM_RUN`` in the lab within ``budget`` (seconds: see ``KvmVCpu.run``)."""
        b = Budget.of(budget)
        return self.run_until(time.monotonic() + b.seconds, b.instructions or 0)

    def run_until(self, deadline: float, instructions: int = 0) -> Exit:
        """``run`` until ``deadline`` (``time.monotonic()``, measured on this side)."""
        refuse_instructions(instructions)
        me = threading.get_ident()
        if self._runner is not None:
            raise VCpuBusy("run", self._runner, me)
        self._runner = me
        try:
            # what is left of the deadline, but never less than GUEST_SECONDS: the lab's
            # round trips before this run (25-60 ms each, far more on a loaded machine)
            # are not the guest's time, and a step given 1 s could otherwise reach
            # KVM_RUN with nothing left and come back as a budget exit, not having run
            seconds = max(deadline - time.monotonic(), GUEST_SECONDS)
            result = self._call("run", seconds, timeout=seconds + RUN_MARGIN)
        finally:
            self._runner = None
        exit_: Exit = result["exit"]
        self._regs = _named(result["registers"])
        word = result["word"]
        self._word = None if word is None else (exit_.pc, word)
        self.last_exit = exit_
        return exit_

    def kick(self) -> None:
        """End the run in progress (a BUDGET exit, "interrupted"), or the next one at once."""
        self.lab.send({"op": "kick", "vcpu": self._id})

    def ensure_idle(self, what: str) -> None:
        """Raise ``VCpuBusy`` if another thread's run is in progress."""
        runner = self._runner
        if runner is not None and runner != threading.get_ident():
            raise VCpuBusy(what, runner, threading.get_ident())

    def reset(self) -> None:
        """A fresh machine from the program alone (a new VM in the lab)."""
        self.ensure_idle("reset")
        self._writes.clear()
        result = self._call("reset")
        self._fresh(_named(result["registers"]))

    def inject_exception(
        self, syndrome: int, *, return_to: int, far: int | None = None
    ) -> None:
        """Deliver a synchronous exception to the guest's EL1 vectors (through ONE_REG)."""
        self._update(self._call("inject_exception", syndrome, return_to, far))
        self._word = None

    # -- the scratch page ----------------------------------------------------------------------
    def write_scratch(self, offset: int, data: bytes) -> None:
        """Store code in the scratch page."""
        self._call("write_scratch", offset, bytes(data))

    def open_scratch(
        self, entry: frozenset[int], after: dict[int, frozenset[int]] | None = None
    ) -> None:
        """Bookkeeping only on KVM (see ``KvmVCpu.open_scratch``)."""
        self.scratch_open = entry
        if after is not None:
            self.scratch_after = after

    def hide_scratch(self) -> None:
        """Nothing to hide on KVM (see ``KvmVCpu.hide_scratch``)."""

    def load_vector(self, index: int, address: int, size: int) -> bool:
        """V``index`` = the ``size`` bytes at ``address``; False if they cannot be read."""
        return bool(self._call("load_vector", index, address, size))

    def exchange_x30(self, value: int) -> int:
        """x30 = ``value``; the old x30."""
        old = int(self._call("exchange_x30", value))
        if self._regs is not None:
            self._regs = {**self._regs, "x30": value}
        return old

    def guest_readable(self, address: int, size: int) -> bool:
        """Could a guest load of ``size`` bytes at ``address`` succeed?"""
        return bool(self._call("guest_readable", address, size))

    def __repr__(self) -> str:
        return f"LabVCpu({self.program.name}, guest_debug={self.guest_debug!r})"
