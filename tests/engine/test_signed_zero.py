"""Signs at -0.0 and infinities follow torch (issue 16): pow, sqrt, div, log partials.

torch's pow with a number exponent computes ``x ** 0.5`` as ``sqrt(x)`` and
``x ** -0.5`` as ``1 / sqrt(x)`` (so ``(-0.0) ** 0.5 = -0.0`` and the derivative
there is ``-inf``); dagrad's pow does the same for every exponent.
"""

import itertools
import math

import pytest

from engine import Value

torch = pytest.importorskip("torch")

XS = [-0.0, 0.0, -math.inf, math.inf, -1.0, 4.0, 2.0, 0.25]
PS = [0.5, -0.5, 1.5, -1.5, 2.0, 2.5, 0.25, 1.0, -3.0, 3.0, -1.0, -2.0]


def _same(a: float, b: float) -> bool:
    return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def test_d_sqrt_power_at_negative_zero_is_minus_inf():
    x = Value(-0.0)
    y = x**0.5
    y.backward()
    assert math.copysign(1.0, y.data) == -1.0 and y.data == 0.0
    assert x.grad == -math.inf


@pytest.mark.parametrize(("x0", "p"), list(itertools.product(XS, PS)))
def test_pow_with_a_number_exponent_matches_torch_signs(x0, p):
    xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    yt = xt**p
    yt.backward()
    x = Value(x0)
    y = x**p
    y.backward()
    assert _same(y.data, yt.item()) and _same(x.grad, xt.grad.item()), (
        (y.data, x.grad), (yt.item(), xt.grad.item()))


CASES = {
    "sqrt": lambda x: x.sqrt(),
    "reciprocal": lambda x: 1.0 / x,
    "log": lambda x: x.log(),
    "half": lambda x: x / 2.0,
    "neg_zero_over_x": lambda x: -0.0 / x,
    "x_over_x": lambda x: x / x,
    "neg_times_sqrt": lambda x: -(x.sqrt()),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("x0", [-0.0, 0.0, -math.inf, math.inf])
def test_partials_at_signed_zeros_and_infinities_match_torch(name, x0):
    f = CASES[name]
    xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    yt = f(xt)
    yt.backward()
    x = Value(x0)
    y = f(x)
    y.backward()
    assert _same(y.data, yt.item()) and _same(x.grad, xt.grad.item())


def test_divisor_at_negative_zero_matches_torch():
    yt = torch.tensor(-0.0, dtype=torch.float64, requires_grad=True)
    (1.0 / yt).backward()
    y = Value(-0.0)
    (1.0 / y).backward()
    assert y.grad == yt.grad.item() == -math.inf
