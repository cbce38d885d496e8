"""Traps and exception delivery: what the core does when the guest takes an exception.

Unicorn's interrupt hook hands over QEMU's ``EXCP_*`` number and nothing else: no
syndrome, no fault address. This module turns it into what the hardware and KVM do:

* ``BRK`` with guest debug ``ENABLE`` → a DEBUG exit (EC 0x3C) to the VMM (KVM's
  ``MDCR_EL2.TDE``, with or without ``USE_SW_BP``); without it the guest's own vector
  table takes it.
* ``SVC``, ``UDF`` and other undefined instructions → the guest's vectors.
* a fetch that cannot be translated → an instruction abort (its IFSC from the stage 1
  walk of ``fetch``), a misaligned PC → a PC alignment fault, a breakpoint the guest
  programmed → EC 0x30/0x31 (``_prefetch_abort``).
* ``HVC``/``SMC`` → PSCI, handled "in the kernel" as KVM does; ``SYSTEM_OFF`` becomes a
  SYSTEM_EVENT exit.
* ``WFI`` → a HLT exit: SCR_EL3.TWI traps it to the hook, so the run itself says so.
* unmapped or protected memory → an MMIO exit naming the address (``_on_bad_access``);
  on a page a watchpoint protects, the vCPU's ``_on_watched_access`` decides first.

Delivery to the guest (``_deliver``) is exception entry done by hand: SPSR_EL1, ELR_EL1,
ESR_EL1 (FAR_EL1), PSTATE, the stack pointer's bank, PC = VBAR_EL1 + the vector offset.
``Traps`` is a mixin of ``VCpu``: the methods live here, the state on the vCPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import (
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_READ_PROT,
    UC_MEM_READ_UNMAPPED,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
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
from armbp.encodings import BRK0, WFI, Op, classify, from_bytes, imm16_of
from armbp.kvm.abi import (
    PAGE_SIZE,
    DebugExit,
    Exit,
    ExitReason,
    GuestDebug,
    MemoryAccess,
    SystemEvent,
    SystemEventType,
)
from armbp.kvm.arch import (
    PSTATE_EL1H_DAIF,
    VECTOR_CURRENT_SP0,
    VECTOR_CURRENT_SPX,
    VECTOR_LOWER_A64,
)
from armbp.kvm.unicorn.fetch import breakpoint_matches, fetch_fault, pa_bits
from armbp.kvm.unicorn.guard import _exclusive

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "EXCP_BKPT",
    "EXCP_PREFETCH_ABORT",
    "EXCP_SMC",
    "EXCP_SWI",
    "EXCP_UDEF",
    "PSCI_SYSTEM_OFF",
    "PSCI_SYSTEM_RESET",
    "PSCI_VERSION",
    "Traps",
    "stale_brk_note",
]

# -- PSCI (Arm DEN 0022, "Power State Coordination Interface"), SMC Calling Convention (DEN 0028)
PSCI_VERSION = 0x8400_0000
PSCI_SYSTEM_OFF = 0x8400_0008
PSCI_SYSTEM_RESET = 0x8400_0009
PSCI_VERSION_1_0 = 0x0001_0000
SMCCC_NOT_SUPPORTED = (1 << 64) - 1  # -1
# What x0 says if the VMM ever resumes a guest after SYSTEM_OFF/RESET: the call failed
# (PSCI's INTERNAL_FAILURE, -6). KVM writes it, and zeroes x1-x3, before it exits to the VMM
# (measured on real KVM in the lab: x0 = 0xfffffffffffffffa, x1-x3 = 0).
PSCI_RET_INTERNAL_FAILURE = (1 << 64) - 6

SCR_EL3_RW = 1 << 10  # "SCR_EL3, Secure Configuration Register": the next lower EL is AArch64
SCR_EL3_TWI = 1 << 12  # ... TWI: trap WFI to EL3 (here: to the interrupt hook)
SCTLR_EL1_NTWI = 1 << 16  # "SCTLR_EL1": nTWI = 0 traps WFI at EL0 to EL1

# Unicorn's UC_HOOK_INTR numbers are QEMU's EXCP_* (target/arm/cpu.h); DESIGN.md, "Unicorn facts"
EXCP_UDEF = 1  # UDF, HLT, HVC with no EL2, ... (PC = the instruction)
EXCP_SWI = 2  # SVC (PC = the next instruction)
EXCP_BKPT = 7  # BRK (PC = the BRK itself)
EXCP_SMC = 13  # SMC (PC = the next instruction)
EXCP_PREFETCH_ABORT = 3  # an instruction abort, or a hardware breakpoint the guest programmed
EXCP_HWBKPT = EXCP_PREFETCH_ABORT

# SPSR_EL1 has no Unicorn constant: op0=3, op1=0, CRn=4, CRm=0, op2=0 ("SPSR_EL1, Saved Program Status Register (EL1)")
_SPSR_EL1 = (3, 0, 4, 0, 0)
# SCR_EL3: op0=3, op1=6, CRn=1, CRm=1, op2=0 ("SCR_EL3")
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
_X1, _X2, _X3 = regs.UC_ARM64_REG_X1, regs.UC_ARM64_REG_X2, regs.UC_ARM64_REG_X3

_BAD_ACCESS = {
    UC_MEM_READ_UNMAPPED: ("read", "nothing is mapped there"),
    UC_MEM_WRITE_UNMAPPED: ("write", "nothing is mapped there"),
    UC_MEM_FETCH_UNMAPPED: ("fetch", "nothing is mapped there"),
    UC_MEM_READ_PROT: ("read", "the page is not readable"),
    UC_MEM_WRITE_PROT: ("write", "the page is read-only"),
    UC_MEM_FETCH_PROT: ("fetch", "the page is not executable"),
}


_WATCHABLE = (UC_MEM_READ_PROT, UC_MEM_WRITE_PROT)  # a watched page's protection faults

# The debug record of the hot path, shared (a frozen value): BRK #0 → EC 0x3C, IL, ISS 0.
_BRK0_DEBUG = DebugExit(esr.brk(0))


def stale_brk_note(word: int) -> str:
    """The message of a DEBUG exit whose BRK is no longer in memory (see ``_brk_syndrome``)."""
    return (
        f"the BRK that trapped is no longer in memory (it holds {word:#010x} now): the "
        f"guest overwrote it after it was translated; imm16 unknown, 0 in hsr"
    )


def _brk_syndrome(word: int) -> tuple[int, str]:
    """The syndrome of the BRK that Unicorn says executed at a pc now holding ``word``,
    and a note when that word is not a BRK.

    ESR_ELx's ISS for a BRK is its imm16 ("comment"), which only the executed instruction
    knows. A guest store over the BRK in the same translated block lets the stale block
    run the BRK anyway (the architecture allows either instruction to execute until
    cache maintenance, Arm ARM "Concurrent modification and execution of instructions"), and memory then holds something else: an imm16
    taken from that word would be invented. The honest syndrome is BRK with imm16 0 and a
    note that says it is unknown.
    """
    if classify(word) is Op.BRK:
        return esr.brk(imm16_of(word)), ""
    return esr.brk(0), stale_brk_note(word)


class Traps:
    """The vCPU's interrupt and memory hooks, and exception entry (a mixin of ``VCpu``)."""

    uc: Uc
    traps_brk: bool
    guest_debug: GuestDebug
    _exit: Exit | None
    _raise: BaseException | None
    _delivery: tuple[int, list[tuple[int, int]], bool] | None
    _brk0_exits: dict[int, Exit]
    _read_pc: Callable[[], int]
    _read_word: Callable[[int], int]
    _stop_now: Callable[[], None]
    _until_step: bool
    scratch_base: int
    pc: int
    _pc: int | None
    _check_value: Callable[..., None]
    _watch_saved: dict[int, int]
    _read_trap: tuple[int, int] | None
    _on_watched_access: Callable[[Uc, bool, int, int, int], bool | None]

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
                pc = self._read_pc()  # BRK: PC is the BRK itself
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
                self._exit = Exit(
                    ExitReason.INTERNAL_ERROR,
                    self.uc.reg_read(_PC),
                    message=f"the vCPU's exception hook failed: {type(e).__name__}: {e}",
                )
            elif self._raise is None:
                self._raise = e  # KeyboardInterrupt, SystemExit: raised by run()
            self._stop_now()

    def _on_interrupt(self, uc: Uc, intno: int) -> None:
        """Unicorn raised a CPU exception: make it the architectural one (or an exit)."""
        if self._read_trap is not None and self._exit is not None:
            # a later instruction of the watched load's block (Unicorn ran on while the
            # stop was pending): the watchpoint came first, and _enter undoes the rest
            self._stop_now()
            return
        pc = self._read_pc()
        if pc & 3 and intno in (EXCP_UDEF, EXCP_PREFETCH_ABORT):
            # A fetch from a PC with bits [1:0] set (after BR/ERET to one): the PC alignment
            # fault comes first (Arm ARM, "PC alignment checking"); FAR holds that PC.
            # Unicorn raises it as an undefined instruction (interrupt 1).
            self._deliver(esr.pc_alignment(), return_to=pc, far=pc)
        elif intno == EXCP_BKPT:  # BRK with the trap off (on: see above)
            self._deliver(_brk_syndrome(self._read_word(pc))[0], return_to=pc)
        elif intno == EXCP_SWI:  # SVC: PC is already the next instruction
            word = self._word_or_none(pc - 4) or 0
            self._deliver(esr.svc(imm16_of(word)), return_to=pc)
        elif intno == EXCP_UDEF:
            udf = self._word_or_none(pc)
            if udf is not None and classify(udf) is Op.HVC and self._current_el() != 0:
                self._hypercall(pc, pc + 4)
            elif udf == WFI and self._wfi_traps_to_el1():
                self._deliver(esr.wfx(), return_to=pc)  # the guest kernel's own trap
            elif udf == WFI:
                # SCR_EL3.TWI (set at reset) routes WFI here with PC = the WFI: no interrupt
                # source can ever wake this guest, so the run ends as KVM_EXIT_HLT, past it.
                self._stop(
                    Exit(
                        ExitReason.HLT,
                        pc + 4,
                        message="WFI: waiting for an "
                        "interrupt, and this guest has no interrupt source",
                    )
                )
            else:  # UDF, HLT (halting debug is off),
                self._deliver(esr.unknown(), return_to=pc)  # HVC at EL0 (UNDEFINED there)
        elif intno == EXCP_SMC:  # SMC #0 is the other SMCCC conduit
            if self._current_el() != 0:
                self._hypercall(pc - 4, pc)
            else:  # SMC at EL0 is UNDEFINED
                self._deliver(esr.unknown(), return_to=pc - 4)
        elif intno == EXCP_PREFETCH_ABORT:  # an abort, or a guest's hardware bkpt
            syndrome, far = self._prefetch_abort(pc)
            if far is None and self.guest_debug & GuestDebug.ENABLE:
                # KVM sets MDCR_EL2.TDE while the VMM debugs the guest: the guest's own
                # breakpoint is routed to the hypervisor, a "lower EL" EC 0x30 exit, and
                # the VMM decides (QEMU: not ours → re-injected)
                self._stop(
                    Exit(ExitReason.DEBUG, pc, DebugExit(esr.breakpoint(same_el=False)))
                )
            else:
                self._deliver(syndrome, return_to=pc, far=far)
        else:
            self._stop(
                Exit(
                    ExitReason.INTERNAL_ERROR,
                    pc,
                    message=f"Unicorn raised exception {intno} at {pc:#x}, which "
                    f"armbp does not model",
                )
            )

    def _prefetch_abort(self, pc: int) -> tuple[int, int | None]:
        """Interrupt 3 at ``pc``: the syndrome (and FAR) of what really happened.

        QEMU raises ``EXCP_PREFETCH_ABORT`` both for a breakpoint the guest programmed in
        DBGBVR/DBGBCR and for a fetch that cannot be translated (a PC beyond the PA size
        with the MMU off, a missing or protected page with it on); Unicorn hands over
        neither the syndrome nor the fault. A breakpoint is checked before the fetch
        (Arm ARM, "Breakpoint exceptions"), so a matching one is a breakpoint (EC
        0x30/0x31, no FAR); otherwise the stage 1 walk of ``armbp.kvm.unicorn.fetch`` names the fault
        (EC 0x20/0x21 with that IFSC, FAR = pc). A PC that is fetchable after all was
        stopped by a breakpoint of a kind not decoded here (linked, context-matching).
        """
        uc = self.uc
        pstate = uc.reg_read(regs.UC_ARM64_REG_PSTATE)
        el = pstate >> 2 & 3
        same_el = el != 0
        mdscr = uc.cpr_read(*_MDSCR_EL1)
        count = (uc.cpr_read(*_ID_AA64DFR0_EL1) >> 12 & 0xF) + 1  # BRPs
        if breakpoint_matches(
            pc,
            el=el,
            pstate=pstate,
            mdscr=mdscr,
            count=count,
            read_bcr=lambda n: uc.cpr_read(2, 0, 0, n, 5),
            read_bvr=lambda n: uc.cpr_read(2, 0, 0, n, 4),
        ):
            return esr.breakpoint(same_el=same_el), None

        def read64(pa: int) -> int | None:
            try:
                return int.from_bytes(uc.mem_read(pa, 8), "little")
            except (UcError, OverflowError):
                return None

        fault = fetch_fault(
            pc,
            el=el,
            sctlr=uc.cpr_read(*_SCTLR_EL1),
            tcr=uc.cpr_read(*_TCR_EL1),
            ttbr0=uc.reg_read(regs.UC_ARM64_REG_TTBR0_EL1),
            ttbr1=uc.reg_read(regs.UC_ARM64_REG_TTBR1_EL1),
            pa_size=pa_bits(uc.cpr_read(*_ID_AA64MMFR0_EL1)),
            read64=read64,
        )
        if fault is None:
            return esr.breakpoint(same_el=same_el), None
        return esr.instruction_abort(same_el=same_el, ifsc=fault), pc

    def _hypercall(self, insn_pc: int, next_pc: int) -> None:
        """HVC/SMC from the guest: PSCI, handled "in the kernel" as KVM does."""
        function = self.uc.reg_read(_X0)
        if function in (PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET):
            kind = (
                SystemEventType.SHUTDOWN
                if function == PSCI_SYSTEM_OFF
                else SystemEventType.RESET
            )
            failed = PSCI_RET_INTERNAL_FAILURE
            self.uc.reg_write_batch(
                [(_X0, failed), (_X1, 0), (_X2, 0), (_X3, 0), (_PC, next_pc)]
            )
            self._stop(
                Exit(
                    ExitReason.SYSTEM_EVENT, next_pc, system_event=SystemEvent(kind, function)
                )
            )
            return
        result = PSCI_VERSION_1_0 if function == PSCI_VERSION else SMCCC_NOT_SUPPORTED
        # one call, so that a Ctrl-C cannot land between the result and the return
        self.uc.reg_write_batch([(_X0, result), (_PC, next_pc)])

    def _wfi_traps_to_el1(self) -> bool:
        """A WFI at EL0 with SCTLR_EL1.nTWI = 0 is the guest kernel's own trap (to EL1)."""
        return self._current_el() == 0 and not self.uc.cpr_read(*_SCTLR_EL1) & SCTLR_EL1_NTWI

    def _current_el(self) -> int:
        return self.uc.reg_read(regs.UC_ARM64_REG_PSTATE) >> 2 & 3

    @_exclusive
    def inject_exception(
        self, syndrome: int, *, return_to: int, far: int | None = None
    ) -> None:
        """Deliver a synchronous exception to the guest's EL1 vectors (the VMM re-injecting).

        What the hardware does on exception entry (Arm ARM "Exception entry"): SPSR_EL1 = PSTATE,
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
        writes = [
            (regs.UC_ARM64_REG_ELR_EL1, return_to),
            (regs.UC_ARM64_REG_ESR_EL1, syndrome),
        ]
        if far is not None:
            writes.append((regs.UC_ARM64_REG_FAR_EL1, far))
        if not spsel:
            # Leaving SP_EL0: bank it and take SP_EL1, as the hardware's SP selection does.
            # (Unicorn's PSTATE write does not switch the stack pointer itself.)
            writes += [
                (regs.UC_ARM64_REG_SP_EL0, uc.reg_read(regs.UC_ARM64_REG_SP)),
                (regs.UC_ARM64_REG_PSTATE, PSTATE_EL1H_DAIF),
                (regs.UC_ARM64_REG_SP, uc.reg_read(regs.UC_ARM64_REG_SP_EL1)),
            ]
        else:
            writes.append((regs.UC_ARM64_REG_PSTATE, PSTATE_EL1H_DAIF))
        writes.append((_PC, uc.reg_read(regs.UC_ARM64_REG_VBAR_EL1) + offset))
        self._delivery = (pstate, writes, not spsel)
        self._finish_delivery()
        if self._until_step:
            self._stop_now()  # a step ends at the vector, before its first instruction

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

    def _on_bad_access(
        self, uc: Uc, access: int, address: int, size: int, value: int, _user: object
    ) -> bool:
        if access in _WATCHABLE and (self._watch_saved or self._read_trap is not None):
            try:
                allowed = self._on_watched_access(
                    uc, access == UC_MEM_WRITE_PROT, address, size, value
                )
            except BaseException as e:  # noqa: BLE001 - must not escape into C
                self._raise = e
                return False
            if allowed is not None:
                return allowed
        kind, why = _BAD_ACCESS.get(access, ("access", "unknown fault"))
        if self.scratch_base <= address < self.scratch_base + PAGE_SIZE:
            why = "nothing is mapped there"  # the scratch page is not the guest's
        pc = address if kind == "fetch" else uc.reg_read(_PC)
        self._exit = Exit(
            ExitReason.MMIO,
            pc,
            mmio=MemoryAccess(address, size, kind, why, value if kind == "write" else None),
        )
        return False  # Unicorn stops with UC_ERR_*; run() returns the exit recorded here
