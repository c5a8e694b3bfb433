"""Recurrent layers: the Elman ``RNNCell``, ``GRUCell``, ``LSTMCell``, and ``RNN``/``GRU``/``LSTM``
that unroll them over a sequence.

A recurrent net applied to a sequence is an ordinary DAG once unrolled: step
``t`` reads the input ``x_t`` and the previous hidden state ``h_{t-1}``, and
the same weights are parents of every step. Backpropagation through time
(BPTT) is therefore nothing new: it is the engine's backward pass over the
unrolled graph, where each weight's adjoint sums the contributions of all
time steps (fan-out again, as in a convolution). For truncated BPTT, pass
the detached state (``[v.detach() for v in h]``) to the next chunk; tame
exploding gradients with :func:`nn.utils.clip_grad_norm`.

**Equations and parameters** are PyTorch's, so weights copy over from
``torch.nn.RNNCell``/``GRUCell``/``LSTMCell``/``RNN``/``GRU``/``LSTM`` entry by entry:

* ``RNNCell``: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu), with
  ``weight_ih[H][I]``, ``weight_hh[H][H]``, ``bias_ih[H]``, ``bias_hh[H]``.
  Each unit is ONE ``dot`` node fusing both matrices and both biases
  (``b_hh`` enters as a weight on a constant 1), then the activation.
* ``GRUCell``: gates stacked as PyTorch's ``(r, z, n)`` in ``weight_ih[3H][I]``,
  ``weight_hh[3H][H]``, ``bias_ih[3H]``, ``bias_hh[3H]``::

      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h' = (1 - z) * n + z * h

* ``LSTMCell``: gates ``(i, f, g, o)`` stacked in ``weight_ih[4H][I]`` etc., state ``(h, c)``::

      i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     (f and o alike)
      g = tanh(W_ig x + b_ig + W_hg h + b_hg)
      c' = f * c + i * g
      h' = o * tanh(c')

Every parameter starts from ``U(-1/sqrt(H), 1/sqrt(H))``, drawn from ``rng``.

**Layout**: a cell takes ``x[I]`` and ``h[H]`` (one sample) or ``x[N][I]``
and ``h[N][H]`` (a batch); ``h=None`` means zeros. ``RNN``/``GRU`` take a
sequence ``x[L][I]``, or ``x[L][N][I]`` (``x[N][L][I]`` with
``batch_first=True``), and return ``(output, h_n)``: the last layer's hidden
state at every step, shaped like the input with ``H`` for ``I``, and every
layer's final state, ``h_n[num_layers][H]`` (``[num_layers][N][H]``). The
LSTM's state is the pair ``(h, c)`` everywhere: its cell returns ``(h', c')``
and ``LSTM`` returns ``(output, (h_n, c_n))``, as PyTorch's.

>>> rnn = RNN(1, 2, rng=0)
>>> out, h_n = rnn([[1.0], [0.0], [1.0]])     # a sequence of 3 steps, 1 feature
>>> len(out), len(out[0]), len(h_n)
(3, 2, 1)
>>> out[-1] is h_n[0]
True
>>> h = out[-1][0]; (h.op.name, h.parents[0].op.name, len(h.parents[0].parents))
('tanh', 'dot', 9)
"""

from __future__ import annotations

import math
import random
from typing import Any

import engine
from engine import Value
from nn.layers import make_rng
from nn.module import Module
from nn.utils import expand_ints, format_shape, lift, shape

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]

_NONLINEARITIES = {"tanh": engine.tanh, "relu": engine.relu}


def _uniform(rng: Any, bound: float, rows: int, cols: int | None = None) -> list:
    if cols is None:
        return [Value(rng.uniform(-bound, bound)) for _ in range(rows)]
    return [[Value(rng.uniform(-bound, bound)) for _ in range(cols)] for _ in range(rows)]


