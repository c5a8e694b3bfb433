"""fit: History, batch modes, losses and optimizers by name, grad tracking, progress, errors."""

import io
import json
import math
import sys

import pytest

from engine import Value
from nn import MLP, SGD, History, fit, make_blobs, make_moons
from nn.targets import Targets
from nn.train import dynamic_step
from nn.train import evaluate_loss as evaluate


@pytest.fixture
def moons():
    return make_moons(40, noise=0.1, rng=0)


def test_history_fields_per_epoch(moons):
    X, y = moons
    model = MLP(2, [8, 1], rng=0)
    h = fit(model, X[:30], y[:30], loss="hinge", optimizer="sgd", lr=0.3, epochs=5,
            X_test=X[30:], y_test=y[30:], verbose=False)
    assert h.epoch == [1, 2, 3, 4, 5]
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert len(getattr(h, name)) == 5, name
    assert all(0.0 <= a <= 1.0 for a in h.train_acc + h.test_acc)
    assert h.lr == [0.3] * 5 and h.grad_norms == {}
    assert h.train_loss[-1] < h.train_loss[0]
    loss, acc = evaluate(model, X[30:], y[30:], "hinge")
    assert (loss, acc) == (h.test_loss[-1], h.test_acc[-1])


def test_history_without_test_set_has_empty_test_lists(moons):
    h = fit(MLP(2, [4, 1], rng=0), *moons, epochs=2, verbose=False)
    assert h.test_loss == [] and h.test_acc == [] and len(h.train_loss) == 2


def test_history_serialises(moons):
    h = fit(MLP(2, [4, 1], rng=0), *moons, epochs=3, verbose=False, track_grads=True)
    d = json.loads(h.to_json())
    assert d == json.loads(json.dumps(h.as_dict()))
    assert History.from_dict(d) == h
    rows = h.to_csv().strip().splitlines()
    assert rows[0] == ("epoch,train_loss,train_acc,test_loss,test_acc,lr,"
                       "grad_norm/layers.0,grad_norm/layers.1")
    assert len(rows) == 4 and rows[1].startswith(f"1,{h.train_loss[0]!r},")
    bad = History([1], [math.nan], [], [], [], [0.1])
    assert json.loads(bad.to_json())["train_loss"] == [None]


def test_full_batch_loss_is_the_loss_before_the_step(moons):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)
    before, _ = evaluate(model, X, y, "bce_logits")
    h = fit(model, X, y, loss="bce_logits", optimizer="sgd", epochs=1, verbose=False)
    assert h.train_loss[0] == before


def test_batch_modes_take_one_step_per_batch(moons):
    X, y = moons
    for batch_size, steps in ((None, 3), (1, 120), (16, 9)):
        calls = []

        def counting_step(*args, calls=calls):
            calls.append(len(args[2]))
            return dynamic_step(*args)

        fit(MLP(2, [4, 1], rng=0), X, y, epochs=3, batch_size=batch_size,
            step=counting_step, verbose=False)
        assert len(calls) == steps
        assert sum(calls) == 3 * len(X)


def test_shuffling_is_seeded(moons):
    X, y = moons
    runs = [fit(MLP(2, [4, 1], rng=0), X, y, epochs=2, batch_size=8, rng=seed,
                verbose=False).train_loss for seed in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_losses_and_optimizers_by_name():
    X, y = make_blobs(45, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], cluster_std=0.4, rng=0)
    for loss in ("cross_entropy", "mse"):
        for opt in ("sgd", "adam", "adamw"):
            model = MLP(2, [8, 3], rng=0)
            h = fit(model, X, y, loss=loss, optimizer=opt, epochs=15, batch_size=15,
                    verbose=False)
            assert h.train_loss[-1] < h.train_loss[0], (loss, opt)
            assert h.train_acc[-1] > 0.8, (loss, opt)
    X2, y2 = make_moons(40, noise=0.05, rng=0)
    for loss, out in (("bce", "sigmoid"), ("bce_logits", None), ("hinge", None), ("mse", None)):
        model = MLP(2, [8, 1], output_activation=out, rng=0)
        h = fit(model, X2, y2, loss=loss, optimizer="adam", lr=0.05, epochs=20,
                verbose=False)
        assert h.train_loss[-1] < h.train_loss[0] and h.train_acc[-1] > 0.75, loss


def test_default_loss_depends_on_the_number_of_outputs(moons):
    X, y = moons
    one = fit(MLP(2, [4, 1], rng=0), X, y, epochs=1, verbose=False)
    want = evaluate(MLP(2, [4, 1], rng=0), X, y, "bce_logits")[0]
    assert one.train_loss[0] == pytest.approx(want, rel=1e-14)
    two = fit(MLP(2, [4, 2], rng=0), X, y, epochs=1, verbose=False)
    want = evaluate(MLP(2, [4, 2], rng=0), X, y, "cross_entropy")[0]
    assert two.train_loss[0] == pytest.approx(want, rel=1e-14)


