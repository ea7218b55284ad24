"""The firmware's protocol end (hil_node.c) in this process, through the full wire path:
malformed input is counted and survived, configuration downloads are atomic, and the
wire target gives the in-process firmware's outputs bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from bms._native import ffi
from bms.firmware import Firmware
from bms.targets.base import Measurement, TargetError
from hil import protocol as P
from hil.link import RemoteError
from hil.silpil import compare
from hil.targets.wire import NodeStream, WireTarget
from tests.hil.malformed import random_garbage_rounds, run_cases
from tests.rig import N_CELLS, SENSORS, Rig


@pytest.fixture
def rig_config() -> bytes:
    return bytes(ffi.buffer(Rig().fw.config))


@pytest.fixture
def wire(rig_config) -> WireTarget:
    t = WireTarget()
    t.configure(rig_config)
    return t


def meas(k: int, n: int = N_CELLS, ns: int = len(SENSORS)) -> Measurement:
    v = 3.7 + 1e-4 * ((k + np.arange(n)) % 5)
    return Measurement(
        0.0, v, np.full(ns, 25.0), 25.0, float(v.sum()), float(v.sum()), float("nan"), 10.0, 100 * k
    )


def test_malformed_input_is_counted_and_the_next_frame_answered(wire):
    assert run_cases(wire, reply_timeout_s=1.0) == []
    wire.step(100, meas(1))  # still configured, still stepping


def test_random_garbage_never_breaks_the_node(wire):
    assert random_garbage_rounds(wire, rounds=40) == []
    assert wire.link.restarts == 0
    assert wire.step(100, meas(1)).time_ms == 100


def test_hello_and_info(wire, rig_config):
    info = wire.info()
    local = Firmware()
    local.configure(rig_config)
    assert info.config_hash == f"{P.crc32c(rig_config):08x}" == local.info().config_hash
    assert info.build_hash == local.info().build_hash != "00000000"
    assert (info.fw_version, info.max_cells) == (local.info().fw_version, 192)
    assert wire.hello.configured == 0  # the HELLO at start-up, before the configuration
    assert wire.link.request(P.Msg.HELLO).configured == 1


def test_the_same_outputs_as_in_process(fastcharge):
    c = compare(Firmware(), WireTarget(), fastcharge, n=800)
    assert c.steps == 800
    assert c.mismatches == []


def test_a_refused_configuration_keeps_the_running_one(wire, rig_config):
    before = wire.info().config_hash
    bad = bytearray(rig_config)
    bad[0:4] = (0).to_bytes(4, "little")  # pack.n_cells = 0
    with pytest.raises(TargetError, match=r"refused the configuration \(bms_config_check 1\)"):
        wire.configure(bytes(bad))
    assert wire.info().config_hash == before
    assert wire.link.request(P.Msg.HELLO).config_hash == int(before, 16)
    assert wire.step(100, meas(1)).time_ms == 100  # the old configuration still runs


def test_download_errors(wire, rig_config):
    link = wire.link
    size = len(rig_config)
    with pytest.raises(RemoteError, match="size differs") as e:
        link.request(P.Msg.CONFIG, dict(op=0, value=size - 1, crc=0, data=b""))
    assert e.value.detail == size
    with pytest.raises(RemoteError, match="out of sequence"):
        link.request(P.Msg.CONFIG, dict(op=2, value=0, crc=0, data=b""))
    link.request(P.Msg.CONFIG, dict(op=0, value=size, crc=P.crc32c(rig_config), data=b""))
    with pytest.raises(RemoteError, match="out of sequence"):  # a gap
        link.request(P.Msg.CONFIG, dict(op=1, value=100, crc=0, data=rig_config[100:200]))
    link.request(P.Msg.CONFIG, dict(op=1, value=0, crc=0, data=rig_config[:1000]))
    with pytest.raises(RemoteError, match="out of sequence"):  # COMMIT before the end
        link.request(P.Msg.CONFIG, dict(op=2, value=0, crc=0, data=b""))
    # a STEP in the middle of a download cancels it (the staging buffer is its I/O)
    link.request(P.Msg.CONFIG, dict(op=0, value=size, crc=P.crc32c(rig_config), data=b""))
    wire.step(100, meas(1))
    with pytest.raises(RemoteError, match="cancelled by a STEP"):
        link.request(P.Msg.CONFIG, dict(op=1, value=0, crc=0, data=rig_config[:100]))
    # a CRC that does not match the data
    link.request(P.Msg.CONFIG, dict(op=0, value=size, crc=P.crc32c(rig_config) ^ 1, data=b""))
    for off in range(0, size, P.CONFIG_CHUNK):
        link.request(P.Msg.CONFIG, dict(op=1, value=off, crc=0, data=rig_config[off : off + P.CONFIG_CHUNK]))
    with pytest.raises(RemoteError, match="CRC mismatch"):
        link.request(P.Msg.CONFIG, dict(op=2, value=0, crc=0, data=b""))
    assert wire.step(100, meas(2)).time_ms == 200  # never disturbed


def test_requests_before_configuration_are_refused():
    t = WireTarget()
    with pytest.raises(TargetError, match="not configured"):
        t.step(100, meas(1))
    with pytest.raises(RemoteError, match="not configured"):
        t.link.request(
            P.Msg.STEP,
            dict(
                dt_ms=100,
                command=0,
                current_a=0,
                ambient_degc=0,
                pack_v=0,
                bus_v=0,
                charger_max_a=0,
                coolant_flow_lpm=0,
                sample_time_ms=0,
                cell_v=[3.7],
                temp_degc=[],
            ),
        )
    with pytest.raises(RemoteError, match="not configured"):
        t.link.request(P.Msg.COMMAND, dict(cmd=1))
    with pytest.raises(RemoteError, match="not configured"):
        t.reset()


def test_commands_and_shape_checks(wire):
    assert wire.command("open") == -1  # illegal while open: same codes as in-process
    assert wire.command("close") == 0
    with pytest.raises(RemoteError, match="bad command"):
        wire.link.request(P.Msg.COMMAND, dict(cmd=9))
    with pytest.raises(TargetError, match="measurement has 3 cells"):
        wire.step(100, meas(1, n=3))
    with pytest.raises(RemoteError, match="shape differs"):
        wire.link.request(
            P.Msg.STEP,
            dict(
                dt_ms=100,
                command=0,
                current_a=0,
                ambient_degc=0,
                pack_v=0,
                bus_v=0,
                charger_max_a=0,
                coolant_flow_lpm=0,
                sample_time_ms=0,
                cell_v=[3.7] * 5,
                temp_degc=[25.0] * 3,
            ),
        )
    s = wire.step(100, meas(1), command="open")
    assert s.extra["command_result"] in (0.0, -1.0)


def test_stats_reset_and_firmware_reset(wire):
    wire.step(100, meas(1))
    assert wire.stats()["steps"] == 1
    wire.clear_stats()
    s = wire.stats()
    assert s["steps"] == 0 and s["frames_ok"] == 1  # the STATS request just made
    wire.reset()
    assert wire.step(100, meas(2)).time_ms == 100  # time restarts after a firmware reset


def test_node_stream_consumes_everything_it_is_fed():
    s = NodeStream()
    hello = s.read(0)
    assert hello.startswith(b"\x00") and hello.endswith(b"\x00")
    s.write(bytes(range(256)) * 20)
    s.write(P.encode(P.Msg.STATS, 5))
    fr = P.decode_frame(s.read(0).strip(b"\x00").split(b"\x00")[-1])
    assert (fr.type, fr.seq) == (P.Msg.STATS, 5)
