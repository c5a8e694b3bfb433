"""RNNCell, GRUCell, RNN, GRU vs PyTorch (float64); BPTT vs finite differences; errors."""

import random
from functools import partial

import layer_check
import pytest
from layer_check import rand_tensor, seeded_loss

from engine import gradcheck
from engine import sum as vsum
from nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nn.utils import flatten_values, shape, to_data, to_values

PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


close = partial(layer_check.close, tol=1e-10)


def copy_cell(cell, ref, torch, suffix=""):
    with torch.no_grad():
        for name in PARAMS:
            ours = getattr(cell, name)
            if ours is not None:
                getattr(ref, name + suffix).copy_(torch.tensor(to_data(ours), dtype=torch.float64))


def check_cell_grads(cell, ref, suffix=""):
    for name in PARAMS:
        ours = getattr(cell, name)
        if ours is not None:
            close([p.grad for p in flatten_values(ours)],
                  getattr(ref, name + suffix).grad.flatten().tolist())


CELL_CASES = [
    # class, kwargs, batch (None: one sample), with h
    (RNNCell, {}, None, True),
    (RNNCell, {"nonlinearity": "relu"}, 3, True),
    (RNNCell, {"bias": False}, 2, False),
    (GRUCell, {}, None, True),
    (GRUCell, {}, 3, False),
    (GRUCell, {"bias": False}, 2, True),
]


