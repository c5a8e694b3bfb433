"""Conversion between dagrad models and PyTorch: :func:`to_torch` and :func:`from_torch`.

Users who outgrow dagrad take their model to PyTorch (and from there to its
GPUs and distributed training); PyTorch users bring small models here to
look inside the backward pass. Every layer of :mod:`nn` has a ``torch.nn``
namesake with the same constructor arguments and the same parameter shapes,
so a conversion is: build the namesake, copy every parameter and buffer entry
by entry, copy the training flag. Outputs and gradients agree to float64
rounding (the tests check 1e-12 relative, layer by layer and on stacks).

=============================================  =============================================
dagrad                                         PyTorch (float64)
=============================================  =============================================
``Linear``, ``Conv1d``, ``Conv2d``             the same class, same arguments (stride,
                                               padding incl. ``"same"``, dilation, groups)
``MaxPool1d/2d``, ``AvgPool1d/2d``,            the same class, same arguments
``AdaptiveAvg/MaxPool1d/2d``
``LayerNorm``, ``BatchNorm1d/2d``              the same class; BatchNorm's running
                                               statistics and ``num_batches_tracked`` copied
``RNN``, ``GRU``, ``LSTM``                     the same class; ``cells.l.weight_ih`` is
                                               ``weight_ih_l{l}`` (and ``_hh``, biases)
``RNNCell``, ``GRUCell``, ``LSTMCell``         the same class
``Dropout``, ``Flatten``, ``ReLU``, ``Tanh``,  the same class
``Sigmoid``, ``Identity``
``Sequential`` (nested or not)                 ``Sequential`` with the same layer names
``Neuron``, ``Layer``, ``MLP``                 ``Sequential(Linear, activation, Linear, ...)``:
                                               row ``i`` of a weight is neuron ``i``'s ``w``,
                                               no activation module for ``"linear"``
=============================================  =============================================

Only these exact classes convert, in both directions; anything else (your own
``Module`` subclass, a subclass of a layer above, ``torch.nn.GELU``, a torch
option dagrad lacks such as ``bidirectional=True``) raises
:class:`ConversionError` naming the module's path in the model (``'2.0'``,
as in ``named_modules``) and its type, before any copying starts.

**Layouts.** dagrad tensors are nested lists indexed as PyTorch's tensors;
most layers take one sample or a batch, exactly like PyTorch's "unbatched"
and batched inputs: ``Conv2d`` and the 2-D pools ``[C][H][W]`` or
``[N][C][H][W]``, the 1-D ones ``[C][L]`` or ``[N][C][L]``, ``Linear``
``[in]`` or ``[N][in]``, ``LayerNorm`` any leading dimensions, the cells
``[I]`` or ``[N][I]``, ``RNN/GRU/LSTM`` a sequence ``[L][I]``, ``[L][N][I]``
(``[N][L][I]`` with ``batch_first``). So ``torch.tensor(x)`` fed to the torch
model gives ``torch.tensor(model(x))``: a dagrad sample is an unbatched torch
input, or row ``n`` of a torch batch. ``BatchNorm1d/2d`` need a batch
``[N][C]...`` in both libraries. ``Neuron``, ``Layer`` and ``MLP`` take one
sample ``[nin]`` and return a ``Value`` when they have one output: the torch
model returns a tensor of shape ``[1]`` (or ``[N][1]`` for a batch of samples).

**Recurrent layers** return what PyTorch's return: ``RNN``/``GRU`` give
``(output, h_n)`` and ``LSTM`` gives ``(output, (h_n, c_n))`` in both
libraries, with the same shapes (``output[L][H]``, ``h_n[num_layers][H]``
for one sequence); ``RNNCell``/``GRUCell`` return ``h``, ``LSTMCell`` the
pair ``(h, c)``. :func:`to_torch` returns the torch module itself, so its
tuple lines up with dagrad's element by element. In a ``Sequential`` a
recurrent layer passes that tuple on, in both libraries: put it last.

**Round trips.** ``from_torch(to_torch(model))`` rebuilds the same classes
with the same parameters (the torch ``Sequential`` made from a dagrad
``Sequential``, ``Neuron``, ``Layer`` or ``MLP`` carries the attribute
``dagrad_class`` saying which). A torch ``Sequential`` without that mark
becomes an ``nn.Sequential`` of the namesakes, except at the top: a plain
stack of ``Linear`` layers, each followed by at most one ``ReLU``/``Tanh``/
``Sigmoid``/``Identity``, the hidden ones alike, becomes an ``MLP`` as it
always has (``mlp=False`` keeps it a ``Sequential`` of ``Linear``; an MLP gives
a bias-less ``Linear`` a zero bias).

**Sharing.** A layer used twice stays one shared module on both sides, and a
tied weight (one whole tensor in two layers, PyTorch's ``b.weight =
a.weight``) stays one ``Parameter`` / one set of ``Value``s. A tensor that
shares only some of its Values with another has no torch form and raises.

**Modes and randomness.** Each module's ``training`` flag is copied, so a
BatchNorm in evaluation mode uses its running statistics on both sides.
``Dropout`` keeps ``p`` and its mode; its masks come from each library's own
random source, so in training mode with ``0 < p < 1`` the two models drop
different units (evaluation mode, ``p = 0`` and ``p = 1`` agree exactly).
Parameters become ``float64`` tensors (``requires_grad`` as the dagrad
``Value``s); torch tensors of any floating dtype are read as Python floats.
torch is imported only when these functions run.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine import Value
from nn.containers import Dropout, Flatten, Identity, ReLU, Sequential, Sigmoid, Tanh
from nn.conv import Conv1d, Conv2d
from nn.layers import MLP, Layer, Linear, Neuron, make_rng
from nn.module import Module
from nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from nn.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["MARK", "ConversionError", "from_torch", "to_torch", "torch_parameters"]

#: The attribute a torch ``Sequential`` made by :func:`to_torch` carries: the dagrad class
#: it came from (``"Sequential"``, ``"MLP"``, ``"Layer"`` or ``"Neuron"``).
MARK = "dagrad_class"


class ConversionError(TypeError, ValueError):
    """A module has no counterpart in the other library, or uses an option that has none.

    The message names the module's path in the model and its type. A
    ``TypeError`` and a ``ValueError`` both, as the earlier MLP-only
    functions raised one or the other.
    """


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("PyTorch is not installed; to_torch/from_torch need it "
                          "(pip install torch)") from None
    return torch


# -- the table: one rule per layer -------------------------------------------------------------


def _weight_bias(m: Any) -> dict[str, Any]:
    return {"weight": m.weight, "bias": m.bias}


def _cell(m: Any) -> dict[str, Any]:
    return {"weight_ih": m.weight_ih, "weight_hh": m.weight_hh, "bias_ih": m.bias_ih,
            "bias_hh": m.bias_hh}


def _recurrent(m: Any) -> dict[str, Any]:
    return {f"{name}_l{i}": v for i, cell in enumerate(m.cells) for name, v in _cell(cell).items()}


def _nothing(m: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class _Rule:
    """A dagrad layer and its ``torch.nn`` namesake.

    ``args`` are the constructor arguments both share by name (dagrad's from
    ``config()``, torch's from the module's attributes); ``tensors`` gives
    each torch parameter name the dagrad ``Value``s in torch's shape (None
    where the layer has no such parameter); ``seeded`` layers draw initial
    weights (from_torch builds them from a fixed seed, then overwrites them).
    """

    cls: type[Module]
    args: tuple[str, ...] = ()
    tensors: Callable[[Any], dict[str, Any]] = _nothing
    seeded: bool = False


_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
         "bias")
_MAX = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
_BN = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_RNN = ("input_size", "hidden_size", "num_layers", "bias", "batch_first")
_CELL = ("input_size", "hidden_size", "bias")

_RULES: dict[type[Module], _Rule] = {r.cls: r for r in (
    _Rule(Linear, ("in_features", "out_features", "bias"), _weight_bias, True),
    _Rule(Conv1d, _CONV, _weight_bias, True),
    _Rule(Conv2d, _CONV, _weight_bias, True),
    _Rule(MaxPool1d, _MAX),
    _Rule(MaxPool2d, _MAX),
    _Rule(AvgPool1d, _AVG),
    _Rule(AvgPool2d, (*_AVG, "divisor_override")),
    _Rule(AdaptiveAvgPool1d, ("output_size",)),
    _Rule(AdaptiveAvgPool2d, ("output_size",)),
    _Rule(AdaptiveMaxPool1d, ("output_size",)),
    _Rule(AdaptiveMaxPool2d, ("output_size",)),
    _Rule(LayerNorm, ("normalized_shape", "eps", "elementwise_affine", "bias"), _weight_bias),
    _Rule(BatchNorm1d, _BN, _weight_bias),
    _Rule(BatchNorm2d, _BN, _weight_bias),
    _Rule(RNN, (*_RNN, "nonlinearity"), _recurrent, True),
    _Rule(GRU, _RNN, _recurrent, True),
    _Rule(LSTM, _RNN, _recurrent, True),
    _Rule(RNNCell, (*_CELL, "nonlinearity"), _cell, True),
    _Rule(GRUCell, _CELL, _cell, True),
    _Rule(LSTMCell, _CELL, _cell, True),
    _Rule(Dropout, ("p",)),
    _Rule(Flatten, ("start_dim", "end_dim")),
    _Rule(ReLU),
    _Rule(Tanh),
    _Rule(Sigmoid),
    _Rule(Identity),
)}

#: The dense family: micrograd's modules, which become a torch Sequential of Linear layers.
_DENSE = (Neuron, Layer, MLP)
_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
_ACTIVATION_OF = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Identity": "linear"}
#: torch options dagrad's layers do not have, with the one value they support.
_FIXED = {"padding_mode": "zeros", "return_indices": False, "bidirectional": False,
          "proj_size": 0}

_NAMES = ", ".join(sorted([c.__name__ for c in _RULES] + ["Sequential"]))


def _where(path: str) -> str:
    return f"module {path!r}" if path else "the model"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _no_counterpart(m: Module, path: str) -> ConversionError:
    cls = type(m)
    base = next((r.__name__ for r in (*_RULES, Sequential, *_DENSE) if isinstance(m, r)), None)
    note = (f" (a subclass of {base}, whose forward may differ: only the exact classes "
            f"convert)" if base else "")
    return ConversionError(f"to_torch: {_where(path)} is a {cls.__qualname__} from "
                           f"{cls.__module__}{note}, which has no PyTorch counterpart; "
                           f"to_torch converts {_NAMES}, Neuron, Layer and MLP")


def _items(seq: Sequential) -> list[tuple[str, Module]]:
    """A Sequential's (name, layer) pairs, in order."""
    modules = seq.config()["modules"]
    if isinstance(modules, dict):
        return list(modules.items())
    return [(str(i), m) for i, m in enumerate(modules)]


