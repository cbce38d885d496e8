"""KVM's user-space ABI on arm64 as data: ioctl numbers, struct layouts, register ids.

A VMM drives KVM with ``ioctl()`` on three kinds of file descriptor (``/dev/kvm``, a VM,
a vCPU) and reads each exit from the vCPU's shared ``struct kvm_run``. The numbers and
layouts below are those of Linux's ``<linux/kvm.h>`` and arm64's ``<asm/kvm.h>``; every
one is compared with the headers by ``tests/test_kvm_uapi.py``. Pure data and
``struct``: nothing here opens a device.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

from armbp.kvm.abi import (
    KVM_ARM_MAX_DBG_REGS,
    DebugExit,
    ExitReason,
    GuestDebug,
    GuestDebugArch,
)

# --- ioctl numbers: <asm-generic/ioctl.h> --------------------------------------------------
# An ioctl number packs the direction (bits 31:30: 1 write to the kernel, 2 read from it),
# the argument's size (29:16), a type byte (15:8: 0xAE for KVM) and a number (7:0).
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, kind: int, number: int, size: int) -> int:
    if not 0 <= size < 1 << 14:
        raise ValueError(f"ioctl argument size {size}: expected 0..16383 bytes")
    return direction << 30 | size << 16 | kind << 8 | number


def io(kind: int, number: int) -> int:
    """``_IO(type, nr)``: an ioctl without an argument struct."""
    return _ioc(_IOC_NONE, kind, number, 0)


def ior(kind: int, number: int, size: int) -> int:
    """``_IOR(type, nr, T)``: the kernel fills a ``T`` of ``size`` bytes."""
    return _ioc(_IOC_READ, kind, number, size)


def iow(kind: int, number: int, size: int) -> int:
    """``_IOW(type, nr, T)``: the kernel reads a ``T`` of ``size`` bytes."""
    return _ioc(_IOC_WRITE, kind, number, size)


KVMIO = 0xAE

# --- struct layouts (little-endian, natural alignment, as the arm64 ABI lays them out) -----
# struct kvm_userspace_memory_region { __u32 slot, flags; __u64 guest_phys_addr,
#                                      memory_size, userspace_addr; }
MEMORY_REGION = struct.Struct("<IIQQQ")
# struct kvm_one_reg { __u64 id; __u64 addr; }: addr points at the value's buffer
ONE_REG = struct.Struct("<QQ")
# struct kvm_vcpu_init { __u32 target; __u32 features[7]; }
VCPU_INIT = struct.Struct("<I7I")
# struct kvm_guest_debug { __u32 control, pad; struct kvm_guest_debug_arch arch; } with
# arch = { __u64 dbg_bcr[16], dbg_bvr[16], dbg_wcr[16], dbg_wvr[16]; }
GUEST_DEBUG = struct.Struct(f"<II{4 * KVM_ARM_MAX_DBG_REGS}Q")

# --- the ioctls a VMM needs ----------------------------------------------------------------
KVM_GET_API_VERSION = io(KVMIO, 0x00)
KVM_CREATE_VM = io(KVMIO, 0x01)
KVM_CHECK_EXTENSION = io(KVMIO, 0x03)
KVM_GET_VCPU_MMAP_SIZE = io(KVMIO, 0x04)
KVM_CREATE_VCPU = io(KVMIO, 0x41)
KVM_SET_USER_MEMORY_REGION = iow(KVMIO, 0x46, MEMORY_REGION.size)
KVM_RUN = io(KVMIO, 0x80)
KVM_SET_GUEST_DEBUG = iow(KVMIO, 0x9B, GUEST_DEBUG.size)
KVM_GET_ONE_REG = iow(KVMIO, 0xAB, ONE_REG.size)
KVM_SET_ONE_REG = iow(KVMIO, 0xAC, ONE_REG.size)
KVM_ARM_VCPU_INIT = iow(KVMIO, 0xAE, VCPU_INIT.size)
KVM_ARM_PREFERRED_TARGET = ior(KVMIO, 0xAF, VCPU_INIT.size)

KVM_API_VERSION = 12  # what KVM_GET_API_VERSION has returned since 2007

# Capabilities (KVM_CHECK_EXTENSION): the ones a debugger asks about.
KVM_CAP_SET_GUEST_DEBUG = 23
KVM_CAP_ONE_REG = 70
KVM_CAP_GUEST_DEBUG_HW_BPS = 119  # how many breakpoint slots KVM_SET_GUEST_DEBUG loads
KVM_CAP_GUEST_DEBUG_HW_WPS = 120  # how many watchpoint slots
KVM_CAP_IMMEDIATE_EXIT = 136  # kvm_run.immediate_exit: leave KVM_RUN at once (a kick)

# kvm_vcpu_init.features bits
KVM_ARM_VCPU_POWER_OFF = 0
KVM_ARM_VCPU_PSCI_0_2 = 2

# --- struct kvm_run: the page the vCPU shares with its VMM ---------------------------------
RUN_IMMEDIATE_EXIT = 1  # __u8 immediate_exit
RUN_EXIT_REASON = 8  # __u32 exit_reason
RUN_EXIT = 32  # the union of per-reason records starts here
# run->debug.arch = struct kvm_debug_exit_arch { __u32 hsr, hsr_high; __u64 far; }
DEBUG_EXIT = struct.Struct("<IIQ")
# run->mmio = { __u64 phys_addr; __u8 data[8]; __u32 len; __u8 is_write; }
MMIO_EXIT = struct.Struct("<Q8sIB")
# run->system_event = { __u32 type, ndata; __u64 data[16]; } (ndata since Linux 5.18)
SYSTEM_EVENT_EXIT = struct.Struct("<II")
# run->fail_entry = { __u64 hardware_entry_failure_reason; __u32 cpu; }
FAIL_ENTRY_EXIT = struct.Struct("<QI")
# run->internal = { __u32 suberror, ndata; __u64 data[16]; }
INTERNAL_EXIT = struct.Struct("<II")

KVM_EXIT_FAIL_ENTRY = 9  # the hardware refused to enter the guest

# --- register ids for KVM_GET/SET_ONE_REG: <asm/kvm.h> -------------------------------------
KVM_REG_ARM64 = 0x6000_0000_0000_0000
KVM_REG_SIZE_U32 = 0x0020_0000_0000_0000
KVM_REG_SIZE_U64 = 0x0030_0000_0000_0000
KVM_REG_SIZE_U128 = 0x0040_0000_0000_0000
KVM_REG_ARM_CORE = 0x0010 << 16
KVM_REG_ARM64_SYSREG = 0x0013 << 16

# offsetof(struct kvm_regs, ...) in bytes: struct user_pt_regs { __u64 regs[31], sp, pc,
# pstate; }, then __u64 sp_el1, elr_el1, spsr[5], then the 16-byte aligned
# struct user_fpsimd_state { __uint128_t vregs[32]; __u32 fpsr, fpcr; }
_CORE_OFFSETS = {
    **{f"x{n}": 8 * n for n in range(31)},
    "sp": 248,
    "pc": 256,
    "pstate": 264,
    "sp_el1": 272,
    "elr_el1": 280,
    **{f"spsr{n}": 288 + 8 * n for n in range(5)},
    **{f"v{n}": 336 + 16 * n for n in range(32)},
    "fpsr": 848,
    "fpcr": 852,
}
_CORE_SIZES = {"fpsr": KVM_REG_SIZE_U32, "fpcr": KVM_REG_SIZE_U32} | {
    f"v{n}": KVM_REG_SIZE_U128 for n in range(32)
}


def core_reg(name: str) -> int:
    """The ONE_REG id of a core register (``x0``-``x30``, ``sp``, ``pc``, ``pstate``,
    ``sp_el1``, ``elr_el1``, ``spsr0``-``spsr4``, ``v0``-``v31``, ``fpsr``, ``fpcr``).

    KVM names a core register by where it sits in ``struct kvm_regs``: its byte offset
    divided by 4, with the arm64, size and "core" bits on top.
    """
    offset = _CORE_OFFSETS.get(name)
    if offset is None:
        raise ValueError(f"core register {name!r}: expected one of {', '.join(_CORE_OFFSETS)}")
    size = _CORE_SIZES.get(name, KVM_REG_SIZE_U64)
    return KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | offset // 4


def sys_reg(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    """The ONE_REG id of a system register, from its MRS/MSR encoding.

    The same five fields the instruction carries (Arm ARM "System register move"), packed
    op0[15:14] op1[13:11] CRn[10:7] CRm[6:3] op2[2:0] under the arm64 sysreg bits.
    """
    fields = (
        ("op0", op0, 2),
        ("op1", op1, 3),
        ("crn", crn, 4),
        ("crm", crm, 4),
        ("op2", op2, 3),
    )
    for name, value, bits in fields:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"{name}={value!r}: expected 0..{(1 << bits) - 1}")
    encoding = op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2
    return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG | encoding


# The system registers re-injection writes (QEMU does the same through ONE_REG).
ESR_EL1 = sys_reg(3, 0, 5, 2, 0)
FAR_EL1 = sys_reg(3, 0, 6, 0, 0)
VBAR_EL1 = sys_reg(3, 0, 12, 0, 0)
MDSCR_EL1 = sys_reg(2, 0, 0, 2, 2)


# --- packing and unpacking -----------------------------------------------------------------
def pack_guest_debug(control: GuestDebug | int, arch: GuestDebugArch | None = None) -> bytes:
    """``struct kvm_guest_debug`` for ``KVM_SET_GUEST_DEBUG``, from the contract's records."""
    arch = arch or GuestDebugArch()
    return GUEST_DEBUG.pack(
        int(control), 0, *arch.dbg_bcr, *arch.dbg_bvr, *arch.dbg_wcr, *arch.dbg_wvr
    )


