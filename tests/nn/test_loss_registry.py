"""nn.losses.REGISTRY: one per-sample form per loss, on both paths; weights as PyTorch's."""

from __future__ import annotations

import math
import random
import re

import pytest

from engine import Value, zero_grad
from nn import MLP
from nn import losses as L
from nn.losses import REGISTRY, bce_with_logits_loss, cross_entropy, softplus

np = pytest.importorskip("numpy")
from nn.compiled import CompiledLoss  # noqa: E402  (needs numpy)

R = random.Random(7)
X = [[R.uniform(-2, 2), R.uniform(-2, 2)] for _ in range(20)]
TARGETS = {
    "hinge": (1, [R.choice([-1, 1]) for _ in X], None),
    "mse": (2, [[R.gauss(0, 1), R.gauss(0, 1)] for _ in X], None),
    "bce_logits": (1, [R.choice([0.0, 1.0, 0.3]) for _ in X], None),
    "bce": (1, [R.choice([0.0, 1.0, 0.3]) for _ in X], "sigmoid"),
    "cross_entropy": (3, [R.randrange(3) for _ in X], None),
}
SAMPLE_WEIGHTS = [R.uniform(0.0, 3.0) for _ in X]
OPTIONS = {
    "hinge": {"weight": SAMPLE_WEIGHTS, "margin": 0.5},
    "mse": {"weight": SAMPLE_WEIGHTS},
    "bce_logits": {"weight": SAMPLE_WEIGHTS, "pos_weight": 2.5},
    "bce": {"weight": SAMPLE_WEIGHTS},
    "cross_entropy": {"weight": [0.2, 1.0, 3.0]},
}


def test_every_loss_has_a_complete_entry_and_losses_derives_from_it():
    assert set(REGISTRY) == {"mse", "bce", "bce_logits", "cross_entropy", "hinge"}
    assert L.LOSSES == {name: spec.fn for name, spec in REGISTRY.items()}
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.kind in ("classify", "regress")
        assert spec.output in ("logits", "probability", "margin", "linear")
        assert L.spec_of(name) is spec and L.spec_of(spec.fn) is spec
    assert L.spec_of(lambda o, t: o) is None


def test_target_rules_come_from_the_registry_entry():
    # what nn/targets.py used to branch on by name, now read from each entry
    assert {n: s.outputs for n, s in REGISTRY.items()} == {
        "mse": "any", "bce": "one", "bce_logits": "one", "cross_entropy": "per_class",
        "hinge": "one"}
    assert {n for n, s in REGISTRY.items() if s.class_weight} == {"bce_logits", "cross_entropy"}
    assert REGISTRY["cross_entropy"].class_weight([0.5, 2.0]) == {"weight": [0.5, 2.0]}
    assert REGISTRY["bce_logits"].class_weight([0.5, 2.0]) == {"pos_weight": 4.0}
    with pytest.raises(ValueError, match="negative class weight 0"):
        REGISTRY["bce_logits"].class_weight([0.0, 1.0])


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_loss_is_the_same_on_both_paths(name, weighted):
    """The batch function (dynamic) and the compiled per-sample trace: equal values and
    gradients, with and without the loss's weights, with L2."""
    nout, y, out_act = TARGETS[name]
    options = OPTIONS[name] if weighted else {}
    model = MLP(2, [6, nout], rng=3, output_activation=out_act)
    params = model.parameters()
    dynamic = REGISTRY[name].fn([model(x) for x in X], y, **options) + L.l2_penalty(params, 1e-3)
    dynamic.backward()
    want = [p.grad for p in params]
    zero_grad(params)
    compiled = CompiledLoss(model, name, 1e-3, **options)
    assert compiled.backward(X, y) == pytest.approx(dynamic.data, rel=1e-12)
    assert [p.grad for p in params] == pytest.approx(want, rel=1e-10, abs=1e-15)


def test_compiled_loss_rejects_an_option_the_loss_does_not_take():
    with pytest.raises(ValueError, match="cross_entropy takes no option 'pos_weight'"):
        CompiledLoss(MLP(2, [3], rng=0), "cross_entropy", pos_weight=2.0)


