"""A plant the firmware's model does not describe (Spread's OCV and thermal fields): each
field against a computation by hand, and the firmware's configuration untouched by them."""

from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.plant.pack import PackPlant, Spread
from bms.plant.thermal import CoolingSpec, ThermalNetwork
from bms.sim.configure import firmware_config
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import load_scenario

NO_SPREAD = Spread(capacity=0.0, resistance=0.0, soc=0.0)


def table_ocv(cell, soc: float, temp_c: float) -> float:
    """Bilinear in the cell's OCV table (np.interp along SoC, then along temperature)."""
    rows = [np.interp(soc, cell.soc, cell.ocv_v[j]) for j in range(len(cell.temp_c))]
    return float(np.interp(temp_c, cell.temp_c, rows))


@pytest.mark.parametrize("chemistry", ["nmc811-graphite", "lfp-graphite", "sulfide-assb"])
@pytest.mark.parametrize("offset_v, slope", [(0.0, 0.0), (0.01, 0.0), (-0.007, 0.03), (0.004, -0.03)])
def test_plant_ocv_at_rest_is_the_table_plus_offset_and_stretch(chemistry, offset_v, slope):
    cell = load_chemistry(chemistry).cell
    mid = table_ocv(cell, 0.5, 25.0)
    for soc in (0.05, 0.3, 0.5, 0.77, 0.97):
        sp = replace(NO_SPREAD, ocv_offset_v=offset_v, ocv_slope=slope)
        plant = PackPlant(cell, 3, 1, soc, sp, np.random.default_rng(1))
        ocv = table_ocv(cell, soc, 25.0)  # the plant starts at rest, at 25 C
        want = ocv + offset_v + slope * (ocv - mid)
        assert plant.v_term == pytest.approx(np.full(3, want), abs=1e-12)


def test_no_ocv_error_is_exactly_the_table():
    cell = load_chemistry("lfp-graphite").cell
    a = PackPlant(cell, 8, 2, 0.4, Spread(), np.random.default_rng(5))
    b = PackPlant(cell, 8, 2, 0.4, Spread(ocv_offset_v=0.0, ocv_slope=0.0), np.random.default_rng(5))
    assert np.array_equal(a.v_term, b.v_term)
    assert not a.ocv_error


def test_each_cells_own_offset_is_uniform_within_its_bound_and_seeded():
    cell = load_chemistry("nmc811-graphite").cell
    sp = replace(NO_SPREAD, ocv_offset_v=0.002, ocv_offset_cell_v=0.008)
    a = PackPlant(cell, 192, 1, 0.6, sp, np.random.default_rng(3))
    b = PackPlant(cell, 192, 1, 0.6, sp, np.random.default_rng(3))
    assert np.array_equal(a.v_term, b.v_term)
    dev = a.v_term - table_ocv(cell, 0.6, 25.0)  # every cell at the same SoC, at rest
    assert dev.min() >= 0.002 - 0.008 - 1e-12 and dev.max() <= 0.002 + 0.008 + 1e-12
    # a uniform on +-8 mV: sigma 8/sqrt(3) = 4.6 mV, mean 2 mV (192 draws: +-25 % / +-1 mV)
    assert np.std(dev) == pytest.approx(0.008 / np.sqrt(3), rel=0.25)
    assert np.mean(dev) == pytest.approx(0.002, abs=0.001)


def test_the_ocv_error_moves_the_terminal_voltage_under_load_too():
    # the same charge into a plant with and without the offset: the terminal voltages differ
    # by the offset (+ the stretch of the OCV the SoC has reached) at every step
    cell = load_chemistry("nmc811-graphite").cell
    sp = replace(NO_SPREAD, ocv_offset_v=-0.006, ocv_slope=0.02)
    ref = PackPlant(cell, 2, 1, 0.2, NO_SPREAD, np.random.default_rng(0))
    off = PackPlant(cell, 2, 1, 0.2, sp, np.random.default_rng(0))
    temp = np.full(2, 25.0)
    mid = table_ocv(cell, 0.5, 25.0)
    for _ in range(300):
        ref.step(1.0, -10.0, temp)
        off.step(1.0, -10.0, temp)
        assert np.array_equal(ref.soc, off.soc)  # the charge counted is the same
        ocv = np.array([table_ocv(cell, s, 25.0) for s in ref.soc])
        assert off.v_term - ref.v_term == pytest.approx(-0.006 + 0.02 * (ocv - mid), abs=1e-9)


def one_element_network(cell, scales: Spread, to_coolant: float, n: int = 1) -> ThermalNetwork:
    spec = CoolingSpec(cell_to_coolant_w_per_k=to_coolant, neighbour_w_per_k=0.0)
    return ThermalNetwork(cell, n, 1, spec, ambient_c=25.0, start_c=25.0, spread=scales)


