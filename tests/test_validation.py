"""validation: one rulebook for parameters (integers, reals, options, arrays)."""

from __future__ import annotations

import fractions
import math

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.validation import (
    Interval,
    Options,
    as_float_array,
    as_float_matrix,
    as_real_array,
    check_int,
    check_non_negative_float,
    check_options,
    check_params,
    check_positive_float,
    check_real,
)

pytestmark = pytest.mark.filterwarnings("error")

INTEGERS = [3, np.int64(3), np.int32(3), np.uint8(3), np.intp(3)]
NOT_INTEGERS = [True, False, np.True_, 3.0, np.float64(3.0), 2.5, "3", None, [3], np.array(3)]


# ------------------------------------------------------------------------------ integers


@pytest.mark.parametrize("value", INTEGERS)
def test_check_int_accepts_python_and_numpy_integers_as_plain_int(value):
    got = check_int(value, "k", 1)
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_check_int_refuses_bools_floats_even_integral_and_other_types(value):
    with pytest.raises(ParameterError, match=r"^k must be an integer, got "):
        check_int(value, "k", 1)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (0, {"minimum": 1}, "n must be an integer >= 1, got 0"),
        (16, {"minimum": 0, "maximum": 15}, "n must be an integer in [0, 15], got 16"),
        (-1, {"minimum": 0, "maximum": 15}, "n must be an integer in [0, 15], got -1"),
        (9, {"maximum": 8}, "n must be an integer <= 8, got 9"),
        (0, {"minimum": 0, "closed": "neither"}, "n must be an integer > 0, got 0"),
        (
            5,
            {"minimum": 0, "maximum": 5, "closed": "left"},
            "n must be an integer in [0, 5), got 5",
        ),
    ],
)
def test_check_int_bounds_and_messages(value, kwargs, message):
    with pytest.raises(ParameterError) as info:
        check_int(value, "n", **kwargs)
    assert str(info.value) == message


def test_check_int_bounds_are_inclusive_by_default_and_unbounded_without_them():
    assert check_int(0, "n", 0, 15) == 0
    assert check_int(15, "n", 0, 15) == 15
    assert check_int(-(10**30), "n") == -(10**30)


def test_check_int_note_says_why_and_huge_values_are_abbreviated():
    with pytest.raises(ParameterError, match=r"\(one repeat is normal\), got 1$"):
        check_int(1, "stuck_hours", 2, note="one repeat is normal")
    with pytest.raises(ParameterError) as info:
        check_int(10**400, "chunk_rows", 1, 10**6)
    assert "401 digits" in str(info.value) and len(str(info.value)) < 120
    with pytest.raises(ParameterError) as info:
        check_int("x" * 10_000, "k")
    assert len(str(info.value)) < 120


def test_parameter_error_is_a_value_error():
    with pytest.raises(ValueError):
        check_int(0, "k", 1)


# ---------------------------------------------------------------------------------- reals


@pytest.mark.parametrize(
    "value", [2, 2.0, np.float32(2.0), np.float64(2.0), np.int64(2), fractions.Fraction(2)]
)
def test_check_real_accepts_real_numbers_as_float(value):
    got = check_real(value, "power")
    assert got == 2.0 and type(got) is float


@pytest.mark.parametrize(
    "value",
    [True, np.True_, "2", None, 1j, np.array(2.0), [2.0], math.nan, math.inf, -math.inf, 10**400],
)
def test_check_real_refuses_bools_strings_arrays_and_non_finite(value):
    with pytest.raises(ParameterError, match=r"^power must be a finite number"):
        check_real(value, "power")


def test_positive_and_non_negative_floats():
    assert check_positive_float(1e-300, "eps_m") == 1e-300
    assert check_non_negative_float(0, "tol") == 0.0
    with pytest.raises(ParameterError, match=r"^eps_m must be a finite number > 0.0, got 0$"):
        check_positive_float(0, "eps_m")
    with pytest.raises(ParameterError, match=r"^tol must be a finite number >= 0.0, got -1e-09$"):
        check_non_negative_float(-1e-9, "tol")


def test_check_real_interval_ends():
    assert check_real(180, "cell_deg", 0, 180, closed="right") == 180.0
    with pytest.raises(ParameterError, match=r"in \(0, 180\]"):
        check_real(0, "cell_deg", 0, 180, closed="right")
    with pytest.raises(ParameterError, match=r"in \(0, 180\]"):
        check_real(180.5, "cell_deg", 0, 180, closed="right")


# ------------------------------------------------------------------ declarative constraints


def test_interval_is_the_same_rule_as_the_check_functions():
    assert Interval(int, 1, None).check(np.int64(4), "k") == 4
    with pytest.raises(ParameterError, match=r"^k must be an integer >= 1, got 0$"):
        Interval(int, 1, None).check(0, "k")
    with pytest.raises(ParameterError, match=r"^k must be an integer, got 4.0$"):
        Interval(int, 1, None).check(4.0, "k")
    assert Interval(float, 0, None, closed="right").check(np.int64(4), "p") == 4.0
    assert str(Interval(int, 0, 15)) == "an integer in [0, 15]"
    assert str(Interval(float, None, None)) == "a finite number"
    assert "Interval(int, 0, 15" in repr(Interval(int, 0, 15))


def test_interval_refuses_to_be_built_wrong():
    with pytest.raises(TypeError):
        Interval(str, 0, 1)
    with pytest.raises(ValueError):
        Interval(int, 0, 1, closed="open")
    with pytest.raises(ValueError):
        Interval(int, 2, 1)


def test_options():
    assert Options("R", "B").check("R", "transform") == "R"
    assert str(Options("R", "B")) == "one of R, B"
    with pytest.raises(ParameterError, match=r"^unknown transform 'C'; valid: R, B$"):
        Options("R", "B").check("C", "transform")
    with pytest.raises(ParameterError, match="valid: ward"):
        check_options(np.array(["ward", "single"]), "linkage method", ("ward", "single"))
    with pytest.raises(ParameterError):
        check_options(["ward"], "linkage method", {"ward": 1})
    with pytest.raises(ValueError):
        Options()


def test_check_params_applies_a_table_in_order():
    rules = {"k": Interval(int, 1, None), "power": Interval(float, 0, None, closed="right")}
    assert check_params({"k": np.int64(2), "power": 1}, rules) == {"k": 2, "power": 1.0}
    with pytest.raises(ParameterError, match=r"^k must"):
        check_params({"k": 0, "power": 0}, rules)  # first constraint first
    with pytest.raises(TypeError, match="power"):
        check_params({"k": 1}, rules)


# ---------------------------------------------------------------------------------- arrays


def test_array_helpers():
    assert as_float_array([1, 2], "x").dtype == np.float64
    with pytest.raises(ParameterError, match=r"^lat must be numeric array-like$"):
        as_float_array(["a"], "lat")
    f32 = np.ones(3, dtype=np.float32)
    assert as_real_array(f32, "x") is f32
    assert as_real_array(np.array([True]), "x").dtype == np.float64
    for bad in (np.array(["1"]), np.array([1j]), np.array(["2020-01-01"], dtype="datetime64[D]")):
        with pytest.raises(ParameterError, match="must be numeric, got dtype"):
            as_real_array(bad, "x")
    assert as_float_matrix([[1, 2]]).shape == (1, 2)
    for bad in ([], [1.0, 2.0], [[np.nan, 1.0]], np.empty((3, 0))):
        with pytest.raises(ParameterError, match=r"^X must"):
            as_float_matrix(bad)
