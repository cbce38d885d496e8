"""The vCPU, and the Unicorn 2.1.4 behaviours it is built on (DESIGN.md, "Unicorn facts").

The ``test_unicorn_*`` tests talk to Unicorn directly: if an upgrade changes one of these
behaviours, the test that names it fails before the vCPU misbehaves in a subtler way.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import PSCI_OFF
from unicorn import (
    UC_ARCH_ARM64,
    UC_ERR_EXCEPTION,
    UC_ERR_READ_UNMAPPED,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_HOOK_MEM_READ_UNMAPPED,
    UC_MODE_ARM,
    UC_PROT_EXEC,
    UC_PROT_READ,
    Uc,
    UcError,
)
from unicorn import arm64_const as R

from armbp import assemble, esr
from armbp.encodings import BRK0, from_bytes, to_bytes
from armbp.kvm.abi import Budget, ExitReason, GuestDebug, SystemEventType
from armbp.kvm.unicorn import VCpu
from armbp.kvm.unicorn.traps import PSCI_SYSTEM_OFF
from armbp.memory import MemoryFault

BASE = 0x40000
NEVER = (1 << 64) - 1
# A vector table whose synchronous handlers (current EL SPx at +0x200, lower EL at +0x400)
# record ESR_EL1/ELR_EL1/SPSR_EL1 in x20-x22, count in x23, skip a BRK/UDF and ERET.
VECTORS = """
        .balign 2048
vectors:
        .skip 0x200
        b handler
        .balign 0x80
        .skip 0x180
        b handler
handler:
        mrs x20, esr_el1
        mrs x21, elr_el1
        mrs x22, spsr_el1
        add x23, x23, #1
        lsr x24, x20, #26
        cmp x24, #0x15
        b.eq 1f
        add x21, x21, #4
        msr elr_el1, x21
1:      eret
"""


def raw(src: str, base: int = BASE) -> tuple[Uc, dict]:
    prog = assemble(src, base=base)
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(base, 0x10000)
    uc.mem_write(base, prog.code)
    return uc, dict(prog.symbols)


def vcpu(src: str, **kw) -> VCpu:
    return VCpu(assemble(src, base=BASE), **kw)


# -- Unicorn facts ------------------------------------------------------------------------------


def test_unicorn_reset_state_is_el1h_mmu_off_scr_el3_zero():
    uc, _ = raw("nop")
    pstate = uc.reg_read(R.UC_ARM64_REG_PSTATE)
    assert pstate & 0x3FF == 0x3C5  # DAIF masked, EL1h
    assert pstate >> 2 & 3 == 1  # CurrentEL = 4 (EL1)
    assert uc.cpr_read(3, 0, 1, 0, 0) & 1 == 0  # SCTLR_EL1.M: MMU off
    assert uc.cpr_read(3, 6, 1, 1, 0) == 0  # SCR_EL3, RW = 0


@pytest.mark.parametrize(
    "insn, intno, at_next",
    [
        ("brk #0x99", 7, False),
        ("svc #1", 2, True),
        ("hvc #0", 1, False),
        ("udf #0", 1, False),
        ("hlt #0", 1, False),
        ("smc #0", 13, True),
    ],
)
def test_unicorn_intr_numbers_and_pc_in_the_hook(insn, intno, at_next):
    uc, _ = raw(f"nop\n{insn}\nnop")
    seen = []

    def hook(uc, n, _):
        seen.append((n, uc.reg_read(R.UC_ARM64_REG_PC)))
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert seen == [(intno, BASE + 8 if at_next else BASE + 4)]


def test_unicorn_gives_no_syndrome_inside_the_hook():
    uc, _ = raw("brk #5")
    seen = []

    def hook(uc, n, _):
        seen.append(
            [
                uc.reg_read(r)
                for r in (
                    R.UC_ARM64_REG_ESR_EL1,
                    R.UC_ARM64_REG_ELR_EL1,
                    R.UC_ARM64_REG_FAR_EL1,
                )
            ]
        )
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert seen == [[0, 0, 0]]


def test_unicorn_without_intr_hook_brk_ends_in_uc_err_exception():
    uc, _ = raw("brk #0")
    with pytest.raises(UcError) as e:
        uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert e.value.errno == UC_ERR_EXCEPTION


def test_unicorn_hook_that_leaves_pc_alone_retraps_forever():
    uc, _ = raw("brk #0\nnop")
    calls = []

    def hook(uc, n, _):
        calls.append(uc.reg_read(R.UC_ARM64_REG_PC))
        if len(calls) == 5:
            uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert calls == [BASE] * 5


def test_unicorn_eret_to_el1_needs_scr_el3_rw():
    src = """
        adr x1, back
        msr elr_el1, x1
        mov x2, #0x3c5
        msr spsr_el1, x2
        eret