class _Cell(Module, register=False):
    """What the cells share: PyTorch's four parameters (``gates`` blocks of ``H`` rows)."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rng: random.Random | int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = expand_ints(input_size, 1, "input_size", name, minimum=1)[0]
        self.hidden_size = expand_ints(hidden_size, 1, "hidden_size", name, minimum=1)[0]
        rng = make_rng(rng)
        rows, bound = self._gates * self.hidden_size, 1.0 / math.sqrt(self.hidden_size)
        self.weight_ih = _uniform(rng, bound, rows, self.input_size)
        self.weight_hh = _uniform(rng, bound, rows, self.hidden_size)
        self.bias_ih = _uniform(rng, bound, rows) if bias else None
        self.bias_hh = _uniform(rng, bound, rows) if bias else None

    def _where(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def forward(self, x: Any, h: Any = None) -> list:
        """One step: the next hidden state for input ``x`` and state ``h`` (None: zeros).

        Args:
            x: ``[input_size]`` or a batch ``[N][input_size]``.
            h: ``[hidden_size]`` or ``[N][hidden_size]``, or None.

        Returns:
            ``[hidden_size]`` (or ``[N][hidden_size]``).

        Raises:
            ValueError: A shape does not fit (the message names both shapes).
        """
        where = self._where()
        batch, xs = self._check_input(x, where)
        if h is not None:
            self._check_state(h, batch, xs, where, "hidden state")
        rows = self._rows()
        if batch is None:
            return self._step(lift(x), self._initial(h), rows)
        hs = [None] * batch if h is None else h
        return [self._step(lift(xi), self._initial(hi), rows)
                for xi, hi in zip(x, hs, strict=True)]

    def _initial(self, h: Any) -> Any:
        """The state a step starts from: ``h`` lifted to Values, or zeros for None."""
        if h is None:
            zero = Value(0.0, requires_grad=False)
            return [zero] * self.hidden_size
        return lift(h)

    def _hidden(self, state: Any) -> list[Value]:
        """The hidden state ``h`` inside a step's state (the state itself here)."""
        return state

    def _check_input(self, x: Any, where: str) -> tuple[int | None, tuple[int, ...]]:
        """Validate ``x``; return the batch size (None for one sample) and its shape."""
        i = self.input_size
        xs = shape(x, where)
        if xs == (i,):
            return None, xs
        if len(xs) == 2 and xs[1] == i and xs[0] > 0:
            return xs[0], xs
        raise ValueError(f"{where}: expected input [{i}] or [N][{i}], got {format_shape(xs)}")

    def _check_state(self, h: Any, batch: int | None, xs: tuple[int, ...], where: str,
                     what: str) -> None:
        hid = self.hidden_size
        hs = shape(h, where)
        want = (hid,) if batch is None else (batch, hid)
        if hs != want:
            raise ValueError(f"{where}: expected {what} {format_shape(want)} for input "
                             f"{format_shape(xs)}, got {format_shape(hs)}")

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "bias": self.bias_ih is not None}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (
            "" if self.bias_ih is not None else ", bias=False")


class _Nonlinearity:
    """The ``nonlinearity`` setting of the Elman layers (:class:`RNNCell`, :class:`RNN`):
    saved in ``config()``, shown by ``repr`` when it is not the default ``"tanh"``."""

    nonlinearity: str

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {**super().config(), "nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        return super().extra_repr() + (
            "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}")


