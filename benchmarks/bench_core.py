"""What a breakpoint costs under armbp, next to raw Unicorn and hook-based debugging.

Three comparisons, all in one run, as ratios (medians of repeated measurements):

1. Breakpoints that are never hit: raw ``emu_start`` vs ``Debugger.cont()`` with 1 and
   101 BRKs planted on lines the guest never reaches. Goal ≤ 1.03×: a BRK is free until it
   executes, and the run's time budget (a watchdog thread) must not make Unicorn count.
2. The same breakpoint checked the way hook-based Unicorn debuggers do it, with a Python
   ``UC_HOOK_CODE`` on every instruction. Goal: armbp ≥ 20× faster.
3. The round trip of a hit in a hot loop — ``cont()`` returns a Stop at the breakpoint,
   ``cont()`` again, step-over included — against the cheapest hook-based equivalent: a
   per-address hook that calls ``emu_stop``, resumed with ``emu_start``; for every class
   of instruction under the breakpoint (straight-line, load/store, branch, PC-relative),
   side by side. Goal ≤ 2× for each.

Run: ``python benchmarks/bench_core.py`` (or ``make bench``). Prints figures, asserts
nothing. Takes about a minute.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from collections.abc import Callable

from unicorn import UC_ARCH_ARM64, UC_HOOK_CODE, UC_HOOK_INTR, UC_MODE_ARM, Uc

from armbp import assemble
from armbp.debugger import Debugger, StopReason
from armbp.program import Program

BASE = 0x40000
NEVER = (1 << 64) - 1
REPEAT = 9


def loop_program(iterations: int, unreached: int = 101) -> Program:
    """A counting loop that ends with PSCI SYSTEM_OFF, then ``unreached`` lines never run."""
    filler = "\n".join(f"cold{i}: add x9, x9, #{i % 4096}" for i in range(unreached))
    hi, lo = iterations >> 16, iterations & 0xFFFF
    return assemble(
        f"""
_start: movz x0, #{lo}
        movk x0, #{hi}, lsl #16
loop:   add x1, x1, #1
        subs x0, x0, #1
        b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
{filler}
""",
        base=BASE,
        name="bench",
    )


# The classes of section 3, each on one line of the loop of ``classes_program``:
# (label, symbol of its breakpoint, class).
CLASSES = [
    ("add x1, x1, #1", "loop", "straight-line"),
    ("ldr x2, [x6]", "load", "load/store"),
    ("str x1, [x6, #8]", "store", "load/store"),
    ("nop", "hint", "hint"),
    ("b.ne loop", "again", "branch"),
    ("cbnz x0, 1f", "test", "branch"),
    ("b 1f", "jump", "branch"),
    ("bl leaf", "call", "branch"),
    ("ret", "leaf", "branch"),
    ("adr x4, loop", "adr", "PC-relative"),
    ("adrp x4, loop", "adrp", "PC-relative"),
    ("ldr x3, lit", "literal", "PC-relative"),
    ("ldr q3, lit", "vliteral", "PC-relative"),
]


def classes_program(iterations: int) -> Program:
    """A loop with one instruction of each class of ``CLASSES`` (and a spare ``mrs``,
    stepped in place), ending with PSCI SYSTEM_OFF."""
    hi, lo = iterations >> 16, iterations & 0xFFFF
    src = f"""
_start: movz x0, #{lo}
        movk x0, #{hi}, lsl #16
        adr x6, data
