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


def _field(value: int, lsb: int) -> int:
    return value >> lsb & 0xF


def hwcaps(ids: dict[str, int]) -> tuple[int, int]:
    """``(AT_HWCAP, AT_HWCAP2)`` for the CPU whose ID registers are ``ids``.

    Field positions from the Arm ARM's "ID_AA64ISAR0_EL1", "ID_AA64ISAR1_EL1",
    "ID_AA64PFR0_EL1", "ID_AA64PFR1_EL1" and "ID_AA64MMFR2_EL1" register descriptions;
    which value means which HWCAP bit is the kernel's ABI (Documentation/arch/arm64/elf_hwcaps).
    Only features a program can use at EL0 without the kernel's help are reported.
    """
    isar0 = ids.get("id_aa64isar0_el1", 0)
    isar1 = ids.get("id_aa64isar1_el1", 0)
    pfr0 = ids.get("id_aa64pfr0_el1", 0)
    pfr1 = ids.get("id_aa64pfr1_el1", 0)
    mmfr2 = ids.get("id_aa64mmfr2_el1", 0)
    cap = cap2 = 0
    fp, simd = _field(pfr0, 16), _field(pfr0, 20)  # 0xF: not implemented
    if fp != 0xF:
        cap |= HWCAP_FP | (HWCAP_FPHP if fp >= 1 else 0)
    if simd != 0xF:
        cap |= HWCAP_ASIMD | (HWCAP_ASIMDHP if simd >= 1 else 0)
    if _field(pfr0, 48) >= 1:
        cap |= HWCAP_DIT
    aes = _field(isar0, 4)
    cap |= (HWCAP_AES if aes >= 1 else 0) | (HWCAP_PMULL if aes >= 2 else 0)
    cap |= HWCAP_SHA1 if _field(isar0, 8) >= 1 else 0
    sha2 = _field(isar0, 12)
    cap |= (HWCAP_SHA2 if sha2 >= 1 else 0) | (HWCAP_SHA512 if sha2 >= 2 else 0)
    cap |= HWCAP_CRC32 if _field(isar0, 16) >= 1 else 0
    cap |= HWCAP_ATOMICS if _field(isar0, 20) >= 2 else 0
    cap |= HWCAP_ASIMDRDM if _field(isar0, 28) >= 1 else 0
    cap |= HWCAP_SHA3 if _field(isar0, 32) >= 1 else 0
    cap |= HWCAP_SM3 if _field(isar0, 36) >= 1 else 0
    cap |= HWCAP_SM4 if _field(isar0, 40) >= 1 else 0
    cap |= HWCAP_ASIMDDP if _field(isar0, 44) >= 1 else 0
    cap |= HWCAP_ASIMDFHM if _field(isar0, 48) >= 1 else 0
    ts = _field(isar0, 52)
    cap |= HWCAP_FLAGM if ts >= 1 else 0
    cap2 |= HWCAP2_FLAGM2 if ts >= 2 else 0
    cap2 |= HWCAP2_RNG if _field(isar0, 60) >= 1 else 0
    dpb = _field(isar1, 0)
    cap |= HWCAP_DCPOP if dpb >= 1 else 0
    cap2 |= HWCAP2_DCPODP if dpb >= 2 else 0
    cap |= HWCAP_JSCVT if _field(isar1, 12) >= 1 else 0
    cap |= HWCAP_FCMA if _field(isar1, 16) >= 1 else 0
    rcpc = _field(isar1, 20)
    cap |= (HWCAP_LRCPC if rcpc >= 1 else 0) | (HWCAP_ILRCPC if rcpc >= 2 else 0)
    cap2 |= HWCAP2_FRINT if _field(isar1, 32) >= 1 else 0
    cap |= HWCAP_SB if _field(isar1, 36) >= 1 else 0
    cap2 |= HWCAP2_BF16 if _field(isar1, 44) >= 1 else 0
    cap2 |= HWCAP2_DGH if _field(isar1, 48) >= 1 else 0
    cap2 |= HWCAP2_I8MM if _field(isar1, 52) >= 1 else 0
    cap |= HWCAP_SSBS if _field(pfr1, 4) >= 2 else 0
    cap |= HWCAP_USCAT if _field(mmfr2, 32) >= 1 else 0
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
