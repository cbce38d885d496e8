"""A static AArch64 Linux ELF run the way ``qemu-aarch64`` (and the kernel) would start it.

What the kernel's ELF loader does, in miniature, over guest memory:

* every ``PT_LOAD`` is mapped page-aligned: the page that holds its first byte starts at
  the file offset rounded down too, so the bytes before ``p_vaddr`` in that page come from
  the file, as with ``mmap``; the tail past ``p_filesz`` is zero (``.bss``);
* an initial stack: ``argc``, ``argv[]``, ``envp[]``, the auxiliary vector (``AT_PHDR``,
  ``AT_PHENT``, ``AT_PHNUM``, ``AT_PAGESZ``, ``AT_ENTRY``, ``AT_RANDOM``, …) and the
  strings they point at, ``sp`` 16-byte aligned on ``argc``;
* the program is entered at **EL0**: an EL1 trampoline ``ERET``s to the entry point with
  ``SPSR_EL1`` = EL0t, so the program sees an EL0 ``PSTATE`` with real NZCV flags;
* ``SVC #0`` from EL0 is a system call: number in ``x8``, arguments in ``x0``–``x5``,
  result in ``x0`` (negative errno on failure). ``write``, ``exit``, ``exit_group`` and
  ``brk`` are implemented (and a few harmless ones); the rest return ``-ENOSYS`` and are
  logged.

The ELF file is read by ``armbp.elf`` (the reader ``load_elf`` uses too); the page layout
and stack building here are pure (tested over bytes); ``LinuxProcess`` binds them to a
vCPU and is the guest's kernel: ``handle(vcpu)`` serves the exception the program took
from EL0, and ``run(debugger)`` runs the program to its end from Python exactly as
``armbp gdbserver`` runs it between GDB's packets.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from armbp import elf
from armbp.elf import PF_R, PF_W, PF_X, ElfError, Load  # noqa: F401 (re-exported)
from armbp.encodings import ERET
from armbp.esr import EC
from armbp.kvm.arch import VECTOR_LOWER_A64
from armbp.memory import MemoryFault

PAGE = 0x1000
STACK_TOP = 0x0000_007F_FFFF_0000  # one page below is where the strings start
STACK_SIZE = 0x10_0000  # 1 MiB of stack
PLATFORM = b"aarch64"

# auxiliary vector types (linux/auxvec.h, uapi)
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ = 0, 3, 4, 5, 6
AT_BASE, AT_FLAGS, AT_ENTRY = 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN = 23, 25, 26, 31

HWCAP_FP, HWCAP_ASIMD = 1 << 0, 1 << 1

# system call numbers of the generic table arm64 uses (asm-generic/unistd.h)
SYS_IOCTL, SYS_WRITE, SYS_WRITEV, SYS_EXIT, SYS_EXIT_GROUP = 29, 64, 66, 93, 94
SYS_SET_TID_ADDRESS, SYS_UNAME, SYS_GETPID, SYS_GETTID, SYS_BRK = 96, 160, 172, 178, 214
SYSCALL_NAMES = {
    29: "ioctl",
    56: "openat",
    57: "close",
    63: "read",
    64: "write",
    66: "writev",
    78: "readlinkat",
    80: "fstat",
    93: "exit",
    94: "exit_group",
    96: "set_tid_address",
    98: "futex",
    99: "set_robust_list",
    113: "clock_gettime",
    134: "rt_sigaction",
    135: "rt_sigprocmask",
    160: "uname",
    172: "getpid",
    178: "gettid",
    214: "brk",
    215: "munmap",
    222: "mmap",
    226: "mprotect",
    261: "prlimit64",
    278: "getrandom",
    293: "rseq",
}
ENOSYS, EBADF, EFAULT, ENOTTY = 38, 9, 14, 25
SIGILL, SIGTRAP = 4, 5

logger = logging.getLogger(__name__)


class ElfImage(elf.ElfImage):
    """The ELF reader's image (``armbp.elf.ElfImage``: entry, program headers, ``AT_PHDR``,
    the file's bytes), plus how the kernel's loader lays it out in memory."""

    def pages(self) -> list[tuple[int, int, str, bytes]]:
        """``(start, size, perms, bytes)`` page-aligned regions, as the kernel maps them.

        Each segment is a file mapping of whole pages: bytes before ``p_vaddr`` and, when
        the segment has no ``.bss``, after ``p_filesz`` up to the page end come from the
        file; with a ``.bss`` (``p_memsz > p_filesz``) the rest is zero. A later segment
        sharing a page replaces it, as a second ``mmap(MAP_FIXED)`` would.

        ``bytes`` holds only what the file gives: it may be shorter than ``size``, and the
        rest of the region is zero (new guest memory is zeroed, so a ``.bss`` of any size
        costs nothing here). Linear in the size of the file, whatever the sizes in memory.
        """
        owned: list[tuple[int, int, Load]] = []  # disjoint [lo, hi) page ranges, each
        for ld in self.loads:  # with the segment that maps it last
            if not ld.memsz:
                continue
            lo = ld.vaddr & ~(PAGE - 1)
            hi = (ld.vaddr + ld.memsz + PAGE - 1) & ~(PAGE - 1)
            kept = []
            for a, b, old in owned:  # what the new mapping leaves of the old
                if a < lo:
                    kept.append((a, min(b, lo), old))
                if b > hi:
                    kept.append((max(a, hi), b, old))
            owned = kept + [(lo, hi, ld)]
        out: list[tuple[int, int, str, list[bytes]]] = []
        for lo, hi, ld in sorted(owned, key=lambda r: r[0]):
            chunk = self._file_bytes(ld, lo, hi)
            last = out[-1] if out else None
            if (
                last
                and last[0] + last[1] == lo
                and last[2] == ld.perms
                and sum(map(len, last[3])) == last[1]
            ):  # joined only where no gap is
                last[3].append(chunk)  # left to fill with zeros
                out[-1] = (last[0], last[1] + hi - lo, last[2], last[3])
            else:
                out.append((lo, hi - lo, ld.perms, [chunk]))
        return [(lo, size, perms, b"".join(chunks)) for lo, size, perms, chunks in out]

    def _file_bytes(self, ld: Load, lo: int, hi: int) -> bytes:
        """What the file puts at ``lo``..``hi`` of ``ld``'s mapping (shorter: zeros follow).

        Address ``a`` of the mapping holds file byte ``a - p_vaddr + p_offset``; the file
        part ends at ``p_vaddr + p_filesz`` when the segment has a ``.bss``, else at the
        end of its last page (or of the file)."""
        if ld.memsz > ld.filesz:
            hi = min(hi, ld.vaddr + ld.filesz)
        first, last = lo - ld.vaddr + ld.offset, hi - ld.vaddr + ld.offset
        if last <= first:
            return b""
        lead = bytes(min(max(0, -first), last - first))  # before the file's first byte
        return lead + self.data[max(first, 0) : max(last, 0)]

    @property
    def end(self) -> int:
        """The first page after the highest segment: where the heap (``brk``) starts."""
        top = max(ld.vaddr + ld.memsz for ld in self.loads)
        return (top + PAGE - 1) & ~(PAGE - 1)


@dataclass(frozen=True)
class InitialStack:
    """The process stack as the kernel leaves it: ``sp`` points at ``argc``."""

    sp: int
    base: int  # lowest address of ``data``
    data: bytes
    auxv: bytes  # the auxiliary vector as stored (for ``qXfer:auxv:read``)
    argv: tuple[int, ...]
    envp: tuple[int, ...]


def build_stack(
    image: ElfImage,
    argv: list[bytes],
    envp: list[bytes],
    top: int = STACK_TOP,
    random16: bytes = bytes(range(16)),
    hwcap: int = HWCAP_FP | HWCAP_ASIMD,
) -> InitialStack:
    """Lay out argc/argv/envp/auxv and their strings below ``top``.

    From the top down: the file name (``AT_EXECFN``), the environment and argument strings,
    the platform string, 16 random bytes (``AT_RANDOM``); then, 16-byte aligned, the
    auxiliary vector, ``envp[]`` and ``argv[]`` (each NULL-terminated) and ``argc``.
    """
    blob = bytearray()
    pos = top

    def push(data: bytes) -> int:
        nonlocal pos, blob
        pos -= len(data)
        blob[0:0] = data
        return pos

    pos -= 8
    blob += bytes(8)  # a NULL word at the very top
    execfn = push((argv[0] if argv else b"") + b"\0")
    env_addrs = [push(s + b"\0") for s in reversed(envp)][::-1]
    arg_addrs = [push(s + b"\0") for s in reversed(argv)][::-1]
    platform = push(PLATFORM + b"\0")
    pad = pos % 16
    push(bytes(pad))
    rnd = push(random16)
    auxv_items = [
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE),
        (AT_CLKTCK, 100),
        (AT_PHDR, image.phdr_vaddr),
        (AT_PHENT, image.phentsize),
        (AT_PHNUM, image.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_RANDOM, rnd),
        (AT_HWCAP2, 0),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ]
    auxv = b"".join(struct.pack("<QQ", k, v) for k, v in auxv_items)
    words = [len(argv)] + arg_addrs + [0] + env_addrs + [0]
    table = struct.pack(f"<{len(words)}Q", *words) + auxv
    sp = (pos - len(table)) & ~0xF
    push(bytes(pos - len(table) - sp))  # alignment below the strings
    push(table)
    assert pos == sp
    return InitialStack(sp, pos, bytes(blob), auxv, tuple(arg_addrs), tuple(env_addrs))


# --- the system-call layer ------------------------------------------------------------------
@dataclass(frozen=True)
class SyscallResult:
    """What one ``SVC #0`` did: ``value`` goes to x0, unless the process ``exited``."""

    number: int
    name: str
    value: int = 0
    exited: bool = False
    note: str = ""


