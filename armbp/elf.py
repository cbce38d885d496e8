"""Load a static AArch64 ELF executable into a ``Program`` (with pyelftools).

What the vCPU needs is the PT_LOAD segments; the debugger wants the symbols (``break_at
("main")``) and, when the file has DWARF line information (``as -g``), the source lines.
Only static little-endian AArch64 executables are accepted: a dynamically linked program
needs a loader and a kernel the kit does not have.
"""
from __future__ import annotations

import io
import os
from typing import Any

from .program import Program, Segment, SourceLine

# ELF header fields (System V gABI "ELF Header"; AArch64 ELF ABI for EM_AARCH64 = 183)
_ELFMAG = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EM_AARCH64 = 183
_PF_X, _PF_W, _PF_R = 1, 2, 4
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


def _flags(p_flags: int) -> str:
    return "".join(ch for bit, ch in ((_PF_R, "r"), (_PF_W, "w"), (_PF_X, "x")) if p_flags & bit)


def load_elf(path: str | os.PathLike) -> Program:
    """The ``Program`` in the static AArch64 ELF executable at ``path``.

    ``segments`` are the PT_LOAD segments; ``code`` and ``base`` are the first executable
    one; ``entry`` is e_entry; ``symbols`` the named functions, objects and labels of
    .symtab; ``lines`` from .debug_line when present (else empty). Raises ``ValueError``
    naming the path and what was expected for anything else.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror}): {_EXPECT}") from None
    _check_header(path, data)

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        return _program(path, elf)
    except ELFError as e:
        raise ValueError(f"{path}: malformed ELF ({e}): {_EXPECT}") from None


def _check_header(path: str, data: bytes) -> None:
    if data[:4] != _ELFMAG:
        raise ValueError(f"{path}: not an ELF file (it starts with {data[:4]!r}, not "
                         f"b'\\x7fELF'): {_EXPECT}")
    if len(data) < 64:
        raise ValueError(f"{path}: truncated ELF header ({len(data)} bytes): {_EXPECT}")
    if data[4] != _ELFCLASS64:
        raise ValueError(f"{path}: ELF class {data[4]} is not ELFCLASS64 (a 32-bit or ILP32 "
                         f"file): {_EXPECT}")
    if data[5] != _ELFDATA2LSB:
        raise ValueError(f"{path}: not little-endian (EI_DATA = {data[5]}, big-endian is 2): "
                         f"{_EXPECT}")
    machine = int.from_bytes(data[18:20], "little")
    if machine != _EM_AARCH64:
        raise ValueError(f"{path}: wrong machine e_machine = {machine} (EM_X86_64 is 62, "
                         f"EM_ARM 40): expected EM_AARCH64 (183), {_EXPECT[11:]}")
    e_type = int.from_bytes(data[16:18], "little")
    if e_type != 2:
        what = _ET_NAMES.get(e_type, f"type {e_type}")
        hint = ": link it with ld first" if e_type == 1 else ""
        raise ValueError(f"{path}: e_type is {what}, not ET_EXEC{hint}: {_EXPECT}")


def _program(path: str, elf: Any) -> Program:
    kinds = {seg["p_type"] for seg in elf.iter_segments()}
    dynamic = sorted(kinds & {"PT_INTERP", "PT_DYNAMIC"})
    if dynamic:
        raise ValueError(f"{path}: not static (it has {' and '.join(dynamic)}, so it needs a "
                         f"dynamic loader): {_EXPECT}; link with -static")
    segments = tuple(
        Segment(seg["p_vaddr"], seg.data(), seg["p_memsz"], _flags(seg["p_flags"]))
        for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD" and seg["p_memsz"])
    code_seg = next((s for s in segments if "x" in s.flags), None)
    if code_seg is None:
        raise ValueError(f"{path}: no executable PT_LOAD segment: {_EXPECT} with code in it")
    return Program(code=code_seg.data, base=code_seg.vaddr, symbols=_symbols(elf),
                   entry=elf["e_entry"], lines=_lines(elf), segments=segments, name=path)


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
