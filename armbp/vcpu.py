"""The vCPU: "the hardware + KVM" — one AArch64 core in Unicorn, run until something exits.

The VMM above sees what QEMU sees from ``KVM_RUN``: the guest runs until an exit, and the
exit is a record (``Exit``) with a reason number and, for a debug exit, the syndrome the
hardware wrote (``struct kvm_debug_exit_arch``: hsr, hsr_high, far). Unicorn gives no
syndrome, so this module builds it from the trapping instruction word with ``armbp.esr``.

What happens to an exception follows the hardware and KVM:

* ``BRK`` with guest debug ``ENABLE | USE_SW_BP`` set → a DEBUG exit (EC 0x3C) to the VMM.
  Without those flags (QEMU clears them when its breakpoint table is empty) the guest's
  own vector table takes it, exactly as on a machine with no debugger.
* ``SVC``, ``UDF`` and other undefined instructions → the guest's vectors (EL1 handles them).
* A fetch that cannot be translated → an instruction abort (EC 0x20/0x21, its IFSC from a
  stage 1 walk, FAR = pc); a misaligned PC → a PC alignment fault (EC 0x22); a breakpoint
  the guest programmed in DBGBVR/DBGBCR → EC 0x30/0x31. Unicorn tells these apart by
  neither number nor syndrome, so the state decides (``_prefetch_abort``).
* ``HVC`` → the hypervisor: PSCI calls are handled here like KVM does in the kernel;
  ``SYSTEM_OFF`` becomes a SYSTEM_EVENT exit, which is how a KVM guest ends.
* ``SINGLESTEP`` → exactly one instruction, then a DEBUG exit with the software-step
  syndrome (EC 0x32).
* Unmapped or protected memory → an MMIO exit naming the address (KVM hands a data abort
  outside guest RAM to userspace as ``KVM_EXIT_MMIO``; we have no devices behind it).
* The time budget runs out → a BUDGET exit (KVM's ``KVM_EXIT_INTR``: a signal kicked the
  vCPU out of ``KVM_RUN``). No call ever hangs.

Unicorn behaviours this relies on are listed in DESIGN.md and each has a test in
``tests/test_vcpu.py``.
"""
from __future__ import annotations

import ctypes
import functools
import math
import signal
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Callable

from unicorn import (UC_ARCH_ARM64, UC_ERR_READ_UNMAPPED, UC_HOOK_BLOCK, UC_HOOK_INTR,
                     UC_HOOK_MEM_FETCH_PROT,
                     UC_HOOK_MEM_FETCH_UNMAPPED, UC_HOOK_MEM_READ_PROT,
                     UC_HOOK_MEM_READ_UNMAPPED, UC_HOOK_MEM_WRITE_PROT,
                     UC_HOOK_MEM_WRITE_UNMAPPED, UC_MEM_FETCH_PROT, UC_MEM_FETCH_UNMAPPED,
                     UC_MEM_READ_PROT, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_PROT,
                     UC_MEM_WRITE_UNMAPPED, UC_MODE_ARM, UC_PROT_EXEC, UC_PROT_READ,
                     UC_PROT_WRITE, Uc, UcError)
from unicorn import arm64_const as regs

from armbp import esr
from armbp.encodings import BRK0, Op, classify, from_bytes, imm16_of
from armbp.fetch import breakpoint_matches, fetch_fault, pa_bits
from armbp.memory import MemoryFault
from armbp.program import Program

_get_ident = threading.get_ident

__all__ = [
    "Budget", "DebugExit", "Exit", "ExitReason", "GuestDebug", "GuestMemory", "MemoryAccess",
    "SystemEvent", "SystemEventType", "VCpu", "VCpuBusy", "REGISTER_NAMES", "FP_REGISTER_NAMES",
    "PAGE_SIZE",
]

PAGE_SIZE = 0x1000
STACK_SIZE = 0x10000
DEFAULT_SECONDS = 1.0

# -- KVM's numbers (linux/kvm.h, arm64) ---------------------------------------------------------


class GuestDebug(IntFlag):
    """``KVM_SET_GUEST_DEBUG`` control bits (``struct kvm_guest_debug.control``)."""

    NONE = 0
    ENABLE = 1              # KVM_GUESTDBG_ENABLE
    SINGLESTEP = 2          # KVM_GUESTDBG_SINGLESTEP
    USE_SW_BP = 1 << 16     # KVM_GUESTDBG_USE_SW_BP: trap BRK to the VMM (MDCR_EL2.TDE)
    USE_HW = 1 << 17        # KVM_GUESTDBG_USE_HW: hardware breakpoints/watchpoints (later)


class ExitReason(IntEnum):
    """Why ``run`` returned; the numbers are KVM's ``KVM_EXIT_*``."""

    UNKNOWN = 0
    DEBUG = 4               # KVM_EXIT_DEBUG: BRK trapped, step done (``Exit.debug``)
    HLT = 5                 # KVM_EXIT_HLT: WFI with no interrupt that could ever wake it
    MMIO = 6                # KVM_EXIT_MMIO: access outside guest memory (``Exit.mmio``)
    BUDGET = 10             # KVM_EXIT_INTR: the time slice ran out, or ``kick()``
    INTERNAL_ERROR = 17     # KVM_EXIT_INTERNAL_ERROR: something we do not model
    SYSTEM_EVENT = 24       # KVM_EXIT_SYSTEM_EVENT: PSCI SYSTEM_OFF / SYSTEM_RESET


class SystemEventType(IntEnum):
    """``kvm_run.system_event.type``."""

    SHUTDOWN = 1            # KVM_SYSTEM_EVENT_SHUTDOWN
    RESET = 2               # KVM_SYSTEM_EVENT_RESET


# -- PSCI (Arm DEN 0022, "Power State Coordination Interface"), SMC Calling Convention (DEN 0028)
PSCI_VERSION = 0x8400_0000
PSCI_SYSTEM_OFF = 0x8400_0008
PSCI_SYSTEM_RESET = 0x8400_0009
PSCI_VERSION_1_0 = 0x0001_0000
SMCCC_NOT_SUPPORTED = (1 << 64) - 1  # -1

# -- architectural constants (Arm ARM DDI 0487) -------------------------------------------------
PSTATE_EL1H_DAIF = 0x3C5    # D1.3.4 exception entry: DAIF masked, EL1, SP_EL1 (M = 0b0101)
VECTOR_CURRENT_SP0 = 0x000  # D1.3.5 Table "Vector offsets from vector table base address"
VECTOR_CURRENT_SPX = 0x200
VECTOR_LOWER_A64 = 0x400
WFI = 0xD503_207F           # C6.2.384 WFI
SCR_EL3_RW = 1 << 10        # D19.2 SCR_EL3.RW: the next lower EL is AArch64

# Unicorn's UC_HOOK_INTR numbers are QEMU's EXCP_* (target/arm/cpu.h); DESIGN.md, "Unicorn facts"
EXCP_UDEF = 1       # UDF, HLT, HVC with no EL2, ... (PC = the instruction)
EXCP_SWI = 2        # SVC (PC = the next instruction)
EXCP_BKPT = 7       # BRK (PC = the BRK itself)
EXCP_SMC = 13       # SMC (PC = the next instruction)
EXCP_PREFETCH_ABORT = 3  # an instruction abort, or a hardware breakpoint the guest programmed
EXCP_HWBKPT = EXCP_PREFETCH_ABORT

_TRAP_SW_BP = GuestDebug.ENABLE | GuestDebug.USE_SW_BP
_STEP = GuestDebug.ENABLE | GuestDebug.SINGLESTEP

_LIMIT = 1 << 64

# Unicorn stops when PC equals ``until``; an odd address is never a PC in A64.
_NO_UNTIL = (1 << 64) - 1

REGISTER_NAMES: tuple[str, ...] = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")
"""GDB's AArch64 core registers (org.gnu.gdb.aarch64.core): x0–x30, sp, pc, cpsr."""

_UC_REGS: dict[str, int] = {f"x{i}": getattr(regs, f"UC_ARM64_REG_X{i}") for i in range(29)}
_UC_REGS.update(x29=regs.UC_ARM64_REG_X29, x30=regs.UC_ARM64_REG_X30, sp=regs.UC_ARM64_REG_SP,
                pc=regs.UC_ARM64_REG_PC, pstate=regs.UC_ARM64_REG_PSTATE)