def _dense_plan(m: Module) -> list[tuple[str, str | None, list[Neuron], str]]:
    """The torch Sequential of a Neuron/Layer/MLP: per layer (Linear's name,
    activation module's name or None, neurons, activation)."""
    if type(m) is Neuron:
        layers = [([m], m.activation)]
    elif type(m) is Layer:
        layers = [(m.neurons, m.activation)]
    else:
        layers = [(layer.neurons, layer.activation) for layer in m.layers]
    plan, i = [], 0
    for neurons, activation in layers:
        act = None if activation == "linear" else str(i + 1)
        plan.append((str(i), act, neurons, activation))
        i += 1 if act is None else 2
    return plan


def torch_parameters(model: Module) -> dict[str, Any]:
    """Each parameter of ``to_torch(model)``, by its PyTorch name, as the dagrad ``Value``s
    it is copied from, nested in the torch tensor's shape.

    Useful to compare gradients (``tmodel.get_parameter(name).grad`` against
    the ``.grad`` of these Values) or to copy weights by hand. Needs no torch.

    Args:
        model: A dagrad module that :func:`to_torch` converts.

    Returns:
        ``{torch name: nested list of Values}``, in torch's ``named_parameters`` order
        (a tied tensor, or a layer used twice, under its first name only, as torch's).

    Raises:
        ConversionError: A module has no PyTorch counterpart (named by path and
            type), or two tensors share only some of their Values.

    >>> from nn.layers import MLP
    >>> params = torch_parameters(MLP(3, [4, 2], rng=0))
    >>> list(params), len(params["0.weight"]), len(params["0.weight"][0])
    (['0.weight', '0.bias', '2.weight', '2.bias'], 4, 3)
    """
    tensors = _tensors(model)
    ties = _ties(tensors)
    return {k: v for k, v in tensors.items() if k not in ties}


