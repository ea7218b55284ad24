#!/usr/bin/env python3
"""Generate reference cell logs with PyBaMM's DFN model.

Writes the same files, columns and protocol as ``shared/data/reference/<name>/``
(see that folder's README.md):

* ``char.csv.gz``        characterisation in a chamber at ``--ambient-c``
* ``char-<T>c.csv.gz``   the same characterisation at each extra ``--char-temps`` T
* ``valid.csv.gz``       validation run (drive / rest / fast charge / rest / 2 drives)
* ``truth.csv.gz``       true SoC and core temperature for each valid row
* ``meta.json``          capacity, limits, thermal and noise model, statistics

Columns of char/valid: ``time_s,current_a,voltage_v,temperature_c`` (current > 0 is
discharge, temperature is the *surface* / casing node).  truth:
``time_s,soc_true,core_temp_c_true``.

Usage::

    pip install pybamm            # into the project's venv; not a project dependency
    python tests/tests/tools/pybamm_reference.py --parameter-set Chen2020 --ambient-c 25 \\
        --out /tmp/refdata/chen2020-25c [--char-temps 5,25,45] [--quick] [--seed 1]

Protocol
--------
char: 1 h rest at 100 % SoC; C/20 discharge to v_min; 2 h rest; C/20 charge to v_max;
2 h rest; then N HPPC blocks (9, or 5 with --quick): 1C discharge 10 s, rest 40 s,
0.75C charge 10 s, rest 40 s, 0.5C discharge 12 min (or to v_min), rest 1 h.  Output
every 60 s in the sweeps and long rests, 1 s in the pulses and their rests, 5 s in the
0.5C discharge and 30 s in the 1 h rests.  C-rates use the parameter set's nominal
capacity; v_min / v_max are the set's "Open-circuit voltage at 0 % / 100 % SOC"
(falling back to its voltage cut-offs).  ``--quick`` (smoke tests only): C/10 sweeps,
5 HPPC blocks with 20 min rests, and 600 s drives in valid.

valid: starts at ``--soc-start`` (default 0.55) with no rest, straight into a drive;
drive (1 s), 10 min rest (5 s), CC charge at ``--fast-charge-c`` (3C) to v_max - 0.1 V,
CV at that voltage until C/5 (1 s), 10 min rest (5 s), two more drives.  The drive is a
synthetic WLTC-class-3b-like speed trace (4 phases of 589/433/455/323 s with the WLTC
phase top speeds 56.5/76.6/97.4/131.3 km/h, built from seeded random micro-trips) put
through a simple road-load model (mass, rolling resistance, aero drag, drivetrain and
regen efficiencies, auxiliary load) to a battery power, then treated as proportional
to cell current, scaled so that its 99.5th percentile is 88 % of ``--drive-peak-c``
(3C, as in the shipped reference) and clipped to that peak (a powertrain power limit)
and to ``--regen-max-c`` (1.4C) of regen.  With the default ``--drive-seed 1`` one drive
averages 0.37C (rms 0.76C), close to the shipped file's 0.39C (0.78C).  The same drive
trace is used for all three drives (like repeating a standard cycle).
``--drive-speed-csv`` replaces the synthetic trace with a given one (e.g. the real WLTC
table).  It is fed to PyBaMM as a drive-cycle current step (2-column array, output
every 1 s) of a ``pybamm.Experiment``.

Thermal model
-------------
PyBaMM's own two-node model is used, fully two-way coupled inside the DFN:
``DFN(options={"thermal": "lumped", "surface temperature": "lumped"})``.

* core ("Volume-averaged cell temperature"): heat capacity = the cell's own
  (volume-averaged rho*c_p of the layers x "Cell volume [m3]"), heated by PyBaMM's total
  heat generation (ohmic, irreversible and reversible reaction heat), cooled to the
  surface node through ``h*A = 1/R_cs`` (we set "Total heat transfer coefficient" so that
  h * "Cell cooling surface area" = 1 / ``--r-core-surface``, default 2.5 K/W);
* surface / casing ("Surface temperature"): heat capacity ``--case-c`` (6 J/K),
  cooled to the ambient through ``--r-env`` (4.0 K/W) ("Environment thermal resistance").

So the electrochemistry sees the core temperature at every instant (Arrhenius terms,
entropic heat) and the casing node sees the core.  Parameter sets that lack a cell
volume / cooling area (e.g. Prada2013) get them estimated from the electrode stack
(volume = electrode area x stack thickness x 1.3 packaging factor); the value used is
in meta.json ("core_heat_capacity_j_per_k").  The chamber (ambient) temperature is
constant; both nodes start at it.

SoC definition
--------------
``soc_true`` is PyBaMM's stoichiometric SoC: with x the volume-averaged negative
particle stoichiometry ("Average negative particle stoichiometry") and x_0 / x_100 the
stoichiometries at which the open-circuit voltage is v_min / v_max (PyBaMM's electrode
SOH solver, ``get_min_max_stoichiometries``), soc = (x - x_0) / (x_100 - x_0).  The
matching capacity is ``capacity_ah_ocv`` = Q_n (x_100 - x_0), and by lithium conservation
soc equals coulomb counting of the true current with that capacity (checked in meta:
"soc_coulomb_max_err").  The validation start SoC is set with PyBaMM's
``set_initial_state`` (uniform stoichiometry).

The model's own voltage cut-offs are widened by ``--cutoff-margin`` (0.3 V) so that a
short charge pulse at 100 % SoC may exceed v_max (as in the reference: ~4.32 V) and a
pulse at low SoC may dip under v_min without stopping the experiment; the sweeps use
explicit "until v_min / v_max" terminations.

Sensor model (after simulation, numpy RNG seeded with ``--seed``)
-----------------------------------------------------------------
char (lab cycler): V + 0.5 mV rms, written to 0.1 mV; I x (1 + 0.05 %) + 1 mA per 5 Ah
+ 0.02 % of 1C rms, written to 10 uA; T + 0.05 K rms, 0.01 K steps (the last two are
inferred from the shipped files, the README does not state them).
valid (automotive BMS): V + 2 mV rms, 1 mV steps; I x (1 + 0.5 %) + 30 mA per 5 Ah
+ 0.4 % of 1C rms, written to 0.1 mA; T + 0.2 K rms, 0.1 K steps.
Times are written to 0.1 s (a row whose rounded time repeats is dropped; PyBaMM repeats
the boundary time of consecutive steps and the first one is kept).

Tested with PyBaMM 26.10 (IDAKLU solver).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import zlib

import numpy as np

KELVIN = 273.15

# ----------------------------------------------------------------------------------
# drive cycle
# ----------------------------------------------------------------------------------

# WLTC class 3b phases: (name, duration s, top speed km/h, number of micro-trips)
WLTC_PHASES = (
    ("low", 589, 56.5, 5),
    ("medium", 433, 76.6, 3),
    ("high", 455, 97.4, 2),
    ("extra_high", 323, 131.3, 1),
)


def _micro_trip(rng, duration, vmax, reach_top):
    """Speed trace (km/h, 1 s) of one micro-trip lasting ~``duration`` s, 0 at both ends.

    A sequence of speed targets (one of them the phase top speed if ``reach_top``) is
    followed with a jerk-limited acceleration; while "cruising" the driver's
    acceleration is a random AR(1) process (WLTC-like transients of +-0.3..0.6 m/s^2).
    """
    n_way = max(2, round(duration / rng.uniform(35, 60)))
    lo = 0.35 if vmax < 120 else 0.6
    targets = rng.uniform(lo, 0.95, n_way) * vmax
    if reach_top:
        targets[int(rng.integers(n_way // 2, n_way))] = vmax
    a_dec = rng.uniform(0.8, 1.3)  # m/s^2
    v = [0.0]
    acc = 0.0
    k_target = 0
    # time left for each target: share of the trip, minus the final stop
    shares = rng.dirichlet(np.ones(n_way) * 3.0)
    t_stop = vmax / 3.6 / a_dec + 5
    t_marks = np.cumsum(shares) * max(duration - t_stop, n_way * 5)
    t = 0
    while k_target < n_way:
        tv = targets[k_target] / 3.6
        vv = v[-1] / 3.6
        # desired acceleration towards the target (higher speeds -> gentler)
        a_max = 1.6 * (1.0 - 0.55 * vv / 36.5)
        err = tv - vv
        a_des = np.clip(0.25 * err, -a_dec, a_max)
        sd = (0.12 + 0.25 * (abs(err) < 2.0)) * (1.0 - 0.6 * min(vv / 36.5, 1.0))
        acc = 0.75 * acc + 0.25 * a_des + rng.normal(0, sd)
        acc = float(np.clip(acc, -1.5, a_max))
        vv = min(max(vv + acc, 0.0), 1.01 * vmax / 3.6)
        v.append(vv * 3.6)
        t += 1
        if t >= t_marks[k_target]:
            k_target += 1
    while v[-1] > 0:
        vv = v[-1] / 3.6
        dec = a_dec * min(1.0, 0.35 + vv / 6.0)
        v.append(max(vv - dec, 0.0) * 3.6)
    return np.asarray(v)


def wltc_like_speed(rng):
    """A WLTC-class-3b-like speed trace, km/h at 1 s, 1801 points (0..1800 s)."""
    out = []
    for _, dur, vmax, ntrip in WLTC_PHASES:
        idle_frac = rng.uniform(0.12, 0.18) if ntrip > 1 else rng.uniform(0.03, 0.06)
        for _attempt in range(50):
            idle_total = idle_frac * dur
            idles = rng.dirichlet(np.ones(ntrip + 1) * 2.0) * idle_total
            idles[0] = max(idles[0], 3.0)
            trip_lens = rng.dirichlet(np.ones(ntrip) * 4.0) * (dur - idle_total)
            top = int(rng.integers(0, ntrip))
            seg = [np.zeros(round(idles[0]))]
            for i in range(ntrip):
                seg.append(_micro_trip(rng, round(trip_lens[i]), vmax, i == top))
                seg.append(np.zeros(round(idles[i + 1])))
            seg = np.concatenate(seg)
            # must end with a stop inside the phase
            if len(seg) <= dur and np.all(seg[len(seg) - 2 :] == 0):
                break
            idle_frac *= 0.9
        seg = np.concatenate([seg, np.zeros(max(dur - len(seg), 0))])[:dur]
        out.append(seg)
    return np.concatenate([*out, np.zeros(1)])


def speed_to_cell_current(v_kmh, nominal_ah, peak_c, regen_max_c):
    """Road-load model -> battery power -> cell current (A, + discharge), 1 s steps.

    The cell current is taken proportional to the pack power (constant pack voltage).
    """
    m, cda, crr, rho, g = 1800.0, 0.75, 0.012, 1.2, 9.81
    eta_drive, eta_regen, p_aux = 0.88, 0.7, 1500.0
    v = v_kmh / 3.6
    a = np.gradient(v)
    f = 1.04 * m * a + m * g * crr * (v > 0.1) + 0.5 * rho * cda * v**2
    p_wheel = f * v
    p_batt = np.where(p_wheel > 0, p_wheel / eta_drive, p_wheel * eta_regen)
    # no regen at very low speed (friction brakes)
    p_batt = np.where((p_wheel < 0) & (v < 2.0), 0.0, p_batt) + p_aux
    # scale so that the 99.5th percentile is 88 % of the peak, then apply the peak as
    # the powertrain's power limit (and the regen limit)
    cur = p_batt / np.percentile(p_batt, 99.5) * 0.88 * peak_c * nominal_ah
    return np.clip(cur, -regen_max_c * nominal_ah, peak_c * nominal_ah)


# ----------------------------------------------------------------------------------
# PyBaMM set-up
# ----------------------------------------------------------------------------------


def _pybamm():
    try:
        import pybamm
    except ImportError:  # pragma: no cover
        sys.exit("pybamm is not installed: pip install pybamm (into the venv)")
    return pybamm


def cell_info(pybamm, name):
    """Voltage limits, nominal capacity, stoichiometric window and OCV capacity."""
    pv = pybamm.ParameterValues(name)
    keys = pv.keys()

    def get(*names):
        for n in names:
            if n in keys:
                return float(pv[n])
        raise KeyError(names[0])

    v_min = get("Open-circuit voltage at 0% SOC [V]", "Lower voltage cut-off [V]")
    v_max = get("Open-circuit voltage at 100% SOC [V]", "Upper voltage cut-off [V]")
    nominal = get("Nominal cell capacity [A.h]")
    pv.update(
        {"Open-circuit voltage at 0% SOC [V]": v_min, "Open-circuit voltage at 100% SOC [V]": v_max},
        check_already_exists=False,
    )
    x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(pv)
    param = pybamm.LithiumIonParameters()
    q_n = float(pv.evaluate(param.n.Q_init))  # Ah of the whole negative electrode
    return {
        "v_min": v_min,
        "v_max": v_max,
        "nominal_ah": nominal,
        "x_0": float(x0),
        "x_100": float(x100),
        "y_0": float(y0),
        "y_100": float(y100),
        "capacity_ah_ocv": q_n * float(x100 - x0),
    }


THERMAL_KEYS = [
    f"{d} {part} {q}"
    for d in ("Negative", "Positive")
    for part, qs in (
        (
            "current collector",
            (
                "thickness [m]",
                "conductivity [S.m-1]",
                "density [kg.m-3]",
                "specific heat capacity [J.kg-1.K-1]",
                "thermal conductivity [W.m-1.K-1]",
            ),
        ),
        (
            "electrode",
            ("density [kg.m-3]", "specific heat capacity [J.kg-1.K-1]", "thermal conductivity [W.m-1.K-1]"),
        ),
    )
    for q in qs
] + [
    "Separator density [kg.m-3]",
    "Separator specific heat capacity [J.kg-1.K-1]",
    "Separator thermal conductivity [W.m-1.K-1]",
]


def build_parameter_values(pybamm, name, info, ambient_c, args):
    pv = pybamm.ParameterValues(name)
    keys = pv.keys()
    t_amb = ambient_c + KELVIN
    upd = {
        "Open-circuit voltage at 0% SOC [V]": info["v_min"],
        "Open-circuit voltage at 100% SOC [V]": info["v_max"],
        "Lower voltage cut-off [V]": info["v_min"] - args.cutoff_margin,
        "Upper voltage cut-off [V]": info["v_max"] + args.cutoff_margin,
        "Ambient temperature [K]": t_amb,
        "Initial temperature [K]": t_amb,
        "Environment thermal resistance [K.W-1]": args.r_env,
        "Casing heat capacity [J.K-1]": args.case_c,
    }
    # sets without thermal data (e.g. Prada2013): borrow generic layer thermal
    # properties and current collectors from Chen2020 (documented in meta.json)
    borrowed = []
    donor = None
    for k in THERMAL_KEYS:
        if k not in keys:
            if donor is None:
                donor = pybamm.ParameterValues("Chen2020")
            upd[k] = donor[k]
            borrowed.append(k)
    info["borrowed_from_chen2020"] = borrowed
    if "Cell volume [m3]" not in keys:
        # electrode stack volume x packaging factor
        area = float(pv["Electrode height [m]"]) * float(pv["Electrode width [m]"])
        thick = sum(
            float(upd.get(k, pv[k] if k in keys else 0.0))
            for k in (
                "Negative current collector thickness [m]",
                "Negative electrode thickness [m]",
                "Separator thickness [m]",
                "Positive electrode thickness [m]",
                "Positive current collector thickness [m]",
            )
        )
        upd["Cell volume [m3]"] = 1.3 * area * thick
        info["cell_volume_estimated_m3"] = upd["Cell volume [m3]"]
    a_cool = float(pv["Cell cooling surface area [m2]"]) if "Cell cooling surface area [m2]" in keys else 1.0
    upd["Cell cooling surface area [m2]"] = a_cool
    upd["Total heat transfer coefficient [W.m-2.K-1]"] = 1.0 / (args.r_core_surface * a_cool)
    if args.hysteresis_mv > 0:
        # branches +- half the gap around the set's single-valued OCP: an LFP cell's rested OCV
        # keeps 5-25 mV between charge and discharge (Roscher & Sauer, J. Power Sources 196
        # (2011) 331; Dreyer et al., Nature Mater. 9 (2010) 448 on its origin)
        base = pv["Positive electrode OCP [V]"]
        half = 0.5e-3 * args.hysteresis_mv
        upd["Positive electrode lithiation OCP [V]"] = lambda sto: base(sto) - half
        upd["Positive electrode delithiation OCP [V]"] = lambda sto: base(sto) + half
        upd["Positive particle lithiation hysteresis decay rate"] = args.hysteresis_decay
        upd["Positive particle delithiation hysteresis decay rate"] = args.hysteresis_decay
        upd["Initial hysteresis state in positive electrode"] = args.hysteresis_init
    pv.update(upd, check_already_exists=False)
    return pv


HYSTERESIS = {"on": False}  # set by main from --hysteresis-mv


def make_model(pybamm):
    opts = {"thermal": "lumped", "surface temperature": "lumped"}
    if HYSTERESIS["on"]:
        # the positive electrode's OCP with PyBaMM's one-state hysteresis (Axen et al., J. Energy
        # Storage 2022), between a lithiation and a delithiation branch (build_parameter_values)
        opts["open-circuit potential"] = ("single", "one-state hysteresis")
    return pybamm.lithium_ion.DFN(options=opts)


def core_heat_capacity(pybamm, pv):
    model = make_model(pybamm)
    sim = pybamm.Simulation(model, parameter_values=pv)
    sol = sim.solve([0, 1])
    rc = sol["Volume-averaged effective heat capacity [J.K-1.m-3]"].entries[0]
    vol = sol["Cell thermal volume [m3]"].entries[0]
    return float(rc * vol)


def run_experiment(pybamm, pv, steps, initial_soc, label):
    model = make_model(pybamm)
    pv = pv.copy()
    pv.set_initial_state(initial_soc)
    exp = pybamm.Experiment(steps)
    solver = pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-8)
    sim = pybamm.Simulation(model, parameter_values=pv, experiment=exp, solver=solver)
    t0 = time.time()
    sol = sim.solve(calc_esoh=False)
    wall = time.time() - t0
    n_done = len(sol.cycles)
    if n_done < len(steps):
        print(
            f"  WARNING {label}: only {n_done} of {len(steps)} steps ran "
            f"({getattr(sol, 'termination', '?')})",
            flush=True,
        )
    return sol, wall


def extract(sol, info):
    t = sol["Time [s]"].entries
    out = {
        "t": t,
        "i": sol["Current [A]"].entries,
        "v": sol["Voltage [V]"].entries,
        "t_surf": sol["Surface temperature [K]"].entries - KELVIN,
        "t_core": sol["Volume-averaged cell temperature [K]"].entries - KELVIN,
        "x": sol["Average negative particle stoichiometry"].entries,
        "q_dis": sol["Discharge capacity [A.h]"].entries,
    }
    out["soc"] = (out["x"] - info["x_0"]) / (info["x_100"] - info["x_0"])
    # one row per (0.1 s rounded) time: keep the first of repeated boundary times
    tr = np.round(t, 1)
    keep = np.ones(len(t), bool)
    last = -np.inf
    for k, tk in enumerate(tr):
        if tk <= last:
            keep[k] = False
        else:
            last = tk
    out = {k: np.asarray(v)[keep] for k, v in out.items()}
    out["t"] = np.round(out["t"], 1)
    return out


# ----------------------------------------------------------------------------------
# protocols
# ----------------------------------------------------------------------------------


def char_steps(pybamm, info, quick):
    s = pybamm.step
    vmin, vmax = info["v_min"], info["v_max"]
    sweep = "C/10" if quick else "C/20"
    steps = [
        s.string("Rest for 1 hour", period="60 seconds"),
        s.string(f"Discharge at {sweep} until {vmin} V", period="60 seconds"),
        s.string("Rest for 2 hours", period="60 seconds"),
        s.string(f"Charge at {sweep} until {vmax} V", period="60 seconds"),
        s.string("Rest for 2 hours", period="60 seconds"),
    ]
    n_blocks = 5 if quick else 9
    long_rest = "20 minutes" if quick else "1 hour"
    for _ in range(n_blocks):
        steps += [
            s.string("Discharge at 1C for 10 seconds", period="1 second"),
            s.string("Rest for 40 seconds", period="1 second"),
            s.string("Charge at 0.75C for 10 seconds", period="1 second"),
            s.string("Rest for 40 seconds", period="1 second"),
            s.string(f"Discharge at 0.5C for 12 minutes or until {vmin} V", period="5 seconds"),
            s.string(f"Rest for {long_rest}", period="30 seconds"),
        ]
    return steps


def valid_steps(pybamm, info, drive, args):
    s = pybamm.step
    v_cv = info["v_max"] - args.fast_charge_dv
    i_cut = info["nominal_ah"] / 5.0
    drive_arr = np.column_stack([np.arange(len(drive), dtype=float), drive])
    rest = "Rest for 10 minutes"
    fc = args.fast_charge_c
    return [
        s.current(drive_arr, period=1.0),
        s.string(rest, period="5 seconds"),
        s.string(f"Charge at {fc}C until {v_cv:.3f} V", period="1 second"),
        s.string(f"Hold at {v_cv:.3f} V until {i_cut:.4f} A", period="1 second"),
        s.string(rest, period="5 seconds"),
        s.current(drive_arr, period=1.0),
        s.current(drive_arr, period=1.0),
    ]


# ----------------------------------------------------------------------------------
# sensors / output
# ----------------------------------------------------------------------------------


def quantise(x, step):
    return np.round(x / step) * step


def sensor_char(rng, d, nominal_ah, args):
    n = len(d["t"])
    i = d["i"] * (1 + 0.0005) + 0.001 * nominal_ah / 5.0 + rng.normal(0, 0.0002 * nominal_ah, n)
    v = d["v"] + rng.normal(0, 0.0005, n)
    tc = quantise(d["t_surf"] + rng.normal(0, args.char_temp_noise, n), 0.01)
    return i, v, tc


def sensor_valid(rng, d, nominal_ah):
    n = len(d["t"])
    i = d["i"] * (1 + 0.005) + 0.030 * nominal_ah / 5.0 + rng.normal(0, 0.004 * nominal_ah, n)
    v = quantise(d["v"] + rng.normal(0, 0.002, n), 0.001)
    tc = quantise(d["t_surf"] + rng.normal(0, 0.2, n), 0.1)
    return i, v, tc


def write_csv(path, header, cols, fmts):
    lines = [header]
    for row in zip(*cols, strict=True):
        lines.append(",".join(f % x for f, x in zip(fmts, row, strict=True)))
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def write_char(path, rng, d, info, args):
    i, v, tc = sensor_char(rng, d, info["nominal_ah"], args)
    # "+ 0.0" avoids writing "-0.00"
    write_csv(
        path,
        "time_s,current_a,voltage_v,temperature_c",
        [d["t"], i, v, tc + 0.0],
        ["%.1f", "%.5f", "%.4f", "%.2f"],
    )
    return len(d["t"])


# ----------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--parameter-set", default="Chen2020")
    p.add_argument("--ambient-c", type=float, default=25.0)
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument(
        "--char-temps",
        default="",
        help="comma list of chamber temperatures for extra char-<T>c files, e.g. 5,25,45"
        " (the ambient itself is char.csv.gz)",
    )
    p.add_argument("--quick", action="store_true", help="short char and valid, for smoke tests")
    p.add_argument("--seed", type=int, default=1, help="sensor-noise RNG seed")
    p.add_argument("--drive-seed", type=int, default=1, help="synthetic drive-trace seed")
    p.add_argument(
        "--drive-speed-csv",
        default=None,
        help="use this speed trace instead of the synthetic one: CSV with columns"
        " time_s,speed_kmh (e.g. the real WLTC class 3b), resampled to 1 s",
    )
    p.add_argument("--soc-start", type=float, default=0.55)
    p.add_argument("--r-core-surface", type=float, default=2.5, help="core-to-surface K/W")
    p.add_argument("--r-env", type=float, default=4.0, help="surface-to-ambient K/W")
    p.add_argument("--case-c", type=float, default=6.0, help="casing heat capacity J/K")
    p.add_argument("--drive-peak-c", type=float, default=3.0, help="peak drive discharge, C")
    p.add_argument("--regen-max-c", type=float, default=1.4, help="largest regen charge, C")
    p.add_argument("--fast-charge-c", type=float, default=3.0)
    p.add_argument("--fast-charge-dv", type=float, default=0.1, help="CV voltage = v_max - this")
    p.add_argument(
        "--cutoff-margin", type=float, default=0.3, help="model voltage cut-offs are widened by this (V)"
    )
    p.add_argument("--char-temp-noise", type=float, default=0.05, help="char T noise, K rms")
    p.add_argument("--skip-char", action="store_true", help="only valid/truth/meta")
    p.add_argument(
        "--hysteresis-mv",
        type=float,
        default=0.0,
        help="gap between the positive electrode's delithiation and lithiation OCP (mV; 0: none)",
    )
    p.add_argument("--hysteresis-decay", type=float, default=100.0, help="PyBaMM's hysteresis decay rate")
    p.add_argument("--hysteresis-init", type=float, default=1.0, help="initial hysteresis state (-1..1)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    if out.startswith("/work/main"):
        sys.exit("refusing to write inside the project tree; use e.g. /tmp/refdata/<name>")
    os.makedirs(out, exist_ok=True)
    pybamm = _pybamm()
    pybamm.set_logging_level("ERROR")
    HYSTERESIS["on"] = args.hysteresis_mv > 0

    def file_rng(fname):
        # independent noise per file and dataset, reproducible from --seed
        tag = f"{args.parameter_set}|{args.ambient_c:g}|{fname}"
        return np.random.default_rng([args.seed, zlib.crc32(tag.encode())])

    t_all = time.time()

    info = cell_info(pybamm, args.parameter_set)
    print(
        f"{args.parameter_set}: v {info['v_min']}-{info['v_max']} V, nominal "
        f"{info['nominal_ah']} Ah, OCV capacity {info['capacity_ah_ocv']:.4f} Ah",
        flush=True,
    )
    walls = {}
    meta_extra = {}

    # --- characterisation(s)
    temps = [args.ambient_c]
    for tok in filter(None, (x.strip() for x in args.char_temps.split(","))):
        tc = float(tok)
        if all(abs(tc - x) > 1e-9 for x in temps):
            temps.append(tc)
    char_rows = None
    char_files = []
    if not args.skip_char:
        for tc in temps:
            name = "char.csv.gz" if tc == args.ambient_c else f"char-{tc:g}c.csv.gz"
            pv = build_parameter_values(pybamm, args.parameter_set, info, tc, args)
            sol, wall = run_experiment(pybamm, pv, char_steps(pybamm, info, args.quick), 1.0, name)
            d = extract(sol, info)
            rows = write_char(os.path.join(out, name), file_rng(name), d, info, args)
            walls[name] = round(wall, 1)
            char_files.append(name)
            if tc == args.ambient_c:
                char_rows = rows
                # C/20 discharge capacity (true current) from the sweep
                if len(sol.cycles) > 1:
                    q = sol.cycles[1]["Discharge capacity [A.h]"].entries
                    meta_extra["char_sweep_discharge_ah"] = float(q[-1] - q[0])
            print(
                f"  {name}: {rows} rows, {d['t'][-1] / 3600:.1f} h, V {d['v'].min():.3f}-"
                f"{d['v'].max():.3f}, surface T max {d['t_surf'].max():.2f} C, "
                f"wall {wall:.1f} s",
                flush=True,
            )

    # --- validation
    if args.drive_speed_csv:
        tab = np.genfromtxt(args.drive_speed_csv, delimiter=",", skip_header=1)
        tt = np.arange(0.0, np.floor(tab[-1, 0] - tab[0, 0]) + 1)
        vspeed = np.interp(tt, tab[:, 0] - tab[0, 0], tab[:, 1])
    else:
        vspeed = wltc_like_speed(np.random.default_rng(args.drive_seed))
    drive = speed_to_cell_current(vspeed, info["nominal_ah"], args.drive_peak_c, args.regen_max_c)
    if args.quick:
        drive = drive[:601]
    pv = build_parameter_values(pybamm, args.parameter_set, info, args.ambient_c, args)
    meta_extra["core_heat_capacity_j_per_k"] = core_heat_capacity(pybamm, pv)
    sol, wall = run_experiment(pybamm, pv, valid_steps(pybamm, info, drive, args), args.soc_start, "valid")
    walls["valid.csv.gz"] = round(wall, 1)
    d = extract(sol, info)
    i, v, tc = sensor_valid(file_rng("valid.csv.gz"), d, info["nominal_ah"])
    write_csv(
        os.path.join(out, "valid.csv.gz"),
        "time_s,current_a,voltage_v,temperature_c",
        [d["t"], i, v, tc + 0.0],
        ["%.1f", "%.4f", "%.3f", "%.1f"],
    )
    write_csv(
        os.path.join(out, "truth.csv.gz"),
        "time_s,soc_true,core_temp_c_true",
        [d["t"], d["soc"], d["t_core"]],
        ["%.1f", "%.5f", "%.3f"],
    )
    soc_cc = args.soc_start - (d["q_dis"] - d["q_dis"][0]) / info["capacity_ah_ocv"]
    print(
        f"  valid: {len(d['t'])} rows, {d['t'][-1]:.0f} s, V {d['v'].min():.3f}-{d['v'].max():.3f},"
        f" I {d['i'].min():.2f}..{d['i'].max():.2f} A, SoC {d['soc'].min():.4f}-{d['soc'].max():.4f},"
        f" core max {d['t_core'].max():.2f} C, surface max {d['t_surf'].max():.2f} C,"
        f" wall {wall:.1f} s",
        flush=True,
    )

    nom = info["nominal_ah"]
    meta = {
        "parameter_set": args.parameter_set,
        "ambient_c": float(args.ambient_c),
        "capacity_ah_ocv": info["capacity_ah_ocv"],
        "nominal_capacity_ah": nom,
        "v_min": info["v_min"],
        "v_max": info["v_max"],
        "soc_start": args.soc_start,
        "fast_charge": (
            f"{args.fast_charge_c:g}C CC to {info['v_max'] - args.fast_charge_dv:.3f} V, CV to C/5"
        ),
        "thermal": {"core_surface_R": args.r_core_surface, "env_R": args.r_env, "case_C": args.case_c},
        "char_rows": char_rows,
        "valid_rows": len(d["t"]),
        "valid_max_core_c": float(d["t_core"].max()),
        "valid_soc_range": [float(d["soc"].min()), float(d["soc"].max())],
        "noise_char": (
            f"lab grade: V 0.5 mV rms, I gain +0.05 %, offset 1 mA per 5 Ah, 0.02 % of 1C rms; "
            f"T {args.char_temp_noise:g} K rms + 0.01 K steps"
        ),
        "noise": "V 2 mV rms + 1 mV steps; I gain +0.5 %, offset +30 mA per 5 Ah, 0.4 % of 1C rms; "
        "T 0.2 K rms + 0.1 K steps",
        "generator": {
            "script": "tests/tools/pybamm_reference.py",
            "pybamm_version": pybamm.__version__,
            "model": "DFN, thermal=lumped (core), surface temperature=lumped (casing)"
            + (
                f", positive OCP one-state hysteresis: gap {args.hysteresis_mv:g} mV, decay rate "
                f"{args.hysteresis_decay:g}, initial state {args.hysteresis_init:g}"
                if args.hysteresis_mv > 0
                else ""
            ),
            "quick": bool(args.quick),
            "seed": args.seed,
            "drive_seed": args.drive_seed,
            "drive_speed_csv": args.drive_speed_csv,
            "char_files": char_files,
            "char_temps_c": temps if not args.skip_char else [],
            "stoichiometry_window": {k: info[k] for k in ("x_0", "x_100", "y_0", "y_100")},
            "borrowed_from_chen2020": info.get("borrowed_from_chen2020", []),
            "cell_volume_estimated_m3": info.get("cell_volume_estimated_m3"),
            "drive": {
                "peak_c": args.drive_peak_c,
                "regen_max_c": args.regen_max_c,
                "duration_s": len(drive) - 1,
                "mean_a": float(drive.mean()),
                "rms_a": float(np.sqrt(np.mean(drive**2))),
            },
            "soc_coulomb_max_err": float(np.max(np.abs(soc_cc - d["soc"]))),
            "valid_max_surface_c": float(d["t_surf"].max()),
            "wall_s": walls,
            **meta_extra,
        },
    }
    with open(os.path.join(out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    for k, w in walls.items():
        print(f"wall time {k}: {w:.1f} s")
    print(f"total wall time {time.time() - t_all:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
