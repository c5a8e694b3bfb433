"""Where user data enters ``nn``: array-likes to plain Python lists, checked once.

``fit``, ``evaluate``, ``predict`` and the command lines take inputs and
targets as whatever people hold them in: lists, tuples, numpy arrays of any
real dtype (numpy's integer, boolean and float scalars count as numbers) and,
when pandas is installed, DataFrames and Series (read through their
``to_numpy()``; pandas is never imported here). This module turns them into
what the layers take, nested lists of Python floats, and refuses bad data
*before* any training starts, naming the argument, the place and the fix:

* :func:`as_inputs`: samples of features (a row of numbers, or nested lists
  for images ``[C][H][W]`` and sequences ``[T][features]``). Ragged rows,
  non-numeric entries, NaN or infinity and empty sets raise ``ValueError``.
* :func:`as_targets`: one target per sample: a class label (int, bool or
  string) or a number, or a row of numbers (several regression outputs).
* :func:`find_classes`: the sorted distinct labels, scikit-learn's
  ``LabelEncoder.classes_``.

>>> as_inputs([(1, 2.5), [True, 0]])
[[1.0, 2.5], [1.0, 0.0]]
>>> as_targets(["b", "a", "b"]), find_classes(["b", "a", "b"])
(['b', 'a', 'b'], ['a', 'b'])
>>> as_inputs([[1.0, 2.0], [3.0]])
Traceback (most recent call last):
...
ValueError: X: row 1 has 1 value(s) but row 0 has 2; every sample needs the same shape
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = ["as_inputs", "as_targets", "find_classes", "is_label", "to_plain"]


def _is_numpy(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "numpy" and hasattr(x, "dtype")


def to_plain(x: Any) -> Any:
    """A pandas object as a numpy array (``to_numpy()``), anything else unchanged."""
    module = type(x).__module__.split(".")[0]
    if module == "pandas" and hasattr(x, "to_numpy"):
        return x.to_numpy()
    return x


def _where(path: tuple[int, ...]) -> str:
    """``(3, 1)`` -> ``row 3, column 1``; deeper paths as indices."""
    if len(path) == 1:
        return f"row {path[0]}"
    if len(path) == 2:
        return f"row {path[0]}, column {path[1]}"
    return f"row {path[0]}, index {''.join(f'[{i}]' for i in path[1:])}"


def _is_bool(v: Any) -> bool:
    """A Python or numpy bool (``numpy.bool_``, named ``bool`` in numpy 2)."""
    return isinstance(v, bool) or (type(v).__module__ == "numpy"
                                   and type(v).__name__ in ("bool_", "bool"))


def _number(v: Any, name: str, path: tuple[int, ...], fix: str) -> float:
    if _is_bool(v):
        return 1.0 if v else 0.0
    if isinstance(v, numbers.Real):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{name}: {_where(path)} is {f!r}; remove or impute missing and "
                             "infinite values before training")
        return f
    raise ValueError(f"{name}: {_where(path)} is {type(v).__name__} {v!r:.40}, not a number; "
                     f"{fix}")


def _is_seq(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or (_is_numpy(v) and getattr(v, "ndim", 0) > 0)


def _convert(v: Any, name: str, path: tuple[int, ...], want: tuple[int, ...] | None,
             fix: str) -> tuple[Any, tuple[int, ...]]:
    """One sample (or part of one) as floats and its shape, checked against ``want``."""
    if not _is_seq(v):
        if want:
            raise ValueError(f"{name}: {_where(path)} is a single number but row 0 holds "
                             f"{want[0]} value(s) there; every sample needs the same shape")
        return _number(v, name, path, fix), ()
    items = list(v)
    if want is not None:
        if not want:
            raise ValueError(f"{name}: {_where(path)} holds {len(items)} value(s) where row 0 "
                             "has a single number; every sample needs the same shape")
        if len(items) != want[0]:
            raise ValueError(f"{name}: {_where(path)} has {len(items)} value(s) but row 0 has "
                             f"{want[0]}; every sample needs the same shape")
    if items and not _is_seq(items[0]) and (want is None or len(want) == 1):
        return [_number(x, name, (*path, j), fix) if not _is_seq(x) else
                _convert(x, name, (*path, j), (), fix)[0] for j, x in enumerate(items)], \
            (len(items),)
    out, inner = [], None if want is None else want[1:]
    for j, x in enumerate(items):
        value, shape = _convert(x, name, (*path, j), inner, fix)
        inner = shape if inner is None else inner
        out.append(value)
    return out, (len(items), *(inner or ()))


def _numpy_inputs(X: Any, name: str, fix: str) -> list:
    import numpy as np

    if X.ndim == 0:
        raise ValueError(f"{name}: expected one sample per row, got a single number {X!r}")
    kind = X.dtype.kind
    if kind in "biuf":
        if kind == "f":
            bad = np.argwhere(~np.isfinite(X))
            if len(bad):
                where = tuple(int(i) for i in bad[0])
                raise ValueError(f"{name}: {_where(where)} is {float(X[where])!r}; remove or "
                                 "impute missing and infinite values before training")
        return X.astype(float).tolist()
    if kind in "US":  # text: numbers written as text are numbers
        try:
            return _numpy_inputs(X.astype(float), name, fix)
        except ValueError:
            pass
        for where in np.ndindex(X.shape):
            try:
                float(X[where])
            except ValueError:
                raise ValueError(f"{name}: {_where(where)} is {str(X[where])!r}, not a number; "
                                 f"{fix}") from None
    if kind in "USO":
        return as_inputs(X.tolist(), name, fix)
    raise ValueError(f"{name}: numpy dtype {X.dtype} is not numeric; {fix}")


def as_inputs(X: Any, name: str = "X",
              fix: str = "encode or drop non-numeric columns first") -> list:
    """Samples as Python floats: a list of rows (or nested lists per sample).

    Args:
        X: A list/tuple of samples, a numpy array of any real dtype, or a
            pandas DataFrame. A sample is a number, a row of numbers, or a
            nested list (``[C][H][W]`` images, ``[T][F]`` sequences).
        name: The argument's name for messages (``"X"``, ``"X_test"``).
        fix: What the message advises for a non-numeric entry.

    Returns:
        A list with one entry per sample: a float or nested lists of floats.

    Raises:
        ValueError: The set is empty, the samples have different shapes
            (the message names the row and column), an entry is not a number
            (row, column and value), or an entry is NaN or infinite.

    >>> as_inputs([[1.0, float("nan")]])
    Traceback (most recent call last):
    ...
    ValueError: X: row 0, column 1 is nan; remove or impute missing and infinite values ...
    """
    X = to_plain(X)
    if _is_numpy(X):
        rows = _numpy_inputs(X, name, fix)
    elif isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise ValueError(f"{name}: expected a sequence of samples (a list, a numpy array or a "
                         f"DataFrame), got {type(X).__name__}")
    else:
        rows = None
        items = list(X)
        if not items:
            raise ValueError(f"{name}: is empty; need at least one sample")
        out, want = [], None
        for i, row in enumerate(items):
            value, shape = _convert(row, name, (i,), want, fix)
            want = shape if want is None else want
            out.append(value)
        rows = out
    if not rows:
        raise ValueError(f"{name}: is empty; need at least one sample")
    return rows


def is_label(v: Any) -> bool:
    """Whether ``v`` can be a class label: a string, a bool or an integral number."""
    if isinstance(v, (str, bool)):
        return True
    return isinstance(v, numbers.Real) and float(v).is_integer()


def as_targets(y: Any, name: str = "y") -> list:
    """Targets as Python values: one label or number, or a row of numbers, per sample.

    Args:
        y: A list/tuple, a numpy array (1-D labels or values, 2-D rows of
            values) or a pandas Series/DataFrame.
        name: The argument's name for messages.

    Returns:
        A list of str, bool, int or float (one per sample), or of lists of
        floats (several outputs per sample).

    Raises:
        ValueError: ``y`` is empty, mixes strings with numbers, has NaN or
            infinite values, or has rows of different lengths.

    >>> import numpy as np
    >>> as_targets(np.array([0, 2, 1])), as_targets(np.array([True, False]))
    ([0, 2, 1], [True, False])
    """
    y = to_plain(y)
    if _is_numpy(y):
        if y.ndim == 0:
            raise ValueError(f"{name}: expected one target per sample, got a single value")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.dtype.kind == "f":
            import numpy as np

            bad = np.argwhere(~np.isfinite(y))
            if len(bad):
                where = tuple(int(i) for i in bad[0])
                raise ValueError(f"{name}: {_where(where)} is {float(y[where])!r}; remove or "
                                 "impute missing targets before training")
        items = y.tolist()
    elif isinstance(y, (str, bytes)) or not isinstance(y, Iterable):
        raise ValueError(f"{name}: expected a sequence of targets, got {type(y).__name__}")
    else:
        items = list(y)
    if not items:
        raise ValueError(f"{name}: is empty; need at least one target")
    out: list[Any] = []
    kinds: set[str] = set()
    width = None
    for i, t in enumerate(items):
        if _is_seq(t):
            row = [_number(v, name, (i, j), "targets must be numbers") for j, v in enumerate(t)]
            if width is not None and len(row) != width:
                raise ValueError(f"{name}: row {i} has {len(row)} value(s) but row 0 has {width}"
                                 "; every sample needs the same number of targets")
            width = len(row)
            kinds.add("row")
            out.append(row)
        elif isinstance(t, str):
            kinds.add("str")
            out.append(t)
        elif _is_bool(t):
            kinds.add("bool")
            out.append(bool(t))
        elif isinstance(t, numbers.Integral):
            kinds.add("number")
            out.append(int(t))
        elif isinstance(t, numbers.Real):
            f = _number(t, name, (i,), "")
            kinds.add("number")
            out.append(f)
        else:
            raise ValueError(f"{name}: row {i} is {type(t).__name__} {t!r:.40}; expected a "
                             "class label (int, bool, string) or a number")
    if len(kinds) > 1:
        raise ValueError(f"{name}: mixes {' and '.join(sorted(kinds))} targets; give one kind "
                         "(e.g. all strings, or all numbers)")
    return out


def find_classes(y: list) -> list:
    """The distinct labels, sorted (numbers numerically, strings alphabetically).

    >>> find_classes([2, 0, 2, 1]), find_classes([True, False])
    ([0, 1, 2], [False, True])
    """
    return sorted(set(y))
