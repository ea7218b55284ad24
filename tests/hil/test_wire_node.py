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
from hil.silpil import compare, diff_states
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


def raw_step(k: int, n: int = N_CELLS, ns: int = len(SENSORS)) -> dict:
    """STEP fields built without the host's checks (which refuse before configuration)."""
    m = meas(k, n, ns)
    return dict(
        dt_ms=100,
        command=0,
        current_a=m.current_a,
        ambient_degc=m.ambient_degc,
        pack_v=m.pack_v,
        bus_v=m.bus_v,
        charger_max_a=m.charger_max_a,
        coolant_flow_lpm=m.coolant_flow_lpm,
        fast_charge_in_s=m.fast_charge_in_s,
        sample_time_ms=m.sample_time_ms,
        cell_v=[float(x) for x in m.cell_v],
        temp_degc=[float(x) for x in m.temp_degc],
    )


def download(link, config: bytes, crc: int | None = None) -> None:
    """BEGIN and every DATA chunk, no COMMIT."""
    crc = P.crc32c(config) if crc is None else crc
    link.request(P.Msg.CONFIG, dict(op=P.ConfigOp.BEGIN, value=len(config), crc=crc, data=b""))
    send_data(link, config, 0, len(config))


def send_data(link, config: bytes, start: int, stop: int):
    """DATA chunks for config[start:stop]; the last reply."""
    r = None
    for off in range(start, stop, P.CONFIG_CHUNK):
        chunk = config[off : min(off + P.CONFIG_CHUNK, stop)]
        r = link.request(P.Msg.CONFIG, dict(op=P.ConfigOp.DATA, value=off, crc=0, data=chunk))
    return r


def commit(link):
    return link.request(P.Msg.CONFIG, dict(op=P.ConfigOp.COMMIT, value=0, crc=0, data=b""))


def assert_unconfigured(wire: WireTarget) -> None:
    """The node answers as before any CONFIG: HELLO says so, STEP/COMMAND/RESET are refused."""
    hello = wire.link.request(P.Msg.HELLO)
    assert (hello.configured, hello.config_hash) == (0, 0)
    for msg, fields in (
        (P.Msg.STEP, raw_step(1)),
        (P.Msg.COMMAND, dict(cmd=1)),
        (P.Msg.RESET, dict(flags=P.RESET_FIRMWARE)),
    ):
        with pytest.raises(RemoteError, match="not configured") as e:
            wire.link.request(msg, fields)
        assert e.value.code == P.E_NOT_CONFIGURED


def test_begin_is_refused_while_the_contactors_are_not_open(wire, rig_config):
    before = wire.info().config_hash
    wire.step(100, meas(1))
    assert wire.command("close") == 0  # OPEN -> PRECHARGE
    other = bytearray(rig_config)
    other[-1] ^= 1  # another configuration: a download would change the hash
    with pytest.raises(
        TargetError, match=r"contactors are not open \(contactor state 1\): open the contactors first"
    ):
        wire.configure(bytes(other))
    with pytest.raises(RemoteError) as e:  # the firmware's answer itself
        wire.link.request(P.Msg.CONFIG, dict(op=P.ConfigOp.BEGIN, value=len(rig_config), crc=0, data=b""))
    assert (e.value.code, e.value.detail) == (P.E_CONFIG_BUSY, 1)
    # the running configuration untouched, the pack still stepped
    hello = wire.link.request(P.Msg.HELLO)
    assert (hello.configured, hello.config_hash) == (1, int(before, 16))
    assert wire.configured and wire.info().config_hash == before
    s = wire.step(100, meas(2))  # the bus equals the pack: precharge done
    assert (s.time_ms, s.contactor_state) == (200, 2)
    assert wire.command("open") == 0  # CLOSED -> OPENING: not open yet
    with pytest.raises(TargetError, match=r"contactor state 3\)"):
        wire.configure(rig_config)
    assert wire.step(100, meas(3)).contactor_state == 0  # no current: OPEN
    wire.configure(rig_config)  # opened, it takes the configuration
    assert wire.step(100, meas(4)).time_ms == 100  # a fresh instance


