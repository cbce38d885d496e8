"""Real syndromes to start from: the ESR explorer's dropdown and ``armbp esr --preset``.

Each preset is built with this package's builders (so a value and its builder cannot drift
apart) and says where the value comes from. ``name`` is the short word the command line
takes (``armbp esr --preset watch-read``).
"""

from __future__ import annotations

from typing import NamedTuple

from . import build

__all__ = ["PRESETS", "Preset", "by_name"]


class Preset(NamedTuple):
    label: str
    value: int
    source: str
    name: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset(
        "BRK #0: GDB/QEMU software breakpoint",
        build.brk(0),
        "GDB's aarch64 breakpoint and QEMU's gdbstub write BRK #0 (0xd4200000)",
        "brk",
    ),
    Preset(
        "BRK #0xf000: LLDB software breakpoint",
        build.brk(0xF000),
        "LLDB's AArch64 breakpoint opcode 0xd43e0000",
        "brk-lldb",
    ),
    Preset(
        "BRK #0x800: Linux BUG()",
        build.brk(0x800),
        "Linux arch/arm64/include/asm/brk-imm.h: BUG_BRK_IMM 0x800",
        "bug",
    ),
    Preset(
        "BRK #0x900: Linux KASAN report",
        build.brk(0x900),
        "Linux arch/arm64/include/asm/brk-imm.h: KASAN_BRK_IMM 0x900",
        "kasan",
    ),
    Preset(
        "BRK #0x5500: UBSAN trap",
        build.brk(0x5500),
        "Linux arch/arm64/include/asm/brk-imm.h: UBSAN_BRK_IMM 0x5500 (check kind in "
        "the low byte)",
        "ubsan",
    ),
    Preset(
        "SVC #0: Linux system call",
        build.svc(0),
        "every AArch64 Linux syscall is SVC #0 from EL0",
        "svc",
    ),
    Preset(
        "HVC #0: hypervisor call (PSCI)",
        build.hvc(0),
        "PSCI calls from a guest kernel use HVC #0",
        "hvc",
    ),
    Preset(
        "Data abort: kernel write, translation fault L1",
        build.data_abort(same_el=True, wnr=True, dfsc=build.fsc_translation(1)),
        "a typical Linux oops line: ESR = 0x0000000096000045",
        "oops",
    ),
    Preset(
        "Data abort from EL0: read, translation fault L3",
        build.data_abort(same_el=False, dfsc=build.fsc_translation(3)),
        "a user-space segfault on an unmapped page",
        "segfault",
    ),
    Preset(
        "Software step, seen by KVM",
        build.software_step(same_el=False, isv=True),
        "QEMU syn_swstep: what the hypervisor sees after stepping one instruction",
        "step",
    ),
    Preset(
        "Software step over LDXR (EX = 1), seen by KVM",
        build.software_step(same_el=False, isv=True, ex=True),
        "QEMU syn_swstep with ex = 1: the stepped instruction was a Load-Exclusive, so "
        "the exclusive monitor the step cleared must be taken into account",
        "step-ldxr",
    ),
    Preset(
        "Hardware breakpoint (EC 0x30), seen by KVM",
        build.breakpoint(same_el=False),
        "QEMU syn_breakpoint, lower EL: gdb hbreak through KVM_GUESTDBG_USE_HW",
        "hbreak",
    ),
    Preset(
        "Watchpoint (write), seen by KVM",
        build.watchpoint(same_el=False, wnr=True),
        "QEMU syn_watchpoint, lower EL, WnR = 1: gdb watch; FAR holds the data address",
        "watch-write",
    ),
    Preset(
        "Watchpoint (read), seen by KVM",
        build.watchpoint(same_el=False, wnr=False),
        "QEMU syn_watchpoint, lower EL, WnR = 0: gdb rwatch; FAR holds the data address",
        "watch-read",
    ),
    Preset(
        "Watchpoint (DC IVAC, CM = 1), seen by KVM",
        build.watchpoint(same_el=False, wnr=True, cm=True),
        "QEMU syn_watchpoint with cm = 1: DC IVAC on watched bytes counts as a store and "
        "reports CM = 1 with WnR = 1",
        "watch-cm",
    ),
    Preset(
        "Unknown reason (UDF)",
        build.unknown(),
        "an undefined instruction such as UDF #0",
        "udf",
    ),
)


def by_name(name: str) -> Preset:
    """The preset called ``name``; KeyError listing the names there are otherwise."""
    for p in PRESETS:
        if p.name == name:
            return p
    raise KeyError(f"no preset {name!r}: expected one of {', '.join(p.name for p in PRESETS)}")
