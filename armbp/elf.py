"""Read a static AArch64 ELF executable: the one ELF reader of the kit.

``ElfImage`` is what a loader needs from the file — entry point, program headers with
their file offsets and sizes, where the program headers themselves end up in memory
(``AT_PHDR``), and the raw bytes — with every check of "can we run this" in one place.
Two users: ``load_elf`` (and ``ElfImage.program()``) turns it into a ``Program`` with the
symbols (``break_at("main")``) and, when the file has DWARF line information (``as -g``),
the source lines; ``armbp.linux`` maps it the way the kernel's loader does. Only static
little-endian AArch64 executables are accepted: a dynamically linked program needs a
loader and a kernel the kit does not have.

The headers, program headers and symbol table are read here, field by field, each value
checked against the file and the guest before it is used: a damaged or hostile file gets
an ``ElfError`` naming the bad value, never a crash, a hang or an allocation the size of
a lie. Only the optional DWARF line table is read with pyelftools.
"""

from __future__ import annotations

import bisect
import io
import os
import re
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only (typing.Self is Python 3.11+)
    from typing_extensions import Self


from .program import Program, Segment, SourceLine

__all__ = ["ADDRESS_LIMIT", "MEMORY_LIMIT", "ElfError", "ElfImage", "Load", "load_elf"]

# ELF header fields (System V gABI "ELF Header"; AArch64 ELF ABI for EM_AARCH64 = 183)
_ELFMAG = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EM_AARCH64 = 183
_EHDR = struct.Struct("<QQQIHHHHHH")  # e_entry … e_shstrndx, from offset 24
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr (gABI "Program Header"), 56 bytes
_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr (gABI "Sections"), 64 bytes
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym (gABI "Symbol Table"), 24 bytes
_ELF64_PHDR_SIZE = _PHDR.size
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_PHDR = 1, 2, 3, 6
_SHT_SYMTAB, _SHT_STRTAB = 2, 3
_SHN_UNDEF, _SHN_ABS = 0, 0xFFF1
_STT_NAMED = (0, 1, 2)  # STT_NOTYPE, STT_OBJECT, STT_FUNC
_STB_LOCAL = 0
PF_X, PF_W, PF_R = 1, 2, 4
_ET_NAMES = {
    0: "ET_NONE",
    1: "ET_REL (a relocatable object)",
    2: "ET_EXEC",
    3: "ET_DYN (a shared object or PIE)",
    4: "ET_CORE (a core dump)",
}
# The Linux loader refuses a program header table larger than 64 KiB (1170 headers).
_PHDR_TABLE_LIMIT = 64 << 10

ADDRESS_LIMIT = 1 << 44
"""The guest's address space ends here: every byte an ELF asks for must lie below 2^44.

The vCPU runs with its MMU off, so a virtual address is a physical one, and Unicorn's CPU
(a Cortex-A72) implements 44 physical address bits (its ID_AA64MMFR0_EL1 reads 0x1124:
PARange = 0b0100, Arm ARM "ID_AA64MMFR0_EL1, AArch64 Memory Model Feature Register 0").
Above that every fetch, load and store is an Address size fault (measured: a fetch at
2^44 is an instruction abort, a load a data abort). Linux would allow a process 48 bits."""

MEMORY_LIMIT = 1 << 30
"""The most memory the kit gives an emulated guest's PT_LOAD segments together: 1 GiB."""
_FILE_LIMIT = 1 << 30  # the largest ELF file read (it is read whole)

# Section-boundary symbols GNU ld defines in every executable: addresses, but not names a
# reader of the program wrote, and they would shadow real labels in listings.
_LINKER_SYMBOLS = frozenset(
    {
        "_edata",
        "edata",
        "_end",
        "end",
        "__end__",
        "_etext",
        "etext",
        "__etext",
        "__bss_start",
        "__bss_start__",
        "_bss_end__",
        "__bss_end__",
        "__data_start",
        "data_start",
        "__dso_handle",
        "_GLOBAL_OFFSET_TABLE_",
        "__init_array_start",
        "__init_array_end",
        "__fini_array_start",
        "__fini_array_end",
        "__preinit_array_start",
        "__preinit_array_end",
        "__rela_iplt_start",
        "__rela_iplt_end",
        "_DYNAMIC",
    }
)
_EXPECT = "expected a static little-endian AArch64 ELF executable"


class ElfError(ValueError):
    """The file is not a static little-endian AArch64 ELF executable we can run; the
    message names the file, what is wrong with it and what was expected."""


def _flags(p_flags: int) -> str:
    return "".join(ch for bit, ch in ((PF_R, "r"), (PF_W, "w"), (PF_X, "x")) if p_flags & bit)


