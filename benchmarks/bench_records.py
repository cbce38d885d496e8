"""What the hit path's two records cost to make: ``Handled`` (the VMM) and ``Stop`` (the
debugger), as armbp defines them, next to the same fields as a frozen dataclass.

A hit makes one of each. ``@dataclass(frozen=True)`` would make them immutable, but its
``__init__`` sets every field through ``object.__setattr__`` (to get past its own
``__setattr__``), which costs two to three times a plain ``__init__``: the last line says
what that adds to a hit, against a round trip of about 12 µs (``bench_core.py``, section
3). So the records are plain ``@dataclass(slots=True)``: read-only by convention, no
``__dict__``.

Run: ``python benchmarks/bench_records.py`` (or ``make bench``). Prints figures, asserts
nothing. Takes a few seconds.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from dataclasses import dataclass

from armbp.debugger import Stop
from armbp.kvm.abi import DebugExit, Exit, ExitReason
from armbp.table import Breakpoint
from armbp.vmm import Handled, Verdict

NUMBER, REPEAT = 100_000, 15


@dataclass(frozen=True, slots=True)
class FrozenHandled:
    verdict: Verdict
    exit: Exit
    note: str = ""
    breakpoint: Breakpoint | None = None


@dataclass(frozen=True, slots=True)
class FrozenStop:
    reason: Verdict
    pc: int
    exit: Exit
    note: str = ""
    breakpoint: Breakpoint | None = None


def main() -> int:
    print(
        f"armbp hit-path records (Python {sys.version.split()[0]}; µs per record, "
        f"medians of {REPEAT} runs taken in turns)"
    )
    exit_ = Exit(ExitReason.DEBUG, 0x40000, DebugExit(0xF2000000))
    bp = Breakpoint(0x40000, 0xD503201F, 1)
    v = Verdict.BREAKPOINT
    cases = {
        "Handled  @dataclass(slots=True)": lambda: Handled(v, exit_, "ours", bp),
        "Handled  frozen=True, slots=True": lambda: FrozenHandled(v, exit_, "ours", bp),
        "Stop     @dataclass(slots=True)": lambda: Stop(v, 0x40000, exit_, "ours", bp),
        "Stop     frozen=True, slots=True": lambda: FrozenStop(v, 0x40000, exit_, "ours", bp),
        "(an empty call, for scale)": lambda: None,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(REPEAT):
        for name, make in cases.items():
            samples[name].append(timeit.timeit(make, number=NUMBER) / NUMBER)
    median = {name: statistics.median(s) for name, s in samples.items()}
    names = list(cases)
    for i, name in enumerate(names):
        line = f"   {name:<34} {median[name] * 1e6:6.3f} µs"
        if i % 2 == 1 and i < 4:  # the frozen twin: its ratio to armbp's record, per turn
            ratio = statistics.median(
                a / b for a, b in zip(samples[name], samples[names[i - 1]], strict=False)
            )
            line += f"   {ratio:4.2f}× armbp's"
        print(line)
    extra = (median[names[1]] - median[names[0]]) + (median[names[3]] - median[names[2]])
    print(f"   frozen records would add {extra * 1e6:.2f} µs to every hit (one of each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
