"""Read a static AArch64 ELF executable (with pyelftools): the one ELF reader of the kit.

``ElfImage`` is what a loader needs from the file — entry point, program headers with
their file offsets and sizes, where the program headers themselves end up in memory
(``AT_PHDR``), and the raw bytes — with every check of "can we run this" in one place.
Two users: ``load_elf`` (and ``ElfImage.program()``) turns it into a ``Program`` with the
symbols (``break_at("main")``) and, when the file has DWARF line information (``as -g``),
the source lines; ``armbp.linux`` maps it the way the kernel's loader does. Only static
little-endian AArch64 executables are accepted: a dynamically linked program needs a
loader and a kernel the kit does not have.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from .program import Program, Segment, SourceLine

__all__ = ["ElfError", "ElfImage", "Load", "load_elf"]

# ELF header fields (System V gABI "ELF Header"; AArch64 ELF ABI for EM_AARCH64 = 183)
_ELFMAG = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EM_AARCH64 = 183
_ELF64_PHDR_SIZE = 56       # sizeof(Elf64_Phdr) (gABI "Program Header")
PF_X, PF_W, PF_R = 1, 2, 4
_ET_NAMES = {0: "ET_NONE", 1: "ET_REL (a relocatable object)", 2: "ET_EXEC",
             3: "ET_DYN (a shared object or PIE)", 4: "ET_CORE (a core dump)"}
# Section-boundary symbols GNU ld defines in every executable: addresses, but not names a
# reader of the program wrote, and they would shadow real labels in listings.
_LINKER_SYMBOLS = frozenset({
    "_edata", "edata", "_end", "end", "__end__", "_etext", "etext", "__etext",
    "__bss_start", "__bss_start__", "_bss_end__", "__bss_end__", "__data_start", "data_start",
    "__dso_handle", "_GLOBAL_OFFSET_TABLE_", "__init_array_start", "__init_array_end",
    "__fini_array_start", "__fini_array_end", "__preinit_array_start",
    "__preinit_array_end", "__rela_iplt_start", "__rela_iplt_end", "_DYNAMIC",
})
_EXPECT = "expected a static little-endian AArch64 ELF executable"


class ElfError(ValueError):
    """The file is not a static little-endian AArch64 ELF executable we can run; the
    message names the file, what is wrong with it and what was expected."""


def _flags(p_flags: int) -> str:
    return "".join(ch for bit, ch in ((PF_R, "r"), (PF_W, "w"), (PF_X, "x")) if p_flags & bit)


@dataclass(frozen=True)
class Load:
    """One ``PT_LOAD`` program header: ``filesz`` bytes at file ``offset`` go to ``vaddr``,
    zero-filled up to ``memsz``; ``flags`` are ``PF_R | PF_W | PF_X`` bits."""

    vaddr: int
    offset: int
    filesz: int
    memsz: int
    flags: int

    @property
    def perms(self) -> str:
        """The flags as ELF letters, e.g. "rx"."""
        return _flags(self.flags)


@dataclass(frozen=True)
class ElfImage:
    """What a loader reads from a static AArch64 executable's ELF and program headers.

    ``loads`` are the ``PT_LOAD`` headers in file order; ``phdr_vaddr`` is where the
    program headers are in memory (``PT_PHDR``, or found through the segment that loads
    them; 0 if none does); ``phoff``/``phentsize``/``phnum`` are the header table's place
    and shape; ``data`` is the whole file.
    """

    entry: int
    phoff: int
    phentsize: int
    phnum: int
    loads: tuple[Load, ...]
    phdr_vaddr: int
    data: bytes = field(repr=False)
    name: str = "ELF image"

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ElfImage":
        """The image in the file at ``path`` (``ElfError`` naming the path if it is not one
        we can run, or cannot be read)."""
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ElfError(f"{path}: cannot read it ({e.strerror}): {_EXPECT}") from None
        return cls.parse(data, path)

    @classmethod
    def parse(cls, data: bytes, name: str = "ELF image") -> "ElfImage":
        """The image in ``data``; ``ElfError`` messages start with ``name``."""
        data = bytes(data)
        _check_header(name, data)
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        try:
            elf = ELFFile(io.BytesIO(data))
            phoff, phentsize, phnum = elf["e_phoff"], elf["e_phentsize"], elf["e_phnum"]
            if phnum and (phentsize < _ELF64_PHDR_SIZE or phoff + phnum * phentsize > len(data)):
                raise ElfError(f"{name}: the program headers (e_phoff {phoff:#x}, e_phnum "
                               f"{phnum}, e_phentsize {phentsize}) lie outside the file of "
                               f"{len(data):#x} bytes: {_EXPECT}")
            headers = [seg.header for seg in elf.iter_segments()]
            entry = elf["e_entry"]
        except ELFError as e:
            raise ElfError(f"{name}: malformed ELF ({e}): {_EXPECT}") from None
        kinds = {h["p_type"] for h in headers}
        dynamic = sorted(kinds & {"PT_INTERP", "PT_DYNAMIC"})
        if dynamic:
            raise ElfError(f"{name}: not static (it has {' and '.join(dynamic)}, so it needs "
                           f"a dynamic loader): {_EXPECT}; link with -static")
        loads = []
        for i, h in enumerate(headers):
            if h["p_type"] != "PT_LOAD":
                continue
            ld = Load(h["p_vaddr"], h["p_offset"], h["p_filesz"], h["p_memsz"], h["p_flags"])
            if ld.filesz > ld.memsz or ld.offset + ld.filesz > len(data):
                raise ElfError(f"{name}: PT_LOAD {i} is inconsistent (filesz {ld.filesz:#x}, "
                               f"memsz {ld.memsz:#x}, offset {ld.offset:#x}, file size "
                               f"{len(data):#x}): {_EXPECT}")
            loads.append(ld)
        if not loads:
            raise ElfError(f"{name}: no PT_LOAD segment (nothing to load): {_EXPECT}")
        phdr = next((h["p_vaddr"] for h in headers if h["p_type"] == "PT_PHDR"), None)
        if phdr is None:  # the headers are wherever the segment holding them is loaded
            phdr = next((ld.vaddr - ld.offset + phoff for ld in loads
                         if ld.offset <= phoff < ld.offset + ld.filesz), 0)
        return cls(entry, phoff, phentsize, phnum, tuple(loads), phdr, data, name)

    def segments(self) -> tuple[Segment, ...]:
        """The ``PT_LOAD`` segments (those with a size in memory) as ``Segment`` s."""
        return tuple(Segment(ld.vaddr, self.data[ld.offset:ld.offset + ld.filesz], ld.memsz,
                             ld.perms) for ld in self.loads if ld.memsz)

    def program(self) -> Program:
        """The ``Program``: ``segments`` are the PT_LOAD segments; ``code`` and ``base`` the
        first executable one; ``entry`` is e_entry; ``symbols`` the named functions,
        objects and labels of .symtab; ``lines`` from .debug_line when present (else
        empty)."""
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        segments = self.segments()
        code_seg = next((s for s in segments if "x" in s.flags), None)
        if code_seg is None:
            raise ElfError(f"{self.name}: no executable PT_LOAD segment: {_EXPECT} with code "
                           f"in it")
        try:
            elf = ELFFile(io.BytesIO(self.data))
            symbols = _symbols(elf)
        except ELFError as e:
            raise ElfError(f"{self.name}: malformed ELF ({e}): {_EXPECT}") from None
        return Program(code=code_seg.data, base=code_seg.vaddr, symbols=symbols,
                       entry=self.entry, lines=_lines(elf), segments=segments, name=self.name)


def load_elf(path: str | os.PathLike) -> Program:
    """The ``Program`` in the static AArch64 ELF executable at ``path`` (see
    ``ElfImage.program``). Raises ``ElfError`` (a ``ValueError``) naming the path and what
    was expected for anything else."""
    return ElfImage.read(path).program()


def _check_header(path: str, data: bytes) -> None:
    if data[:4] != _ELFMAG:
        raise ElfError(f"{path}: not an ELF file (it starts with {data[:4]!r}, not the magic "
                       f"b'\\x7fELF'): {_EXPECT}")
    if len(data) < 64:
        raise ElfError(f"{path}: truncated ELF header ({len(data)} bytes): {_EXPECT}")
    if data[4] != _ELFCLASS64:
        raise ElfError(f"{path}: ELF class {data[4]} is not ELFCLASS64 (a 32-bit or ILP32 "
                       f"file; AArch64 Linux programs are 64-bit): {_EXPECT}")
    if data[5] != _ELFDATA2LSB:
        raise ElfError(f"{path}: not little-endian (EI_DATA = {data[5]}, big-endian is 2): "
                       f"{_EXPECT}")
    machine = int.from_bytes(data[18:20], "little")
    if machine != _EM_AARCH64:
        raise ElfError(f"{path}: wrong machine e_machine = {machine} (not AArch64; EM_X86_64 "
                       f"is 62, EM_ARM 40): expected EM_AARCH64 (183), {_EXPECT[11:]}")
    e_type = int.from_bytes(data[16:18], "little")
    if e_type != 2:
        what = _ET_NAMES.get(e_type, f"type {e_type}")
        hint = ": link it with ld first" if e_type == 1 else ""
        raise ElfError(f"{path}: e_type is {what}, not ET_EXEC (a static executable){hint}: "
                       f"{_EXPECT}")


def _symbols(elf: Any) -> dict[str, int]:
    """Named functions, objects and labels; no section/file symbols, no $x/$d mapping
    symbols (AArch64 ELF ABI "Mapping symbols"), no absolute constants, no ld-made
    boundaries like _end; a global wins over a local of the same name."""
    symtab = elf.get_section_by_name(".symtab")
    out: dict[str, int] = {}
    is_global: dict[str, bool] = {}
    if symtab is None:
        return out
    for sym in symtab.iter_symbols():
        name = sym.name
        if not name or name.startswith("$") or name in _LINKER_SYMBOLS:
            continue
        if sym["st_info"]["type"] not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
            continue
        if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
            continue
        glob = sym["st_info"]["bind"] != "STB_LOCAL"
        if name not in out or (glob and not is_global[name]):
            out[name] = sym["st_value"]
            is_global[name] = glob
    return out


def _lines(elf: Any) -> dict[int, SourceLine]:
    """address -> source line from .debug_line, with the text when the source is readable."""
    if not elf.has_dwarf_info():
        return {}
    try:
        dwarf = elf.get_dwarf_info()
        out: dict[int, SourceLine] = {}
        cache: dict[str, list[str] | None] = {}
        for cu in dwarf.iter_CUs():
            prog = dwarf.line_program_for_CU(cu)
            if prog is None:
                continue
            comp_dir = _attr(cu.get_top_DIE(), "DW_AT_comp_dir")
            for entry in prog.get_entries():
                st = entry.state
                if st is None or st.end_sequence:
                    continue
                fname = _file_name(prog, st.file, comp_dir)
                if fname not in cache:
                    cache[fname] = _read_lines(fname)
                text_lines = cache[fname]
                text = text_lines[st.line - 1] if text_lines and 0 < st.line <= len(text_lines) \
                    else ""
                out.setdefault(st.address, SourceLine(st.line, text))
        return out
    except Exception:  # DWARF is optional: a file we cannot read lines from still runs
        return {}


def _attr(die: Any, name: str) -> str:
    attr = die.attributes.get(name)
    if attr is None:
        return ""
    v = attr.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _file_name(prog: Any, index: int, comp_dir: str) -> str:
    entries = prog["file_entry"]
    version = prog["version"]
    i = index if version >= 5 else index - 1  # DWARF 5 numbers files from 0
    if not 0 <= i < len(entries):
        return ""
    fe = entries[i]
    name = fe.name.decode("utf-8", "replace") if isinstance(fe.name, bytes) else str(fe.name)
    dirs = prog["include_directory"]
    d = ""
    di = fe.dir_index if version >= 5 else fe.dir_index - 1
    if 0 <= di < len(dirs):
        d = dirs[di].decode("utf-8", "replace") if isinstance(dirs[di], bytes) else str(dirs[di])
    full = os.path.join(d, name) if d else name
    return full if os.path.isabs(full) else os.path.join(comp_dir, full)


def _read_lines(fname: str) -> list[str] | None:
    try:
        with open(fname, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return None