class RNNCell(_Nonlinearity, _Cell):
    """An Elman cell, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``, as ``torch.nn.RNNCell``.

    Args:
        input_size: Features per input.
        hidden_size: Units (features of the hidden state).
        bias: Learn ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    Each unit is one ``dot`` node (both matrices, both biases) plus the activation.

    >>> cell = RNNCell(2, 3, rng=0)
    >>> cell
    RNNCell(2, 3)
    >>> h = cell([1.0, -1.0]); h = cell([0.5, 0.5], h); len(h)
    3
    >>> cell([1.0, 2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: RNNCell(2, 3): expected input [2] or [N][2], got [3]
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng: random.Random | int | None = None) -> None:
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng)
        self.nonlinearity = nonlinearity

    def _rows(self) -> tuple:
        """Per unit: the fused weights ``W_ih[k] + W_hh[k] (+ b_hh[k])`` and ``b_ih[k]``."""
        if self.bias_ih is None:
            return tuple(([*wi, *wh], ()) for wi, wh in
                         zip(self.weight_ih, self.weight_hh, strict=True))
        return tuple(([*wi, *wh, bh], (bi,)) for wi, wh, bi, bh in
                     zip(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                         strict=True))

    def _step(self, x: list[Value], h: list[Value], rows: tuple) -> list[Value]:
        act = _NONLINEARITIES[self.nonlinearity]
        inputs = [*x, *h] if self.bias_ih is None else [*x, *h, Value(1.0, requires_grad=False)]
        return [act(engine.dot(w, inputs, *b)) for w, b in rows]


class GRUCell(_Cell):
    """A gated recurrent unit, as ``torch.nn.GRUCell`` (gates ``r, z, n``; see the module).

    Args:
        input_size: Features per input.
        hidden_size: Units.
        bias: Learn ``bias_ih`` and ``bias_hh``.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    Per unit: one ``dot`` node each for the ``r`` and ``z`` gates (both
    matrices and biases fused) and their sigmoids; two ``dot`` nodes, a
    ``mul``, an ``add`` and a ``tanh`` for ``n``; a ``sub`` and a ``dot``
    for ``h' = (1 - z) n + z h``.

    >>> cell = GRUCell(2, 3, rng=0)
    >>> cell.num_parameters() == 3 * 3 * (2 + 3) + 2 * 3 * 3
    True
    >>> [len(h) for h in cell([[1.0, 0.0], [0.0, 1.0]])]
    [3, 3]
    """

    _gates = 3

    def _rows(self) -> tuple:
        """Per unit: the fused r and z weights and biases, and n's four parts."""
        hid = self.hidden_size
        wi, wh = self.weight_ih, self.weight_hh
        bi = self.bias_ih or [None] * (3 * hid)
        bh = self.bias_hh or [None] * (3 * hid)
        biased = self.bias_ih is not None
        rows = []
        for k in range(hid):
            r, z, n = k, hid + k, 2 * hid + k
            gates = []
            for g in (r, z):
                w = [*wi[g], *wh[g], bh[g]] if biased else [*wi[g], *wh[g]]
                gates.append((w, (bi[g],) if biased else ()))
            tail_i = (bi[n],) if biased else ()
            tail_h = (bh[n],) if biased else ()
            rows.append((*gates, (wi[n], tail_i), (wh[n], tail_h)))
        return tuple(rows)

    def _step(self, x: list[Value], h: list[Value], rows: tuple) -> list[Value]:
        inputs = [*x, *h] if self.bias_ih is None else [*x, *h, Value(1.0, requires_grad=False)]
        out = []
        for k, ((wr, br), (wz, bz), (win, bin_), (whn, bhn)) in enumerate(rows):
            r = engine.sigmoid(engine.dot(wr, inputs, *br))
            z = engine.sigmoid(engine.dot(wz, inputs, *bz))
            a = engine.dot(win, x, *bin_)
            g = engine.dot(whn, h, *bhn)
            n = engine.tanh(a + r * g)
            out.append(engine.dot((1.0 - z, z), (n, h[k])))  # (1 - z) * n + z * h
        return out


class LSTMCell(_Cell):
    """A long short-term memory cell, as ``torch.nn.LSTMCell`` (gates ``i, f, g, o``).

    Args:
        input_size: Features per input.
        hidden_size: Units.
        bias: Learn ``bias_ih`` and ``bias_hh``.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    The state is a pair ``(h, c)``; calling the cell as ``cell(x, (h, c))``
    (or ``cell(x)`` for zeros) returns the next ``(h, c)``, each
    ``[hidden_size]`` or ``[N][hidden_size]``. Per unit: one fused ``dot``
    node and one activation per gate, a ``dot`` for ``c' = f c + i g``, and
    ``tanh`` and ``mul`` for ``h' = o tanh(c')``.

    >>> cell = LSTMCell(2, 3, rng=0)
    >>> h, c = cell([1.0, -1.0]); h, c = cell([0.5, 0.5], (h, c)); len(h), len(c)
    (3, 3)
    >>> cell.num_parameters() == 4 * 3 * (2 + 3) + 2 * 4 * 3
    True
    """

    _gates = 4

    def forward(self, x: Any, hx: Any = None) -> tuple[list, list]:
        """One step: the next ``(h, c)`` for input ``x`` and state ``hx = (h, c)`` (None: zeros).

        Raises:
            ValueError: A shape does not fit, or ``hx`` is not a pair.
        """
        where = self._where()
        batch, xs = self._check_input(x, where)
        if hx is not None:
            if not isinstance(hx, (list, tuple)) or len(hx) != 2:
                raise ValueError(f"{where}: expected the state as a pair (h, c), got "
                                 f"{type(hx).__name__} {hx!r:.40}")
            self._check_state(hx[0], batch, xs, where, "hidden state h")
            self._check_state(hx[1], batch, xs, where, "cell state c")
        rows = self._rows()
        if batch is None:
            return self._step(lift(x), self._initial(hx), rows)
        states = [None] * batch if hx is None else list(zip(hx[0], hx[1], strict=True))
        out = [self._step(lift(xi), self._initial(si), rows)
               for xi, si in zip(x, states, strict=True)]
        return [h for h, _ in out], [c for _, c in out]

    def _initial(self, state: Any) -> tuple[list[Value], list[Value]]:
        if state is None:
            zero = Value(0.0, requires_grad=False)
            return [zero] * self.hidden_size, [zero] * self.hidden_size
        return lift(state[0]), lift(state[1])

    def _hidden(self, state: Any) -> list[Value]:
        return state[0]

    def _rows(self) -> tuple:
        """Per unit: the fused weights and bias of each of the four gates."""
        hid, biased = self.hidden_size, self.bias_ih is not None
        rows = []
        for k in range(hid):
            gates = []
            for g in (k, hid + k, 2 * hid + k, 3 * hid + k):
                wi, wh = self.weight_ih[g], self.weight_hh[g]
                if biased:
                    gates.append(([*wi, *wh, self.bias_hh[g]], (self.bias_ih[g],)))
                else:
                    gates.append(([*wi, *wh], ()))
            rows.append(tuple(gates))
        return tuple(rows)

    def _step(self, x: list[Value], state: tuple, rows: tuple) -> tuple[list, list]:
        h, c = state
        inputs = [*x, *h] if self.bias_ih is None else [*x, *h, Value(1.0, requires_grad=False)]
        hs, cs = [], []
        for k, ((wi, bi), (wf, bf), (wg, bg), (wo, bo)) in enumerate(rows):
            i = engine.sigmoid(engine.dot(wi, inputs, *bi))
            f = engine.sigmoid(engine.dot(wf, inputs, *bf))
            g = engine.tanh(engine.dot(wg, inputs, *bg))
            o = engine.sigmoid(engine.dot(wo, inputs, *bo))
            c2 = engine.dot((f, i), (c[k], g))  # f * c + i * g
            hs.append(o * engine.tanh(c2))
            cs.append(c2)
        return hs, cs


