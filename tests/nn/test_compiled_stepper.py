"""nn.compiled.CompiledStepper (contract C5): parameters and optimizer state in numpy,
equal to nn.optim step for step; sync, resume and fallbacks."""

from __future__ import annotations

import random

import pytest

from nn import MLP, Sequential
from nn import losses as L
from nn.containers import Dropout
from nn.layers import Layer
from nn.optim import SGD, Adam, AdamW, LinearLR, StepLR

np = pytest.importorskip("numpy")
from nn.compiled import CompiledLoss, CompiledStepper, compiled_stepper  # noqa: E402

R = random.Random(5)
X = [[R.uniform(-2, 2), R.uniform(-2, 2)] for _ in range(30)]
Y3 = [R.randrange(3) for _ in X]

OPTIMIZERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: SGD(ps, lr=0.05, momentum=0.9),
    "sgd_dampening": lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-2),
    "sgd_nesterov": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd_maximize": lambda ps: SGD(ps, lr=0.01, momentum=0.5, maximize=True),
    "adam": lambda ps: Adam(ps, lr=0.01),
    "adam_l2": lambda ps: Adam(ps, lr=0.01, weight_decay=1e-2, betas=(0.8, 0.99)),
    "adam_amsgrad": lambda ps: Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
    "adamw_amsgrad": lambda ps: AdamW(ps, lr=0.02, amsgrad=True),
}


def _batches(k):
    lo = (7 * k) % 24
    return X[lo:lo + 6], Y3[lo:lo + 6]


