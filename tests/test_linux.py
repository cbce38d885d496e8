"""The Linux user-mode loader: page-aligned PT_LOAD mapping and the initial stack."""

from __future__ import annotations

import struct

import pytest
from conftest import require_tool

from armbp.linux import (
    AT_ENTRY,
    AT_EXECFN,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    PAGE,
    ElfError,
    ElfImage,
    build_stack,
)


def test_parse_reads_entry_loads_and_phdr(loop_elf):
    img = ElfImage.parse(loop_elf.read_bytes())
    assert img.entry == 0x4000B0
    assert [ld.perms for ld in img.loads] == ["rx", "rw"]
    assert img.phdr_vaddr == 0x400040 and img.phentsize == 56 and img.phnum == 2
    assert img.end == 0x411000


def test_pages_are_file_mappings_of_whole_pages(loop_elf):
    data = loop_elf.read_bytes()
    img = ElfImage.parse(data)
    regions = img.pages()
    assert [(s, n, p) for s, n, p, _ in regions] == [
        (0x400000, PAGE, "rx"),
        (0x410000, PAGE, "rw"),
    ]
    text, dat = regions[0][3], regions[1][3]
    assert text[: len(data)] == data[:PAGE][: len(data)]  # header and code from the file
    assert dat[:4] == b"\x7fELF"  # bytes before p_vaddr: the file's
    assert dat[0x160:0x168] == data[0x160:0x168]  # `total`


