"""SerialTarget over real pyserial URLs: a pty and socket:// served by the C protocol node,
and loop:// (an echo, which is not a firmware and must be refused clearly)."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from bms._native import ffi
from bms.firmware import Firmware
from bms.targets.base import Measurement, TargetError
from bms.targets.registry import open_target
from hil.targets.serial import SerialTarget
from hil.targets.wire import NodeStream
from tests.rig import N_CELLS, SENSORS, Rig


def serve(read, write, stop: threading.Event) -> None:
    node = NodeStream()
    node.read(0)  # the boot HELLO went out before anyone listened
    while not stop.is_set():
        data = read()
        if data:
            node.write(data)
            out = node.read(0)
            if out:
                write(out)


@pytest.fixture
def pty_url() -> Iterator[str]:
    master, slave = os.openpty()
    stop = threading.Event()

    def read() -> bytes:
        r, _, _ = select.select([master], [], [], 0.05)
        return os.read(master, 4096) if r else b""

    th = threading.Thread(target=serve, args=(read, lambda b: os.write(master, b), stop), daemon=True)
    th.start()
    yield os.ttyname(slave)
    stop.set()
    th.join(2)
    os.close(master)
    os.close(slave)


@pytest.fixture
def socket_url() -> Iterator[str]:
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    port = srv.getsockname()[1]

    def run() -> None:
        srv.settimeout(5)
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        conn.settimeout(0.05)

        def read() -> bytes:
            try:
                return conn.recv(4096)
            except TimeoutError:
                return b""

        serve(read, conn.sendall, stop)
        conn.close()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    yield f"socket://127.0.0.1:{port}"
    stop.set()
    th.join(2)
    srv.close()


def lockstep_equal(target: SerialTarget, steps: int = 80) -> None:
    rig = Rig()
    cfg = bytes(ffi.buffer(rig.fw.config))
    ref = Firmware()
    ref.configure(cfg)
    target.configure(cfg)
    for k in range(steps):
        v = 3.7 + 1e-4 * ((k + np.arange(N_CELLS)) % 5)
        m = Measurement(
            0.0,
            v,
            np.full(len(SENSORS), 25.0),
            25.0,
            float(v.sum()),
            float(v.sum()),
            float("nan"),
            10.0,
            100 * (k + 1),
        )
        a = ref.step(100, m, "close" if k == 3 else None)
        b = target.step(100, m, "close" if k == 3 else None)
        assert np.array_equal(a.soc, b.soc) and (a.ccl_a, a.contactor_state) == (b.ccl_a, b.contactor_state)
    assert b.contactor_state == 2  # precharged and closed along the way


def test_over_a_pty(pty_url):
    with SerialTarget(pty_url) as t:
        assert t.info().name == f"serial:{pty_url}"
        lockstep_equal(t)
        assert t.stats()["steps"] == 80


def test_over_socket_url_through_the_factory(socket_url):
    with open_target(f"serial:{socket_url}") as t:
        lockstep_equal(t, steps=30)


def test_an_echo_is_not_a_firmware():
    with pytest.raises(TargetError, match="loop://: the device's answer to HELLO is not this firmware"):
        SerialTarget("loop://", reply_timeout_s=0.5)


def test_nothing_there():
    with pytest.raises(TargetError, match="cannot open serial port '/dev/nonexistent-bms'"):
        SerialTarget("/dev/nonexistent-bms")


def test_unknown_target_name():
    with pytest.raises(TargetError, match="unknown target 'fpga'"):
        open_target("fpga")