class _Recurrent(Module, register=False):
    """A stack of cells unrolled over a sequence (PyTorch's ``RNN``/``GRU``)."""

    _cell = RNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False,
                 rng: random.Random | int | None = None, **cell_kwargs: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = expand_ints(input_size, 1, "input_size", name, minimum=1)[0]
        self.hidden_size = expand_ints(hidden_size, 1, "hidden_size", name, minimum=1)[0]
        self.num_layers = expand_ints(num_layers, 1, "num_layers", name, minimum=1)[0]
        self.batch_first = bool(batch_first)
        rng = make_rng(rng)
        self.cells = [
            self._cell(self.input_size if i == 0 else self.hidden_size, self.hidden_size,
                       bias=bias, rng=rng, **cell_kwargs)
            for i in range(self.num_layers)
        ]

    def _where(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def forward(self, x: Any, h0: Any = None) -> tuple[list, list]:
        """Run the sequence ``x`` through every layer, step by step.

        Args:
            x: ``[L][input_size]``, ``[L][N][input_size]``, or with ``batch_first``
                ``[N][L][input_size]``.
            h0: Initial states ``[num_layers][hidden_size]`` (``[num_layers][N][hidden_size]``),
                or None for zeros; for an LSTM the pair ``(h0, c0)``.

        Returns:
            ``(output, h_n)``: the last layer's hidden state at every step
            (laid out as ``x``) and each layer's final state (for an LSTM
            ``(h_n, c_n)``).

        Raises:
            ValueError: A shape does not fit (the message names both shapes).
        """
        where = self._where()
        dims = shape(x, where)
        i = self.input_size
        if len(dims) == 2 and dims[1] == i and dims[0] > 0:
            batch, steps = None, list(x)
        elif len(dims) == 3 and dims[2] == i and dims[0] > 0 and dims[1] > 0:
            batch = dims[0] if self.batch_first else dims[1]
            steps = [[s[t] for s in x] for t in range(dims[1])] if self.batch_first else list(x)
        else:
            lb = "[N][L]" if self.batch_first else "[L][N]"
            raise ValueError(f"{where}: expected input [L][{i}] or {lb}[{i}] (a sequence), got "
                             f"{format_shape(dims)}")
        initial = self._initial_states(h0, batch, dims, where)
        finals = []
        for cell, state in zip(self.cells, initial, strict=True):
            rows = cell._rows()
            outs = []
            for xt in steps:
                if batch is None:
                    state = cell._step(lift(xt), cell._initial(state), rows)
                    outs.append(cell._hidden(state))
                else:
                    states = [None] * batch if state is None else state
                    state = [cell._step(lift(xi), cell._initial(si), rows)
                             for xi, si in zip(xt, states, strict=True)]
                    outs.append([cell._hidden(si) for si in state])
            finals.append(state)
            steps = outs
        if batch is not None and self.batch_first:
            steps = [[steps[t][n] for t in range(len(steps))] for n in range(batch)]
        return steps, self._final_states(finals, batch)

    def _check_h(self, h: Any, batch: int | None, dims: tuple[int, ...], where: str,
                 what: str) -> None:
        want = (self.num_layers, self.hidden_size)
        if batch is not None:
            want = (self.num_layers, batch, self.hidden_size)
        if shape(h, where) != want:
            raise ValueError(f"{where}: expected {what} {format_shape(want)} for input "
                             f"{format_shape(dims)}, got {format_shape(shape(h))}")

    def _initial_states(self, h0: Any, batch: int | None, dims: tuple[int, ...],
                        where: str) -> list:
        """Each layer's initial state (None for zeros) from ``h0``."""
        if h0 is None:
            return [None] * self.num_layers
        self._check_h(h0, batch, dims, where, "h0")
        return list(h0)

    def _final_states(self, finals: list, batch: int | None) -> Any:
        """``h_n`` from each layer's last state."""
        return finals

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "bias": self.cells[0].bias_ih is not None,
                "batch_first": self.batch_first}

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.cells[0].bias_ih is None:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        return text


