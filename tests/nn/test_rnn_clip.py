"""clip_grad_norm / clip_grad_value vs torch.nn.utils, and clipping BPTT gradients."""

import math
import random

import pytest

from engine import Value
from engine import sum as vsum
from nn.rnn import RNNCell
from nn.utils import clip_grad_norm, clip_grad_norm_, clip_grad_value


def with_grads(grads):
    params = []
    for g in grads:
        p = Value(1.0)
        p.grad = g
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = random.Random(0)
    grads = [rng.uniform(-2, 2) for _ in range(7)]
    params = with_grads(grads)
    total = clip_grad_norm(params, max_norm, norm_type=norm_type)
    tparams = [torch.tensor(1.0, dtype=torch.float64, requires_grad=True) for _ in grads]
    for t, g in zip(tparams, grads, strict=True):
        t.grad = torch.tensor(g, dtype=torch.float64)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    assert [p.grad for p in params] == pytest.approx([t.grad.item() for t in tparams], rel=1e-12)
    assert all(p.data == 1.0 for p in params)


def test_clip_grad_norm_by_hand():
    params = with_grads([3.0, 4.0, None])
    assert clip_grad_norm_(params, 10.0) == 5.0  # below the limit: unchanged
    assert [p.grad for p in params] == [3.0, 4.0, None]
    assert clip_grad_norm(params, 2.5) == 5.0
    assert params[0].grad == pytest.approx(3.0 * 2.5 / (5.0 + 1e-6), rel=1e-15)
    assert math.sqrt(params[0].grad ** 2 + params[1].grad ** 2) == pytest.approx(2.5, rel=1e-6)
    assert clip_grad_norm([], 1.0) == 0.0


def test_clip_grad_norm_nonfinite():
    params = with_grads([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm(params, 1.0, error_if_nonfinite=True)
    assert params[1].grad == 1.0
    clip_grad_norm(params, 1.0)
    assert params[1].grad == 0.0


def test_clip_grad_norm_errors():
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        clip_grad_norm(with_grads([1.0]), -1.0)
    with pytest.raises(TypeError, match="parameter 1 is a float, not a Value"):
        clip_grad_norm([Value(1.0), 2.0], 1.0)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    grads = [-3.0, 0.2, 1.5, -0.1]
    params = with_grads(grads)
    clip_grad_value(params, 1.0)
    tparams = [torch.tensor(1.0, dtype=torch.float64, requires_grad=True) for _ in grads]
    for t, g in zip(tparams, grads, strict=True):
        t.grad = torch.tensor(g, dtype=torch.float64)
    torch.nn.utils.clip_grad_value_(tparams, 1.0)
    assert [p.grad for p in params] == [t.grad.item() for t in tparams]


def test_clipping_tames_exploding_bptt_gradients():
    """A relu RNN with recurrent weight 2 over 30 steps: the gradient grows like 2**30."""
    cell = RNNCell(1, 1, bias=False, nonlinearity="relu", rng=0)
    cell.weight_ih[0][0].data, cell.weight_hh[0][0].data = 1.0, 2.0
    h = None
    for _ in range(30):
        h = cell([1.0], h)
    vsum(h).backward()
    params = cell.parameters()
    total = clip_grad_norm(params, 1.0)
    assert total > 2.0 ** 29
    assert math.sqrt(sum(p.grad ** 2 for p in params)) == pytest.approx(1.0, rel=1e-6)
