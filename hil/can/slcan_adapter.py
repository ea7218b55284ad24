"""A serial-line CAN adapter (the Lawicel/CANable "slcan" protocol) in software: a TCP port
that speaks slcan on one side and puts the frames on a python-can bus on the other.

It stands in for a USB-CAN dongle where there is none: `can:slcan:socket://127.0.0.1:P1,
socket://127.0.0.1:P2` with two adapters on one virtual bus is two dongles on one cable.

    python -m hil.can.slcan_adapter --bus virtual:bench --port 7001

Protocol subset (what python-can's slcan interface and common tools send): O/L open,
C close, S0-S8 bitrate, V/N version and serial, F status, Z timestamps, tIIILDD..
and TIIIIIIIILDD.. data frames (acknowledged with z / Z), each ending in CR; errors
answer BEL. Frames from the bus go out as tIIILDD..CR while the channel is open.
"""

from __future__ import annotations

import argparse
import select
import socket
import threading

import can

from hil.can.bus import open_bus, parse_bus

OK, ERR = b"\r", b"\a"


def frame_line(msg: can.Message) -> bytes:
    data = bytes(msg.data).hex().upper()
    if msg.is_extended_id:
        return f"T{msg.arbitration_id:08X}{msg.dlc}{data}\r".encode()
    return f"t{msg.arbitration_id:03X}{msg.dlc}{data}\r".encode()


def parse_frame(line: str) -> can.Message | None:
    """A t/T command as a message; None if it is malformed."""
    try:
        ext = line[0] == "T"
        n_id = 8 if ext else 3
        fid = int(line[1 : 1 + n_id], 16)
        dlc = int(line[1 + n_id])
        data = bytes.fromhex(line[2 + n_id : 2 + n_id + 2 * dlc])
    except (ValueError, IndexError):
        return None
    if dlc > 8 or len(data) != dlc or fid > (0x1FFFFFFF if ext else 0x7FF):
        return None
    return can.Message(arbitration_id=fid, is_extended_id=ext, data=data)


class SlcanAdapter:
    """One adapter: a TCP listener (one client at a time) bridged to a bus, which it owns
    (stop() shuts it down)."""

    def __init__(self, bus: can.BusABC, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bus = bus
        self._srv = socket.create_server((host, port))
        self.port = self._srv.getsockname()[1]
        self.url = f"socket://{host}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"slcan:{self.port}", daemon=True)
        self.frames_to_bus = 0
        self.frames_from_bus = 0

    def start(self) -> SlcanAdapter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._srv.close()
        self.bus.shutdown()

    def __enter__(self) -> SlcanAdapter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._srv.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except OSError:  # the client went away (closed, reset): wait for the next
                    continue

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        is_open = False
        while not self._stop.is_set():
            # bus -> serial
            msg = self.bus.recv(timeout=0.0)
            while msg is not None:
                if is_open and not msg.is_error_frame:
                    conn.sendall(frame_line(msg))
                    self.frames_from_bus += 1
                msg = self.bus.recv(timeout=0.0)
            # serial -> bus
            ready, _, _ = select.select([conn], [], [], 0.0005)
            if not ready:
                continue
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
            while b"\r" in buf:
                raw, buf = buf.split(b"\r", 1)
                reply, is_open = self._command(raw.decode(errors="replace"), is_open)
                conn.sendall(reply)

    def _command(self, line: str, is_open: bool) -> tuple[bytes, bool]:
        if not line:
            return OK, is_open
        c = line[0]
        if c in "OL":
            return OK, True
        if c == "C":
            return OK, False
        if c in "SsZMmXW":
            return OK, is_open
        if c == "V":
            return b"V1013\r", is_open
        if c == "N":
            return b"NBMS0\r", is_open
        if c == "F":
            return b"F00\r", is_open
        if c in "tT":
            msg = parse_frame(line)
            if msg is None or not is_open:
                return ERR, is_open
            self.bus.send(msg)
            self.frames_to_bus += 1
            return (b"z\r" if c == "t" else b"Z\r"), is_open
        return ERR, is_open


def main() -> None:
    ap = argparse.ArgumentParser(description="slcan adapter in software: TCP <-> a python-can bus")
    ap.add_argument(
        "--bus", default="virtual:bms-bench", help="virtual[:CH] | udp_multicast[:GROUP] | socketcan:IF"
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    spec = parse_bus(args.bus)
    adapter = SlcanAdapter(open_bus(spec.interface, spec.harness_channel), args.host, args.port).start()
    print(f"slcan adapter on {adapter.url} <-> {args.bus}", flush=True)
    try:
        adapter._thread.join()
    except KeyboardInterrupt:
        adapter.stop()


if __name__ == "__main__":
    main()