def _s64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


class Syscalls:
    """A few Linux system calls over guest memory (anything with ``read``/``write``).

    ``map_pages(start, size)`` is called when ``brk`` grows the heap. Output to fd 1 and 2
    goes to ``stdout``/``stderr`` (callables taking bytes); everything unknown answers
    ``-ENOSYS`` and is remembered in ``unknown`` (and logged by the caller).
    """

    BRK_LIMIT = 64 << 20

    def __init__(self, memory, heap_start: int, map_pages, stdout, stderr, pid: int = 1):
        self.memory = memory
        self.heap_start = self.brk = heap_start
        self.mapped_to = heap_start  # heap pages exist up to here
        self.map_pages = map_pages
        self.out = {1: stdout, 2: stderr}
        self.pid = pid
        self.unknown: list[str] = []

    def __call__(self, number: int, args: list[int]) -> SyscallResult:
        name = SYSCALL_NAMES.get(number, f"syscall_{number}")
        handler = getattr(self, f"sys_{name}", None)
        if handler is None:
            self.unknown.append(name)
            return SyscallResult(
                number, name, -ENOSYS, note=f"{name}: not implemented → -ENOSYS"
            )
        try:
            return handler(number, name, *args[:6])
        except MemoryFault as e:  # a bad pointer from the guest: the kernel answers EFAULT
            return SyscallResult(number, name, -EFAULT, note=f"{name}: {e} → -EFAULT")

    def sys_write(self, number, name, fd, buf, count, *_):
        if fd not in self.out:
            return SyscallResult(number, name, -EBADF, note=f"write to fd {fd} → -EBADF")
        count = min(count, 1 << 20)
        data = self.memory.read(buf, count) if count else b""
        self.out[fd](data)
        return SyscallResult(
            number,
            name,
            len(data),
            note=f"write({fd}, {data[:40]!r}…)"
            if len(data) > 40
            else f"write({fd}, {data!r})",
        )

    def sys_writev(self, number, name, fd, iov, iovcnt, *_):
        if fd not in self.out:
            return SyscallResult(number, name, -EBADF)
        total = 0
        for i in range(min(iovcnt, 1024)):
            base, length = struct.unpack("<QQ", self.memory.read(iov + 16 * i, 16))
            data = self.memory.read(base, min(length, 1 << 20)) if length else b""
            self.out[fd](data)
            total += len(data)
        return SyscallResult(number, name, total)

    def sys_exit(self, number, name, code=0, *_):
        return SyscallResult(
            number, name, code & 0xFF, exited=True, note=f"{name}({_s64(code)})"
        )

    sys_exit_group = sys_exit

    def sys_brk(self, number, name, addr=0, *_):
        if addr < self.heap_start or addr > self.heap_start + self.BRK_LIMIT:
            return SyscallResult(
                number, name, self.brk, note=f"brk({addr:#x}) → {self.brk:#x}"
            )
        top = (addr + PAGE - 1) & ~(PAGE - 1)
        if top > self.mapped_to:
            self.map_pages(self.mapped_to, top - self.mapped_to)
            self.mapped_to = top
        self.brk = addr
        return SyscallResult(number, name, addr, note=f"brk({addr:#x}) → {addr:#x}")

    def sys_set_tid_address(self, number, name, *_):
        return SyscallResult(number, name, self.pid)

    def sys_getpid(self, number, name, *_):
        return SyscallResult(number, name, self.pid)

    sys_gettid = sys_getpid

    def sys_ioctl(self, number, name, *_):
        return SyscallResult(number, name, -ENOTTY)

    def sys_uname(self, number, name, buf=0, *_):
        fields = [b"Linux", b"armbp", b"6.1.0-armbp", b"#1", b"aarch64", b"(none)"]
        self.memory.write(buf, b"".join(f.ljust(65, b"\0") for f in fields))
        return SyscallResult(number, name, 0)