def test_a_loss_function_and_an_l2_penalty(moons):
    X, y = moons
    from nn.losses import l2_penalty, mse_loss

    model = MLP(2, [4, 1], rng=0)
    expected = mse_loss([model(x) for x in X], y).data + l2_penalty(model, 0.1).data
    h = fit(model, X, y, loss=mse_loss, epochs=1, l2=0.1, verbose=False)
    assert h.train_loss[0] == pytest.approx(expected, rel=1e-15)
    assert h.train_acc  # mse with 0/1 labels has an accuracy


def test_schedule_callable_and_scheduler(moons):
    X, y = moons
    h = fit(MLP(2, [4, 1], rng=0), X, y, epochs=3, lr=1.0, schedule=lambda k: 0.5 ** k,
            verbose=False)
    assert h.lr == [1.0, 0.5, 0.25]
    from nn.optim import StepLR

    model = MLP(2, [4, 1], rng=0)
    opt = SGD(model, lr=0.8)
    h = fit(model, X, y, optimizer=opt, schedule=StepLR(opt, 2, 0.5), epochs=5, verbose=False)
    assert h.lr == [0.8, 0.8, 0.4, 0.4, 0.2]


def test_track_grads_records_mean_abs_grad_per_layer(moons):
    X, y = moons
    model = MLP(2, [5, 4, 1], rng=0)
    h = fit(model, X, y, epochs=1, track_grads=True, verbose=False)
    assert list(h.grad_norms) == ["layers.0", "layers.1", "layers.2"]
    for i, layer in enumerate(model.layers):  # grads of the one full-batch step are still there
        ps = layer.parameters()
        assert h.grad_norms[f"layers.{i}"] == [sum(abs(p.grad) for p in ps) / len(ps)]
    h = fit(MLP(2, [5, 1], rng=0), X, y, epochs=3, batch_size=10, track_grads=True,
            verbose=False)
    assert all(len(v) == 3 and all(g > 0 for g in v) for v in h.grad_norms.values())


def test_verbose_prints_progress_and_quiet_prints_nothing(moons, capsys):
    X, y = moons
    fit(MLP(2, [4, 1], rng=0), X, y, epochs=3, verbose=False)
    assert capsys.readouterr() == ("", "")
    fit(MLP(2, [4, 1], rng=0), X, y, epochs=3, X_test=X, y_test=y, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == ["1/3", "2/3", "3/3"]
    assert "loss" in out[0] and "test_acc" in out[0]


def test_callback_sees_each_epoch(moons):
    seen = []
    fit(MLP(2, [4, 1], rng=0), *moons, epochs=3, verbose=False,
        callback=lambda epoch, h: seen.append((epoch, len(h.train_loss))))
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_evaluate_builds_no_graph_and_restores_the_mode(moons):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)
    evaluate(model, X, y, "hinge")
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    evaluate(model, X, y, "hinge")
    assert not model.training


def test_targets_and_accuracy():
    def targets(loss, y, nout):
        return Targets.infer(y, loss, nout).encode(y)[0]

    assert targets("hinge", [0, 1], 1) == [-1, 1]
    assert targets("hinge", [-1, 1], 1) == [-1, 1]
    assert targets("bce_logits", [-1, 1], 1) == [0, 1]
    assert targets("cross_entropy", [2, 0], 3) == [2, 0]
    assert targets("mse", [2, 0], 3) == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="y has 3 classes .* but the model has only 2 outputs"):
        targets("mse", [0, 2, 1], 2)

    def accuracy(loss, outputs, y):
        plan = Targets.infer(y, loss, len(outputs[0]) if isinstance(outputs[0], list) else 1)
        return plan.accuracy(outputs, plan.encode(y)[1])

    assert accuracy("hinge", [0.5, -0.1, 2.0], [1, 1, -1]) == 1 / 3
    assert accuracy("bce", [0.7, 0.2], [1, 0]) == 1.0
    assert accuracy("bce", [0.7, 0.2], [1, 1]) == 0.5
    assert accuracy("bce_logits", [0.1, -3.0], [1, 0]) == 1.0
    assert accuracy("mse", [[0.1, 0.9], [0.8, 0.3]], [1, 1]) == 0.5
    assert accuracy("mse", [0.2, 3.0], [0.5, 2.5]) is None  # regression
    assert Targets.infer([0.5, 2.5], "mse", 1).task == "regress"


def test_bad_arguments(moons):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        fit(model, X, y, loss="l1", verbose=False)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        fit(model, X, y, optimizer="rmsprop", verbose=False)
    with pytest.raises(ValueError, match="40 inputs and 39 targets"):
        fit(model, X, y[:-1], verbose=False)
    with pytest.raises(ValueError, match="both X_test and y_test"):
        fit(model, X, y, X_test=X, verbose=False)
    with pytest.raises(ValueError, match="epochs must be an int"):
        fit(model, X, y, epochs=-1, verbose=False)
    with pytest.raises(ValueError, match="MLP: expects 2 inputs, got 3"):
        fit(model, [[1.0, 2.0, 3.0]], [1], verbose=False)
    with pytest.raises(ValueError, match=r"y holds a single class \(2\)"):
        fit(model, X, [2] * len(X), loss="hinge", verbose=False)


