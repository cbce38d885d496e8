"""A static AArch64 Linux ELF run the way ``qemu-aarch64`` (and the kernel) would start it.

What the kernel does for a process, in miniature, over guest memory:

* ``image``: every ``PT_LOAD`` mapped page-aligned, as the ELF loader does;
* ``stack``: the initial stack (``argc``, ``argv[]``, ``envp[]``, the auxiliary vector
  with ``AT_PHDR``, ``AT_RANDOM``, truthful ``AT_HWCAP``…), ``sp`` 16-byte aligned;
* ``memory``: the address space behind ``brk``/``mmap``/``mprotect``, enforced by the vCPU;
* ``syscalls``: the system calls a static C program makes (glibc or musl);
* ``threads``: ``clone``d threads scheduled on the one vCPU, and their futexes;
* ``signals``: faults and ``kill``/``tgkill`` as signals, with the syndrome kept;
* ``process``: ``LinuxProcess``, the program on a vCPU at EL0 and its kernel.

Not supported (a clear ``-ENOSYS``, logged on the "armbp.linux" logger): ``fork``
(``clone`` without ``CLONE_THREAD``), ``vfork``, ``execve``, ``clone3``, signal handlers (recorded, never run), writing files,
sockets, and any call not listed in ``syscalls.SYSCALL_NAMES``.
"""

from armbp.elf import PF_R, PF_W, PF_X, ElfError, Load  # noqa: F401 (re-exported)
from armbp.encodings import ERET  # noqa: F401
from armbp.kvm.arch import VECTOR_LOWER_A64  # noqa: F401
from armbp.linux.image import PAGE, ElfImage
from armbp.linux.memory import AddressSpace
from armbp.linux.process import (
    ROOM_ABOVE,
    SPSR_EL0T,
    STACK_GAP,
    STACK_SIZE,
    KernelStop,
    LinuxProcess,
)
from armbp.linux.signals import SIGABRT, SIGILL, SIGSEGV, SIGTRAP, Signal
from armbp.linux.stack import (
    AT_BASE,
    AT_CLKTCK,
    AT_EGID,
    AT_ENTRY,
    AT_EUID,
    AT_EXECFN,
    AT_FLAGS,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    AT_SECURE,
    AT_UID,
    HWCAP_ASIMD,
    HWCAP_FP,
    PLATFORM,
    STACK_TOP,
    InitialStack,
    build_stack,
    hwcaps,
)
from armbp.linux.syscalls import (
    EBADF,
    EFAULT,
    ENOSYS,
    ENOTTY,
    SYS_BRK,
    SYS_EXIT,
    SYS_EXIT_GROUP,
    SYS_GETPID,
    SYS_GETTID,
    SYS_IOCTL,
    SYS_SET_TID_ADDRESS,
    SYS_UNAME,
    SYS_WRITE,
    SYS_WRITEV,
    SYSCALL_NAMES,
    SyscallResult,
    Syscalls,
)

__all__ = [
    "AT_BASE",
    "AT_CLKTCK",
    "AT_EGID",
    "AT_ENTRY",
    "AT_EUID",
    "AT_EXECFN",
    "AT_FLAGS",
    "AT_GID",
    "AT_HWCAP",
    "AT_HWCAP2",
    "AT_NULL",
    "AT_PAGESZ",
    "AT_PHDR",
    "AT_PHENT",
    "AT_PHNUM",
    "AT_PLATFORM",
    "AT_RANDOM",
    "AT_SECURE",
    "AT_UID",
    "EBADF",
    "EFAULT",
    "ENOSYS",
    "ENOTTY",
    "HWCAP_ASIMD",
    "HWCAP_FP",
    "PAGE",
    "PLATFORM",
    "ROOM_ABOVE",
    "SIGABRT",
    "SIGILL",
    "SIGSEGV",
    "SIGTRAP",
    "SPSR_EL0T",
    "STACK_GAP",
    "STACK_SIZE",
    "STACK_TOP",
    "SYSCALL_NAMES",
    "SYS_BRK",
    "SYS_EXIT",
    "SYS_EXIT_GROUP",
    "SYS_GETPID",
    "SYS_GETTID",
    "SYS_IOCTL",
    "SYS_SET_TID_ADDRESS",
    "SYS_UNAME",
    "SYS_WRITE",
    "SYS_WRITEV",
    "AddressSpace",
    "ElfImage",
    "InitialStack",
    "KernelStop",
    "LinuxProcess",
    "Signal",
    "SyscallResult",
    "Syscalls",
    "build_stack",
    "hwcaps",
]
