"""Lesson 8's view of real KVM: the model and the kernel side by side, or what is missing.

The KVM lab (:mod:`armbp.kvm.lab`) boots Debian's arm64 Linux in ``qemu-system-aarch64``
with EL2, so the kernel's own KVM runs, and an agent inside drives ``/dev/kvm`` on
request. This module is what the lesson's cells call: it opens the session's lab machine
once, runs guests on both machines and formats their exit records as plain text, which
nbval compares. Nothing it prints varies from run to run (no timings, no host addresses).

Why a module and not cells: where the lab cannot start (no ``qemu-system-aarch64``, no
Debian archive to fetch the kernel from) every function here says in one line what is
missing (the lab's own ``LabUnavailable``/``LabError`` message) instead of raising, and the
lesson's model half still runs.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from . import esr
from .asm import assemble
from .kvm.abi import KVM_ARM_MAX_DBG_REGS, Budget, ExitReason, GuestDebug
from .kvm.devkvm import uapi
from .kvm.lab import packages, scenarios

if TYPE_CHECKING:  # the machine module needs fcntl and termios: imported when a lab starts
    from .kvm.lab.machine import LabMachine


@dataclass(frozen=True)
class NoLab:
    """The lab did not start here; ``reason`` says what is missing and how to get it."""

    reason: str

    def __str__(self) -> str:
        return f"real KVM is not available here: {self.reason}"


Lab = Union["LabMachine", NoLab]


def open_lab(cache: Path | None = None) -> Lab:
    """The session's lab machine (booted on first use, ~10-25 s), or why it cannot start.

    Missing tools are found before anything is fetched or booted, so a machine without
    QEMU answers at once; a failed fetch or boot comes back as its message, not raised.
    """
    missing = packages.missing_tools()
    if missing:
        return NoLab("the KVM lab needs " + "; ".join(missing))
    from .kvm.lab import machine

    try:
        return machine.shared(cache)
    except (packages.LabUnavailable, machine.LabError) as e:
        return NoLab(str(e))


def lab_summary(lab: Lab) -> str:
    """What the kernel inside says about itself: the answers a VMM asks for first."""
    if isinstance(lab, NoLab):
        return str(lab)
    c = lab.caps
    return (
        "real KVM answers from inside the emulated machine:\n"
        f"  KVM_GET_API_VERSION            {c['api']}\n"
        f"  KVM_CAP_SET_GUEST_DEBUG        {c['set_guest_debug']}\n"
        f"  KVM_CAP_GUEST_DEBUG_HW_BPS     {c['hw_bps']} hardware breakpoint slots\n"
        f"  KVM_CAP_GUEST_DEBUG_HW_WPS     {c['hw_wps']} watchpoint slots\n"
        f"  KVM_CAP_IMMEDIATE_EXIT         {c['immediate_exit']}"
    )


def abi_layout() -> str:
    """The C layouts a VMM uses for guest debugging, with offsets and sizes from ``uapi``.

    ``tests/test_kvm_uapi.py`` compiles the same ``offsetof``/``sizeof`` against the arm64
    kernel headers, so what this prints is what ``<linux/kvm.h>`` says.
    """
    head = struct.calcsize("<II")  # control, pad
    slots = 8 * KVM_ARM_MAX_DBG_REGS  # one __u64 array of the arch part
    rows = [
        (
            f"struct kvm_guest_debug: {uapi.GUEST_DEBUG.size} bytes "
            f"(KVM_SET_GUEST_DEBUG = {uapi.KVM_SET_GUEST_DEBUG:#x})"
        ),
        "  offset   0  __u32 control",
        "  offset   4  __u32 pad",
        *(
            f"  offset {head + n * slots:3}  __u64 arch.{name}[{KVM_ARM_MAX_DBG_REGS}]"
            for n, name in enumerate(("dbg_bcr", "dbg_bvr", "dbg_wcr", "dbg_wvr"))
        ),
        f"struct kvm_run (mmap'd from the vCPU fd; KVM_RUN = {uapi.KVM_RUN:#x}):",
        f"  offset {uapi.RUN_IMMEDIATE_EXIT:3}  __u8  immediate_exit",
        f"  offset {uapi.RUN_EXIT_REASON:3}  __u32 exit_reason",
        f"  offset {uapi.RUN_EXIT:3}  __u32 debug.arch.hsr",
        f"  offset {uapi.RUN_EXIT + 4:3}  __u32 debug.arch.hsr_high",
        f"  offset {uapi.RUN_EXIT + head:3}  __u64 debug.arch.far",
        (
            f"struct kvm_one_reg: {uapi.ONE_REG.size} bytes (KVM_GET_ONE_REG = "
            f"{uapi.KVM_GET_ONE_REG:#x}, KVM_SET_ONE_REG = {uapi.KVM_SET_ONE_REG:#x}); "
            f"the pc is register {uapi.core_reg('pc'):#x}"
        ),
    ]
    return "\n".join(rows)


def control_names(control: int) -> str:
    """``0x10001`` → ``ENABLE | USE_SW_BP``: the KVM_GUESTDBG_* flags of a control word."""
    names = [f.name for f in GuestDebug if f.value and control & f.value == f.value]
    return " | ".join(n for n in names if n is not None) or "NONE"


def ioctl_tour(lab: Lab, source: str = "brk #0", control: int | None = None) -> str:
    """Run ``source`` once on real KVM through the lab's vCPU (``LabVCpu``), saying which
    ioctls each step is inside the emulated machine and what KVM answered."""
    if isinstance(lab, NoLab):
        return str(lab)
    from .kvm.lab.backend import LabVCpu

    if control is None:
        control = int(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    program = assemble(source, base=scenarios.BASE)
    cpu = LabVCpu(program, lab=lab)
    cpu.set_guest_debug(GuestDebug(control))
    e = cpu.run(0.5)
    lines = [
        (
            "new vCPU    KVM_CREATE_VM; KVM_SET_USER_MEMORY_REGION (the program's pages, a "
            "scratch page, a stack);"
        ),
        (
            "            KVM_CREATE_VCPU; KVM_ARM_PREFERRED_TARGET; KVM_ARM_VCPU_INIT; "
            f"KVM_SET_ONE_REG pc = {program.entry:#x}"
        ),
        f"guest_debug KVM_SET_GUEST_DEBUG control {control:#x} ({control_names(control)})",
        (
            f"run         KVM_RUN; run->exit_reason = {int(e.reason)} "
            f"({_reason_name(int(e.reason))}); KVM_GET_ONE_REG pc = {e.pc:#x}"
        ),
    ]
    if e.debug is not None:
        d = e.debug
        lines.append(
            f"            run->debug.arch: hsr {d.hsr:#010x}, hsr_high {d.hsr_high:#x}, "
            f"far {d.far:#x}\n            ({esr.decode(d.hsr).summary})"
        )
    return "\n".join(lines)


# The kernel's names of the exits the lab meets (<linux/kvm.h>); the model's ExitReason
# uses the same numbers with names of its own (BUDGET is KVM_EXIT_INTR).
KVM_EXIT_NAMES = {
    4: "KVM_EXIT_DEBUG",
    5: "KVM_EXIT_HLT",
    6: "KVM_EXIT_MMIO",
    9: "KVM_EXIT_FAIL_ENTRY",
    10: "KVM_EXIT_INTR",
    17: "KVM_EXIT_INTERNAL_ERROR",
    24: "KVM_EXIT_SYSTEM_EVENT",
}


def _reason_name(reason: int) -> str:
    return KVM_EXIT_NAMES.get(reason, f"exit {reason}")


# The guests lesson 8 shows side by side: a breakpoint, a step, a hardware breakpoint and
# a watchpoint, from the lab's scenarios (every one of which the lab test compares).
SIDE_BY_SIDE = (
    "our BRK #0",
    "step over add",
    "hardware breakpoint",
    "write watchpoint on 8 bytes at data+0, str x0, [x1]",
)


def scenario(name: str) -> scenarios.Scenario:
    """The lab scenario called ``name`` (``ValueError`` naming the known ones otherwise)."""
    for s in scenarios.SCENARIOS:
        if s.name == name:
            return s
    known = ", ".join(repr(s.name) for s in scenarios.SCENARIOS)
    raise ValueError(f"no scenario {name!r}; expected one of {known}")


def _row(machine_name: str, record: dict[str, Any]) -> str:
    try:
        reason = ExitReason(record["reason"]).name
    except ValueError:
        reason = str(record["reason"])
    if "debug" in record:
        hsr, _high, far = record["debug"]
        d = esr.decode(hsr)
        debug = f"{hsr:#010x}  {f'EC 0x{d.ec:02X} {d.ec_name}':<34}  {far:#12x}"
    else:
        debug = f"{'-':10}  {'-':34}  {'-':>12}"
    return f"  {machine_name:<6} {reason:<6} {debug}  {record['pc']:#x}"


def side_by_side(lab: Lab, names: Sequence[str] = SIDE_BY_SIDE) -> str:
    """The same guests on the Unicorn model and on real KVM: exit, hsr decoded, far, pc."""
    lines = [f"  {'':6} {'exit':6} {'hsr':10}  {'EC':34}  {'far':>12}  pc"]
    for name in names:
        s = scenario(name)
        lines += [name, _row("model", scenarios.on_model(s))]
        lines.append(
            f"  {'KVM':6} ({lab.reason})"
            if isinstance(lab, NoLab)
            else _row("KVM", scenarios.on_kvm(lab, s))
        )
    return "\n".join(lines)


def differences(lab: Lab) -> str:
    """Every lab scenario on both machines: how many give the same record, and each
    field that differs (the record: reason, pc, hsr/hsr_high/far, MMIO, system event,
    x0-x5 afterwards)."""
    if isinstance(lab, NoLab):
        return str(lab)
    lines, same = [], 0
    for s in scenarios.SCENARIOS:
        real, model = scenarios.on_kvm(lab, s), scenarios.on_model(s)
        if real == model:
            same += 1
            continue
        for key in sorted(set(real) | set(model)):
            if real.get(key) != model.get(key):
                lines.append(
                    f"  {s.name}: {key}: KVM {real.get(key)!r}, model {model.get(key)!r}"
                )
    total = len(scenarios.SCENARIOS)
    head = f"{total} scenarios on both machines: {same} give the same exit record"
    if same == total:
        return head + ", every field equal"
    return "\n".join([head + "; these differ:", *lines])


COUNTING = "loop: add x0, x0, #1\n      b loop"


def budgets(lab: Lab, instructions: int = 1000) -> str:
    """The model's exact instruction budget beside KVM's time budget, on a counting loop.

    Why: KVM has no instruction count (``KVM_RUN`` runs until an exit, a signal or
    ``immediate_exit``), so the same guest stops after an exact number of instructions
    only on the model, and the lab's vCPU refuses such a budget; on real KVM the count
    after a time budget depends on how fast the host ran.
    """
    from .kvm.unicorn import VCpu

    counts = []
    for _ in range(2):
        cpu = VCpu(assemble(COUNTING, base=scenarios.BASE))
        e = cpu.run(Budget(seconds=5.0, instructions=instructions))
        counts.append((e.reason.name, cpu.read_register("x0")))
    lines = [
        f"model, Budget(instructions={instructions}), twice: "
        + "; ".join(f"{reason}, x0 = {x0}" for reason, x0 in counts)
    ]
    if isinstance(lab, NoLab):
        return "\n".join([*lines, f"KVM: {lab}"])
    from .kvm.lab.backend import LabVCpu

    try:
        LabVCpu(assemble(COUNTING, base=scenarios.BASE), lab=lab).run(
            Budget(seconds=5.0, instructions=instructions)
        )
        lines.append(f"KVM, Budget(instructions={instructions}): ran (not expected)")
    except ValueError as refused:
        lines.append(f"KVM, Budget(instructions={instructions}): refused: {refused}")
    real = scenarios.on_kvm(lab, scenarios.Scenario("count for 0.3 s", COUNTING, seconds=0.3))
    lines.append(
        f"KVM, 0.3 s (then immediate_exit and a signal): {_reason_name(real['reason'])}, "
        f"x0 {'> 0: it counted, as far as this host was fast' if real['x0'] else '= 0'}"
    )
    return "\n".join(lines)


COUNTDOWN = """\
_start: mov  x0, #3
loop:   subs x0, x0, #1
        b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8             // PSCI SYSTEM_OFF
        hvc  #0