back:   nop
        brk #0
    """
    il = {}
    for rw in (0, 0x400):
        uc, _ = raw(src)
        uc.cpr_write(3, 6, 1, 1, 0, rw)
        uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: uc.emu_stop())
        uc.emu_start(BASE, NEVER, timeout=1_000_000)
        il[rw] = uc.reg_read(R.UC_ARM64_REG_PSTATE) >> 20 & 1  # PSTATE.IL
    assert il == {0: 1, 0x400: 0}


def test_unicorn_mem_write_leaves_stale_translations_until_ctl_remove_cache():
    src = "loop: add x1, x1, #1\nbrk #0\nb loop"
    for flush, expected in ((False, 2), (True, 11)):
        uc, _sym = raw(src)
        uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: uc.emu_stop())
        uc.emu_start(BASE, NEVER, timeout=1_000_000)  # translates the block
        uc.mem_write(BASE, to_bytes(0x91002821))  # add x1, x1, #10
        if flush:
            uc.ctl_remove_cache(BASE, BASE + 4)
        uc.emu_start(BASE, NEVER, timeout=1_000_000)
        assert uc.reg_read(R.UC_ARM64_REG_X1) == expected


def test_unicorn_code_hook_added_after_translation_needs_the_cache_removed():
    uc, _ = raw("nop\nnop\nbrk #0")
    uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: uc.emu_stop())
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    seen = []
    uc.hook_add(UC_HOOK_CODE, lambda uc, a, s, _: seen.append(a), begin=BASE + 4, end=BASE + 4)
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert seen == []
    uc.ctl_remove_cache(BASE, BASE + 12)
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert seen == [BASE + 4]


def test_unicorn_guest_stores_to_code_do_invalidate():
    src = """
        movz w2, #0x2821
        movk w2, #0x9100, lsl #16   // add x1, x1, #10
        adr x3, target
        mov x1, #0
        b target
target: add x1, x1, #1
        str w2, [x3]
        cbnz x4, done
        mov x4, #1
        b target
done:   brk #0
    """
    uc, _ = raw(src)
    uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: uc.emu_stop())
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert uc.reg_read(R.UC_ARM64_REG_X1) == 11  # first pass +1, second pass the new +10


# The guest stores a NOP over the BRK at `target`, in the same translated block.
SAME_BLOCK_OVERWRITE = """
_start: adr x1, target
        movz w2, #0x201f
        movk w2, #0xd503, lsl #16   // w2 = NOP
        str w2, [x1]
target: brk #0x42
        mov x5, #1
"""


def test_unicorn_a_brk_overwritten_in_its_own_translated_block_still_executes():
    uc, sym = raw(SAME_BLOCK_OVERWRITE)
    seen = []
    uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: (seen.append(n), uc.emu_stop()))
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert seen == [7] and uc.reg_read(R.UC_ARM64_REG_PC) == sym["target"]
    assert from_bytes(uc.mem_read(sym["target"], 4)) == 0xD503201F  # memory: the NOP


def test_unicorn_count_1_after_an_uncounted_run_needs_ctl_flush_tb():
    src = "mov x0, #10\nloop: add x1, x1, #1\nsubs x0, x0, #1\nb.ne loop\nhvc #0"
    results = {}
    for flush in (False, True):
        uc, _ = raw(src)
        uc.hook_add(UC_HOOK_INTR, lambda uc, n, _: uc.emu_stop())
        uc.emu_start(BASE, NEVER, timeout=1_000_000)  # runs the loop, translated uncounted
        uc.reg_write(R.UC_ARM64_REG_X0, 10)
        uc.reg_write(R.UC_ARM64_REG_X1, 0)
        if flush:
            uc.ctl_flush_tb()
        uc.emu_start(BASE + 4, NEVER, timeout=1_000_000, count=1)
        results[flush] = uc.reg_read(R.UC_ARM64_REG_X1)
    assert results[True] == 1
    assert results[False] > 1


def test_unicorn_pstate_write_needs_a_cpr_write_to_change_the_translated_el():
    src = """
        adr x1, user
        msr elr_el1, x1
        msr spsr_el1, xzr
        eret
