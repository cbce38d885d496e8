"""Threads in the Linux layer: clone, futex, exit of one thread, scheduling on one vCPU.

The system calls are checked over a bytearray (``Syscalls`` alone); the switch of
registers over a real vCPU; and pthread programs built with Debian's cross gcc against
``qemu-aarch64`` (the same output and exit status).
"""

from __future__ import annotations

import pathlib
import re
import struct
import subprocess
import sys
import time

import pytest
from conftest import require_tool

from armbp.linux import Syscalls
from armbp.linux import uapi as u
from armbp.linux.memory import AddressSpace
from armbp.linux.threads import CONTEXT, EXITED, RUNNABLE, WAITING, Threads, load, save
from armbp.memory import BytearrayMemory

HERE = pathlib.Path(__file__).resolve().parent / "c"
ROOT = HERE.parent
BUF = 0x10000
THREAD = (
    u.CLONE_VM
    | u.CLONE_FS
    | u.CLONE_FILES
    | u.CLONE_SIGHAND
    | u.CLONE_THREAD
    | u.CLONE_SYSVSEM
    | u.CLONE_SETTLS
    | u.CLONE_PARENT_SETTID
    | u.CLONE_CHILD_CLEARTID
)  # what glibc 2.36's pthread_create passes (qemu-aarch64 -strace shows it)
CLONE, FUTEX, EXIT, EXIT_GROUP, GETTID, SCHED_YIELD, TGKILL = 220, 98, 93, 94, 178, 124, 131


def _kernel() -> tuple[Syscalls, BytearrayMemory]:
    mem = BytearrayMemory(0x10000, BUF)
    space = AddressSpace(lambda a, n, p: None, lambda a, n: None, lambda a, n, p: None)
    return Syscalls(mem, 0x100000, None, print, print, space=space), mem


def _word(mem: BytearrayMemory, at: int) -> int:
    return struct.unpack("<I", mem.read(at, 4))[0]


# --- clone ------------------------------------------------------------------------------
def test_clone_with_the_thread_flags_makes_a_thread_and_reports_its_tid():
    s, mem = _kernel()
    r = s(CLONE, [THREAD, 0x5000_0000, BUF + 0x10, 0x1234_5678, BUF + 0x20])
    assert r.value == 2 and r.schedule == "spawn" and r.child == (2, 0x5000_0000, 0x1234_5678)
    assert _word(mem, BUF + 0x10) == 2  # CLONE_PARENT_SETTID
    assert s.threads.threads[2].clear_child_tid == BUF + 0x20  # CLONE_CHILD_CLEARTID
    assert s.threads.current == 1 and s(GETTID, []).value == 1
    assert "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD" in r.note


def test_fork_like_and_unknown_clone_flags_are_refused_with_the_flags_named():
    s, _ = _kernel()
    fork = s(CLONE, [17, 0, 0, 0, 0])  # fork() on arm64: clone(SIGCHLD)
    assert fork.value == -u.ENOSYS and "SIGCHLD" in fork.note and "fork" in fork.note
    vfork = s(CLONE, [THREAD | u.CLONE_VFORK, 0x5000_0000, 0, 0, 0])
    assert vfork.value == -u.EINVAL and "unsupported CLONE_VFORK" in vfork.note
    no_vm = s(CLONE, [u.CLONE_THREAD | u.CLONE_SIGHAND, 0x5000_0000, 0, 0, 0])
    assert no_vm.value == -u.EINVAL and "a thread needs CLONE_VM" in no_vm.note
    assert s(CLONE, [THREAD, 0, 0, 0, 0]).value == -u.EINVAL  # no stack
    for number in (435, 221):  # clone3 (glibc falls back to clone), execve
        assert s(number, [0] * 6).value == -u.ENOSYS
    vfork = s(CLONE, [u.CLONE_VM | u.CLONE_VFORK | 17, 0, 0, 0, 0])
    assert vfork.value == -u.ENOSYS and "(vfork)" in vfork.note
    assert list(s.threads.threads) == [1]  # nothing was made


