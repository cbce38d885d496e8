"""The lab's guest side: PID 1 inside the emulated machine, serving the vCPU interface.

It mounts ``/dev``, puts its console (the serial port QEMU connects to the host) in raw
mode and answers one JSON request per line with one line ``ARMBP {...}``. A request is
``new`` (a ``KvmVCpu`` for a Program: real KVM, ``armbp.kvm.devkvm.vcpu``), ``call`` (a
method of one of them, with arguments, in ``rpc``'s encoding), ``kick`` (no answer: the
host's ``kick()``, which may arrive while ``KVM_RUN`` is in progress: the console's SIGIO
takes the vCPU out) or ``poweroff``. Only the standard library and armbp's pure-Python
parts: this runs on Debian's arm64 Python, not the host's.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import signal
import sys
import termios
import time
import traceback
import tty
from typing import Any

from armbp.kvm.devkvm import uapi
from armbp.kvm.devkvm.vcpu import KvmVCpu
from armbp.kvm.lab import rpc
from armbp.memory import MemoryFault

PREFIX = "ARMBP "
READY = "ARMBP-READY "
RB_POWER_OFF = 0x4321FEDC  # reboot(2)
KICK = "kick"

# The methods a host may call, beyond the Backend's own: memory through ``read``/``write``.
METHODS = frozenset(
    {
        "map", "registers", "read_register", "write_register", "set_guest_debug",
        "reset", "inject_exception", "write_scratch", "load_vector", "exchange_x30",
        "guest_readable", "read", "write",
    }
)  # fmt: skip


class Console:
    """The serial console as lines: requests in, replies out (raw bytes, our own buffer,
    so that a kick can be picked up between two ``KVM_RUN`` calls)."""

    def __init__(self, fd: int) -> None:
        self.fd, self._buffer = fd, b""

    def _take(self) -> str | None:
        if b"\n" not in self._buffer:
            return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def line(self) -> str | None:
        """The next line (blocking); None at end of input."""
        while True:
            got = self._take()
            if got is not None:
                return got
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk

    def kicked(self) -> bool:
        """True if a kick line has arrived (consumed); other input stays for later."""
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self._buffer += chunk
        for raw in self._buffer.split(b"\n")[:-1]:
            try:
                if json.loads(raw).get("op") == KICK:
                    self._buffer = self._buffer.replace(raw + b"\n", b"", 1)
                    return True
            except ValueError:
                continue
        return False

    def reply(self, message: dict[str, Any]) -> None:
        data = (PREFIX + rpc.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


class AgentVCpu(KvmVCpu):
    """A ``KvmVCpu`` whose run also ends when the host's kick arrives on the console."""

    console: Console | None = None

    def _interrupted(self) -> bool:
        return self.console is not None and self.console.kicked()


def _run(cpu: KvmVCpu, seconds: float) -> dict[str, Any]:
    """The run the host asked for, with what the host asks next anyway: the registers and
    the instruction word at the new pc."""
    exit_ = cpu.run_until(time.monotonic() + seconds)
    try:
        word = cpu.memory.read(exit_.pc, 4)
    except MemoryFault:
        word = None
    return {"exit": exit_, "registers": _core(cpu), "word": word}


def _core(cpu: KvmVCpu) -> list[int]:
    """The core registers as a list in ``REGISTER_NAMES`` order: a serial console moves
    some tens of kilobytes a second, and the names would be most of the bytes."""
    return list(cpu.registers().values())


def _call(cpu: KvmVCpu, method: str, args: list[Any]) -> Any:
    if method == "run":
        return _run(cpu, *args)
    if method not in METHODS:
        raise ValueError(
            f"unknown method {method!r}: expected run or one of {sorted(METHODS)}"
        )
    if method == "registers":
        return _core(cpu)
    if method in ("read", "write"):
        return getattr(cpu.memory, method)(*args)
    if method == "inject_exception":  # (syndrome, return_to, far): keywords after the first
        syndrome, return_to, far = args
        cpu.inject_exception(syndrome, return_to=return_to, far=far)
        return {"registers": _core(cpu)}
    result = getattr(cpu, method)(*args)
    if method in ("reset", "write_register"):
        return {"registers": _core(cpu)}
    return result


def serve(console: Console) -> None:
    """Answer requests until ``poweroff`` or the end of input."""
    cpus: dict[int, KvmVCpu] = {}
    count = 0
    while True:
        line = console.line()
        if line is None:
            return
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == KICK:
                cpu = cpus.get(req.get("vcpu", -1))
                if cpu is not None:
                    cpu.kick()
                continue  # a kick has no answer
            if op == "poweroff":
                console.reply({"ok": True})
                return
            for gone in req.get("drop", ()):
                dropped = cpus.pop(gone, None)
                if dropped is not None:
                    dropped.close()
            if op == "new":
                count += 1
                cpu = AgentVCpu(rpc.decode(req["program"]))
                cpu.console = console
                cpus[count] = cpu
                result: Any = {
                    "vcpu": count,
                    "scratch_base": cpu.scratch_base,
                    "stack_top": cpu.stack_top,
                    "registers": _core(cpu),
                    "caps": cpu.caps,
                }
            elif op == "call":
                cpu = cpus.get(req["vcpu"])
                if cpu is None:
                    raise ValueError(f"no vCPU {req['vcpu']!r} here (it was dropped?)")
                for name, value in req.get("writes", ()):
                    cpu.write_register(name, value)
                result = _call(cpu, req["method"], rpc.decode(req.get("args", [])))
            else:
                raise ValueError(f"unknown op {op!r}: expected new, call, kick or poweroff")
            reply: dict[str, Any] = {"ok": True, "result": rpc.encode(result)}
        except Exception as exc:  # noqa: BLE001  (the host gets every failure as a reply)
            reply = rpc.encode_error(exc)
        console.reply(reply)


def _caps(kvm: int) -> dict[str, int]:
    ask = {
        "api": (uapi.KVM_GET_API_VERSION, 0),
        "set_guest_debug": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_SET_GUEST_DEBUG),
        "hw_bps": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_BPS),
        "hw_wps": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_WPS),
        "immediate_exit": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_IMMEDIATE_EXIT),
    }
    return {name: fcntl.ioctl(kvm, req, arg) for name, (req, arg) in ask.items()}


def _on_sigio(_signum: int, _frame: object) -> None:
    """Input on the console: its work is done by interrupting ``KVM_RUN`` (EINTR)."""


def main() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    started = time.monotonic()
    for source, target, kind in (
        ("devtmpfs", b"/dev", b"devtmpfs"),
        ("proc", b"/proc", b"proc"),
    ):
        libc.mount(source.encode(), target, kind, 0, None)
    fd = os.open("/dev/ttyAMA0", os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd, termios.TCSANOW)
    console = Console(fd)
    signal.signal(signal.SIGIO, _on_sigio)
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        caps = _caps(kvm) | {"agent_seconds": time.monotonic() - started}
        os.close(kvm)
        os.write(fd, (READY + json.dumps(caps) + "\n").encode())
        serve(console)
    except BaseException:  # noqa: BLE001  (say why, then power off rather than panic)
        console.reply({"ok": False, "type": "AgentFailed", "error": traceback.format_exc()})
    finally:
        libc.sync()
        libc.reboot(RB_POWER_OFF)
        sys.exit(0)


if __name__ == "__main__":
    main()