"""  # lesson 0's first guest


def _debug_session(backend: str, source: str) -> list[tuple[str, str]]:
    """``(what was done, what the Debugger answered)`` for one session on ``backend``:
    a breakpoint at ``loop``, continue, step, continue, delete it, continue to the end."""
    from .debugger import Debugger

    dbg = Debugger(source, backend=backend)
    bp = dbg.break_at("loop")
    rows = [
        (
            "break_at('loop')",
            f"memory at {bp.pc:#x} holds {dbg.raw_memory(bp.pc, 4)[::-1].hex()}",
        )
    ]
    for what, act in (("cont()", dbg.cont), ("step()", dbg.step), ("cont()", dbg.cont)):
        stop = act()
        hsr = f"; hsr {stop.exit.debug.hsr:#010x}" if stop.exit.debug is not None else ""
        rows.append((what, f"{stop.message}; x0 = {dbg.read_register('x0'):#x}{hsr}"))
    dbg.delete("loop")
    stop = dbg.cont()
    rows.append(("delete, cont()", f"{stop.message}; x0 = {dbg.read_register('x0'):#x}"))
    return rows


def same_debugger(lab: Lab, source: str = COUNTDOWN) -> str:
    """One Debugger session on ``backend="unicorn"`` and on ``backend="kvm-lab"``, row by
    row, and whether every answer was the same."""
    model = _debug_session("unicorn", source)
    if isinstance(lab, NoLab):
        rows = [f"{what:<17} unicorn: {said}" for what, said in model]
        return "\n".join([*rows, f"{'':17} kvm-lab: {lab}"])
    real = _debug_session("kvm-lab", source)
    rows = []
    for (what, said), (_, real_said) in zip(model, real, strict=True):
        rows += [f"{what:<17} unicorn: {said}", f"{'':17} kvm-lab: {real_said}"]
    same = sum(a == b for a, b in zip(model, real, strict=True))
    rows.append(f"{same} of {len(model)} answers the same on both backends")
    return "\n".join(rows)


NOWHERE = """\
        movz x1, #0x900, lsl #16    // 0x09000000: no memory slot there
        br   x1
"""


def _describe(record: dict[str, Any]) -> str:
    text = f"{_reason_name(record['reason'])} at pc {record['pc']:#x}"
    if "mmio" in record:
        address, size, is_write = record["mmio"]
        text += f": an MMIO {'write' if is_write else 'read'} of {size} bytes at {address:#x}"
    return text


def fetch_from_nowhere(lab: Lab) -> str:
    """A jump to an address with no memory behind it, on both machines: the one place
    where the model and KVM are known to part (``tests/test_kvm_backend.py`` lists it).

    KVM cannot hand a VMM an instruction fetch to emulate, so it injects a prefetch abort
    into the guest, whose vector (VBAR_EL1 = 0) has no memory either: the guest spins
    inside KVM until the budget. The model exits with an MMIO record for the fetch.
    """
    s = scenarios.Scenario("a jump to where no memory is", NOWHERE, seconds=0.3)
    lines = [f"model: {_describe(scenarios.on_model(s))}"]
    kvm = str(lab) if isinstance(lab, NoLab) else _describe(scenarios.on_kvm(lab, s))
    return "\n".join([*lines, f"KVM:   {kvm}"])