def _size(n: int) -> str:
    """``n`` bytes in the largest binary unit that divides it, e.g. "1 GiB"."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


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
    def read(cls, path: str | os.PathLike) -> Self:
        """The image in the file at ``path`` (``ElfError`` naming the path if it is not one
        we can run, or cannot be read)."""
        path = os.fspath(path)
        try:
            with open(path, "rb", opener=_open_nonblocking) as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
                    raise ElfError(f"{path}: not a regular file: {_EXPECT} in a file")
                if st.st_size > _FILE_LIMIT:
                    raise ElfError(
                        f"{path}: the file is {st.st_size:#x} bytes, larger than "
                        f"the {_size(_FILE_LIMIT)} the kit reads: {_EXPECT}"
                    )
                data = f.read(st.st_size + 1)  # the size it has, not the limit
        except OSError as e:
            raise ElfError(f"{path}: cannot read it ({e.strerror}): {_EXPECT}") from None
        except ValueError as e:  # e.g. a NUL byte in the path
            if isinstance(e, ElfError):
                raise
            raise ElfError(f"{path!r}: cannot read it ({e}): {_EXPECT}") from None
        return cls.parse(data, path)

    @classmethod
    def parse(cls, data: bytes, name: str = "ELF image") -> Self:
        """The image in ``data``; ``ElfError`` messages start with ``name``.

        Every ``PT_LOAD`` must lie in the file and below ``ADDRESS_LIMIT``, all of them
        together need at most ``MEMORY_LIMIT`` bytes, and the entry point must be an
        aligned address in an executable one: checked here, before anything is allocated.
        """
        data = bytes(data)
        _check_header(name, data)
        entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum, *_ = _EHDR.unpack_from(
            data, 24
        )
        if phnum:
            table = phnum * phentsize
            if phentsize != _ELF64_PHDR_SIZE:
                raise ElfError(
                    f"{name}: e_phentsize is {phentsize}: expected "
                    f"{_ELF64_PHDR_SIZE} (the size of an Elf64_Phdr); {_EXPECT}"
                )
            if table > _PHDR_TABLE_LIMIT:
                raise ElfError(
                    f"{name}: e_phnum {phnum} makes a program header table of "
                    f"{table} bytes, more than the 64 KiB Linux accepts: {_EXPECT}"
                )
            if phoff + table > len(data):
                raise ElfError(
                    f"{name}: the program headers (e_phoff {phoff:#x}, e_phnum "
                    f"{phnum}, e_phentsize {phentsize}) lie outside the file of "
                    f"{len(data):#x} bytes: {_EXPECT}"
                )
        headers = list(_PHDR.iter_unpack(data[phoff : phoff + phnum * phentsize]))
        kinds = {h[0] for h in headers}
        dynamic = [
            kind
            for t, kind in ((PT_DYNAMIC, "PT_DYNAMIC"), (PT_INTERP, "PT_INTERP"))
            if t in kinds
        ]
        if dynamic:
            raise ElfError(
                f"{name}: not static (it has {' and '.join(dynamic)}, so it needs "
                f"a dynamic loader): {_EXPECT}; link with -static"
            )
        loads = []
        for i, (p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align) in enumerate(
            headers
        ):
            if p_type != PT_LOAD:
                continue
            ld = Load(vaddr, offset, filesz, memsz, flags)
            if ld.filesz > ld.memsz or ld.offset + ld.filesz > len(data):
                raise ElfError(
                    f"{name}: PT_LOAD {i} is inconsistent (filesz {ld.filesz:#x}, "
                    f"memsz {ld.memsz:#x}, offset {ld.offset:#x}, file size "
                    f"{len(data):#x}): {_EXPECT}"
                )
            if ld.vaddr + ld.memsz > ADDRESS_LIMIT:
                raise ElfError(
                    f"{name}: PT_LOAD {i} (p_vaddr {ld.vaddr:#x}, p_memsz "
                    f"{ld.memsz:#x}) ends at {ld.vaddr + ld.memsz:#x}, beyond the "
                    f"guest's 44-bit address space (below {ADDRESS_LIMIT:#x}): "
                    f"{_EXPECT}"
                )
            loads.append(ld)
        if not loads:
            raise ElfError(f"{name}: no PT_LOAD segment (nothing to load): {_EXPECT}")
        total = sum(ld.memsz for ld in loads)
        if total > MEMORY_LIMIT:
            raise ElfError(
                f"{name}: its PT_LOAD segments need {total:#x} bytes of memory "
                f"(p_memsz {', '.join(f'{ld.memsz:#x}' for ld in loads[:4])}"
                f"{', …' if len(loads) > 4 else ''}), more than the "
                f"{_size(MEMORY_LIMIT)} the kit gives a guest: {_EXPECT}"
            )
        check_entry(name, entry, ((ld.vaddr, ld.vaddr + ld.memsz, ld.perms) for ld in loads))
        phdr = next((h[3] for h in headers if h[0] == PT_PHDR), None)
        if phdr is None:  # the headers are wherever the segment holding them is loaded
            phdr = next(
                (
                    ld.vaddr - ld.offset + phoff
                    for ld in loads
                    if ld.offset <= phoff < ld.offset + ld.filesz
                ),
                0,
            )
        return cls(entry, phoff, phentsize, phnum, tuple(loads), phdr, data, name)

    def segments(self) -> tuple[Segment, ...]:
        """The ``PT_LOAD`` segments (those with a size in memory) as ``Segment`` s."""
        return tuple(
            Segment(ld.vaddr, self.data[ld.offset : ld.offset + ld.filesz], ld.memsz, ld.perms)
            for ld in self.loads
            if ld.memsz
        )

    def program(self) -> Program:
        """The ``Program``: ``segments`` are the PT_LOAD segments; ``code`` and ``base`` the
        first executable one; ``entry`` is e_entry; ``symbols`` the named functions,
        objects and labels of the symbol table; ``lines`` from .debug_line when present
        (else empty)."""
        segments = self.segments()
        code_seg = next((s for s in segments if "x" in s.flags), None)
        if code_seg is None:
            raise ElfError(
                f"{self.name}: no executable PT_LOAD segment: {_EXPECT} with code in it"
            )
        symbols = _symbols(self.name, self.data)
        return Program(
            code=code_seg.data,
            base=code_seg.vaddr,
            symbols=symbols,
            entry=self.entry,
            lines=_lines(self.data),
            segments=segments,
            name=self.name,
        )


def load_elf(path: str | os.PathLike) -> Program:
    """The ``Program`` in the static AArch64 ELF executable at ``path`` (see
    ``ElfImage.program``). Raises ``ElfError`` (a ``ValueError``) naming the path and what
    was expected for anything else."""
    return ElfImage.read(path).program()


def check_entry(name: str, entry: int, regions: Iterable[tuple[int, int, str]]) -> None:
    """Refuse an entry point the guest could not start at, before anything is built.

    ``regions`` are ``(start, end, perms)`` of what will be mapped. A64 instructions are
    4-byte aligned (Arm ARM "PC alignment checking"), and the first one must be fetched
    from executable memory: otherwise the program would fault before its first instruction.
    """
    if entry % 4:
        raise ElfError(
            f"{name}: e_entry {entry:#x} is not 4-byte aligned: {_EXPECT} whose "
            f"entry point is an A64 instruction"
        )
    regions = list(regions)
    if not any(lo <= entry < hi and "x" in perms for lo, hi, perms in regions):
        code = ", ".join(f"{lo:#x}..{hi:#x}" for lo, hi, perms in regions if "x" in perms)
        raise ElfError(
            f"{name}: e_entry {entry:#x} is not in executable memory (executable: "
            f"{code or 'none'}): {_EXPECT} whose entry point is in its code"
        )


def _check_header(path: str, data: bytes) -> None:
    if data[:4] != _ELFMAG:
        raise ElfError(
            f"{path}: not an ELF file (it starts with {data[:4]!r}, not the magic "
            f"b'\\x7fELF'): {_EXPECT}"
        )
    if len(data) < 64:
        raise ElfError(f"{path}: truncated ELF header ({len(data)} bytes): {_EXPECT}")
    if data[4] != _ELFCLASS64:
        raise ElfError(
            f"{path}: ELF class {data[4]} is not ELFCLASS64 (a 32-bit or ILP32 "
            f"file; AArch64 Linux programs are 64-bit): {_EXPECT}"
        )
    if data[5] != _ELFDATA2LSB:
        raise ElfError(
            f"{path}: not little-endian (EI_DATA = {data[5]}, big-endian is 2): {_EXPECT}"
        )
    machine = int.from_bytes(data[18:20], "little")
    if machine != _EM_AARCH64:
        raise ElfError(
            f"{path}: wrong machine e_machine = {machine} (not AArch64; EM_X86_64 "
            f"is 62, EM_ARM 40): expected EM_AARCH64 (183), {_EXPECT[11:]}"
        )
    e_type = int.from_bytes(data[16:18], "little")
    if e_type != 2:
        what = _ET_NAMES.get(e_type, f"type {e_type}")
        hint = ": link it with ld first" if e_type == 1 else ""
        raise ElfError(
            f"{path}: e_type is {what}, not ET_EXEC (a static executable){hint}: {_EXPECT}"
        )


def _table(name: str, data: bytes, what: str, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``: a table of the file, which must lie inside it."""
    if offset + size > len(data):
        raise ElfError(
            f"{name}: {what} (offset {offset:#x}, size {size:#x}) lies outside the "
            f"file of {len(data):#x} bytes: {_EXPECT}"
        )
    return data[offset : offset + size]


