"""One rulebook for the parameters of the analyses: declarative constraints, one vocabulary.

In the spirit of scikit-learn's ``utils._param_validation``: a constraint says what a
parameter may be (`Interval`, `Options`) and checks a value against it, raising a
`ParameterError` that names the parameter, says what was expected and shows what came.
`check_int`, `check_real`, `check_positive_float`, `check_non_negative_float` and
`check_options` are the same rules as one-line calls; `check_params` applies a table of
constraints at once; `as_float_array`, `as_real_array` and `as_float_matrix` coerce array
arguments.

The rules, the same everywhere:

- An integer is a Python ``int`` or a numpy integer scalar (``np.int64(3)`` is welcome
  wherever ``3`` is: values that come out of arrays must not be second-class), never an
  array, not even a 0-d one. The result is always a plain Python ``int``.
- Booleans are refused where a number is expected, Python's and numpy's alike:
  ``True`` is an ``int`` subclass, but ``n_init=True`` is a mistake, not a 1.
- Floats are refused where an integer is expected, even integral ones (``2.0``,
  ``np.float64(3)``): a count or a size that went through float arithmetic may have lost
  exactness, and truncating it silently would hide the bug. Pass ``int(x)`` if meant.
- A real number is any ``numbers.Real`` (ints, floats, numpy integer and floating scalars,
  fractions), never a bool, a string or an array; it must be finite (NaN and +-inf are
  refused) and comes back as a Python ``float``.
- Bounds are inclusive unless ``closed`` says otherwise ("both", "left", "right",
  "neither" tell which ends are included, as in scikit-learn's ``Interval``).
- Messages read ``<name> must be <rule>[ (<note>)], got <value>``; a value too long to
  show (a 400-digit integer, a huge string) is abbreviated, never printed whole.

These checks are for parameters (scalars and options), called once per function call;
array contents are checked by the array helpers in one vectorised pass.

>>> check_int(np.int64(3), "k", 1)
3
>>> check_int(2.0, "k", 1)
Traceback (most recent call last):
...
geoinfer_workflows.errors.ParameterError: k must be an integer, got 2.0
>>> Interval(int, 0, 15).check(16, "resolution")
Traceback (most recent call last):
...
geoinfer_workflows.errors.ParameterError: resolution must be an integer in [0, 15], got 16
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from geoinfer_workflows.errors import ParameterError

__all__ = [
    "Interval",
    "Options",
    "as_float_array",
    "as_float_matrix",
    "as_real_array",
    "check_int",
    "check_non_negative_float",
    "check_options",
    "check_params",
    "check_positive_float",
    "check_real",
]

_CLOSED = ("both", "left", "right", "neither")
_MAX_SHOWN = 60  # characters of a refused value's repr that a message repeats


def _shown(value: Any) -> str:
    """repr of a refused value, abbreviated when it is too long to be useful in a message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    if len(text) > _MAX_SHOWN:
        return f"{text[: _MAX_SHOWN - 20]}... ({type(value).__name__}, {len(text)} characters)"
    return text


def _refuse(name: str, rule: str, value: Any, note: str) -> ParameterError:
    """The one message format: `name must be rule (note), got value`."""
    detail = f" ({note})" if note else ""
    return ParameterError(f"{name} must be {rule}{detail}, got {_shown(value)}")


def _bounds_text(minimum: Any, maximum: Any, closed: str) -> str:
    """' >= 1', ' in [0, 15]', ' > 0', ... or '' for an unbounded rule."""
    left_closed = closed in ("both", "left")
    right_closed = closed in ("both", "right")
    if minimum is not None and maximum is not None:
        opening, closing = "[" if left_closed else "(", "]" if right_closed else ")"
        return f" in {opening}{minimum}, {maximum}{closing}"
    if minimum is not None:
        return f" {'>=' if left_closed else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if right_closed else '<'} {maximum}"
    return ""


def _inside(number: Any, minimum: Any, maximum: Any, closed: str) -> bool:
    """Whether `number` lies within the bounds (None: that side open)."""
    if minimum is not None and (
        number < minimum or (number == minimum and closed in ("right", "neither"))
    ):
        return False
    return maximum is None or not (
        number > maximum or (number == maximum and closed in ("left", "neither"))
    )


