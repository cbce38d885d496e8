"""``armbp demo``: a narrated trace of one breakpoint, from planting to stepping over it.

The guest has its own vector table and its own ``BRK #0x99`` (as a kernel with its own
debug handler would); the debugger adds a breakpoint in the same loop. The trace shows the
two kinds of BRK taking different roads: ours stops in the debugger, the guest's is
re-injected and handled by the guest, and with no breakpoints left it never leaves the
guest at all.

Plain text; colour only on a terminal, and never with ``NO_COLOR`` set.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import ClassVar, TextIO

from armbp import esr
from armbp.asm import assemble
from armbp.debugger import Debugger, Stop
from armbp.disasm import disassemble_word
from armbp.encodings import from_bytes
from armbp.kvm.abi import GuestDebug
from armbp.program import Program

DEMO_SOURCE = """\
// armbp demo guest: a loop with the guest's own BRK, and a vector table to catch it
_start: adr x1, vectors
        msr vbar_el1, x1        // the guest's exception vectors
        mov x0, #3              // three rounds
loop:   add x7, x7, #1          // the debugger's breakpoint goes here
        brk #0x99               // the guest's own breakpoint, for its own handler
        subs x0, x0, #1
        b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8             // PSCI SYSTEM_OFF
        hvc #0
        .balign 2048
vectors:
        .skip 0x200             // current EL, SP_ELx, synchronous: VBAR_EL1 + 0x200
el1_sync:
        mrs x20, esr_el1        // the syndrome
        mrs x21, elr_el1        // where it happened (the BRK itself)
        add x23, x23, #1        // count the guest's own BRKs
        add x21, x21, #4        // return past the BRK
        msr elr_el1, x21
        eret