@pytest.mark.parametrize("case", CELL_CASES)
def test_cells_match_torch(case):
    torch = pytest.importorskip("torch")
    cls, kwargs, batch, with_h = case
    rng = random.Random(1)
    cell = cls(3, 4, rng=rng, **kwargs)
    ref = getattr(torch.nn, cls.__name__)(3, 4, dtype=torch.float64, **kwargs)
    copy_cell(cell, ref, torch)
    xshape, hshape = ((3,), (4,)) if batch is None else ((batch, 3), (batch, 4))
    xdata, hdata = rand_tensor(rng, xshape), rand_tensor(rng, hshape)
    x, h = to_values(xdata), to_values(hdata)
    out = cell(x, h if with_h else None)
    tx = torch.tensor(xdata, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(hdata, dtype=torch.float64, requires_grad=True)
    tout = ref(tx, th if with_h else None)
    assert list(shape(out)) == list(tout.shape)
    close(to_data(out), tout.tolist())
    ours, theirs = seeded_loss(out, tout, torch, 2)
    ours.backward()
    theirs.backward()
    close([v.grad for v in flatten_values(x)], tx.grad.flatten().tolist())
    if with_h:
        close([v.grad for v in flatten_values(h)], th.grad.flatten().tolist())
    check_cell_grads(cell, ref)


SEQ_CASES = [
    # class, kwargs, input shape, with h0
    (RNN, {}, (5, 2), False),
    (RNN, {"num_layers": 2}, (4, 3, 2), True),
    (RNN, {"num_layers": 2, "batch_first": True, "nonlinearity": "relu"}, (3, 4, 2), True),
    (GRU, {}, (5, 2), True),
    (GRU, {"num_layers": 2, "batch_first": True}, (2, 4, 2), False),
]


@pytest.mark.parametrize("case", SEQ_CASES)
def test_sequence_runners_match_torch(case):
    """Backpropagation through time: gradients w.r.t. every step's input, h0 and all weights."""
    torch = pytest.importorskip("torch")
    cls, kwargs, xshape, with_h0 = case
    rng = random.Random(3)
    net = cls(2, 3, rng=rng, **kwargs)
    ref = getattr(torch.nn, cls.__name__)(2, 3, dtype=torch.float64, **kwargs)
    for layer, cell in enumerate(net.cells):
        copy_cell(cell, ref, torch, suffix=f"_l{layer}")
    layers = net.num_layers
    batch = None if len(xshape) == 2 else (xshape[0] if net.batch_first else xshape[1])
    hshape = (layers, 3) if batch is None else (layers, batch, 3)
    xdata, hdata = rand_tensor(rng, xshape), rand_tensor(rng, hshape)
    x, h0 = to_values(xdata), to_values(hdata)
    out, h_n = net(x, h0 if with_h0 else None)
    tx = torch.tensor(xdata, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(hdata, dtype=torch.float64, requires_grad=True)
    tout, th_n = ref(tx, th) if with_h0 else ref(tx)
    assert list(shape(out)) == list(tout.shape) and list(shape(h_n)) == list(th_n.shape)
    close(to_data(out), tout.tolist())
    close(to_data(h_n), th_n.tolist())
    ours, theirs = seeded_loss([out, h_n], torch.cat([tout.flatten(), th_n.flatten()]), torch, 4)
    ours.backward()
    theirs.backward()
    close([v.grad for v in flatten_values(x)], tx.grad.flatten().tolist())
    if with_h0:
        close([v.grad for v in flatten_values(h0)], th.grad.flatten().tolist())
    for layer, cell in enumerate(net.cells):
        check_cell_grads(cell, ref, suffix=f"_l{layer}")


def test_bptt_matches_finite_differences():
    """No torch: d(loss)/d(every weight) of 4-step Elman, GRU, LSTM cells vs finite differences."""
    seq = [0.5, -1.0, 0.25, 1.5]
    for cls in (RNNCell, GRUCell, LSTMCell):
        cell = cls(1, 2, rng=5)
        params = cell.parameters()
        point = [p.data for p in params]

        def f(*vs, cell=cell):
            """The cell's loss with its parameters replaced by vs (restored afterwards)."""
            saved = {name: getattr(cell, name) for name in PARAMS}
            flat = iter(vs)
            for name in PARAMS:
                setattr(cell, name, _rebuild(saved[name], flat))
            h = None
            for x in seq:
                h = cell([x], h)
            for name, value in saved.items():
                setattr(cell, name, value)
            h = h[0] if isinstance(h, tuple) else h  # an LSTM's state is (h, c)
            return vsum(h) * h[0]

        assert gradcheck(f, point)


def _rebuild(nested, flat):
    if isinstance(nested, list):
        return [_rebuild(v, flat) for v in nested]
    return next(flat)


def test_rnn_cell_unit_is_one_dot_node():
    cell = RNNCell(2, 3, rng=0)
    h = cell([1.0, 2.0], [0.1, 0.2, 0.3])
    node = h[1].parents[0]
    assert h[1].op.name == "tanh" and node.op.name == "dot"
    weights = node.parents[:6]
    assert list(weights) == [*cell.weight_ih[1], *cell.weight_hh[1], cell.bias_hh[1]]
    assert node.parents[-1] is cell.bias_ih[1]


def test_shared_weights_collect_gradients_from_every_step():
    """BPTT is fan-out: a weight's gradient is the sum over time steps."""
    cell = RNNCell(1, 1, bias=False, nonlinearity="relu", rng=0)
    cell.weight_ih[0][0].data, cell.weight_hh[0][0].data = 1.0, 0.5
    h = None
    for x in (1.0, 2.0, 3.0):
        h = cell([x], h)
    # h1 = 1, h2 = 2 + 0.5 = 2.5, h3 = 3 + 1.25 = 4.25
    assert h[0].data == 4.25
    h[0].backward()
    # dh3/dw_ih = x3 + 0.5 * (x2 + 0.5 * x1) = 3 + 1 + 0.25; dh3/dw_hh = h2 + 0.5 * h1 = 3
    assert cell.weight_ih[0][0].grad == 4.25
    assert cell.weight_hh[0][0].grad == 3.0


def test_shape_errors_name_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=r"GRUCell\(2, 3\): expected input \[2\] or \[N\]\[2\], "
                       r"got \[4\]\[3\]"):
        GRUCell(2, 3, rng=0)([[0.0] * 3] * 4)
    with pytest.raises(ValueError, match=r"RNNCell\(2, 3\): expected hidden state \[4\]\[3\] for "
                       r"input \[4\]\[2\], got \[3\]"):
        RNNCell(2, 3, rng=0)([[0.0] * 2] * 4, [0.0] * 3)
    with pytest.raises(ValueError, match=r"RNN\(2, 3, batch_first=True\): expected input "
                       r"\[L\]\[2\] or \[N\]\[L\]\[2\] \(a sequence\), got \[2\]"):
        RNN(2, 3, batch_first=True, rng=0)([1.0, 2.0])
    with pytest.raises(ValueError, match=r"expected h0 \[2\]\[3\] for input \[5\]\[2\], "
                       r"got \[3\]"):
        GRU(2, 3, num_layers=2, rng=0)([[0.0, 0.0]] * 5, [0.0] * 3)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        RNNCell(1, 1, nonlinearity="sigmoid")


def test_names_config_and_seeding():
    rnn = RNN(2, 3, num_layers=2, nonlinearity="relu", rng=7)
    names = [n for n, _ in rnn.named_parameters()]
    assert names[0] == "cells.0.weight_ih.0.0" and names[-1] == "cells.1.bias_hh.2"
    twin = RNN(**rnn.config(), rng=99)
    twin.load_state_dict(rnn.state_dict())
    x = [[0.3, -0.2], [1.0, 0.5]]
    assert to_data(twin(x)[0]) == to_data(rnn(x)[0])
    assert [p.data for p in GRUCell(2, 2, rng=3).parameters()] == \
        [p.data for p in GRUCell(2, 2, rng=3).parameters()]
    bound = 1 / 3 ** 0.5
    assert all(-bound <= p.data <= bound for p in rnn.parameters())


@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("with_state", [True, False])
def test_lstm_cell_matches_torch(batch, with_state):
    torch = pytest.importorskip("torch")
    rng = random.Random(6)
    cell = LSTMCell(3, 2, rng=rng)
    ref = torch.nn.LSTMCell(3, 2, dtype=torch.float64)
    copy_cell(cell, ref, torch)
    xshape, hshape = ((3,), (2,)) if batch is None else ((batch, 3), (batch, 2))
    xdata, hdata, cdata = (rand_tensor(rng, xshape), rand_tensor(rng, hshape),
                           rand_tensor(rng, hshape))
    x, h, c = to_values(xdata), to_values(hdata), to_values(cdata)
    h2, c2 = cell(x, (h, c) if with_state else None)
    tx, th, tc = (torch.tensor(d, dtype=torch.float64, requires_grad=True)
                  for d in (xdata, hdata, cdata))
    th2, tc2 = ref(tx, (th, tc)) if with_state else ref(tx)
    close(to_data(h2), th2.tolist())
    close(to_data(c2), tc2.tolist())
    ours, theirs = seeded_loss([h2, c2], torch.cat([th2.flatten(), tc2.flatten()]), torch, 7)
    ours.backward()
    theirs.backward()
    close([v.grad for v in flatten_values(x)], tx.grad.flatten().tolist())
    if with_state:
        close([v.grad for v in flatten_values(h)], th.grad.flatten().tolist())
        close([v.grad for v in flatten_values(c)], tc.grad.flatten().tolist())
    check_cell_grads(cell, ref)


@pytest.mark.parametrize("case", [({}, (4, 2), True), ({"num_layers": 2}, (3, 2, 2), True),
                                  ({"num_layers": 2, "batch_first": True, "bias": False},
                                   (2, 3, 2), False)])
def test_lstm_matches_torch(case):
    torch = pytest.importorskip("torch")
    kwargs, xshape, with_state = case
    rng = random.Random(8)
    net = LSTM(2, 3, rng=rng, **kwargs)
    ref = torch.nn.LSTM(2, 3, dtype=torch.float64, **kwargs)
    for layer, cell in enumerate(net.cells):
        copy_cell(cell, ref, torch, suffix=f"_l{layer}")
    batch = None if len(xshape) == 2 else (xshape[0] if net.batch_first else xshape[1])
    hshape = (net.num_layers, 3) if batch is None else (net.num_layers, batch, 3)
    xdata, hdata, cdata = rand_tensor(rng, xshape), rand_tensor(rng, hshape), \
        rand_tensor(rng, hshape)
    x, h0, c0 = to_values(xdata), to_values(hdata), to_values(cdata)
    out, (h_n, c_n) = net(x, (h0, c0) if with_state else None)
    tx, th, tc = (torch.tensor(d, dtype=torch.float64, requires_grad=True)
                  for d in (xdata, hdata, cdata))
    tout, (th_n, tc_n) = ref(tx, (th, tc)) if with_state else ref(tx)
    for ours, theirs in ((out, tout), (h_n, th_n), (c_n, tc_n)):
        assert list(shape(ours)) == list(theirs.shape)
        close(to_data(ours), theirs.tolist())
    ours, theirs = seeded_loss([out, h_n, c_n], torch.cat([tout.flatten(), th_n.flatten(),
                                                           tc_n.flatten()]), torch, 9)
    ours.backward()
    theirs.backward()
    close([v.grad for v in flatten_values(x)], tx.grad.flatten().tolist())
    if with_state:
        close([v.grad for v in flatten_values(h0)], th.grad.flatten().tolist())
        close([v.grad for v in flatten_values(c0)], tc.grad.flatten().tolist())
    for layer, cell in enumerate(net.cells):
        check_cell_grads(cell, ref, suffix=f"_l{layer}")


def test_lstm_state_errors():
    with pytest.raises(ValueError, match=r"LSTMCell\(2, 3\): expected the state as a pair"):
        LSTMCell(2, 3, rng=0)([0.0, 0.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"expected cell state c \[3\] for input \[2\], got \[2\]"):
        LSTMCell(2, 3, rng=0)([0.0, 0.0], ([0.0] * 3, [0.0] * 2))
    with pytest.raises(ValueError, match=r"LSTM\(2, 3\): expected c0 \[1\]\[3\] for input "
                       r"\[4\]\[2\], got \[1\]\[2\]"):
        LSTM(2, 3, rng=0)([[0.0, 0.0]] * 4, ([[0.0] * 3], [[0.0] * 2]))
