"""nn's arithmetic is IEEE's, as PyTorch's float64 (issue 16): NaN where PyTorch has NaN,
inf where it overflows, never a Python OverflowError, ZeroDivisionError or domain error."""

import math

import pytest

from engine import Value
from nn import Adam, BatchNorm1d, clip_grad_norm
from nn.optim import SGD, StepLR

torch = pytest.importorskip("torch")
nan, inf = math.nan, math.inf


def same(a, b):
    """Equal floats, NaN equal to NaN."""
    return (a != a and b != b) or a == b


def both_clip(grads, norm_type, max_norm=1.0, error_if_nonfinite=False):
    ps = [Value(0.0) for _ in grads]
    for p, g in zip(ps, grads, strict=True):
        p.grad = g
    ts = [torch.zeros((), dtype=torch.float64, requires_grad=True) for _ in grads]
    for t, g in zip(ts, grads, strict=True):
        t.grad = torch.tensor(g, dtype=torch.float64)
    ours = clip_grad_norm(ps, max_norm, norm_type=norm_type,
                          error_if_nonfinite=error_if_nonfinite)
    theirs = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type,
                                            error_if_nonfinite=error_if_nonfinite).item()
    return (ours, [p.grad for p in ps]), (theirs, [t.grad.item() for t in ts])


@pytest.mark.parametrize("grads", [[5.0, nan], [nan, 5.0], [1.0, nan, 2.0]])
def test_clip_inf_norm_with_a_nan_gradient_anywhere_is_nan_as_torch(grads):
    (norm, gs), (tnorm, tgs) = both_clip(grads, inf)
    assert math.isnan(norm) and math.isnan(tnorm)
    assert all(math.isnan(g) for g in gs) and all(math.isnan(g) for g in tgs)


