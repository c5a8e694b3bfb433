"""Array-likes at fit/evaluate/predict (issue 15): numpy, pandas, labels of any kind, and
the clear errors bad data gets before any training starts."""

import random

import pytest

from nn import MLP, SGD, Conv2d, Flatten, Layer, MaxPool2d, ReLU, Sequential, fit
from nn.arrays import as_inputs, as_targets

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def iris():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_iris(return_X_y=True)
    return X, y


def quiet_fit(model, X, y, **kw):
    kw.setdefault("epochs", 3)
    return fit(model, X, y, verbose=False, **kw)


# -- numpy and friends train exactly as the same lists ----------------------------------------


def test_numpy_int_labels_with_mse_train_as_the_list(iris):
    # issue 15: "mse_loss: got 3 predictions but 1 targets" with a numpy label array
    X, y = iris
    a = quiet_fit(MLP(4, [8, 3], rng=0), X, y, loss="mse")
    b = quiet_fit(MLP(4, [8, 3], rng=0), X.tolist(), y.tolist(), loss="mse")
    assert a.train_loss == b.train_loss and a.train_acc == b.train_acc


def test_hinge_with_numpy_01_labels_trains_as_the_list(iris):
    # issue 15: "label 0 is Value('x30', ...)", an internal placeholder
    X, y = iris
    y01 = (y == 2).astype(np.int64)
    for backend in ("dynamic", "compiled"):
        a = quiet_fit(MLP(4, [8, 1], rng=0), X, y01, loss="hinge", backend=backend)
        b = quiet_fit(MLP(4, [8, 1], rng=0), X.tolist(), [2 * t - 1 for t in y01.tolist()],
                      loss="hinge", backend=backend)
        assert a.train_loss == b.train_loss, backend


def test_numpy_scalars_of_every_real_dtype_are_numbers():
    rows = [[np.float32(0.5), np.int64(2)], (np.bool_(True), np.uint8(3))]
    assert as_inputs(rows) == [[0.5, 2.0], [1.0, 3.0]]
    assert as_inputs(np.array([[1, 2]], dtype=np.int16)) == [[1.0, 2.0]]
    assert as_inputs(np.array([[True, False]])) == [[1.0, 0.0]]
    assert as_inputs(np.array([["1.5", "2"]])) == [[1.5, 2.0]]  # numbers written as text
    assert as_targets([np.int64(1), np.int32(0)]) == [1, 0]
    assert as_targets(np.array([[1.0], [2.0]])) == [1.0, 2.0]  # a column vector