_CORE_IDS = [_UC_REGS[name] for name in REGISTER_NAMES]
# FP/SIMD (GDB's org.gnu.gdb.aarch64.fpu): V0-V31 are 128 bits (Arm ARM DDI 0487, B1.2.1
# "Registers in AArch64 Execution state"); FPCR and FPSR are 32 bits (C5.2, "Special-purpose
# registers").
FP_REGISTER_NAMES: tuple[str, ...] = tuple(f"v{i}" for i in range(32)) + ("fpsr", "fpcr")
_FP_REGS: dict[str, int] = {f"v{i}": getattr(regs, f"UC_ARM64_REG_V{i}") for i in range(32)}
_FP_REGS.update(fpsr=regs.UC_ARM64_REG_FPSR, fpcr=regs.UC_ARM64_REG_FPCR)
_REG_BITS = {name: 128 for name in _FP_REGS}
_REG_BITS.update(fpsr=32, fpcr=32)
_SYSTEM_REGS = {
    "esr_el1": regs.UC_ARM64_REG_ESR_EL1, "elr_el1": regs.UC_ARM64_REG_ELR_EL1,
    "far_el1": regs.UC_ARM64_REG_FAR_EL1, "vbar_el1": regs.UC_ARM64_REG_VBAR_EL1,
    "sp_el0": regs.UC_ARM64_REG_SP_EL0, "sp_el1": regs.UC_ARM64_REG_SP_EL1,
    "nzcv": regs.UC_ARM64_REG_NZCV,
}
# SPSR_EL1 has no Unicorn constant: op0=3, op1=0, CRn=4, CRm=0, op2=0 (D19.2 SPSR_EL1)
_SPSR_EL1 = (3, 0, 4, 0, 0)
# SCR_EL3: op0=3, op1=6, CRn=1, CRm=1, op2=0 (D19.2 SCR_EL3)
_SCR_EL3 = (3, 6, 1, 1, 0)
# What _prefetch_abort reads (op0, op1, CRn, CRm, op2; Arm ARM, "AArch64 System Register
# Descriptions": SCTLR_EL1, TCR_EL1, MDSCR_EL1, ID_AA64DFR0_EL1, ID_AA64MMFR0_EL1)
_SCTLR_EL1 = (3, 0, 1, 0, 0)
_TCR_EL1 = (3, 0, 2, 0, 2)
_MDSCR_EL1 = (2, 0, 0, 2, 2)
_ID_AA64DFR0_EL1 = (3, 0, 0, 5, 0)
_ID_AA64MMFR0_EL1 = (3, 0, 0, 7, 0)
_PC = regs.UC_ARM64_REG_PC
_X0 = regs.UC_ARM64_REG_X0

_BAD_ACCESS = {
    UC_MEM_READ_UNMAPPED: ("read", "nothing is mapped there"),
    UC_MEM_WRITE_UNMAPPED: ("write", "nothing is mapped there"),
    UC_MEM_FETCH_UNMAPPED: ("fetch", "nothing is mapped there"),
    UC_MEM_READ_PROT: ("read", "the page is not readable"),
    UC_MEM_WRITE_PROT: ("write", "the page is read-only"),
    UC_MEM_FETCH_PROT: ("fetch", "the page is not executable"),
}


# -- exit records -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DebugExit:
    """``struct kvm_debug_exit_arch``: the syndrome (ESR_EL2) of the debug exception, its
    upper half, and FAR (the data address of a watchpoint)."""

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
    """An access the memory map could not satisfy: what, where, how big, why."""

    address: int
    size: int
    access: str             # "read", "write" or "fetch"
    why: str = "nothing is mapped there"
    value: int | None = None  # the value a write tried to store

    def describe(self) -> str:
        what = "fetch an instruction" if self.access == "fetch" else \
            f"{self.access} {self.size} byte(s)"
        return f"cannot {what} at {self.address:#x}: {self.why}"


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """``kvm_run.system_event``: the guest asked to power off or reset (PSCI)."""

    type: SystemEventType
    function: int           # the PSCI function id the guest passed in x0


@dataclass(frozen=True, slots=True)
class Exit:
    """One return from ``VCpu.run``: the reason and the record that goes with it.

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
            parts.append(f"hsr={self.debug.hsr:#010x} (EC 0x{self.debug.ec:02X} "
                         f"{self.debug.ec_name})")
            if self.debug.hsr_high or self.debug.far:
                parts.append(f"hsr_high={self.debug.hsr_high:#x}, far={self.debug.far:#x}")
        if self.mmio is not None:
            parts.append(self.mmio.describe())
        if self.system_event is not None:
            parts.append(f"{self.system_event.type.name} (PSCI {self.system_event.function:#x})")
        if self.message:
            parts.append(repr(self.message))
        return f"Exit({', '.join(parts)})"


# The two debug records of the hot paths, shared (frozen values): BRK #0 → EC 0x3C, IL, ISS 0;
# a step of an ordinary instruction, seen from the hypervisor → EC 0x32, ISV, IFSC 0x22.
_BRK0_DEBUG = DebugExit(esr.brk(0))
_STEP_DEBUG = DebugExit(esr.software_step(same_el=False))


def stale_brk_note(word: int) -> str:
    """The message of a DEBUG exit whose BRK is no longer in memory (see ``_brk_syndrome``)."""
    return (f"the BRK that trapped is no longer in memory (it holds {word:#010x} now): the "
            f"guest overwrote it after it was translated; imm16 unknown, 0 in hsr")


def _brk_syndrome(word: int) -> tuple[int, str]:
    """The syndrome of the BRK that Unicorn says executed at a pc now holding ``word``,
    and a note when that word is not a BRK.

    ESR_ELx's ISS for a BRK is its imm16 ("comment"), which only the executed instruction
    knows. A guest store over the BRK in the same translated block lets the stale block
    run the BRK anyway (the architecture allows either instruction to execute until
    cache maintenance, Arm ARM B2.4.4), and memory then holds something else: an imm16
    taken from that word would be invented. The honest syndrome is BRK with imm16 0 and a
    note that says it is unknown.
    """
    if classify(word) is Op.BRK:
        return esr.brk(imm16_of(word)), ""
    return esr.brk(0), stale_brk_note(word)


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
        if (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                or not self.seconds > 0 or math.isnan(self.seconds)):
            raise ValueError(f"budget seconds={self.seconds!r}: expected a number > 0")
        if self.instructions is not None and (
                isinstance(self.instructions, bool) or not isinstance(self.instructions, int)
                or self.instructions < 1):
            raise ValueError(f"budget instructions={self.instructions!r}: expected an "
                             f"integer >= 1 or None")

    @classmethod
    def of(cls, value: "Budget | float | None") -> "Budget":
        """A Budget from a Budget, a number of seconds, or None (the default)."""
        if value is None:
            return cls()
        if isinstance(value, Budget):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(seconds=value)
        raise ValueError(f"budget {value!r}: expected seconds (a number), a Budget, or None")


# -- the watchdog that turns a time budget into emu_stop ----------------------------------------

# The longest the watchdog sleeps in one wait: far below threading.TIMEOUT_MAX (which
# Condition.wait refuses with OverflowError), long enough to cost nothing.
_MAX_SLEEP = 3600.0
_RETRY_SECONDS = 0.01  # after a failure while looking (see _Watchdog._loop)

class _Watchdog:
    """One daemon thread that stops runs whose time is up.

    Unicorn's own ``emu_start(timeout=...)`` starts and joins a timer thread per call, which
    costs ~110 µs on every re-entry (measured; see benchmarks/bench_core.py): a hit would
    cost 30 times the guest's work. This thread lives once per process and sleeps until the
    earliest deadline it knows. Every vCPU registers once, when it is made; a run publishes
    ``(token, deadline)`` on its vCPU without a lock, and wakes the thread only when that
    deadline is earlier than ``waiting_until``, the time the thread will look again by
    itself. While the thread is looking, ``waiting_until`` is +inf: it has promised nothing,
    so a run published then wakes it (and waits for the lock until it sleeps). A stop
    can race with the end of its run and land in the next one: the vCPU sees a stop that is
    not its own and simply enters the guest again. ``emu_stop`` is safe from another thread
    (Unicorn's own timer does the same).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._vcpus: "weakref.WeakSet[VCpu]" = weakref.WeakSet()
        self.waiting_until = math.inf
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.last_failure: BaseException | None = None

    def register(self, vcpu: "VCpu") -> None:
        """Look at ``vcpu``'s runs from now on (every vCPU, not only those that woke us)."""
        with self._cond:
            self._vcpus.add(vcpu)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="armbp-watchdog",
                                                daemon=True)
                self._thread.start()

    def watch(self, vcpu: "VCpu") -> None:
        """Wake up to look at ``vcpu``'s current run (called only for an earlier deadline)."""
        with self._cond:
            self.waiting_until = math.inf  # until the thread has looked again
            self._cond.notify()

    def _loop(self) -> None:
        """Look, stop what is due, sleep; for the life of the process.

        Nothing may end this loop: every budget in the process depends on it. A failure
        while looking (a vCPU whose stop raised) is counted in ``failures``, kept in
        ``last_failure``, and the thread looks again shortly after.
        """
        with self._cond:
            while True:
                try:
                    self._look_and_sleep()
                except Exception as e:  # noqa: BLE001 - see the docstring
                    self.failures += 1
                    self.last_failure = e
                    self.waiting_until = math.inf
                    self._cond.wait(_RETRY_SECONDS)

    def _look_and_sleep(self) -> None:
        # While looking we promise no wake-up time: a run published after we
        # looked at its vCPU must wake us, so every deadline counts as earlier.
        self.waiting_until = math.inf
        now = time.monotonic()
        nearest = math.inf
        for vcpu in list(self._vcpus):
            run = vcpu._run
            if run is None:
                continue
            token, deadline = run
            if deadline <= now:
                vcpu._time_up(token)
                deadline = now + 0.001  # a stop sent before emu_start began is lost
            nearest = min(nearest, deadline)
        self.waiting_until = nearest
        if nearest == math.inf:
            self._cond.wait()
        else:
            # Condition.wait raises OverflowError above threading.TIMEOUT_MAX (a budget
            # of 1e10 s): sleep at most _MAX_SLEEP and look again, the deadline stays.
            self._cond.wait(min(nearest - now, _MAX_SLEEP))