user:   svc #0
        .balign 2048
vectors:
        .skip 0x400
        mrs x0, currentel
        brk #0
    """
    seen = {}
    for rebuild in (False, True):
        uc, sym = raw(src)
        uc.cpr_write(3, 6, 1, 1, 0, 0x400)
        log = []

        def hook(uc, n, _, log=log, rebuild=rebuild, sym=sym):
            log.append(n)
            if n == 2:  # SVC from EL0: enter EL1 by hand, as the vCPU does
                uc.reg_write(R.UC_ARM64_REG_PSTATE, 0x3C5)
                if rebuild:
                    uc.cpr_write(3, 6, 1, 1, 0, uc.cpr_read(3, 6, 1, 1, 0))
                uc.reg_write(R.UC_ARM64_REG_PC, sym["vectors"] + 0x400)
            else:
                uc.emu_stop()

        uc.hook_add(UC_HOOK_INTR, hook)
        uc.emu_start(BASE, NEVER, timeout=1_000_000)
        seen[rebuild] = (log, uc.reg_read(R.UC_ARM64_REG_X0))
    assert seen[False] == ([2, 1], 0)  # MRS CurrentEL translated for EL0: UNDEFINED
    assert seen[True] == ([2, 7], 4)  # EL1


def test_unicorn_unmapped_access_raises_and_the_hook_sees_address_and_pc():
    uc, _ = raw("mov x1, #0x100000\nldr x2, [x1]")
    seen = []
    uc.hook_add(
        UC_HOOK_MEM_READ_UNMAPPED,
        lambda uc, acc, addr, size, val, _: (
            seen.append((addr, size, uc.reg_read(R.UC_ARM64_REG_PC))) and False
        ),
    )
    with pytest.raises(UcError) as e:
        uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert e.value.errno == UC_ERR_READ_UNMAPPED
    assert seen == [(0x100000, 8, BASE + 4)]


def test_unicorn_host_writes_ignore_page_protection():
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(BASE, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
    uc.mem_write(BASE, to_bytes(BRK0))  # how a BRK gets into read-only code
    assert from_bytes(uc.mem_read(BASE, 4)) == BRK0


def test_unicorn_wfi_returns_from_emu_start_after_the_wfi():
    uc, _ = raw("nop\nwfi\nnop")
    uc.emu_start(BASE, NEVER, timeout=1_000_000)
    assert uc.reg_read(R.UC_ARM64_REG_PC) == BASE + 8


# -- the vCPU -----------------------------------------------------------------------------------


def test_reset_state():
    cpu = vcpu("nop")
    regs = cpu.registers()
    assert regs["pc"] == BASE
    assert regs["pstate"] & 0x3FF == 0x3C5
    assert cpu.read_register("currentel") == 4
    assert regs["sp"] == cpu.stack_top and cpu.stack_top % 16 == 0
    assert all(regs[f"x{i}"] == 0 for i in range(31))
    assert cpu.uc.cpr_read(3, 6, 1, 1, 0) & 0x400  # SCR_EL3.RW
    assert cpu.guest_debug == GuestDebug.NONE


def test_brk_with_the_trap_enabled_is_a_debug_exit_with_the_syndrome():
    cpu = vcpu("nop\nbrk #0x99")
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG and e.pc == BASE + 4
    assert (e.debug.hsr, e.debug.hsr_high, e.debug.far) == (0xF2000099, 0, 0)
    assert e.debug.ec == esr.EC.BRK64
    assert "hsr=0xf2000099" in repr(e)


def test_a_brk_overwritten_after_translation_gets_imm16_0_and_a_note_not_an_invented_one():
    cpu = vcpu(SAME_BLOCK_OVERWRITE)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG and e.pc == BASE + 16
    assert e.debug.hsr == 0xF2000000  # not 0xf2001900: the NOP's bits 20:5
    assert "no longer in memory (it holds 0xd503201f now)" in e.message
    assert "imm16 unknown" in e.message
    # a BRK that is still in memory carries no note
    cpu = vcpu("brk #0x42")
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    assert cpu.run(1).message == ""


def test_without_the_trap_an_overwritten_brk_reaches_the_guest_with_imm16_0():
    cpu = vcpu(f"""
        adr x1, vectors
        msr vbar_el1, x1
        {SAME_BLOCK_OVERWRITE.replace("_start:", "")}
        {PSCI_OFF}
        {VECTORS}""")
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    assert cpu.read_register("x20") == 0xF2000000 and cpu.read_register("x23") == 1


def test_enable_alone_traps_brk_as_kvm_does():
    # KVM sets MDCR_EL2.TDE for any enabled guest debug: BRK leaves the guest without
    # USE_SW_BP too (the lab's scenario "the guest's own BRK under ENABLE alone")
    cpu = vcpu(f"adr x1, vectors\nmsr vbar_el1, x1\nbrk #1\n{PSCI_OFF}\n{VECTORS}")
    cpu.set_guest_debug(GuestDebug.ENABLE)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG and e.debug is not None and e.debug.hsr == 0xF2000001
    cpu.set_guest_debug(GuestDebug.USE_SW_BP)  # without ENABLE nothing is trapped
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    assert cpu.read_register("x23") == 1


def test_brk_without_the_trap_goes_to_the_guest_vectors_and_eret_resumes():
    src = f"""
