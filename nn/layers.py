"""``Neuron``, ``Layer`` and ``MLP``: micrograd's model, with explicit choices.

A neuron is one fused ``engine.dot(w, x, b)`` node (``sum(w_i * x_i) + b``,
one node with ``2n + 1`` parents) plus its activation node (none for
``"linear"``). Parameters come in micrograd's order (layer by layer, neuron by
neuron, its weights then its bias), so micrograd weights port over one to one
and ``random.seed(1337); MLP(2, [16, 16, 1])`` draws exactly micrograd's
initial weights.

Initialisation draws from an injected random source: pass ``rng`` (a
``random.Random`` or an int seed); with ``rng=None`` the global ``random``
module is used, as micrograd does. Schemes (biases start at 0 in all):

* ``"uniform"``: ``U(-1, 1)``, micrograd's;
* ``"xavier"``: Glorot uniform, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``
  (``torch.nn.init.xavier_uniform_``);
* ``"he"``: He/Kaiming uniform for relu, ``a = sqrt(6 / fan_in)``
  (``torch.nn.init.kaiming_uniform_(nonlinearity="relu")``);
* ``"xavier_normal"`` / ``"he_normal"``: the normal variants,
  ``std = sqrt(2 / (fan_in + fan_out))`` and ``sqrt(2 / fan_in)``.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import engine
from engine import Value
from nn.module import Module
from nn.utils import make_rng  # noqa: F401  (re-exported: nn.layers.make_rng)

#: Activation name -> the engine function applied after the neuron's dot (None: linear).
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "relu": engine.relu,
    "tanh": engine.tanh,
    "sigmoid": engine.sigmoid,
    "linear": None,
}

INITS = ("uniform", "xavier", "he", "xavier_normal", "he_normal")

RandomLike = random.Random | Any


def _check_activation(activation: str | None, what: str) -> str:
    name = "linear" if activation is None else activation
    if name not in ACTIVATIONS:
        raise ValueError(f"{what}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    return name


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{what}: expected a positive int, got {n!r}")
    return int(n)


def _draw(rng: RandomLike, init: str, fan_in: int, fan_out: int) -> float:
    if init == "uniform":
        return rng.uniform(-1, 1)
    if init == "xavier":
        a = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a)
    if init == "he":
        a = math.sqrt(6.0 / fan_in)
        return rng.uniform(-a, a)
    if init == "xavier_normal":
        return rng.gauss(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
    return rng.gauss(0.0, math.sqrt(2.0 / fan_in))  # he_normal


def _lift(x: Iterable[Value | float], nin: int, what: str) -> list[Value]:
    """Inputs as Values: plain numbers become constants, once per call."""
    if isinstance(x, (Value, numbers.Real)):
        x = [x]
    xs = [v if type(v) is Value else Value(v, requires_grad=False) for v in x]
    if len(xs) != nin:
        raise ValueError(f"{what}: expects {nin} inputs, got {len(xs)}")
    return xs


class Neuron(Module):
    """``activation(w . x + b)``: one ``dot`` node plus one activation node.

    Args:
        nin: Number of inputs.
        activation: ``"relu"`` (default), ``"tanh"``, ``"sigmoid"`` or ``"linear"``/None.
        init: Weight initialisation (see the module docstring).
        rng: A ``random.Random``, an int seed, or None for the global ``random``.
        fan_out: The layer's width, used by Xavier initialisation.

    >>> n = Neuron(2, activation="linear", rng=0)
    >>> n.b.data, len(n.w)
    (0.0, 2)
    >>> out = n([1.0, 2.0]); out.op.name, len(out.parents)
    ('dot', 5)
    """

    def __init__(self, nin: int, activation: str | None = "relu", init: str = "uniform",
                 rng: random.Random | int | None = None, fan_out: int = 1) -> None:
        super().__init__()
        nin = _check_size(nin, "Neuron nin")
        if init not in INITS:
            raise ValueError(f"Neuron: unknown init {init!r}; expected one of {', '.join(INITS)}")
        rng = make_rng(rng)
        self.w = [Value(_draw(rng, init, nin, fan_out)) for _ in range(nin)]
        self.b = Value(0.0)
        self.activation = _check_activation(activation, "Neuron")
        self.init = init
        self._act = ACTIVATIONS[self.activation]

    @property
    def nin(self) -> int:
        """Number of inputs."""
        return len(self.w)

    def forward(self, x: Sequence[Value | float]) -> Value:
        """The neuron's output for inputs ``x`` (a list of Values or numbers)."""
        return self._forward(_lift(x, len(self.w), "Neuron"))

    def _forward(self, x: list[Value]) -> Value:
        act = engine.dot(self.w, x, self.b)
        return act if self._act is None else self._act(act)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {"nin": len(self.w), "activation": self.activation, "init": self.init}

    def extra_repr(self) -> str:
        return f"{len(self.w)}, {self.activation}"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs.

    Args:
        nin: Number of inputs.
        nout: Number of neurons (outputs).
        activation: Every neuron's activation.
        init: Weight initialisation.
        rng: Random source (shared by the neurons, drawn in order).

    >>> layer = Layer(3, 2, rng=0)
    >>> len(layer([1.0, 2.0, 3.0])), layer.num_parameters()
    (2, 8)
    """

    def __init__(self, nin: int, nout: int, activation: str | None = "relu",
                 init: str = "uniform", rng: random.Random | int | None = None) -> None:
        super().__init__()
        nin = _check_size(nin, "Layer nin")
        nout = _check_size(nout, "Layer nout")
        rng = make_rng(rng)
        self.neurons = [Neuron(nin, activation, init, rng, fan_out=nout) for _ in range(nout)]

    @property
    def nin(self) -> int:
        """Number of inputs."""
        return len(self.neurons[0].w)

    @property
    def nout(self) -> int:
        """Number of outputs."""
        return len(self.neurons)

    @property
    def activation(self) -> str:
        """The neurons' activation name."""
        return self.neurons[0].activation

    def forward(self, x: Sequence[Value | float]) -> Value | list[Value]:
        """The outputs: a list, or one Value when the layer has one neuron."""
        out = self._forward(_lift(x, self.nin, "Layer"))
        return out[0] if len(out) == 1 else out

    def _forward(self, x: list[Value]) -> list[Value]:
        return [n._forward(x) for n in self.neurons]

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"nin": self.nin, "nout": self.nout, "activation": self.activation,
                "init": self.neurons[0].init}

    def extra_repr(self) -> str:
        return f"{self.nin} -> {self.nout}, {self.activation}"


