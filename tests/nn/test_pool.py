"""Max and average pooling vs PyTorch (float64), ties, finite differences, shape errors."""

import math
import random

import pytest
from layer_check import compare_with_torch, rand_tensor

from engine import gradcheck
from engine import sum as vsum
from nn.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from nn.utils import flatten_values, to_data, to_values


def approx_close(ours, theirs):
    for a, b in zip(flatten_values(ours), theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14)


def check_against_torch(layer, ref, xdata, seed=0):
    torch = pytest.importorskip("torch")
    compare_with_torch(layer, ref, xdata, torch, seed, approx_close)


POOL2D_CASES = [
    # kernel, stride, padding, dilation, ceil_mode, input shape
    (2, None, 0, 1, False, (2, 4, 4)),
    (3, 2, 1, 1, False, (1, 5, 6)),
    ((2, 3), (1, 2), (1, 1), 1, True, (2, 5, 5)),
    (2, 2, 0, 1, True, (3, 2, 5, 5)),
    (2, 1, 0, 2, False, (1, 5, 5)),
    (3, 2, 1, 1, True, (1, 6, 6)),
]


@pytest.mark.parametrize("case", POOL2D_CASES)
def test_maxpool2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    k, s, p, d, ceil, xshape = case
    xdata = rand_tensor(random.Random(1), xshape)
    check_against_torch(MaxPool2d(k, s, p, d, ceil),
                        torch.nn.MaxPool2d(k, s, p, d, ceil_mode=ceil), xdata)


@pytest.mark.parametrize("case", [c for c in POOL2D_CASES if c[3] == 1])
@pytest.mark.parametrize("include_pad", [True, False])
def test_avgpool2d_matches_torch(case, include_pad):
    torch = pytest.importorskip("torch")
    k, s, p, _, ceil, xshape = case
    xdata = rand_tensor(random.Random(2), xshape)
    check_against_torch(AvgPool2d(k, s, p, ceil, include_pad),
                        torch.nn.AvgPool2d(k, s, p, ceil, include_pad), xdata)


def test_avgpool2d_divisor_override_matches_torch():
    torch = pytest.importorskip("torch")
    xdata = rand_tensor(random.Random(3), (2, 5, 5))
    check_against_torch(AvgPool2d(3, 2, 1, divisor_override=4),
                        torch.nn.AvgPool2d(3, 2, 1, divisor_override=4), xdata)


@pytest.mark.parametrize("case", [(2, None, 0, False, (2, 7)), (3, 2, 1, True, (2, 3, 8)),
                                  (3, 1, 1, False, (1, 5))])
def test_pool1d_matches_torch(case):
    torch = pytest.importorskip("torch")
    k, s, p, ceil, xshape = case
    xdata = rand_tensor(random.Random(4), xshape)
    check_against_torch(MaxPool1d(k, s, p, ceil_mode=ceil),
                        torch.nn.MaxPool1d(k, s, p, ceil_mode=ceil), xdata)
    check_against_torch(AvgPool1d(k, s, p, ceil), torch.nn.AvgPool1d(k, s, p, ceil), xdata)


@pytest.mark.parametrize("seed", range(4))
def test_maxpool_ties_send_the_gradient_where_torch_does(seed):
    """Inputs drawn from {0, 1, 2}: most windows have tied maxima."""
    torch = pytest.importorskip("torch")
    xdata = rand_tensor(random.Random(seed), (2, 6, 6), values=[0.0, 1.0, 2.0])
    check_against_torch(MaxPool2d(3, stride=1), torch.nn.MaxPool2d(3, stride=1), xdata, seed)
    check_against_torch(MaxPool2d(2, stride=2, padding=1),
                        torch.nn.MaxPool2d(2, stride=2, padding=1), xdata, seed)


def test_maxpool_tie_rule_by_hand():
    """A window of four equal inputs: the top-left one (first in row-major order) gets all."""
    x = to_values([[[5.0, 5.0], [5.0, 5.0]]])
    out = max_pool2d(x, 2)
    out[0][0][0].backward()
    assert [[v.grad for v in row] for row in x[0]] == [[1.0, 0.0], [0.0, 0.0]]


