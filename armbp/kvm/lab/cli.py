"""``armbp kvm``: boot the lab, show what real KVM reports, and compare it with the model.

``armbp kvm --check`` only says what is missing. Otherwise the first run fetches Debian's
arm64 kernel and Python into the cache (``--cache``, default ``~/.cache/armbp/kvm``),
boots, prints KVM's capabilities and runs every scenario on both machines.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from armbp.kvm.lab import packages


def _fmt(record: dict) -> str:
    parts = [f"reason {record['reason']}", f"pc {record['pc']:#x}"]
    if "debug" in record:
        parts.append("hsr {:#010x} far {:#x}".format(record["debug"][0], record["debug"][2]))
    if "mmio" in record:
        address, size, write = record["mmio"]
        parts.append(f"mmio {'write' if write else 'read'} {size} at {address:#x}")
    if "system_event" in record:
        parts.append(f"system event {record['system_event']}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="armbp kvm", description=__doc__)
    parser.add_argument("--cache", type=Path, default=None, help="where the packages go")
    parser.add_argument("--check", action="store_true", help="only say what is missing")
    args = parser.parse_args(argv)
    missing = packages.missing_tools()
    if missing:
        print("armbp kvm: the KVM lab needs " + "; ".join(missing), file=sys.stderr)
        print("(the Unicorn lessons do not need any of it)", file=sys.stderr)
        return 2
    if args.check:
        print("armbp kvm: everything the lab needs is here")
        return 0
    from armbp.kvm.lab import machine, scenarios

    try:
        lab = machine.LabMachine(args.cache)
    except (packages.LabUnavailable, machine.LabError) as e:
        print(f"armbp kvm: {e}", file=sys.stderr)
        return 1
    try:
        print(
            f"packages and initramfs ready in {lab.build_seconds:.1f} s; "
            f"boot to the agent in {lab.boot_seconds:.1f} s"
        )
        print(
            "KVM: "
            + ", ".join(f"{k} {v}" for k, v in lab.caps.items() if k != "agent_seconds")
        )
        for s in scenarios.SCENARIOS:
            started = time.monotonic()
            real = scenarios.on_kvm(lab, s)
            took = time.monotonic() - started
            model = scenarios.on_model(s)
            same = "same" if real == model else "DIFFERENT"
            print(f"\n{s.name} ({took * 1e3:.0f} ms on KVM): {same}")
            print(f"  KVM:   {_fmt(real)}")
            if real != model:
                print(f"  model: {_fmt(model)}")
                for key in sorted(set(real) | set(model)):
                    if real.get(key) != model.get(key):
                        print(f"    {key}: KVM {real.get(key)!r}, model {model.get(key)!r}")
    finally:
        lab.close()
    return 0
