"""pytest plugin (entry point `pytest11: bms`): one test suite for any firmware target.

    pytest --bms-target=SPEC     (or BMS_TARGET=...; every target bms.targets.registry knows:
                                  sim, sim-wire, qemu, serial:URL, can:BUS)
    pytest --hypothesis-profile=ci|nightly|thousand|pil|dev   (or BMS_HYPOTHESIS_PROFILE=...)

Fixtures: `bms_target` (the session's target, configured per run), `bms_bench` (a factory
of closed loops: target + simulated pack + charger) and `bms_target_spec`. Marker:
`@pytest.mark.requires("qemu")` skips where the target lacks a capability. Every run records
JUnit suite properties: firmware version and build hash, target, config hash of the
reference configuration, hypothesis profile and seed.

The profile (ci unless chosen) and the run's seed only apply when a target is asked for:
--bms-target / BMS_TARGET, or a collected test uses one of the target fixtures; a suite that
wants them regardless calls `load_profile(config)` from its conftest.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

try:  # hypothesis is a test extra: the plugin must not break pytest without it
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # pragma: no cover
    settings = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from bms.sim.loop import ClosedLoop, StepView
    from bms.sim.scenario import Scenario
    from bms.targets.base import Target

# a test that uses one of these asks for a target (and so for the profile and the seed)
TARGET_FIXTURES = frozenset({"bms_target", "bms_bench", "bms_target_spec"})

if settings is not None:
    _COMMON = dict(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
    # ci: the same examples on every run (a red build is reproducible), bounded time
    settings.register_profile("ci", derandomize=True, max_examples=100, **_COMMON)
    # nightly: fresh examples each night, many more of them; the seed is in the JUnit XML
    settings.register_profile("nightly", derandomize=False, max_examples=1000, **_COMMON)
    # throughput: the acceptance run of 1,000 complete fast charges (make props-1000)
    settings.register_profile(
        "thousand",
        derandomize=True,
        max_examples=1000,
        phases=[Phase.explicit, Phase.generate],
        **_COMMON,
    )
    settings.register_profile("dev", max_examples=10, **_COMMON)
    # pil: the selection `make test` runs on QEMU (lock-step over an emulated UART, ~1/100
    # of the in-process speed): fewer examples and small packs
    settings.register_profile("pil", derandomize=True, max_examples=8, **_COMMON)


# complete closed-loop scenarios per profile (each is seconds, not microseconds): shared by
# the scenario-level property tests
SCENARIO_BUDGET = {"ci": 48, "nightly": 2000, "thousand": 1000, "dev": 6, "mutation": 24, "pil": 6}
# the largest pack (series cells) a profile draws; the strategies default to 192
SCENARIO_MAX_SERIES = {"pil": 12}
# the simulated durations a profile draws (s); thousand, the throughput run, draws the
# 5-minute minimum its acceptance names: more scenarios per minute, the same per-step checks
SCENARIO_DURATIONS = {"thousand": (300.0,)}
DEFAULT_DURATIONS = (300.0, 450.0, 600.0)


def scenario_budget() -> int:
    """How many drawn scenarios the loaded profile affords in all."""
    if settings is None:
        return 0
    name = settings.get_current_profile_name()
    return SCENARIO_BUDGET.get(name, settings.default.max_examples)


def scenario_durations() -> tuple[float, ...]:
    """The simulated durations (s) the loaded profile draws from."""
    if settings is None:
        return DEFAULT_DURATIONS
    return SCENARIO_DURATIONS.get(settings.get_current_profile_name(), DEFAULT_DURATIONS)


def scenario_max_series() -> int:
    """The largest series count the loaded profile draws (1-192 unless it says less)."""
    if settings is None:
        return 192
    return SCENARIO_MAX_SERIES.get(settings.get_current_profile_name(), 192)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bms", "BMS firmware targets")
    group.addoption(
        "--bms-target",
        default=None,
        help="firmware target, any the registry (bms.targets.registry) knows: sim (in-process), "
        "sim-wire (in-process through the wire protocol), qemu (emulated Cortex-M4F), serial:URL "
        "(a board; any pyserial URL) or can:BUS (in-process with its CAN layer on a python-can "
        "bus). Default: $BMS_TARGET or sim",
    )


def pytest_configure(config: pytest.Config) -> None:
    from bms.targets.base import TargetError
    from bms.targets.registry import backend, names, parse_spec

    config.addinivalue_line(
        "markers",
        "requires(*capabilities): skip unless the target has them ("
        + "; ".join(f"{n}: {', '.join(sorted(backend(n).capabilities))}" for n in names())
        + ")",
    )
    asked = config.getoption("--bms-target") or os.environ.get("BMS_TARGET")
    spec = asked or "sim"
    try:
        parse_spec(spec)
    except TargetError as exc:
        raise pytest.UsageError(f"--bms-target: {exc}") from None
    config.stash[_SPEC] = spec
    config.stash.setdefault(_SEED, "n/a")
    config.stash[_ASKED] = bool(asked)
    if asked:
        load_profile(config)


def load_profile(config: pytest.Config) -> None:
    """Load the hypothesis profile (--hypothesis-profile, BMS_HYPOTHESIS_PROFILE,
    HYPOTHESIS_PROFILE, else ci) and fix one seed for the run where it is not derandomized.
    Once per session."""
    if settings is None or config.stash.get(_LOADED, False):
        return
    config.stash[_LOADED] = True
    if not config.getoption("--hypothesis-profile", default=None):
        name = os.environ.get("BMS_HYPOTHESIS_PROFILE") or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
        try:
            settings.load_profile(name)
        except Exception as exc:  # hypothesis raises InvalidArgument
            raise pytest.UsageError(f"BMS_HYPOTHESIS_PROFILE '{name}': {exc}") from None
    seed = config.getoption("--hypothesis-seed", default=None)
    if seed is None and not settings.default.derandomize:
        # one seed for the whole run (xdist workers inherit it), recorded in the XML
        seed = os.environ.setdefault("BMS_HYPOTHESIS_SEED", str(secrets.randbits(64)))
        from hypothesis import core

        core.global_force_seed = int(seed)
    config.stash[_SEED] = "derandomized" if seed is None else str(seed)


_SPEC = pytest.StashKey[str]()
_SEED = pytest.StashKey[str]()
_LOADED = pytest.StashKey[bool]()
_ASKED = pytest.StashKey[bool]()  # a target was asked for: option, environment or fixture


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from bms.targets.registry import capabilities

    if any(TARGET_FIXTURES.intersection(getattr(item, "fixturenames", ())) for item in items):
        config.stash[_ASKED] = True
        load_profile(config)
    have = capabilities(config.stash[_SPEC])
    for item in items:
        for mark in item.iter_markers("requires"):
            missing = [c for c in mark.args if c not in have]
            if missing:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"needs {', '.join(missing)}; target '{config.stash[_SPEC]}' has "
                        f"{', '.join(sorted(have))} (choose with --bms-target)"
                    )
                )


def pytest_report_header(config: pytest.Config) -> str:
    if settings is None:
        return f"bms target: {config.stash[_SPEC]}"
    return (
        f"bms target: {config.stash[_SPEC]}, hypothesis profile: "
        f"{settings.get_current_profile_name()}, seed: {config.stash[_SEED]}"
    )


@pytest.fixture(scope="session")
def bms_target_spec(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_SPEC]


@pytest.fixture(scope="session")
def bms_target(bms_target_spec: str) -> Iterator[Target]:
    """The session's firmware target; each closed loop reconfigures it."""
    from bms.targets.registry import open_target

    target = open_target(bms_target_spec)
    try:
        yield target
    finally:
        target.close()