@pytest.mark.parametrize("fault", ["crc", "check"])
def test_a_refused_commit_leaves_the_node_unconfigured(wire, rig_config, fault):
    assert wire.step(100, meas(1)).time_ms == 100
    if fault == "check":
        bad = bytearray(rig_config)
        bad[0:4] = (0).to_bytes(4, "little")  # pack.n_cells = 0
        with pytest.raises(
            TargetError, match=r"refused the configuration \(bms_config_check 1\); the target is now"
        ):
            wire.configure(bytes(bad))
        assert not wire.configured and wire.info().config_hash == "00000000"
        with pytest.raises(TargetError, match="not configured"):
            wire.step(100, meas(2))
    else:
        download(wire.link, rig_config, crc=P.crc32c(rig_config) ^ 1)
        with pytest.raises(RemoteError, match="CRC mismatch") as e:
            commit(wire.link)
        assert e.value.detail & 0xFFFFFFFF == P.crc32c(rig_config)
    assert_unconfigured(wire)
    with pytest.raises(RemoteError, match="out of sequence"):  # the download is over
        commit(wire.link)
    wire.configure(rig_config)  # a following good download works
    assert wire.link.request(P.Msg.HELLO).configured == 1
    assert wire.step(100, meas(2)).time_ms == 100


def test_requests_during_a_download_are_refused_and_the_download_goes_on(wire, rig_config):
    wire.step(100, meas(1))
    half = len(rig_config) // 2
    link = wire.link
    link.request(
        P.Msg.CONFIG, dict(op=P.ConfigOp.BEGIN, value=len(rig_config), crc=P.crc32c(rig_config), data=b"")
    )
    send_data(link, rig_config, 0, half)
    assert_unconfigured(wire)  # unconfigured from BEGIN on: no step on a half-written configuration
    link.request(P.Msg.RESET, dict(flags=P.RESET_STATS))  # answered, the download untouched
    r = send_data(link, rig_config, half, len(rig_config))
    assert r.received == len(rig_config)
    assert commit(link).config_hash == P.crc32c(rig_config)
    assert wire.link.request(P.Msg.HELLO).configured == 1
    ref = Firmware()
    ref.configure(rig_config)
    for k in range(1, 4):  # the configuration downloaded around the requests, bit for bit
        assert (
            diff_states(ref.step(100, meas(k)), wire.state_from_reply(link.request(P.Msg.STEP, raw_step(k))))
            == []
        )


def test_download_errors(wire, rig_config):
    link = wire.link
    size = len(rig_config)
    with pytest.raises(RemoteError, match="size differs") as e:
        link.request(P.Msg.CONFIG, dict(op=0, value=size - 1, crc=0, data=b""))
    assert e.value.detail == size
    assert link.request(P.Msg.HELLO).configured == 1  # a refused BEGIN: the configuration still runs
    with pytest.raises(RemoteError, match="out of sequence"):
        link.request(P.Msg.CONFIG, dict(op=2, value=0, crc=0, data=b""))
    link.request(P.Msg.CONFIG, dict(op=0, value=size, crc=P.crc32c(rig_config), data=b""))
    with pytest.raises(RemoteError, match="out of sequence"):  # a gap
        link.request(P.Msg.CONFIG, dict(op=1, value=100, crc=0, data=rig_config[100:200]))
    link.request(P.Msg.CONFIG, dict(op=1, value=0, crc=0, data=rig_config[:1000]))
    with pytest.raises(RemoteError, match="out of sequence"):  # COMMIT before the end
        link.request(P.Msg.CONFIG, dict(op=2, value=0, crc=0, data=b""))
    with pytest.raises(RemoteError, match="out of sequence"):  # past the end
        link.request(P.Msg.CONFIG, dict(op=1, value=size - 10, crc=0, data=rig_config[:20]))


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
                fast_charge_in_s=float("nan"),
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
                fast_charge_in_s=float("nan"),
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
