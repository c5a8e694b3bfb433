"""The nested-list helpers in nn.utils that every tensor layer relies on."""

import pytest

from engine import Value
from nn.utils import (
    apply_elementwise,
    expand_ints,
    flatten_values,
    format_shape,
    lift,
    shape,
    to_data,
    to_values,
    unflatten,
)


def test_shape_of_scalars_empty_and_nested():
    assert shape(Value(1.0)) == ()
    assert shape(2.5) == ()
    assert shape([]) == (0,)
    assert shape([[], []]) == (2, 0)
    assert shape(([1, 2], (3, 4))) == (2, 2)
    assert shape([[[Value(0.0)] * 4] * 3] * 2) == (2, 3, 4)


@pytest.mark.parametrize("bad, message", [
    ([[1, 2], [3]], r"x\[1\] has length 1, expected 2 \(as x\[0\]\)"),
    ([[1, 2], 3], r"x\[1\] is a scalar, expected a list of length 2"),
    ([1, [2]], r"x\[1\] is a list where the other entries at this depth are scalars"),
    ([[[1], [2]], [[3], [4, 5]]], r"x\[1\]\[1\] has length 2, expected 1 \(as x\[1\]\[0\]\)"),
])
def test_ragged_lists_are_named_by_index(bad, message):
    with pytest.raises(ValueError, match="Layer: ragged nested list: " + message):
        shape(bad, "Layer")


def test_flatten_unflatten_round_trip():
    x = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]
    flat = flatten_values(x)
    assert flat == list(range(1, 13))
    assert unflatten(flat, shape(x)) == x
    assert unflatten([7], ()) == 7
    with pytest.raises(ValueError, match=r"unflatten: 5 values do not fill shape \[2\]\[3\]"):
        unflatten([1, 2, 3, 4, 5], (2, 3))


def test_deep_nesting_flattens_without_recursion_limits():
    x = 1.0
    for _ in range(5000):
        x = [x]
    assert flatten_values(x) == [1.0]


def test_lift_to_values_and_to_data():
    v = Value(3.0)
    lifted = lift([[1, v]])
    assert lifted[0][1] is v and lifted[0][0].requires_grad is False
    fresh = to_values([[1, v]])
    assert fresh[0][1] is not v and fresh[0][1].data == 3.0 and fresh[0][1].requires_grad
    assert to_data(fresh) == [[1.0, 3.0]]
    assert to_data(apply_elementwise(lambda t: t * 2, fresh)) == [[2.0, 6.0]]


def test_expand_ints_and_format_shape():
    assert expand_ints((2, 3), 2, "stride", "Conv2d") == (2, 3)
    assert expand_ints([4], 1, "k", "Conv1d") == (4,)
    with pytest.raises(ValueError, match=r"Conv2d: stride must be an int or a tuple of 2 ints, "
                       r"got 1.5"):
        expand_ints(1.5, 2, "stride", "Conv2d")
    with pytest.raises(ValueError, match="Conv2d: stride must be an int or a tuple"):
        expand_ints(True, 2, "stride", "Conv2d")
    with pytest.raises(ValueError, match=r"Conv2d: padding must be >= 0, got \(1, -1\)"):
        expand_ints((1, -1), 2, "padding", "Conv2d")
    assert format_shape(()) == "a scalar"
    assert format_shape(("N", 3)) == "[N][3]"
