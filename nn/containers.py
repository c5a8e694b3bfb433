"""``Sequential`` and the small layers that glue models together: ``Dropout``,
``Flatten``, ``ReLU``, ``Tanh``, ``Sigmoid``, ``Identity``.

**Sequential** calls its layers in order, each on the previous one's output.
Its layers are stored under the names ``"0"``, ``"1"``, ... (or the keys of
a dict you pass), exactly as ``torch.nn.Sequential`` does, so parameter names
start with the layer: ``0.weight.3.0.1.2``, ``0.bias.3``, ``2.neurons.5.w.7``,
and state dicts read like PyTorch's. **Grouping by layer** (for a picture or a
per-layer norm) is ``name.split(".")[0]`` in a ``Sequential``; the rule that
also fits ``MLP`` (``layers.0.neurons.3.w.1``) and layers held by attribute
is :func:`nn.module.layer_of` (re-exported here).

**Dropout** zeroes each element with probability ``p`` in training mode and
scales the survivors by ``1 / (1 - p)`` ("inverted" dropout, as PyTorch), so
nothing changes at evaluation time, where it is the identity (it returns its
input). Its random source is injected: one ``rng.random()`` draw per element,
in row-major order, so a seeded ``random.Random`` gives the same mask on
every run. ``module.train()``/``module.eval()`` reach every submodule, so
``model.eval()`` switches off all dropout (and switches BatchNorm to its
running statistics).

**Flatten** follows ``torch.nn.Flatten(start_dim=1, end_dim=-1)``: a batch
``[N][C][H][W]`` becomes ``[N][C*H*W]``. For one sample ``[C][H][W]`` use
``Flatten(0)``.

>>> import random
>>> from nn.conv import Conv2d
>>> from nn.pool import MaxPool2d
>>> model = Sequential(Conv2d(1, 2, 3, rng=0), ReLU(), MaxPool2d(2), Flatten(0))
>>> len(model([[[0.5] * 6 for _ in range(6)]]))   # [2][4][4] -> [2][2][2] -> 8
8
>>> [name for name, _ in model.named_parameters()][-2:]
['0.bias.0', '0.bias.1']
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import engine
from engine import Value
from nn.module import Module, layer_of
from nn.utils import apply_elementwise, format_shape, make_rng, shape

__all__ = ["Dropout", "Flatten", "Identity", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "layer_of"]

class Sequential(Module):
    """Layers called in order, as ``torch.nn.Sequential``.

    Args:
        *modules: The layers; or one dict ``{name: module}`` to name them.

    Indexing gives a layer (``model[0]``, ``model[-1]``, ``model["conv"]``)
    or, with a slice, a ``Sequential`` of the same layer objects.

    Raises:
        TypeError: An argument is not a ``Module``.
        ValueError: A name is unusable (private, ``training``, or not a string).

    >>> from nn.layers import Layer
    >>> model = Sequential(Layer(2, 3, rng=0), Tanh(), Layer(3, 1, activation=None, rng=0))
    >>> model
    Sequential(
      (0): Layer(2 -> 3, relu
        (neurons.0-2): 3 x Neuron(2, relu)
      )
      (1): Tanh()
      (2): Layer(3 -> 1, linear
        (neurons.0): Neuron(3, linear)
      )
    )
    >>> [n for n, _ in model.named_parameters()][:3]
    ['0.neurons.0.w.0', '0.neurons.0.w.1', '0.neurons.0.b']
    >>> len(model), type(model([1.0, 2.0])).__name__
    (3, 'Value')
    """

    def __init__(self, *modules: Module | dict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        self._names: list[str] = []
        for name, m in items:
            self._add(name, m)

    def _add(self, name: Any, module: Any) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: layer {name!r} is a {type(module).__name__}, not a "
                            f"Module")
        if not isinstance(name, str) or not name or name.startswith("_") or name == "training" \
                or "." in name or name in self._names:
            raise ValueError(f"Sequential: unusable layer name {name!r} (names are strings "
                             "without dots, not private, not 'training', and unique)")
        self.__dict__[name] = module
        self._names.append(name)

    def append(self, module: Module) -> Sequential:
        """Add a layer at the end (named by its index); returns self."""
        self._add(str(len(self._names)), module)
        return self

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Module]:
        return (self.__dict__[n] for n in self._names)

    def __getitem__(self, index: int | slice | str) -> Any:
        if isinstance(index, str):
            if index not in self._names:
                raise KeyError(f"Sequential: no layer named {index!r}")
            return self.__dict__[index]
        if isinstance(index, slice):
            return Sequential(*[self.__dict__[n] for n in self._names[index]])
        return self.__dict__[self._names[index]]

    def forward(self, x: Any) -> Any:
        """``x`` through every layer in order."""
        for name in self._names:
            x = self.__dict__[name](x)
        return x

    def config(self) -> dict[str, Any]:
        """The layers (nested modules); numeric names give a list, others a dict."""
        layers = [self.__dict__[n] for n in self._names]
        if self._names == [str(i) for i in range(len(layers))]:
            return {"modules": layers}
        return {"modules": dict(zip(self._names, layers, strict=True))}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """Rebuild from :meth:`config`'s output."""
        modules = config["modules"]
        return cls(modules) if isinstance(modules, dict) else cls(*modules)


