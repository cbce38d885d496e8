"""The lab's guest side: PID 1 inside the emulated machine, driving real KVM on request.

It mounts ``/dev``, puts its console (the serial port QEMU connects to the host) in raw
mode and answers one JSON request per line with one line ``ARMBP {...}``. Each request
names an operation on one VM with one vCPU: ``vm`` (create, with guest memory and code),
``set_reg``/``get_reg``, ``guest_debug`` (``KVM_SET_GUEST_DEBUG``), ``run`` (``KVM_RUN``
with a time budget), ``read``/``write`` (guest memory), ``poweroff``. Only the standard
library and ``armbp.kvm.devkvm.uapi``: this runs on Debian's arm64 Python, not the host's.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import mmap
import os
import signal
import struct
import sys
import termios
import time
import traceback
import tty
from typing import Any

from armbp.kvm.abi import GuestDebugArch
from armbp.kvm.devkvm import uapi

PREFIX = "ARMBP "
READY = "ARMBP-READY "
RB_POWER_OFF = 0x4321FEDC  # reboot(2)
_libc = ctypes.CDLL(None, use_errno=True)


class _Budget(Exception):
    """The run's time budget expired (SIGALRM while inside KVM_RUN)."""


def _on_alarm(_signum: int, _frame: object) -> None:
    raise _Budget


class Vm:
    """One VM with one vCPU and one memory slot: the smallest thing KVM runs."""

    def __init__(self, kvm: int, base: int, size: int, code: bytes, entry: int) -> None:
        self.fd = fcntl.ioctl(kvm, uapi.KVM_CREATE_VM, 0)
        self.base, self.size = base, size
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        self.mem = mmap.mmap(-1, size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot)
        self.mem[: len(code)] = code
        host = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        region = uapi.pack_memory_region(0, base, size, host)
        fcntl.ioctl(self.fd, uapi.KVM_SET_USER_MEMORY_REGION, region)
        self.cpu = fcntl.ioctl(self.fd, uapi.KVM_CREATE_VCPU, 0)
        init = bytearray(uapi.VCPU_INIT.size)
        fcntl.ioctl(self.fd, uapi.KVM_ARM_PREFERRED_TARGET, init)
        target = struct.unpack_from("<I", init)[0]
        features = 1 << uapi.KVM_ARM_VCPU_PSCI_0_2
        fcntl.ioctl(
            self.cpu, uapi.KVM_ARM_VCPU_INIT, uapi.VCPU_INIT.pack(target, features, *[0] * 6)
        )
        run_size = fcntl.ioctl(kvm, uapi.KVM_GET_VCPU_MMAP_SIZE)
        self.run_page = mmap.mmap(self.cpu, run_size, mmap.MAP_SHARED, prot)
        self.set_reg("pc", entry)
        self.target = target

    def _reg_id(self, name: str) -> int:
        return uapi.core_reg(name) if not name.startswith("sys:") else int(name[4:], 0)

    def set_reg(self, name: str, value: int) -> None:
        buf = ctypes.c_uint64(value)
        one = uapi.ONE_REG.pack(self._reg_id(name), ctypes.addressof(buf))
        fcntl.ioctl(self.cpu, uapi.KVM_SET_ONE_REG, one)

    def get_reg(self, name: str) -> int:
        buf = ctypes.c_uint64(0)
        one = uapi.ONE_REG.pack(self._reg_id(name), ctypes.addressof(buf))
        fcntl.ioctl(self.cpu, uapi.KVM_GET_ONE_REG, one)
        return buf.value

    def guest_debug(self, control: int, arch: dict[str, list[int]] | None) -> None:
        record = GuestDebugArch(**{k: tuple(v) for k, v in arch.items()}) if arch else None
        fcntl.ioctl(self.cpu, uapi.KVM_SET_GUEST_DEBUG, uapi.pack_guest_debug(control, record))

    def run(self, seconds: float) -> dict[str, Any]:
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            fcntl.ioctl(self.cpu, uapi.KVM_RUN, 0)
            budget = False
        except _Budget:
            budget = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.monotonic() - started
        out: dict[str, Any] = {"pc": self.get_reg("pc"), "seconds": took}
        if budget:
            return out | {"reason": 10}  # KVM_EXIT_INTR: the budget, as the model says it
        e = uapi.read_exit(self.run_page)
        out["reason"] = e.reason
        if e.debug is not None:
            out |= {"hsr": e.debug.hsr, "hsr_high": e.debug.hsr_high, "far": e.debug.far}
        if e.mmio is not None:
            out |= {"mmio": [e.mmio[0], e.mmio[1].hex(), e.mmio[2]]}
        if e.system_event is not None:
            out["system_event"] = e.system_event
        if e.detail:
            out["detail"] = e.detail
        return out


