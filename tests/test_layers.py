"""The layers of the house, read from every module's imports (ast, function-level imports
included): the core (bms) <- targets and transports (hil) <- applications (command line,
benches, the pytest plugin) <- tests. A module may import its own floor and the ones below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# the floors, lowest first; a module's floor is that of its longest matching prefix
CORE, TRANSPORT, APPLICATION, TESTS = 0, 1, 2, 3
FLOORS = {
    "bms": CORE,
    # the command line and the benchmarks on top of the core
    "bms.cli": APPLICATION,
    "bms.bench": APPLICATION,
    "bms.sim.run": APPLICATION,
    "bms.sim.bench": APPLICATION,
    "bms.campaign.cli": APPLICATION,
    "bms.campaign.bench": APPLICATION,
    "hil": TRANSPORT,
    # benches, QEMU provisioning and the pytest plugin sit on the transports
    "hil.bench": APPLICATION,
    "hil.can.bench": APPLICATION,
    "hil.profile": APPLICATION,
    "hil.pytest_plugin": APPLICATION,
    "tests": TESTS,
}
NAMES = {CORE: "core", TRANSPORT: "transport", APPLICATION: "application", TESTS: "tests"}


def floor(module: str) -> int | None:
    best = None
    for prefix, level in FLOORS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, level)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # `from bms import cli` imports the module bms.cli, a floor of its own
            out += [
                (node.lineno, f"{mod}.{a.name}") for a in node.names if floor(f"{mod}.{a.name}") != floor(mod)
            ]
    return out


def modules() -> list[Path]:
    return sorted(p for d in ("bms", "hil") for p in (REPO / d).rglob("*.py"))


def violations(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        own = floor(module_name(path))
        assert own is not None, path
        for line, mod in imports(path):
            other = floor(mod)
            if other is not None and other > own:
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: {NAMES[own]} module imports {mod} ({NAMES[other]})"
                )
    return bad


def test_no_module_imports_a_floor_above_its_own():
    assert violations(modules()) == []


def test_the_core_never_imports_hil():
    for path in sorted((REPO / "bms").rglob("*.py")):
        hil = [mod for _, mod in imports(path) if mod == "hil" or mod.startswith("hil.")]
        assert hil == [], path


@pytest.mark.parametrize(
    ("module", "source", "fragment"),
    [
        (
            "bms/sim/fake.py",
            "from hil.targets.qemu import QemuTarget\n",
            "core module imports hil.targets.qemu",
        ),
        ("bms/fake.py", "def f():\n    import hil\n", "core module imports hil (transport)"),
        ("bms/fake.py", "from bms import cli\n", "core module imports bms.cli (application)"),
        ("bms/sim/fake.py", "from .run import simulate_cli\n", "imports bms.sim.run (application)"),
        ("hil/targets/fake.py", "from hil.pytest_plugin import load_profile\n", "transport module imports"),
        ("hil/fake.py", "from tests.rig import Rig\n", "imports tests.rig (tests)"),
    ],
)
def test_the_walk_finds_a_violation(tmp_path, monkeypatch, module, source, fragment):
    """The walk itself: each of these imports breaks a floor and is reported."""
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    found = violations([path])
    assert len(found) == 1 and fragment in found[0], found


def test_allowed_imports_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    path = tmp_path / "hil" / "fake.py"
    path.parent.mkdir(parents=True)
    path.write_text("from bms.targets.base import Target\nfrom hil.link import Link\n")
    assert violations([path]) == []