loop:   add x1, x1, #1
load:   ldr x2, [x6]
store:  str x1, [x6, #8]
test:   cbnz x0, 1f
        b .
1:
jump:   b 1f
        b .
1:
call:   bl leaf
adr:    adr x4, loop
adrp:   adrp x4, loop
literal: ldr x3, lit
vliteral: nop                   // ldr q3, lit (encoded below: the assembler has no FP)
hint:   nop
spare:  mrs x9, midr_el1
        subs x0, x0, #1
again:  b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
leaf:   ret
        .balign 16
lit:    .quad 1, 2
data:   .quad 0, 0
"""
    prog = assemble(src, base=BASE, name="bench-classes")
    # LDR Qt (literal), Arm ARM C7.2.192: 0x9c000000 | imm19 << 5 | Rt
    imm19 = (prog.symbols["lit"] - prog.symbols["vliteral"]) // 4 & 0x7FFFF
    return assemble(
        src.replace("vliteral: nop", f"vliteral: .inst {0x9C00_0003 | imm19 << 5:#x}"),
        base=BASE,
        name="bench-classes",
    )


def raw_uc(prog: Program) -> Uc:
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(BASE, 0x10000)
    uc.mem_write(BASE, prog.code)
    uc.hook_add(UC_HOOK_INTR, lambda uc, intno, _: uc.emu_stop())  # ends at the HVC
    return uc


def armbp_run(prog: Program, breakpoints: int) -> Callable[[], object]:
    dbg = Debugger(prog)
    for i in range(breakpoints):
        dbg.break_at(f"cold{i}")

    def run() -> None:
        stop = dbg.cont(30)
        assert stop.reason is StopReason.HALTED, stop

    return run


def hook_debugger(prog: Program, breakpoints: set[int]) -> Callable[[], object]:
    """A hook-based debugger: a Python check of every instruction against a set."""
    uc = raw_uc(prog)
    hits = []

    def on_code(uc, address, size, _):
        if address in breakpoints:
            hits.append(address)
            uc.emu_stop()

    uc.hook_add(UC_HOOK_CODE, on_code)
    return lambda: uc.emu_start(BASE, NEVER)


# -- 3: the round trip of a hit -------------------------------------------------------------------


def hook_round_trips(prog: Program, at: int, until: int = NEVER) -> Callable[[], int]:
    """Cheapest hook-based hit: per-address hook → emu_stop; resume with emu_start."""
    uc = raw_uc(prog)
    state = {"stopped_at": None, "resume_at": None}

    def on_hit(uc, address, size, _):
        if state["resume_at"] == address:  # the instruction we are resuming from
            state["resume_at"] = None
            return
        state["stopped_at"] = address
        uc.emu_stop()

    uc.hook_add(UC_HOOK_CODE, on_hit, begin=at, end=at)

    def run() -> int:
        hits, pc = 0, BASE
        while True:
            uc.emu_start(pc, until)
            if state["stopped_at"] is None:
                return hits
            hits += 1
            pc, state["stopped_at"] = state["stopped_at"], None
            state["resume_at"] = pc

    return run


def armbp_round_trips(prog: Program, where: str, displaced: bool = True) -> Callable[[], int]:
    dbg = Debugger(prog, displaced_step=displaced)
    dbg.break_at(where)

    def run() -> int:
        hits = 0
        while dbg.cont().reason is StopReason.BREAKPOINT:
            hits += 1
        return hits

    return run


def per_hit(setup: Callable[[], Callable[[], int]], hits: int) -> float:
    """Seconds per hit of one fresh run."""
    run = setup()
    t = time.perf_counter()
    got = run()
    assert got == hits, (got, hits)
    return (time.perf_counter() - t) / got


def interleaved(cases: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Medians of each case, measured in turns (A B C A B C ...) so that a busy machine
    slows every case alike. ``"<name>/<first>"`` is the median of the per-turn ratios to
    the first case: the figure that holds when other work shares the machine."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, measure in cases.items():
            samples[name].append(measure())
    out = {name: statistics.median(values) for name, values in samples.items()}
    first = next(iter(cases))
    for name in cases:
        out[f"{name}/{first}"] = statistics.median(
            a / b for a, b in zip(samples[name], samples[first], strict=False)
        )
    return out


def emu_start_costs(prog: Program, hits: int, starts: int = 200) -> tuple[float, float]:
    """µs per call that ``emu_start`` adds with ``timeout=...`` (why armbp has its own
    watchdog), and with a reachable ``until`` instead of one no PC can equal (why armbp
    passes an odd address), measured on the hook-based round trip."""
    uc = raw_uc(prog)
    loop = prog.symbols["loop"]
    uc.mem_write(loop, bytes.fromhex("000020d4"))  # BRK #0: every run stops at once

    def each(timeout: int) -> float:
        t = time.perf_counter()
        for _ in range(starts):
            uc.emu_start(loop, NEVER, timeout=timeout)
        return (time.perf_counter() - t) / starts

    each(0)
    timeout_cost = statistics.median(each(1_000_000) - each(0) for _ in range(3))
    after_loop = prog.symbols["loop"] + 12
    until_cost = statistics.median(
        per_hit(lambda: hook_round_trips(prog, loop, after_loop), hits)
        - per_hit(lambda: hook_round_trips(prog, loop), hits)
        for _ in range(3)
    )
    return timeout_cost * 1e6, until_cost * 1e6


def main() -> int:
    t0 = time.perf_counter()
    print(
        f"armbp core benchmark (Python {sys.version.split()[0]}; medians of runs taken in turns)"
    )

    # 1 -----------------------------------------------------------------------------------------
    big = loop_program(5_000_000)  # 15 M instructions

    def timed(setup: Callable[[], Callable[[], object]]) -> Callable[[], float]:
        def measure() -> float:
            run = setup()
            t = time.perf_counter()
            run()
            return time.perf_counter() - t

        return measure

    t1 = interleaved(
        {
            "raw": timed(lambda: functools.partial(raw_uc(big).emu_start, BASE, NEVER)),
            "one": timed(lambda: armbp_run(big, 1)),
            "many": timed(lambda: armbp_run(big, 101)),
        },
        repeat=REPEAT,
    )
    raw, one, many = t1["raw"], t1["one"], t1["many"]
    r_one, r_many = t1["one/raw"], t1["many/raw"]
    print("\n1. breakpoints never hit (15 M guest instructions)")
    print(f"   raw Unicorn emu_start          {raw * 1e3:8.1f} ms")
    print(f"   armbp cont(), 1 breakpoint     {one * 1e3:8.1f} ms   {r_one:5.3f}× raw")
    print(
        f"   armbp cont(), 101 breakpoints  {many * 1e3:8.1f} ms   {r_many:5.3f}× raw"
        f"   (goal ≤ 1.03×)"
    )

    # 2 -----------------------------------------------------------------------------------------
    small = loop_program(30_000)  # 90 k instructions: the hook is slow
    cold = small.symbols["cold0"]
    t2 = interleaved(
        {
            "hook": timed(lambda: hook_debugger(small, {cold})),
            "ours": timed(lambda: armbp_run(small, 1)),
        },
        repeat=3,
    )
    hooked, ours, speedup = t2["hook"], t2["ours"], 1 / t2["ours/hook"]
    print(
        "\n2. the same unreached breakpoint checked by a per-instruction UC_HOOK_CODE "
        "(90 k instructions)"
    )
    print(f"   hook-based                     {hooked * 1e3:8.1f} ms")
    print(
        f"   armbp (BRK in memory)          {ours * 1e3:8.2f} ms   armbp is "
        f"{speedup:,.0f}× faster (goal ≥ 20×)"
    )

    # 3 -----------------------------------------------------------------------------------------
    hits = 20_000
    hot = classes_program(hits)
    loop = hot.symbols["loop"]

    def hook() -> float:
        return per_hit(lambda: hook_round_trips(hot, loop), hits)

    def ours(where: str, displaced: bool = True) -> Callable[[], float]:
        return lambda: per_hit(lambda: armbp_round_trips(hot, where, displaced), hits)

    t3 = interleaved(
        {"hook": hook, **{label: ours(where) for label, where, _ in CLASSES}}, repeat=7
    )
    slow = interleaved(
        {"hook": hook, "in place": ours("loop", False), "mrs": ours("spare")}, repeat=3
    )
    base_hit = t3["hook"]
    print(
        f"\n3. round trip of a hit in a hot loop ({hits:,} hits: stop at the breakpoint, "
        f"continue), by the class of the instruction under the breakpoint"
    )
    print(
        f"   per-address hook + emu_stop/emu_start   {base_hit * 1e6:6.1f} µs/hit  "
        f"{1 / base_hit:9,.0f} hits/s   1.00× (no time budget)"
    )
    worst = 0.0
    for label, _, kind in CLASSES:
        v, ratio = t3[label], t3[f"{label}/hook"]
        worst = max(worst, ratio)
        print(
            f"   {kind:<13} {label:<25} {v * 1e6:6.1f} µs/hit  {1 / v:9,.0f} hits/s   "
            f"{ratio:4.2f}×"
        )
    print(f"   every class within {worst:4.2f}× of the hook (goal ≤ 2×)")
    for name, label in (
        ("mrs", "in place: a system instruction (mrs)"),
        ("in place", "in place: displaced_step=False (add)"),
    ):
        v = slow[name]
        print(
            f"   {label:<39} {v * 1e6:6.1f} µs/hit  {1 / v:9,.0f} hits/s   "
            f"{slow[name + '/hook']:4.1f}×"
        )
    timeout_cost, until_cost = emu_start_costs(loop_program(hits, unreached=1), hits)
    print(
        f"\n   for reference, per emu_start: timeout=... adds {timeout_cost:.0f} µs (armbp uses "
        f"a watchdog thread), a reachable until adds {until_cost:.1f} µs (armbp passes an "
        f"odd one)"
    )
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