def check_int(
    value: Any,
    name: str,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    closed: str = "both",
    note: str = "",
) -> int:
    """`value` as a Python int, if it is an integer (numpy's included) within the bounds.

    Parameters
    ----------
    value : int or numpy integer
        What the caller passed. Bools and floats (even ``2.0``) are refused.
    name : str
        The parameter's name, as the caller wrote it, for the message.
    minimum, maximum : int, optional
        Bounds; None leaves that side open. Inclusive unless `closed` says otherwise.
    closed : {"both", "left", "right", "neither"}
        Which bounds are included.
    note : str
        Appended to the message in parentheses: why the rule is what it is.

    Returns
    -------
    int
        ``operator.index(value)``: a plain int, whatever integer type came in.

    Raises
    ------
    ParameterError
        When `value` is not an integer or lies outside the bounds.

    Examples
    --------
    >>> check_int(np.int64(8), "k", 1)
    8
    >>> check_int(0, "n_init", 1)
    Traceback (most recent call last):
    ...
    geoinfer_workflows.errors.ParameterError: n_init must be an integer >= 1, got 0
    """
    if isinstance(value, bool | np.ndarray):  # a 0-d array has __index__: still an array
        raise _refuse(name, "an integer", value, note)
    try:
        number = operator.index(value)
    except TypeError:
        raise _refuse(name, "an integer", value, note) from None
    if not _inside(number, minimum, maximum, closed):
        raise _refuse(name, "an integer" + _bounds_text(minimum, maximum, closed), number, note)
    return number


def check_real(
    value: Any,
    name: str,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    closed: str = "both",
    note: str = "",
) -> float:
    """`value` as a Python float, if it is a finite real number within the bounds.

    Parameters
    ----------
    value : int, float or numpy real scalar
        Bools, strings, arrays and non-finite values (NaN, +-inf) are refused.
    name : str
        The parameter's name, for the message.
    minimum, maximum : float, optional
        Bounds; None leaves that side open.
    closed : {"both", "left", "right", "neither"}
        Which bounds are included.
    note : str
        Appended to the message in parentheses.

    Returns
    -------
    float
        ``float(value)``.

    Examples
    --------
    >>> check_real(np.float32(0.5), "power", 0.0, closed="neither")
    0.5
    >>> check_real(float("nan"), "h", 0.0)
    Traceback (most recent call last):
    ...
    geoinfer_workflows.errors.ParameterError: h must be a finite number >= 0.0, got nan
    """
    kind = type(value)  # float and int first: the ABC check below costs ~10x more
    real = kind is float or kind is int or (kind is not bool and isinstance(value, numbers.Real))
    try:
        number = float(value) if real else math.nan
    except OverflowError:  # an int beyond float range
        number = math.nan
    if not (math.isfinite(number) and _inside(number, minimum, maximum, closed)):
        rule = "a finite number" + _bounds_text(minimum, maximum, closed)
        raise _refuse(name, rule, value, note)
    return number


def check_positive_float(value: Any, name: str, *, note: str = "") -> float:
    """A finite real number > 0, as a float (distances, powers, scales).

    >>> check_positive_float(500, "eps_m")
    500.0
    """
    return check_real(value, name, 0.0, closed="right", note=note)


def check_non_negative_float(value: Any, name: str, *, note: str = "") -> float:
    """A finite real number >= 0, as a float (tolerances, thresholds, allowances).

    >>> check_non_negative_float(0, "tol")
    0.0
    """
    return check_real(value, name, 0.0, note=note)


def check_options(value: Any, name: str, options: Iterable[Any]) -> Any:
    """`value` itself if it is one of `options` (compared with ==), else a ParameterError.

    >>> check_options("ward", "linkage method", ("ward", "average"))
    'ward'
    >>> check_options("median", "linkage method", ("ward", "average"))
    Traceback (most recent call last):
    ...
    geoinfer_workflows.errors.ParameterError: unknown linkage method 'median'; valid: ward, average
    """
    valid = tuple(options)
    try:
        known = value in valid
    except Exception:  # an object whose == raises (e.g. an array) is simply not an option
        known = False
    if not known:
        listed = ", ".join(str(option) for option in valid)
        raise ParameterError(f"unknown {name} {_shown(value)}; valid: {listed}")
    return value


