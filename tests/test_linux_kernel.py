"""The guest kernel beside the VMM: ``LinuxProcess.handle``/``run``, as the stub runs it."""

from __future__ import annotations

import logging
import subprocess

import pytest
from conftest import require_tool
from gdb.guests import build_elf

from armbp.gdb.client import RspClient
from armbp.gdb.server import GdbServer
from armbp.gdb.target import target_factory
from armbp.linux import LinuxProcess

UNDEFINED = """
        .global _start
_start: mov     x0, #1
        adr     x1, msg
        mov     x2, #6
        mov     x8, #64          // write(1, "before", 6)
        svc     #0
        .inst   0x00000000       // UDF #0: SIGILL
msg:    .ascii  "before"
"""

NOSYS = """
        .global _start
_start: mov     x8, #198         // socket: not implemented
        svc     #0
        neg     x0, x0           // 38 = ENOSYS
        mov     x8, #93
        svc     #0
"""


def _link(tmp_path, name: str, source: str):
    require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    (tmp_path / f"{name}.S").write_text(source)
    subprocess.run(
        ["aarch64-linux-gnu-as", "-o", tmp_path / f"{name}.o", tmp_path / f"{name}.S"],
        check=True,
        timeout=60,
    )
    subprocess.run(
        [
            "aarch64-linux-gnu-ld",
            "-static",
            "-o",
            tmp_path / f"{name}.elf",
            tmp_path / f"{name}.o",
        ],
        check=True,
        timeout=60,
    )
    return tmp_path / f"{name}.elf"


def _through_the_stub(elf, args=()):
    """(stdout bytes, the final stop reply) of ``elf`` run by ``armbp gdbserver``'s target."""
    out: list[bytes] = []
    server = GdbServer(target_factory(str(elf), list(args), stdout=out.append)).start()
    try:
        with RspClient.connect(server.port) as gdb:
            gdb.handshake()
            stop = gdb.cont()
            while not stop.exited:
                stop = gdb.cont()
    finally:
        server.stop()
    return b"".join(out), stop


def _from_python(elf, args=()):
    out: list[bytes] = []
    proc = LinuxProcess(elf, [str(elf), *args], stdout=out.append)
    dbg = proc.launch()
    result = proc.run(dbg)
    return b"".join(out), result, proc, dbg


@pytest.mark.parametrize("args", [(), ("7",)])
def test_an_elf_run_from_python_prints_and_exits_as_under_the_stub(tmp_path, args):
    elf = build_elf("loop", tmp_path)
    out, result, proc, _ = _from_python(elf, args)
    stub_out, stop = _through_the_stub(elf, args)
    assert out == stub_out == b"loop done\n"
    expected = 15 if not args else 28  # total = 1 + … + N
    assert result.kind == "exited" and result.code == expected == proc.exit_code
    assert (stop.kind, stop.value) == ("W", expected)
    assert result.syscall.name == "exit_group"


def test_a_signal_from_python_is_the_one_the_stub_reports(tmp_path):
    elf = _link(tmp_path, "udf", UNDEFINED)
    out, result, proc, dbg = _from_python(elf)
    stub_out, stop = _through_the_stub(elf)
    assert out == stub_out == b"before"
    assert result.kind == "signal" and result.signal == 4 == stop.value and stop.kind == "X"
    assert "EC 0x00" in result.note
    assert dbg.pc == proc.entry + 20  # left at the UDF, as a kernel reports it


def test_run_gives_back_the_debuggers_own_stops_and_a_spent_budget(tmp_path):
    elf = build_elf("loop", tmp_path)
    proc = LinuxProcess(elf, stdout=lambda b: None)
    dbg = proc.launch()
    hot = proc.program.symbols["hot"]
    dbg.break_at(hot)
    result = proc.run(dbg)
    assert result.kind == "stopped" and result.stop.pc == hot
    assert proc.run(dbg, seconds=0).kind == "running"
    dbg.delete(hot)
    assert proc.run(dbg).kind == "exited"


def test_handle_is_none_for_a_stop_that_is_not_the_kernels(tmp_path):
    elf = build_elf("loop", tmp_path)
    proc = LinuxProcess(elf, stdout=lambda b: None)
    dbg = proc.launch()
    dbg.step()
    assert proc.handle(dbg.vcpu) is None


