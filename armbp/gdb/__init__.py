"""The GDB front end: a remote stub that speaks RSP over the breakpoint core.

One module per layer, from the wire up:

* ``framing``   — the packet layer: checksums, escaping, run-length, acks (no emulator);
* ``registers`` — the one register table: ``g``/``G``/``p``/``P`` encodings and target.xml;
* ``schema``    — argument schemas: a malformed packet of any kind is one ``E22``;
* ``packets``   — the packet table (prefix → handler, schema) and ``GdbStub``;
* ``target``    — what the stub drives: ``Target``, and ``DebuggerTarget`` over ``Debugger``;
* ``server``    — the socket: ``GdbServer``, ``start_server``;
* ``client``    — ``RspClient``, the other end (what GDB does, for notebooks and tests);
* ``cli``       — the command, ``armbp gdbserver`` (also ``python -m armbp.gdb``).
"""