def test_maxpool_nan_wins_and_propagates():
    x = to_values([[1.0, math.nan, 3.0, 2.0]])
    out = max_pool1d(x, 4)
    assert math.isnan(out[0][0].data)
    out[0][0].backward()
    assert [v.grad for v in x[0]] == [0.0, 1.0, 0.0, 0.0]


def test_pool_gradients_match_finite_differences():
    point = [0.3, -0.2, 0.9, 0.1, -0.7, 0.4, 0.05, 0.6, -0.5, 0.25, 0.8, -0.1]

    def f(*vs):
        x = [[list(vs[0:4]), list(vs[4:8]), list(vs[8:12])]]
        a = avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)
        m = max_pool2d(x, (2, 3), stride=1, padding=(1, 1))
        return vsum([v * (i + 1) for i, v in enumerate(flatten_values([a, m]))]).tanh()

    assert gradcheck(f, point)


def test_average_is_one_dot_node():
    out = AvgPool2d(2)([[[1.0, 2.0], [3.0, 6.0]]])
    node = out[0][0][0]
    assert node.op.name == "dot" and len(node.parents) == 8 and node.data == 3.0


def test_shape_errors_name_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(3, 3\), stride=\(3, 3\), "
                       r"padding=\(0, 0\), dilation=\(1, 1\)\): expected input \[C\]\[H\]\[W\] or "
                       r"\[N\]\[C\]\[H\]\[W\] with H, W >= 3, got \[1\]\[2\]\[8\]"):
        MaxPool2d(3)([[[0.0] * 8] * 2])
    with pytest.raises(ValueError, match=r"AvgPool1d.*expected input \[C\]\[L\] or \[N\]\[C\]\[L\]"
                       r" with L >= 2, got \[3\]"):
        AvgPool1d(2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="padding should be at most half of the kernel size"):
        MaxPool2d(2, padding=2)


def test_repr_config_and_no_parameters():
    pool = MaxPool2d(2, stride=1, ceil_mode=True)
    assert pool.num_parameters() == 0
    assert repr(MaxPool2d(**pool.config())) == repr(pool)
    assert repr(pool) == ("MaxPool2d(kernel_size=(2, 2), stride=(1, 1), padding=(0, 0), "
                          "dilation=(1, 1), ceil_mode=True)")
    avg = AvgPool1d(3, 2, 1)
    assert repr(avg) == "AvgPool1d(kernel_size=3, stride=2, padding=1)"
    assert repr(AvgPool1d(**avg.config())) == repr(avg)


@pytest.mark.parametrize("output_size", [1, 2, (3, 2), (2, None), (4, 5)])
def test_adaptive_pool2d_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    xdata = rand_tensor(random.Random(5), (2, 2, 5, 4), values=[0.0, 0.5, 1.0, 2.0])
    check_against_torch(AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size),
                        xdata)
    check_against_torch(AdaptiveMaxPool2d(output_size), torch.nn.AdaptiveMaxPool2d(output_size),
                        xdata)


@pytest.mark.parametrize("output_size", [1, 3, 4])
def test_adaptive_pool1d_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    xdata = rand_tensor(random.Random(6), (3, 7))
    check_against_torch(AdaptiveAvgPool1d(output_size), torch.nn.AdaptiveAvgPool1d(output_size),
                        xdata)
    check_against_torch(AdaptiveMaxPool1d(output_size), torch.nn.AdaptiveMaxPool1d(output_size),
                        xdata)


def test_global_average_pooling_by_hand_and_errors():
    x = to_values([[[1.0, 2.0], [3.0, 6.0]], [[0.0, 0.0], [0.0, 4.0]]])
    out = AdaptiveAvgPool2d(1)(x)
    assert to_data(out) == [[[3.0]], [[1.0]]]
    out[0][0][0].backward()
    assert [v.grad for row in x[0] for v in row] == [0.25] * 4
    with pytest.raises(ValueError, match=r"AdaptiveMaxPool1d\(output_size=2\): expected input "
                       r"\[C\]\[L\] or \[N\]\[C\]\[L\] with L >= 1, got \[2\]\[0\]"):
        AdaptiveMaxPool1d(2)([[], []])
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        AdaptiveAvgPool2d(0)
    pool = AdaptiveAvgPool2d((2, None))
    assert repr(AdaptiveAvgPool2d(**pool.config())) == repr(pool)