def _tensors(model: Module) -> dict[str, Any]:
    """Every parameter tensor of ``to_torch(model)`` by torch name, tied ones included."""
    out: dict[str, Any] = {}
    _collect(model, "", out, set())
    return out


def _ties(tensors: dict[str, Any]) -> dict[str, str]:
    """``{name: first name}`` for tensors made of the same Values as an earlier one.

    PyTorch ties whole parameters (``b.weight = a.weight``); dagrad ties single
    Values. A tensor that shares only some of its Values with another (or
    repeats one) has no torch form and raises.
    """
    first: dict[tuple[int, ...], str] = {}
    owner: dict[int, str] = {}
    ties: dict[str, str] = {}
    for name, values in tensors.items():
        key = tuple(map(id, _flat(values)))
        if key in first and _shape(values) == _shape(tensors[first[key]]):
            ties[name] = first[key]
            continue
        ids = set(key)
        if len(ids) < len(key) or not owner.keys().isdisjoint(ids):
            others = [owner[i] for i in key if i in owner]
            other = f"with {others[0]!r}" if others else "with itself"
            raise ConversionError(f"to_torch: parameter {name!r} shares some of its Values "
                                  f"{other}; PyTorch ties whole tensors of one shape "
                                  f"(b.weight = a.weight) or whole layers")
        owner.update(dict.fromkeys(ids, name))
        first[key] = name
    return ties


