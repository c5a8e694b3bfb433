"""Losses, softmax and log_softmax: hand-derived values, gradients, extreme logits, PyTorch."""

import math
import random

import pytest

from engine import Value, gradcheck
from nn.losses import (
    bce_loss,
    bce_with_logits_loss,
    cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    mse_loss,
    softmax,
)


def vals(xs):
    return [Value(x) for x in xs]


def close(a, b, rel=1e-12, abs_=1e-15):
    return a == pytest.approx(b, rel=rel, abs=abs_)


# -- hand-derived values -----------------------------------------------------------------


def test_mse_by_hand():
    p = vals([1.0, 3.0])
    loss = mse_loss(p, [0.0, 1.0])
    assert loss.data == 2.5  # (1 + 4) / 2
    loss.backward()
    assert [v.grad for v in p] == [1.0, 2.0]  # 2 (p - t) / n
    assert mse_loss(vals([1.0, 3.0]), [0.0, 1.0], reduction="sum").data == 5.0
    assert [v.data for v in mse_loss(vals([1.0, 3.0]), [0.0, 1.0], reduction="none")] == [1, 4]
    assert mse_loss(Value(2.0), 0.5).data == 2.25
    multi = [vals([1.0, 2.0]), vals([0.0, 0.0])]
    assert mse_loss(multi, [[0.0, 0.0], [1.0, 1.0]]).data == (1 + 4 + 1 + 1) / 4


def test_mse_reduction_is_one_dot_node():
    loss = mse_loss(vals([1.0, 2.0, 3.0]), [0.0, 0.0, 0.0])
    assert loss.op.name == "mul" and loss.parents[0].op.name == "dot"


def test_bce_by_hand():
    assert close(bce_loss(Value(0.8), 1.0).data, -math.log(0.8))
    assert close(bce_loss(Value(0.8), 0.0).data, -math.log(0.2))
    assert close(bce_loss(Value(0.8), 0.3).data, -(0.3 * math.log(0.8) + 0.7 * math.log(0.2)))
    p = Value(0.8)
    bce_loss(p, 1.0).backward()
    assert close(p.grad, -1 / 0.8)  # d/dp -log p


def test_bce_clamps_logs_at_minus_100_as_torch():
    assert bce_loss(Value(0.0), 1.0).data == 100.0
    assert bce_loss(Value(1.0), 0.0).data == 100.0
    assert bce_loss(Value(1.0), 1.0).data == 0.0
    p = Value(0.0)
    bce_loss(p, 1.0).backward()
    assert p.grad is None or p.grad == 0.0  # the clamped term is a constant
    q = Value(0.0)
    bce_loss([q, Value(0.5)], [0.0, 1.0]).backward()
    assert math.isfinite(q.grad)


def test_bce_rejects_values_outside_zero_one():
    with pytest.raises(ValueError, match=r"prediction 0 is 1.5, not a probability.*logits"):
        bce_loss(Value(1.5), 1.0)
    with pytest.raises(ValueError, match="target 1 is 2.0, not in"):
        bce_loss(vals([0.5, 0.5]), [1.0, 2.0])


def test_bce_with_logits_by_hand():
    for z in (-3.0, -0.5, 0.0, 0.5, 3.0):
        s = 1 / (1 + math.exp(-z))
        for t in (0.0, 0.25, 1.0):
            zv = Value(z)
            loss = bce_with_logits_loss(zv, t)
            assert close(loss.data, -(t * math.log(s) + (1 - t) * math.log(1 - s)))
            loss.backward()
            assert close(zv.grad, s - t)


@pytest.mark.parametrize("z", [1000.0, -1000.0, 750.0, -750.0])
def test_bce_with_logits_is_exact_for_huge_logits(z):
    zv = Value(z)
    loss = bce_with_logits_loss(zv, 1.0)
    assert loss.data == max(-z, 0.0)
    loss.backward()
    assert zv.grad == (0.0 if z > 0 else -1.0)
    zv = Value(z)
    loss = bce_with_logits_loss(zv, 0.0)
    assert loss.data == max(z, 0.0)
    loss.backward()
    assert zv.grad == (1.0 if z > 0 else 0.0)


