"""Framed request/reply over a byte stream (a serial port, a socket, the C node in-process).

A Link sends one request, waits for the frame that carries its seq and returns the parsed
reply; an ERROR reply raises RemoteError with the firmware's reason. Frames the host cannot
decode are counted in host_errors (the same names as the firmware's STATS counters).
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import serial

from bms.targets.base import TargetError
from hil.protocol import (
    REPLY_TO,
    Frame,
    FrameSplitter,
    Msg,
    ProtocolError,
    decode_frame,
    describe_error,
    encode,
    parse_payload,
)

FIRMWARE_FAULT = 13


class TargetTimeout(TargetError):
    """No reply within the timeout, and no sign of progress: the target is hung."""


class TargetBusy(TargetTimeout):
    """No reply yet, but the target kept taking queued input or sending: busy, not hung,
    until the link's busy limit ran out."""


class RemoteError(TargetError):
    """The firmware answered with ERROR."""

    def __init__(self, request: Msg, code: int, detail: int) -> None:
        super().__init__(f"{request.name}: {describe_error(code, detail)}")
        self.request = request
        self.code = code
        self.detail = detail


class ByteStream(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """What has arrived, waiting up to timeout_s for the first byte; b"" on timeout."""
        ...

    def close(self) -> None: ...

    # optional: bytes written that the target has not taken yet (None: not known)
    # def unsent(self) -> int | None: ...


class SerialStream:
    """Any pyserial URL: /dev/ttyACM0, socket://host:port, rfc2217://host:port, loop://, a pty."""

    def __init__(self, url: str, baudrate: int = 115200, write_timeout_s: float = 5.0) -> None:
        try:
            self._port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=0.05, write_timeout=write_timeout_s
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TargetError(f"cannot open serial port '{url}': {exc}") from None
        self.url = url

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TargetError(f"{self.url}: write failed: {exc}") from None

    def read(self, timeout_s: float) -> bytes:
        try:
            self._port.timeout = max(timeout_s, 0.0)
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise TargetError(f"{self.url}: read failed: {exc}") from None

    def unsent(self) -> int | None:
        try:
            return int(self._port.out_waiting)
        except (AttributeError, NotImplementedError, serial.SerialException, OSError):
            return None

    def close(self) -> None:
        self._port.close()


def _peer_rx_queue(sock: socket.socket) -> int | None:
    """The receive queue of the other end of a loopback TCP connection, from /proc/net/tcp
    (None: not on this machine, or not Linux)."""
    try:
        port = sock.getsockname()[1]
        peer_host, peer_port = sock.getpeername()[:2]
    except OSError:
        return None
    if not (peer_host.startswith("127.") or peer_host in ("::1", "::ffff:127.0.0.1")):
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115 (a small proc file)
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if (
                len(f) > 4
                and int(f[1].rsplit(":", 1)[1], 16) == peer_port
                and (int(f[2].rsplit(":", 1)[1], 16) == port)
            ):
                return int(f[4].split(":")[1], 16)
    return None


class SocketStream:
    """A connected TCP socket (QEMU's UART chardev), TCP_NODELAY on our side too."""

    def __init__(self, sock: socket.socket, write_timeout_s: float = 5.0) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._write_timeout = write_timeout_s

    def write(self, data: bytes) -> None:
        try:
            self._sock.settimeout(self._write_timeout)
            self._sock.sendall(data)
        except OSError as exc:
            raise TargetError(f"socket write failed: {exc}") from None

    def read(self, timeout_s: float) -> bytes:
        try:
            self._sock.settimeout(max(timeout_s, 1e-4))
            data = self._sock.recv(65536)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise TargetError(f"socket read failed: {exc}") from None
        if not data:
            raise TargetError("the target closed the connection")
        return data

    def unsent(self) -> int | None:
        """Bytes written that the target's process has not read yet (Linux): our send queue
        (TIOCOUTQ) plus, when the peer is a process on this machine (QEMU's UART chardev), its
        socket's receive queue. A target draining a burst takes them steadily, a hung one not
        at all. (Our send queue alone moves in window-sized jumps seconds apart.)"""
        try:
            outq = int(struct.unpack("i", fcntl.ioctl(self._sock, termios.TIOCOUTQ, b"\0" * 4))[0])
        except (OSError, ValueError):
            return None
        return outq + (_peer_rx_queue(self._sock) or 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class TracingStream:
    """Keeps the last `keep` bytes of each direction (the protocol UART's log)."""

    def __init__(self, inner: ByteStream, keep: int = 1 << 16) -> None:
        self.inner = inner
        self.keep = keep
        self.rx = bytearray()
        self.tx = bytearray()

    def _add(self, buf: bytearray, data: bytes) -> None:
        buf += data
        if len(buf) > 2 * self.keep:
            del buf[: len(buf) - self.keep]

    def write(self, data: bytes) -> None:
        self._add(self.tx, data)
        self.inner.write(data)

    def read(self, timeout_s: float) -> bytes:
        data = self.inner.read(timeout_s)
        self._add(self.rx, data)
        return data

    def unsent(self) -> int | None:
        return _unsent(self.inner)

    def close(self) -> None:
        self.inner.close()


def _unsent(stream: object) -> int | None:
    fn = getattr(stream, "unsent", None)
    return fn() if callable(fn) else None


class Link:
    """Request/reply with sequence numbers over a ByteStream.

    Busy is told from hung at each timeout: a target that took some of the bytes still
    queued for it, or sent anything, during the last timeout is draining a backlog (a burst
    of garbage ahead of the request), and the wait goes on, timeout by timeout, up to
    busy_limit_s; one that did neither is hung (TargetTimeout). A backlog past the limit is
    TargetBusy."""

    def __init__(
        self,
        stream: ByteStream,
        reply_timeout_s: float = 5.0,
        check: Callable[[], None] | None = None,
        poll_s: float = 0.05,
        busy_limit_s: float = 120.0,
    ) -> None:
        self.stream = stream
        self.reply_timeout_s = reply_timeout_s
        self.busy_limit_s = busy_limit_s
        self.rx_bytes = 0  # everything received, for the progress test
        self._check = check
        self._poll = poll_s
        self._split = FrameSplitter()
        self._pending: list[Frame] = []
        self._seq = 0
        self.host_errors: Counter[str] = Counter()
        self.restarts = 0  # HELLO announcements seen after the first: the firmware rebooted
        # called with every TargetError the link raises; returns the error to raise (a
        # target that owns a process kills it there and adds its logs)
        self.on_failure: Callable[[TargetError], TargetError] | None = None

    def _fail(self, exc: TargetError) -> TargetError:
        return self.on_failure(exc) if self.on_failure is not None else exc

    def send_raw(self, data: bytes) -> None:
        self.stream.write(data)

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1  # 0 is the firmware's own (boot HELLO, fault)
        return self._seq

    def _pump(self, timeout_s: float) -> None:
        data = self.stream.read(timeout_s)
        self.rx_bytes += len(data)
        for chunk in self._split.feed(data):
            try:
                fr = decode_frame(chunk)
            except ProtocolError as exc:
                self.host_errors[exc.kind] += 1
                continue
            if fr.seq == 0 and fr.type == Msg.ERROR:
                err = parse_payload(Msg.ERROR, fr.payload)
                if err.code == FIRMWARE_FAULT:
                    raise TargetError(
                        f"the firmware reported a fault: {describe_error(err.code, err.detail)}"
                    )
            self._pending.append(fr)

    def wait_frame(self, match: Callable[[Frame], bool], timeout_s: float, what: str) -> Frame:
        start = time.monotonic()
        deadline = start + timeout_s
        # the progress mark is taken after the first poll: bytes just written are in flight
        # for a moment (counted in our send queue and the peer's receive queue at once)
        mark: tuple[int, int | None] | None = None
        busy = False
        try:
            while True:
                for i, fr in enumerate(self._pending):
                    if match(fr):
                        del self._pending[i]
                        return fr
                if self._check is not None:
                    self._check()
                now = time.monotonic()
                remaining = deadline - now
                if mark is None and now - start >= self._poll:
                    mark = (self.rx_bytes, _unsent(self.stream))
                if remaining <= 0:
                    if mark is None:
                        mark = (self.rx_bytes, _unsent(self.stream))
                    unsent = _unsent(self.stream)
                    took = unsent is not None and mark[1] is not None and unsent < mark[1]
                    progressed = self.rx_bytes > mark[0] or took
                    if progressed and now - start + timeout_s <= self.busy_limit_s:
                        busy, mark, deadline = True, (self.rx_bytes, unsent), now + timeout_s
                        continue
                    queued = "" if unsent is None else f", {unsent} bytes still queued for it"
                    if progressed:
                        raise TargetBusy(
                            f"no {what} within {now - start:.1f} s: the target is busy (still taking "
                            f"input or sending{queued}) past the {self.busy_limit_s:.0f} s limit"
                        )
                    after = f" (it was busy for {now - start - timeout_s:.1f} s before)" if busy else ""
                    raise TargetTimeout(
                        f"no {what} within {timeout_s:.1f} s and no progress (nothing received, no "
                        f"queued byte taken{queued}): the target is hung{after}"
                    )
                self._pump(min(self._poll, remaining))
        except TargetError as exc:
            raise self._fail(exc) from None

    def wait_hello(self, timeout_s: float) -> Any:
        fr = self.wait_frame(
            lambda f: f.type == Msg.HELLO and f.seq == 0, timeout_s, "HELLO from the firmware"
        )
        return parse_payload(Msg.HELLO, fr.payload)

    def request(self, msg: Msg, fields: dict[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        seq = self._next_seq()
        try:
            self.stream.write(encode(msg, seq, fields))
        except TargetError as exc:
            raise self._fail(exc) from None
        timeout = self.reply_timeout_s if timeout_s is None else timeout_s
        fr = self.wait_frame(lambda f: f.seq == seq, timeout, f"reply to {msg.name} (seq {seq})")
        # anything older is stale (a reply to a request that timed out); a boot HELLO means a restart
        self.restarts += sum(1 for f in self._pending if f.type == Msg.HELLO and f.seq == 0)
        self._pending.clear()
        if fr.type == Msg.ERROR:
            err = parse_payload(Msg.ERROR, fr.payload)
            raise RemoteError(msg, err.code, err.detail)
        if fr.type != REPLY_TO[msg]:
            raise TargetError(f"{msg.name} was answered with message type {fr.type}")
        return parse_payload(fr.type, fr.payload)