class Interval:
    """A numeric constraint: integers (``int``) or real numbers (``float``) between bounds.

    Parameters
    ----------
    kind : {int, float}
        ``int`` applies `check_int`'s rules, ``float`` those of `check_real`
        (``numbers.Integral`` and ``numbers.Real`` are accepted as synonyms).
    left, right : number or None
        Bounds; None leaves that side open.
    closed : {"both", "left", "right", "neither"}
        Which bounds are included.
    note : str
        Why the rule is what it is, appended to the message.

    Examples
    --------
    >>> Interval(int, 1, None).check(np.int32(4), "n_clusters")
    4
    >>> str(Interval(float, 0, 180, closed="right"))
    'a finite number in (0, 180]'
    """

    __slots__ = ("closed", "integer", "left", "note", "right")

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "both",
        note: str = "",
    ) -> None:
        if kind in (int, numbers.Integral):
            self.integer = True
        elif kind in (float, numbers.Real):
            self.integer = False
        else:
            raise TypeError(f"Interval kind must be int or float, got {kind!r}")
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {closed!r}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"empty interval: left={left} > right={right}")
        self.left = left
        self.right = right
        self.closed = closed
        self.note = note

    def check(self, value: Any, name: str) -> int | float:
        """`value` converted (int or float) if it satisfies the constraint."""
        checker = check_int if self.integer else check_real
        return checker(value, name, self.left, self.right, closed=self.closed, note=self.note)

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        return kind + _bounds_text(self.left, self.right, self.closed)

    def __repr__(self) -> str:
        kind = "int" if self.integer else "float"
        return f"Interval({kind}, {self.left!r}, {self.right!r}, closed={self.closed!r})"


class Options:
    """A constraint to one of a few values, usually strings (`check_options`' rule).

    `name` in the message is what the options are, e.g. "linkage method".

    >>> Options("R", "B").check("B", "transform")
    'B'
    """

    __slots__ = ("values",)

    def __init__(self, *values: Any) -> None:
        if not values:
            raise ValueError("Options needs at least one value")
        self.values = values

    def check(self, value: Any, name: str) -> Any:
        return check_options(value, name, self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)

    def __repr__(self) -> str:
        return f"Options{self.values!r}"


Constraint = Interval | Options


def check_params(
    values: Mapping[str, Any], constraints: Mapping[str, Constraint]
) -> dict[str, Any]:
    """Check every named value against its constraint, in the order of `constraints`.

    The declarative form: a module states its parameters' constraints once, as a table,
    and checks a call's values against it. Returns the converted values by name.

    >>> rules = {"k": Interval(int, 1, None), "power": Interval(float, 0, None, closed="right")}
    >>> check_params({"k": np.int64(8), "power": 2}, rules)
    {'k': 8, 'power': 2.0}
    """
    missing = set(constraints) - set(values)
    if missing:
        raise TypeError(f"no value given for constrained parameter(s) {sorted(missing)}")
    return {name: rule.check(values[name], name) for name, rule in constraints.items()}


def as_float_array(values: Any, name: str) -> np.ndarray:
    """`values` as a float64 array, or a ParameterError naming the argument.

    Anything numpy can turn into float64 is accepted (lists, ints, bools, numeric strings
    as numpy parses them); what it cannot (None, words, ragged lists) is a ParameterError.

    >>> as_float_array([1, 2], "lat").dtype
    dtype('float64')
    """
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be numeric array-like") from None


def as_real_array(values: Any, name: str) -> np.ndarray:
    """`values` as an array of numbers: float arrays as they are (float32 stays float32),
    bool and integer arrays as float64; anything else (strings, objects, complex, dates) is
    a ParameterError.

    >>> as_real_array(np.arange(3, dtype=np.float32), "x").dtype
    dtype('float32')
    >>> as_real_array([1, 2], "x").dtype
    dtype('float64')
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def as_float_matrix(X: Any, name: str = "X") -> np.ndarray:
    """A finite (n, d) float64 matrix with at least one row and one column.

    >>> as_float_matrix([[0, 1], [2, 3]]).shape
    (2, 2)
    """
    X = as_float_array(X, name)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"{name} must be a non-empty (n, d) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ParameterError(f"{name} must be finite (drop or impute NaN/inf rows)")
    return X