def test_hinge_by_hand_is_micrograds_loss():
    scores = vals([2.0, 0.5, -0.25])
    loss = hinge_loss(scores, [1, -1, -1])
    assert loss.data == (0.0 + 1.5 + 0.75) / 3
    loss.backward()
    assert [s.grad for s in scores] == [0.0, 1 / 3, 1 / 3]
    # micrograd's expression, term for term
    mg = [(1 + -y * s).relu() for y, s in zip([1, -1, -1], vals([2.0, 0.5, -0.25]), strict=True)]
    assert hinge_loss(vals([2.0, 0.5, -0.25]), [1, -1, -1]).data == (sum(mg) * (1.0 / 3)).data
    assert hinge_loss(Value(0.5), -1, margin=2.0).data == 2.5


def test_hinge_rejects_zero_one_labels():
    with pytest.raises(ValueError, match=r"label 1 is 0; labels must be -1 or \+1"):
        hinge_loss(vals([1.0, 1.0]), [1, 0])


def test_cross_entropy_by_hand():
    z = vals([1.0, 2.0, 3.0])
    loss = cross_entropy(z, 2)
    lse = math.log(math.e + math.e**2 + math.e**3)
    assert close(loss.data, lse - 3.0)
    loss.backward()
    soft = [math.exp(v - lse) for v in (1.0, 2.0, 3.0)]
    for v, s, onehot in zip(z, soft, (0, 0, 1), strict=True):
        assert close(v.grad, s - onehot)


def test_cross_entropy_extreme_logits():
    z = vals([0.0, 1000.0])
    loss = cross_entropy(z, 0)
    assert loss.data == 1000.0
    loss.backward()
    assert [v.grad for v in z] == [-1.0, 1.0]
    z = vals([-1000.0, 1000.0, 0.0])
    loss = cross_entropy(z, 1)
    assert loss.data == 0.0
    loss.backward()
    assert [v.grad for v in z] == [0.0, 0.0, 0.0]
    batch = [vals([1000.0, -1000.0]), vals([-1000.0, 1000.0])]
    assert cross_entropy(batch, [1, 1]).data == 1000.0  # (2000 + 0) / 2


def test_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"target 0 is 3; expected a class index in 0\.\.2"):
        cross_entropy(vals([1.0, 2.0, 3.0]), 3)
    with pytest.raises(ValueError, match="2 samples but 1 targets"):
        cross_entropy([vals([1.0, 2.0]), vals([1.0, 2.0])], [0])
    with pytest.raises(ValueError, match="single logit"):
        cross_entropy([Value(1.0)], [0])
    with pytest.raises(ValueError, match="class index"):
        cross_entropy(vals([1.0, 2.0]), 0.5)


def test_softmax_and_log_softmax_by_hand_and_stable():
    p = softmax(vals([1.0, 2.0, 3.0]))
    total = math.e + math.e**2 + math.e**3
    assert [v.data for v in p] == pytest.approx([math.e / total, math.e**2 / total,
                                                 math.e**3 / total], rel=1e-15)
    big = softmax(vals([1000.0, 999.0]))
    assert big[0].data == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-15)
    ls = log_softmax(vals([-1000.0, 1000.0]))
    assert [v.data for v in ls] == [-2000.0, 0.0]
    assert all(math.isfinite(v.data) for v in softmax(vals([1e4, -1e4, 0.0])))
    x = vals([0.3, -0.2, 1.1])
    sum(v * w for v, w in zip(log_softmax(x), [1.0, 2.0, 3.0], strict=True)).backward()
    soft = [v.data for v in softmax(vals([0.3, -0.2, 1.1]))]
    for v, w, s in zip(x, [1.0, 2.0, 3.0], soft, strict=True):
        assert close(v.grad, w - 6.0 * s)  # d/dx_i sum_j w_j (x_j - lse)


def test_softmax_gradients_match_finite_differences():
    assert gradcheck(lambda a, b, c: softmax([a, b, c]), [0.2, -1.0, 0.7])
    assert gradcheck(lambda a, b, c: log_softmax([a, b, c]), [0.2, -1.0, 0.7])
    assert gradcheck(lambda a, b, c: cross_entropy([a, b, c], 1), [0.2, -1.0, 0.7])
    assert gradcheck(lambda a, b: bce_with_logits_loss([a, b], [0.2, 1.0]), [0.3, -2.0])


def test_l2_penalty_is_one_dot_node():
    ps = vals([3.0, 4.0])
    pen = l2_penalty(ps, 0.5)
    assert pen.data == 12.5
    assert pen.op.name == "mul" and pen.parents[1].op.name == "dot"
    pen.backward()
    assert [p.grad for p in ps] == [3.0, 4.0]  # 2 * alpha * p
    assert l2_penalty([], 1.0).data == 0.0


