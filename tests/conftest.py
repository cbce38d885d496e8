"""Shared test helpers.

``require_tool`` is how a test says it needs an outside program: on a laptop without it
the test is skipped with the install hint; in CI (``CI=true``) a missing tool is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} not found: install it with `apt-get install {debian_package}`"
    if IN_CI:
        pytest.fail(msg + " (CI must run every test)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def loop_elf(tmp_path_factory):
    """``tests/gdb/loop.S`` as a static AArch64 Linux ELF, built once per run.

    The Linux loader, the stub and the gdb transcript tests all run it; tests read it and
    never write it.
    """
    from gdb.guests import build_elf

    require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    require_tool("aarch64-linux-gnu-ld", "binutils-aarch64-linux-gnu")
    return build_elf("loop", tmp_path_factory.mktemp("elf"))


# hvc #0 with x0 = PSCI SYSTEM_OFF (0x84000008): how a KVM guest powers itself off.
PSCI_OFF = "movz x0, #0x8400, lsl #16\nmovk x0, #8\nhvc #0"


def guest_with_vectors(rounds: int) -> str:
    """A guest with its own vector table and its own ``BRK #0x99``, looping ``rounds`` times.

    Its EL1 synchronous handler keeps ESR_EL1 in x20, ELR_EL1 + 4 in x21 (and returns
    there, past the BRK) and counts its BRKs in x23; ``loop`` is where a debugger's
    breakpoint goes, ``guest_brk`` the guest's own.
    """
    return f"""
_start: adr x1, vectors
        msr vbar_el1, x1
        mov x0, #{rounds}
loop:   add x7, x7, #1
guest_brk:
        brk #0x99               // the guest's own breakpoint, for its own handler
        subs x0, x0, #1
        b.ne loop
        {PSCI_OFF}
        .balign 2048
vectors:
        .skip 0x200
        mrs x20, esr_el1
        mrs x21, elr_el1
        add x23, x23, #1
        add x21, x21, #4
        msr elr_el1, x21
        eret
"""
