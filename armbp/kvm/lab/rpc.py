"""The lab's wire format: Backend calls and their results as JSON, one line each way.

The host (``armbp.kvm.lab.backend.LabVCpu``) sends a method name with its arguments; the
agent inside the emulated machine calls its ``KvmVCpu`` and sends back the result, or the
exception. JSON has no bytes, no sets and no records, so those are tagged explicitly:
``{"$b": hex}`` for bytes, ``{"$set": [...]}`` for a frozenset, ``{"$map": [[k, v], ...]}``
for a dict, ``{"$exit": {...}}`` for an ``Exit``, ``{"$arch": [bcr, bvr, wcr, wvr]}`` for
a ``GuestDebugArch``. An error comes back as its type's name and message, and is raised
on the host as the same type (``ValueError``, ``MemoryFault``, ``VCpuBusy``, ...).

Standard library and armbp's pure-Python records only: both sides import it.
"""

from __future__ import annotations

import json
from typing import Any

from armbp.kvm.abi import (
    DebugExit,
    Exit,
    ExitReason,
    GuestDebugArch,
    MemoryAccess,
    SystemEvent,
    SystemEventType,
    VCpuBusy,
)
from armbp.memory import MemoryFault
from armbp.program import Program, Segment

__all__ = ["RemoteError", "decode", "decode_error", "dumps", "encode", "encode_error"]


def dumps(message: Any) -> str:
    """One line of JSON, without the spaces ``json.dumps`` puts in by default (every byte
    over the serial console costs tens of microseconds)."""
    return json.dumps(message, separators=(",", ":"))


class RemoteError(RuntimeError):
    """An exception of the agent's that has no counterpart on the host."""


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (see the module for the tags)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": bytes(value).hex()}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted(encode(v) for v in value)}
    if isinstance(value, dict):
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Exit):
        return {"$exit": _exit_fields(value)}
    if isinstance(value, GuestDebugArch):
        return {"$arch": [list(value.dbg_bcr), list(value.dbg_bvr), list(value.dbg_wcr),
                          list(value.dbg_wvr)]}  # fmt: skip
    if isinstance(value, Program):
        return {"$program": {
            "name": value.name, "base": value.base, "entry": value.entry,
            "segments": [[s.vaddr, s.data.hex(), s.memsz, s.flags] for s in value.segments],
        }}  # fmt: skip
    raise ValueError(f"cannot send {value!r} ({type(value).__name__}) to the lab")


def _exit_fields(e: Exit) -> dict[str, Any]:
    fields: dict[str, Any] = {"reason": int(e.reason), "pc": e.pc, "message": e.message}
    if e.debug is not None:
        fields["debug"] = [e.debug.hsr, e.debug.hsr_high, e.debug.far]
    if e.mmio is not None:
        m = e.mmio
        fields["mmio"] = [m.address, m.size, m.access, m.why, m.value]
    if e.system_event is not None:
        fields["system_event"] = [int(e.system_event.type), e.system_event.function]
    return fields


def decode(data: Any) -> Any:
    """The value ``encode`` made ``data`` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$b" in data:
        return bytes.fromhex(data["$b"])
    if "$set" in data:
        return frozenset(decode(v) for v in data["$set"])
    if "$map" in data:
        return {_key(decode(k)): decode(v) for k, v in data["$map"]}
    if "$exit" in data:
        f = data["$exit"]
        debug = DebugExit(*f["debug"]) if "debug" in f else None
        mmio = MemoryAccess(*f["mmio"]) if "mmio" in f else None
        event = None
        if "system_event" in f:
            event = SystemEvent(SystemEventType(f["system_event"][0]), f["system_event"][1])
        return Exit(ExitReason(f["reason"]), f["pc"], debug, mmio, event, f["message"])
    if "$arch" in data:
        bcr, bvr, wcr, wvr = data["$arch"]
        return GuestDebugArch(tuple(bcr), tuple(bvr), tuple(wcr), tuple(wvr))
    if "$program" in data:
        p = data["$program"]
        segments = tuple(
            Segment(vaddr, bytes.fromhex(raw), memsz, flags)
            for vaddr, raw, memsz, flags in p["segments"]
        )
        return Program(b"", p["base"], entry=p["entry"], segments=segments, name=p["name"])
    raise ValueError(f"unknown tag in {data!r}: expected one of $b $set $map $exit $arch")


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


# Exceptions that cross the wire as themselves; anything else is a RemoteError.
_ERRORS: dict[str, type[BaseException]] = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "KeyError": KeyError,
}


def encode_error(exc: BaseException) -> dict[str, Any]:
    """An exception as a reply: ``{"ok": false, "type": ..., "error": ..., ...}``."""
    reply: dict[str, Any] = {"ok": False, "type": type(exc).__name__, "error": str(exc)}
    if isinstance(exc, MemoryFault):
        reply["fault"] = [exc.address, exc.size, exc.access, exc.why]
    elif isinstance(exc, VCpuBusy):
        reply["busy"] = [exc.what, exc.runner, exc.caller]
    return reply


def decode_error(reply: dict[str, Any]) -> BaseException:
    """The exception an error reply stands for, of the same type where the host has it."""
    kind, message = reply.get("type", ""), reply.get("error", "")
    if "fault" in reply:
        return MemoryFault(*reply["fault"])
    if "busy" in reply:
        return VCpuBusy(*reply["busy"])
    if kind == "KvmUnavailable":
        from armbp.kvm.devkvm.vcpu import KvmUnavailable

        return KvmUnavailable(message)
    cls = _ERRORS.get(kind)
    if cls is not None:
        return cls(message)
    return RemoteError(f"{kind}: {message}")
