# what qemu-aarch64 7.2's stub does not offer (no QCatchSyscalls, no qXfer:siginfo:read),
# checked against expected lines: catch syscall write, then $_siginfo of the SIGSEGV
set pagination off
set confirm off
catch syscall write
continue
print $x8
continue
print $x0
delete
continue
print $_siginfo.si_signo
print $_siginfo.si_code
print $_siginfo._sifields._sigfault.si_addr
continue
print $_exitsignal