def _flat(values: Any) -> list[Value]:
    """The Values of a nested list, row-major (rows copied whole: fast on big weights)."""
    if isinstance(values, Value):
        return [values]
    if values and isinstance(values[0], Value):
        return list(values)
    return [v for row in values for v in _flat(row)]


def _data(values: Any) -> Any:
    """The floats of a nested list of Values, same nesting."""
    if values and isinstance(values[0], Value):
        return [v.data for v in values]
    return [_data(row) for row in values]


def _shape(values: Any) -> tuple[int, ...]:
    dims = []
    while isinstance(values, list):
        dims.append(len(values))
        values = values[0] if values else None
    return tuple(dims)


def _collect(m: Module, path: str, out: dict[str, Any], seen: set[int]) -> None:
    if id(m) in seen:  # a layer used twice: its parameters are named once, as in torch
        return
    seen.add(id(m))
    kind = type(m)
    if kind is Sequential:
        for name, child in _items(m):
            _collect(child, _join(path, name), out, seen)
    elif kind in _DENSE:
        _check_parts(m, path)
        for linear, _, neurons, _ in _dense_plan(m):
            out[_join(path, f"{linear}.weight")] = [n.w for n in neurons]
            out[_join(path, f"{linear}.bias")] = [n.b for n in neurons]
    elif kind in _RULES:
        _check_parts(m, path)
        for name, values in _RULES[kind].tensors(m).items():
            if values is not None:
                out[_join(path, name)] = values
    else:
        raise _no_counterpart(m, path)


