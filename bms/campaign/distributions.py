"""What a campaign file may draw a scenario field from, and the drawing.

In a campaign file a field takes either a plain value (fixed for every run) or a one-key
table naming a distribution:

    ambient_c = { uniform = [0.0, 40.0] }                # lo <= x < hi
    soc_start = { normal = [0.2, 0.05], clip = [0.05, 0.5] }   # mean, sigma; clipped if clip given
    chemistry = { choice = ["nmc811-graphite", "lfp-graphite"] }   # equally likely
    series    = { randint = [8, 12] }                     # integers lo..hi, both included

Integer fields take a value, `choice` or `randint`; text and true/false fields a value or
`choice`; number fields any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bms.errors import ConfigError
from bms.schema import flag, number, text

DISTRIBUTIONS = ("uniform", "normal", "choice", "randint")
KINDS = ("float", "int", "str", "bool")


@dataclass(frozen=True)
class Fixed:
    value: Any

    def draw(self, rng: np.random.Generator) -> Any:
        return self.value


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class Normal:
    mu: float
    sigma: float
    clip: tuple[float, float] | None = None

    def draw(self, rng: np.random.Generator) -> float:
        x = float(self.mu + self.sigma * rng.standard_normal())
        if self.clip is not None:
            x = min(max(x, self.clip[0]), self.clip[1])
        return x


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def draw(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]


@dataclass(frozen=True)
class RandInt:
    lo: int
    hi: int

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lo, self.hi + 1))


Distribution = Fixed | Uniform | Normal | Choice | RandInt


def _scalar(v: Any, kind: str, where: str) -> Any:
    """One value of a field of this kind (bms.schema's rules: int accepted for float, never
    bool for numbers, a whole float for an int)."""
    if kind == "str":
        return text(v, where)
    if kind == "bool":
        return flag(v, where)
    return number(v, where, integer=kind == "int")


def _pair(v: Any, where: str, name: str) -> tuple[float, float]:
    if not isinstance(v, list) or len(v) != 2:
        raise ConfigError(f"field '{where}': {name} needs a list of two numbers, got {v!r}")
    a, b = (_scalar(x, "float", f"{where}.{name}") for x in v)
    return a, b


def parse_distribution(v: Any, kind: str, where: str) -> Distribution:
    """A plain value or a one-key distribution table; errors name the field and the rule."""
    if not isinstance(v, dict):
        return Fixed(_scalar(v, kind, where))
    keys = set(v) - {"clip"}
    if len(keys) != 1 or not keys <= set(DISTRIBUTIONS):
        raise ConfigError(
            f"field '{where}': a table must name one distribution of {', '.join(DISTRIBUTIONS)} "
            f"(got {', '.join(sorted(v)) or 'an empty table'})"
        )
    name = keys.pop()
    if "clip" in v and name != "normal":
        raise ConfigError(f"field '{where}': clip goes with normal only")
    arg = v[name]
    if name == "choice":
        if not isinstance(arg, list) or not arg:
            raise ConfigError(f"field '{where}': choice needs a non-empty list, got {arg!r}")
        return Choice(tuple(_scalar(x, kind, f"{where}.choice") for x in arg))
    if kind in ("str", "bool"):
        raise ConfigError(f"field '{where}': a {kind} field takes a value or choice, not {name}")
    if name == "randint":
        if kind != "int":
            raise ConfigError(f"field '{where}': randint is for integer fields; use uniform or normal")
        lo, hi = _pair(arg, where, name)
        if not (float(lo).is_integer() and float(hi).is_integer() and lo <= hi):
            raise ConfigError(f"field '{where}': randint needs integers [lo, hi] with lo <= hi, got {arg!r}")
        return RandInt(int(lo), int(hi))
    if kind == "int":
        raise ConfigError(f"field '{where}': an integer field takes a value, choice or randint, not {name}")
    if name == "uniform":
        lo, hi = _pair(arg, where, name)
        if not lo < hi:
            raise ConfigError(f"field '{where}': uniform needs [lo, hi] with lo < hi, got {arg!r}")
        return Uniform(lo, hi)
    mu, sigma = _pair(arg, where, name)
    if not sigma > 0:
        raise ConfigError(f"field '{where}': normal needs [mean, sigma] with sigma > 0, got {arg!r}")
    clip = None
    if "clip" in v:
        clip = _pair(v["clip"], where, "clip")
        if not clip[0] < clip[1]:
            raise ConfigError(f"field '{where}': clip needs [lo, hi] with lo < hi, got {v['clip']!r}")
    return Normal(mu, sigma, clip)


def bounds(d: Distribution) -> tuple[Any, ...]:
    """The extreme values the distribution can produce, for checks at load (none for an
    unclipped normal: its tails are unbounded)."""
    if isinstance(d, Fixed):
        return (d.value,)
    if isinstance(d, Choice):
        return d.options
    if isinstance(d, Uniform):
        return (d.lo, d.hi)
    if isinstance(d, RandInt):
        return (d.lo, d.hi)
    return () if d.clip is None else d.clip
