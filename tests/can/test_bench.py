"""The bus-load arithmetic of `bms bench` against a hand count."""

from hil.can import bench, codec


def test_worst_case_frame_length_matches_the_published_formula():
    # 8 data bytes: 111 bits of frame + interframe, 24 stuff bits at worst (Davis et al. 2007: 135)
    assert bench.frame_bits_worst(8) == 135
    assert bench.frame_bits_worst(0) == 55


def test_bus_load_sums_every_message_at_its_cycle_time():
    load = bench.bus_load()
    by_hand = sum(
        bench.frame_bits_worst(m.length) * 1000.0 / codec.cycle_ms(m) for m in codec.database().messages
    )
    assert sum(v for k, v in load.items() if k != "load") == by_hand
    assert load["load"] == by_hand / 500_000
    assert 0 < load["load"] < 0.3  # a BMS must leave the bus to the rest of the car
