"""Optimizers step by step vs torch.optim, hand-derived steps, schedules, state, errors."""

import json
import math
import random

import pytest

from engine import Value
from nn import MLP
from nn.optim import SGD, Adam, AdamW, CosineAnnealingLR, LinearLR, StepLR


def objective(ps):
    """A non-quadratic function with different curvature per parameter."""
    return sum(((p - 0.3 * i).tanh() * (p * p + 1.0) for i, p in enumerate(ps)),
               Value(0.0, requires_grad=False))


def run(opt_cls, kwargs, start, steps=25):
    ps = [Value(x) for x in start]
    opt = opt_cls(ps, **kwargs)
    trace = []
    for _ in range(steps):
        opt.zero_grad()
        objective(ps).backward()
        grads = [p.grad for p in ps]
        opt.step()
        trace.append((grads, [p.data for p in ps]))
    return trace


# -- hand-derived steps ------------------------------------------------------------------


def test_sgd_by_hand():
    w = Value(1.0)
    opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    w.grad = 2.0
    opt.step()  # g = 2 + 0.5 * 1 = 2.5; buf = 2.5; w = 1 - 0.25
    assert w.data == 0.75
    w.grad = 2.0
    opt.step()  # g = 2 + 0.375 = 2.375; buf = 0.9 * 2.5 + 2.375 = 4.625
    assert w.data == pytest.approx(0.75 - 0.4625, rel=1e-15)


def test_nesterov_by_hand():
    w = Value(0.0)
    opt = SGD([w], lr=1.0, momentum=0.5, nesterov=True)
    w.grad = 1.0
    opt.step()  # buf = 1; g = 1 + 0.5 * 1 = 1.5
    assert w.data == -1.5
    opt.step()  # buf = 0.5 + 1 = 1.5; g = 1 + 0.75
    assert w.data == -3.25


def test_adam_first_step_moves_by_lr_in_the_gradient_sign():
    ps = [Value(1.0), Value(-1.0)]
    ps[0].grad, ps[1].grad = 3.0, -0.001
    Adam(ps, lr=0.01).step()
    # m_hat = g, v_hat = g^2: the step is lr * g / (|g| + eps)
    assert ps[0].data == pytest.approx(1.0 - 0.01 * 3.0 / (3.0 + 1e-8), rel=1e-15)
    assert ps[1].data == pytest.approx(-1.0 + 0.01 * 0.001 / (0.001 + 1e-8), rel=1e-15)


def test_adamw_decays_the_weight_not_the_gradient():
    w, v = Value(2.0), Value(2.0)
    w.grad = v.grad = 1.0
    AdamW([w], lr=0.1, weight_decay=0.5).step()
    Adam([v], lr=0.1).step()
    assert w.data == pytest.approx(v.data - 2.0 * 0.1 * 0.5, rel=1e-15)


def test_defaults_are_torchs():
    ps = [Value(0.0)]
    adam = Adam(ps)
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay, adam.amsgrad) == \
        (1e-3, (0.9, 0.999), 1e-8, 0.0, False)
    assert AdamW(ps).weight_decay == 1e-2
    sgd = SGD(ps)
    assert (sgd.lr, sgd.momentum, sgd.dampening, sgd.weight_decay, sgd.nesterov) == \
        (1e-3, 0.0, 0.0, 0.0, False)


# -- what an optimizer may touch ---------------------------------------------------------------


def test_step_changes_only_data_and_builds_no_nodes():
    model = MLP(2, [3, 1], rng=0)
    params = model.parameters()
    for opt in (SGD(model, lr=0.1, momentum=0.9), Adam(model), AdamW(model)):
        model.zero_grad()
        model([0.5, 1.0]).backward()
        grads = [p.grad for p in params]
        opt.step()
        for p, g in zip(params, grads, strict=True):
            assert type(p.data) is float and p.parents == () and p.op is None
            assert p.grad == g  # gradients are left alone
        assert all(type(v) in (float, int) for s in opt.state.values() for v in s.values())


def test_gradient_given_as_a_value_is_read_as_a_number():
    w = Value(1.0)
    w.grad = Value(2.0)  # as after backward(create_graph=True)
    SGD([w], lr=0.5).step()
    assert w.data == 0.0 and type(w.data) is float


def test_parameters_without_gradient_are_skipped():
    a, b = Value(1.0), Value(1.0)
    a.grad = 1.0
    for opt in (SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.1), Adam([a, b], lr=0.1),
                AdamW([a, b], lr=0.1)):
        opt.step()
        assert b.data == 1.0 and 1 not in opt.state


def test_zero_grad():
    ps = [Value(1.0), Value(2.0)]
    opt = SGD(ps, lr=0.1)
    for p in ps:
        p.grad = 3.0
    opt.zero_grad(set_to_none=False)
    assert [p.grad for p in ps] == [0.0, 0.0]
    opt.zero_grad()
    assert [p.grad for p in ps] == [None, None]


def test_closure_is_called_and_returned():
    w = Value(2.0)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = w * w
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.data == 4.0 and w.data == 1.0


