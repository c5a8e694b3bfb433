"""Data sets (geometry, determinism per seed), micrograd's moons, splitting, batch modes."""

import math
import random
import statistics

import pytest

from nn.data import (
    Batches,
    batches,
    make_blobs,
    make_circles,
    make_moons,
    make_spirals,
    make_xor,
    micrograd_moons,
    train_test_split,
)

GENERATORS = [make_moons, make_circles, make_spirals, make_xor, make_blobs]


@pytest.mark.parametrize("gen", GENERATORS)
def test_deterministic_per_seed(gen):
    a = gen(60, rng=3)
    assert a == gen(60, rng=3) == gen(60, rng=random.Random(3))
    assert a != gen(60, rng=4)
    X, y = a
    assert len(X) == len(y) == 60
    assert all(len(x) == 2 and all(isinstance(v, float) for v in x) for x in X)
    assert all(isinstance(label, int) for label in y)


@pytest.mark.parametrize("gen", GENERATORS)
def test_an_injected_rng_is_advanced(gen):
    rng = random.Random(0)
    assert gen(30, rng=rng) != gen(30, rng=rng)


def test_moons_geometry_without_noise():
    X, y = make_moons(101, rng=0)
    assert y.count(0) == 50 and y.count(1) == 51
    for (a, b), label in zip(X, y, strict=True):
        if label == 0:
            assert math.hypot(a, b) == pytest.approx(1.0) and b >= -1e-15
        else:
            assert math.hypot(a - 1, b - 0.5) == pytest.approx(1.0) and b <= 0.5 + 1e-15


def test_moons_noise_has_the_given_standard_deviation():
    clean, _ = make_moons(2000, rng=5)
    noisy, _ = make_moons(2000, noise=0.1, rng=5)  # same shuffle, then noise
    residuals = [n[i] - c[i] for n, c in zip(noisy, clean, strict=True) for i in (0, 1)]
    assert statistics.pstdev(residuals) == pytest.approx(0.1, rel=0.05)
    assert abs(statistics.fmean(residuals)) < 0.01


def test_circles_geometry():
    X, y = make_circles(40, factor=0.3, rng=0)
    for (a, b), label in zip(X, y, strict=True):
        assert math.hypot(a, b) == pytest.approx(1.0 if label == 0 else 0.3)
    with pytest.raises(ValueError, match="factor must be in"):
        make_circles(10, factor=1.5)


def test_spirals_geometry():
    X, y = make_spirals(100, n_classes=4, noise=0.0, rng=0, shuffle=False)
    assert [y.count(k) for k in range(4)] == [25, 25, 25, 25]
    per_class = 25
    for idx, ((a, b), label) in enumerate(zip(X, y, strict=True)):
        r = (idx % per_class) / (per_class - 1)
        assert math.hypot(a, b) == pytest.approx(r, abs=1e-12)
        if r > 0:
            t = 4.0 * label + 4.0 * r
            assert math.atan2(a, b) == pytest.approx(math.atan2(math.sin(t), math.cos(t)))
    _, y = make_spirals(10, n_classes=3, rng=0)
    assert sorted(y) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_xor_labels_and_blobs_centres():
    X, y = make_xor(500, rng=2)
    assert all(-1 <= v <= 1 for x in X for v in x)
    assert all(label == int((a > 0) != (b > 0)) for (a, b), label in zip(X, y, strict=True))
    assert 0.4 < sum(y) / len(y) < 0.6
    centres = [[-4.0, 0.0], [4.0, 1.0]]
    X, y = make_blobs(1000, centers=centres, cluster_std=0.5, rng=0)
    for k, (cx, cy) in enumerate(centres):
        pts = [x for x, label in zip(X, y, strict=True) if label == k]
        assert statistics.fmean(p[0] for p in pts) == pytest.approx(cx, abs=0.1)
        assert statistics.fmean(p[1] for p in pts) == pytest.approx(cy, abs=0.1)
        assert statistics.pstdev(p[0] for p in pts) == pytest.approx(0.5, rel=0.1)
    _, y = make_blobs(30, centers=3, rng=0)
    assert sorted(set(y)) == [0, 1, 2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples: expected an int >= 2, got 1"):
        make_moons(1)
    with pytest.raises(ValueError, match="noise: expected a finite number >= 0, got -0.1"):
        make_moons(10, noise=-0.1)
    with pytest.raises(ValueError, match="noise"):
        make_spirals(10, noise=float("nan"))
    assert make_moons(10, noise=None) == make_moons(10, noise=0.0)
    with pytest.raises(TypeError, match="rng"):
        make_xor(10, rng="seed")


def test_micrograd_moons_are_the_notebook_points():
    np = pytest.importorskip("numpy")
    X, y = micrograd_moons()
    assert len(X) == 100 and sorted(set(y)) == [-1, 1] and y.count(1) == 50
    # the same procedure on numpy's global state, as the notebook ran it
    state = np.random.get_state()
    try:
        np.random.seed(1337)
        idx = np.arange(100)
        np.random.shuffle(idx)
        noise = np.random.normal(scale=0.1, size=(100, 2))
    finally:
        np.random.set_state(state)
    clean, labels = make_moons(100, shuffle=False)
    for i, (x, label) in enumerate(zip(X, y, strict=True)):
        j = int(idx[i])
        assert label == 2 * labels[j] - 1
        assert x == pytest.approx([clean[j][0] + noise[i][0], clean[j][1] + noise[i][1]],
                                  rel=1e-15, abs=1e-15)
    try:
        from sklearn.datasets import make_moons as sk_moons
    except ImportError:
        return
    np.random.seed(1337)
    Xs, ys = sk_moons(n_samples=100, noise=0.1)
    assert X == Xs.tolist() and y == (ys * 2 - 1).tolist()


def test_train_test_split():
    X, y = list(range(20)), [v * 10 for v in range(20)]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, rng=1)
    assert (len(Xtr), len(Xte)) == (15, 5)
    assert sorted(Xtr + Xte) == X and set(Xtr).isdisjoint(Xte)
    assert [v * 10 for v in Xtr] == ytr and [v * 10 for v in Xte] == yte
    assert train_test_split(X, y, test_size=0.25, rng=1) == (Xtr, Xte, ytr, yte)
    assert train_test_split(X, y, test_size=0.25, rng=2)[1] != Xte
    assert train_test_split(X, y, test_size=3, shuffle=False)[1] == [17, 18, 19]
    assert len(train_test_split(X, y, test_size=0.33)[1]) == 7  # rounded up, as sklearn