@pytest.mark.parametrize("grads", [[5.0, nan], [nan, 5.0]])
def test_clip_inf_norm_nan_honours_error_if_nonfinite(grads):
    ps = [Value(0.0) for _ in grads]
    for p, g in zip(ps, grads, strict=True):
        p.grad = g
    with pytest.raises(RuntimeError, match="total norm of order inf .* is nan"):
        clip_grad_norm(ps, 1.0, norm_type=inf, error_if_nonfinite=True)
    assert same(ps[0].grad, grads[0]) and same(ps[1].grad, grads[1])  # left alone
    ts = [torch.tensor(0.0, dtype=torch.float64, requires_grad=True) for _ in grads]
    for t, g in zip(ts, grads, strict=True):
        t.grad = torch.tensor(g, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(ts, 1.0, norm_type=inf, error_if_nonfinite=True)


@pytest.mark.parametrize("norm_type,grads", [
    (3.0, [1e200, 1.0]),     # |g|^3 overflows: OverflowError before
    (2.0, [1e200, 1.0]),
    (1.0, [1e308, 1e308]),   # math.fsum's "intermediate overflow" before
    (3.0, [1e-200, 1e-200]),  # underflows to 0: no clipping
    (0.5, [4.0, 9.0]),
    (inf, [inf, 1.0]),
    (2.0, [inf, 4.0]),
])
def test_clip_norm_overflow_and_underflow_as_torch(norm_type, grads):
    (norm, gs), (tnorm, tgs) = both_clip(grads, norm_type)
    assert norm == pytest.approx(tnorm, rel=1e-14) or same(norm, tnorm)
    for g, t in zip(gs, tgs, strict=True):
        assert g == pytest.approx(t, rel=1e-12) or same(g, t)


def test_clip_norm_3_with_1e200_gives_inf_and_zero_gradients():
    (norm, gs), (tnorm, tgs) = both_clip([1e200, 1.0], 3.0)
    assert norm == tnorm == inf and gs == tgs == [0.0, 0.0]


@pytest.mark.parametrize("norm_type", [0.5, 2.0, 3.0])
def test_clip_norm_of_one_gradient_is_its_absolute_value_as_torch(norm_type):
    (norm, gs), (tnorm, tgs) = both_clip([-1e200], norm_type)
    assert norm == tnorm == 1e200 and gs == pytest.approx(tgs, rel=1e-15)


def torch_adam_steps(grads_per_step, **kwargs):
    t = torch.tensor([1.0] * len(grads_per_step[0]), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([t], **kwargs)
    for grads in grads_per_step:
        t.grad = torch.tensor(grads, dtype=torch.float64)
        opt.step()
    return t.tolist(), opt


def our_adam_steps(grads_per_step, **kwargs):
    ps = [Value(1.0) for _ in grads_per_step[0]]
    opt = Adam(ps, **kwargs)
    for grads in grads_per_step:
        for p, g in zip(ps, grads, strict=True):
            p.grad = g
        opt.step()
    return [p.data for p in ps], opt


def test_adam_eps_0_zero_gradient_is_nan_as_torch():
    steps = [[0.0, 1.0]]
    ours, _ = our_adam_steps(steps, lr=0.1, eps=0.0)
    theirs, _ = torch_adam_steps(steps, lr=0.1, eps=0.0)
    assert math.isnan(ours[0]) and math.isnan(theirs[0])
    assert ours[1] == theirs[1]


def test_adam_amsgrad_keeps_a_nan_maximum_as_torch():
    steps = [[1.0, 2.0], [nan, 1.0], [0.5, 0.5]]
    ours, opt = our_adam_steps(steps, lr=0.1, amsgrad=True)
    theirs, topt = torch_adam_steps(steps, lr=0.1, amsgrad=True)
    tmax = next(iter(topt.state.values()))["max_exp_avg_sq"].tolist()
    assert math.isnan(opt.state[0]["max_exp_avg_sq"]) and math.isnan(tmax[0])
    assert opt.state[1]["max_exp_avg_sq"] == pytest.approx(tmax[1], rel=1e-15)
    assert math.isnan(ours[0]) and math.isnan(theirs[0])
    assert ours[1] == pytest.approx(theirs[1], rel=1e-14)


def test_adam_huge_gradient_as_torch():
    steps = [[1e200, -1e300], [1.0, 1.0]]
    ours, _ = our_adam_steps(steps, lr=0.1)
    theirs, _ = torch_adam_steps(steps, lr=0.1)
    for a, b in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-14) or same(a, b)


def test_multiplicative_schedule_past_the_float_range_is_inf():
    sched = StepLR(SGD([Value(0.0)], lr=1.0), step_size=1, gamma=1e10)
    assert sched.lr_at(30) == 1e300 and sched.lr_at(31) == inf


@pytest.mark.parametrize("x,mean,weight,bias", [
    ([0.0, 1.0, -2.0], 0.0, 1.0, 0.0),
    ([3.0, 5.0], 3.0, 2.0, 0.5),
    ([3.0], 0.0, 0.0, 1.0),
])
def test_batchnorm_eval_zero_variance_eps_0_as_torch(x, mean, weight, bias):
    tbn = torch.nn.BatchNorm1d(1, eps=0.0, dtype=torch.float64)
    tbn.running_mean.fill_(mean)
    tbn.running_var.fill_(0.0)
    with torch.no_grad():
        tbn.weight.fill_(weight)
        tbn.bias.fill_(bias)
    tbn.eval()
    xt = torch.tensor([[v] for v in x], dtype=torch.float64, requires_grad=True)
    ty = tbn(xt)
    ty.sum().backward()

    bn = BatchNorm1d(1, eps=0.0)
    bn.running_mean, bn.running_var = [mean], [0.0]
    bn.weight[0].data, bn.bias[0].data = weight, bias
    bn.eval()
    xs = [[Value(v)] for v in x]
    ys = bn(xs)
    total = ys[0][0]
    for row in ys[1:]:
        total = total + row[0]
    total.backward()
    assert all(same(y[0].data, t) for y, t in zip(ys, ty.flatten().tolist(), strict=True))
    assert all(same(v[0].grad, t) for v, t in zip(xs, xt.grad.flatten().tolist(), strict=True))
    assert same(bn.weight[0].grad, tbn.weight.grad.item())
    assert same(bn.bias[0].grad, tbn.bias.grad.item())
