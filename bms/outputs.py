"""Output paths checked before the work starts: never over an input, never over an earlier
run unless asked, and writable (a run that cannot be saved is refused before it runs, not
lost after it)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bms.errors import OutputError


def _same(a: Path, b: Path) -> bool:
    """The same file: by inode when both exist (hard links, symlinks), else by resolved path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_inputs(outputs: Iterable[Path], inputs: Iterable[Path | None], option: str) -> None:
    """OutputError if any output is one of the inputs (it would be overwritten)."""
    ins = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        for inp in ins:
            if _same(Path(out), inp):
                raise OutputError(
                    f"{option} {out} would overwrite the input {inp}: choose another output path"
                )


def _probe_dir(d: Path, option: str) -> None:
    """Create a file in `d` and remove it: the folder takes new files (permissions, a
    read-only file system, a full quota)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".bms-write-test-", dir=d)
    except OSError as exc:
        raise OutputError(f"{option} {d}: cannot write there ({exc.strerror})") from None
    os.close(fd)
    os.unlink(name)


def check_output_file(path: Path, option: str) -> None:
    """The file can be (re)written: not a folder, its folder exists or can be made and takes
    files, and an existing file is writable."""
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot create the folder {parent} ({exc.strerror})") from None
    _probe_dir(parent, option)
    if path.exists():
        try:
            with path.open("r+b"):  # opens for writing without changing a byte
                pass
        except OSError as exc:
            raise OutputError(f"{option} {path}: cannot be written ({exc.strerror})") from None


def prepare_output_dir(path: Path, option: str, force: bool) -> None:
    """The folder exists (made here), takes files, and holds nothing yet unless `force`."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} exists and is not a folder")
    if path.is_dir() and not force and any(path.iterdir()):
        raise OutputError(
            f"{option} {path} already holds files (an earlier run?): choose another folder, or pass "
            "--force to overwrite"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot create the folder ({exc.strerror})") from None
    _probe_dir(path, option)
