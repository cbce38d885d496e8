"""``KvmVCpu``: the vCPU interface (``armbp.kvm.backend.Backend``) over a real ``/dev/kvm``.

The same calls the Unicorn model answers, done the way a VMM does them on an arm64 Linux
host: ``KVM_CREATE_VM``, one ``KVM_SET_USER_MEMORY_REGION`` slot per run of the program's
pages (and per ``map``), ``KVM_ARM_PREFERRED_TARGET`` + ``KVM_ARM_VCPU_INIT`` (PSCI 0.2),
registers through ``KVM_GET/SET_ONE_REG``, ``KVM_SET_GUEST_DEBUG``, and the ``KVM_RUN``
loop, whose exits are read from the shared ``struct kvm_run`` into the very ``Exit``
records the model returns.

Pure Python (``fcntl``, ``mmap``, ``struct``, ``ctypes`` for two libc calls): it also runs
inside the KVM lab, on Debian's arm64 Python, where nothing else is installed.

Where real KVM cannot do what the model does (each one a documented difference):

* the **budget** is time only: KVM counts no instructions, so ``Budget(instructions=N)``
  is refused (``ValueError``); a time budget is a watchdog thread that sets
  ``kvm_run.immediate_exit`` and signals the vCPU thread out of ``KVM_RUN``;
* the **scratch page** is a read-only memory slot of its own: the guest's stores there
  exit as MMIO writes, but its loads and fetches there are not refused (the model refuses
  both unless ``open_scratch`` admitted the fetch); ``open_scratch``/``hide_scratch`` only
  keep the debugger's bookkeeping;
* **permissions**: a memory slot is read/write or read-only; "x" cannot be taken away
  (the guest's MMU is off, every page is executable);
* **cache maintenance** after a code write is the host's (``invalidate_code`` does
  nothing here: on cores with FEAT_IDC/DIC, and under QEMU's TCG, none is needed);
* **WFI** without an interrupt sleeps inside KVM until the budget ends (the model exits
  with HLT at once).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import signal
import struct
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from armbp.kvm.abi import (
    GUEST_DEBUG_HW_BPS,
    GUEST_DEBUG_HW_WPS,
    PAGE_SIZE,
    REGISTER_NAMES,
    Budget,
    Exit,
    ExitReason,
    GuestDebug,
    GuestDebugArch,
    MemoryAccess,
    SystemEvent,
    SystemEventType,
    VCpuBusy,
    check_guest_debug,
    check_map,
)
from armbp.kvm.arch import (
    PSTATE_EL1H_DAIF,
    VECTOR_CURRENT_SP0,
    VECTOR_CURRENT_SPX,
    VECTOR_LOWER_A64,
)
from armbp.kvm.devkvm import uapi
from armbp.memory import MemoryFault
from armbp.program import Program

__all__ = ["STACK_SIZE", "KvmUnavailable", "KvmVCpu", "check_host", "refuse_instructions"]

STACK_SIZE = 0x10000  # as the model's (armbp.kvm.unicorn.core.STACK_SIZE)
IPA_LIMIT = 1 << 40  # KVM's default guest physical address space on arm64: 40 bits
KVM_MEM_READONLY = 1 << 1  # kvm_userspace_memory_region.flags: guest writes exit as MMIO
KVM_EXIT_INTR = 10
# PSCI function ids behind KVM's system events (Arm DEN 0022, "SYSTEM_OFF", "SYSTEM_RESET")
_PSCI_FUNCTION = {SystemEventType.SHUTDOWN: 0x8400_0008, SystemEventType.RESET: 0x8400_0009}
# "CPACR_EL1, Architectural Feature Access Control Register": FPEN = 0b11, FP/SIMD does
# not trap (the model's core runs FP/SIMD at EL1 and EL0 from reset)
CPACR_EL1_FPEN = 0b11 << 20
_KICK_SIGNAL = signal.SIGUSR1  # what takes a vCPU thread out of KVM_RUN
_LIMIT = 1 << 64
_NZCV = 0xF << 28
_CLEAR_DEBUG = bytes(uapi.DEBUG_EXIT.size)

# System registers by name: their MRS/MSR encodings (Arm ARM, "AArch64 System Register
# Descriptions"), as KVM's ONE_REG ids.
_SYSREG_IDS = {
    "esr_el1": uapi.ESR_EL1,
    "far_el1": uapi.FAR_EL1,
    "vbar_el1": uapi.VBAR_EL1,
    "mdscr_el1": uapi.MDSCR_EL1,
    "sctlr_el1": uapi.sys_reg(3, 0, 1, 0, 0),
    "cpacr_el1": uapi.sys_reg(3, 0, 1, 0, 2),
    "tpidr_el1": uapi.sys_reg(3, 0, 13, 0, 4),
    "tpidr_el0": uapi.sys_reg(3, 3, 13, 0, 2),
    "tpidrro_el0": uapi.sys_reg(3, 3, 13, 0, 3),
}
# Names that are core registers of ``struct kvm_regs`` under another name
_CORE_ALIASES = {"sp_el0": "sp", "spsr_el1": "spsr0"}
_CORE_NAMES = {f"x{n}" for n in range(31)} | {"pc", "pstate", "sp_el1", "elr_el1"}
_VECTOR_NAMES = {f"v{n}" for n in range(32)}
_BITS = {name: 128 for name in _VECTOR_NAMES} | {"fpsr": 32, "fpcr": 32}
_KNOWN = (
    "x0..x30, sp, pc, pstate (cpsr), nzcv, currentel, sp_el0, sp_el1, elr_el1, spsr_el1, "
    + ", ".join(sorted(_SYSREG_IDS))
    + ", v0..v31, fpsr, fpcr"
)


class KvmUnavailable(RuntimeError):
    """This machine cannot run the ``kvm`` backend; the message names what is missing."""


_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _machine() -> str:
    return platform.machine()


def _open_kvm() -> int:
    return os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)


def check_host() -> int:
    """Open ``/dev/kvm`` and check it can debug an arm64 guest; the open descriptor.

    Refuses with ``KvmUnavailable`` naming the missing piece: an arm64 Linux host, the
    device, its API version, or ``KVM_CAP_SET_GUEST_DEBUG``. Elsewhere, ``backend="kvm-lab"``
    runs the same KVM inside an emulated arm64 machine.
    """
    lab = "(on any other machine, backend='kvm-lab' runs real KVM inside QEMU: armbp kvm)"
    machine = _machine()
    if machine not in ("aarch64", "arm64"):
        raise KvmUnavailable(
            f"the kvm backend needs an arm64 Linux host with /dev/kvm; this one is "
            f"{machine or 'unknown'} {lab}"
        )
    try:
        kvm = _open_kvm()
    except FileNotFoundError:
        raise KvmUnavailable(f"/dev/kvm is missing: KVM is not enabled here {lab}") from None
    except PermissionError:
        raise KvmUnavailable(
            "/dev/kvm cannot be opened: add yourself to the 'kvm' group (or ask for read "
            f"and write access to it) {lab}"
        ) from None
    try:
        version = fcntl.ioctl(kvm, uapi.KVM_GET_API_VERSION, 0)
        if version != uapi.KVM_API_VERSION:
            raise KvmUnavailable(
                f"/dev/kvm speaks API version {version}, expected {uapi.KVM_API_VERSION}"
            )
        if fcntl.ioctl(kvm, uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_SET_GUEST_DEBUG) <= 0:
            raise KvmUnavailable(
                "/dev/kvm lacks KVM_CAP_SET_GUEST_DEBUG: this kernel's KVM cannot trap "
                f"the guest's debug exceptions for a debugger {lab}"
            )
    except BaseException:
        os.close(kvm)
        raise
    return kvm


def refuse_instructions(instructions: int) -> None:
    """A ``ValueError`` for an instruction budget: real KVM cannot honour one (``KVM_RUN``
    runs until an exit or a signal; nothing in it counts instructions)."""
    if instructions:
        raise ValueError(
            f"an instruction budget ({instructions}) cannot be honoured on real KVM: "
            f"KVM_RUN counts no instructions; give the budget in seconds"
        )


class _Slot:
    """One memory slot: ``size`` bytes of host memory the guest sees at ``base``."""

    def __init__(self, number: int, base: int, size: int, readonly: bool) -> None:
        self.number, self.base, self.size, self.readonly = number, base, size, readonly
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        self.mem = mmap.mmap(-1, size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot)
        self._pin = ctypes.c_char.from_buffer(self.mem)
        self.host = ctypes.addressof(self._pin)

    @property
    def end(self) -> int:
        return self.base + self.size

    def close(self) -> None:
        del self._pin
        self.mem.close()


class _Watchdog:
    """One thread that ends runs at their deadline: ``immediate_exit`` + a signal."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._runs: dict[int, tuple[float, Callable[[], None]]] = {}
        self._thread: threading.Thread | None = None

    def arm(self, key: int, deadline: float, fire: Callable[[], None]) -> None:
        with self._cond:
            self._runs[key] = (deadline, fire)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="armbp-kvm-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def disarm(self, key: int) -> None:
        with self._cond:
            self._runs.pop(key, None)

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                due = [k for k, (d, _) in self._runs.items() if d <= now]
                for key in due:
                    self._runs.pop(key)[1]()
                wait = min((d for d, _ in self._runs.values()), default=now + 60) - now
                self._cond.wait(max(wait, 0.0005))