def _check_parts(m: Module, path: str) -> None:
    """The parts a layer's rule reads are the classes it built (a swapped-in cell or
    layer could compute something else): raise naming the part otherwise."""
    if type(m) is MLP:
        parts = [(f"layers.{i}", layer, Layer) for i, layer in enumerate(m.layers)]
        parts += [(f"layers.{i}.neurons.{j}", n, Neuron) for i, layer in enumerate(m.layers)
                  if type(layer) is Layer for j, n in enumerate(layer.neurons)]
    elif type(m) is Layer:
        parts = [(f"neurons.{j}", n, Neuron) for j, n in enumerate(m.neurons)]
    elif isinstance(m, (RNN, GRU, LSTM)):
        parts = [(f"cells.{i}", cell, type(m)._cell) for i, cell in enumerate(m.cells)]
    else:
        return
    for name, part, cls in parts:
        if type(part) is not cls:
            raise ConversionError(f"to_torch: {_where(_join(path, name))} is a "
                                  f"{type(part).__qualname__} where {type(m).__name__} needs "
                                  f"its own {cls.__name__}; only that converts to PyTorch's "
                                  f"{'Sequential' if type(m) in _DENSE else type(m).__name__}")
# -- dagrad -> torch ---------------------------------------------------------------------------


def to_torch(model: Module) -> Any:
    """A float64 PyTorch module computing the same function as ``model``.

    Every layer becomes its ``torch.nn`` namesake with the same arguments,
    parameters, buffers and training flag; a ``Sequential`` becomes a
    ``torch.nn.Sequential`` with the same layer names; a ``Neuron``,
    ``Layer`` or ``MLP`` becomes a ``torch.nn.Sequential`` of ``Linear``
    layers, each followed by its ``ReLU``/``Tanh``/``Sigmoid`` (none for
    ``"linear"``). See the module docstring for the table and the layouts:
    calling the result on ``torch.tensor(x)`` (one sample unbatched, or a
    batch) gives the dagrad output as a tensor; recurrent layers return
    PyTorch's tuples, which have dagrad's structure (``(output, h_n)``,
    ``(output, (h_n, c_n))``). No torch random numbers are drawn.

    Args:
        model: A dagrad module: one of the layers listed in :mod:`nn.interop`,
            or a ``Sequential`` (nested or not) of them.

    Returns:
        The ``torch.nn.Module``, parameters in ``float64``.

    Raises:
        ImportError: torch is not installed.
        ConversionError: ``model`` or a module inside it has no PyTorch
            counterpart (the message names its path, ``'2.1'``, and type), or a
            tensor shares only some of its Values with another.
    """
    if not isinstance(model, Module):
        raise ConversionError(f"to_torch: expected a dagrad nn.Module, got "
                              f"{type(model).__name__}")
    ties = _ties(_tensors(model))  # every module has a counterpart, before any work
    torch = _torch()
    tmodel = _to(model, "", torch, {})
    for name, first in ties.items():  # tied weights stay tied: one torch Parameter
        owner, _, attr = name.rpartition(".")
        setattr(tmodel.get_submodule(owner), attr, tmodel.get_parameter(first))
    return tmodel


def _to(m: Module, path: str, torch: Any, made: dict[int, Any]) -> Any:
    if id(m) in made:  # a layer used twice stays one (shared) torch module
        return made[id(m)]
    kind = type(m)
    if kind is Sequential:
        layers = OrderedDict((name, _to(child, _join(path, name), torch, made))
                             for name, child in _items(m))
        try:
            t = torch.nn.Sequential(layers)
        except (KeyError, TypeError, ValueError) as e:  # a name torch refuses ("forward")
            raise ConversionError(f"to_torch: {_where(path)} (Sequential): {e}") from None
        setattr(t, MARK, "Sequential")
    elif kind in _DENSE:
        t = torch.nn.Sequential(OrderedDict(_to_dense(m, torch)))
        setattr(t, MARK, kind.__name__)
    else:
        t = _to_leaf(m, _RULES[kind], torch)
    t.training = m.training
    made[id(m)] = t
    return t


def _to_dense(m: Module, torch: Any) -> Iterator[tuple[str, Any]]:
    for linear, act, neurons, activation in _dense_plan(m):
        lin = _empty(torch, torch.nn.Linear, neurons[0].nin, len(neurons))
        _load(torch, lin, {"weight": [n.w for n in neurons], "bias": [n.b for n in neurons]}, {})
        lin.training = m.training
        yield linear, lin
        if act is not None:
            module = getattr(torch.nn, _ACTIVATIONS[activation])()
            module.training = m.training
            yield act, module


