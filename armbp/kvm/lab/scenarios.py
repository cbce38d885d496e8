"""The same guest on the Unicorn model and on real KVM: scenarios and their exit records.

Each scenario is a few lines of assembly at ``BASE`` (where the lab's memory slot sits),
the guest-debug control to set, registers to preset and a budget. ``on_model`` and
``on_kvm`` run it and return the same plain record: exit reason, pc, the debug record
(hsr, hsr_high, far), the MMIO record, the system event, and x0-x5 afterwards. Where the
two records differ, either the model is wrong or the difference is listed with its reason
(``tests/test_kvm_lab.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from armbp.asm import assemble
from armbp.hwdebug import HwBreakpoint, Watchpoint
from armbp.kvm.abi import KVM_ARM_MAX_DBG_REGS, GuestDebug, GuestDebugArch

BASE = 0x4000_0000  # where guest RAM starts in QEMU's "virt" machine
PSCI_OFF = "movz x0, #0x8400, lsl #16\nmovk x0, #8\nhvc #0"
_SW = GuestDebug.ENABLE | GuestDebug.USE_SW_BP
_STEP = GuestDebug.ENABLE | GuestDebug.SINGLESTEP
_HW = GuestDebug.ENABLE | GuestDebug.USE_HW
DATA = BASE + 0x2000  # the watched doubleword, on a page of its own (see _DATA_PAGE)
_DATA_PAGE = ".balign 0x2000\ndata: .quad 0, 0\n"


@dataclass(frozen=True)
class Scenario:
    """One guest, one run."""

    name: str
    source: str
    control: GuestDebug = GuestDebug.NONE
    registers: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.5
    hw: tuple[HwBreakpoint | Watchpoint, ...] = ()  # the debugger's slots (USE_HW)

    def arch(self) -> GuestDebugArch | None:
        """``kvm_guest_debug_arch`` for ``hw``, encoded as armbp's debugger encodes it."""
        if not self.hw:
            return None
        regs = {name: [0] * KVM_ARM_MAX_DBG_REGS for name in ("bcr", "bvr", "wcr", "wvr")}
        for item in self.hw:
            if isinstance(item, HwBreakpoint):
                regs["bcr"][item.slot], regs["bvr"][item.slot] = item.bcr, item.address
            else:
                regs["wcr"][item.slot], regs["wvr"][item.slot] = item.registers()
        return GuestDebugArch(**{f"dbg_{k}": tuple(v) for k, v in regs.items()})


def _watched(code: str, size: int, kind: str, at: int = 0, tail: str = "b .") -> Scenario:
    name = f"{kind} watchpoint on {size} byte{'s' * (size > 1)} at data+{at}, {code}"
    if tail != "b .":
        name += f" then {tail}"
    return Scenario(
        name,
        f"{code}\n{tail}\n{_DATA_PAGE}",
        _HW,
        {"x1": DATA, "x0": 0x1122334455667788},
        hw=(Watchpoint(0, DATA + at, size, kind),),
    )


