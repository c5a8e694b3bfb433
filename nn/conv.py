"""Convolution layers, ``Conv1d`` and ``Conv2d``, built from the engine's fused ``dot``.

A convolution is a neuron slid over the input: every output element is
``sum(w * x) + b`` over one window, so it is ONE ``engine.dot`` node whose
parents are the window's weights, the window's inputs and the bias. No new
derivative code is needed: the backward pass is the engine's usual dynamic
programming over a bigger graph, where each weight has many consumers (one
per window position) and the adjoint table sums their contributions: the
"weight sharing" of a convolution is just fan-out in the DAG.

**Layout** (PyTorch's, as nested lists of ``Value``s or numbers):

* ``Conv2d`` input ``x[channel][row][column]``, shape ``[C][H][W]``, or a
  batch ``[N][C][H][W]``; output ``[out_channels][H_out][W_out]`` (or ``[N][...]``).
* ``Conv1d`` input ``[C][L]`` or ``[N][C][L]``; output ``[out_channels][L_out]``.
* ``weight[out_channel][in_channel][kernel_row][kernel_column]`` (``Conv1d``:
  ``weight[out][in][k]``) and ``bias[out_channel]``: ``torch.nn.Conv2d``'s
  shapes, so weights copy over entry by entry, and the parameter names are
  ``weight.o.c.i.j`` and ``bias.o``.

``H_out = (H + pad_top + pad_bottom - dilation * (kernel - 1) - 1) // stride + 1``,
as in PyTorch. Zero padding is not materialised: a window at the border
simply has fewer taps (the missing products are zero), so its ``dot`` node
has fewer parents. Numbers in the input are lifted to constants once.

Initialisation is PyTorch's default: weights and bias from
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = in_channels * kernel
area``, drawn from an injected ``random.Random`` (``rng``).

NB: ``conv2d``/``conv1d`` here are ``torch.nn.functional.conv2d``/``conv1d``
(cross-correlation, as every deep-learning library computes), with
``groups``; padding modes other than zeros are not implemented.

>>> from engine import Value
>>> conv = Conv2d(1, 1, kernel_size=2, bias=False, rng=0)
>>> conv.weight = [[[[Value(1.0), Value(0.0)], [Value(0.0), Value(-1.0)]]]]
>>> out = conv([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
>>> [[v.data for v in row] for row in out[0]]
[[-4.0, -4.0], [-4.0, -4.0]]
>>> out[0][0][0].op.name, len(out[0][0][0].parents)
('dot', 8)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import engine
from engine import Value
from nn.layers import make_rng
from nn.module import Module
from nn.utils import expand_ints, format_shape, lift, shape

__all__ = ["Conv1d", "Conv2d", "Geometry", "check_input", "conv1d", "conv2d", "output_size"]


def output_size(n_in: int, kernel: int, stride: int = 1, padding: tuple[int, int] = (0, 0),
                dilation: int = 1, ceil_mode: bool = False) -> int:
    """Length of a convolution's or pooling's output along one dimension (PyTorch's rule).

    Args:
        n_in: Input length.
        kernel: Kernel length.
        stride: Step between windows.
        padding: Padding before and after.
        dilation: Spacing between kernel taps.
        ceil_mode: Round up (pooling's ``ceil_mode``); a last window that
            would start inside the right padding is dropped, as in PyTorch.

    Returns:
        The output length (may be < 1 when the input is too small).

    >>> output_size(8, 3), output_size(8, 3, stride=2, padding=(1, 1)), output_size(5, 2, 2)
    (6, 4, 2)
    >>> output_size(5, 2, 2, ceil_mode=True)
    3
    """
    span = n_in + padding[0] + padding[1] - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if ceil_mode:
        n = -(-span // stride) + 1
        if (n - 1) * stride >= n_in + padding[0]:
            n -= 1
        return n
    return span // stride + 1


def _taps(n_in: int, n_out: int, kernel: int, stride: int, before: int,
          dilation: int) -> list[list[tuple[int, int]]]:
    """For each output position, the in-bounds ``(kernel index, input index)`` pairs."""
    taps = []
    for o in range(n_out):
        start = o * stride - before
        taps.append([(t, start + t * dilation) for t in range(kernel)
                     if 0 <= start + t * dilation < n_in])
    return taps


def _resolve_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...],
                     stride: tuple[int, ...], where: str) -> tuple[tuple[int, int], ...]:
    """Padding as ``(before, after)`` per dimension; ``"valid"`` and ``"same"`` as PyTorch."""
    n = len(kernel)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{where}: padding='same' needs stride 1, got stride={stride}")
        pads = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))  # the odd one after, as PyTorch
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"{where}: padding must be an int, a tuple, 'valid' or 'same', "
                         f"got {padding!r}")
    return tuple((p, p) for p in expand_ints(padding, n, "padding", where))


class Geometry:
    """Kernel, stride, padding and dilation of a convolution or pooling, per dimension,
    and the windows they give (shared by :mod:`nn.pool`).

    Args:
        kernel: Kernel length per dimension.
        stride: Step per dimension.
        padding: ``(before, after)`` per dimension.
        dilation: Spacing of kernel taps per dimension.
        ceil_mode: Round the output size up (pooling).
    """

    __slots__ = ("kernel", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, kernel, stride, padding, dilation, ceil_mode=False):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def min_size(self, dim: int) -> int:
        """The smallest input length along ``dim`` that gives one output."""
        span = self.dilation[dim] * (self.kernel[dim] - 1) + 1
        return max(1, span - self.padding[dim][0] - self.padding[dim][1])

    def windows(self, sizes: Sequence[int]) -> list[list[list[tuple[int, int]]]]:
        """The taps of every output position, per dimension."""
        out = []
        for d, n in enumerate(sizes):
            n_out = output_size(n, self.kernel[d], self.stride[d], self.padding[d],
                                self.dilation[d], self.ceil_mode)
            out.append(_taps(n, n_out, self.kernel[d], self.stride[d], self.padding[d][0],
                             self.dilation[d]))
        return out


def check_input(x: Any, where: str, channels: int | None, geometry: Geometry,
                spatial: int) -> tuple[bool, tuple[int, ...]]:
    """Check the input of a convolution or pooling; return (batched?, shape).

    One sample ``[C][*spatial]`` or a batch ``[N][C][*spatial]`` is accepted,
    as PyTorch accepts unbatched inputs.

    Args:
        x: The input, nested lists.
        where: The layer, for the message.
        channels: The expected channel count, or None for any.
        geometry: The windows (for the smallest usable size).
        spatial: Number of spatial dimensions (1 or 2).

    Raises:
        ValueError: The shape does not fit; the message names the layer, the
            expected shape and the received one.
    """
    dims = shape(x, where)
    names = ("L",) if spatial == 1 else ("H", "W")
    sizes = ", ".join(names)
    lows = sorted({geometry.min_size(d) for d in range(spatial)})
    low = " and ".join(f"{n} >= {geometry.min_size(d)}" for d, n in enumerate(names)) \
        if len(lows) > 1 else f"{sizes} >= {lows[0]}"
    c = "C" if channels is None else str(channels)
    expected = f"{format_shape((c, *names))} or {format_shape(('N', c, *names))}"
    rank = len(dims)
    batched = rank == spatial + 2
    bad = rank not in (spatial + 1, spatial + 2) or 0 in dims
    if not bad:
        inner = dims[1:] if batched else dims
        bad = (channels is not None and inner[0] != channels) or any(
            inner[1 + d] < geometry.min_size(d) for d in range(spatial))
    if bad:
        raise ValueError(f"{where}: expected input {expected} with {low}, "
                         f"got {format_shape(dims)}")
    return batched, dims


def _conv_one(x: list, wflat: list[list[Value]], tails: list[tuple], geometry: Geometry,
              groups: int) -> list:
    """One sample ``[C][H][W]`` (Values) -> ``[O][H_out][W_out]``, one dot node per output.

    With ``groups`` > 1, output channel ``o`` reads only the input channels
    of its group (``o // (O / groups)``), as PyTorch's grouped convolution.
    """
    rows, cols = geometry.windows((len(x[0]), len(x[0][0])))
    kh, kw = geometry.kernel
    area = kh * kw
    cg, og = len(x) // groups, len(wflat) // groups
    out = [[[None] * len(cols) for _ in rows] for _ in range(len(wflat))]
    for i, rt in enumerate(rows):
        for j, ct in enumerate(cols):
            full = len(rt) == kh and len(ct) == kw
            if not full:  # a window over the zero padding: only the in-bounds taps
                idx = [c * area + ki * kw + kj for c in range(cg) for ki, _ in rt for kj, _ in ct]
            for g in range(groups):
                xs = [x[c][r][s] for c in range(g * cg, (g + 1) * cg) for _, r in rt for _, s in ct]
                for o in range(g * og, (g + 1) * og):
                    w = wflat[o] if full else [wflat[o][k] for k in idx]
                    out[o][i][j] = engine.dot(w, xs, *tails[o])
    return out


def _conv(x: Any, weight: list, bias: list | None, geometry: Geometry, spatial: int,
          batched: bool, groups: int = 1) -> list:
    """The convolution of a checked input (1-D runs as 2-D with one row)."""
    if spatial == 1:
        wflat = [[w for row in wo for w in row] for wo in weight]
    else:
        wflat = [[w for wc in wo for row in wc for w in row] for wo in weight]
    tails = [(b,) for b in bias] if bias is not None else [()] * len(weight)
    samples = x if batched else [x]
    out = []
    for sample in samples:
        sample = lift(sample)
        if spatial == 1:
            y = _conv_one([[row] for row in sample], wflat, tails, geometry, groups)
            out.append([yo[0] for yo in y])
        else:
            out.append(_conv_one(sample, wflat, tails, geometry, groups))
    return out if batched else out[0]


def _geometry(spatial: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              where: str) -> Geometry:
    kernel = expand_ints(kernel_size, spatial, "kernel_size", where, minimum=1)
    stride = expand_ints(stride, spatial, "stride", where, minimum=1)
    dilation = expand_ints(dilation, spatial, "dilation", where, minimum=1)
    pads = _resolve_padding(padding, kernel, dilation, stride, where)
    if spatial == 1:  # run as 2-D with a 1-row kernel
        return Geometry((1, *kernel), (1, *stride), ((0, 0), *pads), (1, *dilation))
    return Geometry(kernel, stride, pads, dilation)


def _functional(spatial: int, x: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                dilation: Any, groups: int) -> list:
    name = f"conv{spatial}d"
    wshape = shape(weight, f"{name} weight")
    if len(wshape) != spatial + 2 or 0 in wshape:
        expected = format_shape(("O", "C", *("k" * spatial)))
        raise ValueError(f"{name}: expected weight {expected}, got {format_shape(wshape)}")
    (groups,) = expand_ints(groups, 1, "groups", name, minimum=1)
    groups = _check_groups(groups, wshape[1] * groups, wshape[0], name)
    if bias is not None and shape(bias, f"{name} bias") != wshape[:1]:
        raise ValueError(f"{name}: expected bias [{wshape[0]}], got "
                         f"{format_shape(shape(bias))}")
    geometry = _geometry(spatial, wshape[2:], stride, padding, dilation, name)
    spatial_check = Geometry(geometry.kernel[-spatial:], geometry.stride[-spatial:],
                              geometry.padding[-spatial:], geometry.dilation[-spatial:])
    batched, _ = check_input(x, name, wshape[1] * groups, spatial_check, spatial)
    return _conv(x, lift(weight), None if bias is None else lift(bias), geometry, spatial,
                 batched, groups)


def _check_groups(groups: Any, in_channels: int, out_channels: int, where: str) -> int:
    """``groups`` as an int that divides both channel counts."""
    (g,) = expand_ints(groups, 1, "groups", where, minimum=1)
    if in_channels % g or out_channels % g:
        raise ValueError(f"{where}: groups={g} must divide in_channels={in_channels} and "
                         f"out_channels={out_channels}")
    return g


def conv2d(x: Any, weight: Any, bias: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1,
           groups: int = 1) -> list:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Args:
        x: ``[C][H][W]`` or ``[N][C][H][W]`` (Values or numbers).
        weight: ``[O][C / groups][kH][kW]``.
        bias: ``[O]`` or None.
        stride: An int or ``(sH, sW)``.
        padding: An int, ``(pH, pW)``, ``"valid"`` or ``"same"`` (stride 1).
        dilation: An int or ``(dH, dW)``.
        groups: Split the channels into this many independent groups.

    Returns:
        ``[O][H_out][W_out]`` (or ``[N][O][H_out][W_out]``), one ``dot`` node per entry.

    Raises:
        ValueError: A shape does not fit (the message gives both shapes).

    >>> [[v.data for v in row] for row in conv2d([[[1, 2], [3, 4]]], [[[[1, 1], [1, 1]]]])[0]]
    [[10.0]]
    """
    return _functional(2, x, weight, bias, stride, padding, dilation, groups)


def conv1d(x: Any, weight: Any, bias: Any = None, stride: int = 1,
           padding: int | str = 0, dilation: int = 1, groups: int = 1) -> list:
    """1-D cross-correlation, as ``torch.nn.functional.conv1d``.

    Args:
        x: ``[C][L]`` or ``[N][C][L]``.
        weight: ``[O][C / groups][k]``.
        bias: ``[O]`` or None.
        stride: Step between windows.
        padding: An int, ``"valid"`` or ``"same"`` (stride 1).
        dilation: Spacing between kernel taps.
        groups: Split the channels into this many independent groups.

    Returns:
        ``[O][L_out]`` (or ``[N][O][L_out]``).

    Raises:
        ValueError: A shape does not fit.

    >>> [v.data for v in conv1d([[1, 2, 3, 4]], [[[1, -1]]])[0]]
    [-1.0, -1.0, -1.0]
    """
    return _functional(1, x, weight, bias, stride, padding, dilation, groups)


class _ConvNd(Module, register=False):
    """What ``Conv1d`` and ``Conv2d`` share."""

    _spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 rng: random.Random | int | None = None) -> None:
        super().__init__()
        n = self._spatial
        name = type(self).__name__
        self.in_channels = expand_ints(in_channels, 1, "in_channels", name, minimum=1)[0]
        self.out_channels = expand_ints(out_channels, 1, "out_channels", name, minimum=1)[0]
        self.kernel_size = expand_ints(kernel_size, n, "kernel_size", name, minimum=1)
        self.stride = expand_ints(stride, n, "stride", name, minimum=1)
        self.dilation = expand_ints(dilation, n, "dilation", name, minimum=1)
        self.padding = padding if isinstance(padding, str) else expand_ints(
            padding, n, "padding", name)
        self.groups = _check_groups(groups, self.in_channels, self.out_channels, name)
        self._geometry = _geometry(n, self.kernel_size, self.stride, self.padding,
                                   self.dilation, name)
        self._check = Geometry(self._geometry.kernel[-n:], self._geometry.stride[-n:],
                                self._geometry.padding[-n:], self._geometry.dilation[-n:])
        rng = make_rng(rng)
        per_group = self.in_channels // self.groups
        fan_in = per_group * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        if n == 1:
            self.weight = [[[Value(rng.uniform(-bound, bound)) for _ in range(self.kernel_size[0])]
                            for _ in range(per_group)] for _ in range(self.out_channels)]
        else:
            kh, kw = self.kernel_size
            self.weight = [[[[Value(rng.uniform(-bound, bound)) for _ in range(kw)]
                             for _ in range(kh)]
                            for _ in range(per_group)] for _ in range(self.out_channels)]
        self.bias = ([Value(rng.uniform(-bound, bound)) for _ in range(self.out_channels)]
                     if bias else None)

    def forward(self, x: Any) -> list:
        """The convolution of ``x`` (one sample or a batch; see the module docstring)."""
        batched, _ = check_input(x, self._where(), self.in_channels, self._check, self._spatial)
        return _conv(x, self.weight, self.bias, self._geometry, self._spatial, batched,
                     self.groups)

    def _where(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def config(self) -> dict[str, Any]:
        """Constructor arguments (weights come from the state dict)."""
        pad = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": pad, "dilation": list(self.dilation), "groups": self.groups,
                "bias": self.bias is not None}

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != "valid" and self.padding != (0,) * self._spatial:
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1,) * self._spatial:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D convolution over ``[C][H][W]`` images, as ``torch.nn.Conv2d``.

    Args:
        in_channels: Channels of the input.
        out_channels: Channels of the output (number of filters).
        kernel_size: An int or ``(kH, kW)``.
        stride: An int or ``(sH, sW)``.
        padding: An int, ``(pH, pW)``, ``"valid"`` or ``"same"`` (stride 1 only).
        dilation: An int or ``(dH, dW)``.
        groups: Split the channels into this many independent groups
            (``groups=in_channels``: a depthwise convolution); the weight is
            ``[out_channels][in_channels / groups][kH][kW]``.
        bias: Whether each filter has a bias.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    Calling it on ``[C][H][W]`` returns ``[out_channels][H_out][W_out]``; on a
    batch ``[N][C][H][W]``, ``[N][out_channels][H_out][W_out]``.

    Raises:
        ValueError: On a bad argument, and on call when the input's shape does
            not fit (the message names the layer, the expected and the received shape).

    >>> conv = Conv2d(1, 2, kernel_size=3, rng=0)
    >>> conv
    Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
    >>> conv.num_parameters()
    20
    >>> y = conv([[[0.0] * 8 for _ in range(8)]]); len(y), len(y[0]), len(y[0][0])
    (2, 6, 6)
    >>> conv([[[0.0] * 8] * 8] * 2)
    Traceback (most recent call last):
    ...
    ValueError: Conv2d(...): expected input [1][H][W] or [N][1][H][W] with H, W >= 3, got [2][8][8]
    """

    _spatial = 2


class Conv1d(_ConvNd):
    """1-D convolution over ``[C][L]`` sequences, as ``torch.nn.Conv1d``.

    Args:
        in_channels: Channels of the input.
        out_channels: Channels of the output.
        kernel_size: Kernel length.
        stride: Step between windows.
        padding: An int, ``"valid"`` or ``"same"`` (stride 1 only).
        dilation: Spacing between kernel taps.
        groups: Split the channels into this many independent groups.
        bias: Whether each filter has a bias.
        rng: A ``random.Random``, an int seed, or None (the global ``random``).

    Calling it on ``[C][L]`` returns ``[out_channels][L_out]``; on ``[N][C][L]``,
    ``[N][out_channels][L_out]``.

    >>> conv = Conv1d(2, 3, kernel_size=2, padding=1, rng=0)
    >>> [len(row) for row in conv([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])]
    [4, 4, 4]
    """

    _spatial = 1