def _torch_arg(value: Any) -> Any:
    """A config value as torch's constructor takes it (lists as tuples, 1-lists as ints)."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else tuple(value)
    return value


def _empty(torch: Any, cls: Any, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` in float64 without initialising it (no random draws)."""
    return cls(*args, **kwargs, device="meta", dtype=torch.float64).to_empty(device="cpu")


def _to_leaf(m: Module, rule: _Rule, torch: Any) -> Any:
    config = m.config()
    kwargs = {a: _torch_arg(config[a]) for a in rule.args}
    cls = getattr(torch.nn, rule.cls.__name__)
    tensors = {k: v for k, v in rule.tensors(m).items() if v is not None}
    buffers = dict(m.named_buffers())
    t = _empty(torch, cls, **kwargs) if tensors or buffers else cls(**kwargs)
    _load(torch, t, tensors, buffers)
    return t


def _load(torch: Any, t: Any, tensors: dict[str, Any], buffers: dict[str, Any]) -> None:
    """Copy dagrad Values and buffers into ``t`` (every key of its state dict, strictly)."""
    state = {k: torch.tensor(_data(v), dtype=torch.float64) for k, v in tensors.items()}
    for k, v in buffers.items():
        state[k] = torch.tensor(int(v) if k == "num_batches_tracked" else v,
                                dtype=torch.int64 if k == "num_batches_tracked" else torch.float64)
    t.load_state_dict(state, strict=True)
    for k, v in tensors.items():
        t.get_parameter(k).requires_grad_(any(p.requires_grad for p in _flat(v)))


# -- torch -> dagrad ---------------------------------------------------------------------------