_start: adr x1, vectors
        msr vbar_el1, x1
        mov x5, #7
        cmp x5, #7              // Z set: SPSR_EL1 must keep it
the_brk:
        brk #0x42
        add x6, x5, #1
        {PSCI_OFF}
        {VECTORS}
    """
    prog = assemble(src, base=BASE)
    cpu = VCpu(prog)
    e = cpu.run(1)
    assert e.reason is ExitReason.SYSTEM_EVENT
    r = {n: cpu.read_register(n) for n in ("x20", "x21", "x22", "x23", "x6")}
    assert r["x20"] == 0xF2000042  # ESR_EL1: EC 0x3C, IL, imm16
    assert r["x21"] == prog.symbols["the_brk"] + 4  # ELR_EL1 = the BRK (handler added 4)
    assert r["x22"] & 0xF000_03FF == 0x6000_03C5  # SPSR_EL1 = PSTATE before: Z, C, EL1h
    assert r["x22"] >> 20 & 1 == 0  # no illegal return
    assert r["x23"] == 1 and r["x6"] == 8


@pytest.mark.parametrize(
    "insn, syndrome, elr_is_next",
    [
        ("svc #0x33", 0x56000033, True),  # SVC: preferred return = the next instruction
        ("udf #7", 0x02000000, False),  # UNDEFINED: the instruction itself
        ("hlt #1", 0x02000000, False),  # HLT with halting debug off is UNDEFINED
    ],
)
def test_svc_and_undefined_go_to_the_guest_vectors(insn, syndrome, elr_is_next):
    src = f"""
_start: adr x1, vectors
        msr vbar_el1, x1
here:   {insn}
        {PSCI_OFF}
        {VECTORS}
    """
    prog = assemble(src, base=BASE)
    cpu = VCpu(prog)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)  # traps BRK only
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    here = prog.symbols["here"]
    delivered_elr = here + 4 if elr_is_next else here
    handler_added = 0 if insn.startswith("svc") else 4  # the handler skips all but SVC
    assert cpu.read_register("x20") == syndrome == cpu.read_register("esr_el1")
    assert cpu.read_register("x21") == delivered_elr + handler_added
    assert cpu.read_register("x23") == 1


def test_svc_from_el0_uses_the_lower_el_vector_and_banks_sp():
    src = """