_WATCHDOG = _Watchdog()


# -- memory ---------------------------------------------------------------------------------------

class _CtrlC:
    """Ctrl-C during a run on the main thread: stop the guest, then raise KeyboardInterrupt.

    Python's own SIGINT handler raises KeyboardInterrupt at the next bytecode, and during a
    run that is usually inside one of our hooks, which C calls through ctypes: an exception
    raised on the hook's very first line, before its ``try``, is printed and dropped by
    ctypes, and the Ctrl-C is lost (seen in a storm of guest exceptions). So while a run is
    on the main thread and SIGINT still has Python's default handler, this handler takes
    its place: it only kicks the running vCPU (an emu_stop, safe from a hook) and notes
    the Ctrl-C; ``run`` raises KeyboardInterrupt once the emulator has returned. Outside a
    run it behaves exactly as the default handler. Installed once, the first time it is
    needed; checked with ``signal.getsignal`` (no system call) at every run.
    """

    def __init__(self) -> None:
        self.running: VCpu | None = None   # the vCPU whose run is on the main thread
        self.pressed = False
        self.main = threading.main_thread().ident

    def arm(self, vcpu: "VCpu") -> bool:
        """Before a run on this thread: take SIGINT if we may; True if the run is covered."""
        if _get_ident() != self.main:
            return False
        handler = _getsignal(_SIGINT)
        if handler is signal.default_int_handler:
            signal.signal(signal.SIGINT, self)
        elif handler is not self:
            return False  # somebody else's handler: theirs to deal with
        self.running, self.pressed = vcpu, False
        return True

    def disarm(self) -> None:
        """After the run: raise the Ctrl-C that came during it."""
        self.running = None
        if self.pressed:
            self.pressed = False
            raise KeyboardInterrupt

    def __call__(self, signum: int, frame: object) -> None:
        vcpu = self.running
        if vcpu is None:
            raise KeyboardInterrupt  # as the default handler
        self.pressed = True
        vcpu.kick()


_CTRL_C = _CtrlC()
_SIGINT = int(signal.SIGINT)
try:  # the C function: ``signal.getsignal`` adds an enum conversion (a fifth of a hit, profiled)
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover - another Python implementation
    _getsignal = signal.getsignal


# How long ``kick`` keeps asking a run that has not yet taken its stop (see ``kick``).
_KICK_PATIENCE = 2.0


class VCpuBusy(RuntimeError):
    """A call that changes the vCPU was made from another thread while a run is in progress.

    Only ``VCpu.kick`` / ``Debugger.interrupt`` may cross threads during a run: stop the
    run with it, wait for ``run``/``cont`` to return, then make the call.
    """

    def __init__(self, what: str, runner: int, caller: int):
        self.what, self.runner, self.caller = what, runner, caller
        super().__init__(
            f"{what}: the vCPU is running on thread {runner}; while a run is in progress "
            f"only interrupt() (VCpu.kick) may be called from another thread (this is "
            f"thread {caller}): interrupt the run, wait for it to return, then call "
            f"{what} again")


def _exclusive(method: Callable) -> Callable:
    """Make ``method`` refuse to run while another thread's run is in progress, and keep a
    run from starting while it runs (see ``VCpu.ensure_idle``)."""
    name = method.__name__

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        vcpu = self if isinstance(self, VCpu) else self._vcpu
        me = _get_ident()
        runner = vcpu._runner
        if runner is not None:
            if runner != me:
                raise VCpuBusy(name, runner, me)
            return method(self, *args, **kwargs)  # inside the run, on its own thread
        if vcpu._owner == me:
            return method(self, *args, **kwargs)  # called by another guarded method
        with vcpu._lock:
            # Announce the change, then look for a run: a run announces itself, then
            # looks for a change (VCpu.run_until). One of the two always sees the other.
            vcpu._owner = me
            try:
                runner = vcpu._runner
                if runner is not None and runner != me:
                    raise VCpuBusy(name, runner, me)
                return method(self, *args, **kwargs)
            finally:
                vcpu._owner = None
    return guarded


# One access to guest memory: above LARGE_ACCESS bytes the memory map is checked before
# Unicorn is asked (it would allocate the buffer first); above MAX_ACCESS it is refused.
LARGE_ACCESS = 1 << 20
MAX_ACCESS = 1 << 30


class GuestMemory:
    """The ``Memory`` interface over the vCPU's guest memory (what the breakpoint table uses).

    A write of code must be followed by cache maintenance before the new instruction is
    guaranteed to execute: on hardware DC CVAU, IC IVAU, ISB (Arm ARM B2.4.4, "Concurrent
    modification and execution of instructions"); in Unicorn, dropping the translated blocks
    of that range. ``VCpu.flush_code_writes = False`` turns the step off, to show what goes
    wrong without it.
    """

    def __init__(self, vcpu: "VCpu"):
        self._vcpu = vcpu

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; ``MemoryFault`` if any of them is unmapped.

        A read larger than ``LARGE_ACCESS`` is checked against the memory map first, so
        that a size no guest has (``2**40``) is a fault at once, not a buffer of that size;
        one that is mapped but larger than ``MAX_ACCESS`` is a ``ValueError`` naming both.
        The vCPU's scratch page is not guest memory: it faults like unmapped memory.
        """
        if size < 0 or address < 0:
            raise MemoryFault(address, size, "read", "negative address or size")
        if size > LARGE_ACCESS or address + size > _LIMIT:
            self._check_large(address, size, "read")
        base = self._vcpu.scratch_base
        if address < base + PAGE_SIZE and base < address + size:
            raise MemoryFault(address, size, "read")
        try:
            return bytes(self._vcpu.uc.mem_read(address, size))
        except UcError:
            raise MemoryFault(address, size, "read") from None

    @_exclusive
    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` (nothing is written if any byte is unmapped), then flush it as code."""
        data = bytes(data)
        if address < 0:
            raise MemoryFault(address, len(data), "write", "negative address")
        if address + len(data) > _LIMIT:
            self._check_large(address, len(data), "write")
        base = self._vcpu.scratch_base
        if address < base + PAGE_SIZE and base < address + len(data):
            raise MemoryFault(address, len(data), "write")
        try:
            self._vcpu.uc.mem_write(address, data)
        except UcError:
            raise MemoryFault(address, len(data), "write") from None
        if self._vcpu.flush_code_writes:
            self.invalidate_code(address, len(data))

    def _check_large(self, address: int, size: int, access: str) -> None:
        """Refuse an access that leaves the address space, touches unmapped memory, or is
        larger than ``MAX_ACCESS`` — before any buffer of ``size`` bytes is made."""
        end = address + size
        if end > _LIMIT:
            raise MemoryFault(address, size, access,
                              "the range goes past the end of the 64-bit address space")
        at = address
        for begin, last, _prot in sorted(self._vcpu.uc.mem_regions()):  # ``last`` inclusive
            if last < at:
                continue
            if begin > at:
                break
            at = last + 1
            if at >= end:
                break
        if at < end:
            raise MemoryFault(address, size, access, f"nothing is mapped at {at:#x}")
        if size > MAX_ACCESS:
            raise ValueError(f"cannot {access} {size:#x} bytes at once: the limit of one "
                             f"access is MAX_ACCESS = {MAX_ACCESS:#x} bytes")

    @_exclusive
    def invalidate_code(self, address: int, size: int) -> None:
        """Cache maintenance after writing instructions: DC CVAU + IC IVAU + ISB.

        Unicorn caches translated blocks; ``mem_write`` does not drop them, so without this
        a restored instruction can still run as the old BRK (and a new BRK be ignored).
        """
        self._vcpu.uc.ctl_remove_cache(address, address + max(size, 1))


