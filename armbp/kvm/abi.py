"""KVM's ABI as data: what crosses between the VMM and a vCPU, whichever machine runs it.

These are the records of ``linux/kvm.h`` and ``arch/arm64/include/uapi/asm/kvm.h``
written as Python values: the ``KVM_SET_GUEST_DEBUG`` control word (``GuestDebug``) with
its ``struct kvm_guest_debug_arch`` slots (``GuestDebugArch``), the exit reasons of
``struct kvm_run`` (``ExitReason``) and the records that go with them (``DebugExit`` for
``run->debug.arch``, ``MemoryAccess`` for ``run->mmio``, ``SystemEvent`` for
``run->system_event``), the ``Exit`` that bundles one return from ``KVM_RUN``, and the
run ``Budget`` (KVM's ``KVM_EXIT_INTR``: a signal ends the run).

Nothing here emulates: no Unicorn, no capstone. The VMM, the breakpoint table, the
debugger and every front end speak only this and ``armbp.kvm.backend``, so that the
Unicorn model (``armbp.kvm.unicorn``) and a real ``/dev/kvm`` backend are interchangeable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from armbp import esr

__all__ = [
    "DEFAULT_SECONDS",
    "FP_REGISTER_NAMES",
    "GUEST_DEBUG_HW_BPS",
    "GUEST_DEBUG_HW_WPS",
    "KVM_ARM_MAX_DBG_REGS",
    "PAGE_SIZE",
    "REGISTER_NAMES",
    "Budget",
    "DebugExit",
    "Exit",
    "ExitReason",
    "GuestDebug",
    "GuestDebugArch",
    "MemoryAccess",
    "SystemEvent",
    "SystemEventType",
    "VCpuBusy",
    "check_guest_debug",
    "check_map",
]

PAGE_SIZE = 0x1000
"""The granule of guest memory slots (``KVM_SET_USER_MEMORY_REGION`` takes whole pages)."""
DEFAULT_SECONDS = 1.0
"""The time limit of a run when none is given (see ``Budget``)."""
KVM_ARM_MAX_DBG_REGS = 16
"""Slots per array in ``struct kvm_guest_debug_arch`` (asm/kvm.h); the usable number is
``KVM_CAP_GUEST_DEBUG_HW_BPS`` / ``_WPS``."""
GUEST_DEBUG_HW_BPS = 6
"""Hardware breakpoint slots: what ``KVM_CHECK_EXTENSION(KVM_CAP_GUEST_DEBUG_HW_BPS)``
returns on the reference CPU (ID_AA64DFR0_EL1.BRPs + 1); ``dbg_bcr``/``dbg_bvr`` above
this index must be zero."""
GUEST_DEBUG_HW_WPS = 4
"""Hardware watchpoint slots: ``KVM_CHECK_EXTENSION(KVM_CAP_GUEST_DEBUG_HW_WPS)`` on the
reference CPU (ID_AA64DFR0_EL1.WRPs + 1)."""

_U64 = 1 << 64

# -- KVM's numbers (linux/kvm.h, arm64) ---------------------------------------------------------


class GuestDebug(IntFlag):
    """``KVM_SET_GUEST_DEBUG`` control bits (``struct kvm_guest_debug.control``)."""

    NONE = 0
    ENABLE = 1  # KVM_GUESTDBG_ENABLE
    SINGLESTEP = 2  # KVM_GUESTDBG_SINGLESTEP
    USE_SW_BP = 1 << 16  # KVM_GUESTDBG_USE_SW_BP: trap BRK to the VMM (MDCR_EL2.TDE)
    USE_HW = 1 << 17  # KVM_GUESTDBG_USE_HW: load the debugger's kvm_guest_debug_arch slots


class ExitReason(IntEnum):
    """Why ``run`` returned; the numbers are KVM's ``KVM_EXIT_*``."""

    UNKNOWN = 0
    DEBUG = 4  # KVM_EXIT_DEBUG: BRK, hw breakpoint, watchpoint, step (``Exit.debug``)
    HLT = 5  # KVM_EXIT_HLT: WFI with no interrupt that could ever wake it
    MMIO = 6  # KVM_EXIT_MMIO: access outside guest memory (``Exit.mmio``)
    BUDGET = 10  # KVM_EXIT_INTR: the time slice ran out, or ``kick()``
    INTERNAL_ERROR = 17  # KVM_EXIT_INTERNAL_ERROR: something we do not model
    SYSTEM_EVENT = 24  # KVM_EXIT_SYSTEM_EVENT: PSCI SYSTEM_OFF / SYSTEM_RESET


class SystemEventType(IntEnum):
    """``kvm_run.system_event.type``."""

    SHUTDOWN = 1  # KVM_SYSTEM_EVENT_SHUTDOWN
    RESET = 2  # KVM_SYSTEM_EVENT_RESET


_SLOT_FIELDS = ("dbg_bcr", "dbg_bvr", "dbg_wcr", "dbg_wvr")


