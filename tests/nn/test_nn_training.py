"""Issue 20 in fit: checkpoints and resume, early stopping, callbacks that stop, class weights,
drop_last, train/eval mode, BatchNorm, a sigmoid output with a logit loss, L2 without biases."""

import json
import random

import pytest

import nn
import nn.predict
from nn import (
    MLP,
    SGD,
    Adam,
    BatchNorm1d,
    Dropout,
    Layer,
    Linear,
    LinearLR,
    ReLU,
    Sequential,
    fit,
)
from nn.data import batches
from nn.targets import class_weights
from nn.train import STOP, History, decayed_parameters


@pytest.fixture
def moons():
    return nn.make_moons(60, noise=0.2, rng=0)


def params(model):
    return [p.data for p in model.parameters()]


# -- checkpoints and resume ------------------------------------------------------------------


def build(dropout=False):
    rng = random.Random(0)
    if dropout:
        model = Sequential(Layer(2, 8, rng=rng), Dropout(0.2, rng=random.Random(5)),
                           Layer(8, 1, activation=None, rng=rng))
    else:
        model = MLP(2, [8, 8, 1], rng=rng)
    opt = Adam(model, lr=0.05)
    return model, opt, LinearLR(opt, 1.0, 0.1, 20)


@pytest.mark.parametrize("backend,dropout", [("dynamic", False), ("auto", False),
                                             ("dynamic", True)])
def test_twenty_epochs_equal_ten_plus_resumed_ten_bit_for_bit(tmp_path, moons, backend,
                                                              dropout):
    X, y = moons
    kw = dict(loss="bce_logits", epochs=20, batch_size=16, rng=3, verbose=False,
              backend=backend, l2=1e-3, X_test=X[:10], y_test=y[:10])
    model, opt, schedule = build(dropout)
    whole = fit(model, X, y, optimizer=opt, schedule=schedule, **kw)
    ckpt = tmp_path / "ckpt.json"
    first, opt1, schedule1 = build(dropout)
    stop_at_10 = lambda epoch, h: STOP if epoch == 10 else None  # noqa: E731
    h1 = fit(first, X, y, optimizer=opt1, schedule=schedule1, checkpoint=ckpt,
             checkpoint_every=5, callback=stop_at_10, **kw)
    assert h1.epoch[-1] == 10 and h1.stop_reason == "callback"
    state = json.loads(ckpt.read_text())
    assert state["epoch"] == 10 and state["format"] == "dagrad-checkpoint"
    second, opt2, schedule2 = build(dropout)  # fresh objects, as a new process would make
    h2 = fit(second, X, y, optimizer=opt2, schedule=schedule2, resume=ckpt, **kw)
    assert params(second) == params(model)  # bit for bit
    assert h2.train_loss == whole.train_loss and h2.lr == whole.lr
    assert h2.test_loss == whole.test_loss and h2.epoch == list(range(1, 21))
    assert h2.stop_reason == "completed"


def test_checkpoint_is_written_every_k_epochs_and_at_the_end(tmp_path, moons):
    X, y = moons
    ckpt = tmp_path / "c.json"
    seen = []
    fit(MLP(2, [4, 1], rng=0), X, y, epochs=7, checkpoint=ckpt, checkpoint_every=3,
        verbose=False,
        callback=lambda e, h: seen.append(json.loads(ckpt.read_text())["epoch"]
                                          if ckpt.exists() else None))
    # the callback runs before the epoch's checkpoint is written
    assert seen == [None, None, None, 3, 3, 3, 6]
    assert json.loads(ckpt.read_text())["epoch"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left


def test_resume_from_a_file_that_is_not_a_checkpoint(tmp_path, moons):
    X, y = moons
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="is not a dagrad checkpoint"):
        fit(MLP(2, [4, 1], rng=0), X, y, resume=bad, verbose=False)
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        fit(MLP(2, [4, 1], rng=0), X, y, resume=tmp_path / "none.json", verbose=False)


