"""The core of the Unicorn model: one AArch64 vCPU — its memory map, registers, and runs.

What ``KVM_CREATE_VCPU``, ``KVM_SET_USER_MEMORY_REGION``, ``KVM_{GET,SET}_ONE_REG``,
``KVM_SET_GUEST_DEBUG`` and ``KVM_RUN`` do, over one Unicorn instance: ``run`` executes the
guest until something exits and returns the ``Exit`` record of ``armbp.kvm.abi``. What the
guest's exceptions do is ``traps``; the time budget is ``watchdog``; the fast calls into the
C library are ``binding``; memory as the debugger sees it is ``memory``.

Unicorn behaviours this relies on are listed in DESIGN.md and each has a test in
``tests/test_vcpu.py``.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING

from unicorn import (
    UC_ARCH_ARM64,
    UC_HOOK_BLOCK,
    UC_HOOK_CODE,
    UC_HOOK_MEM_FETCH_PROT,
    UC_HOOK_MEM_FETCH_UNMAPPED,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_READ_PROT,
    UC_HOOK_MEM_READ_UNMAPPED,
    UC_HOOK_MEM_WRITE_PROT,
    UC_HOOK_MEM_WRITE_UNMAPPED,
    UC_MODE_ARM,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    UcError,
)
from unicorn import arm64_const as regs

if TYPE_CHECKING:
    # unicorn/__init__ picks its Python 2 or 3 binding by a test mypy does not follow;
    # Uc(UC_ARCH_ARM64, ...) returns this class at run time.
    from unicorn.unicorn_py3.arch.arm64 import UcAArch64 as Uc
else:
    from unicorn import Uc

from armbp import esr
from armbp.kvm.abi import (
    PAGE_SIZE,
    REGISTER_NAMES,
    Budget,
    DebugExit,
    Exit,
    ExitReason,
    GuestDebug,
    GuestDebugArch,
    MemoryAccess,
    VCpuBusy,
    check_guest_debug,
    check_map,
)
from armbp.kvm.arch import PSTATE_EL1H_DAIF
from armbp.kvm.unicorn.binding import (
    _add_block_hook,
    _add_intr_hook,
    _direct_calls,
    _step_over_calls,
    _sysreg_writer,
    _tlb_flusher,
)
from armbp.kvm.unicorn.guard import _exclusive, _get_ident
from armbp.kvm.unicorn.hwdebug import HwPlan, WatchRange, decode, load_exclusive
from armbp.kvm.unicorn.memory import GuestMemory
from armbp.kvm.unicorn.traps import _SCR_EL3, _SPSR_EL1, SCR_EL3_RW, SCR_EL3_TWI, Traps
from armbp.kvm.unicorn.watchdog import _WATCHDOG
from armbp.program import Program

__all__ = ["STACK_SIZE", "VCpu"]

STACK_SIZE = 0x10000

_ENABLE = int(GuestDebug.ENABLE)
_STEP = int(GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
_USE_HW = int(GuestDebug.ENABLE | GuestDebug.USE_HW)
_USE_HW_BIT = int(GuestDebug.USE_HW)
_DEBUG_FLAGS: dict[int, GuestDebug] = {}  # int → GuestDebug, made once each
_WATCH_HSR = {w: esr.watchpoint(same_el=False, wnr=w) for w in (False, True)}  # by WnR

_LIMIT = 1 << 64

# Unicorn stops when PC equals ``until``; an odd address is never a PC in A64.
_NO_UNTIL = (1 << 64) - 1


def _falls_through(word: int) -> bool:
    """Does the A64 instruction ``word`` go on at pc + 4 whenever it takes no exception?

    True for the data-processing, load/store and SIMD&FP groups (op0, bits 28:25: 100x,
    x101, x1x0, x111 in the Arm ARM's "A64 instruction set encoding" table); False for
    branches, exception generation and system instructions (101x) and for the reserved,
    SME and SVE groups (00xx). Such a step can end at ``until = pc + 4`` instead of an
    instruction count: Unicorn drops every translation when a run starts or stops
    counting, and a count-free step keeps them (a watch stop's step-over: ``VCpu``).
    """
    op0 = word >> 25 & 0xF
    return op0 >= 4 and op0 >> 1 != 0b101


_UC_REGS: dict[str, int] = {f"x{i}": getattr(regs, f"UC_ARM64_REG_X{i}") for i in range(29)}
_UC_REGS.update(
    x29=regs.UC_ARM64_REG_X29,
    x30=regs.UC_ARM64_REG_X30,
    sp=regs.UC_ARM64_REG_SP,
    pc=regs.UC_ARM64_REG_PC,
    pstate=regs.UC_ARM64_REG_PSTATE,
)
_FP_REGS: dict[str, int] = {f"v{i}": getattr(regs, f"UC_ARM64_REG_V{i}") for i in range(32)}
_FP_REGS.update(fpsr=regs.UC_ARM64_REG_FPSR, fpcr=regs.UC_ARM64_REG_FPCR)
_CORE_IDS = [_UC_REGS[name] for name in REGISTER_NAMES]
_REG_BITS = {name: 128 for name in _FP_REGS}
_REG_BITS.update(fpsr=32, fpcr=32)
_SYSTEM_REGS = {
    "esr_el1": regs.UC_ARM64_REG_ESR_EL1,
    "elr_el1": regs.UC_ARM64_REG_ELR_EL1,
    "far_el1": regs.UC_ARM64_REG_FAR_EL1,
    "vbar_el1": regs.UC_ARM64_REG_VBAR_EL1,
    "sp_el0": regs.UC_ARM64_REG_SP_EL0,
    "sp_el1": regs.UC_ARM64_REG_SP_EL1,
    "nzcv": regs.UC_ARM64_REG_NZCV,
    "tpidr_el0": regs.UC_ARM64_REG_TPIDR_EL0,  # EL0's thread pointer (TLS)
}
_PC = regs.UC_ARM64_REG_PC

# A step of an ordinary instruction, seen from the hypervisor → EC 0x32, ISV, IFSC 0x22:
# one shared record (a frozen value) for the hot path of stepping.
_STEP_DEBUG = DebugExit(esr.software_step(same_el=False))
# ... and right after a Load-Exclusive: EX = 1 ("ISS encoding for an exception from a
# Software Step exception")
_STEP_EX_DEBUG = DebugExit(esr.software_step(same_el=False, ex=True))
_NO_HW = HwPlan({}, ())
_HW_BREAKPOINT_DEBUG = DebugExit(esr.breakpoint(same_el=False))  # EC 0x30, IL, IFSC 0x22
_PAGE_MASK = ~(PAGE_SIZE - 1)
_PLANS: dict[GuestDebugArch, HwPlan] = {}  # decoded slots (values: frozen, shareable)


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
        self.running: VCpu | None = None  # the vCPU whose run is on the main thread
        self.pressed = False
        self.main = threading.main_thread().ident

    def arm(self, vcpu: VCpu) -> bool:
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
    from _signal import getsignal as _getsignal  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - another Python implementation
    _getsignal = signal.getsignal


# How long ``kick`` keeps asking a run that has not yet taken its stop (see ``kick``).
_KICK_PATIENCE = 2.0

_CLOSED: frozenset[int] = frozenset()


def _align_down(value: int, align: int = PAGE_SIZE) -> int:
    return value & ~(align - 1)


def _align_up(value: int, align: int = PAGE_SIZE) -> int:
    return (value + align - 1) & ~(align - 1)


def _perms(flags: str) -> int:
    return (
        (UC_PROT_READ if "r" in flags else 0)
        | (UC_PROT_WRITE if "w" in flags else 0)
        | (UC_PROT_EXEC if "x" in flags else 0)
    )


class VCpu(Traps):
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

    def __init__(
        self, program: Program, *, flush_code_writes: bool = True, stack_size: int = STACK_SIZE
    ):
        if not isinstance(program, Program):
            raise ValueError(
                f"expected an armbp.Program (e.g. from armbp.assemble), got "
                f"{type(program).__name__}"
            )
        if stack_size <= 0 or stack_size % PAGE_SIZE:
            raise ValueError(
                f"stack_size={stack_size:#x}: expected a positive multiple of {PAGE_SIZE:#x}"
            )
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
        self._owner: int | None = None  # the thread making a change outside a run
        self._lock = threading.Lock()  # held while that change is made
        self._run: tuple[int, float] | None = None
        self._raise: BaseException | None = None  # what the hook caught for run() to raise
        self._delivery: tuple[int, list[tuple[int, int]], bool] | None = None  # _deliver
        _WATCHDOG.register(self)
        self.reset()

    # -- reset ------------------------------------------------------------------------------
    @_exclusive
    def reset(self) -> None:
        """A fresh machine: memory reloaded from the program, registers in a known state.

        EL1h with DAIF masked and NZCV clear (as KVM's vCPU reset), x0–x30 = 0, SP = ``stack_top``,
        PC = the program's entry, guest debug off, and SCR_EL3.RW = 1 so that the guest's
        own ERET to EL1 is legal (with RW = 0 Unicorn sets PSTATE.IL on every ERET), and
        SCR_EL3.TWI = 1 so that a WFI reaches the interrupt hook (a HLT exit, see ``Traps``).
        """
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)  # built whole before it replaces the old one
        self._map_program(uc)
        # execute-only: the guest's loads and stores fault; its fetches meet the block hook
        uc.mem_map(self.scratch_base, PAGE_SIZE, UC_PROT_EXEC)
        self.scratch_open: frozenset[int] = _CLOSED  # block starts admitted next
        self.scratch_after: dict[int, frozenset[int]] = {}  # admitted next after each one
        self.scratch_fetched = False  # run from since the last TLB flush
        self._scratch_hook = _add_block_hook(
            uc, self._on_scratch_block, self.scratch_base, self.scratch_base + PAGE_SIZE - 1
        )
        uc.mem_map(self.stack_base, self.stack_size, UC_PROT_READ | UC_PROT_WRITE)
        uc.cpr_write(*_SCR_EL3, SCR_EL3_RW | SCR_EL3_TWI)  # TWI: a WFI reaches the hook
        uc.reg_write(regs.UC_ARM64_REG_SP, self.stack_top)
        # EL1h, DAIF masked and NZCV clear, as KVM_ARM_VCPU_INIT leaves a vCPU (Unicorn's
        # own reset has Z set; the architecture leaves NZCV UNKNOWN at reset)
        uc.reg_write(regs.UC_ARM64_REG_PSTATE, PSTATE_EL1H_DAIF)
        uc.reg_write(_PC, self.program.entry)
        self._intr_hook = _add_intr_hook(uc, self._on_interrupt_guarded)
        uc.hook_add(
            UC_HOOK_MEM_READ_UNMAPPED
            | UC_HOOK_MEM_WRITE_UNMAPPED
            | UC_HOOK_MEM_FETCH_UNMAPPED
            | UC_HOOK_MEM_READ_PROT
            | UC_HOOK_MEM_WRITE_PROT
            | UC_HOOK_MEM_FETCH_PROT,
            self._on_bad_access,
        )
        self.uc = uc
        self._read_pc, self._read_word, self._stop_now = _direct_calls(uc)
        self._write_scr = _sysreg_writer(uc, _SCR_EL3, (SCR_EL3_RW, SCR_EL3_RW | SCR_EL3_TWI))
        self._flush_tlb = _tlb_flusher(uc)
        self._load_vector, self._exchange_x30 = _step_over_calls(uc)
        self._brk0_exits: dict[int, Exit] = {}
        self._hw = _NO_HW  # what is armed now (``set_guest_debug`` with USE_HW)
        self._hw_hooks: dict[int, int] = {}  # breakpoint address → its UC_HOOK_CODE
        self._watches: tuple[WatchRange, ...] = ()
        self._watch_saved: dict[int, int] = {}  # protected page → its own permissions
        self._watch_applied: dict[int, int] = {}  # protected page → the permissions it has
        self._linger: set[int] = set()  # protected pages no watchpoint needs (_protect)
        self._read_hooks: list[int] = []  # UC_HOOK_MEM_READ or UC_HOOK_BLOCK of _protect
        self._loads_hooked = False  # load watchpoints by read hook, not by protection
        self._loads_hot = False  # this run needs them hooked (counted, or see _rearm)
        self._code_pages: set[int] = (
            set()
        )  # watched pages seen running code (_on_watched_fetch)
        self._rearm = False  # the run stopped for _protect to change mechanism: enter again
        self._pages_of: dict[tuple[int, int], set[int]] = {}  # see _mapped_pages
        self._read_trap: tuple[int, int] | None = None  # page, perms: see _on_watched_read
        self._read_regs: tuple | None = None  # the registers before the watched load
        self._step_ex = False
        self._until_step = False  # this run is a step that ends at pc + 4 (_run_until)
        self.set_guest_debug(GuestDebug.NONE)
        self._pc = self.program.entry
        self._counted = False
        self._exit: Exit | None = None
        self._raise = None
        self._delivery = None
        self.last_exit: Exit | None = None

    def _map_program(self, uc: Uc) -> None:
        pages: dict[int, int] = {}
        for seg in self.program.segments:
            if seg.memsz <= 0:
                continue
            for page in range(_align_down(seg.vaddr), _align_up(seg.end), PAGE_SIZE):
                pages[page] = pages.get(page, 0) | _perms(seg.flags)
        # one mem_map per run of adjacent pages with the same permissions
        runs: list[list[int]] = []  # [start, end, perms]
        for page in sorted(pages):
            if runs and runs[-1][1] == page and runs[-1][2] == pages[page]:
                runs[-1][1] = page + PAGE_SIZE
            else:
                runs.append([page, page + PAGE_SIZE, pages[page]])
        for start, end, perms in runs:
            uc.mem_map(start, end - start, perms)
        for seg in self.program.segments:
            if seg.data:
                uc.mem_write(seg.vaddr, bytes(seg.data[: seg.memsz]))

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
        check_map(address, size, perms)
        end = address + size
        if end > _LIMIT:
            raise ValueError(
                f"map: {address:#x} + {size:#x} goes past the end of the 64-bit address space"
            )
        for begin, last, prot in self.uc.mem_regions():  # ``last`` is inclusive
            if address <= last and begin < end:
                have = "".join(
                    c if prot & bit else "-"
                    for c, bit in (
                        ("r", UC_PROT_READ),
                        ("w", UC_PROT_WRITE),
                        ("x", UC_PROT_EXEC),
                    )
                )
                raise ValueError(
                    f"map: {address:#x}..{end - 1:#x} overlaps memory already "
                    f"mapped at {begin:#x}..{last:#x} ({have})"
                )
        try:
            self.uc.mem_map(address, size, _perms(perms))
            self._pages_of.clear()
        except UcError as e:
            raise ValueError(f"map: cannot map {address:#x}..{end - 1:#x}: {e}") from None

    def _check_own(self, what: str, address: int, size: int) -> None:
        """A page-aligned range of guest memory that is mapped and not the vCPU's own."""
        if (
            isinstance(address, bool)
            or not isinstance(address, int)
            or not isinstance(size, int)
            or address < 0
            or size <= 0
            or address % PAGE_SIZE
            or size % PAGE_SIZE
        ):
            raise ValueError(
                f"{what}: address {address!r} and size {size!r} must be multiples of the "
                f"page size {PAGE_SIZE:#x}, size > 0"
            )
        end = address + size
        if address < self.scratch_base + PAGE_SIZE and self.scratch_base < end:
            raise ValueError(f"{what}: {address:#x}..{end - 1:#x} covers the scratch page")
        covered = address
        for begin, last, _prot in self.uc.mem_regions():  # sorted, ``last`` inclusive
            if begin <= covered <= last:
                covered = last + 1
        if covered < end:
            raise ValueError(
                f"{what}: nothing is mapped at {covered:#x} (in {address:#x}..{end - 1:#x})"
            )

    @_exclusive
    def unmap(self, address: int, size: int) -> None:
        """Remove guest memory (whole pages, all mapped): ``munmap`` as the MMU sees it.

        A ``ValueError`` names the range if it is not page-aligned or not all mapped, and
        nothing changes. Translated code of the range is dropped with it."""
        self._check_own("unmap", address, size)
        self.uc.ctl_remove_cache(address, address + size)
        self.uc.mem_unmap(address, size)
        self._pages_of.clear()
        self._flush_tlb()

    @_exclusive
    def protect(self, address: int, size: int, perms: str) -> None:
        """New rights ("r", "w", "x" letters) for mapped whole pages: ``mprotect``.

        The guest's next access checks them (the TLB is flushed: Unicorn checks rights only
        on a TLB miss). A bad range or letters raise ``ValueError`` and change nothing."""
        if not isinstance(perms, str) or not set(perms) <= set("rwx"):
            raise ValueError(
                f"protect: perms {perms!r}: expected letters from 'rwx' (e.g. 'r')"
            )
        self._check_own("protect", address, size)
        self.uc.mem_protect(address, size, _perms(perms))
        self.uc.ctl_remove_cache(address, address + size)
        self._flush_tlb()

    # -- the scratch page (displaced stepping) ----------------------------------------------
    def write_scratch(self, offset: int, data: bytes) -> None:
        """Store code in the scratch page (the debugger's own write: the guest cannot), and
        flush it as any code write (unless ``flush_code_writes`` is off)."""
        if not 0 <= offset <= PAGE_SIZE - len(data):
            raise ValueError(
                f"scratch write at offset {offset:#x} of {len(data)} bytes: "
                f"expected it inside the {PAGE_SIZE:#x}-byte page"
            )
        address = self.scratch_base + offset
        self.uc.mem_write(address, bytes(data))
        if self.flush_code_writes:
            self.uc.ctl_remove_cache(address, address + max(len(data), 1))

    def open_scratch(
        self, entry: frozenset[int], after: dict[int, frozenset[int]] | None = None
    ) -> None:
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

    def _on_scratch_block(
        self, _handle: object, address: int, _size: int, _user: object
    ) -> None:
        """UC_HOOK_BLOCK on the scratch page: our step-over's blocks pass, once each."""
        if address in self.scratch_open:
            self.scratch_open = self.scratch_after.get(address, _CLOSED)
            self.scratch_fetched = True  # see ``hide_scratch``
            return
        self.scratch_open = _CLOSED
        self._exit = Exit(
            ExitReason.MMIO,
            address,
            mmio=MemoryAccess(address, 4, "fetch", "nothing is mapped there"),
        )
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
        if (
            size <= 0
            or end > _LIMIT
            or (address < self.scratch_base + PAGE_SIZE and self.scratch_base < end)
        ):
            return False
        for begin, last, prot in self.uc.mem_regions():  # sorted, ``last`` inclusive
            if begin <= address <= last:
                prot = self._watch_saved.get(begin, prot)  # a watched page: its own
                if not prot & UC_PROT_READ:
                    return False
                if end - 1 <= last:
                    return True
                address = last + 1
        return False

    # -- KVM_SET_GUEST_DEBUG ----------------------------------------------------------------
    @_exclusive
    def set_guest_debug(
        self, flags: GuestDebug | int, arch: GuestDebugArch | None = None
    ) -> None:
        """Set the guest-debug control bits, like ``ioctl(KVM_SET_GUEST_DEBUG)``.

        Nothing is trapped unless ``ENABLE`` is set; with it, BRK traps to the VMM (KVM's
        ``MDCR_EL2.TDE`` routes every debug exception to EL2 once guest debug is on, with
        or without ``USE_SW_BP``); ``ENABLE | SINGLESTEP`` makes the next run one
        instruction.
        ``arch`` is ``struct kvm_guest_debug_arch``, which KVM loads only with
        ``ENABLE | USE_HW``: its enabled breakpoints (up to ``GUEST_DEBUG_HW_BPS``) and
        watchpoints (up to ``GUEST_DEBUG_HW_WPS``) then exit with EC 0x30 / 0x34
        (``hwdebug`` says how they fire). A value the model does not honour is a
        ``ValueError`` naming the register, slot, field and value, and nothing changes.
        """
        check_guest_debug(flags, arch)
        flags = int(flags)  # (IntFlag arithmetic is slow: a step-over sets them twice)
        plan = _NO_HW
        if flags & _USE_HW_BIT and arch is not None:
            decoded = _PLANS.get(arch)  # a step-over sets the same few slots again and again
            if decoded is None:
                decoded = decode(arch)  # raises before anything changes
                if len(_PLANS) > 64:
                    _PLANS.clear()
                _PLANS[arch] = decoded
            plan = decoded
            if flags & _USE_HW != _USE_HW:
                plan = _NO_HW  # checked all the same; KVM loads it only with ENABLE
        self._arm(plan)
        self.guest_debug_arch = arch
        self.guest_debug = _DEBUG_FLAGS.get(flags) or _DEBUG_FLAGS.setdefault(
            flags, GuestDebug(flags)
        )
        # decided once here, not on every trap (IntFlag arithmetic is slow in Python)
        # KVM sets MDCR_EL2.TDE whenever guest debug is enabled at all, and TDE routes
        # every debug exception, BRK included, to EL2: with ENABLE a BRK leaves the guest
        # whether or not USE_SW_BP is set (measured on real KVM in the lab)
        self.traps_brk = bool(flags & _ENABLE)
        self.single_steps = flags & _STEP == _STEP

    def _arm(self, plan: HwPlan) -> None:
        """Make ``plan`` the armed breakpoints and watchpoints (only what changed)."""
        uc = self.uc
        old = self._hw.breakpoints
        for address in [a for a in self._hw_hooks if a not in plan.breakpoints]:
            uc.hook_del(self._hw_hooks.pop(address))
            uc.ctl_remove_cache(address, address + 4)
        for address in plan.breakpoints:
            if address not in old:
                self._hw_hooks[address] = uc.hook_add(
                    UC_HOOK_CODE, self._on_hw_breakpoint, None, address, address + 3
                )
                # a hook added after the code was translated is not called until then
                uc.ctl_remove_cache(address, address + 4)
        if plan.watchpoints != self._watches:
            self._protect(plan.watchpoints)
        self._hw = plan

    def _protect(self, watches: tuple[WatchRange, ...]) -> None:
        """Arm ``watches`` (see ``hwdebug`` for why each mechanism): stores by taking write
        permission from the watched bytes' pages; loads by taking read and write permission
        from theirs, and a block hook there that notices code running on the page — or,
        when the page holds code, in a counted run, or after a load beside the watched
        bytes (``_loads_hot``), by a read hook on the watched bytes. What is no longer
        watched gets its permissions back and loses its hooks. Outside a run only."""
        uc = self.uc
        stores: set[int] = set()
        loads: set[int] = set()
        for w in watches:
            # from 15 bytes before, as the read hook: an access that begins on the page
            # before and straddles into the bytes faults on that page or not in time
            # (measured: Unicorn checks a load's first byte only, and does a straddling
            # store byte by byte, the first page's bytes before the watched ones fault)
            pages = self._mapped_pages(max(w.start - 15, 0), w.end)
            if w.stores:
                stores.update(pages)
            if w.loads:
                loads.update(pages)
        hooked = bool(loads) and (self._loads_hot or bool(loads & self._code_pages))
        saved, applied, linger = self._watch_saved, self._watch_applied, self._linger
        flush = False
        for page in stores | loads:
            own = saved.get(page)
            if own is None:
                own = saved[page] = self._page_perms(page)
            want = own & ~UC_PROT_WRITE
            if page in loads and not hooked:
                want &= ~UC_PROT_READ
            linger.discard(page)
            if applied.get(page, own) != want:
                # (mem_protect drops the page's TLB entries for stores, not for loads)
                flush = flush or bool(own & ~want & UC_PROT_READ)
                uc.mem_protect(page, PAGE_SIZE, want)
            applied[page] = want
        # A page no longer watched but for stores stays protected until a run that is not
        # a single step (``_release_pages``): a step over a watched store, with its slot
        # disabled for that one step, then costs the protection hook, not two mem_protect
        # calls (~75 us each) — the store is done by the hook, as any store next to the bytes.
        for page in [p for p in applied if p not in stores and p not in loads]:
            if applied[page] == saved[page] & ~UC_PROT_WRITE:
                linger.add(page)
            else:
                uc.mem_protect(page, PAGE_SIZE, saved.pop(page))
                del applied[page]
        for handle in self._read_hooks:
            uc.hook_del(handle)
        self._read_hooks = []
        for w in watches if hooked else ():
            if w.loads:
                # the hook's range is checked on the access's first byte only: begin early
                # enough that any access overlapping the watched bytes calls it (16 bytes
                # is the widest single access Unicorn makes)
                self._read_hooks.append(
                    uc.hook_add(
                        UC_HOOK_MEM_READ,
                        self._on_watched_read,
                        None,
                        max(w.start - 15, 0),
                        w.end - 1,
                    )
                )
        if hooked and self._read_hooks:
            # Unicorn decides when it translates a load whether it calls read hooks at all
            # (measured: code translated before the hook loads on without it)
            uc.ctl_flush_tb()
        for page in () if hooked else sorted(loads):
            # decided when a block is translated, like a breakpoint's code hook: code
            # translated before it must be translated again to call it
            self._read_hooks.append(
                uc.hook_add(
                    UC_HOOK_BLOCK, self._on_watched_fetch, None, page, page + PAGE_SIZE - 1
                )
            )
            uc.ctl_remove_cache(page, page + PAGE_SIZE)
        if flush:
            self._flush_tlb()  # loads already in the TLB would skip the protection
        self._watches = watches
        self._loads_hooked = hooked

    def _mapped_pages(self, start: int, end: int) -> set[int]:
        """The mapped guest pages (not the scratch page) that bytes ``start``..``end - 1``
        touch."""
        cached = self._pages_of.get((start, end))
        if cached is not None:
            return cached
        pages: set[int] = set()
        for begin, last, _prot in self.uc.mem_regions():
            lo, hi = max(begin, start), min(last + 1, end)
            pages.update(
                p for p in range(lo & _PAGE_MASK, hi, PAGE_SIZE) if p != self.scratch_base
            )
        self._pages_of[start, end] = pages  # until the memory map changes (``map``)
        return pages

    def _release_pages(self) -> None:
        """Give the pages no watchpoint needs any more their own permissions back."""
        saved = self._watch_saved
        for page in self._linger:
            self.uc.mem_protect(page, PAGE_SIZE, saved.pop(page))
            del self._watch_applied[page]
        self._linger.clear()

    def _hot_loads(self, hot: bool) -> None:
        """Load watchpoints by read hook (``hot``) or by protection from now on."""
        self._loads_hot = hot
        if any(w.loads for w in self._watches):
            self._protect(self._watches)

    def _page_perms(self, page: int) -> int:
        return next(p for b, last, p in self.uc.mem_regions() if b <= page <= last)

    def _on_watched_read(
        self, uc: Uc, _access: int, address: int, size: int, _value: int, _user: object
    ) -> None:
        """UC_HOOK_MEM_READ near a load watchpoint, called before the load: on a hit, take
        read permission from the page at once, so that the load itself faults into
        ``_on_watched_access`` and the run ends before it (memory protection is checked
        after the read hooks; measured). ``_enter`` gives the permission back."""
        try:
            if self._read_trap is not None or self._exit is not None:
                return
            hit = self._watch_hit(uc, False, address, size)
            if hit is None:
                return
            self._exit = hit
            page = address & _PAGE_MASK
            perms = self._page_perms(page)
            self._read_trap = (page, perms)
            # A watchpoint is taken before the load completes (Arm ARM, "Watchpoint
            # exceptions"), but a page whose TLB entry is filled keeps being readable: keep
            # the registers as they are now, give them back when the run ends, and stop.
            self._read_regs = uc.reg_read_batch(_CORE_IDS)
            uc.mem_protect(page, PAGE_SIZE, perms & ~UC_PROT_READ)
            self._stop_now()
        except BaseException as e:  # noqa: BLE001 - must not escape into C
            self._raise = e
            self._stop_now()

    def _on_watched_fetch(self, _uc: Uc, address: int, _size: int, _user: object) -> None:
        """UC_HOOK_BLOCK on a page whose loads are watched by protection: code runs there,
        so its instruction fetch has filled the page's TLB entry and loads from it would
        no longer fault. Stop before the block; ``_enter`` arms read hooks instead."""
        try:
            if self._loads_hooked or self._exit is not None:
                return
            self._code_pages.add(address & _PAGE_MASK)
            self._rearm = True
            self._stop_now()
        except BaseException as e:  # noqa: BLE001 - must not escape into C
            self._raise = e
            self._stop_now()

    def _watch_hit(self, uc: Uc, write: bool, address: int, size: int) -> Exit | None:
        """The exit of the watchpoint an access triggers, if any (EL checked by PAC)."""
        for w in self._watches:
            if w.hit(address, size, write) and (
                w.privilege == 3 or w.privilege & (2 if self._current_el() == 0 else 1)
            ):  # (PAC = EL0 and EL1, the usual case, needs no read of the EL)
                # FAR: the lowest watched address the access touches: no lower than the
                # access and inside the watched bytes (Arm ARM, "Watchpoint exceptions",
                # the address recorded for a watchpoint; QEMU reports the same)
                far = max(address, w.start)
                return Exit(
                    ExitReason.DEBUG, self._read_pc(), DebugExit(_WATCH_HSR[write], far=far)
                )
        return None

    def _on_hw_breakpoint(self, _uc: object, address: int, _size: int, _user: object) -> None:
        """UC_HOOK_CODE on an armed breakpoint: before the instruction runs, exit with EC
        0x30 (pc = the instruction, not executed), if DBGBCR.PMC matches the EL."""
        try:
            entry = self._hw.breakpoints.get(address)
            if entry is None or self._exit is not None:
                return
            if not entry[1] & (2 if self._current_el() == 0 else 1):
                return
            self._exit = Exit(ExitReason.DEBUG, address, _HW_BREAKPOINT_DEBUG)
            self._stop_now()
        except BaseException as e:  # noqa: BLE001 - must not escape into C
            self._raise = e
            self._stop_now()

    def _on_watched_access(
        self, uc: Uc, write: bool, address: int, size: int, value: int
    ) -> bool | None:
        """A protection fault on a watched page: False stops the run with the
        watchpoint's exit, True lets the access happen, None means it is a real fault (the
        page's own permissions refuse it)."""
        page = address & _PAGE_MASK
        own = self._watch_saved.get(page)
        if not write:
            if self._read_trap is not None:
                return False
            if (
                own is None
                or not own & UC_PROT_READ
                or self._watch_applied[page] & UC_PROT_READ
            ):
                return None
            hit = self._watch_hit(uc, False, address, size)
            if hit is not None:
                self._exit = hit
                return False  # the load is not done: Unicorn stops before it
            # A load beside the watched bytes: letting it through would fill the page's TLB
            # entry and hide the next loads, and a TLB flush in this hook crashes Unicorn.
            # Stop before it; ``_enter`` arms read hooks for the rest of this run.
            self._loads_hot = self._rearm = True
            return False
        if own is None or not own & UC_PROT_WRITE:
            return None
        hit = self._watch_hit(uc, True, address, size)
        if hit is not None:
            self._exit = hit
            return False  # the store is not done: Unicorn stops before it
        # Unicorn drops a store the protection hook lets through: do it here
        uc.mem_write(address, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
        return True

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
        values = dict(zip(REGISTER_NAMES, self.uc.reg_read_batch(_CORE_IDS), strict=False))
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
        if (
            key in _UC_REGS
            or key in _SYSTEM_REGS
            or key in _FP_REGS
            or key in ("spsr_el1", "currentel")
        ):
            return key
        raise ValueError(
            f"unknown register {name!r}: expected one of x0..x30, sp, pc, pstate, "
            f"{', '.join(sorted(_SYSTEM_REGS))}, spsr_el1, currentel, v0..v31, "
            f"fpsr, fpcr"
        )

    @staticmethod
    def _check_value(name: str, value: object, bits: int = 64) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"value {value!r} for {name}: expected an integer 0..2**{bits}-1")

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
            kicked = self.last_exit = Exit(ExitReason.BUDGET, self.pc, message="interrupted")
            return kicked
        count = 1 if self.single_steps else instructions
        uc = self.uc
        begin = uc.reg_read(_PC) if self._pc is None else self._pc
        until = _NO_UNTIL
        if self.single_steps:
            word = self._word_or_none(begin)
            self._step_ex = word is not None and load_exclusive(word)
            if (
                word is not None
                and _falls_through(word)
                and not any(w.loads for w in self._watches)
                and not self._wfi_traps_to_el1()
            ):
                # One instruction that can only go on at pc + 4: stop there, uncounted, so
                # that no translation is dropped; an exception it takes ends the step at
                # its vector, as a counted step does (``_deliver``). Not with a load
                # watchpoint armed (its protection stops and enters again, _rearm), nor
                # where a WFI traps to EL1: Unicorn ends a run at ``until`` by a WFI of
                # its own, so the step clears SCR_EL3.TWI while it runs.
                count, until = 0, begin + 4 & _LIMIT - 1
        elif self._linger:
            self._release_pages()
        if count:
            if not self._counted:
                # Unicorn adds its instruction-count hook without dropping blocks translated
                # before it existed; those would run uncounted (DESIGN.md, "Stepping").
                uc.ctl_flush_tb()
                self._counted = True
        elif self._counted:
            self._counted = False  # (Unicorn drops every translation itself here)
        if self._loads_hot != bool(count):
            # a counted run's end cannot be resumed after a stop: no rearm stops in it
            self._hot_loads(bool(count))
        token = self._token = self._token + 1
        self._run = (token, deadline)
        if deadline < _WATCHDOG.waiting_until:
            _WATCHDOG.watch(self)
        until_step = self._until_step = until != _NO_UNTIL
        if until_step:
            self._write_scr(SCR_EL3_RW)  # without TWI for this step (see above)
            # Unicorn ends a run at ``until`` only in code translated for that run: a block
            # that starts here from an earlier run goes on past it (measured: the loop head
            # of lesson 7's guest ran on to its HVC), so this one instruction's block goes
            uc.ctl_remove_cache(begin, until + 4)
        try:
            exit_: Exit | None = self._enter(begin, count, until)
            while exit_ is None:
                exit_ = self._quiet_exit(count, token, deadline)
        except BaseException:
            self._abandon_run()
            raise
        finally:
            if until_step:
                self._until_step = False
                self._write_scr(SCR_EL3_RW | SCR_EL3_TWI)
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
        """The run ended without a hook stopping it: step done, budget, or kick.

        (A WFI is not among them: it traps to the interrupt hook, see ``Traps``; what the
        word before ``pc`` holds says nothing about why this run ended.)

        A stop meant for an earlier run (see ``_Watchdog``) enters the guest again; None
        means that run, too, ended quietly and has to be looked at again.
        """
        uc = self.uc
        pc = uc.reg_read(_PC)
        if self._kicked:
            self._kicked = False
            return Exit(ExitReason.BUDGET, pc, message="interrupted")
        if self.single_steps:
            return Exit(ExitReason.DEBUG, pc, _STEP_EX_DEBUG if self._step_ex else _STEP_DEBUG)
        if self._fired == token or time.monotonic() >= deadline:
            return Exit(ExitReason.BUDGET, pc, message="time budget used up")
        if count:
            return Exit(ExitReason.BUDGET, pc, message=f"{count} instruction(s) executed")
        return self._enter(pc, 0)

    def _enter(self, pc: int, count: int, until: int = _NO_UNTIL) -> Exit | None:
        """One ``emu_start`` from ``pc``: the exit a hook recorded, None if the run ended
        quietly; raises what the hook caught for the caller (see ``_on_interrupt_guarded``)."""
        self._exit = None
        uc = self.uc
        try:
            uc.emu_start(pc, until, 0, count)
        except UcError as e:
            if self._exit is None and not self._rearm:
                self._exit = Exit(
                    ExitReason.INTERNAL_ERROR,
                    uc.reg_read(_PC),
                    message=f"emulation failed: {e}",
                )
        trap = self._read_trap
        if trap is not None:  # a load watchpoint hit: the page is readable again
            self._read_trap = None
            uc.mem_protect(trap[0], PAGE_SIZE, trap[1])
            if self._read_regs is not None:  # and the load has not happened
                uc.reg_write_batch(list(zip(_CORE_IDS, self._read_regs, strict=True)))
                self._read_regs = None
        if self._raise is not None:
            caught, self._raise = self._raise, None
            self._rearm = False
            raise caught
        if self._rearm:  # stopped before a load or a block on a watched page: enter again
            self._rearm = False
            if self._exit is None:
                self._protect(self._watches)
        return self._exit

    def __repr__(self) -> str:
        return f"VCpu({self.program.name}, pc={self.pc:#x}, guest_debug={self.guest_debug!r})"
