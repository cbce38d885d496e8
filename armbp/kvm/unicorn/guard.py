"""The one-thread rule: while a run is in progress only ``kick`` may come from elsewhere.

KVM's vCPU ioctls take the vCPU's mutex; here a change from another thread during a run
raises ``VCpuBusy`` at once instead of waiting (Unicorn changed under a running emulation
kills the interpreter).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from armbp.kvm.abi import VCpuBusy

__all__ = ["_exclusive", "_get_ident"]

_get_ident = threading.get_ident


def _exclusive(method: Callable) -> Callable:
    """Make ``method`` refuse to run while another thread's run is in progress, and keep a
    run from starting while it runs (see ``VCpu.ensure_idle``)."""
    name = method.__name__

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        vcpu = getattr(self, "_vcpu", self)  # a VCpu, or its GuestMemory
        me = _get_ident()
        runner = vcpu._runner
        if runner is not None:
            if runner != me:
                raise VCpuBusy(name, runner, me)
            return method(self, *args, **kwargs)  # inside the run, on its own thread
        if vcpu._owner == me:
            return method(self, *args, **kwargs)  # called by another guarded method
        with vcpu._lock:
            # Announce the change, then look for a run: a run announces itself, then
            # looks for a change (VCpu.run_until). One of the two always sees the other.
            vcpu._owner = me
            try:
                runner = vcpu._runner
                if runner is not None and runner != me:
                    raise VCpuBusy(name, runner, me)
                return method(self, *args, **kwargs)
            finally:
                vcpu._owner = None

    return guarded