def test_dagrad_train_resume(tmp_path, monkeypatch):
    import nn.cli
    from nn.cli import train_main

    argv = ["--samples", "40", "--hidden", "4", "--seed", "1", "--no-plots", "--quiet",
            "--epochs", "6", "--checkpoint-every", "2"]
    assert train_main([*argv, "--out", str(tmp_path / "whole")]) == 0
    real_fit = nn.cli.fit

    def stopped_at_3(*args, **kwargs):  # a run cut short after epoch 3
        return real_fit(*args, callback=lambda e, h: STOP if e == 3 else None, **kwargs)

    monkeypatch.setattr(nn.cli, "fit", stopped_at_3)
    cut = tmp_path / "cut"
    assert train_main([*argv, "--out", str(cut)]) == 0
    assert json.loads((cut / "checkpoint.json").read_text())["epoch"] == 3
    monkeypatch.setattr(nn.cli, "fit", real_fit)
    resumed = tmp_path / "resumed"
    assert train_main([*argv, "--resume", str(cut / "checkpoint.json"),
                       "--out", str(resumed)]) == 0
    a = json.loads((tmp_path / "whole" / "model.json").read_text())["state"]
    b = json.loads((resumed / "model.json").read_text())["state"]
    assert a == b
    history = json.loads((resumed / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]


# -- early stopping and callbacks ----------------------------------------------------------


def test_early_stopping_on_validation_loss_restores_the_best_weights(moons):
    X, y = moons
    snapshots = {}
    model = MLP(2, [16, 16, 1], rng=0)
    h = fit(model, X, y, optimizer="adam", lr=0.2, epochs=200, early_stopping=True,
            patience=5, verbose=False,
            callback=lambda e, hist: snapshots.__setitem__(e, params(model)))
    assert h.stop_reason == "early_stopping"
    assert h.stopped_epoch == h.epoch[-1] < 200
    best = min(range(len(h.val_loss)), key=h.val_loss.__getitem__)
    assert h.best_epoch == best + 1
    assert h.stopped_epoch - h.best_epoch == 5  # patience epochs without improvement
    assert params(model) == snapshots[h.best_epoch]  # Keras's restore_best_weights
    assert len(h.val_loss) == len(h.epoch) and len(h.val_acc) == len(h.epoch)


def test_validation_split_is_stratified_and_a_tenth(moons):
    X, y = moons
    h = fit(MLP(2, [4, 1], rng=0), X, y, epochs=1, early_stopping=True, verbose=False,
            batch_size=1)
    assert h.epoch == [1]
    # 54 of 60 samples train (one step each), 6 (3 + 3) validate
    steps = []
    fit(MLP(2, [4, 1], rng=0), X, y, epochs=1, early_stopping=True, verbose=False,
        batch_size=1, step=lambda *a: (steps.append(1), nn.train.dynamic_step(*a))[1])
    assert len(steps) == 54


def test_early_stopping_on_a_monitored_accuracy_without_restoring(moons):
    X, y = moons
    model = MLP(2, [8, 1], rng=0)
    h = fit(model, X, y, epochs=40, early_stopping=True, monitor="train_acc", patience=2,
            restore_best_weights=False, verbose=False)
    assert h.stop_reason in ("early_stopping", "completed")
    with pytest.raises(ValueError, match="monitor must be one of"):
        fit(model, X, y, early_stopping=True, monitor="accuracy", verbose=False)
    with pytest.raises(ValueError, match="monitor='test_loss' needs X_test"):
        fit(model, X, y, early_stopping=True, monitor="test_loss", verbose=False)


def test_a_callback_returning_stop_ends_training(moons):
    X, y = moons
    h = fit(MLP(2, [4, 1], rng=0), X, y, epochs=10, verbose=False,
            callback=lambda epoch, hist: STOP if epoch == 3 else None)
    assert h.epoch == [1, 2, 3] and h.stop_reason == "callback" and h.stopped_epoch == 3
    h = fit(MLP(2, [4, 1], rng=0), X, y, epochs=4, verbose=False, callback=lambda e, h: [])
    assert h.stop_reason == "completed" and h.stopped_epoch == 4


def test_an_exception_in_the_callback_keeps_the_history(moons):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)

    def boom(epoch, history):
        if epoch == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full") as info:
        fit(model, X, y, epochs=5, verbose=False, callback=boom)
    history = info.value.history
    assert isinstance(history, History) and history.epoch == [1, 2]
    assert history.stop_reason == "error: RuntimeError" and history.stopped_epoch == 2
    assert model.training


# -- class weights ---------------------------------------------------------------------------


