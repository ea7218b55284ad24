"""bms/schema.py: the one set of rules every TOML loader uses; each refusal names the field,
the value and the rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from bms.errors import ConfigError
from bms.schema import (
    MAX_BASE_DEPTH,
    array,
    flag,
    in_file,
    number,
    read_toml,
    read_toml_based,
    section,
    table,
    text,
)


def _refused(fn, *args, **kw) -> str:
    with pytest.raises(ConfigError) as exc:
        fn(*args, **kw)
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# ---- tables ----------------------------------------------------------------------------------


def test_table_names_unknown_keys_and_the_allowed_ones():
    msg = _refused(table, {"a": 1, "zz": 2}, "sec", {"a", "b"})
    assert msg == "unknown field(s) in 'sec': zz (allowed: a, b)"


def test_table_names_missing_keys():
    assert _refused(table, {"a": 1}, "sec", {"a", "b", "c"}, {"b", "c"}) == "missing field(s) in 'sec': b, c"


def test_table_refuses_a_non_table_and_names_the_kind_of_key():
    assert _refused(table, [1, 2], "sec", {"a"}) == "'sec' must be a table, got [1, 2]"
    assert _refused(table, {"x": {}}, "top level", {"a"}, kind="section").startswith(
        "unknown section(s) in 'top level': x"
    )


def test_table_passes_a_good_table_through():
    d = {"a": 1}
    assert table(d, "sec", {"a", "b"}, {"a"}) is d
    assert table({"anything": 1}, "fit", None) == {"anything": 1}  # None: any key


# ---- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("v", [True, False])
def test_a_bool_is_not_a_number(v):
    assert _refused(number, v, "s.x") == f"field 's.x' must be a finite number, got {v!r}"
    assert "must be an integer" in _refused(number, v, "s.n", integer=True)


@pytest.mark.parametrize("v", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused_naming_the_field(v):
    assert _refused(number, v, "s.x", 0, 1) == f"field 's.x' must be a finite number within [0, 1], got {v!r}"


@pytest.mark.parametrize("v", ["1.0", None, [1.0], {"a": 1}])
def test_a_non_number_is_refused(v):
    assert _refused(number, v, "s.x") == f"field 's.x' must be a finite number, got {v!r}"


@pytest.mark.parametrize(
    ("v", "kw", "rule"),
    [
        (-0.5, {"lo": 0}, ">= 0"),
        (0.0, {"lo": 0, "lo_open": True}, "> 0"),
        (5.0, {"hi": 5, "hi_open": True}, "< 5"),
        (5.5, {"hi": 5}, "<= 5"),
        (1.5, {"lo": 0, "hi": 1}, "within [0, 1]"),
        (0.0, {"lo": 0, "hi": 1, "lo_open": True}, "within (0, 1]"),
        (1.0, {"lo": 0, "hi": 1, "hi_open": True}, "within [0, 1)"),
        (-1.0, {"lo": 0, "hi": 3_600_000, "unit": "ms"}, "within [0, 3600000] ms"),
        (2e-6, {"lo": 1e-5, "hi": 0.5}, "within [1e-05, 0.5]"),
    ],
)
def test_each_range_rule_refuses_naming_field_rule_and_value(v, kw, rule):
    assert _refused(number, v, "sec.f", **kw) == f"field 'sec.f' must be a finite number {rule}, got {v!r}"


@pytest.mark.parametrize(
    ("v", "kw", "want"),
    [
        (0, {"lo": 0}, 0.0),
        (1, {"lo": 0, "hi": 1}, 1.0),
        (0.5, {"lo": 0, "hi": 1, "lo_open": True, "hi_open": True}, 0.5),
        (-40, {}, -40.0),
        (1e300, {}, 1e300),
    ],
)
def test_good_numbers_pass_as_floats(v, kw, want):
    got = number(v, "sec.f", **kw)
    assert got == want and type(got) is float


def test_integers():
    assert number(7, "sec.n", 1, integer=True) == 7
    assert type(number(7, "sec.n", integer=True)) is int
    assert _refused(number, 0, "sec.n", 1, integer=True) == "field 'sec.n' must be an integer >= 1, got 0"
    assert _refused(number, 2.5, "sec.n", integer=True) == "field 'sec.n' must be an integer, got 2.5"
    # one rule for every file: a whole number written as a float is that integer
    got = number(3.0, "sec.n", integer=True)
    assert got == 3 and type(got) is int
    assert "got 3.5" in _refused(number, 3.5, "sec.n", integer=True)


def test_text_and_flag():
    assert text("a", "s.name") == "a"
    assert _refused(text, 3, "s.name") == "field 's.name' must be text, got 3"
    assert flag(False, "s.on") is False
    assert _refused(flag, 1, "s.on") == "field 's.on' must be true or false, got 1"


# ---- arrays ----------------------------------------------------------------------------------


def test_array_good_1d_and_2d():
    a = array([0, 0.5, 1], "t.soc", 1)
    assert a.dtype == float and a.tolist() == [0.0, 0.5, 1.0]
    assert array([[1, 2], [3, 4]], "t.r0", 2).shape == (2, 2)


def test_array_refusals_name_the_field():
    assert _refused(array, [[1, 2]], "t.soc", 1) == "field 't.soc' must be a list, got shape (1, 2)"
    assert _refused(array, [1, 2], "t.r0", 2).startswith("field 't.r0' must be a list of lists")
    assert _refused(array, [1.0, math.nan], "t.soc", 1) == "field 't.soc' has a NaN or infinite value"
    assert _refused(array, [[1.0], [math.inf]], "t.r0", 2) == "field 't.r0' has a NaN or infinite value"
    assert _refused(array, [[1, 2], [3]], "t.r0", 2).startswith("field 't.r0' must be numbers")
    assert _refused(array, ["a", "b"], "t.soc", 1).startswith("field 't.soc' must be numbers")


# ---- sections (a dataclass from a table) -------------------------------------------------------


@dataclass
class _Spec:
    need: float
    gain: float = 1.0
    count: int = 2
    on: bool = True
    label: str = "x"
    opt: float | None = None
    names: tuple[str, ...] = ()


def test_section_fills_a_dataclass_by_its_field_types():
    s = section(_Spec, {"need": 2, "count": 5, "on": False, "label": "y", "opt": -1.5}, "spec")
    assert s == _Spec(need=2.0, count=5, on=False, label="y", opt=-1.5)
    assert type(s.need) is float and type(s.count) is int


def test_section_refusals_name_the_field():
    assert _refused(section, _Spec, {}, "spec") == "missing field(s) in 'spec': need"
    assert _refused(section, _Spec, {"need": 1, "gian": 2}, "spec").startswith(
        "unknown field(s) in 'spec': gian (allowed: count, gain, label, names, need, on, opt)"
    )
    assert (
        _refused(section, _Spec, {"need": 1, "count": -1}, "spec")
        == "field 'spec.count' must be an integer >= 0, got -1"
    )
    assert "field 'spec.on' must be true or false" in _refused(section, _Spec, {"need": 1, "on": 1}, "spec")
    assert "field 'spec.label' must be text" in _refused(section, _Spec, {"need": 1, "label": 1}, "spec")
    assert (
        _refused(section, _Spec, {"need": True}, "spec")
        == "field 'spec.need' must be a finite number, got True"
    )
    # lo bounds every float
    msg = _refused(section, _Spec, {"need": 1, "gain": -0.1}, "spec", lo=0)
    assert msg == "field 'spec.gain' must be a finite number >= 0, got -0.1"
    # a field of a type without a rule needs its own parser
    with pytest.raises(TypeError, match=r"spec\.names"):
        section(_Spec, {"need": 1, "names": ["a"]}, "spec")


def test_section_parsers_and_whole_floats():
    s = section(_Spec, {"need": 1, "names": ["a", "b"]}, "spec", parsers={"names": lambda v, where: tuple(v)})
    assert s.names == ("a", "b")
    assert section(_Spec, {"need": 1, "count": 4.0}, "spec").count == 4
    assert "must be an integer" in _refused(section, _Spec, {"need": 1, "count": 4.5}, "spec")


# ---- files -----------------------------------------------------------------------------------


def test_in_file_prefixes_the_source():
    for source, prefix in (("f.toml", "f.toml: "), (None, ""), ("", "")):
        with pytest.raises(ConfigError) as exc, in_file(source):
            number(math.nan, "a.b")
        assert str(exc.value) == f"{prefix}field 'a.b' must be a finite number, got nan"


def test_read_toml(tmp_path):
    p = tmp_path / "a.toml"
    p.write_bytes(b"\xef\xbb\xbf[s]\nx = 1\n")  # a BOM is fine
    assert read_toml(p, "scenario file") == {"s": {"x": 1}}
    p.write_bytes(b"\x00\xff\xfe")
    assert _refused(read_toml, p, "cell file") == (
        f"{p}: not a text (UTF-8) TOML cell file: byte 1 is 0xff (a binary file?)"
    )
    p.write_text("[s\n")
    assert _refused(read_toml, p).startswith(f"{p}: not valid TOML (")
    assert _refused(read_toml, tmp_path / "none.toml", "campaign file").startswith(
        f"{tmp_path / 'none.toml'}: cannot read the campaign file ("
    )


# ---- files with a base ---------------------------------------------------------------------


def test_a_file_with_a_base_is_the_base_with_its_tables_merged_in(tmp_path):
    (tmp_path / "a.toml").write_text('[x]\nk = 1\nm = [1, 2]\n[x.sub]\np = 1\nq = 2\n[y]\nz = "a"\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\n[x]\nm = [3]\n[x.sub]\nq = 5\n[w]\nv = 1\n')
    assert read_toml_based(tmp_path / "b.toml") == {
        "x": {"k": 1, "m": [3], "sub": {"p": 1, "q": 5}},
        "y": {"z": "a"},
        "w": {"v": 1},
    }
    # the base itself is read as it is
    assert read_toml_based(tmp_path / "a.toml")["x"]["m"] == [1, 2]


def test_a_path_a_base_states_stays_relative_to_the_base(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.toml").write_text('[chemistry]\ncell_file = "cells/c.toml"\n')
    (tmp_path / "b.toml").write_text('base = "lib/a.toml"\n[chemistry]\nname = "v"\n')
    d = read_toml_based(tmp_path / "b.toml", paths=(("chemistry", "cell_file"),))
    assert d["chemistry"] == {"cell_file": str(tmp_path / "lib" / "cells" / "c.toml"), "name": "v"}


def test_bad_bases_are_refused_in_one_line(tmp_path):
    (tmp_path / "loop1.toml").write_text('base = "loop2.toml"\n')
    (tmp_path / "loop2.toml").write_text('base = "loop1.toml"\n')
    assert "(a loop)" in _refused(read_toml_based, tmp_path / "loop1.toml")
    (tmp_path / "self.toml").write_text('base = "self.toml"\n')
    assert "(a loop)" in _refused(read_toml_based, tmp_path / "self.toml")
    (tmp_path / "gone.toml").write_text('base = "nowhere.toml"\n')
    assert "nowhere.toml not found" in _refused(read_toml_based, tmp_path / "gone.toml")
    (tmp_path / "num.toml").write_text("base = 3\n")
    assert "'base' must be a file name" in _refused(read_toml_based, tmp_path / "num.toml")
    # a chain: MAX_BASE_DEPTH bases are fine, one more is refused
    (tmp_path / "c0.toml").write_text("[t]\nk = 0\n")
    for i in range(1, MAX_BASE_DEPTH + 2):
        (tmp_path / f"c{i}.toml").write_text(f'base = "c{i - 1}.toml"\n[t]\nk = {i}\n')
    assert read_toml_based(tmp_path / f"c{MAX_BASE_DEPTH}.toml") == {"t": {"k": MAX_BASE_DEPTH}}
    msg = _refused(read_toml_based, tmp_path / f"c{MAX_BASE_DEPTH + 1}.toml")
    assert f"more than {MAX_BASE_DEPTH} 'base' files" in msg