def _symbols(name: str, data: bytes) -> dict[str, int]:
    """Named functions, objects and labels; no section/file symbols, no $x/$d mapping
    symbols (AArch64 ELF ABI "Mapping symbols"), no absolute constants, no ld-made
    boundaries like _end; a global wins over a local of the same name.

    The symbol table is the ``SHT_SYMTAB`` section (found by its type, as readelf does,
    not by its name); its names are in the ``SHT_STRTAB`` its ``sh_link`` names. A file
    without section headers or a symbol table (stripped) has no symbols.
    """
    shoff, shentsize, shnum = (
        *struct.unpack_from("<Q", data, 40),
        *struct.unpack_from("<HH", data, 58),
    )
    if not shnum:
        return {}
    if shentsize != _SHDR.size:
        raise ElfError(
            f"{name}: e_shentsize is {shentsize}: expected {_SHDR.size} (the size "
            f"of an Elf64_Shdr); {_EXPECT}"
        )
    sections = list(
        _SHDR.iter_unpack(
            _table(name, data, f"the section headers (e_shnum {shnum})", shoff, shnum * 64)
        )
    )
    index = next((i for i, sh in enumerate(sections) if sh[1] == _SHT_SYMTAB), None)
    if index is None:
        return {}
    _n, _t, _f, _a, sym_off, sym_size, link, _info, _al, entsize = sections[index]
    what = f"the symbol table (section {index})"
    if entsize != _SYM.size:
        raise ElfError(
            f"{name}: {what} has sh_entsize {entsize}: expected {_SYM.size} (the "
            f"size of an Elf64_Sym); {_EXPECT}"
        )
    table = _table(name, data, what, sym_off, sym_size - sym_size % _SYM.size)
    if not 0 < link < shnum or sections[link][1] != _SHT_STRTAB:
        kind = f"type {sections[link][1]}" if 0 < link < shnum else "no section"
        raise ElfError(
            f"{name}: {what} has sh_link {link} ({kind}): expected the index of "
            f"its SHT_STRTAB string table; {_EXPECT}"
        )
    strings = _table(
        name, data, f"its string table (section {link})", sections[link][4], sections[link][5]
    )
    nuls = [m.start() for m in re.finditer(b"\0", strings)]
    out: dict[str, int] = {}
    is_global: dict[str, bool] = {}
    for k, (st_name, info, _other, shndx, value, _size) in enumerate(_SYM.iter_unpack(table)):
        if st_name >= len(strings):
            if not st_name:
                continue  # an empty string table: nameless symbols only
            raise ElfError(
                f"{name}: symbol {k} has st_name {st_name:#x}, outside its string "
                f"table of {len(strings):#x} bytes: {_EXPECT}"
            )
        i = bisect.bisect_left(nuls, st_name)  # the NUL that ends the name, if any
        sym = strings[st_name : nuls[i] if i < len(nuls) else len(strings)].decode(
            "utf-8", "backslashreplace"
        )
        if not sym or sym.startswith("$") or sym in _LINKER_SYMBOLS:
            continue
        if info & 0xF not in _STT_NAMED or shndx in (_SHN_UNDEF, _SHN_ABS):
            continue
        glob = info >> 4 != _STB_LOCAL
        if sym not in out or (glob and not is_global[sym]):
            out[sym] = value
            is_global[sym] = glob
    return out