def test_class_weight_balanced_is_scikit_learns():
    utils = pytest.importorskip("sklearn.utils.class_weight")
    np = pytest.importorskip("numpy")
    y = [0] * 19 + [1] * 3 + [2] * 8
    want = utils.compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=np.array(y))
    assert class_weights("balanced", y, [0, 1, 2]) == pytest.approx(want.tolist(), rel=1e-15)
    assert class_weights({1: 5.0}, y, [0, 1, 2]) == [1.0, 5.0, 1.0]
    with pytest.raises(ValueError, match="class_weight has label 7"):
        class_weights({7: 1.0}, y, [0, 1, 2])


def imbalanced():
    rng = random.Random(0)
    X = [[rng.gauss(0, 1), rng.gauss(0, 1)] for _ in range(95)] + \
        [[rng.gauss(1.0, 1), rng.gauss(1.0, 1)] for _ in range(5)]
    return X, [0] * 95 + [1] * 5


@pytest.mark.parametrize("loss,nout", [("cross_entropy", 2), ("bce_logits", 1)])
def test_class_weight_raises_minority_recall_on_both_backends(loss, nout):
    X, y = imbalanced()
    recalls = {}
    losses = {}
    for weight in (None, "balanced"):
        for backend in ("dynamic", "compiled"):
            model = MLP(2, [8, nout], rng=0)
            h = fit(model, X, y, loss=loss, optimizer="adam", lr=0.05, epochs=30,
                    class_weight=weight, backend=backend, verbose=False)
            report = nn.evaluate(model, X, y)
            recalls[weight, backend] = report["per_class"]["1"]["recall"]
            losses[weight, backend] = h.train_loss
    for weight in (None, "balanced"):
        assert losses[weight, "compiled"] == pytest.approx(losses[weight, "dynamic"], rel=1e-9)
    assert recalls[None, "dynamic"] < recalls["balanced", "dynamic"]
    assert recalls["balanced", "dynamic"] >= 0.8


def test_class_weight_with_another_loss_is_refused(moons):
    X, y = moons
    with pytest.raises(ValueError,
                       match="class_weight works with loss='bce_logits' or 'cross_entropy'"):
        fit(MLP(2, [4, 1], rng=0), X, y, loss="hinge", class_weight="balanced", verbose=False)


# -- batches, modes, BatchNorm, output activations, L2 ----------------------------------------


def test_drop_last_yields_no_short_batch_as_pytorch():
    assert list(batches(range(7), range(7), batch_size=10, drop_last=True)) == []
    assert [len(b) for b, _ in batches(range(7), range(7), batch_size=3, drop_last=True)] == \
        [3, 3]


def test_fit_drop_last(moons):
    X, y = moons
    steps = []
    step = lambda *a: (steps.append(len(a[2])), nn.train.dynamic_step(*a))[1]  # noqa: E731
    fit(MLP(2, [4, 1], rng=0), X, y, epochs=2, batch_size=25, drop_last=True, step=step,
        verbose=False)
    assert steps == [25, 25, 25, 25]
    with pytest.raises(ValueError, match="drop_last=True leaves no batch"):
        fit(MLP(2, [4, 1], rng=0), X, y, batch_size=100, drop_last=True, verbose=False)


@pytest.mark.parametrize("mode", [True, False])
def test_fit_leaves_the_mode_as_it_found_it(moons, mode):
    X, y = moons
    model = Sequential(Layer(2, 8, rng=0), Dropout(0.3, rng=1), Layer(8, 1, activation=None,
                                                                      rng=2))
    model.train(mode)
    fit(model, X, y, epochs=2, X_test=X, y_test=y, verbose=False)
    assert model.training is mode and all(m.training is mode for m in model.modules())
    model.predict(X)
    nn.evaluate(model, X, y)
    assert model.training is mode


def test_predictions_of_a_dropout_model_are_deterministic(moons):
    X, y = moons
    model = Sequential(Layer(2, 16, rng=0), Dropout(0.5, rng=1), Layer(16, 1, activation=None,
                                                                       rng=2))
    fit(model, X, y, epochs=3, verbose=False)
    assert model.predict(X) == model.predict(X)  # eval mode: no mask


def batch_norm_net():
    rng = random.Random(0)
    return Sequential(Linear(2, 4, rng=rng), BatchNorm1d(4), ReLU(), Linear(4, 1, rng=rng))