@pytest.fixture(scope="session", autouse=True)
def _bms_junit_properties(
    request: pytest.FixtureRequest, record_testsuite_property: Callable[[str, object], None]
) -> None:
    """Firmware version and build hash, target, reference config hash, hypothesis profile
    and seed: on every run that asks for a target, in the JUnit XML's suite properties."""
    if not request.config.stash.get(_ASKED, False):
        return
    spec = request.config.stash[_SPEC]
    record_testsuite_property("bms_target", spec)
    record_testsuite_property(
        "hypothesis_profile", settings.get_current_profile_name() if settings is not None else "n/a"
    )
    record_testsuite_property("hypothesis_seed", request.config.stash[_SEED])
    from bms.chemistry import load_chemistry
    from bms.sim.configure import firmware_config
    from bms.sim.scenario import load_scenario
    from hil.targets.remote import configure_for_a_new_run

    try:
        target = request.getfixturevalue("bms_target")
        scn = load_scenario("fastcharge-10-80")
        configure_for_a_new_run(target, firmware_config(load_chemistry(scn.chemistry), scn))
        info = target.info()
    except Exception as exc:  # the suite's own tests report a target that does not answer
        record_testsuite_property("bms_target_error", str(exc))
        return
    record_testsuite_property("fw_version", info.fw_version)
    record_testsuite_property("fw_build_hash", info.build_hash)
    record_testsuite_property("config_hash", info.config_hash)
    record_testsuite_property("board", getattr(info, "board", "host"))


@pytest.fixture(scope="session")
def bms_bench(bms_target: Target) -> Callable[..., ClosedLoop]:
    """`bms_bench(scenario, monitor=None)` -> a ClosedLoop on the session's target."""
    from bms.sim.loop import ClosedLoop
    from hil.targets.remote import reset_for_a_new_run

    def make(scn: Scenario, monitor: Callable[[StepView], None] | None = None) -> ClosedLoop:
        reset_for_a_new_run(bms_target)  # the previous loop may have left the contactors closed
        return ClosedLoop(scn, bms_target, monitor=monitor)

    return make
