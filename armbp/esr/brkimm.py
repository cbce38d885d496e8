"""What is known to plant a given BRK/BKPT immediate (the "comment", ESR ISS[15:0]).

The architecture gives the 16-bit comment no meaning (Arm ARM, the A64 instruction "BRK":
"imm16 ... is ignored by the PE but can be used by a debugger"); software conventions do. Sources:
Linux arch/arm64/include/asm/brk-imm.h (and the traps.c/kasan/ubsan/cfi handlers that read
it), Clang's SanitizerHandler order for UBSAN trap codes, and the debuggers and compilers
named below.
"""

from __future__ import annotations

BRK_BASE = 0xD420_0000  # A64 BRK #imm16 = 0xd4200000 | imm16 << 5 (Arm ARM, "BRK")
BKPT_A32_BASE = 0xE120_0070  # A32 BKPT #imm16 = 0xe1200070 | imm16[15:4] << 8 | imm16[3:0]

# Exact immediates: imm16 -> meaning.
EXACT: dict[int, str] = {
    0x0000: "BRK #0: what GDB and QEMU's gdbstub plant for a software breakpoint",
    0x0001: "BRK #1: LLVM/Clang __builtin_trap() (also Rust and Swift aborts)",
    0x03E8: "BRK #1000: GCC __builtin_trap()",
    0xF000: "BRK #0xf000: LLDB's software breakpoint (also MSVC __debugbreak on Windows)",
    0x0004: "Linux KPROBES_BRK_IMM: a kprobe planted here",
    0x0005: "Linux UPROBES_BRK_IMM: a uprobe planted in a user-space program",
    0x0006: "Linux KPROBES_BRK_SS_IMM: end of a kprobe's out-of-line single step "
    "(kernels from 5.16 on; older ones single-stepped with MDSCR_EL1.SS)",
    0x0007: "Linux KRETPROBES_BRK_IMM: kretprobe return trampoline (recent kernels only)",
    0x0100: "Linux FAULT_BRK_IMM (AARCH64_BREAK_FAULT): code that must never run, e.g. BPF "
    "JIT padding or an instruction the kernel failed to encode",
    0x0400: "Linux KGDB_DYN_DBG_BRK_IMM: a breakpoint KGDB planted at run time",
    0x0401: "Linux KGDB_COMPILED_DBG_BRK_IMM: kgdb_breakpoint() compiled into the kernel",
    0x0800: "Linux BUG_BRK_IMM: BUG() or WARN() (the bug table says which; look for "
    "'kernel BUG at' or 'WARNING:' just above)",
}

# Clang's SanitizerHandler enumeration: trap code 0x55xx carries its ordinal in the low byte
# (clang/lib/CodeGen/SanitizerHandler.h); Linux decodes it since 6.3 (UBSAN_BRK_IMM 0x5500).
UBSAN_CHECKS = (
    "add-overflow",
    "builtin-unreachable",
    "cfi-check-fail",
    "divrem-overflow",
    "dynamic-type-cache-miss",
    "float-cast-overflow",
    "function-type-mismatch",
    "implicit-conversion",
    "invalid-builtin",
    "invalid-objc-cast",
    "load-invalid-value",
    "missing-return",
    "mul-overflow",
    "negate-overflow",
    "nullability-arg",
    "nullability-return",
    "nonnull-arg",
    "nonnull-return",
    "out-of-bounds",
    "pointer-overflow",
    "shift-out-of-bounds",
    "sub-overflow",
    "type-mismatch",
    "alignment-assumption",
    "vla-bound-not-positive",
)


def brk_instruction(imm16: int) -> int:
    """The A64 ``BRK #imm16`` instruction word."""
    return BRK_BASE | (imm16 & 0xFFFF) << 5


def bkpt_a32_instruction(imm16: int) -> int:
    """The A32 ``BKPT #imm16`` instruction word (condition AL)."""
    imm16 &= 0xFFFF
    return BKPT_A32_BASE | (imm16 >> 4) << 8 | (imm16 & 0xF)


def meaning(imm16: int) -> str:
    """Who is known to plant this BRK immediate, or a note that nobody we know does."""
    if imm16 in EXACT:
        return EXACT[imm16]
    if 0x0900 <= imm16 <= 0x09FF:  # KASAN_BRK_IMM | flags (Linux >= 5.0, software tags)
        size = 1 << (imm16 & 0xF)
        access = "write" if imm16 & 0x10 else "read"
        recover = ", recoverable" if imm16 & 0x20 else ""
        return (
            f"Linux KASAN_BRK_IMM (software tag-based KASAN, kernels from 5.0 on): "
            f"bad {size}-byte {access}{recover}"
        )
    if 0x5500 <= imm16 <= 0x55FF:  # 'U' << 8 | SanitizerHandler
        check = imm16 & 0xFF
        name = UBSAN_CHECKS[check] if check < len(UBSAN_CHECKS) else f"check #{check}"
        return (
            f"UBSAN trap (Clang -fsanitize-trap, 'U' << 8 | check): {name}; the Linux "
            f"kernel names it from 6.3 on, older kernels report a bare BRK; check numbers "
            f"follow Clang's SanitizerHandler list and may grow with new Clang releases"
        )
    if 0x8000 <= imm16 <= 0x83FF:  # CFI_BRK_IMM_BASE | type << 5 | target (Linux >= 6.1)
        target, type_reg = imm16 & 0x1F, (imm16 >> 5) & 0x1F
        return (
            f"Linux kCFI failure (CFI_BRK_IMM_BASE, Clang kCFI, kernels from 6.1 on): "
            f"call target in x{target}, expected type hash in w{type_reg}"
        )
    if 0x0400 <= imm16 <= 0x07FF:
        return "Linux range reserved for KGDB (0x400-0x7ff)"
    return "no convention we know plants this immediate"


def bkpt_meaning(imm16: int, thumb: bool) -> str:
    """What is known to plant an AArch32 BKPT immediate (T32 BKPT holds only imm8)."""
    if thumb and imm16 == 0xAB:
        return "Arm semihosting call (T32 BKPT #0xab, the M-profile convention)"
    if thumb and imm16 == 0xBE:
        return "GDB's default Thumb breakpoint (0xbebe)"
    if imm16 == 0:
        return "OpenOCD's software breakpoint (A32 0xe1200070, T32 0xbe00)"
    return "no convention we know plants this immediate"
