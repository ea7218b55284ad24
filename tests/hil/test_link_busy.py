"""Busy told from hung: a target draining a backlog of bytes queued ahead of a request is
waited for (timeout by timeout, while it takes input) up to the link's busy limit; one that
takes nothing and sends nothing is hung after one timeout. The firmware's protocol end
(hil_node.c) in this process, behind a stream that feeds it at a fixed byte rate, as a UART."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hil.link import Link, TargetBusy, TargetTimeout
from hil.protocol import Msg
from hil.targets.wire import NodeStream


class UartStream:
    """Bytes written wait in a queue the node takes at rate_bps (0: a hung target)."""

    def __init__(self, rate_bps: float, report_unsent: bool = True) -> None:
        self.node = NodeStream()
        self.rate_bps = rate_bps
        self.queue = bytearray()
        self.report_unsent = report_unsent
        self._t = time.monotonic()

    def _drain(self) -> None:
        now = time.monotonic()
        n = min(len(self.queue), int((now - self._t) * self.rate_bps))
        if n or not self.queue:
            self._t = now
        if n:
            self.node.write(bytes(self.queue[:n]))
            del self.queue[:n]

    def write(self, data: bytes) -> None:
        self._drain()
        self.queue += data

    def read(self, timeout_s: float) -> bytes:
        self._drain()
        out = self.node.read(0.0)
        if not out:
            time.sleep(min(timeout_s, 0.01))
        return out

    def unsent(self) -> int | None:
        return len(self.queue) if self.report_unsent else None

    def close(self) -> None:
        self.node.close()


def _link(stream: UartStream, timeout_s: float, busy_limit_s: float = 30.0) -> Link:
    link = Link(stream, reply_timeout_s=timeout_s, poll_s=0.01, busy_limit_s=busy_limit_s)
    link.wait_hello(1.0)
    return link


GARBAGE = bytes(np.random.default_rng(3).integers(1, 256, 24_000, dtype=np.uint8)) + b"\x00"


def test_a_target_draining_a_burst_is_waited_for_past_the_reply_timeout():
    stream = UartStream(rate_bps=16_000)  # 24 kB ahead of the request: ~1.5 s of work
    link = _link(stream, timeout_s=0.4)
    link.send_raw(GARBAGE)
    t0 = time.monotonic()
    stats = link.request(Msg.STATS)
    waited = time.monotonic() - t0
    assert waited > 0.4  # longer than one reply timeout: the old link called this hung
    assert stats is not None and stream.queue == bytearray()


def test_a_target_that_takes_nothing_is_hung_after_one_timeout():
    link = _link(UartStream(rate_bps=16_000), timeout_s=0.3)
    link.stream.rate_bps = 0  # stops taking input after the HELLO
    t0 = time.monotonic()
    with pytest.raises(TargetTimeout, match=r"no progress .*the target is hung") as e:
        link.request(Msg.STATS)
    assert not isinstance(e.value, TargetBusy)
    assert time.monotonic() - t0 < 0.3 + 0.5


def test_a_backlog_past_the_busy_limit_is_reported_busy_not_hung():
    link = _link(UartStream(rate_bps=2_000), timeout_s=0.3, busy_limit_s=1.0)  # 12 s of work
    link.send_raw(GARBAGE)
    t0 = time.monotonic()
    with pytest.raises(
        TargetBusy, match=r"the target is busy .*bytes still queued for it\) past the 1 s limit"
    ):
        link.request(Msg.STATS)
    assert 0.9 < time.monotonic() - t0 < 1.0 + 0.3 + 0.5


def test_a_stream_that_cannot_tell_what_is_queued_is_judged_on_replies_alone():
    link = _link(UartStream(rate_bps=0, report_unsent=False), timeout_s=0.3)
    with pytest.raises(TargetTimeout, match="the target is hung"):
        link.request(Msg.STATS)
