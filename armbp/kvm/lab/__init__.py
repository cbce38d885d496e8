"""The KVM lab: real Linux KVM on any machine, inside QEMU's emulated arm64 with EL2.

Debian's arm64 kernel has KVM built in; booted in ``qemu-system-aarch64 -M
virt,virtualization=on -cpu max`` it finds EL2 and offers ``/dev/kvm``. The lab boots that
kernel with an initramfs holding Debian's arm64 Python and armbp's pure-Python parts, and
a small agent (``agent.py``) drives KVM through ``armbp.kvm.devkvm`` on request.

* ``packages``  — fetch and unpack the arm64 packages into a cache of the user's (a private
  apt state: nothing outside the cache changes), or say exactly what is missing;
* ``initramfs`` — the cpio archive, written in Python;
* ``machine``   — boot QEMU, talk to the agent over its serial console, and stop it;
* ``agent``     — runs inside the emulated machine, as its init, serving a ``KvmVCpu``;
* ``rpc``       — the wire format of those calls (JSON lines, records tagged);
* ``backend``   — ``LabVCpu``, the host's side: ``Debugger(program, backend="kvm-lab")``;
* ``scenarios`` — the differential suite: the same guests on the model and on real KVM.
"""