# -- PyTorch's weights, float64 -------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _grads(values):
    return [v.grad if v.grad is not None else 0.0 for v in values]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_weight_matches_torch(torch, reduction):
    rng = random.Random(2)
    logits = [[rng.uniform(-3, 3) for _ in range(3)] for _ in range(6)] + [[1000.0, -1000.0, 0.0]]
    targets = [rng.randrange(3) for _ in logits]
    weight = [0.5, 2.0, 0.0]
    ours_in = [[Value(v) for v in row] for row in logits]
    ours = cross_entropy(ours_in, targets, reduction=reduction, weight=weight)
    theirs_in = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(
        theirs_in, torch.tensor(targets), weight=torch.tensor(weight, dtype=torch.float64),
        reduction=reduction)
    if reduction == "none":
        assert [v.data for v in ours] == pytest.approx(theirs.tolist(), rel=1e-13, abs=1e-300)
        ours, theirs = sum(ours, Value(0.0)), theirs.sum()
    assert ours.data == pytest.approx(theirs.item(), rel=1e-13)
    ours.backward()
    theirs.backward()
    for row, trow in zip(ours_in, theirs_in.grad.tolist(), strict=True):
        assert _grads(row) == pytest.approx(trow, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits_weight_and_pos_weight_match_torch(torch, reduction):
    rng = random.Random(3)
    z = [[rng.uniform(-4, 4), rng.uniform(-4, 4)] for _ in range(5)] + [[40.0, -40.0]]
    t = [[rng.choice([0.0, 1.0, 0.25]), rng.choice([0.0, 1.0])] for _ in z]
    weight = [rng.uniform(0.1, 2.0) for _ in z]
    pos_weight = [3.0, 0.5]
    ours_in = [[Value(v) for v in row] for row in z]
    ours = bce_with_logits_loss(ours_in, t, reduction, weight=weight, pos_weight=pos_weight)
    ours.backward()
    theirs_in = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        theirs_in, torch.tensor(t, dtype=torch.float64),
        weight=torch.tensor(weight, dtype=torch.float64)[:, None],
        pos_weight=torch.tensor(pos_weight, dtype=torch.float64), reduction=reduction)
    theirs.backward()
    assert ours.data == pytest.approx(theirs.item(), rel=1e-13)
    for row, trow in zip(ours_in, theirs_in.grad.tolist(), strict=True):
        assert _grads(row) == pytest.approx(trow, rel=1e-12, abs=1e-15)


def test_bce_weight_matches_torch(torch):
    rng = random.Random(4)
    p = [rng.uniform(0.01, 0.99) for _ in range(6)] + [1e-9, 1.0 - 1e-9]
    t = [rng.choice([0.0, 1.0, 0.4]) for _ in p[:-2]] + [0.0, 1.0]
    weight = [rng.uniform(0.0, 2.0) for _ in p]
    ours_in = [Value(v) for v in p]
    ours = L.bce_loss(ours_in, t, weight=weight)
    ours.backward()
    theirs_in = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy(
        theirs_in, torch.tensor(t, dtype=torch.float64),
        weight=torch.tensor(weight, dtype=torch.float64))
    theirs.backward()
    assert ours.data == pytest.approx(theirs.item(), rel=1e-13)
    assert _grads(ours_in) == pytest.approx(theirs_in.grad.tolist(), rel=1e-12, abs=1e-15)


def test_weights_are_checked():
    with pytest.raises(ValueError, match="cross_entropy: weight has 2 entries but there are 3"):
        cross_entropy([[Value(0.0)] * 3], [0], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"weight 1 is -1.0; weights must be finite and >= 0"):
        L.mse_loss([Value(0.0), Value(1.0)], [0.0, 0.0], weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="pos_weight 0 is nan"):
        bce_with_logits_loss(Value(0.0), 1.0, pos_weight=math.nan)
    with pytest.raises(ValueError, match="weight has 3 entries but there are 2 samples"):
        L.hinge_loss([Value(0.0), Value(1.0)], [1, -1], weight=[1.0, 1.0, 1.0])


# -- the kinds of fault issue 13 found -------------------------------------------------------


def test_bce_with_logits_uses_log1p_at_z_40():
    """Issue 16: log(1 + e^-40) is 0.0 in floats; the loss is 4.25e-18 (PyTorch's value)."""
    assert bce_with_logits_loss(Value(40.0), 1.0).data == 4.248354255291589e-18
    assert bce_with_logits_loss(Value(-40.0), 0.0).data == 4.248354255291589e-18
    for x in (-745.0, -40.0, -1.0, -1e-9, 0.0, 0.3, 1.0, 36.0, 1000.0):
        assert softplus(Value(x)).data == pytest.approx(
            max(x, 0.0) + math.log1p(math.exp(-abs(x))), rel=2e-16, abs=0.0), x
    model = MLP(1, [1], rng=0)
    model.layers[0].neurons[0].w[0].data, model.layers[0].neurons[0].b.data = 1.0, 0.0
    compiled = CompiledLoss(model, "bce_logits")
    assert compiled.backward([[40.0], [-40.0]], [1.0, 0.0]) == 4.248354255291589e-18
    assert not re.search(r"C\[\d+\]\(", compiled.source)  # no vectorised float function


