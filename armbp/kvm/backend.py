"""The vCPU interface: what the VMM, the debugger and the front ends ask of a backend.

A backend is one vCPU with its guest memory, as a VMM holds it through ``/dev/kvm``:
memory slots (``map``), registers (``KVM_{GET,SET}_ONE_REG``), ``set_guest_debug``
(``KVM_SET_GUEST_DEBUG``), ``run``/``run_until`` (``KVM_RUN`` → an ``Exit``), ``kick``
(a signal to the vCPU thread), ``inject_exception`` (the VMM giving a trap back to the
guest's vectors), and the scratch page the debugger's displaced step runs in. The list is
exactly what ``armbp.vmm``, ``armbp.debugger``, ``armbp.linux``, ``armbp.gdbserver`` and
the widgets call. ``armbp.kvm.unicorn.VCpu`` implements it (the model); so do
``armbp.kvm.devkvm.vcpu.KvmVCpu`` (real ``/dev/kvm`` on an arm64 Linux host),
``armbp.kvm.lab.backend.LabVCpu`` (the same KVM inside the lab's emulated arm64 machine,
on any host) and the fake vCPU of ``tests/test_kvm.py``, over a bytearray.

``make_backend`` builds one: by name (``BACKENDS``), or from a callable that takes the
``Program``. A backend's module is imported only when it is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from armbp.kvm.abi import Budget, Exit, GuestDebug, GuestDebugArch
from armbp.program import Program

__all__ = ["BACKENDS", "Backend", "BackendMemory", "BackendSpec", "make_backend"]


class BackendMemory(Protocol):
    """Guest memory as the breakpoint table and the debugger reach it (``armbp.memory``'s
    ``Memory``, plus cache maintenance after a code write)."""

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...

    def invalidate_code(self, address: int, size: int) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """One vCPU and its guest memory, as the VMM drives it.

    Attributes: ``program`` (what was loaded), ``memory``, ``guest_debug`` (the control
    word last set), ``flush_code_writes`` (cache maintenance after code writes, on by
    default), ``stack_top`` (the Linux layer starts its heap above it), and the scratch
    page: ``scratch_base`` and ``scratch_open`` (the block starts the next guest fetch
    there may begin at; the debugger closes it by assigning an empty frozenset).
    """

    program: Program
    memory: BackendMemory
    guest_debug: GuestDebug
    flush_code_writes: bool
    stack_top: int
    scratch_base: int
    scratch_open: frozenset[int]

    # -- memory map, registers -------------------------------------------------------------
    def map(self, address: int, size: int, perms: str = "rw") -> None:
        """Add ``size`` zeroed bytes of guest memory at ``address`` (a memory slot)."""

    @property
    def pc(self) -> int:
        """The program counter (settable)."""

    @pc.setter
    def pc(self, value: int) -> None: ...

    def registers(self) -> dict[str, int]:
        """The core registers (``abi.REGISTER_NAMES``) by name."""

    def read_register(self, name: str) -> int:
        """One register by name (core, system, FP/SIMD)."""

    def write_register(self, name: str, value: int) -> None:
        """Write one register by name."""

    # -- guest debug, running ------------------------------------------------------------
    def set_guest_debug(
        self, flags: GuestDebug | int, arch: GuestDebugArch | None = None
    ) -> None:
        """``KVM_SET_GUEST_DEBUG``: the control word and, with ``USE_HW``, the slots."""

    def run(self, budget: Budget | float | None = None) -> Exit:
        """``KVM_RUN`` within ``budget``: the ``Exit`` that ended the run."""

    def run_until(self, deadline: float, instructions: int = 0) -> Exit:
        """``run`` with an absolute ``time.monotonic()`` deadline (the VMM's loop)."""

    def kick(self) -> None:
        """End a run from another thread (a BUDGET exit, "interrupted")."""

    def ensure_idle(self, what: str) -> None:
        """Raise ``abi.VCpuBusy`` if another thread's run is in progress."""

    def reset(self) -> None:
        """A fresh machine from the program alone."""

    def inject_exception(
        self, syndrome: int, *, return_to: int, far: int | None = None
    ) -> None:
        """Deliver a synchronous exception to the guest's EL1 vectors."""

    # -- the scratch page (the debugger's displaced step) ----------------------------------
    def write_scratch(self, offset: int, data: bytes) -> None:
        """Store code in the scratch page (flushed as any code write)."""

    def open_scratch(
        self, entry: frozenset[int], after: dict[int, frozenset[int]] | None = None
    ) -> None:
        """Admit the next guest fetch of a block starting in ``entry`` (then ``after``)."""

    def hide_scratch(self) -> None:
        """Make guest loads from the scratch page fault again after a step-over."""

    def load_vector(self, index: int, address: int, size: int) -> bool:
        """V``index`` = the ``size`` bytes at ``address``; False if they cannot be read."""

    def exchange_x30(self, value: int) -> int:
        """x30 = ``value``; returns the old x30."""

    def guest_readable(self, address: int, size: int) -> bool:
        """Could a guest load of ``size`` bytes at ``address`` succeed?"""


BackendSpec = str | Callable[[Program], Backend] | Backend
"""What ``Debugger(program, backend=...)`` accepts: a name of ``BACKENDS``, a callable
that builds a backend from the ``Program`` (a backend class is one), or a backend already
built for that program."""

BACKENDS: dict[str, str] = {
    "unicorn": "armbp.kvm.unicorn:VCpu",
    "kvm": "armbp.kvm.devkvm.vcpu:KvmVCpu",  # /dev/kvm on an arm64 Linux host
    "kvm-lab": "armbp.kvm.lab.backend:LabVCpu",  # real KVM inside QEMU, on any host
}
"""Backend name → ``module:factory``, imported when the name is asked for."""


def make_backend(spec: BackendSpec, program: Program) -> Backend:
    """The backend ``spec`` names (or builds) for ``program``.

    A name is looked up in ``BACKENDS`` and its module imported only now; an unknown name
    is a ``ValueError`` listing the known ones. A callable is called with the program. A
    backend instance is used as it is, if it was built for this very program.
    """
    if isinstance(spec, str):
        target = BACKENDS.get(spec)
        if target is None:
            raise ValueError(
                f"unknown backend {spec!r}: expected one of "
                f"{', '.join(repr(name) for name in sorted(BACKENDS))}, or a "
                f"callable that builds a backend from the Program"
            )
        module, _, name = target.partition(":")
        factory = getattr(importlib.import_module(module), name)
    elif callable(spec):
        factory = spec
    elif isinstance(spec, Backend):
        if spec.program is not program:
            raise ValueError(
                f"backend {spec!r} was built for {spec.program.name}, not for "
                f"{program.name}: pass a factory, or a backend of this program"
            )
        return spec
    else:
        raise ValueError(
            f"backend {spec!r}: expected a name "
            f"({', '.join(repr(name) for name in sorted(BACKENDS))}) or a "
            f"callable that builds a backend from the Program"
        )
    return factory(program)