def test_a_refused_clone_is_one_warning_line_naming_its_flags(caplog):
    """Without a syscall log, the refusal reaches the "armbp.linux" logger, flags named."""
    import logging

    from armbp.linux import LinuxProcess

    class Cpu:  # just what _serve reads: x8 and x0-x5
        def __init__(self, **regs: int):
            self.regs = regs

        def read_register(self, name: str) -> int:
            return self.regs.get(name, 0)

    proc = LinuxProcess.__new__(LinuxProcess)
    proc.log, proc.exit_code = None, None
    proc.syscalls, _ = _kernel()
    with caplog.at_level(logging.WARNING, logger="armbp.linux"):
        proc._serve(Cpu(x8=CLONE, x0=THREAD | u.CLONE_VFORK, x1=0x5000_0000))
        proc._serve(Cpu(x8=CLONE, x0=17))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "unsupported CLONE_VFORK" in lines[0]
    assert "SIGCHLD" in lines[1] and "fork" in lines[1]


def test_a_clone_with_a_bad_pointer_is_efault_and_makes_no_thread():
    s, _ = _kernel()
    r = s(CLONE, [THREAD, 0x5000_0000, 0x10, 0, BUF])  # parent_tid unmapped
    assert r.value == -u.EFAULT and list(s.threads.threads) == [1]


# --- futex --------------------------------------------------------------------------------
def test_futex_wait_blocks_only_while_the_word_holds_the_value():
    s, mem = _kernel()
    mem.write(BUF, struct.pack("<I", 7))
    assert s(FUTEX, [BUF, u.FUTEX_WAIT | u.FUTEX_PRIVATE_FLAG, 6, 0, 0, 0]).value == -u.EAGAIN
    r = s(FUTEX, [BUF, u.FUTEX_WAIT | u.FUTEX_PRIVATE_FLAG, 7, 0, 0, 0])
    assert r.schedule == "block" and s.threads.running.state == WAITING
    assert s.threads.running.futex == BUF and s.threads.running.deadline is None
    assert s(FUTEX, [BUF + 1, u.FUTEX_WAIT, 7, 0, 0, 0]).value == -u.EINVAL  # unaligned


def test_futex_wake_wakes_as_many_as_asked_and_bitsets_select():
    s, _ = _kernel()
    t = s.threads
    for tid, bits in ((2, 1), (3, 2), (4, 3)):
        t.spawn()
        t.current = tid
        t.wait(BUF, bits, None)
    t.current = 1
    r = s(FUTEX, [BUF, u.FUTEX_WAKE_BITSET, 10, 0, 0, 2])
    assert r.value == 2 and [t.threads[i].state for i in (2, 3, 4)] == [
        WAITING,
        RUNNABLE,
        RUNNABLE,
    ]
    assert t.threads[3].result == 0  # the wait returns 0 when the thread runs again
    assert s(FUTEX, [BUF, u.FUTEX_WAKE | u.FUTEX_PRIVATE_FLAG, 1, 0, 0, 0]).value == 1
    assert s(FUTEX, [BUF, u.FUTEX_WAKE, 1, 0, 0, 0]).value == 0  # nobody left
    assert s(FUTEX, [BUF, u.FUTEX_WAIT_BITSET, 0, 0, 0, 0]).value == -u.EINVAL  # bitset 0
    assert s(FUTEX, [BUF, 5, 0, 0, 0, 0]).value == -u.ENOSYS  # WAKE_OP: not modelled


def test_futex_timeouts_relative_for_wait_absolute_for_wait_bitset():
    s, mem = _kernel()
    mem.write(BUF, bytes(4))
    mem.write(BUF + 0x10, struct.pack("<qq", 0, 200_000_000))  # 0.2 s from now
    before = time.monotonic()
    s(FUTEX, [BUF, u.FUTEX_WAIT, 0, BUF + 0x10, 0, 0])
    assert 0.19 < s.threads.running.deadline - before < 0.3
    s.threads.running.state = RUNNABLE
    now = time.clock_gettime_ns(time.CLOCK_REALTIME) + 500_000_000
    mem.write(BUF + 0x10, struct.pack("<qq", *divmod(now, 1_000_000_000)))
    op = u.FUTEX_WAIT_BITSET | u.FUTEX_CLOCK_REALTIME | u.FUTEX_PRIVATE_FLAG
    s(FUTEX, [BUF, op, 0, BUF + 0x10, 0, u.FUTEX_BITSET_MATCH_ANY])  # pthread_join's
    assert 0.4 < s.threads.running.deadline - time.monotonic() < 0.55
    s.threads.running.state = RUNNABLE
    mem.write(BUF + 0x10, struct.pack("<qq", 0, 2_000_000_000))
    assert s(FUTEX, [BUF, u.FUTEX_WAIT, 0, BUF + 0x10, 0, 0]).value == -u.EINVAL
    assert s.threads.running.state == RUNNABLE  # a bad timespec blocks nobody


