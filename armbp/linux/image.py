"""The ELF file as the kernel's loader lays it out in memory: whole pages, file-backed.

Every ``PT_LOAD`` is mapped page-aligned: the page that holds its first byte starts at the
file offset rounded down too, so the bytes before ``p_vaddr`` in that page come from the
file, as with ``mmap``; the tail past ``p_filesz`` is zero (``.bss``). Pure: tested over
bytes.
"""

from __future__ import annotations

from armbp import elf
from armbp.elf import Load

PAGE = 0x1000


class ElfImage(elf.ElfImage):
    """The ELF reader's image (``armbp.elf.ElfImage``: entry, program headers, ``AT_PHDR``,
    the file's bytes), plus how the kernel's loader lays it out in memory."""

    def pages(self) -> list[tuple[int, int, str, bytes]]:
        """``(start, size, perms, bytes)`` page-aligned regions, as the kernel maps them.

        Each segment is a file mapping of whole pages: bytes before ``p_vaddr`` and, when
        the segment has no ``.bss``, after ``p_filesz`` up to the page end come from the
        file; with a ``.bss`` (``p_memsz > p_filesz``) the rest is zero. A later segment
        sharing a page replaces it, as a second ``mmap(MAP_FIXED)`` would.

        ``bytes`` holds only what the file gives: it may be shorter than ``size``, and the
        rest of the region is zero (new guest memory is zeroed, so a ``.bss`` of any size
        costs nothing here). Linear in the size of the file, whatever the sizes in memory.
        """
        owned: list[tuple[int, int, Load]] = []  # disjoint [lo, hi) page ranges, each
        for ld in self.loads:  # with the segment that maps it last
            if not ld.memsz:
                continue
            lo = ld.vaddr & ~(PAGE - 1)
            hi = (ld.vaddr + ld.memsz + PAGE - 1) & ~(PAGE - 1)
            kept = []
            for a, b, old in owned:  # what the new mapping leaves of the old
                if a < lo:
                    kept.append((a, min(b, lo), old))
                if b > hi:
                    kept.append((max(a, hi), b, old))
            owned = kept + [(lo, hi, ld)]
        out: list[tuple[int, int, str, list[bytes]]] = []
        for lo, hi, ld in sorted(owned, key=lambda r: r[0]):
            chunk = self._file_bytes(ld, lo, hi)
            last = out[-1] if out else None
            if (
                last
                and last[0] + last[1] == lo
                and last[2] == ld.perms
                and sum(map(len, last[3])) == last[1]
            ):  # joined only where no gap is
                last[3].append(chunk)  # left to fill with zeros
                out[-1] = (last[0], last[1] + hi - lo, last[2], last[3])
            else:
                out.append((lo, hi - lo, ld.perms, [chunk]))
        return [(lo, size, perms, b"".join(chunks)) for lo, size, perms, chunks in out]

    def _file_bytes(self, ld: Load, lo: int, hi: int) -> bytes:
        """What the file puts at ``lo``..``hi`` of ``ld``'s mapping (shorter: zeros follow).

        Address ``a`` of the mapping holds file byte ``a - p_vaddr + p_offset``; the file
        part ends at ``p_vaddr + p_filesz`` when the segment has a ``.bss``, else at the
        end of its last page (or of the file)."""
        if ld.memsz > ld.filesz:
            hi = min(hi, ld.vaddr + ld.filesz)
        first, last = lo - ld.vaddr + ld.offset, hi - ld.vaddr + ld.offset
        if last <= first:
            return b""
        lead = bytes(min(max(0, -first), last - first))  # before the file's first byte
        return lead + self.data[max(first, 0) : max(last, 0)]

    @property
    def end(self) -> int:
        """The first page after the highest segment: where the heap (``brk``) starts."""
        top = max(ld.vaddr + ld.memsz for ld in self.loads)
        return (top + PAGE - 1) & ~(PAGE - 1)
