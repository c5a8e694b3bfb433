"""The optimizer contract (C2): default rates, checked learning rates, duplicate
parameters, schedules that save and resume like PyTorch's, one seed rule."""

import json
import math
import random

import pytest

from engine import Value
from nn import MLP
from nn.optim import (
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    StepLR,
)
from nn.utils import GLOBAL_RNG, make_rng

SCHEDULES = [
    (LinearLR, {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 7}),
    (StepLR, {"step_size": 3, "gamma": 0.5}),
    (CosineAnnealingLR, {"T_max": 9, "eta_min": 0.01}),
]


def test_every_optimizer_has_a_default_rate():
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw"}
    for name, cls in OPTIMIZERS.items():
        assert isinstance(cls.default_lr, float) and 0.0 < cls.default_lr < math.inf, name
    assert (SGD.default_lr, Adam.default_lr, AdamW.default_lr) == (0.1, 0.01, 0.01)


@pytest.mark.parametrize("bad", [-1.0, -1e-300, math.nan, math.inf, -math.inf, True, "0.1"])
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_bad_learning_rate_rejected_in_the_constructor(cls, bad):
    with pytest.raises(ValueError, match="invalid learning rate"):
        cls([Value(0.0)], lr=bad)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_learning_rate_rejected_by_the_setter(bad):
    opt = Adam([Value(0.0)], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = bad
    assert opt.lr == 0.1
    opt.lr = 0  # zero is a rate (PyTorch accepts it)
    assert opt.lr == 0.0 and type(opt.lr) is float


def test_bad_learning_rate_rejected_by_load_state_dict():
    opt = SGD([Value(0.0)], lr=0.1, momentum=0.9)
    state = opt.state_dict()
    state["hyperparameters"]["lr"] = -0.5
    with pytest.raises(ValueError, match="learning rate in the state"):
        opt.load_state_dict(state)
    assert opt.lr == 0.1 and opt.momentum == 0.9


def test_growing_step_schedule_is_inf_as_torch():
    torch = pytest.importorskip("torch")
    w = torch.zeros((), dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([w], lr=1.0)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=1, gamma=10.0)
    for _ in range(400):
        topt.step()
        tsched.step()
    assert tsched.get_last_lr() == [math.inf]
    opt = SGD([Value(0.0)], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=10.0)
    assert sched.lr_at(400) == math.inf  # no OverflowError
    assert sched.lr_at(300) == 1e300
    for _ in range(308):
        sched.step()
    assert opt.lr == 1e308
    sched.step()  # past the float range: inf, as torch's get_last_lr() (no error)
    assert sched.get_last_lr() == [math.inf] and sched.last_epoch == 309


def _torch_rates(tcls, steps, lr, **kwargs):
    torch = pytest.importorskip("torch")
    w = torch.zeros((), dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([w], lr=lr)
    tsched = tcls(topt, **kwargs)
    rates = [tsched.get_last_lr()[0]]
    for _ in range(steps):
        topt.step()
        tsched.step()
        rates.append(tsched.get_last_lr()[0])
    return rates


@pytest.mark.parametrize("cls,lr,kwargs", [
    (StepLR, 1.0, {"step_size": 1, "gamma": 1e100}),
    (StepLR, 0.5, {"step_size": 2, "gamma": 1e200}),
    (StepLR, 0.0, {"step_size": 1, "gamma": 1e200}),  # 0 stays 0 (not 0 * inf = nan)
])
def test_schedule_past_the_float_range_sets_inf_as_torch(cls, lr, kwargs):
    torch = pytest.importorskip("torch")
    theirs = _torch_rates(getattr(torch.optim.lr_scheduler, cls.__name__), 6, lr, **kwargs)
    opt = SGD([Value(0.0)], lr=lr)
    sched = cls(opt, **kwargs)
    ours = sched.get_last_lr()
    for _ in range(6):
        sched.step()
        ours += sched.get_last_lr()
    assert math.inf in theirs and 0.0 not in theirs or lr == 0.0
    assert [math.isinf(r) for r in ours] == [math.isinf(r) for r in theirs]
    assert ours == pytest.approx(theirs, rel=1e-12)
    opt2 = SGD([Value(0.0)], lr=0.1)
    opt2.load_state_dict(opt.state_dict())  # a state holding inf loads back
    assert opt2.lr == ours[-1]
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = math.inf  # the user's own rate must still be finite


def test_linear_schedule_past_the_float_range_sets_inf():
    # torch's LinearLR refuses factors > 1; ours accepts them and, like StepLR, reaches inf
    opt = SGD([Value(0.0)], lr=1e300)
    sched = LinearLR(opt, start_factor=1.0, end_factor=1e100, total_iters=4)
    rates = sched.get_last_lr()
    for _ in range(5):
        sched.step()
        rates += sched.get_last_lr()
    assert rates == [1e300] + [math.inf] * 5 and sched.last_epoch == 5


def test_schedule_arguments_are_checked():
    opt = SGD([Value(0.0)], lr=1.0)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        StepLR(opt, step_size=1, gamma=-0.5)
    with pytest.raises(ValueError, match="eta_min must be a finite number >= 0"):
        CosineAnnealingLR(opt, T_max=5, eta_min=-1.0)
    with pytest.raises(ValueError, match="start_factor"):
        LinearLR(opt, start_factor=math.nan)
    with pytest.raises(ValueError, match="total_iters must be an int >= 1"):
        LinearLR(opt, total_iters=0)


@pytest.mark.parametrize("cls,kwargs", SCHEDULES)
def test_schedule_state_dict_is_torchs_minus_the_optimizer(cls, kwargs):
    opt = SGD([Value(0.0)], lr=0.5)
    sched = cls(opt, **kwargs)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4 and state["base_lr"] == 0.5
    assert json.loads(json.dumps(state)) == state
    for key, value in kwargs.items():
        assert state[key] == value


@pytest.mark.parametrize("cls,kwargs", SCHEDULES)
def test_schedule_resume_continues_bit_for_bit(cls, kwargs):
    def train(ps, opt, sched, epochs):
        for _ in range(epochs):
            opt.zero_grad()
            sum((p * p * p).tanh() for p in ps).backward()
            opt.step()
            sched.step()
        return [p.data for p in ps]

    start = [0.5, -1.0, 2.0]
    ps = [Value(x) for x in start]
    opt = Adam(ps, lr=0.3)
    straight = train(ps, opt, cls(opt, **kwargs), 12)
    lrs_straight = opt.lr

    ps = [Value(x) for x in start]
    opt = Adam(ps, lr=0.3)
    sched = cls(opt, **kwargs)
    train(ps, opt, sched, 5)
    saved = json.loads(json.dumps({"opt": opt.state_dict(), "sched": sched.state_dict(),
                                   "w": [p.data for p in ps]}))
    qs = [Value(x) for x in saved["w"]]
    opt2 = Adam(qs, lr=0.3)
    sched2 = cls(opt2, **kwargs)  # as PyTorch: build, then load both state dicts
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    assert train(qs, opt2, sched2, 7) == straight
    assert opt2.lr == lrs_straight


def _torch_schedule_after_four_steps(cls, kwargs):
    """torch's schedule of the same name over SGD(lr=0.5), stepped four times."""
    torch = pytest.importorskip("torch")
    tcls = getattr(torch.optim.lr_scheduler, cls.__name__)
    w = torch.zeros((), dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.5)
    tsched = tcls(topt, **kwargs)
    for _ in range(4):
        topt.step()
        tsched.step()
    return torch, tcls, topt, tsched


@pytest.mark.parametrize("cls,kwargs", SCHEDULES)
def test_schedule_resume_matches_torch(cls, kwargs):
    torch, tcls, topt, tsched = _torch_schedule_after_four_steps(cls, kwargs)
    tstate = tsched.state_dict()
    opt = SGD([Value(0.0)], lr=0.5)
    sched = cls(opt, **kwargs)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == tstate["last_epoch"] == 4
    assert state["base_lr"] == tstate["base_lrs"][0]
    for key in kwargs:
        assert state[key] == tstate[key]
    # resumed on both sides: the same rates as PyTorch's run
    w2 = torch.zeros((), dtype=torch.float64, requires_grad=True)
    topt2 = torch.optim.SGD([w2], lr=0.5)
    tsched2 = tcls(topt2, **kwargs)
    topt2.load_state_dict(topt.state_dict())
    tsched2.load_state_dict(tstate)
    opt2 = SGD([Value(0.0)], lr=0.5)
    sched2 = cls(opt2, **kwargs)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(state)
    for _ in range(8):
        topt2.step()
        tsched2.step()
        sched2.step()
        assert opt2.lr == pytest.approx(tsched2.get_last_lr()[0], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("cls,kwargs", SCHEDULES)
def test_schedule_loads_torchs_own_state_dict(cls, kwargs):
    torch, tcls, topt, tsched = _torch_schedule_after_four_steps(cls, kwargs)
    opt = SGD([Value(0.0)], lr=0.5)
    sched = cls(opt, **kwargs)
    sched.load_state_dict(tsched.state_dict())
    opt.lr = tsched.get_last_lr()[0]
    assert sched.last_epoch == 4 and sched.base_lr == 0.5
    for _ in range(6):
        topt.step()
        tsched.step()
        sched.step()
        assert opt.lr == pytest.approx(tsched.get_last_lr()[0], rel=1e-12, abs=1e-15)


def test_schedule_load_state_dict_refuses_what_does_not_fit():
    sched = StepLR(SGD([Value(0.0)], lr=1.0), step_size=2)
    good = sched.state_dict()
    with pytest.raises(ValueError, match="unknown: T_max"):
        sched.load_state_dict({**good, "T_max": 3})
    with pytest.raises(ValueError, match="missing: gamma"):
        sched.load_state_dict({k: v for k, v in good.items() if k != "gamma"})
    with pytest.raises(ValueError, match="last_epoch must be an int"):
        sched.load_state_dict({**good, "last_epoch": "3"})
    with pytest.raises(ValueError, match="base_lr in the state of StepLR"):
        sched.load_state_dict({**good, "base_lr": math.nan})
    with pytest.raises(ValueError, match="expected a dict"):
        sched.load_state_dict([1])
    with pytest.raises(ValueError, match="a PyTorch state with 2 parameter groups"):
        sched.load_state_dict({**good, "base_lrs": [1.0, 2.0]})
    assert sched.state_dict() == good
    assert issubclass(StepLR, LRScheduler)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_duplicate_parameter_rejected(cls):
    p, q = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match="parameter 2 appears twice .*also parameter 0"):
        cls([p, q, p], lr=0.1)


def test_duplicate_parameter_sgd_p_p_from_the_issue():
    p = Value(1.0)
    with pytest.raises(ValueError, match="parameter 1 appears twice"):
        SGD([p, p], lr=0.1)


def test_optimizer_over_a_model_takes_each_parameter_once():
    model = MLP(2, [3, 1], rng=0)
    opt = SGD(model, lr=0.1)
    assert len(opt.params) == model.num_parameters()


# -- the seed rule -------------------------------------------------------------------------


def test_make_rng_int_random_and_none():
    assert make_rng(5).random() == random.Random(5).random()
    g = random.Random(1)
    assert make_rng(g) is g
    assert make_rng(None) is GLOBAL_RNG is make_rng(random)
    random.seed(1337)
    a = make_rng(None).random()
    random.seed(1337)
    assert a == random.random()
    for bad in (True, 1.5, "3"):
        with pytest.raises(TypeError, match="rng: expected"):
            make_rng(bad)


def test_make_rng_is_the_one_rule_of_nn():
    import nn.containers
    import nn.data
    import nn.layers
    import nn.tasks

    assert nn.layers.make_rng is make_rng
    assert nn.data._rng is make_rng
    assert nn.tasks.make_rng is make_rng and nn.containers.make_rng is make_rng
    assert not hasattr(nn.tasks, "_random")


def test_none_uses_the_global_generator_everywhere():
    from nn import Dropout, make_moons

    random.seed(7)
    first = (MLP(2, [2]).parameters()[0].data, make_moons(4, rng=None)[0],
             [v.data for v in Dropout(0.5)([1.0] * 6)])
    random.seed(7)
    again = (MLP(2, [2]).parameters()[0].data, make_moons(4, rng=None)[0],
             [v.data for v in Dropout(0.5)([1.0] * 6)])
    assert first == again


@pytest.mark.parametrize("lr", [-1.0, math.nan, math.inf])
def test_fit_lr_reaching_a_given_optimizer_is_checked(lr):
    from nn import fit, make_moons

    X, y = make_moons(20, rng=0)
    model = MLP(2, [3, 1], rng=0)
    before = model.state_dict()
    with pytest.raises(ValueError, match="invalid learning rate"):
        fit(model, X, y, optimizer=SGD(model, lr=0.1), lr=lr, epochs=1, verbose=False)
    assert model.state_dict() == before  # refused before any training


def test_numpy_numbers_are_numbers():
    np = pytest.importorskip("numpy")
    opt = Adam([Value(0.0)], lr=np.float32(0.5), betas=(np.float64(0.9), 0.99))
    assert opt.lr == 0.5 and type(opt.lr) is float
    opt.lr = np.int64(1)
    assert opt.lr == 1.0 and type(opt.lr) is float
    sched = StepLR(opt, step_size=np.int64(2), gamma=np.float64(0.5))
    assert sched.step_size == 2 and type(sched.step_size) is int
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = np.float64(-1.0)
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = np.bool_(True)