def test_dynamic_step_resets_gradients_before_backward(moons):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)
    params = model.parameters()
    for p in params:
        p.grad = 123.0
    from nn.losses import hinge_loss

    signs = [2 * t - 1 for t in y]
    loss, outs = dynamic_step(model, params, X, signs, hinge_loss, 0.0)
    first = [p.grad for p in params]
    dynamic_step(model, params, X, signs, hinge_loss, 0.0)
    assert [p.grad for p in params] == first and 123.0 not in first
    assert len(outs) == len(X) and isinstance(outs[0], float) and isinstance(loss, float)
    assert not isinstance(loss, Value)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_uses_tqdm(moons, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fit(MLP(2, [4, 1], rng=0), *moons, epochs=3, verbose=True)
    text = terminal.getvalue()
    assert "3/3" in text and "epoch" in text and "loss=" in text
    assert capsys.readouterr().out == ""  # the bar replaces the plain lines
    terminal.truncate(0)
    fit(MLP(2, [4, 1], rng=0), *moons, epochs=3, verbose=False)
    assert terminal.getvalue() == ""


def test_fit_trains_any_module_and_probes_outputs_in_eval_mode(moons):
    from nn import Layer, Module

    class TwoLayers(Module):
        def __init__(self):
            super().__init__()
            self.hidden = Layer(2, 6, "tanh", rng=0)
            self.out = Layer(6, 2, None, rng=1)
            self.modes = []

        def forward(self, x):
            self.modes.append(self.training)
            return self.out(self.hidden(x))

    model = TwoLayers()
    h = fit(model, *moons, epochs=3, optimizer="adam", lr=0.05, track_grads=True,
            verbose=False)
    assert model.modes[0] is False and all(model.modes[1:])  # the probe, then training
    assert h.train_loss[-1] < h.train_loss[0]
    assert list(h.grad_norms) == ["hidden", "out"]


def test_standardized_regression_reports_the_same_test_loss_as_evaluate_loss():
    X = [[i / 10.0, (i % 7) / 3.0] for i in range(40)]
    y = [3.0 * a - 2.0 * b + 100.0 for a, b in X]
    model = MLP(2, [6, 1], rng=0)
    h = fit(model, X[:30], y[:30], optimizer="adam", epochs=5, standardize=True,
            X_test=X[30:], y_test=y[30:], verbose=False, backend="dynamic")
    assert model.meta["target_scaler"]["mean"] == [pytest.approx(sum(y[:30]) / 30)]
    assert evaluate(model, X[30:], y[30:], "mse") == (h.test_loss[-1], None)


@pytest.mark.parametrize("y, loss, nout, label", [
    ([0] * 6, None, 1, "0"),
    ([1] * 6, "hinge", 1, "1"),
    ([-1] * 6, "hinge", 1, "-1"),
    ([2] * 6, "cross_entropy", 3, "2"),
    ([0] * 6, "cross_entropy", 3, "0"),
    (["cat"] * 6, None, 1, "'cat'"),
    ([True] * 6, "bce_logits", 1, "True"),
])
def test_single_class_y_is_refused_before_training(y, loss, nout, label):
    # these trained without a word (a constant classifier) before
    model = MLP(2, [3, nout], rng=0)
    before = [p.data for p in model.parameters()]
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.5, 0.5], [0.2, 0.8]]
    with pytest.raises(ValueError) as info:
        fit(model, X, y, loss=loss, epochs=2, verbose=False)
    assert str(info.value) == (
        f"fit: y holds a single class ({label}); a classifier needs samples of at least two "
        "classes: add samples of the others, or for a number to predict train a regression "
        "(task='regress', loss='mse')")
    assert [p.data for p in model.parameters()] == before


def test_many_classes_with_few_samples_each_warn():
    # 60 integer "classes" over 120 samples: most likely a numeric target read as labels
    X = [[i / 120.0, 1.0 - i / 120.0] for i in range(120)]
    y = [i // 2 for i in range(120)]
    with pytest.warns(UserWarning, match=r"fit: y has 60 classes for 120 samples \(2\.0 per "
                                         r"class on average\): if y is a number to predict, "
                                         r"train a regression \(task='regress', loss='mse'\)"):
        fit(MLP(2, [60], rng=0), X, y, loss="cross_entropy", epochs=1, verbose=False)


def test_many_classes_with_enough_samples_do_not_warn(recwarn):
    X = [[i / 600.0, 1.0 - i / 600.0] for i in range(600)]
    y = [i % 51 for i in range(600)]  # 51 classes, 11.8 samples each
    fit(MLP(2, [51], rng=0), X, y, loss="cross_entropy", epochs=1, verbose=False)
    assert not [w for w in recwarn if "classes for" in str(w.message)]
