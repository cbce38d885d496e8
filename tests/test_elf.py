"""load_elf (and, under fuzzing, the Linux loader) over executables built with GNU as and ld."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from armbp import Program, load_elf
from armbp.asm import assemble
from armbp.elf import ADDRESS_LIMIT, ElfError, ElfImage, Load
from armbp.linux import PAGE
from armbp.program import SourceLine

SOURCE = """\
        .text
        .global _start
_start: mov x0, #3
loop:   subs x0, x0, #1
        b.ne loop
        adr x1, counter
        brk #0
        .type helper, %function
helper: ret
        .data
        .type counter, %object
counter: .quad 42
        .bss
buf:    .skip 64
        .equ CONST, 5
"""
TEXT = 0x400000


def _tools() -> None:
    for tool in ("aarch64-linux-gnu-as", "aarch64-linux-gnu-ld"):
        require_tool(tool, "binutils-aarch64-linux-gnu")


def build(
    tmp_path: Path,
    source: str = SOURCE,
    *ld_args: str,
    name: str = "prog",
    as_args: tuple[str, ...] = ("-g",),
) -> Path:
    _tools()
    src, obj, out = tmp_path / f"{name}.s", tmp_path / f"{name}.o", tmp_path / name
    src.write_text(source)
    subprocess.run(
        ["aarch64-linux-gnu-as", *as_args, "-o", str(obj), str(src)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["aarch64-linux-gnu-ld", *ld_args, "-o", str(out), str(obj)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def elf_path(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("elf"), SOURCE, "-static", f"-Ttext={TEXT:#x}")


def test_segments_entry_and_code(elf_path):
    prog = load_elf(elf_path)
    assert isinstance(prog, Program) and prog.name == str(elf_path)
    assert prog.entry == TEXT == prog.symbols["_start"]
    code_seg, data_seg = prog.segments
    assert "x" in code_seg.flags and "w" not in code_seg.flags
    assert data_seg.flags == "rw"
    # the executable segment holds the ELF headers too; the program text starts at entry
    assert (prog.base, prog.code) == (code_seg.vaddr, code_seg.data)
    assert code_seg.vaddr <= TEXT < code_seg.end
    # .data is in the file, .bss only in memory
    assert data_seg.vaddr == prog.symbols["counter"]
    assert data_seg.data[:8] == (42).to_bytes(8, "little")
    assert data_seg.memsz == 8 + 64 and len(data_seg.data) == 8
    # the text is what our assembler makes of the same lines at the same address
    text_only = SOURCE.split("        .data")[0] + "counter = {:#x}\n".format(
        prog.symbols["counter"]
    )
    ours = assemble(text_only, base=TEXT).code
    off = TEXT - prog.base
    assert prog.code[off : off + len(ours)] == ours


def test_symbols(elf_path):
    prog = load_elf(elf_path)
    assert prog.symbols == {
        "_start": TEXT,
        "loop": TEXT + 4,
        "helper": TEXT + 20,
        "counter": prog.segments[1].vaddr,
        "buf": prog.segments[1].vaddr + 8,
    }
    assert prog.address_of("loop") == TEXT + 4
    assert prog.symbol_at(TEXT + 8) == "loop+0x4"


def test_source_lines_from_debug_line(elf_path):
    prog = load_elf(elf_path)
    assert prog.line_at(TEXT + 4).number == 4
    assert prog.line_at(TEXT + 4).text == "loop:   subs x0, x0, #1"
    assert prog.line_at(TEXT + 20).text == "helper: ret"


def test_omagic_layout_puts_the_text_at_base(tmp_path):
    prog = load_elf(build(tmp_path, SOURCE, "-static", "-N", f"-Ttext={TEXT:#x}"))
    assert prog.base == TEXT == prog.entry
    assert prog.code.startswith(assemble("mov x0, #3").code)


def test_not_an_elf(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(
        ValueError,
        match=r"notes\.txt: not an ELF file .*expected a static "
        r"little-endian AArch64 ELF executable",
    ):
        load_elf(p)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothere: cannot read it"):
        load_elf(tmp_path / "nothere")


def _patched(src: Path, dst: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(src.read_bytes())
    raw[offset : offset + len(data)] = data
    dst.write_bytes(bytes(raw))
    return dst


def test_wrong_machine(elf_path, tmp_path):
    p = _patched(elf_path, tmp_path / "x86", 18, (62).to_bytes(2, "little"))  # EM_X86_64
    with pytest.raises(
        ValueError,
        match=r"x86: wrong machine e_machine = 62 .*expected "
        r"EM_AARCH64 \(183\)",
    ):
        load_elf(p)


def test_big_endian(elf_path, tmp_path):
    p = _patched(elf_path, tmp_path / "be", 5, b"\x02")  # EI_DATA = ELFDATA2MSB
    with pytest.raises(ValueError, match=r"be: not little-endian"):
        load_elf(p)


def test_32_bit_class(elf_path, tmp_path):
    p = _patched(elf_path, tmp_path / "c32", 4, b"\x01")
    with pytest.raises(ValueError, match=r"c32: ELF class 1 is not ELFCLASS64"):
        load_elf(p)


def test_relocatable_object(tmp_path):
    _tools()
    (tmp_path / "o.s").write_text("nop\n")
    subprocess.run(
        ["aarch64-linux-gnu-as", "-o", str(tmp_path / "o.o"), str(tmp_path / "o.s")],
        check=True,
    )
    with pytest.raises(ValueError, match=r"o\.o: e_type is ET_REL .*link it with ld first"):
        load_elf(tmp_path / "o.o")


def test_dynamic_executable_is_refused(tmp_path):
    lib = build(tmp_path, ".global f\nf: ret\n", "-shared", name="libf.so")
    exe = build(
        tmp_path,
        ".global _start\n_start: bl f\n",
        "--dynamic-linker=/lib/ld-linux-aarch64.so.1",
        str(lib),
        name="dyn",
    )
    with pytest.raises(
        ValueError,
        match=r"dyn: .*not static \(it has PT_DYNAMIC and "
        r"PT_INTERP.*link with -static",
    ):
        load_elf(exe)


def test_shared_object_is_refused(tmp_path):
    lib = build(tmp_path, ".global f\nf: ret\n", "-shared", name="libg.so")
    with pytest.raises(ValueError, match=r"libg\.so: e_type is ET_DYN"):
        load_elf(lib)


def test_the_image_has_what_a_loader_needs(elf_path):
    data = elf_path.read_bytes()
    img = ElfImage.read(elf_path)
    assert img.name == str(elf_path) and img.data == data and img.entry == TEXT
    assert (img.phoff, img.phentsize) == (64, 56) and img.phnum >= 2
    code, dat = img.loads
    assert isinstance(code, Load) and (code.perms, dat.perms) == ("rx", "rw")
    assert code.offset == 0 and code.vaddr <= TEXT < code.vaddr + code.memsz
    assert (dat.filesz, dat.memsz) == (8, 8 + 64)  # .data in the file, .bss not
    assert data[dat.offset : dat.offset + 8] == (42).to_bytes(8, "little")
    assert img.phdr_vaddr == code.vaddr + img.phoff  # loaded with the text
    assert img.program() == load_elf(elf_path)
    assert ElfImage.parse(data) == ElfImage.parse(data, "ELF image")


def test_every_refusal_is_an_elf_error_naming_the_file(elf_path, tmp_path):
    bad = _patched(elf_path, tmp_path / "x86", 18, (62).to_bytes(2, "little"))
    with pytest.raises(ElfError, match=r"x86: wrong machine") as e:
        load_elf(bad)
    assert isinstance(e.value, ValueError)
    with pytest.raises(ElfError, match=r"^ELF image: wrong machine"):
        ElfImage.parse(bad.read_bytes())


def test_program_headers_outside_the_file_are_named(elf_path):
    data = bytearray(elf_path.read_bytes())
    data[32:40] = (len(data) - 8).to_bytes(8, "little")  # e_phoff near the end
    with pytest.raises(
        ElfError,
        match=r"the program headers \(e_phoff 0x[0-9a-f]+, e_phnum "
        r"\d+, e_phentsize 56\) lie outside the file",
    ):
        ElfImage.parse(bytes(data), "cut")


# --- malformed files: every one is an ElfError naming the value, at once ------------------------
def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def _phdr(data: bytes, i: int) -> int:
    """File offset of program header ``i``."""
    return int.from_bytes(data[32:40], "little") + 56 * i


def _shdr(data: bytes, type_: int) -> int:
    """File offset of the first section header of type ``type_``."""
    shoff = int.from_bytes(data[40:48], "little")
    for i in range(int.from_bytes(data[60:62], "little")):
        at = shoff + 64 * i
        if int.from_bytes(data[at + 4 : at + 8], "little") == type_:
            return at
    raise AssertionError(f"no section of type {type_}")


def _load_patched(elf_path: Path, tmp_path: Path, *patches: tuple[int, bytes]):
    raw = bytearray(elf_path.read_bytes())
    for offset, data in patches:
        raw[offset : offset + len(data)] = data
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(raw))
    return load_elf(bad)


@pytest.mark.timeout(60)  # before the fix, 2**64 - 1 never returned
@pytest.mark.parametrize(
    "memsz, message",
    [
        (
            (1 << 64) - 1,
            (
                r"PT_LOAD 1 \(p_vaddr 0x[0-9a-f]+, p_memsz 0xffffffffffffffff\) ends at "
                r"0x1[0-9a-f]{16}, beyond the guest's 44-bit address space \(below "
                r"0x100000000000\)"
            ),
        ),
        (
            1 << 40,
            (
                r"its PT_LOAD segments need 0x100000[0-9a-f]{5} bytes of memory \(p_memsz "
                r"0x[0-9a-f]+, 0x10000000000\), more than the 1 GiB the kit gives a guest"
            ),
        ),
    ],
)
def test_a_huge_p_memsz_is_refused_before_anything_is_allocated(
    elf_path, tmp_path, memsz, message
):
    import tracemalloc

    data = elf_path.read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(ElfError, match=message):
            _load_patched(elf_path, tmp_path, (_phdr(data, 1) + 40, _u64(memsz)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the file, not the segment


def test_a_symtab_section_of_another_type_is_not_the_symbol_table(elf_path, tmp_path):
    data = elf_path.read_bytes()
    at = _shdr(data, 2)  # .symtab, SHT_SYMTAB
    prog = _load_patched(elf_path, tmp_path, (at + 4, (8).to_bytes(4, "little")))  # NOBITS
    assert prog.symbols == {} and prog.entry == TEXT  # found by type, as readelf does
    with pytest.raises(
        ElfError,
        match=r"bad: the symbol table \(section \d+\) has "
        r"sh_entsize 0: expected 24",
    ):
        _load_patched(elf_path, tmp_path, (at + 56, _u64(0)))
    with pytest.raises(
        ElfError,
        match=r"the symbol table \(section \d+\) has sh_link 0 "
        r"\(no section\): expected the index of its SHT_STRTAB",
    ):
        _load_patched(elf_path, tmp_path, (at + 40, bytes(4)))


def test_string_and_table_offsets_outside_the_file_are_named(elf_path, tmp_path):
    data = elf_path.read_bytes()
    symtab = _shdr(data, 2)
    first = int.from_bytes(data[symtab + 24 : symtab + 32], "little") + 24  # symbol 1
    with pytest.raises(
        ElfError,
        match=r"symbol 1 has st_name 0xffffffff, outside its string "
        r"table of 0x[0-9a-f]+ bytes",
    ):
        _load_patched(elf_path, tmp_path, (first, b"\xff" * 4))
    link = int.from_bytes(data[symtab + 40 : symtab + 44], "little")
    strtab = int.from_bytes(data[40:48], "little") + 64 * link
    with pytest.raises(
        ElfError,
        match=rf"its string table \(section {link}\) \(offset "
        r"0x8000000000000000, size 0x[0-9a-f]+\) lies outside "
        r"the file",
    ):
        _load_patched(elf_path, tmp_path, (strtab + 24, _u64(1 << 63)))
    with pytest.raises(
        ElfError,
        match=r"the section headers \(e_shnum \d+\) \(offset "
        r"0xffffffffffffffff",
    ):
        _load_patched(elf_path, tmp_path, (40, b"\xff" * 8))


@pytest.mark.parametrize(
    "entry, message",
    [
        (TEXT + 2, r"e_entry 0x400002 is not 4-byte aligned"),
        (
            0x1000,
            (
                r"e_entry 0x1000 is not in executable memory \(executable: "
                r"0x3f0000\.\.0x4[0-9a-f]+\)"
            ),
        ),
        (1 << 63, r"e_entry 0x8000000000000000 is not in executable memory"),
    ],
)
def test_an_entry_point_the_guest_cannot_start_at_is_refused(
    elf_path, tmp_path, entry, message
):
    with pytest.raises(ElfError, match=message):
        _load_patched(elf_path, tmp_path, (24, _u64(entry)))


def test_a_source_file_named_by_dwarf_is_read_only_when_it_is_a_regular_file(tmp_path):
    import os
    import threading

    path = build(tmp_path, SOURCE, "-static", f"-Ttext={TEXT:#x}")
    source = tmp_path / "prog.s"  # the name .debug_line gives
    source.unlink()
    os.mkfifo(source)  # opening it to read would block
    got: list = []
    reader = threading.Thread(target=lambda: got.append(load_elf(path)), daemon=True)
    reader.start()
    reader.join(20)
    if reader.is_alive():  # unblock the reader, then fail
        with open(source, "wb"):
            pass
        reader.join(5)
        raise AssertionError("load_elf blocked opening the FIFO its DWARF names")
    (prog,) = got
    assert prog.line_at(TEXT + 4) == SourceLine(4, "")  # the line, without its text


@pytest.mark.timeout(60)  # before the fix, a FIFO blocked the read and /dev/zero never ended
def test_only_a_regular_file_is_read(tmp_path):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        with pytest.raises(ElfError, match=rf"{path}: (not a regular file|cannot read it)"):
            load_elf(path)
    with pytest.raises(ElfError, match=r"cannot read it \(embedded null byte\)"):
        load_elf("a\0b")


# --- fuzzing: mutations of real small ELFs either load or are refused with an ElfError ---------
def _fields(raw: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every header, program header, section header and symbol field."""

    def u(off, w):
        return int.from_bytes(raw[off : off + w], "little")

    out = [
        (24, 8),
        (32, 8),
        (40, 8),
        (48, 4),
        (52, 2),
        (54, 2),
        (56, 2),
        (58, 2),
        (60, 2),
        (62, 2),
    ]
    for i in range(u(56, 2)):
        at = u(32, 8) + 56 * i
        out += [
            (at + o, w)
            for o, w in ((0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8))
        ]
    for i in range(u(60, 2)):
        at = u(40, 8) + 64 * i
        out += [
            (at + o, w)
            for o, w in (
                (0, 4),
                (4, 4),
                (8, 8),
                (16, 8),
                (24, 8),
                (32, 8),
                (40, 4),
                (44, 4),
                (48, 8),
                (56, 8),
            )
        ]
        if u(at + 4, 4) == 2:  # the symbols of SHT_SYMTAB
            for k in range(u(at + 24, 8), u(at + 24, 8) + u(at + 32, 8), 24):
                out += [
                    (k + o, w) for o, w in ((0, 4), (4, 1), (5, 1), (6, 2), (8, 8), (16, 8))
                ]
    return out