def _lines(data: bytes) -> dict[int, SourceLine]:
    """address -> source line from .debug_line, with the text when the source is readable.

    Line information is a help, not a need: a file whose DWARF cannot be read still runs,
    without source lines."""
    if b"debug_line\0" not in data:  # no section of that name (.debug_line, .zdebug_line)
        return {}
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        if not elf.has_dwarf_info():
            return {}
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
                text = (
                    text_lines[st.line - 1]
                    if text_lines and 0 < st.line <= len(text_lines)
                    else ""
                )
                out.setdefault(st.address, SourceLine(st.line, text))
        return out
    except Exception:  # DWARF is optional: a file we cannot read lines from still runs  # noqa: BLE001
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
        d = (
            dirs[di].decode("utf-8", "replace")
            if isinstance(dirs[di], bytes)
            else str(dirs[di])
        )
    full = os.path.join(d, name) if d else name
    return full if os.path.isabs(full) else os.path.join(comp_dir, full)


_SOURCE_LIMIT = 16 << 20  # a source file larger than this is not shown


def _read_lines(fname: str) -> list[str] | None:
    """The lines of the source file ``fname`` names, if it is a readable regular file.

    The name comes from the ELF: it may be anything (a FIFO that blocks, ``/dev/zero``
    that never ends), so only a regular file of sensible size is read."""
    try:
        with open(fname, "rb", opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > _SOURCE_LIMIT:
                return None
            return f.read(_SOURCE_LIMIT).decode("utf-8", "replace").splitlines()
    except (OSError, ValueError):
        return None


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