# --- the process on a vCPU ------------------------------------------------------------------
SPSR_EL0T = 0x0  # M[3:0] = 0b0000: EL0t, NZCV clear, nothing masked
STACK_GAP = 16 * PAGE  # unmapped pages between the program and its stack
# Room kept above the process's own pages for what the vCPU adds (its scratch page and
# stack: well under 16 MiB) and for the heap ``brk`` may grow to.
ROOM_ABOVE = Syscalls.BRK_LIMIT + (16 << 20)


class LinuxProcess:
    """A static ELF as a Linux process image: a ``Program`` for the vCPU, and its kernel.

    Memory, from low to high: the ELF's pages; a gap; the stack (``STACK_SIZE``, the
    initial stack at its top); an EL1 trampoline page (one ``ERET``); the vector page
    (``VBAR_EL1``); then what the vCPU adds (its scratch page, its own stack), and the heap
    that ``brk`` grows. Keeping everything close to the code keeps the debugger's displaced
    step slot within branch range of every breakpoint.

    ``start(vcpu)`` points the vCPU at the trampoline with ``ELR_EL1`` = entry,
    ``SPSR_EL1`` = EL0t, ``SP_EL0`` = the initial sp, ``VBAR_EL1`` = the vector page, and
    runs the ``ERET``: the program then stands at its entry at EL0, as under qemu-aarch64.

    The vector page is readable but not executable. An exception from EL0 (an ``SVC``) is
    delivered by the vCPU to ``VBAR_EL1 + 0x400`` as on hardware, and fetching from there
    faults out of the guest as an MMIO exit — a trap into the host, which is where this
    "kernel" lives. ``gate(vcpu)`` reads ``ESR_EL1``: a system call is carried out and
    followed by the ``ERET`` back to EL0; anything else becomes a signal.
    """

    def __init__(
        self,
        path,
        argv: list[str] | None = None,
        envp: list[str] | None = None,
        stdout=None,
        stderr=None,
        log: Callable[[str], None] | None = None,
    ):
        import os
        import sys
        from dataclasses import replace

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
                f"stack, the kernel's pages and the heap above it would reach "
                f"{top:#x}, beyond the guest's 44-bit address space (below "
                f"{elf.ADDRESS_LIMIT:#x}): expected a program that ends below "
                f"{elf.ADDRESS_LIMIT - (top - self.image.end):#x}"
            )
        regions = self.image.pages()
        elf.check_entry(
            self.path,
            self.image.entry,
            ((start, start + size, perms) for start, size, perms, _ in regions),
        )
        argv = [self.path] if argv is None else list(argv)
        self.stack = build_stack(
            self.image,
            [a.encode() for a in argv],
            [e.encode() for e in (envp or [])],
            top=self.stack_top,
        )
        segments = [
            Segment(start, chunk, size, perms) for start, size, perms, chunk in regions
        ]
        segments.append(
            Segment(
                self.stack_lo,
                bytes(self.stack.base - self.stack_lo) + self.stack.data,
                STACK_SIZE,
                "rw",
            )
        )
        segments.append(Segment(self.trampoline, ERET.to_bytes(4, "little"), PAGE, "rx"))
        segments.append(Segment(self.vectors, b"", PAGE, "r"))
        self.program = replace(base, segments=tuple(segments), entry=self.trampoline)
        self.entry = self.image.entry
        self._stdout = stdout or (lambda b: (sys.stdout.buffer.write(b), sys.stdout.flush()))
        self._stderr = stderr or (lambda b: (sys.stderr.buffer.write(b), sys.stderr.flush()))
        self.log: Callable[[str], None] | None = log
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.syscalls: Syscalls | None = None

    def start(self, vcpu) -> None:
        """Point ``vcpu`` at the trampoline and run its ``ERET``: the program is at entry.

        All or nothing: should the ``ERET`` not land at the entry point at EL0, ``vcpu`` is
        reset to its fresh state before the ``RuntimeError`` (a fault of the kit, not of
        the file: the ELF's entry point was checked when the process was made)."""
        from armbp.kvm.abi import Budget, ExitReason

        def map_pages(start: int, size: int) -> None:
            vcpu.map(start, size, "rw")

        heap = (vcpu.stack_top + 2 * PAGE - 1) & ~(PAGE - 1)
        self.syscalls = Syscalls(vcpu.memory, heap, map_pages, self._stdout, self._stderr)
        vcpu.write_register("vbar_el1", self.vectors)
        vcpu.write_register("elr_el1", self.entry)
        vcpu.write_register("spsr_el1", SPSR_EL0T)
        vcpu.write_register("sp_el0", self.stack.sp)
        vcpu.pc = self.trampoline
        exit_ = vcpu.run(Budget(seconds=5, instructions=1))
        if exit_.reason is not ExitReason.BUDGET or vcpu.pc != self.entry:
            problem = (
                f"the EL1 trampoline did not reach the entry point {self.entry:#x}: {exit_!r}"
            )
        elif vcpu.read_register("currentel") != 0:
            problem = "the trampoline's ERET did not drop to EL0"
        else:
            return
        vcpu.reset()
        self.syscalls = None
        raise RuntimeError(f"{problem} (the vCPU is reset)")

    def at_gate(self, vcpu) -> bool:
        """Has the guest taken an exception from EL0 (is it at the SVC vector)?"""
        return vcpu.pc == self.svc_vector

    def gate(self, vcpu) -> tuple[str, SyscallResult | None]:
        """Handle the exception the guest took from EL0.

        Returns ``("syscall", result)`` (back at EL0 after the SVC, or ``result.exited``),
        or ``("signal", None)`` with ``self.signal`` set (5 SIGTRAP for a BRK the debugger
        did not plant, 4 SIGILL for an undefined instruction).
        """
        ec = vcpu.read_register("esr_el1") >> 26 & 0x3F
        if ec != EC.SVC64:
            self.signal = SIGTRAP if ec == EC.BRK64 else SIGILL
            # leave the guest where the exception happened, as a kernel reporting it would
            self._eret(vcpu, vcpu.read_register("elr_el1"))
            return "signal", None
        if self.syscalls is None:
            raise RuntimeError("the process has not started: call start(vcpu) first")
        args = [vcpu.read_register(f"x{i}") for i in range(6)]
        number = vcpu.read_register("x8")
        result = self.syscalls(number, args)
        if self.log is not None:
            self.log(f"syscall {number} {result.name}: {result.note or result.value}")
        elif result.value == -ENOSYS and not result.exited:
            # a library does not print: the warning goes to logging, which shows it on
            # stderr when the application configured nothing else
            logger.warning("armbp: %s", result.note)
        if result.exited:
            self.exit_code = result.value
            return "syscall", result
        vcpu.write_register("x0", result.value & ((1 << 64) - 1))
        self._eret(vcpu, vcpu.read_register("elr_el1"))
        return "syscall", result

    @staticmethod
    def _eret(vcpu, pc: int) -> None:
        """ERET to EL0: PSTATE from SPSR_EL1, the EL0 stack pointer back, PC = ``pc``."""
        sp_el0 = vcpu.read_register("sp_el0")
        vcpu.write_register("pstate", vcpu.read_register("spsr_el1"))
        vcpu.write_register("sp", sp_el0)
        vcpu.pc = pc

    def auxv(self) -> bytes:
        return self.stack.auxv

    # -- the kernel's API for front ends -----------------------------------------------------
    def launch(self) -> Any:
        """A ``Debugger`` over this process, standing at the program's entry at EL0."""
        from armbp.debugger import Debugger

        dbg = Debugger(self.program)
        self.start(dbg.vcpu)
        return dbg

    def handle(self, vcpu: Any) -> KernelStop | None:
        """After any stop: serve the kernel's part if the guest is at its vectors.

        None when the stop is not the kernel's (a breakpoint, a step, a fault of the
        debugger's own); else what the kernel did: a system call served (the program goes
        on at EL0), the process exited, or a signal (the guest is left where it was).
        """
        if not self.at_gate(vcpu):
            return None
        kind, result = self.gate(vcpu)
        if kind == "syscall":
            assert result is not None
            if result.exited:
                return KernelStop(
                    "exited",
                    result,
                    code=result.value,
                    note=f"{result.name}({result.value}) → the process exits",
                )
            return KernelStop("syscall", result, note=result.note)
        ec = vcpu.read_register("esr_el1") >> 26
        return KernelStop(
            "signal",
            signal=self.signal,
            note=f"exception from EL0 (ESR_EL1 EC {ec:#04x}) → signal {self.signal}",
        )

    def run(self, dbg: Any, seconds: float = 5.0) -> KernelStop:
        """Run the program under ``dbg`` until it exits, takes a signal or stops otherwise.

        System calls are served as they come. The result's ``kind`` is "exited"
        (``code``), "signal" (``signal``), "stopped" (the debugger's own stop, in
        ``stop``: a breakpoint, a fault) or "running" (``seconds`` spent, the program
        still going: call ``run`` again to go on).
        """
        from armbp.debugger import StopReason

        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return KernelStop("running", note=f"still running after {seconds} s")
            stop = dbg.cont(left)
            served = self.handle(dbg.vcpu)
            if served is not None:
                if served.kind == "syscall":
                    continue
                return served
            if stop.reason is not StopReason.BUDGET:
                return KernelStop("stopped", stop=stop, note=stop.message)


@dataclass(frozen=True)
class KernelStop:
    """What the guest kernel made of a stop: the one record every front end reads.

    ``kind``: "syscall" (served, ``syscall`` says which; the program goes on), "exited"
    (``code``), "signal" (``signal``: 5 SIGTRAP, 4 SIGILL), and from ``run`` also
    "stopped" (``stop``: the debugger's own) and "running" (the time budget ran out).
    """

    kind: str
    syscall: SyscallResult | None = None
    code: int = 0
    signal: int | None = None
    stop: Any = None
    note: str = ""