def _mutate(rng, raw: bytes, fields) -> bytes:
    """1-3 mutations: a field set to an edge value (most often), a random byte, a cut, junk."""
    b = bytearray(raw)
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.random()
        if kind < 0.75:
            off, w = rng.choice(fields)
            top = (1 << 8 * w) - 1
            old = int.from_bytes(b[off : off + w], "little")
            value = (
                rng.choice(
                    (
                        0,
                        1,
                        3,
                        4,
                        8,
                        0x38,
                        0x40,
                        0x1000,
                        len(b),
                        len(b) - 1,
                        top,
                        top - 0xFFF,
                        1 << (8 * w - 1),
                        old + 1,
                        old - 1,
                        old + 4,
                        old ^ 1 << rng.randrange(8 * w),
                        rng.randrange(top + 1),
                        1 << 40,
                        (1 << 44) - PAGE,
                        1 << 32,
                    )
                )
                & top
            )
            b[off : off + w] = value.to_bytes(w, "little")
        elif kind < 0.9:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind < 0.95:
            del b[rng.randrange(64, len(b)) :]
        else:
            b += bytes(rng.randrange(1, 300))
    return bytes(b)


def _reference_memory(img) -> dict[int, tuple[str, bytes]]:
    """page -> (perms, bytes), built page by page the simple way (small images only)."""
    pages = {}
    for ld in img.loads:
        if not ld.memsz:
            continue
        lo = ld.vaddr & ~(PAGE - 1)
        # file bytes up to here: p_filesz with a .bss, else to the end of the file
        limit = ld.offset + ld.filesz if ld.memsz > ld.filesz else len(img.data)
        for page in range(lo, ld.vaddr + ld.memsz, PAGE):
            pos = page - ld.vaddr + ld.offset  # the file byte at the page's start
            mem = bytes(min(PAGE, max(0, -pos))) + img.data[max(pos, 0) : max(pos + PAGE, 0)]
            mem = mem[: max(0, limit - pos)]
            pages[page] = (ld.perms, mem + bytes(PAGE - len(mem)))
    return pages