def _step_both(k, ref_opt, ref_loss, stepper):
    """Batch ``k``: nn.optim's step and the stepper's, the same loss to 1e-12; the outputs."""
    Xb, yb = _batches(k)
    ref_opt.zero_grad()
    want = ref_loss.backward(Xb, yb)
    ref_opt.step()
    got, outs = stepper.step(Xb, yb)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    return outs


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_one_hundred_steps_equal_nn_optim(name):
    """The vectorised update against nn.optim's on the same gradients: 100 mini-batch
    steps, a schedule changing lr every 10 steps; parameters and state to 1e-12."""
    ref_model, model = MLP(2, [5, 3], rng=4), MLP(2, [5, 3], rng=4)
    ref_opt = OPTIMIZERS[name](ref_model.parameters())
    ref_sched = StepLR(ref_opt, 10, 0.7)
    ref_loss = CompiledLoss(ref_model, "cross_entropy", 1e-3)
    opt = OPTIMIZERS[name](model.parameters())
    sched = StepLR(opt, 10, 0.7)
    stepper = compiled_stepper(model, "cross_entropy", opt, 1e-3, X)
    assert isinstance(stepper, CompiledStepper)
    for k in range(100):
        outs = _step_both(k, ref_opt, ref_loss, stepper)
        assert outs.shape == (6, 3)
        if k % 10 == 9:
            ref_sched.step()
            sched.step()
    stepper.sync()
    theirs = [p.data for p in ref_model.parameters()]
    assert [p.data for p in model.parameters()] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    assert set(opt.state) == set(ref_opt.state)
    for i, s in ref_opt.state.items():
        assert opt.state[i].keys() == s.keys()
        for key, value in s.items():
            assert opt.state[i][key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_matches_the_dynamic_engine_with_a_linear_schedule():
    """micrograd's demo recipe (hinge, L2, SGD lr 1 -> 0.1) against the scalar graph."""
    from nn.data import micrograd_moons

    Xd, yd = micrograd_moons()
    dyn, comp = MLP(2, [16, 16, 1], rng=1337), MLP(2, [16, 16, 1], rng=1337)
    dopt, copt = SGD(dyn.parameters(), lr=1.0), SGD(comp.parameters(), lr=1.0)
    dsched, csched = LinearLR(dopt, 1.0, 0.1, 30), LinearLR(copt, 1.0, 0.1, 30)
    stepper = compiled_stepper(comp, "hinge", copt, 1e-4, Xd)
    Xa, ya = np.array(Xd), np.array(yd, dtype=float)
    for _ in range(30):
        loss = L.hinge_loss([dyn(x) for x in Xd], yd) + L.l2_penalty(dyn.parameters(), 1e-4)
        dopt.zero_grad()
        loss.backward()
        dopt.step()
        dsched.step()
        got, outs = stepper.step(Xa, ya)
        csched.step()
        assert got == pytest.approx(loss.data, rel=1e-12)
        assert outs.shape == (len(Xd), 1)  # the (B, k) outputs array (contract K1)
    stepper.sync()
    assert [p.data for p in comp.parameters()] == pytest.approx(
        [p.data for p in dyn.parameters()], rel=1e-10, abs=1e-13)
    assert [p.grad for p in comp.parameters()] == pytest.approx(
        [p.grad for p in dyn.parameters()], rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad", "adamw"])
def test_sync_then_continue_with_nn_optim_or_a_new_stepper(name):
    """A switch back to nn.optim, or a resume into a new stepper, continues exactly."""
    base = MLP(2, [4, 3], rng=9)
    runs = []
    for mode in ("stepper", "switch", "resume"):
        model = MLP(2, [4, 3], rng=9)
        model.load_state_dict(base.state_dict())
        opt = OPTIMIZERS[name](model.parameters())
        stepper = compiled_stepper(model, "cross_entropy", opt, 0.0, X)
        for k in range(20):
            if k == 10 and mode != "stepper":
                stepper.sync()
                if mode == "resume":
                    fresh = OPTIMIZERS[name](model.parameters())
                    fresh.load_state_dict(opt.state_dict())
                    stepper = compiled_stepper(model, "cross_entropy", fresh, 0.0, X)
                    opt = fresh
                else:
                    loss = CompiledLoss(model, "cross_entropy")
            Xb, yb = _batches(k)
            if mode == "switch" and k >= 10:
                opt.zero_grad()
                loss.backward(Xb, yb)
                opt.step()
            else:
                stepper.step(Xb, yb)
        if mode != "switch":
            stepper.sync()
        runs.append([p.data for p in model.parameters()])
    assert runs[1] == pytest.approx(runs[0], rel=1e-12, abs=1e-15)
    assert runs[2] == runs[0]


def test_forward_is_the_data_loss_without_l2_and_no_update():
    model = MLP(2, [4, 3], rng=2)
    opt = Adam(model.parameters(), lr=0.05)
    stepper = compiled_stepper(model, "cross_entropy", opt, 1e-2, X)
    for k in range(5):
        stepper.step(*_batches(k))
    stepper.sync()
    before = [p.data for p in model.parameters()]
    value, outs = stepper.forward(X, Y3)
    want = L.cross_entropy([model(x) for x in X], Y3)
    assert value == pytest.approx(want.data, rel=1e-12)
    assert [v for row in outs for v in row] == pytest.approx(
        [v.data for x in X for v in model(x)], rel=1e-12)
    stepper.sync()
    assert [p.data for p in model.parameters()] == before


def test_checks_stop_a_step_before_any_update():
    model = MLP(2, [3, 1], rng=0)
    opt = SGD(model.parameters(), lr=0.1)
    stepper = compiled_stepper(model, "bce_logits", opt, 0.0, X)
    with pytest.raises(ValueError, match="target 1 is -3.0"):
        stepper.step(X[:2], [1.0, -3.0])
    stepper.sync()
    assert opt.state == {} and all(p.grad is None for p in model.parameters())


def test_cross_entropy_weight_on_the_stepper_matches_the_dynamic_weighted_mean():
    model, ref = MLP(2, [4, 3], rng=6), MLP(2, [4, 3], rng=6)
    weight = [0.3, 2.0, 1.0]
    opt, ref_opt = SGD(model.parameters(), lr=0.2), SGD(ref.parameters(), lr=0.2)
    stepper = compiled_stepper(model, "cross_entropy", opt, 0.0, X, weight=weight)
    for k in range(10):
        Xb, yb = _batches(k)
        loss = L.cross_entropy([ref(x) for x in Xb], yb, weight=weight)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        assert stepper.step(Xb, yb)[0] == pytest.approx(loss.data, rel=1e-12)
    stepper.sync()
    assert [p.data for p in model.parameters()] == pytest.approx(
        [p.data for p in ref.parameters()], rel=1e-10, abs=1e-14)


def test_when_the_stepper_cannot_be_used():
    model = MLP(2, [3, 1], rng=0)
    opt = SGD(model.parameters(), lr=0.1)
    assert compiled_stepper(model, "not a loss", opt, 0.0, X) is None
    assert compiled_stepper(model, "hinge", SGD(MLP(2, [3, 1], rng=0).parameters(), lr=0.1),
                            0.0, X) is None  # another model's parameters

    class MySGD(SGD):  # a subclass may change the update
        pass

    assert compiled_stepper(model, "hinge", MySGD(model.parameters(), lr=0.1), 0.0, X) is None
    dropout = Sequential(Layer(2, 3, rng=0), Dropout(0.5, rng=0), Layer(3, 1, rng=0))
    from nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm

    assert Dropout.compilable and Layer.compilable and LayerNorm.compilable  # issue 14
    assert not BatchNorm1d.compilable and not BatchNorm2d.compilable  # declared on the class
    assert compiled_stepper(dropout, "hinge", SGD(dropout.parameters(), lr=0.1), 0.0,
                            X) is not None  # masks drawn fresh every batch (issue 14)
    batchnorm = Sequential(Layer(2, 3, rng=0), BatchNorm1d(3), Layer(3, 1, rng=0))
    assert compiled_stepper(batchnorm, "hinge", SGD(batchnorm.parameters(), lr=0.1), 0.0,
                            X) is None
    assert compiled_stepper(model, "hinge", opt, 0.0, [[[1.0, 2.0]]]) is None


def test_every_optimizer_declares_its_vectorised_update():
    from nn.compiled import vectorised
    from nn.optim import OPTIMIZERS as BY_NAME

    for name, cls in BY_NAME.items():
        assert "flat_step" in vars(cls), name  # written in nn/optim.py, next to its _update
        assert vectorised(cls(MLP(2, [1], rng=0).parameters(), lr=0.1)), name


def test_a_new_optimizer_runs_compiled_from_its_own_class_alone():
    from nn.optim import Optimizer

    class SignSGD(Optimizer):  # everything the compiled path needs is on the class
        def _update(self, i, p, g):
            p.data = p.data - self.lr * ((g > 0) - (g < 0))

        def flat_state(self, n, np):
            return {}

        def flat_step(self, theta, grad, flat, np):
            theta -= self.lr * np.sign(grad)

        def state_from_flat(self, flat):
            return {}

    ref_model, model = MLP(2, [5, 3], rng=4), MLP(2, [5, 3], rng=4)
    ref_opt, opt = SignSGD(ref_model.parameters(), 0.01), SignSGD(model.parameters(), 0.01)
    ref_loss = CompiledLoss(ref_model, "cross_entropy", 0.0)
    stepper = compiled_stepper(model, "cross_entropy", opt, 0.0, X)
    assert isinstance(stepper, CompiledStepper)
    for k in range(20):
        _step_both(k, ref_opt, ref_loss, stepper)
    stepper.sync()
    theirs = [p.data for p in ref_model.parameters()]
    assert [p.data for p in model.parameters()] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