def _handmade(*loads, entry=0x10100, size=0x200):
    """A hand-made ELF over a file of junk: ``loads`` are (flags, offset, vaddr, filesz,
    memsz) of its PT_LOADs."""
    hdr = bytearray(b"\xaa" * size)
    hdr[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into(
        "<HHIQQQIHHHHHH", hdr, 16, 2, 183, 1, entry, 64, 0, 0, 64, 56, len(loads), 64, 0, 0
    )
    for i, (flags, offset, vaddr, filesz, memsz) in enumerate(loads):
        struct.pack_into(
            "<IIQQQQQQ",
            hdr,
            64 + 56 * i,
            1,
            flags,
            offset,
            vaddr,
            vaddr,
            filesz,
            memsz,
            0x1000,
        )
    return bytes(hdr)


def test_bss_tail_is_zero():
    # one PT_LOAD with filesz 4 and memsz 0x2000 over a file of junk
    raw = _handmade((7, 0x100, 0x10100, 4, 0x2000))
    ((start, size, perms, data),) = ElfImage.parse(raw).pages()
    assert (start, size, perms) == (0x10000, 0x3000, "rwx")
    assert data[:0x100] == raw[:0x100]  # the file before p_vaddr
    assert data[0x100:0x104] == b"\xaa" * 4 and data[0x104:] == bytes(len(data) - 0x104)
    assert len(data) == 0x104  # the zero tail is left to the zeroed guest memory


@pytest.mark.parametrize(
    "patch, message",
    [
        (lambda b: b"\x7fELG" + b[4:], "magic"),
        (lambda b: b[:4] + b"\x01" + b[5:], "64-bit"),
        (lambda b: b[:18] + b"\x3e\x00" + b[20:], "not AArch64"),
        (lambda b: b[:16] + b"\x03\x00" + b[18:], "static executable"),
    ],
)
def test_bad_elf_files_are_named(loop_elf, patch, message):
    with pytest.raises(ElfError, match=message):
        ElfImage.parse(patch(loop_elf.read_bytes()))


def test_initial_stack_layout(loop_elf):
    img = ElfImage.parse(loop_elf.read_bytes())
    argv, envp = [b"/prog", b"42"], [b"A=1"]
    st = build_stack(img, argv, envp, top=0x80000, random16=b"R" * 16)
    mem = st.data

    def word(addr):
        return struct.unpack_from("<Q", mem, addr - st.base)[0]

    def cstr(addr):
        off = addr - st.base
        return mem[off : mem.index(b"\0", off)]

    assert st.sp % 16 == 0 and st.sp == st.base
    assert word(st.sp) == 2
    assert [cstr(word(st.sp + 8)), cstr(word(st.sp + 16))] == argv and word(st.sp + 24) == 0
    assert cstr(word(st.sp + 32)) == b"A=1" and word(st.sp + 40) == 0
    aux, p = {}, st.sp + 48
    while True:
        k, v = word(p), word(p + 8)
        p += 16
        if k == AT_NULL:
            break
        aux[k] = v
    assert aux[AT_PHDR] == 0x400040 and aux[AT_PHENT] == 56 and aux[AT_PHNUM] == 2
    assert aux[AT_PAGESZ] == PAGE and aux[AT_ENTRY] == 0x4000B0
    assert cstr(aux[AT_PLATFORM]) == b"aarch64" and cstr(aux[AT_EXECFN]) == b"/prog"
    assert mem[aux[AT_RANDOM] - st.base :][:16] == b"R" * 16
    assert st.auxv == mem[st.sp + 48 - st.base : p - st.base]
    assert st.base + len(mem) == 0x80000


# --- system calls ----------------------------------------------------------------------------
from armbp.linux import EBADF, EFAULT, ENOSYS, Syscalls
from armbp.memory import BytearrayMemory


def _sys():
    mem = BytearrayMemory(0x3000, 0x10000)
    mem.write(0x10000, b"hello\n")
    out, err, maps = [], [], []
    s = Syscalls(mem, 0x11000, lambda a, n: maps.append((a, n)), out.append, err.append)
    return s, mem, out, err, maps


def test_write_exit_and_unknown_calls():
    s, _mem, out, err, _ = _sys()
    assert s(64, [1, 0x10000, 6]).value == 6 and out == [b"hello\n"]
    assert s(64, [2, 0x10000, 5]).value == 5 and err == [b"hello"]
    assert s(64, [7, 0x10000, 5]).value == -EBADF
    assert s(64, [1, 0x90000, 5]).value == -EFAULT
    r = s(94, [0x12A])
    assert r.exited and r.value == 0x2A and r.name == "exit_group"
    assert s(93, [3]).value == 3
    r = s(198, [2, 1, 0])
    assert r.value == -ENOSYS and "socket" in r.note and s.unknown == ["socket"]
    assert s(999, []).value == -ENOSYS


def test_brk_grows_the_heap_page_by_page():
    s, _mem, *_, maps = _sys()
    assert s(214, [0]).value == 0x11000
    assert s(214, [0x11010]).value == 0x11010 and maps == [(0x11000, 0x1000)]
    assert s(214, [0x11800]).value == 0x11800 and len(maps) == 1
    assert s(214, [0x13001]).value == 0x13001 and maps[-1] == (0x12000, 0x2000)
    assert s(214, [1 << 40]).value == 0x13001  # refused: the old break


# --- the process on a vCPU -------------------------------------------------------------------
def _run_to_exit(proc, vcpu, limit=50):
    from armbp.kvm.abi import ExitReason

    for _ in range(limit):
        exit_ = vcpu.run(5)
        assert exit_.reason is ExitReason.MMIO and proc.at_gate(vcpu), exit_
        kind, result = proc.gate(vcpu)
        assert kind == "syscall"
        if result.exited:
            return result
    raise AssertionError("the program did not exit")


def test_process_starts_at_el0_with_argc_on_the_stack_and_exits(loop_elf):
    from armbp.kvm.unicorn import VCpu
    from armbp.linux import LinuxProcess

    out, log = [], []
    proc = LinuxProcess(loop_elf, [str(loop_elf), "6"], stdout=out.append, log=log.append)
    vcpu = VCpu(proc.program)
    proc.start(vcpu)
    assert vcpu.pc == 0x4000B0
    assert vcpu.read_register("currentel") == 0 and vcpu.read_register("pstate") & 0xF == 0
    sp = vcpu.read_register("sp")
    assert sp == proc.stack.sp and sp % 16 == 0
    assert vcpu.memory.read(sp, 8) == (2).to_bytes(8, "little")  # argc
    result = _run_to_exit(proc, vcpu)
    assert result.value == 21 and proc.exit_code == 21  # 1+…+6
    assert out == [b"loop done\n"]
    assert [line.split(":")[0] for line in log] == [
        "syscall 64 write",
        "syscall 94 exit_group",
    ]


def test_unknown_syscalls_return_enosys_and_the_program_goes_on(tmp_path):
    require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    import subprocess

    from armbp.kvm.unicorn import VCpu
    from armbp.linux import LinuxProcess

    src = tmp_path / "nosys.S"
    src.write_text("""
        .global _start
_start: mov x8, #198         // socket: not implemented
        svc #0
        mov x19, x0
        mov x0, #0           // brk(0), then brk(+0x2000), then store into the heap
        mov x8, #214
        svc #0
        mov x20, x0
        add x0, x0, #0x2000
        mov x8, #214
        svc #0
        str x19, [x20, #0x1ff8]
        ldr x0, [x20, #0x1ff8]
        neg x0, x0           // 38 = ENOSYS
        mov x8, #93
        svc #0
""")
    subprocess.run(["aarch64-linux-gnu-as", "-o", tmp_path / "n.o", src], check=True)
    subprocess.run(
        ["aarch64-linux-gnu-ld", "-o", tmp_path / "n.elf", tmp_path / "n.o"], check=True
    )
    log = []
    proc = LinuxProcess(tmp_path / "n.elf", log=log.append)
    vcpu = VCpu(proc.program)
    proc.start(vcpu)
    assert _run_to_exit(proc, vcpu).value == 38
    assert "not implemented" in log[0] and "socket" in log[0]
    heap = proc.syscalls.heap_start
    assert any(lo <= heap and heap + 0x2000 - 1 <= hi for lo, hi, _ in vcpu.uc.mem_regions())


def test_the_linux_loader_uses_the_one_elf_reader(loop_elf, tmp_path):
    import inspect

    import armbp.elf
    import armbp.linux
    from armbp.linux import LinuxProcess

    assert issubclass(ElfImage, armbp.elf.ElfImage) and ElfError is armbp.elf.ElfError
    assert "parse" not in vars(ElfImage) and "unpack_from" not in inspect.getsource(
        armbp.linux
    )
    proc = LinuxProcess(loop_elf)
    assert proc.image == ElfImage.read(loop_elf) and proc.image.name == str(loop_elf)
    assert proc.program.symbols == armbp.elf.load_elf(loop_elf).symbols
    # the same file refused the same way by both
    bad = tmp_path / "bad"
    bad.write_bytes(loop_elf.read_bytes()[:16] + b"\x03\x00" + loop_elf.read_bytes()[18:])
    with pytest.raises(ElfError) as from_linux:
        LinuxProcess(bad)
    with pytest.raises(ElfError) as from_elf:
        armbp.elf.load_elf(bad)
    assert str(from_linux.value) == str(from_elf.value)
    assert str(from_elf.value).startswith(f"{bad}: e_type is ET_DYN")


# --- malformed files and big ones: an ElfError at once, nothing half-built --------------------
def _process(tmp_path, raw: bytes, name: str = "hand.elf"):
    from armbp.linux import LinuxProcess

    path = tmp_path / name
    path.write_bytes(raw)
    return LinuxProcess(path, stdout=lambda b: None)


@pytest.mark.parametrize(
    "vaddr, message",
    [
        (
            (1 << 64) - PAGE,
            (
                r"PT_LOAD 0 \(p_vaddr 0xfffffffffffff000, p_memsz 0x1000\) ends at "
                r"0x10000000000000000, beyond the guest's 44-bit address space"
            ),
        ),
        (
            (1 << 44) - PAGE,
            (
                r"the program ends at 0x100000000000, and the stack, the kernel's "
                r"pages, the heap and the mmap area above it would reach 0x10001[0-9a-f]{7}, "
                r"beyond the guest's 44-bit address space \(below 0x100000000000\): "
                r"expected a program that ends below 0xfffe[0-9a-f]{7}"
            ),
        ),
    ],
)
def test_a_segment_at_the_top_of_the_address_space_is_refused(tmp_path, vaddr, message):
    raw = _handmade((5, 0, vaddr, 0x200, PAGE), entry=vaddr + 0x100)
    with pytest.raises(ElfError, match=message):
        _process(tmp_path, raw)


def test_an_entry_point_outside_executable_pages_is_refused_before_the_vcpu_exists(tmp_path):
    with pytest.raises(
        ElfError,
        match=r"e_entry 0x7c0 is not in executable memory "
        r"\(executable: 0x10000\.\.0x10200\)",
    ):
        _process(tmp_path, _handmade((5, 0, 0x10000, 0x200, 0x200), entry=0x7C0))
    # in an executable PT_LOAD, but its page is mapped again, writable, by the next one
    raw = _handmade(
        (5, 0, 0x10000, 0x200, 0x200), (6, 0x100, 0x10100, 0x100, 0x2000), entry=0x10080
    )
    ElfImage.parse(raw).program()  # load_elf maps the segments as such
    with pytest.raises(
        ElfError,
        match=r"e_entry 0x10080 is not in executable memory "
        r"\(executable: none\)",
    ):
        _process(tmp_path, raw)


def test_a_large_bss_costs_no_memory_and_no_time_in_the_page_layout():
    import tracemalloc

    raw = _handmade((7, 0x100, 0x10100, 4, 8 << 20))  # an 8 MiB .bss
    img = ElfImage.parse(raw)
    tracemalloc.start()
    try:
        ((start, size, perms, data),) = img.pages()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (start, size, perms) == (0x10000, (8 << 20) + PAGE, "rwx")
    assert data == raw[:0x104] and peak < 64 << 10  # the file's bytes, no zero pages


def test_a_failed_start_leaves_the_vcpu_as_it_was_made(loop_elf):
    from armbp.kvm.unicorn import VCpu
    from armbp.linux import LinuxProcess

    proc = LinuxProcess(loop_elf)
    vcpu = VCpu(proc.program)
    fresh = {r: vcpu.read_register(r) for r in ("pc", "sp", "vbar_el1", "elr_el1", "sp_el0")}
    proc.trampoline = 0x8  # as if the kit had mislaid it
    with pytest.raises(
        RuntimeError,
        match=r"the ID-register probe did not run.*"
        r"\(the vCPU is reset\)",
    ):
        proc.start(vcpu)
    assert {r: vcpu.read_register(r) for r in fresh} == fresh and proc.syscalls is None


# --- the system calls of a C program (issue 12) ---------------------------------------------
import io

from armbp.linux import AddressSpace, LinuxProcess, hwcaps
from armbp.linux import syscalls as sc

BUF = 0x10000


def _kernel(tmp_path=None, **kw):
    """Syscalls over a 64 KiB bytearray at BUF and an AddressSpace that records calls."""
    mem = BytearrayMemory(0x10000, BUF)
    calls: list[tuple] = []
    space = AddressSpace(
        lambda a, n, p: calls.append(("map", a, n, p)),
        lambda a, n: calls.append(("unmap", a, n)),
        lambda a, n, p: calls.append(("protect", a, n, p)),
    )
    out: list[bytes] = []
    s = Syscalls(mem, 0x100000, None, out.append, out.append, space=space, **kw)
    return s, mem, calls, out


def test_mmap_munmap_mprotect_change_the_space_and_a_failure_changes_nothing():
    s, _mem, calls, _ = _kernel()
    lo = s.layout.mmap_lo
    a = s(222, [0, 0x2001, 3, 0x22, (1 << 64) - 1, 0]).value  # PROT_RW, PRIVATE|ANON
    assert a == lo and calls == [("map", lo, 0x3000, "rw")]
    b = s(222, [0, 0x1000, 1, 0x22, (1 << 64) - 1, 0]).value
    assert b == lo + 0x3000 and calls[-1] == ("map", b, 0x1000, "r")
    assert s(226, [a, 0x1000, 1]).value == 0 and calls[-1] == ("protect", a, 0x1000, "r")
    assert s.space.pages[a] == "r" and s.space.pages[a + 0x1000] == "rw"
    before = (dict(s.space.pages), len(calls))
    assert s(226, [a, 0x10000, 1]).value == -sc.ENOMEM  # runs past the mapping
    assert s(226, [a + 1, 0x1000, 1]).value == -sc.EINVAL  # not page-aligned
    assert s(222, [0, 0, 3, 0x22, 0, 0]).value == -sc.EINVAL  # zero length
    assert (dict(s.space.pages), len(calls)) == before
    assert s(215, [a + 0x1000, 0x1000]).value == 0
    assert calls[-1] == ("unmap", a + 0x1000, 0x1000) and a + 0x1000 not in s.space.pages
    c = s(222, [0, 0x1000, 3, 0x22, 0, 0]).value  # the hole is reused: first fit
    assert c == a + 0x1000


def test_brk_grows_the_heap_as_pages_and_refuses_beyond_its_limit():
    s, _mem, calls, _ = _kernel()
    assert s(214, [0]).value == 0x100000
    assert s(214, [0x100010]).value == 0x100010 and calls == [("map", 0x100000, 0x1000, "rw")]
    assert s(214, [0x100000 + s.BRK_LIMIT + 1]).value == 0x100010 and len(calls) == 1


def test_ioctl_tcgets_answers_a_terminal_only_when_the_caller_says_so():
    s, mem, _, _ = _kernel()
    assert s(29, [1, sc.TCGETS, BUF]).value == -sc.ENOTTY
    s, mem, _, _ = _kernel(tty=True)
    assert s(29, [1, sc.TCGETS, BUF]).value == 0
    assert struct.unpack_from("<I", mem.read(BUF + 12, 4))[0] & 0x2  # c_lflag ICANON
    assert s(80, [1, BUF]).value == 0  # fstat: a character device now
    assert struct.unpack("<I", mem.read(BUF + 16, 4))[0] >> 12 == 0o02  # S_IFCHR


def test_read_from_fd_0_takes_the_given_stream():
    s, mem, _, _ = _kernel(stdin=io.BytesIO(b"12 34\n"))
    assert s(63, [0, BUF, 3]).value == 3 and mem.read(BUF, 3) == b"12 "
    assert s(63, [0, BUF, 100]).value == 3 and mem.read(BUF, 3) == b"34\n"
    assert s(63, [0, BUF, 100]).value == 0  # end of file
    s, _, _, _ = _kernel()
    assert s(63, [0, BUF, 10]).value == 0  # no stream: end of file at once


def test_files_open_read_only_under_the_programs_directory(tmp_path):
    exe = tmp_path / "prog"
    exe.write_bytes(b"\x7fELF")
    (tmp_path / "data.txt").write_bytes(b"hello file")
    s, mem, _, _ = _kernel(exe=str(exe))
    mem.write(BUF, str(tmp_path / "data.txt").encode() + b"\0")
    fd = s(56, [(1 << 64) - 100, BUF, 0, 0]).value
    assert fd == 3
    assert s(63, [fd, BUF + 0x100, 5]).value == 5 and mem.read(BUF + 0x100, 5) == b"hello"
    assert s(62, [fd, 0, 0]).value == 0  # lseek back
    assert s(67, [fd, BUF + 0x100, 4, 6]).value == 4 and mem.read(BUF + 0x100, 4) == b"file"
    assert s(56, [(1 << 64) - 100, BUF, 1, 0]).value == -sc.EACCES  # O_WRONLY
    assert s(57, [fd]).value == 0 and s(57, [fd]).value == -sc.EBADF
    mem.write(BUF, b"/etc/passwd\0")
    r = s(56, [(1 << 64) - 100, BUF, 0, 0])
    assert r.value == -sc.EACCES and "program's directory" in r.note
    mem.write(BUF, b"/proc/self/exe\0")
    n = s(78, [(1 << 64) - 100, BUF, BUF + 0x200, 4096]).value
    assert mem.read(BUF + 0x200, n) == str(exe).encode()


def test_abort_is_a_pending_sigabrt_delivered_when_unblocked():
    """glibc's abort(): block all, tgkill(SIGABRT) (pending), restore the mask (delivered)."""
    s, mem, _, _ = _kernel()
    mem.write(BUF, struct.pack("<Q", (1 << 64) - 1))
    assert s(135, [sc.SIG_BLOCK, BUF, BUF + 8, 8]).value == 0
    r = s(131, [1, 1, 6])
    assert r.value == 0 and r.signal is None and s.sig.pending == 1 << 5
    r = s(135, [sc.SIG_SETMASK, BUF + 8, 0, 8])
    assert r.signal is not None and r.signal.number == 6 and r.signal.code == -6  # SI_TKILL
    mem.write(BUF, struct.pack("<4Q", 1, 0, 0, 0))  # SIG_IGN
    assert s(134, [10, BUF, 0, 8]).value == 0
    assert s(129, [1, 10]).signal is None  # ignored
    assert s(131, [1, 1, 17]).signal is None  # SIGCHLD: ignored by default
    assert s(134, [9, BUF, 0, 8]).value == -sc.EINVAL  # SIGKILL cannot be caught


def test_calls_not_modelled_answer_enosys_with_their_name():
    s, _, _, _ = _kernel()
    for number, name in ((220, "clone"), (221, "execve"), (293, "rseq")):
        r = s(number, [0] * 6)
        assert r.value == -ENOSYS and name in r.note


def test_hwcaps_follow_the_id_register_fields():
    assert hwcaps({"id_aa64pfr0_el1": 0x2222, "id_aa64isar0_el1": 0x11120}) == (0xFB, 0)
    no_fp = hwcaps({"id_aa64pfr0_el1": 0xFF << 16})
    assert no_fp == (0, 0)  # FP and AdvSIMD fields 0xF: not implemented
    cap, cap2 = hwcaps({"id_aa64isar0_el1": 2 << 20 | 1 << 60, "id_aa64isar1_el1": 2})
    assert cap & (1 << 8) and cap2 & (1 << 16) and cap2 & 1  # ATOMICS, RNG, DCPODP


def test_the_auxv_hwcaps_are_what_the_cpu_reports(loop_elf):
    """The trampoline's MRS probe reads the ID registers; the oracle is Unicorn's own
    register file, read from the host."""
    from armbp.kvm.unicorn import VCpu
    from armbp.linux import AT_HWCAP, AT_HWCAP2

    proc = LinuxProcess(loop_elf, stdout=lambda b: None)
    vcpu = VCpu(proc.program)
    proc.start(vcpu)
    oracle = {n: vcpu.uc.cpr_read(*enc) for n, enc in sc_id_registers().items()}
    assert proc.id_registers == oracle
    auxv = dict(struct.iter_unpack("<QQ", proc.auxv()))
    assert (auxv[AT_HWCAP], auxv[AT_HWCAP2]) == hwcaps(oracle)
    assert auxv[AT_HWCAP] & 0b11 == 0b11  # FP, ASIMD
    at = proc.stack.auxv_address
    assert vcpu.memory.read(at, len(proc.auxv())) == proc.auxv()  # memory says the same
    assert all(vcpu.read_register(f"x{i}") == 0 for i in range(5))  # cleared after


def sc_id_registers():
    from armbp.linux.stack import ID_REGISTERS

    return ID_REGISTERS


def test_vcpu_protect_and_unmap_are_enforced_and_refuse_bad_ranges(loop_elf):
    from armbp.kvm.abi import Budget
    from armbp.kvm.unicorn import VCpu
    from armbp.memory import MemoryFault

    proc = LinuxProcess(loop_elf, stdout=lambda b: None)
    vcpu = VCpu(proc.program)
    page = proc.stack_lo  # rw stack page: the guest stores there
    vcpu.memory.write(page, b"\x01")
    with pytest.raises(ValueError, match="multiples of the page size"):
        vcpu.protect(page + 1, PAGE, "r")
    with pytest.raises(ValueError, match="nothing is mapped"):
        vcpu.protect(page - PAGE, 2 * PAGE, "r")  # the gap below the stack
    with pytest.raises(ValueError, match="scratch page"):
        vcpu.unmap(vcpu.scratch_base, PAGE)
    assert vcpu.memory.read(page, 1) == b"\x01"
    vcpu.protect(page, PAGE, "r")
    # str x1, [x0] at EL1 from the trampoline page: the store to a read-only page faults
    vcpu.write_register("x0", page)
    vcpu.write_register("x1", 7)
    vcpu.memory.write(proc.trampoline, (0xF9000001).to_bytes(4, "little"))
    vcpu.pc = proc.trampoline
    exit_ = vcpu.run(Budget(seconds=5, instructions=1))
    assert exit_.mmio is not None and exit_.mmio.access == "write", exit_
    vcpu.unmap(page, PAGE)
    with pytest.raises(MemoryFault):
        vcpu.memory.read(page, 1)