@pytest.mark.parametrize(
    "as_args, ld_args, cases, seed",
    [
        ((), (f"-Ttext={TEXT:#x}",), 2500, 1),  # symbols, no DWARF: the cheap, wide run
        ((), ("-N",), 500, 2),  # one rwx segment holding the headers
        (("-g",), (), 200, 3),  # with .debug_line (read by pyelftools)
    ],
)
def test_mutated_elfs_load_or_raise_the_elf_error(tmp_path, as_args, ld_args, cases, seed):
    import random

    from armbp.kvm.unicorn import VCpu
    from armbp.linux import LinuxProcess

    base = build(tmp_path, SOURCE, "-static", *ld_args, as_args=as_args).read_bytes()
    fields = _fields(base)
    rng = random.Random(seed)
    path = tmp_path / "mutant"
    built: set = set()  # memory maps seen by VCpu(prog)
    started: set = set()  # and by a process's start()
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(cases):
        raw = _mutate(rng, base, fields)
        path.write_bytes(raw)
        try:
            try:  # load_elf(path), without the read
                image = ElfImage.parse(raw, str(path))
                prog = image.program()
            except ElfError:
                outcomes["refused"] += 1
                with pytest.raises(ElfError):  # the one reader refuses it for both
                    LinuxProcess(path)
                continue
            layout = (image.loads, image.entry)
            if layout not in built:  # a new memory map: build the machine
                built.add(layout)
                assert VCpu(prog).pc == image.entry
            try:  # the process layout checks more
                proc = LinuxProcess(path, stdout=lambda b: None, stderr=lambda b: None)
            except ElfError:
                outcomes["refused"] += 1
                continue
            outcomes["loaded"] += 1
            if sum(ld.memsz for ld in image.loads) < 1 << 20:
                regions = proc.image.pages()
                ref = _reference_memory(proc.image)
                got = {
                    s + k: (p, (d + bytes(n - len(d)))[k : k + PAGE])
                    for s, n, p, d in regions
                    for k in range(0, n, PAGE)
                }
                assert got == ref, f"case {case}: pages() differs from page-by-page"
            if layout not in started:  # and run the process to its entry
                started.add(layout)
                vcpu = VCpu(proc.program)
                proc.start(vcpu)
                assert vcpu.pc == image.entry and vcpu.read_register("currentel") == 0
        except (ElfError, AssertionError):
            raise
        except BaseException as e:
            raise AssertionError(f"case {case} (seed {seed}): {type(e).__name__}: {e}") from e
    assert outcomes["loaded"] > cases // 4 and outcomes["refused"] > cases // 20, outcomes


@pytest.mark.parametrize("base, runs", [(ADDRESS_LIMIT - PAGE, True), (ADDRESS_LIMIT, False)])
def test_the_address_limit_is_where_the_vcpu_stops_reaching(base, runs):
    # Unicorn's Cortex-A72 has 44 physical address bits: an upgrade that changes it shows here
    from armbp.kvm.abi import Budget, ExitReason
    from armbp.kvm.unicorn import VCpu
    from armbp.program import Segment

    nops = bytes.fromhex("1f2003d5") * 2
    vcpu = VCpu(Program(code=nops, base=base, segments=(Segment(base, nops, PAGE, "rx"),)))
    exit_ = vcpu.run(Budget(seconds=5, instructions=1))
    assert (exit_.reason is ExitReason.BUDGET and vcpu.pc == base + 4) is runs, exit_