def pack_memory_region(slot: int, guest_phys: int, size: int, host_address: int) -> bytes:
    """``struct kvm_userspace_memory_region``: ``size`` bytes of the VMM's memory at
    ``host_address`` appear to the guest at ``guest_phys``."""
    return MEMORY_REGION.pack(slot, 0, guest_phys, size, host_address)


@dataclass(frozen=True)
class RunExit:
    """What ``struct kvm_run`` says after ``KVM_RUN`` returns: the reason and its record."""

    reason: int
    debug: DebugExit | None = None
    mmio: tuple[int, bytes, bool] | None = None  # (phys_addr, data[:len], is_write)
    system_event: int | None = None  # run->system_event.type
    detail: str = ""


def read_exit(run: bytes | bytearray | memoryview | mmap.mmap) -> RunExit:
    """Decode the exit a vCPU's ``kvm_run`` page holds (the contract's records inside)."""
    (reason,) = struct.unpack_from("<I", run, RUN_EXIT_REASON)
    if reason == ExitReason.DEBUG:
        hsr, hsr_high, far = DEBUG_EXIT.unpack_from(run, RUN_EXIT)
        return RunExit(reason, debug=DebugExit(hsr, hsr_high, far))
    if reason == ExitReason.MMIO:
        address, data, length, is_write = MMIO_EXIT.unpack_from(run, RUN_EXIT)
        return RunExit(reason, mmio=(address, data[:length], bool(is_write)))
    if reason == ExitReason.SYSTEM_EVENT:
        kind, _ndata = SYSTEM_EVENT_EXIT.unpack_from(run, RUN_EXIT)
        return RunExit(reason, system_event=kind)
    if reason == KVM_EXIT_FAIL_ENTRY:
        why, cpu = FAIL_ENTRY_EXIT.unpack_from(run, RUN_EXIT)
        return RunExit(reason, detail=f"entry failed: hardware reason {why:#x} on cpu {cpu}")
    if reason == ExitReason.INTERNAL_ERROR:
        suberror, _ndata = INTERNAL_EXIT.unpack_from(run, RUN_EXIT)
        return RunExit(reason, detail=f"KVM internal error, suberror {suberror}")
    return RunExit(reason)
