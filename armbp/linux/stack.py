"""The initial process stack and its auxiliary vector, and the HWCAPs the auxv reports.

From the top down: the file name (``AT_EXECFN``), the environment and argument strings,
the platform string, 16 random bytes (``AT_RANDOM``); then, 16-byte aligned, the auxiliary
vector, ``envp[]`` and ``argv[]`` (each NULL-terminated) and ``argc`` at ``sp``. Pure:
tested over bytes.

The HWCAP words say what the program may use. They are worked out the way the kernel's
cpufeature code does, from the CPU's own ID registers (read with ``MRS`` at EL1 when the
process starts, see ``LinuxProcess.start``), less what this kernel does not switch on for
EL0 (SVE, SME, MTE, pointer-authentication keys, BTI guarded pages, EL0 access to the ID
registers): a program that trusted those bits would meet an UNDEFINED instruction here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from armbp.linux.image import PAGE, ElfImage

STACK_TOP = 0x0000_007F_FFFF_0000
PLATFORM = b"aarch64"

# auxiliary vector types (linux/auxvec.h, uapi)
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ = 0, 3, 4, 5, 6
AT_BASE, AT_FLAGS, AT_ENTRY = 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN = 23, 25, 26, 31

# HWCAP bits (arm64 uapi asm/hwcap.h)
HWCAP_FP, HWCAP_ASIMD, HWCAP_AES, HWCAP_PMULL = 1 << 0, 1 << 1, 1 << 3, 1 << 4
HWCAP_SHA1, HWCAP_SHA2, HWCAP_CRC32, HWCAP_ATOMICS = 1 << 5, 1 << 6, 1 << 7, 1 << 8
HWCAP_FPHP, HWCAP_ASIMDHP, HWCAP_ASIMDRDM = 1 << 9, 1 << 10, 1 << 12
HWCAP_JSCVT, HWCAP_FCMA, HWCAP_LRCPC, HWCAP_DCPOP = 1 << 13, 1 << 14, 1 << 15, 1 << 16
HWCAP_SHA3, HWCAP_SM3, HWCAP_SM4, HWCAP_ASIMDDP = 1 << 17, 1 << 18, 1 << 19, 1 << 20
HWCAP_SHA512, HWCAP_ASIMDFHM, HWCAP_DIT, HWCAP_USCAT = 1 << 21, 1 << 23, 1 << 24, 1 << 25
HWCAP_ILRCPC, HWCAP_FLAGM, HWCAP_SSBS, HWCAP_SB = 1 << 26, 1 << 27, 1 << 28, 1 << 29
HWCAP2_DCPODP, HWCAP2_FLAGM2, HWCAP2_FRINT = 1 << 0, 1 << 7, 1 << 8
HWCAP2_I8MM, HWCAP2_BF16, HWCAP2_DGH, HWCAP2_RNG = 1 << 13, 1 << 14, 1 << 15, 1 << 16

#: The ID registers the start-up probe reads, in order (op0, op1, CRn, CRm, op2).
ID_REGISTERS = {
    "id_aa64pfr0_el1": (3, 0, 0, 4, 0),
    "id_aa64pfr1_el1": (3, 0, 0, 4, 1),
    "id_aa64isar0_el1": (3, 0, 0, 6, 0),
    "id_aa64isar1_el1": (3, 0, 0, 6, 1),
    "id_aa64mmfr2_el1": (3, 0, 0, 7, 2),
}


def mrs(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> int:
    """The word of ``MRS Xrt, S<op0>_<op1>_C<crn>_C<crm>_<op2>`` (Arm ARM, "MRS")."""
    return 0xD5300000 | (op0 & 1) << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt


# (register, field lsb, lowest value, HWCAP bit, HWCAP2 bit): the feature is there when
# the 4-bit field holds at least that value.
_RULES = (
    ("id_aa64pfr0_el1", 48, 1, HWCAP_DIT, 0),
    ("id_aa64isar0_el1", 4, 1, HWCAP_AES, 0),
    ("id_aa64isar0_el1", 4, 2, HWCAP_PMULL, 0),
    ("id_aa64isar0_el1", 8, 1, HWCAP_SHA1, 0),
    ("id_aa64isar0_el1", 12, 1, HWCAP_SHA2, 0),
    ("id_aa64isar0_el1", 12, 2, HWCAP_SHA512, 0),
    ("id_aa64isar0_el1", 16, 1, HWCAP_CRC32, 0),
    ("id_aa64isar0_el1", 20, 2, HWCAP_ATOMICS, 0),
    ("id_aa64isar0_el1", 28, 1, HWCAP_ASIMDRDM, 0),
    ("id_aa64isar0_el1", 32, 1, HWCAP_SHA3, 0),
    ("id_aa64isar0_el1", 36, 1, HWCAP_SM3, 0),
    ("id_aa64isar0_el1", 40, 1, HWCAP_SM4, 0),
    ("id_aa64isar0_el1", 44, 1, HWCAP_ASIMDDP, 0),
    ("id_aa64isar0_el1", 48, 1, HWCAP_ASIMDFHM, 0),
    ("id_aa64isar0_el1", 52, 1, HWCAP_FLAGM, 0),
    ("id_aa64isar0_el1", 52, 2, 0, HWCAP2_FLAGM2),
    ("id_aa64isar0_el1", 60, 1, 0, HWCAP2_RNG),
    ("id_aa64isar1_el1", 0, 1, HWCAP_DCPOP, 0),
    ("id_aa64isar1_el1", 0, 2, 0, HWCAP2_DCPODP),
    ("id_aa64isar1_el1", 12, 1, HWCAP_JSCVT, 0),
    ("id_aa64isar1_el1", 16, 1, HWCAP_FCMA, 0),
    ("id_aa64isar1_el1", 20, 1, HWCAP_LRCPC, 0),
    ("id_aa64isar1_el1", 20, 2, HWCAP_ILRCPC, 0),
    ("id_aa64isar1_el1", 32, 1, 0, HWCAP2_FRINT),
    ("id_aa64isar1_el1", 36, 1, HWCAP_SB, 0),
    ("id_aa64isar1_el1", 44, 1, 0, HWCAP2_BF16),
    ("id_aa64isar1_el1", 48, 1, 0, HWCAP2_DGH),
    ("id_aa64isar1_el1", 52, 1, 0, HWCAP2_I8MM),
    ("id_aa64pfr1_el1", 4, 2, HWCAP_SSBS, 0),
    ("id_aa64mmfr2_el1", 32, 1, HWCAP_USCAT, 0),
)


def hwcaps(ids: dict[str, int]) -> tuple[int, int]:
    """``(AT_HWCAP, AT_HWCAP2)`` for the CPU whose ID registers are ``ids``.

    Field positions from the Arm ARM's "ID_AA64ISAR0_EL1", "ID_AA64ISAR1_EL1",
    "ID_AA64PFR0_EL1", "ID_AA64PFR1_EL1" and "ID_AA64MMFR2_EL1" register descriptions;
    which value means which HWCAP bit is the kernel's ABI (its elf_hwcaps document).
    Only features a program can use at EL0 without the kernel's help are reported.
    """
    cap = cap2 = 0
    pfr0 = ids.get("id_aa64pfr0_el1", 0)
    fp, simd = pfr0 >> 16 & 0xF, pfr0 >> 20 & 0xF  # 0xF: not implemented, 1: + half
    if fp != 0xF:
        cap |= HWCAP_FP | (HWCAP_FPHP if fp >= 1 else 0)
    if simd != 0xF:
        cap |= HWCAP_ASIMD | (HWCAP_ASIMDHP if simd >= 1 else 0)
    for register, lsb, lowest, bit, bit2 in _RULES:
        if ids.get(register, 0) >> lsb & 0xF >= lowest:
            cap, cap2 = cap | bit, cap2 | bit2
    return cap, cap2


@dataclass(frozen=True)
class InitialStack:
    """The process stack as the kernel leaves it: ``sp`` points at ``argc``."""

    sp: int
    base: int  # lowest address of ``data``
    data: bytes
    auxv: bytes  # the auxiliary vector as stored (for ``qXfer:auxv:read``)
    argv: tuple[int, ...]
    envp: tuple[int, ...]

    @property
    def auxv_address(self) -> int:
        """Where the auxiliary vector starts in memory (just above ``envp[]``'s NULL)."""
        return self.sp + 8 * (len(self.argv) + len(self.envp) + 3)

    def with_auxv(self, key: int, value: int) -> tuple[InitialStack, int]:
        """This stack with entry ``key`` of the auxv set to ``value``, and its address."""
        for i in range(0, len(self.auxv), 16):
            k, _ = struct.unpack_from("<QQ", self.auxv, i)
            if k == key:
                auxv = bytearray(self.auxv)
                struct.pack_into("<Q", auxv, i + 8, value)
                at = self.auxv_address + i + 8
                data = bytearray(self.data)
                struct.pack_into("<Q", data, at - self.base, value)
                from dataclasses import replace

                return replace(self, auxv=bytes(auxv), data=bytes(data)), at
        raise KeyError(f"auxv has no entry of type {key}")


def build_stack(
    image: ElfImage,
    argv: list[bytes],
    envp: list[bytes],
    top: int = STACK_TOP,
    random16: bytes = bytes(range(16)),
    hwcap: int = HWCAP_FP | HWCAP_ASIMD,
    hwcap2: int = 0,
    ids: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> InitialStack:
    """Lay out argc/argv/envp/auxv and their strings below ``top``.

    ``ids`` is (uid, euid, gid, egid) for ``AT_UID``…``AT_EGID``; ``random16`` the 16 bytes
    ``AT_RANDOM`` points at (glibc seeds its stack protector and pointer guard from them).
    """
    if len(random16) != 16:
        raise ValueError(f"random16: expected 16 bytes, got {len(random16)}")
    blob = bytearray()
    pos = top

    def push(data: bytes) -> int:
        nonlocal pos, blob
        pos -= len(data)
        blob[0:0] = data
        return pos

    pos -= 8
    blob += bytes(8)  # a NULL word at the very top
    execfn = push((argv[0] if argv else b"") + b"\0")
    env_addrs = [push(s + b"\0") for s in reversed(envp)][::-1]
    arg_addrs = [push(s + b"\0") for s in reversed(argv)][::-1]
    platform = push(PLATFORM + b"\0")
    pad = pos % 16
    push(bytes(pad))
    rnd = push(random16)
    uid, euid, gid, egid = ids
    auxv_items = [
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE),
        (AT_CLKTCK, 100),
        (AT_PHDR, image.phdr_vaddr),
        (AT_PHENT, image.phentsize),
        (AT_PHNUM, image.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, uid),
        (AT_EUID, euid),
        (AT_GID, gid),
        (AT_EGID, egid),
        (AT_SECURE, 0),
        (AT_RANDOM, rnd),
        (AT_HWCAP2, hwcap2),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ]
    auxv = b"".join(struct.pack("<QQ", k, v) for k, v in auxv_items)
    words = [len(argv)] + arg_addrs + [0] + env_addrs + [0]
    table = struct.pack(f"<{len(words)}Q", *words) + auxv
    sp = (pos - len(table)) & ~0xF
    push(bytes(pos - len(table) - sp))  # alignment below the strings
    push(table)
    assert pos == sp
    return InitialStack(sp, pos, bytes(blob), auxv, tuple(arg_addrs), tuple(env_addrs))
