"""Nested inputs given as numpy arrays go through every layer exactly as the same nested
lists (issue 15: ``Conv2d`` on scikit-learn's digits images as an array said "got a scalar")."""

import random

import pytest

import nn
from engine import Value

np = pytest.importorskip("numpy")


def _data(out):
    """The numbers of a layer's output, whatever its nesting (tuples for LSTM states)."""
    if isinstance(out, Value):
        return out.data
    if isinstance(out, float):
        return out
    return [_data(o) for o in out]


def _array(*dims):
    rng = random.Random(sum(dims))
    return np.array([rng.uniform(-2.0, 2.0) for _ in range(int(np.prod(dims)))]).reshape(dims)


LAYERS = {
    "Conv1d": (lambda: nn.Conv1d(2, 3, 2, rng=0), (2, 6)),
    "Conv1d_batch": (lambda: nn.Conv1d(2, 3, 2, rng=0), (2, 2, 6)),
    "Conv2d": (lambda: nn.Conv2d(1, 2, 3, rng=0), (1, 8, 8)),
    "Conv2d_batch": (lambda: nn.Conv2d(1, 2, 3, rng=0), (2, 1, 8, 8)),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (2, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 1, 4, 4)),
    "AvgPool1d": (lambda: nn.AvgPool1d(2), (2, 6)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (1, 4, 4)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(2), (1, 5, 5)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), (1, 5, 5)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(2), (2, 5)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(2), (2, 5)),
    "LayerNorm": (lambda: nn.LayerNorm(4), (3, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    "RNNCell": (lambda: nn.RNNCell(3, 4, rng=0), (3,)),
    "GRUCell": (lambda: nn.GRUCell(3, 4, rng=0), (2, 3)),
    "LSTMCell": (lambda: nn.LSTMCell(3, 4, rng=0), (2, 3)),
    "RNN": (lambda: nn.RNN(3, 4, rng=0), (5, 3)),
    "GRU": (lambda: nn.GRU(3, 4, rng=0), (5, 3)),
    "LSTM": (lambda: nn.LSTM(3, 4, rng=0), (5, 3)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 2)),
    "Linear": (lambda: nn.Linear(4, 2, rng=0), (4,)),
    "MLP": (lambda: nn.MLP(4, [3, 2], rng=0), (4,)),
    "Sequential_cnn": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.MaxPool2d(2),
                                             nn.Flatten()), (1, 8, 8)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_numpy_nested_input_gives_the_list_output(name):
    make, dims = LAYERS[name]
    layer, x = make(), _array(*dims)
    from_list = _data(layer(x.tolist()))
    from_array = _data(layer(x))
    assert from_array == from_list


def test_list_of_numpy_rows_gives_the_list_output():
    layer, x = nn.Conv2d(1, 2, 3, rng=0), _array(2, 1, 8, 8)
    assert _data(layer([x[0], x[1]])) == _data(layer(x.tolist()))


def test_conv2d_on_sklearn_digits_images_as_arrays():
    # issue 15: "expected input [1][H][W] or [N][1][H][W] with H, W >= 3, got a scalar"
    datasets = pytest.importorskip("sklearn.datasets")
    images = datasets.load_digits().images
    conv = nn.Conv2d(1, 2, 3, rng=0)
    out = conv(images[:2, None])
    assert len(out) == 2 and len(out[0]) == 2 and len(out[0][0]) == 6
    assert _data(out) == _data(conv(images[:2, None].tolist()))


def test_rnn_initial_state_as_numpy():
    rnn, x = nn.RNN(3, 4, rng=0), _array(5, 3)
    h0 = _array(1, 4)
    assert _data(rnn(x, h0)) == _data(rnn(x.tolist(), h0.tolist()))
