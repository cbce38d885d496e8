"""The C programs of tests/c/ built with musl instead of glibc, under qemu-aarch64 and armbp.

musl starts up differently from glibc (``set_tid_address`` first, ``ioctl(TIOCGWINSZ)`` to
ask whether stdout is a terminal, ``writev`` for stdio, ``mremap`` in ``realloc``) and
makes threads differently (``CLONE_DETACHED`` in ``clone``, condition variables that
requeue their futex waiters). Debian has no aarch64 musl cross compiler, but its
``musl-dev:arm64`` package carries musl's start files, ``libc.a``, headers and a gcc specs
file for aarch64: Debian's ``aarch64-linux-gnu-gcc -specs …/musl-gcc.specs`` links with
them (``build_musl``). Each program's stdout and exit status must be what ``qemu-aarch64``
gives, through ``armbp run`` and the Python API, and one gdb session must print the same
transcript against both stubs (normalised as ``test_c_programs.normalise`` states).
"""

from __future__ import annotations

import pathlib
import re
import struct
import subprocess

import pytest
import test_c_programs
from conftest import IN_CI, require_tool
from test_c_programs import (
    HERE,
    STDIN,
    _api_run,
    _armbp_run,
    _qemu_run,
    assert_sessions_equal,
)
from test_linux_threads import BUF, CLONE, FUTEX, THREAD, _kernel, _word

from armbp.linux import uapi as u
from armbp.linux.threads import RUNNABLE, WAITING

# the fixtures of the glibc programs' tests: the same tools, the same stub processes
gdb, qemu, stubs = test_c_programs.gdb, test_c_programs.qemu, test_c_programs.stubs
MUSL = pathlib.Path("/usr/lib/aarch64-linux-musl")
MUSL_HINT = (
    "dpkg --add-architecture arm64 && apt-get update && "
    "apt-get install gcc-aarch64-linux-gnu musl-dev:arm64"
)
PROGRAMS = ["loop", "factorial", "structs", "heap", "null", "reader", "abort", "protect"]


