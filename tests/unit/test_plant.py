"""bms/plant: the pack against analytic solutions and an independent ODE integration."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from bms.cells import CellModel, EstimatorParams, ThermalParams
from bms.chemistry import load_chemistry
from bms.plant.pack import ROWS, PackPlant, Spread
from bms.plant.sensors import NormalStream
from bms.plant.tables import ENTROPIC, TABLES, PatchLookup, TableSet
from bms.plant.thermal import CoolingSpec, ModalStep, ThermalNetwork, _expm_stack

NO_SPREAD = Spread(capacity=0.0, resistance=0.0, soc=0.0)


def linear_cell(r0=0.012, r1=0.008, tau1=15.0, r2=0.02, tau2=400.0, cap=5.0) -> CellModel:
    """Linear OCV and constant R/C: the 2-RC response has a closed form."""
    soc = np.array([0.0, 1.0])
    one = np.ones((1, 2))
    return CellModel(
        name="linear",
        capacity_ah=cap,
        coulombic_eff=1.0,
        v_min=2.5,
        v_max=4.3,
        soc=soc,
        temp_c=np.array([25.0]),
        ocv_v=np.array([[3.2, 4.2]]),
        r0_ohm=r0 * one,
        r1_ohm=r1 * one,
        c1_f=(tau1 / r1) * one,
        r2_ohm=r2 * one,
        c2_f=(tau2 / r2) * one,
        docv_dt_v_per_k=np.zeros(2),
        thermal=ThermalParams(60.0, 5.0, 2.0, 4.0),
        estimator=EstimatorParams(),
    )


@pytest.mark.parametrize("dt_s", [0.01, 1.0, 7.0])
def test_constant_current_discharge_is_the_analytic_ecm_solution(dt_s):
    c = linear_cell()
    plant = PackPlant(c, 1, 1, 0.9, NO_SPREAD, np.random.default_rng(0))
    i_a = 10.0  # 2C discharge
    temp = np.array([25.0])
    t_end = 700.0 if dt_s > 0.1 else 70.0
    n = round(t_end / dt_s)
    for _ in range(n):
        plant.step(dt_s, i_a, temp)
    t = n * dt_s
    soc = 0.9 - i_a * t / (3600 * 5.0)
    v = (
        3.2
        + 1.0 * soc
        - 0.012 * i_a
        - 0.008 * i_a * (1 - np.exp(-t / 15.0))
        - 0.02 * i_a * (1 - np.exp(-t / 400.0))
    )
    assert plant.soc[0] == pytest.approx(soc, abs=1e-12)
    assert plant.v_term[0] == pytest.approx(v, abs=1e-9)


def test_parallel_group_is_the_aggregate_of_its_cells():
    c = linear_cell()
    one = PackPlant(c, 1, 1, 0.5, NO_SPREAD, np.random.default_rng(0))
    four = PackPlant(c, 1, 4, 0.5, NO_SPREAD, np.random.default_rng(0))
    for _ in range(100):
        one.step(1.0, 10.0, np.array([25.0]))
        four.step(1.0, 40.0, np.array([25.0]))  # the same current per cell
    assert four.v_term[0] == pytest.approx(one.v_term[0], abs=1e-12)
    assert four.soc[0] == pytest.approx(one.soc[0], abs=1e-12)


def test_manufacturing_spread_is_seeded_and_of_the_stated_size():
    c = load_chemistry("nmc811-graphite").cell
    a = PackPlant(c, 192, 1, 0.5, Spread(), np.random.default_rng(42))
    b = PackPlant(c, 192, 1, 0.5, Spread(), np.random.default_rng(42))
    assert np.array_equal(a.cap_ah, b.cap_ah) and np.array_equal(a.r_scale, b.r_scale)
    assert np.std(a.cap_ah / c.capacity_ah) == pytest.approx(Spread().capacity, rel=0.25)
    assert np.std(a.r_scale) == pytest.approx(Spread().resistance, rel=0.25)


def test_energy_balance_over_a_charge():
    """Electric energy in = chemical energy stored + heat, with the electric and stored
    energy from an independent integration (scipy's RK45 on the ECM ODE, tables by
    np.interp) and the heat summed from the plant's steps."""
    cell = load_chemistry("nmc811-graphite").cell
    row = int(np.argmin(np.abs(cell.temp_c - 25.0)))
    plant = PackPlant(cell, 1, 1, 0.15, NO_SPREAD, np.random.default_rng(0))
    plant.has_entropy = False  # reversible heat is not in this balance
    temp = np.array([25.0])
    i_a, dt, n = -2.0 * cell.capacity_ah, 1.0, 1200  # a 2C charge, 20 min
    heat_j = 0.0
    for _ in range(n):
        heat_j += float(plant.step(dt, i_a, temp)[0]) * dt

    def tab(name, s):
        return np.interp(s, cell.soc, getattr(cell, name)[row])

    def rhs(_t, x):
        s, v1, v2 = x[:3]
        r1, r2 = tab("r1_ohm", s), tab("r2_ohm", s)
        t1, t2 = r1 * tab("c1_f", s), r2 * tab("c2_f", s)
        ocv = tab("ocv_v", s)
        v = ocv - v1 - v2 - tab("r0_ohm", s) * i_a
        return [
            -i_a / (3600 * cell.capacity_ah),
            (r1 * i_a - v1) / t1,
            (r2 * i_a - v2) / t2,
            -i_a * v,
            -i_a * ocv,
        ]

    sol = solve_ivp(rhs, (0, n * dt), [0.15, 0.0, 0.0, 0.0, 0.0], rtol=1e-9, atol=1e-9, max_step=2.0)
    e_in, e_stored = sol.y[3, -1], sol.y[4, -1]
    assert e_in > 0 and heat_j > 0
    assert abs(e_in - (e_stored + heat_j)) / e_in < 0.005
    assert plant.soc[0] == pytest.approx(sol.y[0, -1], abs=1e-9)


