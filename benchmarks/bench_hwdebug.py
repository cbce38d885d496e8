"""What hardware breakpoints and watchpoints cost under armbp, side by side in one run.

1. Slots that are never hit: raw ``emu_start`` of a load/add/store loop vs
   ``Debugger.cont()`` with a watchpoint (write, read, access) on a page the loop does not
   touch, and with a hardware breakpoint on a line never executed. Goal ≤ 1.05× raw.
2. A watched loop (a loop that stores to the watched variable N times, with some other
   work in each pass): armbp's watchpoint through the Python API (``cont()`` per store,
   each stop stepped past with old and new value) vs GDB's software watchpoint (``set
   can-use-hw-watchpoints 0``, ``watch counter``: GDB single-steps every instruction and
   compares the value), real gdb-multiarch against ``armbp gdbserver`` on the same loop
   built as a static ELF. Goal: armbp ≥ 100× faster.
3. The same ratio swept over the work between two stores: a loop that updates the
   watched counter once per outer pass and runs an inner loop of other work in between
   (8, 59 and 599 instructions a pass), as a student watching a variable does. GDB's
   software watchpoint steps every one of those instructions; armbp's stops once a
   store, so the ratio grows with the work: the lines say for which loop it holds.

Run: ``python benchmarks/bench_hwdebug.py [--stores N] [--armbp-stores N] [--sweep-stores N]`` (or ``make bench``). Prints
figures, asserts nothing. Part 2 needs gdb-multiarch and binutils-aarch64-linux-gnu.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_core import BASE, NEVER, interleaved, raw_uc
from bench_gdb import SCRIPT
from bench_gdb import run as gdb_run

from armbp import assemble
from armbp.debugger import Debugger, StopReason
from armbp.program import Program

REPEAT = 9
ELSEWHERE = (
    0x20_0000  # a page of its own, mapped for the watchpoint: the loop never touches it
)
WORK = "\n".join(f"    add x{9 + i}, x{9 + i}, #{i + 1}" for i in range(6))


def memory_loop(iterations: int) -> Program:
    """A loop that loads, adds and stores on its own data page, then PSCI SYSTEM_OFF;
    ``cold`` is never executed."""
    hi, lo = iterations >> 16, iterations & 0xFFFF
    return assemble(
        f"""
_start: movz x0, #{lo}
        movk x0, #{hi}, lsl #16
        adr x6, data
loop:   ldr x2, [x6]
        add x2, x2, #1
        str x2, [x6]
        subs x0, x0, #1
        b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
cold:   add x9, x9, #1
        .balign 8
data:   .quad 0
""",
        base=BASE,
        name="bench-memory",
    )


def raw(prog: Program) -> Callable[[], float]:
    def measure() -> float:
        uc = raw_uc(prog)
        t = time.perf_counter()
        uc.emu_start(prog.entry, NEVER)
        return time.perf_counter() - t

    return measure


def armbp(prog: Program, arm: Callable[[Debugger], object] | None) -> Callable[[], float]:
    def measure() -> float:
        dbg = Debugger(prog)
        dbg.vcpu.map(ELSEWHERE, 0x1000)
        if arm is not None:
            arm(dbg)
        t = time.perf_counter()
        stop = dbg.cont(60)
        elapsed = time.perf_counter() - t
        assert stop.reason is StopReason.HALTED, stop
        return elapsed

    return measure


WATCHED_PASS = f"""
loop:
    add x2, x2, #1
    str x2, [x1]
{WORK}
    subs x3, x3, #1
    b.ne loop
"""


def inner_pass(inner: int) -> tuple[str, int]:
    """An outer pass that stores the counter once, then loops ``inner`` times over one
    add of other work; and how many instructions the pass executes."""
    return (
        f"""
loop:
    add x2, x2, #1
    str x2, [x1]
    mov x4, #{inner}
inner:
    add x9, x9, #1
    subs x4, x4, #1
    b.ne inner
    subs x3, x3, #1
    b.ne loop
""",
        5 + 3 * inner,
    )


SWEEP = (1, 18, 198)  # inner iterations: 8, 59 and 599 instructions a pass


def watched_loop(stores: int, body: str = WATCHED_PASS) -> Program:
    return assemble(
        f"""
_start: adr x1, counter
        mov x2, #0
        movz x3, #{stores}
{body}
        movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc #0
        .balign 8
counter: .quad 0
""",
        base=BASE,
        name="bench-watched",
    )


WATCHED_ELF = """
    .global _start
    .text
_start:
    adr x1, counter
    mov x2, #0
    ldr x3, =STORES
PASS
    mov x0, #0
    mov x8, #93          // exit
    svc #0
    .data
    .balign 8
