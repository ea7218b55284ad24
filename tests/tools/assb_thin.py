"""Derive the thin-electrode sulfide cell (issue 18, part 1) from the shipped Li-metal cell
`bms/data/cells/assb-nmc811-lps-agc.toml`, by the same layer physics its header states, and
write `bms/data/cells/assb-nmc811-lps-agc-thin.toml` (a variant: `base =` the shipped cell,
only what differs). Re-run after changing the base cell:

    python -m tests.tools.assb_thin [--check]

--check: exit 1 if the committed file differs from what this derives (CI runs it through
tests/unit/test_assb_variants.py).

The design change: the cathode's areal capacity from 3.0 to 1.0 mAh/cm2 (the cell keeps its
5.0 Ah, so its electrode area triples, 1667 -> 5000 cm2). What that does, term by term (the
base's header gives each term's source):
- separator ionic resistance: the same 1.5 ohm cm2 (30 um Li6PS5Cl at 2 mS/cm) over 3x the
  area: a third;
- composite-cathode ionic path L/(3 sigma_eff): the cathode a third as thick (52.6 -> 17.5 um),
  a third of the ohm cm2, over 3x the area: a ninth;
- cathode charge transfer: the particle surface per cm2 scales with the thickness, so per cell
  it is the same surface: unchanged;
- solid diffusion in the NMC particles (R1/C1, R2/C2): the same particles, the same total
  volume: unchanged;
- both ionic terms follow the base's Arrhenius (0.35 eV = 33.8 kJ/mol), so the variant's R0 is
  the base's R0 less the ionic part it saves at each temperature: R0 - (R_ion,base -
  R_ion,thin) x exp(Ea/R (1/T - 1/298.15));
- thermal: per cm2 the same layers (the base's thicknesses and densities, cathode 1/3), 3x the
  area; the pouch and tabs (the surface node) unchanged; the stack 3x as many unit cells of
  73 um instead of 118 um (1.87x as thick: core-to-surface L/(12 k A) 1.87x); the faces the same
  (surface-to-ambient unchanged);
- the estimator's heat noise R0 I_1C^2 (as `bms fit` sets it) with the new R0.
The Li-metal anode's critical current density is a current density: per C-rate the thin cell
tolerates 3x the base's (the chemistry file sulfide-assb-thin.toml states its maps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bms import assb_design

ROOT = Path(__file__).resolve().parents[2]
CELLS = ROOT / "bms" / "data" / "cells"
OUT = CELLS / "assb-nmc811-lps-agc-thin.toml"

Q_THIN = 1.0  # mAh/cm2


def derive() -> str:
    return assb_design.derive(Q_THIN)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = ap.parse_args()
    text = derive()
    if args.check:
        same = OUT.is_file() and OUT.read_text() == text
        print(f"{OUT.name}: {'up to date' if same else 'STALE (re-run python -m tests.tools.assb_thin)'}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