"""


def demo_program() -> Program:
    """The guest the demo runs."""
    return assemble(DEMO_SOURCE, base=0x40000, name="demo")


class _Out:
    """Narration with optional ANSI colour."""

    STYLES: ClassVar[dict[str, str]] = {
        "head": "1;36",
        "word": "1;33",
        "ok": "32",
        "note": "2",
        "stop": "1;35",
    }

    def __init__(self, stream: TextIO, colour: bool):
        self.stream, self.colour = stream, colour

    def c(self, style: str, text: str) -> str:
        return f"\x1b[{self.STYLES[style]}m{text}\x1b[0m" if self.colour else text

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream)

    def head(self, text: str) -> None:
        self(self.c("head", f"== {text}"))


def _use_colour(choice: str, stream: TextIO) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def _word(data: bytes) -> str:
    """An instruction word as the listings print it: A64 code is little-endian (Arm ARM "Instruction endianness")."""
    return f"{int.from_bytes(data, 'little'):08x}"


def _flags(flags: int) -> str:
    names = [str(m.name) for m in GuestDebug if m.value and flags & m.value == m.value]
    return f"{' | '.join(names) or 'NONE'} ({flags:#x})"


def _exits_since(dbg: Debugger, mark: int) -> list[str]:
    """The exits handled since ``dbg.events_seen`` was ``mark``, one line each.

    Counted with ``events_seen``, not the log's length: the log is bounded, and once it
    is full its length stays the same while old events drop out of its front.
    """
    new = dbg.events_seen - mark
    kept = list(dbg.events)[-new:] if new > 0 else []
    lost = new - len(kept)
    return ([f"... {lost} earlier exit(s), no longer in the log"] if lost > 0 else []) + [
        h.describe() for h in kept
    ]


def _stop_line(out: _Out, stop: Stop) -> None:
    out(f"   stop: {out.c('stop', stop.reason.name)} at {stop.pc:#x}   exit = {stop.exit!r}")


def run(stream: TextIO = sys.stdout, colour: bool = False) -> int:
    """Narrate the demo to ``stream``; 0 if the guest ended as it should."""
    out = _Out(stream, colour)
    prog = demo_program()
    dbg = Debugger(prog)
    loop, guest_brk = prog.symbols["loop"], prog.symbols["loop"] + 4

    out.head("The guest")
    out(
        f"   {len(prog.code)} bytes at {prog.base:#x}; vector table at "
        f"{prog.symbols['vectors']:#x}; its own `brk #0x99` at {guest_brk:#x}"
    )
    out(
        f"   guest debug flags: {_flags(dbg.vcpu.guest_debug)} (no breakpoints: nothing traps)"
    )

    out.head("break_at('loop'): plant a software breakpoint")
    bp = dbg.break_at("loop")
    out(
        f"   saved the instruction at {loop:#x}: {out.c('word', f'{bp.saved_insn:08x}')}  "
        f"({disassemble_word(bp.saved_insn, loop)})"
    )
    raw = from_bytes(dbg.raw_memory(loop, 4))
    out(
        f"   wrote the BRK word {out.c('word', f'{raw:08x}')}  ({disassemble_word(raw, loop)}),"
        f" then flushed the translated code of {loop:#x}..{loop + 4:#x} "
        f"(the emulator's DC CVAU + IC IVAU + ISB)"
    )
    out(f"   table non-empty → KVM_SET_GUEST_DEBUG {_flags(dbg.vcpu.guest_debug)}")

    out.head("cont(): the guest runs into our BRK")
    mark = dbg.events_seen
    stop = dbg.cont()
    _stop_line(out, stop)
    debug = stop.exit.debug
    assert debug is not None  # a breakpoint stop comes from KVM_EXIT_DEBUG
    syndrome = esr.decode(debug.hsr)
    out(
        f"   hsr={debug.hsr:#010x}: EC 0x{syndrome.ec:02X} = {syndrome.ec_name}, "
        f"IL = {syndrome.il}, ISS (the BRK's imm16) = {debug.hsr & 0xFFFF:#x}"
    )
    entry = dbg.table.find(stop.pc)
    out(
        f"   table lookup of pc {stop.pc:#x}: "
        + (out.c("ok", f"ours (saved_insn {entry.saved_insn:08x})") if entry else "not ours")
    )
    shown = dbg.read_memory(loop, 4)
    out(
        f"   read_memory({loop:#x}, 4) = {shown.hex(' ')} = word {_word(shown)} (the original, "
        f"as GDB expects); memory really holds word {_word(dbg.raw_memory(loop, 4))}"
    )

    out.head("step(): one instruction, from the breakpoint")
    out(
        "   restore the saved instruction, flush, single-step (KVM_GUESTDBG_SINGLESTEP), "
        "write the BRK again, flush"
    )
    stop = dbg.step()
    _stop_line(out, stop)
    out(
        f"   x7 = {dbg.read_register('x7')} (the add ran once); BRK back at {loop:#x}: "
        f"{_word(dbg.raw_memory(loop, 4))}"
    )

    out.head("cont(): the guest's own BRK #0x99 traps too — but it is not ours")
    mark = dbg.events_seen
    stop = dbg.cont()
    for line in _exits_since(dbg, mark):
        out(f"   exit: {line}")
    out(
        f"   the guest's handler ran: ESR_EL1 = {dbg.read_register('x20'):#010x}, "
        f"ELR_EL1 = {dbg.read_register('x21') - 4:#x} (the BRK itself), "
        f"its count x23 = {dbg.read_register('x23')}"
    )
    _stop_line(out, stop)

    out.head("cont() from the breakpoint again: a displaced step, no restore needed")
    out(
        "   the saved instruction runs from a scratch slot followed by `b loop+4`; "
        "the BRK stays in memory"
    )
    mark = dbg.events_seen
    stop = dbg.cont()
    for line in _exits_since(dbg, mark):
        out(f"   exit: {line}")

    out.head("delete('loop'): the table is empty, the trap is switched off")
    dbg.delete("loop")
    out(
        f"   restored {_word(dbg.raw_memory(loop, 4))} at {loop:#x}; guest debug flags: "
        f"{_flags(dbg.vcpu.guest_debug)}"
    )
    mark = dbg.events_seen
    stop = dbg.cont()
    for line in _exits_since(dbg, mark):
        out(f"   exit: {line}")
    out(
        f"   the guest's BRK never left the guest: its handler count x23 = "
        f"{dbg.read_register('x23')}"
    )
    _stop_line(out, stop)

    out.head("Summary")
    out(
        f"   debugger hits: {', '.join(f'{pc:#x} × {n}' for pc, n in dbg.hits.items())}; "
        f"step-overs: {dbg.step_overs}"
    )
    ok = stop.reason.name == "HALTED" and dbg.read_register("x23") == 3
    out(out.c("ok", "   the guest powered off normally") if ok else "   unexpected ending")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="armbp demo",
        description="Narrated trace: a software breakpoint planted, trapped, handled by the "
        "VMM, stepped over; the guest's own BRK re-injected.",
    )
    parser.add_argument(
        "--color",
        "--colour",
        choices=("auto", "always", "never"),
        default="auto",
        help="ANSI colour (auto: only on a terminal, and not with NO_COLOR)",
    )
    parser.add_argument(
        "--source", action="store_true", help="print the guest's source and exit"
    )
    args = parser.parse_args(argv)
    if args.source:
        print(DEMO_SOURCE, end="")
        return 0
    try:
        return run(sys.stdout, _use_colour(args.color, sys.stdout))
    except BrokenPipeError:  # `armbp demo | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
