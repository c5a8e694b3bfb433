"""Helpers shared by the layer tests: random nested tensors, and a layer run
forward and backward beside its PyTorch twin."""

import random

from engine import sum as vsum
from nn.utils import flatten_values, shape, to_data, to_values


def rand_tensor(rng, dims, values=None, scale=1.0, offset=0.0):
    """A nested list of shape ``dims``: ``offset + scale * u`` with ``u`` drawn from
    ``values`` if given, else uniform in [-1, 1]."""
    if not dims:
        return offset + scale * (rng.choice(values) if values else rng.uniform(-1.0, 1.0))
    return [rand_tensor(rng, dims[1:], values, scale, offset) for _ in range(dims[0])]


def close(a, b, tol):
    """Element by element, ``|a - b| <= tol * (1 + |b|)`` over the flattened lists."""
    a, b = flatten_values(a), flatten_values(b)
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        assert abs(u - v) <= tol * (1.0 + abs(v)), (i, u, v)


def grads_of(nested):
    """The grads of nested Values, 0.0 where no gradient reached (as torch materialises)."""
    return [0.0 if v.grad is None else v.grad for v in flatten_values(nested)]


def seeded_loss(out, torch_out, torch, rng):
    """``sum(out * c)`` for random ``c`` (from ``rng``, a Random or a seed), in both worlds:
    a scalar whose gradient seeds every output differently."""
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    coeffs = rand_tensor(rng, list(torch_out.shape))
    ours = vsum([o * c for o, c in zip(flatten_values(out), flatten_values(coeffs), strict=True)])
    theirs = (torch_out * torch.tensor(coeffs, dtype=torch.float64)).sum()
    return ours, theirs


def compare_with_torch(layer, ref, xdata, torch, rng, check):
    """Run ``layer`` and ``ref`` on ``xdata``, forward and backward through
    :func:`seeded_loss`; ``check(ours, theirs)`` compares the outputs, then the input
    gradients. Returns the inputs ``(x Values, torch tensor)`` for further checks."""
    x = to_values(xdata)
    out = layer(x)
    tx = torch.tensor(xdata, dtype=torch.float64, requires_grad=True)
    tout = ref(tx)
    assert list(shape(out)) == list(tout.shape)
    check(to_data(out), tout.flatten().tolist())
    ours, theirs = seeded_loss(out, tout, torch, rng)
    ours.backward()
    theirs.backward()
    check(grads_of(x), tx.grad.flatten().tolist())
    return x, tx
