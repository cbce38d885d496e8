"""armbp.kvm.devkvm.uapi against the arm64 kernel headers: a C probe prints what the
headers say (built by the cross compiler against linux-libc-dev-arm64-cross, run under
qemu-aarch64), and every number and layout the module claims must match it."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from armbp.kvm import abi
from armbp.kvm.devkvm import uapi
from tests.conftest import require_tool

PROBE = Path(__file__).parent / "c" / "kvm_uapi_probe.c"


@pytest.fixture(scope="module")
def headers(tmp_path_factory) -> dict[str, int]:
    gcc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    qemu = require_tool("qemu-aarch64", "qemu-user")
    exe = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run([gcc, "-static", "-O1", "-o", str(exe), str(PROBE)], check=True)
    out = subprocess.run([qemu, str(exe)], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


IOCTLS = [
    "KVM_GET_API_VERSION",
    "KVM_CREATE_VM",
    "KVM_CHECK_EXTENSION",
    "KVM_GET_VCPU_MMAP_SIZE",
    "KVM_CREATE_VCPU",
    "KVM_SET_USER_MEMORY_REGION",
    "KVM_RUN",
    "KVM_SET_GUEST_DEBUG",
    "KVM_GET_ONE_REG",
    "KVM_SET_ONE_REG",
    "KVM_ARM_VCPU_INIT",
    "KVM_ARM_PREFERRED_TARGET",
]
CONSTANTS = [
    "KVM_API_VERSION",
    "KVM_CAP_SET_GUEST_DEBUG",
    "KVM_CAP_ONE_REG",
    "KVM_CAP_GUEST_DEBUG_HW_BPS",
    "KVM_CAP_GUEST_DEBUG_HW_WPS",
    "KVM_CAP_IMMEDIATE_EXIT",
    "KVM_ARM_VCPU_POWER_OFF",
    "KVM_ARM_VCPU_PSCI_0_2",
    "KVM_EXIT_FAIL_ENTRY",
    "KVM_REG_ARM64",
    "KVM_REG_SIZE_U32",
    "KVM_REG_SIZE_U64",
    "KVM_REG_SIZE_U128",
    "KVM_REG_ARM_CORE",
    "KVM_REG_ARM64_SYSREG",
]


@pytest.mark.parametrize("name", IOCTLS + CONSTANTS)
def test_numbers_match_the_headers(headers, name):
    assert getattr(uapi, name) == headers[name], f"{name}: {getattr(uapi, name):#x}"


def test_the_contracts_records_carry_the_kernels_numbers(headers):
    """abi.py (the contract both backends share) writes KVM's numbers as enum values."""
    assert abi.KVM_ARM_MAX_DBG_REGS == headers["KVM_ARM_MAX_DBG_REGS"]
    for member in abi.GuestDebug:
        if member:
            assert member.value == headers[f"KVM_GUESTDBG_{member.name}"], member
    names = {"BUDGET": "INTR"}  # the contract's name for KVM_EXIT_INTR says what it means
    for member in abi.ExitReason:
        assert member.value == headers[f"KVM_EXIT_{names.get(member.name, member.name)}"]
    for member in abi.SystemEventType:
        assert member.value == headers[f"KVM_SYSTEM_EVENT_{member.name}"]


def test_struct_sizes_and_kvm_run_offsets(headers):
    assert uapi.MEMORY_REGION.size == headers["sizeof_memory_region"]
    assert uapi.ONE_REG.size == headers["sizeof_one_reg"]
    assert uapi.VCPU_INIT.size == headers["sizeof_vcpu_init"]
    assert uapi.GUEST_DEBUG.size == headers["sizeof_guest_debug"]
    assert headers["guest_debug_arch"] == 8  # control, pad, then the slots
    assert headers["guest_debug_wvr"] == 8 + 3 * 16 * 8
    assert uapi.RUN_IMMEDIATE_EXIT == headers["run_immediate_exit"]
    assert uapi.RUN_EXIT_REASON == headers["run_exit_reason"]
    base = uapi.RUN_EXIT
    assert (base, base + 4, base + 8) == (
        headers["run_debug_hsr"],
        headers["run_debug_hsr_high"],
        headers["run_debug_far"],
    )
    # the struct formats put each field where the header does
    parts = ["Q", "8s", "I", "B"]  # phys_addr, data, len, is_write
    assert uapi.MMIO_EXIT.format == "<" + "".join(parts)
    mmio = [base + struct.calcsize("<" + "".join(parts[:i])) for i in range(4)]
    assert mmio == [headers[f"run_mmio_{f}"] for f in ("phys_addr", "data", "len", "is_write")]
    assert headers["run_system_event_type"] == base
    assert headers["run_fail_entry_reason"] == base
    assert headers["run_fail_entry_cpu"] == base + 8
    assert headers["run_internal_suberror"] == base


