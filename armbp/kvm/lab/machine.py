"""Boot the lab's emulated arm64 machine and talk to the agent inside it.

One machine per Python process: ``shared()`` starts it on first use and stops it at exit.
The host writes one JSON request per line to QEMU's stdin, which is the guest's serial
port; the agent answers with one ``ARMBP {...}`` line. Every wait has a deadline, and a
QEMU that exits or a guest that stops answering is a ``LabError`` that says which, with
the last lines QEMU printed: never a hang.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import armbp
from armbp.kvm.lab import agent, initramfs, packages, rpc

BOOT_SECONDS = 240.0  # a generous bound for TCG on a loaded 2-core machine
REPLY_SECONDS = 60.0
KERNEL_ARGS = (
    "console=ttyAMA0 panic=-1 quiet loglevel=0 rdinit=/usr/bin/python3.11 "
    "PYTHONHOME=/usr PYTHONPATH=/armbp-src PYTHONDONTWRITEBYTECODE=1 "
    "-- -S -u -m armbp.kvm.lab.agent"
)


class LabError(RuntimeError):
    """The lab machine failed: QEMU exited, or the agent did not answer in time."""


def build(cache: Path | None = None, *, log=print) -> tuple[Path, Path]:
    """The kernel image and the initramfs (rebuilt when armbp's sources are newer)."""
    cache = cache or packages.default_cache()
    root = packages.fetch(cache, log=log)
    kernel = max(root.glob("boot/vmlinuz-*"))
    image = cache / "initrd.cpio.gz"
    source = Path(armbp.__file__).parent
    newest = max(p.stat().st_mtime for p in source.rglob("*.py"))
    if not image.exists() or image.stat().st_mtime < max(
        newest, (cache / "root.stamp").stat().st_mtime
    ):
        entries: list[tuple[str, Path | bytes | None]] = [("dev", None), ("proc", None)]
        for part in ("usr", "lib", "etc"):
            if (root / part).exists():
                entries += initramfs.tree(root / part, part)
        entries += [("armbp-src", None), *initramfs.tree(source, "armbp-src/armbp")]
        initramfs.write(entries, image)
    return kernel, image


class LabMachine:
    """One running QEMU with real KVM inside, and its agent."""

    def __init__(self, cache: Path | None = None, *, log=print) -> None:
        started = time.monotonic()
        self.kernel, self.initrd = build(cache, log=log)
        self.build_seconds = time.monotonic() - started
        qemu = shutil.which("qemu-system-aarch64")
        if qemu is None:
            raise packages.LabUnavailable(
                "the KVM lab needs qemu-system-aarch64 (Debian/Ubuntu: apt-get install "
                "qemu-system-arm)"
            )
        self.log_lines: list[str] = []
        # pauth-impdef: the CPU still has pointer authentication (Debian's kernel signs
        # every return address with it), but TCG computes the PACs with a cheap
        # IMPLEMENTATION DEFINED function instead of QARMA, which halves the boot:
        # 23 s against 49-64 s side by side on a loaded 2-core machine.
        # sve=off: QEMU 7.2's TCG drops the translations of only the first byte an SVE
        # contiguous store writes (probe_access_flags marks one byte dirty), and the
        # lab's glibc copies with SVE when the CPU has it. So when the agent loaded a
        # program into a page that had held another guest's code, the guest could run
        # the previous guest's instruction: demo's `mov x0, #3` in place of lesson 7's
        # watched `str` at the same address, 4 times in 4 (the "missed watchpoint").
        # Without SVE, glibc copies with 16-byte stores, which QEMU tracks in full.
        # (tests/test_kvm_lab.py: a new program where another one ran)
        argv = [
            qemu, "-M", "virt,virtualization=on,gic-version=3",
            "-cpu", "max,pauth-impdef=on,sve=off",
            "-m", "512", "-smp", "1", "-display", "none", "-monitor", "none",
            "-serial", "stdio", "-nic", "none", "-no-reboot",
            "-kernel", str(self.kernel), "-initrd", str(self.initrd),
            "-append", KERNEL_ARGS,
        ]  # fmt: skip
        booted = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._buffer = b""
        self._write_lock = threading.Lock()
        self._request_lock = threading.RLock()
        ready = self._line(agent.READY, BOOT_SECONDS, "booting")
        self.caps: dict[str, Any] = json.loads(ready)
        self.boot_seconds = time.monotonic() - booted

    def _line(self, prefix: str, seconds: float, doing: str) -> str:
        deadline = time.monotonic() + seconds
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            while b"\n" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\n", 1)
                text = raw.decode(errors="replace").rstrip("\r")
                if text.startswith(prefix):
                    return text[len(prefix) :]
                self.log_lines = [*self.log_lines[-40:], text]
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise LabError(
                    f"the lab machine did not answer within {seconds:.0f} s while "
                    f"{doing}; its last lines: {self.log_lines[-8:]}"
                )
            ready, _, _ = select.select([stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    code = self.proc.wait()
                    raise LabError(
                        f"QEMU exited ({code}) while {doing}; its last lines: "
                        f"{self.log_lines[-8:]}"
                    )
                self._buffer += chunk

    def send(self, message: dict[str, Any]) -> None:
        """Write one request line (thread-safe: a kick may be sent during a request)."""
        if self.proc.poll() is not None:
            raise LabError(
                f"the lab machine is not running (QEMU exited {self.proc.returncode}); "
                f"its last lines: {self.log_lines[-8:]}"
            )
        stdin = self.proc.stdin
        assert stdin is not None
        with self._write_lock:
            try:
                stdin.write((rpc.dumps(message) + "\n").encode())
                stdin.flush()
            except OSError as e:
                raise LabError(f"the lab machine stopped listening: {e}") from None

    def request(self, op: str, *, timeout: float = REPLY_SECONDS, **args: Any) -> Any:
        """One operation on the agent; its result (``rpc``-decoded). An error of the
        agent's is raised here as the same exception type (``rpc.decode_error``); a QEMU
        that exits or an agent silent for ``timeout`` seconds is a ``LabError``."""
        with self._request_lock:
            self.send({"op": op, **args})
            reply = json.loads(self._line(agent.PREFIX, timeout, f"answering {op!r}"))
        if not reply["ok"]:
            raise rpc.decode_error(reply)
        return rpc.decode(reply.get("result"))

    def close(self) -> None:
        """Power the guest off (or kill QEMU if it does not go within 10 s)."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.write(b'{"op": "poweroff"}\n')
                    self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


_SHARED: LabMachine | None = None


def shared(cache: Path | None = None) -> LabMachine:
    """The session's lab machine, started on first use and stopped when Python exits."""
    global _SHARED
    if _SHARED is None or _SHARED.proc.poll() is not None:
        _SHARED = LabMachine(cache)
        atexit.register(_SHARED.close)
    return _SHARED
