"""The software-breakpoint table: which BRKs the debugger planted and what they replaced.

This is the generic layer QEMU keeps above KVM (``kvm_sw_breakpoint``: pc, saved_insn,
use_count). Inserting reads the 4-byte instruction at pc into ``saved_insn`` and writes
``BRK #0`` (0xd4200000, Arm ARM "BRK") over it; a second insert at the same pc only counts
up; removing counts down and, at zero, checks that the BRK is still there before putting the
instruction back. The table reaches guest memory only through the ``Memory`` interface, so
it imports no emulator and can be tested over a bytearray.

Every call that fails leaves memory and the table exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from armbp.encodings import BRK0, from_bytes, to_bytes
from armbp.memory import Memory, MemoryFault

INSN_SIZE = 4  # every A64 instruction is 4 bytes, 4-byte aligned (Arm ARM "A64 instruction set encoding")
BRK_BYTES = to_bytes(BRK0)
ADDRESS_LIMIT = 1 << 64


@dataclass(frozen=True)
class Breakpoint:
    """One table entry: the BRK at ``pc``, the instruction it replaced, how many users."""

    pc: int
    saved_insn: int
    use_count: int = 1

    def __repr__(self) -> str:
        return (
            f"Breakpoint(pc={self.pc:#x}, saved_insn={self.saved_insn:#010x}, "
            f"use_count={self.use_count})"
        )


class BreakpointError(ValueError):
    """A table operation the guest cannot honour; ``errno`` is KVM's answer for it."""

    def __init__(self, message: str, address: int | None = None, errno: str = "EINVAL"):
        super().__init__(message)
        self.address, self.errno = address, errno


class BreakpointOverwritten(BreakpointError):
    """At removal the word at pc is no longer our BRK: the guest wrote over it."""

    def __init__(self, address: int, found: int):
        self.expected, self.found = BRK0, found
        super().__init__(
            f"breakpoint at {address:#x} was overwritten: expected the BRK word "
            f"{BRK0:#010x}, found {found:#010x}; nothing was restored "
            f"(remove(..., force=True) drops the entry and leaves memory as it is)",
            address,
            "EINVAL",
        )


def _check_pc(pc: object) -> int:
    if isinstance(pc, bool) or not isinstance(pc, int):
        raise BreakpointError(f"breakpoint address {pc!r} is not an integer address")
    if not 0 <= pc < ADDRESS_LIMIT:
        raise BreakpointError(f"breakpoint address {pc:#x} is outside 0..2**64-1", pc)
    if pc % INSN_SIZE:
        raise BreakpointError(
            f"breakpoint address {pc:#x} is misaligned: A64 instructions are 4-byte aligned "
            f"(nearest: {pc & ~3:#x})",
            pc,
        )
    return pc


