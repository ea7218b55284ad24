"""The firmware's protocol end (native/src/hil_node.c) in this process, as a byte stream:
the whole wire path (Python framing -> C decoder -> bms_step -> C encoder -> Python) without
a board. `WireTarget` is the in-process firmware behind the protocol; tests use NodeStream
to feed it malformed bytes and to serve it on a pty."""

from __future__ import annotations

from bms._native import ffi, lib
from hil.link import Link
from hil.targets.remote import RemoteTarget


class NodeStream:
    """Bytes written are fed to a bms_hil_node_t; its replies are what read() returns."""

    def __init__(self, board: str = "host") -> None:
        self.node = ffi.new("bms_hil_node_t *")
        desc = ffi.new("bms_hil_board_t *")
        name = board.encode("ascii")[:15]
        ffi.memmove(desc.board, name, len(name))
        desc.counter_mask = 0xFFFFFFFF
        lib.bms_hil_init(self.node, desc)
        self._used = ffi.new("uint32_t *")
        self._out = bytearray(self._tx(lib.bms_hil_hello(self.node)))
        self.closed = False

    def _tx(self, n: int) -> bytes:
        return bytes(ffi.buffer(lib.bms_hil_tx(self.node), n))

    def write(self, data: bytes) -> None:
        view = memoryview(bytes(data))
        while len(view):
            n = lib.bms_hil_feed(self.node, ffi.from_buffer(view), len(view), self._used)
            if n:
                self._out += self._tx(n)
            view = view[self._used[0] :]

    def read(self, timeout_s: float) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def close(self) -> None:
        self.closed = True


class WireTarget(RemoteTarget):
    """The in-process firmware, reached through the wire protocol."""

    def __init__(self, reply_timeout_s: float = 1.0) -> None:
        stream = NodeStream()
        link = Link(stream, reply_timeout_s=reply_timeout_s, poll_s=0.0)
        super().__init__(link, "sim-wire", hello=link.wait_hello(reply_timeout_s))
