"""``LinuxProcess``: a static ELF as a Linux process on a vCPU, and its kernel.

The program is entered at **EL0**: an EL1 trampoline first reads the CPU's ID registers
with ``MRS`` (the kernel's feature probe: the auxv's HWCAPs say what this CPU really has),
then ``ERET``s to the entry point with ``SPSR_EL1`` = EL0t, so the program sees an EL0
``PSTATE`` with real NZCV flags. ``SVC #0`` from EL0 is a system call (``Syscalls``); any
other exception from EL0 — a data abort, an undefined instruction, a ``BRK`` — becomes a
signal (``armbp.linux.signals``), and a fatal signal ends the process as the kernel's
default action does.

``handle(vcpu, stop)`` serves what the program took from EL0 after any stop; ``run(dbg)``
runs the program to its end from Python exactly as ``armbp gdbserver`` runs it between
GDB's packets; ``launch()`` gives a ``Debugger`` standing at the entry point.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from armbp import elf
from armbp.elf import ElfError
from armbp.encodings import ERET
from armbp.esr import EC
from armbp.kvm.arch import VECTOR_LOWER_A64
from armbp.linux import signals
from armbp.linux.image import PAGE, ElfImage
from armbp.linux.memory import AddressSpace
from armbp.linux.signals import Signal
from armbp.linux.stack import AT_HWCAP, AT_HWCAP2, ID_REGISTERS, build_stack, hwcaps, mrs
from armbp.linux.syscalls import ENOSYS, SyscallResult, Syscalls
from armbp.linux.threads import EXITED, SLICE_INSTRUCTIONS, Threads, load, save

STACK_SIZE = 0x10_0000  # 1 MiB of stack
SPSR_EL0T = 0x0  # M[3:0] = 0b0000: EL0t, NZCV clear, nothing masked
STACK_GAP = 16 * PAGE  # unmapped pages between the program and its stack
# Room kept above the process's own pages for what the vCPU adds (its scratch page and
# stack: well under 16 MiB), for the heap ``brk`` may grow to and the ``mmap`` area.
ROOM_ABOVE = Syscalls.BRK_LIMIT + Syscalls.MMAP_SIZE + (16 << 20)
SIGILL, SIGTRAP = signals.SIGILL, signals.SIGTRAP

logger = logging.getLogger("armbp.linux")
#: Calls whose -ENOSYS a C library expects and copes with silently.
EXPECTED_ENOSYS = frozenset({"rseq", "clone3"})
MASK64 = (1 << 64) - 1
SLICE_BACKSTOP = 1.0  # seconds: the time limit of a counted slice
# calls whose x0 is not set on the way back: the thread waits (its answer comes when it
# wakes), is gone, or stands at its SVC again to repeat the call (``restart``)
NO_RESULT = frozenset({"block", "thread-exit", "restart"})

# What the kernel makes of an exception class from EL0 that is not a system call.
_SIGNAL_OF_EC = {
    EC.BRK64: (signals.SIGTRAP, signals.TRAP_BRKPT),
    EC.IABT_LOW: (signals.SIGSEGV, signals.SEGV_MAPERR),
    EC.DABT_LOW: (signals.SIGSEGV, signals.SEGV_MAPERR),
    EC.PC_ALIGN: (signals.SIGBUS, 1),  # BUS_ADRALN
    EC.SP_ALIGN: (signals.SIGBUS, 1),
}


@dataclass(frozen=True)
class KernelStop:
    """What the guest kernel made of a stop: the one record every front end reads.

    ``kind``: "syscall" (served, ``syscall`` says which; the program goes on), "exited"
    (``code``), "signal" (``signal``, its number; ``siginfo``, the ``Signal`` with the
    syndrome and address of a fault), and from ``run`` also "stopped" (``stop``: the
    debugger's own) and "running" (the time budget ran out).
    """

    kind: str  # also "deadlock": every thread waits for ever (``note`` says on what)
    syscall: SyscallResult | None = None
    code: int = 0
    signal: int | None = None
    stop: Any = None
    note: str = ""
    siginfo: Signal | None = None

    @property
    def status(self) -> int | None:
        """The shell's ``$?`` for an ended process: the code, or 128 + the signal."""
        if self.kind == "exited":
            return self.code
        if self.kind == "signal" and self.signal is not None:
            return 128 + self.signal
        return None


class LinuxProcess:
    """A static ELF as a Linux process image: a ``Program`` for the vCPU, and its kernel.

    Memory, from low to high: the ELF's pages; a gap; the stack (``STACK_SIZE``, the
    initial stack at its top); an EL1 trampoline page (the ID-register probe and an
    ``ERET``); the vector page (``VBAR_EL1``); then what the vCPU adds (its scratch page,
    its own stack), the heap that ``brk`` grows and the ``mmap`` area. Keeping everything
    close to the code keeps the debugger's displaced step slot within branch range of
    every breakpoint.

    The vector page is readable but not executable. An exception from EL0 is delivered by
    the vCPU to ``VBAR_EL1 + 0x400`` as on hardware, and fetching from there faults out of
    the guest — a trap into the host, which is where this "kernel" lives. An access the
    memory map refuses stops the vCPU directly (an MMIO exit): ``handle`` makes that the
    data abort the kernel would have seen, and SIGSEGV.

    ``stdin`` is what fd 0 reads (a binary stream or bytes; None: end of file at once);
    ``tty`` says whether fds 0–2 are a terminal (``ioctl(TCGETS)`` succeeds, so stdio
    line-buffers its output, as on a console) or pipes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        argv: list[str] | None = None,
        envp: list[str] | None = None,
        stdout: Callable[[bytes], Any] | None = None,
        stderr: Callable[[bytes], Any] | None = None,
        log: Callable[[str], None] | None = None,
        *,
        stdin: BinaryIO | bytes | None = None,
        tty: bool = False,
    ):
        from armbp.program import Segment

        self.path = os.fspath(path)
        self.image = ElfImage.read(self.path)
        base = self.image.program()  # symbols (and lines) for the debugger
        self.stack_lo = self.image.end + STACK_GAP
        self.stack_top = self.stack_lo + STACK_SIZE
        self.trampoline = self.stack_top
        self.vectors = self.stack_top + PAGE
        self.svc_vector = self.vectors + VECTOR_LOWER_A64
        top = self.vectors + PAGE + ROOM_ABOVE
        if top > elf.ADDRESS_LIMIT:
            raise ElfError(
                f"{self.path}: the program ends at {self.image.end:#x}, and the "
                f"stack, the kernel's pages, the heap and the mmap area above it would reach "
                f"{top:#x}, beyond the guest's 44-bit address space (below "
                f"{elf.ADDRESS_LIMIT:#x}): expected a program that ends below "
                f"{elf.ADDRESS_LIMIT - (top - self.image.end):#x}"
            )
        self.regions = self.image.pages()
        elf.check_entry(
            self.path,
            self.image.entry,
            ((start, start + size, perms) for start, size, perms, _ in self.regions),
        )
        argv = [self.path] if argv is None else list(argv)
        self.stack = build_stack(
            self.image,
            [a.encode() for a in argv],
            [e.encode() for e in (envp or [])],
            top=self.stack_top,
            random16=os.urandom(16),
            ids=(os.getuid(), os.geteuid(), os.getgid(), os.getegid()),
        )
        segments = [
            Segment(start, chunk, size, perms) for start, size, perms, chunk in self.regions
        ]
        segments.append(
            Segment(
                self.stack_lo,
                bytes(self.stack.base - self.stack_lo) + self.stack.data,
                STACK_SIZE,
                "rw",
            )
        )
        probe = [mrs(*enc, rt=i) for i, enc in enumerate(ID_REGISTERS.values())]
        code = b"".join(w.to_bytes(4, "little") for w in probe + [ERET])
        segments.append(Segment(self.trampoline, code, PAGE, "rx"))
        segments.append(Segment(self.vectors, b"", PAGE, "r"))
        self.program = replace(base, segments=tuple(segments), entry=self.trampoline)
        self.entry = self.image.entry
        self._stdout = stdout or (lambda b: (sys.stdout.buffer.write(b), sys.stdout.flush()))
        self._stderr = stderr or (lambda b: (sys.stderr.buffer.write(b), sys.stderr.flush()))
        self._stdin = stdin
        self.tty = tty
        self.log = log
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.siginfo: Signal | None = None
        self.syscalls: Syscalls | None = None
        self.id_registers: dict[str, int] = {}
        self.deadlock: str | None = None  # set when every thread waits for ever
        self.retry: tuple[int, int] | None = None  # (tid, SVC pc) of a call restarted

    # -- start-up -------------------------------------------------------------------------
    def start(self, vcpu: Any) -> None:
        """Point ``vcpu`` at the trampoline and run it: the program is then at its entry.

        The trampoline's ``MRS`` instructions read the ID registers (``id_registers``);
        the auxv's ``AT_HWCAP``/``AT_HWCAP2`` are set from them in guest memory before the
        ``ERET``, and x0–x4 are cleared again (the program starts with zeroed registers).
        All or nothing: should the ``ERET`` not land at the entry point at EL0, ``vcpu``
        is reset to its fresh state before the ``RuntimeError`` (a fault of the kit, not
        of the file: the ELF's entry point was checked when the process was made)."""
        from armbp.kvm.abi import Budget, ExitReason

        space = AddressSpace(
            vcpu.map, getattr(vcpu, "unmap", None), getattr(vcpu, "protect", None)
        )
        for start, size, perms, _ in self.regions:
            space.record(start, size, perms)
        space.record(self.stack_lo, STACK_SIZE, "rw")
        heap = (vcpu.stack_top + 2 * PAGE - 1) & ~(PAGE - 1)
        self.syscalls = Syscalls(
            vcpu.memory,
            heap,
            None,
            self._stdout,
            self._stderr,
            space=space,
            stdin=self._stdin,
            tty=self.tty,
            exe=self.path,
        )
        self.deadlock = self.retry = None
        vcpu.write_register("vbar_el1", self.vectors)
        vcpu.write_register("elr_el1", self.entry)
        vcpu.write_register("spsr_el1", SPSR_EL0T)
        vcpu.write_register("sp_el0", self.stack.sp)
        vcpu.pc = self.trampoline
        n = len(ID_REGISTERS)
        probe = vcpu.run(Budget(seconds=5, instructions=n))
        problem = ""
        if probe.reason is not ExitReason.BUDGET or vcpu.pc != self.trampoline + 4 * n:
            problem = f"the ID-register probe did not run: {probe!r}"
        else:
            self.id_registers = {
                name: vcpu.read_register(f"x{i}") for i, name in enumerate(ID_REGISTERS)
            }
            cap, cap2 = hwcaps(self.id_registers)
            for key, value in ((AT_HWCAP, cap), (AT_HWCAP2, cap2)):
                self.stack, at = self.stack.with_auxv(key, value)
                vcpu.memory.write(at, value.to_bytes(8, "little"))
            for i in range(n):
                vcpu.write_register(f"x{i}", 0)
            exit_ = vcpu.run(Budget(seconds=5, instructions=1))
            if exit_.reason is not ExitReason.BUDGET or vcpu.pc != self.entry:
                problem = (
                    f"the EL1 trampoline did not reach the entry point {self.entry:#x}: "
                    f"{exit_!r}"
                )
            elif vcpu.read_register("currentel") != 0:
                problem = "the trampoline's ERET did not drop to EL0"
        if not problem:
            return
        vcpu.reset()
        self.syscalls = None
        raise RuntimeError(f"{problem} (the vCPU is reset)")

    # -- the kernel's side of an exception --------------------------------------------------
    def at_gate(self, vcpu: Any) -> bool:
        """Has the guest taken an exception from EL0 (is it at the lower-EL vector)?"""
        return vcpu.pc == self.svc_vector

    def _killed(self, sig: Signal) -> None:
        self.signal, self.siginfo = sig.number, sig
        if self.log is not None:
            self.log(f"signal {sig.describe()}")

    def gate(self, vcpu: Any) -> tuple[str, SyscallResult | None]:
        """Handle the exception the guest took from EL0.

        Returns ``("syscall", result)`` (back at EL0 after the SVC, or ``result.exited``,
        or ``result.signal``: killed by a signal it sent itself), or ``("signal", None)``
        with ``self.signal``/``self.siginfo`` set (SIGTRAP for a BRK the debugger did not
        plant, SIGSEGV for an abort, SIGBUS for a misaligned PC or SP, SIGILL otherwise).
        """
        syndrome = vcpu.read_register("esr_el1")
        ec = syndrome >> 26 & 0x3F
        if ec != EC.SVC64:
            number, code = _SIGNAL_OF_EC.get(ec, (SIGILL, signals.ILL_ILLOPC))
            pc = vcpu.read_register("elr_el1")
            far = vcpu.read_register("far_el1") if number != SIGILL else None
            if number == signals.SIGSEGV:
                note = f"{signals.decode_abort(syndrome)} at {far:#x}"
            else:
                note = f"exception from EL0 (ESR_EL1 {syndrome:#010x}, EC {ec:#04x})"
            self._killed(
                Signal(
                    number,
                    code,
                    addr=far if far is not None else pc,
                    esr=syndrome,
                    note=f"{note}, pc {pc:#x}",
                )
            )
            # leave the guest where the exception happened, as a kernel reporting it would
            self._eret(vcpu, pc)
            return "signal", None
        result = self._serve(vcpu)
        if result.exited:
            return "syscall", result
        if result.signal is None and result.schedule not in NO_RESULT:
            vcpu.write_register("x0", result.value & MASK64)
        elr = vcpu.read_register("elr_el1")
        self._eret(vcpu, elr - 4 if result.schedule == "restart" else elr)
        if result.schedule and self._schedule(vcpu, result):
            return "deadlock", result
        return "syscall", result

    # -- threads ----------------------------------------------------------------------------
    @property
    def threads(self) -> Threads:
        """The process's threads (``armbp.linux.threads``); start() the process first."""
        assert self.syscalls is not None, "start() the process first"
        return self.syscalls.threads

    def thread_registers(self, tid: int) -> dict[str, int] | None:
        """The saved registers of a thread off the vCPU; None for the running one (read
        the vCPU) — KeyError for an unknown id."""
        return self.threads.threads[tid].registers

    def switch_to(self, vcpu: Any, tid: int) -> None:
        """Put thread ``tid`` on the vCPU: the running thread's registers are saved in its
        record, ``tid``'s loaded (and the answer of the call it waited in put in x0)."""
        th = self.threads
        to, running = th.threads[tid], th.running
        if to.state == EXITED:
            raise ValueError(f"thread {tid} has exited: expected a live thread")
        if to is not running:
            assert to.registers is not None
            if running.state != EXITED:
                running.registers = save(vcpu)
            load(vcpu, to.registers)
            to.registers = None
            th.current = tid
            th.switches += 1
        if to.result is not None:
            vcpu.write_register("x0", to.result & MASK64)
            to.result = None

    def _schedule(self, vcpu: Any, result: SyscallResult) -> bool:
        """After a call that changes who runs (``result.schedule``): a new thread gets
        the caller's registers; a blocked, yielding or ended caller gives the vCPU to the
        next runnable thread. True when none can ever run: a deadlock (``deadlock`` says
        why; the vCPU shows the thread that waited last)."""
        th = self.threads
        if result.schedule == "spawn":
            assert result.child is not None
            tid, sp, tls = result.child
            regs = save(vcpu)  # the parent just after its SVC
            regs.update(x0=0, sp=sp)
            if tls is not None:
                regs["tpidr_el0"] = tls
            th.threads[tid].registers = regs
            return False
        if result.schedule == "restart":
            self.retry = (th.current, vcpu.pc)  # its next entry is this call again
        nxt = th.pick()
        if nxt is not None:
            self.switch_to(vcpu, nxt.tid)
            return False
        self.deadlock = th.deadlock_note()
        if th.running.state == EXITED:  # show a thread that is still there
            self.switch_to(vcpu, th.live()[0].tid)
        if self.log is not None:
            self.log(self.deadlock)  # front ends report the stop itself
        return True

    def time_slice(self, seconds: float, *, exact: bool = False) -> Any:
        """The budget of the next run: ``seconds``, or at most ``SLICE_INSTRUCTIONS``
        when another thread is waiting for the vCPU (then ``preempt`` after it) or when
        ``exact``: a run that will be resumed soon after must end between two
        instructions, which only a count guarantees (see ``SLICE_INSTRUCTIONS``)."""
        from armbp.kvm.abi import Budget

        if not exact and (self.syscalls is None or len(self.threads.runnable()) < 2):
            return seconds
        # the count ends the slice (in milliseconds); the time is only a backstop, long
        # enough never to come first (it would stop the vCPU anywhere)
        return Budget(seconds=max(seconds, SLICE_BACKSTOP), instructions=SLICE_INSTRUCTIONS)

    def preempt(self, vcpu: Any) -> bool:
        """The end of a time slice: the next runnable thread gets the vCPU (round robin;
        timed waits that are over end first). True if another thread now runs."""
        if self.syscalls is None or len(self.threads.threads) < 2 or self.deadlock:
            return False
        th = self.threads
        th.expire()
        if self.at_gate(vcpu) or vcpu.read_register("currentel") != 0:
            return False  # not at an instruction of the program's (never, after a slice)
        nxt = th.next_runnable()
        if nxt is None or nxt.tid == th.current:
            return False
        self.switch_to(vcpu, nxt.tid)
        return True

    def _serve(self, vcpu: Any) -> SyscallResult:
        """Carry out the system call in the registers (x8, x0–x5), log it, note an exit or
        a fatal signal; x0 and the return to EL0 are the caller's."""
        args = [vcpu.read_register(f"x{i}") for i in range(6)]
        number = vcpu.read_register("x8")
        assert self.syscalls is not None, "start() the process first"
        result = self.syscalls(number, args)
        if result.schedule != "restart":
            self.retry = None
        elif self.retry is not None:
            return result  # the same wait again: logged the first time
        if self.log is not None:
            self.log(f"syscall {number} {result.name}: {result.note or result.value}")
        elif (result.value == -ENOSYS or (result.name == "clone" and result.value < 0)) and (
            not result.exited
        ):
            # a library does not print: the warning goes to logging, which shows it on
            # stderr when the application configured nothing else. An -ENOSYS that is the
            # expected answer (rseq: glibc then goes on without) is only information. A
            # clone refused for its flags (-EINVAL) says which, too.
            level = logging.INFO if result.name in EXPECTED_ENOSYS else logging.WARNING
            logger.log(level, "armbp: %s", result.note)
        if result.exited:
            self.exit_code = result.value
        elif result.signal is not None:
            self._killed(result.signal)
        return result

    # -- a system call stopped at its entry (a debugger's ``catch syscall``) ------------------
    def entering(self, vcpu: Any) -> int | None:
        """The number of the system call the guest is entering (at the gate after an
        ``SVC``), else None — None too for a call the kernel restarted (a ``read`` of
        fd 0 waiting for input): its entry was reported the first time."""
        if not self.at_gate(vcpu) or vcpu.read_register("esr_el1") >> 26 != EC.SVC64:
            return None
        again = (self.threads.current, vcpu.read_register("elr_el1") - 4)
        if self.retry is not None and self.retry == again:
            return None
        return vcpu.read_register("x8")

    def hold(self, vcpu: Any) -> None:
        """Back at EL0 just after the ``SVC``, the call not carried out yet: a stop at its
        entry, where the debugger sees the program's own registers (as with ptrace)."""
        self._eret(vcpu, vcpu.read_register("elr_el1"))

    def serve_held(self, vcpu: Any) -> KernelStop:
        """Carry out the call ``hold`` stopped at, with the registers as they are now (a
        debugger may have changed them): the program then stands after it, x0 set."""
        result = self._serve(vcpu)
        if not result.exited and result.signal is None:
            if result.schedule not in NO_RESULT:
                vcpu.write_register("x0", result.value & MASK64)
            if result.schedule == "restart":
                vcpu.pc -= 4  # at the SVC again
            if result.schedule and self._schedule(vcpu, result):
                return self._deadlocked(result)
        return self._served(result)

    def _deadlocked(self, result: SyscallResult | None = None) -> KernelStop:
        return KernelStop("deadlock", result, note=self.deadlock or "deadlock")

    def _served(self, result: SyscallResult) -> KernelStop:
        if result.exited:
            return KernelStop(
                "exited",
                result,
                code=result.value,
                note=f"{result.name}({result.value}) → the process exits",
            )
        if result.signal is not None:
            return KernelStop(
                "signal",
                result,
                signal=result.signal.number,
                siginfo=result.signal,
                note=result.signal.describe(),
            )
        return KernelStop("syscall", result, note=result.note)

    @staticmethod
    def _eret(vcpu: Any, pc: int) -> None:
        """ERET to EL0: PSTATE from SPSR_EL1, the EL0 stack pointer back, PC = ``pc``."""
        sp_el0 = vcpu.read_register("sp_el0")
        vcpu.write_register("pstate", vcpu.read_register("spsr_el1"))
        vcpu.write_register("sp", sp_el0)
        vcpu.pc = pc

    def auxv(self) -> bytes:
        return self.stack.auxv

    def maps(self) -> str:
        """``/proc/PID/maps`` of the process as it is now: one line per run of pages with
        the same rights, from the kernel's own bookkeeping (``AddressSpace``), named as
        Linux names them: the program's path (with the file offset of the page),
        ``[stack]``, ``[heap]``; anonymous ``mmap``s (thread stacks among them) unnamed.
        The kernel's EL1 trampoline and vector page, which this kernel keeps inside the
        guest, are listed as ``[armbp-el1]``."""
        assert self.syscalls is not None, "start() the process first"
        space, layout = self.syscalls.space, self.syscalls.layout
        rows = [(a, b, perms, "") for a, b, perms in space.regions()]
        rows += [(self.trampoline, self.trampoline + PAGE, "rx", "[armbp-el1]")]
        rows += [(self.vectors, self.vectors + PAGE, "r", "[armbp-el1]")]
        lines = []
        for start, end, perms, name in sorted(rows):
            offset = 0
            if not name:
                name, offset = self._name_of(start, layout.heap, layout.heap_limit)
            flags = "".join(c if c in perms else "-" for c in "rwx") + "p"
            lines.append(f"{start:08x}-{end:08x} {flags} {offset:08x} 00:00 0 {name}".rstrip())
        return "\n".join(lines) + "\n"

    def _name_of(self, start: int, heap: int, heap_limit: int) -> tuple[str, int]:
        """What a run of pages starting at ``start`` is: its name and file offset."""
        if self.stack_lo <= start < self.stack_top:
            return "[stack]", 0
        if heap <= start < heap_limit:
            return "[heap]", 0
        for ld in self.image.loads:
            lo = ld.vaddr & ~(PAGE - 1)
            if lo <= start < ld.vaddr + ld.memsz:
                return os.path.abspath(self.path), (ld.offset & ~(PAGE - 1)) + start - lo
        return "", 0

    # -- the kernel's API for front ends -----------------------------------------------------
    def launch(self) -> Any:
        """A ``Debugger`` over this process, standing at the program's entry at EL0."""
        from armbp.debugger import Debugger

        dbg = Debugger(self.program)
        self.start(dbg.vcpu)
        return dbg

    def fault(self, vcpu: Any, stop: Any) -> KernelStop | None:
        """An access of the program's that the memory map refused, as the kernel sees it:
        a data (or instruction) abort from EL0, delivered as SIGSEGV. None for any other
        stop (a fault of the debugger's own, or at EL1)."""
        exit_ = getattr(stop, "exit", None)
        access = getattr(exit_, "mmio", None)
        if access is None or vcpu.read_register("currentel") != 0:
            return None
        pc = stop.pc
        sig = signals.fault(access.access, access.address, access.why, pc)
        self._killed(sig)
        return KernelStop("signal", signal=sig.number, siginfo=sig, note=sig.describe())

    def handle(self, vcpu: Any, stop: Any = None) -> KernelStop | None:
        """After any stop: serve the kernel's part (a system call, a signal).

        None when the stop is not the kernel's (a breakpoint, a step, a fault of the
        debugger's own); else what the kernel did: a system call served (the program goes
        on at EL0), the process exited, or a signal (the guest is left where it was).
        ``stop`` (the debugger's ``Stop``) lets a refused access become SIGSEGV.
        """
        if not self.at_gate(vcpu):
            return self.fault(vcpu, stop) if stop is not None else None
        kind, result = self.gate(vcpu)
        if kind == "deadlock":
            return self._deadlocked(result)
        if kind == "syscall":
            assert result is not None
            return self._served(result)
        assert self.siginfo is not None
        return KernelStop(
            "signal", signal=self.signal, siginfo=self.siginfo, note=self.siginfo.describe()
        )

    def run(self, dbg: Any, seconds: float = 5.0) -> KernelStop:
        """Run the program under ``dbg`` until it exits, takes a signal or stops otherwise.

        System calls are served as they come, threads switched at blocking calls and
        every ``SLICE_INSTRUCTIONS``. The result's ``kind`` is "exited" (``code``), "signal"
        (``signal``, ``siginfo``: the process is dead, as the kernel's default action
        leaves it), "deadlock" (every thread waits for ever: ``note`` says on what),
        "stopped" (the debugger's own stop, in ``stop``: a breakpoint) or "running"
        (``seconds`` spent, the program still going: call ``run`` again to go on).
        """
        from armbp.debugger import StopReason

        deadline = time.monotonic() + seconds
        while True:
            if self.deadlock:
                return self._deadlocked()
            left = deadline - time.monotonic()
            if left <= 0:
                return KernelStop("running", note=f"still running after {seconds} s")
            stop = dbg.cont(self.time_slice(left))
            served = self.handle(dbg.vcpu, stop)
            if served is not None:
                if served.kind == "syscall":
                    continue
                return served
            if stop.reason is not StopReason.BUDGET:
                return KernelStop("stopped", stop=stop, note=stop.message)
            if stop.exit.message == "interrupted":
                return KernelStop("running", note="interrupted")
            self.preempt(dbg.vcpu)
