"""A mask's zero stops the gradient exactly where PyTorch stops it (issue 13, item 1).

PyTorch backpropagates relu (``threshold_backward``), ``max(dim)``/``clamp_min``
and pow's ``d/dx`` at a zero exponent through ``where``: the masked slot gets 0
even when the incoming gradient is inf or NaN. Elsewhere it multiplies (``mul``,
``abs``'s sign, a saturated sigmoid or tanh, a zero adjoint times an infinite
partial), so ``0 * inf`` stays NaN there: these are tested too, so that the
engine does not over-mask. Every expected value is computed by torch (float64).
"""

import math

import pytest

import engine
from engine import Value, ops
from engine.func import grad, jvp

torch = pytest.importorskip("torch")

INF = math.inf


def _torch_grad(f, x0: float, order: int = 1) -> float:
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(f(x), x, create_graph=True)
    if order == 2:
        (d,) = torch.autograd.grad(d, x, allow_unused=True, materialize_grads=True)
    return d.item()


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                 math.copysign(1, b))


def _zero(x):
    return torch.tensor(0.0, dtype=torch.float64) if isinstance(x, torch.Tensor) else 0.0


# name: (engine function, torch function, point, order)
CASES = {
    "relu_then_sqrt": (lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt(), -1.0, 1),
    "relu_then_log": (lambda x: x.relu().log(), lambda x: x.relu().log(), -1.0, 1),
    "relu_at_zero_then_sqrt": (lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt(), 0.0, 1),
    "max_with_zero_then_sqrt": (lambda x: engine.max(x, 0.0).sqrt(),
                                lambda x: torch.stack([x, _zero(x)]).max(0).values.sqrt(),
                                -1.0, 1),
    "max_with_zero_equals_clamp_min": (lambda x: engine.max(x, 0.0).log(),
                                       lambda x: torch.clamp_min(x, 0.0).log(), -1.0, 1),
    "pow_zero_exponent_then_sqrt": (lambda x: (x**0.0 - 1.0).sqrt(),
                                    lambda x: (x**0.0 - 1.0).sqrt(), 2.0, 1),
    "pow_zero_exponent_at_zero_then_sqrt": (lambda x: (x**0.0 - 1.0).sqrt(),
                                            lambda x: (x**0.0 - 1.0).sqrt(), 0.0, 1),
    "second_derivative_of_relu_pow_1_5": (lambda x: x.relu() ** 1.5,
                                          lambda x: x.relu() ** 1.5, -0.01, 2),
    "second_derivative_of_relu_pow_1_5_at_zero": (lambda x: x.relu() ** 1.5,
                                                  lambda x: x.relu() ** 1.5, 0.0, 2),
    "second_derivative_of_relu_pow_0_5": (lambda x: x.relu() ** 0.5,
                                          lambda x: x.relu() ** 0.5, -0.01, 2),
    "second_derivative_of_max_pow_1_5": (lambda x: engine.max(x, 0.0) ** 1.5,
                                         lambda x: torch.stack([x, _zero(x)]).max(0).values
                                         ** 1.5, -0.01, 2),
    "second_derivative_of_relu_times_x": (lambda x: x.relu() * x, lambda x: x.relu() * x,
                                          -1.0, 2),
    # not masks in torch: the product stays NaN (no over-masking)
    "abs_at_zero_then_sqrt_is_nan": (lambda x: x.abs().sqrt(), lambda x: x.abs().sqrt(), 0.0, 1),
    "abs_at_zero_then_log_is_nan": (lambda x: x.abs().log(), lambda x: x.abs().log(), 0.0, 1),
    "times_zero_then_sqrt_is_nan": (lambda x: (x * 0.0).sqrt(), lambda x: (x * 0.0).sqrt(),
                                    1.0, 1),
    "zero_adjoint_times_infinite_sqrt_partial_is_nan": (lambda x: x.sqrt() * 0.0,
                                                        lambda x: x.sqrt() * 0.0, 0.0, 1),
    "zero_adjoint_times_infinite_log_partial_is_nan": (lambda x: x.log() * 0.0,
                                                       lambda x: x.log() * 0.0, 0.0, 1),
    "saturated_sigmoid_then_log_is_nan": (lambda x: (1.0 - x.sigmoid()).log(),
                                          lambda x: (1.0 - x.sigmoid()).log(), 50.0, 1),
    "saturated_tanh_then_log_is_nan": (lambda x: (1.0 - x.tanh()).log(),
                                       lambda x: (1.0 - x.tanh()).log(), 50.0, 1),
    "relu_of_nan_passes_the_gradient": (lambda x: x.relu(), lambda x: x.relu(), math.nan, 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_mask_semantics_match_torch(name):
    f, tf, x0, order = CASES[name]
    want = _torch_grad(tf, x0, order)
    got = grad(grad(f))(x0) if order == 2 else grad(f)(x0)
    assert _same(got, want), (got, want)
    if order == 1:  # the dynamic path: backward() into .grad, and the Value path
        x = Value(x0)
        f(x).backward()
        assert _same(x.grad, want), (x.grad, want)
        x = Value(x0)
        (d,) = engine.grad(f(x), x, create_graph=True)
        assert _same(d.data, want), (d.data, want)


def test_relu_sqrt_backward_gives_torch_zero():
    x = Value(-1.0)
    x.relu().sqrt().backward()
    assert x.grad == 0.0 and math.copysign(1.0, x.grad) == 1.0


def test_masked_first_derivative_is_still_a_graph():
    x = Value(-1.0)
    (d,) = engine.grad(x.relu() ** 1.5, x, create_graph=True)  # 1.5 relu(x)**0.5 * step(x)
    assert d.requires_grad and d.data == 0.0
    (dd,) = engine.grad(d, x)
    assert dd == 0.0


def test_forward_mode_relu_stops_an_infinite_tangent():
    # torch.autograd.forward_ad: relu's jvp is threshold_backward, a where
    assert jvp(lambda x: x.relu(), (-1.0,), (INF,)) == (0.0, 0.0)
    assert jvp(lambda x: engine.max(x, 0.0), (-1.0,), (INF,)) == (0.0, 0.0)


def test_stop_is_a_zero_that_wins_products():
    assert ops.STOP == 0.0 and isinstance(ops.STOP, float)
    assert INF * ops.STOP == 0.0 and ops.STOP * math.nan == 0.0
    assert 0.0 * INF != 0.0 * INF  # a computed zero keeps IEEE's nan
    assert ops.f_step(-1.0) is ops.STOP and ops.f_step(2.0) == 1.0
    assert ops.MAX.partials(ops.F, 3.0, 1.0, 3.0) == (0.0, 1.0)


def test_anomaly_mode_does_not_flag_a_stopped_gradient():
    x = Value(-1.0)
    y = x.relu() * 2.0
    with engine.detect_anomaly():
        y.backward()
    assert x.grad == 0.0


def test_stop_survives_pickle_and_deepcopy():
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(ops.STOP)) is ops.STOP
    assert copy.deepcopy(ops.STOP) is ops.STOP
    x = Value(-1.0)
    y = pickle.loads(pickle.dumps(x.relu()))
    assert y.local_grads[0] is ops.STOP
