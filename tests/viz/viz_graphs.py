"""Shared graphs for the viz tests: micrograd's neuron and a hand-built MLP whose
parameters carry nn's names (so these tests do not depend on nn)."""

from __future__ import annotations

import random
import shutil

import pytest

import engine
from engine import Value

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot program is not installed")


def neuron():
    """``tanh(x*w + b)`` at x=0.5, w=-3, b=2 (n = 0.5); returns (out, x, w, b)."""
    x = Value(0.5, label="x")
    w = Value(-3.0, label="w")
    b = Value(2.0, label="b")
    return (x * w + b).tanh(), x, w, b


def hand_mlp(sizes=(2, 3, 1), samples=1, seed=0):
    """A relu MLP built from engine ops with nn's parameter names; returns (loss, params)."""
    rng = random.Random(seed)
    params: dict[str, Value] = {}
    layers = []
    for li, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        neurons = []
        for ni in range(nout):
            ws = []
            for k in range(nin):
                w = Value(rng.uniform(-1, 1))
                params[f"layers.{li}.neurons.{ni}.w.{k}"] = w
                ws.append(w)
            b = Value(rng.uniform(-0.1, 0.1))
            params[f"layers.{li}.neurons.{ni}.b"] = b
            neurons.append((ws, b))
        layers.append(neurons)
    terms = []
    for _ in range(samples):
        h = [Value(rng.uniform(-1, 1), requires_grad=False) for _ in range(sizes[0])]
        for li, neurons in enumerate(layers):
            out = [engine.dot(ws, h, b) for ws, b in neurons]
            h = out if li == len(layers) - 1 else [o.relu() for o in out]
        terms.append((h[0] - 1.0) ** 2)
    return engine.sum(terms), params