def _one_element(spec: CoolingSpec, c_core=60.0, c_surf=5.0, r_cs=2.0, r_sa=4.0):
    cell = linear_cell()
    cell.thermal = ThermalParams(c_core, c_surf, r_cs, r_sa)
    return ThermalNetwork(cell, 1, 1, spec, ambient_c=20.0, start_c=20.0)


def test_thermal_steady_state_is_analytic():
    spec = CoolingSpec(inlet_c=20.0, coolant_heat_capacity_j_per_k=2000.0, coolant_to_ambient_w_per_k=3.0)
    net = _one_element(spec)
    heat = 3.0
    x = net.steady_state(np.array([heat]), 0.0)
    # from the surface: to the air directly, and through the coolant (in series) to the air
    g_c, g_a, g_k = spec.cell_to_coolant_w_per_k, spec.enclosure_share / 4.0, 3.0
    g = g_a + g_c * g_k / (g_c + g_k)
    assert x[1] == pytest.approx(20.0 + heat / g, rel=1e-9)
    assert x[0] == pytest.approx(20.0 + heat * (2.0 + 1.0 / g), rel=1e-9)
    q_coolant = (x[1] - 20.0) * g_c * g_k / (g_c + g_k)
    assert x[2] == pytest.approx(20.0 + q_coolant / g_k, rel=1e-9)
    for _ in range(20000):
        net.step(1.0, np.array([heat]), 0.0)
    assert net.t == pytest.approx(x, abs=1e-6)


def test_thermal_step_response_matches_an_independent_ode():
    spec = CoolingSpec(inlet_c=20.0, coolant_heat_capacity_j_per_k=5000.0, coolant_to_ambient_w_per_k=3.0)
    net = _one_element(spec)
    heat, p_cool = 4.0, -10.0
    g_c = spec.cell_to_coolant_w_per_k
    g_a = spec.enclosure_share / 4.0

    def rhs(_t, x):
        tc, ts, tk = x
        return [
            (heat - (tc - ts) / 2.0) / 60.0,
            ((tc - ts) / 2.0 - g_c * (ts - tk) - g_a * (ts - 20.0)) / 5.0,
            (g_c * (ts - tk) - 3.0 * (tk - 20.0) + p_cool) / 5000.0,
        ]

    t_eval = np.array([5.0, 50.0, 300.0, 2000.0])
    ref = solve_ivp(rhs, (0, 2000.0), [20.0, 20.0, 20.0], t_eval=t_eval, rtol=1e-10, atol=1e-10)
    got = []
    for k in range(1, 2001):
        net.step(1.0, np.array([heat]), p_cool)
        if k in (5, 50, 300, 2000):
            got.append(net.t.copy())
    assert np.allclose(np.array(got), ref.y.T, atol=1e-6)


def test_neighbours_share_heat():
    cell = linear_cell()
    spec = CoolingSpec(inlet_c=20.0, neighbour_w_per_k=0.5)
    net = ThermalNetwork(cell, 3, 1, spec, ambient_c=20.0, start_c=20.0)
    x = net.steady_state(np.array([0.0, 6.0, 0.0]), 0.0)
    assert x[3] == pytest.approx(x[5]) and 20.0 < x[3] < x[4]  # both neighbours warm, equally
    net0 = ThermalNetwork(cell, 3, 1, CoolingSpec(inlet_c=20.0, neighbour_w_per_k=0.0), 20.0, 20.0)
    x0 = net0.steady_state(np.array([0.0, 6.0, 0.0]), 0.0)
    assert x0[4] > x[4]  # without conduction the heated cell runs hotter