_start: adr x1, vectors
        msr vbar_el1, x1
        adr x1, user
        msr elr_el1, x1
        msr spsr_el1, xzr       // EL0t
        msr sp_el0, x2
        eret
user:   mov x9, sp
        svc #9
        mov x10, sp
el0_hvc:
        hvc #0                  // UNDEFINED at EL0: back to the vectors, with EC 0
        .balign 2048
vectors:
        .skip 0x400
        mrs x20, esr_el1
        mrs x21, elr_el1
        mov x11, sp
        add x23, x23, #1
        lsr x24, x20, #26
        cbz x24, off
        eret
off:    movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
    """
    prog = assemble(src, base=BASE)
    cpu = VCpu(prog)
    user_sp = cpu.stack_top - 0x1000
    cpu.write_register("x2", user_sp)
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    r = {n: cpu.read_register(n) for n in ("x9", "x10", "x11", "x20", "x21", "x23")}
    assert r["x9"] == r["x10"] == user_sp  # EL0's SP survived the SVC and its ERET
    assert r["x11"] == cpu.stack_top  # the handler ran on SP_EL1
    assert r["x23"] == 2
    assert r["x20"] == 0x02000000 and r["x21"] == prog.symbols["el0_hvc"]


def test_psci_system_off_is_a_system_event_exit():
    cpu = vcpu(f"nop\n{PSCI_OFF}")
    e = cpu.run(1)
    assert e.reason is ExitReason.SYSTEM_EVENT
    assert e.system_event.type is SystemEventType.SHUTDOWN
    assert e.system_event.function == PSCI_SYSTEM_OFF
    assert e.pc == BASE + 16  # after the HVC


def test_psci_system_off_leaves_the_failure_in_x0_as_kvm_does():
    """KVM answers SYSTEM_OFF as a call that failed if the VMM ever resumes the guest:
    x0 = INTERNAL_FAILURE (-6), x1-x3 = 0 (real KVM in the lab, tests/test_kvm_lab.py)."""
    cpu = vcpu(f"mov x1, #1\nmov x2, #2\nmov x3, #3\nmov x4, #4\n{PSCI_OFF}")
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    regs = [cpu.read_register(f"x{n}") for n in range(5)]
    assert regs == [(1 << 64) - 6, 0, 0, 0, 4]


def test_other_hypercalls_return_to_the_guest():
    src = f"""
        movz x0, #0x8400, lsl #16   // PSCI_VERSION
        hvc #0
        mov x5, x0
        mov x0, #0x1234             // not a PSCI function
        hvc #0
        mov x6, x0
        {PSCI_OFF}
    """
    cpu = vcpu(src)
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    assert cpu.read_register("x5") == 0x10000  # PSCI 1.0
    assert cpu.read_register("x6") == (1 << 64) - 1  # SMCCC NOT_SUPPORTED


def test_single_step_is_one_instruction_with_the_software_step_syndrome():
    src = "mov x0, #5\nloop: add x1, x1, #1\nsubs x0, x0, #1\nb.ne loop\nb ."
    cpu = vcpu(src)
    cpu.run(0.05)  # translate everything uncounted first (the ctl_flush_tb case)
    cpu.pc = BASE + 4
    cpu.write_register("x0", 5)
    cpu.write_register("x1", 0)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
    pcs = []
    for _ in range(4):
        e = cpu.run(1)
        assert e.reason is ExitReason.DEBUG
        assert e.debug.hsr == 0xCB000022 == esr.software_step()
        pcs.append(e.pc)
    assert pcs == [BASE + 8, BASE + 12, BASE + 4, BASE + 8]
    assert cpu.read_register("x1") == 2


def test_a_runaway_guest_returns_budget_and_never_hangs():
    cpu = vcpu("spin: b spin")
    t = time.monotonic()
    e = cpu.run(0.05)
    assert e.reason is ExitReason.BUDGET and "time" in e.message
    assert time.monotonic() - t < 1.0
    e = cpu.run(Budget(seconds=5, instructions=100))
    assert e.reason is ExitReason.BUDGET and "100 instruction" in e.message


def test_kick_from_another_thread_interrupts_a_run():
    cpu = vcpu("spin: b spin")
    threading.Timer(0.05, cpu.kick).start()
    t = time.monotonic()
    e = cpu.run(10)
    assert e.reason is ExitReason.BUDGET and e.message == "interrupted"
    assert time.monotonic() - t < 2


@pytest.mark.parametrize(
    "src, access, address",
    [
        ("mov x1, #0x100000\nldr x2, [x1]", "read", 0x100000),
        ("mov x1, #0x100000\nstr x2, [x1]", "write", 0x100000),
        ("mov x1, #0x100000\nbr x1", "fetch", 0x100000),
    ],
)
def test_unmapped_access_is_an_mmio_exit_naming_the_address(src, access, address):
    cpu = vcpu(src)
    e = cpu.run(1)
    assert e.reason is ExitReason.MMIO
    assert (e.mmio.access, e.mmio.address) == (access, address)
    assert e.pc == (address if access == "fetch" else BASE + 4)
    assert f"{address:#x}" in repr(e)


def test_write_to_read_only_code_is_an_mmio_exit():
    from armbp.program import Program, Segment

    code = assemble("here: adr x1, here\nstr x1, [x1]", base=BASE).code
    prog = Program(code=code, base=BASE, segments=(Segment(BASE, code, len(code), "rx"),))
    e = VCpu(prog).run(1)
    assert e.reason is ExitReason.MMIO and e.mmio.access == "write"
    assert "read-only" in e.mmio.why


def test_wfi_is_a_hlt_exit():
    e = vcpu("nop\nwfi").run(1)
    assert e.reason is ExitReason.HLT and e.pc == BASE + 8


def test_guest_memory_faults_and_flushes():
    cpu = vcpu("loop: add x1, x1, #1\nbrk #0\nb loop")
    with pytest.raises(MemoryFault) as e:
        cpu.memory.read(0x900000, 4)
    assert e.value.address == 0x900000
    with pytest.raises(MemoryFault):
        cpu.memory.write(0x900000, b"\0" * 4)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    cpu.run(1)  # x1 = 1, the block is translated
    cpu.memory.write(BASE, to_bytes(0x91002821))  # add x1, x1, #10 — flushed
    cpu.pc = BASE
    cpu.run(1)
    assert cpu.read_register("x1") == 11


def test_map_adds_guest_memory_with_its_permissions():
    cpu = vcpu(
        "mov x1, #0x200000\nmov x2, #7\nstr x2, [x1, #8]\nldr x3, [x1, #8]\n"
        "mov x4, #0x300000\nstr x2, [x4]"
    )
    cpu.map(0x200000, 0x2000, "rw")
    cpu.map(0x300000, 0x1000, "r")
    assert cpu.memory.read(0x201FF8, 8) == bytes(8)  # zeroed, both pages
    e = cpu.run(1)
    assert cpu.read_register("x3") == 7
    assert e.reason is ExitReason.MMIO and e.mmio.address == 0x300000
    assert e.mmio.describe() == "cannot write 8 byte(s) at 0x300000: the page is read-only"


@pytest.mark.parametrize(
    "address, size, perms, message",
    [
        (
            0x200800,
            0x1000,
            "rw",
            (
                "address 0x200800 and size 0x1000 must be multiples of the page "
                "size 0x1000, size > 0 (e.g. 0x200000, 0x2000)"
            ),
        ),
        (0x200000, 0x10, "rw", "address 0x200000 and size 0x10 must be multiples"),
        (0x200000, 0, "rw", "size 0x0 must be multiples"),
        (
            BASE,
            0x1000,
            "rw",
            "map: 0x40000..0x40fff overlaps memory already mapped at 0x40000..0x40fff (rwx)",
        ),
        (0x1F000, 0x30000, "r", "overlaps memory already mapped at 0x40000..0x40fff (rwx)"),
        (0x200000, 0x1000, "rwz", "perms 'rwz': expected letters from 'rwx'"),
        (-0x1000, 0x1000, "rw", "address -4096 is not a non-negative integer"),
        ((1 << 64) - 0x1000, 0x2000, "rw", "goes past the end of the 64-bit address space"),
    ],
)
def test_map_refuses_what_it_cannot_do_and_names_the_values(address, size, perms, message):
    cpu = vcpu("nop")
    before = list(cpu.uc.mem_regions())
    with pytest.raises(ValueError, match="map: ") as e:
        cpu.map(address, size, perms)
    assert message in str(e.value)
    assert list(cpu.uc.mem_regions()) == before


def test_map_overlapping_an_earlier_map_and_reset_drops_maps():
    cpu = vcpu("nop")
    cpu.map(0x200000, 0x2000)
    with pytest.raises(
        ValueError,
        match=r"0x201000\.\.0x201fff overlaps memory already "
        r"mapped at 0x200000\.\.0x201fff \(rw-\)",
    ):
        cpu.map(0x201000, 0x1000)
    cpu.reset()
    cpu.map(0x201000, 0x1000)  # the machine was rebuilt without it


def test_without_the_flush_a_code_write_is_not_seen():
    cpu = vcpu("loop: add x1, x1, #1\nbrk #0\nb loop", flush_code_writes=False)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    cpu.run(1)
    cpu.memory.write(BASE, to_bytes(0x91002821))
    cpu.pc = BASE
    cpu.run(1)
    assert cpu.read_register("x1") == 2  # the stale "add #1" ran again


def test_fp_simd_registers_are_read_and_written_as_the_guest_sees_them():
    cpu = vcpu("""
        movz x1, #0x1111
        movz x2, #0x2222, lsl #16
        .inst 0x9e670020        // fmov d0, x1
        .inst 0x4e181c40        // mov v0.d[1], x2
        .inst 0x9e660124        // fmov x4, d9
        .inst 0x4e183d25        // mov x5, v9.d[1]
        .inst 0xd53b4406        // mrs x6, fpcr
    """)
    cpu.write_register("v9", 0x0123_4567_89AB_CDEF << 64 | 0xFEDC_BA98_7654_3210)
    cpu.write_register("fpcr", 0x0300_0000)  # RMode = round towards zero
    cpu.run(Budget(instructions=7))
    assert cpu.read_register("v0") == 0x2222_0000 << 64 | 0x1111
    assert cpu.read_register("V0") == cpu.read_register("v0")
    assert (cpu.read_register("x4"), cpu.read_register("x5")) == (
        0xFEDC_BA98_7654_3210,
        0x0123_4567_89AB_CDEF,
    )
    assert cpu.read_register("x6") == cpu.read_register("fpcr") == 0x0300_0000
    cpu.write_register("fpsr", 0x8000_0000)  # QC, cumulative saturation
    assert cpu.read_register("fpsr") == 0x8000_0000


@pytest.mark.parametrize(
    "bad, what",
    [
        (lambda c: c.set_guest_debug(1 << 5), "unknown bits"),
        (lambda c: c.run(-1), "expected a number > 0"),
        (lambda c: c.run(Budget(instructions=0)), "instructions=0"),
        (lambda c: c.read_register("x31"), "unknown register 'x31'"),
        (lambda c: c.write_register("x0", -1), "expected an integer"),
        (lambda c: c.write_register("x0", 1 << 64), r"expected an integer 0\.\.2\*\*64-1"),
        (
            lambda c: c.write_register("v0", 1 << 128),
            r"for v0: expected an integer 0\.\.2\*\*128",
        ),
        (
            lambda c: c.write_register("fpcr", 1 << 32),
            r"for fpcr: expected an integer 0\.\.2\*\*32",
        ),
        (lambda c: c.read_register("v32"), "unknown register 'v32'"),
        (lambda c: VCpu(b"\0\0\0\0"), "expected an armbp.Program"),
    ],
)
def test_bad_input_names_the_value(bad, what):
    cpu = vcpu("nop")
    with pytest.raises(ValueError, match=what):
        bad(cpu)


def test_direct_readers_agree_with_the_public_api():
    from armbp.kvm.unicorn.binding import _direct_calls

    cpu = vcpu("nop\nnop\nbrk #3")
    read_pc, read_word, _stop = _direct_calls(cpu.uc)
    cpu.uc.reg_write(R.UC_ARM64_REG_PC, BASE + 8)
    assert read_pc() == cpu.uc.reg_read(R.UC_ARM64_REG_PC) == BASE + 8
    assert read_word(BASE + 8) == from_bytes(cpu.uc.mem_read(BASE + 8, 4)) == 0xD4200060
    with pytest.raises(UcError):
        read_word(0x900000)


def test_an_error_inside_the_exception_hook_becomes_an_internal_error_exit():
    cpu = vcpu("nop\nsvc #0\nnop")

    def broken(uc, intno):
        raise RuntimeError("boom")

    cpu._on_interrupt = broken
    e = cpu.run(1)
    assert e.reason is ExitReason.INTERNAL_ERROR and "RuntimeError: boom" in e.message
    assert e.pc == BASE + 8


def test_many_short_budgets_each_end_on_time():
    cpu = vcpu("spin: b spin")
    t = time.monotonic()
    for i in range(40):
        e = cpu.run(0.005 if i % 2 else 0.02)
        assert e.reason is ExitReason.BUDGET
    assert time.monotonic() - t < 3.0


def test_a_stop_meant_for_an_earlier_run_is_ignored():
    cpu = vcpu("nop\nspin: b spin")
    cpu.run(0.01)
    stale = cpu._token
    threading.Timer(0.02, cpu._time_up, args=(stale,)).start()  # aimed at the last run
    t = time.monotonic()
    e = cpu.run(0.2)
    assert e.reason is ExitReason.BUDGET and time.monotonic() - t >= 0.15


def test_wfi_at_el0_with_ntwi_clear_is_the_guest_kernels_wfx_trap():
    """SCTLR_EL1.nTWI = 0 makes an EL0 WFI an exception to EL1 with EC 0x01 (WFx), ISS
    CV 1, COND 0b1110, TI 0; with nTWI = 1 the WFI runs (and, with no interrupt source,
    ends the run as KVM_EXIT_HLT)."""
    src = """
