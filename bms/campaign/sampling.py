"""One run's scenario from (campaign, run index) alone.

Every sampled quantity has its own random stream, numpy SeedSequence(campaign seed,
spawn_key=(run index, a hash of the quantity's name)): a run's draws depend on neither the
order or the number of runs, nor on which worker computes it, nor on the other quantities
in the file (adding one leaves the others' draws as they were).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bms.campaign.distributions import Fixed
from bms.campaign.spec import NTC_FAULTS, Campaign, set_field
from bms.plant.faults import CELL_FAULTS, Fault
from bms.sim.scenario import Scenario, validate


@dataclass
class SampledRun:
    index: int
    scenario: Scenario
    params: dict[str, Any]  # every drawn (not fixed) value by field path; fault.kind ... for the fault


def stream(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def rng_for(seed: int, index: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, stream(name))))


def sample_run(c: Campaign, index: int) -> SampledRun:
    """The scenario of run `index` (0-based); raises ConfigError if the draws make an invalid
    scenario (recorded as a failed run by the runner)."""
    if not 0 <= index < c.runs:
        raise IndexError(f"run {index} is not in the campaign (0..{c.runs - 1})")
    scn = copy.deepcopy(c.base)
    params: dict[str, Any] = {}
    for path, dist in c.sample.items():
        value = dist.draw(rng_for(c.seed, index, path))
        scn = set_field(scn, path, value)
        if not isinstance(dist, Fixed):
            params[path] = value
    if "seed" not in c.sample:
        seed = int(np.random.SeedSequence(c.seed, spawn_key=(index, stream("seed"))).generate_state(1)[0])
        scn = replace(scn, seed=seed)
        params["seed"] = seed
    if c.faults is not None:
        fp = c.faults
        rng = rng_for(c.seed, index, "faults")
        present = bool(rng.random() < fp.probability)
        kind = fp.kinds[int(rng.integers(len(fp.kinds)))]
        at_s = float(fp.at_s.draw(rng))
        eligible = scn.sensed if kind in NTC_FAULTS else tuple(range(scn.series))
        cell = (
            int(fp.cell.draw(rng)) if fp.cell is not None else int(eligible[int(rng.integers(len(eligible)))])
        )
        value = None if fp.value is None else float(fp.value.draw(rng))
        if present:
            fault = Fault(
                kind=kind, at_s=round(at_s, 3), cell=cell if kind in CELL_FAULTS else None, value=value
            )
            scn = replace(scn, faults=[*scn.faults, fault])
            params.update({"fault.kind": kind, "fault.at_s": fault.at_s, "fault.cell": fault.cell})
            if value is not None:
                params["fault.value"] = value
    scn = replace(
        scn,
        name=f"{c.name}-run{index:06d}",
        description=f"run {index} of campaign {c.name} (seed {c.seed}); base {c.base_ref}",
    )
    validate(scn)
    return SampledRun(index, scn, params)