@dataclass(frozen=True, slots=True)
class GuestDebugArch:
    """``struct kvm_guest_debug_arch``: the hardware debug registers KVM loads for the guest
    when the control word has ``USE_HW``.

    ``dbg_bcr``/``dbg_bvr`` are the breakpoint control/value registers (DBGBCRn_EL1,
    DBGBVRn_EL1), ``dbg_wcr``/``dbg_wvr`` the watchpoint ones (DBGWCRn_EL1, DBGWVRn_EL1):
    ``KVM_ARM_MAX_DBG_REGS`` (16) 64-bit values each, as tuples of ints. The default is
    every slot zero (nothing enabled). A list is accepted and kept as a tuple.
    """

    dbg_bcr: tuple[int, ...] = (0,) * KVM_ARM_MAX_DBG_REGS
    dbg_bvr: tuple[int, ...] = (0,) * KVM_ARM_MAX_DBG_REGS
    dbg_wcr: tuple[int, ...] = (0,) * KVM_ARM_MAX_DBG_REGS
    dbg_wvr: tuple[int, ...] = (0,) * KVM_ARM_MAX_DBG_REGS

    def __post_init__(self) -> None:
        for name in _SLOT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
                raise ValueError(
                    f"GuestDebugArch.{name}={value!r}: expected a tuple of "
                    f"{KVM_ARM_MAX_DBG_REGS} integers"
                )
            slots = tuple(value)
            if len(slots) != KVM_ARM_MAX_DBG_REGS:
                raise ValueError(
                    f"GuestDebugArch.{name} has {len(slots)} slots: expected "
                    f"{KVM_ARM_MAX_DBG_REGS} (KVM_ARM_MAX_DBG_REGS)"
                )
            for i, slot in enumerate(slots):
                if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < _U64:
                    raise ValueError(
                        f"GuestDebugArch.{name}[{i}]={slot!r}: expected an integer 0..2**64-1"
                    )
            object.__setattr__(self, name, slots)

    def any(self) -> bool:
        """True if any slot holds a non-zero value (something would be programmed)."""
        return any(any(getattr(self, name)) for name in _SLOT_FIELDS)


REGISTER_NAMES: tuple[str, ...] = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")
"""GDB's AArch64 core registers (org.gnu.gdb.aarch64.core): x0–x30, sp, pc, cpsr."""

# FP/SIMD (GDB's org.gnu.gdb.aarch64.fpu): V0-V31 are 128 bits (Arm ARM, "Registers in
# AArch64 Execution state"); FPCR and FPSR are 32 bits ("Special-purpose registers").
FP_REGISTER_NAMES: tuple[str, ...] = tuple(f"v{i}" for i in range(32)) + ("fpsr", "fpcr")


# -- exit records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DebugExit:
    """``struct kvm_debug_exit_arch`` (``run->debug.arch``): ``hsr``, the syndrome (ESR_EL2)
    of the debug exception; ``hsr_high``, its upper half (ISS2); ``far``, the data address
    of a watchpoint hit."""

    hsr: int
    hsr_high: int = 0
    far: int = 0

    @property
    def ec(self) -> int:
        """Exception class, ESR bits [31:26]."""
        return self.hsr >> 26 & 0x3F

    @property
    def ec_name(self) -> str:
        """The EC's short name, e.g. ``BRK64`` (from ``armbp.esr``)."""
        return esr.decode(self.hsr | self.hsr_high << 32).ec_name


@dataclass(frozen=True, slots=True)
class MemoryAccess:
    """An access the memory map could not satisfy: what, where, how big, why.

    KVM hands a data abort outside guest RAM to userspace as ``KVM_EXIT_MMIO`` with
    ``run->mmio`` (``phys_addr``, ``data``, ``len``, ``is_write``); ``address``, ``value``,
    ``size`` and ``access`` say the same, and ``why`` says it to a person."""

    address: int
    size: int
    access: str  # "read", "write" or "fetch"
    why: str = "nothing is mapped there"
    value: int | None = None  # the value a write tried to store

    def describe(self) -> str:
        what = (
            "fetch an instruction"
            if self.access == "fetch"
            else f"{self.access} {self.size} byte(s)"
        )
        return f"cannot {what} at {self.address:#x}: {self.why}"


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """``kvm_run.system_event``: the guest asked to power off or reset (PSCI)."""

    type: SystemEventType  # run->system_event.type
    function: int  # the PSCI function id the guest passed in x0