_WATCHDOG = _Watchdog()


def _on_kick_signal(_signum: int, _frame: object) -> None:
    """Nothing to do: the signal's work is to make ``KVM_RUN`` return ``EINTR``."""


class _HostMemory:
    """Guest memory as the debugger reaches it (``Memory``): the VMM's own mapping of the
    slots, read and written directly; what no slot covers is a ``MemoryFault``."""

    def __init__(self, vcpu: KvmVCpu) -> None:
        self._vcpu = vcpu

    def _pieces(self, address: int, size: int, access: str) -> list[tuple[_Slot, int, int]]:
        if address < 0 or size < 0 or address + size > _LIMIT:
            raise MemoryFault(address, size, access, "outside the 64-bit address space")
        vcpu = self._vcpu
        if address < vcpu.scratch_base + PAGE_SIZE and vcpu.scratch_base < address + size:
            raise MemoryFault(address, size, access)  # the scratch page is not the guest's
        pieces, at, end = [], address, address + size
        while at < end:
            slot = vcpu._slot_at(at)
            if slot is None:
                raise MemoryFault(address, size, access, f"nothing is mapped at {at:#x}")
            upto = min(end, slot.end)
            pieces.append((slot, at - slot.base, upto - at))
            at = upto
        return pieces

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; ``MemoryFault`` if any of them is unmapped."""
        return b"".join(s.mem[o : o + n] for s, o, n in self._pieces(address, size, "read"))

    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` (nothing is written if any byte is unmapped)."""
        data = bytes(data)
        done = 0
        for slot, offset, n in self._pieces(address, len(data), "write"):
            slot.mem[offset : offset + n] = data[done : done + n]
            done += n

    def invalidate_code(self, address: int, size: int) -> None:
        """Cache maintenance after a code write: nothing to do from here (see the module)."""