def test_bad_settings_get_clear_errors():
    with pytest.raises(ValueError, match="invalid learning rate: -1"):
        SGD([Value(0.0)], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        SGD([Value(0.0)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid beta2: 1.0"):
        Adam([Value(0.0)], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match="parameter 1 is a float"):
        SGD([Value(0.0), 1.0], lr=0.1)
    with pytest.raises(TypeError, match="single Value"):
        SGD(Value(0.0), lr=0.1)


# -- state ---------------------------------------------------------------------------------


@pytest.mark.parametrize("opt_cls,kwargs", [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": 0.05, "amsgrad": True}),
    (AdamW, {"lr": 0.05}),
])
def test_state_dict_resumes_exactly(opt_cls, kwargs):
    start = [0.5, -1.0, 2.0]
    straight = run(opt_cls, kwargs, start, steps=10)
    ps = [Value(x) for x in start]
    opt = opt_cls(ps, **kwargs)
    for _ in range(4):
        opt.zero_grad()
        objective(ps).backward()
        opt.step()
    saved = json.loads(json.dumps(opt.state_dict()))  # JSON-able
    qs = [Value(p.data) for p in ps]
    resumed = opt_cls(qs, lr=1.0)
    resumed.load_state_dict(saved)
    assert resumed.hyperparameters() == opt.hyperparameters()
    for _ in range(6):
        resumed.zero_grad()
        objective(qs).backward()
        resumed.step()
    assert [q.data for q in qs] == straight[-1][1]
    with pytest.raises(ValueError, match="state is for"):
        (SGD if opt_cls is not SGD else Adam)(qs).load_state_dict(saved)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        resumed.load_state_dict({**saved, "hyperparameters": {"params": []}})
    with pytest.raises(ValueError, match="no 'state' dict"):
        resumed.load_state_dict({"type": saved["type"], "hyperparameters": {}})
    with pytest.raises(ValueError, match="parameter index 7"):
        resumed.load_state_dict({**saved, "state": {"7": {}}})


# -- schedules -------------------------------------------------------------------------------


def test_linear_schedule_is_micrograds_bit_for_bit():
    opt = SGD([Value(0.0)], lr=1.0)
    sched = LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)
    for k in range(100):
        assert opt.lr == 1.0 - 0.9 * k / 100
        sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.1, rel=1e-15)]


def test_schedules_by_hand():
    opt = SGD([Value(0.0)], lr=2.0)
    StepLR(opt, step_size=3, gamma=0.5)
    assert [StepLR(SGD([Value(0.0)], lr=2.0), 3, 0.5).lr_at(k) for k in (0, 2, 3, 7)] == \
        [2.0, 2.0, 1.0, 0.5]
    cos = CosineAnnealingLR(SGD([Value(0.0)], lr=1.0), T_max=4, eta_min=0.2)
    assert cos.lr_at(0) == 1.0 and cos.lr_at(4) == pytest.approx(0.2, rel=1e-15)
    assert cos.lr_at(2) == pytest.approx(0.6, rel=1e-15)
    with pytest.raises(ValueError, match="total_iters"):
        LinearLR(opt, total_iters=0)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        StepLR("sgd", 1)


# -- PyTorch -----------------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


CASES = [
    (SGD, "SGD", {"lr": 0.1}),
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.25, "weight_decay": 0.01}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    (Adam, "Adam", {}),
    (Adam, "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 0.05, "amsgrad": True}),
    (AdamW, "AdamW", {}),
    (AdamW, "AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True}),
]


@pytest.mark.parametrize("opt_cls,torch_name,kwargs", CASES)
def test_optimizers_match_torch_step_by_step(torch, opt_cls, torch_name, kwargs):
    rng = random.Random(3)
    start = [rng.uniform(-2, 2) for _ in range(5)]
    ours = run(opt_cls, kwargs, start, steps=30)
    tp = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, torch_name)([tp], **kwargs)
    for k, (grads, data) in enumerate(ours):
        topt.zero_grad()
        tp.grad = torch.tensor(grads, dtype=torch.float64)  # the same gradients
        topt.step()
        assert data == pytest.approx(tp.tolist(), rel=1e-15, abs=1e-15), f"step {k}"


def test_gradients_we_feed_torch_are_torchs_own(torch):
    start = [0.4, -1.3, 0.9]
    ((grads, _),) = run(SGD, {"lr": 0.1}, start, steps=1)
    tp = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    sum((tp[i] - 0.3 * i).tanh() * (tp[i] ** 2 + 1.0) for i in range(3)).backward()
    assert grads == pytest.approx(tp.grad.tolist(), rel=1e-14)


@pytest.mark.parametrize("make_ours,make_theirs", [
    (lambda o: LinearLR(o, 1.0, 0.1, 20), lambda t, o: t.optim.lr_scheduler.LinearLR(
        o, 1.0, 0.1, 20)),
    (lambda o: LinearLR(o), lambda t, o: t.optim.lr_scheduler.LinearLR(o)),
    (lambda o: StepLR(o, 7, 0.3), lambda t, o: t.optim.lr_scheduler.StepLR(o, 7, 0.3)),
    (lambda o: CosineAnnealingLR(o, 25, 0.01),
     lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, 25, 0.01)),
])
def test_schedules_match_torch(torch, make_ours, make_theirs):
    opt = SGD([Value(0.0)], lr=0.5)
    sched = make_ours(opt)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    tsched = make_theirs(torch, topt)
    for k in range(30):
        assert opt.lr == pytest.approx(tsched.get_last_lr()[0], rel=1e-12, abs=1e-15), k
        topt.step()
        tsched.step()
        sched.step()
    assert math.isfinite(opt.lr)
