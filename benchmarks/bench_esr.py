"""How fast armbp.esr decodes, and how fast ``armbp esr`` starts.

    .venv/bin/python benchmarks/bench_esr.py [--values N] [--runs N]

Prints figures only (goal: >= 100,000 decodes/s on one core). Decode speed is measured over
fresh random values (every value new, so the whole-result memo never hits; the per-field
caches warm up as they would over a long log), over values quoted from kernel logs (which
repeat, as in a real log), and over a mix. CLI start-up is the median wall time of
``python -m armbp.cli esr 0x96000045`` run as a subprocess.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from armbp.esr import EC, decode

# Values quoted from public kernel logs and the DESIGN.md syndromes.
REAL = [
    0x96000045,
    0x8600000E,
    0x86000004,
    0x86000007,
    0xF2000800,
    0x34000002,
    0x1FE00000,
    0x92000047,
    0xF2000000,
    0xCB000022,
    0xC2000022,
    0xD2000062,
    0x56000000,
    0x5A000000,
]


def random_values(n: int, rng: random.Random) -> list[int]:
    """Half fully random 64-bit values, half random ISS/ISS2 under an allocated EC."""
    ecs = [int(ec) for ec in EC]
    out = []
    for i in range(n):
        if i % 2:
            out.append(rng.getrandbits(64))
        else:
            out.append(rng.getrandbits(24) << 32 | rng.choice(ecs) << 26 | rng.getrandbits(26))
    return out


def rate(values: list[int]) -> float:
    start = time.perf_counter()
    for v in values:
        decode(v)
    return len(values) / (time.perf_counter() - start)


def cli_startup(runs: int) -> list[float]:
    times = []
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "armbp.cli", "esr", "0x96000045"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=100_000, help="values per decode run")
    ap.add_argument("--runs", type=int, default=7, help="CLI start-up runs")
    args = ap.parse_args()
    rng = random.Random(0xE5)

    first = random_values(args.values, rng)
    print(f"decode, random values, first pass (caches cold): {rate(first):>12,.0f} /s")
    fresh = random_values(args.values, rng)
    print(f"decode, random values, fresh (caches warm):      {rate(fresh):>12,.0f} /s")
    real = [REAL[i % len(REAL)] for i in range(args.values)]
    print(f"decode, kernel-log values (repeating):           {rate(real):>12,.0f} /s")
    mix = random_values(args.values // 2, rng) + real[: args.values // 2]
    rng.shuffle(mix)
    print(f"decode, mix of new random and log values:        {rate(mix):>12,.0f} /s")

    times = cli_startup(args.runs)
    print(
        f"CLI start-up, python -m armbp.cli esr 0x96000045: median "
        f"{statistics.median(times) * 1000:.0f} ms over {args.runs} runs "
        f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(
        f"  (bare interpreter start-up for comparison: "
        f"{(time.perf_counter() - start) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
