"""``Linear``: PyTorch's dense layer over lists, one sample or a batch."""

import pytest

import engine
from nn import BatchNorm1d, ReLU, Sequential, load
from nn.layers import Linear


def test_linear_by_hand_one_sample_and_a_batch():
    lin = Linear(2, 2, rng=0)
    for row, values in zip(lin.weight, [[1.0, -2.0], [0.5, 3.0]], strict=True):
        for w, v in zip(row, values, strict=True):
            w.data = v
    lin.bias[0].data, lin.bias[1].data = 0.25, -1.0
    assert [y.data for y in lin([2.0, 1.0])] == [0.25, 3.0]
    batch = lin([[2.0, 1.0], [0.0, 1.0]])
    assert [[y.data for y in row] for row in batch] == [[0.25, 3.0], [-1.75, 2.0]]
    out = lin([2.0, 1.0])
    assert all(y.op.name == "dot" and len(y.parents) == 5 for y in out)
    engine.sum(out).backward()
    assert [w.grad for w in lin.weight[0]] == [2.0, 1.0] and lin.bias[1].grad == 1.0


def test_linear_without_bias_and_errors():
    lin = Linear(3, 1, bias=False, rng=1)
    assert lin.bias is None and lin.num_parameters() == 3
    assert [n for n, _ in lin.named_parameters()] == ["weight.0.0", "weight.0.1", "weight.0.2"]
    with pytest.raises(ValueError, match=r"expected input \[3\] or \[N\]\[3\], got \[2\]"):
        lin([1.0, 2.0])
    with pytest.raises(ValueError, match="got a scalar"):
        lin(1.0)
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 2)


def test_linear_in_a_sequential_with_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    model = Sequential(Linear(3, 4, rng=0), BatchNorm1d(4), ReLU(), Linear(4, 2, rng=1))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for i in (0, 3):
            tmodel[i].weight.copy_(torch.tensor([[w.data for w in r] for r in model[i].weight],
                                                 dtype=torch.float64))
            tmodel[i].bias.copy_(torch.tensor([b.data for b in model[i].bias], dtype=torch.float64))
    x = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [0.0, 0.3, 1.0], [-2.0, 1.0, 0.0]]
    out = model(x)
    tout = tmodel(torch.tensor(x, dtype=torch.float64))
    flat = [y.data for row in out for y in row]
    assert flat == pytest.approx(tout.flatten().tolist(), abs=1e-12)
    loss = engine.sum([y * y for row in out for y in row])
    loss.backward()
    (tout**2).sum().backward()
    for i in (0, 3):
        grads = [w.grad for r in model[i].weight for w in r]
        assert grads == pytest.approx(tmodel[i].weight.grad.flatten().tolist(), abs=1e-12)
        assert [b.grad for b in model[i].bias] == pytest.approx(tmodel[i].bias.grad.tolist(),
                                                                abs=1e-12)


def test_linear_saves_and_loads(tmp_path):
    model = Sequential(Linear(3, 2, rng=4), ReLU(), Linear(2, 1, bias=False, rng=5))
    path = tmp_path / "model.json"
    model.save(str(path))
    again = load(str(path))
    x = [0.3, -0.2, 0.9]
    assert [y.data for y in again(x)] == [y.data for y in model(x)]