class MLP(Module):
    """A multi-layer perceptron, micrograd's ``MLP`` with choices made explicit.

    Args:
        nin: Number of inputs.
        sizes: The width of each layer, the last one being the output.
        activation: Hidden layers' activation (relu by default).
        output_activation: The last layer's (``None``/``"linear"`` by default).
        init: ``"uniform"`` (micrograd's ``U(-1, 1)``), ``"xavier"``, ``"he"``,
            ``"xavier_normal"`` or ``"he_normal"``.
        rng: A ``random.Random`` or int seed; ``None`` uses the global
            ``random`` module, so ``random.seed(1337); MLP(2, [16, 16, 1])``
            gives micrograd's initial weights.

    Calling the model on a list of numbers or Values (or one number when
    ``nin == 1``) returns a Value when it has one output, a list otherwise.

    >>> model = MLP(2, [16, 16, 1], rng=1337)
    >>> model.num_parameters()
    337
    >>> model
    MLP(2 -> [16, 16, 1], relu, params=337
      (layers.0): Layer(2 -> 16, relu
        (neurons.0-15): 16 x Neuron(2, relu)
      )
      (layers.1): Layer(16 -> 16, relu
        (neurons.0-15): 16 x Neuron(16, relu)
      )
      (layers.2): Layer(16 -> 1, linear
        (neurons.0): Neuron(16, linear)
      )
    )
    >>> type(model([0.5, -1.0])).__name__
    'Value'
    """

    def __init__(self, nin: int, sizes: Sequence[int], activation: str | None = "relu",
                 output_activation: str | None = None, init: str = "uniform",
                 rng: random.Random | int | None = None) -> None:
        super().__init__()
        nin = _check_size(nin, "MLP nin")
        if isinstance(sizes, numbers.Integral) or not sizes:
            raise ValueError(f"MLP: sizes must be a non-empty list of layer widths, got {sizes!r}")
        sizes = [_check_size(s, f"MLP sizes[{i}]") for i, s in enumerate(sizes)]
        hidden = _check_activation(activation, "MLP activation")
        last = _check_activation(output_activation, "MLP output_activation")
        if init not in INITS:
            raise ValueError(f"MLP: unknown init {init!r}; expected one of {', '.join(INITS)}")
        rng = make_rng(rng)
        widths = [nin, *sizes]
        self.layers = [
            Layer(widths[i], widths[i + 1], hidden if i < len(sizes) - 1 else last, init, rng)
            for i in range(len(sizes))
        ]
        self._config = {"nin": nin, "sizes": sizes, "activation": hidden,
                        "output_activation": last, "init": init}

    @property
    def nin(self) -> int:
        """Number of inputs."""
        return self._config["nin"]

    @property
    def nout(self) -> int:
        """Number of outputs."""
        return self._config["sizes"][-1]

    @property
    def sizes(self) -> list[int]:
        """The layer widths."""
        return list(self._config["sizes"])

    @property
    def activation(self) -> str:
        """The hidden layers' activation."""
        return self._config["activation"]

    @property
    def output_activation(self) -> str:
        """The output layer's activation."""
        return self._config["output_activation"]

    def forward(self, x: Sequence[Value | float] | float) -> Value | list[Value]:
        """The model's output for one input vector ``x``."""
        out = _lift(x, self.nin, "MLP")
        for layer in self.layers:
            out = layer._forward(out)
        return out[0] if len(out) == 1 else out

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {**self._config, "sizes": list(self._config["sizes"])}

    def extra_repr(self) -> str:
        return (f"{self.nin} -> {self.sizes}, {self.activation}"
                + (f", output {self.output_activation}"
                   if self.output_activation != "linear" else "")
                + f", params={self.num_parameters()}")


