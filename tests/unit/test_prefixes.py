"""native/tools/check_prefixes.py (issue 15: a bms_ prefix on every external name of the core).

The checker runs on the real tree (objects compiled here from native/src and native/gen, the
real headers) and must pass; on a small header and object with unprefixed names it must fail
and name each of them, and only them.
"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "native" / "tools" / "check_prefixes.py"
HEADERS = sorted(str(p) for p in (ROOT / "native" / "include" / "bms").glob("*.h"))
CORE_SOURCES = sorted([*(ROOT / "native" / "src").glob("*.c"), *(ROOT / "native" / "gen").glob("*.c")])
checker = runpy.run_path(str(TOOL))


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )


def compile_c(src: Path, obj: Path, *include: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is one of the build's prerequisites"
    flags = [f"-I{p}" for p in include]
    subprocess.run([gcc, "-std=c11", "-O0", *flags, "-c", str(src), "-o", str(obj)], check=True)


@pytest.fixture(scope="module")
def core_objects(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("core")
    objs = []
    for src in CORE_SOURCES:
        obj = out / f"{src.stem}.o"
        compile_c(src, obj, ROOT / "native" / "include", ROOT / "native" / "gen")
        objs.append(str(obj))
    return objs


def test_the_real_tree_is_fully_prefixed(core_objects):
    assert len(core_objects) == len(CORE_SOURCES) >= 14
    symbols = checker["object_symbols"](core_objects)
    assert any(s == "bms_step" for _, s in symbols)  # the objects were really read
    r = run_tool("--objects", *core_objects, "--headers", *HEADERS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (
        r.stdout == f"check_prefixes: {len(core_objects)} object(s), {len(HEADERS)} header(s): all prefixed\n"
    )


def test_the_real_headers_are_parsed_not_skipped():
    # names the header parser must see in the real headers (one of each kind)
    names = {
        (kind, name)
        for h in HEADERS
        for kind, name in checker["header_names"](Path(h).read_text(encoding="utf-8"))
    }
    for expected in [
        ("function", "bms_contactor_step"),
        ("typedef", "bms_contactor_t"),
        ("enum constant", "BMS_CONTACTOR_OPEN"),
        ("macro", "BMS_CMD_R_ACCEPTED"),
        ("macro", "BMS_PROTO_MSG_HELLO"),
        ("function", "bms_canl_rx"),
    ]:
        assert expected in names
    assert not any(name.endswith("_H") and kind == "macro" for kind, name in names)  # guards


BAD_HEADER = """\
#ifndef PLAIN_GUARD_H
#define PLAIN_GUARD_H
#include <stdint.h>
/* contactor_step is only mentioned in a comment */
#define BMS_GOOD_LIMIT 3
#define RAW_LIMIT 4
#define SQUARE(x) ((x) * (x))
#define LOOSE_SUM(a, b) \\
    ((a) + (b))
typedef enum { BMS_GOOD_A = 0, LOOSE_B = 1 } bms_good_enum_t;
typedef struct { uint8_t widget; } widget_t;
typedef struct widget_tag { int x; } bms_widget2_t;
typedef void (*callback_fn)(int code);
int32_t widget_step(widget_t *w, int32_t dt_ms);
int32_t bms_widget_ok(const bms_widget2_t *w);
extern uint32_t widget_count;
void widget_register(void (*bms_cb)(int code), uint32_t n);
#endif /* PLAIN_GUARD_H */
"""
BAD_EXPECTED = {
    ("macro", "RAW_LIMIT"),
    ("macro", "SQUARE"),
    ("macro", "LOOSE_SUM"),
    ("enum constant", "LOOSE_B"),
    ("typedef", "widget_t"),
    ("struct tag", "widget_tag"),
    ("typedef", "callback_fn"),
    ("function", "widget_step"),
    ("variable", "widget_count"),
    ("function", "widget_register"),
}

BAD_SOURCE = """\
#include <stdint.h>
static int32_t helper(int32_t x) { return x + 1; }
int32_t bms_fine(int32_t x) { return helper(x); }
int32_t loose_function(int32_t x) { return helper(x) * 2; }
uint32_t loose_counter = 3u;
"""


def test_a_header_with_unprefixed_names_fails_and_names_each(tmp_path):
    h = tmp_path / "widget.h"
    h.write_text(BAD_HEADER)
    r = run_tool("--objects", "--headers", str(h))
    assert r.returncode == 1
    found = set(
        re.findall(r": (macro|enum constant|typedef|struct tag|function|variable) (\w+) lacks", r.stdout)
    )
    assert found == BAD_EXPECTED
    assert "PLAIN_GUARD_H" not in r.stdout and "contactor_step" not in r.stdout
    assert r.stderr == f"check_prefixes: {len(BAD_EXPECTED)} name(s) without the prefix\n"


def test_an_object_with_unprefixed_symbols_fails_and_names_them(tmp_path):
    src = tmp_path / "loose.c"
    src.write_text(BAD_SOURCE)
    obj = tmp_path / "loose.o"
    compile_c(src, obj)
    r = run_tool("--objects", str(obj), "--headers")
    assert r.returncode == 1
    named = re.findall(r"external symbol (\w+) lacks", r.stdout)
    assert sorted(named) == ["loose_counter", "loose_function"]  # not bms_fine, not static helper


def test_one_bad_name_among_the_real_tree_is_caught(core_objects, tmp_path):
    h = tmp_path / "extra.h"
    h.write_text("#define BMS_FINE 1\n#define PROTO_MSG_HELLO 1\n")
    r = run_tool("--objects", *core_objects, "--headers", *HEADERS, str(h))
    assert r.returncode == 1
    assert r.stdout == f"{h}: macro PROTO_MSG_HELLO lacks the bms_/BMS_ prefix\n"


def test_a_missing_file_is_a_one_line_error(tmp_path):
    r = run_tool("--objects", "--headers", str(tmp_path / "nope.h"))
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("check_prefixes: cannot read")


def test_make_lint_c_runs_the_checker():
    make = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint-c: build/core/libbmscore\.a.*?\n((?:\t.*\n)+)", make, re.M)
    assert recipe and "native/tools/check_prefixes.py" in recipe.group(1)