def test_reductions_and_shape_errors():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        hinge_loss(vals([1.0]), [1], reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(vals([1.0]), [1.0], reduction="max")
    with pytest.raises(ValueError, match="got 2 predictions but 3 targets"):
        mse_loss(vals([1.0, 2.0]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sample 0 has 2 outputs but 1 targets"):
        mse_loss([vals([1.0, 2.0])], [[1.0]])
    with pytest.raises(ValueError, match="single target"):
        mse_loss(vals([1.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="empty batch"):
        mse_loss([], [])
    assert len(bce_with_logits_loss(vals([1.0, 2.0]), [0, 1], reduction="none")) == 2
    assert bce_with_logits_loss(vals([1.0, 2.0]), [0, 1], reduction="sum").data == \
        pytest.approx(bce_with_logits_loss(vals([1.0, 2.0]), [0, 1]).data * 2, rel=1e-15)


# -- PyTorch -----------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _torch_case(torch, values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_torch(torch, reduction):
    F = torch.nn.functional
    rng = random.Random(0)
    z = [rng.uniform(-4, 4) for _ in range(6)] + [1000.0, -1000.0, 35.0, -35.0, 0.0]
    t = [rng.choice([0.0, 1.0, 0.3]) for _ in z]
    p = [1 / (1 + math.exp(-v)) if abs(v) < 30 else 0.5 for v in z]
    y = [rng.choice([-1, 1]) for _ in z]
    cases = [
        (mse_loss, z, t, lambda a, b: F.mse_loss(a, b, reduction=reduction)),
        (bce_loss, p, t, lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction)),
        (bce_with_logits_loss, z, t,
         lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction)),
        (hinge_loss, z, y, lambda a, b: getattr(torch.relu(1 - a * b), reduction)()),
    ]
    for ours_fn, xs, ts, theirs_fn in cases:
        ours_in = vals(xs)
        ours = ours_fn(ours_in, ts, reduction=reduction)
        ours.backward()
        theirs_in = _torch_case(torch, xs)
        theirs = theirs_fn(theirs_in, torch.tensor(ts, dtype=torch.float64))
        theirs.backward()
        assert close(ours.data, theirs.item()), ours_fn.__name__
        assert [v.grad or 0.0 for v in ours_in] == pytest.approx(
            theirs_in.grad.tolist(), rel=1e-12, abs=1e-15), ours_fn.__name__


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch_including_extreme_logits(torch, reduction):
    rng = random.Random(1)
    logits = [[rng.uniform(-5, 5) for _ in range(4)] for _ in range(5)]
    logits += [[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, -1000.0, -999.0]]
    targets = [rng.randrange(4) for _ in logits]
    ours_in = [vals(row) for row in logits]
    ours = cross_entropy(ours_in, targets, reduction=reduction)
    ours.backward()
    theirs_in = _torch_case(torch, logits)
    theirs = torch.nn.functional.cross_entropy(theirs_in, torch.tensor(targets),
                                               reduction=reduction)
    theirs.backward()
    assert close(ours.data, theirs.item())
    for row, trow in zip(ours_in, theirs_in.grad.tolist(), strict=True):
        assert [v.grad for v in row] == pytest.approx(trow, rel=1e-12, abs=1e-15)


def test_softmax_matches_torch(torch):
    xs = [0.5, -2.0, 3.0, 1000.0 - 999.0, 0.0]
    w = [0.1, 0.2, -0.3, 0.4, 0.5]
    for ours_fn, theirs_fn in ((softmax, torch.softmax), (log_softmax, torch.log_softmax)):
        ours_in = vals(xs)
        out = ours_fn(ours_in)
        sum(o * c for o, c in zip(out, w, strict=True)).backward()
        theirs_in = _torch_case(torch, xs)
        tout = theirs_fn(theirs_in, dim=0)
        (tout * torch.tensor(w, dtype=torch.float64)).sum().backward()
        assert [o.data for o in out] == pytest.approx(tout.tolist(), rel=1e-14, abs=1e-16)
        assert [v.grad for v in ours_in] == pytest.approx(theirs_in.grad.tolist(), rel=1e-12,
                                                          abs=1e-15)