SCENARIOS = (
    Scenario("our BRK #0", "brk #0", _SW),
    Scenario("our BRK #0x99", "brk #0x99", _SW),
    Scenario("step over add", "add x0, x1, x1\nnop", _STEP, {"x1": 2}),
    Scenario("step over a branch", "b 1f\nnop\n1: nop", _STEP),
    Scenario("step over a load", "ldr x0, [x1]\nnop", _STEP, {"x1": BASE + 0x100}),
    Scenario("step over a store", "str x0, [x1]\nnop", _STEP, {"x1": BASE + 0x100}),
    Scenario("step over LDXR", "ldxr x0, [x1]\nnop", _STEP, {"x1": BASE + 0x100}),
    Scenario(
        "the guest's own BRK, no debugger",
        "adr x1, vec\nmsr vbar_el1, x1\nbrk #5\n.balign 2048\nvec: .skip 0x200\n"
        "mrs x2, esr_el1\nmrs x3, elr_el1\nb .",
        seconds=0.3,
    ),
    Scenario(
        "the guest's own BRK under ENABLE alone",
        "adr x1, vec\nmsr vbar_el1, x1\nbrk #5\n.balign 2048\nvec: .skip 0x200\n"
        "mrs x2, esr_el1\nb .",
        GuestDebug.ENABLE,
        seconds=0.3,
    ),
    Scenario(
        "a single step over the guest's own BRK",
        "adr x1, vec\nmsr vbar_el1, x1\nbrk #5\n.balign 2048\nvec: .skip 0x200\n"
        "mrs x2, esr_el1\nb .",
        _STEP,
        {"pc": BASE + 8},
    ),
    Scenario("PSCI SYSTEM_OFF", f"mov x1, #1\nmov x2, #2\nmov x3, #3\n{PSCI_OFF}"),
    Scenario("MMIO read outside RAM", "ldr x0, [x1]", registers={"x1": 0x0900_0000}),
    Scenario(
        "MMIO write outside RAM", "str w0, [x1]", registers={"x1": 0x0900_0000, "x0": 0x41}
    ),
    Scenario("a runaway guest and its budget", "b .", seconds=0.3),
    Scenario(
        "hardware breakpoint", "nop\nadd x0, x1, x1\nnop", _HW, hw=(HwBreakpoint(0, BASE + 4),)
    ),
    _watched("str x0, [x1]", 8, "write"),
    _watched("ldr x0, [x1]", 8, "read"),
    _watched("str x0, [x1]", 8, "access"),
    _watched("ldr x0, [x1]", 8, "access"),
    _watched("strb w0, [x1, #3]", 1, "write", at=3),
    _watched("ldrb w0, [x1, #3]", 1, "read", at=3),
    _watched("str x0, [x1]", 1, "write", at=6),  # an 8-byte store over one watched byte
    _watched("str x0, [x1, #5]", 2, "write", at=8),  # a store that straddles into it
    _watched("ldr x0, [x1, #5]", 2, "read", at=8),
    _watched("str x0, [x1, #8]", 8, "write"),  # the doubleword beside: no hit
    _watched("ldr x0, [x1]", 8, "read", tail="udf #0"),  # the load's block ends in UDF
)

_AFTER = ("x0", "x1", "x2", "x3", "x4", "x5")


def on_model(s: Scenario) -> dict[str, Any]:
    """Run ``s`` on the Unicorn model (``armbp.kvm.unicorn.VCpu``)."""
    from armbp.kvm.unicorn import VCpu

    return _record(VCpu(assemble(s.source, base=BASE)), s)


def on_kvm(machine: Any, s: Scenario) -> dict[str, Any]:
    """Run ``s`` on real KVM in a lab machine, through the very backend the Debugger uses
    with ``backend="kvm-lab"`` (``armbp.kvm.lab.backend.LabVCpu``)."""
    from armbp.kvm.lab.backend import LabVCpu

    return _record(LabVCpu(assemble(s.source, base=BASE), lab=machine), s)


def _record(cpu: Any, s: Scenario) -> dict[str, Any]:
    """Preset, arm, run once, and the plain record of what came out: the same calls on
    either backend (``armbp.kvm.backend.Backend``)."""
    for name, value in s.registers.items():
        cpu.write_register(name, value)
    cpu.set_guest_debug(s.control, s.arch())
    e = cpu.run(s.seconds)
    record: dict[str, Any] = {"reason": int(e.reason), "pc": e.pc}
    if e.debug is not None:
        record["debug"] = (e.debug.hsr, e.debug.hsr_high, e.debug.far)
    if e.mmio is not None:
        record["mmio"] = (e.mmio.address, e.mmio.size, e.mmio.access == "write")
    if e.system_event is not None:
        record["system_event"] = int(e.system_event.type)
    return record | {name: cpu.read_register(name) for name in _AFTER}