def test_a_timed_wait_ends_with_etimedout_and_a_wait_for_ever_is_a_deadlock():
    t = Threads(1)
    t.wait(BUF, u.FUTEX_BITSET_MATCH_ANY, time.monotonic() + 0.05)
    assert t.pick() is t.running and t.running.result == -u.ETIMEDOUT
    t.wait(BUF, u.FUTEX_BITSET_MATCH_ANY, None)
    started = time.monotonic()
    assert t.pick() is None and time.monotonic() - started < 0.05  # at once, no hang
    assert "deadlock" in t.deadlock_note() and f"futex {BUF:#x}" in t.deadlock_note()


# --- exit, gettid, signals ---------------------------------------------------------------
def test_exit_of_one_thread_clears_and_wakes_its_tid_word_exit_group_ends_all():
    s, mem = _kernel()
    s(CLONE, [THREAD, 0x5000_0000, BUF, 0, BUF + 4])
    mem.write(BUF + 4, struct.pack("<I", 2))
    s.threads.wait(BUF + 4, u.FUTEX_BITSET_MATCH_ANY, None)  # main joins: waits on it
    s.threads.current = 2
    assert s(GETTID, []).value == 2
    r = s(EXIT, [0])
    assert r.schedule == "thread-exit" and not r.exited and "thread 2 ends" in r.note
    assert _word(mem, BUF + 4) == 0 and s.threads.threads[1].state == RUNNABLE
    assert s.threads.threads[2].state == EXITED
    s.threads.current = 1
    assert s(EXIT, [3]).exited  # the last thread: the process ends
    s2, _ = _kernel()
    s2(CLONE, [THREAD, 0x5000_0000, BUF, 0, 0])
    assert s2(EXIT_GROUP, [4]).exited and s2(EXIT_GROUP, [4]).value == 4


def test_tgkill_reaches_any_live_thread_of_the_process():
    s, _ = _kernel()
    s(CLONE, [THREAD, 0x5000_0000, BUF, 0, 0])
    assert s(TGKILL, [1, 2, 0]).value == 0  # signal 0: does thread 2 exist?
    assert s(TGKILL, [1, 3, 0]).value == -u.ESRCH
    assert s(SCHED_YIELD, []).schedule == "yield"


# --- registers on the vCPU ------------------------------------------------------------------
def test_a_switch_saves_and_loads_every_register_of_the_context():
    """Each register of CONTEXT round-trips through save/load: distinct values written,
    saved, overwritten, loaded back."""
    from armbp.asm import assemble
    from armbp.kvm.unicorn import VCpu

    vcpu = VCpu(assemble("nop"))
    vcpu.write_register("pstate", 0x6000_0000)  # EL0t, Z and C set
    want = {}
    for i, name in enumerate(CONTEXT):
        if name == "pstate":
            continue
        value = (0x1111 * (i + 1)) << (64 if name.startswith("v") else 4)
        value &= (1 << 32) - 1 if name in ("fpsr", "fpcr") else (1 << 128) - 1
        if name in ("fpsr", "fpcr"):
            value = 0x0800_0000 if name == "fpsr" else 0x0100_0000  # QC; FZ
        if name == "pc":
            value = 0x40_0000
        vcpu.write_register(name, value)
        want[name] = value
    saved = save(vcpu)
    for name in CONTEXT:
        if name != "pstate":
            vcpu.write_register(name, 0)
    vcpu.write_register("pstate", 0)
    load(vcpu, saved)
    got = {name: vcpu.read_register(name) for name in want}
    assert got == want and vcpu.read_register("pstate") & 0xF000_0000 == 0x6000_0000