def from_torch(module: Any, *, mlp: bool = True,
               rng: random.Random | int | None = None) -> Module:
    """The dagrad model of a PyTorch module: the inverse of :func:`to_torch`.

    Each ``torch.nn`` layer listed in :mod:`nn.interop` becomes its dagrad
    namesake with the same arguments, parameters (read as Python floats from
    any floating dtype), buffers and training flag; a ``torch.nn.Sequential``
    becomes an ``nn.Sequential`` with the same layer names, or the
    ``Neuron``/``Layer``/``MLP`` it was made from by :func:`to_torch`. An
    unmarked top-level ``Sequential`` of ``Linear`` layers, each followed by at
    most one ``ReLU``/``Tanh``/``Sigmoid``/``Identity`` with the hidden ones
    alike, becomes an ``MLP`` (a ``Linear`` without bias gets a zero bias).
    A layer used twice, or a parameter tied between layers, stays shared.

    Args:
        module: A ``torch.nn.Module``.
        mlp: Turn such a plain ``Linear`` stack into an ``MLP``; False keeps it
            a ``Sequential`` of ``Linear`` (which, unlike an MLP, takes batches).
        rng: The random source shared by the ``Dropout`` layers (a
            ``random.Random``, an int seed, or None for the global ``random``).

    Returns:
        The dagrad module.

    Raises:
        ImportError: torch is not installed.
        ConversionError: A module has no dagrad counterpart, or uses an option
            dagrad lacks (``bidirectional``, ``proj_size``, ``padding_mode``
            other than zeros, ``return_indices``, dropout between recurrent
            layers), or two ``Linear`` layers in a row do not fit; the message
            names the module's path (``'0.2'``) and type.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"from_torch: expected a torch.nn.Module, got "
                              f"{type(module).__name__}")
    reader = _Reader(torch, mlp, make_rng(rng), module)
    _check(module, "", torch, reader.rules)  # before building anything
    model = reader.read(module, "")
    tensors = _tensors(model)
    for names in reader.names.values():  # tied torch parameters: the same dagrad Values
        present = [n for n in names if n in tensors]
        for name in present[1:]:
            _tie(tensors[name], tensors[present[0]])
    return model


def _torch_name(t: Any) -> str:
    cls = type(t)
    return f"torch.nn.{cls.__qualname__}" if cls.__module__.startswith("torch.nn") \
        else f"{cls.__qualname__} from {cls.__module__}"


def _check(t: Any, path: str, torch: Any, rules: dict[Any, _Rule]) -> None:
    """Raise for the first module without a counterpart (or with an unsupported option)."""
    kind = type(t)
    if kind is torch.nn.Sequential:
        last = None  # the width the previous Linear gives, through shape-keeping layers
        for name, child in _children(t):
            if type(child) is torch.nn.Linear:
                if last is not None and child.in_features != last:
                    raise ConversionError(f"from_torch: {_where(_join(path, name))} (Linear) "
                                          f"takes {child.in_features} inputs but the previous "
                                          f"layer gives {last}")
                last = child.out_features
            elif type(child).__name__ not in ("ReLU", "Tanh", "Sigmoid", "Identity", "Dropout"):
                last = None
            _check(child, _join(path, name), torch, rules)
        return
    if kind not in rules:
        raise ConversionError(f"from_torch: {_where(path)} is a {_torch_name(t)}, which has no "
                              f"dagrad counterpart; from_torch converts torch.nn.{{"
                              f"{_NAMES}}}")
    bad = [f"{k}={getattr(t, k)!r}" for k, ok in _FIXED.items()
           if hasattr(t, k) and getattr(t, k) != ok]
    if isinstance(t, torch.nn.RNNBase) and t.dropout and t.num_layers > 1:
        bad.append(f"dropout={t.dropout!r}")
    if bad:
        raise ConversionError(f"from_torch: {_where(path)} ({_torch_name(t)}) uses "
                              f"{', '.join(bad)}, which dagrad's {kind.__name__} does not have")


def _children(t: Any) -> list[tuple[str, Any]]:
    """A torch Sequential's (name, layer) pairs, a layer used twice listed twice
    (``named_children`` lists it once)."""
    return [(name, m) for name, m in t.named_modules(remove_duplicate=False)
            if name and "." not in name]


class _Reader:
    """from_torch's state: the options, the modules made so far (a layer used
    twice is made once) and every torch parameter's names (tied ones have several)."""

    def __init__(self, torch: Any, mlp: bool, rng: Any, module: Any) -> None:
        self.torch, self.mlp, self.rng = torch, mlp, rng
        self.rules = {getattr(torch.nn, cls.__name__): rule for cls, rule in _RULES.items()}
        self.made: dict[int, Module] = {}
        self.names: dict[int, list[str]] = {}
        for name, p in module.named_parameters(remove_duplicate=False):
            self.names.setdefault(id(p), []).append(name)

    def read(self, t: Any, path: str) -> Module:
        """The dagrad module for ``t`` (found at ``path``)."""
        if id(t) in self.made:
            return self.made[id(t)]
        if type(t) is self.torch.nn.Sequential:
            m = self.sequential(t, path)
            m.training = t.training  # its layers carry their own flags
        else:  # train(): an RNN's cells too
            m = _from_leaf(t, path, self.rules[type(t)], self.rng).train(t.training)
        self.made[id(t)] = m
        return m

    def sequential(self, t: Any, path: str) -> Module:
        mark = getattr(t, MARK, None)
        if mark in ("Neuron", "Layer", "MLP") or (mark is None and not path and self.mlp):
            dense = self.dense(t, mark or "MLP")
            if dense is not None:
                return dense
        layers = {name: self.read(child, _join(path, name)) for name, child in _children(t)}
        try:
            return Sequential(layers)
        except (TypeError, ValueError) as e:
            raise ConversionError(f"from_torch: {_where(path)} (torch.nn.Sequential): "
                                  f"{e}") from None

    def dense(self, t: Any, kind: str) -> Module | None:
        """The Neuron/Layer/MLP a Linear stack makes, or None when ``t`` is not one."""
        return _from_dense(t, kind, self.torch, lambda p: len(self.names[id(p)]) > 1)


