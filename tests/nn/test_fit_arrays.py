"""fit's compiled backend on arrays (issue 13): the training set held as numpy arrays, the
outputs returned as arrays and decided vectorised, the optimizer's state written back only
when something reads it. Every speed path here must give the numbers of the slow one."""

from __future__ import annotations

import math

import pytest

from nn.losses import REGISTRY
from nn.targets import Targets

np = pytest.importorskip("numpy")
nan, inf = math.nan, math.inf

#: Rows where Python's max/index and numpy's argmax part ways: ties, NaN first, in the
#: middle and everywhere, infinities, signed zeros.
AWKWARD_ROWS = [
    [1.0, 2.0, 2.0], [2.0, 2.0, 1.0], [nan, 5.0, 1.0], [1.0, nan, 5.0], [5.0, nan, 1.0],
    [nan, nan, nan], [-inf, nan, -inf], [-inf, -inf, -inf], [inf, inf, 1.0], [1.0, inf, nan],
    [-0.0, 0.0, -1.0], [0.0, -0.0, -1.0], [-1.0, -0.0, 0.0], [nan, -inf, inf],
]


@pytest.mark.parametrize("loss", sorted(REGISTRY))
def test_vectorised_decision_equals_the_per_sample_rule_on_ties_and_nan(loss):
    """Targets.decide_rows on a (N, k) array gives decide's class for every row."""
    for k, rows in ((3, AWKWARD_ROWS), (1, [[nan], [0.0], [-0.0], [0.5], [0.7], [-1.0],
                                            [inf], [-inf], [1.0]])):
        plan = Targets("classify", loss, [0, 1, 2][:max(k, 2)], k)
        want = [plan.decide(r) for r in rows]
        got = plan.decide_rows(np.array(rows)).tolist()
        assert got == want, (loss, k)


def test_vectorised_decision_with_a_sigmoid_threshold():
    plan = Targets("classify", "hinge", [0, 1], 1, threshold=0.5)
    rows = [[nan], [0.5], [0.50001], [0.2], [inf]]
    assert plan.decide_rows(np.array(rows)).tolist() == [plan.decide(r) for r in rows] == [
        0, 0, 1, 0, 1]


#: AWKWARD_ROWS' classes, derived by hand from Python's max/index: a first NaN wins,
#: other NaNs are passed over, the first of equal values wins (-0.0 == 0.0).
AWKWARD_CLASSES = [1, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]


def test_accuracy_of_an_array_equals_the_accuracy_of_lists():
    plan = Targets("classify", "cross_entropy", [0, 1, 2], 3)
    assert [plan.decide(r) for r in AWKWARD_ROWS] == AWKWARD_CLASSES
    idx = [1, 0, 2, 2, 0, 1, 1, 0, 2, 0, 1, 2, 0, 0]  # right at rows 0, 1, 3, 4, 7, 13
    assert plan.accuracy(np.array(AWKWARD_ROWS), idx) == plan.accuracy(AWKWARD_ROWS, idx)
    assert plan.accuracy(np.array(AWKWARD_ROWS), idx) == 6 / 14
    with pytest.raises(ValueError, match="14 outputs but 2 labels"):
        plan.accuracy(np.array(AWKWARD_ROWS), [0, 1])


