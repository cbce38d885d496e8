"""Signals: what the kernel makes of a fault, of ``kill``/``tgkill``, and what it tells.

A program's exception that is not a system call becomes a signal, as the arm64 kernel's
``el0_sync`` handlers do: a data abort (EC 0x24, "Data Abort from a lower Exception level")
or an instruction abort (EC 0x20) is SIGSEGV, an undefined instruction SIGILL, a ``BRK``
SIGTRAP. The syndrome the vCPU built is kept beside the signal (``Signal.esr``), decoded by
``armbp.esr``, with the faulting address (``si_addr``, the FAR): the stop a debugger shows
ties the C program back to the ESR lessons.

Signal handlers are recorded (``rt_sigaction``) but never run: a signal this kernel
delivers either is ignored (``SIG_IGN`` or a default action of "ignore") or ends the
process, whatever handler was installed (the call that would run one logs it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from armbp import esr

SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 9, 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGURG, SIGWINCH = 17, 18, 19, 23, 28
NSIG = 64

NAMES = {
    SIGHUP: "SIGHUP",
    SIGINT: "SIGINT",
    SIGQUIT: "SIGQUIT",
    SIGILL: "SIGILL",
    SIGTRAP: "SIGTRAP",
    SIGABRT: "SIGABRT",
    SIGBUS: "SIGBUS",
    SIGFPE: "SIGFPE",
    SIGKILL: "SIGKILL",
    SIGUSR1: "SIGUSR1",
    SIGSEGV: "SIGSEGV",
    SIGUSR2: "SIGUSR2",
    SIGPIPE: "SIGPIPE",
    SIGALRM: "SIGALRM",
    SIGTERM: "SIGTERM",
    SIGCHLD: "SIGCHLD",
    SIGCONT: "SIGCONT",
    SIGSTOP: "SIGSTOP",
    SIGURG: "SIGURG",
    SIGWINCH: "SIGWINCH",
}
#: Signals whose default action is to do nothing (signal(7), "Standard signals").
IGNORED_BY_DEFAULT = frozenset({SIGCHLD, SIGCONT, SIGURG, SIGWINCH})

# si_code values (uapi asm-generic/siginfo.h)
SI_USER, SI_TKILL = 0, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPC, TRAP_BRKPT = 1, 1
SIGINFO_SIZE = 128  # sizeof(siginfo_t) on every Linux architecture


def name(signal: int) -> str:
    """``SIGSEGV`` for 11; ``signal 42`` for one without a name here."""
    return NAMES.get(signal, f"signal {signal}")


@dataclass(frozen=True)
class Signal:
    """One signal as the kernel delivers it: the ``siginfo_t`` fields, and the syndrome.

    ``esr``/``addr`` are set for a fault (``addr`` is ``si_addr``, the FAR); ``pid``/``uid``
    for one sent with ``kill``/``tgkill`` (``si_code`` SI_USER or SI_TKILL).
    """

    number: int
    code: int = SI_USER
    addr: int | None = None
    esr: int | None = None
    pid: int = 0
    uid: int = 0
    note: str = ""

    @property
    def name(self) -> str:
        return name(self.number)

    def siginfo(self) -> bytes:
        """The 128-byte ``siginfo_t`` (what ``qXfer:siginfo:read`` gives gdb).

        ``si_signo``, ``si_errno``, ``si_code`` and padding to 8; then the union: ``si_addr``
        for a fault, ``si_pid``/``si_uid`` for a signal sent by a process."""
        head = struct.pack("<iii4x", self.number, 0, self.code)
        if self.addr is not None:
            body = struct.pack("<Q", self.addr)
        else:
            body = struct.pack("<iI", self.pid, self.uid)
        return (head + body).ljust(SIGINFO_SIZE, b"\0")

    def describe(self) -> str:
        """One line: ``SIGSEGV: data abort, level 0 translation fault, write at 0x0 …``."""
        return f"{self.name}: {self.note}" if self.note else self.name


def decode_abort(syndrome: int) -> str:
    """``data abort, level 0 translation fault, write`` — an abort's ESR in words.

    The fault status code's meaning comes from ``armbp.esr``'s tables (DFSC/IFSC), the
    direction from WnR (Arm ARM, "ISS encoding for an exception from a Data Abort")."""
    s = esr.decode(syndrome)
    data = s.ec in (esr.EC.DABT_LOW, esr.EC.DABT_CUR)
    fsc = s.field("DFSC" if data else "IFSC")
    words = ["data abort" if data else "instruction abort", fsc.meaning if fsc else "?"]
    if data:
        wnr = s.field("WnR")
        words.append("write" if wnr is not None and wnr.value else "read")
    return ", ".join(words)


def fault(access: str, address: int, why: str, pc: int) -> Signal:
    """The SIGSEGV for an access of the program's that the memory map refused.

    Nothing mapped is a translation fault (SEGV_MAPERR); a page mapped without the right
    permission a permission fault (SEGV_ACCERR). The kit keeps no page tables (the MMU is
    off), so the walk a real kernel would have made is reported as failing at its first
    level for a translation fault and at the last (level 3, the page) for a permission
    fault. ``access`` is "read", "write" or "fetch"; a fetch is an instruction abort.
    """
    mapped = "not mapped" not in why and "nothing is mapped" not in why
    code = SEGV_ACCERR if mapped else SEGV_MAPERR
    fsc = esr.fsc_permission(3) if mapped else esr.fsc_translation(0)
    if access == "fetch":
        syndrome = esr.instruction_abort(same_el=False, ifsc=fsc)
    else:
        syndrome = esr.data_abort(same_el=False, dfsc=fsc, wnr=access == "write")
    note = (
        f"{decode_abort(syndrome)} at {address:#x} (ESR_EL1 {syndrome:#010x}, "
        f"FAR_EL1 {address:#x}, pc {pc:#x})"
    )
    return Signal(SIGSEGV, code, addr=address, esr=syndrome, note=note)