def _from_dense(t: Any, kind: str, torch: Any, shared: Callable[[Any], bool]) -> Module | None:
    """The Neuron/Layer/MLP a Linear stack makes, or None when ``t`` is not one (or
    shares a parameter elsewhere: an MLP cannot keep the tie)."""
    children = [child for _, child in _children(t)]
    if any(shared(p) for c in children for p in c.parameters()):
        return None
    pairs: list[tuple[Any, str]] = []  # (Linear, activation)
    open_ = False  # the last Linear may still take an activation
    for child in children:
        name = type(child).__name__
        if type(child) is torch.nn.Linear:
            if pairs and pairs[-1][0].out_features != child.in_features:
                return None
            pairs.append((child, "linear"))
            open_ = True
        elif open_ and name in _ACTIVATION_OF and type(child) is getattr(torch.nn, name):
            pairs[-1] = (pairs[-1][0], _ACTIVATION_OF[name])
            open_ = False
        else:
            return None
    if not pairs or (kind != "MLP" and len(pairs) != 1) or (
            kind == "Neuron" and pairs[0][0].out_features != 1):
        return None
    hidden = {act for _, act in pairs[:-1]}
    if len(hidden) > 1:
        return None
    first = pairs[0][0]
    if kind == "Neuron":
        model: Module = Neuron(first.in_features, pairs[0][1], rng=0)
        layers = [[model]]
    elif kind == "Layer":
        model = Layer(first.in_features, first.out_features, pairs[0][1], rng=0)
        layers = [model.neurons]
    else:
        model = MLP(first.in_features, [p[0].out_features for p in pairs],
                    activation=hidden.pop() if hidden else "relu",
                    output_activation=pairs[-1][1], rng=0)
        layers = [layer.neurons for layer in model.layers]
    for neurons, (lin, _) in zip(layers, pairs, strict=True):
        weight = lin.weight.detach().to(torch.float64).tolist()
        bias = (lin.bias.detach().to(torch.float64).tolist() if lin.bias is not None
                else [0.0] * lin.out_features)
        for neuron, row, b in zip(neurons, weight, bias, strict=True):
            for w, x in zip(neuron.w, row, strict=True):
                w.data, w.requires_grad = x, lin.weight.requires_grad
            neuron.b.data = b
            neuron.b.requires_grad = lin.bias.requires_grad if lin.bias is not None else True
    model.train(t.training)
    return model


def _dagrad_arg(name: str, value: Any) -> Any:
    """A torch attribute as dagrad's constructor takes it (bias tensors as a flag)."""
    if name == "bias" and not isinstance(value, bool):
        return value is not None
    return value


def _from_leaf(t: Any, path: str, rule: _Rule, rng: Any) -> Module:
    kwargs = {a: _dagrad_arg(a, getattr(t, a)) for a in rule.args}
    if rule.seeded:
        kwargs["rng"] = 0
    elif rule.cls is Dropout:
        kwargs["rng"] = rng
    try:
        m = rule.cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConversionError(f"from_torch: {_where(path)} ({_torch_name(t)}): {e}") from None
    state = dict(t.state_dict())
    params = dict(t.named_parameters())
    for name, values in rule.tensors(m).items():
        if values is not None:
            _assign(values, state.pop(name).tolist(), params[name].requires_grad)
    for name, _ in list(m.named_buffers()):
        value = state.pop(name).tolist()
        setattr(m, name, float(value) if not isinstance(value, list) else value)
    if state:  # a tensor the rule does not know: never drop weights silently
        raise ConversionError(f"from_torch: {_where(path)} ({_torch_name(t)}) has tensors "
                              f"{sorted(state)} that dagrad's {rule.cls.__name__} lacks")
    return m


def _assign(values: Any, data: Any, requires_grad: bool) -> None:
    """Write nested floats into nested Values of the same shape."""
    if isinstance(values, Value):
        values.data, values.requires_grad = float(data), requires_grad
        return
    for v, d in zip(values, data, strict=True):
        _assign(v, d, requires_grad)


def _tie(values: Any, first: Any) -> None:
    """Put ``first``'s Values in place of ``values``' (same nesting), in the same lists."""
    for i, (v, f) in enumerate(zip(values, first, strict=True)):
        if isinstance(v, Value):
            values[i] = f
        else:
            _tie(v, f)
