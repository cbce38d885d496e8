"""Calls into Unicorn's C library that skip the Python binding, for the hot paths.

The binding's ``reg_read``/``mem_read``/``hook_add`` are general and cost a microsecond or
more each (choosing a register class, building buffers, two wrapper frames around every
hook); a whole breakpoint hit is a few microseconds (DESIGN.md, "cost model"). Each helper
here builds the same operation once over ``uc_reg_read``, ``uc_mem_read``,
``uc_emu_stop``, ``uc_hook_add`` and ``uc_ctl`` directly, reusing its buffers.

They reach the binding's internals (its ``uclib`` and the engine handle ``uc._uch``, as
Unicorn 2.1.x has them) through ``_internals``. Where those are not there — another
binding — every helper falls back to the public calls, which do the same thing slower;
``tests/test_vcpu.py`` runs breakpoints and step-overs through both.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from unicorn import UC_ERR_READ_UNMAPPED, UC_HOOK_BLOCK, UC_HOOK_INTR, UcError
from unicorn import arm64_const as regs

if TYPE_CHECKING:
    # unicorn/__init__ picks its Python 2 or 3 binding by a test mypy does not follow;
    # Uc(UC_ARCH_ARM64, ...) returns this class at run time.
    from unicorn.unicorn_py3.arch.arm64 import UcAArch64 as Uc
else:
    from unicorn import Uc

from armbp.encodings import from_bytes

__all__ = [
    "_add_block_hook",
    "_add_intr_hook",
    "_direct_calls",
    "_step_over_calls",
    "_sysreg_writer",
    "_tlb_flusher",
]

_PC = regs.UC_ARM64_REG_PC


def _internals(uc: Uc) -> tuple[ModuleType, object] | None:
    """The binding module that holds ``uclib`` and the hook types, and ``uc``'s engine
    handle; None if this binding does not have them where 2.1.x keeps them."""
    try:
        from unicorn.unicorn_py3 import unicorn as binding

        for name in ("uclib", "HOOK_INTR_CFUNC", "HOOK_CODE_CFUNC", "uc_hook_h"):
            getattr(binding, name)
        return binding, uc._uch
    except (ImportError, AttributeError):
        return None


def _direct_calls(
    uc: Uc,
) -> tuple[Callable[[], int], Callable[[int], int], Callable[[], None]]:
    """``read_pc()``, ``read_word(address)`` and ``stop()`` for the trap path.

    ``read_word`` raises ``UcError`` if the word cannot be read, as ``mem_read`` does.
    """
    found = _internals(uc)
    if found is None:
        return (
            (lambda: uc.reg_read(_PC)),
            (lambda address: from_bytes(uc.mem_read(address, 4))),
            uc.emu_stop,
        )
    binding, handle = found
    uclib = binding.uclib
    reg_read, mem_read, emu_stop = uclib.uc_reg_read, uclib.uc_mem_read, uclib.uc_emu_stop
    value = ctypes.c_uint64()
    ref = ctypes.byref(value)
    buf = ctypes.create_string_buffer(4)
    word = ctypes.c_uint32.from_buffer(buf)  # A64 code is little-endian, as is the host here
    little = sys.byteorder == "little"

    def read_pc() -> int:
        if reg_read(handle, _PC, ref):
            return uc.reg_read(_PC)  # raises the binding's error
        return value.value

    def read_word(address: int) -> int:
        if mem_read(handle, address, buf, 4):
            raise UcError(UC_ERR_READ_UNMAPPED)
        return word.value if little else int.from_bytes(buf.raw, "little")

    def stop() -> None:
        emu_stop(handle)

    return read_pc, read_word, stop


def _add_intr_hook(uc: Uc, callback: Callable[[object, int, object], None]) -> object:
    """Register ``callback(handle, intno, user)`` as the UC_HOOK_INTR hook, called by C.

    The binding wraps every hook in two Python frames (an exception guard and an argument
    adapter), ~0.4 µs of a ~6 µs hit. ``callback`` guards itself, so C can call it
    directly. Returns what must be kept alive for as long as the hook is installed.
    """
    found = _internals(uc)
    if found is None:
        return uc.hook_add(UC_HOOK_INTR, lambda _uc, intno, user: callback(None, intno, user))
    binding, handle = found
    fptr = binding.HOOK_INTR_CFUNC(callback)
    hook = binding.uc_hook_h()
    status = binding.uclib.uc_hook_add(
        handle,
        ctypes.byref(hook),
        UC_HOOK_INTR,
        fptr,
        None,
        ctypes.c_uint64(1),
        ctypes.c_uint64(0),
    )
    if status:
        raise UcError(status)
    return fptr


def _step_over_calls(uc: Uc) -> tuple[Callable[[int, int, int], bool], Callable[[int], int]]:
    """``load_vector(index, address, size)`` and ``exchange_x30(value)`` for the step-over
    fix-ups done on the registers (the binding spends ~10 µs writing a 128-bit register,
    ~4 µs reading memory; a hit is a few µs)."""
    v0, x30 = regs.UC_ARM64_REG_V0, regs.UC_ARM64_REG_X30
    found = _internals(uc)
    if found is None:

        def load_any(index: int, address: int, size: int) -> bool:
            try:
                data = uc.mem_read(address, size)
            except UcError:
                return False
            uc.reg_write(v0 + index, int.from_bytes(data, "little"))
            return True

        def exchange_any(value: int) -> int:
            old = uc.reg_read(x30)
            uc.reg_write(x30, value)
            return old

        return load_any, exchange_any
    binding, handle = found
    uclib = binding.uclib
    reg_read, reg_write, mem_read = uclib.uc_reg_read, uclib.uc_reg_write, uclib.uc_mem_read
    buf = ctypes.create_string_buffer(16)  # a V register: 128 bits, little-endian as here
    value = ctypes.c_uint64()
    ref = ctypes.byref(value)

    def load_vector(index: int, address: int, size: int) -> bool:
        ctypes.memset(buf, 0, 16)
        if mem_read(handle, address, buf, size):
            return False
        return not reg_write(handle, v0 + index, buf)

    def exchange_x30(new: int) -> int:
        reg_read(handle, x30, ref)
        old = value.value
        value.value = new
        reg_write(handle, x30, ref)
        return old

    return load_vector, exchange_x30


def _tlb_flusher(uc: Uc) -> Callable[[], None]:
    """``flush()``: drop every TLB entry (``UC_CTL_TLB_FLUSH``; ``VCpu.hide_scratch``)."""
    from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

    code = UC_CTL_IO_WRITE << 30 | UC_CTL_TLB_FLUSH  # no arguments
    found = _internals(uc)
    if found is None:
        return lambda: uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
    binding, handle = found
    ctl = binding.uclib.uc_ctl

    def flush() -> None:
        ctl(handle, code)

    return flush


class _SysReg(ctypes.Structure):
    """Unicorn's ``uc_arm64_cp_reg``: a system register by its encoding, and a value."""

    _fields_ = (
        ("crn", ctypes.c_uint32),
        ("crm", ctypes.c_uint32),
        ("op0", ctypes.c_uint32),
        ("op1", ctypes.c_uint32),
        ("op2", ctypes.c_uint32),
        ("val", ctypes.c_uint64),
    )