class Linear(Module):
    """A dense layer as ``torch.nn.Linear``: ``y = W x + b``, one ``dot`` node per output.

    Unlike :class:`Layer` (micrograd's, one sample in, a bare ``Value`` out when
    it has one neuron), ``Linear`` takes one sample ``[in_features]`` and returns
    ``[out_features]``, always a list, or a batch ``[N][in_features]`` and
    returns ``[N][out_features]``; so it stacks after ``BatchNorm1d`` or
    ``Flatten`` in a ``Sequential``. Parameters are ``weight[o][i]`` and
    ``bias[o]`` (names ``weight.3.1``, ``bias.3``), drawn as PyTorch draws them,
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``, from ``rng``.

    Args:
        in_features: Inputs per sample.
        out_features: Outputs per sample.
        bias: Whether to add a bias.
        rng: A ``random.Random``, an int seed, or None for the global ``random``.

    >>> lin = Linear(3, 2, rng=0)
    >>> [len(lin([1.0, 2.0, 3.0])), len(lin([[1.0, 2.0, 3.0]] * 4))]
    [2, 4]
    >>> lin([1.0, 2.0])
    Traceback (most recent call last):
    ...
    ValueError: Linear(in_features=3, out_features=2, bias=True): expected input [3] or [N][3], ...
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: random.Random | int | None = None) -> None:
        super().__init__()
        n_in = _check_size(in_features, "Linear in_features")
        n_out = _check_size(out_features, "Linear out_features")
        rng = make_rng(rng)
        k = 1.0 / math.sqrt(n_in)
        self.weight = [[Value(rng.uniform(-k, k)) for _ in range(n_in)] for _ in range(n_out)]
        self.bias = [Value(rng.uniform(-k, k)) for _ in range(n_out)] if bias else None

    @property
    def in_features(self) -> int:
        """Inputs per sample."""
        return len(self.weight[0])

    @property
    def out_features(self) -> int:
        """Outputs per sample."""
        return len(self.weight)

    def forward(self, x: Sequence) -> list:
        """``W x + b`` for one sample, or for each sample of a batch."""
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
            return [self._one(sample) for sample in x]
        return self._one(x)

    def _one(self, x: Sequence[Value | float]) -> list[Value]:
        if isinstance(x, (Value, numbers.Real)) or len(x) != self.in_features:
            got = "a scalar" if isinstance(x, (Value, numbers.Real)) else f"[{len(x)}]"
            raise ValueError(f"{self!r}: expected input [{self.in_features}] "
                             f"or [N][{self.in_features}], got {got}")
        xs = _lift(x, self.in_features, "Linear")
        if self.bias is None:
            return [engine.dot(w, xs) for w in self.weight]
        return [engine.dot(w, xs, b) for w, b in zip(self.weight, self.bias, strict=True)]

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
