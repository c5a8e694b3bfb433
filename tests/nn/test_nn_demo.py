"""The two results the nn issue must show: micrograd's demo reproduced, and a spiral learned.

micrograd's demo notebook: ``MLP(2, [16, 16, 1])`` from ``random.seed(1337)``,
the 100 moons of ``np.random.seed(1337); make_moons(100, noise=0.1)``, the SVM
hinge loss plus ``1e-4 * sum(p * p)``, 100 full-batch SGD steps with
``lr = 1.0 - 0.9 * k / 100``. Its printed loss at step 99 is
0.010978370135492717 with 100% accuracy.
"""

import random

import pytest

from nn import MLP, SGD, Adam, LinearLR, fit, make_spirals, micrograd_moons
from nn.losses import hinge_loss, l2_penalty
from nn.train import evaluate_loss as evaluate

NOTEBOOK_LOSS_AT_STEP_99 = 0.010978370135492717


def micrograd_setup():
    pytest.importorskip("numpy")
    X, y = micrograd_moons()
    model = MLP(2, [16, 16, 1], rng=random.Random(1337))  # = random.seed(1337); MLP(...)
    opt = SGD(model, lr=1.0)
    schedule = LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)
    return X, y, model, opt, schedule


def test_micrograd_demo_reproduced_exactly():
    X, y, model, opt, schedule = micrograd_setup()
    history = fit(model, X, y, loss="hinge", optimizer=opt, schedule=schedule, epochs=100,
                  l2=1e-4, verbose=False)
    assert history.lr[:3] == [1.0, 1.0 - 0.9 / 100, 1.0 - 0.9 * 2 / 100]
    assert history.train_loss[99] == pytest.approx(NOTEBOOK_LOSS_AT_STEP_99, abs=1e-9)
    assert history.train_acc[99] == 1.0
    # and the trained model classifies every point
    assert all((model(x).data > 0) == (label > 0) for x, label in zip(X, y, strict=True))


def test_first_steps_match_micrograd_itself():
    mg_engine = pytest.importorskip("micrograd.engine")
    mg_nn = pytest.importorskip("micrograd.nn")
    X, y, model, opt, schedule = micrograd_setup()
    history = fit(model, X, y, loss="hinge", optimizer=opt, schedule=schedule, epochs=2,
                  l2=1e-4, verbose=False)
    state = random.getstate()
    try:
        random.seed(1337)
        theirs = mg_nn.MLP(2, [16, 16, 1])
    finally:
        random.setstate(state)
    losses = []
    for k in range(2):  # the notebook's loop, verbatim but for the step count
        inputs = [list(map(mg_engine.Value, xrow)) for xrow in X]
        scores = list(map(theirs, inputs))
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores, strict=True))
        data_loss = data_loss * (1.0 / len(scores))
        total = data_loss + 1e-4 * sum(p * p for p in theirs.parameters())
        theirs.zero_grad()
        total.backward()
        for p in theirs.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        losses.append(total.data)
    assert history.train_loss == pytest.approx(losses, rel=1e-12)
    assert [p.data for p in model.parameters()] == pytest.approx(
        [p.data for p in theirs.parameters()], rel=1e-10, abs=1e-12)


def test_the_same_demo_written_by_hand_gives_the_same_first_loss():
    X, y, model, _, _ = micrograd_setup()
    scores = [model(x) for x in X]
    loss = hinge_loss(scores, y) + l2_penalty(model, 1e-4)
    history = fit(model, X, y, loss="hinge", optimizer=SGD(model, lr=1.0), epochs=1, l2=1e-4,
                  verbose=False, backend="dynamic")
    assert history.train_loss[0] == loss.data


def test_the_compiled_backend_gives_the_demo_loss_to_rounding():
    pytest.importorskip("numpy")
    X, y, model, _, _ = micrograd_setup()
    loss = hinge_loss([model(x) for x in X], y) + l2_penalty(model, 1e-4)
    history = fit(model, X, y, loss="hinge", optimizer=SGD(model, lr=1.0), epochs=1, l2=1e-4,
                  verbose=False, backend="compiled")
    assert history.train_loss[0] == pytest.approx(loss.data, rel=1e-14)
    with pytest.raises(ValueError, match="unknown backend"):
        fit(model, X, y, loss="hinge", epochs=1, verbose=False, backend="gpu")
    with pytest.raises(ValueError, match="the loss is a function; give it by name"):  # own fn
        fit(model, X, y, loss=lambda o, t: hinge_loss(o, t), epochs=1, verbose=False,
            backend="compiled")


def test_three_class_spiral_with_cross_entropy_and_adam():
    X, y = make_spirals(90, n_classes=3, noise=0.2, rng=0)
    model = MLP(2, [16, 16, 3], init="he", rng=0)
    history = fit(model, X, y, loss="cross_entropy", optimizer=Adam(model, lr=0.03),
                  epochs=40, batch_size=10, rng=0, verbose=False)
    loss, acc = evaluate(model, X, y, "cross_entropy")
    assert acc >= 0.95
    assert loss < history.train_loss[0] / 10