counter: .quad 0
"""

# bench_gdb's timed loop of `continue`s, with GDB's software watchpoint instead of a break
GDB_SCRIPT = SCRIPT.replace(
    "break hot\ncontinue\n", "set can-use-hw-watchpoints 0\nwatch *(long *)&counter\n"
)
assert "watch *(long *)&counter" in GDB_SCRIPT


def armbp_watched(stores: int, body: str = WATCHED_PASS) -> tuple[float, int]:
    dbg = Debugger(watched_loop(stores, body))
    dbg.watch("counter")
    seen = 0
    t = time.perf_counter()
    while True:
        stop = dbg.cont(60)
        if stop.reason is not StopReason.WATCHPOINT:
            break
        seen += 1
        assert stop.new_value == seen, stop
    return time.perf_counter() - t, seen


def armbp_median(stores: int, body: str = WATCHED_PASS) -> tuple[float, int]:
    """``armbp_watched`` three times: the run of median time (a 2-core machine is noisy)."""
    runs = sorted(armbp_watched(stores, body) for _ in range(3))
    return runs[1]


def gdb_software_watch(
    stores: int, stops: int, tmp: pathlib.Path, body: str = WATCHED_PASS
) -> float:
    src = tmp / "watched.S"
    src.write_text(WATCHED_ELF.replace("STORES", str(stores)).replace("PASS", body))
    obj, elf = tmp / "watched.o", tmp / "watched.elf"

    subprocess.run(["aarch64-linux-gnu-as", "-o", str(obj), str(src)], check=True)
    subprocess.run(["aarch64-linux-gnu-ld", "-static", "-o", str(elf), str(obj)], check=True)
    script = tmp / "watch.gdb"
    script.write_text(GDB_SCRIPT.format(stops=stops))
    return gdb_run(
        [sys.executable, "-m", "armbp.gdbserver", "--port", "0", str(elf)],
        True,
        elf,
        script,
        0,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=2_000_000)
    ap.add_argument("--stores", type=int, default=200, help="stores of gdb's part 2 loop")
    ap.add_argument(
        "--armbp-stores",
        type=int,
        default=2000,
        help="stores of armbp's loops (a stop is ~0.1 ms: 200 of them are noise-sized)",
    )
    ap.add_argument(
        "--sweep-stores", type=int, default=8, help="stores per loop of part 3 (gdb is slow)"
    )
    args = ap.parse_args()

    prog = memory_loop(args.iterations)
    cases = {
        "raw": raw(prog),
        "armbp, no slot": armbp(prog, None),
        "watch write elsewhere": armbp(prog, lambda d: d.watch(ELSEWHERE, 8, "write")),
        "watch read elsewhere": armbp(prog, lambda d: d.watch(ELSEWHERE, 8, "read")),
        "watch access elsewhere": armbp(prog, lambda d: d.watch(ELSEWHERE, 8, "access")),
        "hbreak never hit": armbp(prog, lambda d: d.hbreak_at("cold")),
    }
    got = interleaved(cases, REPEAT)
    print(f"1. never hit: {args.iterations} passes of ldr/add/str, medians of {REPEAT} turns")
    for name in cases:
        print(f"  {name:24s} {got[name] * 1e3:8.1f} ms   {got[f'{name}/raw']:5.2f}x raw")
    print("     (goal <= 1.05x raw)")

    print(
        f"2. a watched loop: stores to `counter`, 10 instructions a pass (armbp: the median "
        f"of 3 loops of {args.armbp_stores} stores; gdb: {args.stores} stores)"
    )
    t_armbp, seen = armbp_median(args.armbp_stores)
    print(
        f"  armbp watch (Python API)  {t_armbp:8.3f} s   "
        f"{t_armbp / seen * 1e6:8.1f} us/stop  ({seen} stops, old/new each)"
    )
    if not (shutil.which("gdb-multiarch") and shutil.which("aarch64-linux-gnu-as")):
        print("  gdb software watchpoint: gdb-multiarch or binutils missing, not measured")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        stops = args.stores - 1  # the last store's stop, then the program exits
        t_gdb = gdb_software_watch(args.stores, stops, pathlib.Path(tmp))
    print(
        f"  gdb software watchpoint   {t_gdb:8.3f} s   {t_gdb / stops * 1e6:8.1f} us/stop  "
        f"(set can-use-hw-watchpoints 0, against armbp gdbserver)"
    )
    per_armbp, per_gdb = t_armbp / seen, t_gdb / stops
    print(f"  ratio gdb/armbp per stop  {per_gdb / per_armbp:8.1f}x   (goal >= 100x)")

    print(
        "3. the ratio by the work between two stores: stores to `counter` once per outer "
        f"pass, an inner loop of `add` between (per stop: armbp over {args.armbp_stores} stores, "
        f"gdb over {args.sweep_stores})"
    )
    for inner in SWEEP:
        body, per_pass = inner_pass(inner)
        t_armbp, seen = armbp_median(args.armbp_stores, body)
        with tempfile.TemporaryDirectory() as tmp:
            stops = args.sweep_stores - 1
            t_gdb = gdb_software_watch(args.sweep_stores, stops, pathlib.Path(tmp), body)
        per_armbp, per_gdb = t_armbp / seen, t_gdb / stops
        print(
            f"  {per_pass:4d} instructions a pass: armbp {per_armbp * 1e6:8.1f} us/stop, "
            f"gdb software watchpoint {per_gdb * 1e6:9.1f} us/stop, "
            f"ratio {per_gdb / per_armbp:7.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