def _sysreg_writer(
    uc: Uc, encoding: tuple[int, int, int, int, int], values: tuple[int, ...]
) -> Callable[[int], None]:
    """``write(value)``: write one of ``values`` to the system register ``encoding``
    (op0, op1, CRn, CRm, op2, as ``cpr_write`` takes it), each value's request built
    once: 6 us a ``cpr_write`` is most of a step's cost where a step writes one twice
    (``VCpu``)."""
    op0, op1, crn, crm, op2 = encoding
    found = _internals(uc)
    if found is None:
        return lambda value: uc.cpr_write(op0, op1, crn, crm, op2, value)
    binding, handle = found
    reg_write = binding.uclib.uc_reg_write
    made = {v: _SysReg(crn, crm, op0, op1, op2, v) for v in values}
    refs = {v: ctypes.byref(r) for v, r in made.items()}

    def write(value: int) -> None:
        if reg_write(handle, regs.UC_ARM64_REG_CP_REG, refs[value]):
            uc.cpr_write(op0, op1, crn, crm, op2, value)  # raises the binding's error

    write.keep = made  # type: ignore[attr-defined]  # the structures outlive the refs
    return write


def _add_block_hook(
    uc: Uc, callback: Callable[[object, int, int, object], None], begin: int, end: int
) -> object:
    """Register ``callback(handle, address, size, user)`` as a UC_HOOK_BLOCK hook for the
    blocks that start in ``begin..end`` (inclusive), called by C without the binding's two
    wrapper frames (see ``_add_intr_hook``). Returns what must be kept alive."""
    found = _internals(uc)
    if found is None:
        return uc.hook_add(
            UC_HOOK_BLOCK,
            lambda _uc, address, size, user: callback(None, address, size, user),
            begin=begin,
            end=end,
        )
    binding, handle = found
    fptr = binding.HOOK_CODE_CFUNC(callback)
    hook = binding.uc_hook_h()
    status = binding.uclib.uc_hook_add(
        handle,
        ctypes.byref(hook),
        UC_HOOK_BLOCK,
        fptr,
        None,
        ctypes.c_uint64(begin),
        ctypes.c_uint64(end),
    )
    if status:
        raise UcError(status)
    return fptr
