"""``kvm`` — "the hardware + KVM": the vCPU below the VMM, and the contract between them.

* ``abi``     — KVM's ABI as data (``linux/kvm.h``, ``asm/kvm.h``): the guest-debug
  control and its ``kvm_guest_debug_arch`` slots, exit reasons, the ``Exit`` record and its
  debug/MMIO/system-event parts, the run budget, the register names. No emulator in it.
* ``backend`` — the vCPU interface a backend implements (``Backend``), and
  ``make_backend``, which builds one by name (``"unicorn"``) or from a factory.
* ``arch``    — architectural facts of exception entry (vector offsets, PSTATE), pure.
* ``unicorn`` — the Unicorn model of the hardware + KVM (the only package that imports
  Unicorn). A real ``/dev/kvm`` backend is the second implementation of the same contract.

The VMM (``armbp.vmm``), the breakpoint table, the debugger and the front ends import
``abi`` and ``backend`` only: they run unchanged on any backend.
"""