def _direct_calls(uc: Uc) -> tuple[Callable[[], int], Callable[[int], int], Callable[[], None]]:
    """``read_pc()``, ``read_word(address)`` and ``stop()`` for the trap path, straight
    through the C library.

    The Python binding's ``reg_read``/``mem_read`` spend ~1 µs each choosing a register
    class and building buffers; a hit needs both, and a whole hit is a few µs (DESIGN.md,
    "cost model"). These reuse one buffer and call ``uc_reg_read``, ``uc_mem_read`` and
    ``uc_emu_stop`` directly; if the binding's internals are not what 2.1.x has, they fall
    back to the public calls (``tests/test_vcpu.py`` checks that both agree).
    """
    try:
        from unicorn.unicorn_py3.unicorn import uclib
        handle = uc._uch  # type: ignore[attr-defined]
        reg_read, mem_read, emu_stop = uclib.uc_reg_read, uclib.uc_mem_read, uclib.uc_emu_stop
    except (ImportError, AttributeError):  # pragma: no cover - another binding
        return ((lambda: uc.reg_read(_PC)), (lambda address: from_bytes(uc.mem_read(address, 4))),
                uc.emu_stop)
    value = ctypes.c_uint64()
    ref = ctypes.byref(value)
    buf = ctypes.create_string_buffer(4)
    word = ctypes.c_uint32.from_buffer(buf)  # A64 code is little-endian, as is the host here
    little = sys.byteorder == "little"

    def read_pc() -> int:
        if reg_read(handle, _PC, ref):
            return uc.reg_read(_PC)  # raises the binding's error
        return value.value

    def read_word(address: int) -> int:
        if mem_read(handle, address, buf, 4):
            raise UcError(UC_ERR_READ_UNMAPPED)
        return word.value if little else int.from_bytes(buf.raw, "little")

    def stop() -> None:
        emu_stop(handle)

    return read_pc, read_word, stop


def _add_intr_hook(uc: Uc, callback: Callable[[object, int, object], None]) -> object:
    """Register ``callback(handle, intno, user)`` as the UC_HOOK_INTR hook, called by C.

    The binding wraps every hook in two Python frames (an exception guard and an argument
    adapter), ~0.4 µs of a ~6 µs hit. ``callback`` guards itself, so C can call it
    directly. Falls back to ``uc.hook_add`` on another binding. Returns what must be kept
    alive for as long as the hook is installed.
    """
    try:
        from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, uc_hook_h, uclib
        handle = uc._uch  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # pragma: no cover - another binding
        return uc.hook_add(UC_HOOK_INTR, lambda _uc, intno, user: callback(None, intno, user))

    fptr = HOOK_INTR_CFUNC(callback)
    hook = uc_hook_h()
    status = uclib.uc_hook_add(handle, ctypes.byref(hook), UC_HOOK_INTR, fptr, None,
                               ctypes.c_uint64(1), ctypes.c_uint64(0))
    if status:
        raise UcError(status)
    return fptr


def _step_over_calls(uc: Uc) -> tuple[Callable[[int, int, int], bool], Callable[[int], int]]:
    """``load_vector(index, address, size)`` and ``exchange_x30(value)`` for the step-over
    fix-ups done on the registers, straight through the C library (the binding spends
    ~10 µs writing a 128-bit register, ~4 µs reading memory; a hit is a few µs)."""
    v0, x30 = regs.UC_ARM64_REG_V0, regs.UC_ARM64_REG_X30
    try:
        from unicorn.unicorn_py3.unicorn import uclib
        handle = uc._uch  # type: ignore[attr-defined]
        reg_read, reg_write, mem_read = uclib.uc_reg_read, uclib.uc_reg_write, uclib.uc_mem_read
    except (ImportError, AttributeError):  # pragma: no cover - another binding
        def load_any(index: int, address: int, size: int) -> bool:
            try:
                data = uc.mem_read(address, size)
            except UcError:
                return False
            uc.reg_write(v0 + index, int.from_bytes(data, "little"))
            return True

        def exchange_any(value: int) -> int:
            old = uc.reg_read(x30)
            uc.reg_write(x30, value)
            return old
        return load_any, exchange_any
    buf = ctypes.create_string_buffer(16)  # a V register: 128 bits, little-endian as here
    value = ctypes.c_uint64()
    ref = ctypes.byref(value)

    def load_vector(index: int, address: int, size: int) -> bool:
        ctypes.memset(buf, 0, 16)
        if mem_read(handle, address, buf, size):
            return False
        return not reg_write(handle, v0 + index, buf)

    def exchange_x30(new: int) -> int:
        reg_read(handle, x30, ref)
        old = value.value
        value.value = new
        reg_write(handle, x30, ref)
        return old

    return load_vector, exchange_x30


def _tlb_flusher(uc: Uc) -> Callable[[], None]:
    """``flush()``: drop every TLB entry (``UC_CTL_TLB_FLUSH``), straight through the C
    library (``VCpu.hide_scratch``)."""
    from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH
    code = UC_CTL_IO_WRITE << 30 | UC_CTL_TLB_FLUSH  # no arguments
    try:
        from unicorn.unicorn_py3.unicorn import uclib
        handle = uc._uch  # type: ignore[attr-defined]
        ctl = uclib.uc_ctl
    except (ImportError, AttributeError):  # pragma: no cover - another binding
        return lambda: uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def flush() -> None:
        ctl(handle, code)
    return flush


