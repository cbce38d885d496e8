"""The exercises of lesson 8, the real thing.

The lesson is ``notebooks/08-the-real-thing.ipynb``. Content only: each entry is a
question, a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them. None of them needs the KVM
lab: the coding exercise reads ``struct kvm_run`` pages built here, in the layout of
``armbp.kvm.devkvm.uapi`` (checked against the kernel headers), and compares the learner's
reading with ``uapi.read_exit``.
"""

from __future__ import annotations

import struct
from typing import Any

from .. import esr
from ..kvm.abi import ExitReason, GuestDebug
from ..kvm.devkvm import uapi
from . import Exercise, Trial, exercise, expect_function, expect_int, shown

RUN_PAGE_SIZE = 4096  # KVM_GET_VCPU_MMAP_SIZE is at least a page; the exits sit in its start
_FILL = 0xA5  # every byte the exit does not set: a wrong offset reads 0xa5a5…, not 0


def run_page(reason: int, record: bytes = b"") -> bytes:
    """A ``struct kvm_run`` page as ``KVM_RUN`` leaves it: ``exit_reason`` at offset 8 and
    the exit's record at offset 32, every other byte 0xa5 (so a misplaced read shows)."""
    page = bytearray([_FILL]) * RUN_PAGE_SIZE
    struct.pack_into("<I", page, uapi.RUN_EXIT_REASON, reason)
    page[uapi.RUN_EXIT : uapi.RUN_EXIT + len(record)] = record
    return bytes(page)


def debug_page(hsr: int, far: int = 0) -> bytes:
    """The page of a ``KVM_EXIT_DEBUG`` exit: ``run->debug.arch`` = hsr, hsr_high 0, far."""
    return run_page(ExitReason.DEBUG, uapi.DEBUG_EXIT.pack(hsr, 0, far))


# The exits a VMM reads, as real KVM gave them in the lab (lesson 8 shows them again).
_WATCHED = 0x4000_2000
_PAGES = (
    ("a BRK #0 exit", debug_page(esr.brk(0))),
    (
        "a write watchpoint exit, FAR = the data",
        debug_page(esr.watchpoint(wnr=True), _WATCHED),
    ),
    ("a single-step exit", debug_page(esr.software_step(isv=True))),
    (
        "an MMIO exit (reason 6): no debug record",
        run_page(ExitReason.MMIO, uapi.MMIO_EXIT.pack(0x0900_0000, b"\x41" + bytes(7), 4, 1)),
    ),
)

_MODEL_DEBUG_EXIT = """\
import struct


def debug_exit(run):
    (reason,) = struct.unpack_from("<I", run, 8)   # run->exit_reason
    if reason != 4:                                 # KVM_EXIT_DEBUG
        return None
    hsr, hsr_high, far = struct.unpack_from("<IIQ", run, 32)  # run->debug.arch
    return hsr, far
"""  # the model answer: what the answer key prints and the lesson test runs


def _words(page: bytes, at: int) -> tuple[int, int]:
    return struct.unpack_from("<I", page, at)[0], struct.unpack_from("<Q", page, at)[0]


def _page_trial(page: bytes) -> Trial:
    """Run the learner's ``debug_exit`` on ``page``; compare with ``uapi.read_exit`` and
    name the likely mix-ups (offsets of exit_reason, hsr_high, far; no reason check)."""

    def trial(debug_exit: Any) -> str | None:
        e = uapi.read_exit(page)
        want = None if e.debug is None else (e.debug.hsr, e.debug.far)
        got = debug_exit(page)
        if got == want:
            return None
        if want is None:
            return (
                f"debug_exit returned {shown(got)} for an exit whose exit_reason is "
                f"{e.reason}, not 4 (KVM_EXIT_DEBUG): there is no debug record to read, "
                f"return None"
            )
        if not isinstance(got, tuple) or len(got) != 2:
            return f"debug_exit returned {shown(got)}, expected a pair (hsr, far)"
        hsr, far = got
        if hsr != want[0]:
            if hsr in _words(page, uapi.RUN_EXIT_REASON):
                return f"hsr {shown(hsr)} is exit_reason (offset 8); run->debug starts at 32"
            return f"hsr {shown(hsr)}, expected {want[0]:#010x}: read a __u32 at offset 32"
        if far != want[1]:
            if far in _words(page, uapi.RUN_EXIT + 4):
                return (
                    f"far {shown(far)} was read at offset 36, where hsr_high is; far is at 40"
                )
            return f"far {shown(far)}, expected {want[1]:#x}: read a __u64 at offset 40"
        return f"debug_exit returned {shown(got)}, expected {shown(want)}"

    return trial


EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "kvm-run-hsr-offset",
        "At which byte offset of `struct kvm_run` does a VMM read `run->debug.arch.hsr` "
        "after KVM_RUN returns with KVM_EXIT_DEBUG?",
        check=expect_int(
            uapi.RUN_EXIT,
            why="32: the union of per-exit records starts at offset 32 (after "
            "request_interrupt_window, immediate_exit, padding, exit_reason, "
            "ready_for_interrupt_injection, if_flag, flags, cr8 and apic_base); "
            "run->debug.arch is the first thing in it, and hsr its first __u32.",
        ),
        hint="Look at the layout the lesson printed from uapi: exit_reason is at 8, and the "
        "exit's record comes after the fields every exit shares.",
        solution="The lesson's layout: exit_reason at 8, the union at 32; struct "
        "kvm_debug_exit_arch { __u32 hsr; __u32 hsr_high; __u64 far; } puts hsr at 32, "
        "hsr_high at 36 and far at 40.",
        answer="32",
        wrong={
            8: "offset 8 is exit_reason (the 4 of KVM_EXIT_DEBUG); hsr is in the record after it.",
            36: "offset 36 is hsr_high, the upper half of the syndrome (ESR bits 63:32).",
            40: "offset 40 is far, the data address of a watchpoint hit.",
        },
    ),
    exercise(
        "kvm-step-control",
        "A VMM single-steps its guest while software breakpoints are planted in it. Which "
        "`control` word does it pass to KVM_SET_GUEST_DEBUG (as a number)?",
        check=expect_int(
            int(GuestDebug.ENABLE | GuestDebug.SINGLESTEP | GuestDebug.USE_SW_BP),
            why="0x10003 = KVM_GUESTDBG_ENABLE (1) | KVM_GUESTDBG_SINGLESTEP (2) | "
            "KVM_GUESTDBG_USE_SW_BP (1 << 16): the step, and the planted BRKs still exit "
            "to the VMM instead of going to the guest's vectors.",
        ),
        hint="ENABLE is 1, SINGLESTEP is 2, USE_SW_BP is 1 << 16 = 0x10000, USE_HW is "
        "1 << 17: OR the ones this VMM needs.",
        solution="ENABLE | SINGLESTEP | USE_SW_BP = 0x1 | 0x2 | 0x10000 = 0x10003. QEMU's "
        "kvm_arch_update_guest_debug adds USE_SW_BP while its breakpoint table is not "
        "empty, and SINGLESTEP while it steps.",
        answer="0x10003",
        wrong={
            0x3: "without USE_SW_BP a planted BRK #0 goes to the guest's own vectors: the "
            "breakpoints stop working while you step.",
            0x10001: "that plants breakpoints but does not step: add SINGLESTEP (2).",
            0x20003: "USE_HW (1 << 17) is for the debug-register slots (lesson 7), not BRK.",
        },
    ),
    exercise(
        "kvm-brk-7-hsr",
        "KVM runs a guest with KVM_GUESTDBG_USE_SW_BP, and the guest reaches `BRK #7`. "
        "MDCR_EL2.TDE sends the exception to EL2, and KVM copies ESR_EL2 into "
        "run->debug.arch.hsr. Which hsr does the VMM read?",
        check=expect_int(
            esr.brk(7),
            why="0xf2000007: EC 0x3C (BRK, AArch64) in bits 31:26, IL 1 (bit 25), and the "
            "immediate 7 in the ISS. KVM does not change the syndrome: hsr is ESR_EL2.",
        ),
        hint="A BRK's syndrome is 0xf2000000 | imm16 (lesson 4): EC 0x3C, IL 1, ISS = the "
        "immediate.",
        solution="EC 0x3C << 26 = 0xf0000000, IL 1 << 25 = 0x02000000, ISS = 7: "
        "0xf2000007, as the lab's real KVM reported 0xf2000099 for BRK #0x99.",
        answer="0xf2000007",
        wrong={
            0xD42000E0: "that is the instruction word of BRK #7 (0xd4200000 | 7 << 5), not "
            "its syndrome.",
            0xF0000007: "IL (bit 25) is 1 for a 32-bit instruction, and 0xf0000007 has it clear.",
            0xF2000000: "the ISS holds the BRK's immediate, 7 here.",
        },
    ),
    exercise(
        "kvm-code-debug-exit",
        "Write debug_exit(run): `run` is the bytes of a vCPU's `struct kvm_run` page after "
        "KVM_RUN. Return (hsr, far) from run->debug.arch when exit_reason is "
        "KVM_EXIT_DEBUG (4), and None for any other exit.",
        check=expect_function(
            [(what, _page_trial(page)) for what, page in _PAGES],
            why="your function reads the kvm_run page as KVM wrote it: exit_reason at 8, "
            "and the debug record (hsr, hsr_high, far) at 32 only when the reason says so.",
        ),
        hint="struct.unpack_from('<I', run, 8) gives exit_reason; the debug record "
        "'<IIQ' (hsr, hsr_high, far) starts at offset 32.",
        solution=_MODEL_DEBUG_EXIT
        + "\nThe union at offset 32 holds the record of whichever exit happened: for an "
        "MMIO exit the same bytes are the physical address, so the reason must be checked "
        "first. armbp's agent reads the page the same way (uapi.read_exit).",
        answer=_MODEL_DEBUG_EXIT,
    ),
)
