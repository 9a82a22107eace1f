"""validation: one rulebook for parameters (integers, reals, options, arrays)."""

from __future__ import annotations

import fractions
import math

import numpy as np
import pytest

from geoinfer_workflows.errors import ParameterError
from geoinfer_workflows.modules import ag, climate, health, iot, risk, space, temporal
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


# ------------------------------------------------- the same rule in every module (issue 10)


def _hourly() -> np.ndarray:
    return np.random.default_rng(0).normal(10.0, 3.0, size=(3, 24 * 40))


_POINTS = np.random.default_rng(1).normal(size=(60, 2))
# (name, call with the integer parameter, a valid value): np.int64 was accepted by kmeans
# and refused by quality_control; now every integer parameter follows one rule.
INTEGER_PARAMETERS = [
    ("space.h3_cells resolution", lambda v: space.h3_cells([51.5], [-0.1], v), 9),
    ("space.h3_cell_spacing_m resolution", space.h3_cell_spacing_m, 9),
    ("space.kmeans k", lambda v: space.kmeans(_POINTS, v, seed=0).labels, 3),
    ("space.dbscan min_samples", lambda v: space.dbscan([0, 0], [0, 0], eps_m=1, min_samples=v), 2),
    ("space.hierarchical n_clusters", lambda v: space.hierarchical(_POINTS, v), 3),
    ("space.idw k", lambda v: space.idw([0, 1], [0, 1], [1.0, 2.0], [0.5], [0.5], k=v), 2),
    ("risk.knn_weights k", lambda v: risk.knn_weights(_POINTS, v).toarray(), 4),
    ("risk.local_moran permutations",
     lambda v: risk.local_moran(_POINTS[:, 0], risk.knn_weights(_POINTS, 4), permutations=v).p, 9),
    ("risk.ears_c2 baseline", lambda v: risk.ears_c2(_hourly()[:, :50], baseline=v), 7),
    ("risk.cusum_alerts baseline", lambda v: risk.cusum_alerts(_hourly()[:, :50], baseline=v), 8),
    ("temporal.rolling_mean window", lambda v: temporal.rolling_mean(_hourly(), v), 5),
    ("temporal.resample_mean factor", lambda v: temporal.resample_mean(_hourly(), v), 24),
    ("temporal.period_index period_s", lambda v: temporal.period_index(np.arange(9), v), 3),
    ("climate.quality_control stuck_hours",
     lambda v: climate.quality_control(_hourly(), stuck_hours=v).valid, 6),
    ("climate.daily_means min_hours", lambda v: climate.daily_means(_hourly(), min_hours=v), 18),
    ("climate.climatology window",
     lambda v: climate.climatology(climate.daily_means(_hourly()), window=v), 15),
    ("health.cell_week_counts n_weeks",
     lambda v: health.cell_week_counts(np.array([1, 2]), np.array([0, 10]), n_weeks=v).counts, 3),
    ("iot.StreamingAggregator n_sensors", lambda v: iot.StreamingAggregator(v).n_sensors, 4),
    ("iot.iter_chunks chunk_rows", lambda v: list(iot.iter_chunks(10, v)), 3),
    ("ag.management_zones n_zones", lambda v: ag.management_zones(_POINTS, v), 3),
]  # fmt: skip


@pytest.mark.parametrize(("what", "call", "value"), INTEGER_PARAMETERS, ids=lambda x: x)
def test_numpy_integers_are_integers_in_every_module(what, call, value):
    expected = call(value)
    for numpy_value in (np.int64(value), np.int32(value)):
        np.testing.assert_array_equal(call(numpy_value), expected)


@pytest.mark.parametrize(("what", "call", "value"), INTEGER_PARAMETERS, ids=lambda x: x)
def test_bools_and_floats_are_not_integers_in_any_module(what, call, value):
    name = what.split()[-1]
    for bad in (float(value), np.float64(value), True):
        with pytest.raises(ParameterError, match=rf"{name} must be an integer"):
            call(bad)