def build_musl(out: pathlib.Path, names: list[str]) -> dict[str, pathlib.Path]:
    """tests/c/NAME.c for each name, linked statically against musl into ``out``.

    Debian's cross gcc with musl's specs file (what ``aarch64-linux-musl-gcc`` of
    ``musl-dev:arm64`` runs): the specs put musl's headers first and link crt1.o, crti.o,
    the program, libc.a, libgcc and crtn.o. A missing piece fails in CI, skips elsewhere
    with the install hint."""
    cc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    specs = MUSL / "musl-gcc.specs"
    missing = [p.name for p in (specs, MUSL / "libc.a", MUSL / "crt1.o") if not p.exists()]
    if missing:
        msg = f"musl for arm64 lacks {', '.join(missing)} in {MUSL}: {MUSL_HINT}"
        if IN_CI:
            pytest.fail(msg + " (CI must run every test)")
        pytest.skip(msg)
    elves = {}
    for name in names:
        elf = out / name
        argv = [cc, "-specs", str(specs), "-static", "-g", "-O0", "-pthread"]
        proc = subprocess.run(
            [*argv, "-o", str(elf), str(HERE / f"{name}.c")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode:
            pytest.fail(f"cannot build {name}.c with musl: {proc.stderr.strip()[:400]}")
        elves[name] = elf
    return elves


@pytest.fixture(scope="module")
def musl(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Every program, built with musl once."""
    return build_musl(tmp_path_factory.mktemp("musl"), [*PROGRAMS, "threads"])


@pytest.mark.parametrize("name", ["factorial", "heap"])
def test_musl_makes_the_same_system_calls_under_armbp_as_under_qemu(musl, qemu, name):
    """The programs are musl's, not glibc's (no glibc banner in the ELF; musl's first
    call is ``set_tid_address``, glibc's ``brk``), and armbp's log names the same system
    calls in the same order as ``qemu-aarch64 -strace`` (stdout a pipe in both)."""
    from armbp.linux import LinuxProcess

    elf = musl[name]
    assert b"GNU C Library" not in elf.read_bytes()
    traced = subprocess.run([qemu, "-strace", str(elf)], capture_output=True, timeout=60)
    want = re.findall(r"^\d+ (\w+)\(", traced.stderr.decode(), re.MULTILINE)
    calls: list[str] = []
    proc = LinuxProcess(elf, [str(elf)], stdout=lambda _: None, log=calls.append)
    proc.run(proc.launch(), 60)
    names = [m.group(1) for c in calls if (m := re.match(r"syscall \d+ (\w+):", c))]
    assert names == want and want[0] == "set_tid_address", (names, want)


# --- the system calls musl needs that glibc did not ------------------------------------------
def test_clone_accepts_musls_clone_detached_as_the_kernel_does():
    """musl's pthread_create adds CLONE_DETACHED (0x400000), a flag Linux accepts and
    ignores: a thread, with the flag named in the note, not ``-EINVAL``."""
    s, mem = _kernel()
    r = s(CLONE, [THREAD | u.CLONE_DETACHED, 0x5000_0000, BUF + 0x10, 0x1234, BUF + 0x20])
    assert r.value == 2 and list(s.threads.threads) == [1, 2], r.note
    assert "CLONE_DETACHED" in r.note and _word(mem, BUF + 0x10) == 2


def _three_waiters(s) -> None:
    """Threads 2, 3, 4 wait on the word at BUF (it holds 0); thread 1 runs again."""
    for _ in range(3):
        assert s(CLONE, [THREAD, 0x5000_0000, BUF + 0x10, 0, BUF + 0x20]).value > 1
    for tid in (2, 3, 4):
        s.threads.current = tid
        assert s(FUTEX, [BUF, u.FUTEX_WAIT, 0, 0, 0, 0]).schedule == "block"
    s.threads.current = 1


def test_futex_requeue_wakes_some_and_moves_the_rest_to_the_second_word():
    """FUTEX_REQUEUE (musl's pthread_cond_broadcast: wake 0, move 1 to the mutex): the
    oldest waiters wake, the next ones wait on uaddr2, the rest stay; the result counts
    woken and moved together."""
    s, _ = _kernel()
    _three_waiters(s)
    other = BUF + 0x40
    r = s(FUTEX, [BUF, u.FUTEX_REQUEUE | u.FUTEX_PRIVATE_FLAG, 1, 1, other, 0])
    assert r.value == 2 and "1 woken, 1 moved" in r.note
    t = s.threads.threads
    assert t[2].state == RUNNABLE and t[2].result == 0
    assert (t[3].state, t[3].futex) == (WAITING, other)
    assert (t[4].state, t[4].futex) == (WAITING, BUF)
    assert s(FUTEX, [BUF, u.FUTEX_WAKE, 5, 0, 0, 0]).value == 1  # only thread 4 left here
    assert s(FUTEX, [other, u.FUTEX_WAKE, 5, 0, 0, 0]).value == 1  # thread 3 moved there


def test_futex_cmp_requeue_checks_the_word_and_bad_counts_change_nothing():
    s, mem = _kernel()
    _three_waiters(s)
    other = BUF + 0x40
    mem.write(BUF, struct.pack("<I", 7))
    stale = s(FUTEX, [BUF, u.FUTEX_CMP_REQUEUE, 0, 3, other, 6])
    negative = s(FUTEX, [BUF, u.FUTEX_REQUEUE, -1 & 0xFFFF_FFFF, 1, other, 0])
    unaligned = s(FUTEX, [BUF, u.FUTEX_REQUEUE, 0, 1, other + 2, 0])
    unmapped = s(FUTEX, [0x10, u.FUTEX_CMP_REQUEUE, 0, 1, other, 7])
    assert (stale.value, negative.value) == (-u.EAGAIN, -u.EINVAL)
    assert (unaligned.value, unmapped.value) == (-u.EINVAL, -u.EFAULT)
    assert all(s.threads.threads[tid].futex == BUF for tid in (2, 3, 4))  # nothing moved
    assert s(FUTEX, [BUF, u.FUTEX_CMP_REQUEUE, 0, 3, other, 7]).value == 3
    assert all(s.threads.threads[tid].futex == other for tid in (2, 3, 4))


# --- stdout and exit status ----------------------------------------------------------------
@pytest.mark.parametrize("name", [*PROGRAMS, "threads"])
def test_musl_program_output_and_status_equal_qemu(musl, qemu, name):
    elf, stdin = musl[name], STDIN.get(name, b"")
    want_out, want_status = _qemu_run(qemu, elf, stdin)
    out, st, err = _armbp_run(elf, stdin)
    assert (out, st) == (want_out, want_status), err
    assert "ENOSYS" not in err, err  # musl needs no call armbp lacks


@pytest.mark.parametrize("name", ["heap", "null"])
def test_musl_program_through_the_python_api_equals_qemu(musl, qemu, name):
    elf = musl[name]
    want_out, want_status = _qemu_run(qemu, elf, b"")
    out, end = _api_run(elf, b"")
    assert (out, end.status) == (want_out, want_status), end


def test_musl_stdio_line_buffers_the_debuggers_terminal(musl):
    """musl asks ``ioctl(TIOCGWINSZ)`` (glibc ``TCGETS``) whether stdout is a terminal; the
    Debugger's output is one, so each line shows at the next breakpoint, not at exit."""
    from armbp.debugger import Debugger, StopReason

    dbg = Debugger.from_elf(str(musl["loop"]))
    dbg.break_at("report")
    seen = []
    while dbg.cont().reason is StopReason.BREAKPOINT:
        seen.append(dbg.stdout.count("\n"))
    assert seen == [0, 1, 2, 3, 4] and dbg.stdout.endswith("step 5, total 15\n")
    assert dbg.end.code == 15 % 7


# --- a gdb session -------------------------------------------------------------------------
@pytest.mark.parametrize("name", test_c_programs.PROGRAMS)
def test_musl_gdb_session_equals_qemu(musl, gdb, qemu, stubs, name):
    """Each script of the glibc programs (break by line and function, ``bt``,
    ``next``/``step``/``finish``/``until``, ``print`` of a struct and an array, ``watch``
    on a global, SIGSEGV, stdin, three threads, the exit code): the same transcript
    against ``armbp gdbserver`` and ``qemu-aarch64 -g``."""
    assert_sessions_equal(gdb, qemu, stubs, musl[name], name)