@pytest.mark.parametrize(
    "scales",
    [
        Spread(),
        Spread(r_core_surf_scale=1.3, r_surf_amb_scale=0.7),
        Spread(r_core_surf_scale=0.7, r_surf_amb_scale=1.3, c_core_scale=1.3, c_surf_scale=0.7),
    ],
)
def test_steady_state_rise_is_i2r_through_the_scaled_resistances(scales):
    """A constant I^2 R in the core, no coolant path: the core settles Q (R_cs + R_sa) above
    ambient, the surface Q R_sa, with R_sa = r_surf_amb / enclosure_share (the share of the
    bare cell's convection left in the pack), each resistance times its scale."""
    cell = load_chemistry("nmc811-graphite").cell
    th = cell.thermal
    net = one_element_network(cell, scales, to_coolant=0.0)
    q_w = 30.0**2 * 0.02  # 30 A through 20 mOhm
    for _ in range(400):  # 40 000 s: > 20 time constants of the slowest node
        net.step(100.0, np.array([q_w]), 0.0)
    r_cs = th.r_core_surf_k_per_w * scales.r_core_surf_scale
    r_sa = th.r_surf_amb_k_per_w * scales.r_surf_amb_scale / CoolingSpec().enclosure_share
    assert net.surf_c[0] - 25.0 == pytest.approx(q_w * r_sa, rel=1e-6)
    assert net.core_c[0] - 25.0 == pytest.approx(q_w * (r_cs + r_sa), rel=1e-6)


def test_steady_state_with_the_cold_plate_scales_both_surface_paths():
    """With the coolant loop (chiller off): per element the enclosure path in parallel with
    the cold plate in series with the coolant's loss to ambient (shared by n elements)."""
    cell = load_chemistry("lfp-graphite").cell
    th = cell.thermal
    n, k = 3, 1.3
    net = one_element_network(cell, Spread(r_surf_amb_scale=k), to_coolant=0.33, n=n)
    q_w = 2.0
    for _ in range(2000):
        net.step(100.0, np.full(n, q_w), 0.0)
    spec = CoolingSpec()
    g_amb = spec.enclosure_share / (th.r_surf_amb_k_per_w * k)
    g_cool = 0.33 / k
    g_path = g_amb + 1.0 / (1.0 / g_cool + n / spec.coolant_to_ambient_w_per_k)
    assert net.surf_c == pytest.approx(np.full(n, 25.0 + q_w / g_path), rel=1e-6)


def test_heat_capacities_scale_the_initial_slopes():
    """From a uniform start a core heat Q raises the core at Q / C_core; a core hotter than
    its surface by dT raises the surface at dT / (R_cs C_surf): both with the scaled values."""
    cell = load_chemistry("nmc811-graphite").cell
    th = cell.thermal
    sc = Spread(c_core_scale=1.3, c_surf_scale=0.7, r_core_surf_scale=1.2)
    dt = 1e-3
    net = one_element_network(cell, sc, to_coolant=0.0)
    net.step(dt, np.array([5.0]), 0.0)
    assert (net.core_c[0] - 25.0) / dt == pytest.approx(5.0 / (th.c_core_j_per_k * 1.3), rel=1e-3)
    net = one_element_network(cell, sc, to_coolant=0.0)
    net.t[0] = 35.0  # the core 10 K above its surface and the ambient
    net.step(dt, np.array([0.0]), 0.0)
    slope = 10.0 / (th.r_core_surf_k_per_w * 1.2 * th.c_surf_j_per_k * 0.7)
    assert (net.surf_c[0] - 25.0) / dt == pytest.approx(slope, rel=1e-3)


def test_the_loop_builds_the_mismatched_plant_and_the_firmware_keeps_its_model():
    base = replace(load_scenario("fastcharge-10-80"), series=4, parallel=2, duration_s=10.0)
    sp = replace(base.spread, ocv_offset_v=0.01, ocv_slope=-0.03, c_core_scale=0.7, r_core_surf_scale=1.3)
    scn = replace(base, spread=sp)
    chem = load_chemistry(scn.chemistry)
    assert firmware_config(chem, scn) == firmware_config(chem, base)
    loop = ClosedLoop(scn, chemistry=chem)
    th = chem.cell.thermal
    assert loop.thermal.cc == pytest.approx(th.c_core_j_per_k * 2 * 0.7, rel=1e-12)
    assert loop.thermal.g_cs == pytest.approx(2 / (th.r_core_surf_k_per_w * 1.3), rel=1e-12)
    assert loop.plant.ocv_slope == -0.03
    assert np.all(loop.plant.ocv_offset_v == 0.01)