def test_stratified_split_keeps_class_shares():
    y = [0] * 30 + [1] * 10
    X = list(range(40))
    _, _, ytr, yte = train_test_split(X, y, test_size=0.25, rng=0, stratify=True)
    assert (yte.count(0), yte.count(1)) == (8, 2)  # 7.5 and 2.5 rounded half to even
    assert len(ytr) + len(yte) == 40


def test_split_errors():
    with pytest.raises(ValueError, match="3 inputs but 2 targets"):
        train_test_split([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="fraction must be in"):
        train_test_split([1, 2, 3], [1, 2, 3], test_size=1.5)
    with pytest.raises(ValueError, match="leaves an empty part"):
        train_test_split([1, 2, 3], [1, 2, 3], test_size=3)


def test_full_batch_is_the_whole_set_in_order():
    X, y = list(range(10)), list(range(10, 20))
    b = batches(X, y)
    assert len(b) == 1 and list(b) == [(X, y)] and list(b) == [(X, y)]
    assert list(batches(X, y, batch_size=50)) == [(X, y)]


def test_stochastic_batches_visit_every_sample_once_in_a_new_order():
    X = list(range(12))
    b = batches(X, [x * 2 for x in X], batch_size=1, rng=0)
    first = list(b)
    second = list(b)
    assert len(b) == 12 and all(len(xb) == 1 for xb, _ in first)
    assert all(yb[0] == 2 * xb[0] for xb, yb in first)
    assert sorted(xb[0] for xb, _ in first) == X
    assert [xb for xb, _ in first] != [xb for xb, _ in second]  # re-shuffled per pass
    again = [xb for xb, _ in batches(X, X, batch_size=1, rng=0)]
    assert again == [xb for xb, _ in first]


def test_mini_batches_and_drop_last():
    X = list(range(10))
    b = Batches(X, X, batch_size=4, rng=1)
    sizes = [len(xb) for xb, _ in b]
    assert sizes == [4, 4, 2] and len(b) == 3
    assert sorted(v for xb, _ in b for v in xb) == X
    b = Batches(X, X, batch_size=4, rng=1, drop_last=True)
    assert [len(xb) for xb, _ in b] == [4, 4] and len(b) == 2
    assert [xb for xb, _ in Batches(X, X, batch_size=5, shuffle=False)] == [X[:5], X[5:]]


def test_batch_errors():
    with pytest.raises(ValueError, match="2 inputs but 3 targets"):
        batches([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        batches([], [])
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        batches([1], [1], batch_size=0)