_start: adr x1, vectors
        msr vbar_el1, x1
        mrs x1, sctlr_el1
        bic x1, x1, x3          // x3 = the nTWI bit to clear (0: leave it set)
        orr x1, x1, x4          // x4 = the nTWI bit to set
        msr sctlr_el1, x1
        isb
        adr x1, user
        msr elr_el1, x1
        msr spsr_el1, xzr       // EL0t
        eret
user:   wfi
after:  svc #0
        .balign 2048
vectors:
        .skip 0x400
        mrs x20, esr_el1
        mrs x21, elr_el1
        add x23, x23, #1
        lsr x24, x20, #26
        cmp x24, #0x15
        b.eq off
        add x21, x21, #4
        msr elr_el1, x21
        eret
off:    movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
    """
    ntwi = 1 << 16
    prog = assemble(src, base=BASE)
    cpu = VCpu(prog)
    cpu.write_register("x3", ntwi)
    assert cpu.run(1).reason is ExitReason.SYSTEM_EVENT
    assert cpu.read_register("x23") == 2  # the WFx trap, then the SVC
    # the SVC's syndrome is last; the WFI's was seen first: run again to read it alone
    cpu = VCpu(prog)
    cpu.write_register("x3", ntwi)
    cpu.memory.write(prog.symbols["after"], to_bytes(BRK0))  # BRK: stop at the SVC
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG
    assert cpu.read_register("x20") == esr.wfx() == 0x07E00000
    assert cpu.read_register("x21") == prog.symbols["user"] + 4
    cpu = VCpu(prog)
    cpu.write_register("x4", ntwi)  # nTWI = 1: the WFI is not trapped to EL1
    e = cpu.run(1)
    assert e.reason is ExitReason.HLT and cpu.read_register("x23") == 0