def test_vectorised_decision_property():
    """Random rows drawn from a few awkward values: vectorised and per-sample agree."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    values = st.sampled_from([nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0])

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(st.integers(1, 4).flatmap(
        lambda k: st.lists(st.lists(values, min_size=k, max_size=k), min_size=1, max_size=6)))
    def check(rows):
        for loss in REGISTRY:
            plan = Targets("classify", loss, [0, 1, 2, 3], len(rows[0]))
            assert plan.decide_rows(np.array(rows)).tolist() == [plan.decide(r) for r in rows]

    check()


# -- the data set held as arrays: batches by row numbers ---------------------------------


def _pair(model_fn, loss, opt_fn, **options):
    """Two equal models and compiled steppers."""
    from nn.compiled import compiled_stepper

    out = []
    for _ in range(2):
        model = model_fn()
        out.append((model, compiled_stepper(model, loss, opt_fn(model.parameters()), 1e-3,
                                            X, **options)))
    return out


R = __import__("random").Random(7)
X = [[R.uniform(-2, 2), R.uniform(-2, 2)] for _ in range(40)]
Y3 = [R.randrange(3) for _ in X]


@pytest.mark.parametrize("case", ["plain", "class_weight", "dropout"])
def test_step_rows_equals_step_on_the_gathered_batch(case):
    """fit's path (one data set, batches by row numbers) against batches handed over as
    lists: the same losses, outputs and parameters, bit for bit (class weights rescale
    each batch by its own weight sum; dropout masks are drawn in the same order)."""
    from nn import MLP, Sequential
    from nn.containers import Dropout
    from nn.layers import Layer
    from nn.optim import Adam

    def model_fn():
        if case == "dropout":
            return Sequential(Layer(2, 6, rng=1), Dropout(0.4, rng=2), Layer(6, 3, rng=3))
        return MLP(2, [6, 3], rng=1)

    options = {"weight": [0.5, 3.0, 1.0]} if case == "class_weight" else {}
    (m1, lists), (m2, rows) = _pair(model_fn, "cross_entropy",
                                    lambda ps: Adam(ps, lr=0.05), **options)
    data = rows.dataset(X, Y3)
    before = data.XY.copy()
    order = __import__("random").Random(3)
    for step in range(12):
        idx = list(range(len(X))) if step % 4 == 3 else order.sample(range(len(X)), 9)
        want = lists.step([X[i] for i in idx], [Y3[i] for i in idx])
        got = rows.step_rows(data, range(len(X)) if step % 4 == 3 else idx)
        assert got[0] == want[0]
        assert (got[1] == want[1]).all()
    lists.sync()
    rows.sync()
    assert [p.data for p in m2.parameters()] == [p.data for p in m1.parameters()]
    assert (data.XY == before).all()  # never scaled in place


def test_forward_rows_equals_forward():
    from nn import MLP
    from nn.optim import SGD

    (_, a), (_, b) = _pair(lambda: MLP(2, [5, 3], rng=4), "cross_entropy",
                           lambda ps: SGD(ps, lr=0.1))
    for s in (a, b):
        s.step(X[:10], Y3[:10])
    want = a.forward(X, Y3)
    got = b.forward_rows(b.dataset(X, Y3))
    assert got[0] == want[0] and (got[1] == want[1]).all()


def test_index_batches_are_the_batches_iteration_gives():
    from nn.data import Batches

    for kw in ({"batch_size": 7}, {"batch_size": 7, "drop_last": True}, {}):
        a, b = Batches(X, Y3, rng=4, **kw), Batches(X, Y3, rng=4, **kw)
        for _ in range(3):  # each pass draws a new shuffle from the same stream
            by_rows = [([X[i] for i in r], [Y3[i] for i in r]) for r in b.index_batches()]
            assert list(a) == by_rows


# -- the optimizer's state: written back when something reads it --------------------------


def _digits_like():
    from nn import make_blobs

    return make_blobs(60, 3, rng=2)


def _fit(backend, epochs=6, seen=None, **kw):
    """Adam on three blobs; ``seen`` collects (epoch, optimizer state) from a callback."""
    from nn import MLP
    from nn.optim import Adam
    from nn.train import fit

    Xb, yb = _digits_like()
    model = MLP(2, [6, 3], rng=5)
    opt = Adam(model.parameters(), lr=0.05)
    if seen is not None:
        kw["callback"] = lambda epoch, history: seen.append((epoch, _state(opt)))
    try:
        fit(model, Xb, yb, loss="cross_entropy", optimizer=opt, epochs=epochs, batch_size=8,
            verbose=False, backend=backend, rng=1, **kw)
    except RuntimeError:
        pass
    return model, opt


def _state(opt):
    return {i: dict(s) for i, s in opt.state.items()}


def _failing_at(epoch):
    def schedule(k):
        if k == epoch:
            raise RuntimeError("boom")
        return 0.05
    return schedule


def test_optimizer_state_is_written_back_when_training_stops_on_an_exception():
    """No callback, no checkpoint: the state is not written every epoch, but an
    exception (here a schedule failing at epoch 3) still leaves the optimizer as it
    was after epoch 2, exactly as a run of 2 epochs ends."""
    _, two = _fit("compiled", epochs=2)
    model, failed = _fit("compiled", schedule=_failing_at(2))
    assert failed.state and _state(failed) == _state(two)
    _, dynamic = _fit("dynamic", schedule=_failing_at(2))
    for i, s in dynamic.state.items():
        assert failed.state[i]["step"] == s["step"] == 2 * 8  # 60 rows in batches of 8: 8 per epoch
        for key in ("exp_avg", "exp_avg_sq"):
            assert failed.state[i][key] == pytest.approx(s[key], rel=1e-9, abs=1e-15)


def test_a_callback_reads_the_optimizer_state_of_each_epoch():
    seen = []
    _fit("compiled", epochs=3, seen=seen)
    assert [e for e, _ in seen] == [1, 2, 3]
    for e, state in seen:
        assert state == _state(_fit("compiled", epochs=e)[1])


def test_a_checkpoint_mid_run_holds_the_state_and_resumes_bit_for_bit(tmp_path):
    """Checkpoints at epoch 3 with no callback: the file holds the optimizer's state
    of epoch 3 (a failure at epoch 4 stops the run), and resuming from it to epoch 6
    gives the straight run's parameters bit for bit."""
    ck = tmp_path / "ck.json"
    straight, _ = _fit("compiled")
    _fit("compiled", checkpoint=ck, checkpoint_every=3, schedule=_failing_at(3))
    import json

    saved = json.loads(ck.read_text())
    assert saved["epoch"] == 3
    _, three = _fit("compiled", epochs=3)
    assert {int(i): s for i, s in saved["optimizer"]["state"].items()} == _state(three)
    resumed, _ = _fit("compiled", resume=ck, schedule=_failing_at(99))
    assert [p.data for p in resumed.parameters()] == [p.data for p in straight.parameters()]