@pytest.mark.parametrize("chemistry", ["nmc811-graphite", "lfp-graphite", "sulfide-assb", "linear"])
def test_the_plants_table_lookup_is_the_reference_bilinear_lookup_to_the_last_bit(chemistry):
    """PatchLookup (precomputed per-patch values and differences) against TableSet.lookup,
    on the breakpoints, off them, at the ends and outside the temperature range."""
    cell = linear_cell() if chemistry == "linear" else load_chemistry(chemistry).cell
    tables = TableSet(cell.scaled(7))
    fast = PatchLookup(tables, ROWS)
    rng = np.random.default_rng(3)
    soc = np.concatenate([rng.uniform(0.0, 1.0, 200), tables.soc, [0.0, 1.0]])
    on_grid = np.resize(tables.temp, len(tables.soc))
    temp = np.concatenate([rng.uniform(-40.0, 90.0, 200), on_grid, [-50.0, 99.0]])
    ref = tables.lookup(soc, temp)
    got = fast(soc, temp)
    for j, name in enumerate(ROWS):
        if name == ENTROPIC:  # a SoC-only table: against np.interp, to rounding
            assert np.allclose(got[j], tables.entropic(soc), rtol=1e-13, atol=1e-18)
        else:
            assert np.array_equal(got[j], ref[TABLES.index(name)]), name


def test_block_drawn_noise_is_the_sequence_of_single_draws():
    one = np.random.default_rng(11)
    stream = NormalStream(np.random.default_rng(11), block=7)
    for k in (3, 1, 5, 9, 1, 2, 30, 4):
        expected = np.array([one.standard_normal() for _ in range(k)])
        got = stream.take(k).copy() if k > 1 else np.array([stream.next()])
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("n", [1, 2, 5, 48, 130])
@pytest.mark.parametrize("flow_lpm", [10.0, 0.0])
def test_modal_thermal_step_is_the_dense_exact_discretisation(n, flow_lpm):
    """The step in the chain's cosine modes against the dense matrix exponential of the
    whole network (ThermalNetwork.discrete), over many steps with varying inputs."""
    cell = load_chemistry("nmc811-graphite").cell
    net = ThermalNetwork(cell, n, 7, CoolingSpec(flow_lpm=flow_lpm), ambient_c=15.0, start_c=25.0)
    modal = ModalStep.build(*net.matrices(), 0.1)
    assert modal is not None
    ad, bd = net.discrete(0.1)
    rng = np.random.default_rng(n)
    dense = fast = net.t.copy()
    for _ in range(500):
        heat, power = rng.uniform(0.0, 50.0, n), rng.uniform(-500.0, 500.0)
        dense = ad @ dense + bd @ np.concatenate([heat, [15.0, power]])
        fast = modal(fast, heat, 15.0, power)
    assert np.abs(dense - 25.0).max() > 0.01  # it moved
    assert np.allclose(fast, dense, rtol=0.0, atol=1e-10)  # ~3e-13 of the absolute temperature


def test_modal_step_refuses_elements_that_differ():
    cell = load_chemistry("nmc811-graphite").cell
    a, b = ThermalNetwork(cell, 6, 7, CoolingSpec(), 20.0, 20.0).matrices()
    assert ModalStep.build(a, b, 0.1) is not None
    a[2, 2] *= 1.01  # one core with another capacity
    assert ModalStep.build(a, b, 0.1) is None


@pytest.mark.parametrize("dt_s", [0.01, 0.1, 1.0, 60.0])
def test_stacked_matrix_exponential_is_scipys(dt_s):
    """The thermal network's matrix exponential (no LAPACK) against scipy's Pade expm, on a
    network's augmented matrix for steps of 10 ms to a minute and on random stacks."""
    cell = load_chemistry("lfp-graphite").cell
    a, b = ThermalNetwork(cell, 4, 3, CoolingSpec(), 20.0, 20.0).matrices()
    m = a.shape[0]
    aug = np.zeros((m + b.shape[1],) * 2)
    aug[:m, :m], aug[:m, m:] = a, b
    rng = np.random.default_rng(5)
    stack = aug[None] * dt_s
    randoms = rng.normal(size=(20, 5, 5)) * min(dt_s, 1.0)
    for s in (stack, randoms):
        for e, ref in zip(_expm_stack(s), (expm(x) for x in s), strict=True):
            assert np.abs(e - ref).max() <= 1e-13 * max(1.0, np.abs(ref).max())
