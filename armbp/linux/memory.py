"""The process's address space as the kernel keeps it: which pages exist, with what rights.

``AddressSpace`` is the bookkeeping behind ``brk``, ``mmap``, ``munmap``, ``mremap`` and
``mprotect``: a page → permissions map, pure (tested without a vCPU). Every change is made
on the vCPU first through the three callables it was given (``map``, ``unmap``,
``protect``: contiguous runs of whole pages), and recorded only when that worked, so a
failed call leaves both exactly as they were. The vCPU then enforces the rights: a store
to a page ``mprotect`` made read-only faults (SIGSEGV), as on the real machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from armbp.linux.image import PAGE

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def perms_of(prot: int) -> str:
    """``"rw"`` for ``PROT_READ | PROT_WRITE``: the letters a ``Segment`` and the vCPU use."""
    return "".join(
        c for c, bit in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)) if prot & bit
    )


def page_range(start: int, size: int) -> range:
    """The pages of ``[start, start + size)``, ``start`` page-aligned, ``size`` rounded up."""
    return range(start, start + ((size + PAGE - 1) & ~(PAGE - 1)), PAGE)


class AddressSpace:
    """Which pages the process has, and the vCPU calls that change them."""

    def __init__(
        self,
        map: Callable[[int, int, str], None],
        unmap: Callable[[int, int], None] | None = None,
        protect: Callable[[int, int, str], None] | None = None,
    ):
        self._map, self._unmap, self._protect = map, unmap, protect
        self.pages: dict[int, str] = {}

    @property
    def can_unmap(self) -> bool:
        return self._unmap is not None

    @property
    def can_protect(self) -> bool:
        return self._protect is not None

    def record(self, start: int, size: int, perms: str) -> None:
        """Note pages that exist already (the ELF's, the stack): nothing is called."""
        for p in page_range(start, size):
            self.pages[p] = perms

    def mapped(self, start: int, size: int) -> bool:
        """Is every page of the range mapped?"""
        return all(p in self.pages for p in page_range(start, size))

    def free(self, start: int, size: int) -> bool:
        """Is no page of the range mapped?"""
        return not any(p in self.pages for p in page_range(start, size))

    @staticmethod
    def _runs(pages: list[int]) -> Iterator[tuple[int, int]]:
        """``(start, size)`` of each run of consecutive pages in sorted ``pages``."""
        start = prev = None
        for p in [*pages, None]:
            if p is not None and prev is not None and p == prev + PAGE:
                prev = p
                continue
            if start is not None and prev is not None:
                yield start, prev + PAGE - start
            start = prev = p

    def map(self, start: int, size: int, perms: str) -> None:
        """New zeroed pages (the range must be free)."""
        self._map(start, len(page_range(start, size)) * PAGE, perms)
        self.record(start, size, perms)

    def unmap(self, start: int, size: int) -> None:
        """Drop the mapped pages of the range (holes in it are fine, as for ``munmap``)."""
        if self._unmap is None:
            raise NotImplementedError("this vCPU cannot unmap memory")
        there = sorted(p for p in page_range(start, size) if p in self.pages)
        for run, length in self._runs(there):
            self._unmap(run, length)
            for p in range(run, run + length, PAGE):
                del self.pages[p]

    def protect(self, start: int, size: int, perms: str) -> None:
        """New rights for the range (every page of it must be mapped)."""
        if self._protect is None:
            raise NotImplementedError("this vCPU cannot change page permissions")
        pages = list(page_range(start, size))
        for run, length in self._runs(pages):
            self._protect(run, length, perms)
            for p in range(run, run + length, PAGE):
                self.pages[p] = perms

    def find_free(self, lo: int, hi: int, size: int) -> int | None:
        """The lowest ``lo`` <= address with ``size`` free bytes below ``hi`` (first fit)."""
        size = len(page_range(0, size)) * PAGE
        candidate = lo
        for p in sorted(p for p in self.pages if lo <= p < hi):
            if p - candidate >= size:
                break
            candidate = max(candidate, p + PAGE)
        return candidate if candidate + size <= hi else None

    def regions(self) -> list[tuple[int, int, str]]:
        """``(start, end, perms)`` of each run of pages with the same rights, sorted."""
        out: list[tuple[int, int, str]] = []
        for p in sorted(self.pages):
            perms = self.pages[p]
            if out and out[-1][1] == p and out[-1][2] == perms:
                out[-1] = (out[-1][0], p + PAGE, perms)
            else:
                out.append((p, p + PAGE, perms))
        return out