def test_an_unknown_syscall_is_logged_not_printed(tmp_path, caplog, capfd):
    """Library code does not print: with no ``log`` callback the -ENOSYS note is a warning
    on the ``armbp.linux`` logger (which shows on stderr only when nothing is configured)."""
    elf = _link(tmp_path, "nosys", NOSYS)
    with caplog.at_level(logging.WARNING, logger="armbp.linux"):
        _, result, _, _ = _from_python(elf)
    assert result.kind == "exited" and result.code == 38
    assert [r.name for r in caplog.records] == ["armbp.linux"]
    assert "socket: not implemented" in caplog.records[0].getMessage()
    assert capfd.readouterr().err == ""


NULL_LOAD = """
        .global _start
_start: mov     x0, #1
        adr     x1, msg
        mov     x2, #2
        mov     x8, #64          // write(1, "ok", 2)
        svc     #0
        mov     x3, #16
        ldr     x4, [x3]         // a load from 0x10: nothing is mapped there
msg:    .ascii  "ok"
"""


def test_a_null_load_stops_with_sigsegv_and_its_siginfo_through_the_stub(tmp_path):
    """T0b for the data abort; qXfer:siginfo:read gives si_signo, si_code, si_addr."""
    import struct

    elf = _link(tmp_path, "nul", NULL_LOAD)
    server = GdbServer(target_factory(str(elf), stdout=lambda b: None)).start()
    try:
        with RspClient.connect(server.port) as gdb:
            feats = gdb.handshake()
            assert "qXfer:siginfo:read" in feats and "QCatchSyscalls" in feats
            stop = gdb.cont()
            assert (stop.kind, stop.value) == ("T", 11), stop
            reply = gdb.request("qXfer:siginfo:read::0,80")
            assert reply[0] == "l"
            raw = reply[1:].encode("latin-1")
            signo, _errno, code = struct.unpack_from("<iii", raw)
            (addr,) = struct.unpack_from("<Q", raw, 16)
            assert (signo, code, addr) == (11, 1, 0x10)
            assert gdb.pc() == LinuxProcess(elf).entry + 24  # left at the load
            assert gdb.cont().kind == "X"  # resumed: the signal kills it
    finally:
        server.stop()


def test_catch_syscalls_stops_at_entry_and_return_with_the_program_registers(tmp_path):
    elf = build_elf("loop", tmp_path)
    out: list[bytes] = []
    server = GdbServer(target_factory(str(elf), stdout=out.append)).start()
    try:
        with RspClient.connect(server.port) as gdb:
            gdb.handshake()
            assert gdb.request("QCatchSyscalls:1;40") == "OK"  # write (64)
            entry = gdb.cont()
            assert entry.fields.get("syscall_entry") == "40", entry
            assert out == []  # not carried out yet
            pc = gdb.pc()
            assert gdb.read_register(8) == 64  # x8: the program's own registers, EL0
            ret = gdb.cont()
            assert ret.fields.get("syscall_return") == "40" and gdb.pc() == pc
            assert out == [b"loop done\n"] and gdb.read_register(0) == 10
            assert gdb.request("QCatchSyscalls:0") == "OK"
            assert gdb.request("QCatchSyscalls:2") == "E22"  # malformed
            end = gdb.cont()
            assert (end.kind, end.value) == ("W", 15)
    finally:
        server.stop()


def test_debugger_from_elf_breaks_by_name_and_shows_what_was_printed(tmp_path):
    """The Python API a student uses: load the ELF, break on a function, continue."""
    from armbp.debugger import Debugger, StopReason

    elf = build_elf("loop", tmp_path)
    dbg = Debugger.from_elf(str(elf))
    hot = dbg.break_at("hot")
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == hot.pc and dbg.stdout == ""
    dbg.delete("hot")
    stop = dbg.cont()
    assert stop.reason is StopReason.HALTED and "exited with code 15" in stop.message
    assert dbg.stdout == "loop done\n" and dbg.end.code == 15
    assert dbg.cont().reason is StopReason.HALTED  # stays ended
    dbg.reset()
    assert dbg.stdout == "" and dbg.cont().reason is StopReason.HALTED
    assert dbg.stdout == "loop done\n"
