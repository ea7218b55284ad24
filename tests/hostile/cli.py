"""The `bms` command in-process for the hostile-input tests, and the one-line error every
refusal must be."""

from __future__ import annotations

from click.testing import CliRunner

from bms.cli import main


def run(*args: object) -> tuple[int, str, str]:
    """`bms ARGS` in this process: (exit code, stdout, stderr)."""
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """Exit 2, one line on stderr starting 'error: ', no traceback, each fragment in it."""
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)
