"""The one table of firmware targets: `--target` (bms simulate) and `--bms-target` (the
pytest plugin) take the same specs, opened by `open_target`.

A spec is NAME or NAME:ARG (serial:/dev/ttyACM0, can:virtual). The core has `sim` (the
firmware in this process); every other backend comes from the `bms.targets` entry-point
group (hil registers sim-wire, qemu, serial and can in setup.py), loaded only when asked
for, so the core never imports the packages that provide them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from bms.targets.base import Target, TargetError

GROUP = "bms.targets"


@dataclass(frozen=True)
class Backend:
    """One kind of target: its spec name, what it can do (the pytest `requires` marker
    names these) and how to open it. factory(arg, **kw): arg is the text after 'NAME:'
    ('' when the spec is the bare name)."""

    name: str
    factory: Callable[..., Target]
    capabilities: frozenset[str]
    usage: str  # the spec as the user writes it: "sim", "serial:URL"
    arg: str = "none"  # "none": NAME only; "required": NAME:ARG; "optional": either
    arg_help: str = ""  # what ARG is, for the message when it is missing

    def __post_init__(self) -> None:
        if self.arg not in ("none", "required", "optional"):
            raise ValueError(f"backend {self.name}: arg must be none, required or optional")


def _open_sim(arg: str, **kw: Any) -> Target:
    from bms.firmware import Firmware

    return Firmware(**kw)


BACKENDS: dict[str, Backend] = {
    "sim": Backend("sim", _open_sim, frozenset({"sim", "inprocess", "fast"}), "sim", "none"),
}
_CORE = frozenset(BACKENDS)


def _load(name: str) -> Backend | None:
    """A backend the core does not have, from the entry-point group (None if none)."""
    for ep in entry_points(group=GROUP, name=name):
        backend = ep.load()
        if not isinstance(backend, Backend) or backend.name != name:
            raise TargetError(f"entry point {GROUP}:{name} ({ep.value}) is not a Backend named '{name}'")
        BACKENDS[name] = backend
        return backend
    return None


def names() -> list[str]:
    """Every registered spec name: the core's, then the entry points' (not loaded)."""
    core = [n for n in BACKENDS if n in _CORE]
    return [*core, *sorted({*BACKENDS, *(ep.name for ep in entry_points(group=GROUP))} - set(core))]


def usages() -> str:
    """The registered specs as the user writes them, for an error message."""
    out = []
    for n in names():
        try:
            b = backend(n)
        except (TargetError, ImportError):
            out.append(n)
        else:
            out.append(b.usage)
    return ", ".join(out)


def backend(name: str) -> Backend:
    """The backend called NAME (core or entry point); TargetError naming the known ones."""
    b = BACKENDS.get(name)
    if b is None:
        try:
            b = _load(name)
        except ImportError as exc:
            raise TargetError(f"target '{name}' is not available here ({exc})") from None
    if b is None:
        raise TargetError(f"unknown target '{name}': use one of {usages()}")
    return b


def parse_spec(spec: str) -> tuple[Backend, str]:
    """(backend, its argument) for a spec; TargetError if the spec is not a registered one."""
    name, colon, arg = spec.partition(":")
    b = backend(name)
    arg = arg.strip()
    if b.arg == "none" and colon:
        raise TargetError(f"target '{spec}' takes no argument (use {b.usage})")
    if b.arg == "required" and not arg:
        raise TargetError(f"target '{spec}' needs {b.arg_help or 'an argument'} ({b.usage})")
    return b, arg


def capabilities(spec: str) -> frozenset[str]:
    return parse_spec(spec)[0].capabilities


def open_target(spec: str, **kwargs: Any) -> Target:
    """The target SPEC names, opened (kwargs go to its factory). Any failure to open it is a
    TargetError naming the spec; a backend whose extra is not installed says so."""
    b, arg = parse_spec(spec)
    try:
        return b.factory(arg, **kwargs)
    except ImportError as exc:
        raise TargetError(
            f"target '{spec}' is not available here ({exc}): "
            "install the bench extra (pip install 'bms-bench[hil]')"
        ) from None
    except TargetError as exc:
        raise TargetError(f"target '{spec}': {exc}") from None
