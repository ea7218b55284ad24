"""Framed request/reply over a byte stream (a serial port, a socket, the C node in-process).

A Link sends one request, waits for the frame that carries its seq and returns the parsed
reply; an ERROR reply raises RemoteError with the firmware's reason. Frames the host cannot
decode are counted in host_errors (the same names as the firmware's STATS counters).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import serial

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
from hil.targets.base import TargetError

FIRMWARE_FAULT = 13


class TargetTimeout(TargetError):
    """No reply within the timeout."""


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

    def close(self) -> None:
        self._port.close()


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

    def close(self) -> None:
        self.inner.close()


class Link:
    """Request/reply with sequence numbers over a ByteStream."""

    def __init__(
        self,
        stream: ByteStream,
        reply_timeout_s: float = 5.0,
        check: Callable[[], None] | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.stream = stream
        self.reply_timeout_s = reply_timeout_s
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
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                for i, fr in enumerate(self._pending):
                    if match(fr):
                        del self._pending[i]
                        return fr
                if self._check is not None:
                    self._check()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TargetTimeout(f"no {what} within {timeout_s:.1f} s")
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