class Dropout(Module):
    """Zero each element with probability ``p`` while training, as ``torch.nn.Dropout``.

    Args:
        p: Drop probability, in ``[0, 1]``.
        rng: A ``random.Random``, an int seed, or None (see
            :func:`nn.utils.make_rng`); one ``rng.random()`` draw per element
            in row-major order.

    Survivors are multiplied by ``1 / (1 - p)`` (one ``mul`` node each);
    dropped elements become one shared constant 0.0 (no gradient flows).
    Works on any nesting. In evaluation mode it returns its input.

    On the compiled path (:mod:`nn.compiled`) the masks are inputs of the traced
    graph, one column per element, drawn fresh for every batch from this layer's
    ``rng`` in the dynamic engine's order (sample by sample, call by call, element
    by element: :func:`nn.compiled.draw_masks`), so a compiled and a dynamic run
    of one seed drop the same units and compute the same numbers; there a dropped
    element is ``x * 0.0`` (0.0 with no gradient for any finite ``x``).

    Raises:
        ValueError: ``p`` is outside ``[0, 1]``.

    >>> drop = Dropout(0.5, rng=random.Random(0))
    >>> [v.data for v in drop([1.0, 2.0, 3.0, 4.0])]
    [2.0, 4.0, 0.0, 0.0]
    >>> x = [1.0, 2.0]; drop.eval()(x) is x
    True
    """

    #: Set by :mod:`nn.compiled` while it traces or measures the model (None otherwise):
    #: ``masks(self, x)`` returns what this layer outputs in training mode instead of
    #: drawing (the input times one mask placeholder per element), so the masks can be
    #: drawn from ``self._rng`` outside the trace, fresh for every step.
    masks: Any = None

    def __init__(self, p: float = 0.5, rng: random.Random | int | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self._rng = make_rng(rng)

    def forward(self, x: Any) -> Any:
        """The input with elements dropped (training) or unchanged (evaluation, or ``p=0``)."""
        if not self.training or self.p == 0.0:
            return x
        zero = Value(0.0, requires_grad=False)
        if self.p == 1.0:
            return apply_elementwise(lambda v: zero, x)
        if self.masks is not None:
            return self.masks(self, x)
        scale = Value(1.0 / (1.0 - self.p), requires_grad=False)
        draw, p = self._rng.random, self.p
        return apply_elementwise(lambda v: zero if draw() < p else v * scale, x)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (the random source is not saved)."""
        return {"p": self.p}

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Elementwise(Module, register=False):
    """An engine function applied to every element (any nesting)."""

    _fn = staticmethod(engine.relu)

    def forward(self, x: Any) -> Any:
        """The function applied elementwise."""
        return apply_elementwise(self._fn, x)

    def config(self) -> dict[str, Any]:
        """No arguments."""
        return {}


class ReLU(_Elementwise):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU``.

    >>> [v.data for v in ReLU()([-1.0, 2.0])]
    [0.0, 2.0]
    """

    _fn = staticmethod(engine.relu)


class Tanh(_Elementwise):
    """``tanh`` elementwise, as ``torch.nn.Tanh``."""

    _fn = staticmethod(engine.tanh)


class Sigmoid(_Elementwise):
    """The logistic function elementwise, as ``torch.nn.Sigmoid``."""

    _fn = staticmethod(engine.sigmoid)


class Identity(Module):
    """Returns its input, as ``torch.nn.Identity`` (a placeholder in a ``Sequential``)."""

    def forward(self, x: Any) -> Any:
        """``x`` itself."""
        return x

    def config(self) -> dict[str, Any]:
        """No arguments."""
        return {}


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    Args:
        start_dim: First dimension to merge (1: keep the batch dimension).
        end_dim: Last dimension to merge (negative counts from the end).

    Raises:
        ValueError: On call, when the input has too few dimensions (the
            message names the layer and the received shape).

    >>> Flatten()([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])    # [2][2][2] -> [2][4]
    [[1, 2, 3, 4], [5, 6, 7, 8]]
    >>> Flatten(0)([[[1, 2]], [[3, 4]]])                   # one sample -> a vector
    [1, 2, 3, 4]
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x: Any) -> Any:
        """``x`` with the dimensions merged (nested lists sharing ``x``'s scalars)."""
        dims = shape(x, f"Flatten({self.extra_repr()})")
        n = len(dims)
        start = self.start_dim + n if self.start_dim < 0 else self.start_dim
        end = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < n:
            hint = " (for one sample use Flatten(0))" if self.start_dim == 1 and n == 1 else ""
            raise ValueError(f"Flatten({self.extra_repr()}): cannot merge dimensions "
                             f"{self.start_dim}..{self.end_dim} of an input of shape "
                             f"{format_shape(dims)}{hint}")
        return _flatten(x, 0, start, end)

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def _flatten(x: Any, depth: int, start: int, end: int) -> Any:
    if depth < start:
        return [_flatten(s, depth + 1, start, end) for s in x]
    items = [x]
    for _ in range(end - start + 1):
        items = [s for t in items for s in t]
    return items