@dataclass(frozen=True, slots=True)
class Exit:
    """One return from ``KVM_RUN`` (a backend's ``run``): the reason and the record that goes with it.

    ``pc`` is where the guest stands now (the BRK itself for a breakpoint; the next
    instruction after a step).
    """

    reason: ExitReason
    pc: int
    debug: DebugExit | None = None
    mmio: MemoryAccess | None = None
    system_event: SystemEvent | None = None
    message: str = ""

    def __repr__(self) -> str:
        parts = [self.reason.name, f"pc={self.pc:#x}"]
        if self.debug is not None:
            parts.append(
                f"hsr={self.debug.hsr:#010x} (EC 0x{self.debug.ec:02X} {self.debug.ec_name})"
            )
            if self.debug.hsr_high or self.debug.far:
                parts.append(f"hsr_high={self.debug.hsr_high:#x}, far={self.debug.far:#x}")
        if self.mmio is not None:
            parts.append(self.mmio.describe())
        if self.system_event is not None:
            parts.append(
                f"{self.system_event.type.name} (PSCI {self.system_event.function:#x})"
            )
        if self.message:
            parts.append(repr(self.message))
        return f"Exit({', '.join(parts)})"


@dataclass(frozen=True)
class Budget:
    """How long one run may last: always a time limit, optionally an instruction count.

    The time limit is free (a watchdog thread calls ``emu_stop``). An instruction count
    makes Unicorn count every instruction — several times slower (DESIGN.md, "cost model")
    — so it is for stepping and small, deterministic lesson runs.
    """

    seconds: float = DEFAULT_SECONDS
    instructions: int | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.seconds, bool)
            or not isinstance(self.seconds, (int, float))
            or not self.seconds > 0
            or math.isnan(self.seconds)
        ):
            raise ValueError(f"budget seconds={self.seconds!r}: expected a number > 0")
        if self.instructions is not None and (
            isinstance(self.instructions, bool)
            or not isinstance(self.instructions, int)
            or self.instructions < 1
        ):
            raise ValueError(
                f"budget instructions={self.instructions!r}: expected an integer >= 1 or None"
            )

    @classmethod
    def of(cls, value: Budget | float | None) -> Budget:
        """A Budget from a Budget, a number of seconds, or None (the default)."""
        if value is None:
            return cls()
        if isinstance(value, Budget):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(seconds=value)
        raise ValueError(f"budget {value!r}: expected seconds (a number), a Budget, or None")


_KNOWN_DEBUG = int(
    GuestDebug.ENABLE | GuestDebug.SINGLESTEP | GuestDebug.USE_SW_BP | GuestDebug.USE_HW
)  # an int: IntFlag arithmetic is slow, and a step-over checks the flags thrice


def check_guest_debug(flags: object, arch: object) -> None:
    """Refuse a ``set_guest_debug(flags, arch)`` KVM would not take, before anything
    changes: ``flags`` of the ``GuestDebug`` bits only, ``arch`` a ``GuestDebugArch`` or
    None. A ``ValueError`` names the value and what was expected."""
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise ValueError(f"guest debug flags {flags!r}: expected GuestDebug flags")
    known = _KNOWN_DEBUG
    if flags & ~known:
        raise ValueError(
            f"guest debug flags {flags:#x}: unknown bits {flags & ~known:#x} "
            f"(expected a combination of {', '.join(str(f.name) for f in GuestDebug if f)})"
        )
    if arch is not None and not isinstance(arch, GuestDebugArch):
        raise ValueError(f"guest debug arch {arch!r}: expected a GuestDebugArch or None")


def check_map(address: object, size: object, perms: object) -> None:
    """Refuse a ``map(address, size, perms)`` no memory slot can take, before anything
    changes: whole pages (``KVM_SET_USER_MEMORY_REGION`` maps no less), ``perms`` of the
    letters "rwx". A ``ValueError`` names the value and what was expected."""
    for name, value in (("address", address), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"map: {name} {value!r} is not a non-negative integer")
    if not isinstance(perms, str) or not set(perms) <= set("rwx"):
        raise ValueError(f"map: perms {perms!r}: expected letters from 'rwx' (e.g. 'rw')")
    assert isinstance(address, int) and isinstance(size, int)
    if address % PAGE_SIZE or size % PAGE_SIZE or not size:
        low = address & ~(PAGE_SIZE - 1)
        high = (address + size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        raise ValueError(
            f"map: address {address:#x} and size {size:#x} must be multiples of the page "
            f"size {PAGE_SIZE:#x}, size > 0 (e.g. {low:#x}, {max(high - low, PAGE_SIZE):#x})"
        )


# -- the watchdog that turns a time budget into emu_stop ----------------------------------------


class VCpuBusy(RuntimeError):
    """A call that changes the vCPU was made from another thread while a run is in progress.

    Only ``kick`` / ``Debugger.interrupt`` may cross threads during a run: stop the
    run with it, wait for ``run``/``cont`` to return, then make the call. (KVM's vCPU
    ioctls take the vCPU mutex the same way: one thread drives a vCPU.)
    """

    def __init__(self, what: str, runner: int, caller: int):
        self.what, self.runner, self.caller = what, runner, caller
        super().__init__(
            f"{what}: the vCPU is running on thread {runner}; while a run is in progress "
            f"only interrupt() (VCpu.kick) may be called from another thread (this is "
            f"thread {caller}): interrupt the run, wait for it to return, then call "
            f"{what} again"
        )
