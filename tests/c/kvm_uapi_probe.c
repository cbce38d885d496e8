/* Prints every number and layout armbp.kvm.devkvm.uapi claims, as the arm64 kernel
 * headers give them: "NAME VALUE" per line. Built static with the cross compiler and run
 * under qemu-aarch64 by tests/test_kvm_uapi.py. */
#include <stddef.h>
#include <stdio.h>
#include <linux/kvm.h>

#define P(name) printf("%s %llu\n", #name, (unsigned long long)(name))
#define OFF(name, type, field) printf("%s %zu\n", name, offsetof(type, field))
#define SIZE(name, type) printf("%s %zu\n", name, sizeof(type))

int main(void)
{
    P(KVM_GET_API_VERSION); P(KVM_CREATE_VM); P(KVM_CHECK_EXTENSION);
    P(KVM_GET_VCPU_MMAP_SIZE); P(KVM_CREATE_VCPU); P(KVM_SET_USER_MEMORY_REGION);
    P(KVM_RUN); P(KVM_SET_GUEST_DEBUG); P(KVM_GET_ONE_REG); P(KVM_SET_ONE_REG);
    P(KVM_ARM_VCPU_INIT); P(KVM_ARM_PREFERRED_TARGET); P(KVM_API_VERSION);
    P(KVM_CAP_SET_GUEST_DEBUG); P(KVM_CAP_ONE_REG); P(KVM_CAP_GUEST_DEBUG_HW_BPS);
    P(KVM_CAP_GUEST_DEBUG_HW_WPS); P(KVM_CAP_IMMEDIATE_EXIT);
    P(KVM_ARM_VCPU_POWER_OFF); P(KVM_ARM_VCPU_PSCI_0_2); P(KVM_ARM_MAX_DBG_REGS);
    P(KVM_GUESTDBG_ENABLE); P(KVM_GUESTDBG_SINGLESTEP); P(KVM_GUESTDBG_USE_SW_BP);
    P(KVM_GUESTDBG_USE_HW);
    P(KVM_EXIT_UNKNOWN); P(KVM_EXIT_DEBUG); P(KVM_EXIT_HLT); P(KVM_EXIT_MMIO);
    P(KVM_EXIT_INTR); P(KVM_EXIT_INTERNAL_ERROR); P(KVM_EXIT_SYSTEM_EVENT);
    P(KVM_EXIT_FAIL_ENTRY); P(KVM_SYSTEM_EVENT_SHUTDOWN); P(KVM_SYSTEM_EVENT_RESET);
    P(KVM_REG_ARM64); P(KVM_REG_SIZE_U32); P(KVM_REG_SIZE_U64); P(KVM_REG_SIZE_U128);
    P(KVM_REG_ARM_CORE); P(KVM_REG_ARM64_SYSREG);
    SIZE("sizeof_memory_region", struct kvm_userspace_memory_region);
    SIZE("sizeof_one_reg", struct kvm_one_reg);
    SIZE("sizeof_vcpu_init", struct kvm_vcpu_init);
    SIZE("sizeof_guest_debug", struct kvm_guest_debug);
    OFF("run_immediate_exit", struct kvm_run, immediate_exit);
    OFF("run_exit_reason", struct kvm_run, exit_reason);
    OFF("run_debug_hsr", struct kvm_run, debug.arch.hsr);
    OFF("run_debug_hsr_high", struct kvm_run, debug.arch.hsr_high);
    OFF("run_debug_far", struct kvm_run, debug.arch.far);
    OFF("run_mmio_phys_addr", struct kvm_run, mmio.phys_addr);
    OFF("run_mmio_data", struct kvm_run, mmio.data);
    OFF("run_mmio_len", struct kvm_run, mmio.len);
    OFF("run_mmio_is_write", struct kvm_run, mmio.is_write);
    OFF("run_system_event_type", struct kvm_run, system_event.type);
    OFF("run_fail_entry_reason", struct kvm_run, fail_entry.hardware_entry_failure_reason);
    OFF("run_fail_entry_cpu", struct kvm_run, fail_entry.cpu);
    OFF("run_internal_suberror", struct kvm_run, internal.suberror);
    OFF("guest_debug_arch", struct kvm_guest_debug, arch);
    OFF("guest_debug_wvr", struct kvm_guest_debug, arch.dbg_wvr);
    for (int n = 0; n < 31; n++)
        printf("core_x%d %zu\n", n, offsetof(struct kvm_regs, regs.regs) + 8 * n);
    OFF("core_sp", struct kvm_regs, regs.sp);
    OFF("core_pc", struct kvm_regs, regs.pc);
    OFF("core_pstate", struct kvm_regs, regs.pstate);
    OFF("core_sp_el1", struct kvm_regs, sp_el1);
    OFF("core_elr_el1", struct kvm_regs, elr_el1);
    OFF("core_spsr0", struct kvm_regs, spsr);
    OFF("core_v0", struct kvm_regs, fp_regs.vregs);
    OFF("core_fpsr", struct kvm_regs, fp_regs.fpsr);
    OFF("core_fpcr", struct kvm_regs, fp_regs.fpcr);
    /* the ids QEMU computes for these, from the same macros */
    printf("id_pc %llu\n", (unsigned long long)(KVM_REG_ARM64 | KVM_REG_SIZE_U64 |
           KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, regs.pc) / 4)));
    printf("id_fpsr %llu\n", (unsigned long long)(KVM_REG_ARM64 | KVM_REG_SIZE_U32 |
           KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, fp_regs.fpsr) / 4)));
    printf("id_esr_el1 %llu\n", (unsigned long long)ARM64_SYS_REG(3, 0, 5, 2, 0));
    printf("id_mdscr_el1 %llu\n", (unsigned long long)ARM64_SYS_REG(2, 0, 0, 2, 2));
    return 0;
}
