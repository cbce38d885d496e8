"""The real-KVM side of the contract: what a VMM passes through ``/dev/kvm`` on arm64.

``uapi`` holds the kernel's user-space ABI as data: ioctl numbers, struct layouts and
register ids, each checked against the arm64 kernel headers by ``tests/test_kvm_uapi.py``
(a C probe built with the cross compiler and run under qemu-aarch64). It imports nothing
that emulates and needs no ``/dev/kvm`` to be read, so a learner can set it beside the
Unicorn model and see the same records in the kernel's own shape.

``vcpu`` is the backend over it: ``KvmVCpu`` (``backend="kvm"``) drives ``/dev/kvm`` on an
arm64 Linux host, and runs inside the KVM lab on any other (``backend="kvm-lab"``).
"""