# --- C programs against qemu-aarch64 --------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, pathlib.Path]:
    from test_c_programs import build_programs

    names = ["threads", "contend", "deadlock", "spin", "reader"]
    return build_programs(tmp_path_factory.mktemp("threads"), names)


def _armbp(elf: pathlib.Path, timeout: float = 120) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    return subprocess.run(
        [sys.executable, "-m", "armbp", "run", str(elf)],
        capture_output=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize("name", ["threads", "contend"])
def test_pthread_programs_print_and_exit_as_under_qemu(built, name):
    """threads: workers that take turns (create, mutex, condition variable, join);
    contend: a counter under a contended mutex while main spins without a system call, so
    only time slices let the workers run, and each worker's doubles must survive them."""
    qemu = require_tool("qemu-aarch64", "qemu-user")
    want = subprocess.run([qemu, str(built[name])], capture_output=True, timeout=60)
    got = _armbp(built[name])
    assert (got.stdout, got.returncode) == (want.stdout, want.returncode), got.stderr
    assert want.stdout.startswith(b"counter ")


def test_the_python_api_switches_threads_at_slices_and_blocking_calls(built):
    from armbp.linux import LinuxProcess

    out: list[bytes] = []
    log: list[str] = []
    proc = LinuxProcess(built["contend"], stdout=out.append, log=log.append)
    end = proc.run(proc.launch(), 120)
    assert end.kind == "exited" and end.code == 0
    assert b"".join(out) == b"counter 240000, sums 20000.0 40000.0 60000.0\n"
    assert sorted(proc.threads.threads) == [1, 2, 3, 4]
    assert proc.threads.switches > 3  # preempted, not only switched at the joins
    assert any("WAIT" in line and "waits" in line for line in log)  # the mutex's futex


def test_a_deadlock_is_a_stop_that_names_what_each_thread_waits_on(built):
    """A default mutex locked twice waits for ever: the run ends at once with the reason,
    where the kernel would hang. The timed lock before it gives up with ETIMEDOUT."""
    from armbp.debugger import Debugger, StopReason
    from armbp.linux import LinuxProcess

    out: list[bytes] = []
    proc = LinuxProcess(built["deadlock"], stdout=out.append, log=lambda _: None)
    started = time.monotonic()
    end = proc.run(proc.launch(), 30)
    assert end.kind == "deadlock" and "thread 1 waiting on futex" in end.note
    assert time.monotonic() - started < 10 and b"".join(out) == b"timedlock: ETIMEDOUT\n"
    got = _armbp(built["deadlock"], timeout=30)
    assert got.returncode == 1 and got.stdout == b"timedlock: ETIMEDOUT\n"
    assert b"can never go on" in got.stderr and b"deadlock" in got.stderr
    dbg = Debugger.from_elf(str(built["deadlock"]))
    stop = dbg.cont(30)
    assert stop.reason is StopReason.HALTED and "deadlock" in stop.message
    assert dbg.end.kind == "deadlock"


# --- the gdb stub over a threaded process ----------------------------------------------------
def _resume(stub, target, packet: str) -> str:
    from armbp.gdb.packets import Resume

    how = stub.handle(packet.encode())
    assert isinstance(how, Resume), how
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ev = target.resume(how.step, 0.05)
        if ev is not None:
            return stub.stop_reply(ev)
    raise AssertionError("the guest did not stop")


def test_the_stub_lists_threads_and_stops_with_the_thread_that_hit(built):
    """qfThreadInfo lists every live thread, qThreadExtraInfo says what each does, the
    stop names the worker that hit the breakpoint; Hg reads a descheduled thread's saved
    registers; vCont;s:TID steps that thread alone; T says which threads are alive."""
    from armbp.gdb.packets import GdbStub
    from armbp.gdb.target import target_factory

    target = target_factory(str(built["threads"]))()
    stub = GdbStub(target)
    stub.handle(b"qSupported:multiprocess+;swbreak+")
    add = target.dbg.break_at("add").pc
    target.dbg.delete(add)
    assert stub.handle(f"Z0,{add:x},4".encode()) == "OK"
    reply = _resume(stub, target, "vCont;c")
    assert reply.startswith("T05") and "thread:p01.02;" in reply and "swbreak:;" in reply
    assert stub.handle(b"qfThreadInfo") == "mp01.01,p01.02,p01.03,p01.04"
    assert stub.handle(b"qsThreadInfo") == "l" and stub.handle(b"qC") == "QCp01.02"
    main = bytes.fromhex(stub.handle(b"qThreadExtraInfo,p01.01")).decode()
    assert main.startswith("waiting on futex 0x")  # pthread_join
    assert bytes.fromhex(stub.handle(b"qThreadExtraInfo,p01.02")).decode() == "runnable"
    assert stub.handle(b"Tp01.04") == "OK" and stub.handle(b"Tp01.09") == "E22"
    # registers: g of thread 2 (on the vCPU) is the breakpoint; of thread 1, its own pc
    from armbp.gdb import registers as regs

    assert stub.handle(b"Hgp01.02") == "OK"
    assert regs.decode_g(stub.handle(b"g"))[32] == add
    assert stub.handle(b"Hgp01.01") == "OK"
    saved = target.process.thread_registers(1)
    assert regs.decode_g(stub.handle(b"g"))[32] == saved["pc"] != add
    assert int.from_bytes(bytes.fromhex(stub.handle(b"p20")), "little") == saved["pc"]
    assert stub.handle(b"Hgp01.09") == "E22"
    # a step of thread 3 alone: it gets the vCPU, thread 2 stays on the breakpoint
    three = target.process.thread_registers(3)["pc"]
    reply = _resume(stub, target, "vCont;s:p01.03;c")
    assert "thread:p01.03;" in reply and target.process.threads.current == 3
    assert target.dbg.pc == three + 4 and target.process.thread_registers(2)["pc"] == add
    stub.multiprocess = False
    assert stub.stop_reply(target.last_stop()).startswith("T05thread:03;")


def test_the_stub_reports_a_deadlock_as_a_stop_that_stays(built):
    from armbp.gdb.packets import GdbStub
    from armbp.gdb.target import target_factory

    target = target_factory(str(built["deadlock"]), stdout=lambda _b: None)()
    stub = GdbStub(target)
    first = _resume(stub, target, "c")
    assert first.startswith("T11") and "deadlock" in target.last_stop().note  # SIGSTOP
    assert _resume(stub, target, "c") == first  # resuming changes nothing: no hang


def test_the_stub_resumes_a_tight_loop_from_every_slice_without_a_stray_fault(built):
    """A single-threaded loop polling a volatile flag, run by the stub in many short
    slices. A time-budget stop (the watchdog stops Unicorn) was measured to land inside
    ``ldr w0, [x0]`` with the load done and PC still on it: resumed there, the loop read
    address 0 (SIGSEGV after 30-60 slices of 20 ms). Counted slices end between two
    instructions."""
    from armbp.gdb.target import target_factory

    out: list[bytes] = []
    target = target_factory(str(built["spin"]), stdout=out.append)()
    slices = 0
    ev = None
    while ev is None and slices < 20_000:
        ev = target.resume(False, 0.005)
        slices += 1
    assert ev is not None and ev.kind == "exited", ev
    assert b"".join(out) == b"n 3000000\n" and slices > 10


def test_the_stub_serves_proc_maps_by_host_io_from_the_kernels_own_map(built):
    """vFile:setfs/open/pread/close, what ``info proc mappings`` sends: the text is the
    Linux layer's map (the program's pages with their file offsets, the stack, the heap,
    each thread's stack as the anonymous mmap glibc made for it)."""
    from armbp.gdb.packets import GdbStub
    from armbp.gdb.target import target_factory

    target = target_factory(str(built["threads"]))()
    stub = GdbStub(target)
    stub.handle(b"qSupported:multiprocess+;swbreak+")
    add = target.dbg.break_at("add").pc
    target.dbg.delete(add)
    stub.handle(f"Z0,{add:x},4".encode())
    _resume(stub, target, "vCont;c")
    assert stub.handle(b"vFile:setfs:0") == "F0"
    fd = stub.handle(b"vFile:open:" + b"/proc/1/maps".hex().encode() + b",0,1c0")
    assert fd.startswith("F") and not fd.startswith("F-")
    reply = stub.handle(f"vFile:pread:{fd[1:]},4000,0".encode())
    count, _, data = reply[1:].partition(";")
    text = data.encode("latin-1").decode()
    assert int(count, 16) == len(text) == len(target.process.maps())
    lines = text.splitlines()
    exe = str(built["threads"].resolve())
    assert lines[0].startswith("00400000-") and lines[0].endswith(
        f"r-xp 00000000 00:00 0 {exe}"
    )
    assert any(line.endswith("rw-p 00000000 00:00 0 [stack]") for line in lines)
    assert any(line.endswith("[heap]") for line in lines)
    stacks = [ln for ln in lines if ln.endswith("rw-p 00000000 00:00 0")]
    assert len(stacks) == 3  # one per worker: the 8 MiB mmaps of pthread_create
    assert stub.handle(f"vFile:close:{fd[1:]}".encode()) == "F0"
    assert stub.handle(f"vFile:pread:{fd[1:]},10,0".encode()) == "F-1,9"  # closed
    other = b"/etc/passwd".hex().encode()
    assert stub.handle(b"vFile:open:" + other + b",0,0") == "F-1,2"
    assert stub.handle(b"vFile:open:" + b"/proc/1/maps".hex().encode() + b",1,0") == "F-1,d"


def test_info_proc_mappings_in_gdb_lists_the_map_where_qemu_cannot(built, tmp_path):
    """gdb's own ``info proc mappings`` over armbp; qemu-aarch64 7.2's stub has no host
    I/O, so gdb cannot open /proc/PID/maps there (checked: the command says so)."""
    import os

    sys.path.insert(0, str(ROOT))
    from gdb.guests import StubProcess, free_port, run_gdb

    gdb = require_tool("gdb-multiarch", "gdb-multiarch")
    qemu = require_tool("qemu-aarch64", "qemu-user")
    script = tmp_path / "maps.gdb"
    script.write_text(
        "set pagination off\nset confirm off\nbreak add\ncontinue\ninfo proc mappings\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    elf = built["threads"]
    srv = StubProcess(
        [sys.executable, "-m", "armbp", "gdbserver", "--port", "0", str(elf)], b"", env=env
    )
    try:
        ours = run_gdb(gdb, srv.port_from_banner(), elf, script)
    finally:
        srv.kill()
    assert "Mapped address spaces:" in ours and "[stack]" in ours, ours
    assert re.search(
        r"0x400000 +0x[0-9a-f]+ +0x[0-9a-f]+ +0x0 +r-xp +" + re.escape(str(elf.resolve())),
        ours,
    ), ours
    port = free_port()
    q = StubProcess([qemu, "-g", str(port), str(elf)], b"", env=env)
    try:
        theirs = run_gdb(gdb, port, elf, script)
    finally:
        q.kill()
    assert "unable to open /proc file" in theirs, theirs


def test_a_read_of_an_empty_pipe_gives_the_stub_back_the_vcpu_so_ctrl_c_stops_it(built):
    """reader waits on fd 0, a pipe nobody writes yet: each resume returns within its
    slice (the read is restarted, as after -ERESTARTSYS), so the server sees a Ctrl-C and
    the stop is at once; the input that comes later is read, the program ends as usual."""
    import os
    import threading

    from armbp.gdb.target import SIGINT, target_factory

    elf = built["reader"]
    r, w = os.pipe()
    out: list[bytes] = []
    stdin = os.fdopen(r, "rb")
    ev = None
    try:
        target = target_factory(str(elf), stdout=out.append, stdin=stdin)()
        returned: list[object] = []
        worker = threading.Thread(
            target=lambda: returned.extend(target.resume(False, 0.05) for _ in range(20)),
            daemon=True,
        )
        worker.start()
        worker.join(10)
        assert not worker.is_alive() and returned == [None] * 20  # never stuck in read
        stop = target.interrupted()  # what the server does on 0x03
        assert stop.signal == SIGINT and target.dbg.vcpu.read_register("x8") == 63  # read
        os.write(w, b"4 5 6\n")
        os.close(w)
        w = -1
        for _ in range(400):
            ev = target.resume(False, 0.05)
            if ev is not None:
                break
    finally:
        if w >= 0:
            os.close(w)  # a read that blocked (the failure) gets end of file and returns
        stdin.close()
    assert ev is not None and ev.kind == "exited" and ev.code == 3
    assert b"".join(out) == b"read 3 numbers, sum 15\n"