def test_string_labels_come_back_from_predict(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = MLP(4, [16, 3], rng=0)
    h = quiet_fit(model, X, names, optimizer="adam", lr=0.05, epochs=40, standardize=True)
    assert h.train_acc[-1] > 0.9
    assert model.meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert model.meta["task"] == "classify" and model.meta["loss"] == "cross_entropy"
    predicted = model.predict(X)
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    assert sum(p == t for p, t in zip(predicted, names.tolist(), strict=True)) / 150 > 0.9
    proba = model.predict_proba(X[:3])
    assert len(proba) == 3 and all(abs(sum(r) - 1.0) < 1e-12 for r in proba)
    assert all(r[0] > 0.5 for r in proba)  # the first three irises are setosa


def test_bool_labels_and_labels_that_are_not_0_1(iris):
    X, y = iris
    model = MLP(4, [8, 1], rng=0)
    quiet_fit(model, X, y == 0, optimizer="adam", lr=0.05, epochs=30, standardize=True)
    assert model.meta["classes"] == [False, True]
    assert model.predict(X[:2]) == [True, True] and model.predict(X[-2:]) == [False, False]
    model = MLP(4, [8, 1], rng=0)
    quiet_fit(model, X, np.where(y == 0, 7, 3), loss="hinge", optimizer="adam", lr=0.05,
              epochs=30, standardize=True)
    assert model.meta["classes"] == [3, 7] and model.predict(X[:1]) == [7]


def test_regression_with_one_and_several_target_columns(iris):
    X, _ = iris
    model = MLP(2, [8, 2], rng=0)
    h = quiet_fit(model, X[:, :2], X[:, 2:], optimizer="adam", lr=0.05, epochs=30)
    assert model.meta["task"] == "regress" and model.meta["loss"] == "mse"
    assert h.train_acc == [] and h.train_loss[-1] < h.train_loss[0]
    out = model.predict(X[:2, :2])
    assert len(out) == 2 and len(out[0]) == 2 and isinstance(out[0][0], float)
    model = MLP(3, [8, 1], rng=0)
    quiet_fit(model, X[:, :3], X[:, 3] * 10.0, optimizer="adam", lr=0.05, epochs=5,
              standardize=True)
    assert model.meta["target_scaler"]["mean"] == [pytest.approx(X[:, 3].mean() * 10.0)]
    assert isinstance(model.predict(X[:1, :3])[0], float)


def test_pandas_frames_and_series(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    a = quiet_fit(MLP(4, [8, 3], rng=0), frame, pd.Series(y))
    b = quiet_fit(MLP(4, [8, 3], rng=0), X.tolist(), y.tolist())
    assert a.train_loss == b.train_loss


def test_images_as_a_numpy_array_train_a_conv_net():
    # issue 15: Conv2d on scikit-learn's digits images as an array said "got a scalar"
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    keep = digits.target < 2
    images = digits.images[keep][:40, None, :, :] / 16.0  # [N][1][8][8], a numpy array
    labels = digits.target[keep][:40]
    rng = random.Random(0)
    model = Sequential(Conv2d(1, 2, 3, rng=rng), ReLU(), MaxPool2d(6), Flatten(0),
                       Layer(2, 2, activation=None, rng=rng))
    h = fit(model, images, labels, optimizer="adam", lr=0.05, epochs=2, batch_size=10,
            verbose=False)
    assert len(h.train_loss) == 2 and model.meta["classes"] == [0, 1]
    assert set(model.predict(images[:4])) <= {0, 1}


# -- clear errors before training, each with its message ----------------------------------------

BAD = MLP(4, [8, 3], rng=0)


def test_error_multiclass_labels_with_bce_and_three_outputs(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"fit: loss='bce' is for two classes and one output "
                       r"per sample, but the model has 3 outputs and y has 3 classes .*use "
                       r"loss='cross_entropy'"):
        quiet_fit(MLP(4, [8, 3], rng=0), X, y, loss="bce")


def test_error_more_classes_than_one_output_can_separate(iris):
    X, y = iris
    with pytest.raises(ValueError, match="the model has 1 output, which separates 2 classes, "
                       "but y has 3 classes"):
        quiet_fit(MLP(4, [8, 1], rng=0), X, y, loss="bce_logits")


def test_error_loss_versus_outputs_and_classes(iris):
    X, y = iris
    with pytest.raises(ValueError, match="y has 3 classes .* but the model has only 2 outputs"):
        quiet_fit(MLP(4, [8, 2], rng=0), X, y, loss="cross_entropy")
    with pytest.raises(ValueError, match="cross_entropy' needs one output per class"):
        quiet_fit(MLP(4, [8, 1], rng=0), X, y % 2, loss="cross_entropy")
    with pytest.raises(ValueError, match=r"the model has 3 outputs but y has 2 classes "
                       r"\('a', 'b'\); give it 2 outputs"):
        quiet_fit(MLP(4, [8, 3], rng=0), X[:100], np.array(["a", "b"])[y[:100]])
    with pytest.raises(ValueError, match="y has 2 target value.s. per sample but the model "
                       "has 1 output"):
        quiet_fit(MLP(4, [8, 1], rng=0), X, X[:, :2])
    with pytest.raises(ValueError, match="cross_entropy' needs class labels"):
        quiet_fit(MLP(4, [8, 3], rng=0), X, X[:, 0], loss="cross_entropy")


def test_error_ragged_rows_name_the_row_and_column():
    with pytest.raises(ValueError, match=r"X: row 1 has 1 value\(s\) but row 0 has 2"):
        quiet_fit(MLP(2, [3, 1], rng=0), [[1.0, 2.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match=r"X: row 1, column 1 has 2 value\(s\) but row 0 has 1"):
        as_inputs([[[1.0], [2.0]], [[1.0], [2.0, 3.0]]])
    with pytest.raises(ValueError, match="row 1 is a single number but row 0 holds 2"):
        as_inputs([[1.0, 2.0], 3.0])


def test_error_non_numeric_features():
    with pytest.raises(ValueError, match="X: row 0, column 1 is str 'a', not a number; encode "
                       "or drop non-numeric columns first"):
        quiet_fit(MLP(2, [3, 1], rng=0), [[1.0, "a"], [1.0, 2.0]], [0, 1])
    with pytest.raises(ValueError, match="X: row 0, column 1 is 'red', not a number"):
        quiet_fit(MLP(2, [3, 1], rng=0), np.array([["1.0", "red"], ["1.0", "2"]]), [0, 1])


def test_error_nan_in_features_and_targets(iris):
    X, y = iris
    Xn = X.copy()
    Xn[10, 1] = np.nan
    with pytest.raises(ValueError, match="X: row 10, column 1 is nan; remove or impute"):
        quiet_fit(MLP(4, [3, 1], rng=0), Xn, y % 2)
    with pytest.raises(ValueError, match="X: row 0, column 0 is inf"):
        quiet_fit(MLP(1, [3, 1], rng=0), [[float("inf")]], [1])
    yn = y * 0.5
    yn[7] = np.nan
    with pytest.raises(ValueError, match="y: row 7 is nan; remove or impute missing targets"):
        quiet_fit(MLP(4, [3, 1], rng=0), X, yn)


def test_error_empty_sets_and_empty_test_set(iris):
    X, y = iris
    with pytest.raises(ValueError, match="X_test: is empty; need at least one sample"):
        quiet_fit(MLP(4, [3, 3], rng=0), X, y, X_test=[], y_test=[])  # IndexError before
    with pytest.raises(ValueError, match="X: is empty"):
        quiet_fit(MLP(4, [3, 3], rng=0), [], [])
    with pytest.raises(ValueError, match="X: is empty"):
        quiet_fit(MLP(4, [3, 3], rng=0), np.zeros((0, 4)), np.zeros(0))


def test_error_negative_learning_rate_given_to_fit_with_an_optimizer(iris):
    X, y = iris
    model = MLP(4, [3, 3], rng=0)
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match=r"fit: invalid learning rate lr=-1.0 \(expected a "
                       r"finite number >= 0\)"):
        quiet_fit(model, X, y, optimizer=SGD(model.parameters(), lr=0.1), lr=-1.0)
    assert [p.data for p in model.parameters()] == before
    with pytest.raises(ValueError, match="invalid learning rate lr=nan"):
        quiet_fit(model, X, y, lr=float("nan"))


def test_error_duplicate_parameters(iris):
    X, y = iris
    model = MLP(4, [3, 3], rng=0)
    params = model.parameters()
    with pytest.raises(ValueError, match="appears twice"):
        quiet_fit(model, X, y, optimizer=SGD(params + params[:1], lr=0.1))


def test_error_labels_mixing_kinds_and_unknown_test_labels(iris):
    X, y = iris
    with pytest.raises(ValueError, match="y: mixes number and str targets"):
        quiet_fit(MLP(4, [3, 1], rng=0), X[:2], [1, "a"])
    with pytest.raises(ValueError, match=r"y_test: row 0 has label 'a', which is not one of "
                       r"the training classes \[0, 1, 2\]"):
        quiet_fit(MLP(4, [3, 3], rng=0), X, y, X_test=X[:1], y_test=["a"])


def test_errors_come_before_any_training(iris):
    X, y = iris
    model = MLP(4, [8, 3], rng=0)
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError):
        quiet_fit(model, X, y, loss="bce", epochs=50)
    assert [p.data for p in model.parameters()] == before and model.training


def test_pandas_objects_are_read_through_to_numpy_without_importing_pandas():
    class DataFrame:  # what nn.arrays sees of pandas: the module name and to_numpy()
        __module__ = "pandas.core.frame"

        def __init__(self, values):
            self.values = values

        def to_numpy(self):
            return np.array(self.values)

    Series = type("Series", (DataFrame,), {"__module__": "pandas.core.series"})
    assert as_inputs(DataFrame([[1, 2], [3, 4]])) == [[1.0, 2.0], [3.0, 4.0]]
    assert as_targets(Series(["a", "b"])) == ["a", "b"]
    h = quiet_fit(MLP(2, [3, 1], rng=0), DataFrame([[0.0, 1.0], [1.0, 0.0]]), Series([0, 1]))
    assert len(h.train_loss) == 3