def test_bce_on_a_saturated_sigmoid_has_zero_gradient_on_both_paths(torch):
    """Issue 13 item 1: sigmoid(50) is exactly 1.0; the compiled path's old BCE gave nan."""
    def model():
        m = MLP(1, [1], rng=0, output_activation="sigmoid")
        m.layers[0].neurons[0].w[0].data, m.layers[0].neurons[0].b.data = 1.0, 0.0
        return m
    dyn = model()
    loss = L.bce_loss([dyn([50.0])], [1.0])
    loss.backward()
    comp = model()
    value = CompiledLoss(comp, "bce").backward([[50.0]], [1.0])
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy(torch.sigmoid(50.0 * w + b),
                                                      torch.tensor([1.0], dtype=torch.float64))
    theirs.backward()
    assert value == loss.data == theirs.item() == 0.0
    want = [w.grad.item(), b.grad.item()]
    assert [p.grad for p in dyn.parameters()] == want == [0.0, 0.0]
    assert [p.grad for p in comp.parameters()] == want


@pytest.mark.parametrize(("name", "nout", "act", "y", "message"), [
    ("bce", 1, None, [1.0, 0.0], r"bce_loss: prediction \d is .*not a probability in \[0, 1\]"),
    ("bce", 1, "sigmoid", [1.0, 2.0], r"bce_loss: target 1 is 2.0, not in \[0, 1\]"),
    ("bce_logits", 1, None, [1.0, -3.0], r"bce_with_logits_loss: target 1 is -3.0, not in"),
    ("hinge", 1, None, [1, 0], r"hinge_loss: label 1 is 0; labels must be -1 or \+1"),
    ("cross_entropy", 3, None, [0, 3], r"cross_entropy: target 1 is 3; expected a class"),
])
def test_the_checks_run_on_both_paths(name, nout, act, y, message):
    """Issue 13 item 4: the compiled path trained silently on these."""
    model = MLP(2, [4, nout], rng=1, output_activation=act)
    for p in model.parameters():
        p.data *= 20.0  # outputs far outside [0, 1] for the linear output
    Xb = [[1.0, -2.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match=message):
        REGISTRY[name].fn([model(x) for x in Xb], y)
    with pytest.raises(ValueError, match=message):
        CompiledLoss(model, name).backward(Xb, y)
    step = CompiledLoss(model, name)  # the fast path too, and nothing is updated
    with pytest.raises(ValueError, match=message):
        step.sgd_step(Xb, y, 0.1)
    before = [p.data for p in model.parameters()]
    step.store()
    assert [p.data for p in model.parameters()] == before


# -- encode, decide, proba ---------------------------------------------------------------


def test_encode_decide_and_proba():
    hinge, bce, logits, ce, mse = (REGISTRY[n] for n in
                                   ("hinge", "bce", "bce_logits", "cross_entropy", "mse"))
    assert [hinge.encode(c, 1) for c in (0, 1)] == [-1.0, 1.0]
    assert hinge.encode(2, 3) == [-1.0, -1.0, 1.0]
    assert [bce.encode(c, 1) for c in (0, 1)] == [0.0, 1.0] == [logits.encode(c, 1)
                                                                for c in (0, 1)]
    assert ce.encode(2, 3) == 2 and mse.encode(1, 3) == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="expected 0 or 1"):
        bce.encode(2, 1)
    assert [hinge.decide(s) for s in (-0.5, 0.0, 0.1)] == [0, 0, 1]
    assert [bce.decide([p]) for p in (0.4, 0.5, 0.6)] == [0, 0, 1]
    assert [logits.decide(Value(z)) for z in (-1.0, 2.0)] == [0, 1]
    assert ce.decide([0.1, 3.0, 2.0]) == 1 and mse.decide([0.2, 0.1, 0.7]) == 2
    assert bce.proba(0.8) == [pytest.approx(0.2), 0.8]
    assert logits.proba([0.0]) == [0.5, 0.5]
    soft = ce.proba([1.0, 2.0, 3.0])
    total = math.e + math.e**2 + math.e**3
    assert soft == pytest.approx([math.e / total, math.e**2 / total, math.e**3 / total],
                                 rel=1e-15)
    assert hinge.proba(1.0) is None and mse.proba([1.0]) is None
    for spec in REGISTRY.values():  # decide agrees with the label encode gives
        for c in (0, 1):
            if spec.name != "cross_entropy":
                assert spec.decide(spec.encode(c, 1)) == c
