"""The shared infrastructure: atomic writes, strict JSON, available memory, byte formatting."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit._io import atomic_write, dumps_strict, strict_json, write_json_atomic
from parareal_toolkit._resources import available_memory, format_bytes

_json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
_json_values = st.recursive(
    _json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
)


def _nonfinite_to_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nonfinite_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nonfinite_to_none(v) for v in value]
    return value


@given(_json_values)
def test_strict_json_is_parseable_by_a_strict_parser_and_keeps_every_finite_value(value):
    text = dumps_strict(value)
    back = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))
    assert back == _nonfinite_to_none(value)
    assert strict_json(strict_json(value)) == strict_json(value)


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"a": 1.0})
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write('{"a": ')
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"a": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    with atomic_write(tmp_path / "new" / "b.bin", "wb", fsync=True) as fh:
        fh.write(b"\x00\x01")
    assert (tmp_path / "new" / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="`mode`"), atomic_write(target, "a"):
        pass


def test_write_json_atomic_writes_null_for_non_finite_values(tmp_path):
    path = write_json_atomic(tmp_path / "x.json", {"error": float("nan"), "rates": (1.0, -math.inf)})
    assert json.loads(path.read_text()) == {"error": None, "rates": [1.0, None]}


@given(st.floats(min_value=0, max_value=1e25, allow_nan=False))
def test_format_bytes_has_a_unit_and_at_most_three_significant_digits_or_a_whole_number(count):
    number, unit = format_bytes(count).split(" ")
    assert unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    assert "e" not in number
    value = float(number) * 1024 ** ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB").index(unit)
    assert value == pytest.approx(count, rel=0.006, abs=0.5)


def test_available_memory_is_a_positive_byte_count_on_this_machine():
    memory = available_memory()
    assert memory is None or (isinstance(memory, int) and memory > 0)