def test_batch_norm_models_train_on_whole_batches_as_pytorch(moons):
    torch = pytest.importorskip("torch")
    X, y = moons
    model = batch_norm_net()
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for i in (0, 3):
            theirs[i].weight.copy_(torch.tensor([[v.data for v in row] for row in
                                                 model[i].weight], dtype=torch.float64))
            theirs[i].bias.copy_(torch.tensor([v.data for v in model[i].bias],
                                              dtype=torch.float64))
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    losses = []
    for _ in range(3):  # full batch: the same sum in the same order
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(theirs(Xt)[:, 0], yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    h = fit(model, X, y, loss="bce_logits", optimizer=SGD(model, lr=0.1), epochs=3,
            verbose=False, X_test=X, y_test=y)
    assert h.train_loss == pytest.approx(losses, rel=1e-12)
    assert model[1].running_mean == pytest.approx(theirs[1].running_mean.tolist(), rel=1e-12)
    assert model[1].running_var == pytest.approx(theirs[1].running_var.tolist(), rel=1e-12)
    theirs.eval()
    with torch.no_grad():
        want = theirs(Xt)[:, 0]
    got = [row[0] for row in nn.predict.forward(model, X)]
    assert got == pytest.approx(want.tolist(), rel=1e-12)  # eval: running statistics
    assert h.test_loss[-1] == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(want, yt).item(), rel=1e-12)
    assert model.predict(X) == [int(v > 0) for v in want.tolist()] and model.training


def test_batch_norm_models_need_batches_of_two_or_more(moons):
    X, y = moons
    model = batch_norm_net()
    before = params(model)
    with pytest.raises(ValueError, match="BatchNorm layer at '1' normalizes over a batch, "
                       "which needs 2 or more samples in training mode; batch_size=1"):
        fit(model, X, y, batch_size=1, verbose=False)
    with pytest.raises(ValueError, match="batch_size=59 leaves a last batch of 1 sample "
                       r"\(use drop_last=True\)"):
        fit(model, X, y, batch_size=59, verbose=False)
    assert params(model) == before
    h = fit(model, X, y, batch_size=59, drop_last=True, epochs=2, verbose=False)
    assert len(h.train_loss) == 2


@pytest.mark.parametrize("loss", ["bce_logits", "hinge"])
def test_sigmoid_output_with_a_logit_loss_warns_and_reads_accuracy_at_one_half(moons, loss):
    X, y = moons
    model = MLP(2, [8, 1], output_activation="sigmoid", rng=0)
    with pytest.warns(UserWarning, match=f"ends in a sigmoid but loss='{loss}'"):
        h = fit(model, X, y, loss=loss, optimizer="adam", lr=0.05, epochs=30, verbose=False)
    outputs = [model(x).data for x in X]
    target = [1 if t else 0 for t in y]
    right = sum((o > 0.5) == bool(t) for o, t in zip(outputs, target, strict=True)) / len(y)
    assert right > 0.8
    assert h.train_acc[-1] > 0.8  # not the 0.5 a threshold at 0 would give
    assert model.predict(X) == [int(o > 0.5) for o in outputs]


@pytest.mark.parametrize("backend", ["dynamic", "compiled"])
def test_l2_on_weights_only(moons, backend):
    X, y = moons
    model = MLP(2, [4, 1], rng=0)
    decayed = decayed_parameters(model)
    assert len(decayed) == 2 * 4 + 4 * 1  # weights, not the 5 biases
    a = MLP(2, [4, 1], rng=0)
    b = MLP(2, [4, 1], rng=0)
    fit(a, X, y, epochs=1, l2=0.5, l2_bias=False, optimizer=SGD(a, lr=0.1), verbose=False,
        backend=backend)
    fit(b, X, y, epochs=1, l2=0.0, optimizer=SGD(b, lr=0.1), verbose=False, backend=backend)
    for (name, pa), pb, p0 in zip(a.named_parameters(), b.parameters(),
                                  MLP(2, [4, 1], rng=0).parameters(), strict=True):
        if name.endswith(".b"):
            assert pa.data == pytest.approx(pb.data, abs=1e-15), name  # no decay
        else:  # decay adds lr * 2 * l2 * w to the step
            assert pa.data == pytest.approx(pb.data - 0.1 * 2 * 0.5 * p0.data, abs=1e-12), name