def _add_block_hook(uc: Uc, callback: Callable[[object, int, int, object], None],
                    begin: int, end: int) -> object:
    """Register ``callback(handle, address, size, user)`` as a UC_HOOK_BLOCK hook for the
    blocks that start in ``begin..end`` (inclusive), called by C without the binding's two
    wrapper frames (see ``_add_intr_hook``). Returns what must be kept alive."""
    try:
        from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uc_hook_h, uclib
        handle = uc._uch  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # pragma: no cover - another binding
        return uc.hook_add(UC_HOOK_BLOCK, lambda _uc, address, size, user:
                           callback(None, address, size, user), begin=begin, end=end)
    fptr = HOOK_CODE_CFUNC(callback)
    hook = uc_hook_h()
    status = uclib.uc_hook_add(handle, ctypes.byref(hook), UC_HOOK_BLOCK, fptr, None,
                               ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if status:
        raise UcError(status)
    return fptr


_CLOSED: frozenset[int] = frozenset()


# -- the vCPU ---------------------------------------------------------------------------------------

def _align_down(value: int, align: int = PAGE_SIZE) -> int:
    return value & ~(align - 1)


def _align_up(value: int, align: int = PAGE_SIZE) -> int:
    return (value + align - 1) & ~(align - 1)


def _perms(flags: str) -> int:
    return ((UC_PROT_READ if "r" in flags else 0) | (UC_PROT_WRITE if "w" in flags else 0)
            | (UC_PROT_EXEC if "x" in flags else 0))


class VCpu:
    """One AArch64 vCPU with the program's memory, a stack and a scratch page.

    Memory map: every ``Segment`` of the program (page-aligned, with its r/w/x flags), a
    ``scratch`` page right after it (the debugger executes displaced instructions there),
    then a gap, then the stack (``stack_top`` is 16-byte aligned, SP points at it).

    The scratch page is not guest memory. Guest loads and stores there fault as if nothing
    were mapped, and so do ``memory`` reads and writes (hence ``break_at`` there too); a
    fetch from it is refused the same way unless the debugger has just opened it for one
    step-over (``open_scratch``): a block hook on the page admits only the block starts
    the debugger named, once each. (One gap, a Unicorn limit: from a step-over through the
    page until ``hide_scratch``, the guest's loads from it are not refused.)
    """

    def __init__(self, program: Program, *, flush_code_writes: bool = True,
                 stack_size: int = STACK_SIZE):
        if not isinstance(program, Program):
            raise ValueError(f"expected an armbp.Program (e.g. from armbp.assemble), got "
                             f"{type(program).__name__}")
        if stack_size <= 0 or stack_size % PAGE_SIZE:
            raise ValueError(f"stack_size={stack_size:#x}: expected a positive multiple of "
                             f"{PAGE_SIZE:#x}")
        self.program = program
        self.flush_code_writes = flush_code_writes
        self.stack_size = stack_size
        self.memory = GuestMemory(self)
        top = max(seg.end for seg in program.segments)
        self.scratch_base = _align_up(top)
        self.stack_base = self.scratch_base + 2 * PAGE_SIZE  # one unmapped guard page between
        self.stack_top = self.stack_base + stack_size
        self._kicked = False
        self._fired = 0
        self._token = 0
        self._runner: int | None = None  # the thread ident of the run in progress
        self._owner: int | None = None   # the thread making a change outside a run
        self._lock = threading.Lock()     # held while that change is made
        self._run: tuple[int, float] | None = None
        self._raise: BaseException | None = None  # what the hook caught for run() to raise
        self._delivery: tuple[int, list[tuple[int, int]], bool] | None = None  # _deliver
        _WATCHDOG.register(self)
        self.reset()

    # -- reset ------------------------------------------------------------------------------
    @_exclusive
    def reset(self) -> None:
        """A fresh machine: memory reloaded from the program, registers in a known state.

        EL1h with DAIF masked (Unicorn's reset state), x0–x30 = 0, SP = ``stack_top``,
        PC = the program's entry, guest debug off, and SCR_EL3.RW = 1 so that the guest's
        own ERET to EL1 is legal (with RW = 0 Unicorn sets PSTATE.IL on every ERET).
        """
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)  # built whole before it replaces the old one
        self._map_program(uc)
        # execute-only: the guest's loads and stores fault; its fetches meet the block hook
        uc.mem_map(self.scratch_base, PAGE_SIZE, UC_PROT_EXEC)
        self.scratch_open: frozenset[int] = _CLOSED   # block starts admitted next
        self.scratch_after: dict[int, frozenset[int]] = {}  # admitted next after each one
        self.scratch_fetched = False                  # run from since the last TLB flush
        self._scratch_hook = _add_block_hook(uc, self._on_scratch_block, self.scratch_base,
                                             self.scratch_base + PAGE_SIZE - 1)
        uc.mem_map(self.stack_base, self.stack_size, UC_PROT_READ | UC_PROT_WRITE)
        uc.cpr_write(*_SCR_EL3, SCR_EL3_RW)
        uc.reg_write(regs.UC_ARM64_REG_SP, self.stack_top)
        uc.reg_write(_PC, self.program.entry)
        self._intr_hook = _add_intr_hook(uc, self._on_interrupt_guarded)
        uc.hook_add(UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED
                    | UC_HOOK_MEM_FETCH_UNMAPPED | UC_HOOK_MEM_READ_PROT
                    | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT, self._on_bad_access)
        self.uc = uc
        self._read_pc, self._read_word, self._stop_now = _direct_calls(uc)
        self._flush_tlb = _tlb_flusher(uc)
        self._load_vector, self._exchange_x30 = _step_over_calls(uc)
        self._brk0_exits: dict[int, Exit] = {}
        self.set_guest_debug(GuestDebug.NONE)
        self._pc: int | None = self.program.entry
        self._counted = False
        self._exit: Exit | None = None
        self._raise = self._delivery = None
        self.last_exit: Exit | None = None

    def _map_program(self, uc: Uc) -> None:
        pages: dict[int, int] = {}
        for seg in self.program.segments:
            if seg.memsz <= 0:
                continue
            for page in range(_align_down(seg.vaddr), _align_up(seg.end), PAGE_SIZE):
                pages[page] = pages.get(page, 0) | _perms(seg.flags)
        run_start = prev = None
        perms = 0
        for page in sorted(pages) + [None]:
            if page is not None and prev is not None and page == prev + PAGE_SIZE \
                    and pages[page] == perms:
                prev = page
                continue
            if run_start is not None:
                uc.mem_map(run_start, prev + PAGE_SIZE - run_start, perms)
            if page is not None:
                run_start = prev = page
                perms = pages[page]
        for seg in self.program.segments:
            if seg.data:
                uc.mem_write(seg.vaddr, bytes(seg.data[:seg.memsz]))

    # -- memory map -------------------------------------------------------------------------
    @_exclusive
    def map(self, address: int, size: int, perms: str = "rw") -> None:
        """Add guest memory: ``size`` zeroed bytes at ``address`` with ``perms`` ("r", "w",
        "x" letters, as in a ``Segment``) — a new memory slot, as ``KVM_SET_USER_MEMORY_REGION``
        adds one.

        Both ``address`` and ``size`` must be multiples of ``PAGE_SIZE``, and the range must
        not overlap memory already mapped; a ``ValueError`` names the values otherwise and
        nothing changes. ``reset()`` drops such mappings: the machine is rebuilt from the
        program alone.
        """
        for name, value in (("address", address), ("size", size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"map: {name} {value!r} is not a non-negative integer")
        if not isinstance(perms, str) or not set(perms) <= set("rwx"):
            raise ValueError(f"map: perms {perms!r}: expected letters from 'rwx' (e.g. 'rw')")
        if address % PAGE_SIZE or size % PAGE_SIZE or not size:
            raise ValueError(
                f"map: address {address:#x} and size {size:#x} must be multiples of the page "
                f"size {PAGE_SIZE:#x}, size > 0 (e.g. {_align_down(address):#x}, "
                f"{max(_align_up(address + size) - _align_down(address), PAGE_SIZE):#x})")
        end = address + size
        if end > _LIMIT:
            raise ValueError(f"map: {address:#x} + {size:#x} goes past the end of the "
                             f"64-bit address space")
        for begin, last, prot in self.uc.mem_regions():  # ``last`` is inclusive
            if address <= last and begin < end:
                have = "".join(c if prot & bit else "-" for c, bit in (
                    ("r", UC_PROT_READ), ("w", UC_PROT_WRITE), ("x", UC_PROT_EXEC)))
                raise ValueError(f"map: {address:#x}..{end - 1:#x} overlaps memory already "
                                 f"mapped at {begin:#x}..{last:#x} ({have})")
        try:
            self.uc.mem_map(address, size, _perms(perms))
        except UcError as e:
            raise ValueError(f"map: cannot map {address:#x}..{end - 1:#x}: {e}") from None

    # -- the scratch page (displaced stepping) ----------------------------------------------
    def write_scratch(self, offset: int, data: bytes) -> None:
        """Store code in the scratch page (the debugger's own write: the guest cannot), and
        flush it as any code write (unless ``flush_code_writes`` is off)."""
        if not 0 <= offset <= PAGE_SIZE - len(data):
            raise ValueError(f"scratch write at offset {offset:#x} of {len(data)} bytes: "
                             f"expected it inside the {PAGE_SIZE:#x}-byte page")
        address = self.scratch_base + offset
        self.uc.mem_write(address, bytes(data))
        if self.flush_code_writes:
            self.uc.ctl_remove_cache(address, address + max(len(data), 1))

    def open_scratch(self, entry: frozenset[int],
                     after: dict[int, frozenset[int]] | None = None) -> None:
        """Admit the next guest fetch of a block starting at an address in ``entry`` (and,
        after each such block, those in ``after[address]``); ``open_scratch(frozenset())``
        closes the page again. Every other fetch there is refused as unmapped."""
        self.scratch_open = entry
        if after is not None:
            self.scratch_after = after

    def hide_scratch(self) -> None:
        """Make guest loads from the scratch page fault again after a step-over ran there.

        Unicorn fact: a fetch fills the page's TLB entry for reads as well, and the
        page's permissions are checked only on a TLB miss, so until the TLB is flushed
        the guest's loads from the page would succeed. A flush costs ~15 µs (every
        entry, every translation regime), too much for every hit: the debugger calls this
        when a run does not go through the slot. Cheap when nothing ran there since.
        """
        if self.scratch_fetched:
            self.scratch_fetched = False
            self._flush_tlb()

    def _on_scratch_block(self, _handle: object, address: int, _size: int,
                          _user: object) -> None:
        """UC_HOOK_BLOCK on the scratch page: our step-over's blocks pass, once each."""
        if address in self.scratch_open:
            self.scratch_open = self.scratch_after.get(address, _CLOSED)
            self.scratch_fetched = True  # see ``hide_scratch``
            return
        self.scratch_open = _CLOSED
        self._exit = Exit(ExitReason.MMIO, address, mmio=MemoryAccess(
            address, 4, "fetch", "nothing is mapped there"))
        self._stop_now()  # before the block's first instruction (UC_HOOK_BLOCK runs first)

    def load_vector(self, index: int, address: int, size: int) -> bool:
        """V``index`` = the ``size`` (4, 8 or 16) bytes at ``address``, zero-extended to
        128 bits, as LDR St/Dt/Qt do; False (nothing changed) if they cannot be read."""
        return self._load_vector(index, address, size)

    def exchange_x30(self, value: int) -> int:
        """x30 = ``value``; the old x30 (BLR x30's fix-up: link, then branch to the old)."""
        return self._exchange_x30(value)

    def guest_readable(self, address: int, size: int) -> bool:
        """Could a guest load of ``size`` bytes at ``address`` succeed (mapped, readable,
        not the scratch page)? Physical addresses: the MMU is off in armbp's guests."""
        end = address + size
        if size <= 0 or end > _LIMIT or (address < self.scratch_base + PAGE_SIZE
                                         and self.scratch_base < end):
            return False
        for begin, last, prot in self.uc.mem_regions():  # sorted, ``last`` inclusive
            if begin <= address <= last:
                if not prot & UC_PROT_READ:
                    return False
                if end - 1 <= last:
                    return True
                address = last + 1
        return False

    # -- KVM_SET_GUEST_DEBUG ----------------------------------------------------------------
    @_exclusive
    def set_guest_debug(self, flags: GuestDebug | int) -> None:
        """Set the guest-debug control bits, like ``ioctl(KVM_SET_GUEST_DEBUG)``.

        Nothing is trapped unless ``ENABLE`` is set; BRK traps to the VMM only with
        ``ENABLE | USE_SW_BP``; ``ENABLE | SINGLESTEP`` makes the next run one instruction.
        """
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise ValueError(f"guest debug flags {flags!r}: expected GuestDebug flags")
        known = GuestDebug.ENABLE | GuestDebug.SINGLESTEP | GuestDebug.USE_SW_BP | \
            GuestDebug.USE_HW
        if flags & ~known:
            raise ValueError(f"guest debug flags {flags:#x}: unknown bits {flags & ~known:#x} "
                             f"(expected a combination of {', '.join(f.name for f in GuestDebug if f)})")
        self.guest_debug = GuestDebug(flags)
        # decided once here, not on every trap (IntFlag arithmetic is slow in Python)
        self.traps_brk = flags & _TRAP_SW_BP == _TRAP_SW_BP
        self.single_steps = flags & _STEP == _STEP

    # -- registers --------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        """The program counter. Setting it is free: the value is handed to the next run."""
        if self._pc is None:
            self._pc = self.uc.reg_read(_PC)
        return self._pc

    @pc.setter
    def pc(self, value: int) -> None:
        if value.__class__ is not int or not 0 <= value < _LIMIT:
            self._check_value("pc", value)
        if self._runner is not None:
            self.ensure_idle("pc")
        self._pc = value

    def registers(self) -> dict[str, int]:
        """x0–x30, sp, pc, pstate in one batch read (GDB's core set)."""
        values = dict(zip(REGISTER_NAMES, self.uc.reg_read_batch(_CORE_IDS)))
        values["pc"] = self.pc
        return values

    def read_register(self, name: str) -> int:
        """One register by name: a core register; esr_el1/elr_el1/spsr_el1/far_el1/
        vbar_el1/sp_el0/sp_el1/nzcv/currentel; or FP/SIMD: v0–v31 (128-bit integers),
        fpsr, fpcr."""
        key = self._register_key(name)
        if key == "pc":
            return self.pc
        if key == "spsr_el1":
            return self.uc.cpr_read(*_SPSR_EL1)
        if key == "currentel":
            return self.uc.reg_read(regs.UC_ARM64_REG_PSTATE) & 0xC
        if key in _FP_REGS:
            return self.uc.reg_read(_FP_REGS[key])
        return self.uc.reg_read(_UC_REGS.get(key) or _SYSTEM_REGS[key])

    @_exclusive
    def write_register(self, name: str, value: int) -> None:
        """Write one register (see ``read_register`` for the names)."""
        key = self._register_key(name)
        self._check_value(name, value, _REG_BITS.get(key, 64))
        if key == "pc":
            self.pc = value
        elif key == "spsr_el1":
            self.uc.cpr_write(*_SPSR_EL1, value)
        elif key == "currentel":
            raise ValueError("currentel is read-only: write pstate to change the EL")
        elif key in _FP_REGS:
            self.uc.reg_write(_FP_REGS[key], value)
        else:
            self.uc.reg_write(_UC_REGS.get(key) or _SYSTEM_REGS[key], value)
            if key == "pstate":
                self._rebuild_hflags()

    @staticmethod
    def _register_key(name: str) -> str:
        key = name.lower() if isinstance(name, str) else name
        if key == "cpsr":
            key = "pstate"
        if key in _UC_REGS or key in _SYSTEM_REGS or key in _FP_REGS \
                or key in ("spsr_el1", "currentel"):
            return key
        raise ValueError(f"unknown register {name!r}: expected one of x0..x30, sp, pc, pstate, "
                         f"{', '.join(sorted(_SYSTEM_REGS))}, spsr_el1, currentel, v0..v31, "
                         f"fpsr, fpcr")

    @staticmethod
    def _check_value(name: str, value: object, bits: int = 64) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"value {value!r} for {name}: expected an integer "
                             f"0..2**{bits}-1")

    # -- running ----------------------------------------------------------------------------
    def run(self, budget: Budget | float | None = None) -> Exit:
        """``KVM_RUN``: execute from ``pc`` until something exits; return the ``Exit``.

        ``budget`` is seconds (a number), a ``Budget``, or None for the default time limit.
        With ``SINGLESTEP`` in the guest-debug flags exactly one instruction runs.
        """
        b = Budget.of(budget)
        return self.run_until(time.monotonic() + b.seconds, b.instructions or 0)

    def run_until(self, deadline: float, instructions: int = 0) -> Exit:
        """``run`` with an absolute ``time.monotonic()`` deadline (the VMM's loop uses it).

        One run at a time: a run started while another thread's run is in progress raises
        ``VCpuBusy`` (see ``ensure_idle``).
        """
        me = _get_ident()
        runner = self._runner
        if runner is not None:
            raise VCpuBusy("run", runner, me)
        self._runner = me  # from here on a change from another thread is refused ...
        covered = _CTRL_C.arm(self)
        try:
            if self._owner is not None:  # ... but one may be under way: let it finish
                with self._lock:
                    pass
            exit_ = self._run_until(deadline, instructions)
        finally:
            self._runner = None
            if covered:
                _CTRL_C.running = None
        if covered and _CTRL_C.pressed:
            self._kicked = False  # the kick was the Ctrl-C's, not one to keep for later
            self._abandon_run()
            _CTRL_C.disarm()
        return exit_

    def _run_until(self, deadline: float, instructions: int = 0) -> Exit:
        if self._kicked:  # a pending kick: KVM_RUN returns at once (``immediate_exit``)
            self._kicked = False
            exit_ = self.last_exit = Exit(ExitReason.BUDGET, self.pc, message="interrupted")
            return exit_
        count = 1 if self.single_steps else instructions
        uc = self.uc
        if count:
            if not self._counted:
                # Unicorn adds its instruction-count hook without dropping blocks translated
                # before it existed; those would run uncounted (DESIGN.md, "Stepping").
                uc.ctl_flush_tb()
                self._counted = True
        elif self._counted:
            self._counted = False  # (Unicorn drops every translation itself here)
        begin = self._pc
        if begin is None:
            begin = uc.reg_read(_PC)
        token = self._token = self._token + 1
        self._run = (token, deadline)
        if deadline < _WATCHDOG.waiting_until:
            _WATCHDOG.watch(self)
        try:
            exit_ = self._enter(begin, count)
            while exit_ is None:
                exit_ = self._quiet_exit(count, token, deadline)
        except BaseException:
            self._abandon_run()
            raise
        self._run = None
        self._pc = exit_.pc
        self.last_exit = exit_
        return exit_

    def _abandon_run(self) -> None:
        """A run that ends in a Python exception (Ctrl-C): nothing of it stays pending.

        The watchdog must not stop the next run for it, and ``pc`` is read again from the
        machine, where the guest really is now.
        """
        self._run = None
        self._raise = None
        self._exit = None
        self._pc = None

    def _time_up(self, token: int) -> None:
        """Called by the watchdog thread: stop run ``token`` if it is still the one running."""
        if self._token == token:
            self._fired = token
            self.uc.emu_stop()

    def ensure_idle(self, what: str) -> None:
        """Raise ``VCpuBusy`` if a run is in progress on another thread.

        While ``run`` executes the guest, Unicorn must not be changed from another thread:
        mapping memory, a code write with its cache flush, rebuilding the machine, or a
        second run kill the interpreter (SIGSEGV, a QEMU assertion). Only ``kick`` (the
        debugger's ``interrupt``) crosses threads; reads of registers and memory are safe
        (measured: 10^5 of each during a run) but see a guest that is moving. Calls from the
        running thread itself (an exit handler inside a run) are allowed.
        """
        runner = self._runner
        if runner is not None and runner != _get_ident():
            raise VCpuBusy(what, runner, _get_ident())

    def kick(self) -> None:
        """Stop a run from another thread (GDB's Ctrl-C; KVM: a signal to the vCPU thread).

        The run returns a BUDGET exit with the message "interrupted"; a kick that arrives
        between runs makes the next run return at once, as a pending signal does.
        """
        self._kicked = True
        self.uc.emu_stop()
        # Unicorn forgets a stop asked for while no emulation is under way, so a kick that
        # lands just before a run's emu_start would be lost and the run would go on to its
        # budget: until the run has taken the kick (or ended), ask again every millisecond.
        runner = self._runner
        if runner is None or runner == _get_ident():
            return
        give_up = time.monotonic() + _KICK_PATIENCE
        while self._kicked and self._runner is not None and time.monotonic() < give_up:
            time.sleep(0.001)
            if self._kicked:
                self.uc.emu_stop()

    def _quiet_exit(self, count: int, token: int, deadline: float) -> Exit | None:
        """The run ended without a hook stopping it: step done, budget, kick, or WFI.

        A stop meant for an earlier run (see ``_Watchdog``) enters the guest again; None
        means that run, too, ended quietly and has to be looked at again.
        """
        uc = self.uc
        pc = uc.reg_read(_PC)
        if self._kicked:
            self._kicked = False
            return Exit(ExitReason.BUDGET, pc, message="interrupted")
        if self.single_steps:
            return Exit(ExitReason.DEBUG, pc, _STEP_DEBUG)
        if self._fired == token or time.monotonic() >= deadline:
            return Exit(ExitReason.BUDGET, pc, message="time budget used up")
        if count:
            return Exit(ExitReason.BUDGET, pc, message=f"{count} instruction(s) executed")
        if pc >= 4 and self._word_or_none(pc - 4) == WFI:
            return Exit(ExitReason.HLT, pc, message="WFI: waiting for an interrupt, and this "
                                                    "guest has no interrupt source")
        return self._enter(pc, 0)

    def _enter(self, pc: int, count: int) -> Exit | None:
        """One ``emu_start`` from ``pc``: the exit a hook recorded, None if the run ended
        quietly; raises what the hook caught for the caller (see ``_on_interrupt_guarded``)."""
        self._exit = None
        uc = self.uc
        try:
            uc.emu_start(pc, _NO_UNTIL, 0, count)
        except UcError as e:
            if self._exit is None:
                self._exit = Exit(ExitReason.INTERNAL_ERROR, uc.reg_read(_PC),
                                  message=f"emulation failed: {e}")
        if self._raise is not None:
            e, self._raise = self._raise, None
            raise e
        return self._exit

    # -- exceptions -------------------------------------------------------------------------
    def _word_or_none(self, address: int) -> int | None:
        try:
            return from_bytes(self.uc.mem_read(address, 4))
        except UcError:
            return None

    def _stop(self, exit_: Exit) -> None:
        self._exit = exit_
        self.uc.emu_stop()

    def _on_interrupt_guarded(self, _handle: object, intno: int, _user: object) -> None:
        """The INTR hook as C calls it: the debug trap inline, the rest in ``_on_interrupt``.

        A BRK while the trap is on is the hot path of every breakpoint hit, so it is
        handled here in one frame: read PC and the word there, record the DEBUG exit,
        stop. An exception must not escape into C (ctypes would print and drop it, and the
        BRK would trap again forever): it becomes an INTERNAL_ERROR exit naming it. A
        KeyboardInterrupt (Ctrl-C lands in whatever Python code runs, usually this hook
        when the guest takes exception after exception) or SystemExit is not an error of
        the vCPU: a half-written exception entry is completed, the run stops, and ``run``
        raises it to its caller.
        """
        try:
            if intno == EXCP_BKPT and self.traps_brk:
                pc = self._read_pc()                # BRK: PC is the BRK itself
                word = self._read_word(pc)
                if word == BRK0:  # the debugger's own BRK: one shared record per pc
                    exit_ = self._brk0_exits.get(pc)
                    if exit_ is None:
                        exit_ = self._brk0_exits[pc] = Exit(ExitReason.DEBUG, pc, _BRK0_DEBUG)
                else:  # the guest's own BRK #imm16, or one it overwrote since (rare)
                    hsr, note = _brk_syndrome(word)
                    exit_ = Exit(ExitReason.DEBUG, pc, DebugExit(hsr), message=note)
                self._exit = exit_
                self._stop_now()
            else:
                self._on_interrupt(self.uc, intno)
        except BaseException as e:  # noqa: BLE001 - reported as an exit, see above
            self._finish_delivery()
            if isinstance(e, Exception):
                self._exit = Exit(ExitReason.INTERNAL_ERROR, self.uc.reg_read(_PC),
                                  message=f"the vCPU's exception hook failed: "
                                          f"{type(e).__name__}: {e}")
            elif self._raise is None:
                self._raise = e  # KeyboardInterrupt, SystemExit: raised by run()
            self._stop_now()

    def _on_interrupt(self, uc: Uc, intno: int) -> None:
        """Unicorn raised a CPU exception: make it the architectural one (or an exit)."""
        pc = self._read_pc()
        if pc & 3 and intno in (EXCP_UDEF, EXCP_PREFETCH_ABORT):
            # A fetch from a PC with bits [1:0] set (after BR/ERET to one): the PC alignment
            # fault comes first (Arm ARM, "PC alignment checking"); FAR holds that PC.
            # Unicorn raises it as an undefined instruction (interrupt 1).
            self._deliver(esr.pc_alignment(), return_to=pc, far=pc)
        elif intno == EXCP_BKPT:                      # BRK with the trap off (on: see above)
            self._deliver(_brk_syndrome(self._read_word(pc))[0], return_to=pc)
        elif intno == EXCP_SWI:                     # SVC: PC is already the next instruction
            word = self._word_or_none(pc - 4) or 0
            self._deliver(esr.svc(imm16_of(word)), return_to=pc)
        elif intno == EXCP_UDEF:
            word = self._word_or_none(pc)
            if word is not None and classify(word) is Op.HVC and self._current_el() != 0:
                self._hypercall(pc, pc + 4)
            else:                                   # UDF, HLT (halting debug is off),
                self._deliver(esr.unknown(), return_to=pc)  # HVC at EL0 (UNDEFINED there)
        elif intno == EXCP_SMC:                     # SMC #0 is the other SMCCC conduit
            if self._current_el() != 0:
                self._hypercall(pc - 4, pc)
            else:                                   # SMC at EL0 is UNDEFINED
                self._deliver(esr.unknown(), return_to=pc - 4)
        elif intno == EXCP_PREFETCH_ABORT:          # an abort, or a guest's hardware bkpt
            syndrome, far = self._prefetch_abort(pc)
            self._deliver(syndrome, return_to=pc, far=far)
        else:
            self._stop(Exit(ExitReason.INTERNAL_ERROR, pc,
                            message=f"Unicorn raised exception {intno} at {pc:#x}, which "
                                    f"armbp does not model"))

    def _prefetch_abort(self, pc: int) -> tuple[int, int | None]:
        """Interrupt 3 at ``pc``: the syndrome (and FAR) of what really happened.

        QEMU raises ``EXCP_PREFETCH_ABORT`` both for a breakpoint the guest programmed in
        DBGBVR/DBGBCR and for a fetch that cannot be translated (a PC beyond the PA size
        with the MMU off, a missing or protected page with it on); Unicorn hands over
        neither the syndrome nor the fault. A breakpoint is checked before the fetch
        (Arm ARM, "Breakpoint exceptions"), so a matching one is a breakpoint (EC
        0x30/0x31, no FAR); otherwise the stage 1 walk of ``armbp.fetch`` names the fault
        (EC 0x20/0x21 with that IFSC, FAR = pc). A PC that is fetchable after all was
        stopped by a breakpoint of a kind not decoded here (linked, context-matching).
        """
        uc = self.uc
        pstate = uc.reg_read(regs.UC_ARM64_REG_PSTATE)
        el = pstate >> 2 & 3
        same_el = el != 0
        mdscr = uc.cpr_read(*_MDSCR_EL1)
        count = (uc.cpr_read(*_ID_AA64DFR0_EL1) >> 12 & 0xF) + 1  # BRPs
        if breakpoint_matches(pc, el=el, pstate=pstate, mdscr=mdscr, count=count,
                              read_bcr=lambda n: uc.cpr_read(2, 0, 0, n, 5),
                              read_bvr=lambda n: uc.cpr_read(2, 0, 0, n, 4)):
            return esr.breakpoint(same_el=same_el), None

        def read64(pa: int) -> int | None:
            try:
                return int.from_bytes(uc.mem_read(pa, 8), "little")
            except (UcError, OverflowError):
                return None

        fault = fetch_fault(pc, el=el, sctlr=uc.cpr_read(*_SCTLR_EL1),
                            tcr=uc.cpr_read(*_TCR_EL1),
                            ttbr0=uc.reg_read(regs.UC_ARM64_REG_TTBR0_EL1),
                            ttbr1=uc.reg_read(regs.UC_ARM64_REG_TTBR1_EL1),
                            pa_size=pa_bits(uc.cpr_read(*_ID_AA64MMFR0_EL1)), read64=read64)
        if fault is None:
            return esr.breakpoint(same_el=same_el), None
        return esr.instruction_abort(same_el=same_el, ifsc=fault), pc

    def _hypercall(self, insn_pc: int, next_pc: int) -> None:
        """HVC/SMC from the guest: PSCI, handled "in the kernel" as KVM does."""
        function = self.uc.reg_read(_X0)
        if function in (PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET):
            kind = SystemEventType.SHUTDOWN if function == PSCI_SYSTEM_OFF else \
                SystemEventType.RESET
            self._stop(Exit(ExitReason.SYSTEM_EVENT, next_pc,
                            system_event=SystemEvent(kind, function)))
            return
        result = PSCI_VERSION_1_0 if function == PSCI_VERSION else SMCCC_NOT_SUPPORTED
        # one call, so that a Ctrl-C cannot land between the result and the return
        self.uc.reg_write_batch([(_X0, result), (_PC, next_pc)])

    def _current_el(self) -> int:
        return self.uc.reg_read(regs.UC_ARM64_REG_PSTATE) >> 2 & 3

    @_exclusive
    def inject_exception(self, syndrome: int, *, return_to: int, far: int | None = None) -> None:
        """Deliver a synchronous exception to the guest's EL1 vectors (the VMM re-injecting).

        What the hardware does on exception entry (Arm ARM D1.3.4): SPSR_EL1 = PSTATE,
        ELR_EL1 = the preferred return address, ESR_EL1 = syndrome, FAR_EL1 for aborts,
        PSTATE = EL1h with DAIF masked, PC = VBAR_EL1 + the vector offset.
        """
        self._check_value("syndrome", syndrome)
        self._check_value("return_to", return_to)
        self.uc.reg_write(_PC, self.pc)
        try:
            self._deliver(syndrome, return_to=return_to, far=far)
        finally:
            self._finish_delivery()
            self._pc = None

    def _deliver(self, syndrome: int, *, return_to: int, far: int | None = None) -> None:
        """Exception entry to EL1: work out every register's new value, then write them.

        The values are kept in ``_delivery`` until all are written, so that an entry
        interrupted half-way (Ctrl-C) can be completed by ``_finish_delivery``: the guest
        is never left with, say, a new PSTATE and the old PC.
        """
        uc = self.uc
        pstate = uc.reg_read(regs.UC_ARM64_REG_PSTATE)
        el, spsel = pstate >> 2 & 3, pstate & 1
        if el == 0:
            offset = VECTOR_LOWER_A64
        else:
            offset = VECTOR_CURRENT_SPX if spsel else VECTOR_CURRENT_SP0
        writes = [(regs.UC_ARM64_REG_ELR_EL1, return_to), (regs.UC_ARM64_REG_ESR_EL1, syndrome)]
        if far is not None:
            writes.append((regs.UC_ARM64_REG_FAR_EL1, far))
        if not spsel:
            # Leaving SP_EL0: bank it and take SP_EL1, as the hardware's SP selection does.
            # (Unicorn's PSTATE write does not switch the stack pointer itself.)
            writes += [(regs.UC_ARM64_REG_SP_EL0, uc.reg_read(regs.UC_ARM64_REG_SP)),
                       (regs.UC_ARM64_REG_PSTATE, PSTATE_EL1H_DAIF),
                       (regs.UC_ARM64_REG_SP, uc.reg_read(regs.UC_ARM64_REG_SP_EL1))]
        else:
            writes.append((regs.UC_ARM64_REG_PSTATE, PSTATE_EL1H_DAIF))
        writes.append((_PC, uc.reg_read(regs.UC_ARM64_REG_VBAR_EL1) + offset))
        self._delivery = (pstate, writes, not spsel)
        self._finish_delivery()

    def _finish_delivery(self) -> None:
        """Write the exception entry ``_deliver`` prepared, if one is pending (idempotent:
        every value was computed before the first write)."""
        delivery = self._delivery
        if delivery is None:
            return
        pstate, writes, new_el = delivery
        uc = self.uc
        uc.cpr_write(*_SPSR_EL1, pstate)
        uc.reg_write_batch(writes)
        if new_el:
            self._rebuild_hflags()  # EL0 -> EL1 (see _rebuild_hflags)
        self._delivery = None

    def _rebuild_hflags(self) -> None:
        """Make Unicorn translate for the EL now in PSTATE.

        Unicorn fact: writing PSTATE with ``reg_write`` does not recompute the flags the
        translator uses (the current EL among them), so after entering EL1 from EL0 the
        handler's ``MRS ESR_EL1`` would still be UNDEFINED. Any ``cpr_write`` recomputes
        them; rewriting SCR_EL3 with its own value changes nothing else.
        """
        self.uc.cpr_write(*_SCR_EL3, self.uc.cpr_read(*_SCR_EL3))

    def _on_bad_access(self, uc: Uc, access: int, address: int, size: int, value: int,
                       _user: object) -> bool:
        kind, why = _BAD_ACCESS.get(access, ("access", "unknown fault"))
        if self.scratch_base <= address < self.scratch_base + PAGE_SIZE:
            why = "nothing is mapped there"  # the scratch page is not the guest's
        pc = address if kind == "fetch" else uc.reg_read(_PC)
        self._exit = Exit(ExitReason.MMIO, pc, mmio=MemoryAccess(
            address, size, kind, why, value if kind == "write" else None))
        return False  # Unicorn stops with UC_ERR_*; run() returns the exit recorded here

    def __repr__(self) -> str:
        return (f"VCpu({self.program.name}, pc={self.pc:#x}, "
                f"guest_debug={self.guest_debug!r})")