class KvmVCpu:
    """One arm64 vCPU on ``/dev/kvm`` with the program's memory, a stack and a scratch page.

    The memory map is the model's (``armbp.kvm.unicorn.VCpu``): the program's pages, the
    scratch page right after them, an unmapped guard page, then the stack; PSTATE is EL1h
    with DAIF masked, SP = ``stack_top``, PC = the entry, x0-x30 = 0.
    """

    def __init__(self, program: Program, *, flush_code_writes: bool = True) -> None:
        if not isinstance(program, Program):
            raise ValueError(
                f"expected an armbp.Program (e.g. from armbp.assemble), got "
                f"{type(program).__name__}"
            )
        self.program = program
        self.flush_code_writes = flush_code_writes
        self.memory = _HostMemory(self)
        top = max(seg.end for seg in program.segments)
        self.scratch_base = -(-top // PAGE_SIZE) * PAGE_SIZE
        self.stack_base = self.scratch_base + 2 * PAGE_SIZE
        self.stack_top = self.stack_base + STACK_SIZE
        if self.stack_top > IPA_LIMIT:
            raise ValueError(
                f"{program.name} reaches {self.stack_top:#x} with its scratch page and "
                f"stack: KVM's guest physical address space ends at {IPA_LIMIT:#x}"
            )
        self._kvm = check_host()
        self.caps = {
            "hw_bps": fcntl.ioctl(
                self._kvm, uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_BPS
            ),
            "hw_wps": fcntl.ioctl(
                self._kvm, uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_WPS
            ),
        }
        self._run_size = fcntl.ioctl(self._kvm, uapi.KVM_GET_VCPU_MMAP_SIZE, 0)
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(_KICK_SIGNAL) in (signal.SIG_DFL, None):
                signal.signal(_KICK_SIGNAL, _on_kick_signal)
        elif signal.getsignal(_KICK_SIGNAL) is not _on_kick_signal:
            raise KvmUnavailable(
                f"the first KvmVCpu must be made on the main thread (it installs the "
                f"{_KICK_SIGNAL.name} handler that takes a vCPU out of KVM_RUN)"
            )
        self._lock = threading.Lock()
        self._runner: int | None = None
        self._runner_native: int | None = None
        self._why: str | None = None  # why the run in progress is being stopped
        self._kicked = False
        self._token = 0
        self._vm = -1
        self._cpu = -1
        self._slots: list[_Slot] = []
        self._reg_ids: dict[int, bytes] = {}
        self._value = ctypes.create_string_buffer(16)
        self._value_at = ctypes.addressof(self._value)
        self.reset()

    # -- the VM --------------------------------------------------------------------------
    def _close_vm(self) -> None:
        if self._cpu >= 0:
            self._run_page.close()
            os.close(self._cpu)
        if self._vm >= 0:
            os.close(self._vm)
        for slot in self._slots:
            slot.close()
        self._slots, self._vm, self._cpu = [], -1, -1

    def close(self) -> None:
        """Release the VM, its vCPU and guest memory (and ``/dev/kvm``)."""
        self._close_vm()
        if self._kvm >= 0:
            os.close(self._kvm)
            self._kvm = -1

    def reset(self) -> None:
        """A fresh machine from the program alone: a new VM, memory reloaded, registers as
        the model sets them, guest debug off; memory added with ``map`` is gone."""
        self.ensure_idle("reset")
        self._close_vm()
        self._vm = fcntl.ioctl(self._kvm, uapi.KVM_CREATE_VM, 0)
        pages: dict[int, bool] = {}  # page -> writable
        for seg in self.program.segments:
            if seg.memsz <= 0:
                continue
            first = seg.vaddr // PAGE_SIZE * PAGE_SIZE
            for page in range(first, seg.end, PAGE_SIZE):
                pages[page] = pages.get(page, False) or "w" in seg.flags
        runs: list[list[Any]] = []  # [start, end, writable]
        for page in sorted(pages):
            if runs and runs[-1][1] == page and runs[-1][2] == pages[page]:
                runs[-1][1] = page + PAGE_SIZE
            else:
                runs.append([page, page + PAGE_SIZE, pages[page]])
        for start, end, writable in runs:
            self._add_slot(start, end - start, readonly=not writable)
        for seg in self.program.segments:
            if seg.data:
                self.memory.write(seg.vaddr, bytes(seg.data[: seg.memsz]))
        scratch = self._add_slot(self.scratch_base, PAGE_SIZE, readonly=True)
        self._scratch = scratch
        self._add_slot(self.stack_base, STACK_SIZE, readonly=False)
        self._cpu = fcntl.ioctl(self._vm, uapi.KVM_CREATE_VCPU, 0)
        init = bytearray(uapi.VCPU_INIT.size)
        fcntl.ioctl(self._vm, uapi.KVM_ARM_PREFERRED_TARGET, init)
        target = struct.unpack_from("<I", init)[0]
        features = 1 << uapi.KVM_ARM_VCPU_PSCI_0_2
        fcntl.ioctl(
            self._cpu, uapi.KVM_ARM_VCPU_INIT, uapi.VCPU_INIT.pack(target, features, *[0] * 6)
        )
        self.target = target
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        self._run_page = mmap.mmap(self._cpu, self._run_size, mmap.MAP_SHARED, prot)
        self._set("pstate", PSTATE_EL1H_DAIF)
        self._set("sp_el1", self.stack_top)
        self._set("pc", self.program.entry or 0)
        self._set("cpacr_el1", self._get("cpacr_el1") | CPACR_EL1_FPEN)
        self.scratch_open: frozenset[int] = frozenset()
        self.scratch_after: dict[int, frozenset[int]] = {}
        self.guest_debug = GuestDebug.NONE
        self.guest_debug_arch: GuestDebugArch | None = None
        self.last_exit: Exit | None = None
        self._kicked = False

    def _add_slot(self, base: int, size: int, *, readonly: bool) -> _Slot:
        slot = _Slot(len(self._slots), base, size, readonly)
        region = uapi.MEMORY_REGION.pack(
            slot.number, KVM_MEM_READONLY if readonly else 0, base, size, slot.host
        )
        try:
            fcntl.ioctl(self._vm, uapi.KVM_SET_USER_MEMORY_REGION, region)
        except OSError as e:
            slot.close()
            raise ValueError(
                f"KVM refused a memory slot at {base:#x}..{base + size - 1:#x}: {e}"
            ) from None
        self._slots.append(slot)
        self._slots.sort(key=lambda s: s.base)
        return slot

    def _slot_at(self, address: int) -> _Slot | None:
        for slot in self._slots:
            if slot.base <= address < slot.end:
                return slot
        return None

    def map(self, address: int, size: int, perms: str = "rw") -> None:
        """Add ``size`` zeroed bytes at ``address``: a new memory slot (read-only unless
        ``perms`` has "w"). Page-aligned, inside KVM's 40-bit guest physical space, not
        overlapping memory already mapped: a ``ValueError`` names the values otherwise and
        nothing changes."""
        self.ensure_idle("map")
        check_map(address, size, perms)
        end = address + size
        if end > IPA_LIMIT:
            raise ValueError(
                f"map: {address:#x}..{end - 1:#x} goes past the end of KVM's guest "
                f"physical address space ({IPA_LIMIT:#x})"
            )
        for slot in self._slots:
            if address < slot.end and slot.base < end:
                raise ValueError(
                    f"map: {address:#x}..{end - 1:#x} overlaps memory already mapped at "
                    f"{slot.base:#x}..{slot.end - 1:#x}"
                )
        self._add_slot(address, size, readonly="w" not in perms)

    # -- registers -----------------------------------------------------------------------
    def _id(self, key: str) -> int:
        if key in _SYSREG_IDS:
            return _SYSREG_IDS[key]
        return uapi.core_reg(_CORE_ALIASES.get(key, key))

    def _one(self, key: str) -> bytes:
        reg = self._id(key)
        one = self._reg_ids.get(reg)
        if one is None:
            one = self._reg_ids[reg] = uapi.ONE_REG.pack(reg, self._value_at)
        return one

    def _get(self, key: str) -> int:
        fcntl.ioctl(self._cpu, uapi.KVM_GET_ONE_REG, self._one(key))
        return int.from_bytes(self._value.raw[: _BITS.get(key, 64) // 8], "little")

    def _set(self, key: str, value: int) -> None:
        size = _BITS.get(key, 64) // 8
        ctypes.memmove(self._value, value.to_bytes(size, "little"), size)
        fcntl.ioctl(self._cpu, uapi.KVM_SET_ONE_REG, self._one(key))

    def _sp_key(self) -> str:
        pstate = self._get("pstate")
        return "sp_el1" if pstate & 1 and pstate >> 2 & 3 else "sp"

    @staticmethod
    def _key(name: str) -> str:
        key = name.lower() if isinstance(name, str) else name
        if key == "cpsr":
            key = "pstate"
        if (
            key in _CORE_NAMES
            or key in _VECTOR_NAMES
            or key in _SYSREG_IDS
            or key in _CORE_ALIASES
            or key in ("sp", "nzcv", "currentel", "fpsr", "fpcr")
        ):
            return key
        raise ValueError(f"unknown register {name!r}: expected one of {_KNOWN}")

    @property
    def pc(self) -> int:
        """The program counter (settable)."""
        return self._get("pc")

    @pc.setter
    def pc(self, value: int) -> None:
        self.write_register("pc", value)

    def registers(self) -> dict[str, int]:
        """x0–x30, sp (the current stack pointer), pc, pstate (GDB's core set)."""
        values = {name: self._get(name) for name in REGISTER_NAMES if name != "sp"}
        pstate = values["pstate"]
        values["sp"] = self._get("sp_el1" if pstate & 1 and pstate >> 2 & 3 else "sp")
        return {name: values[name] for name in REGISTER_NAMES}

    def read_register(self, name: str) -> int:
        """One register by name (see ``_KNOWN``): ``sp`` is the one PSTATE selects."""
        key = self._key(name)
        if key == "sp":
            key = self._sp_key()
        elif key == "nzcv":
            return self._get("pstate") & _NZCV
        elif key == "currentel":
            return self._get("pstate") & 0xC
        return self._get(key)

    def write_register(self, name: str, value: int) -> None:
        """Write one register by name (``currentel`` is read-only: write pstate)."""
        key = self._key(name)
        bits = _BITS.get(key, 64)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"value {value!r} for {name}: expected an integer 0..2**{bits}-1")
        self.ensure_idle("write_register")
        if key == "currentel":
            raise ValueError("currentel is read-only: write pstate to change the EL")
        if key == "sp":
            key = self._sp_key()
        elif key == "nzcv":
            value = self._get("pstate") & ~_NZCV | value & _NZCV
            key = "pstate"
        self._set(key, value)

    # -- guest debug ---------------------------------------------------------------------
    def set_guest_debug(
        self, flags: GuestDebug | int, arch: GuestDebugArch | None = None
    ) -> None:
        """``KVM_SET_GUEST_DEBUG``: the control word and, with ``USE_HW``, the slots.

        Unknown control bits, or a slot beyond what this KVM offers
        (``KVM_CAP_GUEST_DEBUG_HW_BPS``/``_WPS``), are a ``ValueError`` and nothing changes.
        """
        check_guest_debug(flags, arch)
        if arch is not None:
            limits = {
                "dbg_bcr": self.caps["hw_bps"] or GUEST_DEBUG_HW_BPS,
                "dbg_wcr": self.caps["hw_wps"] or GUEST_DEBUG_HW_WPS,
            }
            for name, limit in limits.items():
                for i, value in enumerate(getattr(arch, name)):
                    if value and i >= limit:
                        raise ValueError(
                            f"GuestDebugArch.{name}[{i}]={value:#x}: this KVM has "
                            f"{limit} slots (0..{limit - 1})"
                        )
        self.ensure_idle("set_guest_debug")
        fcntl.ioctl(self._cpu, uapi.KVM_SET_GUEST_DEBUG, uapi.pack_guest_debug(flags, arch))
        self.guest_debug = GuestDebug(flags)
        self.guest_debug_arch = arch

    # -- running -------------------------------------------------------------------------
    def run(self, budget: Budget | float | None = None) -> Exit:
        """``KVM_RUN`` until something exits, within ``budget`` (seconds; see the module
        for why an instruction count is refused)."""
        b = Budget.of(budget)
        return self.run_until(time.monotonic() + b.seconds, b.instructions or 0)

    def run_until(self, deadline: float, instructions: int = 0) -> Exit:
        """``run`` with an absolute ``time.monotonic()`` deadline (the VMM's loop)."""
        refuse_instructions(instructions)
        me = threading.get_ident()
        with self._lock:
            if self._runner is not None:
                raise VCpuBusy("run", self._runner, me)
            self._runner, self._runner_native = me, threading.get_native_id()
        try:
            exit_ = self._run(deadline)
        finally:
            with self._lock:
                self._runner = self._runner_native = None
                self._why = None
                self._run_page[uapi.RUN_IMMEDIATE_EXIT] = 0
        self.last_exit = exit_
        return exit_

    def _run(self, deadline: float) -> Exit:
        page, libc = self._run_page, _c()
        while True:
            with self._lock:
                self._token += 1
                token = self._token
                if self._kicked:
                    self._kicked = False
                    self._why = "interrupted"
                page[uapi.RUN_IMMEDIATE_EXIT] = self._why is not None
            # a run after an MMIO exit would complete the access and skip the instruction
            # (kvm_handle_mmio_return): the model re-executes it, so the VMM here gives
            # the access up, as a VMM with no device behind the address would
            struct.pack_into("<I", page, uapi.RUN_EXIT_REASON, 0)
            # KVM writes run->debug.arch.far only for a watchpoint: cleared here, a
            # step's record never shows the FAR of the watchpoint before it
            page[uapi.RUN_EXIT : uapi.RUN_EXIT + uapi.DEBUG_EXIT.size] = _CLEAR_DEBUG
            _WATCHDOG.arm(token, deadline, partial(self._stop, token, "time budget used up"))
            try:
                ret = libc.ioctl(self._cpu, uapi.KVM_RUN, 0)
                err = ctypes.get_errno() if ret < 0 else 0
            finally:
                _WATCHDOG.disarm(token)
            if ret < 0 and err == errno.EINTR:
                with self._lock:
                    why, self._why = self._why, None
                    page[uapi.RUN_IMMEDIATE_EXIT] = 0
                if why is None and time.monotonic() < deadline:
                    if self._interrupted():
                        return Exit(ExitReason.BUDGET, self.pc, message="interrupted")
                    continue  # a stray signal: enter the guest again
                return Exit(ExitReason.BUDGET, self.pc, message=why or "time budget used up")
            if ret < 0:
                return self._failed(err)
            return self._exit()

    def _interrupted(self) -> bool:
        """A signal nobody here sent ended ``KVM_RUN``: True ends the run as a kick.

        The lab's agent overrides it (its console's SIGIO is the host's kick)."""
        return False

    def _stop(self, token: int, why: str) -> None:
        """Called by the watchdog thread (or ``kick``): take run ``token`` out of KVM_RUN."""
        with self._lock:
            if self._token != token or self._runner_native is None:
                return
            self._why = why
            self._run_page[uapi.RUN_IMMEDIATE_EXIT] = 1
            runner = self._runner
        if runner is not None:
            try:
                signal.pthread_kill(runner, _KICK_SIGNAL)
            except (ProcessLookupError, OSError):
                pass

    def _failed(self, err: int) -> Exit:
        pc = self.pc
        return Exit(
            ExitReason.INTERNAL_ERROR,
            pc,
            message=f"KVM_RUN failed: {os.strerror(err)} (errno {err})",
        )

    def _exit(self) -> Exit:
        e = uapi.read_exit(self._run_page)
        pc = self.pc
        if e.debug is not None:
            return Exit(ExitReason.DEBUG, pc, e.debug)
        if e.mmio is not None:
            address, data, write = e.mmio
            slot = self._slot_at(address)
            why = "the page is read-only" if slot is not None else "nothing is mapped there"
            if slot is self._scratch:
                why = "nothing is mapped there"
            value = int.from_bytes(data, "little") if write else None
            access = MemoryAccess(address, len(data), "write" if write else "read", why, value)
            return Exit(ExitReason.MMIO, pc, mmio=access)
        if e.system_event is not None:
            try:
                kind = SystemEventType(e.system_event)
            except ValueError:
                return Exit(
                    ExitReason.INTERNAL_ERROR,
                    pc,
                    message=f"KVM system event of type {e.system_event}",
                )
            return Exit(
                ExitReason.SYSTEM_EVENT,
                pc,
                system_event=SystemEvent(kind, _PSCI_FUNCTION[kind]),
            )
        if e.reason == KVM_EXIT_INTR:
            return Exit(ExitReason.BUDGET, pc, message="interrupted")
        detail = e.detail or f"KVM exit reason {e.reason}, which armbp does not handle"
        return Exit(ExitReason.INTERNAL_ERROR, pc, message=detail)

    def kick(self) -> None:
        """End a run from another thread (a BUDGET exit, "interrupted"); a kick between
        runs makes the next run return at once, as a pending signal does."""
        with self._lock:
            running = self._runner_native is not None and self._runner != threading.get_ident()
            token = self._token
            if not running:
                self._kicked = True
        if running:
            self._stop(token, "interrupted")

    def ensure_idle(self, what: str) -> None:
        """Raise ``VCpuBusy`` if a run is in progress on another thread (KVM's vCPU
        ioctls take the vCPU mutex: one thread drives a vCPU)."""
        runner = self._runner
        if runner is not None and runner != threading.get_ident():
            raise VCpuBusy(what, runner, threading.get_ident())

    # -- re-injection ----------------------------------------------------------------------
    def inject_exception(
        self, syndrome: int, *, return_to: int, far: int | None = None
    ) -> None:
        """Deliver a synchronous exception to the guest's EL1 vectors, as QEMU does
        through ONE_REG (Arm ARM "Exception entry"): SPSR_EL1 = PSTATE, ELR_EL1 = the
        return address, ESR_EL1 = syndrome, FAR_EL1 (aborts, watchpoints), PSTATE = EL1h
        with DAIF masked, PC = VBAR_EL1 + the vector offset. KVM banks the stack pointers
        itself (SP_EL0 and SP_EL1 are separate registers of ``struct kvm_regs``)."""
        for name, value in (("syndrome", syndrome), ("return_to", return_to), ("far", far)):
            if value is None and name == "far":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value < _LIMIT
            ):
                raise ValueError(f"value {value!r} for {name}: expected an integer 0..2**64-1")
        self.ensure_idle("inject_exception")
        pstate = self._get("pstate")
        el, spsel = pstate >> 2 & 3, pstate & 1
        if el == 0:
            offset = VECTOR_LOWER_A64
        else:
            offset = VECTOR_CURRENT_SPX if spsel else VECTOR_CURRENT_SP0
        vector = self._get("vbar_el1") + offset & _LIMIT - 1
        writes = [("spsr_el1", pstate), ("elr_el1", return_to), ("esr_el1", syndrome)]
        if far is not None:
            writes.append(("far_el1", far))
        writes += [("pstate", PSTATE_EL1H_DAIF), ("pc", vector)]
        for key, value in writes:
            self._set(key, value)

    # -- the scratch page --------------------------------------------------------------------
    def write_scratch(self, offset: int, data: bytes) -> None:
        """Store code in the scratch page (a read-only slot: only the VMM writes it)."""
        if not 0 <= offset <= PAGE_SIZE - len(data):
            raise ValueError(
                f"scratch write at offset {offset:#x} of {len(data)} bytes: "
                f"expected it inside the {PAGE_SIZE:#x}-byte page"
            )
        self._scratch.mem[offset : offset + len(data)] = bytes(data)

    def open_scratch(
        self, entry: frozenset[int], after: dict[int, frozenset[int]] | None = None
    ) -> None:
        """Note the blocks the next step-over runs in the scratch page. KVM cannot refuse
        the guest's other fetches there (see the module): this is bookkeeping only."""
        self.scratch_open = entry
        if after is not None:
            self.scratch_after = after

    def hide_scratch(self) -> None:
        """Nothing to hide on KVM: guest loads from the scratch page are never refused
        (a memory slot has no "execute only"; see the module)."""

    def load_vector(self, index: int, address: int, size: int) -> bool:
        """V``index`` = the ``size`` (4, 8 or 16) bytes at ``address``, zero-extended;
        False (nothing changed) if they cannot be read."""
        if not self.guest_readable(address, size):
            return False
        data = self.memory.read(address, size)
        self._set(f"v{index}", int.from_bytes(data, "little"))
        return True

    def exchange_x30(self, value: int) -> int:
        """x30 = ``value``; the old x30."""
        old = self._get("x30")
        self._set("x30", value)
        return old

    def guest_readable(self, address: int, size: int) -> bool:
        """Could a guest load of ``size`` bytes at ``address`` succeed (inside memory
        slots, not the scratch page)?"""
        try:
            self.memory._pieces(address, size, "read")
        except MemoryFault:
            return False
        return size > 0

    def __repr__(self) -> str:
        return f"KvmVCpu({self.program.name}, guest_debug={self.guest_debug!r})"