class BreakpointTable:
    """Software breakpoints over guest memory, with QEMU/KVM's insert/remove semantics."""

    def __init__(self, memory: Memory):
        self.memory = memory
        self._entries: dict[int, Breakpoint] = {}

    # -- queries ---------------------------------------------------------------------------
    def find(self, pc: int) -> Breakpoint | None:
        """The entry at ``pc``, or None (QEMU's ``kvm_find_sw_breakpoint``)."""
        return self._entries.get(pc)

    def __contains__(self, pc: object) -> bool:
        return pc in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Breakpoint]:
        return iter(sorted(self._entries.values(), key=lambda bp: bp.pc))

    def __repr__(self) -> str:
        return f"BreakpointTable({list(self)!r})"

    def saved_words(self) -> dict[int, int]:
        """pc → original instruction, for listings that show what the guest should see."""
        return {pc: bp.saved_insn for pc, bp in self._entries.items()}

    # -- insert / remove -------------------------------------------------------------------
    def insert(self, pc: int) -> Breakpoint:
        """Plant ``BRK #0`` at ``pc`` (or count one more user of the one already there).

        Fails with EINVAL, changing nothing, for a misaligned pc or memory that cannot be
        read or written — a debugger then has to use other means, as GDB does.
        """
        pc = _check_pc(pc)
        old = self._entries.get(pc)
        if old is not None:
            new = replace(old, use_count=old.use_count + 1)
            self._entries[pc] = new
            return new
        try:
            saved = from_bytes(self.memory.read(pc, INSN_SIZE))
        except MemoryFault as e:
            raise BreakpointError(f"cannot insert a breakpoint at {pc:#x}: {e}", pc) from e
        try:
            self.memory.write(pc, BRK_BYTES)
        except MemoryFault as e:
            self._put_back(pc, saved)
            raise BreakpointError(f"cannot insert a breakpoint at {pc:#x}: {e}", pc) from e
        bp = Breakpoint(pc, saved, 1)
        self._entries[pc] = bp
        return bp

    def remove(self, pc: int, *, force: bool = False) -> Breakpoint | None:
        """Drop one user of the breakpoint at ``pc``; the last one restores the instruction.

        Returns the entry that remains, or None once it is gone. Before restoring, the word
        at pc must still be our BRK; if the guest wrote over it, ``BreakpointOverwritten``
        names the address, the BRK expected and the word found, and nothing changes.
        ``force=True`` removes the entry whatever its count: an intact BRK is restored, an
        overwritten one is left as the guest wrote it.
        """
        pc = _check_pc(pc)
        bp = self._entries.get(pc)
        if bp is None:
            known = ", ".join(f"{p:#x}" for p in sorted(self._entries)) or "none"
            raise BreakpointError(
                f"no breakpoint at {pc:#x} (breakpoints: {known})", pc, "ENOENT"
            )
        if bp.use_count > 1 and not force:
            new = replace(bp, use_count=bp.use_count - 1)
            self._entries[pc] = new
            return new
        try:
            found = from_bytes(self.memory.read(pc, INSN_SIZE))
        except MemoryFault as e:
            if not force:
                raise BreakpointError(
                    f"cannot remove the breakpoint at {pc:#x}: {e}", pc
                ) from e
            found = None
        if found == BRK0:
            try:
                self.memory.write(pc, to_bytes(bp.saved_insn))
            except MemoryFault as e:
                if not force:
                    raise BreakpointError(
                        f"cannot remove the breakpoint at {pc:#x}: {e}", pc
                    ) from e
        elif not force:
            assert found is not None  # an unreadable word without force raised above
            raise BreakpointOverwritten(pc, found)
        del self._entries[pc]
        return None

    def remove_all(self, *, force: bool = False) -> None:
        """Remove every breakpoint, restoring memory (QEMU does this on detach).

        All words are checked first: if any BRK was overwritten, the error names every
        such address and nothing changes. With ``force=True`` intact BRKs are restored and
        overwritten ones dropped.
        """
        if not force:
            bad = []
            for pc in sorted(self._entries):
                try:
                    found = from_bytes(self.memory.read(pc, INSN_SIZE))
                except MemoryFault as e:
                    raise BreakpointError(
                        f"cannot remove the breakpoint at {pc:#x}: {e}", pc
                    ) from e
                if found != BRK0:
                    bad.append(f"{pc:#x} (found {found:#010x})")
            if bad:
                raise BreakpointError(
                    f"breakpoints overwritten by the guest: {', '.join(bad)}; expected the BRK "
                    f"word {BRK0:#010x}; nothing was removed (remove_all(force=True) drops them)"
                )
        for pc in sorted(self._entries):
            self.remove(pc, force=True)

    def _put_back(self, pc: int, saved: int) -> None:
        """Best effort after a failed write: leave the original word in place."""
        try:
            self.memory.write(pc, to_bytes(saved))
        except MemoryFault:
            pass

    # -- the debugger's view of memory -----------------------------------------------------
    def _overlapping(self, address: int, size: int) -> list[Breakpoint]:
        lo, hi = address - (INSN_SIZE - 1), address + size
        if len(self._entries) < size // INSN_SIZE + 1:
            return [bp for pc, bp in sorted(self._entries.items()) if lo <= pc < hi]
        return [
            self._entries[pc]
            for pc in range(lo + (-lo % INSN_SIZE), hi, INSN_SIZE)
            if pc in self._entries
        ]

    def shadow(self, address: int, data: bytes) -> bytes:
        """``data`` read from ``address`` with each live BRK replaced by the saved instruction.

        GDB keeps no copy of what its breakpoints replaced when the stub accepted them, so
        reads through the debugger must show the original instruction. A word the guest has
        overwritten (no longer our BRK) is shown as it really is. Whether a word is still
        ours is decided on the whole word, also when ``data`` holds only part of it: a
        guest store into byte 0 of a BRK must show in a read of bytes 2..3 too, or reads of
        different sizes would disagree.
        """
        if not self._entries:
            return data  # (no BRK anywhere: a watchpoint stop reads this twice)
        out = bytearray(data)
        end = address + len(data)
        for bp in self._overlapping(address, len(data)):
            start = bp.pc - address
            if bp.pc >= address and bp.pc + INSN_SIZE <= end:
                planted = data[start : start + INSN_SIZE] == BRK_BYTES
            else:  # the read holds part of this word: look at all of it
                planted = self._planted(bp.pc)
            if not planted:
                continue  # the guest changed this word: show memory as it is
            saved = to_bytes(bp.saved_insn)
            for i in range(INSN_SIZE):
                j = start + i
                if 0 <= j < len(out):
                    out[j] = saved[i]
        return bytes(out)

    def _planted(self, pc: int) -> bool:
        """Is the word at ``pc`` our BRK (False when it cannot be read)?"""
        try:
            return self.memory.read(pc, INSN_SIZE) == BRK_BYTES
        except MemoryFault:
            return False

    def write_through(self, address: int, data: bytes) -> None:
        """Write guest memory as the debugger's user means it, keeping planted BRKs planted.

        Bytes that land on a live breakpoint become part of its ``saved_insn`` (so they
        appear when it is removed); the BRK stays in memory. A BRK the guest has already
        overwritten is not ours any more: the write goes to memory. Nothing changes if the
        write faults.
        """
        data = bytes(data)
        out = bytearray(data)
        updates = []
        for bp in self._overlapping(address, len(data)):
            if not self._planted(bp.pc):
                continue  # the guest overwrote this BRK: the write goes to memory as it is
            saved = bytearray(to_bytes(bp.saved_insn))
            for i in range(INSN_SIZE):
                j = bp.pc + i - address
                if 0 <= j < len(out):
                    saved[i] = data[j]
                    out[j] = BRK_BYTES[i]
            updates.append(replace(bp, saved_insn=from_bytes(bytes(saved))))
        self.memory.write(address, bytes(out))
        for bp in updates:
            self._entries[bp.pc] = bp
