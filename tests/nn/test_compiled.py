"""nn.compiled: the compiled training step against nn's dynamic losses and PyTorch."""

from __future__ import annotations

import random

import pytest

from engine import zero_grad
from nn import MLP
from nn import losses as L
from nn.compiled import CompiledLoss, compiled_loss

np = pytest.importorskip("numpy")

R = random.Random(0)
X = [[R.uniform(-2, 2), R.uniform(-2, 2)] for _ in range(24)]
CASES = {
    "hinge": (1, [R.choice([-1, 1]) for _ in X], L.hinge_loss, None),
    "mse": (2, [[R.gauss(0, 1), R.gauss(0, 1)] for _ in X], L.mse_loss, None),
    "bce_logits": (1, [R.choice([0.0, 1.0, 0.3]) for _ in X], L.bce_with_logits_loss, None),
    "bce": (1, [R.choice([0.0, 1.0, 0.3]) for _ in X], L.bce_loss, "sigmoid"),
    "cross_entropy": (3, [R.randrange(3) for _ in X], L.cross_entropy, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_loss_matches_nn_losses(name):
    nout, y, loss_fn, out_act = CASES[name]
    model = MLP(2, [8, nout], rng=1, output_activation=out_act)
    params = model.parameters()
    dynamic = loss_fn([model(x) for x in X], y) + L.l2_penalty(params, 1e-3)
    dynamic.backward()
    want = [p.grad for p in params]
    zero_grad(params)
    compiled = CompiledLoss(model, name, alpha=1e-3)
    assert compiled.backward(X, y) == pytest.approx(dynamic.data, rel=1e-12)
    assert [p.grad for p in params] == pytest.approx(want, rel=1e-10, abs=1e-15)
    assert "@" in compiled.source


def test_large_logits_stay_finite_and_exact():
    model = MLP(1, [2], rng=0, activation="relu")
    for p in model.parameters():
        p.data = 0.0
    model.layers[0].neurons[0].b.data = 1000.0
    compiled = CompiledLoss(model, "cross_entropy")
    assert compiled.backward([[0.0], [1.0]], [1, 0]) == pytest.approx(500.0)
    compiled = CompiledLoss(MLP(1, [1], rng=0), "bce_logits")
    compiled.model.layers[0].neurons[0].b.data = -1000.0
    compiled.params[-1].data = -1000.0
    assert compiled.backward([[0.0]], [1.0]) == pytest.approx(1000.0)


def test_one_hundred_demo_steps_end_at_the_dynamic_loss():
    from nn.data import micrograd_moons

    Xd, yd = micrograd_moons()
    models = [MLP(2, [16, 16, 1], rng=1337) for _ in range(2)]
    dyn, comp = models
    params = dyn.parameters()
    compiled = CompiledLoss(comp, "hinge", alpha=1e-4)
    Xa, ya = np.array(Xd), np.array(yd, dtype=float)
    for k in range(100):
        lr = 1.0 - 0.9 * k / 100
        loss = L.hinge_loss([dyn(x) for x in Xd], yd) + L.l2_penalty(params, 1e-4)
        dyn.zero_grad()
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        closs = compiled.sgd_step(Xa, ya, lr)
        assert closs == pytest.approx(loss.data, rel=1e-12, abs=1e-12)
    compiled.store()
    assert [p.data for p in comp.parameters()] == pytest.approx([p.data for p in params],
                                                                rel=1e-10, abs=1e-12)


def test_gradients_match_pytorch_float64():
    torch = pytest.importorskip("torch")
    model = MLP(2, [5, 1], rng=3, activation="tanh")
    y = [R.choice([-1, 1]) for _ in X]
    compiled = CompiledLoss(model, "hinge", alpha=1e-2)
    compiled.backward(X, y)
    layer0, layer1 = model.layers
    W0 = torch.tensor([[w.data for w in n.w] for n in layer0.neurons],
                      dtype=torch.float64, requires_grad=True)
    b0 = torch.tensor([n.b.data for n in layer0.neurons], dtype=torch.float64,
                      requires_grad=True)
    W1 = torch.tensor([[w.data for w in layer1.neurons[0].w]], dtype=torch.float64,
                      requires_grad=True)
    b1 = torch.tensor([layer1.neurons[0].b.data], dtype=torch.float64, requires_grad=True)
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    s = (torch.tanh(Xt @ W0.T + b0) @ W1.T + b1)[:, 0]
    loss = torch.relu(1 - yt * s).mean() + 1e-2 * sum((t * t).sum() for t in (W0, b0, W1, b1))
    loss.backward()
    want = []
    for j in range(5):
        want += W0.grad[j].tolist() + [b0.grad[j].item()]
    want += W1.grad[0].tolist() + [b1.grad[0].item()]
    assert [p.grad for p in model.parameters()] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_the_same_batch_object_is_converted_once():
    model = MLP(2, [3, 1], rng=0)
    compiled = CompiledLoss(model, "mse")
    Xa, ya = np.array(X), np.zeros(len(X))
    compiled.backward(Xa, ya)
    first = compiled._targets[2]
    compiled.backward(Xa, ya.copy())  # equal targets: their rows are reused
    assert compiled._targets[2] is first
    ya[0] = 1.0  # edited in place: converted again, never stale
    compiled.backward(Xa, ya)
    assert compiled._targets[2] is not first and compiled._targets[2][0, 0] == 1.0


def test_clear_errors():
    model = MLP(2, [3], rng=0)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        CompiledLoss(model, "l1")
    with pytest.raises(ValueError, match=r"cross_entropy: target 1 is 3; expected a class "
                                         r"index in 0\.\.2"):
        CompiledLoss(model, "cross_entropy").backward(X[:2], [0, 3])
    with pytest.raises(ValueError, match="2 samples but 3 targets"):
        CompiledLoss(MLP(2, [1], rng=0), "mse").backward(X[:2], [0.0, 1.0, 2.0])


def test_entry_point_for_fit():
    model = MLP(2, [1], rng=0)
    compiled = compiled_loss(model, "hinge", 1e-4)
    assert isinstance(compiled, CompiledLoss) and compiled.source == ""


def test_fit_with_the_compiled_step_matches_the_dynamic_fit():
    from nn.compiled import compiled_step
    from nn.data import make_moons
    from nn.train import dynamic_step, fit

    Xm, ym = make_moons(40, noise=0.1, rng=0)
    runs = []
    for step in (None, compiled_step("hinge", dynamic_step)):
        model = MLP(2, [8, 8, 1], rng=1337)
        history = fit(model, Xm, ym, loss="hinge", epochs=15, lr=0.1, l2=1e-4, step=step,
                      verbose=False)
        runs.append((history, [p.data for p in model.parameters()]))
    (h_dyn, p_dyn), (h_comp, p_comp) = runs
    assert h_comp.train_loss == pytest.approx(h_dyn.train_loss, rel=1e-12, abs=1e-14)
    assert h_comp.train_acc == h_dyn.train_acc
    assert p_comp == pytest.approx(p_dyn, rel=1e-10, abs=1e-13)


def test_compiled_step_falls_back_to_the_dynamic_step():
    from nn import Sequential
    from nn.compiled import compilable, compiled_step
    from nn.containers import Dropout
    from nn.layers import Layer
    from nn.module import Module
    from nn.norm import BatchNorm1d
    from nn.train import dynamic_step

    assert compiled_step("a loss function, not a name", dynamic_step) is None
    # Dropout compiles since issue 14 (its masks are inputs, drawn fresh every batch);
    # BatchNorm does not (batch statistics)
    assert compilable(Sequential(Layer(2, 3, rng=0), Dropout(0.5, rng=0)), X)
    assert not compilable(Sequential(Layer(2, 3, rng=0), BatchNorm1d(3)), X)
    # nested samples compile since issue 14 (images, sequences); ragged ones do not
    assert not compilable(MLP(2, [1], rng=0), [[[1.0, 2.0], [3.0]]])  # not rectangular

    class Branchy(Module):  # Python control flow on the data: cannot be vectorised
        def __init__(self):
            super().__init__()
            self.inner = MLP(2, [3, 1], rng=0)

        def forward(self, x):
            out = self.inner(x)
            return out * 2.0 if float(x[0]) > 0 else out

    model = Branchy()
    params = model.parameters()
    y = [R.choice([-1, 1]) for _ in X]
    step = compiled_step("hinge", dynamic_step)
    got = step(model, params, X, y, L.hinge_loss, 0.0)
    grads = [p.grad for p in params]
    want = dynamic_step(model, params, X, y, L.hinge_loss, 0.0)
    assert got == want and grads == [p.grad for p in params]
