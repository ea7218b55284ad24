"""Checks that need no board: a firmware whose structs or sources differ from this host's
build is refused with a clear message; a missing QEMU is named."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bms._native import ffi, lib
from bms.targets.base import TargetError
from hil.targets.qemu import QemuError, find_qemu
from hil.targets.remote import check_hello


def hello(**kw: int) -> SimpleNamespace:
    d = dict(config_size=ffi.sizeof("bms_config_t"), layout_hash=lib.bms_proto_layout_hash(), source_hash=7)
    d.update(kw)
    return SimpleNamespace(**d)


def test_matching_hello_passes():
    check_hello(hello())
    check_hello(hello(), expect_source_hash=7)


def test_size_mismatch_is_refused():
    with pytest.raises(TargetError, match=r"bms_config_t is 12 bytes, this host's is \d+"):
        check_hello(hello(config_size=12))


def test_layout_mismatch_is_refused():
    with pytest.raises(TargetError, match="struct layout hash differs"):
        check_hello(hello(layout_hash=lib.bms_proto_layout_hash() ^ 1))


def test_stale_firmware_is_refused():
    with pytest.raises(TargetError, match=r"built from other sources .* rebuild it \(make firmware\)"):
        check_hello(hello(), expect_source_hash=8)


def test_missing_qemu_is_a_clear_error():
    with pytest.raises(QemuError, match="'qemu-system-nonexistent' not found: install it"):
        find_qemu("qemu-system-nonexistent")


def test_layout_hash_covers_every_config_field():
    """bms_proto_layout_hash lists offsets by hand: a field added to bms_config_t must move the
    size or an offset it lists. Here: the total of the struct's leaf fields is its size."""

    def leaves(t: object) -> int:
        if t.kind == "struct":
            return sum(leaves(f.type) for _, f in t.fields)
        if t.kind == "array":
            return t.length * leaves(t.item)
        return ffi.sizeof(t)

    size = ffi.sizeof("bms_config_t")
    assert leaves(ffi.typeof("bms_config_t")) <= size  # padding only adds