def test_core_register_ids(headers):
    for n in range(31):
        assert uapi.core_reg(f"x{n}") & 0xFFFF == headers[f"core_x{n}"] // 4
    for name in ("sp", "pc", "pstate", "sp_el1", "elr_el1", "spsr0", "v0", "fpsr", "fpcr"):
        assert uapi.core_reg(name) & 0xFFFF == headers[f"core_{name}"] // 4, name
    assert uapi.core_reg("pc") == headers["id_pc"]
    assert uapi.core_reg("fpsr") == headers["id_fpsr"]


def test_system_register_ids(headers):
    assert uapi.ESR_EL1 == uapi.sys_reg(3, 0, 5, 2, 0) == headers["id_esr_el1"]
    assert uapi.MDSCR_EL1 == headers["id_mdscr_el1"]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: uapi.core_reg("x31"), ["'x31'", "x30"]),
        (lambda: uapi.sys_reg(4, 0, 0, 0, 0), ["op0=4", "0..3"]),
        (lambda: uapi.sys_reg(3, 0, 16, 0, 0), ["crn=16", "0..15"]),
        (lambda: uapi.sys_reg(3, 0, 0, 0, True), ["op2=True"]),
    ],
)
def test_bad_register_names_and_fields_are_named(call, words):
    with pytest.raises(ValueError) as e:
        call()
    for word in words:
        assert word in str(e.value)


def test_guest_debug_packs_the_contracts_record():
    arch = abi.GuestDebugArch(dbg_bcr=(0x1E5,) + (0,) * 15, dbg_wvr=(0,) * 15 + (0x4000,))
    control = abi.GuestDebug.ENABLE | abi.GuestDebug.USE_HW
    raw = uapi.pack_guest_debug(control, arch)
    fields = uapi.GUEST_DEBUG.unpack(raw)
    assert fields[0] == 0x20001 and fields[1] == 0
    assert fields[2] == 0x1E5  # dbg_bcr[0]
    assert fields[2 + 4 * 16 - 1] == 0x4000  # dbg_wvr[15]
    assert uapi.pack_guest_debug(abi.GuestDebug.ENABLE) == struct.pack("<II", 1, 0) + bytes(
        512
    )


def test_read_exit_decodes_each_record():
    run = bytearray(4096)

    def fill(reason: int, fmt: struct.Struct, *values: object) -> uapi.RunExit:
        run[:] = bytes(4096)
        struct.pack_into("<I", run, uapi.RUN_EXIT_REASON, reason)
        fmt.pack_into(run, uapi.RUN_EXIT, *values)
        return uapi.read_exit(run)

    # what real KVM gave for BRK #0x99 (../shared/KVM.md)
    e = fill(abi.ExitReason.DEBUG, uapi.DEBUG_EXIT, 0xF2000099, 0, 0)
    assert e.debug == abi.DebugExit(0xF2000099) and e.debug.ec == 0x3C
    e = fill(abi.ExitReason.DEBUG, uapi.DEBUG_EXIT, 0xD2000022, 0, 0x1234_5678)
    assert e.debug is not None and e.debug.far == 0x1234_5678
    e = fill(
        abi.ExitReason.MMIO, uapi.MMIO_EXIT, 0x0900_0000, b"\x41\x42\x43\x44" + bytes(4), 2, 1
    )
    assert e.mmio == (0x0900_0000, b"AB", True)
    e = fill(abi.ExitReason.SYSTEM_EVENT, uapi.SYSTEM_EVENT_EXIT, 1, 1)
    assert e.system_event == abi.SystemEventType.SHUTDOWN
    e = fill(uapi.KVM_EXIT_FAIL_ENTRY, uapi.FAIL_ENTRY_EXIT, 0x33, 0)
    assert "0x33" in e.detail
    e = fill(abi.ExitReason.INTERNAL_ERROR, uapi.INTERNAL_EXIT, 1, 0)
    assert "suberror 1" in e.detail