class RNN(_Nonlinearity, _Recurrent):
    """A multi-layer Elman RNN unrolled over a sequence, as ``torch.nn.RNN``.

    Args:
        input_size: Features per step.
        hidden_size: Units per layer.
        num_layers: Stacked layers (each reads the previous one's states).
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: Learn the biases.
        batch_first: Batched input is ``[N][L][I]`` instead of ``[L][N][I]``.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    Layer ``l``'s parameters are ``cells.l.weight_ih`` etc.: PyTorch's
    ``weight_ih_l{l}``. Calling it returns ``(output, h_n)`` (see the module
    docstring); backpropagation through time is ``loss.backward()``.

    >>> RNN(3, 8, num_layers=2, rng=0)
    RNN(3, 8, num_layers=2
      (cells.0): RNNCell(3, 8)
      (cells.1): RNNCell(8, 8)
    )
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 rng: random.Random | int | None = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, rng,
                         nonlinearity=nonlinearity)
        self.nonlinearity = nonlinearity


class GRU(_Recurrent):
    """A multi-layer GRU unrolled over a sequence, as ``torch.nn.GRU``.

    Arguments and result as :class:`RNN` (without ``nonlinearity``).

    >>> out, h_n = GRU(2, 4, batch_first=True, rng=0)([[[1.0, 0.0]] * 5] * 3)
    >>> len(out), len(out[0]), len(out[0][0]), len(h_n), len(h_n[0])
    (3, 5, 4, 1, 3)
    """

    _cell = GRUCell


class LSTM(_Recurrent):
    """A multi-layer LSTM unrolled over a sequence, as ``torch.nn.LSTM``.

    Arguments as :class:`RNN` (without ``nonlinearity``). The state is a pair:
    call it as ``lstm(x)`` or ``lstm(x, (h0, c0))`` with ``h0`` and ``c0`` of
    shape ``[num_layers][hidden_size]`` (``[num_layers][N][hidden_size]``);
    it returns ``(output, (h_n, c_n))``.

    >>> out, (h_n, c_n) = LSTM(1, 3, num_layers=2, rng=0)([[1.0], [0.0]])
    >>> len(out), len(out[0]), len(h_n), len(c_n[1])
    (2, 3, 2, 3)
    """

    _cell = LSTMCell

    def _initial_states(self, hx: Any, batch: int | None, dims: tuple[int, ...],
                        where: str) -> list:
        if hx is None:
            return [None] * self.num_layers
        if not isinstance(hx, (list, tuple)) or len(hx) != 2:
            raise ValueError(f"{where}: expected the initial state as a pair (h0, c0), got "
                             f"{type(hx).__name__} {hx!r:.40}")
        h0, c0 = hx
        self._check_h(h0, batch, dims, where, "h0")
        self._check_h(c0, batch, dims, where, "c0")
        if batch is None:
            return [(h, c) for h, c in zip(h0, c0, strict=True)]
        return [list(zip(h, c, strict=True)) for h, c in zip(h0, c0, strict=True)]

    def _final_states(self, finals: list, batch: int | None) -> tuple[list, list]:
        if batch is None:
            return [h for h, _ in finals], [c for _, c in finals]
        return [[h for h, _ in f] for f in finals], [[c for _, c in f] for f in finals]
