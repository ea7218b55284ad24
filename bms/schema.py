"""One schema for every TOML file the bench reads (cell, chemistry, scenario, campaign).

Reading a file (`read_toml`), a table (`table`: unknown keys refused naming them and the
allowed ones, missing required keys named), a number (`number`: a bool is no number, NaN and
inf are refused, the range rule is in the message), text and true/false (`text`, `flag`), a
finite 1-D or 2-D numeric array (`array`) and a dataclass filled from a table by the types of
its fields (`section`). Every refusal is one `ConfigError` line naming the field, the value
and the rule, e.g.

    field 'scenario.dt_ms' must be an integer within [1, 60000] ms, got 0

A loader wraps its parsing in `in_file(source)` so that the line starts with the file.
"""

from __future__ import annotations

import math
import tomllib
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bms.errors import ConfigError

T = TypeVar("T")
# a field's own parser: (value, "where.field") -> the value to store
Parser = Callable[[Any, str], Any]


@contextmanager
def in_file(source: str | None) -> Iterator[None]:
    """Prefix every ConfigError raised inside with `<source>: ` (nothing without a source)."""
    try:
        yield
    except ConfigError as exc:
        if not source:
            raise
        raise ConfigError(f"{source}: {exc}") from None


def read_toml(p: Path, what: str = "file") -> dict[str, Any]:
    """A TOML file's table (a UTF-8 BOM is fine), or a one-line ConfigError naming the file:
    unreadable, not UTF-8 text (a binary file), not TOML. Cell, chemistry, scenario and
    campaign files all come through here."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {what} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: not a text (UTF-8) TOML {what}: byte {exc.start} is 0x{exc.object[exc.start]:02x}"
            " (a binary file?)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None


# how many `base` files a cell or chemistry file may stand on (a chain, never a loop)
MAX_BASE_DEPTH = 4


def read_toml_based(p: Path, what: str = "file", paths: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """read_toml, for a file that may name another as its base: `base = "other.toml"` at the
    top level (a path relative to this file) makes this file the base's table with this
    file's tables merged in, key by key (a table merges into the base's table of that name,
    any other value replaces the base's). A variant states only what differs from the file
    it derives from (bms/data/chemistries/sulfide-assb-thin.toml). A chain of up to
    MAX_BASE_DEPTH bases; a loop, a missing base or a base that is no string is a one-line
    ConfigError naming the file. paths: (table, key) of values that are file names relative to
    the file that states them (a chemistry's cell_file): made absolute in each layer."""
    layers: list[dict[str, Any]] = []
    seen: list[Path] = []
    cur = p
    for _ in range(MAX_BASE_DEPTH + 1):
        d = read_toml(cur, what)
        seen.append(cur.resolve())
        base = d.pop("base", None)
        for tab, key in paths:
            sub = d.get(tab)
            if isinstance(sub, dict) and isinstance(sub.get(key), str):
                sub[key] = str(cur.parent / sub[key])
        layers.append(d)
        if base is None:
            break
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{cur}: 'base' must be a file name (a string), got {base!r}")
        nxt = cur.parent / base
        if not nxt.is_file():
            raise ConfigError(f"{cur}: 'base' file {nxt} not found")
        if nxt.resolve() in seen:
            raise ConfigError(f"{cur}: 'base' {base} leads back to {nxt} (a loop)")
        cur = nxt
    else:
        raise ConfigError(f"{p}: more than {MAX_BASE_DEPTH} 'base' files in a chain")
    merged: dict[str, Any] = {}
    for d in reversed(layers):
        _merge_into(merged, d)
    return merged


def _merge_into(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """src's keys into dst: tables merge, other values replace (at most the TOML's nesting)."""
    stack = [(dst, src)]
    while stack:
        a, b = stack.pop()
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                stack.append((a[k], v))
            else:
                a[k] = v


def table(
    d: Any,
    where: str,
    allowed: Iterable[str] | None,
    required: Iterable[str] = (),
    kind: str = "field",
) -> dict[str, Any]:
    """`d` as a table whose keys are all `allowed` (None: any key) and include `required`.
    `kind` names the keys in the messages ("field", "section")."""
    if not isinstance(d, dict):
        raise ConfigError(f"'{where}' must be a table, got {d!r}")
    if allowed is not None:
        allowed = set(allowed)
        extra = set(d) - allowed
        if extra:
            raise ConfigError(
                f"unknown {kind}(s) in '{where}': {', '.join(sorted(extra))} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
    missing = set(required) - set(d)
    if missing:
        raise ConfigError(f"missing {kind}(s) in '{where}': {', '.join(sorted(missing))}")
    return d


def _show(x: float) -> str:
    """A bound as written in a file: 3600000 (not 3.6e+06), 0.5, 1e-05."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def describe_range(
    lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False, unit: str = ""
) -> str:
    """A range in words: 'within [0, 1]', '> 0', '<= 5', '' (no bound); `unit` follows."""
    if lo is not None and hi is not None:
        text = f"within {'(' if lo_open else '['}{_show(lo)}, {_show(hi)}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {_show(lo)}"
    elif hi is not None:
        text = f"{'<' if hi_open else '<='} {_show(hi)}"
    else:
        return ""
    return f"{text} {unit}" if unit else text


def number(
    v: Any,
    where: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "",
) -> Any:
    """A finite number (float) or, with `integer`, an int, within the range given (bounds
    inclusive unless `lo_open` / `hi_open`). A bool is no number. An integer field takes a
    whole number, written 3 or 3.0 (one rule for every file: a campaign's drawn values and a
    scenario written back come as floats); 3.5 is refused."""
    rng = describe_range(lo, hi, lo_open, hi_open, unit)
    noun = "an integer" if integer else "a finite number"
    rule = f"{noun} {rng}" if rng else noun
    bad = isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
    if not bad and integer and not isinstance(v, int):
        bad = not float(v).is_integer()
    if not bad:
        x = int(v) if integer else float(v)
        too_low = lo is not None and (x <= lo if lo_open else x < lo)
        too_high = hi is not None and (x >= hi if hi_open else x > hi)
        if not (too_low or too_high):
            return x
    raise ConfigError(f"field '{where}' must be {rule}, got {v!r}")


def text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"field '{where}' must be text, got {v!r}")
    return v


def flag(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"field '{where}' must be true or false, got {v!r}")
    return v


def array(v: Any, where: str, ndim: int) -> np.ndarray:
    """A finite float array of `ndim` (1: a list, 2: a list of lists) dimensions."""
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"field '{where}' must be numbers ({exc})") from None
    if arr.ndim != ndim:
        shape = "a list" if ndim == 1 else "a list of lists (one row per temperature)"
        raise ConfigError(f"field '{where}' must be {shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"field '{where}' has a NaN or infinite value")
    return arr


def value(
    v: Any,
    where: str,
    typ: Any,
    lo: float | None = None,
    *,
    int_lo: int | None = 0,
) -> Any:
    """A value of a dataclass field's type: bool, str, int (an integer >= `int_lo`), float or
    float | None (a finite number >= `lo`)."""
    if typ is bool:
        return flag(v, where)
    if typ is str:
        return text(v, where)
    if typ is int:
        return number(v, where, int_lo, integer=True)
    if typ is float or typ == float | None:
        return number(v, where, lo)
    raise TypeError(f"{where}: no schema rule for a field of type {typ}")  # a programming error


def section(
    cls: type[T],
    d: Any,
    where: str,
    *,
    lo: float | None = None,
    parsers: Mapping[str, Parser] | None = None,
) -> T:
    """A dataclass filled from a table by its fields: unknown keys refused, the fields without
    a default required, each value checked by its field's type (see `value`; `lo` bounds the
    floats) or by its own parser in `parsers`."""
    hints = typing.get_type_hints(cls)
    fs = fields(cls)  # type: ignore[arg-type]
    required = {f.name for f in fs if f.default is MISSING and f.default_factory is MISSING}
    d = table(d, where, [f.name for f in fs], required)
    parsers = parsers or {}
    kw = {}
    for k, v in d.items():
        at = f"{where}.{k}"
        kw[k] = parsers[k](v, at) if k in parsers else value(v, at, hints[k], lo)
    return cls(**kw)