def test_test_set_evaluation_of_a_dropout_model_equals_the_dynamic_engine():
    """The compiled evaluation switches the model to eval mode to trace it once, then
    runs without switching: every epoch's test loss still equals the dynamic engine's
    (no dropout at evaluation), and the model ends in the mode it started in."""
    from nn import Sequential, make_blobs
    from nn.containers import Dropout
    from nn.layers import Layer
    from nn.train import fit

    Xb, yb = make_blobs(60, 3, rng=4)
    histories = []
    for backend in ("dynamic", "compiled"):
        model = Sequential(Layer(2, 8, rng=1), Dropout(0.3, rng=2), Layer(8, 3, rng=3))
        model.eval()
        histories.append(fit(model, Xb[:40], yb[:40], loss="cross_entropy", epochs=5,
                             optimizer="adam", batch_size=8, X_test=Xb[40:], y_test=yb[40:],
                             verbose=False, backend=backend, rng=2))
        assert not model.training and not model[1].training
    dynamic, compiled = histories
    assert compiled.test_loss == pytest.approx(dynamic.test_loss, rel=1e-9, abs=1e-12)
    assert compiled.test_acc == dynamic.test_acc
    assert compiled.train_loss == pytest.approx(dynamic.train_loss, rel=1e-9, abs=1e-12)


def test_the_synced_state_is_a_snapshot_converted_at_the_first_read():
    """CompiledStepper.sync hands the optimizer a copy of its arrays; Optimizer.state
    makes the dicts at the first read: what it shows is the state at the sync, even
    after more steps; assigning state (load_state_dict) discards the pending arrays."""
    from nn import MLP
    from nn.compiled import compiled_stepper
    from nn.optim import Adam

    def run(steps, sync_at):
        model = MLP(2, [4, 3], rng=8)
        opt = Adam(model.parameters(), lr=0.05, amsgrad=True)
        stepper = compiled_stepper(model, "cross_entropy", opt, 0.0, X)
        for k in range(steps):
            stepper.step(X[k:k + 5], Y3[k:k + 5])
            if k + 1 == sync_at:
                stepper.sync()
        return opt

    later = run(7, sync_at=4)  # three more steps after the sync, before the first read
    want = run(4, sync_at=4)
    assert later.state == want.state and later.state[0]["step"] == 4
    assert set(later.state[0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    pending = run(4, sync_at=4)
    pending.load_state_dict(run(2, sync_at=2).state_dict())
    assert pending.state[0]["step"] == 2


def test_grad_means_of_the_flat_gradient_equal_the_sums_over_p_grad():
    """track_grads on the compiled path reads the flat gradient, not every p.grad: the
    same floats summed in the same order, so the same numbers, bit for bit (groups as
    fit makes them, and one group whose parameters are not consecutive)."""
    from nn import MLP
    from nn.compiled import compiled_stepper
    from nn.optim import SGD
    from nn.train import DynamicStepper, _layer_groups

    model = MLP(2, [5, 4, 3], rng=3)
    stepper = compiled_stepper(model, "cross_entropy", SGD(model.parameters(), lr=0.1), 0.0,
                               X, write_grads=True)
    params = model.parameters()
    groups = [*_layer_groups(model), ("scattered", params[::7])]
    reference = DynamicStepper(model, None, SGD(params, lr=0.1))
    for k in range(5):
        stepper.step(X[k:k + 6], Y3[k:k + 6])
        assert stepper.grad_means(groups) == reference.grad_means(groups)  # reads p.grad