def _caps(kvm: int) -> dict[str, int]:
    ask = {
        "api": (uapi.KVM_GET_API_VERSION, 0),
        "set_guest_debug": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_SET_GUEST_DEBUG),
        "hw_bps": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_BPS),
        "hw_wps": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_GUEST_DEBUG_HW_WPS),
        "immediate_exit": (uapi.KVM_CHECK_EXTENSION, uapi.KVM_CAP_IMMEDIATE_EXIT),
    }
    return {name: fcntl.ioctl(kvm, req, arg) for name, (req, arg) in ask.items()}


def serve(kvm: int, inp: Any, out: Any) -> None:
    vm: Vm | None = None
    for line in inp:
        try:
            req = json.loads(line)
            op = req.pop("op")
            if op == "poweroff":
                out.write(PREFIX + json.dumps({"ok": True}) + "\n")
                out.flush()
                return
            if op == "vm":
                vm = Vm(
                    kvm, req["base"], req["size"], bytes.fromhex(req["code"]), req["entry"]
                )
                result: Any = {"target": vm.target}
            elif vm is None:
                raise RuntimeError(f"{op}: no VM yet (send op 'vm' first)")
            elif op == "set_reg":
                vm.set_reg(req["name"], req["value"])
                result = None
            elif op == "get_reg":
                result = vm.get_reg(req["name"])
            elif op == "guest_debug":
                vm.guest_debug(req["control"], req.get("arch"))
                result = None
            elif op == "run":
                result = vm.run(req.get("seconds", 2.0))
            elif op == "read":
                at = req["address"] - vm.base
                result = vm.mem[at : at + req["size"]].hex()
            elif op == "write":
                at, data = req["address"] - vm.base, bytes.fromhex(req["data"])
                vm.mem[at : at + len(data)] = data
                result = None
            else:
                raise ValueError(f"unknown op {op!r}")
            reply = {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001  (the host gets every failure as a reply)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(PREFIX + json.dumps(reply) + "\n")
        out.flush()


def main() -> None:
    started = time.monotonic()
    for source, target, kind in (
        ("devtmpfs", b"/dev", b"devtmpfs"),
        ("proc", b"/proc", b"proc"),
    ):
        _libc.mount(source.encode(), target, kind, 0, None)
    signal.signal(signal.SIGALRM, _on_alarm)
    console = os.open("/dev/ttyAMA0", os.O_RDWR | os.O_NOCTTY)
    tty.setraw(console, termios.TCSANOW)
    inp = os.fdopen(console, "r", buffering=1, newline="\n", closefd=False)
    out = os.fdopen(console, "w", buffering=1, newline="\n", closefd=False)
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        caps = _caps(kvm) | {"agent_seconds": time.monotonic() - started}
        out.write(READY + json.dumps(caps) + "\n")
        out.flush()
        serve(kvm, inp, out)
    except BaseException:  # noqa: BLE001  (say why, then power off rather than panic)
        out.write(PREFIX + json.dumps({"ok": False, "error": traceback.format_exc()}) + "\n")
        out.flush()
    finally:
        _libc.sync()
        _libc.reboot(RB_POWER_OFF)
        sys.exit(0)


if __name__ == "__main__":
    main()
